//! AWS errors as one line a person can act on: what failed, why, and what
//! to do (missing table or bucket, access denied, expired credentials, wrong
//! region, throttling). Callers keep running and retry; throttling also
//! tells them to slow down.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

/// A failed AWS call, described for the status line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    pub kind: ErrorKind,
    pub line: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// AWS asked us to slow down: back off, it is not the operator's problem.
    Throttled,
    /// The resource (table, bucket, object) does not exist where we looked.
    NotFound,
    AccessDenied,
    Credentials,
    /// Network, timeout, server error: likely to pass.
    Transient,
    Other,
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.line)
    }
}

impl std::error::Error for AwsError {}

impl From<AwsError> for String {
    fn from(e: AwsError) -> String {
        e.line
    }
}

/// What a call was about, for the message.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// "polling records", "listing runs", "reading the stored body".
    pub doing: &'a str,
    /// "DynamoDB table trawl-results", "S3 bucket trawl-content".
    pub resource: &'a str,
    /// The IAM action it needs, e.g. "dynamodb:Query".
    pub permission: &'a str,
    /// The region the client uses.
    pub region: &'a str,
}

/// Error codes that mean "slow down", across DynamoDB, S3, EC2 and ECS.
const THROTTLING: [&str; 7] = [
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "TooManyRequestsException",
    "RequestThrottled",
];
const ACCESS_DENIED: [&str; 4] = [
    "AccessDeniedException",
    "AccessDenied",
    "UnauthorizedOperation",
    "Forbidden",
];
const EXPIRED: [&str; 4] = [
    "ExpiredTokenException",
    "ExpiredToken",
    "RequestExpired",
    "TokenRefreshRequired",
];
const REJECTED_CREDENTIALS: [&str; 6] = [
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "InvalidAccessKeyId",
    "AuthFailure",
    "SignatureDoesNotMatch",
    "MissingAuthenticationToken",
];
const NOT_FOUND: [&str; 5] = [
    "ResourceNotFoundException",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "ClusterNotFoundException",
];

/// Describes an SDK error of any AWS client.
pub fn describe<E>(e: &SdkError<E, HttpResponse>, call: Call<'_>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let Call {
        doing,
        resource,
        permission,
        region,
    } = call;
    let text = trawl_scraper::error_text::full(e);
    let code = e.code().unwrap_or_default();
    let said = e.message().unwrap_or_default();
    let status = e.raw_response().map(|r| r.status().as_u16());
    let (kind, line) = if THROTTLING.contains(&code) {
        (
            ErrorKind::Throttled,
            format!("AWS is throttling {doing} ({code}): trawl slows down and retries"),
        )
    } else if ACCESS_DENIED.contains(&code) {
        (
            ErrorKind::AccessDenied,
            format!(
                "access denied {doing}: the AWS identity in use may not {permission} on {resource}; \
                 attach the operator policy from `terraform output operator_policy_arn` to it"
            ),
        )
    } else if EXPIRED.contains(&code) {
        (
            ErrorKind::Credentials,
            "AWS credentials have expired: renew them (e.g. `aws sso login`, or fresh keys); trawl keeps retrying".to_owned(),
        )
    } else if REJECTED_CREDENTIALS.contains(&code) {
        (
            ErrorKind::Credentials,
            format!(
                "AWS rejected the credentials ({code}) {doing}: check AWS_PROFILE or the access keys in use"
            ),
        )
    } else if NOT_FOUND.contains(&code) || status == Some(404) {
        (
            ErrorKind::NotFound,
            format!(
                "{resource} not found in region {region} {doing}: check `region` and the name in the trawl config \
                 (or AWS_REGION), or create it with terraform/"
            ),
        )
    } else {
        match e {
            SdkError::DispatchFailure(_) | SdkError::ConstructionFailure(_)
                if text.to_ascii_lowercase().contains("credential") =>
            {
                (
                    ErrorKind::Credentials,
                    "no AWS credentials found: set AWS_PROFILE, run `aws configure` or `aws sso login`".to_owned(),
                )
            }
            SdkError::DispatchFailure(_) => (
                ErrorKind::Transient,
                format!(
                    "cannot reach AWS {doing} (region {region}): {}; check the network, the region and AWS_ENDPOINT_URL",
                    trawl_scraper::error_text::root_cause(e)
                ),
            ),
            SdkError::TimeoutError(_) => (
                ErrorKind::Transient,
                format!("AWS did not answer in time {doing} (region {region}); trawl retries"),
            ),
            SdkError::ServiceError(_) if status.is_some_and(|st| st >= 500) => (
                ErrorKind::Transient,
                format!("AWS failed {doing} ({code}: {said}); trawl retries"),
            ),
            _ if !code.is_empty() => (
                ErrorKind::Other,
                format!("{doing} failed on {resource}: {code}: {said}"),
            ),
            _ => (ErrorKind::Other, format!("{doing} failed on {resource}: {text}")),
        }
    };
    AwsError { kind, line }
}

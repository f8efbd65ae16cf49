//! The `aws` sink: body to S3 at `{run_id}/{url_key}/body` (gzip, with the
//! origin's content type and metadata run-id, egress-ip, sha256), the record
//! to DynamoDB with a conditional update that enforces [`super::may_replace`]
//! on the server side.

use super::item::{Item, schema, to_item};
use super::{SUBMITTER_FIELDS, SinkError, Written};
use crate::fetch::Dns;
use crate::record::Record;
use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use std::collections::HashMap;
use std::time::Duration;

pub struct AwsSink {
    s3: aws_sdk_s3::Client,
    dynamo: aws_sdk_dynamodb::Client,
    bucket: String,
    table: String,
    endpoint: String,
}

pub fn object_key(record: &Record) -> String {
    format!("{}/{}/body", record.run_id, record.url_key)
}

/// The SDK's resolver: the same in-process DNS the fetcher uses.
#[derive(Clone, Debug)]
struct SdkDns(Dns);

impl ResolveDns for SdkDns {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        DnsFuture::new(async move { self.0.lookup(name).await.map_err(ResolveDnsError::new) })
    }
}

/// Mozilla's roots as PEM for the SDK's TLS (the image has no CA store).
fn trust_store() -> tls::TrustStore {
    use base64::Engine;
    let mut store = tls::TrustStore::empty().with_native_roots(false);
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        let mut pem = String::with_capacity(b64.len() + 64);
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
            pem.push('\n');
        }
        pem.push_str("-----END CERTIFICATE-----\n");
        store.add_pem_certificate(pem);
    }
    store
}

/// Shared AWS settings for the worker (and any other part of trawl):
/// standard credential chain, bounded retries with backoff and timeouts so a
/// dead endpoint fails within seconds, in-process DNS, embedded roots.
pub async fn load_config(dns: Dns) -> aws_config::SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .tls_context(
            tls::TlsContext::builder()
                .with_trust_store(trust_store())
                .build()
                .expect("embedded roots are valid"),
        )
        .build_with_resolver(SdkDns(dns));
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(4)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(3)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(3))
                .operation_attempt_timeout(Duration::from_secs(8))
                .operation_timeout(Duration::from_secs(25))
                .build(),
        )
        .load()
        .await
}

/// An S3 client for `config`. A custom endpoint (moto, LocalStack, a VPC
/// endpoint by IP) needs path-style addressing; AWS itself uses
/// virtual-hosted style.
pub fn s3_client(config: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(config)
            .force_path_style(config.endpoint_url().is_some())
            .build(),
    )
}

impl AwsSink {
    pub async fn new(bucket: String, table: String, dns: Dns) -> Self {
        Self::from_config(&load_config(dns).await, bucket, table)
    }

    pub fn from_config(config: &aws_config::SdkConfig, bucket: String, table: String) -> Self {
        let s3 = s3_client(config);
        let endpoint = match (config.endpoint_url().map(str::to_owned), config.region()) {
            (Some(url), _) => url,
            (None, Some(region)) => format!("AWS region {region}"),
            (None, None) => "AWS (no region set: set AWS_REGION)".to_owned(),
        };
        AwsSink {
            s3,
            dynamo: aws_sdk_dynamodb::Client::new(config),
            bucket,
            table,
            endpoint,
        }
    }

    fn error(&self, what: &str, e: impl std::error::Error + 'static) -> SinkError {
        SinkError(format!(
            "{what} failed at {}: {}",
            self.endpoint,
            crate::error_text::full(&e)
        ))
    }

    pub async fn put_body(
        &self,
        record: &Record,
        gzipped: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<String, SinkError> {
        let key = object_key(record);
        let mut put = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .content_encoding("gzip")
            .content_type(content_type.unwrap_or("application/octet-stream"))
            .metadata("run-id", &record.run_id)
            .body(gzipped.into());
        if let Some(ip) = &record.egress_ip {
            put = put.metadata("egress-ip", ip);
        }
        if let Some(sha) = &record.sha256 {
            put = put.metadata("sha256", sha);
        }
        put.send().await.map_err(|e| {
            self.error(
                &format!("storing the body in S3 bucket {} key {key}", self.bucket),
                e,
            )
        })?;
        Ok(key)
    }

    /// One conditional UpdateItem: sets every field of the record, removes
    /// stale fields of an earlier attempt, keeps the submitter's fields, and
    /// only if the stored attempt is older, or the same and not final.
    pub async fn put_record(&self, record: &Record) -> Result<Written, SinkError> {
        let (expression, names, values) = update_expression(record);
        let result = self
            .dynamo
            .update_item()
            .table_name(&self.table)
            .key(
                schema::PARTITION_KEY,
                AttributeValue::S(record.run_id.clone()),
            )
            .key(schema::SORT_KEY, AttributeValue::S(record.url_key.clone()))
            .update_expression(expression)
            .condition_expression(
                "attribute_not_exists(#pk) OR #attempt < :attempt \
                 OR (#attempt = :attempt AND #status IN (:queued, :running))",
            )
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Written::Stored),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(Written::Superseded(format!(
                    "the table already holds a newer attempt or a final record for attempt {}",
                    record.attempt
                )))
            }
            Err(e) => Err(self.error(
                &format!("writing the record to DynamoDB table {}", self.table),
                e,
            )),
        }
    }
}

/// `SET a = :a, ... REMOVE x, ...` over every record field.
fn update_expression(
    record: &Record,
) -> (
    String,
    HashMap<String, String>,
    HashMap<String, AttributeValue>,
) {
    let item: Item = to_item(record);
    let mut names = HashMap::from([
        ("#pk".to_owned(), schema::PARTITION_KEY.to_owned()),
        ("#attempt".to_owned(), "attempt".to_owned()),
        ("#status".to_owned(), "status".to_owned()),
    ]);
    let mut values = HashMap::from([
        (":queued".to_owned(), AttributeValue::S("QUEUED".into())),
        (":running".to_owned(), AttributeValue::S("RUNNING".into())),
    ]);
    let mut sets = Vec::new();
    let mut fields: Vec<(&String, &AttributeValue)> = item
        .iter()
        .filter(|(k, _)| *k != schema::PARTITION_KEY && *k != schema::SORT_KEY)
        .collect();
    fields.sort_by_key(|(k, _)| *k);
    for (i, (field, value)) in fields.iter().enumerate() {
        let (n, v) = (format!("#f{i}"), format!(":v{i}"));
        names.insert(n.clone(), (*field).clone());
        values.insert(v.clone(), (*value).clone());
        sets.push(format!("{n} = {v}"));
    }
    // `attempt` is always set; the condition compares against it.
    values.insert(":attempt".to_owned(), item["attempt"].clone());
    let removes: Vec<String> = all_record_fields()
        .iter()
        .filter(|f| !item.contains_key(**f) && !SUBMITTER_FIELDS.contains(f))
        .enumerate()
        .map(|(i, f)| {
            let n = format!("#r{i}");
            names.insert(n.clone(), (*f).to_owned());
            n
        })
        .collect();
    let mut expression = format!("SET {}", sets.join(", "));
    if !removes.is_empty() {
        expression.push_str(&format!(" REMOVE {}", removes.join(", ")));
    }
    (expression, names, values)
}

/// Every field a record may have, from its full JSON form.
fn all_record_fields() -> &'static [&'static str] {
    &[
        "status",
        "target",
        "egress_ip",
        "node",
        "http_status",
        "final_url",
        "redirects",
        "tls",
        "content_type",
        "bytes",
        "sha256",
        "object_key",
        "findings",
        "verdict",
        "score",
        "error",
        "submitted_at",
        "started_at",
        "finished_at",
        "updated_at",
        "expires_at",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Status;

    #[test]
    fn stale_fields_are_removed_and_submitter_fields_kept() {
        let mut r = Record::new("r-20261124-050000-abcd", "https://a.example/", 2);
        r.status = Some(Status::Running);
        let (expr, names, values) = update_expression(&r);
        assert!(expr.starts_with("SET "), "{expr}");
        let removed: Vec<&str> = names
            .iter()
            .filter(|(k, _)| k.starts_with("#r"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert!(removed.contains(&"error"));
        assert!(!removed.contains(&"submitted_at"));
        assert!(!removed.contains(&"status"));
        assert_eq!(values[":attempt"], AttributeValue::N("2".into()));
    }

    #[test]
    fn field_list_matches_the_record() {
        // A record with every field present: each one beyond the key and
        // the always-present fields must be known here, or a stale value of
        // an earlier attempt could survive.
        let full = Record {
            run_id: "r".into(),
            url_key: "k".into(),
            url: "u".into(),
            attempt: 1,
            status: Some(Status::Done),
            target: Some(crate::record::Target::Eks),
            egress_ip: Some("x".into()),
            node: Some("x".into()),
            http_status: Some(200),
            final_url: Some("x".into()),
            redirects: vec![crate::record::Redirect {
                url: "x".into(),
                status: 200,
                remote_addr: None,
            }],
            tls: Some(crate::record::TlsInfo {
                subject: "s".into(),
                issuer: "i".into(),
                not_before: "b".into(),
                not_after: "a".into(),
            }),
            content_type: Some("x".into()),
            bytes: Some(1),
            sha256: Some("x".into()),
            object_key: Some("x".into()),
            findings: vec![crate::record::Finding::new(
                "r",
                crate::record::Severity::Low,
                "d",
            )],
            verdict: Some(crate::record::Verdict::Clean),
            score: Some(0),
            error: Some("x".into()),
            submitted_at: Some("x".into()),
            started_at: Some("x".into()),
            finished_at: Some("x".into()),
            updated_at: Some("x".into()),
            expires_at: Some(1),
        };
        let json = serde_json::to_value(&full).unwrap();
        let mut keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        keys.retain(|k| !["run_id", "url_key", "url", "attempt"].contains(k));
        keys.sort_unstable();
        let mut known = all_record_fields().to_vec();
        known.sort_unstable();
        assert_eq!(keys, known);
    }
}

//! Where a worker's results go: `aws` (body to S3, record to DynamoDB) or
//! `dir:PATH` (the local store). Both follow the same rules for writes: a
//! write of an older attempt never overwrites a newer attempt, and nothing
//! overwrites a final record of the same attempt.

pub mod aws;
pub mod dir;
pub mod item;

use crate::record::{Record, Status};
use std::fmt;
use std::future::Future;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkSpec {
    Aws,
    Dir(PathBuf),
}

impl FromStr for SinkSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "aws" => Ok(SinkSpec::Aws),
            _ => match s.strip_prefix("dir:") {
                Some(path) if !path.is_empty() => Ok(SinkSpec::Dir(PathBuf::from(path))),
                _ => Err(format!(
                    "unknown sink {s:?}: use `aws` (S3 + DynamoDB) or `dir:PATH`"
                )),
            },
        }
    }
}

impl fmt::Display for SinkSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SinkSpec::Aws => f.write_str("aws"),
            SinkSpec::Dir(p) => write!(f, "dir:{}", p.display()),
        }
    }
}

/// What happened to a conditional record write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Written {
    Stored,
    /// The store already holds a newer attempt, or a final record of this
    /// attempt; ours was dropped, as it must be.
    Superseded(String),
}

/// A write that failed for good (after retries), in words a person can act on.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// The rule every sink applies before replacing `existing` with `new`.
pub fn may_replace(existing: &Record, new: &Record) -> Result<(), String> {
    may_replace_attempt(existing.attempt, existing.status(), new.attempt)
}

/// [`may_replace`] for a reader that keeps only a record's attempt and
/// status (a follower that remembers what it has shown).
pub fn may_replace_attempt(attempt: u32, status: Status, new_attempt: u32) -> Result<(), String> {
    if attempt > new_attempt {
        return Err(format!(
            "attempt {attempt} is already recorded; attempt {new_attempt} is older"
        ));
    }
    if attempt == new_attempt && status.is_final() {
        return Err(format!(
            "attempt {attempt} already has its final record ({status})"
        ));
    }
    Ok(())
}

/// Record fields that the submitter owns and a worker's write keeps.
pub const SUBMITTER_FIELDS: [&str; 3] = ["submitted_at", "expires_at", "target"];

/// Carries the submitter's fields of `existing` into `new` where `new` has
/// none (the dir: sink replaces whole files; DynamoDB keeps them by not
/// removing them).
pub fn keep_submitter_fields(existing: &Record, new: &mut Record) {
    new.submitted_at = new
        .submitted_at
        .take()
        .or_else(|| existing.submitted_at.clone());
    new.expires_at = new.expires_at.or(existing.expires_at);
    new.target = new.target.or(existing.target);
}

pub enum Sink {
    Aws(aws::AwsSink),
    Dir(dir::DirSink),
}

impl Sink {
    pub async fn put_record(&self, record: &Record) -> Result<Written, SinkError> {
        match self {
            Sink::Aws(s) => s.put_record(record).await,
            Sink::Dir(s) => s.put_record(record).await,
        }
    }

    /// Stores the gzip-compressed body; returns its key or path.
    pub async fn put_body(
        &self,
        record: &Record,
        gzipped: Vec<u8>,
        content_type: Option<&str>,
    ) -> Result<String, SinkError> {
        match self {
            Sink::Aws(s) => s.put_body(record, gzipped, content_type).await,
            Sink::Dir(s) => s.put_body(record, gzipped).await,
        }
    }
}

/// Retries `op` with exponential backoff and jitter while it fails, `tries`
/// times in all. Used for local writes; the AWS SDK has its own retries.
pub async fn with_backoff<T, E: fmt::Display, F, Fut>(tries: u32, mut op: F) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= tries => return Err(e),
            Err(e) => {
                tracing::warn!(error = %e, attempt, "write failed; retrying");
                let jitter = rand::random_range(0..=delay.as_millis() as u64 / 2);
                tokio::time::sleep(delay + Duration::from_millis(jitter)).await;
                delay = (delay * 2).min(Duration::from_secs(2));
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Status;

    fn rec(attempt: u32, status: Status) -> Record {
        let mut r = Record::new("r-20261124-050000-abcd", "https://a.example/", attempt);
        r.status = Some(status);
        r
    }

    #[test]
    fn older_attempts_and_finished_records_are_kept() {
        assert!(may_replace(&rec(1, Status::Queued), &rec(1, Status::Running)).is_ok());
        assert!(may_replace(&rec(1, Status::Running), &rec(1, Status::Done)).is_ok());
        assert!(may_replace(&rec(1, Status::Done), &rec(2, Status::Running)).is_ok());
        let e = may_replace(&rec(2, Status::Running), &rec(1, Status::Done)).unwrap_err();
        assert_eq!(e, "attempt 2 is already recorded; attempt 1 is older");
        let e = may_replace(&rec(1, Status::Failed), &rec(1, Status::Done)).unwrap_err();
        assert_eq!(e, "attempt 1 already has its final record (FAILED)");
    }

    #[test]
    fn sink_specs_parse_with_clear_errors() {
        assert_eq!("aws".parse::<SinkSpec>().unwrap(), SinkSpec::Aws);
        assert_eq!(
            "dir:/tmp/x".parse::<SinkSpec>().unwrap(),
            SinkSpec::Dir("/tmp/x".into())
        );
        let e = "s3".parse::<SinkSpec>().unwrap_err();
        assert!(e.contains("use `aws`"), "{e}");
    }
}

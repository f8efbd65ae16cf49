//! The record: one per URL per run, the same fields in DynamoDB items and in
//! the local store's `record.json` (DESIGN.md "The record").

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use time::OffsetDateTime;

/// Findings kept per record; more are dropped (the count of dropped ones is
/// reported in a last finding) so an item stays far below DynamoDB's 400 KB.
pub const MAX_FINDINGS: usize = 100;
/// Characters kept of a finding's detail.
pub const MAX_DETAIL_CHARS: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Status {
    Queued,
    Running,
    Done,
    Failed,
    /// Refused by the safety guard.
    Blocked,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Queued,
        Status::Running,
        Status::Done,
        Status::Failed,
        Status::Blocked,
    ];

    /// DONE, FAILED and BLOCKED are final: nothing of the same attempt
    /// overwrites them.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Done | Status::Failed | Status::Blocked)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Running => "RUNNING",
            Status::Done => "DONE",
            Status::Failed => "FAILED",
            Status::Blocked => "BLOCKED",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Status {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Status::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown status {s:?}"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    Local,
    Eks,
    Ecs,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::Local => "local",
            Target::Eks => "eks",
            Target::Ecs => "ecs",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Target {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "local" => Ok(Target::Local),
            "eks" => Ok(Target::Eks),
            "ecs" => Ok(Target::Ecs),
            _ => Err(format!("unknown target {s:?}: use local, eks or ecs")),
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    #[default]
    Clean,
    Suspicious,
    Malicious,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Clean => "clean",
            Verdict::Suspicious => "suspicious",
            Verdict::Malicious => "malicious",
        }
    }
}

impl FromStr for Verdict {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "clean" => Ok(Verdict::Clean),
            "suspicious" => Ok(Verdict::Suspicious),
            "malicious" => Ok(Verdict::Malicious),
            _ => Err(format!("unknown verdict {s:?}")),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            _ => Err(format!("unknown severity {s:?}")),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id, e.g. `iframe.hidden` or `yara.CoinhiveMiner`.
    pub rule: String,
    pub severity: Severity,
    /// At most [`MAX_DETAIL_CHARS`] characters.
    pub detail: String,
}

impl Finding {
    pub fn new(rule: impl Into<String>, severity: Severity, detail: impl AsRef<str>) -> Self {
        Finding {
            rule: rule.into(),
            severity,
            detail: truncate_chars(detail.as_ref(), MAX_DETAIL_CHARS),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Redirect {
    pub url: String,
    pub status: u16,
    /// `ip:port` the hop's response came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_addr: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsInfo {
    pub subject: String,
    pub issuer: String,
    pub not_before: String,
    pub not_after: String,
}

/// One URL's record. Optional fields are left out, not empty, when unknown
/// (`egress_ip` is an index key in DynamoDB).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub run_id: String,
    pub url_key: String,
    pub url: String,
    pub status: Option<Status>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Target>,
    pub attempt: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub egress_ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_url: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirects: Vec<Redirect>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<TlsInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_key: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<u8>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl Record {
    /// A fresh record for `url` in `run_id`, with its key derived.
    pub fn new(run_id: &str, url: &str, attempt: u32) -> Self {
        Record {
            run_id: run_id.to_owned(),
            url_key: url_key(url),
            url: url.to_owned(),
            attempt,
            ..Record::default()
        }
    }

    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::Queued)
    }

    /// Keeps at most [`MAX_FINDINGS`] findings, the most severe first.
    pub fn set_findings(&mut self, findings: Vec<Finding>) {
        self.findings = cap_findings(findings);
    }
}

/// The TTL value (`expires_at`, epoch seconds) for keeping an item `days`
/// days from now.
pub fn expires_after_days(days: u32) -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() + i64::from(days) * 86_400
}

/// The run item: one per run, beside its records (DynamoDB sort key `#run`,
/// or `run.json` in the local store). Only run items carry `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunItem {
    pub run_id: String,
    /// Always `#run`.
    pub url_key: String,
    /// Always `run`.
    pub kind: String,
    pub created_at: String,
    pub target: Target,
    pub url_count: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// TTL (epoch seconds), the same as its records' (`--retain-days`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
}

impl RunItem {
    pub fn new(run_id: &str, target: Target, url_count: usize, created_at: String) -> Self {
        RunItem {
            run_id: run_id.to_owned(),
            url_key: "#run".to_owned(),
            kind: "run".to_owned(),
            created_at,
            target,
            url_count,
            image: None,
            labels: Default::default(),
            expires_at: None,
        }
    }
}

/// Most severe first (then by rule id), at most [`MAX_FINDINGS`]: the last
/// one says how many more were dropped.
pub fn cap_findings(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.rule.cmp(&b.rule))
    });
    if findings.len() > MAX_FINDINGS {
        let dropped = findings.len() - (MAX_FINDINGS - 1);
        findings.truncate(MAX_FINDINGS - 1);
        findings.push(Finding::new(
            "trawl.findings-truncated",
            Severity::Info,
            format!("{dropped} more findings not stored"),
        ));
    }
    findings
}

/// First 32 hex characters of sha256(url): the sort key (URLs can exceed
/// DynamoDB's 1 KiB key limit).
pub fn url_key(url: &str) -> String {
    let digest = Sha256::digest(url.as_bytes());
    hex::encode(&digest[..16])
}

/// RFC 3339 UTC with exactly three fractional digits and `Z`, so that string
/// order is time order.
pub fn timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

pub fn now() -> String {
    timestamp(OffsetDateTime::now_utc())
}

/// A new run id: `r-YYYYMMDD-HHMMSS-xxxx` (UTC, 4 random [a-z0-9]).
pub fn new_run_id(at: OffsetDateTime) -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let t = at.to_offset(time::UtcOffset::UTC);
    let mut rng = rand::rng();
    let suffix: String = (0..4)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect();
    format!(
        "r-{:04}{:02}{:02}-{:02}{:02}{:02}-{suffix}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Checks the shape of a run id, since it becomes part of file paths, label
/// values and object keys.
pub fn validate_run_id(run_id: &str) -> Result<(), String> {
    let b = run_id.as_bytes();
    let ok = b.len() == 22
        && run_id.starts_with("r-")
        && b[2..10].iter().all(u8::is_ascii_digit)
        && b[10] == b'-'
        && b[11..17].iter().all(u8::is_ascii_digit)
        && b[17] == b'-'
        && b[18..]
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(format!(
            "run id {run_id:?} is not of the form r-YYYYMMDD-HHMMSS-xxxx (x in a-z0-9)"
        ))
    }
}

pub fn truncate_chars(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((idx, _)) => s[..idx].to_owned(),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_key_is_32_hex_chars_of_sha256() {
        let k = url_key("https://example.com/");
        assert_eq!(k.len(), 32);
        assert_eq!(k, "0f115db062b7c0dd030b16878c99dea5");
    }

    #[test]
    fn timestamps_have_three_fraction_digits_and_sort_as_time() {
        let a = OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_005_000_000).unwrap();
        let b = OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_120_000_000).unwrap();
        let (sa, sb) = (timestamp(a), timestamp(b));
        assert_eq!(sa, "2026-11-18T11:06:40.005Z");
        assert!(sa < sb);
    }

    #[test]
    fn run_ids_are_valid_and_sortable() {
        let at = OffsetDateTime::from_unix_timestamp(1_795_000_000).unwrap();
        let id = new_run_id(at);
        assert!(id.starts_with("r-20261118-110640-"), "{id}");
        validate_run_id(&id).unwrap();
        assert!(validate_run_id("r-2026-bad").is_err());
        assert!(validate_run_id("r-20261118-070640-AB12").is_err());
    }

    #[test]
    fn findings_are_capped_with_a_note() {
        let mut r = Record::new("r-20261118-070640-abcd", "https://a.example/", 1);
        let many = (0..150)
            .map(|i| Finding::new(format!("x.{i}"), Severity::Low, "d"))
            .collect();
        r.set_findings(many);
        assert_eq!(r.findings.len(), MAX_FINDINGS);
        assert_eq!(r.findings.last().unwrap().rule, "trawl.findings-truncated");
        assert_eq!(
            r.findings.last().unwrap().detail,
            "51 more findings not stored"
        );
    }

    #[test]
    fn unknown_fields_are_left_out_of_json() {
        let r = Record::new("r-20261118-070640-abcd", "https://a.example/", 1);
        let json = serde_json::to_string(&r).unwrap();
        assert!(!json.contains("egress_ip"), "{json}");
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn detail_is_truncated_on_char_boundaries() {
        let f = Finding::new("r", Severity::High, "é".repeat(300));
        assert_eq!(f.detail.chars().count(), MAX_DETAIL_CHARS);
    }
}

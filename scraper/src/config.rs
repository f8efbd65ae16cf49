//! The worker's settings: the environment of DESIGN.md "Worker contract",
//! each with an equivalent flag for hand use.

use crate::guard::Guard;
use crate::sink::SinkSpec;
use clap::Parser;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser, Debug, Clone)]
#[command(
    name = "trawl-scraper",
    version,
    about = "Fetch one URL as if the site were hostile, analyse it without running it, and write one record",
    long_about = "Fetch one URL as if the site were hostile, analyse it without running any script, \
and write one record (RUNNING, then DONE, FAILED or BLOCKED) plus the gzip-compressed body to a sink.\n\n\
Every flag can also be given by the environment variable shown. Exit status: 0 once a final record \
is durable, non-zero only when it is not (so the attempt is retried).\n\n\
Example: trawl-scraper --url https://example.com/ --sink dir:./out"
)]
pub struct WorkerArgs {
    /// The URL to fetch.
    #[arg(long, env = "TRAWL_URL", conflicts_with = "urls_file")]
    pub url: Option<String>,

    /// A file of URLs, one a line; the line is picked by --index.
    #[arg(long, env = "TRAWL_URLS_FILE", requires = "index")]
    pub urls_file: Option<PathBuf>,

    /// 0-based line of --urls-file (an Indexed Job's completion index).
    #[arg(long, env = "JOB_COMPLETION_INDEX")]
    pub index: Option<usize>,

    /// Run id, r-YYYYMMDD-HHMMSS-xxxx. Made up for hand use when absent.
    #[arg(long, env = "TRAWL_RUN_ID")]
    pub run_id: Option<String>,

    /// Attempt number (1, 2, ...). A write of an older attempt never
    /// overwrites a newer one.
    #[arg(long, env = "TRAWL_ATTEMPT")]
    pub attempt: Option<u32>,

    /// Failures of this index so far (EKS, from the pod annotation); the
    /// attempt is this plus one when --attempt is not given.
    #[arg(long, env = "TRAWL_INDEX_FAILURES", hide = true)]
    pub index_failures: Option<u32>,

    /// Where results go: `aws` (S3 + DynamoDB) or `dir:PATH`.
    #[arg(long, env = "TRAWL_SINK", default_value = "dir:./trawl-out")]
    pub sink: SinkSpec,

    /// S3 bucket for bodies (aws sink).
    #[arg(long, env = "TRAWL_BUCKET")]
    pub bucket: Option<String>,

    /// DynamoDB table for records (aws sink).
    #[arg(long, env = "TRAWL_TABLE")]
    pub table: Option<String>,

    /// Node name (EKS, from the downward API).
    #[arg(long, env = "TRAWL_NODE_NAME")]
    pub node_name: Option<String>,

    /// Where the worker learns its public egress IP.
    #[arg(
        long,
        env = "TRAWL_CHECKIP_URL",
        default_value = "https://checkip.amazonaws.com"
    )]
    pub checkip_url: String,

    /// Addresses the safety guard lets through although their range is
    /// refused (CIDRs, comma separated). Empty in production.
    #[arg(long, env = "TRAWL_ALLOW_CIDRS", default_value = "")]
    pub allow_cidrs: String,

    /// An extra trusted CA certificate (PEM), for tests.
    #[arg(long, env = "TRAWL_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// The user's own YARA rule files or folders, separated by ':' in the
    /// environment, or the flag repeated.
    #[arg(long = "rules", env = "TRAWL_RULES", value_delimiter = ':')]
    pub rules: Vec<PathBuf>,

    /// Most bytes of decompressed body kept; more is cut off.
    #[arg(long, env = "TRAWL_MAX_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_bytes: u64,

    /// Deadline for the whole fetch, redirects and body included.
    #[arg(long, env = "TRAWL_TIMEOUT_SECS", default_value_t = 30)]
    pub timeout_secs: u64,

    /// Longest wait for any single read from the site.
    #[arg(long, env = "TRAWL_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub read_timeout_secs: u64,

    /// Most redirects followed.
    #[arg(long, env = "TRAWL_MAX_REDIRECTS", default_value_t = 10)]
    pub max_redirects: u32,

    /// User-Agent header sent to the site.
    #[arg(long, env = "TRAWL_USER_AGENT", default_value = DEFAULT_USER_AGENT)]
    pub user_agent: String,

    /// Records expire this many days after they are written (DynamoDB TTL).
    #[arg(long, env = "TRAWL_RETAIN_DAYS")]
    pub retain_days: Option<u32>,
}

pub const DEFAULT_USER_AGENT: &str = concat!(
    "Mozilla/5.0 (compatible; trawl-scraper/",
    env!("CARGO_PKG_VERSION"),
    "; security scan)"
);

/// Limits that make a hostile site unable to hold or flood the worker.
#[derive(Clone, Debug)]
pub struct Limits {
    pub max_bytes: u64,
    pub timeout: Duration,
    pub read_timeout: Duration,
    pub max_redirects: u32,
    pub user_agent: String,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 10 * 1024 * 1024,
            timeout: Duration::from_secs(30),
            read_timeout: Duration::from_secs(10),
            max_redirects: 10,
            user_agent: DEFAULT_USER_AGENT.to_owned(),
        }
    }
}

impl WorkerArgs {
    pub fn limits(&self) -> Limits {
        Limits {
            max_bytes: self.max_bytes,
            timeout: Duration::from_secs(self.timeout_secs.max(1)),
            read_timeout: Duration::from_secs(
                self.read_timeout_secs.clamp(1, self.timeout_secs.max(1)),
            ),
            max_redirects: self.max_redirects,
            user_agent: self.user_agent.clone(),
        }
    }

    pub fn guard(&self) -> Result<Guard, String> {
        Guard::parse_allow(&self.allow_cidrs).map(Guard::new)
    }

    /// TRAWL_ATTEMPT, else TRAWL_INDEX_FAILURES + 1, else 1.
    pub fn attempt(&self) -> u32 {
        self.attempt
            .or(self.index_failures.map(|f| f.saturating_add(1)))
            .unwrap_or(1)
            .max(1)
    }

    /// The URL this worker fetches: --url, or line --index of --urls-file.
    pub fn target_url(&self) -> Result<String, String> {
        if let Some(url) = &self.url {
            return Ok(url.trim().to_owned());
        }
        let Some(file) = &self.urls_file else {
            return Err(
                "no URL: give --url (TRAWL_URL) or --urls-file with --index \
                        (TRAWL_URLS_FILE and JOB_COMPLETION_INDEX)"
                    .into(),
            );
        };
        let index = self
            .index
            .ok_or("--urls-file needs --index (JOB_COMPLETION_INDEX)")?;
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("cannot read URLs file {}: {e}", file.display()))?;
        let lines: Vec<&str> = text.lines().collect();
        match lines.get(index) {
            Some(line) if !line.trim().is_empty() => Ok(line.trim().to_owned()),
            Some(_) => Err(format!(
                "line {index} (0-based) of {} is empty",
                file.display()
            )),
            None => Err(format!(
                "index {index} is out of range: {} has {} lines (0-based index, so at most {})",
                file.display(),
                lines.len(),
                lines.len().saturating_sub(1)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(argv: &[&str]) -> WorkerArgs {
        WorkerArgs::try_parse_from(std::iter::once("trawl-scraper").chain(argv.iter().copied()))
            .unwrap()
    }

    #[test]
    fn attempt_comes_from_attempt_or_index_failures() {
        assert_eq!(args(&["--url", "http://a/"]).attempt(), 1);
        assert_eq!(args(&["--url", "http://a/", "--attempt", "3"]).attempt(), 3);
        assert_eq!(
            args(&["--url", "http://a/", "--index-failures", "2"]).attempt(),
            3
        );
    }

    #[test]
    fn indexed_mode_picks_the_zero_based_line() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("urls");
        std::fs::write(&file, "https://a.example/\nhttps://b.example/\n").unwrap();
        let f = file.to_str().unwrap();
        let pick = |i: &str| args(&["--urls-file", f, "--index", i]).target_url();
        assert_eq!(pick("0").unwrap(), "https://a.example/");
        assert_eq!(pick("1").unwrap(), "https://b.example/");
        let err = pick("2").unwrap_err();
        assert!(err.contains("index 2 is out of range"), "{err}");
        assert!(err.contains("has 2 lines"), "{err}");
    }
}

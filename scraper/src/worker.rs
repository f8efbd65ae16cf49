//! One worker run: RUNNING record, egress IP, fetch, analysis, body, final
//! record. The exit status follows DESIGN.md: success once a final record is
//! durable (or the store already holds a newer one), failure only when it is
//! not, so the attempt is retried.

use crate::analysis::{Analyzer, Page};
use crate::config::WorkerArgs;
use crate::fetch::{Dns, FetchError, Fetched, Fetcher, service_client, tls_config};
use crate::record::{self, Finding, Record, Severity, Status, Target};
use crate::sink::aws::AwsSink;
use crate::sink::dir::DirSink;
use crate::sink::{Sink, SinkError, SinkSpec, Written};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// Nothing can be recorded: no URL, a bad run id or sink settings.
    #[error("{0}")]
    Usage(String),
    /// The final record could not be made durable.
    #[error("{0}")]
    Sink(#[from] SinkError),
}

impl WorkerError {
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::Usage(_) => 2,
            WorkerError::Sink(_) => 1,
        }
    }
}

#[derive(Debug)]
pub struct Outcome {
    pub record: Record,
    pub written: Written,
    /// Time spent fetching the site (redirects and body), so the worker's
    /// own overhead can be told apart from the site's speed.
    pub fetch_time: Duration,
}

/// What the worker knows of where it runs.
struct Placement {
    target: Target,
    node: String,
}

pub async fn run(args: WorkerArgs) -> Result<Outcome, WorkerError> {
    let url = args.target_url().map_err(WorkerError::Usage)?;
    let run_id = match &args.run_id {
        Some(id) => {
            record::validate_run_id(id).map_err(WorkerError::Usage)?;
            id.clone()
        }
        None => record::new_run_id(time::OffsetDateTime::now_utc()),
    };
    let dns = Dns::default();
    let sink = build_sink(&args, &dns).await?;

    // Rules compile on another thread while the network work starts.
    let rules = args.rules.clone();
    let analyzer_task = tokio::task::spawn_blocking(move || Analyzer::new(&rules));

    let mut record = Record::new(&run_id, &url, args.attempt());
    let started = record::now();
    record.status = Some(Status::Running);
    record.started_at = Some(started.clone());
    record.updated_at = Some(started);
    record.expires_at = args.retain_days.map(crate::record::expires_after_days);

    let tls = tls_config(args.ca_file.as_deref());
    let service = service_client(
        &dns,
        tls_config(None).expect("embedded roots are valid"),
        Duration::from_secs(5),
    );
    let (placement, (egress, running)) = tokio::join!(placement(&args, &service), async {
        tokio::join!(
            egress_ip(&service, &args.checkip_url),
            sink.put_record(&record)
        )
    });
    record.target = Some(placement.target);
    record.node = Some(placement.node);
    if let Written::Superseded(why) = running? {
        tracing::info!(%why, url = %record.url, "not fetching: the store already has a newer or final record");
        return Ok(Outcome {
            record,
            written: Written::Superseded(why),
            fetch_time: Duration::ZERO,
        });
    }
    let mut notes = Vec::new();
    match egress {
        Ok(ip) => record.egress_ip = Some(ip.to_string()),
        Err(why) => notes.push(Finding::new(
            "trawl.egress-ip-unknown",
            Severity::Info,
            format!("egress IP not learned from {}: {why}", args.checkip_url),
        )),
    }

    let compiled = |joined: Result<_, tokio::task::JoinError>| {
        joined.map_err(|e| WorkerError::Usage(format!("rule compilation crashed: {e}")))
    };
    let fetcher = args
        .guard()
        .and_then(|guard| Ok(Fetcher::new(guard, args.limits(), dns.clone(), tls?)));
    let mut fetch_time = Duration::ZERO;
    // The default rules cannot fail to compile, so the fetch runs while they
    // compile; the user's rules may fail, and then nothing is fetched.
    let (analyzer, fetched) = if args.rules.is_empty() {
        let fetch = async {
            match &fetcher {
                Ok(f) => Some(timed(&mut fetch_time, f.fetch(&url)).await),
                Err(_) => None,
            }
        };
        let (analyzer, fetched) = tokio::join!(analyzer_task, fetch);
        (compiled(analyzer)?, fetched)
    } else {
        let analyzer = compiled(analyzer_task.await)?;
        let fetched = match (&fetcher, &analyzer) {
            (Ok(f), Ok(_)) => Some(timed(&mut fetch_time, f.fetch(&url)).await),
            _ => None,
        };
        (analyzer, fetched)
    };
    let prepared = fetcher.and_then(|f| analyzer.map(|a| (f, a)).map_err(|e| e.to_string()));
    match (prepared, fetched) {
        (Err(why), _) => {
            record.status = Some(Status::Failed);
            record.error = Some(format!("worker settings: {why}"));
            record.set_findings(notes);
        }
        (Ok((_, analyzer)), Some(Ok(fetched))) => {
            complete(&mut record, fetched, &analyzer, &sink, notes).await;
        }
        (Ok(_), Some(Err(e))) => {
            let (status, reason, redirects) = match e {
                FetchError::Blocked { reason, redirects } => (Status::Blocked, reason, redirects),
                FetchError::Failed { reason, redirects } => (Status::Failed, reason, redirects),
            };
            record.status = Some(status);
            record.error = Some(reason);
            record.redirects = redirects;
            record.set_findings(notes);
        }
        (Ok(_), None) => unreachable!("settings that allow a fetch always fetch"),
    }
    let finished = record::now();
    record.finished_at = Some(finished.clone());
    record.updated_at = Some(finished);
    let written = sink.put_record(&record).await?;
    Ok(Outcome {
        record,
        written,
        fetch_time,
    })
}

async fn timed<T>(took: &mut Duration, work: impl std::future::Future<Output = T>) -> T {
    let start = std::time::Instant::now();
    let out = work.await;
    *took = start.elapsed();
    out
}

async fn build_sink(args: &WorkerArgs, dns: &Dns) -> Result<Sink, WorkerError> {
    Ok(match &args.sink {
        SinkSpec::Dir(path) => Sink::Dir(DirSink::new(path)),
        SinkSpec::Aws => {
            let missing = |what: &str, var: &str| {
                WorkerError::Usage(format!(
                    "the aws sink needs {what}: set {var} (or --{})",
                    what.split(' ').next().unwrap_or(what)
                ))
            };
            let bucket = args
                .bucket
                .clone()
                .ok_or_else(|| missing("bucket name", "TRAWL_BUCKET"))?;
            let table = args
                .table
                .clone()
                .ok_or_else(|| missing("table name", "TRAWL_TABLE"))?;
            Sink::Aws(AwsSink::new(bucket, table, dns.clone()).await)
        }
    })
}

/// Fills the record from a response: body facts, analysis, stored body.
async fn complete(
    record: &mut Record,
    fetched: Fetched,
    analyzer: &Analyzer,
    sink: &Sink,
    mut notes: Vec<Finding>,
) {
    let Fetched {
        final_url,
        status,
        redirects,
        tls,
        content_type,
        body,
        incomplete,
    } = fetched;
    let analysis = analyzer.analyze(&Page {
        url: &final_url,
        content_type: content_type.as_deref(),
        body: &body,
    });
    notes.extend(analysis.findings);
    record.set_findings(notes);
    record.verdict = Some(analysis.verdict);
    record.score = Some(analysis.score);
    record.http_status = Some(status);
    record.final_url = Some(final_url.to_string());
    record.redirects = redirects;
    record.tls = tls;
    record.content_type = content_type.clone();
    record.bytes = Some(body.len() as u64);
    record.sha256 = Some(hex::encode(Sha256::digest(&body)));
    record.status = Some(Status::Done);
    if let Some(why) = incomplete {
        record.status = Some(Status::Failed);
        record.error = Some(why);
    }
    let gzipped = gzip(&body);
    drop(body);
    match sink
        .put_body(record, gzipped, content_type.as_deref())
        .await
    {
        Ok(key) => record.object_key = Some(key),
        Err(e) => {
            record.status = Some(Status::Failed);
            record.error = Some(format!("the body could not be stored: {e}"));
        }
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(
        Vec::with_capacity(body.len() / 3 + 64),
        flate2::Compression::new(6),
    );
    enc.write_all(body).expect("writing to memory cannot fail");
    enc.finish().expect("writing to memory cannot fail")
}

/// One GET of the check-IP service: the public IP this worker leaves from.
async fn egress_ip(client: &reqwest::Client, url: &str) -> Result<IpAddr, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| crate::error_text::root_cause(&e))?;
    if !response.status().is_success() {
        return Err(format!("answered HTTP {}", response.status().as_u16()));
    }
    let text = response.text().await.map_err(|e| e.to_string())?;
    let first = text.trim();
    first.parse().map_err(|_| {
        format!(
            "answer is not an IP address: {:?}",
            record::truncate_chars(first, 60)
        )
    })
}

/// EKS when the downward API gave a node name; ECS when the task metadata
/// endpoint is there (the node is the task ARN); local otherwise.
async fn placement(args: &WorkerArgs, client: &reqwest::Client) -> Placement {
    if let Some(node) = &args.node_name {
        return Placement {
            target: Target::Eks,
            node: node.clone(),
        };
    }
    if let Ok(base) = std::env::var("ECS_CONTAINER_METADATA_URI_V4") {
        let arn = async {
            let body = client
                .get(format!("{base}/task"))
                .send()
                .await
                .ok()?
                .bytes()
                .await
                .ok()?;
            let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
            v.get("TaskARN")?.as_str().map(str::to_owned)
        }
        .await;
        return Placement {
            target: Target::Ecs,
            node: arn.unwrap_or_else(|| "ecs-task (metadata unavailable)".to_owned()),
        };
    }
    Placement {
        target: Target::Local,
        node: "local".to_owned(),
    }
}

/// Peak resident memory of this process in KiB (VmHWM), for the last log line.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The worker as a program: JSON logs on stderr, one run, the exit status
/// of DESIGN.md. `trawl-scraper` and `trawl worker` both call this.
pub fn main_with(args: WorkerArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAWL_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .init();
    // One URL at a time: a single-threaded runtime is all the worker needs.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(run(args));
    let peak = peak_rss_kib();
    match result {
        Ok(outcome) => {
            let r = &outcome.record;
            let stored = matches!(outcome.written, Written::Stored);
            tracing::info!(
                event = "finished",
                run_id = %r.run_id,
                url_key = %r.url_key,
                status = %r.status(),
                stored,
                error = r.error.as_deref().unwrap_or(""),
                egress_ip = r.egress_ip.as_deref().unwrap_or(""),
                http_status = r.http_status.unwrap_or(0),
                verdict = r.verdict.map(|v| v.as_str()).unwrap_or(""),
                fetch_ms = outcome.fetch_time.as_secs_f64() * 1000.0,
                peak_rss_kib = peak.unwrap_or(0),
                "record is durable"
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            tracing::error!(event = "failed", error = %e, peak_rss_kib = peak.unwrap_or(0), "no final record was written");
            eprintln!("trawl-scraper: {e}");
            ExitCode::from(e.exit_code() as u8)
        }
    }
}

//! `trawl-scraper`: the worker binary. Logs are JSON lines on stderr; the
//! last one says what was recorded and the process's peak memory.

use clap::Parser;
use std::process::ExitCode;
use trawl_scraper::config::WorkerArgs;
use trawl_scraper::sink::Written;
use trawl_scraper::worker::{self, peak_rss_kib};

fn main() -> ExitCode {
    let args = WorkerArgs::parse();
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
    let result = runtime.block_on(worker::run(args));
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

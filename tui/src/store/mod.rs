//! Where runs and records are read from: the local store (folders on disk)
//! and the AWS store (DynamoDB, bodies in S3).

pub mod aws;
pub mod local;

use crate::model::RunSummary;
use std::io::Read;
use trawl_scraper::record::{Record, Status};

/// How much of a stored body the detail view shows.
pub const PREVIEW_BYTES: usize = 64 * 1024;

/// The AWS store counts the records of this many newest runs for the runs
/// list (each count reads the run's partition); older runs show "?".
pub const COUNTED_AWS_RUNS: usize = 20;

/// Runs of both stores, newest first. AWS runs come with counts for the
/// newest [`COUNTED_AWS_RUNS`]. When the AWS store fails, its runs are left
/// out and the error says why (the local ones are still listed).
pub async fn all_runs(
    local: local::LocalStore,
    aws: Option<aws::AwsStore>,
) -> (Vec<RunSummary>, Vec<String>) {
    let mut errors = Vec::new();
    let mut runs = match tokio::task::spawn_blocking(move || local.list_runs()).await {
        Ok(Ok(runs)) => runs,
        Ok(Err(e)) => {
            errors.push(e);
            Vec::new()
        }
        Err(e) => {
            errors.push(e.to_string());
            Vec::new()
        }
    };
    if let Some(aws) = aws {
        match aws.runs().await {
            Ok(infos) => {
                let counts = futures::future::join_all(
                    infos
                        .iter()
                        .take(COUNTED_AWS_RUNS)
                        .map(|r| aws.status_counts(&r.run_id)),
                )
                .await;
                let mut counts = counts.into_iter();
                for info in infos {
                    let summary = match counts.next() {
                        Some(Ok(by_status)) => {
                            let n = |s: Status| by_status.get(&s).copied().unwrap_or(0);
                            RunSummary {
                                info,
                                finished: n(Status::Done) + n(Status::Failed) + n(Status::Blocked),
                                failed: n(Status::Failed) + n(Status::Blocked),
                                counted: true,
                            }
                        }
                        Some(Err(e)) => {
                            errors.push(e.line);
                            uncounted(info)
                        }
                        None => uncounted(info),
                    };
                    runs.push(summary);
                }
            }
            Err(e) => errors.push(e.line),
        }
    }
    runs.sort_by(|a, b| b.info.created_at.cmp(&a.info.created_at));
    errors.dedup();
    (runs, errors)
}

fn uncounted(info: trawl_scraper::record::RunItem) -> RunSummary {
    RunSummary {
        info,
        finished: 0,
        failed: 0,
        counted: false,
    }
}

/// A run's QUEUED record for `url`, as both stores write it at submission
/// (attempt 1, the run's target and TTL).
/// A new run of `url_count` URLs on `target`, kept `retain_days` when set
/// (the id carries this moment, so runs list newest first).
pub fn new_run(
    target: trawl_scraper::record::Target,
    url_count: usize,
    retain_days: Option<u32>,
) -> trawl_scraper::record::RunItem {
    use trawl_scraper::record::{RunItem, expires_after_days, new_run_id, now};
    let mut run = RunItem::new(
        &new_run_id(time::OffsetDateTime::now_utc()),
        target,
        url_count,
        now(),
    );
    run.expires_at = retain_days.map(expires_after_days);
    run
}

pub fn queued_record(run: &trawl_scraper::record::RunItem, url: &str, submitted: &str) -> Record {
    let mut r = Record::new(&run.run_id, url, 1);
    r.status = Some(Status::Queued);
    r.target = Some(run.target);
    r.submitted_at = Some(submitted.to_owned());
    r.updated_at = Some(submitted.to_owned());
    r.expires_at = run.expires_at;
    r
}

/// The order runs' records are listed in (`trawl results`, attach):
/// submission order, then URL.
pub fn listing_order(records: &mut [Record]) {
    records.sort_by(|a, b| a.submitted_at.cmp(&b.submitted_at).then(a.url.cmp(&b.url)));
}

/// The first [`PREVIEW_BYTES`] of a gzip body. A cut-off input (only the
/// start of the object was read) ends the preview where the data ends;
/// the output bound also disarms decompression bombs.
pub fn gunzip_head(compressed: impl Read) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut decoder = flate2::read::GzDecoder::new(compressed).take(PREVIEW_BYTES as u64);
    let mut buf = [0u8; 8192];
    loop {
        match decoder.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !out.is_empty() => {
                return Ok(out);
            }
            Err(e) => return Err(e),
        }
    }
}

/// A body preview for the terminal: control characters escaped so nothing
/// the site sent can drive it; `total` (the body's full size, when known)
/// says how much is not shown.
pub fn preview_text(head: &[u8], total: Option<u64>) -> String {
    let cut = &head[..head.len().min(PREVIEW_BYTES)];
    let text = String::from_utf8_lossy(cut);
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' => out.push(c),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    let total = total.unwrap_or(head.len() as u64);
    if total > cut.len() as u64 {
        out.push_str(&format!("\n… ({} more bytes)", total - cut.len() as u64));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_escape_control_characters() {
        let p = preview_text(b"<p>hi</p>\x1b[2J\x07\r\nok", None);
        assert_eq!(p, "<p>hi</p>\\u{1b}[2J\\u{7}\\r\nok");
        let long = vec![b'a'; PREVIEW_BYTES + 100];
        assert!(preview_text(&long, None).ends_with("(100 more bytes)"));
        assert!(preview_text(b"abc", Some(10)).ends_with("(7 more bytes)"));
    }

    #[test]
    fn gunzip_head_reads_a_cut_off_stream_and_stops_at_the_bound() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let body: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
        gz.write_all(&body).unwrap();
        let compressed = gz.finish().unwrap();
        let whole = gunzip_head(&compressed[..]).unwrap();
        assert_eq!(whole, body[..PREVIEW_BYTES]);
        let cut = gunzip_head(&compressed[..compressed.len() / 4]).unwrap();
        assert!(!cut.is_empty() && body.starts_with(&cut));
        assert!(gunzip_head(&b"not gzip"[..]).is_err());
    }
}

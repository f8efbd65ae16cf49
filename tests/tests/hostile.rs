//! The hostile suite: every case ends FAILED or BLOCKED with its own reason,
//! within the deadline plus 2 s, with the worker's peak memory under 64 MiB.
//! Cases that aim at refused addresses run inside a network namespace with
//! only loopback up, so a bug in the guard cannot send a packet anywhere.

use std::net::SocketAddr;
use std::time::Duration;
use trawl_scraper::record::{Record, Status};
use trawl_tests::hostile::{BadTlsServer, HostileServer};
use trawl_tests::worker::{
    WorkerResult, WorkerRun, netns_available, server_requests, stored_record, test_run_id,
};

/// The suite's deadline (TRAWL_TIMEOUT_SECS) and the slack allowed past it.
const DEADLINE_SECS: u64 = 5;
const SLACK: Duration = Duration::from_secs(2);
const PEAK_LIMIT_KIB: u64 = 64 * 1024;

struct Case {
    result: WorkerResult,
    record: Record,
}

impl Case {
    fn expect(&self, status: Status, reason_part: &str) {
        let error = self.record.error.clone().unwrap_or_default();
        assert_eq!(
            self.record.status(),
            status,
            "error: {error}\n{}",
            self.result.stderr
        );
        assert!(
            error.contains(reason_part),
            "expected {reason_part:?} in the reason, got {error:?}"
        );
        self.within_limits();
    }

    fn within_limits(&self) {
        assert!(self.result.success(), "{}", self.result.stderr);
        assert!(
            self.result.elapsed < Duration::from_secs(DEADLINE_SECS) + SLACK,
            "took {:?}",
            self.result.elapsed
        );
        let peak = self
            .result
            .peak_rss_kib
            .expect("peak memory in the last log line");
        assert!(peak < PEAK_LIMIT_KIB, "peak memory {peak} KiB");
    }
}

fn scrape(url: &str) -> Case {
    let out = tempfile::tempdir().unwrap();
    let run_id = test_run_id();
    let result = WorkerRun::local(url, &run_id, out.path())
        .env("TRAWL_TIMEOUT_SECS", DEADLINE_SECS.to_string())
        .env("TRAWL_READ_TIMEOUT_SECS", "3")
        .run();
    let record = stored_record(out.path(), &run_id, url)
        .unwrap_or_else(|| panic!("no record for {url}: {}", result.stderr));
    Case { result, record }
}

#[test]
fn decompression_bombs_stop_at_the_cap() {
    let server = HostileServer::start_plain().unwrap();
    for kind in ["gzip", "brotli", "deflate", "zstd"] {
        let case = scrape(&server.url(&format!("/bomb/{kind}")));
        case.expect(Status::Failed, "larger than the limit of 10485760 bytes");
        assert_eq!(case.record.bytes, Some(10 * 1024 * 1024), "{kind}");
        assert!(case.record.sha256.is_some() && case.record.object_key.is_some());
    }
}

#[test]
fn an_endless_body_stops_at_the_cap() {
    let server = HostileServer::start_plain().unwrap();
    let case = scrape(&server.url("/endless"));
    case.expect(Status::Failed, "larger than the limit");
    assert_eq!(case.record.bytes, Some(10 * 1024 * 1024));
}

#[test]
fn a_dripping_body_stops_at_the_deadline() {
    let server = HostileServer::start_plain().unwrap();
    let case = scrape(&server.url("/drip"));
    case.expect(
        Status::Failed,
        "within the deadline of 5 s (TRAWL_TIMEOUT_SECS)",
    );
    let elapsed = case.result.elapsed;
    assert!(elapsed >= Duration::from_secs(DEADLINE_SECS), "{elapsed:?}");
    // What arrived before the deadline is kept.
    assert!(case.record.bytes.unwrap() >= 3, "{:?}", case.record.bytes);
}

#[test]
fn redirect_loops_and_long_chains_fail() {
    let server = HostileServer::start_plain().unwrap();
    let case = scrape(&server.url("/loop"));
    case.expect(Status::Failed, "redirect loop");
    let case = scrape(&server.url("/chain/50"));
    case.expect(
        Status::Failed,
        "more than 10 redirects (TRAWL_MAX_REDIRECTS)",
    );
    assert_eq!(case.record.redirects.len(), 11);
    assert_eq!(server.hits("/chain/"), 12 - 1);
}

#[test]
fn a_huge_header_is_refused() {
    let server = HostileServer::start_plain().unwrap();
    let case = scrape(&server.url("/big-header"));
    case.expect(
        Status::Failed,
        "response headers from 127.0.0.1 are too large",
    );
}

#[test]
fn invalid_utf8_and_binary_bodies_are_stored_and_analysed() {
    let server = HostileServer::start_plain().unwrap();
    for (path, content_type) in [
        ("/invalid-utf8", "text/html; charset=utf-8"),
        ("/binary", "application/octet-stream"),
    ] {
        let case = scrape(&server.url(path));
        case.within_limits();
        assert_eq!(case.record.status(), Status::Done, "{path}");
        assert_eq!(case.record.content_type.as_deref(), Some(content_type));
        assert!(case.record.verdict.is_some());
    }
}

#[test]
fn a_reset_mid_body_fails_with_what_arrived() {
    let server = HostileServer::start_plain().unwrap();
    let case = scrape(&server.url("/reset"));
    case.expect(Status::Failed, "body cut off after");
    assert!(case.record.bytes.unwrap() <= 1000);
}

#[test]
fn a_failed_tls_handshake_fails() {
    let server = BadTlsServer::start("127.0.0.1".parse().unwrap()).unwrap();
    let case = scrape(&server.url("/"));
    case.expect(Status::Failed, "TLS handshake with 127.0.0.1 failed");
}

const HOSTILE: &str = "127.0.0.2:8080";
const CANARY: &str = "127.0.0.1:8080";

/// Runs a case inside its own network namespace: the hostile server on
/// 127.0.0.2 (the only address allowed) and a canary on 127.0.0.1 that must
/// never be asked anything. `None` (after a loud message) where namespaces
/// are unavailable.
fn scrape_in_netns(url: &str) -> Option<(Case, Vec<String>)> {
    if let Err(why) = netns_available() {
        eprintln!(
            "\n*** SKIPPED: network namespaces are unavailable here ({why}); \
             refused-address cases did not run ***\n"
        );
        return None;
    }
    let servers: [SocketAddr; 2] = [HOSTILE.parse().unwrap(), CANARY.parse().unwrap()];
    let logs = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run_id = test_run_id();
    let result = WorkerRun::local(url, &run_id, out.path())
        .env("TRAWL_ALLOW_CIDRS", "127.0.0.2/32")
        .env("TRAWL_CHECKIP_URL", format!("http://{HOSTILE}/checkip"))
        .env("TRAWL_TIMEOUT_SECS", DEADLINE_SECS.to_string())
        .run_in_netns(&servers, logs.path());
    let record = stored_record(out.path(), &run_id, url)
        .unwrap_or_else(|| panic!("no record for {url}: {}", result.stderr));
    let canary_requests = server_requests(logs.path(), 1);
    Some((Case { result, record }, canary_requests))
}

#[test]
fn redirects_to_refused_addresses_are_blocked_before_connecting() {
    for (target, reason) in [
        (
            "http://169.254.169.254/latest/meta-data/",
            "refused to connect to 169.254.169.254 (link-local, cloud metadata service)",
        ),
        (
            "http://127.0.0.1:8080/page",
            "refused to connect to 127.0.0.1 (loopback)",
        ),
        (
            "http://[::1]:8080/page",
            "refused to connect to ::1 (loopback)",
        ),
        (
            "http://10.0.0.1/",
            "refused to connect to 10.0.0.1 (private)",
        ),
    ] {
        let url = format!("http://{HOSTILE}/redirect?to={target}");
        let Some((case, canary)) = scrape_in_netns(&url) else {
            return;
        };
        case.expect(Status::Blocked, reason);
        assert_eq!(case.record.redirects.len(), 1, "{target}");
        assert_eq!(case.record.redirects[0].status, 302);
        assert!(
            canary.is_empty(),
            "the canary on 127.0.0.1 was asked {canary:?}"
        );
        assert_eq!(case.record.egress_ip.as_deref(), Some("198.51.100.7"));
    }
}

#[test]
fn a_name_that_resolves_to_loopback_is_blocked() {
    let Some((case, canary)) = scrape_in_netns("http://localhost:8080/page") else {
        return;
    };
    case.expect(Status::Blocked, "localhost resolves to ");
    let error = case.record.error.as_deref().unwrap();
    assert!(
        error.contains("127.0.0.1") && error.contains("(loopback)"),
        "{error}"
    );
    assert!(case.record.redirects.is_empty());
    assert!(canary.is_empty(), "{canary:?}");
}

#[test]
fn the_hostile_server_is_reachable_in_the_namespace() {
    // The control case: the same set-up with an allowed page is DONE, so the
    // BLOCKED results above come from the guard, not from a broken set-up.
    let Some((case, canary)) = scrape_in_netns(&format!("http://{HOSTILE}/page")) else {
        return;
    };
    assert_eq!(
        case.record.status(),
        Status::Done,
        "{:?}",
        case.record.error
    );
    assert!(canary.is_empty());
}

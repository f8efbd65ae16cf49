//! The worker binary end to end: a loopback page through the dir: and aws
//! sinks (moto), TLS details, attempts, indexed mode, a dead endpoint.

use flate2::read::GzDecoder;
use sha2::{Digest, Sha256};
use std::io::Read;
use std::time::Duration;
use trawl_scraper::record::{Status, Target, url_key};
use trawl_tests::env::STUB_EGRESS_IP;
use trawl_tests::hostile::{BENIGN_PAGE, HostileServer, Options};
use trawl_tests::moto::Moto;
use trawl_tests::tls::TestCa;
use trawl_tests::worker::{WorkerRun, stored_body_path, stored_record, test_run_id};

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[test]
fn dir_sink_stores_the_record_and_gzip_body() {
    let server = HostileServer::start_plain().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run_id = test_run_id();
    let url = server.url("/page");
    let result = WorkerRun::local(&url, &run_id, out.path())
        .env("TRAWL_RETAIN_DAYS", "7")
        .run();
    assert!(result.success(), "{}", result.stderr);

    let r = stored_record(out.path(), &run_id, &url).expect("record.json");
    let week = time::OffsetDateTime::now_utc().unix_timestamp() + 7 * 86_400;
    let expires = r.expires_at.expect("TTL set by TRAWL_RETAIN_DAYS");
    assert!((week - 60..=week).contains(&expires), "{expires} vs {week}");
    assert_eq!(r.status(), Status::Done, "{r:?}");
    assert_eq!(r.url_key, url_key(&url));
    assert_eq!(r.egress_ip.as_deref(), Some(STUB_EGRESS_IP));
    assert_eq!(r.http_status, Some(200));
    assert_eq!(r.target, Some(Target::Local));
    assert_eq!(r.node.as_deref(), Some("local"));
    assert_eq!(r.attempt, 1);
    assert_eq!(r.redirects.len(), 1);
    assert_eq!(
        r.redirects[0].remote_addr.as_deref(),
        Some(server.addr().to_string().as_str())
    );
    let body = gunzip(&std::fs::read(stored_body_path(out.path(), &run_id, &url)).unwrap());
    assert_eq!(body, BENIGN_PAGE.as_bytes());
    assert_eq!(r.sha256.as_deref(), Some(sha256_hex(&body).as_str()));
    assert_eq!(r.bytes, Some(body.len() as u64));
    assert_eq!(
        r.object_key.as_deref(),
        Some(
            stored_body_path(out.path(), &run_id, &url)
                .to_str()
                .unwrap()
        )
    );
    assert_eq!(r.verdict.map(|v| v.as_str()), Some("clean"));
    let started = r.started_at.as_deref().unwrap();
    let finished = r.finished_at.as_deref().unwrap();
    assert!(started <= finished && finished.ends_with('Z') && finished.len() == 24);
    // The last log line is JSON and carries the outcome.
    let last = result.log_lines().pop().expect("a JSON log line");
    assert_eq!(last["status"], "DONE");
}

#[tokio::test(flavor = "multi_thread")]
async fn aws_sink_writes_s3_object_and_dynamodb_item() {
    let moto = Moto::start().unwrap();
    moto.create_bucket("trawl-content").await.unwrap();
    moto.create_results_table("trawl-results").await.unwrap();
    let server = HostileServer::start_plain().unwrap();
    let run_id = test_run_id();
    let url = server.url("/page");
    let result = tokio::task::block_in_place(|| {
        WorkerRun::aws(&url, &run_id, &moto, "trawl-content", "trawl-results").run()
    });
    assert!(result.success(), "{}", result.stderr);

    let key = format!("{run_id}/{}/body", url_key(&url));
    let object = moto
        .s3()
        .await
        .get_object()
        .bucket("trawl-content")
        .key(&key)
        .send()
        .await
        .expect("the body object exists");
    assert_eq!(object.content_encoding(), Some("gzip"));
    assert_eq!(object.content_type(), Some("text/html; charset=utf-8"));
    let meta = object.metadata().cloned().unwrap_or_default();
    assert_eq!(meta.get("run-id"), Some(&run_id));
    assert_eq!(
        meta.get("egress-ip").map(String::as_str),
        Some(STUB_EGRESS_IP)
    );
    let stored = object.body.collect().await.unwrap().into_bytes();
    let body = gunzip(&stored);
    assert_eq!(body, BENIGN_PAGE.as_bytes());
    assert_eq!(meta.get("sha256"), Some(&sha256_hex(&body)));

    let r = moto
        .record("trawl-results", &run_id, &url)
        .await
        .expect("the record item exists");
    assert_eq!(r.status(), Status::Done);
    assert_eq!(r.egress_ip.as_deref(), Some(STUB_EGRESS_IP));
    assert_eq!(r.sha256.as_deref(), Some(sha256_hex(&body).as_str()));
    assert_eq!(r.object_key.as_deref(), Some(key.as_str()));
}

#[test]
fn https_records_the_peer_certificate() {
    let ca = TestCa::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = ca.write_ca_file(dir.path()).unwrap();
    let tls = ca
        .server_config(&["localhost"], &["127.0.0.1".parse().unwrap()])
        .unwrap();
    let server = HostileServer::start(Options {
        tls: Some(tls),
        ..Options::default()
    })
    .unwrap();
    let run_id = test_run_id();
    let url = server.url("/page");
    assert!(url.starts_with("https://"), "{url}");
    let result = WorkerRun::local(&url, &run_id, dir.path())
        .env("TRAWL_CA_FILE", ca_file.display().to_string())
        .run();
    assert!(result.success(), "{}", result.stderr);
    let r = stored_record(dir.path(), &run_id, &url).unwrap();
    assert_eq!(r.status(), Status::Done, "{:?}", r.error);
    let tls = r.tls.expect("tls details");
    assert_eq!(tls.subject, "CN=localhost");
    assert!(tls.issuer.contains("trawl test CA"), "{}", tls.issuer);
    assert!(tls.not_before < tls.not_after);
    assert!(tls.not_before < r.started_at.unwrap());

    // Without the test CA the same server is an untrusted one.
    let run_id = test_run_id();
    let result = WorkerRun::local(&url, &run_id, dir.path()).run();
    assert!(result.success());
    let r = stored_record(dir.path(), &run_id, &url).unwrap();
    assert_eq!(r.status(), Status::Failed);
    let error = r.error.unwrap();
    assert!(
        error.starts_with("TLS handshake with 127.0.0.1 failed"),
        "{error}"
    );
    assert!(error.contains("UnknownIssuer"), "{error}");
}

#[test]
fn a_late_attempt_one_never_overwrites_attempt_two() {
    let server = HostileServer::start_plain().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run_id = test_run_id();
    let url = server.url("/page");
    let second = WorkerRun::local(&url, &run_id, out.path())
        .env("TRAWL_ATTEMPT", "2")
        .run();
    assert!(second.success());
    let before = stored_record(out.path(), &run_id, &url).unwrap();
    assert_eq!((before.attempt, before.status()), (2, Status::Done));

    let late = WorkerRun::local(&url, &run_id, out.path())
        .env("TRAWL_INDEX_FAILURES", "0")
        .run();
    assert!(
        late.success(),
        "a superseded attempt still exits 0: {}",
        late.stderr
    );
    assert!(
        late.stderr.contains("newer or final record"),
        "{}",
        late.stderr
    );
    assert_eq!(stored_record(out.path(), &run_id, &url).unwrap(), before);
    // It did not even fetch: the server saw one request.
    assert_eq!(server.hits("/page"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_late_attempt_one_never_overwrites_attempt_two_in_dynamodb() {
    let moto = Moto::start().unwrap();
    moto.create_bucket("trawl-b").await.unwrap();
    moto.create_results_table("t").await.unwrap();
    let server = HostileServer::start_plain().unwrap();
    let run_id = test_run_id();
    let url = server.url("/page");
    let run = |attempt: &str| {
        tokio::task::block_in_place(|| {
            WorkerRun::aws(&url, &run_id, &moto, "trawl-b", "t")
                .env("TRAWL_ATTEMPT", attempt)
                .run()
        })
    };
    assert!(run("2").success());
    let late = run("1");
    assert!(late.success(), "{}", late.stderr);
    let r = moto
        .record("t", &run_id, &url)
        .await
        .expect("the record item exists");
    assert_eq!((r.attempt, r.status()), (2, Status::Done));
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_moto_fails_the_worker_within_30_seconds_naming_the_endpoint() {
    let moto = Moto::start().unwrap();
    moto.create_bucket("trawl-b").await.unwrap();
    moto.create_results_table("t").await.unwrap();
    let endpoint = moto.endpoint();
    drop(moto);
    let server = HostileServer::start_plain().unwrap();
    let result = tokio::task::block_in_place(|| {
        WorkerRun::new()
            .env("AWS_ENDPOINT_URL", &endpoint)
            .env("TRAWL_URL", server.url("/page"))
            .env("TRAWL_RUN_ID", test_run_id())
            .env("TRAWL_SINK", "aws")
            .env("TRAWL_BUCKET", "trawl-b")
            .env("TRAWL_TABLE", "t")
            .env("TRAWL_ALLOW_CIDRS", "127.0.0.0/8")
            .run()
    });
    assert!(!result.success(), "{}", result.stderr);
    assert!(
        result.elapsed < Duration::from_secs(30),
        "{:?}",
        result.elapsed
    );
    let last = result.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("trawl-scraper: "), "{last}");
    assert!(last.contains(&endpoint), "{last}");
    assert!(last.contains("DynamoDB table t"), "{last}");
}

#[test]
fn indexed_mode_picks_the_line_and_rejects_a_bad_index() {
    let server = HostileServer::start_plain().unwrap();
    let out = tempfile::tempdir().unwrap();
    let urls = [
        server.url("/page?n=0"),
        server.url("/page?n=1"),
        server.url("/page?n=2"),
    ];
    let file = out.path().join("urls");
    std::fs::write(&file, urls.join("\n") + "\n").unwrap();
    let run_id = test_run_id();
    let indexed = |index: &str| {
        WorkerRun::new()
            .env("TRAWL_URLS_FILE", file.display().to_string())
            .env("JOB_COMPLETION_INDEX", index)
            .env("TRAWL_RUN_ID", &run_id)
            .env("TRAWL_SINK", format!("dir:{}", out.path().display()))
            .env("TRAWL_ALLOW_CIDRS", "127.0.0.1/32")
            .env("TRAWL_INDEX_FAILURES", "1")
            .run()
    };
    assert!(indexed("1").success());
    let r = stored_record(out.path(), &run_id, &urls[1]).expect("line 1's record");
    assert_eq!((r.status(), r.attempt), (Status::Done, 2));
    assert!(stored_record(out.path(), &run_id, &urls[0]).is_none());

    let bad = indexed("3");
    assert_eq!(bad.exit_code, Some(2));
    assert!(
        bad.stderr.contains("index 3 is out of range") && bad.stderr.contains("has 3 lines"),
        "{}",
        bad.stderr
    );
}

/// Each fixture page, served over HTTP and scraped by the real worker,
/// raises its own finding; the benign pages raise nothing above info.
#[test]
fn fixture_pages_raise_their_findings_through_the_worker() {
    let server = HostileServer::start_plain().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run_id = test_run_id();
    let scrape = |name: &str| {
        let url = server.url(&format!("/fixture/{name}"));
        let result = WorkerRun::local(&url, &run_id, out.path()).run();
        assert!(result.success(), "{}", result.stderr);
        let r = stored_record(out.path(), &run_id, &url).unwrap();
        assert_eq!(r.status(), Status::Done, "{name}: {:?}", r.error);
        r
    };
    for (name, finding) in [
        ("iframe-hidden.html", "iframe.hidden"),
        ("eval-chain.html", "js.eval-chain"),
        ("base64-blob.html", "js.base64-blob"),
        ("obfuscator.html", "js.obfuscator"),
        ("meta-refresh.html", "redirect.meta-refresh"),
        ("script-redirect.html", "redirect.script"),
        ("password-offsite.html", "form.password-offsite"),
        ("miner.html", "miner.known"),
        ("external-scripts.html", "script.external-domain"),
    ] {
        let r = scrape(name);
        let rules: Vec<&str> = r.findings.iter().map(|f| f.rule.as_str()).collect();
        assert!(rules.contains(&finding), "{name}: {rules:?}");
    }
    let skimmer = scrape("yara-skimmer.html");
    assert!(
        skimmer.findings.iter().any(|f| f.rule.starts_with("yara.")),
        "{:?}",
        skimmer.findings
    );
    for name in [
        "benign-analytics.html",
        "benign-bundle.js",
        // benign-login-subdomain.html is benign only when served from its
        // own site (example.com); the analysis unit tests cover it there.
        "benign-login.html",
    ] {
        let r = scrape(name);
        assert_eq!(
            r.verdict.map(|v| v.as_str()),
            Some("clean"),
            "{name}: {:?}",
            r.findings
        );
        assert!(
            r.findings
                .iter()
                .all(|f| f.severity == trawl_scraper::record::Severity::Info),
            "{name}: {:?}",
            r.findings
        );
    }
}

#[test]
fn a_broken_user_rule_file_fails_the_record_naming_file_and_line() {
    let server = HostileServer::start_plain().unwrap();
    let out = tempfile::tempdir().unwrap();
    let rules = out.path().join("mine.yar");
    std::fs::write(
        &rules,
        "rule ok { condition: true }\nrule broken {\n  strings: $a = \n  condition: $a\n}\n",
    )
    .unwrap();
    let run_id = test_run_id();
    let url = server.url("/page");
    let result = WorkerRun::local(&url, &run_id, out.path())
        .env("TRAWL_RULES", rules.display().to_string())
        .run();
    assert!(result.success(), "{}", result.stderr);
    let r = stored_record(out.path(), &run_id, &url).unwrap();
    assert_eq!(r.status(), Status::Failed);
    let error = r.error.unwrap();
    assert!(error.contains(&rules.display().to_string()), "{error}");
    assert!(
        error.contains("line 3") || error.contains("line 4"),
        "{error}"
    );
    // Nothing was fetched with a broken rule set.
    assert_eq!(server.hits("/page"), 0);
}

/// The conditional update itself, against moto: a late final write of
/// attempt 1 after attempt 2 started, and a second final write of attempt 2,
/// are both refused; submitter fields survive the worker's writes.
#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_condition_keeps_newer_attempts_and_final_records() {
    use trawl_scraper::sink::Written;
    use trawl_scraper::sink::aws::AwsSink;
    let moto = Moto::start().unwrap();
    moto.create_bucket("trawl-b").await.unwrap();
    moto.create_results_table("t").await.unwrap();
    let sink = AwsSink::from_config(&moto.sdk_config().await, "trawl-b".into(), "t".into());
    let run_id = test_run_id();
    let record = |attempt: u32, status: Status| {
        let mut r = trawl_scraper::record::Record::new(&run_id, "https://a.example/", attempt);
        r.status = Some(status);
        r.updated_at = Some(trawl_scraper::record::now());
        if status == Status::Failed {
            r.error = Some("boom".into());
        }
        r
    };
    let mut queued = record(1, Status::Queued);
    queued.submitted_at = Some("2026-11-24T05:00:00.000Z".into());
    queued.target = Some(Target::Eks);
    assert_eq!(sink.put_record(&queued).await.unwrap(), Written::Stored);
    assert_eq!(
        sink.put_record(&record(1, Status::Running)).await.unwrap(),
        Written::Stored
    );
    assert_eq!(
        sink.put_record(&record(1, Status::Failed)).await.unwrap(),
        Written::Stored
    );
    assert_eq!(
        sink.put_record(&record(2, Status::Running)).await.unwrap(),
        Written::Stored
    );
    assert!(matches!(
        sink.put_record(&record(1, Status::Done)).await.unwrap(),
        Written::Superseded(_)
    ));
    assert_eq!(
        sink.put_record(&record(2, Status::Done)).await.unwrap(),
        Written::Stored
    );
    assert!(matches!(
        sink.put_record(&record(2, Status::Failed)).await.unwrap(),
        Written::Superseded(_)
    ));

    let stored = moto
        .record("t", &run_id, "https://a.example/")
        .await
        .expect("the record item exists");
    assert_eq!((stored.attempt, stored.status()), (2, Status::Done));
    // attempt 1's error is gone; the submitter's fields are kept.
    assert_eq!(stored.error, None);
    assert_eq!(
        stored.submitted_at.as_deref(),
        Some("2026-11-24T05:00:00.000Z")
    );
    assert_eq!(stored.target, Some(Target::Eks));
}

//! The AWS results store against moto: QUEUED records by conditional
//! transactions, incremental polling that reads only what changed, the runs
//! index, resubmission that resets nothing, retention, launch failures,
//! bodies from S3, the Elastic IP pool, and errors a person can act on.

use std::time::Duration;
use trawl::aws::Aws;
use trawl::aws::problem::ErrorKind;
use trawl::store::aws::{AwsStore, POLL_SKEW_SECS};
use trawl::store::{PREVIEW_BYTES, all_runs, local::LocalStore};
use trawl_scraper::record::{Record, RunItem, Status, Target, new_run_id, now};
use trawl_tests::hostile::HostileServer;
use trawl_tests::moto::Moto;
use trawl_tests::worker::WorkerRun;

const TABLE: &str = "trawl-results";
const BUCKET: &str = "trawl-content";

fn new_run(target: Target, n: usize) -> RunItem {
    RunItem::new(
        &new_run_id(time::OffsetDateTime::now_utc()),
        target,
        n,
        now(),
    )
}

/// The `trawl` AWS settings for this moto (what `Aws::load` builds from
/// a config file).
async fn aws_for(moto: &Moto, pool_tag: Option<&str>) -> Aws {
    Aws {
        sdk: moto.sdk_config().await,
        table: Some(TABLE.into()),
        bucket: Some(BUCKET.into()),
        pool_tag: pool_tag.map(str::to_owned),
        poll_interval: Duration::from_secs(1),
        retain_days: None,
    }
}

/// Runs the real worker (aws sink) on `url` for `run_id`.
fn run_worker(moto: &Moto, url: &str, run_id: &str) {
    let result =
        tokio::task::block_in_place(|| WorkerRun::aws(url, run_id, moto, BUCKET, TABLE).run());
    assert!(result.success(), "{}", result.stderr);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_queued_records_then_polls_read_only_what_changed() {
    let moto = Moto::start().unwrap();
    moto.create_bucket("trawl-content").await.unwrap();
    moto.create_results_table("trawl-results").await.unwrap();
    let store = AwsStore::new(&moto.sdk_config().await, "trawl-results");
    let server = HostileServer::start_plain().unwrap();

    let run = new_run(Target::Ecs, 1000);
    let urls: Vec<String> = (0..1000)
        .map(|i| server.url(&format!("/page?n={i}")))
        .collect();
    let queued = store.create_run(&run, &urls).await.unwrap();
    assert_eq!(queued.len(), 1000);
    assert!(queued.iter().all(|r| r.status() == Status::Queued));

    let full = store.poll(&run.run_id, None).await.unwrap();
    assert_eq!(full.records.len(), 1000, "the run item is not a record");
    let runs = store.runs().await.unwrap();
    assert_eq!(runs, vec![run.clone()]);

    // Records written within the skew window may be read once more; past
    // it, a poll with no change reads nothing.
    let settling = store.poll(&run.run_id, Some(&full.cursor)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(POLL_SKEW_SECS as u64 * 1000 + 500)).await;
    let settled = store
        .poll(&run.run_id, Some(&settling.cursor))
        .await
        .unwrap();
    let quiet = store
        .poll(&run.run_id, Some(&settled.cursor))
        .await
        .unwrap();
    assert_eq!(
        (quiet.records.len(), quiet.items_read),
        (0, 0),
        "a poll with no change reads nothing"
    );

    // Five workers (the real binary, aws sink) finish.
    for url in &urls[..5] {
        run_worker(&moto, url, &run.run_id);
    }
    let changed = store.poll(&run.run_id, Some(&quiet.cursor)).await.unwrap();
    let mut got: Vec<&str> = changed.records.iter().map(|r| r.url.as_str()).collect();
    got.sort_unstable();
    let mut want: Vec<&str> = urls[..5].iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(got, want);
    assert!(changed.records.iter().all(|r| r.status() == Status::Done));
    assert_eq!(changed.items_read, 5, "only the changed records are read");

    // Resubmitting the run duplicates nothing and resets nothing.
    let again = store.create_run(&run, &urls).await.unwrap();
    assert_eq!(again.len(), 1000);
    assert_eq!(
        again.iter().filter(|r| r.status() == Status::Done).count(),
        5
    );
    assert_eq!(
        store.poll(&run.run_id, None).await.unwrap().records.len(),
        1000
    );

    // The runs list (TUI and `trawl runs`) counts by status.
    let empty = tempfile::tempdir().unwrap();
    let (listed, errors) = all_runs(LocalStore::new(empty.path()), Some(store.clone())).await;
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].finished, listed[0].failed, listed[0].counted),
        (5, 0, true)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn retention_launch_failures_and_bodies_from_s3() {
    let moto = Moto::start().unwrap();
    moto.create_bucket(BUCKET).await.unwrap();
    moto.create_results_table(TABLE).await.unwrap();
    let aws = aws_for(&moto, None).await;
    let store = aws.store().unwrap();
    let server = HostileServer::start_plain().unwrap();

    // --retain-days: the run item and every record carry the TTL.
    let mut run = new_run(Target::Eks, 3);
    run.expires_at = Some(trawl_scraper::record::expires_after_days(7));
    let urls: Vec<String> = (0..3)
        .map(|i| server.url(&format!("/page?r={i}")))
        .collect();
    let queued = store.create_run(&run, &urls).await.unwrap();
    let ttl = run.expires_at.unwrap();
    for url in &urls {
        let r = moto.record(TABLE, &run.run_id, url).await.unwrap();
        assert_eq!(r.expires_at, Some(ttl));
    }
    let item = moto
        .dynamodb()
        .await
        .get_item()
        .table_name(TABLE)
        .key(
            "run_id",
            aws_sdk_dynamodb::types::AttributeValue::S(run.run_id.clone()),
        )
        .key(
            "url_key",
            aws_sdk_dynamodb::types::AttributeValue::S("#run".into()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        item.item().unwrap()["expires_at"].as_n().unwrap(),
        &ttl.to_string(),
        "the TTL attribute is a Number"
    );

    // A worker finishes the first URL (its record keeps the TTL); then the
    // launch of all three "fails": only the two still QUEUED become FAILED.
    run_worker(&moto, &urls[0], &run.run_id);
    let marked = store
        .mark_failed(
            &queued,
            "launch failed: RESOURCE:ENI (no free network interface)",
        )
        .await
        .unwrap();
    assert_eq!(marked.len(), 2);
    let done = moto.record(TABLE, &run.run_id, &urls[0]).await.unwrap();
    assert_eq!(done.status(), Status::Done);
    assert_eq!(done.expires_at, Some(ttl), "a worker's write keeps the TTL");
    for url in &urls[1..] {
        let r = moto.record(TABLE, &run.run_id, url).await.unwrap();
        assert_eq!(r.status(), Status::Failed);
        assert!(
            r.error
                .as_deref()
                .unwrap()
                .starts_with("launch failed: RESOURCE:ENI")
        );
        assert_eq!(r.expires_at, Some(ttl));
    }

    // The stored body: the start, decompressed, through a ranged GET.
    let head = store.body_head(&done).await.unwrap();
    let object = moto
        .s3()
        .await
        .get_object()
        .bucket(BUCKET)
        .key(done.object_key.clone().unwrap())
        .send()
        .await
        .unwrap();
    let gz = object.body.collect().await.unwrap().into_bytes();
    let mut whole = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut whole)
        .unwrap();
    assert!(!head.is_empty() && whole.starts_with(&head));
    assert_eq!(head.len(), whole.len().min(PREVIEW_BYTES));

    // A big body (that does not compress): the preview is the first 64 KiB.
    let big: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut enc, &big).unwrap();
    let mut big_record = Record::new(&run.run_id, "https://big.example/", 1);
    big_record.target = Some(Target::Eks);
    big_record.object_key = Some(format!("{}/{}/body", run.run_id, big_record.url_key));
    moto.s3()
        .await
        .put_object()
        .bucket(BUCKET)
        .key(big_record.object_key.clone().unwrap())
        .content_encoding("gzip")
        .body(enc.finish().unwrap().into())
        .send()
        .await
        .unwrap();
    let head = store.body_head(&big_record).await.unwrap();
    assert_eq!(head, big[..PREVIEW_BYTES]);

    // The presigned URL fetches the object (plain GET, no credentials).
    let url = store
        .presigned_body_url(&done, Duration::from_secs(900))
        .await
        .unwrap();
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=900"),
        "{url}"
    );
    let fetched = http_get(&url);
    assert!(
        fetched.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&fetched[..fetched.len().min(300)])
    );
    assert!(
        fetched.ends_with(&gz),
        "the presigned URL serves the stored object"
    );
}

/// A plain HTTP GET of a loopback URL; the raw response.
fn http_get(url: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("an http URL");
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    assert!(host.starts_with("127.0.0.1:"), "loopback only: {host}");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn the_pool_view_reads_tagged_eips_free_and_associated() {
    let moto = Moto::start().unwrap();
    let (ips, instances) = moto
        .create_eip_pool("trawl:pool=default", 5, 3)
        .await
        .unwrap();
    // Addresses of another pool and untagged ones are not ours.
    moto.create_eip_pool("trawl:pool=other", 2, 0)
        .await
        .unwrap();
    moto.ec2().await.allocate_address().send().await.unwrap();

    let aws = aws_for(&moto, Some("trawl:pool=default")).await;
    let pool = trawl::aws::pool::read_pool(&aws, 1_000).await.unwrap();
    assert_eq!(pool.tag, "trawl:pool=default");
    assert_eq!(pool.addresses.len(), 5);
    assert_eq!(pool.associated(), 3);
    let mut got: Vec<&str> = pool
        .addresses
        .iter()
        .map(|a| a.public_ip.as_str())
        .collect();
    let mut want: Vec<&str> = ips.iter().map(String::as_str).collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want);
    let mut held: Vec<&str> = pool
        .addresses
        .iter()
        .filter_map(|a| a.instance_id.as_deref())
        .collect();
    held.sort_unstable();
    let mut want: Vec<&str> = instances.iter().map(String::as_str).collect();
    want.sort_unstable();
    assert_eq!(held, want);

    let bad = aws_for(&moto, Some("no-equals-sign")).await;
    let e = trawl::aws::pool::read_pool(&bad, 0).await.unwrap_err();
    assert!(
        e.line.contains("not key=value") && e.line.contains("[pool]"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn missing_table_bucket_and_wrong_region_say_what_to_do() {
    let moto = Moto::start().unwrap();
    moto.create_results_table(TABLE).await.unwrap();
    let config = moto.sdk_config().await;

    let missing = AwsStore::new(&config, "no-such-table");
    let e = missing
        .poll("r-20261124-000000-abcd", None)
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.line
            .contains("DynamoDB table no-such-table not found in region us-east-1")
            && e.line.contains("trawl config"),
        "{e}"
    );

    // The table exists, but in another region than the one configured.
    let elsewhere = config
        .clone()
        .into_builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let e = AwsStore::new(&elsewhere, TABLE).runs().await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(
        e.line.contains("region eu-west-1") && e.line.contains("AWS_REGION"),
        "{e}"
    );

    let no_bucket = AwsStore::new(&config, TABLE).with_bucket(Some("no-such-bucket".into()));
    let mut r = Record::new("r-20261124-000000-abcd", "https://a.example/", 1);
    r.object_key = Some("r-20261124-000000-abcd/x/body".into());
    let e = no_bucket.body_head(&r).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::NotFound);
    assert!(e.line.contains("s3://no-such-bucket/"), "{e}");
}

#[tokio::test(flavor = "multi_thread")]
async fn throttling_lost_answers_access_denied_and_expired_credentials() {
    use trawl_tests::fault_proxy::{Fault, FaultKind, FaultProxy, Rule, When};
    let moto = Moto::start().unwrap();
    moto.create_results_table(TABLE).await.unwrap();
    moto.create_bucket(BUCKET).await.unwrap();
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let mut aws = aws_for(&moto, Some("trawl:pool=default")).await;
    aws.sdk = aws
        .sdk
        .into_builder()
        .endpoint_url(proxy.endpoint())
        .build();
    let store = aws.store().unwrap();

    // Partly throttled transactions (AWS cancels them with a ThrottlingError
    // reason) are retried with backoff; an answer lost after DynamoDB wrote
    // the items is retried too, and the retry finds our own records.
    proxy.add(Rule::new(
        "TransactWriteItems",
        Fault::TransactionThrottled,
        When::FirstN(3),
    ));
    proxy.add(Rule::new(
        "TransactWriteItems",
        Fault::LoseResponse,
        When::EveryNth(2),
    ));
    let run = new_run(Target::Eks, 250);
    let urls: Vec<String> = (0..250)
        .map(|i| format!("https://site{i}.example/"))
        .collect();
    let queued = store.create_run(&run, &urls).await.unwrap();
    assert_eq!(queued.len(), 250);
    assert!(queued.iter().all(|r| r.status() == Status::Queued));
    let stats = proxy.stats().op("TransactWriteItems");
    assert_eq!(stats.injected(FaultKind::TransactionThrottled), 3);
    assert!(stats.injected(FaultKind::LoseResponse) >= 1, "{stats:?}");
    proxy.clear();
    assert_eq!(
        store.poll(&run.run_id, None).await.unwrap().records.len(),
        250,
        "every record once, none lost, none doubled"
    );

    proxy.add(Rule::new("Query", Fault::AccessDenied, When::Always));
    let e = store.poll(&run.run_id, None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert!(
        e.line.contains("dynamodb:Query") && e.line.contains("operator_policy_arn"),
        "{e}"
    );
    proxy.clear();

    proxy.add(Rule::new("GetItem", Fault::ExpiredToken, When::Always));
    let e = store.run(&run.run_id).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Credentials);
    assert!(
        e.line.contains("expired") && e.line.contains("aws sso login"),
        "{e}"
    );
    proxy.clear();

    // Throttling beyond the SDK's own retries: the caller is told to slow down.
    proxy.add(Rule::new("Query", Fault::Throttling, When::Always));
    let e = store.poll(&run.run_id, None).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Throttled, "{e}");
    assert!(proxy.stats().op("Query").injected(FaultKind::Throttling) >= 2);
    proxy.clear();

    proxy.add(Rule::new(
        "DescribeAddresses",
        Fault::AccessDenied,
        When::Always,
    ));
    let e = trawl::aws::pool::read_pool(&aws, 0).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert!(e.line.contains("ec2:DescribeAddresses"), "{e}");

    proxy.add(Rule::new("GetObject", Fault::AccessDenied, When::Always));
    let mut r = queued[0].clone();
    r.object_key = Some(format!("{}/{}/body", r.run_id, r.url_key));
    let e = store.body_head(&r).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::AccessDenied);
    assert!(e.line.contains("s3:GetObject"), "{e}");
    proxy.clear();

    // Once AWS answers again, so does the store.
    assert_eq!(
        store.poll(&run.run_id, None).await.unwrap().records.len(),
        250
    );
}

/// What a follower delivered, by url key, in order.
type Delivered = std::collections::HashMap<String, Vec<Record>>;

/// Collects the records a follower sends until `until` holds or `within`
/// has passed.
async fn receive(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<trawl::model::Action>,
    delivered: &mut Delivered,
    within: Duration,
    until: impl Fn(&Delivered) -> bool,
) {
    let end = tokio::time::Instant::now() + within;
    while !until(delivered) {
        match tokio::time::timeout_at(end, rx.recv()).await {
            Ok(Some(trawl::model::Action::Records { records, .. })) => {
                for r in records {
                    delivered.entry(r.url_key.clone()).or_default().push(r);
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
}

/// Writes `record` as a worker would (the worker's conditional write), with
/// whatever `updated_at` it carries.
async fn put_as_worker(moto: &Moto, record: &Record) {
    let sink = trawl_scraper::sink::aws::AwsSink::from_config(
        &moto.sdk_config().await,
        BUCKET.to_owned(),
        TABLE.to_owned(),
    );
    assert_eq!(
        sink.put_record(record).await.unwrap(),
        trawl_scraper::sink::Written::Stored
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_follower_delivers_every_final_record_once_even_when_writes_land_late() {
    let moto = Moto::start().unwrap();
    moto.create_bucket(BUCKET).await.unwrap();
    moto.create_results_table(TABLE).await.unwrap();
    let store = AwsStore::new(&moto.sdk_config().await, TABLE);
    let run = new_run(Target::Ecs, 30);
    let urls: Vec<String> = (0..30)
        .map(|i| format!("https://late{i}.example/"))
        .collect();
    let queued = store.create_run(&run, &urls).await.unwrap();

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let every = Duration::from_millis(200);
    let follower = tokio::spawn(trawl::targets::follow::follow_aws_run(
        store.clone(),
        run.run_id.clone(),
        every,
        tx,
    ));
    // The follower has read the run (30 QUEUED) before any write.
    let mut delivered = Delivered::default();
    receive(&mut rx, &mut delivered, Duration::from_secs(30), |d| {
        d.len() == 30
    })
    .await;
    assert_eq!(delivered.len(), 30, "the first read brings every record");

    // Ten workers write on time; twenty writes become visible long after
    // they were stamped (a throttled write, a clock 30 s behind): stamped
    // before the follower's cursor, so no index poll can return them.
    let late = trawl_scraper::record::timestamp(
        time::OffsetDateTime::now_utc() - time::Duration::seconds(30),
    );
    // Let the follower's cursor move past the late stamp and its window.
    tokio::time::sleep(Duration::from_millis(POLL_SKEW_SECS as u64 * 1000 + 500)).await;
    for (i, q) in queued.iter().enumerate() {
        let mut r = Record::new(&q.run_id, &q.url, 1);
        r.status = Some(if i % 3 == 0 {
            Status::Failed
        } else {
            Status::Done
        });
        r.http_status = Some(200);
        let at = if i < 10 { now() } else { late.clone() };
        r.finished_at = Some(at.clone());
        r.updated_at = Some(at);
        put_as_worker(&moto, &r).await;
    }
    let all_final = |d: &Delivered| {
        d.values()
            .filter(|v| v.iter().any(|r| r.status().is_final()))
            .count()
            == 30
    };
    let started = std::time::Instant::now();
    receive(&mut rx, &mut delivered, Duration::from_secs(60), all_final).await;
    assert!(all_final(&delivered), "late writes never delivered");
    eprintln!("late writes delivered within {:?}", started.elapsed());
    // More polls and sweeps: nothing is delivered twice.
    receive(&mut rx, &mut delivered, every * 30, |_| false).await;
    follower.abort();

    for q in &queued {
        let finals: Vec<&Record> = delivered[&q.url_key]
            .iter()
            .filter(|r| r.status().is_final())
            .collect();
        assert_eq!(finals.len(), 1, "{}: {:?}", q.url, delivered[&q.url_key]);
    }
}

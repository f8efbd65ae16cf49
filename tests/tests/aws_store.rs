//! The AWS results store against moto: QUEUED records by conditional
//! transactions, incremental polling that reads only what changed, the runs
//! index, and resubmission that resets nothing.

use std::time::Duration;
use trawl::store::aws::{AwsStore, POLL_SKEW_SECS};
use trawl_scraper::record::{RunItem, Status, Target, new_run_id, now};
use trawl_tests::hostile::HostileServer;
use trawl_tests::moto::Moto;
use trawl_tests::worker::WorkerRun;

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_queued_records_then_polls_read_only_what_changed() {
    let moto = Moto::start().unwrap();
    moto.create_bucket("trawl-content").await.unwrap();
    moto.create_results_table("trawl-results").await.unwrap();
    let store = AwsStore::new(&moto.sdk_config().await, "trawl-results");
    let server = HostileServer::start_plain().unwrap();

    let run = RunItem::new(
        &new_run_id(time::OffsetDateTime::now_utc()),
        Target::Ecs,
        1000,
        now(),
    );
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
        let result = tokio::task::block_in_place(|| {
            WorkerRun::aws(url, &run.run_id, &moto, "trawl-content", "trawl-results").run()
        });
        assert!(result.success(), "{}", result.stderr);
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
}

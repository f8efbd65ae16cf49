//! Polling figures for a run of 10,000 records against moto (prints them;
//! the only pass/fail is that a poll returns exactly the records that
//! changed):
//! - creating QUEUED records with `create_run` (1,000 of them: see
//!   [`CREATED`]);
//! - a full read of the run;
//! - a poll of an unchanged run past the skew window (goal: 0 items read);
//! - "quiet then 100 changes": items read and latency of the poll after 100
//!   worker writes (goal: about 100, not 10,000);
//! - "steady": 100 changes every poll interval, items read per poll (the
//!   skew window makes each poll read recent rounds again) and latency;
//! - the follower's sweep of unfinished records by key (100, and all that
//!   are left): items read and latency.
//!
//! Run: `scripts/bench` (needs moto from scripts/test). The URLs are never
//! fetched: the changes are written with the worker's own conditional write.
//! The 10,000 QUEUED records are the items `create_run` writes, put with
//! BatchWriteItem (see [`CREATED`] for why).

use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
use futures::StreamExt;
use std::collections::BTreeSet;
use std::time::{Duration, Instant};
use trawl::aws::DEFAULT_POLL_INTERVAL;
use trawl::store::aws::{AwsStore, POLL_SKEW_SECS, Poll};
use trawl::store::queued_record;
use trawl_scraper::record::{Record, RunItem, Status, Target, new_run_id, now};
use trawl_scraper::sink::Written;
use trawl_scraper::sink::aws::AwsSink;
use trawl_scraper::sink::item::to_item;
use trawl_tests::figures::spread;
use trawl_tests::moto::Moto;

const TABLE: &str = "trawl-results";
const RECORDS: usize = 10_000;
/// Records `create_run` writes for its figure, into a table of their own.
/// moto (5.2) deep-copies the whole table once per item of every
/// TransactWriteItems call, so a transaction costs time in proportion to
/// the table's size and `create_run` is quadratic there: 10,000 records
/// had not finished after 20 minutes. DynamoDB has no such cost; the
/// figure is moto's.
const CREATED: usize = 1_000;
/// BatchWriteItem's limit of items per call.
const BATCH: usize = 25;
const CHANGES: usize = 100;
const QUIET_ROUNDS: usize = 5;
const STEADY_ROUNDS: usize = 8;
/// Workers finish independently, so their writes arrive concurrently; a
/// bounded number in flight keeps moto (one process) from queueing them all.
const WRITERS: usize = 16;

/// Longer than the skew window, so a poll's cursor ends up past every
/// earlier write.
fn past_window() -> Duration {
    Duration::from_millis(POLL_SKEW_SECS as u64 * 1000 + 1000)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Hands out URLs that no earlier round changed, so every round's changes
/// are new DONE records rather than superseded writes.
struct Fresh<'a> {
    urls: &'a [String],
    next: usize,
}

impl<'a> Fresh<'a> {
    fn take(&mut self, n: usize) -> &'a [String] {
        let urls = &self.urls[self.next..self.next + n];
        self.next += n;
        urls
    }
}

/// Writes each URL's record as a worker that fetched it would: DONE,
/// through the worker's conditional UpdateItem. Returns how long it took.
async fn finish(sink: &AwsSink, run: &RunItem, urls: &[String]) -> Duration {
    let started = Instant::now();
    let writes = futures::stream::iter(urls)
        .map(|url| async move {
            let mut r = Record::new(&run.run_id, url, 1);
            r.status = Some(Status::Done);
            r.target = Some(run.target);
            r.http_status = Some(200);
            r.egress_ip = Some("203.0.113.7".into());
            let at = now();
            r.started_at = Some(at.clone());
            r.finished_at = Some(at.clone());
            r.updated_at = Some(at);
            sink.put_record(&r).await
        })
        .buffer_unordered(WRITERS)
        .collect::<Vec<_>>()
        .await;
    for w in writes {
        // A superseded write would mean the record was not QUEUED: the
        // bench would then measure something other than 100 changes.
        assert_eq!(w.expect("record write"), Written::Stored);
    }
    started.elapsed()
}

async fn timed_poll(store: &AwsStore, run_id: &str, since: Option<&str>) -> (Poll, Duration) {
    let started = Instant::now();
    let poll = store.poll(run_id, since).await.expect("poll");
    (poll, started.elapsed())
}

/// `create_run` of [`CREATED`] URLs into an empty table; how long it took.
async fn create_run(moto: &Moto, config: &aws_config::SdkConfig) -> Duration {
    let table = "trawl-results-create";
    moto.create_results_table(table).await.unwrap();
    let store = AwsStore::new(config, table);
    let run = RunItem::new(
        &new_run_id(time::OffsetDateTime::now_utc()),
        Target::Eks,
        CREATED,
        now(),
    );
    let urls: Vec<String> = (0..CREATED)
        .map(|i| format!("https://created{i}.example/"))
        .collect();
    println!("create_run: {CREATED} QUEUED records...");
    let started = Instant::now();
    let queued = store.create_run(&run, &urls).await.expect("create_run");
    let took = started.elapsed();
    assert_eq!(queued.len(), CREATED);
    println!(
        "create run: {CREATED} QUEUED records in {:.1} s ({:.0} records/s)",
        took.as_secs_f64(),
        CREATED as f64 / took.as_secs_f64()
    );
    took
}

/// Puts the run item and a QUEUED record per URL into [`TABLE`]: the items
/// `create_run` writes (same constructor, same conversion), without moto's
/// per-transaction table copy.
async fn seed(moto: &Moto, run: &RunItem, urls: &[String]) {
    println!("seeding {} QUEUED records (BatchWriteItem)...", urls.len());
    let dynamo = moto.dynamodb().await;
    let submitted = now();
    let put = |item| {
        WriteRequest::builder()
            .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
            .build()
    };
    let mut requests: Vec<WriteRequest> = std::iter::once(put(to_item(run)))
        .chain(
            urls.iter()
                .map(|url| put(to_item(&queued_record(run, url, &submitted)))),
        )
        .collect();
    let started = Instant::now();
    let mut written = 0;
    while !requests.is_empty() {
        let batch: Vec<WriteRequest> = requests.drain(..requests.len().min(BATCH)).collect();
        let sent = batch.len();
        let out = dynamo
            .batch_write_item()
            .request_items(TABLE, batch)
            .send()
            .await
            .expect("batch write");
        // What moto did not process is sent again, so every item lands.
        let unprocessed = out
            .unprocessed_items()
            .and_then(|u| u.get(TABLE))
            .cloned()
            .unwrap_or_default();
        written += sent - unprocessed.len();
        requests.extend(unprocessed);
        if written % 2_000 < BATCH {
            println!("  {written} items written");
        }
    }
    println!(
        "seeded {} items in {:.1} s",
        urls.len() + 1,
        started.elapsed().as_secs_f64()
    );
}

async fn bench(moto: &Moto) {
    moto.create_results_table(TABLE).await.unwrap();
    let config = moto.sdk_config().await;
    let store = AwsStore::new(&config, TABLE);
    let sink = AwsSink::from_config(&config, "trawl-content".into(), TABLE.into());

    let run = RunItem::new(
        &new_run_id(time::OffsetDateTime::now_utc()),
        Target::Eks,
        RECORDS,
        now(),
    );
    let urls: Vec<String> = (0..RECORDS)
        .map(|i| format!("https://site{i}.example/"))
        .collect();
    let mut fresh = Fresh {
        urls: &urls,
        next: 0,
    };

    let create = create_run(moto, &config).await;
    seed(moto, &run, &urls).await;

    let (full, full_latency) = timed_poll(&store, &run.run_id, None).await;
    println!(
        "full read: {} items read, {} records, {:.0} ms",
        full.items_read,
        full.records.len(),
        ms(full_latency)
    );

    // A cursor is past the window only once the poll that made it started
    // more than POLL_SKEW_SECS after the last write: wait, poll to move the
    // cursor, then the next poll sees nothing new.
    println!(
        "unchanged run: waiting {:.0} s for the skew window to pass...",
        past_window().as_secs_f64()
    );
    tokio::time::sleep(past_window()).await;
    let (settled, _) = timed_poll(&store, &run.run_id, Some(&full.cursor)).await;
    let (unchanged, unchanged_latency) =
        timed_poll(&store, &run.run_id, Some(&settled.cursor)).await;
    println!(
        "unchanged run, past the window: {} items read, {} records, {:.1} ms",
        unchanged.items_read,
        unchanged.records.len(),
        ms(unchanged_latency)
    );

    println!("(a) quiet then {CHANGES} changes, {QUIET_ROUNDS} rounds:");
    let mut cursor = unchanged.cursor;
    let (mut quiet_read, mut quiet_ms) = (Vec::new(), Vec::new());
    let (mut changed_read, mut changed_ms) = (Vec::new(), Vec::new());
    for round in 1..=QUIET_ROUNDS {
        tokio::time::sleep(past_window()).await;
        let (settled, _) = timed_poll(&store, &run.run_id, Some(&cursor)).await;
        let (quiet, quiet_latency) = timed_poll(&store, &run.run_id, Some(&settled.cursor)).await;
        let changed_urls = fresh.take(CHANGES);
        let write = finish(&sink, &run, changed_urls).await;
        let (changed, changed_latency) = timed_poll(&store, &run.run_id, Some(&quiet.cursor)).await;

        let got: BTreeSet<&str> = changed.records.iter().map(|r| r.url.as_str()).collect();
        let want: BTreeSet<&str> = changed_urls.iter().map(String::as_str).collect();
        assert_eq!(
            changed.records.len(),
            CHANGES,
            "the poll after {CHANGES} changes returns each of them once"
        );
        assert_eq!(got, want, "the poll returns exactly the changed records");

        println!(
            "  round {round}: quiet poll {} items read, {:.1} ms; {CHANGES} writes in {:.0} ms; \
             changed poll {} items read, {} records, {:.1} ms",
            quiet.items_read,
            ms(quiet_latency),
            ms(write),
            changed.items_read,
            changed.records.len(),
            ms(changed_latency)
        );
        quiet_read.push(quiet.items_read as f64);
        quiet_ms.push(ms(quiet_latency));
        changed_read.push(changed.items_read as f64);
        changed_ms.push(ms(changed_latency));
        cursor = changed.cursor;
    }

    let interval = DEFAULT_POLL_INTERVAL;
    println!(
        "(b) steady: {CHANGES} changes every {:.0} s then a poll, {STEADY_ROUNDS} rounds:",
        interval.as_secs_f64()
    );
    // Start from a settled cursor so round 1 reads only its own changes and
    // the build-up of the window over rounds 1-2 is visible.
    tokio::time::sleep(past_window()).await;
    let (settled, _) = timed_poll(&store, &run.run_id, Some(&cursor)).await;
    let mut cursor = settled.cursor;
    // A poll reads what changed since the previous poll's start minus the
    // skew: the last interval + skew seconds, which hold this many rounds.
    let window_rounds =
        ((interval.as_secs_f64() + POLL_SKEW_SECS as f64) / interval.as_secs_f64()).ceil() as usize;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut steady_read, mut steady_ms) = (Vec::new(), Vec::new());
    let (mut writes_ms, mut poll_starts) = (Vec::new(), Vec::new());
    for round in 1..=STEADY_ROUNDS {
        ticks.tick().await;
        let write = finish(&sink, &run, fresh.take(CHANGES)).await;
        writes_ms.push(ms(write));
        poll_starts.push(Instant::now());
        let (poll, latency) = timed_poll(&store, &run.run_id, Some(&cursor)).await;
        println!(
            "  round {round}: {CHANGES} writes in {:.0} ms; poll {} items read, {} records, {:.1} ms",
            ms(write),
            poll.items_read,
            poll.records.len(),
            ms(latency)
        );
        // The first rounds fill the window; only later ones are steady.
        if round >= window_rounds {
            steady_read.push(poll.items_read as f64);
            steady_ms.push(ms(latency));
        }
        cursor = poll.cursor;
    }

    // (c) The follower's sweep: the records not final yet, read by key
    // (what finds a write that landed behind the cursor).
    let unfinished: Vec<String> = urls[fresh.next..]
        .iter()
        .map(|u| trawl_scraper::record::url_key(u))
        .collect();
    let mut sweeps = Vec::new();
    for n in [100, unfinished.len()] {
        let started = Instant::now();
        let sweep = store
            .records_by_key(&run.run_id, &unfinished[..n])
            .await
            .expect("sweep");
        let took = started.elapsed();
        assert_eq!(sweep.records.len(), n, "a sweep reads every key once");
        sweeps.push((n, sweep.items_read, took));
    }

    // Writes and poll together can outlast the interval, and then the
    // rounds slip: the period is what the window is measured against.
    let period = (poll_starts[STEADY_ROUNDS - 1] - poll_starts[0]).as_secs_f64()
        / (STEADY_ROUNDS - 1) as f64;
    let secs = interval.as_secs_f64();
    let skew = POLL_SKEW_SECS as f64;
    println!();
    println!("summary ({RECORDS} records, moto on loopback):");
    println!(
        "  create run: {CREATED} QUEUED records into an empty table in {:.1} s ({:.0} records/s; \
         moto's transactions slow as the table grows)",
        create.as_secs_f64(),
        CREATED as f64 / create.as_secs_f64()
    );
    println!(
        "  full read: {} items read, {:.0} ms",
        full.items_read,
        ms(full_latency)
    );
    println!(
        "  unchanged run past the window: {} items read, {:.1} ms",
        unchanged.items_read,
        ms(unchanged_latency)
    );
    println!(
        "  (a) quiet poll: items read {}; latency {}",
        spread(&quiet_read, "", 0),
        spread(&quiet_ms, " ms", 1)
    );
    println!(
        "  (a) poll after {CHANGES} changes: items read {} (goal ~{CHANGES}, not {RECORDS}); latency {}",
        spread(&changed_read, "", 0),
        spread(&changed_ms, " ms", 1)
    );
    println!(
        "  (b) steady, {CHANGES} changes per {secs:.0} s, rounds {}-{STEADY_ROUNDS}: items read {}; latency {}",
        STEADY_ROUNDS - steady_read.len() + 1,
        spread(&steady_read, "", 0),
        spread(&steady_ms, " ms", 1)
    );
    println!(
        "      polls {period:.2} s apart, each round's {CHANGES} writes spread over {}",
        spread(&writes_ms, " ms", 0)
    );
    println!(
        "      expected items read: from {:.0} (changes arriving evenly: {CHANGES} x (1 + {skew:.0}/{secs:.0})) \
         to {} (each round's writes in one burst just before its poll: {window_rounds} rounds fall in the \
         {:.0} s a poll looks back)",
        CHANGES as f64 * (1.0 + skew / secs),
        CHANGES * window_rounds,
        secs + skew
    );
    for (n, read, took) in &sweeps {
        println!(
            "  (c) sweep of {n} unfinished records by key: {read} items read, {:.0} ms",
            ms(*took)
        );
    }
    println!(
        "      sweeps come every {}..{} polls ({}..{} s at {secs:.0} s): at most {} reads an hour per \
         unfinished URL while the polls miss nothing; none once every URL is final",
        trawl::targets::follow::SweepPace::FIRST,
        trawl::targets::follow::SweepPace::MOST,
        trawl::targets::follow::SweepPace::FIRST as f64 * secs,
        trawl::targets::follow::SweepPace::MOST as f64 * secs,
        3600.0 / (trawl::targets::follow::SweepPace::MOST as f64 * secs)
    );
    // moto answers a query by sorting and walking the whole partition, so
    // its latency follows the run's size rather than the items read;
    // DynamoDB reads only the index range past the cursor.
    println!(
        "  note: moto's query latency grows with the run ({RECORDS} records) even when 0 items are read; \
         DynamoDB's follows the items read"
    );
}

fn main() {
    match Moto::start() {
        Ok(moto) => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(bench(&moto));
        }
        Err(e) => println!("poll figures: not measured ({e})"),
    }
}

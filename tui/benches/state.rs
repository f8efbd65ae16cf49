//! State figures: applying 10,000 record updates (one batch, as a poll
//! delivers them, and one action each, as local workers finish), and the
//! resident memory of a state with 10,000 results and 500 nodes.

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use trawl::model::{Action, Fleet, NodeView, PhaseCounts, RunInfo, State, update};
use trawl_scraper::record::{Finding, Record, Severity, Status, Target, Verdict};

const RUN: &str = "r-20261124-050000-abcd";

fn record(i: usize, status: Status) -> Record {
    let mut r = Record::new(RUN, &format!("https://site-{i}.example.com/path/{i}"), 1);
    r.status = Some(status);
    r.egress_ip = Some(format!("198.51.100.{}", i % 250));
    r.node = Some(format!("ip-10-0-{}-{}.ec2.internal", i % 20, i % 250));
    r.http_status = Some(200);
    r.bytes = Some(10_000 + i as u64);
    r.verdict = Some(Verdict::Clean);
    r.score = Some(0);
    r.started_at = Some("2026-11-24T05:00:00.000Z".into());
    r.finished_at = Some("2026-11-24T05:00:01.250Z".into());
    r.updated_at = r.finished_at.clone();
    r.findings = vec![Finding::new(
        "script.external-domain",
        Severity::Info,
        "cdn.example.net",
    )];
    r
}

fn started_state() -> State {
    let mut s = State::default();
    update(
        &mut s,
        Action::RunStarted(RunInfo::new(
            RUN,
            Target::Eks,
            10_000,
            "2026-11-24T05:00:00.000Z".into(),
        )),
    );
    update(
        &mut s,
        Action::Records {
            run_id: RUN.into(),
            records: (0..10_000).map(|i| record(i, Status::Queued)).collect(),
        },
    );
    s
}

fn bench(c: &mut Criterion) {
    let done: Vec<Record> = (0..10_000).map(|i| record(i, Status::Done)).collect();
    c.bench_function("apply 10k updates, one batch", |b| {
        b.iter_batched(
            started_state,
            |mut s| {
                update(
                    &mut s,
                    Action::Records {
                        run_id: RUN.into(),
                        records: done.clone(),
                    },
                );
                s
            },
            BatchSize::LargeInput,
        )
    });
    let mut g = c.benchmark_group("slow");
    g.sample_size(10);
    g.bench_function("apply 10k updates, one action each", |b| {
        b.iter_batched(
            started_state,
            |mut s| {
                for r in &done {
                    update(
                        &mut s,
                        Action::Records {
                            run_id: RUN.into(),
                            records: vec![r.clone()],
                        },
                    );
                }
                s
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn memory() {
    let before = rss_kib();
    let mut s = started_state();
    update(
        &mut s,
        Action::Records {
            run_id: RUN.into(),
            records: (0..10_000).map(|i| record(i, Status::Done)).collect(),
        },
    );
    let nodes = (0..500)
        .map(|i| NodeView {
            name: format!("ip-10-0-{}-{}.ec2.internal", i / 250, i % 250),
            instance_type: Some("c6i.large".into()),
            capacity_type: Some("spot".into()),
            public_ip: Some(format!("198.51.100.{}", i % 250)),
            pool_eip: true,
            pods: PhaseCounts {
                pending: 2,
                running: 10,
                succeeded: 6,
                failed: 2,
            },
            ..NodeView::default()
        })
        .collect();
    update(
        &mut s,
        Action::FleetChanged(Fleet {
            synced: true,
            nodes,
            task_groups: vec![],
            pool_total: Some(500),
            pool_known: true,
            launch: None,
        }),
    );
    let after = rss_kib();
    println!(
        "resident memory of a state with 10,000 results, 500 nodes, 10,000 pods: {:.1} MiB (process total {:.1} MiB)",
        after.saturating_sub(before) as f64 / 1024.0,
        after as f64 / 1024.0
    );
    std::hint::black_box(&s);
}

fn all(c: &mut Criterion) {
    memory();
    bench(c);
}

criterion_group!(benches, all);
criterion_main!(benches);

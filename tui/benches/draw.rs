//! The whole screen drawn into a TestBackend: 200x50 with 500 nodes,
//! 10,000 pods and 10,000 results (goal: median under 2 ms), and the same
//! at 80x24 and with 100,000 lines in the editor.

use criterion::{Criterion, criterion_group, criterion_main};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use std::hint::black_box;
use trawl::model::{Fleet, NodeState, NodeView, Pane, PhaseCounts, RunInfo, State};
use trawl::ui::draw;
use trawl_scraper::record::{Finding, Record, Severity, Status, Target, Verdict};

const NOW: i64 = 1_795_000_000;
const RUN: &str = "r-20261118-105000-k3x9";

fn ts(secs: i64) -> String {
    trawl_scraper::record::timestamp(time::OffsetDateTime::from_unix_timestamp(secs).unwrap())
}

fn record(i: usize, nodes: usize) -> Record {
    let mut r = Record::new(RUN, &format!("https://site{i}.example.com/path/{i}"), 1);
    let status = match i % 10 {
        0 => Status::Queued,
        1 => Status::Running,
        2 => Status::Failed,
        _ => Status::Done,
    };
    r.status = Some(status);
    if status == Status::Queued {
        return r;
    }
    let n = i % nodes;
    r.node = Some(format!("ip-10-0-{}-{}.ec2.internal", n / 200, n % 200));
    r.egress_ip = Some(format!("203.0.{}.{}", n / 250, n % 250));
    r.started_at = Some(ts(NOW - 600 + (i % 500) as i64));
    if status == Status::Failed {
        r.finished_at = Some(ts(NOW - 500 + (i % 500) as i64));
        r.error = Some("timeout: no response within 30s".into());
    } else if status == Status::Done {
        r.finished_at = Some(ts(NOW - 590 + (i % 500) as i64));
        r.http_status = Some(200);
        r.bytes = Some(i as u64 * 131);
        r.verdict = Some(if i.is_multiple_of(97) {
            Verdict::Malicious
        } else {
            Verdict::Clean
        });
        r.score = Some((i % 100) as u8);
        if i.is_multiple_of(97) {
            r.set_findings(vec![Finding::new("yara.Miner", Severity::High, "miner")]);
        }
    }
    r
}

fn state(nodes: usize, results: usize) -> State {
    let mut s = State {
        now: NOW,
        target: Target::Eks,
        focus: Pane::Results,
        run: Some(RunInfo::new(RUN, Target::Eks, results, ts(NOW - 900))),
        ..State::default()
    };
    // 10,000 pods spread over the nodes' phase counts.
    let per_node = 10_000 / nodes.max(1);
    s.fleet = Fleet {
        synced: true,
        nodes: (0..nodes)
            .map(|i| NodeView {
                name: format!("ip-10-0-{}-{}.ec2.internal", i / 200, i % 200),
                instance_type: Some("c6i.large".into()),
                capacity_type: Some("spot".into()),
                age_secs: Some(i as u64 * 13),
                state: if i % 50 == 7 {
                    NodeState::NotReady
                } else {
                    NodeState::Ready
                },
                public_ip: Some(format!("203.0.{}.{}", i / 250, i % 250)),
                pool_eip: i % 10 != 3,
                ip_mismatch: None,
                pods: PhaseCounts {
                    pending: per_node / 10,
                    running: per_node / 5,
                    succeeded: per_node - per_node / 10 - per_node / 5 - 1,
                    failed: 1,
                },
                problems: if i % 50 == 7 {
                    vec!["kubelet stopped posting status".into()]
                } else {
                    Vec::new()
                },
            })
            .collect(),
        task_groups: Vec::new(),
        pool_total: Some(nodes),
        pool_known: true,
        launch: None,
    };
    s.results.apply((0..results).map(|i| record(i, nodes)));
    s.results.select(results / 2);
    for i in 0..60 {
        s.completions.add(NOW - 59 + i, (i as u64 * 7) % 23);
    }
    s
}

fn bench(c: &mut Criterion) {
    let big = state(500, 10_000);
    let mut terminal = Terminal::new(TestBackend::new(200, 50)).unwrap();
    c.bench_function("draw 200x50, 500 nodes, 10k pods, 10k results", |b| {
        b.iter(|| {
            terminal.draw(|f| draw(f, black_box(&big))).unwrap();
        })
    });

    c.bench_function(
        "ip summary and fleet facts alone (10k records, 500 nodes)",
        |b| {
            b.iter(|| {
                let ips = trawl::ui::ip_summary::IpStats::compute(black_box(&big));
                let facts = trawl::ui::fleet::Facts::of(black_box(&big.fleet));
                (ips.unique(), facts.rows)
            })
        },
    );

    let mut small = Terminal::new(TestBackend::new(80, 24)).unwrap();
    c.bench_function("draw 80x24, same state", |b| {
        b.iter(|| {
            small.draw(|f| draw(f, black_box(&big))).unwrap();
        })
    });

    let mut editing = state(500, 10_000);
    editing.focus = Pane::Editor;
    let text: Vec<String> = (0..100_000)
        .map(|i| {
            if i % 1000 == 999 {
                format!("not a url {i}")
            } else {
                format!("https://site{i}.example.com/")
            }
        })
        .collect();
    editing.editor.set_text(&text.join("\n"));
    c.bench_function("draw 200x50, editor with 100k lines", |b| {
        b.iter(|| {
            terminal.draw(|f| draw(f, black_box(&editing))).unwrap();
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);

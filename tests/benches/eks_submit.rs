//! EKS submit figures (prints them; the only pass/fail is that every round
//! creates its run's objects): submitting 10,000 URLs with
//! `trawl::targets::eks::launch` against the cluster simulator (API server
//! alone: nothing runs the Jobs, nothing fetches the URLs). Per round, with
//! a fresh run id: Kubernetes write requests made (goal: at most 6; 2
//! chunks are 2 ConfigMaps + 2 Jobs = 4) and wall time (goal: under 2 s).
//!
//! Run: `scripts/bench` (or `cargo bench -p trawl-tests --bench eks_submit`).

use std::collections::HashSet;
use std::time::Instant;
use trawl::targets::eks::{EksSettings, Launched, launch};
use trawl_scraper::record::new_run_id;
use trawl_tests::figures::spread;
use trawl_tests::sim::{Sim, SimOptions};

const URLS: usize = 10_000;
const ROUNDS: usize = 5;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let sim = Sim::start(SimOptions {
        controllers: false,
        max_nodes: 0,
        // No pod ever runs (no controllers); the binary is never started.
        worker_bin: Some("/bin/false".into()),
        ..SimOptions::default()
    })
    .unwrap();
    let client = trawl_tests::trawl::kube_client(sim.kubeconfig()).await;
    // Loopback URLs: nothing fetches them.
    let urls: Vec<String> = (0..URLS)
        .map(|i| format!("http://127.0.0.1:9/p{i}"))
        .collect();
    let s = EksSettings {
        parallelism: 50,
        ..trawl_tests::trawl::eks_settings()
    };

    let mut seen = HashSet::new();
    let (mut writes, mut totals, mut secs) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        let run_id = loop {
            let id = new_run_id(time::OffsetDateTime::now_utc());
            if seen.insert(id.clone()) {
                break id;
            }
        };
        sim.reset_request_counts();
        let started = Instant::now();
        let launched = launch(&client, &run_id, &urls, &s).await.unwrap();
        let elapsed = started.elapsed();
        let counts = sim.requests();
        assert_eq!(
            launched,
            Launched {
                jobs: 2,
                created: 4
            },
            "round {round}"
        );
        let of_run = |plural| {
            sim.list(plural)
                .iter()
                .filter(|o| o["metadata"]["labels"]["trawl.io/run-id"] == run_id.as_str())
                .count()
        };
        assert_eq!((of_run("configmaps"), of_run("jobs")), (2, 2));
        println!(
            "  round {}: {} writes (POST {}, PUT {}, PATCH {}, DELETE {}), {} requests in all, {:.1} ms",
            round + 1,
            counts.writes(),
            counts.post,
            counts.put,
            counts.patch,
            counts.delete,
            counts.total(),
            elapsed.as_secs_f64() * 1000.0
        );
        writes.push(counts.writes() as f64);
        totals.push(counts.total() as f64);
        secs.push(elapsed.as_secs_f64() * 1000.0);
    }
    let url_bytes: usize = urls.iter().map(|u| u.len() + 1).sum();
    println!(
        "EKS submit ({URLS} URLs, {} KiB of URL text, {ROUNDS} rounds with fresh run ids, simulator API server alone):",
        url_bytes / 1024
    );
    println!(
        "  Kubernetes write requests: {} (goal: at most 6)",
        spread(&writes, "", 0)
    );
    println!("  API requests in all: {}", spread(&totals, "", 0));
    println!(
        "  wall time of launch(): {} (goal: under 2 s)",
        spread(&secs, " ms", 1)
    );
}

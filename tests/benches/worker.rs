//! Worker figures (prints them; no pass/fail):
//! - overhead from process start to a durable record, page fetch excluded
//!   (wall time minus the worker's own `fetch_ms`), dir: sink and moto;
//! - peak memory for a 10 MiB page;
//! - size of the stripped static release binary.
//!
//! Run: `scripts/bench`. It measures the shipped static binary
//! (TRAWL_BIN_TRAWL_SCRAPER, TRAWL_STATIC_BIN), else the release one next to
//! this bench.

use std::path::PathBuf;
use std::time::Duration;
use trawl_tests::hostile::{HostileServer, Options};
use trawl_tests::moto::Moto;
use trawl_tests::worker::{WorkerResult, WorkerRun, test_run_id};

const RUNS: usize = 40;

fn fetch_ms(r: &WorkerResult) -> f64 {
    r.log_lines()
        .iter()
        .rev()
        .find_map(|l| l.get("fetch_ms").and_then(|v| v.as_f64()))
        .expect("fetch_ms in the last log line")
}

fn overhead_ms(mut make: impl FnMut() -> WorkerRun) -> Vec<f64> {
    let mut samples: Vec<f64> = (0..RUNS)
        .map(|_| {
            let r = make().run();
            assert!(r.success(), "{}", r.stderr);
            r.elapsed.as_secs_f64() * 1000.0 - fetch_ms(&r)
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples
}

fn report(name: &str, samples: &[f64]) {
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "{name}: median {:.1} ms, p10 {:.1} ms, p90 {:.1} ms ({} runs)",
        pct(0.5),
        pct(0.1),
        pct(0.9),
        samples.len()
    );
}

fn main() {
    let pages = tempfile::tempdir().unwrap();
    // A 10 MiB page of realistic markup and script.
    let unit = "<div class=\"card\"><a href=\"/item?id=42\">item</a><script>window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments)}</script></div>\n";
    let big: String = unit.repeat(10 * 1024 * 1024 / unit.len() + 1);
    std::fs::write(
        pages.path().join("big.html"),
        &big.as_bytes()[..10 * 1024 * 1024],
    )
    .unwrap();
    let server = HostileServer::start(Options {
        fixtures_dir: pages.path().to_path_buf(),
        lifetime: Duration::from_secs(600),
        ..Options::default()
    })
    .unwrap();
    let out = tempfile::tempdir().unwrap();
    let page = server.url("/page");

    let dir = overhead_ms(|| WorkerRun::local(&page, &test_run_id(), out.path()));
    report("worker overhead, dir: sink", &dir);

    match Moto::start() {
        Ok(moto) => {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                moto.create_bucket("bench").await.unwrap();
                moto.create_results_table("bench").await.unwrap();
            });
            let aws =
                overhead_ms(|| WorkerRun::aws(&page, &test_run_id(), &moto, "bench", "bench"));
            report("worker overhead, aws sink against moto", &aws);
        }
        Err(e) => println!("worker overhead against moto: not measured ({e})"),
    }

    let big_url = server.url("/fixture/big.html");
    let peaks: Vec<u64> = (0..5)
        .map(|_| {
            let r = WorkerRun::local(&big_url, &test_run_id(), out.path()).run();
            assert!(r.success(), "{}", r.stderr);
            r.peak_rss_kib.expect("peak_rss_kib")
        })
        .collect();
    println!(
        "peak memory, 10 MiB page: {:.1} MiB (max of {} runs)",
        *peaks.iter().max().unwrap() as f64 / 1024.0,
        peaks.len()
    );

    let static_bin = std::env::var("TRAWL_STATIC_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let exe = std::env::current_exe().unwrap();
            let target = exe.ancestors().nth(3).unwrap().to_path_buf();
            target.join("x86_64-unknown-linux-gnu/image/trawl-scraper")
        });
    match std::fs::metadata(&static_bin) {
        Ok(m) => println!(
            "static worker binary (image profile, stripped): {:.1} MiB ({})",
            m.len() as f64 / (1024.0 * 1024.0),
            static_bin.display()
        ),
        Err(_) => println!(
            "static worker binary: not built (scraper/build-image.sh builds it at {})",
            static_bin.display()
        ),
    }
}

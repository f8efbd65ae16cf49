//! ECS launch figures (prints them; no pass/fail beyond correctness):
//! the launch rate of the ECS target against moto with the default limiter
//! (20 RunTask calls a second, 10 in flight), and evidence that it never
//! goes faster: the most tasks moto created in any one-second window,
//! from the tasks' own `createdAt`.
//!
//! Run: `scripts/bench` (or `cargo bench -p trawl-tests --bench ecs_launch`).

use std::time::{Duration, Instant};
use trawl::aws::Aws;
use trawl::config::EcsConfig;
use trawl::model::Action;
use trawl::targets::ecs::{EcsSettings, EcsTarget};
use trawl_tests::moto::Moto;

const URLS: usize = 300;

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let moto = Moto::start().unwrap();
    moto.create_results_table("trawl-results").await.unwrap();
    let names = moto.create_ecs("trawl").await.unwrap();
    // Tasks stay RUNNING: nothing runs them here, only launching is measured.
    moto.keep_ecs_tasks_running().unwrap();
    let aws = Aws {
        sdk: moto.sdk_config().await,
        table: Some("trawl-results".into()),
        bucket: Some("trawl-content".into()),
        pool_tag: None,
        poll_interval: Duration::from_secs(2),
        retain_days: None,
    };
    let config = EcsConfig {
        cluster: names.cluster.clone(),
        task_definition: names.task_definition.clone(),
        subnets: names.subnets.clone(),
        security_groups: names.security_groups.clone(),
        ..EcsConfig::default()
    };
    let target = EcsTarget::new(&aws, &config).unwrap();
    let urls: Vec<String> = (0..URLS)
        .map(|i| format!("https://site{i}.example/"))
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let started = Instant::now();
    let (control, run_id) = target.submit(urls, tx);
    // moto keeps no creation time on tasks: count the run's tasks every
    // 100 ms from the server side while launching goes on.
    let ecs = moto.ecs().await;
    let sampler = {
        let (ecs, cluster, run_id) = (ecs.clone(), names.cluster.clone(), run_id.clone());
        tokio::spawn(async move {
            let mut samples: Vec<(f64, usize)> = Vec::new();
            loop {
                let n = count_tasks(&ecs, &cluster, &run_id).await;
                samples.push((started.elapsed().as_secs_f64(), n));
                if n >= URLS {
                    return samples;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    // Launching is over when the launch progress leaves the map.
    let mut launched_at = None;
    while let Some(action) = rx.recv().await {
        if let Action::FleetChanged(f) = action
            && f.launch.is_none()
            && !f.task_groups.is_empty()
        {
            launched_at = Some(started.elapsed());
            break;
        }
    }
    let elapsed = launched_at.expect("launching finished");
    let samples = sampler.await.unwrap();
    control.cancel();
    assert_eq!(
        count_tasks(&ecs, &names.cluster, &run_id).await,
        URLS,
        "one task per URL"
    );
    // The most tasks that appeared within any one second (between two
    // samples at most 1 s apart).
    let mut most = 0;
    for (i, (t0, n0)) in samples.iter().enumerate() {
        for (t1, n1) in &samples[i + 1..] {
            if t1 - t0 > 1.0 {
                break;
            }
            most = most.max(n1 - n0);
        }
    }
    let first = samples.iter().find(|(_, n)| *n > 0).map_or(0.0, |s| s.0);
    let last = samples.last().map_or(0.0, |s| s.0);
    println!(
        "ECS launch ({URLS} URLs, default limiter {} calls/s, {} in flight):",
        EcsSettings::DEFAULT_LAUNCH_RATE,
        EcsSettings::DEFAULT_MAX_IN_FLIGHT
    );
    println!(
        "  submit to last launch: {:.1} s (run item and QUEUED records included)",
        elapsed.as_secs_f64()
    );
    println!(
        "  launch rate: {:.1} tasks/s (first to last task seen by moto, {:.1} s)",
        URLS as f64 / (last - first).max(0.001),
        last - first
    );
    println!(
        "  most new tasks within any 1 s (server side, {} samples ~100 ms apart): {most} (limit {})",
        samples.len(),
        EcsSettings::DEFAULT_LAUNCH_RATE
    );
}

/// The run's tasks in moto.
async fn count_tasks(ecs: &aws_sdk_ecs::Client, cluster: &str, run_id: &str) -> usize {
    let mut n = 0;
    let mut next = None;
    loop {
        let out = ecs
            .list_tasks()
            .cluster(cluster)
            .started_by(run_id)
            .set_next_token(next.take())
            .send()
            .await
            .unwrap();
        n += out.task_arns().len();
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_owned()),
            _ => return n,
        }
    }
}

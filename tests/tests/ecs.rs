//! The ECS target against moto, with `trawl_tests::fargate` playing Fargate
//! (every task runs the real worker with its overrides): launches with the
//! contract's overrides, startedBy, tag and clientToken; relaunches of tasks
//! that stop without a result; exactly-once launching through throttling,
//! lost answers and `failures` entries (the fault proxy); configuration
//! errors as FAILED records and one clear line.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use trawl::aws::Aws;
use trawl::config::EcsConfig;
use trawl::model::{Action, Results};
use trawl::targets::ecs::EcsTarget;
use trawl::targets::follow::follow_aws_run;
use trawl_scraper::record::Status;
use trawl_tests::fargate::{Fargate, FargateOptions, OOM_REASON};
use trawl_tests::fault_proxy::{Fault, FaultKind, FaultProxy, Rule, When};
use trawl_tests::follow::{Seen, until_final};
use trawl_tests::hostile::HostileServer;
use trawl_tests::moto::{EcsNames, Moto};

const TABLE: &str = "trawl-results";
const BUCKET: &str = "trawl-content";
const CLUSTER: &str = "trawl";

async fn setup(moto: &Moto) -> EcsNames {
    moto.create_bucket(BUCKET).await.unwrap();
    moto.create_results_table(TABLE).await.unwrap();
    moto.create_ecs(CLUSTER).await.unwrap()
}

/// trawl's AWS settings, reaching AWS at `endpoint` (moto or the proxy).
async fn aws(moto: &Moto, endpoint: &str) -> Aws {
    Aws {
        sdk: moto
            .sdk_config()
            .await
            .into_builder()
            .endpoint_url(endpoint)
            .build(),
        table: Some(TABLE.into()),
        bucket: Some(BUCKET.into()),
        pool_tag: None,
        poll_interval: Duration::from_secs(1),
        retain_days: None,
    }
}

fn ecs_config(names: &EcsNames, rate: u32) -> EcsConfig {
    EcsConfig {
        cluster: names.cluster.clone(),
        task_definition: names.task_definition.clone(),
        subnets: names.subnets.clone(),
        security_groups: names.security_groups.clone(),
        max_in_flight: Some(10),
        launch_rate: Some(rate),
        max_attempts: Some(3),
    }
}

/// Submits `urls` and follows the run (as the screen and `trawl submit`
/// do) until every URL is final.
async fn run(target: &EcsTarget, urls: Vec<String>, timeout: Duration) -> Seen {
    let n = urls.len();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (_control, run_id) = target.submit(urls, tx.clone());
    let every = Duration::from_secs(1);
    until_final(target.store().clone(), run_id, n, every, tx, rx, timeout).await
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_urls_one_task_each_and_stopped_tasks_launched_again() {
    let moto = Moto::start().unwrap();
    let names = setup(&moto).await;
    let server = HostileServer::start_plain().unwrap();
    let urls: Vec<String> = (0..200)
        .map(|i| server.url(&format!("/page?t={i:03}")))
        .collect();
    // Two tasks are OOM-killed once, one every time.
    let crash: HashSet<(String, u32)> = [
        (urls[3].clone(), 1),
        (urls[4].clone(), 1),
        (urls[5].clone(), 1),
        (urls[5].clone(), 2),
        (urls[5].clone(), 3),
    ]
    .into();
    let fargate = Fargate::start(
        &moto,
        CLUSTER,
        BUCKET,
        TABLE,
        FargateOptions { crash, parallel: 8 },
    );
    let aws = aws(&moto, &moto.endpoint()).await;
    let target = EcsTarget::new(&aws, &ecs_config(&names, 100)).unwrap();
    let seen = run(&target, urls.clone(), Duration::from_secs(240)).await;

    assert_eq!(seen.results.count(Status::Done), 199, "{:?}", seen.errors);
    let relaunched = seen.record(&urls[3]);
    assert_eq!((relaunched.status(), relaunched.attempt), (Status::Done, 2));
    let lost = seen.record(&urls[5]);
    assert_eq!(lost.status(), Status::Failed);
    let error = lost.error.unwrap();
    assert!(
        error.contains(OOM_REASON) && error.contains("no result after 3 attempts"),
        "{error}"
    );

    // One task per URL and attempt, with the contract's overrides.
    let tasks = fargate.seen();
    assert_eq!(tasks.len(), 200 + 2 + 2);
    let mut per: HashMap<(String, u32), usize> = HashMap::new();
    for t in &tasks {
        *per.entry((t.url.clone(), t.attempt)).or_default() += 1;
        assert_eq!(t.run_id, seen.run_id);
        assert_eq!(t.started_by, seen.run_id);
    }
    assert!(per.values().all(|n| *n == 1), "a URL launched twice");
    assert!(urls.iter().all(|u| per.contains_key(&(u.clone(), 1))));
    let ecs = moto.ecs().await;
    let tags = ecs
        .list_tags_for_resource()
        .resource_arn(&tasks[0].arn)
        .send()
        .await
        .unwrap();
    assert!(
        tags.tags()
            .iter()
            .any(|t| t.key() == Some("trawl:run-id") && t.value() == Some(seen.run_id.as_str())),
        "{tags:?}"
    );

    // The map grouped tasks by their public IPs.
    let last = seen
        .fleets
        .iter()
        .rev()
        .find(|f| !f.task_groups.is_empty())
        .expect("a map of the tasks");
    assert!(
        last.task_groups.iter().any(|g| g.public_ip.contains('.')),
        "{last:?}"
    );
    assert!(
        seen.fleets.iter().any(|f| f.launch.is_some()),
        "launch progress shown"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_thousand_urls_launched_exactly_once_through_throttling_lost_answers_and_failures() {
    let moto = Moto::start().unwrap();
    let names = setup(&moto).await;
    let server = HostileServer::start_plain().unwrap();
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    proxy.set_ecs_client_tokens(true);
    proxy.add(Rule::new(
        "RunTask",
        Fault::EcsFailure {
            reason: "RESOURCE:ENI".into(),
        },
        When::Probability { p: 0.01, seed: 7 },
    ));
    proxy.add(Rule::new(
        "RunTask",
        Fault::Throttling,
        When::Probability { p: 0.30, seed: 11 },
    ));
    proxy.add(Rule::new(
        "RunTask",
        Fault::LoseResponse,
        When::Probability { p: 0.02, seed: 13 },
    ));
    let fargate = Fargate::start(
        &moto,
        CLUSTER,
        BUCKET,
        TABLE,
        FargateOptions {
            parallel: 12,
            ..FargateOptions::default()
        },
    );
    let urls: Vec<String> = (0..1000)
        .map(|i| server.url(&format!("/page?k={i:04}")))
        .collect();
    let aws = aws(&moto, &proxy.endpoint()).await;
    let target = EcsTarget::new(&aws, &ecs_config(&names, 200)).unwrap();
    let seen = run(&target, urls.clone(), Duration::from_secs(400)).await;

    let stats = proxy.stats().op("RunTask");
    let failures = stats.injected(FaultKind::EcsFailure) as usize;
    assert!(stats.injected(FaultKind::Throttling) > 100, "{stats:?}");
    assert!(stats.injected(FaultKind::LoseResponse) > 0, "{stats:?}");
    assert!(failures > 0, "{stats:?}");
    // None lost: every URL has a final record; the `failures` entries are
    // FAILED with their reason, everything else is DONE.
    assert_eq!(seen.results.len(), 1000);
    let failed: Vec<_> = seen
        .results
        .records()
        .iter()
        .filter(|r| r.status() == Status::Failed)
        .collect();
    assert_eq!(failed.len(), failures, "{:?}", failed.first());
    assert!(
        failed
            .iter()
            .all(|r| r.error.as_deref().unwrap().contains("RESOURCE:ENI"))
    );
    assert_eq!(seen.results.count(Status::Done), 1000 - failures);
    // None doubled: one task per launched URL (clientToken made the
    // retries of lost answers return the first task).
    let tasks = fargate.seen();
    let mut per: HashMap<&str, usize> = HashMap::new();
    for t in &tasks {
        *per.entry(t.url.as_str()).or_default() += 1;
    }
    assert_eq!(tasks.len(), 1000 - failures);
    assert!(per.values().all(|n| *n == 1), "a URL launched twice");
    assert!(stats.replayed > 0, "lost answers were replayed: {stats:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn configuration_errors_fail_the_records_with_the_cause() {
    let moto = Moto::start().unwrap();
    let names = setup(&moto).await;
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let _fargate = Fargate::start(&moto, CLUSTER, BUCKET, TABLE, FargateOptions::default());
    let urls: Vec<String> = (0..3)
        .map(|i| format!("https://site{i}.example/"))
        .collect();
    let cases: Vec<(&str, EcsConfig, &str)> = vec![
        (
            "unknown cluster",
            EcsConfig {
                cluster: "no-such-cluster".into(),
                ..ecs_config(&names, 50)
            },
            "ECS cluster no-such-cluster not found in region us-east-1",
        ),
        (
            "missing task definition",
            EcsConfig {
                task_definition: "no-such-family".into(),
                ..ecs_config(&names, 50)
            },
            "task_definition",
        ),
        (
            "bad subnet",
            EcsConfig {
                subnets: vec!["subnet-0000000000000dead".into()],
                ..ecs_config(&names, 50)
            },
            "subnets",
        ),
        ("missing permission", ecs_config(&names, 50), "ecs:RunTask"),
    ];
    for (what, config, says) in cases {
        proxy.clear();
        if what == "missing permission" {
            proxy.add(Rule::new("RunTask", Fault::AccessDenied, When::Always));
        }
        let aws = aws(&moto, &proxy.endpoint()).await;
        let target = EcsTarget::new(&aws, &config).unwrap();
        let seen = run(&target, urls.clone(), Duration::from_secs(60)).await;
        assert_eq!(seen.results.count(Status::Failed), 3, "{what}");
        let error = seen.record(&urls[0]).error.unwrap();
        assert!(
            error.starts_with("not launched: ") && error.contains(says),
            "{what}: {error}"
        );
        assert!(
            seen.errors.iter().any(|e| e.contains(says)),
            "{what}: one clear line: {:?}",
            seen.errors
        );
    }
}

#[test]
fn trawl_submit_target_ecs_launches_follows_and_lists_the_run() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = Moto::start().unwrap();
    let names = rt.block_on(setup(&moto));
    let server = HostileServer::start_plain().unwrap();
    let _fargate = Fargate::start(
        &moto,
        CLUSTER,
        BUCKET,
        TABLE,
        FargateOptions {
            parallel: 4,
            ..FargateOptions::default()
        },
    );
    let home = tempfile::tempdir().unwrap();
    let quote = |v: &[String]| {
        v.iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    trawl_tests::trawl::write_config(
        home.path(),
        &format!(
            "region = \"us-east-1\"\ntable = \"{TABLE}\"\nbucket = \"{BUCKET}\"\npoll_interval_secs = 1\n\n[ecs]\ncluster = \"{}\"\ntask_definition = \"{}\"\nsubnets = [{}]\nsecurity_groups = [{}]\n",
            names.cluster,
            names.task_definition,
            quote(&names.subnets),
            quote(&names.security_groups)
        ),
    );
    let urls = home.path().join("urls.txt");
    std::fs::write(
        &urls,
        (0..5)
            .map(|i| server.url(&format!("/page?cli={i}")))
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    let endpoint = [("AWS_ENDPOINT_URL".to_owned(), moto.endpoint())];
    let out = trawl_tests::trawl::trawl(
        home.path(),
        &[
            "submit",
            "--target",
            "ecs",
            "--retain-days",
            "2",
            urls.to_str().unwrap(),
        ],
        &endpoint,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("5/5 final: 5 done"), "{stderr}");
    let run_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let out = trawl_tests::trawl::trawl(home.path(), &["results", &run_id, "--json"], &endpoint);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<trawl_scraper::record::Record> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records.len(), 5);
    assert!(
        records
            .iter()
            .all(|r| r.status() == Status::Done && r.expires_at.is_some())
    );
    let out = trawl_tests::trawl::trawl(home.path(), &["runs"], &endpoint);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(&run_id) && listing.contains("ecs") && listing.contains("5/5"),
        "{listing}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_stops_the_tasks_and_fails_what_is_left() {
    let moto = Moto::start().unwrap();
    let names = setup(&moto).await;
    let server = HostileServer::start_plain().unwrap();
    // One worker at a time, so most URLs are still waiting when we cancel.
    let fargate = Fargate::start(
        &moto,
        CLUSTER,
        BUCKET,
        TABLE,
        FargateOptions {
            parallel: 1,
            ..FargateOptions::default()
        },
    );
    let aws = aws(&moto, &moto.endpoint()).await;
    let target = EcsTarget::new(&aws, &ecs_config(&names, 5)).unwrap();
    let urls: Vec<String> = (0..40)
        .map(|i| server.url(&format!("/page?c={i}")))
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (control, run_id) = target.submit(urls.clone(), tx.clone());
    let follower = tokio::spawn(follow_aws_run(
        target.store().clone(),
        run_id.clone(),
        Duration::from_secs(1),
        tx,
    ));
    let mut results = Results::default();
    let end = Instant::now() + Duration::from_secs(120);
    let mut cancelled = false;
    while results.len() < 40 || results.finished() < 40 {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Action::Records { records, .. })) => {
                results.apply(records);
            }
            Ok(Some(_)) => {}
            _ => panic!("{} of 40 final", results.finished()),
        }
        if !cancelled && results.count(Status::Done) >= 2 {
            control.cancel();
            cancelled = true;
        }
    }
    follower.abort();
    let cancelled_records = results
        .records()
        .iter()
        .filter(|r| {
            r.error
                .as_deref()
                .is_some_and(|e| e.starts_with("cancelled:"))
        })
        .count();
    assert!(cancelled_records >= 20, "{cancelled_records} cancelled");
    assert_eq!(
        results.count(Status::Done) + cancelled_records,
        40,
        "every URL is DONE or cancelled"
    );
    // No task of the run is left running (a launch in flight when the
    // cancel came is stopped at the next look).
    let ecs = moto.ecs().await;
    let end = Instant::now() + Duration::from_secs(15);
    loop {
        let running = ecs
            .list_tasks()
            .cluster(CLUSTER)
            .started_by(&run_id)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .send()
            .await
            .unwrap();
        if running.task_arns().is_empty() {
            break;
        }
        assert!(
            Instant::now() < end,
            "still running: {:?}",
            running.task_arns()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(fargate.seen().len() < 40, "cancel stopped launching");
}

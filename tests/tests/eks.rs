//! The EKS target's objects against the cluster simulator over real HTTP:
//! one ConfigMap and one Indexed Job per chunk, created once however often
//! a run is submitted, and deleted with their pods on cancel.

use std::time::Duration;
use trawl::targets::eks::{EksSettings, Launched, delete_run, launch, run_selector};
use trawl_tests::sim::{Sim, SimOptions, wait_until};

fn settings() -> EksSettings {
    EksSettings {
        namespace: "trawl".into(),
        image: "trawl-scraper:test".into(),
        table: "trawl-results".into(),
        bucket: "trawl-content".into(),
        region: "us-east-1".into(),
        parallelism: 4,
        backoff_limit_per_index: EksSettings::DEFAULT_BACKOFF_LIMIT_PER_INDEX,
        ttl_after_finished_secs: EksSettings::DEFAULT_TTL_AFTER_FINISHED_SECS,
        pod_deadline_secs: EksSettings::DEFAULT_POD_DEADLINE_SECS,
        memory_limit: EksSettings::DEFAULT_MEMORY_LIMIT.into(),
        pending_grace_secs: EksSettings::DEFAULT_PENDING_GRACE_SECS,
        retain_days: None,
    }
}

async fn client(sim: &Sim) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(sim.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(config).unwrap()
}

fn of_run<'a>(objects: &'a [serde_json::Value], run_id: &str) -> Vec<&'a serde_json::Value> {
    objects
        .iter()
        .filter(|o| o["metadata"]["labels"]["trawl.io/run-id"] == run_id)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_is_one_configmap_and_job_per_chunk_created_once_and_deleted_with_its_pods() {
    // No nodes: the pods wait (nothing runs), which is all this test needs.
    let sim = Sim::start(SimOptions {
        max_nodes: 0,
        ..SimOptions::default()
    })
    .unwrap();
    let client = client(&sim).await;
    let run_id = "r-20261124-100000-test";
    let urls: Vec<String> = (0..7_001)
        .map(|i| format!("https://s{i}.example/"))
        .collect();

    let first = launch(&client, run_id, &urls, &settings()).await.unwrap();
    assert_eq!(
        first,
        Launched {
            jobs: 2,
            created: 4
        }
    );
    let again = launch(&client, run_id, &urls, &settings()).await.unwrap();
    assert_eq!(
        again,
        Launched {
            jobs: 2,
            created: 0
        },
        "nothing twice"
    );

    let jobs = sim.list("jobs");
    let jobs = of_run(&jobs, run_id);
    let mut completions: Vec<i64> = jobs
        .iter()
        .map(|j| j["spec"]["completions"].as_i64().unwrap())
        .collect();
    completions.sort_unstable();
    assert_eq!(completions, vec![2_001, 5_000]);
    let maps = sim.list("configmaps");
    let maps = of_run(&maps, run_id);
    assert_eq!(maps.len(), 2);
    let lines: usize = maps
        .iter()
        .map(|m| m["data"]["urls"].as_str().unwrap().lines().count())
        .sum();
    assert_eq!(lines, 7_001);
    // The Job controller starts pods (they wait for a node).
    assert!(wait_until(Duration::from_secs(10), || !of_run(
        &sim.list("pods"),
        run_id
    )
    .is_empty()));

    assert_eq!(delete_run(&client, "trawl", run_id).await.unwrap(), 2);
    assert!(of_run(&sim.list("jobs"), run_id).is_empty());
    assert!(of_run(&sim.list("configmaps"), run_id).is_empty());
    assert!(
        wait_until(Duration::from_secs(10), || of_run(
            &sim.list("pods"),
            run_id
        )
        .is_empty()),
        "the pods go with their Jobs"
    );
    assert!(run_selector(run_id).contains(run_id));
}

//! The EKS target against the cluster simulator over real HTTP and moto:
//! one ConfigMap and one Indexed Job per chunk, created once however often
//! a run is submitted, and deleted with their pods on cancel; `trawl submit
//! --target eks` end to end (every pod the real worker, every record with
//! its node's EIP); watches that converge on the truth through dropped
//! streams and 410 Gone; pod failures that reach the records.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};
use trawl::model::{Action, Results};
use trawl::store::aws::AwsStore;
use trawl::targets::eks::map::{ClusterState, NO_NODE, fleet};
use trawl::targets::eks::watch::ClusterWatch;
use trawl::targets::eks::{EksSettings, EksTarget, Launched, delete_run, launch, run_selector};
use trawl::targets::follow::follow_aws_run;
use trawl_scraper::record::{Record, Status, Target};
use trawl_tests::follow::{Seen, until_final};
use trawl_tests::hostile::HostileServer;
use trawl_tests::moto::Moto;
use trawl_tests::sim::{Sim, SimOptions, wait_until};

fn settings() -> EksSettings {
    EksSettings {
        parallelism: 4,
        ..trawl_tests::trawl::eks_settings()
    }
}

async fn client(sim: &Sim) -> kube::Client {
    trawl_tests::trawl::kube_client(sim.kubeconfig()).await
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

// ---- the whole target: moto for the results, the simulator for the cluster ----

const TABLE: &str = "trawl-results";
const BUCKET: &str = "trawl-content";
/// The simulated pool's Elastic IPs (documentation addresses: the workers
/// only read them back from the simulator's check-IP answer).
const POOL: [&str; 3] = ["198.51.100.10", "198.51.100.11", "198.51.100.12"];

async fn moto_with_store() -> Moto {
    let moto = Moto::start().unwrap();
    moto.create_bucket(BUCKET).await.unwrap();
    moto.create_results_table(TABLE).await.unwrap();
    moto
}

/// A cluster whose pods write to `moto` and may fetch loopback pages.
fn cluster(moto: &Moto, opts: SimOptions) -> Sim {
    let mut pod_env = moto.env();
    pod_env.push(("TRAWL_ALLOW_CIDRS".into(), "127.0.0.1/32".into()));
    Sim::start(SimOptions { pod_env, ..opts }).unwrap()
}

fn pool_options() -> SimOptions {
    SimOptions {
        eip_pool: POOL.iter().map(|ip| ip.parse().unwrap()).collect(),
        node_delay: Duration::from_millis(200),
        consolidation_delay: Duration::from_secs(2),
        max_nodes: 6,
        pods_per_node: 4,
        max_running: 12,
        ..SimOptions::default()
    }
}

async fn target(sim: &Sim, moto: &Moto, s: EksSettings) -> EksTarget {
    let store = AwsStore::new(&moto.sdk_config().await, TABLE).with_bucket(Some(BUCKET.into()));
    EksTarget::new(client(sim).await, store, s)
}

fn run_settings() -> EksSettings {
    EksSettings {
        table: TABLE.into(),
        bucket: BUCKET.into(),
        parallelism: 50,
        ..settings()
    }
}

/// Submits `urls` with `target` (the cluster seen through `watch`) and
/// follows the run in DynamoDB, as the screen does, until every URL is final.
async fn submit_and_follow(
    target: &EksTarget,
    watch: &ClusterWatch,
    urls: Vec<String>,
    before_launch: impl FnOnce(&str),
    timeout: Duration,
) -> Seen {
    let n = urls.len();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let (_control, run_id) = target.submit(urls, watch.subscribe(), tx.clone());
    // The run's Jobs are created after its records are written: faults
    // named after its pods are in place before any pod starts.
    before_launch(&run_id);
    let every = Duration::from_millis(500);
    until_final(target.store().clone(), run_id, n, every, tx, rx, timeout).await
}

/// The pool nodes the simulator has now.
fn pool_nodes(sim: &Sim) -> usize {
    sim.list("nodes")
        .iter()
        .filter(|n| n["metadata"]["labels"]["trawl.io/pool"] == "scrapers")
        .count()
}

/// `trawl results RUN --json` of the trawl under test in `home`.
fn results_json(home: &std::path::Path, run_id: &str, env: &[(String, String)]) -> Vec<Record> {
    let out = trawl_tests::trawl::trawl(home, &["results", run_id, "--json"], env);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn trawl_submit_target_eks_runs_every_url_on_a_node_with_its_eip() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = rt.block_on(moto_with_store());
    let sim = cluster(&moto, pool_options());
    let server = HostileServer::start_plain().unwrap();
    let home = tempfile::tempdir().unwrap();
    trawl_tests::trawl::write_config(
        home.path(),
        &format!(
            "region = \"us-east-1\"\ntable = \"{TABLE}\"\nbucket = \"{BUCKET}\"\npoll_interval_secs = 1\n\n\
             [eks]\ncluster = \"trawl-sim\"\nnamespace = \"trawl\"\nimage = \"trawl-scraper:test\"\nparallelism = 50\n"
        ),
    );
    let urls: Vec<String> = (0..50)
        .map(|i| server.url(&format!("/page?eks={i:02}")))
        .collect();
    let file = home.path().join("urls.txt");
    std::fs::write(&file, urls.join("\n")).unwrap();
    // The kubeconfig's current context is another cluster (nothing
    // listens there); `--context` picks the simulator's.
    let kubeconfig = home.path().join("kubeconfig");
    let text = std::fs::read_to_string(sim.kubeconfig())
        .unwrap()
        .replace("current-context: trawl-sim", "current-context: elsewhere")
        .replace(
            "contexts:\n",
            "contexts:\n- name: elsewhere\n  context:\n    cluster: elsewhere\n    user: trawl-sim\n",
        )
        .replace(
            "clusters:\n",
            "clusters:\n- name: elsewhere\n  cluster:\n    server: http://127.0.0.1:9\n",
        );
    std::fs::write(&kubeconfig, text).unwrap();
    let env = [
        ("AWS_ENDPOINT_URL".to_owned(), moto.endpoint()),
        ("KUBECONFIG".to_owned(), kubeconfig.display().to_string()),
    ];
    let submit = |args: &[&str]| {
        let mut all = vec!["submit", "--target", "eks"];
        all.extend_from_slice(args);
        all.push(file.to_str().unwrap());
        trawl_tests::trawl::trawl(home.path(), &all, &env)
    };
    // Without the flag: the current context's cluster refuses, clearly.
    let out = submit(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("launch failed") && stderr.contains("--context"),
        "{stderr}"
    );
    assert!(
        stderr.contains("50/50 final: 0 done, 50 failed"),
        "nothing lost: {stderr}"
    );
    let started = Instant::now();
    let out = submit(&["--context", "trawl-sim"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("50/50 final"), "{stderr}");
    eprintln!("50 URLs on EKS (simulated) in {:?}", started.elapsed());
    let run_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    // One ConfigMap and one Job for the run.
    assert_eq!(of_run(&sim.list("jobs"), &run_id).len(), 1);
    assert_eq!(of_run(&sim.list("configmaps"), &run_id).len(), 1);

    // Every record is final, with the egress IP of the node it ran on.
    let records = results_json(home.path(), &run_id, &env);
    assert_eq!(records.len(), 50);
    let node_ips = sim.node_ips_seen();
    for r in &records {
        assert!(
            matches!(r.status(), Status::Done | Status::Failed | Status::Blocked),
            "{r:?}"
        );
        assert_eq!(r.status(), Status::Done, "{} {:?}", r.url, r.error);
        let node = r.node.as_deref().expect("the node name");
        assert_eq!(
            r.egress_ip.as_deref(),
            node_ips.get(node).map(String::as_str),
            "{node}"
        );
    }
    // The pool's EIPs first, then fallback IPs once the pool was used up.
    let ips: HashSet<&str> = node_ips.values().map(String::as_str).collect();
    assert!(POOL.iter().all(|ip| ips.contains(ip)), "{node_ips:?}");
    assert!(
        ips.iter().any(|ip| !POOL.contains(ip)),
        "more nodes than EIPs: fallbacks too ({node_ips:?})"
    );
    let used: HashSet<&str> = records
        .iter()
        .filter_map(|r| r.egress_ip.as_deref())
        .collect();
    assert!(used.len() > 3, "URLs left from several nodes: {used:?}");

    // Nodes go away once their pods are done.
    assert!(
        wait_until(Duration::from_secs(20), || pool_nodes(&sim) == 0),
        "{} nodes left",
        pool_nodes(&sim)
    );
}

/// (node, ExternalIP) and (pod, phase, node) as the simulator has them.
type Truth = (
    BTreeSet<(String, String)>,
    BTreeSet<(String, String, String)>,
);

fn truth(sim: &Sim) -> Truth {
    let nodes = sim
        .list("nodes")
        .iter()
        .filter(|n| n["metadata"]["labels"]["trawl.io/pool"] == "scrapers")
        .map(|n| {
            let ip = n["status"]["addresses"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["type"] == "ExternalIP"))
                .and_then(|a| a["address"].as_str())
                .unwrap_or_default();
            (
                n["metadata"]["name"].as_str().unwrap().to_owned(),
                ip.to_owned(),
            )
        })
        .collect();
    let pods = sim
        .list("pods")
        .iter()
        .filter(|p| p["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "trawl")
        .map(|p| {
            (
                p["metadata"]["name"].as_str().unwrap().to_owned(),
                p["status"]["phase"]
                    .as_str()
                    .unwrap_or("Pending")
                    .to_owned(),
                p["spec"]["nodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect();
    (nodes, pods)
}

fn seen_by_watch(state: &ClusterState) -> Truth {
    let nodes = state
        .nodes
        .iter()
        .map(|n| {
            (
                n.name().to_owned(),
                n.external_ip().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let pods = state
        .pods
        .iter()
        .map(|p| {
            (
                p.name().to_owned(),
                p.phase().to_owned(),
                p.node().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    (nodes, pods)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_map_matches_the_cluster_after_dropped_watches_and_410_gone() {
    let moto = moto_with_store().await;
    let sim = cluster(&moto, pool_options());
    let server = HostileServer::start_plain().unwrap();
    let target = target(&sim, &moto, run_settings()).await;
    let ceiling = Duration::from_secs(1);
    let watch = target.watch(Some(ceiling));
    let urls: Vec<String> = (0..40)
        .map(|i| server.url(&format!("/page?faults={i:02}")))
        .collect();
    let faults = async {
        // While the run goes: streams dropped, 410 Gone for the next
        // watches, and history compacted so resumed watches get 410 too.
        for round in 0..16 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            match round % 3 {
                0 => sim.drop_watches(),
                1 => {
                    sim.gone_next_watches(2);
                    sim.drop_watches();
                }
                _ => {
                    sim.compact();
                    sim.drop_watches();
                }
            }
        }
        sim.clear_faults();
    };
    let (seen, ()) = tokio::join!(
        submit_and_follow(&target, &watch, urls, |_| {}, Duration::from_secs(120)),
        faults
    );
    assert!(seen.errors.is_empty(), "{:?}", seen.errors);
    // Once the faults stop, the watches converge within the backoff
    // ceiling (plus the snapshot's debounce): compare with the truth.
    let end = Instant::now() + ceiling * 3 + Duration::from_secs(2);
    let mut last = (truth(&sim), seen_by_watch(&watch.current()));
    while last.0 != last.1 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        last = (truth(&sim), seen_by_watch(&watch.current()));
    }
    assert_eq!(last.1, last.0, "the map's state equals the simulator's");
    assert!(watch.current().synced);
    assert!(!last.0.1.is_empty(), "the run's pods are there to compare");
}

#[tokio::test(flavor = "multi_thread")]
async fn oom_kills_and_deadlines_show_on_the_map_and_fail_their_urls() {
    let moto = moto_with_store().await;
    let sim = cluster(&moto, pool_options());
    let server = HostileServer::start_plain().unwrap();
    let target = target(
        &sim,
        &moto,
        EksSettings {
            // One retry: the first failure is not final, the second is.
            backoff_limit_per_index: 1,
            pod_deadline_secs: 3,
            ..run_settings()
        },
    )
    .await;
    let watch = target.watch(Some(Duration::from_secs(1)));
    let urls = vec![
        server.url("/page?fine"),
        server.url("/page?oom"),
        // Drips a byte a second: the pod's deadline stops it first.
        server.url("/drip?interval_ms=1000"),
    ];
    let sim2 = &sim;
    let seen = submit_and_follow(
        &target,
        &watch,
        urls.clone(),
        |run_id| sim2.oom_kill(&format!("trawl-{run_id}-0-1-")),
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(seen.record(&urls[0]).status(), Status::Done);
    let oom = seen.record(&urls[1]);
    assert_eq!(oom.status(), Status::Failed);
    assert_eq!(oom.attempt, 2, "the retry's failure is the final one");
    assert!(
        !seen
            .history
            .iter()
            .any(|r| r.url == urls[1] && r.attempt == 1 && r.status() == Status::Failed),
        "a failure the Job retries is not written: {:?}",
        seen.history
            .iter()
            .filter(|r| r.url == urls[1])
            .collect::<Vec<_>>()
    );
    assert!(
        oom.error
            .as_deref()
            .unwrap_or_default()
            .starts_with("OOM-killed"),
        "{oom:?}"
    );
    let late = seen.record(&urls[2]);
    assert_eq!(late.status(), Status::Failed);
    assert_eq!(late.attempt, 2);
    let why = late.error.as_deref().unwrap_or_default();
    assert!(
        why.contains("deadline exceeded") && why.contains("3 s"),
        "{why}"
    );
    // The map shows both under the node that ran them.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let fleet = fleet(&watch.current(), now, 600, &HashSet::new());
    let problems: Vec<&String> = fleet.nodes.iter().flat_map(|n| &n.problems).collect();
    assert!(
        problems.iter().any(|p| p.contains("OOM-killed")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("deadline exceeded")),
        "{problems:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_pod_no_node_takes_fails_its_url_past_the_grace_period() {
    let moto = moto_with_store().await;
    // Karpenter may add no node at all.
    let sim = cluster(
        &moto,
        SimOptions {
            max_nodes: 0,
            ..pool_options()
        },
    );
    let grace = 2;
    let target = target(
        &sim,
        &moto,
        EksSettings {
            pending_grace_secs: grace,
            ..run_settings()
        },
    )
    .await;
    let watch = target.watch(Some(Duration::from_secs(1)));
    let url = "http://127.0.0.1:9/never-fetched".to_owned();
    let started = Instant::now();
    let seen = submit_and_follow(
        &target,
        &watch,
        vec![url.clone()],
        |_| {},
        Duration::from_secs(40),
    )
    .await;
    let r = seen.record(&url);
    assert_eq!(r.status(), Status::Failed);
    let why = r.error.as_deref().unwrap_or_default();
    assert!(
        why.starts_with("pending ")
            && why.contains("no node took the pod: 0/0 nodes are available"),
        "the scheduler's reason: {why}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(grace as u64),
        "not before the grace period"
    );
    // The map: a row of pods without a node, with the reason.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let fleet = fleet(&watch.current(), now, grace, &HashSet::new());
    let row = fleet
        .nodes
        .iter()
        .find(|n| n.name == NO_NODE)
        .expect("the no-node row");
    assert_eq!(row.pods.pending, 1);
    assert!(
        row.problems
            .iter()
            .any(|p| p.contains("no node took the pod")),
        "{:?}",
        row.problems
    );
}

#[test]
fn the_screen_shows_nodes_with_their_eips_and_pods_then_the_results() {
    if !trawl_tests::trawl::tmux_available() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = rt.block_on(moto_with_store());
    // Nodes stay a while after their pods finish, so the map can be read.
    let sim = cluster(
        &moto,
        SimOptions {
            consolidation_delay: Duration::from_secs(8),
            ..pool_options()
        },
    );
    let server = HostileServer::start_plain().unwrap();
    let home = tempfile::tempdir().unwrap();
    trawl_tests::trawl::write_config(
        home.path(),
        &format!(
            "region = \"us-east-1\"\ntable = \"{TABLE}\"\nbucket = \"{BUCKET}\"\npoll_interval_secs = 1\n\n\
             [eks]\ncluster = \"trawl-sim\"\nnamespace = \"trawl\"\nimage = \"trawl-scraper:test\"\n"
        ),
    );
    let mut env = trawl_tests::trawl::trawl_env(home.path());
    env.push(("AWS_ENDPOINT_URL".into(), moto.endpoint()));
    env.push(("KUBECONFIG".into(), sim.kubeconfig().display().to_string()));
    let t = trawl_tests::tmux::Tmux::start(
        &trawl_tests::env::workspace_bin("trawl")
            .display()
            .to_string(),
        &env,
        200,
        50,
    );
    t.wait_for("URLs", Duration::from_secs(10));
    let urls: Vec<String> = (0..20)
        .map(|i| server.url(&format!("/page?tui={i:02}")))
        .collect();
    t.paste(&(urls.join("\n") + "\n"));
    t.wait_for("20 valid", Duration::from_secs(5));
    t.keys(&["Escape", "t"]);
    t.keys(&["C-s"]);
    t.wait_for("Submit 20 URLs", Duration::from_secs(5));
    t.keys(&["y"]);
    // The map (focused, so it takes the room it needs): nodes with their
    // pool EIPs and pods by phase.
    t.keys(&["BTab"]);
    let screen = t
        .wait_until(Duration::from_secs(30), |s| {
            POOL.iter().all(|ip| s.contains(*ip)) && s.contains("◆ EIP") && s.contains("○ fallback")
        })
        .unwrap_or_else(|s| {
            let log = std::fs::read_to_string(home.path().join("state/trawl/trawl.log"));
            panic!("no nodes with the pool's EIPs on screen:\n{s}\nlog: {log:?}")
        });
    assert!(
        screen.contains("t3.small") && screen.contains("spot"),
        "{screen}"
    );
    assert!(screen.contains("nodes "), "{screen}");
    // Then every result, each from one of the nodes' IPs.
    let done_rows = |s: &str| s.lines().filter(|l| l.contains(" DONE ")).count();
    let screen = t
        .wait_until(Duration::from_secs(60), |s| done_rows(s) == 20)
        .unwrap_or_else(|s| panic!("not every row DONE:\n{s}"));
    let node_ips = sim.node_ips_seen();
    // The table's rows (the editor on the left lists the URLs too).
    let rows: Vec<&str> = screen.lines().filter(|l| l.contains(" DONE ")).collect();
    assert_eq!(rows.len(), 20, "{screen}");
    for row in rows {
        assert!(
            node_ips.values().any(|ip| row.contains(ip.as_str())),
            "egress IP on {row}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cancel_deletes_the_jobs_with_their_pods_and_fails_what_is_left() {
    let moto = moto_with_store().await;
    // No node ever comes: every pod waits, so nothing finishes by itself.
    let sim = cluster(
        &moto,
        SimOptions {
            max_nodes: 0,
            ..pool_options()
        },
    );
    let target = target(&sim, &moto, run_settings()).await;
    let watch = target.watch(Some(Duration::from_secs(1)));
    let urls: Vec<String> = (0..5)
        .map(|i| format!("http://127.0.0.1:9/cancel/{i}"))
        .collect();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let (control, run_id) = target.submit(urls.clone(), watch.subscribe(), tx.clone());
    assert!(
        wait_until(Duration::from_secs(20), || of_run(
            &sim.list("pods"),
            &run_id
        )
        .len()
            == 5),
        "the Job's pods exist"
    );
    control.cancel();
    let follower = tokio::spawn(follow_aws_run(
        target.store().clone(),
        run_id.clone(),
        Duration::from_millis(500),
        tx,
    ));
    let mut results = Results::default();
    let end = Instant::now() + Duration::from_secs(30);
    while results.finished() < urls.len() {
        match tokio::time::timeout(end.saturating_duration_since(Instant::now()), rx.recv()).await {
            Ok(Some(Action::Records { records, .. })) => {
                results.apply(records);
            }
            Ok(Some(_)) => {}
            _ => panic!("{} of 5 final after cancel", results.finished()),
        }
    }
    follower.abort();
    for r in results.records() {
        assert_eq!(r.status(), Status::Failed);
        assert_eq!(r.error.as_deref(), Some(trawl::targets::CANCELLED));
    }
    assert!(of_run(&sim.list("jobs"), &run_id).is_empty());
    assert!(of_run(&sim.list("configmaps"), &run_id).is_empty());
    assert!(
        wait_until(Duration::from_secs(10), || of_run(
            &sim.list("pods"),
            &run_id
        )
        .is_empty()),
        "the pods go with their Jobs"
    );
}

/// A cluster whose API answers every request 500, and the watches of it
/// (backoff up to `ceiling`), started after the request counts were reset.
async fn failing_cluster_watch(ceiling: Duration) -> (Sim, ClusterWatch) {
    let sim = Sim::start(SimOptions {
        max_nodes: 0,
        ..SimOptions::default()
    })
    .unwrap();
    let client = client(&sim).await;
    let mut opts = trawl::targets::eks::watch::WatchOptions::new("trawl");
    opts.backoff_ceiling = Some(ceiling);
    sim.set_error_fraction(1.0);
    sim.reset_request_counts();
    let watch = ClusterWatch::start(client, opts);
    (sim, watch)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_watch_that_keeps_failing_says_so_and_recovers() {
    let (sim, watch) = failing_cluster_watch(Duration::from_millis(200)).await;
    let mut states = watch.subscribe();

    let problem = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            states.changed().await.unwrap();
            if let Some(p) = states.borrow().problem.clone() {
                return p;
            }
        }
    })
    .await
    .expect("a problem line");
    assert!(problem.starts_with("watching "), "{problem}");
    assert!(
        problem.contains("500") || problem.contains("injected"),
        "{problem}"
    );
    assert!(!watch.current().synced, "nothing listed yet");
    // The API answers again: the problem clears and the map syncs.
    sim.clear_faults();
    let synced = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            states.changed().await.unwrap();
            let s = states.borrow().clone();
            if s.synced && s.problem.is_none() {
                return;
            }
        }
    })
    .await;
    assert!(synced.is_ok(), "{:?}", watch.current().problem);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_trawl_that_attaches_takes_over_the_pods_that_cannot_write() {
    let moto = moto_with_store().await;
    let sim = cluster(&moto, pool_options());
    let server = HostileServer::start_plain().unwrap();
    let target = target(
        &sim,
        &moto,
        EksSettings {
            backoff_limit_per_index: 0,
            ..run_settings()
        },
    )
    .await;
    // Another trawl submitted the run and went away (an ssh session that
    // dropped): records and Jobs exist, nobody watches the pods.
    let urls = vec![
        server.url("/page?adopt=fine"),
        server.url("/page?adopt=oom"),
    ];
    let run = trawl::store::new_run(Target::Eks, urls.len(), None);
    sim.oom_kill(&format!("trawl-{}-0-1-", run.run_id));
    target.store().create_run(&run, &urls).await.unwrap();
    launch(&client(&sim).await, &run.run_id, &urls, target.settings())
        .await
        .unwrap();
    // This trawl attaches to it.
    let watch = target.watch(Some(Duration::from_secs(1)));
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let _control = target.adopt(&run.run_id, watch.subscribe(), tx.clone());
    let every = Duration::from_millis(500);
    let seen = until_final(
        target.store().clone(),
        run.run_id.clone(),
        urls.len(),
        every,
        tx,
        rx,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(seen.record(&urls[0]).status(), Status::Done);
    let oom = seen.record(&urls[1]);
    assert_eq!(oom.status(), Status::Failed);
    assert!(
        oom.error
            .as_deref()
            .unwrap_or_default()
            .starts_with("OOM-killed"),
        "{oom:?}"
    );
}

/// A busy thread on each core while it lives (each also stops by itself
/// after five minutes).
struct CpuLoad {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl CpuLoad {
    fn start() -> CpuLoad {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..cores)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let until = Instant::now() + Duration::from_secs(300);
                    let mut x = 0u64;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) && Instant::now() < until
                    {
                        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                    }
                })
            })
            .collect();
        CpuLoad { stop, threads }
    }
}

impl Drop for CpuLoad {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn a_headless_eks_submit_to_an_unreachable_cluster_ends_with_every_url_failed_under_load() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let moto = rt.block_on(moto_with_store());
    let home = tempfile::tempdir().unwrap();
    trawl_tests::trawl::write_config(
        home.path(),
        &format!(
            "region = \"us-east-1\"\ntable = \"{TABLE}\"\nbucket = \"{BUCKET}\"\npoll_interval_secs = 1\n\n\
             [eks]\ncluster = \"trawl\"\nnamespace = \"trawl\"\nimage = \"trawl-scraper:test\"\n"
        ),
    );
    // The current context is a cluster where nothing listens.
    let kubeconfig = home.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n\
         clusters:\n- name: gone\n  cluster:\n    server: http://127.0.0.1:9\n\
         contexts:\n- name: gone\n  context:\n    cluster: gone\n    user: nobody\n\
         users:\n- name: nobody\n  user:\n    token: none\n",
    )
    .unwrap();
    let urls: Vec<String> = (0..50)
        .map(|i| format!("https://unreachable{i}.example/"))
        .collect();
    let file = home.path().join("urls.txt");
    std::fs::write(&file, urls.join("\n")).unwrap();
    let env = [
        ("AWS_ENDPOINT_URL".to_owned(), moto.endpoint()),
        ("KUBECONFIG".to_owned(), kubeconfig.display().to_string()),
    ];
    let _load = CpuLoad::start();
    for round in 1..=5 {
        let started = Instant::now();
        let out = trawl_tests::trawl::trawl(
            home.path(),
            &["submit", "--target", "eks", file.to_str().unwrap()],
            &env,
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "round {round}: {stderr}");
        assert!(
            stderr.contains("50/50 final: 0 done, 50 failed"),
            "round {round}: {stderr}"
        );
        let run_id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let records = results_json(home.path(), &run_id, &env);
        assert_eq!(records.len(), 50, "round {round}");
        for r in &records {
            assert_eq!(r.status(), Status::Failed, "round {round}: {r:?}");
            assert!(
                r.error
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("not launched:"),
                "round {round}: {r:?}"
            );
        }
        eprintln!("round {round}: ended in {:?}", started.elapsed());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn watches_of_a_failing_cluster_back_off_and_log_one_line_a_try() {
    let (sim, watch) = failing_cluster_watch(Duration::from_secs(2)).await;
    let window = Duration::from_secs(10);
    tokio::time::sleep(window).await;
    let tries = sim.requests().total();
    drop(watch);
    // Three watches (nodes, pods, NodeClaims), each waiting 50 ms doubling
    // to 2 s (with jitter) between tries: about 15 tries each in 10 s. A
    // backoff that never grows (kube's, reset by the watcher's own `Init`
    // at every try) made hundreds.
    eprintln!("{tries} API requests in {window:?} from 3 failing watches");
    assert!(tries >= 6, "the watches kept trying: {tries}");
    assert!(tries <= 90, "the watches backed off: {tries}");
}

//! The cluster simulator against kubectl and plain HTTP: discovery and
//! tables for kubectl, watches (bookmarks, 410 Gone), pagination,
//! selectors, the ConfigMap limit, and an Indexed Job run end to end by the
//! real worker on Karpenter's nodes.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use trawl_tests::env::safe_command;
use trawl_tests::sim::{Sim, SimOptions, wait_until};

/// One request with `Connection: close`; the status and the JSON body.
fn call(addr: SocketAddr, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        tcp,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).expect("read answer");
    let (head, rest) = raw.split_once("\r\n\r\n").expect("head");
    let code = head[9..12].parse().expect("status code");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (code, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

/// The JSON lines of a watch, read for at most `limit` or until `until`
/// says stop.
fn watch_lines(
    addr: SocketAddr,
    path: &str,
    limit: Duration,
    mut until: impl FnMut(&[Value]) -> bool,
) -> Vec<Value> {
    let mut tcp = TcpStream::connect(addr).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    write!(tcp, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut reader = BufReader::new(tcp);
    let end = Instant::now() + limit;
    let mut events = Vec::new();
    let mut line = String::new();
    while Instant::now() < end {
        match reader.read_line(&mut line) {
            Ok(0) => break,
            // The last chunk: the server ended the stream.
            Ok(_) if line.trim() == "0" => break,
            Ok(_) => {
                // (Chunk sizes such as "123" parse as JSON too: objects only.)
                if let Ok(v @ Value::Object(_)) = serde_json::from_str::<Value>(line.trim()) {
                    events.push(v);
                    if until(&events) {
                        break;
                    }
                }
                line.clear();
            }
            Err(_) => continue,
        }
    }
    events
}

fn kubectl(sim: &Sim, args: &[&str]) -> std::process::Output {
    safe_command("kubectl")
        .arg("--kubeconfig")
        .arg(sim.kubeconfig())
        .args(args)
        .output()
        .expect("run kubectl")
}

fn pod(name: &str, labels: Value) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "trawl", "labels": labels},
        "spec": {"containers": [{"name": "c", "image": "busybox"}]},
    })
}

fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["metadata"]["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn kubectl_lists_and_watches() {
    let sim = Sim::start(SimOptions::default()).unwrap();
    sim.create(pod("web-1", json!({"app": "web"}))).unwrap();
    let out = kubectl(&sim, &["get", "nodes,pods,jobs", "-A", "-o", "wide"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "kubectl failed: {stderr}");
    assert!(stdout.contains("web-1"), "{stdout}\n{stderr}");
    assert!(stdout.contains("NOMINATED NODE"), "wide columns: {stdout}");

    // A bounded watch sees a pod created while it runs.
    let child = safe_command("timeout")
        .args(["5", "kubectl", "--kubeconfig"])
        .arg(sim.kubeconfig())
        .args(["get", "pods", "-n", "trawl", "--watch"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    sim.create(pod("web-2", json!({"app": "web"}))).unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("web-1"), "{stdout}");
    assert!(
        stdout.contains("web-2"),
        "watch missed the new pod: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn configmap_over_one_mib_is_rejected() {
    let sim = Sim::start(SimOptions::default()).unwrap();
    let big = "x".repeat(1024 * 1024 + 1);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "big"}, "data": {"urls": big}});
    let (code, status) = call(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/trawl/configmaps",
        Some(&cm),
    );
    assert_eq!(code, 422, "{status}");
    assert_eq!(status["reason"], "Invalid");
    assert!(
        status["message"]
            .as_str()
            .unwrap()
            .contains("Too long: must have at most 1048576 bytes")
    );
    let small = json!({"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "small"}, "data": {"urls": "a\nb\n"}});
    let (code, _) = call(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/trawl/configmaps",
        Some(&small),
    );
    assert_eq!(code, 201);
    let (code, _) = call(
        sim.addr(),
        "POST",
        "/api/v1/namespaces/trawl/configmaps",
        Some(&small),
    );
    assert_eq!(code, 409, "a second create is AlreadyExists");
}

#[test]
fn pagination_and_selectors() {
    let sim = Sim::start(SimOptions::default()).unwrap();
    for i in 0..7 {
        let tier = if i % 2 == 0 { "even" } else { "odd" };
        sim.create(pod(
            &format!("p-{i}"),
            json!({"tier": tier, "n": i.to_string()}),
        ))
        .unwrap();
    }
    // Pages of 3 with continue tokens cover every pod exactly once.
    let mut seen = Vec::new();
    let mut path = "/api/v1/namespaces/trawl/pods?limit=3".to_owned();
    let mut rvs = Vec::new();
    loop {
        let (code, list) = call(sim.addr(), "GET", &path, None);
        assert_eq!(code, 200, "{list}");
        assert!(names(&list).len() <= 3);
        seen.extend(names(&list));
        rvs.push(list["metadata"]["resourceVersion"].clone());
        match list["metadata"]["continue"].as_str() {
            Some(c) => path = format!("/api/v1/namespaces/trawl/pods?limit=3&continue={c}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7, "{seen:?}");
    assert!(
        rvs.windows(2).all(|w| w[0] == w[1]),
        "one list, one resourceVersion"
    );

    let get = |q: &str| names(&call(sim.addr(), "GET", &format!("/api/v1/pods?{q}"), None).1);
    assert_eq!(get("labelSelector=tier%3Deven").len(), 4);
    assert_eq!(get("labelSelector=tier!%3Deven").len(), 3);
    assert_eq!(get("labelSelector=n+in+(1,2,3)").len(), 3);
    assert_eq!(get("labelSelector=tier,!missing").len(), 7);
    assert_eq!(get("fieldSelector=metadata.name%3Dp-3"), vec!["p-3"]);
    assert_eq!(get("fieldSelector=status.phase%3DPending").len(), 7);
    assert_eq!(get("fieldSelector=spec.nodeName%3Dnowhere").len(), 0);
}

#[test]
fn watch_gone_and_bookmarks() {
    let sim = Sim::start(SimOptions {
        bookmark_interval: Duration::from_millis(200),
        ..SimOptions::default()
    })
    .unwrap();
    sim.create(pod("a", json!({}))).unwrap();
    let (_, list) = call(sim.addr(), "GET", "/api/v1/namespaces/trawl/pods", None);
    let rv = list["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_owned();

    // From the list's resourceVersion: later changes, then bookmarks.
    let addr = sim.addr();
    let path = format!(
        "/api/v1/namespaces/trawl/pods?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
    );
    let watcher = std::thread::spawn(move || {
        watch_lines(addr, &path, Duration::from_secs(5), |evs| {
            evs.iter().any(|e| e["type"] == "ADDED")
                && evs.iter().filter(|e| e["type"] == "BOOKMARK").count() >= 2
        })
    });
    std::thread::sleep(Duration::from_millis(300));
    sim.create(pod("b", json!({}))).unwrap();
    let events = watcher.join().unwrap();
    let added: Vec<_> = events.iter().filter(|e| e["type"] == "ADDED").collect();
    assert_eq!(added.len(), 1, "{events:?}");
    assert_eq!(added[0]["object"]["metadata"]["name"], "b");
    assert!(events.iter().filter(|e| e["type"] == "BOOKMARK").count() >= 2);

    // After a compaction the old resourceVersion is gone: 410 as an ERROR event.
    sim.compact();
    let path = format!("/api/v1/namespaces/trawl/pods?watch=1&resourceVersion={rv}");
    let events = watch_lines(sim.addr(), &path, Duration::from_secs(3), |e| !e.is_empty());
    assert_eq!(events[0]["type"], "ERROR", "{events:?}");
    assert_eq!(events[0]["object"]["code"], 410);
    // ... and an Exact list at it is 410 too.
    let (code, status) = call(
        sim.addr(),
        "GET",
        &format!("/api/v1/pods?resourceVersion={rv}&resourceVersionMatch=Exact"),
        None,
    );
    assert_eq!(code, 410, "{status}");

    // A forced 410 on the next watch, even from a current resourceVersion.
    sim.gone_next_watches(1);
    let now = sim.store().resource_version();
    let path = format!("/api/v1/namespaces/trawl/pods?watch=1&resourceVersion={now}");
    let events = watch_lines(sim.addr(), &path, Duration::from_secs(3), |e| !e.is_empty());
    assert_eq!(events[0]["object"]["code"], 410, "{events:?}");

    // Dropping watches ends open streams.
    let addr = sim.addr();
    let path = format!("/api/v1/namespaces/trawl/pods?watch=1&resourceVersion={now}");
    let started = Instant::now();
    let watcher =
        std::thread::spawn(move || watch_lines(addr, &path, Duration::from_secs(8), |_| false));
    std::thread::sleep(Duration::from_millis(300));
    sim.drop_watches();
    watcher.join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the stream ended on the drop"
    );
}

/// The Indexed Job of DESIGN.md's Kubernetes contract, run by the real
/// worker on nodes Karpenter adds: pool EIPs first, a fallback IP once the
/// pool is empty; every record DONE with its node's IP; nodes go away.
#[test]
fn indexed_job_runs_real_workers_on_karpenter_nodes() {
    use trawl_scraper::record::Status;
    let started = Instant::now();
    let pages = trawl_tests::hostile::HostileServer::start_plain().unwrap();
    let out = tempfile::tempdir().unwrap();
    let pool = ["198.51.100.10", "198.51.100.11"];
    let sim = Sim::start(SimOptions {
        eip_pool: pool.iter().map(|ip| ip.parse().unwrap()).collect(),
        pods_per_node: 2,
        node_delay: Duration::from_millis(300),
        consolidation_delay: Duration::from_secs(1),
        ..SimOptions::default()
    })
    .unwrap();
    let run_id = trawl_tests::worker::test_run_id();
    let urls: Vec<String> = (0..6).map(|i| pages.url(&format!("/page?i={i}"))).collect();
    let name = format!("trawl-{run_id}-0");
    let labels = json!({"app.kubernetes.io/name": "trawl-scraper",
                        "app.kubernetes.io/managed-by": "trawl", "trawl.io/run-id": run_id});
    sim.create(json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": name, "namespace": "trawl", "labels": labels},
                      "data": {"urls": urls.join("\n") + "\n"}}))
        .unwrap();
    let field = |path: &str| json!({"fieldRef": {"apiVersion": "v1", "fieldPath": path}});
    sim.create(json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": name, "namespace": "trawl", "labels": labels},
        "spec": {
            "completionMode": "Indexed", "completions": 6, "parallelism": 6,
            "backoffLimitPerIndex": 1, "ttlSecondsAfterFinished": 1,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never", "serviceAccountName": "trawl-scraper",
                    "nodeSelector": {"trawl.io/pool": "scrapers"},
                    "tolerations": [{"key": "trawl.io/scraper", "operator": "Equal",
                                     "value": "true", "effect": "NoSchedule"}],
                    "activeDeadlineSeconds": 60,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{
                        "name": "scraper", "image": "trawl-scraper:test",
                        "env": [
                            {"name": "TRAWL_RUN_ID", "value": run_id},
                            {"name": "TRAWL_URLS_FILE", "value": "/etc/trawl/urls"},
                            {"name": "TRAWL_SINK", "value": format!("dir:{}", out.path().display())},
                            {"name": "TRAWL_ALLOW_CIDRS", "value": "127.0.0.0/8"},
                            {"name": "TRAWL_NODE_NAME", "valueFrom": field("spec.nodeName")},
                            {"name": "TRAWL_INDEX_FAILURES", "valueFrom":
                                field("metadata.annotations['batch.kubernetes.io/job-index-failure-count']")},
                        ],
                        "volumeMounts": [{"name": "urls", "mountPath": "/etc/trawl", "readOnly": true}],
                        "resources": {"requests": {"cpu": "250m", "memory": "128Mi"},
                                      "limits": {"memory": "256Mi"}},
                        "securityContext": {"readOnlyRootFilesystem": true,
                                            "capabilities": {"drop": ["ALL"]}},
                    }],
                    "volumes": [{"name": "urls", "configMap": {"name": name}}],
                },
            },
        },
    }))
    .unwrap();

    let complete = |sim: &Sim| {
        sim.store().get("jobs", "trawl", &name).is_some_and(|j| {
            j["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["type"] == "Complete" && c["status"] == "True")
            })
        })
    };
    // kubectl sees the nodes, pods and the Job while it runs.
    assert!(wait_until(Duration::from_secs(20), || !sim
        .list("nodes")
        .is_empty()));
    let shown = kubectl(&sim, &["get", "nodes,pods,jobs", "-A", "-o", "wide"]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(
        shown.contains(&name) && shown.contains("ip-10-0-"),
        "{shown}"
    );
    assert!(
        wait_until(Duration::from_secs(40), || complete(&sim)),
        "the Job did not complete: {:#?}",
        sim.store()
            .get("jobs", "trawl", &name)
            .map(|j| j["status"].clone())
    );

    // Every node Karpenter added (from the event history: early ones may be gone).
    let node_ips = sim.node_ips_seen();
    assert_eq!(node_ips.len(), 3, "6 pods at 2 a node: {node_ips:?}");
    let mut ips: Vec<&String> = node_ips.values().collect();
    ips.sort();
    assert_eq!(ips[0], "198.51.100.10");
    assert_eq!(ips[1], "198.51.100.11");
    assert!(
        ips[2].starts_with("203.0.113."),
        "the third node falls back: {ips:?}"
    );

    for url in &urls {
        let r = trawl_tests::worker::stored_record(out.path(), &run_id, url).expect("a record");
        assert_eq!(r.status, Some(Status::Done), "{r:?}");
        let node = r.node.clone().expect("node name");
        assert_eq!(r.egress_ip.as_ref(), node_ips.get(&node), "{r:?}");
    }
    assert_eq!(pages.hits("/page"), 6);

    // ttlSecondsAfterFinished removes the Job and its pods; empty nodes go.
    assert!(wait_until(Duration::from_secs(15), || {
        sim.store().get("jobs", "trawl", &name).is_none()
            && sim.list("pods").is_empty()
            && sim.list("nodes").is_empty()
            && sim.list("nodeclaims").is_empty()
    }));
    eprintln!("end to end in {:?}", started.elapsed());
}

fn pool_pod(name: &str, url: &str, out: &std::path::Path, extra: Value) -> Value {
    let mut p = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "trawl"},
        "spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"trawl.io/pool": "scrapers"},
            "tolerations": [{"key": "trawl.io/scraper", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"name": "scraper", "image": "trawl-scraper:test", "env": [
                {"name": "TRAWL_URL", "value": url},
                {"name": "TRAWL_RUN_ID", "value": trawl_tests::worker::test_run_id()},
                {"name": "TRAWL_SINK", "value": format!("dir:{}", out.display())},
                {"name": "TRAWL_ALLOW_CIDRS", "value": "127.0.0.0/8"},
            ]}],
        },
    });
    trawl_tests::sim::api::merge_patch(&mut p, &extra);
    p
}

fn pod_state(sim: &Sim, name: &str) -> Value {
    sim.store()
        .get("pods", "trawl", name)
        .unwrap_or(Value::Null)
}

/// The ways a pod fails reach its status as a real cluster reports them;
/// the request faults answer as the API server would.
#[test]
fn pod_failures_and_request_faults() {
    let pages = trawl_tests::hostile::HostileServer::start_plain().unwrap();
    let out = tempfile::tempdir().unwrap();
    let sim = Sim::start(SimOptions {
        node_delay: Duration::from_millis(100),
        ..SimOptions::default()
    })
    .unwrap();
    sim.oom_kill("oom-");
    sim.fail_image_pull("pull-");
    let page = pages.url("/page");
    sim.create(pool_pod("ok-1", &page, out.path(), json!({})))
        .unwrap();
    sim.create(pool_pod("oom-1", &page, out.path(), json!({})))
        .unwrap();
    sim.create(pool_pod("pull-1", &page, out.path(), json!({})))
        .unwrap();
    sim.create(pool_pod(
        "slow-1",
        &pages.url("/drip?secs=30"),
        out.path(),
        json!({"spec": {"activeDeadlineSeconds": 1}}),
    ))
    .unwrap();
    sim.create(pool_pod(
        "nowhere-1",
        &page,
        out.path(),
        json!({"spec": {"nodeSelector": {"trawl.io/pool": "other"}}}),
    ))
    .unwrap();
    let phase = |n: &str| {
        pod_state(&sim, n)["status"]["phase"]
            .as_str()
            .map(str::to_owned)
    };
    assert!(
        wait_until(Duration::from_secs(20), || {
            phase("ok-1").as_deref() == Some("Succeeded")
                && phase("oom-1").as_deref() == Some("Failed")
                && phase("slow-1").as_deref() == Some("Failed")
        }),
        "{:#?}",
        sim.list("pods")
    );
    let term = |n: &str| {
        pod_state(&sim, n)["status"]["containerStatuses"][0]["state"]["terminated"].clone()
    };
    assert_eq!(term("ok-1")["reason"], "Completed");
    assert_eq!(term("oom-1")["reason"], "OOMKilled");
    assert_eq!(term("oom-1")["exitCode"], 137);
    assert_eq!(
        pod_state(&sim, "slow-1")["status"]["reason"],
        "DeadlineExceeded"
    );
    assert!(wait_until(Duration::from_secs(5), || {
        pod_state(&sim, "pull-1")["status"]["containerStatuses"][0]["state"]["waiting"]["reason"]
            == "ImagePullBackOff"
    }));
    assert_eq!(phase("pull-1").as_deref(), Some("Pending"));
    let sched = pod_state(&sim, "nowhere-1")["status"]["conditions"][0].clone();
    assert_eq!(sched["reason"], "Unschedulable", "{sched}");
    assert!(
        sched["message"]
            .as_str()
            .unwrap()
            .contains("didn't match Pod's node affinity/selector"),
        "{sched}"
    );
    assert_eq!(
        sim.list("nodes").len(),
        1,
        "no node for a pod the pool cannot take"
    );
    // The node's kubelet gave the worker the node's IP through /checkip.
    let node = sim.list("nodes").remove(0);
    let (_, log) = call(
        sim.addr(),
        "GET",
        "/api/v1/namespaces/trawl/pods/ok-1/log",
        None,
    );
    let _ = log;
    let ip = node["status"]["addresses"][1]["address"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        ip.starts_with("203.0.113."),
        "no pool: a fallback IP ({ip})"
    );
    assert_eq!(node["metadata"]["labels"]["trawl.io/eip"], "fallback");

    // Deleting a running pod: marked, then removed once its process is killed.
    let (code, _) = call(
        sim.addr(),
        "DELETE",
        "/api/v1/namespaces/trawl/pods/pull-1",
        None,
    );
    assert_eq!(code, 200);
    assert!(wait_until(Duration::from_secs(5), || pod_state(
        &sim, "pull-1"
    )
    .is_null()));

    // 429 with Retry-After, and 500, to the chosen fraction of requests.
    sim.set_throttle_fraction(1.0);
    let (code, status) = call(sim.addr(), "GET", "/api/v1/pods", None);
    assert_eq!(
        (code, status["reason"].as_str()),
        (429, Some("TooManyRequests"))
    );
    sim.set_throttle_fraction(0.0);
    sim.set_error_fraction(1.0);
    assert_eq!(call(sim.addr(), "GET", "/api/v1/pods", None).0, 500);
    sim.clear_faults();
    assert_eq!(call(sim.addr(), "GET", "/api/v1/pods", None).0, 200);
    sim.set_delay(Duration::from_millis(300));
    let t = Instant::now();
    assert_eq!(call(sim.addr(), "GET", "/api/v1/pods", None).0, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    sim.clear_faults();
}

/// Deleting a Job: Background takes its pods along, Orphan leaves them.
#[test]
fn job_delete_propagation() {
    let sim = Sim::start(SimOptions::default()).unwrap();
    let job = |name: &str| {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": "trawl"},
               "spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 3,
                        "template": {"spec": {
                            "nodeSelector": {"nowhere": "true"},
                            "containers": [{"name": "c", "image": "x"}]}}}})
    };
    sim.create(job("bg")).unwrap();
    sim.create(job("orphan")).unwrap();
    let pods_of = |j: &str| {
        sim.list("pods")
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["batch.kubernetes.io/job-name"] == j)
            .collect::<Vec<_>>()
    };
    assert!(wait_until(Duration::from_secs(5), || pods_of("bg").len()
        == 3
        && pods_of("orphan").len() == 3));
    let p = &pods_of("bg")[0];
    let index = p["metadata"]["labels"]["batch.kubernetes.io/job-completion-index"]
        .as_str()
        .unwrap();
    assert!(
        p["metadata"]["name"]
            .as_str()
            .unwrap()
            .starts_with(&format!("bg-{index}-"))
    );
    assert_eq!(
        p["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"],
        index
    );
    let (code, _) = call(
        sim.addr(),
        "DELETE",
        "/apis/batch/v1/namespaces/trawl/jobs/bg",
        Some(
            &json!({"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}),
        ),
    );
    assert_eq!(code, 200);
    let (code, _) = call(
        sim.addr(),
        "DELETE",
        "/apis/batch/v1/namespaces/trawl/jobs/orphan?propagationPolicy=Orphan",
        None,
    );
    assert_eq!(code, 200);
    assert!(wait_until(Duration::from_secs(5), || pods_of("bg").is_empty()));
    std::thread::sleep(Duration::from_millis(300));
    let orphans = pods_of("orphan");
    assert_eq!(orphans.len(), 3);
    assert!(
        orphans
            .iter()
            .all(|p| p["metadata"]["ownerReferences"].is_null())
    );
    assert_eq!(
        call(
            sim.addr(),
            "GET",
            "/apis/batch/v1/namespaces/trawl/jobs/bg",
            None
        )
        .0,
        404
    );
}

/// A large seeded cluster (API server alone): 10,000 pods in pages of 500.
#[test]
fn large_list_in_pages() {
    let sim = Sim::start(SimOptions {
        controllers: false,
        ..SimOptions::default()
    })
    .unwrap();
    for i in 0..10_000 {
        let mut p = pod(
            &format!("p-{i:05}"),
            json!({"app.kubernetes.io/managed-by": "trawl"}),
        );
        p["spec"]["nodeName"] = json!(format!("node-{}", i % 500));
        sim.create(p).unwrap();
    }
    let started = Instant::now();
    let mut count = 0;
    let mut path =
        "/api/v1/pods?limit=500&labelSelector=app.kubernetes.io/managed-by%3Dtrawl".to_owned();
    loop {
        let (code, list) = call(sim.addr(), "GET", &path, None);
        assert_eq!(code, 200);
        count += names(&list).len();
        match list["metadata"]["continue"].as_str() {
            Some(c) => {
                path = format!(
                    "/api/v1/pods?limit=500&labelSelector=app.kubernetes.io/managed-by%3Dtrawl&continue={c}"
                )
            }
            None => break,
        }
    }
    assert_eq!(count, 10_000);
    let on_node = names(
        &call(
            sim.addr(),
            "GET",
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-7",
            None,
        )
        .1,
    );
    assert_eq!(on_node.len(), 20);
    eprintln!("10,000 pods listed in {:?}", started.elapsed());
}

/// `trawl-sim` by hand: it writes its kubeconfig, kubectl reaches it, an
/// apply-patch creates once and then merges, and SIGTERM stops it.
#[test]
fn trawl_sim_binary_serves_until_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let kc = dir.path().join("kubeconfig");
    let mut child = safe_command(env!("CARGO_BIN_EXE_trawl-sim"))
        .args(["--port", "0", "--node-delay-ms", "100", "--kubeconfig"])
        .arg(&kc)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || kc.exists()));
    let out = safe_command("kubectl")
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["get", "namespaces", "-o", "name"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("namespace/trawl"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = std::fs::read_to_string(&kc).unwrap();
    let addr: SocketAddr = server
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: http://"))
        .unwrap()
        .parse()
        .unwrap();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {"urls": "a\n"}});
    let apply = |body: &Value| {
        let mut tcp = TcpStream::connect(addr).unwrap();
        let body = body.to_string();
        write!(
            tcp,
            "PATCH /api/v1/namespaces/trawl/configmaps/c?fieldManager=t HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/apply-patch+yaml\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut raw = String::new();
        tcp.read_to_string(&mut raw).unwrap();
        raw[9..12].to_owned()
    };
    assert_eq!(apply(&cm), "201");
    assert_eq!(apply(&cm), "200");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let end = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < end, "trawl-sim did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The aws sink: the pods' env names the bucket and table, `pod_env` points
/// the SDK at moto; records land in DynamoDB with their node's EIP.
#[test]
fn workers_write_to_moto_with_their_node_eip() {
    let moto = trawl_tests::moto::Moto::start().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        moto.create_bucket("sim-bodies").await.unwrap();
        moto.create_results_table("sim-results").await.unwrap();
    });
    let pages = trawl_tests::hostile::HostileServer::start_plain().unwrap();
    let sim = Sim::start(SimOptions {
        eip_pool: vec!["198.51.100.20".parse().unwrap()],
        node_delay: Duration::from_millis(100),
        pod_env: moto.env(),
        ..SimOptions::default()
    })
    .unwrap();
    let run_id = trawl_tests::worker::test_run_id();
    let urls: Vec<String> = (0..2)
        .map(|i| pages.url(&format!("/page?aws={i}")))
        .collect();
    for (i, url) in urls.iter().enumerate() {
        let out = std::path::Path::new("/nonexistent");
        let mut p = pool_pod(&format!("aws-{i}"), url, out, json!({}));
        p["spec"]["containers"][0]["env"] = json!([
            {"name": "TRAWL_URL", "value": url},
            {"name": "TRAWL_RUN_ID", "value": run_id},
            {"name": "TRAWL_SINK", "value": "aws"},
            {"name": "TRAWL_BUCKET", "value": "sim-bodies"},
            {"name": "TRAWL_TABLE", "value": "sim-results"},
            {"name": "TRAWL_ALLOW_CIDRS", "value": "127.0.0.0/8"},
            {"name": "TRAWL_NODE_NAME", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
        ]);
        sim.create(p).unwrap();
    }
    let done = |n: &str| {
        sim.store()
            .get("pods", "trawl", n)
            .is_some_and(|p| p["status"]["phase"] == "Succeeded")
    };
    assert!(
        wait_until(Duration::from_secs(30), || done("aws-0") && done("aws-1")),
        "{:#?}",
        sim.list("pods")
    );
    let ips = sim.node_ips_seen();
    for url in &urls {
        let r = rt
            .block_on(moto.record("sim-results", &run_id, url))
            .expect("a record");
        assert_eq!(r.status, Some(trawl_scraper::record::Status::Done), "{r:?}");
        assert_eq!(r.egress_ip.as_deref(), Some("198.51.100.20"));
        assert_eq!(r.egress_ip.as_ref(), ips.get(r.node.as_deref().unwrap()));
    }
}

/// A watch with a label selector: a pod that stops matching is DELETED for
/// that watcher, one that starts matching is ADDED.
#[test]
fn watch_selector_transitions() {
    // The API server alone: no scheduler or Karpenter touching the pod, so
    // the only events are the ones this test causes.
    let sim = Sim::start(SimOptions {
        controllers: false,
        ..SimOptions::default()
    })
    .unwrap();
    let rv = sim.store().resource_version();
    let addr = sim.addr();
    let path = format!(
        "/api/v1/namespaces/trawl/pods?watch=1&resourceVersion={rv}&labelSelector=tier%3Da"
    );
    let watcher = std::thread::spawn(move || {
        watch_lines(addr, &path, Duration::from_secs(5), |evs| evs.len() >= 3)
    });
    std::thread::sleep(Duration::from_millis(200));
    sim.create(pod("x", json!({"tier": "a"}))).unwrap();
    let patch = |tier: &str| {
        let (code, _) = call(
            sim.addr(),
            "PATCH",
            "/api/v1/namespaces/trawl/pods/x",
            Some(&json!({"metadata": {"labels": {"tier": tier}}})),
        );
        assert_eq!(code, 200);
    };
    patch("b");
    patch("a");
    let types: Vec<String> = watcher
        .join()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["ADDED", "DELETED", "ADDED"]);
}

//! EKS watch figures (prints them; the only pass/fail is that the map sees
//! the whole cluster): the whole watching process against a large cluster,
//! 500 scraper nodes and 10,000 Job pods as the API server serves them
//! (spec with env, volumes and tolerations, status with conditions and
//! containerStatuses, a managedFields entry; mixed phases) on the cluster
//! simulator's API server alone. The pods are lean Job pods, about 4.6 KB
//! of JSON (no service-account token volume, the controller's
//! managedFields entry for metadata only); `TRAWL_BENCH_WATCH_FULL_PODS=1`
//! seeds them as a default EKS cluster serves them, about 6 KB (see
//! `add_full_fields`).
//!
//! Each round re-executes this binary as a child (the safe environment of
//! `trawl_tests::env`, `TRAWL_BENCH_WATCH_CHILD=1`): a tokio runtime with 2
//! worker threads like the TUI's, a kube client from the simulator's
//! kubeconfig, `ClusterWatch::start`, wait for a synced snapshot with every
//! node and pod, `map::fleet` once. The child prints one line the parent
//! reads: time from its start to the first complete map (goal: under 2 s),
//! and VmRSS / VmHWM from /proc/self/status (goal: RSS under 40 MiB), at
//! start, right after the map (with RssAnon / RssFile) and 2 s later.
//! `GLIBC_TUNABLES` is passed on to the child, for allocator experiments.
//!
//! Run: `scripts/bench` (or `cargo bench -p trawl-tests --bench eks_watch`).

use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};
use trawl_tests::figures::spread;
use trawl_tests::sim::store::resource;
use trawl_tests::sim::{Sim, SimOptions};

const NODES: usize = 500;
const PODS: usize = 10_000;
const ROUNDS: usize = 3;
const CHILD_ENV: &str = "TRAWL_BENCH_WATCH_CHILD";
const KUBECONFIG_ENV: &str = "TRAWL_BENCH_WATCH_KUBECONFIG";
const RUN_ID: &str = "r-20261124-100000-b3nc";
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/trawl-scraper:v1";
const LINE_PREFIX: &str = "EKS_WATCH_CHILD";
const FULL_PODS_ENV: &str = "TRAWL_BENCH_WATCH_FULL_PODS";

fn main() {
    if std::env::var_os(CHILD_ENV).is_some() {
        child();
    } else {
        parent();
    }
}

// ---------------------------------------------------------------- parent

fn parent() {
    let sim = Sim::start(SimOptions {
        controllers: false,
        max_nodes: 0,
        // Seeding writes 10,500 events; none is watched from the past.
        history: 16,
        // No pod ever runs (no controllers); the binary is never started.
        worker_bin: Some("/bin/false".into()),
        ..SimOptions::default()
    })
    .unwrap();
    let full = std::env::var(FULL_PODS_ENV).is_ok_and(|v| v == "1");
    let seeding = Instant::now();
    seed(&sim, full);
    let seeded = seeding.elapsed();

    // What a list of the pods weighs on the wire (one unpaged list).
    let list = http_get(
        sim.addr(),
        "/api/v1/namespaces/trawl/pods?labelSelector=app.kubernetes.io%2Fmanaged-by%3Dtrawl",
    );
    let served: Value = serde_json::from_slice(&list).unwrap();
    assert_eq!(served["items"].as_array().unwrap().len(), PODS);
    drop(served);
    let node_list = http_get(
        sim.addr(),
        "/api/v1/nodes?labelSelector=trawl.io%2Fpool%3Dscrapers",
    );

    let exe = std::env::current_exe().unwrap();
    let mut rounds = Vec::new();
    for round in 0..ROUNDS {
        sim.reset_request_counts();
        let mut child = trawl_tests::env::safe_command(&exe);
        // Allocator experiments (e.g. glibc.malloc.mmap_threshold) reach
        // the child.
        if let Some(t) = std::env::var_os("GLIBC_TUNABLES") {
            child.env("GLIBC_TUNABLES", t);
        }
        let out = child
            .env(CHILD_ENV, "1")
            .env(KUBECONFIG_ENV, sim.kubeconfig())
            .env("KUBECONFIG", sim.kubeconfig())
            .stderr(std::process::Stdio::inherit())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "child failed: {stdout}");
        let line = stdout
            .lines()
            .find(|l| l.starts_with(LINE_PREFIX))
            .unwrap_or_else(|| panic!("no figures from the child: {stdout}"));
        let figures: BTreeMap<String, f64> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect();
        let requests = sim.requests();
        println!(
            "  round {}: {line} | API requests: {} GET (list pages, discovery), {} watches",
            round + 1,
            requests.get,
            requests.watch
        );
        rounds.push(figures);
    }

    let col = |k: &str| -> Vec<f64> { rounds.iter().map(|r| r[k]).collect() };
    let mib = |v: Vec<f64>| -> Vec<f64> { v.into_iter().map(|k| k / 1024.0).collect() };
    println!(
        "EKS watch ({NODES} nodes, {PODS} {} pods, {ROUNDS} rounds; child process: 2 worker threads, ClusterWatch + map::fleet):",
        if full { "full" } else { "lean" }
    );
    println!(
        "  cluster seeded in {:.1} s; JSON served: {:.0} bytes per pod ({:.1} MiB for the pod list), {:.0} bytes per node",
        seeded.as_secs_f64(),
        list.len() as f64 / PODS as f64,
        list.len() as f64 / (1024.0 * 1024.0),
        node_list.len() as f64 / NODES as f64
    );
    println!(
        "  first complete map: {} (goal: under 2 s)",
        spread(&col("first_map_ms"), " ms", 0)
    );
    println!(
        "  VmRSS at child start: {}",
        spread(&mib(col("start_rss_kib")), " MiB", 1)
    );
    println!(
        "  VmRSS after the map: {} (goal: under 40 MiB)",
        spread(&mib(col("rss_kib")), " MiB", 1)
    );
    println!(
        "    of which anonymous (heap): {}; file-backed (the binary): {}",
        spread(&mib(col("anon_kib")), " MiB", 1),
        spread(&mib(col("file_kib")), " MiB", 1)
    );
    println!(
        "  VmRSS 2 s later: {}",
        spread(&mib(col("later_rss_kib")), " MiB", 1)
    );
    println!(
        "  VmHWM (peak): {}",
        spread(&mib(col("hwm_kib")), " MiB", 1)
    );
}

/// The body of a plain HTTP/1.0 GET on the simulator.
fn http_get(addr: std::net::SocketAddr, path: &str) -> Vec<u8> {
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    write!(
        tcp,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    tcp.read_to_end(&mut raw).unwrap();
    let head = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("an HTTP answer");
    assert!(raw.starts_with(b"HTTP/1.0 200") || raw.starts_with(b"HTTP/1.1 200"));
    raw.split_off(head + 4)
}

fn seed(sim: &Sim, full: bool) {
    let nodes = resource("", "nodes").unwrap();
    let pods = resource("", "pods").unwrap();
    let store = sim.store();
    for i in 0..NODES {
        store.create(nodes, node(i)).unwrap();
    }
    // Objects go in through the store, not `Sim::create`: the API's create
    // would reset each pod's status to Pending.
    let mut bytes = 0;
    for i in 0..PODS {
        let p = pod(i, full);
        bytes += p.to_string().len();
        store.create(pods, p).unwrap();
    }
    let mean = bytes / PODS;
    let expected = if full { 5_500..6_500 } else { 4_000..5_000 };
    assert!(
        expected.contains(&mean),
        "pods weigh {mean} bytes of JSON, not {expected:?}"
    );
}

fn node_name(i: usize) -> String {
    format!("ip-10-0-{}-{}.ec2.internal", 16 + i / 250, 4 + i % 250)
}

fn node(i: usize) -> Value {
    let name = node_name(i);
    let internal = format!("10.0.{}.{}", 16 + i / 250, 4 + i % 250);
    // Documentation ranges for the public side (RFC 5737).
    let external = if i < 250 {
        format!("198.51.100.{}", 1 + i)
    } else {
        format!("203.0.113.{}", 1 + i - 250)
    };
    let (instance, capacity) = match i % 4 {
        0 => ("t3.small", "on-demand"),
        1 | 2 => ("t3.small", "spot"),
        _ => ("t3a.small", "spot"),
    };
    let zone = ["us-east-1a", "us-east-1b", "us-east-1c"][i % 3];
    let ready = i % 50 != 7;
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/instance-type": instance,
                "beta.kubernetes.io/os": "linux",
                "failure-domain.beta.kubernetes.io/region": "us-east-1",
                "failure-domain.beta.kubernetes.io/zone": zone,
                "k8s.io/cloud-provider-aws": "0123456789abcdef0123456789abcdef",
                "karpenter.k8s.aws/instance-category": "t",
                "karpenter.k8s.aws/instance-cpu": "2",
                "karpenter.k8s.aws/instance-family": instance.split('.').next().unwrap(),
                "karpenter.k8s.aws/instance-generation": "3",
                "karpenter.k8s.aws/instance-memory": "2048",
                "karpenter.k8s.aws/instance-size": "small",
                "karpenter.sh/capacity-type": capacity,
                "karpenter.sh/initialized": "true",
                "karpenter.sh/nodepool": "scrapers",
                "karpenter.sh/registered": "true",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "node.kubernetes.io/instance-type": instance,
                "topology.kubernetes.io/region": "us-east-1",
                "topology.kubernetes.io/zone": zone,
                "trawl.io/eip": if i < 480 { "pool" } else { "fallback" },
                "trawl.io/pool": "scrapers",
            },
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": internal,
                "karpenter.k8s.aws/ec2nodeclass-hash": "4817436245631227093",
                "karpenter.sh/nodepool-hash": "12393960163388511505",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
            "finalizers": ["karpenter.sh/termination"],
            "ownerReferences": [{
                "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
                "name": format!("scrapers-{i:05}"),
                "uid": format!("6a1f0c52-0000-4000-8000-{i:012x}"),
                "blockOwnerDeletion": true,
            }],
        },
        "spec": {
            "providerID": format!("aws:///{zone}/i-0{i:016x}"),
            "taints": [{"key": "trawl.io/scraper", "value": "true", "effect": "NoSchedule"}],
        },
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": internal},
                {"type": "ExternalIP", "address": external},
                {"type": "InternalDNS", "address": name},
                {"type": "Hostname", "address": name},
            ],
            "allocatable": {"cpu": "1930m", "ephemeral-storage": "18242267924", "memory": "1448272Ki", "pods": "11"},
            "capacity": {"cpu": "2", "ephemeral-storage": "20893676Ki", "memory": "1999184Ki", "pods": "11"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available", "lastHeartbeatTime": "2026-11-24T10:00:00Z", "lastTransitionTime": "2026-11-24T09:00:00Z"},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure", "lastHeartbeatTime": "2026-11-24T10:00:00Z", "lastTransitionTime": "2026-11-24T09:00:00Z"},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available", "lastHeartbeatTime": "2026-11-24T10:00:00Z", "lastTransitionTime": "2026-11-24T09:00:00Z"},
                if ready {
                    json!({"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": "2026-11-24T10:00:00Z", "lastTransitionTime": "2026-11-24T09:00:30Z"})
                } else {
                    json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": "container runtime network not ready: NetworkReady=false", "lastHeartbeatTime": "2026-11-24T10:00:00Z", "lastTransitionTime": "2026-11-24T09:00:30Z"})
                },
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "bootID": format!("b00710d0-0000-4000-8000-{i:012x}"),
                "containerRuntimeVersion": "containerd://1.7.27", "kernelVersion": "6.1.141-155.222.amzn2023.x86_64",
                "kubeProxyVersion": "", "kubeletVersion": "v1.33.1-eks-b9364f6",
                "machineID": format!("ec2{i:029x}"), "operatingSystem": "linux",
                "osImage": "Amazon Linux 2023.7.20250623", "systemUUID": format!("ec2{i:05x}-0000-0000-0000-000000000000"),
            },
        },
    })
}

fn pod(i: usize, full: bool) -> Value {
    let chunk = i / 5_000;
    let index = i % 5_000;
    let job = format!("trawl-{RUN_ID}-{chunk}");
    let job_uid = format!("0b5e7d3a-0000-4000-8000-{chunk:012x}");
    let name = format!("{job}-{index}-{}", ["x7k2p", "q9d4m", "b2n8w"][i % 3]);
    let node = node_name(i % NODES);
    let host_ip = format!("10.0.{}.{}", 16 + (i % NODES) / 250, 4 + (i % NODES) % 250);
    let pod_ip = format!("10.0.{}.{}", 64 + i / 250, i % 250 + 4);
    let failures = u32::from(i % 10 == 9);
    let t0 = "2026-11-24T10:00:00Z";
    let t1 = "2026-11-24T10:00:03Z";
    let t2 = "2026-11-24T10:00:41Z";
    let container_id = format!("containerd://{:064x}", i as u128 * 0x9e37_79b9_7f4a_7c15);
    let (phase, ready, state, conditions_ready) = match i % 10 {
        0..=5 => (
            "Running",
            true,
            json!({"running": {"startedAt": t1}}),
            "True",
        ),
        6 | 7 => (
            "Succeeded",
            false,
            json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": t1, "finishedAt": t2, "containerID": container_id}}),
            "False",
        ),
        8 => (
            "Pending",
            false,
            json!({"waiting": {"reason": "ContainerCreating"}}),
            "False",
        ),
        _ => (
            "Failed",
            false,
            json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": t1, "finishedAt": t2, "containerID": container_id}}),
            "False",
        ),
    };
    let condition = |type_: &str, status: &str| json!({"type": type_, "status": status, "lastTransitionTime": t1});
    let mut status = json!({
        "phase": phase,
        "conditions": [
            condition("PodReadyToStartContainers", if phase == "Pending" { "False" } else { "True" }),
            condition("Initialized", "True"),
            condition("Ready", conditions_ready),
            condition("ContainersReady", conditions_ready),
            condition("PodScheduled", "True"),
        ],
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "startTime": t0,
        "containerStatuses": [{
            "name": "scraper",
            "state": state,
            "lastState": {},
            "ready": ready,
            "restartCount": 0,
            "image": IMAGE,
            "imageID": format!("{}@sha256:{:064x}", IMAGE.split(':').next().unwrap(), 0x5eed_u64),
            "started": phase == "Running",
        }],
        "qosClass": "Burstable",
    });
    if phase != "Pending" {
        status["podIP"] = json!(pod_ip);
        status["podIPs"] = json!([{"ip": pod_ip}]);
        status["containerStatuses"][0]["containerID"] = json!(container_id);
    }
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": format!("{job}-{index}-"),
            "namespace": "trawl",
            "labels": {
                "app.kubernetes.io/managed-by": "trawl",
                "app.kubernetes.io/name": "trawl-scraper",
                "trawl.io/run-id": RUN_ID,
                "batch.kubernetes.io/controller-uid": job_uid,
                "batch.kubernetes.io/job-completion-index": index.to_string(),
                "batch.kubernetes.io/job-name": job,
                "controller-uid": job_uid,
                "job-name": job,
            },
            "annotations": {
                "batch.kubernetes.io/job-completion-index": index.to_string(),
                "batch.kubernetes.io/job-index-failure-count": failures.to_string(),
            },
            "ownerReferences": [{
                "apiVersion": "batch/v1", "kind": "Job", "name": job, "uid": job_uid,
                "controller": true, "blockOwnerDeletion": true,
            }],
            "finalizers": ["batch.kubernetes.io/job-tracking"],
            "managedFields": [{
                "manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                "time": t0, "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {
                        "f:annotations": {".": {}, "f:batch.kubernetes.io/job-completion-index": {}, "f:batch.kubernetes.io/job-index-failure-count": {}},
                        "f:finalizers": {".": {}, "v:\"batch.kubernetes.io/job-tracking\"": {}},
                        "f:generateName": {},
                        "f:labels": {".": {}, "f:app.kubernetes.io/managed-by": {}, "f:app.kubernetes.io/name": {}, "f:batch.kubernetes.io/controller-uid": {}, "f:batch.kubernetes.io/job-completion-index": {}, "f:batch.kubernetes.io/job-name": {}, "f:controller-uid": {}, "f:job-name": {}, "f:trawl.io/run-id": {}},
                        "f:ownerReferences": {".": {}, format!("k:{{\"uid\":\"{job_uid}\"}}"): {}},
                    },
                },
            }],
        },
        "spec": {
            "volumes": [{"name": "urls", "configMap": {"name": job, "defaultMode": 420}}],
            "containers": [{
                "name": "scraper",
                "image": IMAGE,
                "env": [
                    {"name": "TRAWL_RUN_ID", "value": RUN_ID},
                    {"name": "TRAWL_URLS_FILE", "value": "/etc/trawl/urls"},
                    {"name": "TRAWL_SINK", "value": "aws"},
                    {"name": "TRAWL_BUCKET", "value": "trawl-content-abc123"},
                    {"name": "TRAWL_TABLE", "value": "trawl-results"},
                    {"name": "AWS_REGION", "value": "us-east-1"},
                    {"name": "TRAWL_NODE_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "spec.nodeName"}}},
                    {"name": "TRAWL_INDEX_FAILURES", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations['batch.kubernetes.io/job-index-failure-count']"}}},
                ],
                "resources": {"limits": {"memory": "256Mi"}, "requests": {"cpu": "250m", "memory": "128Mi"}},
                "volumeMounts": [{"name": "urls", "readOnly": true, "mountPath": "/etc/trawl"}],
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
                "imagePullPolicy": "IfNotPresent",
                "securityContext": {"capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false},
            }],
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 30,
            "activeDeadlineSeconds": 600,
            "dnsPolicy": "ClusterFirst",
            "nodeSelector": {"trawl.io/pool": "scrapers"},
            "serviceAccountName": "trawl-scraper",
            "serviceAccount": "trawl-scraper",
            "nodeName": node,
            "securityContext": {"runAsUser": 65532, "runAsGroup": 65532, "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "hostname": format!("{job}-{index}"),
            "schedulerName": "default-scheduler",
            "automountServiceAccountToken": false,
            "tolerations": [
                {"key": "trawl.io/scraper", "operator": "Equal", "value": "true", "effect": "NoSchedule"},
            ],
            "priority": 0,
            "enableServiceLinks": true,
            "preemptionPolicy": "PreemptLowerPriority",
        },
        "status": status,
    });
    if full {
        add_full_fields(&mut pod, i);
    }
    pod
}

/// What a default EKS cluster adds to a Job pod besides the lean fields:
/// the service-account token volume and its mounts, admission's default
/// tolerations, the Indexed Job's `JOB_COMPLETION_INDEX`, conditions'
/// `lastProbeTime`, and the managedFields of the spec.
fn add_full_fields(pod: &mut Value, i: usize) {
    let token_volume = format!("kube-api-access-{}", ["t8k2w", "m4q7z", "c9v3x"][i % 3]);
    let spec = &mut pod["spec"];
    spec.as_object_mut()
        .unwrap()
        .remove("automountServiceAccountToken");
    spec["volumes"].as_array_mut().unwrap().push(json!(
        {"name": token_volume, "projected": {"sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ], "defaultMode": 420}}
    ));
    let container = &mut spec["containers"][0];
    container["env"].as_array_mut().unwrap().push(json!(
        {"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}}
    ));
    container["volumeMounts"].as_array_mut().unwrap().push(json!(
        {"name": token_volume, "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}
    ));
    spec["tolerations"].as_array_mut().unwrap().extend([
        json!({"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
        json!({"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}),
    ]);
    pod["status"]["containerStatuses"][0]["volumeMounts"] = json!([
        {"name": "urls", "mountPath": "/etc/trawl", "readOnly": true, "recursiveReadOnly": "Disabled"},
        {"name": token_volume, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount", "readOnly": true, "recursiveReadOnly": "Disabled"},
    ]);
    for c in pod["status"]["conditions"].as_array_mut().unwrap() {
        c["lastProbeTime"] = Value::Null;
    }
    pod["metadata"]["managedFields"][0]["fieldsV1"]["f:spec"] = json!({
        "f:activeDeadlineSeconds": {},
        "f:containers": {"k:{\"name\":\"scraper\"}": {".": {}, "f:env": {}, "f:image": {}, "f:imagePullPolicy": {}, "f:name": {}, "f:resources": {}, "f:securityContext": {}, "f:volumeMounts": {}}},
        "f:nodeSelector": {}, "f:restartPolicy": {}, "f:securityContext": {}, "f:serviceAccountName": {}, "f:tolerations": {}, "f:volumes": {},
    });
}

// ----------------------------------------------------------------- child

/// VmRSS and VmHWM of this process, in KiB.
fn memory_kib() -> (u64, u64) {
    let m = proc_status_kib(&["VmRSS:", "VmHWM:"]);
    (m[0], m[1])
}

/// Fields of /proc/self/status, in KiB.
fn proc_status_kib<const N: usize>(names: &[&str; N]) -> [u64; N] {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    names.map(field)
}

fn child() {
    let started = Instant::now();
    let kubeconfig = std::env::var(KUBECONFIG_ENV).expect("the simulator's kubeconfig");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (start_rss, _) = memory_kib();
    runtime.block_on(watch(Path::new(&kubeconfig), started, start_rss));
}

async fn watch(kubeconfig: &Path, started: Instant, start_rss: u64) {
    use trawl::targets::eks::map;
    use trawl::targets::eks::watch::{ClusterWatch, WatchOptions};
    let client = trawl_tests::trawl::kube_client(kubeconfig).await;
    let cluster = ClusterWatch::start(client, WatchOptions::new("trawl"));
    let mut rx = cluster.subscribe();
    let complete = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            {
                let s = rx.borrow_and_update();
                if s.synced && s.nodes.len() == NODES && s.pods.len() == PODS {
                    return s.clone();
                }
            }
            rx.changed().await.expect("the watch runs");
        }
    })
    .await
    .expect("a complete map within 60 s");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let fleet = map::fleet(&complete, now, 120, &HashSet::new());
    let first_map = started.elapsed();
    drop(complete);
    let rows = fleet.nodes.len();
    let pods: usize = fleet.nodes.iter().map(|n| n.pods.total()).sum();
    let (rss, hwm) = memory_kib();
    let [anon, file] = proc_status_kib(&["RssAnon:", "RssFile:"]);
    drop(fleet);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (later_rss, later_hwm) = memory_kib();
    assert_eq!(cluster.current().pods.len(), PODS);
    println!(
        "{LINE_PREFIX} first_map_ms={:.0} start_rss_kib={start_rss} rss_kib={rss} hwm_kib={} later_rss_kib={later_rss} anon_kib={anon} file_kib={file} rows={rows} pods_on_map={pods}",
        first_map.as_secs_f64() * 1000.0,
        hwm.max(later_hwm),
    );
}

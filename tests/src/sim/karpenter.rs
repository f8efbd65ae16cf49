//! Karpenter, one NodePool: pods the scheduler marked Unschedulable that a
//! node of the pool would take (nodeSelector against the pool's labels,
//! tolerations against its taint) make it create NodeClaims (enough for
//! them at `pods_per_node` each, counting claims still launching and free
//! room on the pool's nodes, within `max_nodes`). After `node_delay` the
//! claim's Node registers with an ExternalIP from the EIP pool (first free;
//! an address is free again when its node is gone) or, when the pool is
//! exhausted, an ephemeral one from 203.0.113.0/24 marked
//! `trawl.io/eip=fallback`. A pool node empty for `consolidation_delay` is
//! cordoned (unschedulable + taint karpenter.sh/disrupted) and then removed
//! with its NodeClaim.

use super::Core;
use super::scheduler::{
    is_terminal, load, node_ready, pending_unbound, selector_matches, untolerated,
};
use super::store::{now_rfc3339, rand_suffix, resource};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const EIP_KEY: &str = "trawl.io/eip";
pub const ZONE: &str = "us-east-1a";

/// The labels every node of the pool gets.
pub fn pool_labels(core: &Core) -> Value {
    let o = &core.opts;
    let mut l = json!({
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/os": "linux",
        "node.kubernetes.io/instance-type": o.instance_type,
        "karpenter.sh/capacity-type": o.capacity_type,
        "karpenter.sh/nodepool": o.nodepool,
        "karpenter.k8s.aws/ec2nodeclass": "default",
        "topology.kubernetes.io/region": "us-east-1",
        "topology.kubernetes.io/zone": ZONE,
    });
    for (k, v) in &o.pool_labels {
        l[k] = json!(v);
    }
    l
}

pub fn pool_taints(core: &Core) -> Value {
    json!(
        core.opts
            .pool_taint
            .iter()
            .map(|(k, v, e)| json!({"key": k, "value": v, "effect": e}))
            .collect::<Vec<_>>()
    )
}

struct State {
    empty_since: HashMap<String, Instant>,
    /// Serialises address choice and node creation of launching claims.
    alloc: Arc<Mutex<()>>,
    counter: Arc<AtomicU32>,
}

pub async fn run(core: Arc<Core>) {
    let mut st = State {
        empty_since: HashMap::new(),
        alloc: Arc::new(Mutex::new(())),
        counter: Arc::new(AtomicU32::new(0)),
    };
    loop {
        let notified = core.store.changed.notified();
        provision(&core, &st);
        consolidate(&core, &mut st);
        super::next_pass(notified, Duration::from_millis(100)).await;
    }
}

fn provision(core: &Arc<Core>, st: &State) {
    let (pods, _) = core.store.list("pods", None);
    let labels = pool_labels(core);
    let taints = pool_taints(core);
    let waiting = pods
        .iter()
        .filter(|p| {
            pending_unbound(p)
                && p["status"]["conditions"][0]["reason"] == "Unschedulable"
                && selector_matches(p, &labels)
                && untolerated(p, &taints).is_none()
        })
        .count();
    if waiting == 0 {
        return;
    }
    let ppn = core.opts.pods_per_node.max(1);
    let (claims, _) = core.store.list("nodeclaims", None);
    let launching = claims
        .iter()
        .filter(|c| c["status"]["nodeName"].is_null())
        .count();
    let (nodes, _) = core.store.list("nodes", None);
    let used = load(&pods);
    let free: usize = nodes
        .iter()
        .filter(|n| {
            n["metadata"]["labels"]["karpenter.sh/nodepool"] == core.opts.nodepool.as_str()
                && node_ready(n)
                && n["spec"]["unschedulable"] != true
        })
        .map(|n| {
            ppn.saturating_sub(
                used.get(n["metadata"]["name"].as_str().unwrap_or(""))
                    .copied()
                    .unwrap_or(0),
            )
        })
        .sum();
    let need = waiting.saturating_sub(launching * ppn + free);
    let room = core.opts.max_nodes.saturating_sub(claims.len());
    let new = need.div_ceil(ppn).min(room);
    for _ in 0..new {
        launch(core, st);
    }
}

fn launch(core: &Arc<Core>, st: &State) {
    let o = &core.opts;
    let name = format!("{}-{}", o.nodepool, rand_suffix(5));
    let now = now_rfc3339();
    let mut claim_labels = pool_labels(core);
    claim_labels["karpenter.sh/nodepool"] = json!(o.nodepool);
    let claim = json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": name, "labels": claim_labels,
                     "annotations": {"karpenter.sh/nodepool-hash": "1"},
                     "finalizers": ["karpenter.sh/termination"]},
        "spec": {
            "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
            "requirements": [
                {"key": "kubernetes.io/arch", "operator": "In", "values": ["amd64"]},
                {"key": "karpenter.sh/capacity-type", "operator": "In", "values": [o.capacity_type]},
                {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [o.instance_type]},
            ],
            "taints": pool_taints(core),
            "resources": {"requests": {"cpu": "250m", "memory": "128Mi", "pods": "1"}},
        },
        "status": {"conditions": [
            {"type": "Launched", "status": "True", "reason": "Launched", "message": "", "lastTransitionTime": now},
            {"type": "Registered", "status": "Unknown", "reason": "AwaitingReconciliation", "message": "", "lastTransitionTime": now},
            {"type": "Initialized", "status": "Unknown", "reason": "AwaitingReconciliation", "message": "", "lastTransitionTime": now},
            {"type": "Ready", "status": "Unknown", "reason": "AwaitingReconciliation", "message": "", "lastTransitionTime": now},
        ]},
    });
    let res = resource("karpenter.sh", "nodeclaims").expect("nodeclaims");
    if core.store.create(res, claim).is_err() {
        return;
    }
    let core = core.clone();
    let alloc = st.alloc.clone();
    let counter = st.counter.clone();
    tokio::spawn(async move {
        tokio::time::sleep(core.opts.node_delay).await;
        let _guard = alloc.lock().unwrap_or_else(|e| e.into_inner());
        if core.store.get("nodeclaims", "", &name).is_none() {
            return;
        }
        register(&core, &name, &counter);
    });
}

fn register(core: &Core, claim: &str, counter: &AtomicU32) {
    let (nodes, _) = core.store.list("nodes", None);
    let in_use: Vec<String> = nodes
        .iter()
        .flat_map(|n| {
            n["status"]["addresses"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .filter(|a| a["type"] == "ExternalIP")
        .filter_map(|a| a["address"].as_str().map(str::to_owned))
        .collect();
    let n = counter.fetch_add(1, Ordering::SeqCst) + 1;
    let (external, source) = match core
        .opts
        .eip_pool
        .iter()
        .find(|ip| !in_use.contains(&ip.to_string()))
    {
        Some(ip) => (ip.to_string(), "pool"),
        None => (
            Ipv4Addr::new(203, 0, 113, (n % 250 + 1) as u8).to_string(),
            "fallback",
        ),
    };
    let internal = Ipv4Addr::new(10, 0, 1 + (n / 250) as u8, (n % 250 + 1) as u8);
    let node_name = format!("ip-{}.ec2.internal", internal.to_string().replace('.', "-"));
    let instance = format!("i-0{:016x}", 0x5151_0000_u64 + u64::from(n));
    let provider = format!("aws:///{ZONE}/{instance}");
    let mut labels = pool_labels(core);
    labels["kubernetes.io/hostname"] = json!(node_name);
    labels[EIP_KEY] = json!(source);
    let ppn = core.opts.pods_per_node.to_string();
    let now = now_rfc3339();
    let resources =
        json!({"cpu": "2", "memory": "1935512Ki", "pods": ppn, "ephemeral-storage": "20959212Ki"});
    let node = json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {
            "name": node_name, "labels": labels,
            "annotations": {EIP_KEY: source, "karpenter.sh/nodeclaim": claim},
            "finalizers": ["karpenter.sh/termination"],
        },
        "spec": {"providerID": provider, "taints": pool_taints(core)},
        "status": {
            "addresses": [
                {"type": "InternalIP", "address": internal.to_string()},
                {"type": "ExternalIP", "address": external},
                {"type": "InternalDNS", "address": node_name},
                {"type": "Hostname", "address": node_name},
            ],
            "capacity": resources, "allocatable": resources,
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "PIDPressure", "status": "False", "reason": "KubeletHasSufficientPID", "lastHeartbeatTime": now, "lastTransitionTime": now},
                {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status", "lastHeartbeatTime": now, "lastTransitionTime": now},
            ],
            "nodeInfo": {
                "architecture": "amd64", "operatingSystem": "linux",
                "kubeletVersion": "v1.32.0-eks-sim", "kubeProxyVersion": "v1.32.0-eks-sim",
                "osImage": "Amazon Linux 2023", "kernelVersion": "6.1.0-sim",
                "containerRuntimeVersion": "containerd://1.7.0",
                "machineID": instance, "systemUUID": instance, "bootID": instance,
            },
        },
    });
    let res = resource("", "nodes").expect("nodes");
    if core.store.create(res, node).is_err() {
        return;
    }
    let _ = core.store.update("nodeclaims", "", claim, None, |c| {
        let now = now_rfc3339();
        c["status"]["nodeName"] = json!(node_name);
        c["status"]["providerID"] = json!(provider);
        c["status"]["imageID"] = json!("ami-0sim");
        c["status"]["capacity"] = resources.clone();
        c["status"]["allocatable"] = resources;
        c["status"]["conditions"] = json!(["Launched", "Registered", "Initialized", "Ready"]
            .iter()
            .map(|t| json!({"type": t, "status": "True", "reason": t, "message": "", "lastTransitionTime": now}))
            .collect::<Vec<_>>());
        true
    });
}

fn consolidate(core: &Core, st: &mut State) {
    let (pods, _) = core.store.list("pods", None);
    let (nodes, _) = core.store.list("nodes", None);
    let busy = load(&pods);
    let mut seen = Vec::new();
    for node in &nodes {
        if node["metadata"]["labels"]["karpenter.sh/nodepool"] != core.opts.nodepool.as_str() {
            continue;
        }
        let name = node["metadata"]["name"].as_str().unwrap_or("").to_owned();
        seen.push(name.clone());
        // Pods still being killed on the node keep it busy.
        let terminating = pods.iter().any(|p| {
            p["spec"]["nodeName"] == name.as_str()
                && !is_terminal(p)
                && !p["metadata"]["deletionTimestamp"].is_null()
        });
        if busy.get(&name).copied().unwrap_or(0) > 0 || terminating {
            st.empty_since.remove(&name);
            continue;
        }
        let since = *st
            .empty_since
            .entry(name.clone())
            .or_insert_with(Instant::now);
        if since.elapsed() < core.opts.consolidation_delay {
            continue;
        }
        if node["spec"]["unschedulable"] != true {
            let _ = core.store.update("nodes", "", &name, None, |n| {
                n["spec"]["unschedulable"] = json!(true);
                let mut taints = n["spec"]["taints"].as_array().cloned().unwrap_or_default();
                taints.push(json!({"key": "karpenter.sh/disrupted", "effect": "NoSchedule", "timeAdded": now_rfc3339()}));
                n["spec"]["taints"] = json!(taints);
                true
            });
            continue;
        }
        let claim = node["metadata"]["annotations"]["karpenter.sh/nodeclaim"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let _ = core.store.remove("nodes", "", &name);
        let _ = core.store.remove("nodeclaims", "", &claim);
        st.empty_since.remove(&name);
    }
    st.empty_since.retain(|n, _| seen.contains(n));
}

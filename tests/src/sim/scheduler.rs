//! The scheduler: a pending pod binds to a Ready, schedulable node whose
//! labels match its nodeSelector, whose NoSchedule/NoExecute taints it
//! tolerates and that has room (`pods_per_node`), the least loaded first.
//! A pod no node takes gets PodScheduled=False, reason Unschedulable, with
//! the real scheduler's kind of message.

use super::Core;
use super::store::now_rfc3339;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

pub fn is_terminal(pod: &Value) -> bool {
    matches!(
        pod["status"]["phase"].as_str(),
        Some("Succeeded" | "Failed")
    )
}

/// Whether `pod` tolerates the taint {key, value, effect}.
pub fn tolerates(pod: &Value, taint: &Value) -> bool {
    let effect = taint["effect"].as_str().unwrap_or("");
    if effect == "PreferNoSchedule" {
        return true;
    }
    pod["spec"]["tolerations"].as_array().is_some_and(|ts| {
        ts.iter().any(|t| {
            let key_ok = t["key"].is_null() || t["key"] == taint["key"];
            let op = t["operator"].as_str().unwrap_or("Equal");
            let value_ok = op == "Exists"
                || t["value"].as_str().unwrap_or("") == taint["value"].as_str().unwrap_or("");
            let effect_ok = t["effect"]
                .as_str()
                .is_none_or(|e| e.is_empty() || e == effect);
            key_ok && value_ok && effect_ok
        })
    })
}

/// Whether the node's labels satisfy the pod's nodeSelector.
pub fn selector_matches(pod: &Value, labels: &Value) -> bool {
    pod["spec"]["nodeSelector"]
        .as_object()
        .is_none_or(|sel| sel.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

pub fn untolerated<'a>(pod: &Value, taints: &'a Value) -> Option<&'a Value> {
    taints.as_array().and_then(|ts| {
        ts.iter().find(|t| {
            matches!(t["effect"].as_str(), Some("NoSchedule" | "NoExecute")) && !tolerates(pod, t)
        })
    })
}

pub fn node_ready(node: &Value) -> bool {
    node["status"]["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// Non-terminal pods bound to each node.
pub fn load(pods: &[Value]) -> HashMap<String, usize> {
    let mut m = HashMap::new();
    for p in pods.iter().filter(|p| !is_terminal(p)) {
        if let Some(n) = p["spec"]["nodeName"].as_str() {
            *m.entry(n.to_owned()).or_insert(0) += 1;
        }
    }
    m
}

/// Pods waiting for a node.
pub fn pending_unbound(pod: &Value) -> bool {
    pod["spec"]["nodeName"].is_null()
        && pod["status"]["phase"] == "Pending"
        && pod["metadata"]["deletionTimestamp"].is_null()
}

pub async fn run(core: Arc<Core>) {
    loop {
        let notified = core.store.changed.notified();
        schedule(&core);
        super::next_pass(notified, Duration::from_millis(250)).await;
    }
}

fn schedule(core: &Core) {
    let (pods, _) = core.store.list("pods", None);
    let (nodes, _) = core.store.list("nodes", None);
    let mut load = load(&pods);
    let cap = core.opts.pods_per_node;
    for pod in pods.iter().filter(|p| pending_unbound(p)) {
        let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
        let mut best: Option<(&str, usize)> = None;
        for node in &nodes {
            let name = node["metadata"]["name"].as_str().unwrap_or("");
            let used = load.get(name).copied().unwrap_or(0);
            let why = if !node_ready(node) || !node["metadata"]["deletionTimestamp"].is_null() {
                Some("node(s) had condition NotReady".to_string())
            } else if node["spec"]["unschedulable"] == true {
                Some("node(s) were unschedulable".to_string())
            } else if !selector_matches(pod, &node["metadata"]["labels"]) {
                Some("node(s) didn't match Pod's node affinity/selector".to_string())
            } else if let Some(t) = untolerated(pod, &node["spec"]["taints"]) {
                Some(format!(
                    "node(s) had untolerated taint {{{}: {}}}",
                    t["key"].as_str().unwrap_or(""),
                    t["value"].as_str().unwrap_or("")
                ))
            } else if used >= cap {
                Some("Too many pods".to_string())
            } else {
                None
            };
            match why {
                Some(w) => *reasons.entry(w).or_insert(0) += 1,
                None => {
                    if best.is_none_or(|(_, u)| used < u) {
                        best = Some((name, used));
                    }
                }
            }
        }
        let ns = pod["metadata"]["namespace"].as_str().unwrap_or("");
        let pname = pod["metadata"]["name"].as_str().unwrap_or("");
        let now = now_rfc3339();
        if let Some((node, _)) = best {
            *load.entry(node.to_owned()).or_insert(0) += 1;
            let node = node.to_owned();
            let _ = core.store.update("pods", ns, pname, None, |p| {
                if !p["spec"]["nodeName"].is_null() {
                    return false;
                }
                p["spec"]["nodeName"] = json!(node);
                p["status"]["conditions"] = json!([{
                    "type": "PodScheduled", "status": "True",
                    "lastProbeTime": null, "lastTransitionTime": now,
                }]);
                true
            });
        } else {
            let total = nodes.len();
            let mut message = format!("0/{total} nodes are available");
            if !reasons.is_empty() {
                let parts: Vec<String> = reasons.iter().map(|(w, n)| format!("{n} {w}")).collect();
                message.push_str(": ");
                message.push_str(&parts.join(", "));
            }
            message.push_str(&format!(
                ". preemption: 0/{total} nodes are available: {total} Preemption is not helpful for scheduling."
            ));
            let _ = core.store.update("pods", ns, pname, None, |p| {
                let c = &p["status"]["conditions"][0];
                if c["reason"] == "Unschedulable" && c["message"] == message.as_str() {
                    return false;
                }
                p["status"]["conditions"] = json!([{
                    "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                    "message": message, "lastProbeTime": null, "lastTransitionTime": now,
                }]);
                true
            });
        }
    }
}

//! From what the watches hold to what the map shows: nodes (and Karpenter
//! NodeClaims still launching) with their public IP and their pods by
//! phase, and the pods that need the operator's eye. Pure functions of one
//! snapshot and the clock, so they are tested without a cluster.

use super::names::EIP_LABEL;
use super::slim::{CAPACITY_TYPE, INSTANCE_TYPE, SlimNode, SlimNodeClaim, SlimPod, label, unix};
use crate::model::{Fleet, NodeState, NodeView, PhaseCounts};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// What the watches hold at one moment.
#[derive(Clone, Debug, Default)]
pub struct ClusterState {
    /// Every watch has delivered its first complete list.
    pub synced: bool,
    pub nodes: Vec<Arc<SlimNode>>,
    pub pods: Vec<Arc<SlimPod>>,
    pub claims: Vec<Arc<SlimNodeClaim>>,
    /// A watch that keeps failing (not 410 Gone or a dropped stream).
    pub problem: Option<String>,
}

/// The row of pods that have no node (yet).
pub const NO_NODE: &str = "(no node yet)";

/// Problem lines under one node at most; the rest are counted.
const MAX_PROBLEM_LINES: usize = 3;

/// Why a pod needs a look.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodProblem {
    /// One line for the map and, when `write_failed`, the record's error.
    pub reason: String,
    /// The URL will not get a record from this pod: write it FAILED (the
    /// store's conditional write keeps a record the worker finished).
    pub write_failed: bool,
}

/// Image and container set-up errors that leave a pod Pending.
const STUCK_WAITING: &[&str] = &[
    "ErrImagePull",
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
];

/// What is wrong with `pod` at `now`, if anything. A pod Pending without a
/// node is normal for `grace_secs` (Karpenter may be adding nodes); past
/// that its scheduler reason is the problem. Pull and set-up errors show at
/// once and fail the URL past the grace period (the kubelet keeps retrying
/// a registry that may come back). Failed pods (OOM kill, deadline, any
/// exit without a record) fail the URL (the submitter skips a failure the
/// Job will retry: the next attempt's worker writes the record).
pub fn pod_problem(pod: &SlimPod, now: i64, grace_secs: i64) -> Option<PodProblem> {
    let age = pod.created().map_or(0, |c| now - c);
    match pod.phase() {
        "Failed" => {
            let t = pod.terminated();
            let reason = if pod.status.reason.as_deref() == Some("DeadlineExceeded") {
                match pod.spec.active_deadline_seconds {
                    Some(s) => {
                        format!(
                            "deadline exceeded: the pod ran past its {s} s limit and was stopped"
                        )
                    }
                    None => "deadline exceeded: the pod ran past its time limit".to_owned(),
                }
            } else if t.and_then(|t| t.reason.as_deref()) == Some("OOMKilled") {
                "OOM-killed: the worker went past the pod's memory limit (eks.memory_limit)"
                    .to_owned()
            } else {
                let mut s = "the pod failed".to_owned();
                if let Some(t) = t {
                    s.push_str(&format!(": exit code {}", t.exit_code));
                    if let Some(r) = &t.reason {
                        s.push_str(&format!(" ({r})"));
                    }
                } else if let Some(r) = &pod.status.reason {
                    s.push_str(&format!(": {r}"));
                }
                if let Some(m) = pod.status.message.as_deref().filter(|m| !m.is_empty()) {
                    s.push_str(&format!(": {m}"));
                }
                s
            };
            Some(PodProblem {
                reason,
                write_failed: true,
            })
        }
        "Pending" => {
            if let Some(w) = pod.waiting()
                && let Some(r) = w.reason.as_deref().filter(|r| STUCK_WAITING.contains(r))
            {
                let what = if r.contains("Image") {
                    "image pull failed"
                } else {
                    "container could not start"
                };
                let mut reason = format!("{what} ({r})");
                if let Some(m) = w.message.as_deref().filter(|m| !m.is_empty()) {
                    reason.push_str(&format!(": {m}"));
                }
                return Some(PodProblem {
                    reason,
                    write_failed: age > grace_secs,
                });
            }
            if pod.node().is_none() && age > grace_secs {
                let why = pod
                    .status
                    .conditions
                    .iter()
                    .find(|c| c.status == "False")
                    .and_then(|c| c.message.clone().or(c.reason.clone()))
                    .unwrap_or_else(|| "not scheduled yet".to_owned());
                return Some(PodProblem {
                    reason: format!("pending {}: no node took the pod: {why}", span(age)),
                    write_failed: true,
                });
            }
            None
        }
        _ => None,
    }
}

/// "90 s", "12 min", "3 h".
fn span(secs: i64) -> String {
    if secs < 120 {
        format!("{secs} s")
    } else if secs < 7_200 {
        format!("{} min", secs / 60)
    } else {
        format!("{} h", secs / 3_600)
    }
}

fn phase_counts(counts: &mut PhaseCounts, pod: &SlimPod) {
    match pod.phase() {
        "Running" => counts.running += 1,
        "Succeeded" => counts.succeeded += 1,
        "Failed" => counts.failed += 1,
        _ => counts.pending += 1,
    }
}

fn terminal(pod: &SlimPod) -> bool {
    matches!(pod.phase(), "Succeeded" | "Failed")
}

/// Whether a node's public IP is one of the operator's Elastic IPs: the
/// node's `trawl.io/eip` label when set (pool or fallback), else membership
/// of the pool read from EC2.
fn is_pool_eip(node: &SlimNode, ip: Option<&str>, pool: &HashSet<String>) -> bool {
    match node.label(EIP_LABEL) {
        Some(v) => v == "pool",
        None => ip.is_some_and(|ip| pool.contains(ip)),
    }
}

/// The map of `state` at `now`: one row per node (oldest first), then
/// NodeClaims without a node yet (launching), then the pods without a node.
pub fn fleet(state: &ClusterState, now: i64, grace_secs: i64, pool: &HashSet<String>) -> Fleet {
    let mut by_node: HashMap<&str, (PhaseCounts, BTreeMap<String, usize>)> = HashMap::new();
    let known: HashSet<&str> = state.nodes.iter().map(|n| n.name()).collect();
    let mut unplaced = (PhaseCounts::default(), BTreeMap::new());
    for pod in &state.pods {
        let slot = match pod.node() {
            Some(n) if known.contains(n) => by_node.entry(n).or_default(),
            // Finished pods of a node that is gone are history, not load
            // (the cluster's PodGC removes them too).
            Some(_) if terminal(pod) => continue,
            _ => &mut unplaced,
        };
        phase_counts(&mut slot.0, pod);
        if let Some(p) = pod_problem(pod, now, grace_secs) {
            *slot.1.entry(p.reason).or_default() += 1;
        }
    }
    let problem_lines = |problems: BTreeMap<String, usize>| -> Vec<String> {
        let total = problems.len();
        let mut lines: Vec<String> = problems
            .into_iter()
            .take(MAX_PROBLEM_LINES)
            .map(|(reason, n)| {
                if n == 1 {
                    reason
                } else {
                    format!("{n} pods: {reason}")
                }
            })
            .collect();
        if total > MAX_PROBLEM_LINES {
            lines.push(format!(
                "… {} more kinds of problem",
                total - MAX_PROBLEM_LINES
            ));
        }
        lines
    };

    let mut nodes: Vec<&Arc<SlimNode>> = state.nodes.iter().collect();
    nodes.sort_by_key(|n| {
        (
            n.metadata.creation_timestamp.as_ref().map(unix),
            n.name().to_owned(),
        )
    });
    let mut views: Vec<NodeView> = Vec::with_capacity(nodes.len() + 1);
    for n in nodes {
        let (pods, problems) = by_node.remove(n.name()).unwrap_or_default();
        let ip = n.external_ip();
        views.push(NodeView {
            name: n.name().to_owned(),
            instance_type: n.label(INSTANCE_TYPE).map(str::to_owned),
            capacity_type: n.label(CAPACITY_TYPE).map(str::to_owned),
            age_secs: n
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| (now - unix(t)).max(0) as u64),
            state: if n.draining() {
                NodeState::Draining
            } else if n.ready() == Some(true) {
                NodeState::Ready
            } else {
                NodeState::NotReady
            },
            public_ip: ip.map(str::to_owned),
            pool_eip: is_pool_eip(n, ip, pool),
            ip_mismatch: None,
            pods,
            problems: problem_lines(problems),
        });
    }
    let mut claims: Vec<&Arc<SlimNodeClaim>> = state
        .claims
        .iter()
        .filter(|c| {
            c.status
                .node_name
                .as_deref()
                .is_none_or(|n| n.is_empty() || !known.contains(n))
        })
        .collect();
    claims.sort_by_key(|c| c.metadata.name.clone());
    for c in claims {
        views.push(NodeView {
            name: c.metadata.name.clone().unwrap_or_default(),
            instance_type: label(&c.metadata, INSTANCE_TYPE).map(str::to_owned),
            capacity_type: label(&c.metadata, CAPACITY_TYPE).map(str::to_owned),
            age_secs: c
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| (now - unix(t)).max(0) as u64),
            state: NodeState::Launching,
            ..NodeView::default()
        });
    }
    if unplaced.0.total() > 0 {
        views.push(NodeView {
            name: NO_NODE.to_owned(),
            state: NodeState::Waiting,
            pods: unplaced.0,
            problems: problem_lines(unplaced.1),
            ..NodeView::default()
        });
    }
    Fleet {
        synced: state.synced,
        nodes: views,
        pool_total: (!pool.is_empty()).then_some(pool.len()),
        pool_known: !pool.is_empty() || state.nodes.iter().any(|n| n.label(EIP_LABEL).is_some()),
        ..Fleet::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const T0: i64 = 1_795_000_000;

    fn at(secs: i64) -> String {
        let t = time::OffsetDateTime::from_unix_timestamp(secs).unwrap();
        trawl_scraper::record::timestamp(t)
    }

    fn pod(node: Option<&str>, created: i64, status: serde_json::Value) -> SlimPod {
        serde_json::from_value(json!({
            "metadata": {"name": "p", "creationTimestamp": at(created)},
            "spec": {"nodeName": node, "activeDeadlineSeconds": 120},
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn pending_pods_are_a_problem_only_past_the_grace_period() {
        let unscheduled = pod(
            None,
            T0,
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Too many pods."}]}),
        );
        assert_eq!(pod_problem(&unscheduled, T0 + 599, 600), None);
        let p = pod_problem(&unscheduled, T0 + 601, 600).unwrap();
        assert_eq!(
            p.reason,
            "pending 10 min: no node took the pod: 0/3 nodes are available: 3 Too many pods."
        );
        assert!(p.write_failed);
        // Image pull errors show at once; the URL fails past the grace.
        let pulling = pod(
            Some("n1"),
            T0,
            json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ErrImagePull", "message": "not found"}}}]}),
        );
        let p = pod_problem(&pulling, T0 + 5, 600).unwrap();
        assert_eq!(p.reason, "image pull failed (ErrImagePull): not found");
        assert!(!p.write_failed);
        assert!(pod_problem(&pulling, T0 + 700, 600).unwrap().write_failed);
        // Creating or running normally: nothing.
        let creating = pod(
            Some("n1"),
            T0,
            json!({"phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ContainerCreating"}}}]}),
        );
        assert_eq!(pod_problem(&creating, T0 + 900, 600), None);
        assert_eq!(
            pod_problem(
                &pod(Some("n1"), T0, json!({"phase": "Running"})),
                T0 + 900,
                600
            ),
            None
        );
        assert_eq!(
            pod_problem(
                &pod(Some("n1"), T0, json!({"phase": "Succeeded"})),
                T0 + 900,
                600
            ),
            None
        );
    }

    #[test]
    fn failed_pods_say_why_and_fail_their_url_at_once() {
        let oom = pod(
            Some("n1"),
            T0,
            json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}),
        );
        let p = pod_problem(&oom, T0 + 1, 600).unwrap();
        assert!(
            p.reason.starts_with("OOM-killed") && p.write_failed,
            "{p:?}"
        );
        let late = pod(
            Some("n1"),
            T0,
            json!({"phase": "Failed", "reason": "DeadlineExceeded"}),
        );
        assert_eq!(
            pod_problem(&late, T0 + 1, 600).unwrap().reason,
            "deadline exceeded: the pod ran past its 120 s limit and was stopped"
        );
        let crashed = pod(
            Some("n1"),
            T0,
            json!({"phase": "Failed", "containerStatuses": [{"state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}),
        );
        assert_eq!(
            pod_problem(&crashed, T0 + 1, 600).unwrap().reason,
            "the pod failed: exit code 2 (Error)"
        );
        let evicted = pod(
            Some("n1"),
            T0,
            json!({"phase": "Failed", "reason": "Evicted", "message": "The node was low on resource: memory."}),
        );
        assert_eq!(
            pod_problem(&evicted, T0 + 1, 600).unwrap().reason,
            "the pod failed: Evicted: The node was low on resource: memory."
        );
    }

    #[test]
    fn the_map_places_pods_and_skips_what_is_history() {
        let node: SlimNode = serde_json::from_value(json!({
            "metadata": {"name": "n1", "creationTimestamp": at(T0 - 60)},
            "status": {"addresses": [{"type": "ExternalIP", "address": "198.51.100.7"}],
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let claim = |name: &str, node: Option<&str>| -> Arc<SlimNodeClaim> {
            Arc::new(
                serde_json::from_value(
                    json!({"metadata": {"name": name}, "status": {"nodeName": node}}),
                )
                .unwrap(),
            )
        };
        let state = ClusterState {
            synced: true,
            nodes: vec![Arc::new(node)],
            pods: vec![
                Arc::new(pod(Some("n1"), T0, json!({"phase": "Running"}))),
                Arc::new(pod(Some("n1"), T0, json!({"phase": "Succeeded"}))),
                // A finished pod of a node that is gone: history.
                Arc::new(pod(Some("gone"), T0, json!({"phase": "Succeeded"}))),
                // A running pod of a node not seen yet: counted, unplaced.
                Arc::new(pod(Some("new"), T0, json!({"phase": "Running"}))),
                Arc::new(pod(None, T0, json!({"phase": "Pending"}))),
            ],
            claims: vec![claim("c-registered", Some("n1")), claim("c-new", None)],
            problem: None,
        };
        let pool: HashSet<String> = ["198.51.100.7".to_owned()].into();
        let f = fleet(&state, T0, 600, &pool);
        let names: Vec<&str> = f.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["n1", "c-new", NO_NODE]);
        let n1 = &f.nodes[0];
        assert_eq!((n1.pods.running, n1.pods.succeeded), (1, 1));
        assert_eq!(n1.age_secs, Some(60));
        assert!(n1.pool_eip, "in the pool read from EC2");
        assert_eq!(f.nodes[1].state, NodeState::Launching);
        assert_eq!((f.nodes[2].pods.running, f.nodes[2].pods.pending), (1, 1));
        assert_eq!(f.pool_total, Some(1));
        assert!(f.synced && f.pool_known);
        assert!(!fleet(&state, T0, 600, &HashSet::new()).nodes[0].pool_eip);
    }
}

//! Slim Kubernetes objects: only the fields the map and the failure
//! reasons need, decoded straight from the API's JSON. A full Pod is about
//! 30 KB in memory (4 KB of JSON); these are a few hundred bytes, so a
//! reflector of 10,000 pods stays small, and nothing decodes fields like
//! `managedFields` only to drop them (serde skips unknown fields without
//! allocating).
//!
//! `kube::Resource` needs an `ObjectMeta`: the slim metadata fills only
//! name, namespace, uid, resourceVersion and the timestamps; nodes and
//! NodeClaims keep the labels in [`KEPT_KEYS`], pods read theirs into
//! [`PodJob`].

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use kube::core::{ClusterResourceScope, NamespaceResourceScope};
use serde::{Deserialize, Deserializer};
use std::borrow::Cow;
use std::collections::BTreeMap;

/// Node and NodeClaim labels the map reads; every other one is dropped.
pub const KEPT_KEYS: &[&str] = &[
    super::names::POOL_LABEL,
    super::names::EIP_LABEL,
    INSTANCE_TYPE,
    CAPACITY_TYPE,
];
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";

/// The metadata as served; `L` and `A` say what of the labels and
/// annotations is kept.
#[derive(Default, Deserialize)]
#[serde(
    rename_all = "camelCase",
    bound(deserialize = "L: Deserialize<'de> + Default, A: Deserialize<'de> + Default")
)]
struct MetaWire<L, A> {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    creation_timestamp: Option<Time>,
    deletion_timestamp: Option<Time>,
    #[serde(default, deserialize_with = "null_default")]
    labels: L,
    #[serde(default, deserialize_with = "null_default")]
    annotations: A,
}

impl<L, A> MetaWire<L, A> {
    /// The `ObjectMeta` kube needs (no labels or annotations), and those.
    fn split(self) -> (ObjectMeta, L, A) {
        let meta = ObjectMeta {
            name: self.name,
            namespace: self.namespace,
            uid: self.uid,
            resource_version: self.resource_version,
            creation_timestamp: self.creation_timestamp,
            deletion_timestamp: self.deletion_timestamp,
            ..ObjectMeta::default()
        };
        (meta, self.labels, self.annotations)
    }
}

/// Labels or annotations of a node or NodeClaim: those in [`KEPT_KEYS`].
#[derive(Default)]
struct Kept(Option<BTreeMap<String, String>>);

impl<'de> Deserialize<'de> for Kept {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let all: Option<BTreeMap<String, String>> = Option::deserialize(d)?;
        Ok(Kept(all.map(|m| {
            m.into_iter()
                .filter(|(k, _)| KEPT_KEYS.contains(&k.as_str()))
                .collect()
        })))
    }
}

/// Nodes and NodeClaims: the metadata with the kept labels and annotations.
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    let (mut meta, labels, annotations) = MetaWire::<Kept, Kept>::deserialize(d)?.split();
    meta.labels = labels.0;
    meta.annotations = annotations.0;
    Ok(meta)
}

/// Unix seconds of a Kubernetes timestamp.
pub fn unix(t: &Time) -> i64 {
    t.0.as_second()
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

macro_rules! slim_resource {
    ($t:ty, $kind:literal, $group:literal, $version:literal, $plural:literal, $scope:ty) => {
        impl kube::Resource for $t {
            type DynamicType = ();
            type Scope = $scope;
            fn kind(_: &()) -> Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> Cow<'_, str> {
                $version.into()
            }
            fn plural(_: &()) -> Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }
    };
}

/// A node: labels, addresses, readiness, cordon and taints.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SlimNode {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_default")]
    pub spec: NodeSpec,
    #[serde(default, deserialize_with = "null_default")]
    pub status: NodeStatus,
}
slim_resource!(SlimNode, "Node", "", "v1", "nodes", ClusterResourceScope);

#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeSpec {
    #[serde(default, deserialize_with = "null_default")]
    pub unschedulable: bool,
    #[serde(default, deserialize_with = "null_default")]
    pub taints: Vec<Taint>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Taint {
    pub key: String,
    #[serde(default)]
    pub effect: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct NodeStatus {
    #[serde(default, deserialize_with = "null_default")]
    pub addresses: Vec<Address>,
    #[serde(default, deserialize_with = "null_default")]
    pub conditions: Vec<Condition>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Address {
    #[serde(rename = "type")]
    pub type_: String,
    pub address: String,
}

/// A condition (nodes: Ready; pods: PodScheduled).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

impl SlimNode {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        label(&self.metadata, key)
    }

    pub fn external_ip(&self) -> Option<&str> {
        self.status
            .addresses
            .iter()
            .find(|a| a.type_ == "ExternalIP")
            .map(|a| a.address.as_str())
    }

    pub fn ready(&self) -> Option<bool> {
        self.status
            .conditions
            .iter()
            .find(|c| c.type_ == "Ready")
            .map(|c| c.status == "True")
    }

    /// Cordoned, or tainted by Karpenter's disruption (drain under way).
    pub fn draining(&self) -> bool {
        self.spec.unschedulable
            || self.metadata.deletion_timestamp.is_some()
            || self.spec.taints.iter().any(|t| {
                t.key == "karpenter.sh/disrupted"
                    || t.key == "node.kubernetes.io/unschedulable"
                    || t.key == "karpenter.sh/disruption"
            })
    }
}

pub fn label<'a>(meta: &'a ObjectMeta, key: &str) -> Option<&'a str> {
    meta.labels.as_ref()?.get(key).map(String::as_str)
}

/// A pod: where it runs, its phase, and why it is stuck or failed. Its
/// labels and annotations are read into [`PodJob`] and not kept as maps:
/// two maps a pod cost more than all the rest of it (about 1.6 KB of 2.6).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "PodWire")]
pub struct SlimPod {
    pub metadata: ObjectMeta,
    pub job: PodJob,
    pub spec: PodSpec,
    pub status: PodStatus,
}
slim_resource!(SlimPod, "Pod", "", "v1", "pods", NamespaceResourceScope);

/// What a Job pod's labels and annotations say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodJob {
    pub run_id: Option<String>,
    /// The Job (one chunk of the run).
    pub job: Option<String>,
    /// The completion index: the line of the chunk's URLs.
    pub index: Option<usize>,
    /// Earlier failures of this index (the attempt is one more).
    pub failures: u32,
}

#[derive(Deserialize)]
struct PodWire {
    #[serde(default)]
    metadata: MetaWire<PodLabels, PodAnnotations>,
    #[serde(default, deserialize_with = "null_default")]
    spec: PodSpec,
    #[serde(default, deserialize_with = "null_default")]
    status: PodStatus,
}

/// The labels trawl reads; serde skips the others without keeping them.
#[derive(Default, Deserialize)]
struct PodLabels {
    #[serde(rename = "trawl.io/run-id")]
    run_id: Option<String>,
    #[serde(rename = "batch.kubernetes.io/job-name")]
    job: Option<String>,
    #[serde(rename = "batch.kubernetes.io/job-completion-index")]
    index: Option<String>,
}

#[derive(Default, Deserialize)]
struct PodAnnotations {
    #[serde(rename = "batch.kubernetes.io/job-completion-index")]
    index: Option<String>,
    #[serde(rename = "batch.kubernetes.io/job-index-failure-count")]
    failures: Option<String>,
}

impl From<PodWire> for SlimPod {
    fn from(w: PodWire) -> Self {
        let (metadata, labels, annotations) = w.metadata.split();
        let index = annotations.index.or(labels.index);
        SlimPod {
            metadata,
            job: PodJob {
                run_id: labels.run_id,
                job: labels.job,
                index: index.and_then(|i| i.parse().ok()),
                failures: annotations
                    .failures
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
            },
            spec: w.spec,
            status: w.status,
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub node_name: Option<String>,
    #[serde(default)]
    pub active_deadline_seconds: Option<i64>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default)]
    pub phase: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "only_scheduled")]
    pub conditions: Vec<Condition>,
    #[serde(default, deserialize_with = "null_default")]
    pub container_statuses: Vec<ContainerStatus>,
}

/// Pods carry several conditions; the map reads PodScheduled only.
fn only_scheduled<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Condition>, D::Error> {
    let all: Option<Vec<Condition>> = Option::deserialize(d)?;
    Ok(all
        .unwrap_or_default()
        .into_iter()
        .filter(|c| c.type_ == "PodScheduled")
        .collect())
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ContainerStatus {
    #[serde(default, deserialize_with = "null_default")]
    pub state: ContainerState,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ContainerState {
    #[serde(default)]
    pub waiting: Option<Waiting>,
    #[serde(default)]
    pub terminated: Option<Terminated>,
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct Waiting {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Terminated {
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub reason: Option<String>,
}

impl SlimPod {
    pub fn name(&self) -> &str {
        self.metadata.name.as_deref().unwrap_or_default()
    }

    pub fn phase(&self) -> &str {
        self.status.phase.as_deref().unwrap_or("Pending")
    }

    pub fn node(&self) -> Option<&str> {
        self.spec.node_name.as_deref().filter(|n| !n.is_empty())
    }

    pub fn run_id(&self) -> Option<&str> {
        self.job.run_id.as_deref()
    }

    /// The Job (chunk) and completion index (line of the chunk's URLs).
    pub fn job_and_index(&self) -> Option<(&str, usize)> {
        Some((self.job.job.as_deref()?, self.job.index?))
    }

    /// The worker's attempt: failures of this index so far, plus one.
    pub fn attempt(&self) -> u32 {
        self.job.failures + 1
    }

    pub fn terminated(&self) -> Option<&Terminated> {
        self.status
            .container_statuses
            .iter()
            .find_map(|c| c.state.terminated.as_ref())
    }

    pub fn waiting(&self) -> Option<&Waiting> {
        self.status
            .container_statuses
            .iter()
            .find_map(|c| c.state.waiting.as_ref())
    }

    pub fn created(&self) -> Option<i64> {
        self.metadata.creation_timestamp.as_ref().map(unix)
    }
}

/// A Karpenter NodeClaim (karpenter.sh/v1): a node on its way.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SlimNodeClaim {
    #[serde(deserialize_with = "slim_meta", default)]
    pub metadata: ObjectMeta,
    #[serde(default, deserialize_with = "null_default")]
    pub status: NodeClaimStatus,
}
slim_resource!(
    SlimNodeClaim,
    "NodeClaim",
    "karpenter.sh",
    "v1",
    "nodeclaims",
    ClusterResourceScope
);

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimStatus {
    #[serde(default)]
    pub node_name: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_pod_decodes_to_the_fields_the_map_needs() {
        let pod: SlimPod = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "trawl-r-1-0-7-abcde", "namespace": "trawl", "uid": "u1",
                "resourceVersion": "42", "creationTimestamp": "2026-11-24T10:00:00Z",
                "labels": {"trawl.io/run-id": "r-1", "batch.kubernetes.io/job-name": "trawl-r-1-0",
                           "controller-uid": "x", "batch.kubernetes.io/controller-uid": "x"},
                "annotations": {"batch.kubernetes.io/job-completion-index": "7",
                                "batch.kubernetes.io/job-index-failure-count": "1",
                                "kubectl.kubernetes.io/last-applied-configuration": "{…}"},
                "managedFields": [{"manager": "kube-controller-manager", "fieldsV1": {"f:x": {}}}],
                "ownerReferences": [{"kind": "Job", "name": "trawl-r-1-0"}]
            },
            "spec": {"nodeName": "ip-10-0-1-5", "activeDeadlineSeconds": 120,
                     "containers": [{"name": "scraper", "image": "x", "env": [{"name": "A", "value": "b"}]}]},
            "status": {
                "phase": "Failed",
                "conditions": [{"type": "Ready", "status": "False"}, {"type": "PodScheduled", "status": "True"}],
                "containerStatuses": [{"name": "scraper", "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]
            }
        }))
        .unwrap();
        assert_eq!(pod.name(), "trawl-r-1-0-7-abcde");
        assert_eq!(pod.run_id(), Some("r-1"));
        assert_eq!(pod.job_and_index(), Some(("trawl-r-1-0", 7)));
        assert_eq!(pod.attempt(), 2);
        assert_eq!(pod.node(), Some("ip-10-0-1-5"));
        assert_eq!(pod.phase(), "Failed");
        assert_eq!(pod.terminated().unwrap().exit_code, 137);
        assert_eq!(pod.status.conditions.len(), 1, "PodScheduled only");
        assert_eq!(pod.created(), Some(1_795_514_400));
        assert!(pod.metadata.labels.is_none() && pod.metadata.annotations.is_none());
        assert!(pod.metadata.managed_fields.is_none());
        assert!(pod.metadata.owner_references.is_none());
    }

    #[test]
    fn a_node_decodes_with_nulls_and_missing_parts() {
        let node: SlimNode = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "labels": {"node.kubernetes.io/instance-type": "t3.small",
                         "karpenter.sh/capacity-type": "spot", "kubernetes.io/hostname": "n1"}},
            "spec": {"taints": null, "unschedulable": null},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"},
                                     {"type": "ExternalIP", "address": "198.51.100.7"}],
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        assert_eq!(node.external_ip(), Some("198.51.100.7"));
        assert_eq!(node.label(INSTANCE_TYPE), Some("t3.small"));
        assert_eq!(node.label("kubernetes.io/hostname"), None);
        assert_eq!(node.ready(), Some(true));
        assert!(!node.draining());
        let bare: SlimNode =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "n2"}})).unwrap();
        assert_eq!(bare.ready(), None);
        assert_eq!(bare.external_ip(), None);
    }
}

//! The EKS target's objects (DESIGN.md "Kubernetes contract"): a run's URLs
//! in chunks of at most 5,000 URLs and 900 KiB of URL text (a ConfigMap
//! holds at most 1 MiB), each chunk one ConfigMap (key `urls`, one URL a
//! line, mounted as /etc/trawl) and one Indexed Job, both named
//! `trawl-{run_id}-{chunk}`, so a run is a handful of API calls and
//! submitting it twice creates nothing twice. Pods run the worker image
//! non-root on the scraper nodes (their label and taint), with a per-pod
//! deadline (the per-URL limit; never a Job-level one, which would kill the
//! whole chunk) and the attempt from the Job's per-index failure count.
//!
//! `launch` creates a run's objects (what exists is left as it is), and
//! `delete_run` removes them with their pods.

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, ConfigMapVolumeSource, Container, EnvVar, EnvVarSource,
    ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, ResourceRequirements,
    SeccompProfile, SecurityContext, Toleration, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::collections::BTreeMap;
use std::ops::Range;

/// URLs in one chunk (one Job, one ConfigMap) at most.
pub const MAX_CHUNK_URLS: usize = 5_000;
/// URL text in one chunk at most (newlines included): room under the
/// ConfigMap's 1 MiB for the object's own fields.
pub const MAX_CHUNK_BYTES: usize = 900 * 1024;

/// The labels and names DESIGN.md fixes (provisioner.yaml sets the node
/// label and taint; terraform creates the service account).
pub mod names {
    pub const NAME_LABEL: &str = "app.kubernetes.io/name";
    pub const NAME: &str = "trawl-scraper";
    pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
    pub const MANAGED_BY: &str = "trawl";
    pub const RUN_LABEL: &str = "trawl.io/run-id";
    pub const POOL_LABEL: &str = "trawl.io/pool";
    pub const POOL: &str = "scrapers";
    /// On a node: `pool` when its public IP is one of the pool's Elastic
    /// IPs, `fallback` when the pool was empty (set by whoever knows it;
    /// without it the map compares the IP with the pool read from EC2).
    pub const EIP_LABEL: &str = "trawl.io/eip";
    pub const TAINT_KEY: &str = "trawl.io/scraper";
    pub const TAINT_VALUE: &str = "true";
    pub const SERVICE_ACCOUNT: &str = "trawl-scraper";
    pub const CONTAINER: &str = "scraper";
    /// Where the chunk's ConfigMap is mounted; the worker reads `urls` there.
    pub const URLS_DIR: &str = "/etc/trawl";
    pub const URLS_KEY: &str = "urls";
    /// The Job controller's per-index failure count (downward API).
    pub const INDEX_FAILURES_ANNOTATION: &str = "batch.kubernetes.io/job-index-failure-count";
}

/// What the Jobs need to know besides the URLs.
#[derive(Clone, Debug)]
pub struct EksSettings {
    pub namespace: String,
    pub image: String,
    pub table: String,
    pub bucket: String,
    pub region: String,
    /// Pods of one Job running at once.
    pub parallelism: i32,
    /// Retries of one URL (index) before it counts as failed.
    pub backoff_limit_per_index: i32,
    /// Seconds a finished Job (and its pods) is kept.
    pub ttl_after_finished_secs: i32,
    /// One pod's limit: the worker's own deadline plus start-up.
    pub pod_deadline_secs: i64,
    /// Memory limit of one pod.
    pub memory_limit: String,
    /// How long a pod may wait for a node (or its image) before its URL is
    /// FAILED with the reason; Karpenter may be adding nodes until then.
    pub pending_grace_secs: i64,
    pub retain_days: Option<u32>,
}

impl EksSettings {
    pub const DEFAULT_PARALLELISM: i32 = 100;
    pub const DEFAULT_BACKOFF_LIMIT_PER_INDEX: i32 = 2;
    pub const DEFAULT_TTL_AFTER_FINISHED_SECS: i32 = 3_600;
    pub const DEFAULT_POD_DEADLINE_SECS: i64 = 120;
    pub const DEFAULT_MEMORY_LIMIT: &str = "256Mi";
    pub const DEFAULT_PENDING_GRACE_SECS: i64 = 600;

    /// The names a run needs, every pod setting at its default.
    pub fn new(namespace: &str, image: &str, table: &str, bucket: &str, region: &str) -> Self {
        EksSettings {
            namespace: namespace.to_owned(),
            image: image.to_owned(),
            table: table.to_owned(),
            bucket: bucket.to_owned(),
            region: region.to_owned(),
            parallelism: Self::DEFAULT_PARALLELISM,
            backoff_limit_per_index: Self::DEFAULT_BACKOFF_LIMIT_PER_INDEX,
            ttl_after_finished_secs: Self::DEFAULT_TTL_AFTER_FINISHED_SECS,
            pod_deadline_secs: Self::DEFAULT_POD_DEADLINE_SECS,
            memory_limit: Self::DEFAULT_MEMORY_LIMIT.to_owned(),
            pending_grace_secs: Self::DEFAULT_PENDING_GRACE_SECS,
            retain_days: None,
        }
    }
}

/// The chunks of `urls`: ranges in order, each within both limits.
pub fn chunks(urls: &[String]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, url) in urls.iter().enumerate() {
        let line = url.len() + 1;
        if i > start && (i - start == MAX_CHUNK_URLS || bytes + line > MAX_CHUNK_BYTES) {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += line;
    }
    if start < urls.len() {
        out.push(start..urls.len());
    }
    out
}

/// `trawl-{run_id}-{chunk}`: a valid DNS-1123 name (run ids are lowercase
/// letters, digits and dashes).
pub fn object_name(run_id: &str, chunk: usize) -> String {
    format!("trawl-{run_id}-{chunk}")
}

/// The chunk of a run's object (Job, ConfigMap) named by [`object_name`].
pub fn chunk_of_object(run_id: &str, name: &str) -> Option<usize> {
    name.strip_prefix("trawl-")?
        .strip_prefix(run_id)?
        .strip_prefix('-')?
        .parse()
        .ok()
}

fn labels(run_id: &str) -> BTreeMap<String, String> {
    use names::*;
    BTreeMap::from([
        (NAME_LABEL.to_owned(), NAME.to_owned()),
        (MANAGED_BY_LABEL.to_owned(), MANAGED_BY.to_owned()),
        (RUN_LABEL.to_owned(), run_id.to_owned()),
    ])
}

/// The label selector of a run's objects.
pub fn run_selector(run_id: &str) -> String {
    format!(
        "{}={},{}={run_id}",
        names::MANAGED_BY_LABEL,
        names::MANAGED_BY,
        names::RUN_LABEL
    )
}

fn meta(run_id: &str, chunk: usize, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(object_name(run_id, chunk)),
        namespace: Some(namespace.to_owned()),
        labels: Some(labels(run_id)),
        ..ObjectMeta::default()
    }
}

/// The chunk's URLs, one a line: line N is completion index N.
pub fn config_map(run_id: &str, chunk: usize, urls: &[String], namespace: &str) -> ConfigMap {
    let mut text = urls.join("\n");
    text.push('\n');
    ConfigMap {
        metadata: meta(run_id, chunk, namespace),
        data: Some(BTreeMap::from([(names::URLS_KEY.to_owned(), text)])),
        ..ConfigMap::default()
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn env_field(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                field_path: path.to_owned(),
                ..ObjectFieldSelector::default()
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// The chunk's Indexed Job: one pod per URL (`urls` lines), the pod
/// settings of DESIGN.md.
pub fn job(run_id: &str, chunk: usize, url_count: usize, s: &EksSettings) -> Job {
    use names::*;
    let mut env_vars = vec![
        env("TRAWL_RUN_ID", run_id),
        env("TRAWL_URLS_FILE", format!("{URLS_DIR}/{URLS_KEY}")),
        env("TRAWL_SINK", "aws"),
        env("TRAWL_BUCKET", &s.bucket),
        env("TRAWL_TABLE", &s.table),
        env("AWS_REGION", &s.region),
        env_field("TRAWL_NODE_NAME", "spec.nodeName"),
        // The attempt: failures of this index so far, plus one.
        env_field(
            "TRAWL_INDEX_FAILURES",
            &format!("metadata.annotations['{INDEX_FAILURES_ANNOTATION}']"),
        ),
    ];
    if let Some(days) = s.retain_days {
        env_vars.push(env("TRAWL_RETAIN_DAYS", days.to_string()));
    }
    let quantity = |q: &str| Quantity(q.to_owned());
    let container = Container {
        name: CONTAINER.to_owned(),
        image: Some(s.image.clone()),
        env: Some(env_vars),
        resources: Some(ResourceRequirements {
            requests: Some(BTreeMap::from([
                ("cpu".to_owned(), quantity("250m")),
                ("memory".to_owned(), quantity("128Mi")),
            ])),
            limits: Some(BTreeMap::from([(
                "memory".to_owned(),
                quantity(&s.memory_limit),
            )])),
            ..ResourceRequirements::default()
        }),
        security_context: Some(SecurityContext {
            read_only_root_filesystem: Some(true),
            allow_privilege_escalation: Some(false),
            capabilities: Some(Capabilities {
                drop: Some(vec!["ALL".to_owned()]),
                ..Capabilities::default()
            }),
            ..SecurityContext::default()
        }),
        volume_mounts: Some(vec![VolumeMount {
            name: URLS_KEY.to_owned(),
            mount_path: URLS_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        }]),
        ..Container::default()
    };
    let pod = PodSpec {
        // Required with backoffLimitPerIndex; the Job retries the index.
        restart_policy: Some("Never".to_owned()),
        service_account_name: Some(SERVICE_ACCOUNT.to_owned()),
        node_selector: Some(BTreeMap::from([(POOL_LABEL.to_owned(), POOL.to_owned())])),
        tolerations: Some(vec![Toleration {
            key: Some(TAINT_KEY.to_owned()),
            operator: Some("Equal".to_owned()),
            value: Some(TAINT_VALUE.to_owned()),
            effect: Some("NoSchedule".to_owned()),
            ..Toleration::default()
        }]),
        active_deadline_seconds: Some(s.pod_deadline_secs),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        containers: vec![container],
        volumes: Some(vec![Volume {
            name: URLS_KEY.to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: object_name(run_id, chunk),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        }]),
        ..PodSpec::default()
    };
    let n = i32::try_from(url_count).unwrap_or(i32::MAX);
    Job {
        metadata: meta(run_id, chunk, &s.namespace),
        spec: Some(JobSpec {
            completion_mode: Some("Indexed".to_owned()),
            completions: Some(n),
            parallelism: Some(s.parallelism.min(n).max(1)),
            backoff_limit_per_index: Some(s.backoff_limit_per_index),
            ttl_seconds_after_finished: Some(s.ttl_after_finished_secs),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(run_id)),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// What a launch did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Launched {
    /// Jobs the run has (one per chunk).
    pub jobs: usize,
    /// Objects this call created (the rest existed: a resubmission).
    pub created: usize,
}

/// Creates `obj` unless an object of its name exists; whether it created it.
async fn create_once<K>(api: &Api<K>, obj: &K, what: &str) -> Result<bool, String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
        Err(e) => Err(format!("creating {what}: {}", kube_error(&e))),
    }
}

/// A Kubernetes error in words, with what to do where it is clear.
pub fn kube_error(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "forbidden: {} (the operator's RBAC of terraform/kubernetes.tf allows Jobs and ConfigMaps in the namespace)",
            s.message
        ),
        kube::Error::Api(s) if s.code == 404 => {
            format!(
                "{} (does the namespace exist? terraform/ creates it)",
                s.message
            )
        }
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => format!(
            "{} (is the cluster reachable? check the kube context: --context, `context` under [eks], KUBECONFIG)",
            trawl_scraper::error_text::full(other)
        ),
    }
}

/// Creates the run's ConfigMaps and Jobs, chunk by chunk (each ConfigMap
/// before its Job, which mounts it). Objects that exist are left as they
/// are, so submitting a run twice creates nothing twice.
pub async fn launch(
    client: &kube::Client,
    run_id: &str,
    urls: &[String],
    s: &EksSettings,
) -> Result<Launched, String> {
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), &s.namespace);
    let jobs: Api<Job> = Api::namespaced(client.clone(), &s.namespace);
    let mut launched = Launched::default();
    for (chunk, range) in chunks(urls).into_iter().enumerate() {
        let name = object_name(run_id, chunk);
        let part = &urls[range];
        let cm = config_map(run_id, chunk, part, &s.namespace);
        launched.created +=
            usize::from(create_once(&maps, &cm, &format!("ConfigMap {name}")).await?);
        let job = job(run_id, chunk, part.len(), s);
        launched.created += usize::from(create_once(&jobs, &job, &format!("Job {name}")).await?);
        launched.jobs += 1;
    }
    Ok(launched)
}

/// Cancel: the run's Jobs go with their pods (background propagation), and
/// its ConfigMaps. Returns how many Jobs were deleted.
pub async fn delete_run(
    client: &kube::Client,
    namespace: &str,
    run_id: &str,
) -> Result<usize, String> {
    let selector = ListParams::default().labels(&run_selector(run_id));
    let jobs: Api<Job> = Api::namespaced(client.clone(), namespace);
    let deleted = jobs
        .delete_collection(&DeleteParams::background(), &selector)
        .await
        .map_err(|e| format!("deleting the run's Jobs: {}", kube_error(&e)))?;
    let n = deleted.left().map_or(0, |list| list.items.len());
    let maps: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    maps.delete_collection(&DeleteParams::background(), &selector)
        .await
        .map_err(|e| format!("deleting the run's ConfigMaps: {}", kube_error(&e)))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> EksSettings {
        EksSettings {
            retain_days: Some(7),
            ..EksSettings::new(
                "trawl",
                "1.dkr.ecr.us-east-1.amazonaws.com/trawl-scraper:v1",
                "trawl-results",
                "trawl-content",
                "us-east-1",
            )
        }
    }

    #[test]
    fn chunks_keep_both_limits_and_every_url_in_order() {
        let short: Vec<String> = (0..12_001)
            .map(|i| format!("https://s{i}.example/"))
            .collect();
        let c = chunks(&short);
        assert_eq!(c, vec![0..5_000, 5_000..10_000, 10_000..12_001]);
        // Long URLs: the byte limit cuts first.
        let long: Vec<String> = (0..2_000)
            .map(|i| format!("https://s{i}.example/{}", "a".repeat(1_000)))
            .collect();
        let c = chunks(&long);
        assert!(c.len() > 1);
        let mut next = 0;
        for r in &c {
            assert_eq!(r.start, next);
            next = r.end;
            let bytes: usize = long[r.clone()].iter().map(|u| u.len() + 1).sum();
            assert!(bytes <= MAX_CHUNK_BYTES && r.len() <= MAX_CHUNK_URLS);
            let cm = config_map("r-20261124-050000-abcd", 0, &long[r.clone()], "trawl");
            let text = &cm.data.unwrap()[names::URLS_KEY];
            assert!(text.len() < 1024 * 1024, "fits a ConfigMap");
        }
        assert_eq!(next, long.len());
        assert!(chunks(&[]).is_empty());
    }

    #[test]
    fn the_job_follows_the_kubernetes_contract() {
        let run = "r-20261124-050000-abcd";
        let j = job(run, 2, 3, &settings());
        let json = serde_json::to_value(&j).unwrap();
        let at = |p: &str| json.pointer(p).cloned().unwrap_or_default();
        assert_eq!(at("/metadata/name"), "trawl-r-20261124-050000-abcd-2");
        assert_eq!(
            chunk_of_object(run, "trawl-r-20261124-050000-abcd-2"),
            Some(2)
        );
        assert_eq!(chunk_of_object(run, "trawl-r-20261124-050000-abcd-x"), None);
        assert_eq!(chunk_of_object("r-1", "trawl-r-12-0"), None, "another run");
        assert_eq!(at("/metadata/labels/trawl.io~1run-id"), run);
        assert_eq!(
            at("/metadata/labels/app.kubernetes.io~1managed-by"),
            "trawl"
        );
        assert_eq!(at("/spec/completionMode"), "Indexed");
        assert_eq!(at("/spec/completions"), 3);
        assert_eq!(at("/spec/parallelism"), 3, "never more than the URLs");
        assert_eq!(at("/spec/backoffLimitPerIndex"), 2);
        assert!(
            json.pointer("/spec/activeDeadlineSeconds").is_none(),
            "no Job-level deadline"
        );
        let pod = "/spec/template/spec";
        assert_eq!(at(&format!("{pod}/activeDeadlineSeconds")), 120);
        assert_eq!(at(&format!("{pod}/restartPolicy")), "Never");
        assert_eq!(at(&format!("{pod}/serviceAccountName")), "trawl-scraper");
        assert_eq!(
            at(&format!("{pod}/nodeSelector/trawl.io~1pool")),
            "scrapers"
        );
        assert_eq!(at(&format!("{pod}/tolerations/0/key")), "trawl.io/scraper");
        assert_eq!(at(&format!("{pod}/securityContext/runAsUser")), 65532);
        assert_eq!(at(&format!("{pod}/securityContext/runAsNonRoot")), true);
        assert_eq!(
            at(&format!("{pod}/securityContext/seccompProfile/type")),
            "RuntimeDefault"
        );
        let c = format!("{pod}/containers/0");
        assert_eq!(
            at(&format!("{c}/securityContext/readOnlyRootFilesystem")),
            true
        );
        assert_eq!(
            at(&format!("{c}/securityContext/capabilities/drop/0")),
            "ALL"
        );
        assert_eq!(at(&format!("{c}/resources/requests/cpu")), "250m");
        assert_eq!(at(&format!("{c}/resources/limits/memory")), "256Mi");
        assert_eq!(
            at(&format!("{pod}/volumes/0/configMap/name")),
            at("/metadata/name")
        );
        let env = at(&format!("{c}/env"));
        let var = |name: &str| {
            env.as_array()
                .unwrap()
                .iter()
                .find(|e| e["name"] == name)
                .cloned()
                .unwrap_or_else(|| panic!("{name}"))
        };
        assert_eq!(var("TRAWL_URLS_FILE")["value"], "/etc/trawl/urls");
        assert_eq!(var("TRAWL_RUN_ID")["value"], run);
        assert_eq!(var("TRAWL_SINK")["value"], "aws");
        assert_eq!(var("TRAWL_RETAIN_DAYS")["value"], "7");
        assert_eq!(
            var("TRAWL_NODE_NAME")["valueFrom"]["fieldRef"]["fieldPath"],
            "spec.nodeName"
        );
        assert_eq!(
            var("TRAWL_INDEX_FAILURES")["valueFrom"]["fieldRef"]["fieldPath"],
            "metadata.annotations['batch.kubernetes.io/job-index-failure-count']"
        );
        assert_eq!(
            run_selector(run),
            "app.kubernetes.io/managed-by=trawl,trawl.io/run-id=r-20261124-050000-abcd"
        );
    }
}

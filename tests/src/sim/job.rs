//! The Job controller (completionMode Indexed; NonIndexed Jobs are run the
//! same way, one pod per completion). Per index: at most one active pod,
//! retried until the index succeeds or its failures exceed
//! backoffLimitPerIndex (without it: until the Job's failures exceed
//! backoffLimit). Failed pods are kept, as the real controller keeps them,
//! and counted from the store, so the controller holds no state of its own.
//! podFailurePolicy is not simulated. Finished Jobs are deleted (with their
//! pods) ttlSecondsAfterFinished after they finished.

use super::Core;
use super::api::{create_object, delete_object};
use super::store::{now_rfc3339, rand_suffix, resource};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";
pub const CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
pub const INDEX_FAILURE_COUNT: &str = "batch.kubernetes.io/job-index-failure-count";

/// The API server's defaults for a new Job.
pub fn default_job(job: &mut Value) {
    let spec = &mut job["spec"];
    if spec["completions"].is_null() {
        spec["completions"] = json!(1);
    }
    if spec["parallelism"].is_null() {
        spec["parallelism"] = json!(1);
    }
    if spec["completionMode"].is_null() {
        spec["completionMode"] = json!("NonIndexed");
    }
    if spec["backoffLimit"].is_null() {
        spec["backoffLimit"] = if spec["backoffLimitPerIndex"].is_null() {
            json!(6)
        } else {
            json!(i32::MAX)
        };
    }
    if spec["suspend"].is_null() {
        spec["suspend"] = json!(false);
    }
    super::api::default_pod_spec(&mut spec["template"]["spec"]);
    if spec["template"]["spec"]["restartPolicy"] == "Always" {
        spec["template"]["spec"]["restartPolicy"] = json!("Never");
    }
    job["status"] = json!({});
}

/// The selector and template labels that need the Job's uid (set right
/// after the Job is stored, as the API server does on create).
pub fn label_with_uid(job: &mut Value) {
    let uid = job["metadata"]["uid"].clone();
    let name = job["metadata"]["name"].clone();
    if job["spec"]["selector"].is_null() {
        job["spec"]["selector"] = json!({"matchLabels": {CONTROLLER_UID: uid}});
    }
    let labels = &mut job["spec"]["template"]["metadata"]["labels"];
    for (k, v) in [
        (CONTROLLER_UID, &uid),
        ("controller-uid", &uid),
        (JOB_NAME, &name),
        ("job-name", &name),
    ] {
        labels[k] = v.clone();
    }
}

pub async fn run(core: Arc<Core>) {
    loop {
        let notified = core.store.changed.notified();
        let (jobs, _) = core.store.list("jobs", None);
        for job in &jobs {
            reconcile(&core, job);
        }
        collect_garbage(&core, &jobs);
        super::next_pass(notified, Duration::from_millis(250)).await;
    }
}

/// The garbage collector's part: pods whose owning Job is gone are deleted.
fn collect_garbage(core: &Core, jobs: &[Value]) {
    let uids: Vec<&str> = jobs
        .iter()
        .filter_map(|j| j["metadata"]["uid"].as_str())
        .collect();
    let (pods, _) = core.store.list("pods", None);
    let pods_res = resource("", "pods").expect("pods");
    for p in pods {
        let orphaned = p["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|o| {
                o.iter()
                    .any(|r| r["kind"] == "Job" && !uids.contains(&r["uid"].as_str().unwrap_or("")))
            });
        if orphaned && p["metadata"]["deletionTimestamp"].is_null() {
            let ns = p["metadata"]["namespace"].as_str().unwrap_or("");
            let name = p["metadata"]["name"].as_str().unwrap_or("");
            let _ = delete_object(core, pods_res, ns, name, None);
        }
    }
}

fn is_true(obj: &Value, ty: &str) -> bool {
    obj["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == ty && c["status"] == "True"))
}

/// "0-2,4,6-7".
pub fn index_ranges(indexes: &[u64]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indexes.len() {
        let start = indexes[i];
        let mut end = start;
        while i + 1 < indexes.len() && indexes[i + 1] == end + 1 {
            i += 1;
            end = indexes[i];
        }
        out.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    out.join(",")
}

fn since(ts: &Value) -> Option<Duration> {
    let t =
        time::OffsetDateTime::parse(ts.as_str()?, &time::format_description::well_known::Rfc3339)
            .ok()?;
    let d = time::OffsetDateTime::now_utc() - t;
    Some(Duration::from_secs_f64(d.as_seconds_f64().max(0.0)))
}

fn reconcile(core: &Core, job: &Value) {
    let meta = &job["metadata"];
    if !meta["deletionTimestamp"].is_null() {
        return;
    }
    let ns = meta["namespace"].as_str().unwrap_or("");
    let name = meta["name"].as_str().unwrap_or("");
    let uid = meta["uid"].as_str().unwrap_or("");
    let spec = &job["spec"];
    if is_true(job, "Complete") || is_true(job, "Failed") {
        if let Some(ttl) = spec["ttlSecondsAfterFinished"].as_u64() {
            let done = since(&job["status"]["completionTime"])
                .or_else(|| since(&job["status"]["conditions"][0]["lastTransitionTime"]));
            if done.is_some_and(|d| d >= Duration::from_secs(ttl)) {
                let jobs = resource("batch", "jobs").expect("jobs");
                let _ = delete_object(core, jobs, ns, name, Some("Background"));
            }
        }
        return;
    }
    if spec["suspend"] == true {
        return;
    }
    let completions = spec["completions"].as_u64().unwrap_or(1);
    let parallelism = spec["parallelism"].as_u64().unwrap_or(1);
    let per_index = spec["backoffLimitPerIndex"].as_u64();
    let backoff = spec["backoffLimit"].as_u64().unwrap_or(6);
    let (pods, _) = core.store.list("pods", Some(ns));
    let pods: Vec<&Value> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"][CONTROLLER_UID] == uid)
        .collect();
    let n = completions as usize;
    let mut succeeded = vec![false; n];
    let mut failures = vec![0u64; n];
    let mut active = vec![0u64; n];
    let (mut ready, mut failed_pods) = (0u64, 0u64);
    for p in &pods {
        let Some(i) = p["metadata"]["labels"][COMPLETION_INDEX]
            .as_str()
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < n)
        else {
            continue;
        };
        match p["status"]["phase"].as_str().unwrap_or("Pending") {
            "Succeeded" => succeeded[i] = true,
            "Failed" => {
                failures[i] += 1;
                failed_pods += 1;
            }
            phase => {
                active[i] += 1;
                if phase == "Running" {
                    ready += 1;
                }
            }
        }
    }
    let index_failed = |i: usize| per_index.is_some_and(|l| failures[i] > l);
    let job_failed = per_index.is_none() && failed_pods > backoff;
    let mut running: u64 = active.iter().sum();
    // Deleted meanwhile: create nothing more.
    let exists = core
        .store
        .get("jobs", ns, name)
        .is_some_and(|j| j["metadata"]["deletionTimestamp"].is_null());
    if !job_failed && exists {
        for i in 0..n {
            if running >= parallelism {
                break;
            }
            if succeeded[i] || index_failed(i) || active[i] > 0 {
                continue;
            }
            if create_pod(core, job, i, failures[i]).is_ok() {
                running += 1;
                active[i] += 1;
            }
        }
    }
    let done: Vec<u64> = (0..n).filter(|i| succeeded[*i]).map(|i| i as u64).collect();
    let failed_idx: Vec<u64> = (0..n)
        .filter(|i| !succeeded[*i] && index_failed(*i))
        .map(|i| i as u64)
        .collect();
    let all_terminal = done.len() + failed_idx.len() == n;
    let old = job["status"].clone();
    let mut status = old.clone();
    if status["startTime"].is_null() {
        status["startTime"] = json!(now_rfc3339());
    }
    status["active"] = json!(running);
    status["ready"] = json!(ready);
    status["succeeded"] = json!(done.len());
    status["failed"] = json!(failed_pods);
    status["terminating"] = json!(0);
    status["completedIndexes"] = json!(index_ranges(&done));
    if per_index.is_some() {
        status["failedIndexes"] = json!(index_ranges(&failed_idx));
    }
    status["uncountedTerminatedPods"] = json!({});
    let now = now_rfc3339();
    let cond = |ty: &str, reason: &str, message: &str| {
        json!({"type": ty, "status": "True", "reason": reason, "message": message,
               "lastProbeTime": now, "lastTransitionTime": now})
    };
    if job_failed || (all_terminal && !failed_idx.is_empty()) {
        let (reason, msg) = if job_failed {
            (
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            )
        } else {
            ("FailedIndexes", "Job has failed indexes")
        };
        status["conditions"] = json!([
            cond("FailureTarget", reason, msg),
            cond("Failed", reason, msg)
        ]);
        status["completionTime"] = json!(now);
        status["active"] = json!(0);
    } else if all_terminal {
        status["conditions"] = json!([
            cond(
                "SuccessCriteriaMet",
                "CompletionsReached",
                "Reached expected number of succeeded pods"
            ),
            cond(
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods"
            ),
        ]);
        status["completionTime"] = json!(now);
    }
    if status != old {
        let _ = core.store.update("jobs", ns, name, None, |j| {
            j["status"] = status;
            true
        });
    }
}

fn create_pod(core: &Core, job: &Value, index: usize, failures: u64) -> Result<(), ()> {
    let meta = &job["metadata"];
    let name = meta["name"].as_str().unwrap_or("");
    let template = &job["spec"]["template"];
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": template["metadata"].clone(),
        "spec": template["spec"].clone(),
    });
    if !pod["metadata"].is_object() {
        pod["metadata"] = json!({});
    }
    let m = &mut pod["metadata"];
    m["name"] = json!(format!("{name}-{index}-{}", rand_suffix(5)));
    m["namespace"] = meta["namespace"].clone();
    m["labels"][COMPLETION_INDEX] = json!(index.to_string());
    m["labels"][JOB_NAME] = json!(name);
    m["labels"]["job-name"] = json!(name);
    m["labels"][CONTROLLER_UID] = meta["uid"].clone();
    m["labels"]["controller-uid"] = meta["uid"].clone();
    m["annotations"][COMPLETION_INDEX] = json!(index.to_string());
    if !job["spec"]["backoffLimitPerIndex"].is_null() {
        m["annotations"][INDEX_FAILURE_COUNT] = json!(failures.to_string());
    }
    m["ownerReferences"] = json!([{
        "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": meta["uid"],
        "controller": true, "blockOwnerDeletion": true,
    }]);
    pod["spec"]["hostname"] = json!(format!("{name}-{index}"));
    for list in ["initContainers", "containers"] {
        if let Some(cs) = pod["spec"][list].as_array_mut() {
            for c in cs {
                if !c["env"].is_array() {
                    c["env"] = json!([]);
                }
                if let Some(env) = c["env"].as_array_mut() {
                    env.push(
                        json!({"name": "JOB_COMPLETION_INDEX", "valueFrom": {"fieldRef": {
                            "apiVersion": "v1",
                            "fieldPath": format!("metadata.labels['{COMPLETION_INDEX}']"),
                        }}}),
                    );
                }
            }
        }
    }
    create_object(core, pod).map(|_| ()).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ranges() {
        assert_eq!(super::index_ranges(&[0, 1, 2, 4, 6, 7]), "0-2,4,6-7");
        assert_eq!(super::index_ranges(&[]), "");
    }
}

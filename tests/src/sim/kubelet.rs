//! The kubelet of every node: a pod bound to a node runs as a real worker
//! process (the image is ignored; the first container's `args` are passed,
//! its `command` is not). Environment, in order: the safe environment,
//! `SimOptions::pod_env`, the container's env (downward API fieldRefs and
//! configMapKeyRefs resolved), then TRAWL_CHECKIP_URL = the simulator's
//! `/checkip/{node}`. ConfigMap volumes are written to
//! `<sim dir>/pods/{ns}/{pod}/{volume}/`; an env value that starts with a
//! volume's mountPath is rewritten to that folder. stdout and stderr go to
//! `<pod dir>/log` (served as pods/log). Phase: Pending -> Running ->
//! Succeeded (exit 0, reason Completed) or Failed (reason Error); past
//! activeDeadlineSeconds the process is killed (Failed, DeadlineExceeded);
//! fault knobs: image pull failure (never runs) and OOM kill (killed as
//! soon as it starts: exit 137, reason OOMKilled).

use super::store::now_rfc3339;
use super::{Core, Faults};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;

pub fn pod_dir(core: &Core, ns: &str, pod: &str) -> PathBuf {
    core.dir.join("pods").join(ns).join(pod)
}

pub fn log_path(core: &Core, ns: &str, pod: &str) -> PathBuf {
    pod_dir(core, ns, pod).join("log")
}

pub async fn run(core: Arc<Core>) {
    let taken: Arc<Mutex<HashSet<(String, String)>>> = Arc::default();
    let permits = Arc::new(Semaphore::new(core.opts.max_running.max(1)));
    loop {
        let notified = core.store.changed.notified();
        let (pods, _) = core.store.list("pods", None);
        let mut present = HashSet::new();
        for pod in &pods {
            let ns = pod["metadata"]["namespace"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let name = pod["metadata"]["name"].as_str().unwrap_or("").to_owned();
            let key = (ns.clone(), name.clone());
            present.insert(key.clone());
            let Some(node) = pod["spec"]["nodeName"].as_str() else {
                continue;
            };
            let mine = taken
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&key);
            if mine {
                continue;
            }
            if !pod["metadata"]["deletionTimestamp"].is_null() {
                let _ = core.store.remove("pods", &ns, &name);
                continue;
            }
            if pod["status"]["phase"] != "Pending" || core.store.get("nodes", "", node).is_none() {
                continue;
            }
            taken.lock().unwrap_or_else(|e| e.into_inner()).insert(key);
            tokio::spawn(run_pod(core.clone(), ns, name, permits.clone()));
        }
        taken
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|k| present.contains(k));
        super::next_pass(notified, Duration::from_millis(250)).await;
    }
}

fn set_status(core: &Core, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
    let _ = core.store.update("pods", ns, name, None, |p| {
        f(&mut p["status"]);
        true
    });
}

fn deleting(core: &Core, ns: &str, name: &str) -> bool {
    core.store
        .get("pods", ns, name)
        .is_none_or(|p| !p["metadata"]["deletionTimestamp"].is_null())
}

fn container_status(pod: &Value, state: Value, ready: bool) -> Value {
    let c = &pod["spec"]["containers"][0];
    json!([{
        "name": c["name"], "image": c["image"], "imageID": "",
        "containerID": format!("containerd://{}", pod["metadata"]["uid"].as_str().unwrap_or("")),
        "ready": ready, "started": ready, "restartCount": 0, "state": state,
    }])
}

async fn wait_deleted(core: &Core, ns: &str, name: &str) {
    while !deleting(core, ns, name) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = core.store.remove("pods", ns, name);
}

async fn run_pod(core: Arc<Core>, ns: String, name: String, permits: Arc<Semaphore>) {
    let Some(pod) = core.store.get("pods", &ns, &name) else {
        return;
    };
    if Faults::matches(&core.faults.image_pull, &name) {
        let image = pod["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        for reason in ["ErrImagePull", "ImagePullBackOff"] {
            let msg = format!("Back-off pulling image \"{image}\": not found (simulated)");
            set_status(&core, &ns, &name, |s| {
                s["containerStatuses"] = container_status(
                    &pod,
                    json!({"waiting": {"reason": reason, "message": msg}}),
                    false,
                );
            });
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        return wait_deleted(&core, &ns, &name).await;
    }
    let Ok(_permit) = permits.acquire_owned().await else {
        return;
    };
    let node = pod["spec"]["nodeName"].as_str().unwrap_or("").to_owned();
    let dir = pod_dir(&core, &ns, &name);
    // ConfigMap volumes (waiting for a missing ConfigMap, as a kubelet does).
    let mut mounts: Vec<(String, PathBuf)> = Vec::new();
    for vol in pod["spec"]["volumes"].as_array().into_iter().flatten() {
        let Some(cm_name) = vol["configMap"]["name"].as_str() else {
            continue;
        };
        let vname = vol["name"].as_str().unwrap_or("");
        let cm = loop {
            if let Some(cm) = core.store.get("configmaps", &ns, cm_name) {
                break cm;
            }
            if deleting(&core, &ns, &name) {
                return wait_deleted(&core, &ns, &name).await;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let vdir = dir.join(vname);
        let _ = std::fs::create_dir_all(&vdir);
        let data = cm["data"].as_object().cloned().unwrap_or_default();
        match vol["configMap"]["items"].as_array() {
            Some(items) => {
                for it in items {
                    let (Some(k), Some(p)) = (it["key"].as_str(), it["path"].as_str()) else {
                        continue;
                    };
                    let _ = std::fs::write(
                        vdir.join(p),
                        data.get(k).and_then(Value::as_str).unwrap_or(""),
                    );
                }
            }
            None => {
                for (k, v) in &data {
                    let _ = std::fs::write(vdir.join(k), v.as_str().unwrap_or(""));
                }
            }
        }
        for c in pod["spec"]["containers"][0]["volumeMounts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            if c["name"] == vname
                && let Some(mp) = c["mountPath"].as_str()
            {
                mounts.push((mp.trim_end_matches('/').to_owned(), vdir.clone()));
            }
        }
    }
    let _ = std::fs::create_dir_all(&dir);
    // The pod as it is now (bound: spec.nodeName is set).
    let Some(pod) = core.store.get("pods", &ns, &name) else {
        return;
    };
    let container = &pod["spec"]["containers"][0];
    let mut env: Vec<(String, String)> = Vec::new();
    for e in container["env"].as_array().into_iter().flatten() {
        let key = e["name"].as_str().unwrap_or("").to_owned();
        let value = if let Some(v) = e["value"].as_str() {
            v.to_owned()
        } else if let Some(path) = e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field_ref(&pod, path)
        } else if let Some(r) = e["valueFrom"]["configMapKeyRef"].as_object() {
            let cm = core
                .store
                .get("configmaps", &ns, r["name"].as_str().unwrap_or(""));
            cm.and_then(|c| {
                c["data"][r["key"].as_str().unwrap_or("")]
                    .as_str()
                    .map(str::to_owned)
            })
            .unwrap_or_default()
        } else {
            String::new()
        };
        let value = mounts
            .iter()
            .find_map(|(mp, d)| {
                value
                    .strip_prefix(mp.as_str())
                    .filter(|rest| rest.is_empty() || rest.starts_with('/'))
                    .map(|rest| format!("{}{rest}", d.display()))
            })
            .unwrap_or(value);
        env.push((key, value));
    }
    let log = std::fs::File::create(dir.join("log"));
    let mut cmd = tokio::process::Command::from(crate::env::safe_command(&core.worker_bin));
    cmd.envs(core.opts.pod_env.iter().cloned())
        .envs(env)
        .env(
            "TRAWL_CHECKIP_URL",
            format!("{}/checkip/{node}", core.base_url()),
        )
        .args(
            container["args"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str),
        )
        .current_dir(&dir)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    match log.and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((a, b)) => {
            cmd.stdout(a).stderr(b);
        }
        Err(_) => {
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
        }
    }
    let node_ip = core
        .store
        .get("nodes", "", &node)
        .and_then(|n| {
            n["status"]["addresses"]
                .as_array()
                .and_then(|a| a.iter().find(|a| a["type"] == "InternalIP").cloned())
        })
        .and_then(|a| a["address"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let started = now_rfc3339();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let msg = format!("failed to start the worker: {e}");
            set_status(&core, &ns, &name, |s| {
                s["phase"] = json!("Failed");
                s["containerStatuses"] = container_status(
                    &pod,
                    json!({"terminated": {"exitCode": 128, "reason": "StartError", "message": msg}}),
                    false,
                );
            });
            return;
        }
    };
    let pod_ip = format!(
        "10.1.{}.{}",
        rand::random_range(0..255u8),
        rand::random_range(1..255u8)
    );
    set_status(&core, &ns, &name, |s| {
        s["phase"] = json!("Running");
        s["hostIP"] = json!(node_ip);
        s["hostIPs"] = json!([{"ip": node_ip}]);
        s["podIP"] = json!(pod_ip);
        s["podIPs"] = json!([{"ip": pod_ip}]);
        s["startTime"] = json!(started);
        s["conditions"] = json!(["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
            .iter()
            .map(|t| json!({"type": t, "status": "True", "lastProbeTime": null, "lastTransitionTime": started}))
            .collect::<Vec<_>>());
        s["containerStatuses"] =
            container_status(&pod, json!({"running": {"startedAt": started}}), true);
    });
    let deadline = pod["spec"]["activeDeadlineSeconds"]
        .as_u64()
        .map_or(Duration::from_secs(86_400), Duration::from_secs);
    let oom = Faults::matches(&core.faults.oom, &name);
    enum End {
        Exit(i32),
        Deadline,
        Oom,
        Deleted,
    }
    let end = {
        let deadline_sleep = tokio::time::sleep(deadline);
        tokio::pin!(deadline_sleep);
        let oom_sleep = tokio::time::sleep(Duration::from_millis(if oom { 0 } else { 86_400_000 }));
        tokio::pin!(oom_sleep);
        let mut poll = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                biased;
                () = &mut oom_sleep => break End::Oom,
                status = child.wait() => break End::Exit(status.ok().and_then(|s| s.code()).unwrap_or(137)),
                () = &mut deadline_sleep => break End::Deadline,
                _ = poll.tick() => if deleting(&core, &ns, &name) { break End::Deleted },
            }
        }
    };
    if !matches!(end, End::Exit(_)) {
        let _ = child.kill().await;
    }
    let finished = now_rfc3339();
    let terminated = |code: i32, reason: &str| json!({"terminated": {"exitCode": code, "reason": reason, "startedAt": started, "finishedAt": finished}});
    match end {
        End::Deleted => {
            let _ = core.store.remove("pods", &ns, &name);
        }
        End::Exit(code) => set_status(&core, &ns, &name, |s| {
            s["phase"] = json!(if code == 0 { "Succeeded" } else { "Failed" });
            s["containerStatuses"] = container_status(
                &pod,
                terminated(code, if code == 0 { "Completed" } else { "Error" }),
                false,
            );
            mark_not_ready(s, &finished);
        }),
        End::Oom => set_status(&core, &ns, &name, |s| {
            s["phase"] = json!("Failed");
            s["containerStatuses"] = container_status(&pod, terminated(137, "OOMKilled"), false);
            mark_not_ready(s, &finished);
        }),
        End::Deadline => set_status(&core, &ns, &name, |s| {
            s["phase"] = json!("Failed");
            s["reason"] = json!("DeadlineExceeded");
            s["message"] = json!("Pod was active on the node longer than the specified deadline");
            s["containerStatuses"] = container_status(&pod, terminated(137, "Error"), false);
            mark_not_ready(s, &finished);
        }),
    }
}

fn mark_not_ready(status: &mut Value, now: &str) {
    if let Some(cs) = status["conditions"].as_array_mut() {
        for c in cs {
            if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                c["status"] = json!("False");
                c["reason"] = json!("PodCompleted");
                c["lastTransitionTime"] = json!(now);
            }
        }
    }
}

/// A downward API fieldPath of `pod`.
pub fn field_ref(pod: &Value, path: &str) -> String {
    let map_key = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("']"))
            .map(str::to_owned)
    };
    let v = if let Some(k) = map_key("metadata.annotations['") {
        pod["metadata"]["annotations"][k].clone()
    } else if let Some(k) = map_key("metadata.labels['") {
        pod["metadata"]["labels"][k].clone()
    } else {
        let mut v = pod;
        for part in path.split('.') {
            v = &v[part];
        }
        v.clone()
    };
    match v {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

//! Server-side printing: the `meta.k8s.io/v1` Table kubectl asks for, with
//! the columns of the real API server (priority 1 = shown with `-o wide`).

use super::store::Resource;
use serde_json::{Value, json};

fn age(ts: &Value) -> String {
    let Some(t) = ts.as_str().and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    }) else {
        return "<unknown>".into();
    };
    let secs = (time::OffsetDateTime::now_utc() - t).whole_seconds().max(0);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 3 * 3600 => format!("{}m", s / 60),
        s if s < 48 * 3600 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86400),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

fn col(name: &str, ty: &str, priority: u8) -> Value {
    json!({"name": name, "type": ty, "format": if name == "Name" { "name" } else { "" },
           "description": name, "priority": priority})
}

fn columns(res: &Resource) -> Vec<Value> {
    match res.plural {
        "pods" => vec![
            col("Name", "string", 0),
            col("Ready", "string", 0),
            col("Status", "string", 0),
            col("Restarts", "string", 0),
            col("Age", "string", 0),
            col("IP", "string", 1),
            col("Node", "string", 1),
            col("Nominated Node", "string", 1),
            col("Readiness Gates", "string", 1),
        ],
        "nodes" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Roles", "string", 0),
            col("Age", "string", 0),
            col("Version", "string", 0),
            col("Internal-IP", "string", 1),
            col("External-IP", "string", 1),
            col("OS-Image", "string", 1),
            col("Kernel-Version", "string", 1),
            col("Container-Runtime", "string", 1),
        ],
        "jobs" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Completions", "string", 0),
            col("Duration", "string", 0),
            col("Age", "string", 0),
            col("Containers", "string", 1),
            col("Images", "string", 1),
            col("Selector", "string", 1),
        ],
        "nodeclaims" => vec![
            col("Name", "string", 0),
            col("Type", "string", 0),
            col("Capacity", "string", 0),
            col("Node", "string", 0),
            col("Ready", "string", 0),
            col("Age", "string", 0),
            col("ID", "string", 1),
            col("NodePool", "string", 1),
        ],
        "configmaps" => vec![
            col("Name", "string", 0),
            col("Data", "integer", 0),
            col("Age", "string", 0),
        ],
        "namespaces" => vec![
            col("Name", "string", 0),
            col("Status", "string", 0),
            col("Age", "string", 0),
        ],
        _ => vec![col("Name", "string", 0), col("Age", "string", 0)],
    }
}

fn pod_status(p: &Value) -> String {
    if !p["metadata"]["deletionTimestamp"].is_null() {
        return "Terminating".into();
    }
    for c in p["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(r) = c["state"]["waiting"]["reason"].as_str() {
            return r.into();
        }
        if let Some(r) = c["state"]["terminated"]["reason"].as_str() {
            return r.into();
        }
    }
    if let Some(r) = p["status"]["reason"].as_str() {
        return r.into();
    }
    s(&p["status"]["phase"])
}

fn address(n: &Value, kind: &str) -> String {
    n["status"]["addresses"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["type"] == kind))
        .map_or("<none>".into(), |x| s(&x["address"]))
}

fn condition(o: &Value, ty: &str) -> Option<String> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
        .map(|c| s(&c["status"]))
}

fn cells(res: &Resource, o: &Value) -> Vec<Value> {
    let name = s(&o["metadata"]["name"]);
    let created = age(&o["metadata"]["creationTimestamp"]);
    match res.plural {
        "pods" => {
            let statuses = o["status"]["containerStatuses"].as_array();
            let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
            let ready = statuses.map_or(0, |c| c.iter().filter(|c| c["ready"] == true).count());
            vec![
                json!(name),
                json!(format!("{ready}/{total}")),
                json!(pod_status(o)),
                json!("0"),
                json!(created),
                json!(o["status"]["podIP"].as_str().unwrap_or("<none>")),
                json!(o["spec"]["nodeName"].as_str().unwrap_or("<none>")),
                json!("<none>"),
                json!("<none>"),
            ]
        }
        "nodes" => {
            let mut status = match condition(o, "Ready").as_deref() {
                Some("True") => "Ready".to_string(),
                _ => "NotReady".to_string(),
            };
            if o["spec"]["unschedulable"] == true {
                status.push_str(",SchedulingDisabled");
            }
            let info = &o["status"]["nodeInfo"];
            vec![
                json!(name),
                json!(status),
                json!("<none>"),
                json!(created),
                json!(s(&info["kubeletVersion"])),
                json!(address(o, "InternalIP")),
                json!(address(o, "ExternalIP")),
                json!(s(&info["osImage"])),
                json!(s(&info["kernelVersion"])),
                json!(s(&info["containerRuntimeVersion"])),
            ]
        }
        "jobs" => {
            let status = if condition(o, "Complete").as_deref() == Some("True") {
                "Complete"
            } else if condition(o, "Failed").as_deref() == Some("True") {
                "Failed"
            } else {
                "Running"
            };
            let containers = o["spec"]["template"]["spec"]["containers"].as_array();
            let join = |f: &str| {
                containers.map_or(String::new(), |c| {
                    c.iter().map(|c| s(&c[f])).collect::<Vec<_>>().join(",")
                })
            };
            let sel = o["spec"]["selector"]["matchLabels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", s(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            vec![
                json!(name),
                json!(status),
                json!(format!(
                    "{}/{}",
                    o["status"]["succeeded"].as_u64().unwrap_or(0),
                    o["spec"]["completions"].as_u64().unwrap_or(1)
                )),
                json!(if o["status"]["completionTime"].is_null() {
                    age(&o["status"]["startTime"])
                } else {
                    "done".to_string()
                }),
                json!(created),
                json!(join("name")),
                json!(join("image")),
                json!(sel),
            ]
        }
        "nodeclaims" => {
            let l = &o["metadata"]["labels"];
            vec![
                json!(name),
                json!(s(&l["node.kubernetes.io/instance-type"])),
                json!(s(&l["karpenter.sh/capacity-type"])),
                json!(o["status"]["nodeName"].as_str().unwrap_or("")),
                json!(condition(o, "Ready").unwrap_or_else(|| "Unknown".into())),
                json!(created),
                json!(o["status"]["providerID"].as_str().unwrap_or("")),
                json!(s(&l["karpenter.sh/nodepool"])),
            ]
        }
        "configmaps" => vec![
            json!(name),
            json!(
                o["data"].as_object().map_or(0, |m| m.len())
                    + o["binaryData"].as_object().map_or(0, |m| m.len())
            ),
            json!(created),
        ],
        "namespaces" => vec![json!(name), json!(s(&o["status"]["phase"])), json!(created)],
        _ => vec![json!(name), json!(created)],
    }
}

/// A Table of `items` (each row carries its full object).
pub fn table(res: &Resource, items: &[Value], rv: u64, next: Option<&str>) -> Value {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if let Some(n) = next {
        meta["continue"] = json!(n);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": columns(res),
        "rows": items.iter().map(|o| json!({"cells": cells(res, o), "object": o})).collect::<Vec<_>>(),
    })
}

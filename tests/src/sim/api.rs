//! The API server: discovery, create / get / list / watch / replace / patch
//! / delete of the simulator's resources, the `status` subresource, pod
//! logs, and `/checkip/{node}` for the pods' workers.

use super::Core;
use super::select::{FieldSelector, LabelSelector};
use super::store::{RESOURCES, Resource, StoreError, now_rfc3339, resource};
use super::table;
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

pub type Body = BoxBody<Bytes, std::io::Error>;

/// The ConfigMap size limit of the real API server.
pub const CONFIGMAP_MAX_BYTES: usize = 1024 * 1024;

/// An API failure, answered as a `Status` object.
#[derive(Debug)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
        }
    }

    fn not_found(res: &Resource, name: &str) -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", group_resource(res)),
        )
    }

    fn status(&self) -> Value {
        status_object(self.code, self.reason, &self.message)
    }
}

pub fn status_object(code: u16, reason: &str, message: &str) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": message, "reason": reason, "code": code,
    })
}

fn group_resource(res: &Resource) -> String {
    if res.group.is_empty() {
        res.plural.to_owned()
    } else {
        format!("{}.{}", res.plural, res.group)
    }
}

fn full(code: u16, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut resp = Response::new(
        Full::new(body.into())
            .map_err(|never| match never {})
            .boxed(),
    );
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert("content-type", content_type.parse().expect("header value"));
    resp
}

fn json_resp(code: u16, v: &Value) -> Response<Body> {
    full(code, "application/json", v.to_string())
}

fn err_resp(e: &ApiError) -> Response<Body> {
    json_resp(e.code, &e.status())
}

/// Accepts connections until the task is dropped.
pub async fn serve(core: Arc<Core>, listener: std::net::TcpListener) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let core = core.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let core = core.clone();
                async move { Ok::<_, std::convert::Infallible>(handle(core, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                .await;
        });
    }
}

struct Req {
    method: Method,
    segments: Vec<String>,
    query: HashMap<String, String>,
    table: bool,
    content_type: String,
    body: Bytes,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .get(k)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

async fn handle(core: Arc<Core>, req: Request<Incoming>) -> Response<Body> {
    let path = req.uri().path().to_owned();
    if let Some(node) = path.strip_prefix("/checkip/") {
        return match core.node_external_ip(node) {
            Some(ip) => full(200, "text/plain", format!("{ip}\n")),
            None => full(404, "text/plain", "no such node\n"),
        };
    }
    let watching = req
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    core.counters.count(req.method(), watching);
    let faults = &core.faults;
    let delay = faults.delay_ms.load(Ordering::Relaxed);
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let roll = rand::random_range(0..1_000_000u32);
    let throttle = faults.throttle_ppm.load(Ordering::Relaxed);
    if roll < throttle {
        let mut r = json_resp(
            429,
            &status_object(
                429,
                "TooManyRequests",
                "Too many requests, please try again later.",
            ),
        );
        r.headers_mut()
            .insert("retry-after", "1".parse().expect("header value"));
        return r;
    }
    if roll < throttle.saturating_add(faults.error_ppm.load(Ordering::Relaxed)) {
        return json_resp(
            500,
            &status_object(
                500,
                "InternalError",
                "Internal error occurred: injected fault",
            ),
        );
    }
    let query: HashMap<String, String> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let table = header("accept").contains("as=Table");
    let content_type = header("content-type");
    let method = req.method().clone();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let r = Req {
        method,
        segments: path
            .trim_matches('/')
            .split('/')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        query,
        table,
        content_type,
        body,
    };
    match route(&core, &r).await {
        Ok(resp) => resp,
        Err(e) => err_resp(&e),
    }
}

async fn route(core: &Arc<Core>, r: &Req) -> Result<Response<Body>, ApiError> {
    let segs: Vec<&str> = r.segments.iter().map(String::as_str).collect();
    let (group, rest) = match segs.as_slice() {
        ["version"] => {
            return Ok(json_resp(
                200,
                &json!({
                    "major": "1", "minor": "32", "gitVersion": "v1.32.0-trawl-sim",
                    "gitCommit": "0000000000000000000000000000000000000000",
                    "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                    "goVersion": "go1.23", "compiler": "gc", "platform": "linux/amd64",
                }),
            ));
        }
        ["api"] => {
            return Ok(json_resp(
                200,
                &json!({
                    "kind": "APIVersions", "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": core.addr.to_string()}
                    ],
                }),
            ));
        }
        ["apis"] => return Ok(json_resp(200, &group_list())),
        ["api", "v1"] => return Ok(json_resp(200, &resource_list(""))),
        ["apis", g] => {
            return group_list()["groups"]
                .as_array()
                .and_then(|gs| gs.iter().find(|x| x["name"] == *g))
                .map(|x| {
                    let mut x = x.clone();
                    x["kind"] = json!("APIGroup");
                    x["apiVersion"] = json!("v1");
                    json_resp(200, &x)
                })
                .ok_or_else(|| {
                    ApiError::new(
                        404,
                        "NotFound",
                        "the server could not find the requested resource",
                    )
                });
        }
        ["apis", g, "v1"] if RESOURCES.iter().any(|r| r.group == *g) => {
            return Ok(json_resp(200, &resource_list(g)));
        }
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", g, "v1", rest @ ..] => (*g, rest),
        _ => {
            return Err(ApiError::new(
                404,
                "NotFound",
                "the server could not find the requested resource",
            ));
        }
    };
    let unknown = || {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    };
    // namespaces/{ns}/{plural}... is namespaced; namespaces/{name}[/status] is a namespace.
    let (ns, plural, name, sub) = match rest {
        ["namespaces", ns, plural, tail @ ..] if *plural != "status" && *plural != "finalize" => (
            Some(*ns),
            *plural,
            tail.first().copied(),
            tail.get(1).copied(),
        ),
        [plural, tail @ ..] => (None, *plural, tail.first().copied(), tail.get(1).copied()),
        [] => return Err(unknown()),
    };
    let res = resource(group, plural).ok_or_else(unknown)?;
    if ns.is_some() && !res.namespaced {
        return Err(unknown());
    }
    let ns_str = ns.unwrap_or("");
    match (&r.method, name, sub) {
        (&Method::GET, None, _) => {
            if r.q("watch").is_some_and(|w| w == "1" || w == "true") {
                watch(core, res, ns, r).await
            } else {
                list(core, res, ns, r).await
            }
        }
        (&Method::POST, None, _) => {
            if res.namespaced && ns.is_none() {
                return Err(ApiError::new(
                    405,
                    "MethodNotAllowed",
                    "create needs a namespace",
                ));
            }
            let mut obj: Value = parse_body(r)?;
            if res.namespaced {
                let body_ns = obj["metadata"]["namespace"].as_str().unwrap_or(ns_str);
                if body_ns != ns_str {
                    return Err(ApiError::new(
                        400,
                        "BadRequest",
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                obj["metadata"]["namespace"] = json!(ns_str);
            }
            if obj["kind"].is_null() {
                obj["kind"] = json!(res.kind);
                obj["apiVersion"] = json!(res.api_version());
            }
            if obj["kind"] != res.kind {
                return Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("expected kind {}", res.kind),
                ));
            }
            let created = create_object(core, obj)?;
            Ok(json_resp(201, &created))
        }
        (&Method::DELETE, None, _) => {
            let (items, _) = core.store.list(res.plural, ns);
            let sel = selectors(r)?;
            let policy = propagation(r);
            let mut deleted = Vec::new();
            for item in items
                .iter()
                .filter(|o| sel.0.matches(&o["metadata"]["labels"]) && sel.1.matches(o))
            {
                let meta = &item["metadata"];
                if let Ok(v) = delete_object(
                    core,
                    res,
                    meta["namespace"].as_str().unwrap_or(""),
                    meta["name"].as_str().unwrap_or(""),
                    policy.as_deref(),
                ) {
                    deleted.push(v);
                }
            }
            Ok(json_resp(
                200,
                &json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
                        "metadata": {"resourceVersion": core.store.resource_version().to_string()},
                        "items": deleted}),
            ))
        }
        (&Method::GET, Some(name), None) => {
            let obj = core
                .store
                .get(res.plural, ns_str, name)
                .ok_or_else(|| ApiError::not_found(res, name))?;
            if r.table {
                let rv = core.store.resource_version();
                Ok(json_resp(200, &table::table(res, &[obj], rv, None)))
            } else {
                Ok(json_resp(200, &obj))
            }
        }
        (&Method::GET, Some(name), Some("status")) => core
            .store
            .get(res.plural, ns_str, name)
            .map(|o| json_resp(200, &o))
            .ok_or_else(|| ApiError::not_found(res, name)),
        (&Method::GET, Some(name), Some("log")) if res.plural == "pods" => {
            let path = super::kubelet::log_path(core, ns_str, name);
            match std::fs::read(path) {
                Ok(b) => Ok(full(200, "text/plain", b)),
                Err(_) => Err(ApiError::new(
                    400,
                    "BadRequest",
                    format!("container of pod \"{name}\" has not started"),
                )),
            }
        }
        (&Method::PUT, Some(name), sub @ (None | Some("status"))) => {
            let new: Value = parse_body(r)?;
            let rv = new["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_owned);
            let status_only = sub.is_some();
            let updated = core
                .store
                .update(res.plural, ns_str, name, rv.as_deref(), |cur| {
                    if status_only {
                        cur["status"] = new["status"].clone();
                    } else {
                        let keep_meta = cur["metadata"].clone();
                        let keep_status = cur["status"].clone();
                        *cur = new.clone();
                        for k in [
                            "uid",
                            "creationTimestamp",
                            "namespace",
                            "name",
                            "generation",
                            "deletionTimestamp",
                        ] {
                            cur["metadata"][k] = keep_meta[k].clone();
                        }
                        if res.plural != "namespaces" && res.plural != "configmaps" {
                            cur["status"] = keep_status;
                        }
                        cur["kind"] = json!(res.kind);
                        cur["apiVersion"] = json!(res.api_version());
                    }
                    true
                })
                .map_err(|e| store_err(e, res, name))?;
            Ok(json_resp(200, &updated))
        }
        (&Method::PATCH, Some(name), sub @ (None | Some("status"))) => {
            if r.content_type.contains("json-patch") {
                return Err(ApiError::new(
                    415,
                    "UnsupportedMediaType",
                    "the simulator takes merge, strategic-merge (as merge) and apply patches only",
                ));
            }
            let patch: Value = parse_body(r)?;
            let status_only = sub.is_some();
            // Server-side apply, simplified: create when missing, else merge.
            if r.content_type.contains("apply-patch")
                && !status_only
                && core.store.get(res.plural, ns_str, name).is_none()
            {
                let mut obj = patch.clone();
                obj["metadata"]["name"] = json!(name);
                if res.namespaced {
                    obj["metadata"]["namespace"] = json!(ns_str);
                }
                return Ok(json_resp(201, &create_object(core, obj)?));
            }
            let updated = core
                .store
                .update(res.plural, ns_str, name, None, |cur| {
                    if status_only {
                        merge_patch(&mut cur["status"], &patch["status"]);
                    } else {
                        merge_patch(cur, &patch);
                    }
                    true
                })
                .map_err(|e| store_err(e, res, name))?;
            Ok(json_resp(200, &updated))
        }
        (&Method::DELETE, Some(name), None) => {
            let policy = propagation(r);
            let obj = delete_object(core, res, ns_str, name, policy.as_deref())?;
            Ok(json_resp(200, &obj))
        }
        _ => Err(ApiError::new(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
        )),
    }
}

fn parse_body(r: &Req) -> Result<Value, ApiError> {
    serde_json::from_slice(&r.body).map_err(|e| {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body must be JSON (content-type {:?}, {} bytes): {e}",
                r.content_type,
                r.body.len()
            ),
        )
    })
}

fn store_err(e: StoreError, res: &Resource, name: &str) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found(res, name),
        StoreError::AlreadyExists => ApiError::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", group_resource(res)),
        ),
        StoreError::Conflict => ApiError::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
                group_resource(res)
            ),
        ),
    }
}

/// RFC 7386 merge patch.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn propagation(r: &Req) -> Option<String> {
    if let Some(p) = r.q("propagationPolicy") {
        return Some(p.to_owned());
    }
    let body: Value = serde_json::from_slice(&r.body).ok()?;
    if let Some(p) = body["propagationPolicy"].as_str() {
        return Some(p.to_owned());
    }
    match body["orphanDependents"].as_bool() {
        Some(true) => Some("Orphan".into()),
        Some(false) => Some("Background".into()),
        None => None,
    }
}

fn selectors(r: &Req) -> Result<(LabelSelector, FieldSelector), ApiError> {
    let l = LabelSelector::parse(r.q("labelSelector").unwrap_or(""))
        .map_err(|e| ApiError::new(400, "BadRequest", e))?;
    let f = FieldSelector::parse(r.q("fieldSelector").unwrap_or(""))
        .map_err(|e| ApiError::new(400, "BadRequest", e))?;
    Ok((l, f))
}

fn gone(message: String) -> ApiError {
    ApiError::new(410, "Expired", message)
}

fn continue_token(rv: u64, ns: &str, name: &str) -> String {
    hex::encode(format!("{rv}\n{ns}\n{name}"))
}

fn parse_continue(token: &str) -> Option<(u64, String, String)> {
    let raw = String::from_utf8(hex::decode(token).ok()?).ok()?;
    let mut parts = raw.splitn(3, '\n');
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.to_owned(),
        parts.next()?.to_owned(),
    ))
}

/// A list. Pages after the first read the current objects (not a snapshot)
/// but carry the first page's resourceVersion; a continue token older than
/// the kept history is 410 Expired, as on a compacted etcd.
async fn list(
    core: &Arc<Core>,
    res: &'static Resource,
    ns: Option<&str>,
    r: &Req,
) -> Result<Response<Body>, ApiError> {
    let (lsel, fsel) = selectors(r)?;
    let cont = match r.q("continue") {
        Some(t) => {
            let c = parse_continue(t)
                .ok_or_else(|| ApiError::new(400, "BadRequest", "invalid continue token"))?;
            if c.0 < core.store.compacted() {
                return Err(gone(
                    "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                ));
            }
            Some(c)
        }
        None => None,
    };
    if let Some(want) = r.q("resourceVersion").and_then(|v| v.parse::<u64>().ok()) {
        let current = core.store.resource_version();
        let exact = r.q("resourceVersionMatch") == Some("Exact");
        if (exact && want != current) || (want != 0 && want < core.store.compacted() && exact) {
            return Err(gone(format!(
                "too old resource version: {want} ({})",
                core.store.compacted()
            )));
        }
        if want > current {
            // The real server waits for its cache to catch up, then gives up.
            let until = tokio::time::Instant::now() + Duration::from_secs(3);
            while core.store.resource_version() < want {
                if tokio::time::Instant::now() > until {
                    return Err(ApiError::new(
                        504,
                        "Timeout",
                        format!("Too large resource version: {want}, current: {current}"),
                    ));
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    let limit = r
        .q("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0);
    let after = cont
        .as_ref()
        .map(|(_, n, name)| (n.as_str(), name.as_str()));
    let (page, more, rv) = core.store.list_page(res.plural, ns, after, limit, |o| {
        lsel.matches(&o["metadata"]["labels"]) && fsel.matches(o)
    });
    let list_rv = cont.as_ref().map_or(rv, |c| c.0);
    let next = match page.last() {
        Some(last) if more => Some(continue_token(
            list_rv,
            last["metadata"]["namespace"].as_str().unwrap_or(""),
            last["metadata"]["name"].as_str().unwrap_or(""),
        )),
        _ => None,
    };
    if r.table {
        return Ok(json_resp(
            200,
            &table::table(res, &page, list_rv, next.as_deref()),
        ));
    }
    let mut meta = json!({"resourceVersion": list_rv.to_string()});
    if let Some(n) = next {
        meta["continue"] = json!(n);
    }
    Ok(json_resp(
        200,
        &json!({"kind": format!("{}List", res.kind), "apiVersion": res.api_version(),
                "metadata": meta, "items": page}),
    ))
}

fn watch_line(kind: &str, object: Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

/// A watch: JSON lines of `{type, object}`. From resourceVersion "" or "0"
/// (or with sendInitialEvents=true) it starts with the current objects as
/// ADDED; from an older resourceVersion than the kept history it answers a
/// 410 ERROR event. BOOKMARKs every `bookmark_interval` when allowed.
async fn watch(
    core: &Arc<Core>,
    res: &'static Resource,
    ns: Option<&str>,
    r: &Req,
) -> Result<Response<Body>, ApiError> {
    let (lsel, fsel) = selectors(r)?;
    let (mut tx, rx) = futures::channel::mpsc::channel::<Bytes>(256);
    let since = r
        .q("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
        .filter(|v| *v != 0);
    let initial = r.q("sendInitialEvents") == Some("true") || since.is_none();
    let bookmarks = r.q("allowWatchBookmarks") == Some("true");
    let table = r.table;
    let timeout = r
        .q("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let forced_gone = core
        .faults
        .gone_next
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let sub = if forced_gone {
        None
    } else if initial && since.is_none() {
        core.store.subscribe_with_state(res.plural, ns)
    } else {
        core.store.subscribe(since).map(|s| (s, Vec::new(), 0))
    };
    let wrap = move |o: Value, rv: u64| -> Value {
        if table {
            table::table(res, &[o], rv, None)
        } else {
            o
        }
    };
    let Some((sub, state, state_rv)) = sub else {
        let compacted = core.store.compacted();
        let msg = format!(
            "too old resource version: {} ({compacted})",
            since.unwrap_or(0)
        );
        let line = watch_line("ERROR", status_object(410, "Expired", &msg));
        return Ok(stream_resp(futures::stream::iter([line])));
    };
    let ns = ns.map(str::to_owned);
    let core = core.clone();
    let mut gen_rx = core.faults.watch_generation.subscribe();
    gen_rx.mark_unchanged();
    tokio::spawn(async move {
        let mut last_rv = state_rv.max(since.unwrap_or(0));
        for o in state {
            if lsel.matches(&o["metadata"]["labels"]) && fsel.matches(&o) {
                let line = watch_line("ADDED", wrap(o, state_rv));
                if tx.send(line).await.is_err() {
                    return;
                }
            }
        }
        let mut rx = sub.rx;
        // What the watcher sees of a change: with selectors, an object that
        // starts matching is ADDED and one that stops matching DELETED.
        let wanted = |e: &super::store::Event| -> Option<&'static str> {
            if e.plural != res.plural
                || ns
                    .as_deref()
                    .is_some_and(|n| e.object["metadata"]["namespace"] != n)
            {
                return None;
            }
            let matches = |o: &Value| lsel.matches(&o["metadata"]["labels"]) && fsel.matches(o);
            let now = matches(&e.object);
            let before = e.prev.as_ref().map_or(now, matches);
            match (before, now) {
                (true, true) => Some(e.kind.as_str()),
                (false, true) => Some("ADDED"),
                (true, false) => Some("DELETED"),
                (false, false) => None,
            }
        };
        for e in sub.backlog {
            if let Some(kind) = wanted(&e) {
                last_rv = e.rv;
                if tx
                    .send(watch_line(kind, wrap(e.object.clone(), e.rv)))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
        let bookmark = |rv: u64, end_marker: bool| {
            let mut meta = json!({"resourceVersion": rv.to_string()});
            if end_marker {
                meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
            }
            watch_line(
                "BOOKMARK",
                json!({"kind": res.kind, "apiVersion": res.api_version(), "metadata": meta}),
            )
        };
        if bookmarks && initial {
            let b = bookmark(last_rv, true);
            if tx.send(b).await.is_err() {
                return;
            }
        }
        let end = tokio::time::sleep(timeout);
        tokio::pin!(end);
        let mut tick = tokio::time::interval(core.opts.bookmark_interval);
        tick.tick().await;
        loop {
            tokio::select! {
                () = &mut end => return,
                _ = gen_rx.changed() => return,
                _ = tick.tick(), if bookmarks => {
                    // Everything up to `now` is already in `rx` (sent under
                    // the store's lock): drain it before the bookmark.
                    let now = core.store.resource_version();
                    loop {
                        match rx.try_recv() {
                            Ok(e) => {
                                if let Some(kind) = wanted(&e).filter(|_| e.rv > last_rv)
                                    && tx.send(watch_line(kind, wrap(e.object.clone(), e.rv))).await.is_err()
                                {
                                    return;
                                }
                            }
                            Err(tokio::sync::broadcast::error::TryRecvError::Empty) => break,
                            Err(_) => return,
                        }
                    }
                    last_rv = last_rv.max(now);
                    if tx.send(bookmark(now, false)).await.is_err() {
                        return;
                    }
                }
                e = rx.recv() => match e {
                    Ok(e) => if let Some(kind) = wanted(&e).filter(|_| e.rv > last_rv) {
                        last_rv = e.rv;
                        if tx.send(watch_line(kind, wrap(e.object.clone(), e.rv))).await.is_err() {
                            return;
                        }
                    },
                    // A watcher that falls far behind is closed, as the
                    // real API server does with slow watchers.
                    Err(_) => return,
                }
            }
        }
    });
    Ok(stream_resp(rx))
}

fn stream_resp(s: impl futures::Stream<Item = Bytes> + Send + Sync + 'static) -> Response<Body> {
    let body = StreamBody::new(s.map(|b| Ok::<_, std::io::Error>(Frame::data(b))));
    let mut resp = Response::new(BodyExt::boxed(body));
    resp.headers_mut().insert(
        "content-type",
        "application/json".parse().expect("header value"),
    );
    resp.headers_mut().insert(
        "transfer-encoding",
        "chunked".parse().expect("header value"),
    );
    resp
}

fn group_list() -> Value {
    let mut groups: Vec<&str> = RESOURCES
        .iter()
        .map(|r| r.group)
        .filter(|g| !g.is_empty())
        .collect();
    groups.dedup();
    json!({
        "kind": "APIGroupList", "apiVersion": "v1",
        "groups": groups.iter().map(|g| json!({
            "name": g,
            "versions": [{"groupVersion": format!("{g}/v1"), "version": "v1"}],
            "preferredVersion": {"groupVersion": format!("{g}/v1"), "version": "v1"},
        })).collect::<Vec<_>>(),
    })
}

fn resource_list(group: &str) -> Value {
    let gv = if group.is_empty() {
        "v1".to_owned()
    } else {
        format!("{group}/v1")
    };
    let mut resources = Vec::new();
    for r in RESOURCES.iter().filter(|r| r.group == group) {
        let mut verbs = vec![
            "create",
            "delete",
            "deletecollection",
            "get",
            "list",
            "patch",
            "update",
            "watch",
        ];
        if r.plural == "nodeclaims" {
            verbs.retain(|v| *v != "deletecollection");
        }
        resources.push(json!({
            "name": r.plural, "singularName": r.kind.to_lowercase(), "namespaced": r.namespaced,
            "kind": r.kind, "verbs": verbs, "shortNames": r.short_names,
            "categories": if matches!(r.plural, "pods" | "jobs") { json!(["all"]) } else { json!([]) },
        }));
        resources.push(json!({
            "name": format!("{}/status", r.plural), "singularName": "", "namespaced": r.namespaced,
            "kind": r.kind, "verbs": ["get", "patch", "update"],
        }));
        if r.plural == "pods" {
            resources.push(json!({
                "name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"],
            }));
        }
    }
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources})
}

fn valid_name(name: &str, max: usize) -> bool {
    !name.is_empty()
        && name.len() <= max
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

/// Validates, defaults and stores a new object, as a POST does.
pub fn create_object(core: &Core, mut obj: Value) -> Result<Value, ApiError> {
    let api_version = obj["apiVersion"].as_str().unwrap_or("");
    let kind = obj["kind"].as_str().unwrap_or("");
    let res = RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "NotFound",
                format!("the server could not find the requested resource ({api_version} {kind})"),
            )
        })?;
    if res.namespaced {
        let ns = obj["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_owned();
        if core.store.get("namespaces", "", &ns).is_none() {
            return Err(ApiError::new(
                404,
                "NotFound",
                format!("namespaces \"{ns}\" not found"),
            ));
        }
        obj["metadata"]["namespace"] = json!(ns);
    }
    let name = obj["metadata"]["name"].as_str().unwrap_or("").to_owned();
    let generate = obj["metadata"]["generateName"].as_str().is_some();
    let max = if res.plural == "jobs" { 63 } else { 253 };
    if !(valid_name(&name, max) || generate && name.is_empty()) {
        return Err(ApiError::new(
            422,
            "Invalid",
            format!(
                "{} \"{name}\" is invalid: metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (at most {max} characters)",
                res.kind
            ),
        ));
    }
    match res.plural {
        "configmaps" => {
            let size = |field: &str| {
                obj[field].as_object().map_or(0, |m| {
                    m.iter()
                        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
                        .sum::<usize>()
                })
            };
            if size("data") + size("binaryData") > CONFIGMAP_MAX_BYTES {
                return Err(ApiError::new(
                    422,
                    "Invalid",
                    format!(
                        "ConfigMap \"{name}\" is invalid: []: Too long: must have at most {CONFIGMAP_MAX_BYTES} bytes"
                    ),
                ));
            }
        }
        "pods" => {
            default_pod_spec(&mut obj["spec"]);
            obj["status"] = json!({"phase": "Pending", "qosClass": "Burstable"});
        }
        "jobs" => super::job::default_job(&mut obj),
        "namespaces" => {
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
        }
        _ => {}
    }
    let created = core
        .store
        .create(res, obj)
        .map_err(|e| store_err(e, res, &name))?;
    if res.plural == "jobs" {
        let ns = created["metadata"]["namespace"].as_str().unwrap_or("");
        let name = created["metadata"]["name"].as_str().unwrap_or("");
        return core
            .store
            .update("jobs", ns, name, None, |j| {
                super::job::label_with_uid(j);
                true
            })
            .map_err(|e| store_err(e, res, name));
    }
    Ok(created)
}

pub fn default_pod_spec(spec: &mut Value) {
    for (k, v) in [
        ("restartPolicy", json!("Always")),
        ("schedulerName", json!("default-scheduler")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("dnsPolicy", json!("ClusterFirst")),
        ("serviceAccountName", json!("default")),
    ] {
        if spec[k].is_null() {
            spec[k] = v;
        }
    }
}

/// Deletes as a DELETE does. Pods with a running container are marked
/// (deletionTimestamp) and removed by the kubelet once it killed the
/// process. Jobs: Orphan (the API's default for jobs) leaves the pods;
/// Background and Foreground delete them too (Foreground marks the Job
/// first, so watchers see it terminating, then removes it after its pods
/// were deleted, without waiting for their processes to end).
pub fn delete_object(
    core: &Core,
    res: &'static Resource,
    ns: &str,
    name: &str,
    policy: Option<&str>,
) -> Result<Value, ApiError> {
    let obj = core
        .store
        .get(res.plural, ns, name)
        .ok_or_else(|| ApiError::not_found(res, name))?;
    match res.plural {
        "pods" => {
            let running = obj["status"]["phase"] == "Running"
                || (obj["status"]["phase"] == "Pending" && obj["spec"]["nodeName"].is_string());
            if running {
                return core
                    .store
                    .update("pods", ns, name, None, |p| {
                        if p["metadata"]["deletionTimestamp"].is_null() {
                            p["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                            p["metadata"]["deletionGracePeriodSeconds"] = json!(30);
                            true
                        } else {
                            false
                        }
                    })
                    .map_err(|e| store_err(e, res, name));
            }
        }
        "jobs" => {
            let policy = policy.unwrap_or("Orphan");
            let uid = obj["metadata"]["uid"].as_str().unwrap_or("").to_owned();
            if policy == "Background" {
                // Gone first, so the Job controller cannot re-create pods.
                let removed = core
                    .store
                    .remove(res.plural, ns, name)
                    .map_err(|e| store_err(e, res, name))?;
                delete_dependents(core, ns, &uid, policy);
                return Ok(removed);
            }
            if policy == "Foreground" {
                let _ = core.store.update("jobs", ns, name, None, |j| {
                    j["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                    j["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
                    true
                });
            }
            delete_dependents(core, ns, &uid, policy);
        }
        "namespaces" => {
            for r in RESOURCES.iter().filter(|r| r.namespaced) {
                for o in core.store.list(r.plural, Some(name)).0 {
                    let _ = core.store.remove(
                        r.plural,
                        name,
                        o["metadata"]["name"].as_str().unwrap_or(""),
                    );
                }
            }
        }
        _ => {}
    }
    core.store
        .remove(res.plural, ns, name)
        .map_err(|e| store_err(e, res, name))
}

/// The pods a Job owns: orphaned (ownerReferences removed) or deleted.
fn delete_dependents(core: &Core, ns: &str, uid: &str, policy: &str) {
    let (pods, _) = core.store.list("pods", Some(ns));
    for p in pods {
        let owned = p["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|o| o.iter().any(|r| r["uid"] == uid));
        if !owned {
            continue;
        }
        let pname = p["metadata"]["name"].as_str().unwrap_or("").to_owned();
        if policy == "Orphan" {
            let _ = core.store.update("pods", ns, &pname, None, |p| {
                if let Some(m) = p["metadata"].as_object_mut() {
                    m.remove("ownerReferences");
                }
                true
            });
        } else {
            let pods = resource("", "pods").expect("pods");
            let _ = delete_object(core, pods, ns, &pname, None);
        }
    }
}

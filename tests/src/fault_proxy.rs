//! A fault-injecting HTTP proxy between AWS SDK clients and moto.
//!
//! moto answers every well-formed call successfully: it never throttles,
//! never denies access, never loses a response, never returns
//! `UnprocessedItems` or ECS `failures`, and ignores ECS `clientToken`
//! (DESIGN.md, "Testing with real parts"). trawl must survive all of those,
//! so the tests point the SDK (`AWS_ENDPOINT_URL` or an `SdkConfig`
//! endpoint) at this proxy, which forwards to moto and, where a [`Rule`]
//! says so, answers in AWS's place: with the error each service documents, in
//! that service's own wire format (awsJson 1.0 for DynamoDB, awsJson 1.1 for
//! ECS, the EC2 query XML, S3's REST XML), so the SDK classifies and retries
//! exactly as it would against AWS.
//!
//! Requests are recognised by the signals the SDKs send: the SigV4
//! credential scope (`/<region>/<service>/aws4_request`) names the service,
//! `X-Amz-Target` names a JSON operation, `Action=` an EC2 one, and method
//! plus path an S3 one.
//!
//! It runs on its own thread with its own tokio runtime, so sync and async
//! tests can both use it; dropping it stops the listener and every
//! connection. It only listens on 127.0.0.1 and only forwards to the
//! loopback upstream it was given. Everything is bounded: request and
//! response bodies (64 MiB), the time to read a request (30 s), each upstream
//! exchange (30 s), the number of connections.

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};

/// The largest request or response body the proxy buffers.
const MAX_BODY: usize = 64 << 20;
/// How long a client may take to send one request (head and body).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one upstream exchange (connect, send, whole answer) may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_CONNECTIONS: usize = 256;
/// The account and principal named in injected AccessDenied messages.
const ACCOUNT: &str = "123456789012";
const PRINCIPAL: &str = "arn:aws:sts::123456789012:assumed-role/trawl/fault-proxy";
const DEFAULT_REGION: &str = "us-east-1";
/// The message DynamoDB gives a transaction item throttled on an index.
pub const GSI_THROTTLING_MESSAGE: &str = "Throughput exceeds the current capacity for one or more global secondary indexes. DynamoDB is automatically scaling your index so please try again shortly.";

/// What to do to the requests of one operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The operation name (`TransactWriteItems`, `Query`, `RunTask`,
    /// `DescribeAddresses`, `GetObject`, ...) or `*` for every operation.
    pub operation: String,
    pub fault: Fault,
    pub when: When,
}

impl Rule {
    pub fn new(operation: impl Into<String>, fault: Fault, when: When) -> Rule {
        Rule {
            operation: operation.into(),
            fault,
            when,
        }
    }
}

/// Which of a rule's matching requests it acts on. Each rule counts the
/// requests it matches (its operation, and a request its fault fits) from 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum When {
    Always,
    /// The first N matching requests.
    FirstN(u32),
    /// The Nth, 2Nth, ... matching request (never when N is 0).
    EveryNth(u32),
    /// Each matching request with probability `p`, drawn from `seed` and the
    /// request's count: the same sequence of requests sees the same faults.
    Probability {
        p: f64,
        seed: u64,
    },
}

impl When {
    fn fires(&self, n: u64) -> bool {
        match *self {
            When::Always => true,
            When::FirstN(first) => n <= u64::from(first),
            When::EveryNth(every) => every != 0 && n.is_multiple_of(u64::from(every)),
            When::Probability { p, seed } => {
                let draw = splitmix64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
                // The top 53 bits as a uniform f64 in [0, 1).
                ((draw >> 11) as f64) / ((1u64 << 53) as f64) < p
            }
        }
    }
}

/// The behaviour injected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Answered without forwarding, in the service's own error format.
    AccessDenied,
    Throttling,
    ExpiredToken,
    ServerError,
    /// Forwarded (upstream acts), then the connection is closed without any
    /// response: the client sees an I/O error and retries.
    LoseResponse,
    /// DynamoDB `TransactWriteItems` only: 400 `TransactionCanceledException`
    /// with one cancellation reason per item, the first `ThrottlingError` (a
    /// throttled index) and the rest `None`. Not forwarded.
    TransactionThrottled,
    /// DynamoDB `BatchWriteItem` only: forwards the first half (rounded up)
    /// of each table's requests and answers the rest as `UnprocessedItems`.
    /// Rounding up means a batch of single writes goes through whole (and
    /// counts as no injection), so a client that resends its unprocessed
    /// items always finishes, as against AWS.
    UnprocessedItems,
    /// ECS `RunTask` only: 200 with no task and one failure with `reason`.
    /// Not forwarded.
    EcsFailure {
        reason: String,
    },
}

/// A [`Fault`] without its data: the key of [`OpStats::injected`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    AccessDenied,
    Throttling,
    ExpiredToken,
    ServerError,
    LoseResponse,
    TransactionThrottled,
    UnprocessedItems,
    EcsFailure,
}

impl Fault {
    pub fn kind(&self) -> FaultKind {
        match self {
            Fault::AccessDenied => FaultKind::AccessDenied,
            Fault::Throttling => FaultKind::Throttling,
            Fault::ExpiredToken => FaultKind::ExpiredToken,
            Fault::ServerError => FaultKind::ServerError,
            Fault::LoseResponse => FaultKind::LoseResponse,
            Fault::TransactionThrottled => FaultKind::TransactionThrottled,
            Fault::UnprocessedItems => FaultKind::UnprocessedItems,
            Fault::EcsFailure { .. } => FaultKind::EcsFailure,
        }
    }

    /// Whether this fault can happen to `call` at all: an operation-specific
    /// fault leaves other operations alone even under a `*` rule, and the
    /// error faults need a service whose error format is known.
    fn fits(&self, call: &Call) -> bool {
        match self {
            Fault::AccessDenied | Fault::Throttling | Fault::ExpiredToken | Fault::ServerError => {
                call.service != Service::Other
            }
            Fault::LoseResponse => true,
            Fault::TransactionThrottled => {
                call.is(Service::DynamoDb, "TransactWriteItems")
                    && call
                        .json_field("TransactItems")
                        .and_then(Value::as_array)
                        .is_some_and(|items| !items.is_empty())
            }
            Fault::UnprocessedItems => {
                call.is(Service::DynamoDb, "BatchWriteItem")
                    && call
                        .json_field("RequestItems")
                        .is_some_and(Value::is_object)
            }
            Fault::EcsFailure { .. } => call.is(Service::Ecs, "RunTask"),
        }
    }
}

/// What the proxy did, per operation name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub operations: BTreeMap<String, OpStats>,
}

impl Stats {
    /// The counts of one operation (all zero if it was never seen).
    pub fn op(&self, operation: &str) -> OpStats {
        self.operations.get(operation).cloned().unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Requests received.
    pub seen: u64,
    /// Requests sent upstream.
    pub forwarded: u64,
    /// Faults injected, by kind.
    pub injected: BTreeMap<FaultKind, u64>,
    /// ECS `RunTask` repeats answered from the clientToken store.
    pub replayed: u64,
}

impl OpStats {
    pub fn injected(&self, kind: FaultKind) -> u64 {
        self.injected.get(&kind).copied().unwrap_or(0)
    }
}

/// The proxy. Dropping it stops it and closes its port.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy")
            .field("addr", &self.addr)
            .field("upstream", &self.shared.upstream)
            .finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// Starts on 127.0.0.1 (any free port), forwarding to `upstream`
    /// (`http://127.0.0.1:PORT`, e.g. `Moto::endpoint()`); the port accepts
    /// connections on return.
    pub fn start(upstream: &str) -> anyhow::Result<FaultProxy> {
        let upstream = parse_upstream(upstream)?;
        let listener =
            std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("binding 127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            upstream,
            rules: Mutex::new(Vec::new()),
            stats: Mutex::new(BTreeMap::new()),
            ecs_tokens_on: AtomicBool::new(false),
            ecs_token_gate: tokio::sync::Mutex::new(()),
            ecs_tokens: Mutex::new(HashMap::new()),
            // Request ids differ between proxies of one test.
            ids: AtomicU64::new(u64::from(addr.port()) << 32),
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let serving = shared.clone();
        // The runtime is built and dropped on this thread only: dropping a
        // runtime inside an async test would panic.
        let thread = std::thread::Builder::new()
            .name("trawl-fault-proxy".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("trawl-fault-proxy")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.into()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let _ = ready_tx.send(Ok(()));
                            accept_loop(listener, serving, stop_rx).await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.into()));
                        }
                    }
                });
                // Cancels every connection task, closing its socket.
                runtime.shutdown_timeout(Duration::from_millis(500));
            })
            .context("spawning the proxy thread")?;
        ready_rx
            .recv()
            .context("the proxy thread ended before starting")??;
        Ok(FaultProxy {
            addr,
            shared,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:PORT`, for `AWS_ENDPOINT_URL` or an SDK endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a rule after the existing ones; the first rule that fires for a
    /// request decides its fate, and rules after it do not count it.
    pub fn add(&self, rule: Rule) {
        lock(&self.shared.rules).push(ActiveRule { rule, matched: 0 });
    }

    /// Removes every rule: from now on everything is forwarded.
    pub fn clear(&self) {
        lock(&self.shared.rules).clear();
    }

    /// Makes ECS `RunTask` idempotent on `clientToken`, as AWS is: the first
    /// successful upstream answer per token is kept and a repeat gets it
    /// without being forwarded, also when the first answer was lost on its
    /// way back. Turning it off forgets the kept answers.
    pub fn set_ecs_client_tokens(&self, on: bool) {
        self.shared.ecs_tokens_on.store(on, Ordering::SeqCst);
        if !on {
            lock(&self.shared.ecs_tokens).clear();
        }
    }

    /// What happened so far, per operation.
    pub fn stats(&self) -> Stats {
        Stats {
            operations: lock(&self.shared.stats).clone(),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Only a loopback upstream: a test must never reach beyond this machine.
fn parse_upstream(upstream: &str) -> anyhow::Result<SocketAddr> {
    let rest = upstream
        .strip_prefix("http://")
        .with_context(|| format!("upstream {upstream:?} must be http://HOST:PORT"))?;
    let authority = rest.trim_end_matches('/');
    anyhow::ensure!(
        !authority.contains('/'),
        "upstream {upstream:?} must have no path"
    );
    let addr = authority
        .to_socket_addrs()
        .with_context(|| format!("resolving upstream {upstream:?}"))?
        .find(|a| a.ip().is_loopback())
        .with_context(|| format!("upstream {upstream:?} is not a loopback address"))?;
    Ok(addr)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

// ---------------------------------------------------------------------------
// Serving.

struct Shared {
    upstream: SocketAddr,
    rules: Mutex<Vec<ActiveRule>>,
    stats: Mutex<BTreeMap<String, OpStats>>,
    ecs_tokens_on: AtomicBool,
    /// Held across a RunTask with a clientToken, upstream call included, so
    /// that concurrent repeats of one token wait for the first instead of
    /// launching twice.
    ecs_token_gate: tokio::sync::Mutex<()>,
    /// The first successful RunTask answer per clientToken.
    ecs_tokens: Mutex<HashMap<String, Captured>>,
    ids: AtomicU64,
}

struct ActiveRule {
    rule: Rule,
    matched: u64,
}

/// An upstream answer, kept whole.
#[derive(Clone, Debug)]
struct Captured {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// The service's answer must not arrive: hyper closes the connection
/// without writing anything when the service returns an error.
#[derive(Debug)]
struct ResponseLost;

impl std::fmt::Display for ResponseLost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("response deliberately lost by the fault proxy")
    }
}

impl std::error::Error for ResponseLost {}

type Answer = Result<Response<Full<Bytes>>, ResponseLost>;

async fn accept_loop(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    // Over the limit: close it at once.
                    let Ok(permit) = permits.clone().try_acquire_owned() else {
                        continue;
                    };
                    let shared = shared.clone();
                    tokio::spawn(async move {
                        serve_connection(tcp, shared).await;
                        drop(permit);
                    });
                }
                // E.g. out of file descriptors: back off a little.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

async fn serve_connection(tcp: tokio::net::TcpStream, shared: Arc<Shared>) {
    let service = hyper::service::service_fn(move |req| handle(shared.clone(), req));
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(REQUEST_TIMEOUT)
        .serve_connection(TokioIo::new(tcp), service)
        .await;
}

async fn handle(shared: Arc<Shared>, req: Request<Incoming>) -> Answer {
    let (parts, body) = req.into_parts();
    let body =
        match tokio::time::timeout(REQUEST_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            // A request that cannot be read whole gets no answer.
            _ => return Err(ResponseLost),
        };
    let call = Call::identify(&parts, &body);
    shared.count(&call.operation, |s| s.seen += 1);
    // ECS answers a repeated clientToken with the first outcome, before
    // anything else could happen to the request (no fault is drawn for it).
    if let Some(first) = shared.stored_answer(&call) {
        shared.count(&call.operation, |s| s.replayed += 1);
        return Ok(relay(&first, &parts.method));
    }
    let Some(fault) = shared.choose(&call) else {
        return Ok(shared.forward(&call, &parts, body).await);
    };
    let kind = fault.kind();
    let request_id = shared.next_id();
    match fault {
        Fault::AccessDenied | Fault::Throttling | Fault::ExpiredToken | Fault::ServerError => {
            shared.injected(&call.operation, kind);
            Ok(error_response(&call, kind, request_id))
        }
        Fault::LoseResponse => {
            shared.injected(&call.operation, kind);
            // Upstream acts (and the clientToken store keeps its answer)...
            let _ = shared.forward(&call, &parts, body).await;
            // ...but the answer never reaches the client.
            Err(ResponseLost)
        }
        Fault::TransactionThrottled => {
            shared.injected(&call.operation, kind);
            Ok(transaction_throttled(&call, request_id))
        }
        Fault::UnprocessedItems => Ok(shared.unprocessed_items(&call, &parts).await),
        Fault::EcsFailure { reason } => {
            shared.injected(&call.operation, kind);
            Ok(ecs_failure(&reason, request_id))
        }
    }
}

impl Shared {
    fn count(&self, operation: &str, update: impl FnOnce(&mut OpStats)) {
        update(lock(&self.stats).entry(operation.to_owned()).or_default());
    }

    fn injected(&self, operation: &str, kind: FaultKind) {
        self.count(operation, |s| *s.injected.entry(kind).or_default() += 1);
    }

    fn next_id(&self) -> u64 {
        self.ids.fetch_add(1, Ordering::Relaxed)
    }

    /// The stored answer of an ECS RunTask whose clientToken was seen.
    fn stored_answer(&self, call: &Call) -> Option<Captured> {
        if !self.ecs_tokens_on.load(Ordering::SeqCst) || !call.is(Service::Ecs, "RunTask") {
            return None;
        }
        let token = call.json_str("clientToken")?;
        lock(&self.ecs_tokens).get(token).cloned()
    }

    /// The fault of the first rule that fires for `call`, if any.
    fn choose(&self, call: &Call) -> Option<Fault> {
        let mut rules = lock(&self.rules);
        for active in rules.iter_mut() {
            let named = active.rule.operation == "*" || active.rule.operation == call.operation;
            if !named || !active.rule.fault.fits(call) {
                continue;
            }
            active.matched += 1;
            if active.rule.when.fires(active.matched) {
                return Some(active.rule.fault.clone());
            }
        }
        None
    }

    /// Forwards as is, through the clientToken store for ECS RunTask.
    async fn forward(&self, call: &Call, parts: &Parts, body: Bytes) -> Response<Full<Bytes>> {
        let token = if self.ecs_tokens_on.load(Ordering::SeqCst) && call.is(Service::Ecs, "RunTask")
        {
            call.json_str("clientToken").map(str::to_owned)
        } else {
            None
        };
        let Some(token) = token else {
            return match self.send(call, parts, body).await {
                Ok(answer) => relay(&answer, &parts.method),
                Err(e) => bad_gateway(&e),
            };
        };
        let _gate = self.ecs_token_gate.lock().await;
        let first = lock(&self.ecs_tokens).get(&token).cloned();
        if let Some(first) = first {
            self.count(&call.operation, |s| s.replayed += 1);
            return relay(&first, &parts.method);
        }
        match self.send(call, parts, body).await {
            Ok(answer) => {
                // Only a launch is idempotent: a rejected request may be
                // sent again once its cause is fixed.
                if answer.status.is_success() {
                    lock(&self.ecs_tokens).insert(token, answer.clone());
                }
                relay(&answer, &parts.method)
            }
            Err(e) => bad_gateway(&e),
        }
    }

    /// One upstream exchange, on a connection of its own.
    async fn send(&self, call: &Call, parts: &Parts, body: Bytes) -> anyhow::Result<Captured> {
        self.count(&call.operation, |s| s.forwarded += 1);
        let exchange = async {
            let tcp = tokio::net::TcpStream::connect(self.upstream)
                .await
                .with_context(|| format!("connecting to {}", self.upstream))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await?;
            tokio::spawn(connection);
            let target = parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_owned();
            let mut request = Request::builder()
                .method(parts.method.clone())
                .uri(target)
                .body(Full::new(body.clone()))?;
            // The Host header goes through unchanged: the request stays as
            // the client signed it.
            *request.headers_mut() = end_to_end(&parts.headers);
            request
                .headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
            let response = sender.send_request(request).await?;
            let (head, body) = response.into_parts();
            let body = Limited::new(body, MAX_BODY)
                .collect()
                .await
                .map_err(|e| anyhow::anyhow!("reading the upstream answer: {e}"))?
                .to_bytes();
            anyhow::Ok(Captured {
                status: head.status,
                headers: head.headers,
                body,
            })
        };
        tokio::time::timeout(UPSTREAM_TIMEOUT, exchange)
            .await
            .context("the upstream exchange timed out")?
    }

    /// BatchWriteItem: forwards the first half (rounded up) of each table's
    /// write requests and adds the rest to the answer's `UnprocessedItems`,
    /// as DynamoDB does when part of a batch is throttled.
    async fn unprocessed_items(&self, call: &Call, parts: &Parts) -> Response<Full<Bytes>> {
        let Some(mut request) = call.json.clone() else {
            return bad_gateway(&anyhow::anyhow!("BatchWriteItem without a JSON body"));
        };
        let mut held = serde_json::Map::new();
        if let Some(tables) = request
            .get_mut("RequestItems")
            .and_then(Value::as_object_mut)
        {
            for (table, writes) in tables.iter_mut() {
                let Some(writes) = writes.as_array_mut() else {
                    continue;
                };
                let keep = writes.len().div_ceil(2);
                let rest = writes.split_off(keep);
                if !rest.is_empty() {
                    held.insert(table.clone(), Value::Array(rest));
                }
            }
        }
        if held.is_empty() {
            // One write per table: nothing to hold back.
            return self.forward(call, parts, call.body.clone()).await;
        }
        self.injected(&call.operation, FaultKind::UnprocessedItems);
        let body = Bytes::from(request.to_string());
        let answer = match self.send(call, parts, body).await {
            Ok(answer) => answer,
            Err(e) => return bad_gateway(&e),
        };
        if !answer.status.is_success() {
            return relay(&answer, &parts.method);
        }
        let Ok(mut output) = serde_json::from_slice::<Value>(&answer.body) else {
            return relay(&answer, &parts.method);
        };
        let unprocessed = output
            .as_object_mut()
            .map(|o| o.entry("UnprocessedItems").or_insert_with(|| json!({})));
        if let Some(Value::Object(unprocessed)) = unprocessed {
            for (table, rest) in held {
                let Value::Array(rest) = rest else { continue };
                match unprocessed
                    .entry(table)
                    .or_insert_with(|| Value::Array(Vec::new()))
                {
                    Value::Array(existing) => existing.extend(rest),
                    other => *other = Value::Array(rest),
                }
            }
        }
        let mut response = relay(&answer, &parts.method);
        set_dynamodb_body(&mut response, Bytes::from(output.to_string()));
        response
    }
}

/// Headers without the hop-by-hop ones (RFC 9110 7.6.1) and without
/// Content-Length, which is set from the buffered body.
fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    const HOP_BY_HOP: [&str; 9] = [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    ];
    let mut out = headers.clone();
    for name in HOP_BY_HOP {
        out.remove(name);
    }
    out.remove(header::CONTENT_LENGTH);
    out
}

/// An upstream answer as the client's answer.
fn relay(answer: &Captured, method: &Method) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(answer.body.clone()));
    *response.status_mut() = answer.status;
    *response.headers_mut() = end_to_end(&answer.headers);
    // A HEAD answer announces the length of a body it does not carry.
    if method == Method::HEAD
        && let Some(length) = answer.headers.get(header::CONTENT_LENGTH)
    {
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, length.clone());
    }
    response
}

fn bad_gateway(error: &anyhow::Error) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "trawl fault proxy: upstream failed: {error:#}\n"
    ))));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

// ---------------------------------------------------------------------------
// Recognising a request.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Service {
    DynamoDb,
    Ecs,
    Ec2,
    S3,
    Other,
}

struct Call {
    service: Service,
    operation: String,
    region: String,
    method: Method,
    path: String,
    /// The raw body, and parsed for the JSON protocols.
    body: Bytes,
    json: Option<Value>,
    security_token: Option<String>,
}

impl Call {
    fn identify(parts: &Parts, body: &Bytes) -> Call {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let scope = header("authorization").and_then(credential_scope);
        let region = scope
            .map(|(region, _)| region.to_owned())
            .unwrap_or_else(|| DEFAULT_REGION.to_owned());
        let target = header("x-amz-target");
        let query = parts.uri.query().unwrap_or("");
        let action = form_value(query, "Action").or_else(|| {
            let form = header("content-type")
                .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
            form.then(|| std::str::from_utf8(body).ok())
                .flatten()
                .and_then(|b| form_value(b, "Action"))
        });
        let service = match (scope.map(|(_, s)| s), target) {
            (Some("dynamodb"), _) => Service::DynamoDb,
            (Some("ecs"), _) => Service::Ecs,
            (Some("ec2"), _) => Service::Ec2,
            (Some("s3"), _) => Service::S3,
            (Some(_), _) => Service::Other,
            // Unsigned: the target prefix, the form, or else a REST call.
            (None, Some(t)) if t.starts_with("DynamoDB_") => Service::DynamoDb,
            (None, Some(t)) if t.starts_with("AmazonEC2ContainerService") => Service::Ecs,
            (None, Some(_)) => Service::Other,
            (None, None) if action.is_some() => Service::Ec2,
            (None, None) => Service::S3,
        };
        let operation = match service {
            Service::Ec2 => action.map(str::to_owned),
            Service::S3 => Some(s3_operation(parts).to_owned()),
            _ => target
                .and_then(|t| t.rsplit_once('.'))
                .map(|(_, op)| op.to_owned()),
        }
        .or_else(|| action.map(str::to_owned))
        .unwrap_or_else(|| "Unknown".to_owned());
        let json = matches!(service, Service::DynamoDb | Service::Ecs)
            .then(|| serde_json::from_slice(body).ok())
            .flatten();
        Call {
            service,
            operation,
            region,
            method: parts.method.clone(),
            path: parts.uri.path().to_owned(),
            body: body.clone(),
            json,
            security_token: header("x-amz-security-token").map(str::to_owned),
        }
    }

    fn is(&self, service: Service, operation: &str) -> bool {
        self.service == service && self.operation == operation
    }

    fn json_field(&self, name: &str) -> Option<&Value> {
        self.json.as_ref()?.get(name)
    }

    fn json_str(&self, name: &str) -> Option<&str> {
        self.json_field(name).and_then(Value::as_str)
    }
}

/// `(region, service)` of `Credential=AKID/DATE/REGION/SERVICE/aws4_request`.
fn credential_scope(authorization: &str) -> Option<(&str, &str)> {
    let credential = authorization
        .split([' ', ','])
        .find_map(|part| part.strip_prefix("Credential="))?;
    let mut fields = credential.rsplit('/');
    if fields.next()? != "aws4_request" {
        return None;
    }
    let service = fields.next()?;
    let region = fields.next()?;
    Some((region, service))
}

/// The value of `key` in `a=b&c=d` (operation names need no decoding).
fn form_value<'a>(form: &'a str, key: &str) -> Option<&'a str> {
    form.split('&')
        .filter_map(|pair| pair.split_once('='))
        .find_map(|(k, v)| (k == key).then_some(v))
}

/// The S3 operation of a path-style REST request: enough for tests.
fn s3_operation(parts: &Parts) -> &'static str {
    let query = parts.uri.query().unwrap_or("");
    let has = |key: &str| {
        query
            .split('&')
            .any(|pair| pair == key || pair.starts_with(&format!("{key}=")))
    };
    let path = parts.uri.path().trim_start_matches('/');
    let (bucket, key) = match path.split_once('/') {
        Some((bucket, key)) => (bucket, key),
        None => (path, ""),
    };
    let method = &parts.method;
    if bucket.is_empty() {
        return if method == Method::GET {
            "ListBuckets"
        } else {
            "Unknown"
        };
    }
    if key.is_empty() {
        return match *method {
            Method::PUT if query.is_empty() => "CreateBucket",
            Method::HEAD => "HeadBucket",
            Method::DELETE if query.is_empty() => "DeleteBucket",
            Method::POST if has("delete") => "DeleteObjects",
            Method::GET if query_is(query, "list-type", "2") => "ListObjectsV2",
            Method::GET if has("uploads") => "ListMultipartUploads",
            Method::GET if has("location") => "GetBucketLocation",
            Method::GET if !has("policy") && !has("acl") && !has("versioning") => "ListObjects",
            _ => "Unknown",
        };
    }
    match *method {
        Method::GET => "GetObject",
        Method::HEAD => "HeadObject",
        Method::PUT if parts.headers.contains_key("x-amz-copy-source") => "CopyObject",
        Method::PUT if has("uploadId") => "UploadPart",
        Method::PUT => "PutObject",
        Method::DELETE if has("uploadId") => "AbortMultipartUpload",
        Method::DELETE => "DeleteObject",
        Method::POST if has("uploads") => "CreateMultipartUpload",
        Method::POST if has("uploadId") => "CompleteMultipartUpload",
        _ => "Unknown",
    }
}

fn query_is(query: &str, key: &str, value: &str) -> bool {
    form_value(query, key) == Some(value)
}

// ---------------------------------------------------------------------------
// AWS's answers.

/// The error each service documents for a fault, in its own format.
fn error_response(call: &Call, kind: FaultKind, request_id: u64) -> Response<Full<Bytes>> {
    match call.service {
        Service::DynamoDb => dynamodb_error(call, kind, request_id),
        Service::Ecs => ecs_error(call, kind, request_id),
        Service::Ec2 => ec2_error(call, kind, request_id),
        Service::S3 => s3_error(call, kind, request_id),
        // `Fault::fits` keeps error faults away from unknown services.
        Service::Other => bad_gateway(&anyhow::anyhow!("no error format for this service")),
    }
}

/// "User: ... is not authorized to perform: svc:Op on resource: R because
/// no identity-based policy allows the svc:Op action": IAM's wording.
fn not_authorized(action: &str, resource: Option<&str>) -> String {
    let on = resource.map_or(String::new(), |r| format!(" on resource: {r}"));
    format!(
        "User: {PRINCIPAL} is not authorized to perform: {action}{on} because no identity-based policy allows the {action} action"
    )
}

/// An awsJson error: `__type` (namespace#Code), the message, the
/// `x-amzn-ErrorType` header in the Coral form AWS sends
/// (`Code:http://internal.amazon.com/coral/namespace/`).
struct JsonError<'a> {
    status: StatusCode,
    namespace: &'a str,
    code: &'a str,
    /// DynamoDB's AccessDenied and TransactionCanceled say `Message`, its
    /// other errors `message`; the SDK reads both.
    message_key: &'a str,
    message: String,
}

/// The namespaces of AWS's shared service framework (Coral): authorisation
/// and throttling errors of every awsJson service carry these, not the
/// service's own (observed in real DynamoDB, ECS, Kinesis answers).
const CORAL_SERVICE: &str = "com.amazon.coral.service";
const CORAL_AVAILABILITY: &str = "com.amazon.coral.availability";
const DYNAMODB_NAMESPACE: &str = "com.amazonaws.dynamodb.v20120810";
const ECS_NAMESPACE: &str = "com.amazonaws.ecs";

/// The answer and its body (DynamoDB's CRC32 header needs the body).
fn json_error(
    error: JsonError<'_>,
    content_type: &'static str,
    extra: serde_json::Map<String, Value>,
) -> (Response<Full<Bytes>>, Bytes) {
    let mut body = serde_json::Map::new();
    body.insert(
        "__type".into(),
        Value::String(format!("{}#{}", error.namespace, error.code)),
    );
    body.insert(error.message_key.into(), Value::String(error.message));
    body.extend(extra);
    let body = Bytes::from(Value::Object(body).to_string());
    let mut response = Response::new(Full::new(body.clone()));
    *response.status_mut() = error.status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{}:http://internal.amazon.com/coral/{}/",
        error.code, error.namespace
    )) {
        headers.insert(HeaderName::from_static("x-amzn-errortype"), value);
    }
    (response, body)
}

fn dynamodb_error(call: &Call, kind: FaultKind, request_id: u64) -> Response<Full<Bytes>> {
    let action = format!("dynamodb:{}", call.operation);
    let error = match kind {
        FaultKind::AccessDenied => JsonError {
            status: StatusCode::BAD_REQUEST,
            namespace: CORAL_SERVICE,
            code: "AccessDeniedException",
            message_key: "Message",
            message: not_authorized(&action, Some(&dynamodb_resource(call))),
        },
        FaultKind::Throttling => JsonError {
            status: StatusCode::BAD_REQUEST,
            namespace: CORAL_AVAILABILITY,
            code: "ThrottlingException",
            message_key: "message",
            message: "Rate of requests exceeds the allowed throughput.".into(),
        },
        FaultKind::ExpiredToken => JsonError {
            status: StatusCode::BAD_REQUEST,
            namespace: CORAL_SERVICE,
            code: "ExpiredTokenException",
            message_key: "message",
            message: "The security token included in the request is expired".into(),
        },
        _ => JsonError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            namespace: DYNAMODB_NAMESPACE,
            code: "InternalServerError",
            message_key: "message",
            message: "Internal server error".into(),
        },
    };
    let (mut response, body) = json_error(error, "application/x-amz-json-1.0", Default::default());
    set_dynamodb_body(&mut response, body);
    set_request_id(
        &mut response,
        "x-amzn-requestid",
        dynamodb_request_id(request_id),
    );
    response
}

/// The table (or index) an AccessDenied names, as IAM does.
fn dynamodb_resource(call: &Call) -> String {
    let item_table = |item: &Value| {
        ["Put", "Update", "Delete", "ConditionCheck", "Get"]
            .iter()
            .find_map(|k| item.get(k)?.get("TableName")?.as_str())
            .map(str::to_owned)
    };
    let table = call
        .json_str("TableName")
        .map(str::to_owned)
        .or_else(|| {
            call.json_field("RequestItems")?
                .as_object()?
                .keys()
                .next()
                .cloned()
        })
        .or_else(|| item_table(call.json_field("TransactItems")?.as_array()?.first()?))
        .unwrap_or_else(|| "*".to_owned());
    let index = call
        .json_str("IndexName")
        .map_or(String::new(), |i| format!("/index/{i}"));
    format!(
        "arn:aws:dynamodb:{}:{ACCOUNT}:table/{table}{index}",
        call.region
    )
}

/// A DynamoDB answer's body with its CRC32, which DynamoDB sends with every
/// answer.
fn set_dynamodb_body(response: &mut Response<Full<Bytes>>, body: Bytes) {
    let headers = response.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        HeaderName::from_static("x-amz-crc32"),
        HeaderValue::from(crc32(&body)),
    );
    *response.body_mut() = Full::new(body);
}

/// 400 TransactionCanceledException: one reason per item, the first item
/// throttled on an index, the others `None` (not attempted).
fn transaction_throttled(call: &Call, request_id: u64) -> Response<Full<Bytes>> {
    let count = call
        .json_field("TransactItems")
        .and_then(Value::as_array)
        .map_or(1, Vec::len);
    let reasons: Vec<Value> = (0..count)
        .map(|i| {
            if i == 0 {
                json!({"Code": "ThrottlingError", "Message": GSI_THROTTLING_MESSAGE})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = reasons
        .iter()
        .filter_map(|r| r.get("Code")?.as_str())
        .collect();
    let message = format!(
        "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
        codes.join(", ")
    );
    let mut extra = serde_json::Map::new();
    extra.insert("CancellationReasons".into(), Value::Array(reasons));
    let (mut response, body) = json_error(
        JsonError {
            status: StatusCode::BAD_REQUEST,
            namespace: DYNAMODB_NAMESPACE,
            code: "TransactionCanceledException",
            message_key: "Message",
            message,
        },
        "application/x-amz-json-1.0",
        extra,
    );
    set_dynamodb_body(&mut response, body);
    set_request_id(
        &mut response,
        "x-amzn-requestid",
        dynamodb_request_id(request_id),
    );
    response
}

fn ecs_error(call: &Call, kind: FaultKind, request_id: u64) -> Response<Full<Bytes>> {
    let error = match kind {
        FaultKind::AccessDenied => JsonError {
            status: StatusCode::BAD_REQUEST,
            namespace: CORAL_SERVICE,
            code: "AccessDeniedException",
            message_key: "message",
            message: not_authorized(
                &format!("ecs:{}", call.operation),
                Some(&ecs_resource(call)),
            ),
        },
        FaultKind::Throttling => JsonError {
            status: StatusCode::BAD_REQUEST,
            namespace: CORAL_AVAILABILITY,
            code: "ThrottlingException",
            message_key: "message",
            message: "Rate exceeded".into(),
        },
        FaultKind::ExpiredToken => JsonError {
            status: StatusCode::BAD_REQUEST,
            namespace: CORAL_SERVICE,
            code: "ExpiredTokenException",
            message_key: "message",
            message: "The security token included in the request is expired".into(),
        },
        _ => JsonError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            namespace: ECS_NAMESPACE,
            code: "ServerException",
            message_key: "message",
            message: "Service Unavailable. Please try again later.".into(),
        },
    };
    let (mut response, _) = json_error(error, "application/x-amz-json-1.1", Default::default());
    set_request_id(&mut response, "x-amzn-requestid", uuid_like(request_id));
    response
}

/// The task definition (RunTask) or cluster a call is about.
fn ecs_resource(call: &Call) -> String {
    let region = &call.region;
    if let Some(td) = call.json_str("taskDefinition") {
        return if td.starts_with("arn:") {
            td.to_owned()
        } else {
            format!("arn:aws:ecs:{region}:{ACCOUNT}:task-definition/{td}")
        };
    }
    match call.json_str("cluster") {
        Some(c) if c.starts_with("arn:") => c.to_owned(),
        Some(c) => format!("arn:aws:ecs:{region}:{ACCOUNT}:cluster/{c}"),
        None => "*".to_owned(),
    }
}

/// 200 with no task and one failure. No `arn`: capacity failures of
/// Fargate launches carry none (the ARN is that of a container instance,
/// which a Fargate launch never had).
fn ecs_failure(reason: &str, request_id: u64) -> Response<Full<Bytes>> {
    let body = json!({"tasks": [], "failures": [{"reason": reason}]});
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    set_request_id(&mut response, "x-amzn-requestid", uuid_like(request_id));
    response
}

/// EC2's query-protocol error document.
fn ec2_error(call: &Call, kind: FaultKind, request_id: u64) -> Response<Full<Bytes>> {
    let (status, code, message) = match kind {
        FaultKind::AccessDenied => (
            StatusCode::FORBIDDEN,
            "UnauthorizedOperation",
            format!(
                "You are not authorized to perform this operation. {}",
                not_authorized(&format!("ec2:{}", call.operation), None)
            ),
        ),
        FaultKind::Throttling => (
            StatusCode::SERVICE_UNAVAILABLE,
            "RequestLimitExceeded",
            "Request limit exceeded.".to_owned(),
        ),
        // EC2's answer to expired temporary credentials.
        FaultKind::ExpiredToken => (
            StatusCode::BAD_REQUEST,
            "RequestExpired",
            "Request has expired.".to_owned(),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "An internal error has occurred.".to_owned(),
        ),
    };
    let id = uuid_like(request_id);
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{code}</Code><Message>{}</Message></Error></Errors><RequestID>{id}</RequestID></Response>",
        xml_escape(&message)
    );
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/xml;charset=UTF-8"),
    );
    response
}

/// S3's REST error document (no body for HEAD, as S3 does).
fn s3_error(call: &Call, kind: FaultKind, request_id: u64) -> Response<Full<Bytes>> {
    let (status, code, message) = match kind {
        FaultKind::AccessDenied => {
            let action = match call.operation.as_str() {
                "HeadObject" => "GetObject",
                "ListObjectsV2" | "ListObjects" | "HeadBucket" => "ListBucket",
                op => op,
            };
            let resource = format!("\"arn:aws:s3:::{}\"", call.path.trim_start_matches('/'));
            (
                StatusCode::FORBIDDEN,
                "AccessDenied",
                not_authorized(&format!("s3:{action}"), Some(&resource)),
            )
        }
        FaultKind::Throttling => (
            StatusCode::SERVICE_UNAVAILABLE,
            "SlowDown",
            "Please reduce your request rate.".to_owned(),
        ),
        FaultKind::ExpiredToken => (
            StatusCode::BAD_REQUEST,
            "ExpiredToken",
            "The provided token has expired.".to_owned(),
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalError",
            "We encountered an internal error. Please try again.".to_owned(),
        ),
    };
    let id = format!("{:016X}", splitmix64(request_id));
    let host_id = host_id(request_id);
    // ExpiredToken names the token it refused.
    let token = match (&call.security_token, kind) {
        (Some(t), FaultKind::ExpiredToken) => format!("<Token-0>{}</Token-0>", xml_escape(t)),
        _ => String::new(),
    };
    let body = if call.method == Method::HEAD {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message>{token}<RequestId>{id}</RequestId><HostId>{host_id}</HostId></Error>",
            xml_escape(&message)
        ))
    };
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    set_request_id(&mut response, "x-amz-request-id", id);
    set_request_id(&mut response, "x-amz-id-2", host_id);
    response
}

fn set_request_id(response: &mut Response<Full<Bytes>>, name: &'static str, id: String) {
    if let Ok(value) = HeaderValue::from_str(&id) {
        response
            .headers_mut()
            .insert(HeaderName::from_static(name), value);
    }
}

fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A request id in DynamoDB's form: 52 upper-case letters and digits.
fn dynamodb_request_id(n: u64) -> String {
    alphanumeric(n, 52, b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
}

fn host_id(n: u64) -> String {
    alphanumeric(
        n ^ 0x5A5A,
        76,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    )
}

fn alphanumeric(n: u64, len: usize, alphabet: &[u8]) -> String {
    let mut state = n;
    (0..len)
        .map(|_| {
            state = splitmix64(state);
            alphabet[(state % alphabet.len() as u64) as usize] as char
        })
        .collect()
}

/// A request id in ECS's and EC2's form (a UUID).
fn uuid_like(n: u64) -> String {
    let a = splitmix64(n);
    let b = splitmix64(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xFFFF,
        a & 0xFFF,
        ((b >> 48) & 0x3FFF) | 0x8000,
        b & 0xFFFF_FFFF_FFFF
    )
}

/// CRC-32 (IEEE), as in DynamoDB's `x-amz-crc32` header.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_dynamodb() {
        // moto's (and DynamoDB's) x-amz-crc32 of this answer.
        assert_eq!(crc32(br#"{"TableNames": []}"#), 363_771_991);
    }

    #[test]
    fn when_counts_and_draws_deterministically() {
        let fired = |w: When| -> Vec<u64> { (1..=10).filter(|&n| w.fires(n)).collect() };
        assert_eq!(fired(When::Always).len(), 10);
        assert_eq!(fired(When::FirstN(2)), vec![1, 2]);
        assert_eq!(fired(When::EveryNth(3)), vec![3, 6, 9]);
        assert!(fired(When::EveryNth(0)).is_empty());
        let p = When::Probability { p: 0.5, seed: 7 };
        assert_eq!(fired(p), fired(p), "the same seed draws the same");
        let hits = (1..=10_000)
            .filter(|&n| When::Probability { p: 0.3, seed: 1 }.fires(n))
            .count();
        assert!((2700..3300).contains(&hits), "{hits} of 10000 at p = 0.3");
        assert!(fired(When::Probability { p: 0.0, seed: 1 }).is_empty());
        assert_eq!(fired(When::Probability { p: 1.0, seed: 1 }).len(), 10);
    }

    #[test]
    fn the_credential_scope_names_region_and_service() {
        let auth = "AWS4-HMAC-SHA256 Credential=testing/20260101/eu-west-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=00";
        assert_eq!(credential_scope(auth), Some(("eu-west-1", "dynamodb")));
        assert_eq!(credential_scope("Bearer x"), None);
    }

    #[test]
    fn s3_operations_from_method_and_path() {
        let op = |method: Method, uri: &str| {
            let (parts, ()) = Request::builder()
                .method(method)
                .uri(uri)
                .body(())
                .unwrap()
                .into_parts();
            s3_operation(&parts)
        };
        assert_eq!(op(Method::GET, "/b/k/x.html"), "GetObject");
        assert_eq!(op(Method::PUT, "/b/k"), "PutObject");
        assert_eq!(op(Method::HEAD, "/b/k"), "HeadObject");
        assert_eq!(op(Method::HEAD, "/b"), "HeadBucket");
        assert_eq!(op(Method::PUT, "/b"), "CreateBucket");
        assert_eq!(op(Method::DELETE, "/b/k"), "DeleteObject");
        assert_eq!(op(Method::GET, "/b?list-type=2&prefix=a"), "ListObjectsV2");
        assert_eq!(op(Method::GET, "/"), "ListBuckets");
    }

    #[test]
    fn only_loopback_upstreams() {
        assert!(parse_upstream("http://127.0.0.1:5000").is_ok());
        assert!(parse_upstream("http://127.0.0.1:5000/").is_ok());
        assert!(parse_upstream("http://192.0.2.1:5000").is_err());
        assert!(parse_upstream("https://127.0.0.1:5000").is_err());
    }
}

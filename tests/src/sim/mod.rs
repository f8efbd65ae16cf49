//! The cluster simulator: the Kubernetes API subset trawl and kubectl use,
//! served over real HTTP on 127.0.0.1, with an Indexed Job controller, a
//! scheduler, Karpenter and a kubelet that runs every pod as a real
//! `trawl-scraper` process. Runs on its own thread and runtime; dropping the
//! [`Sim`] stops everything (processes included).
//!
//! Pods as processes: the image is ignored; the process is the worker binary
//! with the safe environment (`crate::env`), then [`SimOptions::pod_env`],
//! then the pod's own env (downward API resolved), then `TRAWL_CHECKIP_URL`
//! set to `/checkip/{node}` on the simulator (it answers the node's
//! ExternalIP). ConfigMap volumes are written to a folder per pod and
//! volume; any env value that starts with a volume's mountPath is rewritten
//! to that folder (`TRAWL_URLS_FILE=/etc/trawl/urls` -> `<pod dir>/<volume>/urls`).
//!
//! Wire formats: JSON only (kubectl's `get`, `get -w` and `api-resources`
//! work; its `create`/`apply` send protobuf and are refused with 415), Table
//! output for `Accept: ...;as=Table` (every row carries its full object),
//! legacy discovery only (kubectl falls back to it). Simplified on purpose:
//! server-side apply is create-or-merge, strategic merge is a JSON merge
//! patch, json-patch is refused; list pages after the first read current
//! objects under the first page's resourceVersion; no podFailurePolicy, no PodGC (pods on removed nodes stay), no Job-level
//! activeDeadlineSeconds, one container per pod.
//!
//! Large seeded clusters (benchmarks): set `SimOptions::controllers` to
//! false, or the controllers re-scan every pod on every write.

pub mod api;
pub mod job;
pub mod karpenter;
pub mod kubelet;
pub mod scheduler;
pub mod select;
pub mod store;
pub mod table;

use serde_json::Value;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
pub use store::{RESOURCES, Resource, Store};

/// How the simulated cluster behaves.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// API port (0 = any free port).
    pub port: u16,
    /// Elastic IPs handed to new nodes, first free first. When none is free a
    /// node keeps an ephemeral public IP from 203.0.113.0/24 and is marked
    /// `trawl.io/eip=fallback` (label and annotation; `pool` otherwise).
    pub eip_pool: Vec<Ipv4Addr>,
    /// NodeClaim -> Node.
    pub node_delay: Duration,
    /// How long a node of the pool must be empty before Karpenter removes it.
    pub consolidation_delay: Duration,
    /// Karpenter's `limits.nodes`.
    pub max_nodes: usize,
    /// Pods one node takes.
    pub pods_per_node: usize,
    /// Worker processes at once, over all nodes.
    pub max_running: usize,
    /// Interval of BOOKMARK events on watches that allow them.
    pub bookmark_interval: Duration,
    /// Events kept for watches from an older resourceVersion.
    pub history: usize,
    /// Namespaces that exist from the start (besides default & kube-*).
    pub namespaces: Vec<String>,
    /// The NodePool's node labels (besides Karpenter's own).
    pub pool_labels: Vec<(String, String)>,
    /// The NodePool's taint (key, value, effect).
    pub pool_taint: Option<(String, String, String)>,
    pub nodepool: String,
    pub instance_type: String,
    pub capacity_type: String,
    /// Added to every pod's process before the pod's own env (e.g. a
    /// moto's `env()` so the aws sink reaches it).
    pub pod_env: Vec<(String, String)>,
    /// The worker binary (default: `workspace_bin("trawl-scraper")`).
    pub worker_bin: Option<PathBuf>,
    /// Where the kubeconfig goes (default: in the simulator's temp folder).
    pub kubeconfig: Option<PathBuf>,
    /// Run the Job controller, scheduler, Karpenter and kubelet (false: the
    /// API server alone, e.g. to serve a large seeded cluster to a benchmark).
    pub controllers: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            port: 0,
            eip_pool: Vec::new(),
            node_delay: Duration::from_millis(300),
            consolidation_delay: Duration::from_secs(2),
            max_nodes: 10,
            pods_per_node: 8,
            max_running: 16,
            bookmark_interval: Duration::from_secs(1),
            history: 10_000,
            namespaces: vec!["trawl".into()],
            pool_labels: vec![("trawl.io/pool".into(), "scrapers".into())],
            pool_taint: Some((
                "trawl.io/scraper".into(),
                "true".into(),
                "NoSchedule".into(),
            )),
            nodepool: "scrapers".into(),
            instance_type: "t3.small".into(),
            capacity_type: "spot".into(),
            pod_env: Vec::new(),
            worker_bin: None,
            kubeconfig: None,
            controllers: true,
        }
    }
}

/// Faults, settable while the simulator runs.
#[derive(Debug, Default)]
pub struct Faults {
    /// Bumped to end every open watch stream.
    pub(crate) watch_generation: tokio::sync::watch::Sender<u64>,
    /// The next N watches answer 410 Gone.
    pub(crate) gone_next: AtomicU32,
    pub(crate) delay_ms: AtomicU64,
    /// Parts per million of API requests answered 429 / 500.
    pub(crate) throttle_ppm: AtomicU32,
    pub(crate) error_ppm: AtomicU32,
    /// Pod name prefixes whose image never pulls / whose container is OOM-killed.
    pub(crate) image_pull: Mutex<Vec<String>>,
    pub(crate) oom: Mutex<Vec<String>>,
}

/// API requests received (not `/checkip`), by kind, counted before any
/// fault is applied: what clients did, for benchmarks and tests that count
/// calls. Read with [`Sim::requests`].
#[derive(Debug, Default)]
pub struct Counters {
    get: AtomicU64,
    watch: AtomicU64,
    post: AtomicU64,
    put: AtomicU64,
    patch: AtomicU64,
    delete: AtomicU64,
    other: AtomicU64,
}

impl Counters {
    pub(crate) fn count(&self, method: &hyper::Method, watch: bool) {
        use hyper::Method;
        let c = match *method {
            Method::GET if watch => &self.watch,
            Method::GET => &self.get,
            Method::POST => &self.post,
            Method::PUT => &self.put,
            Method::PATCH => &self.patch,
            Method::DELETE => &self.delete,
            _ => &self.other,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn all(&self) -> [&AtomicU64; 7] {
        [
            &self.get,
            &self.watch,
            &self.post,
            &self.put,
            &self.patch,
            &self.delete,
            &self.other,
        ]
    }
}

/// A copy of the request counts (see [`Counters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// GETs other than watches: get, list (each page), discovery, logs.
    pub get: u64,
    /// GETs with `watch=true`.
    pub watch: u64,
    pub post: u64,
    pub put: u64,
    pub patch: u64,
    pub delete: u64,
    /// Any other method (HEAD, OPTIONS, ...).
    pub other: u64,
}

impl RequestCounts {
    /// POST + PUT + PATCH + DELETE.
    pub fn writes(&self) -> u64 {
        self.post + self.put + self.patch + self.delete
    }

    pub fn total(&self) -> u64 {
        self.get + self.watch + self.writes() + self.other
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Faults {
    pub(crate) fn matches(list: &Mutex<Vec<String>>, pod: &str) -> bool {
        lock(list).iter().any(|p| pod.starts_with(p.as_str()))
    }
}

/// What every part of the simulator shares.
pub struct Core {
    pub store: Store,
    pub opts: SimOptions,
    pub faults: Faults,
    pub counters: Counters,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub worker_bin: PathBuf,
}

impl Core {
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The node's ExternalIP (what `/checkip/{node}` answers).
    pub fn node_external_ip(&self, node: &str) -> Option<String> {
        let node = self.store.get("nodes", "", node)?;
        node["status"]["addresses"]
            .as_array()?
            .iter()
            .find(|a| a["type"] == "ExternalIP")
            .and_then(|a| a["address"].as_str())
            .map(str::to_owned)
    }
}

/// A running simulator. Dropping it stops it.
pub struct Sim {
    core: Arc<Core>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

impl Sim {
    /// Binds 127.0.0.1, writes the kubeconfig and starts the API server and
    /// the controllers; the port accepts connections on return.
    pub fn start(opts: SimOptions) -> anyhow::Result<Sim> {
        let dir = tempfile::Builder::new().prefix("trawl-sim").tempdir()?;
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, opts.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let kubeconfig = opts
            .kubeconfig
            .clone()
            .unwrap_or_else(|| dir.path().join("kubeconfig"));
        std::fs::write(&kubeconfig, kubeconfig_text(&format!("http://{addr}")))?;
        let worker_bin = match &opts.worker_bin {
            Some(p) => p.clone(),
            None => crate::env::workspace_bin("trawl-scraper"),
        };
        let core = Arc::new(Core {
            store: Store::new(opts.history),
            faults: Faults::default(),
            counters: Counters::default(),
            addr,
            dir: dir.path().to_owned(),
            worker_bin,
            opts,
        });
        seed(&core)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("trawl-sim")
            .enable_all()
            .build()?;
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let core2 = core.clone();
        let thread = std::thread::Builder::new()
            .name("trawl-sim".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let mut tasks = vec![tokio::spawn(api::serve(core2.clone(), listener))];
                    if core2.opts.controllers {
                        tasks.push(tokio::spawn(job::run(core2.clone())));
                        tasks.push(tokio::spawn(scheduler::run(core2.clone())));
                        tasks.push(tokio::spawn(karpenter::run(core2.clone())));
                        tasks.push(tokio::spawn(kubelet::run(core2.clone())));
                    }
                    let _ = stop_rx.await;
                    for t in tasks {
                        t.abort();
                    }
                });
                // Drops every task, killing worker processes (kill_on_drop).
                runtime.shutdown_timeout(Duration::from_millis(500));
            })?;
        Ok(Sim {
            core,
            stop: Some(stop_tx),
            thread: Some(thread),
            kubeconfig,
            _dir: dir,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.core.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.core.base_url()
    }

    /// The kubeconfig that points at this simulator (cluster, context and
    /// user `trawl-sim`, plain http, no auth).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// The objects themselves, for assertions and seeding.
    pub fn store(&self) -> &Store {
        &self.core.store
    }

    pub fn core(&self) -> &Arc<Core> {
        &self.core
    }

    /// Every object of `plural` (all namespaces).
    pub fn list(&self, plural: &'static str) -> Vec<Value> {
        self.core.store.list(plural, None).0
    }

    /// Creates an object as a client would (defaults applied, validated).
    pub fn create(&self, obj: Value) -> anyhow::Result<Value> {
        api::create_object(&self.core, obj).map_err(|e| anyhow::anyhow!("{}", e.message))
    }

    /// Every change to `plural` since the start, oldest first (empty once
    /// the history was compacted or outgrew `SimOptions::history`).
    pub fn events(&self, plural: &str) -> Vec<Arc<store::Event>> {
        self.core
            .store
            .subscribe(Some(1))
            .map(|s| s.backlog)
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.plural == plural)
            .collect()
    }

    /// Node name -> ExternalIP of every node that ever registered (from
    /// the event history), so nodes already removed still count.
    pub fn node_ips_seen(&self) -> std::collections::HashMap<String, String> {
        self.events("nodes")
            .iter()
            .filter_map(|e| {
                let name = e.object["metadata"]["name"].as_str()?.to_owned();
                let ip = e.object["status"]["addresses"]
                    .as_array()?
                    .iter()
                    .find(|a| a["type"] == "ExternalIP")?["address"]
                    .as_str()?
                    .to_owned();
                Some((name, ip))
            })
            .collect()
    }

    /// API requests received so far (since the start or the last
    /// [`Sim::reset_request_counts`]).
    pub fn requests(&self) -> RequestCounts {
        let [get, watch, post, put, patch, delete, other] =
            self.core.counters.all().map(|c| c.load(Ordering::SeqCst));
        RequestCounts {
            get,
            watch,
            post,
            put,
            patch,
            delete,
            other,
        }
    }

    /// Counts API requests from zero again.
    pub fn reset_request_counts(&self) {
        for c in self.core.counters.all() {
            c.store(0, Ordering::SeqCst);
        }
    }

    // ---- fault knobs ----

    /// Ends every open watch stream now (clients must re-watch).
    pub fn drop_watches(&self) {
        self.core.faults.watch_generation.send_modify(|g| *g += 1);
    }

    /// The next `n` watch requests get 410 Gone (an ERROR event).
    pub fn gone_next_watches(&self, n: u32) {
        self.core.faults.gone_next.store(n, Ordering::SeqCst);
    }

    /// Forgets the event history: watches from any resourceVersion before
    /// now get 410 Gone.
    pub fn compact(&self) {
        self.core.store.compact();
    }

    /// Every API answer waits this long first.
    pub fn set_delay(&self, delay: Duration) {
        self.core
            .faults
            .delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// This fraction of API requests is answered 429 with Retry-After: 1.
    pub fn set_throttle_fraction(&self, fraction: f64) {
        self.core
            .faults
            .throttle_ppm
            .store((fraction.clamp(0.0, 1.0) * 1e6) as u32, Ordering::SeqCst);
    }

    /// This fraction of API requests is answered 500.
    pub fn set_error_fraction(&self, fraction: f64) {
        self.core
            .faults
            .error_ppm
            .store((fraction.clamp(0.0, 1.0) * 1e6) as u32, Ordering::SeqCst);
    }

    /// Pods whose name starts with `prefix` never pull their image
    /// (ErrImagePull, then ImagePullBackOff; they stay Pending).
    pub fn fail_image_pull(&self, prefix: &str) {
        lock(&self.core.faults.image_pull).push(prefix.to_owned());
    }

    /// Pods whose name starts with `prefix` are OOM-killed shortly after
    /// they start (exit 137, reason OOMKilled, phase Failed).
    pub fn oom_kill(&self, prefix: &str) {
        lock(&self.core.faults.oom).push(prefix.to_owned());
    }

    /// Clears every fault.
    pub fn clear_faults(&self) {
        let f = &self.core.faults;
        f.gone_next.store(0, Ordering::SeqCst);
        f.delay_ms.store(0, Ordering::SeqCst);
        f.throttle_ppm.store(0, Ordering::SeqCst);
        f.error_ppm.store(0, Ordering::SeqCst);
        lock(&f.image_pull).clear();
        lock(&f.oom).clear();
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A kubeconfig for `server` (cluster, context and user `trawl-sim`).
pub fn kubeconfig_text(server: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: trawl-sim
  cluster:
    server: {server}
contexts:
- name: trawl-sim
  context:
    cluster: trawl-sim
    user: trawl-sim
current-context: trawl-sim
users:
- name: trawl-sim
  user: {{}}
"
    )
}

fn seed(core: &Core) -> anyhow::Result<()> {
    let mut names: Vec<String> = ["default", "kube-system", "kube-public", "kube-node-lease"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(core.opts.namespaces.iter().cloned());
    names.dedup();
    for ns in names {
        api::create_object(
            core,
            serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        )
        .map_err(|e| anyhow::anyhow!("{}", e.message))?;
    }
    Ok(())
}

/// A controller's pace: after a pass, wait for a change (or `tick`), but
/// never run more often than every 20 ms, so bursts of writes coalesce.
pub(crate) async fn next_pass(notified: tokio::sync::futures::Notified<'_>, tick: Duration) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    tokio::select! {
        () = notified => {}
        () = tokio::time::sleep(tick) => {}
    }
}

/// Waits (polling every 20 ms) until `f` holds, up to `limit`.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + limit;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

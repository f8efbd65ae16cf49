//! Live cluster state for the map: kube-runtime watchers with reflectors on
//! the scraper pool's nodes, trawl's pods (label selector, in the
//! namespace) and Karpenter NodeClaims when that resource exists, each
//! decoded straight into its slim type.
//!
//! Watches break: streams drop, the server answers 410 Gone for a
//! resourceVersion it no longer has. kube's watcher then lists again and
//! the reflector swaps its store at the end of the list, so the map never
//! shows half a cluster; between tries the backoff waits (client-go's
//! steps: 0.8 s doubling to 30 s, with jitter). None of that is an error for the
//! operator; a watch that keeps failing for another reason (forbidden, no
//! route) is, and says so in `ClusterState::problem`.
//!
//! Changes are coalesced: after one, the snapshot is rebuilt once the
//! stream has been quiet for `debounce` (at most every `debounce`), so a
//! burst of 10,000 pod updates costs a handful of snapshots.

use super::map::ClusterState;
use super::names;
use super::slim::{SlimNode, SlimNodeClaim, SlimPod};
use crate::backoff::Backoff;
use futures::StreamExt;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher::{self, watcher as watch_stream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// How the watches run.
#[derive(Clone, Debug)]
pub struct WatchOptions {
    pub namespace: String,
    /// The longest wait between two tries of a broken watch: None for
    /// client-go's (0.8 s doubling to 30 s); tests shorten it, and the
    /// first wait with it.
    pub backoff_ceiling: Option<Duration>,
    /// Quiet time before a new snapshot.
    pub debounce: Duration,
}

impl WatchOptions {
    pub fn new(namespace: impl Into<String>) -> Self {
        WatchOptions {
            namespace: namespace.into(),
            backoff_ceiling: None,
            debounce: Duration::from_millis(150),
        }
    }

    fn backoff(&self) -> Backoff {
        match self.backoff_ceiling {
            None => Backoff::new(Duration::from_millis(800), Duration::from_secs(30)),
            Some(ceiling) => Backoff::new(Duration::from_millis(50).min(ceiling), ceiling),
        }
    }
}

/// Failed tries in a row of one watch before the map says so.
const FAILURES_SHOWN: u32 = 3;

/// The watches of one cluster. Dropping it stops them.
pub struct ClusterWatch {
    state: watch::Receiver<Arc<ClusterState>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ClusterWatch {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// What the watch tasks share with the snapshot task.
struct Shared {
    changed: Notify,
    /// The latest error of a watch that is not routine, by watch.
    problems: Mutex<[Option<String>; 3]>,
}

impl ClusterWatch {
    /// Starts watching (in the background: this returns at once).
    /// NodeClaims are watched only when the cluster serves karpenter.sh/v1;
    /// a cluster without Karpenter is fine.
    pub fn start(client: kube::Client, opts: WatchOptions) -> ClusterWatch {
        let shared = Arc::new(Shared {
            changed: Notify::new(),
            problems: Mutex::new([None, None, None]),
        });
        let pool = format!("{}={}", names::POOL_LABEL, names::POOL);
        let trawl = format!("{}={}", names::MANAGED_BY_LABEL, names::MANAGED_BY);
        let nodes =
            Watched::<SlimNode>::spawn(Api::all(client.clone()), &pool, false, 0, &shared, &opts);
        let pods = Watched::<SlimPod>::spawn(
            Api::namespaced(client.clone(), &opts.namespace),
            &trawl,
            false,
            1,
            &shared,
            &opts,
        );
        let claims = Watched::<SlimNodeClaim>::spawn(Api::all(client), "", true, 2, &shared, &opts);
        let (tx, state) = watch::channel(Arc::new(ClusterState::default()));
        let debounce = opts.debounce;
        let (node_store, pod_store, claim_store) = (nodes.store, pods.store, claims.store);
        let synced = [nodes.synced, pods.synced, claims.synced];
        let mut tasks = vec![nodes.task, pods.task, claims.task];
        tasks.push(tokio::spawn(async move {
            loop {
                shared.changed.notified().await;
                tokio::time::sleep(debounce).await;
                let problem = {
                    let p = shared.problems.lock().unwrap_or_else(|e| e.into_inner());
                    p.iter().flatten().next().cloned()
                };
                let snapshot = ClusterState {
                    synced: synced.iter().all(|s| s.load(Ordering::SeqCst)),
                    nodes: node_store.state(),
                    pods: pod_store.state(),
                    claims: claim_store.state(),
                    problem,
                };
                if tx.send(Arc::new(snapshot)).is_err() {
                    break;
                }
            }
        }));
        ClusterWatch { state, tasks }
    }

    /// Snapshots as they change (the first is empty and not synced).
    pub fn subscribe(&self) -> watch::Receiver<Arc<ClusterState>> {
        self.state.clone()
    }

    /// The latest snapshot (the test hook that compares the map with the
    /// cluster's truth).
    pub fn current(&self) -> Arc<ClusterState> {
        self.state.borrow().clone()
    }
}

/// One watch: its reflector's store, whether its first list is complete,
/// and the task that drives it.
struct Watched<K: kube::Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    synced: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl<K> Watched<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    /// A watcher + reflector on `api` with `labels`, feeding `shared`
    /// (its problems go to `slot`). An `optional` resource the server does
    /// not serve (404: no Karpenter) counts as synced and empty.
    fn spawn(
        api: Api<K>,
        labels: &str,
        optional: bool,
        slot: usize,
        shared: &Arc<Shared>,
        opts: &WatchOptions,
    ) -> Watched<K> {
        let (store, writer) = reflector::store();
        let mut config = watcher::Config::default();
        if !labels.is_empty() {
            config = config.labels(labels);
        }
        let synced = Arc::new(AtomicBool::new(false));
        let what = K::plural(&()).into_owned();
        let mut backoff = opts.backoff();
        let (shared, synced2) = (shared.clone(), synced.clone());
        let task = tokio::spawn(async move {
            if optional
                && let Err(kube::Error::Api(s)) = api.list(&ListParams::default().limit(1)).await
                && s.code == 404
            {
                tracing::info!(resource = what, "not served by this cluster; not watched");
                synced2.store(true, Ordering::SeqCst);
                shared.changed.notify_one();
                return;
            }
            // The backoff is ours, not kube's `.backoff()`: that one resets
            // on every Ok item, and the watcher starts each new try with an
            // Ok `Init` before it has reached the server, so against an
            // unreachable cluster it never grew past its first 0.8 s (three
            // watches logged over a thousand failures in ten minutes). Here
            // only an event from the server resets it, and waiting before
            // the next poll of the stream is the wait before the next try.
            let stream = reflector::reflector(writer, watch_stream(api, config));
            let mut stream = std::pin::pin!(stream);
            // Errors in a row: one failed try is routine too (a connection
            // reset); a watch that keeps failing is the operator's business.
            let mut failing = 0u32;
            while let Some(event) = stream.next().await {
                let mut wait = None;
                let problem = match event {
                    // Init starts every try, InitApply comes page by page:
                    // neither says the watch works again.
                    Ok(watcher::Event::Init | watcher::Event::InitApply(_)) => continue,
                    Ok(e) => {
                        failing = 0;
                        backoff.reset();
                        if matches!(e, watcher::Event::InitDone) {
                            synced2.store(true, Ordering::SeqCst);
                        }
                        None
                    }
                    Err(e) => {
                        let next = backoff.next_wait();
                        wait = Some(next);
                        // One line per try: at most one per backoff step.
                        if routine(&e) {
                            tracing::debug!(watch = what, error = %e, "watch restarts");
                        } else {
                            failing += 1;
                            tracing::info!(
                                watch = what,
                                error = %watch_error(&e),
                                failures = failing,
                                next_try_ms = next.as_millis() as u64,
                                "watch failed; trying again"
                            );
                        }
                        (failing >= FAILURES_SHOWN)
                            .then(|| format!("watching {what}: {}", watch_error(&e)))
                    }
                };
                let changed = {
                    let mut p = shared.problems.lock().unwrap_or_else(|e| e.into_inner());
                    let changed = p[slot] != problem;
                    p[slot] = problem;
                    changed
                };
                if changed || failing == 0 {
                    shared.changed.notify_one();
                }
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
            }
        });
        Watched {
            store,
            synced,
            task,
        }
    }
}

/// 410 Gone and streams that ended are what watches do; the watcher lists
/// again by itself.
fn routine(e: &watcher::Error) -> bool {
    match e {
        watcher::Error::WatchError(s) => s.code == 410,
        watcher::Error::WatchFailed(kube::Error::Api(s))
        | watcher::Error::InitialListFailed(kube::Error::Api(s))
        | watcher::Error::WatchStartFailed(kube::Error::Api(s)) => s.code == 410,
        _ => false,
    }
}

fn watch_error(e: &watcher::Error) -> String {
    match e {
        watcher::Error::InitialListFailed(k)
        | watcher::Error::WatchStartFailed(k)
        | watcher::Error::WatchFailed(k) => super::kube_error(k),
        watcher::Error::WatchError(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

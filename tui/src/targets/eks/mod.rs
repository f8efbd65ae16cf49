//! The EKS target: a run is one ConfigMap and one Indexed Job per chunk of
//! URLs (`objects`), pods run the worker on Karpenter's scraper nodes, and
//! each node leaves through its Elastic IP. The map comes from watches on
//! nodes, pods and NodeClaims (`watch`, decoded into `slim` types, turned
//! into the map by `map`). Records come from DynamoDB like every AWS run
//! (`super::follow`); this module writes a record only when a pod could not:
//! it failed (OOM kill, deadline, exit without a record), or it waited past
//! the grace period for a node or an image.

pub mod map;
mod objects;
pub mod slim;
pub mod watch;

pub use objects::*;

use super::{CancelSignal, RunControl};
use crate::aws::Aws;
use crate::config::EksConfig;
use crate::model::Action;
use crate::store::aws::AwsStore;
use map::{ClusterState, pod_problem};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch as snapshots;
use trawl_scraper::record::{Record, Target};
use watch::{ClusterWatch, WatchOptions};

/// How often pods are looked at again when the cluster is quiet (a pending
/// pod passes its grace period without any change to it).
const RECHECK_EVERY: Duration = Duration::from_secs(5);

/// Connects to the cluster the way kubectl does: the kubeconfig
/// (KUBECONFIG or ~/.kube/config) with the config's context or its current
/// one, else the in-cluster service account.
pub async fn kube_client(eks: &EksConfig) -> Result<kube::Client, String> {
    let hint = format!(
        "run `aws eks update-kubeconfig --name {}` (or set KUBECONFIG), or set `context` under [eks]",
        eks.cluster
    );
    let config = match &eks.context {
        Some(context) => kube::Config::from_kubeconfig(&kube::config::KubeConfigOptions {
            context: Some(context.clone()),
            ..Default::default()
        })
        .await
        .map_err(|e| format!("no kube context {context}: {e}; {hint}"))?,
        None => kube::Config::infer()
            .await
            .map_err(|e| format!("no Kubernetes config: {e}; {hint}"))?,
    };
    kube::Client::try_from(config).map_err(|e| format!("cannot use the Kubernetes config: {e}"))
}

/// How often the map re-reads the Elastic IP pool (to tell pool EIPs from
/// fallback IPs on nodes that carry no `trawl.io/eip` label).
const POOL_EVERY: Duration = Duration::from_secs(60);

/// Turns cluster snapshots into the fleet map until the screen moves on:
/// at each change, and every few seconds (pending pods pass their grace
/// period without changing).
pub async fn show_map(
    mut cluster: snapshots::Receiver<Arc<ClusterState>>,
    grace_secs: i64,
    aws: Option<Arc<Aws>>,
    tx: UnboundedSender<Action>,
) {
    let mut pool: HashSet<String> = HashSet::new();
    let mut pool_read: Option<std::time::Instant> = None;
    let mut recheck = tokio::time::interval(RECHECK_EVERY);
    let mut shown_problem: Option<String> = None;
    let mut drawn = false;
    loop {
        tokio::select! {
            changed = cluster.changed() => if changed.is_err() { return },
            _ = recheck.tick() => {
                // Time alone changes the map only through pending pods
                // (grace periods): an idle cluster draws nothing. The
                // first tick (at once) shows "syncing".
                let waiting = cluster.borrow().pods.iter().any(|p| p.phase() == "Pending");
                if !waiting && drawn {
                    continue;
                }
            }
        }
        let pool_due = pool_read.is_none_or(|t| t.elapsed() > POOL_EVERY);
        if pool_due {
            pool_read = Some(std::time::Instant::now());
        }
        if let Some(aws) = aws.as_ref().filter(|a| a.pool_tag.is_some() && pool_due) {
            let at = time::OffsetDateTime::now_utc().unix_timestamp();
            match crate::aws::pool::read_pool(aws, at).await {
                Ok(p) => pool = p.addresses.into_iter().map(|a| a.public_ip).collect(),
                Err(e) => tracing::info!(
                    error = e.line,
                    "pool not read; nodes without the eip label show as fallback"
                ),
            }
        }
        let snapshot = cluster.borrow_and_update().clone();
        if snapshot.problem != shown_problem {
            shown_problem.clone_from(&snapshot.problem);
            if let Some(p) = &shown_problem {
                let _ = tx.send(Action::Error(p.clone()));
            }
        }
        let at = time::OffsetDateTime::now_utc().unix_timestamp();
        if tx
            .send(Action::FleetChanged(map::fleet(
                &snapshot, at, grace_secs, &pool,
            )))
            .is_err()
        {
            return;
        }
        drawn = true;
    }
}

/// One chunk of a run as its Job runs it: URL N is completion index N.
#[derive(Default)]
struct Chunk {
    urls: Vec<String>,
    /// The Job's retries per index (backoffLimitPerIndex).
    retries: u32,
}

/// Launches EKS runs and writes the records pods could not.
#[derive(Clone)]
pub struct EksTarget {
    client: kube::Client,
    store: AwsStore,
    settings: Arc<EksSettings>,
}

impl EksSettings {
    /// The config's `[eks]` with defaults, and the AWS names the pods need.
    pub fn from_config(eks: &EksConfig, aws: &Aws) -> EksSettings {
        let base = EksSettings::new(
            &eks.namespace,
            &eks.image,
            aws.table.as_deref().unwrap_or_default(),
            aws.bucket.as_deref().unwrap_or_default(),
            &aws.region(),
        );
        EksSettings {
            parallelism: eks.parallelism.unwrap_or(base.parallelism).max(1),
            backoff_limit_per_index: eks.retries_per_url.unwrap_or(base.backoff_limit_per_index),
            pod_deadline_secs: eks.pod_deadline_secs.unwrap_or(base.pod_deadline_secs),
            memory_limit: eks
                .memory_limit
                .clone()
                .unwrap_or(base.memory_limit.clone()),
            pending_grace_secs: eks.pending_grace_secs.unwrap_or(base.pending_grace_secs),
            retain_days: aws.retain_days,
            ..base
        }
    }
}

impl EksTarget {
    pub fn new(client: kube::Client, store: AwsStore, settings: EksSettings) -> Self {
        EksTarget {
            client,
            store,
            settings: Arc::new(settings),
        }
    }

    /// The target from the config: kube client, results store, settings.
    pub async fn from_config(aws: &Aws, eks: &EksConfig) -> Result<Self, String> {
        let settings = EksSettings::from_config(eks, aws);
        if settings.table.is_empty() || settings.bucket.is_empty() {
            return Err(
                "the EKS target needs `table` and `bucket` in the trawl config: run `trawl init --terraform-output FILE`"
                    .into(),
            );
        }
        Ok(EksTarget::new(
            kube_client(eks).await?,
            aws.store()?,
            settings,
        ))
    }

    pub fn store(&self) -> &AwsStore {
        &self.store
    }

    pub fn settings(&self) -> &EksSettings {
        &self.settings
    }

    /// Starts the watches of this cluster (the map, and the failures
    /// `submit` writes).
    pub fn watch(&self, backoff_ceiling: Option<Duration>) -> ClusterWatch {
        let mut opts = WatchOptions::new(&self.settings.namespace);
        opts.backoff_ceiling = backoff_ceiling;
        ClusterWatch::start(self.client.clone(), opts)
    }

    /// Writes the run and its QUEUED records, announces them, creates the
    /// run's ConfigMaps and Jobs, then writes FAILED records for pods that
    /// cannot write their own (seen in `cluster`) until the run is
    /// cancelled. Errors come back as Actions. Returns the run's control
    /// and id (follow its records with [`super::follow::follow_aws_run`]).
    pub fn submit(
        &self,
        urls: Vec<String>,
        cluster: snapshots::Receiver<Arc<ClusterState>>,
        tx: UnboundedSender<Action>,
    ) -> (RunControl, String) {
        let mut run = crate::store::new_run(Target::Eks, urls.len(), self.settings.retain_days);
        run.image = Some(self.settings.image.clone());
        let (control, cancelled) = RunControl::new();
        let target = self.clone();
        let run_id = run.run_id.clone();
        tokio::spawn(async move {
            let records = match target.store.create_run(&run, &urls).await {
                Ok(records) => records,
                Err(e) => {
                    let _ = tx.send(Action::Error(format!("submission failed: {e}")));
                    return;
                }
            };
            let _ = tx.send(Action::RunStarted(run.clone()));
            let _ = tx.send(Action::Records {
                run_id: run.run_id.clone(),
                records: records.clone(),
            });
            match launch(&target.client, &run.run_id, &urls, &target.settings).await {
                Ok(l) => {
                    tracing::info!(
                        run_id = run.run_id,
                        jobs = l.jobs,
                        created = l.created,
                        "launched"
                    );
                }
                Err(e) => {
                    let _ = tx.send(Action::Error(format!("launch failed: {e}")));
                    let reason = format!("not launched: {e}");
                    super::mark_failed(&target.store, &records, &reason, &tx).await;
                    return;
                }
            }
            let retries = u32::try_from(target.settings.backoff_limit_per_index).unwrap_or(0);
            let chunks = chunks(&urls)
                .into_iter()
                .map(|r| Chunk {
                    urls: urls[r].to_vec(),
                    retries,
                })
                .collect();
            drop(records);
            target
                .drive(&run.run_id, chunks, cluster, tx, cancelled)
                .await;
        });
        (control, run_id)
    }

    /// Deletes a run's Jobs (with their pods) and ConfigMaps, then fails
    /// its unfinished records as cancelled (read from the store: this also
    /// cancels a run another trawl launched).
    pub async fn cancel(&self, run_id: &str, tx: &UnboundedSender<Action>) {
        match delete_run(&self.client, &self.settings.namespace, run_id).await {
            Ok(jobs) => tracing::info!(run_id, jobs, "cancelled: Jobs deleted"),
            Err(e) => {
                let _ = tx.send(Action::Error(format!("cancel: {e}")));
            }
        }
        super::fail_unfinished(&self.store, run_id, tx).await;
    }

    /// Takes over a run this trawl did not launch (the screen attached to
    /// it, e.g. after a restart): its chunks' URLs from its ConfigMaps and
    /// retries from its Jobs, then the same as after `submit`. Returns the
    /// run's control at once; a run whose objects are gone (finished and
    /// cleaned up, or cancelled) has nothing to take over.
    pub fn adopt(
        &self,
        run_id: &str,
        cluster: snapshots::Receiver<Arc<ClusterState>>,
        tx: UnboundedSender<Action>,
    ) -> RunControl {
        let (control, mut cancelled) = RunControl::new();
        let (target, run_id) = (self.clone(), run_id.to_owned());
        tokio::spawn(async move {
            match target.read_chunks(&run_id).await {
                Ok(chunks) if !chunks.is_empty() => {
                    return target.drive(&run_id, chunks, cluster, tx, cancelled).await;
                }
                Ok(_) => tracing::info!(run_id, "no Jobs in the cluster: nothing to take over"),
                Err(e) => {
                    let _ = tx.send(Action::Error(format!(
                        "reading run {run_id} from the cluster: {e}"
                    )));
                }
            }
            // Cancel still fails what is unfinished.
            cancelled.cancelled().await;
            target.cancel(&run_id, &tx).await;
        });
        control
    }

    /// A run's chunks as its objects hold them: URLs from the ConfigMaps,
    /// retries from the Jobs (chunk N is `trawl-{run_id}-N`).
    async fn read_chunks(&self, run_id: &str) -> Result<Vec<Chunk>, String> {
        use k8s_openapi::api::batch::v1::Job;
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::api::{Api, ListParams};
        let ns = &self.settings.namespace;
        let selector = ListParams::default().labels(&run_selector(run_id));
        let maps: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let jobs: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let maps = maps.list(&selector).await.map_err(|e| kube_error(&e))?;
        let jobs = jobs.list(&selector).await.map_err(|e| kube_error(&e))?;
        let chunk_of = |name: Option<&String>| name.and_then(|n| chunk_of_object(run_id, n));
        let mut chunks: Vec<Chunk> = Vec::new();
        for map in &maps.items {
            let Some(n) = chunk_of(map.metadata.name.as_ref()) else {
                continue;
            };
            if chunks.len() <= n {
                chunks.resize_with(n + 1, Chunk::default);
            }
            chunks[n].urls = map
                .data
                .as_ref()
                .and_then(|d| d.get(names::URLS_KEY))
                .map(|t| t.lines().map(str::to_owned).collect())
                .unwrap_or_default();
        }
        for job in &jobs.items {
            if let Some(c) = chunk_of(job.metadata.name.as_ref()).and_then(|n| chunks.get_mut(n)) {
                let limit = job.spec.as_ref().and_then(|s| s.backoff_limit_per_index);
                c.retries = limit.and_then(|l| u32::try_from(l).ok()).unwrap_or(0);
            }
        }
        Ok(chunks)
    }

    /// Until cancelled: every pod of the run that failed on its last
    /// attempt, or waited past the grace period, gets its URL's record
    /// FAILED with the reason, once per attempt.
    async fn drive(
        &self,
        run_id: &str,
        chunks: Vec<Chunk>,
        mut cluster: snapshots::Receiver<Arc<ClusterState>>,
        tx: UnboundedSender<Action>,
        mut cancelled: CancelSignal,
    ) {
        let mut written: HashSet<(usize, usize, u32)> = HashSet::new();
        let mut recheck = tokio::time::interval(RECHECK_EVERY);
        loop {
            tokio::select! {
                () = cancelled.cancelled() => {
                    self.cancel(run_id, &tx).await;
                    return;
                }
                changed = cluster.changed() => if changed.is_err() { return },
                _ = recheck.tick() => {}
            }
            let snapshot = cluster.borrow_and_update().clone();
            let at = time::OffsetDateTime::now_utc().unix_timestamp();
            for pod in snapshot.pods.iter().filter(|p| p.run_id() == Some(run_id)) {
                let Some(problem) = pod_problem(pod, at, self.settings.pending_grace_secs)
                    .filter(|p| p.write_failed)
                else {
                    continue;
                };
                let Some((job, index)) = pod.job_and_index() else {
                    continue;
                };
                let Some(chunk) =
                    chunk_of_object(run_id, job).and_then(|c| chunks.get(c).map(|ch| (c, ch)))
                else {
                    continue;
                };
                let attempt = pod.attempt();
                // A failed pod with retries left: the Job starts the next
                // attempt, whose worker writes the record. Only the last
                // attempt's failure (or a pod that never ran) is final.
                if pod.phase() == "Failed" && attempt <= chunk.1.retries {
                    continue;
                }
                let (Some(url), true) = (
                    chunk.1.urls.get(index),
                    written.insert((chunk.0, index, attempt)),
                ) else {
                    continue;
                };
                let mut record = Record::new(run_id, url, attempt);
                record.target = Some(Target::Eks);
                tracing::info!(
                    run_id,
                    url,
                    attempt,
                    pod = pod.name(),
                    reason = problem.reason,
                    "pod could not write its record"
                );
                super::mark_failed(&self.store, &[record], &problem.reason, &tx).await;
            }
        }
    }
}

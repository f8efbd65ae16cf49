//! The local target: each URL in its own worker process (`trawl worker`,
//! the trawl-scraper library inside this binary), at most `concurrency` at
//! once, results in the local store. Progress goes out as Actions.

use super::{CANCELLED, CancelSignal, RunControl};
use crate::model::{Action, Fleet, NodeState, NodeView, PhaseCounts};
use crate::store::local::LocalStore;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use trawl_scraper::record::{Record, RunItem, Status, Target, now};

pub const INTERRUPTED: &str =
    "interrupted: trawl stopped before this URL finished; submit it again to retry";

#[derive(Clone, Debug)]
pub struct LocalRunner {
    pub store: LocalStore,
    /// This program: workers run as `EXE worker`.
    pub exe: PathBuf,
    pub concurrency: usize,
    /// Workers' JSON logs are appended here.
    pub log_file: PathBuf,
    /// Runs are deleted this many days after submission (`--retain-days`).
    pub retain_days: Option<u32>,
}

/// Default concurrency: 4 workers per core.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 4)
}

impl LocalRunner {
    /// A new local run's item: a fresh run id, now, the retention.
    pub fn new_run(&self, url_count: usize) -> RunItem {
        crate::store::new_run(Target::Local, url_count, self.retain_days)
    }

    /// Writes the run item and QUEUED records, announces the run
    /// (`RunStarted`, then the QUEUED records) and launches its workers.
    /// Errors come back as `Action::Error`.
    /// Returns the run's control and id.
    pub fn submit(
        &self,
        urls: Vec<String>,
        tx: mpsc::UnboundedSender<Action>,
    ) -> (RunControl, String) {
        let run = self.new_run(urls.len());
        let run_id = run.run_id.clone();
        let (control, cancelled) = RunControl::new();
        let runner = self.clone();
        tokio::spawn(async move {
            let store = runner.store.clone();
            let run2 = run.clone();
            let created = tokio::task::spawn_blocking(move || store.create_run(&run2, &urls)).await;
            match created {
                Ok(Ok(queued)) => {
                    let _ = tx.send(Action::RunStarted(run.clone()));
                    let _ = tx.send(Action::Records {
                        run_id: run.run_id.clone(),
                        records: queued.clone(),
                    });
                    runner.drive(run, queued, tx, cancelled).await;
                }
                Ok(Err(e)) => {
                    let _ = tx.send(Action::Error(format!(
                        "submission failed: {e}: check that {} is writable",
                        runner.store.root().display()
                    )));
                }
                Err(e) => {
                    let _ = tx.send(Action::Error(format!("submission failed: {e}")));
                }
            }
        });
        (control, run_id)
    }

    /// Runs every not-yet-final record of an existing run (`trawl resume`).
    pub fn launch(
        &self,
        run: RunItem,
        records: Vec<Record>,
        tx: mpsc::UnboundedSender<Action>,
    ) -> RunControl {
        let (control, cancelled) = RunControl::new();
        let runner = self.clone();
        tokio::spawn(async move { runner.drive(run, records, tx, cancelled).await });
        control
    }

    async fn drive(
        self,
        run: RunItem,
        records: Vec<Record>,
        tx: mpsc::UnboundedSender<Action>,
        mut cancelled: CancelSignal,
    ) {
        // Tells another trawl that attaches to this run that it is alive.
        let _pid = self.store.claim_run(&run.run_id);
        let slots = Arc::new(Semaphore::new(self.concurrency.max(1)));
        let mut fleet = LocalFleet::new(&records);
        let _ = tx.send(Action::FleetChanged(fleet.snapshot()));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Record>();
        let mut pending: Vec<Record> = records
            .into_iter()
            .filter(|r| !r.status().is_final())
            .rev()
            .collect();
        let mut live: HashSet<String> = HashSet::new();
        let mut children: HashMap<String, tokio::sync::oneshot::Sender<()>> = HashMap::new();
        loop {
            let cancel_now = cancelled.is_cancelled();
            if cancel_now {
                for (_, kill) in children.drain() {
                    let _ = kill.send(());
                }
                pending.clear();
            }
            if pending.is_empty() && live.is_empty() {
                break;
            }
            tokio::select! {
                permit = slots.clone().acquire_owned(), if !pending.is_empty() && !cancel_now => {
                    let permit = permit.expect("semaphore is never closed");
                    let record = pending.pop().expect("pending is not empty");
                    let (kill_tx, kill_rx) = tokio::sync::oneshot::channel();
                    live.insert(record.url_key.clone());
                    children.insert(record.url_key.clone(), kill_tx);
                    let mut running = record.clone();
                    running.status = Some(Status::Running);
                    running.started_at = Some(now());
                    fleet.started();
                    let _ = tx.send(Action::Records { run_id: run.run_id.clone(), records: vec![running] });
                    let _ = tx.send(Action::FleetChanged(fleet.snapshot()));
                    let (runner, done_tx) = (self.clone(), done_tx.clone());
                    tokio::spawn(async move {
                        let finished = runner.run_worker(record, kill_rx).await;
                        drop(permit);
                        let _ = done_tx.send(finished);
                    });
                }
                Some(finished) = done_rx.recv() => {
                    live.remove(&finished.url_key);
                    children.remove(&finished.url_key);
                    fleet.finished(&finished);
                    let _ = tx.send(Action::Records { run_id: run.run_id.clone(), records: vec![finished] });
                    let _ = tx.send(Action::FleetChanged(fleet.snapshot()));
                }
                _ = cancelled.cancelled(), if !cancel_now => {}
            }
        }
        if cancelled.is_cancelled() {
            let store = self.store.clone();
            let run_id = run.run_id.clone();
            let failed =
                tokio::task::spawn_blocking(move || store.fail_unfinished(&run_id, CANCELLED))
                    .await;
            match failed {
                Ok(Ok(records)) => {
                    let _ = tx.send(Action::Records {
                        run_id: run.run_id.clone(),
                        records,
                    });
                }
                Ok(Err(e)) => {
                    let _ = tx.send(Action::Error(e));
                }
                Err(e) => {
                    let _ = tx.send(Action::Error(format!("cancelling failed: {e}")));
                }
            }
        }
    }

    /// One worker process for one record; returns the record as it stands
    /// after the worker (FAILED with the reason when the worker could not
    /// write a final record).
    async fn run_worker(&self, record: Record, kill: tokio::sync::oneshot::Receiver<()>) -> Record {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_file);
        let stderr = match log {
            Ok(f) => Stdio::from(f),
            Err(_) => Stdio::null(),
        };
        let spawned = tokio::process::Command::new(&self.exe)
            .arg("worker")
            .env("TRAWL_URL", &record.url)
            .env("TRAWL_RUN_ID", &record.run_id)
            .env("TRAWL_ATTEMPT", record.attempt.to_string())
            .env("TRAWL_SINK", format!("dir:{}", self.store.root().display()))
            .env_remove("TRAWL_URLS_FILE")
            .env_remove("JOB_COMPLETION_INDEX")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .kill_on_drop(true)
            .spawn();
        let outcome = match spawned {
            Err(e) => Err(format!(
                "cannot start the worker {}: {e}",
                self.exe.display()
            )),
            Ok(mut child) => tokio::select! {
                status = child.wait() => match status {
                    Ok(s) if s.success() => Ok(()),
                    Ok(s) => Err(format!("the worker exited with {s}; see {}", self.log_file.display())),
                    Err(e) => Err(format!("waiting for the worker failed: {e}")),
                },
                _ = kill => {
                    let _ = child.kill().await;
                    Err(CANCELLED.to_owned())
                }
            },
        };
        let store = self.store.clone();
        let (run_id, url) = (record.run_id.clone(), record.url.clone());
        let stored = tokio::task::spawn_blocking(move || store.record(&run_id, &url))
            .await
            .ok()
            .and_then(Result::ok)
            .flatten();
        match (stored, outcome) {
            (Some(r), _) if r.status().is_final() => r,
            (stored, outcome) => {
                let mut r = stored.unwrap_or(record);
                let at = now();
                r.status = Some(Status::Failed);
                r.error = Some(
                    outcome
                        .err()
                        .unwrap_or_else(|| "the worker exited without a final record".to_owned()),
                );
                r.finished_at = Some(at.clone());
                r.updated_at = Some(at);
                let store = self.store.clone();
                let r2 = r.clone();
                let _ = tokio::task::spawn_blocking(move || store.write_record(&r2)).await;
                r
            }
        }
    }
}

/// The fleet map of the local target with no run: this machine, idle.
pub fn idle_fleet() -> Fleet {
    LocalFleet::new(&[]).snapshot()
}

/// This machine as the fleet map's one node.
struct LocalFleet {
    node: NodeView,
    egress: HashMap<String, usize>,
}

impl LocalFleet {
    fn new(records: &[Record]) -> Self {
        let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "this machine".into());
        let mut f = LocalFleet {
            node: NodeView {
                name,
                instance_type: Some("local".into()),
                state: NodeState::Ready,
                ..NodeView::default()
            },
            egress: HashMap::new(),
        };
        for r in records {
            if r.status().is_final() {
                f.finished(r);
            } else {
                f.node.pods.pending += 1;
            }
        }
        f
    }

    fn started(&mut self) {
        self.node.pods.pending = self.node.pods.pending.saturating_sub(1);
        self.node.pods.running += 1;
    }

    fn finished(&mut self, r: &Record) {
        let PhaseCounts {
            running,
            succeeded,
            failed,
            ..
        } = &mut self.node.pods;
        *running = running.saturating_sub(1);
        if r.status() == Status::Done {
            *succeeded += 1;
        } else {
            *failed += 1;
        }
        if let Some(ip) = &r.egress_ip {
            *self.egress.entry(ip.clone()).or_default() += 1;
        }
        self.node.public_ip = self
            .egress
            .iter()
            .max_by_key(|(_, n)| **n)
            .map(|(ip, _)| ip.clone());
    }

    fn snapshot(&self) -> Fleet {
        Fleet {
            synced: true,
            nodes: vec![self.node.clone()],
            task_groups: Vec::new(),
            pool_total: None,
            pool_known: false,
            launch: None,
        }
    }
}

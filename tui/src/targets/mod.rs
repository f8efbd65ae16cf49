//! Where URLs run. Each target launches a run's URLs and reports progress
//! as Actions: `local` (worker processes on this machine) and `ecs` (one
//! Fargate task per URL); `eks` holds the Kubernetes objects of a run (its
//! launcher and watches come with the EKS issue); `follow` reads a run kept
//! in the AWS store.

pub mod ecs;
pub mod eks;
pub mod follow;
pub mod local;

use crate::model::Action;
use crate::store::aws::AwsStore;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use trawl_scraper::record::Record;

/// Why a URL left unfinished by a cancelled run is FAILED.
pub const CANCELLED: &str = "cancelled: the operator cancelled the run before this URL finished";

/// Stops a launched run: nothing new is launched; what runs is stopped;
/// what is left becomes FAILED (`cancelled: ...`).
#[derive(Clone, Debug)]
pub struct RunControl {
    cancel: watch::Sender<bool>,
}

impl RunControl {
    pub fn new() -> (RunControl, CancelSignal) {
        let (cancel, cancelled) = watch::channel(false);
        (RunControl { cancel }, CancelSignal(cancelled))
    }

    pub fn cancel(&self) {
        let _ = self.cancel.send(true);
    }
}

/// The driving task's side of a [`RunControl`].
#[derive(Clone, Debug)]
pub struct CancelSignal(watch::Receiver<bool>);

impl CancelSignal {
    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the run is cancelled. Dropping the control (the screen
    /// moved to another run) cancels nothing: then this never resolves and
    /// the run goes on.
    pub async fn cancelled(&mut self) {
        if self.0.wait_for(|c| *c).await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Marks `records` FAILED with `reason` in the AWS store, each only while
/// it has not moved on (a worker's final record stays), and shows the ones
/// it wrote at once: a follower would find them too, but whoever marked
/// them knows now (a failed launch ends `trawl submit` without waiting for
/// a poll).
pub(crate) async fn mark_failed(
    store: &AwsStore,
    records: &[Record],
    reason: &str,
    tx: &UnboundedSender<Action>,
) {
    match store.mark_failed(records, reason).await {
        Ok(marked) => show_marked(marked, tx),
        Err(e) => {
            let _ = tx.send(Action::Error(e.line));
        }
    }
}

/// Cancel in the AWS store: every record of `run_id` not final becomes
/// FAILED `cancelled: ...`, shown at once.
pub(crate) async fn fail_unfinished(store: &AwsStore, run_id: &str, tx: &UnboundedSender<Action>) {
    match store.fail_unfinished(run_id, CANCELLED).await {
        Ok(marked) => show_marked(marked, tx),
        Err(e) => {
            let _ = tx.send(Action::Error(format!("cancel: {}", e.line)));
        }
    }
}

fn show_marked(marked: Vec<Record>, tx: &UnboundedSender<Action>) {
    if let Some(run_id) = marked.first().map(|r| r.run_id.clone()) {
        let _ = tx.send(Action::Records {
            run_id,
            records: marked,
        });
    }
}

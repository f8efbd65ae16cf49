//! Where URLs run. Each target launches a run's URLs and reports progress
//! as Actions: `local` (worker processes on this machine) and `ecs` (one
//! Fargate task per URL); `eks` holds the Kubernetes objects of a run (its
//! launcher and watches come with the EKS issue); `follow` reads a run kept
//! in the AWS store.

pub mod ecs;
pub mod eks;
pub mod follow;
pub mod local;

use tokio::sync::watch;

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

//! Where URLs run. Each target launches a run's URLs and reports progress
//! as Actions: `local` (worker processes on this machine) and `ecs` (one
//! Fargate task per URL); `follow` reads a run kept in the AWS store.

pub mod ecs;
pub mod follow;
pub mod local;

use tokio::sync::watch;

/// Stops a launched run: nothing new is launched; what runs is stopped;
/// what is left becomes FAILED (`cancelled: ...`).
#[derive(Clone, Debug)]
pub struct RunControl {
    cancel: watch::Sender<bool>,
}

impl RunControl {
    pub fn new() -> (RunControl, watch::Receiver<bool>) {
        let (cancel, cancelled) = watch::channel(false);
        (RunControl { cancel }, cancelled)
    }

    pub fn cancel(&self) {
        let _ = self.cancel.send(true);
    }
}

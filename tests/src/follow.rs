//! Follows a run of the AWS store as the screen and `trawl submit` do
//! (`trawl::targets::follow::follow_aws_run`), collecting what a target
//! reported, until every URL is final.

use std::time::{Duration, Instant};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use trawl::model::{Action, Fleet, Results};
use trawl::store::aws::AwsStore;
use trawl::targets::follow::follow_aws_run;
use trawl_scraper::record::Record;

/// What a run showed: its records as the screen has them, every version
/// the polls brought (in order), the fleet snapshots and the error lines.
pub struct Seen {
    pub run_id: String,
    pub results: Results,
    pub history: Vec<Record>,
    pub fleets: Vec<Fleet>,
    pub errors: Vec<String>,
}

impl Seen {
    /// The record of `url` (panics when there is none).
    pub fn record(&self, url: &str) -> Record {
        self.results
            .records()
            .iter()
            .find(|r| r.url == url)
            .cloned()
            .unwrap_or_else(|| panic!("no record for {url}"))
    }
}

/// Polls `run_id` in `store` `every` until its `n` URLs are final,
/// collecting the Actions a target sends on `tx`/`rx` meanwhile; panics
/// with the errors seen after `timeout`.
pub async fn until_final(
    store: AwsStore,
    run_id: String,
    n: usize,
    every: Duration,
    tx: UnboundedSender<Action>,
    mut rx: UnboundedReceiver<Action>,
    timeout: Duration,
) -> Seen {
    let follower = tokio::spawn(follow_aws_run(store, run_id.clone(), every, tx));
    let mut seen = Seen {
        run_id,
        results: Results::default(),
        history: Vec::new(),
        fleets: Vec::new(),
        errors: Vec::new(),
    };
    let end = Instant::now() + timeout;
    while seen.results.len() < n || seen.results.finished() < n {
        let left = end.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Some(Action::Records { run_id, records })) if run_id == seen.run_id => {
                seen.history.extend(records.iter().cloned());
                seen.results.apply(records);
            }
            Ok(Some(Action::FleetChanged(f))) => seen.fleets.push(f),
            Ok(Some(Action::Error(e))) => seen.errors.push(e),
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => panic!(
                "{} of {n} URLs final after {timeout:?}; errors: {:?}",
                seen.results.finished(),
                seen.errors
            ),
        }
    }
    follower.abort();
    seen
}

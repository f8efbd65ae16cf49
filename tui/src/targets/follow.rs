//! Follows a run kept in the AWS store (EKS, ECS): its run item, every
//! record once, then only what changed, as Actions. Used when the screen
//! attaches to a run, when this trawl launches one, and by `trawl submit`.

use crate::aws::problem::{AwsError, ErrorKind};
use crate::model::Action;
use crate::store::aws::AwsStore;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The longest pause between polls when AWS throttles or fails.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Looks for the run item before saying the run does not exist (a run
/// being submitted is written first, but the look may come first).
const RUN_ITEM_WAITS: u32 = 5;

/// Follows an EKS or ECS run: its run item, then every record once, then
/// only what changed, every `every`. Throttling and failures slow the polls
/// down (doubling, up to [`MAX_POLL_INTERVAL`]) and show in the status bar
/// until a poll succeeds again; nothing stops the loop but detaching.
pub async fn follow_aws_run(
    store: AwsStore,
    run_id: String,
    every: Duration,
    tx: UnboundedSender<Action>,
) {
    let mut delay = every;
    let mut troubled = false;
    let mut report = |result: Result<(), AwsError>, delay: &mut Duration| match result {
        Ok(()) => {
            *delay = every;
            if std::mem::take(&mut troubled) {
                let _ = tx.send(Action::StoreStatus(None));
            }
        }
        Err(e) => {
            *delay = (*delay * 2).min(MAX_POLL_INTERVAL);
            troubled = true;
            let pace = if e.kind == ErrorKind::Throttled {
                format!("; polling every {} s", delay.as_secs())
            } else {
                format!("; next try in {} s", delay.as_secs())
            };
            let _ = tx.send(Action::StoreStatus(Some(format!("{}{pace}", e.line))));
        }
    };
    let mut missing = 0;
    let run = loop {
        match store.run(&run_id).await {
            Ok(Some(run)) => {
                report(Ok(()), &mut delay);
                break run;
            }
            // A run being submitted right now may not be written yet.
            Ok(None) if missing < RUN_ITEM_WAITS => missing += 1,
            Ok(None) => {
                let _ = tx.send(Action::Error(format!(
                    "run {run_id} is not in DynamoDB table {}: `trawl runs` lists the runs",
                    store.table()
                )));
                return;
            }
            Err(e) => report(Err(e), &mut delay),
        }
        tokio::time::sleep(delay).await;
    };
    let run_id = run.run_id.clone();
    if tx.send(Action::RunStarted(run)).is_err() {
        return;
    }
    let mut cursor: Option<String> = None;
    loop {
        match store.poll(&run_id, cursor.as_deref()).await {
            Ok(poll) => {
                report(Ok(()), &mut delay);
                tracing::debug!(
                    run_id,
                    items_read = poll.items_read,
                    changed = poll.records.len(),
                    "polled"
                );
                let mut records = poll.records;
                if cursor.is_none() {
                    crate::store::listing_order(&mut records);
                }
                cursor = Some(poll.cursor);
                if !records.is_empty()
                    && tx
                        .send(Action::Records {
                            run_id: run_id.clone(),
                            records,
                        })
                        .is_err()
                {
                    return;
                }
            }
            Err(e) => report(Err(e), &mut delay),
        }
        tokio::time::sleep(delay).await;
    }
}

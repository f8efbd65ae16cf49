//! Follows a run kept in the AWS store (EKS, ECS): its run item, every
//! record once, then only what changed, as Actions. Used when the screen
//! attaches to a run, when this trawl launches one, and by `trawl submit`.
//!
//! Two reads, because neither alone sees everything at a cost that stays
//! small:
//! - polls of the `by-update` index for records updated after a cursor
//!   (the poll's start less [`POLL_SKEW_SECS`]): cheap, about one read per
//!   change, nothing for a quiet run. But `updated_at` is stamped by the
//!   writer before its write lands, so a write that becomes visible later
//!   than the window (a slow or throttled write, a lagging index, a
//!   worker's clock behind ours) falls behind the cursor and no poll ever
//!   returns it.
//! - sweeps: the records not yet final, read by key from the table itself,
//!   strongly consistent (`AwsStore::records_by_key`). Whatever the clocks
//!   and latencies, a sweep sees every record as it is; it costs one read
//!   per unfinished URL, never the whole run, and nothing once all are
//!   final. Sweeps come at a slower pace ([`SweepPace`]) that backs off
//!   while they find nothing the polls missed.
//!
//! Each record is delivered once per change ([`Delivered`]): a poll that
//! reads a record again within the window, or a sweep that reads one the
//! polls already brought, sends nothing.
//!
//! [`POLL_SKEW_SECS`]: crate::store::aws::POLL_SKEW_SECS

use crate::aws::problem::{AwsError, ErrorKind};
use crate::model::Action;
use crate::store::aws::AwsStore;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;
use trawl_scraper::record::{Record, Status};

/// The longest pause between polls when AWS throttles or fails.
const MAX_POLL_INTERVAL: Duration = Duration::from_secs(30);

/// Looks for the run item before saying the run does not exist (a run
/// being submitted is written first, but the look may come first).
const RUN_ITEM_WAITS: u32 = 5;

/// Follows an EKS or ECS run: its run item, then every record once, then
/// only what changed, every `every`, with a sweep of the unfinished
/// records now and then. Throttling and failures slow the polls down
/// (doubling, up to [`MAX_POLL_INTERVAL`]) and show in the status bar
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
    let mut delivered = Delivered::default();
    let mut sweeps = SweepPace::default();
    let mut cursor: Option<String> = None;
    loop {
        let sweep = cursor.is_some() && sweeps.due() && delivered.unfinished_count() > 0;
        let read = if sweep {
            {
                let keys = delivered.unfinished();
                store.records_by_key(&run_id, &keys).await.map(|p| {
                    let news = delivered.news(p.records);
                    tracing::info!(
                        run_id,
                        items_read = p.items_read,
                        missed = news.len(),
                        "swept unfinished records"
                    );
                    sweeps.swept(!news.is_empty());
                    news
                })
            }
        } else {
            store.poll(&run_id, cursor.as_deref()).await.map(|p| {
                tracing::debug!(
                    run_id,
                    items_read = p.items_read,
                    changed = p.records.len(),
                    "polled"
                );
                let mut news = delivered.news(p.records);
                if cursor.is_none() {
                    crate::store::listing_order(&mut news);
                }
                cursor = Some(p.cursor);
                sweeps.polled();
                news
            })
        };
        match read {
            Ok(records) => {
                report(Ok(()), &mut delay);
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

/// What a follower has delivered of each record: enough to deliver each
/// change once and to know which URLs are not final yet.
#[derive(Debug, Default)]
pub struct Delivered {
    by_key: HashMap<String, Version>,
    unfinished: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Version {
    attempt: u32,
    status: Status,
    updated_at: Option<String>,
}

impl Version {
    fn of(r: &Record) -> Version {
        Version {
            attempt: r.attempt,
            status: r.status(),
            updated_at: r.updated_at.clone(),
        }
    }
}

impl Delivered {
    /// The records that are news, remembered as delivered: unseen, or
    /// changed in a way the stores' write rule lets replace what was
    /// delivered (an older attempt, or anything after a final record of the
    /// same attempt, is not news).
    pub fn news(&mut self, records: Vec<Record>) -> Vec<Record> {
        let mut news = Vec::new();
        for r in records {
            let version = Version::of(&r);
            match self.by_key.get_mut(&r.url_key) {
                Some(seen) if *seen == version => continue,
                Some(seen) => {
                    if trawl_scraper::sink::may_replace_attempt(
                        seen.attempt,
                        seen.status,
                        version.attempt,
                    )
                    .is_err()
                    {
                        continue;
                    }
                    match (seen.status.is_final(), version.status.is_final()) {
                        (false, true) => self.unfinished -= 1,
                        (true, false) => self.unfinished += 1,
                        _ => {}
                    }
                    *seen = version;
                }
                None => {
                    if !version.status.is_final() {
                        self.unfinished += 1;
                    }
                    self.by_key.insert(r.url_key.clone(), version);
                }
            }
            news.push(r);
        }
        news
    }

    /// The url keys of the records not final yet.
    pub fn unfinished(&self) -> Vec<String> {
        let mut keys: Vec<String> = self
            .by_key
            .iter()
            .filter(|(_, v)| !v.status.is_final())
            .map(|(k, _)| k.clone())
            .collect();
        keys.sort_unstable();
        keys
    }

    pub fn unfinished_count(&self) -> usize {
        self.unfinished
    }
}

/// When the next sweep of unfinished records is due, counted in polls so
/// it follows the poll interval: the first after [`SweepPace::FIRST`]
/// polls (10 s at the default 2 s), then twice as far apart each time a
/// sweep finds nothing the polls missed, up to [`SweepPace::MOST`] polls
/// (2 min); a sweep that finds something brings the pace back to the
/// first step. A run of 10,000 URLs all in flight costs at most 10,000
/// reads every 2 minutes while the polls miss nothing; a quiet run with
/// nothing unfinished costs nothing.
#[derive(Debug)]
pub struct SweepPace {
    polls_since: u32,
    every: u32,
}

impl Default for SweepPace {
    fn default() -> Self {
        SweepPace {
            polls_since: 0,
            every: SweepPace::FIRST,
        }
    }
}

impl SweepPace {
    pub const FIRST: u32 = 5;
    pub const MOST: u32 = 60;

    pub fn polled(&mut self) {
        self.polls_since += 1;
    }

    pub fn due(&self) -> bool {
        self.polls_since >= self.every
    }

    pub fn swept(&mut self, found_missed: bool) {
        self.polls_since = 0;
        self.every = if found_missed {
            SweepPace::FIRST
        } else {
            (self.every * 2).min(SweepPace::MOST)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(url: &str, attempt: u32, status: Status, at: &str) -> Record {
        let mut r = Record::new("r-20261203-000000-test", url, attempt);
        r.status = Some(status);
        r.updated_at = Some(at.to_owned());
        r
    }

    #[test]
    fn each_change_is_delivered_once_and_unfinished_keys_are_known() {
        let mut d = Delivered::default();
        let a0 = rec("https://a.example/", 1, Status::Queued, "t0");
        let b0 = rec("https://b.example/", 1, Status::Queued, "t0");
        assert_eq!(d.news(vec![a0.clone(), b0.clone()]).len(), 2);
        assert_eq!(d.unfinished_count(), 2);
        // Read again (the poll's window): nothing new.
        assert!(d.news(vec![a0.clone()]).is_empty());
        let a1 = rec("https://a.example/", 1, Status::Done, "t1");
        assert_eq!(d.news(vec![a1.clone(), a1.clone()]).len(), 1);
        assert_eq!(d.unfinished_count(), 1);
        assert_eq!(d.unfinished(), vec![b0.url_key.clone()]);
        // A late write of an older state is not news.
        let a_late = rec("https://a.example/", 1, Status::Running, "t2");
        assert!(d.news(vec![a_late]).is_empty());
        // A newer attempt is, and makes the URL unfinished again.
        let a2 = rec("https://a.example/", 2, Status::Running, "t3");
        assert_eq!(d.news(vec![a2]).len(), 1);
        assert_eq!(d.unfinished_count(), 2);
    }

    #[test]
    fn sweeps_back_off_while_they_find_nothing_and_come_back_when_they_do() {
        let mut pace = SweepPace::default();
        let polls_until_due = |pace: &mut SweepPace| {
            let mut n = 0;
            while !pace.due() {
                pace.polled();
                n += 1;
            }
            n
        };
        assert_eq!(polls_until_due(&mut pace), SweepPace::FIRST);
        let mut gaps = Vec::new();
        for _ in 0..6 {
            pace.swept(false);
            gaps.push(polls_until_due(&mut pace));
        }
        assert_eq!(gaps, vec![10, 20, 40, 60, 60, 60]);
        pace.swept(true);
        assert_eq!(polls_until_due(&mut pace), SweepPace::FIRST);
    }
}

//! The results of the run on screen: every record by key, and the view the
//! table shows (filtered and sorted), rebuilt once per batch of changes.

use std::cmp::Ordering;
use std::collections::HashMap;
use trawl_scraper::record::{Record, Status, Verdict};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// The order URLs were submitted in (records arrive in that order).
    #[default]
    Submitted,
    Url,
    Status,
    EgressIp,
    HttpStatus,
    Bytes,
    Verdict,
    Duration,
}

impl SortKey {
    pub const ALL: [SortKey; 8] = [
        SortKey::Submitted,
        SortKey::Url,
        SortKey::Status,
        SortKey::EgressIp,
        SortKey::HttpStatus,
        SortKey::Bytes,
        SortKey::Verdict,
        SortKey::Duration,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortKey::Submitted => "submitted",
            SortKey::Url => "url",
            SortKey::Status => "status",
            SortKey::EgressIp => "egress ip",
            SortKey::HttpStatus => "http",
            SortKey::Bytes => "bytes",
            SortKey::Verdict => "verdict",
            SortKey::Duration => "duration",
        }
    }

    pub fn next(self) -> SortKey {
        let i = SortKey::ALL.iter().position(|k| *k == self).unwrap_or(0);
        SortKey::ALL[(i + 1) % SortKey::ALL.len()]
    }
}

#[derive(Clone, Debug, Default)]
pub struct Results {
    rows: Vec<Record>,
    by_key: HashMap<String, usize>,
    /// Indices into `rows`, filtered and sorted: what the table shows.
    view: Vec<usize>,
    pub sort: SortKey,
    pub descending: bool,
    /// Case-insensitive substring over URL, status, IP, node, verdict and
    /// top finding.
    pub filter: String,
    /// Keep the selection on the newest finished row.
    pub follow: bool,
    /// Index into the view.
    pub selected: usize,
    counts: [usize; 5],
}

impl Results {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn get(&self, url_key: &str) -> Option<&Record> {
        self.by_key.get(url_key).map(|&i| &self.rows[i])
    }

    pub fn records(&self) -> &[Record] {
        &self.rows
    }

    /// The rows the table shows, in order.
    pub fn view(&self) -> impl ExactSizeIterator<Item = &Record> + '_ {
        self.view.iter().map(|&i| &self.rows[i])
    }

    pub fn view_len(&self) -> usize {
        self.view.len()
    }

    pub fn view_row(&self, index: usize) -> Option<&Record> {
        self.view.get(index).map(|&i| &self.rows[i])
    }

    pub fn selected_record(&self) -> Option<&Record> {
        self.view_row(self.selected)
    }

    pub fn count(&self, status: Status) -> usize {
        self.counts[status_index(status)]
    }

    /// DONE, FAILED and BLOCKED.
    pub fn finished(&self) -> usize {
        self.count(Status::Done) + self.count(Status::Failed) + self.count(Status::Blocked)
    }

    pub fn clear(&mut self) {
        *self = Results {
            sort: self.sort,
            descending: self.descending,
            filter: std::mem::take(&mut self.filter),
            follow: self.follow,
            ..Results::default()
        };
    }

    /// Applies a batch of records (new or changed), keeping the write rule
    /// of the stores: an older attempt never replaces a newer one, and a
    /// final record is not replaced by a non-final one of the same attempt.
    /// Returns how many rows became final.
    pub fn apply(&mut self, records: impl IntoIterator<Item = Record>) -> usize {
        let mut newly_final = 0;
        let mut last_final_row = None;
        let old_len = self.rows.len();
        for record in records {
            let row = match self.by_key.get(&record.url_key) {
                Some(&i) => {
                    let old = &self.rows[i];
                    if trawl_scraper::sink::may_replace(old, &record).is_err() {
                        continue;
                    }
                    if !old.status().is_final() && record.status().is_final() {
                        newly_final += 1;
                    }
                    self.counts[status_index(old.status())] -= 1;
                    self.counts[status_index(record.status())] += 1;
                    self.rows[i] = record;
                    i
                }
                None => {
                    if record.status().is_final() {
                        newly_final += 1;
                    }
                    self.counts[status_index(record.status())] += 1;
                    self.by_key.insert(record.url_key.clone(), self.rows.len());
                    self.rows.push(record);
                    self.rows.len() - 1
                }
            };
            if self.rows[row].status().is_final() {
                last_final_row = Some(row);
            }
        }
        if self.is_identity_view() {
            // Submission order, no filter: the view is every row in order,
            // so a change costs nothing and new rows are appended.
            self.view.extend(old_len..self.rows.len());
            if let (true, Some(row)) = (self.follow, last_final_row) {
                self.selected = row;
            }
        } else {
            self.rebuild_view();
        }
        newly_final
    }

    /// The view is all rows in submission order (then `view[i] == i`).
    fn is_identity_view(&self) -> bool {
        self.filter.is_empty() && self.sort == SortKey::Submitted && !self.descending
    }

    pub fn set_filter(&mut self, filter: String) {
        self.filter = filter;
        self.rebuild_view();
    }

    pub fn set_sort(&mut self, sort: SortKey, descending: bool) {
        self.sort = sort;
        self.descending = descending;
        self.rebuild_view();
    }

    pub fn select(&mut self, index: usize) {
        self.selected = index.min(self.view.len().saturating_sub(1));
    }

    fn rebuild_view(&mut self) {
        let selected_key = self.selected_record().map(|r| r.url_key.clone());
        let needle = self.filter.to_lowercase();
        let rows = &self.rows;
        self.view.clear();
        self.view.extend(
            (0..rows.len()).filter(|&i| needle.is_empty() || matches_filter(&rows[i], &needle)),
        );
        let (sort, descending) = (self.sort, self.descending);
        if sort != SortKey::Submitted {
            self.view
                .sort_by(|&a, &b| compare(&rows[a], &rows[b], sort).then(a.cmp(&b)));
        }
        if descending {
            self.view.reverse();
        }
        self.selected = if self.follow {
            self.newest_final_position().unwrap_or(self.selected)
        } else {
            selected_key
                .and_then(|k| self.view.iter().position(|&i| self.rows[i].url_key == k))
                .unwrap_or(self.selected)
        };
        self.select(self.selected);
    }

    fn newest_final_position(&self) -> Option<usize> {
        self.view
            .iter()
            .enumerate()
            .filter(|(_, i)| self.rows[**i].status().is_final())
            .max_by(|(_, a), (_, b)| self.rows[**a].finished_at.cmp(&self.rows[**b].finished_at))
            .map(|(pos, _)| pos)
    }
}

fn status_index(s: Status) -> usize {
    match s {
        Status::Queued => 0,
        Status::Running => 1,
        Status::Done => 2,
        Status::Failed => 3,
        Status::Blocked => 4,
    }
}

fn matches_filter(r: &Record, needle: &str) -> bool {
    let hay = [
        Some(r.url.as_str()),
        Some(r.status().as_str()),
        r.egress_ip.as_deref(),
        r.node.as_deref(),
        r.verdict.map(Verdict::as_str),
        r.findings.first().map(|f| f.rule.as_str()),
        r.error.as_deref(),
    ];
    hay.into_iter()
        .flatten()
        .any(|h| h.to_lowercase().contains(needle))
}

/// Milliseconds from start to finish, when both are known.
pub fn duration_ms(r: &Record) -> Option<i64> {
    let parse = |s: &str| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    };
    let start = parse(r.started_at.as_deref()?)?;
    let end = parse(r.finished_at.as_deref()?)?;
    Some((end - start).whole_milliseconds() as i64)
}

fn compare(a: &Record, b: &Record, key: SortKey) -> Ordering {
    match key {
        SortKey::Submitted => Ordering::Equal,
        SortKey::Url => a.url.cmp(&b.url),
        SortKey::Status => a.status().cmp(&b.status()),
        SortKey::EgressIp => a.egress_ip.cmp(&b.egress_ip),
        SortKey::HttpStatus => a.http_status.cmp(&b.http_status),
        SortKey::Bytes => a.bytes.cmp(&b.bytes),
        SortKey::Verdict => a.verdict.cmp(&b.verdict).then(a.score.cmp(&b.score)),
        SortKey::Duration => duration_ms(a).cmp(&duration_ms(b)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(url: &str, status: Status, attempt: u32) -> Record {
        let mut r = Record::new("r-20261124-050000-abcd", url, attempt);
        r.status = Some(status);
        r
    }

    #[test]
    fn batches_upsert_count_and_keep_the_write_rule() {
        let mut res = Results::default();
        res.apply([
            rec("https://a/", Status::Queued, 1),
            rec("https://b/", Status::Queued, 1),
        ]);
        assert_eq!((res.len(), res.count(Status::Queued)), (2, 2));
        let done = res.apply([rec("https://a/", Status::Done, 1)]);
        assert_eq!(done, 1);
        assert_eq!((res.count(Status::Queued), res.finished()), (1, 1));
        // A stale RUNNING of the same attempt does not undo DONE.
        res.apply([rec("https://a/", Status::Running, 1)]);
        assert_eq!(
            res.get(&rec("https://a/", Status::Done, 1).url_key)
                .unwrap()
                .status(),
            Status::Done
        );
    }

    #[test]
    fn filter_and_sort_shape_the_view_and_keep_the_selection() {
        let mut res = Results::default();
        let mut b = rec("https://b.example/", Status::Failed, 1);
        b.error = Some("timeout".into());
        res.apply([
            rec("https://a.example/", Status::Done, 1),
            b,
            rec("https://c.other/", Status::Done, 1),
        ]);
        res.select(1);
        res.set_sort(SortKey::Url, true);
        assert_eq!(res.selected_record().unwrap().url, "https://b.example/");
        let urls: Vec<&str> = res.view().map(|r| r.url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "https://c.other/",
                "https://b.example/",
                "https://a.example/"
            ]
        );
        res.set_filter("TIMEOUT".into());
        assert_eq!(res.view_len(), 1);
        res.set_filter("example".into());
        assert_eq!(res.view_len(), 2);
    }
}

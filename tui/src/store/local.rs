//! The local store: the worker's `dir:` sink layout, plus `run.json` per run
//! (DESIGN.md "Local store"). Blocking file I/O: call from blocking tasks.

use crate::model::{RunInfo, RunSummary};
use std::path::{Path, PathBuf};
use trawl_scraper::record::{Record, RunItem, Status, now};
use trawl_scraper::sink::dir::{DirSink, read_record, write_atomically};
use trawl_scraper::sink::may_replace;

#[derive(Clone, Debug)]
pub struct LocalStore {
    sink: DirSink,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalStore {
            sink: DirSink::new(root),
        }
    }

    pub fn root(&self) -> &Path {
        self.sink.root()
    }

    fn run_file(&self, run_id: &str) -> PathBuf {
        self.root().join(run_id).join("run.json")
    }

    /// Writes the run item and one QUEUED record per URL. A record that
    /// already exists is left as it is (a resubmission never resets one).
    pub fn create_run(&self, run: &RunItem, urls: &[String]) -> Result<Vec<Record>, String> {
        let json = serde_json::to_vec_pretty(run).expect("run items serialise");
        write_atomically(&self.run_file(&run.run_id), &json, true).map_err(|e| e.0)?;
        let submitted = now();
        let mut records = Vec::with_capacity(urls.len());
        for url in urls {
            let r = super::queued_record(run, url, &submitted);
            let path = self.sink.record_path(&r);
            match read_record(&path).map_err(|e| e.0)? {
                Some(existing) => records.push(existing),
                None => {
                    let json = serde_json::to_vec_pretty(&r).expect("records serialise");
                    write_atomically(&path, &json, false).map_err(|e| e.0)?;
                    records.push(r);
                }
            }
        }
        Ok(records)
    }

    /// Deletes the runs whose retention (`--retain-days`) has passed, as
    /// DynamoDB's TTL does for AWS runs. Returns the run ids deleted.
    pub fn prune_expired(&self, now_unix: i64) -> Result<Vec<String>, String> {
        let entries = match std::fs::read_dir(self.root()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot list {}: {e}", self.root().display())),
        };
        let mut pruned = Vec::new();
        for entry in entries.flatten() {
            let Some(run_id) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(run) = self.read_run(&run_id) else {
                continue;
            };
            // A run something still drives is kept until it ends.
            if run.expires_at.is_some_and(|t| t <= now_unix)
                && self.driver(&run_id) == Driver::Nobody
            {
                let dir = self.root().join(&run_id);
                std::fs::remove_dir_all(&dir)
                    .map_err(|e| format!("cannot delete expired run {}: {e}", dir.display()))?;
                pruned.push(run_id);
            }
        }
        Ok(pruned)
    }

    pub fn read_run(&self, run_id: &str) -> Result<RunItem, String> {
        let path = self.run_file(run_id);
        let bytes = std::fs::read(&path)
            .map_err(|e| format!("cannot read run {run_id} ({}): {e}", path.display()))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| format!("{} is not a run item: {e}", path.display()))
    }

    /// Every record of a run (unreadable ones are skipped with a warning).
    pub fn records(&self, run_id: &str) -> Result<Vec<Record>, String> {
        let dir = self.root().join(run_id);
        let entries =
            std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path().join("record.json");
            match read_record(&path) {
                Ok(Some(r)) => out.push(r),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e.0, "skipping an unreadable record"),
            }
        }
        super::listing_order(&mut out);
        Ok(out)
    }

    /// Runs, newest first, with counts.
    pub fn list_runs(&self) -> Result<Vec<RunSummary>, String> {
        let entries = match std::fs::read_dir(self.root()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(format!("cannot list {}: {e}", self.root().display())),
        };
        let mut runs = Vec::new();
        for entry in entries.flatten() {
            let Some(run_id) = entry.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            let Ok(info) = self.read_run(&run_id) else {
                continue;
            };
            let records = self.records(&run_id).unwrap_or_default();
            runs.push(summarise(info, &records));
        }
        runs.sort_by(|a, b| b.info.created_at.cmp(&a.info.created_at));
        Ok(runs)
    }

    /// Records still QUEUED or RUNNING whose worker is gone (trawl was
    /// stopped, or the run cancelled) become FAILED with `reason` (starting
    /// `interrupted:` or `cancelled:`).
    pub fn fail_unfinished(&self, run_id: &str, reason: &str) -> Result<Vec<Record>, String> {
        let mut changed = Vec::new();
        for mut r in self.records(run_id)? {
            if r.status().is_final() {
                continue;
            }
            let at = now();
            r.status = Some(Status::Failed);
            r.error = Some(reason.to_owned());
            r.finished_at = Some(at.clone());
            r.updated_at = Some(at);
            // A worker may have finished since the read: the write rule
            // keeps its final record.
            if self.write_record(&r)? {
                changed.push(r);
            }
        }
        Ok(changed)
    }

    /// Writes a record unless the stored one is newer or final (the rule of
    /// every store); returns whether it was written.
    pub fn write_record(&self, record: &Record) -> Result<bool, String> {
        let path = self.sink.record_path(record);
        if let Some(current) = read_record(&path).map_err(|e| e.0)?
            && may_replace(&current, record).is_err()
        {
            return Ok(false);
        }
        let json = serde_json::to_vec_pretty(record).expect("records serialise");
        write_atomically(&path, &json, true).map_err(|e| e.0)?;
        Ok(true)
    }

    /// Marks `run_id` as driven by this process until the guard drops.
    pub fn claim_run(&self, run_id: &str) -> RunClaim {
        let path = self.root().join(run_id).join("runner.pid");
        let _ = std::fs::write(&path, std::process::id().to_string());
        RunClaim { path }
    }

    /// Which process drives the run, by its `runner.pid`.
    pub fn driver(&self, run_id: &str) -> Driver {
        let pid = std::fs::read_to_string(self.root().join(run_id).join("runner.pid"))
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok());
        match pid {
            Some(pid) if pid == std::process::id() => Driver::ThisProcess,
            Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => Driver::OtherProcess,
            _ => Driver::Nobody,
        }
    }

    pub fn record(&self, run_id: &str, url: &str) -> Result<Option<Record>, String> {
        read_record(&self.sink.record_path(&Record::new(run_id, url, 1))).map_err(|e| e.0)
    }

    /// Where the record's body is stored (gzip).
    pub fn body_path(&self, record: &Record) -> std::path::PathBuf {
        self.sink.body_path(record)
    }

    /// The start of the stored body, decompressed, for the preview.
    pub fn body_head(&self, record: &Record) -> Result<Vec<u8>, String> {
        let path = self.body_path(record);
        let file = std::fs::File::open(&path)
            .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
        super::gunzip_head(std::io::BufReader::new(file))
            .map_err(|e| format!("cannot decompress {}: {e}", path.display()))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// Its workers are gone: unfinished records were interrupted.
    Nobody,
    ThisProcess,
    /// E.g. `trawl submit --detach`: follow it by polling.
    OtherProcess,
}

/// Removes the run's `runner.pid` when the driving task ends.
pub struct RunClaim {
    path: PathBuf,
}

impl Drop for RunClaim {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

pub fn summarise(info: RunInfo, records: &[Record]) -> RunSummary {
    let finished = records.iter().filter(|r| r.status().is_final()).count();
    let failed = records
        .iter()
        .filter(|r| matches!(r.status(), Status::Failed | Status::Blocked))
        .count();
    RunSummary {
        info,
        finished,
        failed,
        counted: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trawl_scraper::record::Target;

    #[test]
    fn runs_are_created_listed_and_interrupted_records_failed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let run = RunItem::new("r-20261124-050000-abcd", Target::Local, 3, now());
        let urls: Vec<String> = ["https://a/", "https://b/", "https://c/"]
            .map(String::from)
            .to_vec();
        let queued = store.create_run(&run, &urls).unwrap();
        assert!(queued.iter().all(|r| r.status() == Status::Queued));

        // One URL finished before trawl was killed; two did not.
        let mut done = queued[0].clone();
        done.status = Some(Status::Done);
        let json = serde_json::to_vec(&done).unwrap();
        write_atomically(&store.sink.record_path(&done), &json, true).unwrap();
        let failed = store
            .fail_unfinished(
                &run.run_id,
                "interrupted: trawl stopped before this URL finished",
            )
            .unwrap();
        assert_eq!(failed.len(), 2);
        assert!(
            failed
                .iter()
                .all(|r| r.error.as_deref().unwrap().starts_with("interrupted:"))
        );

        // A resubmission keeps what exists.
        let again = store.create_run(&run, &urls).unwrap();
        assert_eq!(
            again
                .iter()
                .filter(|r| r.status() == Status::Failed)
                .count(),
            2
        );

        let runs = store.list_runs().unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].finished, runs[0].failed), (3, 2));
        assert_eq!(store.driver(&run.run_id), Driver::Nobody);
        let claim = store.claim_run(&run.run_id);
        assert_eq!(store.driver(&run.run_id), Driver::ThisProcess);
        drop(claim);
        assert_eq!(store.driver(&run.run_id), Driver::Nobody);
        assert_eq!(runs[0].info, run);
    }
}

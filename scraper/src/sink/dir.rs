//! The local store: `PATH/{run_id}/{url_key}/body` (gzip) and
//! `PATH/{run_id}/{url_key}/record.json`, each written to a temporary name and
//! renamed, so no reader ever sees half a file.

use super::{SinkError, Written, keep_submitter_fields, may_replace, with_backoff};
use crate::record::Record;
use std::io::Write;
use std::path::{Path, PathBuf};

const WRITE_TRIES: u32 = 4;

#[derive(Clone, Debug)]
pub struct DirSink {
    root: PathBuf,
}

impl DirSink {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DirSink { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn record_dir(&self, record: &Record) -> PathBuf {
        self.root.join(&record.run_id).join(&record.url_key)
    }

    pub fn record_path(&self, record: &Record) -> PathBuf {
        self.record_dir(record).join("record.json")
    }

    pub fn body_path(&self, record: &Record) -> PathBuf {
        self.record_dir(record).join("body")
    }

    pub async fn put_record(&self, record: &Record) -> Result<Written, SinkError> {
        let path = self.record_path(record);
        // Only a final record must be durable before the worker exits; a
        // RUNNING one lost to a crash is rewritten by the next attempt.
        let durable = record.status().is_final();
        let record = record.clone();
        with_backoff(WRITE_TRIES, || {
            let (path, record) = (path.clone(), record.clone());
            async move {
                tokio::task::spawn_blocking(move || {
                    let mut record = record;
                    if let Some(existing) = read_record(&path)? {
                        if let Err(why) = may_replace(&existing, &record) {
                            return Ok(Written::Superseded(why));
                        }
                        keep_submitter_fields(&existing, &mut record);
                    }
                    let json = serde_json::to_vec_pretty(&record).expect("records serialise");
                    write_atomically(&path, &json, durable)?;
                    Ok(Written::Stored)
                })
                .await
                .map_err(|e| SinkError(format!("record write task failed: {e}")))?
            }
        })
        .await
    }

    pub async fn put_body(&self, record: &Record, gzipped: Vec<u8>) -> Result<String, SinkError> {
        let path = self.body_path(record);
        let shown = path.display().to_string();
        let gzipped = std::sync::Arc::new(gzipped);
        with_backoff(WRITE_TRIES, || {
            let (path, gzipped) = (path.clone(), gzipped.clone());
            async move {
                tokio::task::spawn_blocking(move || write_atomically(&path, &gzipped, true))
                    .await
                    .map_err(|e| SinkError(format!("body write task failed: {e}")))?
            }
        })
        .await?;
        Ok(shown)
    }
}

/// Reads a record.json; a missing file is `None`.
pub fn read_record(path: &Path) -> Result<Option<Record>, SinkError> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| SinkError(format!("{} is not a valid record: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(SinkError(format!("cannot read {}: {e}", path.display()))),
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it when it must be
/// `durable`, and renames it over `path`.
pub fn write_atomically(path: &Path, bytes: &[u8], durable: bool) -> Result<(), SinkError> {
    let dir = path.parent().expect("store paths have a parent");
    std::fs::create_dir_all(dir)
        .map_err(|e| SinkError(format!("cannot create {}: {e}", dir.display())))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}-{:08x}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        SinkError(format!("cannot write {}: {e}", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Status;

    #[tokio::test]
    async fn records_follow_the_attempt_rules_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let sink = DirSink::new(dir.path());
        let mut queued = Record::new("r-20261124-050000-abcd", "https://a.example/", 2);
        queued.status = Some(Status::Queued);
        queued.submitted_at = Some("2026-11-24T05:00:00.000Z".into());
        assert_eq!(sink.put_record(&queued).await.unwrap(), Written::Stored);
        let mut r = Record::new("r-20261124-050000-abcd", "https://a.example/", 2);
        r.status = Some(Status::Running);
        assert_eq!(sink.put_record(&r).await.unwrap(), Written::Stored);
        // The worker's write keeps the submitter's fields.
        r.submitted_at = queued.submitted_at.clone();
        let mut late = r.clone();
        late.attempt = 1;
        late.status = Some(Status::Done);
        assert!(matches!(
            sink.put_record(&late).await.unwrap(),
            Written::Superseded(_)
        ));
        r.status = Some(Status::Done);
        assert_eq!(sink.put_record(&r).await.unwrap(), Written::Stored);
        let stored = read_record(&sink.record_path(&r)).unwrap().unwrap();
        assert_eq!(stored, r);
        // Only the record is left in the folder: no temporary files.
        let names: Vec<_> = std::fs::read_dir(sink.record_dir(&r))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec!["record.json"]);
    }
}

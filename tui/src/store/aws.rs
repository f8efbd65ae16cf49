//! The AWS results store: a run's item and QUEUED records in DynamoDB,
//! written with conditions so a resubmission never resets a record that
//! moved on; incremental polling through the `by-update` index; the runs
//! list through the sparse `runs` index; stored bodies from S3. Key and
//! index names are `trawl_scraper::sink::item::schema`. Errors are lines a
//! person can act on (`crate::aws::problem`).

use super::PREVIEW_BYTES;
use crate::aws::problem::{AwsError, Call, ErrorKind, describe};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::collections::HashMap;
use std::time::Duration;
use trawl_scraper::record::{Record, RunItem, Status, now};
use trawl_scraper::sink::aws::{AwsSink, s3_client};
use trawl_scraper::sink::item::{Item, from_item, parse_item, schema, to_item};

/// DynamoDB's limit of items in one transaction.
const TRANSACTION_ITEMS: usize = 100;

/// DynamoDB's limit of keys in one BatchGetItem call.
const BATCH_GET_KEYS: usize = 100;

#[derive(Clone, Debug)]
pub struct AwsStore {
    config: aws_config::SdkConfig,
    dynamo: Client,
    table: String,
    bucket: Option<String>,
}

/// One poll's answer: the changed records and what it cost to read them.
#[derive(Debug, Default)]
pub struct Poll {
    pub records: Vec<Record>,
    /// Items DynamoDB read for this poll (the index query's ScannedCount).
    pub items_read: usize,
    /// Where the next poll starts: this poll's start minus the skew window.
    pub cursor: String,
}

/// Seconds of clock skew between workers and this program that a poll
/// looks back over, so a write stamped slightly in the past is not missed.
/// Records changed within the window are read again by the next poll
/// (harmless: the results model keeps the newest); a run with no change for
/// longer than the window costs nothing to poll.
pub const POLL_SKEW_SECS: i64 = 3;

impl AwsStore {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        AwsStore {
            config: config.clone(),
            dynamo: Client::new(config),
            table: table.into(),
            bucket: None,
        }
    }

    /// The bucket that holds the bodies (for previews and presigned URLs).
    pub fn with_bucket(mut self, bucket: Option<String>) -> Self {
        self.bucket = bucket;
        self
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    fn region(&self) -> String {
        self.config
            .region()
            .map_or_else(|| "(none: set AWS_REGION)".to_owned(), |r| r.to_string())
    }

    fn table_error<E>(
        &self,
        doing: &str,
        permission: &str,
        e: &aws_sdk_dynamodb::error::SdkError<E, HttpResponse>,
    ) -> AwsError
    where
        E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        describe(
            e,
            Call {
                doing,
                resource: &format!("DynamoDB table {}", self.table),
                permission,
                region: &self.region(),
            },
        )
    }

    /// Writes the run item and one QUEUED record per URL, 100 to a
    /// transaction, each only if absent; records carry the run's TTL.
    /// Returns the records as the table holds them afterwards (existing
    /// ones are read back, not reset). Throttled or conflicting
    /// transactions are retried with backoff.
    pub async fn create_run(
        &self,
        run: &RunItem,
        urls: &[String],
    ) -> Result<Vec<Record>, AwsError> {
        retrying(|| self.put_if_absent(to_item(run))).await?;
        let submitted = now();
        let records: Vec<Record> = urls
            .iter()
            .map(|url| super::queued_record(run, url, &submitted))
            .collect();
        let mut stored = Vec::with_capacity(records.len());
        for chunk in records.chunks(TRANSACTION_ITEMS) {
            let mut pending: Vec<Record> = chunk.to_vec();
            let mut backoff = Backoff::default();
            // A resubmission: the transaction is cancelled and says which
            // records exist, with their items; those are kept as they are
            // and the rest is written again (at most once per record).
            while !pending.is_empty() {
                match self.transact_put_if_absent(&pending).await {
                    Ok(()) => stored.append(&mut pending),
                    Err(TransactError::Cancelled(reasons)) => {
                        let mut rest = Vec::new();
                        let mut retry = false;
                        for (r, reason) in pending.drain(..).zip(reasons) {
                            match reason {
                                Reason::Exists(old) => stored.push(*old),
                                Reason::Retry => {
                                    retry = true;
                                    rest.push(r);
                                }
                                Reason::None => rest.push(r),
                            }
                        }
                        pending = rest;
                        if retry {
                            backoff.wait("writing QUEUED records").await?;
                        }
                    }
                    Err(TransactError::Other(e))
                        if matches!(e.kind, ErrorKind::Throttled | ErrorKind::Transient) =>
                    {
                        backoff.wait_after(e).await?;
                    }
                    Err(TransactError::Other(e)) => return Err(e),
                }
            }
        }
        Ok(stored)
    }

    async fn transact_put_if_absent(&self, records: &[Record]) -> Result<(), TransactError> {
        let items = records
            .iter()
            .map(|r| {
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_item(r)))
                    .condition_expression("attribute_not_exists(#sk)")
                    .expression_attribute_names("#sk", schema::SORT_KEY)
                    .return_values_on_condition_check_failure(
                        aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .expect("table, item and condition are set");
                TransactWriteItem::builder().put(put).build()
            })
            .collect();
        let e = match self
            .dynamo
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        if let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error()
        {
            let reasons = c.cancellation_reasons();
            // AWS gives one reason per item, "None" for the items that
            // were fine; without them there is nothing to act on.
            if reasons.len() == records.len() {
                let reasons = reasons
                    .iter()
                    .zip(records)
                    .map(|(reason, r)| match reason.code() {
                        Some("ConditionalCheckFailed") => Reason::Exists(Box::new(
                            reason
                                .item()
                                .and_then(|i| from_item(i).ok())
                                .unwrap_or_else(|| r.clone()),
                        )),
                        Some("ThrottlingError")
                        | Some("TransactionConflict")
                        | Some("ProvisionedThroughputExceeded") => Reason::Retry,
                        _ => Reason::None,
                    })
                    .collect::<Vec<_>>();
                if reasons.iter().any(|r| !matches!(r, Reason::None)) {
                    return Err(TransactError::Cancelled(reasons));
                }
            }
        }
        Err(TransactError::Other(self.table_error(
            "writing QUEUED records",
            "dynamodb:PutItem",
            &e,
        )))
    }

    /// Puts an item unless its key exists; whether it was written.
    async fn put_if_absent(&self, item: Item) -> Result<bool, AwsError> {
        let result = self
            .dynamo
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#sk)")
            .expression_attribute_names("#sk", schema::SORT_KEY)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(self.table_error("writing the run item", "dynamodb:PutItem", &e)),
        }
    }

    /// Marks records FAILED with `reason` (a launch that failed), each
    /// only while it has not moved on: the worker's own conditional write
    /// (`AwsSink::put_record`), so a record a worker finished stays.
    /// Returns the records it wrote, as written, so whoever marked them can
    /// show them at once rather than wait for a poll to find them.
    pub async fn mark_failed(
        &self,
        records: &[Record],
        reason: &str,
    ) -> Result<Vec<Record>, AwsError> {
        let sink = AwsSink::from_config(
            &self.config,
            self.bucket.clone().unwrap_or_default(),
            self.table.clone(),
        );
        let mut marked = Vec::new();
        for r in records {
            let mut failed = Record::new(&r.run_id, &r.url, r.attempt);
            failed.status = Some(Status::Failed);
            failed.target = r.target;
            failed.error = Some(reason.to_owned());
            trawl_scraper::sink::keep_submitter_fields(r, &mut failed);
            // Stamped per write, not once for the batch: a long batch
            // stamped at its start would land behind a follower's cursor.
            let at = now();
            failed.finished_at = Some(at.clone());
            failed.updated_at = Some(at);
            // The sink's client already retries with backoff.
            let written = sink
                .put_record(&failed)
                .await
                .map_err(|e| other(e.to_string()))?;
            if written == trawl_scraper::sink::Written::Stored {
                marked.push(failed);
            }
        }
        Ok(marked)
    }

    /// Marks every record of `run_id` that is not final FAILED with
    /// `reason` (cancel): read strongly from the run, then the conditional
    /// write of [`AwsStore::mark_failed`]. Returns the records it marked.
    pub async fn fail_unfinished(
        &self,
        run_id: &str,
        reason: &str,
    ) -> Result<Vec<Record>, AwsError> {
        let open: Vec<Record> = self
            .poll(run_id, None)
            .await?
            .records
            .into_iter()
            .filter(|r| !r.status().is_final())
            .collect();
        self.mark_failed(&open, reason).await
    }

    /// Records of `run_id` updated after `since` (the previous poll's
    /// cursor), through the `by-update` index; `None` reads the whole run
    /// from the table itself, strongly consistent (the index is only
    /// eventually consistent).
    pub async fn poll(&self, run_id: &str, since: Option<&str>) -> Result<Poll, AwsError> {
        let mut poll = Poll {
            cursor: trawl_scraper::record::timestamp(
                time::OffsetDateTime::now_utc() - time::Duration::seconds(POLL_SKEW_SECS),
            ),
            ..Poll::default()
        };
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        let from = since.map(str::to_owned);
        loop {
            let mut query = self
                .dynamo
                .query()
                .table_name(&self.table)
                .expression_attribute_names("#pk", schema::PARTITION_KEY)
                .expression_attribute_values(":run", AttributeValue::S(run_id.to_owned()))
                .set_exclusive_start_key(start.take());
            query = match &from {
                Some(from) => query
                    .index_name(schema::INDEX_BY_UPDATE)
                    .key_condition_expression("#pk = :run AND #u > :since")
                    .expression_attribute_names("#u", "updated_at")
                    .expression_attribute_values(":since", AttributeValue::S(from.clone())),
                None => query
                    .key_condition_expression("#pk = :run")
                    .consistent_read(true),
            };
            let page = query
                .send()
                .await
                .map_err(|e| self.table_error("polling records", "dynamodb:Query", &e))?;
            poll.items_read += page.scanned_count().max(0) as usize;
            for item in page.items() {
                if item.contains_key("kind") {
                    continue;
                }
                poll.records.push(from_item(item).map_err(other)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(poll)
    }

    /// The records of `run_id` with these url keys, read directly and
    /// strongly consistent (BatchGetItem, 100 keys a call): what a follower
    /// uses to find records that its index polls cannot see. Costs one
    /// read per key, whatever the run's size. Keys without a record are
    /// left out; `cursor` is unused.
    pub async fn records_by_key(
        &self,
        run_id: &str,
        url_keys: &[String],
    ) -> Result<Poll, AwsError> {
        use aws_sdk_dynamodb::types::KeysAndAttributes;
        let mut poll = Poll::default();
        for chunk in url_keys.chunks(BATCH_GET_KEYS) {
            let keys = chunk
                .iter()
                .map(|k| {
                    HashMap::from([
                        (
                            schema::PARTITION_KEY.to_owned(),
                            AttributeValue::S(run_id.to_owned()),
                        ),
                        (schema::SORT_KEY.to_owned(), AttributeValue::S(k.clone())),
                    ])
                })
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .expect("keys are set"),
            );
            poll.items_read += chunk.len();
            let mut backoff = Backoff::default();
            while let Some(keys) = request.take() {
                let out = self
                    .dynamo
                    .batch_get_item()
                    .request_items(&self.table, keys.clone())
                    .send()
                    .await
                    .map_err(|e| {
                        self.table_error("reading unfinished records", "dynamodb:BatchGetItem", &e)
                    });
                let out = match out {
                    Ok(out) => out,
                    Err(e) if matches!(e.kind, ErrorKind::Throttled | ErrorKind::Transient) => {
                        backoff.wait_after(e).await?;
                        request = Some(keys);
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                for item in out
                    .responses()
                    .and_then(|r| r.get(&self.table))
                    .into_iter()
                    .flatten()
                {
                    poll.records.push(from_item(item).map_err(other)?);
                }
                // DynamoDB answers part of a batch when it is throttled or
                // the answer is large: the rest comes back to be asked again.
                if let Some(rest) = out.unprocessed_keys().and_then(|u| u.get(&self.table))
                    && !rest.keys().is_empty()
                {
                    backoff.wait("reading unfinished records").await?;
                    request = Some(rest.clone());
                }
            }
        }
        Ok(poll)
    }

    /// The stored record of `url` in `run_id` (a strongly consistent read:
    /// it decides whether a stopped task left a result).
    pub async fn record(&self, run_id: &str, url: &str) -> Result<Option<Record>, AwsError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, AttributeValue::S(run_id.to_owned()))
            .key(
                schema::SORT_KEY,
                AttributeValue::S(trawl_scraper::record::url_key(url)),
            )
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| self.table_error("reading a record", "dynamodb:GetItem", &e))?;
        out.item().map(|i| from_item(i).map_err(other)).transpose()
    }

    /// The run item of `run_id`, if the table has it.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunItem>, AwsError> {
        let out = self
            .dynamo
            .get_item()
            .table_name(&self.table)
            .key(schema::PARTITION_KEY, AttributeValue::S(run_id.to_owned()))
            .key(schema::SORT_KEY, AttributeValue::S("#run".into()))
            .send()
            .await
            .map_err(|e| self.table_error("reading the run", "dynamodb:GetItem", &e))?;
        out.item()
            .map(|i| parse_item::<RunItem>(i).map_err(other))
            .transpose()
    }

    /// Runs, newest first, through the sparse `runs` index.
    pub async fn runs(&self) -> Result<Vec<RunItem>, AwsError> {
        let mut runs = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .query()
                .table_name(&self.table)
                .index_name(schema::INDEX_RUNS)
                .key_condition_expression("#k = :run")
                .expression_attribute_names("#k", "kind")
                .expression_attribute_values(":run", AttributeValue::S("run".into()))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.table_error("listing runs", "dynamodb:Query", &e))?;
            for item in page.items() {
                runs.push(parse_item::<RunItem>(item).map_err(other)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(runs)
    }

    /// How many of a run's records are in each status: one query of the
    /// run's partition that returns only the status attribute.
    pub async fn status_counts(&self, run_id: &str) -> Result<HashMap<Status, usize>, AwsError> {
        let mut counts = HashMap::new();
        let mut start = None;
        loop {
            let page = self
                .dynamo
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :run")
                .expression_attribute_names("#pk", schema::PARTITION_KEY)
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":run", AttributeValue::S(run_id.to_owned()))
                .projection_expression("#s")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| self.table_error("counting a run's records", "dynamodb:Query", &e))?;
            for item in page.items() {
                let status = item
                    .get("status")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|s| s.parse::<Status>().ok());
                if let Some(status) = status {
                    *counts.entry(status).or_insert(0) += 1;
                }
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(counts)
    }

    fn bucket_and_key(&self, record: &Record) -> Result<(&str, String), AwsError> {
        let bucket = self.bucket.as_deref().ok_or_else(|| AwsError {
            kind: ErrorKind::Other,
            line: "no bucket in the trawl config: run `trawl init --terraform-output FILE` (or set `bucket`)".into(),
        })?;
        let key = record.object_key.clone().ok_or_else(|| AwsError {
            kind: ErrorKind::NotFound,
            line: "no body was stored for this URL".into(),
        })?;
        Ok((bucket, key))
    }

    /// The first [`PREVIEW_BYTES`] of the stored body, decompressed. Only
    /// the start of the object is downloaded: enough compressed bytes for
    /// the preview even when the content does not compress.
    pub async fn body_head(&self, record: &Record) -> Result<Vec<u8>, AwsError> {
        let (bucket, key) = self.bucket_and_key(record)?;
        let call = |e: &dyn Fn(Call<'_>) -> AwsError| {
            e(Call {
                doing: "reading the stored body",
                resource: &format!("S3 object s3://{bucket}/{key}"),
                permission: "s3:GetObject",
                region: &self.region(),
            })
        };
        let out = s3_client(&self.config)
            .get_object()
            .bucket(bucket)
            .key(&key)
            .range(format!("bytes=0-{}", 2 * PREVIEW_BYTES - 1))
            .send()
            .await
            .map_err(|e| call(&|c| describe(&e, c)))?;
        let compressed = out.body.collect().await.map_err(|e| AwsError {
            kind: ErrorKind::Transient,
            line: format!("reading s3://{bucket}/{key} broke off: {e}"),
        })?;
        super::gunzip_head(&compressed.into_bytes()[..]).map_err(|e| AwsError {
            kind: ErrorKind::Other,
            line: format!("s3://{bucket}/{key} is not gzip as trawl stores bodies: {e}"),
        })
    }

    /// A presigned GET URL of the stored body, valid for `valid_for`.
    pub async fn presigned_body_url(
        &self,
        record: &Record,
        valid_for: Duration,
    ) -> Result<String, AwsError> {
        let (bucket, key) = self.bucket_and_key(record)?;
        let presigning = aws_sdk_s3::presigning::PresigningConfig::expires_in(valid_for)
            .map_err(|e| other(e.to_string()))?;
        let request = s3_client(&self.config)
            .get_object()
            .bucket(bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| {
                describe(
                    &e,
                    Call {
                        doing: "presigning the body's URL",
                        resource: &format!("S3 object s3://{bucket}/{key}"),
                        permission: "s3:GetObject",
                        region: &self.region(),
                    },
                )
            })?;
        Ok(request.uri().to_owned())
    }
}

fn other(line: impl Into<String>) -> AwsError {
    AwsError {
        kind: ErrorKind::Other,
        line: line.into(),
    }
}

enum TransactError {
    /// Per record of the transaction: why it was cancelled.
    Cancelled(Vec<Reason>),
    Other(AwsError),
}

enum Reason {
    /// The record exists (a resubmission): the stored one.
    Exists(Box<Record>),
    /// Throttled or in conflict: write it again after a pause.
    Retry,
    /// Fine, cancelled with the others: write it again.
    None,
}

/// Jittered exponential backoff for throttled or transient failures: 100 ms
/// doubling to 5 s, at most [`Backoff::ATTEMPTS`] waits, then the error.
#[derive(Default)]
pub(crate) struct Backoff {
    waits: u32,
}

impl Backoff {
    const ATTEMPTS: u32 = 8;

    pub(crate) async fn wait(&mut self, doing: &str) -> Result<(), AwsError> {
        self.wait_after(AwsError {
            kind: ErrorKind::Throttled,
            line: format!(
                "AWS is throttling {doing}: still throttled after {} tries; trawl gave up this time",
                Self::ATTEMPTS
            ),
        })
        .await
    }

    pub(crate) async fn wait_after(&mut self, e: AwsError) -> Result<(), AwsError> {
        if self.waits >= Self::ATTEMPTS {
            return Err(e);
        }
        let base = 100u64 << self.waits.min(6);
        let jitter = u64::from(time::OffsetDateTime::now_utc().nanosecond()) % (base / 2 + 1);
        tokio::time::sleep(Duration::from_millis((base / 2 + jitter).min(5_000))).await;
        self.waits += 1;
        Ok(())
    }
}

/// Runs `call` again after throttled or transient failures, with backoff.
async fn retrying<T, F, Fut>(mut call: F) -> Result<T, AwsError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AwsError>>,
{
    let mut backoff = Backoff::default();
    loop {
        match call().await {
            Err(e) if matches!(e.kind, ErrorKind::Throttled | ErrorKind::Transient) => {
                backoff.wait_after(e).await?
            }
            result => return result,
        }
    }
}

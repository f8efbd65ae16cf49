//! The AWS results store (DynamoDB): a run's item and QUEUED records written
//! with conditions so a resubmission never resets a record that moved on,
//! incremental polling through the `by-update` index, and the runs list
//! through the sparse `runs` index. Key and index names are
//! `trawl_scraper::sink::item::schema`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use std::collections::HashMap;
use trawl_scraper::record::{Record, RunItem, Status, now};
use trawl_scraper::sink::item::{Item, from_item, parse_item, schema, to_item};

/// DynamoDB's limit of items in one transaction.
const TRANSACTION_ITEMS: usize = 100;

#[derive(Clone, Debug)]
pub struct AwsStore {
    dynamo: Client,
    table: String,
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
pub const POLL_SKEW_SECS: i64 = 5;

impl AwsStore {
    pub fn new(config: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        AwsStore {
            dynamo: Client::new(config),
            table: table.into(),
        }
    }

    fn error(&self, what: &str, e: impl std::error::Error + 'static) -> String {
        format!(
            "{what} in DynamoDB table {}: {}",
            self.table,
            trawl_scraper::error_text::full(&e)
        )
    }

    /// Writes the run item and one QUEUED record per URL, 100 to a
    /// transaction, each only if absent. Returns the records as the table
    /// holds them afterwards (existing ones are read back, not reset).
    pub async fn create_run(&self, run: &RunItem, urls: &[String]) -> Result<Vec<Record>, String> {
        self.put_if_absent(to_item(run)).await?;
        let submitted = now();
        let records: Vec<Record> = urls
            .iter()
            .map(|url| {
                let mut r = Record::new(&run.run_id, url, 1);
                r.status = Some(Status::Queued);
                r.target = Some(run.target);
                r.submitted_at = Some(submitted.clone());
                r.updated_at = Some(submitted.clone());
                r
            })
            .collect();
        let mut stored = Vec::with_capacity(records.len());
        for chunk in records.chunks(TRANSACTION_ITEMS) {
            let mut pending: Vec<Record> = chunk.to_vec();
            // A resubmission: the transaction is cancelled and says which
            // records exist, with their items; those are kept as they are
            // and the rest is written again (at most once per record).
            while !pending.is_empty() {
                match self.transact_put_if_absent(&pending).await {
                    Ok(()) => {
                        stored.append(&mut pending);
                    }
                    Err(TransactError::Exist(existing)) => {
                        let mut rest = Vec::new();
                        for (r, old) in pending.drain(..).zip(existing) {
                            match old {
                                Some(old) => stored.push(old),
                                None => rest.push(r),
                            }
                        }
                        pending = rest;
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
        match self
            .dynamo
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                    e.as_service_error()
                {
                    let reasons = c.cancellation_reasons();
                    if reasons.len() == records.len()
                        && reasons
                            .iter()
                            .any(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        let existing = reasons
                            .iter()
                            .zip(records)
                            .map(|(reason, r)| match reason.code() {
                                Some("ConditionalCheckFailed") => Some(
                                    reason
                                        .item()
                                        .and_then(|i| from_item(i).ok())
                                        .unwrap_or_else(|| r.clone()),
                                ),
                                _ => None,
                            })
                            .collect();
                        return Err(TransactError::Exist(existing));
                    }
                }
                Err(TransactError::Other(
                    self.error("writing QUEUED records", e),
                ))
            }
        }
    }

    /// Puts an item unless its key exists; whether it was written.
    async fn put_if_absent(&self, item: Item) -> Result<bool, String> {
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
            Err(e) => Err(self.error("writing an item", e)),
        }
    }

    /// Records of `run_id` updated after `since` (the previous poll's
    /// cursor), through the `by-update` index; `None` reads the whole run.
    pub async fn poll(&self, run_id: &str, since: Option<&str>) -> Result<Poll, String> {
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
                .index_name(schema::INDEX_BY_UPDATE)
                .expression_attribute_names("#pk", schema::PARTITION_KEY)
                .expression_attribute_values(":run", AttributeValue::S(run_id.to_owned()))
                .set_exclusive_start_key(start.take());
            query = match &from {
                Some(from) => query
                    .key_condition_expression("#pk = :run AND #u > :since")
                    .expression_attribute_names("#u", "updated_at")
                    .expression_attribute_values(":since", AttributeValue::S(from.clone())),
                None => query.key_condition_expression("#pk = :run"),
            };
            let page = query
                .send()
                .await
                .map_err(|e| self.error("polling records", e))?;
            poll.items_read += page.scanned_count().max(0) as usize;
            for item in page.items() {
                if item.contains_key("kind") {
                    continue;
                }
                poll.records.push(from_item(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(poll)
    }

    /// Runs, newest first, through the sparse `runs` index.
    pub async fn runs(&self) -> Result<Vec<RunItem>, String> {
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
                .map_err(|e| self.error("listing runs", e))?;
            for item in page.items() {
                runs.push(parse_item::<RunItem>(item)?);
            }
            match page.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => break,
            }
        }
        Ok(runs)
    }
}

enum TransactError {
    /// Per record of the transaction: the stored record where one exists.
    Exist(Vec<Option<Record>>),
    Other(String),
}

//! Records as DynamoDB items and back, through their JSON form, so the item
//! has exactly the fields of `record.json` (numbers as N, lists as L, maps as
//! M; absent fields stay absent).

use crate::record::Record;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Map, Number, Value};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

/// The table's key attributes and index names (DESIGN.md); terraform/ must
/// agree, and a test checks it.
pub mod schema {
    pub const PARTITION_KEY: &str = "run_id";
    pub const SORT_KEY: &str = "url_key";
    pub const RUN_ITEM_SORT_KEY: &str = "#run";
    pub const INDEX_BY_UPDATE: &str = "by-update";
    pub const INDEX_BY_IP: &str = "by-ip";
    pub const INDEX_RUNS: &str = "runs";
    pub const TTL_ATTRIBUTE: &str = "expires_at";
}

/// A record or run item as a DynamoDB item.
pub fn to_item<T: serde::Serialize>(value: &T) -> Item {
    match serde_json::to_value(value).expect("records and run items serialise") {
        Value::Object(map) => map
            .into_iter()
            .filter_map(|(k, v)| to_attribute(v).map(|a| (k, a)))
            .collect(),
        _ => unreachable!("records and run items serialise to objects"),
    }
}

pub fn from_item(item: &Item) -> Result<Record, String> {
    parse_item(item)
}

/// An item as any of the table's shapes (records, run items).
pub fn parse_item<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, String> {
    let map: Map<String, Value> = item
        .iter()
        .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
        .collect::<Result<_, String>>()?;
    serde_json::from_value(Value::Object(map)).map_err(|e| format!("unexpected item: {e}"))
}

fn to_attribute(v: Value) -> Option<AttributeValue> {
    Some(match v {
        Value::Null => return None,
        Value::Bool(b) => AttributeValue::Bool(b),
        Value::Number(n) => AttributeValue::N(n.to_string()),
        Value::String(s) => AttributeValue::S(s),
        Value::Array(a) => AttributeValue::L(a.into_iter().filter_map(to_attribute).collect()),
        Value::Object(m) => AttributeValue::M(
            m.into_iter()
                .filter_map(|(k, v)| to_attribute(v).map(|a| (k, a)))
                .collect(),
        ),
    })
}

fn from_attribute(a: &AttributeValue) -> Result<Value, String> {
    Ok(match a {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => {
            let num = n
                .parse::<i64>()
                .map(Number::from)
                .ok()
                .or_else(|| n.parse::<f64>().ok().and_then(Number::from_f64))
                .ok_or_else(|| format!("bad number {n:?}"))?;
            Value::Number(num)
        }
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => {
            Value::Array(l.iter().map(from_attribute).collect::<Result<_, _>>()?)
        }
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| Ok((k.clone(), from_attribute(v)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => return Err(format!("unexpected attribute type {other:?}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Finding, Redirect, Severity, Status, Verdict};

    #[test]
    fn records_round_trip_through_items() {
        let mut r = Record::new("r-20261124-050000-abcd", "https://a.example/", 2);
        r.status = Some(Status::Done);
        r.http_status = Some(200);
        r.bytes = Some(1234);
        r.score = Some(35);
        r.verdict = Some(Verdict::Suspicious);
        r.redirects = vec![Redirect {
            url: "https://a.example/".into(),
            status: 200,
            remote_addr: Some("203.0.113.9:443".into()),
        }];
        r.findings = vec![Finding::new(
            "iframe.hidden",
            Severity::Medium,
            "1 hidden iframe",
        )];
        let item = to_item(&r);
        assert_eq!(item["attempt"], AttributeValue::N("2".into()));
        assert_eq!(item["status"], AttributeValue::S("DONE".into()));
        assert!(!item.contains_key("egress_ip"));
        assert_eq!(from_item(&item).unwrap(), r);
    }
}

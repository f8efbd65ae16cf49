//! The fault proxy between the AWS SDKs and a real moto: each injected
//! fault reaches the SDK as AWS's own answer would (same error code, same
//! retry behaviour), and what the proxy forwards really happens in moto.
//! ECS goes over raw awsJson 1.1 requests (aws-sdk-ecs is not a dependency).

use aws_sdk_dynamodb::error::ProvideErrorMetadata as _;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
    ScalarAttributeType, TransactWriteItem, WriteRequest,
};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::io::{Read as _, Write as _};
use std::time::Duration;
use trawl_tests::fault_proxy::{Fault, FaultKind, FaultProxy, GSI_THROTTLING_MESSAGE, Rule, When};
use trawl_tests::moto::Moto;

/// An SDK configuration that talks to moto through the proxy.
async fn through(moto: &Moto, proxy: &FaultProxy) -> aws_config::SdkConfig {
    moto.sdk_config()
        .await
        .to_builder()
        .endpoint_url(proxy.endpoint())
        .build()
}

async fn create_table(moto: &Moto, name: &str) {
    moto.dynamodb()
        .await
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .expect("CreateTable");
}

/// The partition keys moto holds in `table`.
async fn keys_in(moto: &Moto, table: &str) -> BTreeSet<String> {
    let scan = moto
        .dynamodb()
        .await
        .scan()
        .table_name(table)
        .send()
        .await
        .expect("Scan");
    scan.items()
        .iter()
        .map(|item| item["pk"].as_s().expect("pk is S").clone())
        .collect()
}

fn item(pk: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk.to_owned())),
        ("v".to_owned(), AttributeValue::N("1".to_owned())),
    ])
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| (*k).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_access_denied_expired_token_and_server_error_reach_the_sdk() {
    let moto = Moto::start().unwrap();
    create_table(&moto, "T").await;
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let db = aws_sdk_dynamodb::Client::new(&through(&moto, &proxy).await);
    proxy.add(Rule::new("Query", Fault::AccessDenied, When::Always));
    proxy.add(Rule::new("GetItem", Fault::ExpiredToken, When::Always));
    proxy.add(Rule::new("PutItem", Fault::ServerError, When::FirstN(1)));

    let denied = db
        .query()
        .table_name("T")
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S("a".into()))
        .send()
        .await
        .expect_err("Query is denied")
        .into_service_error();
    assert_eq!(denied.code(), Some("AccessDeniedException"));
    let message = denied.message().unwrap_or_default();
    assert!(
        message.contains("is not authorized to perform: dynamodb:Query on resource: arn:aws:dynamodb:us-east-1:123456789012:table/T because no identity-based policy allows"),
        "{message}"
    );

    let expired = db
        .get_item()
        .table_name("T")
        .key("pk", AttributeValue::S("a".into()))
        .send()
        .await
        .expect_err("GetItem has expired credentials")
        .into_service_error();
    assert_eq!(expired.code(), Some("ExpiredTokenException"));

    // A 500 is retried: the second attempt reaches moto.
    db.put_item()
        .table_name("T")
        .set_item(Some(item("a")))
        .send()
        .await
        .expect("PutItem succeeds on the retry after InternalServerError");
    assert_eq!(keys_in(&moto, "T").await, set(&["a"]));

    let stats = proxy.stats();
    // Neither denial is retried, nothing was forwarded.
    let query = stats.op("Query");
    assert_eq!((query.seen, query.forwarded), (1, 0));
    assert_eq!(query.injected(FaultKind::AccessDenied), 1);
    let get = stats.op("GetItem");
    assert_eq!((get.seen, get.forwarded), (1, 0));
    assert_eq!(get.injected(FaultKind::ExpiredToken), 1);
    let put = stats.op("PutItem");
    assert_eq!((put.seen, put.forwarded), (2, 1));
    assert_eq!(put.injected(FaultKind::ServerError), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn dynamodb_throttling_is_retried_by_the_sdk_and_the_call_succeeds() {
    let moto = Moto::start().unwrap();
    create_table(&moto, "T").await;
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let db = aws_sdk_dynamodb::Client::new(&through(&moto, &proxy).await);
    proxy.add(Rule::new("PutItem", Fault::Throttling, When::FirstN(1)));

    db.put_item()
        .table_name("T")
        .set_item(Some(item("throttled-once")))
        .send()
        .await
        .expect("the standard retry gets past one ThrottlingException");

    let put = proxy.stats().op("PutItem");
    assert_eq!(put.injected(FaultKind::Throttling), 1);
    assert_eq!((put.seen, put.forwarded), (2, 1));
    assert_eq!(keys_in(&moto, "T").await, set(&["throttled-once"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn transaction_throttled_cancels_with_one_reason_per_item() {
    let moto = Moto::start().unwrap();
    create_table(&moto, "T").await;
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let db = aws_sdk_dynamodb::Client::new(&through(&moto, &proxy).await);
    proxy.add(Rule::new(
        "TransactWriteItems",
        Fault::TransactionThrottled,
        When::Always,
    ));

    let mut transaction = db.transact_write_items();
    for pk in ["t1", "t2", "t3"] {
        transaction = transaction.transact_items(
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name("T")
                        .set_item(Some(item(pk)))
                        .build()
                        .unwrap(),
                )
                .build(),
        );
    }
    let error = transaction
        .send()
        .await
        .expect_err("the transaction is cancelled")
        .into_service_error();
    let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(cancelled) = &error else {
        panic!("not TransactionCanceledException: {error:?}");
    };
    let reasons: Vec<(Option<&str>, Option<&str>)> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| (r.code(), r.message()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (Some("ThrottlingError"), Some(GSI_THROTTLING_MESSAGE)),
            (Some("None"), None),
            (Some("None"), None),
        ]
    );
    assert!(
        cancelled
            .message()
            .unwrap_or_default()
            .ends_with("[ThrottlingError, None, None]"),
        "{cancelled:?}"
    );

    // Not forwarded, not retried by the SDK: nothing was written.
    let stats = proxy.stats().op("TransactWriteItems");
    assert_eq!((stats.seen, stats.forwarded), (1, 0));
    assert_eq!(stats.injected(FaultKind::TransactionThrottled), 1);
    assert!(keys_in(&moto, "T").await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_write_forwards_half_of_each_table_and_returns_the_rest_unprocessed() {
    let moto = Moto::start().unwrap();
    create_table(&moto, "A").await;
    create_table(&moto, "B").await;
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let db = aws_sdk_dynamodb::Client::new(&through(&moto, &proxy).await);
    proxy.add(Rule::new(
        "BatchWriteItem",
        Fault::UnprocessedItems,
        When::FirstN(1),
    ));

    let puts = |prefix: &str, n: usize| -> Vec<WriteRequest> {
        (0..n)
            .map(|i| {
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(item(&format!("{prefix}{i}"))))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect()
    };
    let answer = db
        .batch_write_item()
        .request_items("A", puts("a", 5))
        .request_items("B", puts("b", 4))
        .send()
        .await
        .expect("BatchWriteItem");

    let unprocessed = answer.unprocessed_items().expect("UnprocessedItems");
    let keys = |table: &str| -> BTreeSet<String> {
        unprocessed[table]
            .iter()
            .map(|w| {
                w.put_request().expect("a put").item()["pk"]
                    .as_s()
                    .unwrap()
                    .clone()
            })
            .collect()
    };
    assert_eq!(keys("A"), set(&["a3", "a4"]));
    assert_eq!(keys("B"), set(&["b2", "b3"]));
    assert_eq!(keys_in(&moto, "A").await, set(&["a0", "a1", "a2"]));
    assert_eq!(keys_in(&moto, "B").await, set(&["b0", "b1"]));

    // Sending the unprocessed items again (the rule is spent) completes it.
    let again = db
        .batch_write_item()
        .set_request_items(Some(unprocessed.clone()))
        .send()
        .await
        .expect("BatchWriteItem of the rest");
    assert!(again.unprocessed_items().is_none_or(HashMap::is_empty));
    assert_eq!(keys_in(&moto, "A").await.len(), 5);
    assert_eq!(keys_in(&moto, "B").await.len(), 4);

    let stats = proxy.stats().op("BatchWriteItem");
    assert_eq!((stats.seen, stats.forwarded), (2, 2));
    assert_eq!(stats.injected(FaultKind::UnprocessedItems), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_put_item_response_is_retried_after_moto_acted() {
    let moto = Moto::start().unwrap();
    create_table(&moto, "T").await;
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let db = aws_sdk_dynamodb::Client::new(&through(&moto, &proxy).await);

    // A plain put is idempotent: the SDK retries the I/O error and succeeds.
    proxy.add(Rule::new("PutItem", Fault::LoseResponse, When::FirstN(1)));
    db.put_item()
        .table_name("T")
        .set_item(Some(item("lost")))
        .send()
        .await
        .expect("the retried PutItem succeeds");
    assert_eq!(keys_in(&moto, "T").await, set(&["lost"]));
    let put = proxy.stats().op("PutItem");
    assert_eq!((put.seen, put.forwarded), (2, 2));
    assert_eq!(put.injected(FaultKind::LoseResponse), 1);

    // A conditional put is not: its retry meets the item its first attempt
    // wrote, and the caller gets ConditionalCheckFailedException although
    // its write happened. Callers must treat that case as "maybe mine".
    proxy.clear();
    proxy.add(Rule::new("PutItem", Fault::LoseResponse, When::FirstN(1)));
    let error = db
        .put_item()
        .table_name("T")
        .set_item(Some(item("conditional")))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await
        .expect_err("the retry fails its condition")
        .into_service_error();
    assert_eq!(error.code(), Some("ConditionalCheckFailedException"));
    assert_eq!(keys_in(&moto, "T").await, set(&["lost", "conditional"]));
    let put = proxy.stats().op("PutItem");
    assert_eq!((put.seen, put.forwarded), (4, 4));
    assert_eq!(put.injected(FaultKind::LoseResponse), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn ec2_errors_are_ec2_query_errors() {
    let moto = Moto::start().unwrap();
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&through(&moto, &proxy).await);
    moto_allocate_address(&moto).await;

    proxy.add(Rule::new(
        "DescribeAddresses",
        Fault::AccessDenied,
        When::Always,
    ));
    let denied = ec2
        .describe_addresses()
        .send()
        .await
        .expect_err("denied")
        .into_service_error();
    assert_eq!(denied.code(), Some("UnauthorizedOperation"));
    assert!(
        denied
            .message()
            .unwrap_or_default()
            .contains("not authorized to perform: ec2:DescribeAddresses"),
        "{denied:?}"
    );

    proxy.clear();
    proxy.add(Rule::new(
        "DescribeAddresses",
        Fault::ExpiredToken,
        When::FirstN(1),
    ));
    let expired = ec2
        .describe_addresses()
        .send()
        .await
        .expect_err("expired")
        .into_service_error();
    assert_eq!(expired.code(), Some("RequestExpired"));

    // RequestLimitExceeded (503) is EC2's throttling: retried, then moto answers.
    proxy.clear();
    proxy.add(Rule::new(
        "DescribeAddresses",
        Fault::Throttling,
        When::FirstN(1),
    ));
    let addresses = ec2
        .describe_addresses()
        .send()
        .await
        .expect("retried past RequestLimitExceeded");
    assert_eq!(addresses.addresses().len(), 1);

    let stats = proxy.stats().op("DescribeAddresses");
    assert_eq!((stats.seen, stats.forwarded), (4, 1));
    assert_eq!(stats.injected(FaultKind::AccessDenied), 1);
    assert_eq!(stats.injected(FaultKind::ExpiredToken), 1);
    assert_eq!(stats.injected(FaultKind::Throttling), 1);
}

async fn moto_allocate_address(moto: &Moto) {
    aws_sdk_ec2::Client::new(&moto.sdk_config().await)
        .allocate_address()
        .send()
        .await
        .expect("AllocateAddress");
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_errors_are_s3_errors_and_the_proxy_stops_when_dropped() {
    let moto = Moto::start().unwrap();
    moto.create_bucket("content").await.unwrap();
    moto.s3()
        .await
        .put_object()
        .bucket("content")
        .key("runs/r1/page.html")
        .body(b"<html></html>".to_vec().into())
        .send()
        .await
        .expect("PutObject");
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let config = through(&moto, &proxy).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(true)
            .build(),
    );

    proxy.add(Rule::new("GetObject", Fault::AccessDenied, When::Always));
    let denied = s3
        .get_object()
        .bucket("content")
        .key("runs/r1/page.html")
        .send()
        .await
        .expect_err("denied")
        .into_service_error();
    assert_eq!(denied.code(), Some("AccessDenied"));
    assert!(
        denied.message().unwrap_or_default().contains(
            "not authorized to perform: s3:GetObject on resource: \"arn:aws:s3:::content/runs/r1/page.html\""
        ),
        "{denied:?}"
    );

    // HEAD goes through with the length of the body it does not carry.
    let head = s3
        .head_object()
        .bucket("content")
        .key("runs/r1/page.html")
        .send()
        .await
        .expect("HeadObject");
    assert_eq!(head.content_length(), Some(13));

    // SlowDown (503) is retried; the object lands in moto.
    proxy.add(Rule::new("PutObject", Fault::Throttling, When::FirstN(1)));
    s3.put_object()
        .bucket("content")
        .key("runs/r1/other.html")
        .body(b"other".to_vec().into())
        .send()
        .await
        .expect("retried past SlowDown");
    let stored = moto
        .s3()
        .await
        .get_object()
        .bucket("content")
        .key("runs/r1/other.html")
        .send()
        .await
        .expect("the object is in moto")
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes();
    assert_eq!(&stored[..], b"other");

    let stats = proxy.stats();
    assert_eq!(stats.op("GetObject").injected(FaultKind::AccessDenied), 1);
    assert_eq!(stats.op("GetObject").forwarded, 0);
    assert_eq!(stats.op("HeadObject").forwarded, 1);
    let put = stats.op("PutObject");
    assert_eq!((put.seen, put.forwarded), (2, 1));
    assert_eq!(put.injected(FaultKind::Throttling), 1);

    let port = proxy
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse::<u16>()
        .unwrap();
    drop(proxy);
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "the port is closed once the proxy is dropped"
    );
}

// ---------------------------------------------------------------------------
// ECS over raw awsJson 1.1.

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One POST with a SigV4-shaped credential scope for `service` (moto does
/// not check signatures). `Err` when the connection closed without an answer.
fn post(endpoint: &str, service: &str, headers: &str, body: &str) -> Result<Raw, String> {
    let authority = endpoint.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(authority).map_err(|e| e.to_string())?;
    tcp.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    write!(
        tcp,
        "POST / HTTP/1.1\r\nHost: {authority}\r\n{headers}\
         X-Amz-Date: 20260101T000000Z\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/{service}/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=0000\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    // A reset is as lost as a close.
    let _ = tcp.read_to_end(&mut raw);
    if raw.is_empty() {
        return Err("the connection closed without a response".into());
    }
    let text = String::from_utf8(raw).map_err(|e| e.to_string())?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no end of head")?;
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or("no status line")?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Ok(Raw {
        status,
        headers,
        text: body.to_owned(),
    })
}

/// An answer before its body is parsed.
struct Raw {
    status: u16,
    headers: Vec<(String, String)>,
    text: String,
}

/// One ECS call as the SDK sends it: awsJson 1.1, the target header.
fn ecs(endpoint: &str, operation: &str, body: &Value) -> Result<Answer, String> {
    let headers = format!(
        "Content-Type: application/x-amz-json-1.1\r\nX-Amz-Target: AmazonEC2ContainerServiceV20141113.{operation}\r\n"
    );
    let raw = post(endpoint, "ecs", &headers, &body.to_string())?;
    let body = serde_json::from_str(&raw.text).map_err(|e| format!("{e}: {}", raw.text))?;
    Ok(Answer {
        status: raw.status,
        headers: raw.headers,
        body,
    })
}

/// The first `<tag>` value of an EC2 query answer from moto.
fn ec2_first(moto: &Moto, action: &str, tag: &str) -> String {
    let Raw { status, text, .. } = post(
        &moto.endpoint(),
        "ec2",
        "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n",
        &format!("Action={action}&Version=2016-11-15"),
    )
    .unwrap();
    assert_eq!(status, 200, "{text}");
    let open = format!("<{tag}>");
    let start = text.find(&open).expect(&open) + open.len();
    text[start..][..text[start..].find('<').unwrap()].to_owned()
}

/// A cluster and a Fargate task definition, as moto needs for RunTask.
fn ecs_setup(moto: &Moto, endpoint: &str) -> Value {
    let cluster = ecs(endpoint, "CreateCluster", &json!({"clusterName": "trawl"})).unwrap();
    assert_eq!(cluster.status, 200, "{}", cluster.body);
    let definition = ecs(
        endpoint,
        "RegisterTaskDefinition",
        &json!({
            "family": "trawl-scraper",
            "requiresCompatibilities": ["FARGATE"],
            "networkMode": "awsvpc",
            "cpu": "256",
            "memory": "512",
            "containerDefinitions": [
                {"name": "scraper", "image": "trawl-scraper:test", "memory": 512}
            ]
        }),
    )
    .unwrap();
    assert_eq!(definition.status, 200, "{}", definition.body);
    // Fargate tasks need a subnet and a security group (moto's default VPC).
    json!({"awsvpcConfiguration": {
        "subnets": [ec2_first(moto, "DescribeSubnets", "subnetId")],
        "securityGroups": [ec2_first(moto, "DescribeSecurityGroups", "groupId")],
        "assignPublicIp": "ENABLED"
    }})
}

fn run_task(endpoint: &str, network: &Value, client_token: Option<&str>) -> Result<Answer, String> {
    let mut body = json!({
        "cluster": "trawl",
        "taskDefinition": "trawl-scraper",
        "launchType": "FARGATE",
        "count": 1,
        "networkConfiguration": network
    });
    if let Some(token) = client_token {
        body["clientToken"] = json!(token);
    }
    ecs(endpoint, "RunTask", &body)
}

/// How many tasks moto holds in the cluster (asked directly, not proxied).
fn moto_tasks(moto: &Moto) -> usize {
    let list = ecs(&moto.endpoint(), "ListTasks", &json!({"cluster": "trawl"})).unwrap();
    assert_eq!(list.status, 200, "{}", list.body);
    list.body["taskArns"].as_array().expect("taskArns").len()
}

#[test]
fn ecs_run_task_failures_and_errors_in_the_ecs_format() {
    let moto = Moto::start().unwrap();
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let endpoint = proxy.endpoint();
    let network = ecs_setup(&moto, &endpoint);

    let reason = "Capacity is unavailable at this time. Please try again later or in a different availability zone";
    proxy.add(Rule::new(
        "RunTask",
        Fault::EcsFailure {
            reason: reason.into(),
        },
        When::FirstN(1),
    ));
    let failed = run_task(&endpoint, &network, None).unwrap();
    assert_eq!(failed.status, 200);
    assert_eq!(
        failed.header("content-type"),
        Some("application/x-amz-json-1.1")
    );
    assert_eq!(
        failed.body,
        json!({"tasks": [], "failures": [{"reason": reason}]})
    );
    assert_eq!(moto_tasks(&moto), 0, "a failed launch launches nothing");

    proxy.clear();
    for (fault, status, code) in [
        (Fault::AccessDenied, 400, "AccessDeniedException"),
        (Fault::Throttling, 400, "ThrottlingException"),
        (Fault::ExpiredToken, 400, "ExpiredTokenException"),
        (Fault::ServerError, 500, "ServerException"),
    ] {
        proxy.add(Rule::new("RunTask", fault, When::FirstN(1)));
        let answer = run_task(&endpoint, &network, None).unwrap();
        assert_eq!(answer.status, status, "{code}: {}", answer.body);
        let kind = answer.body["__type"].as_str().unwrap_or_default();
        assert!(kind.ends_with(&format!("#{code}")), "{}", answer.body);
        assert!(
            answer
                .header("x-amzn-errortype")
                .is_some_and(|t| t.starts_with(&format!("{code}:"))),
            "{:?}",
            answer.headers
        );
        if code == "AccessDeniedException" {
            let message = answer.body["message"].as_str().unwrap_or_default();
            assert!(
                message.contains("not authorized to perform: ecs:RunTask on resource: arn:aws:ecs:us-east-1:123456789012:task-definition/trawl-scraper"),
                "{message}"
            );
        }
    }
    assert_eq!(moto_tasks(&moto), 0);

    // Every rule is spent: the next launch reaches moto.
    let launched = run_task(&endpoint, &network, None).unwrap();
    assert_eq!(launched.status, 200, "{}", launched.body);
    assert_eq!(launched.body["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(moto_tasks(&moto), 1);

    let stats = proxy.stats().op("RunTask");
    assert_eq!((stats.seen, stats.forwarded), (6, 1));
    for kind in [
        FaultKind::EcsFailure,
        FaultKind::AccessDenied,
        FaultKind::Throttling,
        FaultKind::ExpiredToken,
        FaultKind::ServerError,
    ] {
        assert_eq!(stats.injected(kind), 1, "{kind:?}");
    }
}

#[test]
fn ecs_client_token_makes_run_task_idempotent_even_when_the_answer_is_lost() {
    let moto = Moto::start().unwrap();
    let proxy = FaultProxy::start(&moto.endpoint()).unwrap();
    let endpoint = proxy.endpoint();
    let network = ecs_setup(&moto, &endpoint);
    proxy.set_ecs_client_tokens(true);

    let first = run_task(&endpoint, &network, Some("token-a")).unwrap();
    let repeat = run_task(&endpoint, &network, Some("token-a")).unwrap();
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!((repeat.status, &repeat.body), (200, &first.body));
    assert_eq!(moto_tasks(&moto), 1, "one launch per token");

    let other = run_task(&endpoint, &network, Some("token-b")).unwrap();
    assert_ne!(
        other.body["tasks"][0]["taskArn"],
        first.body["tasks"][0]["taskArn"]
    );
    assert_eq!(moto_tasks(&moto), 2);

    // The first answer is lost after moto launched; the repeat gets it.
    proxy.add(Rule::new("RunTask", Fault::LoseResponse, When::FirstN(1)));
    let lost = run_task(&endpoint, &network, Some("token-c"));
    assert!(lost.is_err(), "the answer is lost");
    let recovered = run_task(&endpoint, &network, Some("token-c")).unwrap();
    assert_eq!(recovered.status, 200, "{}", recovered.body);
    assert_eq!(recovered.body["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(
        moto_tasks(&moto),
        3,
        "the lost launch happened exactly once"
    );

    let stats = proxy.stats().op("RunTask");
    assert_eq!(stats.seen, 5);
    assert_eq!(stats.forwarded, 3, "token-a, token-b, token-c once each");
    assert_eq!(stats.replayed, 2);
    assert_eq!(stats.injected(FaultKind::LoseResponse), 1);

    // Without the store, moto launches again for a known token: the gap
    // the proxy fills.
    proxy.set_ecs_client_tokens(false);
    run_task(&endpoint, &network, Some("token-a")).unwrap();
    assert_eq!(moto_tasks(&moto), 4);
}

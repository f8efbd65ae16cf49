//! terraform/dynamodb.tf and the Rust constants of the table agree: keys,
//! index names and keys, TTL attribute (parsed from the HCL, so they cannot
//! drift apart).

use hcl::{Block, Body, Expression};
use trawl_scraper::sink::item::schema;

fn table() -> Body {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../terraform/dynamodb.tf");
    let text = std::fs::read_to_string(path).expect("terraform/dynamodb.tf");
    let body: Body = hcl::from_str(&text).expect("valid HCL");
    body.blocks()
        .find(|b| {
            b.identifier() == "resource"
                && b.labels().first().map(|l| l.as_str()) == Some("aws_dynamodb_table")
        })
        .expect("an aws_dynamodb_table resource")
        .body()
        .clone()
}

fn text(body: &Body, key: &str) -> String {
    match body.attributes().find(|a| a.key() == key).map(|a| a.expr()) {
        Some(Expression::String(s)) => s.clone(),
        other => panic!("{key}: expected a string, got {other:?}"),
    }
}

fn blocks<'a>(body: &'a Body, name: &'a str) -> impl Iterator<Item = &'a Block> + 'a {
    body.blocks().filter(move |b| b.identifier() == name)
}

#[test]
fn terraform_table_matches_the_rust_schema() {
    let t = table();
    assert_eq!(text(&t, "hash_key"), schema::PARTITION_KEY);
    assert_eq!(text(&t, "range_key"), schema::SORT_KEY);
    assert_eq!(text(&t, "billing_mode"), "PAY_PER_REQUEST");

    let mut indexes: Vec<(String, String, String)> = blocks(&t, "global_secondary_index")
        .map(|b| {
            let b = b.body();
            (text(b, "name"), text(b, "hash_key"), text(b, "range_key"))
        })
        .collect();
    indexes.sort();
    let mut expected = vec![
        (
            schema::INDEX_BY_UPDATE.to_owned(),
            schema::PARTITION_KEY.to_owned(),
            "updated_at".to_owned(),
        ),
        (
            schema::INDEX_BY_IP.to_owned(),
            "egress_ip".to_owned(),
            schema::PARTITION_KEY.to_owned(),
        ),
        (
            schema::INDEX_RUNS.to_owned(),
            "kind".to_owned(),
            "created_at".to_owned(),
        ),
    ];
    expected.sort();
    assert_eq!(indexes, expected);

    // Every key attribute is declared as a string, and nothing else is.
    let mut declared: Vec<String> = blocks(&t, "attribute")
        .map(|b| {
            assert_eq!(text(b.body(), "type"), "S");
            text(b.body(), "name")
        })
        .collect();
    declared.sort();
    let mut keys: Vec<String> = expected
        .iter()
        .flat_map(|(_, h, r)| [h.clone(), r.clone()])
        .chain([
            schema::PARTITION_KEY.to_owned(),
            schema::SORT_KEY.to_owned(),
        ])
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(declared, keys);

    let ttl = blocks(&t, "ttl").next().expect("a ttl block");
    assert_eq!(text(ttl.body(), "attribute_name"), schema::TTL_ATTRIBUTE);
}

/// The table the test harness creates in moto is the same table.
#[tokio::test(flavor = "multi_thread")]
async fn the_harness_table_has_the_same_indexes() {
    let moto = trawl_tests::moto::Moto::start().unwrap();
    moto.create_results_table("t").await.unwrap();
    let described = moto
        .dynamodb()
        .await
        .describe_table()
        .table_name("t")
        .send()
        .await
        .unwrap();
    let mut names: Vec<String> = described
        .table()
        .unwrap()
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name().map(str::to_owned))
        .collect();
    names.sort();
    let mut from_tf: Vec<String> = blocks(&table(), "global_secondary_index")
        .map(|b| text(b.body(), "name"))
        .collect();
    from_tf.sort();
    assert_eq!(names, from_tf);
}

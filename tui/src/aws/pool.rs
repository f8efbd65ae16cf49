//! Reads the Elastic IP pool: EC2 DescribeAddresses filtered by the pool's
//! tag (one call, no pagination in that API).

use super::Aws;
use super::problem::{AwsError, Call, ErrorKind, describe};
use crate::model::{EipPool, PoolAddress};

/// `key=value` into its parts.
pub fn parse_tag(tag: &str) -> Result<(&str, &str), String> {
    match tag.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k, v)),
        _ => Err(format!(
            "the pool tag {tag:?} is not key=value: fix `tag` under [pool] in the trawl config"
        )),
    }
}

pub async fn read_pool(aws: &Aws, now: i64) -> Result<EipPool, AwsError> {
    let Some(tag) = aws.pool_tag.clone() else {
        return Err(AwsError {
            kind: ErrorKind::Other,
            line: "no [pool] tag in the trawl config: run `trawl init --terraform-output FILE`"
                .into(),
        });
    };
    let (key, value) = parse_tag(&tag).map_err(|line| AwsError {
        kind: ErrorKind::Other,
        line,
    })?;
    let filter = aws_sdk_ec2::types::Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build();
    let region = aws.region();
    let out = aws
        .ec2()
        .describe_addresses()
        .filters(filter)
        .send()
        .await
        .map_err(|e| {
            describe(
                &e,
                Call {
                    doing: "reading the Elastic IP pool",
                    resource: &format!("Elastic IPs tagged {tag}"),
                    permission: "ec2:DescribeAddresses",
                    region: &region,
                },
            )
        })?;
    let mut addresses: Vec<PoolAddress> = out
        .addresses()
        .iter()
        .filter_map(|a| {
            Some(PoolAddress {
                public_ip: a.public_ip()?.to_owned(),
                allocation_id: a.allocation_id().unwrap_or_default().to_owned(),
                instance_id: a.instance_id().filter(|i| !i.is_empty()).map(str::to_owned),
                private_ip: a
                    .private_ip_address()
                    .filter(|i| !i.is_empty())
                    .map(str::to_owned),
            })
        })
        .collect();
    addresses.sort_by(|a, b| ip_order(&a.public_ip).cmp(&ip_order(&b.public_ip)));
    Ok(EipPool {
        tag,
        addresses,
        read_at: now,
    })
}

/// Numeric order for IPv4 strings (10.0.0.9 before 10.0.0.10).
fn ip_order(ip: &str) -> (Option<std::net::IpAddr>, &str) {
    (ip.parse().ok(), ip)
}

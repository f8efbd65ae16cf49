//! trawl's AWS side: one SDK configuration for every client (the worker's
//! settings: in-process DNS, embedded roots, bounded retries and timeouts),
//! the names from the config file, and errors as lines a person can act on.

pub mod pool;
pub mod problem;

use crate::config::Config;
use crate::store::aws::AwsStore;
use std::time::Duration;

/// The AWS clients' settings and the resources the config names.
#[derive(Clone, Debug)]
pub struct Aws {
    pub sdk: aws_config::SdkConfig,
    pub table: Option<String>,
    pub bucket: Option<String>,
    /// `key=value` tag of the Elastic IP pool.
    pub pool_tag: Option<String>,
    pub poll_interval: Duration,
    pub retain_days: Option<u32>,
}

/// Default time between polls of the results table.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(2);

impl Aws {
    /// Whether the config names anything on AWS (a table, a bucket, a pool).
    pub fn configured(config: &Config) -> bool {
        config.table.is_some() || config.bucket.is_some() || config.pool.is_some()
    }

    /// The SDK's standard chain (environment, profile, SSO, container and
    /// instance roles) for credentials; the region from the environment,
    /// else from the config file (flags > environment > config).
    pub async fn load(config: &Config) -> Aws {
        let mut sdk =
            trawl_scraper::sink::aws::load_config(trawl_scraper::fetch::Dns::default()).await;
        let region_in_env = ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .any(|v| std::env::var_os(v).is_some_and(|x| !x.is_empty()));
        if let Some(region) = config.region.clone().filter(|_| !region_in_env) {
            sdk = sdk
                .into_builder()
                .region(aws_config::Region::new(region))
                .build();
        }
        Aws {
            sdk,
            table: config.table.clone(),
            bucket: config.bucket.clone(),
            pool_tag: config.pool.as_ref().map(|p| p.tag.clone()),
            poll_interval: config
                .poll_interval_secs
                .map_or(DEFAULT_POLL_INTERVAL, |s| Duration::from_secs(s.max(1))),
            retain_days: config.retain_days,
        }
    }

    pub fn region(&self) -> String {
        self.sdk
            .region()
            .map_or_else(|| "(none: set AWS_REGION)".to_owned(), |r| r.to_string())
    }

    /// The results store, or why there is none.
    pub fn store(&self) -> Result<AwsStore, String> {
        let table = self.table.as_ref().ok_or(
            "no results table in the config: run `trawl init --terraform-output FILE` (or set `table`)",
        )?;
        Ok(AwsStore::new(&self.sdk, table).with_bucket(self.bucket.clone()))
    }

    pub fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk)
    }
}

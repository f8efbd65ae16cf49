//! `config.toml` (DESIGN.md "Configuration") and `trawl init`, which writes
//! it from `terraform output -json`.

use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// Seconds between polls of the results table (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_interval_secs: Option<u64>,
    /// Days DynamoDB keeps a run's records (TTL); forever when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_days: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks: Option<EksConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecs: Option<EcsConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalConfig>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EksConfig {
    pub cluster: String,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub image: String,
    /// Kube context; the current one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Pods of one Job at once (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallelism: Option<i32>,
    /// Retries of one URL's pod before it counts as failed (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries_per_url: Option<i32>,
    /// One pod's time limit in seconds (default 120).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_deadline_secs: Option<i64>,
    /// One pod's memory limit (default "256Mi").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<String>,
    /// Seconds a pod may wait for a node or its image before its URL is
    /// FAILED (default 600: Karpenter may still be adding nodes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_grace_secs: Option<i64>,
}

fn default_namespace() -> String {
    "trawl".into()
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsConfig {
    pub cluster: String,
    pub task_definition: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// RunTask calls in flight at once (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<usize>,
    /// Sustained RunTask calls per second (default 20, Fargate's rate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_rate: Option<u32>,
    /// Launches per URL before its record is FAILED (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// `key=value` tag on the pool's Elastic IPs.
    pub tag: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalConfig {
    /// Workers at once; default 4 per core.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
}

impl Config {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<Config, String> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text).map_err(|e| {
                format!(
                    "{} is not a valid trawl config: {e}; fix it or write it anew with `trawl init --terraform-output FILE`",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("configs serialise")
    }

    /// The config from `terraform output -json` (each output is
    /// `{"value": ...}`); outputs missing from the file leave their keys out.
    pub fn from_terraform_output(json: &str) -> Result<Config, String> {
        let v: serde_json::Value = serde_json::from_str(json)
            .map_err(|e| format!("not the JSON of `terraform output -json`: {e}"))?;
        let out = |name: &str| v.get(name).and_then(|o| o.get("value"));
        let text = |name: &str| out(name).and_then(|x| x.as_str()).map(str::to_owned);
        let list = |name: &str| {
            out(name).and_then(|x| x.as_array()).map(|a| {
                a.iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
        };
        if !v.is_object() || v.as_object().is_some_and(|m| m.is_empty()) {
            return Err(
                "the terraform output holds no outputs: run `terraform apply` first".into(),
            );
        }
        let eks = match (text("eks_cluster"), text("scraper_image")) {
            (Some(cluster), Some(image)) => Some(EksConfig {
                cluster,
                namespace: text("eks_namespace").unwrap_or_else(default_namespace),
                image,
                ..EksConfig::default()
            }),
            _ => None,
        };
        let ecs = match (text("ecs_cluster"), text("ecs_task_definition")) {
            (Some(cluster), Some(task_definition)) => Some(EcsConfig {
                cluster,
                task_definition,
                subnets: list("ecs_subnets").unwrap_or_default(),
                security_groups: list("ecs_security_groups").unwrap_or_default(),
                ..EcsConfig::default()
            }),
            _ => None,
        };
        Ok(Config {
            region: text("region"),
            bucket: text("bucket"),
            table: text("table"),
            poll_interval_secs: None,
            retain_days: None,
            eks,
            ecs,
            pool: text("eip_pool_tag").map(|tag| PoolConfig { tag }),
            local: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_maps_every_terraform_output() {
        let json = r#"{
          "region": {"value": "us-east-1"}, "bucket": {"value": "trawl-content-abc123"},
          "table": {"value": "trawl-results"}, "eks_cluster": {"value": "trawl"},
          "eks_namespace": {"value": "trawl"}, "scraper_image": {"value": "1.dkr.ecr/trawl-scraper:v1"},
          "ecs_cluster": {"value": "trawl"}, "ecs_task_definition": {"value": "trawl-scraper"},
          "ecs_subnets": {"value": ["subnet-1", "subnet-2"]}, "ecs_security_groups": {"value": ["sg-1"]},
          "eip_pool_tag": {"value": "trawl:pool=default"}
        }"#;
        let c = Config::from_terraform_output(json).unwrap();
        assert_eq!(c.bucket.as_deref(), Some("trawl-content-abc123"));
        assert_eq!(c.eks.as_ref().unwrap().image, "1.dkr.ecr/trawl-scraper:v1");
        assert_eq!(c.ecs.as_ref().unwrap().subnets, ["subnet-1", "subnet-2"]);
        assert_eq!(c.pool.as_ref().unwrap().tag, "trawl:pool=default");
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn bad_files_say_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        assert_eq!(Config::load(&path).unwrap(), Config::default());
        std::fs::write(&path, "regoin = \"x\"").unwrap();
        let e = Config::load(&path).unwrap_err();
        assert!(e.contains("regoin") && e.contains("trawl init"), "{e}");
        assert!(
            Config::from_terraform_output("{}")
                .unwrap_err()
                .contains("terraform apply")
        );
    }
}

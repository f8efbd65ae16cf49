//! A moto server (PyPI `moto[server]`, pinned by scripts/test) on a free
//! 127.0.0.1 port: started per test process, reset between tests, killed
//! when dropped.

use crate::env::safe_command;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use trawl_scraper::record::{Record, url_key};
use trawl_scraper::sink::item::{from_item, schema};

/// What a test's `[ecs]` config names.
#[derive(Clone, Debug)]
pub struct EcsNames {
    pub cluster: String,
    pub task_definition: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
}

pub struct Moto {
    child: Child,
    port: u16,
}

/// The Python of the virtual environment that scripts/test sets up.
pub fn moto_python() -> PathBuf {
    if let Ok(p) = std::env::var("TRAWL_MOTO_PYTHON") {
        return PathBuf::from(p);
    }
    let cache = std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache")
        });
    cache.join("trawl/venv/bin/python")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Moto {
    pub fn start() -> anyhow::Result<Moto> {
        let python = moto_python();
        anyhow::ensure!(
            python.exists(),
            "{} not found: run scripts/test (it installs moto in a virtual environment) or set TRAWL_MOTO_PYTHON",
            python.display()
        );
        let port = free_port();
        let child = safe_command(&python)
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let moto = Moto { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            anyhow::ensure!(
                Instant::now() < deadline,
                "moto did not start within 30 s on port {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a process that talks to this moto.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![("AWS_ENDPOINT_URL".into(), self.endpoint())]
    }

    /// Forgets every resource (moto's reset API).
    pub fn reset(&self) -> anyhow::Result<()> {
        self.moto_api("/moto-api/reset", "")
    }

    /// ECS tasks stay RUNNING until stopped (moto otherwise walks a task
    /// to STOPPED after a few DescribeTasks calls, as if it had run).
    pub fn keep_ecs_tasks_running(&self) -> anyhow::Result<()> {
        self.moto_api(
            "/moto-api/state-manager/set-transition",
            r#"{"model_name": "ecs::task", "transition": {"progression": "manual", "times": 1000000000}}"#,
        )
    }

    /// A POST to moto's own API.
    fn moto_api(&self, path: &str, body: &str) -> anyhow::Result<()> {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))?;
        use std::io::{Read, Write};
        write!(
            s,
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        anyhow::ensure!(
            out.starts_with("HTTP/1.1 200") || out.starts_with("HTTP/1.1 201"),
            "moto {path} failed: {out}"
        );
        Ok(())
    }

    pub async fn ecs(&self) -> aws_sdk_ecs::Client {
        aws_sdk_ecs::Client::new(&self.sdk_config().await)
    }

    /// An ECS cluster and the `trawl-scraper` task definition as terraform
    /// makes them (Fargate, awsvpc, container `scraper`), with the default
    /// VPC's subnets and security group: what `[ecs]` in the config names.
    pub async fn create_ecs(&self, cluster: &str) -> anyhow::Result<EcsNames> {
        use aws_sdk_ecs::types::{Compatibility, ContainerDefinition, NetworkMode};
        let ecs = self.ecs().await;
        ecs.create_cluster().cluster_name(cluster).send().await?;
        ecs.register_task_definition()
            .family("trawl-scraper")
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu("256")
            .memory("512")
            .container_definitions(
                ContainerDefinition::builder()
                    .name("scraper")
                    .image("trawl-scraper:test")
                    // moto needs a container-level memory value.
                    .memory(512)
                    .essential(true)
                    .build(),
            )
            .send()
            .await?;
        let ec2 = self.ec2().await;
        let subnets: Vec<String> = ec2
            .describe_subnets()
            .send()
            .await?
            .subnets()
            .iter()
            .filter_map(|s| s.subnet_id().map(str::to_owned))
            .take(2)
            .collect();
        let groups: Vec<String> = ec2
            .describe_security_groups()
            .send()
            .await?
            .security_groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_owned))
            .take(1)
            .collect();
        anyhow::ensure!(
            !subnets.is_empty() && !groups.is_empty(),
            "moto's default VPC is missing"
        );
        Ok(EcsNames {
            cluster: cluster.to_owned(),
            task_definition: "trawl-scraper".to_owned(),
            subnets,
            security_groups: groups,
        })
    }

    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(self.endpoint())
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                "testing",
                "testing",
                None,
                None,
                "trawl-tests",
            ))
            .load()
            .await
    }

    pub async fn s3(&self) -> aws_sdk_s3::Client {
        trawl_scraper::sink::aws::s3_client(&self.sdk_config().await)
    }

    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    pub async fn ec2(&self) -> aws_sdk_ec2::Client {
        aws_sdk_ec2::Client::new(&self.sdk_config().await)
    }

    /// An Elastic IP pool: `n` addresses tagged `key=value`, the first
    /// `associated` of them associated with instances of their own (as
    /// nodes claim them at boot). Returns the public IPs (in allocation
    /// order) and the instance ids.
    pub async fn create_eip_pool(
        &self,
        tag: &str,
        n: usize,
        associated: usize,
    ) -> anyhow::Result<(Vec<String>, Vec<String>)> {
        use aws_sdk_ec2::types::{ResourceType, Tag, TagSpecification};
        let (key, value) = tag.split_once('=').expect("key=value");
        let ec2 = self.ec2().await;
        let image = ec2
            .describe_images()
            .owners("amazon")
            .send()
            .await?
            .images()
            .first()
            .and_then(|i| i.image_id())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("moto lists no AMI"))?;
        let mut ips = Vec::new();
        let mut instances = Vec::new();
        for i in 0..n {
            let eip = ec2
                .allocate_address()
                .domain(aws_sdk_ec2::types::DomainType::Vpc)
                .tag_specifications(
                    TagSpecification::builder()
                        .resource_type(ResourceType::ElasticIp)
                        .tags(Tag::builder().key(key).value(value).build())
                        .build(),
                )
                .send()
                .await?;
            let ip = eip.public_ip().unwrap_or_default().to_owned();
            let allocation = eip.allocation_id().unwrap_or_default().to_owned();
            // Tags at allocation are recent in moto: tag again to be sure.
            ec2.create_tags()
                .resources(&allocation)
                .tags(Tag::builder().key(key).value(value).build())
                .send()
                .await?;
            if i < associated {
                let run = ec2
                    .run_instances()
                    .image_id(&image)
                    .min_count(1)
                    .max_count(1)
                    .send()
                    .await?;
                let instance = run
                    .instances()
                    .first()
                    .and_then(|i| i.instance_id())
                    .unwrap_or_default()
                    .to_owned();
                ec2.associate_address()
                    .allocation_id(&allocation)
                    .instance_id(&instance)
                    .send()
                    .await?;
                instances.push(instance);
            }
            ips.push(ip);
        }
        Ok((ips, instances))
    }

    pub async fn create_bucket(&self, name: &str) -> anyhow::Result<()> {
        self.s3().await.create_bucket().bucket(name).send().await?;
        Ok(())
    }

    /// The record a results table holds for `url` in `run_id`.
    pub async fn record(&self, table: &str, run_id: &str, url: &str) -> Option<Record> {
        use aws_sdk_dynamodb::types::AttributeValue::S;
        let item = self
            .dynamodb()
            .await
            .get_item()
            .table_name(table)
            .key(schema::PARTITION_KEY, S(run_id.to_owned()))
            .key(schema::SORT_KEY, S(url_key(url)))
            .send()
            .await
            .expect("GetItem")
            .item?;
        Some(from_item(&item).expect("a record item"))
    }

    /// The results table of DESIGN.md: keys, the three indexes, on-demand.
    pub async fn create_results_table(&self, name: &str) -> anyhow::Result<()> {
        let attr = |n: &str| {
            AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute")
        };
        let key = |n: &str, t: KeyType| {
            KeySchemaElement::builder()
                .attribute_name(n)
                .key_type(t)
                .build()
                .expect("key")
        };
        let index = |name: &str, pk: &str, sk: &str| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(pk, KeyType::Hash))
                .key_schema(key(sk, KeyType::Range))
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::All)
                        .build(),
                )
                .build()
                .expect("index")
        };
        self.dynamodb()
            .await
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .attribute_definitions(attr(schema::PARTITION_KEY))
            .attribute_definitions(attr(schema::SORT_KEY))
            .attribute_definitions(attr("updated_at"))
            .attribute_definitions(attr("egress_ip"))
            .attribute_definitions(attr("kind"))
            .attribute_definitions(attr("created_at"))
            .key_schema(key(schema::PARTITION_KEY, KeyType::Hash))
            .key_schema(key(schema::SORT_KEY, KeyType::Range))
            .global_secondary_indexes(index(
                schema::INDEX_BY_UPDATE,
                schema::PARTITION_KEY,
                "updated_at",
            ))
            .global_secondary_indexes(index(
                schema::INDEX_BY_IP,
                "egress_ip",
                schema::PARTITION_KEY,
            ))
            .global_secondary_indexes(index(schema::INDEX_RUNS, "kind", "created_at"))
            .send()
            .await?;
        Ok(())
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Plays Fargate for moto, which starts no containers: every task moto
//! starts in a cluster is run as the real worker (aws sink, against the same
//! moto) with that task's overrides, gets a public IP on its network
//! interface (an Elastic IP, as Fargate's assignPublicIp gives one), and is
//! stopped when the worker exits, with the reason ECS gives. Chosen
//! (URL, attempt) pairs can "crash" instead: stopped as an OOM kill without
//! running the worker, so the launcher's relaunch path is exercised.
//! Runs on its own thread and runtime; stops when dropped.

use crate::moto::Moto;
use crate::worker::WorkerRun;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Fargate {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    seen: Arc<Mutex<Vec<TaskSeen>>>,
}

/// A task as Fargate ran it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSeen {
    pub arn: String,
    pub url: String,
    pub run_id: String,
    pub attempt: u32,
    pub started_by: String,
    pub crashed: bool,
}

/// How the player behaves.
#[derive(Clone, Debug, Default)]
pub struct FargateOptions {
    /// (URL, attempt) pairs whose task is killed before the worker runs.
    pub crash: HashSet<(String, u32)>,
    /// Workers at once.
    pub parallel: usize,
}

pub const OOM_REASON: &str = "OutOfMemoryError: Container killed due to memory usage";

impl Fargate {
    pub fn start(
        moto: &Moto,
        cluster: &str,
        bucket: &str,
        table: &str,
        opts: FargateOptions,
    ) -> Fargate {
        moto.keep_ecs_tasks_running().expect("moto state manager");
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let env = moto.env();
        let endpoint = moto.endpoint();
        let (cluster, bucket, table) = (cluster.to_owned(), bucket.to_owned(), table.to_owned());
        let (stop2, seen2) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(play(Player {
                env,
                endpoint,
                cluster,
                bucket,
                table,
                opts,
                stop: stop2,
                seen: seen2,
            }));
        });
        Fargate {
            stop,
            thread: Some(thread),
            seen,
        }
    }

    /// Every task run so far.
    pub fn seen(&self) -> Vec<TaskSeen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Fargate {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Player {
    env: Vec<(String, String)>,
    endpoint: String,
    cluster: String,
    bucket: String,
    table: String,
    opts: FargateOptions,
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<TaskSeen>>>,
}

async fn play(p: Player) {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&p.endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_ecs::config::Credentials::new(
            "testing", "testing", None, None, "fargate",
        ))
        .load()
        .await;
    let ecs = aws_sdk_ecs::Client::new(&config);
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let slots = Arc::new(tokio::sync::Semaphore::new(p.opts.parallel.max(1)));
    let mut known: HashSet<String> = HashSet::new();
    let p = Arc::new(p);
    while !p.stop.load(Ordering::SeqCst) {
        let arns: Vec<String> = match ecs
            .list_tasks()
            .cluster(&p.cluster)
            .desired_status(aws_sdk_ecs::types::DesiredStatus::Running)
            .send()
            .await
        {
            Ok(out) => out
                .task_arns()
                .iter()
                .filter(|a| !known.contains(*a))
                .cloned()
                .collect(),
            Err(_) => Vec::new(),
        };
        for batch in arns.chunks(100) {
            let Ok(out) = ecs
                .describe_tasks()
                .cluster(&p.cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
            else {
                continue;
            };
            for task in out.tasks() {
                let arn = task.task_arn().unwrap_or_default().to_owned();
                if task.last_status() != Some("RUNNING") || !known.insert(arn.clone()) {
                    continue;
                }
                let env: HashMap<String, String> = task
                    .overrides()
                    .map(|o| o.container_overrides())
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|c| c.environment())
                    .filter_map(|kv| Some((kv.name()?.to_owned(), kv.value()?.to_owned())))
                    .collect();
                let eni = task
                    .attachments()
                    .iter()
                    .flat_map(|a| a.details())
                    .find(|d| d.name() == Some("networkInterfaceId"))
                    .and_then(|d| d.value())
                    .map(str::to_owned);
                let seen = TaskSeen {
                    arn: arn.clone(),
                    url: env.get("TRAWL_URL").cloned().unwrap_or_default(),
                    run_id: env.get("TRAWL_RUN_ID").cloned().unwrap_or_default(),
                    attempt: env
                        .get("TRAWL_ATTEMPT")
                        .and_then(|a| a.parse().ok())
                        .unwrap_or(1),
                    started_by: task.started_by().unwrap_or_default().to_owned(),
                    crashed: false,
                };
                let permit = slots.clone().acquire_owned().await.expect("open");
                let (p, ecs, ec2) = (p.clone(), ecs.clone(), ec2.clone());
                tokio::spawn(async move {
                    run_task(&p, &ecs, &ec2, seen, eni).await;
                    drop(permit);
                });
            }
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

async fn run_task(
    p: &Player,
    ecs: &aws_sdk_ecs::Client,
    ec2: &aws_sdk_ec2::Client,
    mut seen: TaskSeen,
    eni: Option<String>,
) {
    // Fargate's public IP: an address on the task's network interface.
    if let Some(eni) = eni
        && let Ok(eip) = ec2
            .allocate_address()
            .domain(aws_sdk_ec2::types::DomainType::Vpc)
            .send()
            .await
    {
        let _ = ec2
            .associate_address()
            .set_allocation_id(eip.allocation_id().map(str::to_owned))
            .network_interface_id(eni)
            .send()
            .await;
    }
    seen.crashed = p.opts.crash.contains(&(seen.url.clone(), seen.attempt));
    let reason = if seen.crashed {
        OOM_REASON.to_owned()
    } else {
        let worker =
            WorkerRun::aws_env(&seen.url, &seen.run_id, p.env.clone(), &p.bucket, &p.table)
                .env("TRAWL_ATTEMPT", seen.attempt.to_string());
        let result = tokio::task::spawn_blocking(move || worker.run()).await;
        match result {
            Ok(r) if r.success() => "Essential container in task exited".to_owned(),
            _ => "Essential container in task exited (worker failed)".to_owned(),
        }
    };
    let _ = ecs
        .stop_task()
        .cluster(&p.cluster)
        .task(&seen.arn)
        .reason(reason)
        .send()
        .await;
    p.seen.lock().unwrap().push(seen);
}

//! The ECS target: one Fargate task per URL (DESIGN.md "ECS contract").
//!
//! Launching goes as fast as AWS allows and no faster: at most
//! `max_in_flight` RunTask calls at once, paced by a token bucket at
//! `launch_rate` calls per second (Fargate's documented sustained rate is
//! 20). Throttling and 5xx answers are retried with jittered backoff under
//! the same clientToken (`{run_id}-{url_key}-{attempt}`), so a retry of a
//! call whose answer was lost never starts a second task. Each `failures`
//! entry of an answer makes that URL's record FAILED with the reason; an
//! error that every call would hit (unknown cluster, missing task
//! definition, bad subnet, no permission) fails the URLs not yet launched
//! with the cause and says it once.
//!
//! Tracking: ListTasks by startedBy (running and stopped) and DescribeTasks
//! in batches of 100 every few seconds; task -> ENI -> public IP through
//! DescribeNetworkInterfaces. A task that stops without a final record is
//! launched again with the next attempt, up to `max_attempts`; then its
//! record is FAILED with the stop code, reason and exit code.
//!
//! Fargate tasks leave from their own public IPs: Elastic IPs are for EKS.

use super::{CANCELLED, CancelSignal, RunControl};
use crate::aws::problem::{AwsError, Call, ErrorKind, describe};
use crate::config::EcsConfig;
use crate::model::{Action, Fleet, LaunchProgress, PhaseCounts, TaskGroup};
use crate::store::aws::AwsStore;
use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, DesiredStatus, KeyValuePair,
    LaunchType, NetworkConfiguration, Tag, Task, TaskOverride,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore, mpsc::UnboundedSender};
use trawl_scraper::record::{Record, RunItem, Target};

/// The container the overrides go to (DESIGN.md).
pub const CONTAINER: &str = "scraper";
/// The tag every task of a run carries.
pub const RUN_TAG: &str = "trawl:run-id";

/// The ECS target's settings: the config's `[ecs]` with defaults.
#[derive(Clone, Debug)]
pub struct EcsSettings {
    pub cluster: String,
    pub task_definition: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// RunTask calls in flight at once.
    pub max_in_flight: usize,
    /// Sustained RunTask calls per second.
    pub launch_rate: f64,
    /// Launches per URL before its record is FAILED.
    pub max_attempts: u32,
    /// Time between two looks at the run's tasks.
    pub track_every: Duration,
}

impl EcsSettings {
    pub const DEFAULT_MAX_IN_FLIGHT: usize = 10;
    pub const DEFAULT_LAUNCH_RATE: f64 = 20.0;
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

    pub fn from_config(c: &EcsConfig) -> Self {
        EcsSettings {
            cluster: c.cluster.clone(),
            task_definition: c.task_definition.clone(),
            subnets: c.subnets.clone(),
            security_groups: c.security_groups.clone(),
            max_in_flight: c
                .max_in_flight
                .unwrap_or(Self::DEFAULT_MAX_IN_FLIGHT)
                .max(1),
            launch_rate: c
                .launch_rate
                .map_or(Self::DEFAULT_LAUNCH_RATE, |r| f64::from(r).max(0.1)),
            max_attempts: c.max_attempts.unwrap_or(Self::DEFAULT_MAX_ATTEMPTS).max(1),
            track_every: Duration::from_secs(3),
        }
    }
}

/// Launches and tracks ECS runs.
#[derive(Clone)]
pub struct EcsTarget {
    ecs: aws_sdk_ecs::Client,
    ec2: aws_sdk_ec2::Client,
    store: AwsStore,
    settings: Arc<EcsSettings>,
    region: String,
    retain_days: Option<u32>,
    limiter: Arc<RateLimiter>,
}

/// The task ARNs started for a run.
type Started = Arc<Mutex<HashSet<String>>>;

/// How one RunTask ended.
enum Launched {
    Task(String),
    /// This URL cannot be launched (a `failures` entry, or retries used up).
    Failed(String),
    /// No URL can be launched: the same cause would fail every call.
    Fatal(AwsError),
}

impl EcsTarget {
    pub fn new(aws: &crate::aws::Aws, ecs: &EcsConfig) -> Result<Self, String> {
        let settings = EcsSettings::from_config(ecs);
        Ok(EcsTarget {
            ecs: aws_sdk_ecs::Client::new(&aws.sdk),
            ec2: aws.ec2(),
            store: aws.store()?,
            limiter: Arc::new(RateLimiter::new(settings.launch_rate)),
            settings: Arc::new(settings),
            region: aws.region(),
            retain_days: aws.retain_days,
        })
    }

    pub fn store(&self) -> &AwsStore {
        &self.store
    }

    /// Writes the run and its QUEUED records, announces them, then
    /// launches and tracks the tasks. Errors come back as Actions. Returns
    /// the run's control and id (follow its records with
    /// [`super::follow::follow_aws_run`]).
    pub fn submit(&self, urls: Vec<String>, tx: UnboundedSender<Action>) -> (RunControl, String) {
        let mut run = crate::store::new_run(Target::Ecs, urls.len(), self.retain_days);
        run.image = Some(self.settings.task_definition.clone());
        let (control, cancelled) = RunControl::new();
        let target = self.clone();
        let run_id = run.run_id.clone();
        tokio::spawn(async move {
            match target.store.create_run(&run, &urls).await {
                Ok(records) => {
                    let _ = tx.send(Action::RunStarted(run.clone()));
                    let _ = tx.send(Action::Records {
                        run_id: run.run_id.clone(),
                        records: records.clone(),
                    });
                    target.drive(run, records, tx, cancelled).await;
                }
                Err(e) => {
                    let _ = tx.send(Action::Error(format!("submission failed: {e}")));
                }
            }
        });
        (control, run_id)
    }

    fn call<'a>(&'a self, doing: &'a str, resource: &'a str, permission: &'a str) -> Call<'a> {
        Call {
            doing,
            resource,
            permission,
            region: &self.region,
        }
    }

    /// Launches every record that is not final, then tracks the tasks
    /// until every URL has a final record (or the run is cancelled).
    pub async fn drive(
        &self,
        run: RunItem,
        records: Vec<Record>,
        tx: UnboundedSender<Action>,
        cancelled: CancelSignal,
    ) {
        let progress = Arc::new(Mutex::new(LaunchProgress {
            total: records.len(),
            waiting: records.iter().filter(|r| !r.status().is_final()).count(),
            ..LaunchProgress::default()
        }));
        // Every task started for the run: tracking ends only once each has
        // been seen stopped (ListTasks may not list a new task at once).
        let started: Started = Arc::new(Mutex::new(HashSet::new()));
        let launched_all = AtomicBool::new(false);
        // Tracking runs while launching goes on, so the map fills as tasks
        // start, not only once the last URL is launched.
        let launching = async {
            self.launch_all(records, &progress, &started, &tx, cancelled.clone())
                .await;
            launched_all.store(true, Ordering::SeqCst);
        };
        let tracking = self.track(
            &run,
            &progress,
            &started,
            &launched_all,
            &tx,
            cancelled.clone(),
        );
        tokio::join!(launching, tracking);
    }

    /// Launches every record that is not final, at the paced rate; what
    /// cannot be launched is FAILED with the reason.
    async fn launch_all(
        &self,
        records: Vec<Record>,
        progress: &Arc<Mutex<LaunchProgress>>,
        started: &Started,
        tx: &UnboundedSender<Action>,
        mut cancelled: CancelSignal,
    ) {
        let fatal: Arc<Mutex<Option<AwsError>>> = Arc::new(Mutex::new(None));
        // Records no task was started for, when launching stops early.
        let unlaunched: Arc<Mutex<Vec<Record>>> = Arc::new(Mutex::new(Vec::new()));
        let slots = Arc::new(Semaphore::new(self.settings.max_in_flight));
        let mut launches = tokio::task::JoinSet::new();
        let mut open = records.into_iter().filter(|r| !r.status().is_final());
        // Launch, watching for cancel between calls.
        for record in open.by_ref() {
            let permit = tokio::select! {
                p = slots.clone().acquire_owned() => p.expect("never closed"),
                _ = cancelled.cancelled() => {
                    unlaunched.lock().await.push(record);
                    break;
                }
            };
            if cancelled.is_cancelled() || fatal.lock().await.is_some() {
                unlaunched.lock().await.push(record);
                break;
            }
            let me = self.clone();
            let (progress2, fatal2, unlaunched2, started2, tx2) = (
                progress.clone(),
                fatal.clone(),
                unlaunched.clone(),
                started.clone(),
                tx.clone(),
            );
            launches.spawn(async move {
                let outcome = me.launch(&record, record.attempt).await;
                drop(permit);
                match &outcome {
                    Launched::Fatal(_) => unlaunched2.lock().await.push(record.clone()),
                    Launched::Task(arn) => {
                        started2.lock().await.insert(arn.clone());
                    }
                    Launched::Failed(_) => {}
                }
                me.settle_launch(&record, outcome, &progress2, &fatal2, &tx2)
                    .await;
            });
        }
        unlaunched.lock().await.extend(open);
        while launches.join_next().await.is_some() {}

        // Not launched (cancel, or a cause every launch would hit): FAILED.
        let fatal = fatal.lock().await.clone();
        let reason = match (&fatal, cancelled.is_cancelled()) {
            (_, true) => CANCELLED.to_owned(),
            (Some(e), false) => format!("not launched: {}", e.line),
            (None, false) => "not launched: launching stopped before this URL".to_owned(),
        };
        if let Some(e) = &fatal {
            let _ = tx.send(Action::Error(e.line.clone()));
        }
        let unlaunched = std::mem::take(&mut *unlaunched.lock().await);
        if !unlaunched.is_empty() {
            let mut p = progress.lock().await;
            p.failed += unlaunched.len();
            p.waiting = 0;
            drop(p);
            super::mark_failed(&self.store, &unlaunched, &reason, tx).await;
        }
    }

    /// Records what one launch did: progress, and FAILED records.
    async fn settle_launch(
        &self,
        record: &Record,
        outcome: Launched,
        progress: &Mutex<LaunchProgress>,
        fatal: &Mutex<Option<AwsError>>,
        tx: &UnboundedSender<Action>,
    ) {
        let mut p = progress.lock().await;
        match outcome {
            Launched::Task(arn) => {
                tracing::debug!(task = %arn, url = %record.url, "launched");
                p.launched += 1;
                p.waiting = p.waiting.saturating_sub(1);
            }
            Launched::Failed(reason) => {
                p.failed += 1;
                p.waiting = p.waiting.saturating_sub(1);
                drop(p);
                self.mark_failed(record, &reason, tx).await;
            }
            Launched::Fatal(e) => {
                fatal.lock().await.get_or_insert(e);
            }
        }
    }

    async fn mark_failed(&self, record: &Record, reason: &str, tx: &UnboundedSender<Action>) {
        super::mark_failed(&self.store, std::slice::from_ref(record), reason, tx).await;
    }

    /// One RunTask (retried on throttling and 5xx with the same token).
    async fn launch(&self, record: &Record, attempt: u32) -> Launched {
        let env = |k: &str, v: String| KeyValuePair::builder().name(k).value(v).build();
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(CONTAINER)
                    .environment(env("TRAWL_URL", record.url.clone()))
                    .environment(env("TRAWL_RUN_ID", record.run_id.clone()))
                    .environment(env("TRAWL_ATTEMPT", attempt.to_string()))
                    .build(),
            )
            .build();
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(self.settings.subnets.clone()))
                    .set_security_groups(Some(self.settings.security_groups.clone()))
                    .assign_public_ip(AssignPublicIp::Enabled)
                    .build()
                    .expect("subnets are set"),
            )
            .build();
        let token = format!("{}-{}-{attempt}", record.run_id, record.url_key);
        let resource = format!(
            "ECS cluster {} (task definition {})",
            self.settings.cluster, self.settings.task_definition
        );
        let mut backoff = crate::store::aws::Backoff::default();
        loop {
            self.limiter.acquire().await;
            let sent = self
                .ecs
                .run_task()
                .cluster(&self.settings.cluster)
                .task_definition(&self.settings.task_definition)
                .launch_type(LaunchType::Fargate)
                .count(1)
                .started_by(&record.run_id)
                .client_token(&token)
                .network_configuration(network.clone())
                .overrides(overrides.clone())
                .tags(Tag::builder().key(RUN_TAG).value(&record.run_id).build())
                .send()
                .await;
            let e = match sent {
                Ok(out) => {
                    if let Some(task) = out.tasks().first() {
                        return Launched::Task(task.task_arn().unwrap_or_default().to_owned());
                    }
                    let why = out
                        .failures()
                        .iter()
                        .map(|f| {
                            let reason = f.reason().unwrap_or("no reason given");
                            match f.detail() {
                                Some(d) => format!("{reason} ({d})"),
                                None => reason.to_owned(),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join("; ");
                    return Launched::Failed(format!("ECS could not start the task: {why}"));
                }
                Err(e) => e,
            };
            let problem = launch_problem(
                &e,
                self.call("launching tasks", &resource, "ecs:RunTask"),
                &self.settings,
            );
            match problem.kind {
                ErrorKind::Throttled | ErrorKind::Transient => {
                    if let Err(e) = backoff.wait_after(problem).await {
                        return Launched::Failed(format!("not launched: {}", e.line));
                    }
                }
                _ => return Launched::Fatal(problem),
            }
        }
    }

    /// Watches the run's tasks until every URL has a final record: the
    /// fleet map, relaunches of tasks that stopped without a result, and
    /// FAILED records for those that used up their attempts.
    async fn track(
        &self,
        run: &RunItem,
        progress: &Mutex<LaunchProgress>,
        started: &Started,
        launched_all: &AtomicBool,
        tx: &UnboundedSender<Action>,
        mut cancelled: CancelSignal,
    ) {
        let mut tasks: HashMap<String, TaskView> = HashMap::new();
        let mut ips: HashMap<String, EniView> = HashMap::new();
        let mut settled: HashSet<String> = HashSet::new();
        let mut delay = self.settings.track_every;
        let mut stop_asked: HashSet<String> = HashSet::new();
        let mut left_failed = false;
        loop {
            let cancel = cancelled.is_cancelled();
            if cancel {
                // Every look after a cancel: tasks started since (a launch
                // in flight) or not listed yet are stopped too.
                let running: Vec<String> = tasks
                    .values()
                    .filter(|t| !t.stopped())
                    .map(|t| t.arn.clone())
                    .chain(
                        started
                            .lock()
                            .await
                            .iter()
                            .filter(|a| !tasks.contains_key(*a))
                            .cloned(),
                    )
                    .filter(|a| !stop_asked.contains(a))
                    .collect();
                self.stop_tasks(&running, tx).await;
                stop_asked.extend(running);
                if !std::mem::replace(&mut left_failed, true) {
                    self.fail_unlaunched_running(run, tx).await;
                }
            }
            match self.look(run, &mut tasks, &mut ips).await {
                Ok(()) => delay = self.settings.track_every,
                Err(e) => {
                    delay = (delay * 2).min(Duration::from_secs(30));
                    let _ = tx.send(Action::Error(format!(
                        "{}; next look in {} s",
                        e.line,
                        delay.as_secs()
                    )));
                }
            }
            let stopped: Vec<TaskView> = tasks
                .values()
                .filter(|t| t.stopped() && !settled.contains(&t.arn))
                .cloned()
                .collect();
            for t in stopped {
                if self
                    .settle_stopped(run, &t, progress, started, tx, cancel)
                    .await
                {
                    settled.insert(t.arn.clone());
                }
            }
            let p = *progress.lock().await;
            let _ = tx.send(Action::FleetChanged(
                self.fleet(
                    &tasks
                        .values()
                        .map(|t| (t, ips.get(&t.eni).cloned().unwrap_or_default()))
                        .collect::<Vec<_>>(),
                    (p.waiting > 0).then_some(p),
                ),
            ));
            let running = tasks.values().any(|t| !t.stopped());
            let all_seen = started.lock().await.iter().all(|a| settled.contains(a));
            if launched_all.load(Ordering::SeqCst)
                && !running
                && all_seen
                && tasks.values().all(|t| settled.contains(&t.arn))
            {
                break;
            }
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancelled.cancelled(), if !cancel => {}
            }
        }
    }

    /// One look at the run's tasks (ListTasks both ways, DescribeTasks of
    /// what is not known stopped yet, ENIs of new tasks).
    async fn look(
        &self,
        run: &RunItem,
        tasks: &mut HashMap<String, TaskView>,
        ips: &mut HashMap<String, EniView>,
    ) -> Result<(), AwsError> {
        let mut arns = Vec::new();
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let mut next: Option<String> = None;
            loop {
                let out = self
                    .ecs
                    .list_tasks()
                    .cluster(&self.settings.cluster)
                    .started_by(&run.run_id)
                    .desired_status(status.clone())
                    .set_next_token(next.take())
                    .send()
                    .await
                    .map_err(|e| {
                        describe(
                            &e,
                            self.call(
                                "listing the run's tasks",
                                &self.settings.cluster,
                                "ecs:ListTasks",
                            ),
                        )
                    })?;
                arns.extend(out.task_arns().iter().cloned());
                match out.next_token() {
                    Some(t) if !t.is_empty() => next = Some(t.to_owned()),
                    _ => break,
                }
            }
        }
        let unknown: Vec<String> = arns
            .into_iter()
            .filter(|a| tasks.get(a).is_none_or(|t| !t.stopped()))
            .collect();
        for batch in unknown.chunks(100) {
            let out = self
                .ecs
                .describe_tasks()
                .cluster(&self.settings.cluster)
                .set_tasks(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    describe(
                        &e,
                        self.call(
                            "describing the run's tasks",
                            &self.settings.cluster,
                            "ecs:DescribeTasks",
                        ),
                    )
                })?;
            for t in out.tasks() {
                let view = TaskView::of(t);
                tasks.insert(view.arn.clone(), view);
            }
        }
        let enis: Vec<String> = tasks
            .values()
            .filter(|t| {
                !t.eni.is_empty() && ips.get(&t.eni).is_none_or(|ip| ip.public_ip.is_none())
            })
            .map(|t| t.eni.clone())
            .collect();
        for batch in enis.chunks(100) {
            let out = self
                .ec2
                .describe_network_interfaces()
                .set_network_interface_ids(Some(batch.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    describe(
                        &e,
                        self.call(
                            "reading the tasks' public IPs",
                            "the tasks' network interfaces",
                            "ec2:DescribeNetworkInterfaces",
                        ),
                    )
                })?;
            for eni in out.network_interfaces() {
                let ip = eni
                    .association()
                    .and_then(|a| a.public_ip())
                    .map(str::to_owned);
                let zone = eni.availability_zone().map(str::to_owned);
                if let Some(id) = eni.network_interface_id() {
                    ips.insert(
                        id.to_owned(),
                        EniView {
                            public_ip: ip,
                            zone,
                        },
                    );
                }
            }
        }
        Ok(())
    }

    /// A stopped task: done if its record is final, else relaunched or
    /// FAILED. Returns whether the task needs no more looks.
    async fn settle_stopped(
        &self,
        run: &RunItem,
        t: &TaskView,
        progress: &Mutex<LaunchProgress>,
        started: &Started,
        tx: &UnboundedSender<Action>,
        cancelled: bool,
    ) -> bool {
        let Some(url) = t.url.clone() else {
            return true; // not one of ours (no TRAWL_URL override)
        };
        let stored = match self.store.record(&run.run_id, &url).await {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Action::Error(e.line));
                return false;
            }
        };
        let mut record = stored.unwrap_or_else(|| Record::new(&run.run_id, &url, t.attempt));
        if record.status().is_final() || record.attempt > t.attempt {
            return true;
        }
        let why = t.stop_text();
        if cancelled {
            self.mark_failed(&record, CANCELLED, tx).await;
            return true;
        }
        if t.attempt < self.settings.max_attempts {
            record.attempt = t.attempt;
            let outcome = self.launch(&record, t.attempt + 1).await;
            let relaunched = matches!(outcome, Launched::Task(_));
            match outcome {
                Launched::Task(arn) => {
                    progress.lock().await.relaunched += 1;
                    started.lock().await.insert(arn);
                }
                Launched::Failed(reason) => {
                    self.mark_failed(&record, &format!("{why}; relaunch failed: {reason}"), tx)
                        .await
                }
                Launched::Fatal(e) => {
                    self.mark_failed(&record, &format!("{why}; relaunch failed: {}", e.line), tx)
                        .await
                }
            }
            tracing::info!(
                url,
                attempt = t.attempt + 1,
                relaunched,
                "task stopped without a result"
            );
            return true;
        }
        record.attempt = t.attempt;
        self.mark_failed(
            &record,
            &format!("{why}; no result after {} attempts", t.attempt),
            tx,
        )
        .await;
        true
    }

    /// Cancel: every task of the run that still runs is stopped.
    async fn stop_tasks(&self, arns: &[String], tx: &UnboundedSender<Action>) {
        for arn in arns {
            let stopped = self
                .ecs
                .stop_task()
                .cluster(&self.settings.cluster)
                .task(arn)
                .reason("cancelled by the trawl operator")
                .send()
                .await;
            if let Err(e) = stopped {
                let _ = tx.send(Action::Error(
                    describe(
                        &e,
                        self.call(
                            "stopping the run's tasks",
                            &self.settings.cluster,
                            "ecs:StopTask",
                        ),
                    )
                    .line,
                ));
            }
        }
    }

    /// Cancel: records still QUEUED or RUNNING become `cancelled:`.
    async fn fail_unlaunched_running(&self, run: &RunItem, tx: &UnboundedSender<Action>) {
        super::fail_unfinished(&self.store, &run.run_id, tx).await;
    }

    /// The map: tasks grouped by public IP, with subnet and zone.
    fn fleet(&self, tasks: &[(&TaskView, EniView)], launch: Option<LaunchProgress>) -> Fleet {
        let mut groups: BTreeMap<String, TaskGroup> = BTreeMap::new();
        for (
            t,
            EniView {
                public_ip: ip,
                zone,
            },
        ) in tasks
        {
            let key = ip.clone().unwrap_or_else(|| "(no public IP yet)".into());
            let g = groups.entry(key.clone()).or_insert_with(|| TaskGroup {
                public_ip: key,
                subnet: t.subnet.clone(),
                zone: zone.clone(),
                tasks: PhaseCounts::default(),
            });
            match t.phase() {
                Phase::Pending => g.tasks.pending += 1,
                Phase::Running => g.tasks.running += 1,
                Phase::Succeeded => g.tasks.succeeded += 1,
                Phase::Failed => g.tasks.failed += 1,
            }
        }
        Fleet {
            synced: true,
            nodes: Vec::new(),
            task_groups: groups.into_values().collect(),
            pool_total: None,
            pool_known: false,
            launch,
        }
    }
}

/// A RunTask error, in words about the ECS settings where they are the
/// cause (the generic description covers access, credentials, throttling).
fn launch_problem<E>(
    e: &aws_sdk_ecs::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    call: Call<'_>,
    s: &EcsSettings,
) -> AwsError
where
    E: aws_sdk_ecs::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    let described = describe(e, call);
    let code = e.code().unwrap_or_default();
    let said = e.message().unwrap_or_default();
    let lower = said.to_ascii_lowercase();
    let line = match code {
        "ClusterNotFoundException" => format!(
            "ECS cluster {} not found in region {}: check `cluster` under [ecs] in the trawl config (or AWS_REGION)",
            s.cluster, call.region
        ),
        "ClientException" | "InvalidParameterException"
            if lower.contains("task definition") || lower.contains("taskdefinition") =>
        {
            format!(
                "ECS task definition {} cannot be used ({said}): check `task_definition` under [ecs] in the trawl config, or apply terraform/",
                s.task_definition
            )
        }
        "ClientException"
        | "InvalidParameterException"
        | "InvalidSubnetID.NotFound"
        | "InvalidGroup.NotFound"
            if lower.contains("subnet")
                || lower.contains("security group")
                || lower.contains("securitygroup") =>
        {
            format!(
                "ECS rejected the network settings ({said}): check `subnets` ({}) and `security_groups` ({}) under [ecs] in the trawl config",
                s.subnets.join(", "),
                s.security_groups.join(", ")
            )
        }
        _ => return described,
    };
    AwsError {
        kind: ErrorKind::Other,
        line,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Pending,
    Running,
    Succeeded,
    Failed,
}

/// A task's network interface: its public IP and zone.
#[derive(Clone, Debug, Default)]
struct EniView {
    public_ip: Option<String>,
    zone: Option<String>,
}

/// What tracking needs of a task.
#[derive(Clone, Debug, Default)]
struct TaskView {
    arn: String,
    last_status: String,
    url: Option<String>,
    attempt: u32,
    eni: String,
    subnet: Option<String>,
    stop_code: Option<String>,
    stopped_reason: Option<String>,
    exit_code: Option<i32>,
}

impl TaskView {
    fn of(t: &Task) -> TaskView {
        let env: HashMap<&str, &str> = t
            .overrides()
            .map(|o| o.container_overrides())
            .unwrap_or_default()
            .iter()
            .filter(|c| c.name() == Some(CONTAINER))
            .flat_map(|c| c.environment())
            .filter_map(|kv| Some((kv.name()?, kv.value()?)))
            .collect();
        let detail = |name: &str| {
            t.attachments()
                .iter()
                .flat_map(|a| a.details())
                .find(|d| d.name() == Some(name))
                .and_then(|d| d.value())
                .map(str::to_owned)
        };
        TaskView {
            arn: t.task_arn().unwrap_or_default().to_owned(),
            last_status: t.last_status().unwrap_or_default().to_owned(),
            url: env.get("TRAWL_URL").map(|s| (*s).to_owned()),
            attempt: env
                .get("TRAWL_ATTEMPT")
                .and_then(|a| a.parse().ok())
                .unwrap_or(1),
            eni: detail("networkInterfaceId").unwrap_or_default(),
            subnet: detail("subnetId"),
            stop_code: t.stop_code().map(|c| c.as_str().to_owned()),
            stopped_reason: t.stopped_reason().map(str::to_owned),
            exit_code: t
                .containers()
                .iter()
                .find(|c| c.name() == Some(CONTAINER))
                .and_then(|c| c.exit_code()),
        }
    }

    fn stopped(&self) -> bool {
        self.last_status == "STOPPED"
    }

    fn phase(&self) -> Phase {
        match self.last_status.as_str() {
            "STOPPED" if self.exit_code == Some(0) => Phase::Succeeded,
            "STOPPED" => Phase::Failed,
            "RUNNING" | "DEACTIVATING" | "STOPPING" | "DEPROVISIONING" => Phase::Running,
            _ => Phase::Pending,
        }
    }

    /// "task stopped: EssentialContainerExited: ... (exit code 137)"
    fn stop_text(&self) -> String {
        let mut s = format!(
            "task stopped without a final record: {}",
            self.stop_code.as_deref().unwrap_or("no stop code")
        );
        if let Some(r) = &self.stopped_reason {
            s.push_str(&format!(": {r}"));
        }
        match self.exit_code {
            Some(c) => s.push_str(&format!(" (exit code {c})")),
            None => s.push_str(" (no exit code)"),
        }
        s
    }
}

/// A token bucket of one token: calls are spaced `1 / rate` apart, so no
/// window of any length sees more than `rate × length + 1` calls.
pub struct RateLimiter {
    every: Duration,
    next: Mutex<tokio::time::Instant>,
}

impl RateLimiter {
    pub fn new(per_second: f64) -> Self {
        RateLimiter {
            every: Duration::from_secs_f64(1.0 / per_second.max(0.001)),
            next: Mutex::new(tokio::time::Instant::now()),
        }
    }

    /// Waits for this call's turn.
    pub async fn acquire(&self) {
        let at = {
            let mut next = self.next.lock().await;
            let now = tokio::time::Instant::now();
            let at = (*next).max(now);
            *next = at + self.every;
            at
        };
        tokio::time::sleep_until(at).await;
    }
}

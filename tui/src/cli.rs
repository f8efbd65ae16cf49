//! The command line: `trawl [FILE]` opens the TUI; the headless commands
//! (`submit`, `runs`, `results`, `init`) and the hidden `worker` and
//! `resume` run without it.

use crate::aws::Aws;
use crate::config::Config;
use crate::model::{Action, Results};
use crate::paths;
use crate::store::aws::AwsStore;
use crate::store::local::LocalStore;
use crate::targets::ecs::EcsTarget;
use crate::targets::eks::EksTarget;
use crate::targets::follow::follow_aws_run;
use crate::targets::local::{LocalRunner, default_concurrency};
use crate::urls::{LineStatus, check_lines};
use clap::{Parser, Subcommand};
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;
use tokio::time::Instant;
use trawl_scraper::config::WorkerArgs;
use trawl_scraper::record::{Record, Target};

#[derive(Parser, Debug)]
#[command(
    name = "trawl",
    version,
    about = "Scan many websites for malicious code, each from a known IP",
    long_about = "trawl opens a full-screen program: paste or load URLs, pick a target \
(local, EKS, ECS), press Ctrl-S, and watch the fleet and the results. \
The subcommands do the same without the screen.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    /// A file of URLs (one a line) to load into the editor.
    pub file: Option<PathBuf>,

    /// Config file (default: $XDG_CONFIG_HOME/trawl/config.toml).
    #[arg(long, global = true, env = "TRAWL_CONFIG")]
    pub config: Option<PathBuf>,

    /// Local workers at once (default: 4 per core).
    #[arg(long, global = true, env = "TRAWL_CONCURRENCY")]
    pub concurrency: Option<usize>,

    /// Keep a run's records this many days, then delete them (DynamoDB TTL
    /// for EKS and ECS runs; local runs are deleted when trawl next starts).
    /// Default: the config's `retain_days`, else forever.
    #[arg(long, global = true, value_parser = clap::value_parser!(u32).range(1..))]
    pub retain_days: Option<u32>,

    /// Kube context for the EKS target (default: the config's `context`,
    /// else the kubeconfig's current context).
    #[arg(long, global = true, env = "TRAWL_KUBE_CONTEXT")]
    pub context: Option<String>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Submit URLs without the screen: prints the run id, then progress on
    /// stderr; exits when every URL is final (or at once with --detach).
    Submit {
        /// File of URLs, one a line, or `-` for standard input.
        file: String,
        /// Where the URLs run.
        #[arg(long, default_value = "local")]
        target: Target,
        /// Print the run id and leave the run going in the background.
        #[arg(long)]
        detach: bool,
    },
    /// List runs, newest first.
    Runs,
    /// Print a run's records.
    Results {
        run: String,
        #[arg(long, conflicts_with = "csv")]
        json: bool,
        #[arg(long)]
        csv: bool,
    },
    /// Write the config file from `terraform output -json`.
    Init {
        #[arg(long)]
        terraform_output: PathBuf,
    },
    /// Run the worker on one URL (the local target runs each URL this way).
    #[command(hide = true)]
    Worker(Box<WorkerArgs>),
    /// Carry on a local run in this process (used by `submit --detach`).
    #[command(hide = true)]
    Resume { run: String },
}

impl Cli {
    pub fn config_path(&self) -> PathBuf {
        self.config.clone().unwrap_or_else(paths::config_file)
    }

    /// The config file with the flags that override it applied.
    pub fn config(&self) -> Result<Config, String> {
        let mut config = Config::load(&self.config_path())?;
        if let (Some(context), Some(eks)) = (&self.context, config.eks.as_mut()) {
            eks.context = Some(context.clone());
        }
        Ok(config)
    }

    /// AWS settings when the config names an AWS resource (flags win over
    /// the file).
    pub async fn aws(&self, config: &Config) -> Option<Aws> {
        if !Aws::configured(config) {
            return None;
        }
        let mut aws = Aws::load(config).await;
        aws.retain_days = self.retain_days.or(aws.retain_days);
        Some(aws)
    }

    pub fn local_runner(&self) -> Result<LocalRunner, String> {
        let config = self.config()?;
        let concurrency = self
            .concurrency
            .or(config.local.and_then(|l| l.concurrency))
            .unwrap_or_else(default_concurrency);
        let retain_days = self.retain_days.or(config.retain_days);
        let log_file = paths::log_file();
        if let Some(dir) = log_file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        Ok(LocalRunner {
            store: LocalStore::new(paths::local_store()),
            exe: std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?,
            concurrency,
            log_file,
            retain_days,
        })
    }
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("trawl: {message}");
    ExitCode::from(2)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

pub fn submit(cli: &Cli, file: &str, target: Target, detach: bool) -> ExitCode {
    let text = if file == "-" {
        let mut s = String::new();
        if let Err(e) = std::io::stdin().read_to_string(&mut s) {
            return fail(format!("cannot read standard input: {e}"));
        }
        s
    } else {
        match std::fs::read_to_string(file) {
            Ok(s) => s,
            Err(e) => return fail(format!("cannot read {file}: {e}")),
        }
    };
    let check = check_lines(text.lines());
    for (i, status) in check.lines.iter().enumerate() {
        match status {
            LineStatus::Invalid(why) => eprintln!("line {}: {why} (not submitted)", i + 1),
            LineStatus::Duplicate(first) => {
                eprintln!(
                    "line {}: same URL as line {} (not submitted)",
                    i + 1,
                    first + 1
                )
            }
            _ => {}
        }
    }
    if check.urls.is_empty() {
        return fail(format!("{file} holds no valid URL: one http(s) URL a line"));
    }
    match target {
        Target::Local => {}
        Target::Ecs | Target::Eks => return submit_aws(cli, check.urls, detach, target),
    }
    let runner = match cli.local_runner() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    if detach {
        let run = runner.new_run(check.urls.len());
        if let Err(e) = runner.store.create_run(&run, &check.urls) {
            return fail(e);
        }
        let spawned = std::process::Command::new(&runner.exe)
            .arg("resume")
            .arg(&run.run_id)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn();
        if let Err(e) = spawned {
            return fail(format!("cannot start the background run: {e}"));
        }
        println!("{}", run.run_id);
        return ExitCode::SUCCESS;
    }
    runtime().block_on(async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (_control, _run_id) = runner.submit(check.urls.clone(), tx);
        follow(rx, true).await
    })
}

/// `submit --target ecs|eks`: launches, then follows the run in DynamoDB
/// until every URL is final. `--detach` is refused: this process tracks
/// the run (ECS: relaunches tasks that stop without a result; EKS: watches
/// the pods and records the ones that fail without a record).
fn submit_aws(cli: &Cli, urls: Vec<String>, detach: bool, target: Target) -> ExitCode {
    if detach {
        return fail(format!(
            "--detach is for local runs: an {target} run is tracked by the process that launched it; run it in tmux or with nohup"
        ));
    }
    let config = match cli.config() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let no_section = || {
        fail(format!(
            "no [{target}] in the trawl config: run `trawl init --terraform-output FILE`"
        ))
    };
    runtime().block_on(async {
        let Some(aws) = cli.aws(&config).await else {
            return fail(
                "no results table in the trawl config: run `trawl init --terraform-output FILE`",
            );
        };
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        // The run's control, and on EKS its watches: kept while following.
        let (run_id, store, _keep): (String, AwsStore, Box<dyn std::any::Any>) = match target {
            Target::Ecs => {
                let Some(ecs) = &config.ecs else {
                    return no_section();
                };
                let ecs = match EcsTarget::new(&aws, ecs) {
                    Ok(t) => t,
                    Err(e) => return fail(e),
                };
                let (control, run_id) = ecs.submit(urls, tx.clone());
                (run_id, ecs.store().clone(), Box::new(control))
            }
            Target::Eks => {
                let Some(eks) = &config.eks else {
                    return no_section();
                };
                let eks = match EksTarget::from_config(&aws, eks).await {
                    Ok(t) => t,
                    Err(e) => return fail(e),
                };
                let cluster = eks.watch(None);
                let (control, run_id) = eks.submit(urls, cluster.subscribe(), tx.clone());
                (run_id, eks.store().clone(), Box::new((control, cluster)))
            }
            Target::Local => unreachable!("local runs are submitted by `submit`"),
        };
        let follower = tokio::spawn(follow_aws_run(store, run_id, aws.poll_interval, tx));
        let code = follow(rx, true).await;
        follower.abort();
        code
    })
}

/// How long `follow` waits without any change before it says what it is
/// waiting for (then twice as long before it says so again).
const QUIET_NOTICE: Duration = Duration::from_secs(60);

/// Prints the run id (when `print_id`) on stdout and progress on stderr
/// until every URL is final. When nothing changes for a while it says
/// which URLs it is still waiting for, so a long wait is never silent.
async fn follow(mut rx: tokio::sync::mpsc::UnboundedReceiver<Action>, print_id: bool) -> ExitCode {
    let mut results = Results::default();
    // An error on the way (a launch that failed) makes the exit code 1,
    // even once every URL is final (FAILED with the reason).
    let mut failed = false;
    let mut last_printed = usize::MAX;
    let mut total = usize::MAX;
    let mut run_id = String::new();
    let mut last_change = Instant::now();
    let mut quiet_for = QUIET_NOTICE;
    loop {
        let action = match tokio::time::timeout_at(last_change + quiet_for, rx.recv()).await {
            Ok(Some(action)) => action,
            Ok(None) => break,
            Err(_) => {
                eprintln!(
                    "{}",
                    waiting_line(&results, total, &run_id, last_change.elapsed())
                );
                quiet_for *= 2;
                continue;
            }
        };
        match action {
            Action::RunStarted(run) => {
                // Announced again by the store's follower: print it once.
                let first = total == usize::MAX;
                total = run.url_count;
                run_id.clone_from(&run.run_id);
                if print_id && first {
                    println!("{}", run.run_id);
                    let _ = std::io::stdout().flush();
                }
                continue;
            }
            Action::Records { records, .. } => {
                results.apply(records);
                last_change = Instant::now();
                quiet_for = QUIET_NOTICE;
            }
            Action::Error(e) => {
                eprintln!("trawl: {e}");
                if total == usize::MAX {
                    return ExitCode::from(1);
                }
                failed = true;
                continue;
            }
            _ => continue,
        }
        let finished = results.finished();
        if finished != last_printed {
            last_printed = finished;
            eprintln!("{}", progress_line(&results, total));
        }
        if finished >= total {
            break;
        }
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn progress_line(results: &Results, total: usize) -> String {
    use trawl_scraper::record::Status::*;
    format!(
        "{}/{} final: {} done, {} failed, {} blocked, {} running",
        results.finished(),
        total,
        results.count(Done),
        results.count(Failed),
        results.count(Blocked),
        results.count(Running)
    )
}

/// What a quiet `follow` is waiting for.
fn waiting_line(results: &Results, total: usize, run_id: &str, quiet: Duration) -> String {
    use trawl_scraper::record::Status::*;
    let quiet = quiet.as_secs();
    if total == usize::MAX {
        return format!("still waiting for the run to start (nothing for {quiet} s)");
    }
    let unseen = total.saturating_sub(results.len());
    let unseen = if unseen > 0 {
        format!(", {unseen} not seen yet")
    } else {
        String::new()
    };
    format!(
        "still waiting for {} of {total} URLs ({} queued, {} running{unseen}); nothing changed for {quiet} s. \
         The run goes on without this command: `trawl results {run_id}` shows it later",
        total - results.finished().min(total),
        results.count(Queued),
        results.count(Running),
    )
}

pub fn resume(cli: &Cli, run_id: &str) -> ExitCode {
    let runner = match cli.local_runner() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let (run, records) = match runner
        .store
        .read_run(run_id)
        .and_then(|run| Ok((run, runner.store.records(run_id)?)))
    {
        Ok(x) => x,
        Err(e) => return fail(e),
    };
    runtime().block_on(async {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let _ = tx.send(Action::RunStarted(run.clone()));
        let _control = runner.launch(run, records, tx);
        follow(rx, false).await
    })
}

/// The AWS results store, when the config names a table.
fn aws_store(cli: &Cli, rt: &tokio::runtime::Runtime) -> Result<Option<AwsStore>, String> {
    let config = cli.config()?;
    if config.table.is_none() {
        return Ok(None);
    }
    match rt.block_on(cli.aws(&config)) {
        Some(aws) => aws.store().map(Some),
        None => Ok(None),
    }
}

/// Local runs whose retention has passed are deleted first.
fn local_store() -> LocalStore {
    let store = LocalStore::new(paths::local_store());
    match store.prune_expired(time::OffsetDateTime::now_utc().unix_timestamp()) {
        Ok(pruned) if !pruned.is_empty() => {
            tracing::info!(runs = ?pruned, "deleted runs past their retention")
        }
        Ok(_) => {}
        Err(e) => eprintln!("trawl: {e}"),
    }
    store
}

pub fn runs(cli: &Cli) -> ExitCode {
    let rt = runtime();
    let aws = match aws_store(cli, &rt) {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let (runs, errors) = rt.block_on(crate::store::all_runs(local_store(), aws));
    for e in &errors {
        eprintln!("trawl: {e}");
    }
    if runs.is_empty() && errors.is_empty() {
        eprintln!("no runs yet: `trawl submit FILE` or `trawl` to start one");
        return ExitCode::SUCCESS;
    }
    if !runs.is_empty() {
        println!(
            "{:<22}  {:<6}  {:<24}  {:>15}  {:>7}",
            "RUN", "TARGET", "CREATED", "FINISHED/TOTAL", "FAILED"
        );
    }
    for r in runs {
        let (finished, failed) = if r.counted {
            (r.finished.to_string(), r.failed.to_string())
        } else {
            ("?".to_owned(), "?".to_owned())
        };
        println!(
            "{:<22}  {:<6}  {:<24}  {:>15}  {:>7}",
            r.info.run_id,
            r.info.target.as_str(),
            r.info.created_at,
            format!("{finished}/{}", r.info.url_count),
            failed
        );
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// A run's records from whichever store holds it: the local store, else
/// the AWS results table.
fn run_records(cli: &Cli, run_id: &str) -> Result<Vec<Record>, String> {
    let store = local_store();
    if let Ok(_run) = store.read_run(run_id) {
        return store.records(run_id);
    }
    let rt = runtime();
    let Some(aws) = aws_store(cli, &rt)? else {
        return Err(format!(
            "no run {run_id} in {} (and no AWS results table in the config); `trawl runs` lists the runs",
            store.root().display()
        ));
    };
    rt.block_on(async {
        if aws.run(run_id).await?.is_none() {
            return Err(format!(
                "no run {run_id} in {} or in DynamoDB table {}; `trawl runs` lists the runs",
                store.root().display(),
                aws.table()
            ));
        }
        let mut records = aws.poll(run_id, None).await?.records;
        crate::store::listing_order(&mut records);
        Ok(records)
    })
}

pub fn results(cli: &Cli, run_id: &str, json: bool, csv: bool) -> ExitCode {
    let records = match run_records(cli, run_id) {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let mut out = std::io::stdout().lock();
    let written = if json {
        serde_json::to_writer_pretty(&mut out, &records)
            .map_err(std::io::Error::other)
            .and_then(|_| writeln!(out))
    } else if csv {
        write_csv(&mut out, &records)
    } else {
        write_table(&mut out, &records)
    };
    match written {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`| head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

const CSV_FIELDS: [&str; 12] = [
    "url",
    "status",
    "egress_ip",
    "node",
    "http_status",
    "final_url",
    "bytes",
    "verdict",
    "score",
    "top_finding",
    "error",
    "object_key",
];

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

fn row_fields(r: &Record) -> [String; 12] {
    let opt = |o: Option<String>| o.unwrap_or_default();
    [
        r.url.clone(),
        r.status().to_string(),
        opt(r.egress_ip.clone()),
        opt(r.node.clone()),
        opt(r.http_status.map(|s| s.to_string())),
        opt(r.final_url.clone()),
        opt(r.bytes.map(|b| b.to_string())),
        opt(r.verdict.map(|v| v.as_str().to_owned())),
        opt(r.score.map(|s| s.to_string())),
        opt(r.findings.first().map(|f| f.rule.clone())),
        opt(r.error.clone()),
        opt(r.object_key.clone()),
    ]
}

fn write_csv(out: &mut impl Write, records: &[Record]) -> std::io::Result<()> {
    writeln!(out, "{}", CSV_FIELDS.join(","))?;
    for r in records {
        let cells: Vec<String> = row_fields(r).iter().map(|c| csv_cell(c)).collect();
        writeln!(out, "{}", cells.join(","))?;
    }
    Ok(())
}

fn write_table(out: &mut impl Write, records: &[Record]) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<8} {:<15} {:>4} {:<10} {:<24} URL / ERROR",
        "STATUS", "EGRESS IP", "HTTP", "VERDICT", "TOP FINDING"
    )?;
    for r in records {
        let f = row_fields(r);
        let tail = if r.error.is_some() {
            format!("{}  ({})", f[0], f[10])
        } else {
            f[0].clone()
        };
        writeln!(
            out,
            "{:<8} {:<15} {:>4} {:<10} {:<24} {tail}",
            f[1], f[2], f[4], f[7], f[9]
        )?;
    }
    Ok(())
}

pub fn init(cli: &Cli, terraform_output: &PathBuf) -> ExitCode {
    let text = match std::fs::read_to_string(terraform_output) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", terraform_output.display())),
    };
    let config = match Config::from_terraform_output(&text) {
        Ok(c) => c,
        Err(e) => return fail(format!("{}: {e}", terraform_output.display())),
    };
    let path = cli.config_path();
    if let Some(dir) = path.parent()
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        return fail(format!("cannot create {}: {e}", dir.display()));
    }
    match std::fs::write(&path, config.to_toml()) {
        Ok(()) => {
            eprintln!("wrote {}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => fail(format!("cannot write {}: {e}", path.display())),
    }
}

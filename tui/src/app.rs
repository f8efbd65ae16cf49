//! The runtime: input, signals, targets and stores send Actions on one
//! channel; the loop applies every queued action with `update`, carries out
//! the effects, and draws once if anything visible changed. Nothing is drawn
//! on a timer while idle (ticks redraw only while a run is active).

use crate::aws::Aws;
use crate::cli::Cli;
use crate::config::Config;
use crate::model::{Action, Effect, State, StoreKind, TargetOption, update};
use crate::store::aws::AwsStore;
use crate::store::local::{Driver, LocalStore};
use crate::store::preview_text;
use crate::targets::RunControl;
use crate::targets::ecs::EcsTarget;
use crate::targets::eks::EksTarget;
use crate::targets::eks::map::ClusterState;
use crate::targets::eks::watch::ClusterWatch;
use crate::targets::follow::follow_aws_run;
use crate::targets::local::{INTERRUPTED, LocalRunner};
use crate::{terminal, ui};
use futures::StreamExt;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use trawl_scraper::record::Target;

pub fn run(cli: &Cli) -> color_eyre::Result<()> {
    let runner = cli.local_runner().map_err(|e| color_eyre::eyre::eyre!(e))?;
    let mut state = State {
        monochrome: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        ..State::default()
    };
    state.targets = probe_targets(cli);
    let today = time::OffsetDateTime::now_utc().unix_timestamp();
    match runner.store.prune_expired(today) {
        Ok(pruned) if !pruned.is_empty() => {
            tracing::info!(runs = ?pruned, "deleted runs past their retention");
        }
        Ok(_) => {}
        Err(e) => state.last_error = Some(e),
    }
    state.fleet = crate::targets::local::idle_fleet();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut terminal = terminal::enter()?;
    let result = runtime.block_on(event_loop(&mut terminal, &mut state, cli, runner));
    terminal::restore();
    // Workers of an unfinished local run are stopped with the program.
    runtime.shutdown_timeout(Duration::from_secs(2));
    result
}

/// Which targets can be used, and why not.
fn probe_targets(cli: &Cli) -> Vec<TargetOption> {
    let config = cli.config().unwrap_or_default();
    let needs = |section: bool, what: &str| match (section, &config.table) {
        (false, _) => Some(format!(
            "no [{what}] in the config: run `trawl init --terraform-output FILE`"
        )),
        (true, None) => {
            Some("no results table in the config: run `trawl init --terraform-output FILE`".into())
        }
        (true, Some(_)) => None,
    };
    vec![
        TargetOption {
            target: Target::Local,
            unavailable: None,
        },
        TargetOption {
            target: Target::Eks,
            unavailable: needs(config.eks.is_some(), "eks"),
        },
        TargetOption {
            target: Target::Ecs,
            unavailable: needs(config.ecs.is_some(), "ecs"),
        },
    ]
}

/// The task that turns the cluster's snapshots into the fleet map while an
/// EKS run is on screen.
struct EksMap(tokio::task::JoinHandle<()>);

impl Drop for EksMap {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Runtime {
    tx: UnboundedSender<Action>,
    runner: LocalRunner,
    /// Cancel handles of the runs this trawl drives, by run id.
    controls: HashMap<String, RunControl>,
    /// Follows the attached run by polling its store: a local run another
    /// process drives (`--detach`), or any EKS/ECS run.
    watcher: Option<tokio::task::JoinHandle<()>>,
    /// AWS clients and names, when the config names an AWS resource.
    aws: Option<Arc<Aws>>,
    /// The EKS target when the config has `[eks]` (or why it cannot be used).
    eks: Option<Result<EksTarget, String>>,
    /// The cluster's watches, from the first EKS run on screen on: the EKS
    /// runs this trawl drives keep recording their failed pods while
    /// another target's run is on screen.
    eks_watch: Option<ClusterWatch>,
    eks_map: Option<EksMap>,
    config: Config,
    frames: u64,
}

async fn event_loop(
    terminal: &mut ratatui::DefaultTerminal,
    state: &mut State,
    cli: &Cli,
    runner: LocalRunner,
) -> color_eyre::Result<()> {
    let (tx, mut rx) = unbounded_channel();
    spawn_input(tx.clone());
    spawn_signals(tx.clone());
    spawn_ticks(tx.clone());
    let config = cli.config().unwrap_or_default();
    let aws = cli.aws(&config).await.map(Arc::new);
    let eks = match (&config.eks, &aws) {
        (Some(eks), Some(aws)) => Some(EksTarget::from_config(aws, eks).await),
        (Some(_), None) => Some(Err(
            "no results table in the trawl config: run `trawl init --terraform-output FILE`".into(),
        )),
        (None, _) => None,
    };
    let mut rt = Runtime {
        tx,
        runner,
        controls: HashMap::new(),
        watcher: None,
        aws,
        eks,
        eks_watch: None,
        eks_map: None,
        config,
        frames: 0,
    };
    let mut startup = vec![Effect::ListRuns];
    if let Some(file) = &cli.file {
        startup.push(Effect::LoadFile(file.display().to_string()));
    }
    for effect in startup {
        rt.carry_out(effect);
    }
    draw(terminal, state, &mut rt)?;
    while let Some(first) = rx.recv().await {
        let mut dirty = false;
        for action in std::iter::once(first).chain(drain(&mut rx)) {
            dirty |= !matches!(action, Action::Tick(_)) || state.run_active();
            for effect in update(state, action) {
                rt.carry_out(effect);
            }
        }
        if state.should_quit {
            break;
        }
        if dirty {
            draw(terminal, state, &mut rt)?;
        }
    }
    tracing::info!(frames = rt.frames, "trawl closed");
    Ok(())
}

/// Everything already queued, applied before one draw. Consecutive record
/// batches of one run become one batch, so the table's view is rebuilt once.
fn drain(rx: &mut UnboundedReceiver<Action>) -> Vec<Action> {
    let mut more: Vec<Action> = Vec::new();
    while let Ok(a) = rx.try_recv() {
        match (more.last_mut(), a) {
            (
                Some(Action::Records { run_id, records }),
                Action::Records {
                    run_id: next_run,
                    records: next,
                },
            ) if *run_id == next_run => records.extend(next),
            (_, a) => more.push(a),
        }
        if more.len() >= 10_000 {
            break;
        }
    }
    more
}

fn draw(
    terminal: &mut ratatui::DefaultTerminal,
    state: &State,
    rt: &mut Runtime,
) -> std::io::Result<()> {
    terminal.draw(|f| ui::draw(f, state))?;
    rt.frames += 1;
    tracing::trace!(frame = rt.frames, "drew");
    Ok(())
}

fn spawn_input(tx: UnboundedSender<Action>) {
    tokio::spawn(async move {
        let mut events = crossterm::event::EventStream::new();
        while let Some(Ok(event)) = events.next().await {
            let action = match event {
                crossterm::event::Event::Key(k) => Action::Key(k),
                crossterm::event::Event::Paste(p) => Action::Paste(p),
                crossterm::event::Event::Resize(..) => Action::Resize,
                _ => continue,
            };
            if tx.send(action).is_err() {
                break;
            }
        }
    });
}

fn spawn_signals(tx: UnboundedSender<Action>) {
    use tokio::signal::unix::{SignalKind, signal};
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut hup)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
        ) else {
            return;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
        let _ = tx.send(Action::Terminate);
    });
}

fn spawn_ticks(tx: UnboundedSender<Action>) {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            if tx.send(Action::Tick(now)).is_err() {
                break;
            }
        }
    });
}

impl Runtime {
    fn store(&self) -> LocalStore {
        self.runner.store.clone()
    }

    /// The ECS target from the config, and the poll interval.
    fn ecs_target(&self) -> Result<(EcsTarget, Duration), String> {
        let no_config =
            || "no [ecs] in the trawl config: run `trawl init --terraform-output FILE`".to_owned();
        let aws = self.aws.as_ref().ok_or_else(no_config)?;
        let ecs = self.config.ecs.as_ref().ok_or_else(no_config)?;
        Ok((EcsTarget::new(aws, ecs)?, aws.poll_interval))
    }

    /// The EKS target, or why there is none.
    fn eks_target(&self) -> Result<EksTarget, String> {
        match &self.eks {
            Some(t) => t.clone(),
            None => {
                Err("no [eks] in the trawl config: run `trawl init --terraform-output FILE`".into())
            }
        }
    }

    fn poll_interval(&self) -> Duration {
        self.aws
            .as_ref()
            .map_or(crate::aws::DEFAULT_POLL_INTERVAL, |a| a.poll_interval)
    }

    /// Shows the EKS map (starting the watches once) and returns its
    /// snapshots.
    fn show_eks_map(&mut self, eks: &EksTarget) -> tokio::sync::watch::Receiver<Arc<ClusterState>> {
        let watch = self.eks_watch.get_or_insert_with(|| eks.watch(None));
        let snapshots = watch.subscribe();
        if self.eks_map.is_none() {
            self.eks_map = Some(EksMap(tokio::spawn(crate::targets::eks::show_map(
                snapshots.clone(),
                eks.settings().pending_grace_secs,
                self.aws.clone(),
                self.tx.clone(),
            ))));
        }
        snapshots
    }

    /// Another target's map takes the screen (the watches go on).
    fn hide_eks_map(&mut self) {
        self.eks_map = None;
    }

    /// The AWS results store, or why there is none.
    fn aws_store(&self) -> Result<AwsStore, String> {
        match &self.aws {
            Some(aws) => aws.store(),
            None => Err(
                "no AWS results table in the trawl config: run `trawl init --terraform-output FILE`"
                    .into(),
            ),
        }
    }

    fn carry_out(&mut self, effect: Effect) {
        let tx = self.tx.clone();
        match effect {
            Effect::Quit => {}
            Effect::Submit {
                target: Target::Local,
                urls,
            } => {
                self.stop_watching();
                self.hide_eks_map();
                let (control, run_id) = self.runner.submit(urls, tx);
                self.controls.insert(run_id, control);
            }
            Effect::Submit {
                target: Target::Ecs,
                urls,
            } => match self.ecs_target() {
                Ok((ecs, every)) => {
                    self.stop_watching();
                    self.hide_eks_map();
                    let (control, run_id) = ecs.submit(urls, tx.clone());
                    self.controls.insert(run_id.clone(), control);
                    self.watcher = Some(tokio::spawn(follow_aws_run(
                        ecs.store().clone(),
                        run_id,
                        every,
                        tx,
                    )));
                }
                Err(e) => {
                    let _ = tx.send(Action::Error(e));
                }
            },
            Effect::Submit {
                target: Target::Eks,
                urls,
            } => match self.eks_target() {
                Ok(eks) => {
                    self.stop_watching();
                    let cluster = self.show_eks_map(&eks);
                    let (control, run_id) = eks.submit(urls, cluster, tx.clone());
                    self.controls.insert(run_id.clone(), control);
                    let every = self.poll_interval();
                    self.watcher = Some(tokio::spawn(follow_aws_run(
                        eks.store().clone(),
                        run_id,
                        every,
                        tx,
                    )));
                }
                Err(e) => {
                    let _ = tx.send(Action::Error(e));
                }
            },
            Effect::Cancel { run_id, target } => {
                if let Some(c) = self.controls.get(&run_id) {
                    c.cancel();
                } else if target == Target::Eks
                    && let Ok(eks) = self.eks_target()
                {
                    // A run another trawl launched: its Jobs are in the cluster.
                    tokio::spawn(async move { eks.cancel(&run_id, &tx).await });
                } else {
                    let _ = tx.send(Action::Error(format!(
                        "run {run_id} is not running in this trawl; nothing to cancel here"
                    )));
                }
            }
            Effect::ListRuns => {
                let (local, aws) = (self.store(), self.aws_store().ok());
                tokio::spawn(async move {
                    // Local runs at once: AWS may take seconds (or time out).
                    if aws.is_some() {
                        let (runs, _) = crate::store::all_runs(local.clone(), None).await;
                        let _ = tx.send(Action::RunsListed(runs));
                    }
                    let (runs, errors) = crate::store::all_runs(local, aws).await;
                    let _ = tx.send(Action::RunsListed(runs));
                    if !errors.is_empty() {
                        let _ = tx.send(Action::Error(errors.join("; ")));
                    }
                });
            }
            Effect::Attach { run_id, target } if target != Target::Local => {
                self.stop_watching();
                match self.eks_target() {
                    Ok(eks) if target == Target::Eks => {
                        let cluster = self.show_eks_map(&eks);
                        // A run this trawl did not launch (or launched
                        // before a restart): take over writing the records
                        // its failed pods cannot, and its cancel.
                        if !self.controls.contains_key(&run_id) {
                            let control = eks.adopt(&run_id, cluster, tx.clone());
                            self.controls.insert(run_id.clone(), control);
                        }
                    }
                    _ => self.hide_eks_map(),
                }
                match self.aws_store() {
                    Ok(store) => {
                        let every = self.poll_interval();
                        self.watcher = Some(tokio::spawn(follow_aws_run(store, run_id, every, tx)));
                    }
                    Err(e) => {
                        let _ = tx.send(Action::Error(e));
                    }
                }
            }
            Effect::Attach { run_id, .. } => {
                self.stop_watching();
                self.hide_eks_map();
                let store = self.store();
                let driver = store.driver(&run_id);
                let run_id2 = run_id.clone();
                tokio::task::spawn_blocking(move || {
                    let run_id = run_id2;
                    let attached = store.read_run(&run_id).and_then(|run| {
                        let failed = match driver {
                            Driver::Nobody => store.fail_unfinished(&run_id, INTERRUPTED)?,
                            Driver::ThisProcess | Driver::OtherProcess => Vec::new(),
                        };
                        Ok((run, store.records(&run_id)?, failed))
                    });
                    match attached {
                        Ok((run, records, failed)) => {
                            let _ = tx.send(Action::RunStarted(run));
                            let _ = tx.send(Action::Records {
                                run_id: run_id.clone(),
                                records,
                            });
                            if !failed.is_empty() {
                                let _ = tx.send(Action::Error(format!(
                                    "{} URLs were interrupted when trawl stopped: marked FAILED; submit them again to retry",
                                    failed.len()
                                )));
                            }
                        }
                        Err(e) => {
                            let _ = tx.send(Action::Error(e));
                        }
                    }
                });
                if driver == Driver::OtherProcess {
                    self.watcher = Some(watch_store(self.store(), run_id, self.tx.clone()));
                }
            }
            Effect::LoadFile(path) => {
                tokio::task::spawn_blocking(move || {
                    let result = std::fs::read_to_string(&path)
                        .map_err(|e| format!("cannot load {path}: {e}"));
                    let _ = tx.send(Action::FileLoaded { path, result });
                });
            }
            Effect::LoadBody {
                record,
                store: StoreKind::Aws,
            } => {
                let store = self.aws_store();
                tokio::spawn(async move {
                    let result = match store {
                        Ok(store) => store
                            .body_head(&record)
                            .await
                            .map(|b| preview_text(&b, record.bytes))
                            .map_err(String::from),
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(Action::BodyLoaded {
                        url_key: record.url_key.clone(),
                        result,
                    });
                });
            }
            Effect::LoadBody {
                record,
                store: StoreKind::Local,
            } => {
                let store = self.store();
                tokio::task::spawn_blocking(move || {
                    let result = store
                        .body_head(&record)
                        .map(|b| preview_text(&b, record.bytes));
                    let _ = tx.send(Action::BodyLoaded {
                        url_key: record.url_key.clone(),
                        result,
                    });
                });
            }
            Effect::CopyBodyLink {
                record,
                store: StoreKind::Aws,
            } => {
                let store = self.aws_store();
                tokio::spawn(async move {
                    let link = match store {
                        Ok(store) => store
                            .presigned_body_url(&record, PRESIGNED_FOR)
                            .await
                            .map_err(String::from),
                        Err(e) => Err(e),
                    };
                    let _ = tx.send(match link {
                        Ok(text) => Action::CopyReady {
                            text,
                            note: format!(
                                "copied a presigned URL of the body (valid {} minutes)",
                                PRESIGNED_FOR.as_secs() / 60
                            ),
                        },
                        Err(e) => Action::Error(e),
                    });
                });
            }
            Effect::CopyBodyLink {
                record,
                store: StoreKind::Local,
            } => {
                let path = self.store().body_path(&record);
                let _ = tx.send(Action::CopyReady {
                    text: path.display().to_string(),
                    note: "copied the body's path (gzip)".into(),
                });
            }
            Effect::LoadPool => {
                let aws = self.aws.clone();
                tokio::spawn(async move {
                    let now = time::OffsetDateTime::now_utc().unix_timestamp();
                    let result = match aws {
                        Some(aws) => crate::aws::pool::read_pool(&aws, now)
                            .await
                            .map_err(String::from),
                        None => Err(
                            "no [pool] tag in the trawl config: run `trawl init --terraform-output FILE`"
                                .into(),
                        ),
                    };
                    let _ = tx.send(Action::PoolLoaded(result));
                });
            }
            Effect::Copy(text) => copy_osc52(&text),
        }
    }

    fn stop_watching(&mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
            // Its store's problems are no longer this screen's.
            let _ = self.tx.send(Action::StoreStatus(None));
        }
    }
}

/// How long a copied presigned URL of a body works.
const PRESIGNED_FOR: Duration = Duration::from_secs(15 * 60);

/// Polls a run's records once a second (a run another process drives).
fn watch_store(
    store: LocalStore,
    run_id: String,
    tx: UnboundedSender<Action>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            let (store, id) = (store.clone(), run_id.clone());
            let records = tokio::task::spawn_blocking(move || store.records(&id)).await;
            if let Ok(Ok(records)) = records
                && tx
                    .send(Action::Records {
                        run_id: run_id.clone(),
                        records,
                    })
                    .is_err()
            {
                break;
            }
        }
    })
}

/// OSC 52: the terminal (also over ssh and in tmux with set-clipboard on)
/// puts the text on the clipboard.
fn copy_osc52(text: &str) {
    use base64::Engine;
    use std::io::Write;
    let b64 = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = std::io::stdout();
    let _ = write!(out, "\x1b]52;c;{b64}\x07");
    let _ = out.flush();
}

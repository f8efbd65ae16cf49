//! The program's state and how it changes: `update(&mut State, Action)`
//! does no I/O and returns the effects the runtime must carry out;
//! `ui::draw(&State)` has no side effects. Everything that talks to the
//! outside (terminal input, targets, stores, signals) sends Actions.

pub mod fleet;
pub mod pool;
pub mod results;
mod update;

pub use fleet::{Fleet, LaunchProgress, NodeState, NodeView, PhaseCounts, TaskGroup};
pub use pool::{EipPool, PoolAddress, PoolView};
pub use results::{Results, SortKey};
pub use update::update;

use crate::urls::{UrlCheck, check_lines};
use crossterm::event::KeyEvent;
use ratatui_textarea::TextArea;
use std::collections::VecDeque;
use trawl_scraper::record::{Record, Target};

/// The panes that take focus, in Tab order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pane {
    Editor,
    Targets,
    Fleet,
    Results,
    IpSummary,
}

impl Pane {
    pub const ORDER: [Pane; 5] = [
        Pane::Editor,
        Pane::Targets,
        Pane::Fleet,
        Pane::Results,
        Pane::IpSummary,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Pane::Editor => "URLs",
            Pane::Targets => "Target",
            Pane::Fleet => "Fleet",
            Pane::Results => "Results",
            Pane::IpSummary => "IPs",
        }
    }
}

/// What covers the panes, if anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overlay {
    Help,
    /// Submit the editor's valid URLs to the selected target?
    ConfirmSubmit,
    /// Cancel the current run?
    ConfirmCancel,
    /// Quit while a submission or a local run is in flight?
    ConfirmQuit,
    /// The selected record in full.
    Detail {
        url_key: String,
        scroll: u16,
    },
    /// Earlier runs, to reattach.
    Runs {
        selected: usize,
    },
    /// A file path being typed, to load into the editor.
    LoadFile {
        path: String,
    },
    /// The results filter being typed.
    Filter {
        text: String,
    },
    /// The Elastic IP pool: each address free or associated, and the
    /// egress IPs outside it.
    Pool {
        scroll: u16,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetOption {
    pub target: Target,
    /// Why it cannot be used now, in words that say what to do.
    pub unavailable: Option<String>,
}

/// The run on screen: its run item (run id, target, URL count, created at).
pub type RunInfo = trawl_scraper::record::RunItem;

/// A run in the runs list, with counts by status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunSummary {
    pub info: RunInfo,
    pub finished: usize,
    /// FAILED or BLOCKED.
    pub failed: usize,
    /// The counts were read (the AWS store counts only the newest runs).
    pub counted: bool,
}

/// The URL editor: the text and what its lines are.
pub struct Editor {
    pub textarea: TextArea<'static>,
    pub check: UrlCheck,
}

impl Default for Editor {
    fn default() -> Self {
        let mut textarea = TextArea::default();
        textarea.set_placeholder_text("Paste URLs here, one a line (or load a file with Ctrl-O)");
        Editor {
            textarea,
            check: UrlCheck::default(),
        }
    }
}

impl Editor {
    pub fn set_text(&mut self, text: &str) {
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        let placeholder = self.textarea.placeholder_text().to_owned();
        self.textarea = TextArea::new(lines);
        self.textarea.set_placeholder_text(placeholder);
        self.recheck();
    }

    pub fn recheck(&mut self) {
        self.check = check_lines(self.textarea.lines().iter().map(String::as_str));
    }
}

/// Completions per second over the last minute, for the sparkline.
#[derive(Clone, Debug, Default)]
pub struct Completions {
    /// Oldest first; the last bucket is `last_second`.
    pub buckets: VecDeque<u64>,
    pub last_second: i64,
}

impl Completions {
    pub const SECONDS: usize = 60;

    pub fn add(&mut self, at_second: i64, n: u64) {
        self.advance(at_second);
        if let Some(last) = self.buckets.back_mut() {
            *last += n;
        }
    }

    /// Moves the window to `now` (empty buckets for the seconds between).
    pub fn advance(&mut self, now: i64) {
        if self.buckets.is_empty() {
            self.last_second = now;
            self.buckets.push_back(0);
            return;
        }
        let steps = (now - self.last_second).clamp(0, Self::SECONDS as i64);
        for _ in 0..steps {
            self.buckets.push_back(0);
        }
        while self.buckets.len() > Self::SECONDS {
            self.buckets.pop_front();
        }
        self.last_second = self.last_second.max(now);
    }
}

pub struct State {
    pub focus: Pane,
    pub editor: Editor,
    pub targets: Vec<TargetOption>,
    pub target: Target,
    /// The run on screen (submitted or reattached).
    pub run: Option<RunInfo>,
    pub results: Results,
    pub fleet: Fleet,
    /// Earlier runs, newest first.
    pub runs: Vec<RunSummary>,
    pub overlay: Option<Overlay>,
    /// The last error, shown in the status bar until the next one.
    pub last_error: Option<String>,
    /// A lasting problem with the results store (AWS unreachable, access
    /// denied, throttling): shown until a poll succeeds again.
    pub store_problem: Option<String>,
    /// The Elastic IP pool (EKS), read on demand.
    pub pool: PoolView,
    /// A short note (e.g. "copied"), shown until the next action.
    pub message: Option<String>,
    pub completions: Completions,
    /// A submission is being written and launched.
    pub submitting: bool,
    /// The body preview of the detail view: (url_key, text or error).
    pub body_preview: Option<(String, Result<String, String>)>,
    /// Unix seconds of the last tick, for ages and the sparkline.
    pub now: i64,
    pub should_quit: bool,
    /// Colours are off (NO_COLOR).
    pub monochrome: bool,
}

impl Default for State {
    fn default() -> Self {
        State {
            focus: Pane::Editor,
            editor: Editor::default(),
            targets: vec![
                TargetOption {
                    target: Target::Local,
                    unavailable: None,
                },
                TargetOption {
                    target: Target::Eks,
                    unavailable: Some("not checked yet".into()),
                },
                TargetOption {
                    target: Target::Ecs,
                    unavailable: Some("not checked yet".into()),
                },
            ],
            target: Target::Local,
            run: None,
            results: Results::default(),
            fleet: Fleet::default(),
            runs: Vec::new(),
            overlay: None,
            last_error: None,
            store_problem: None,
            pool: PoolView::default(),
            message: None,
            completions: Completions::default(),
            submitting: false,
            body_preview: None,
            now: 0,
            should_quit: false,
            monochrome: false,
        }
    }
}

impl State {
    pub fn target_option(&self, target: Target) -> Option<&TargetOption> {
        self.targets.iter().find(|t| t.target == target)
    }

    /// The error the status bar shows: a lasting store problem first (it
    /// says what to fix), else the last error.
    pub fn shown_error(&self) -> Option<&str> {
        self.store_problem.as_deref().or(self.last_error.as_deref())
    }

    /// The run is still going: not every URL is final.
    pub fn run_active(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| self.results.finished() < r.url_count.max(self.results.len()))
    }
}

/// Everything that can change the state.
#[derive(Debug)]
pub enum Action {
    Key(KeyEvent),
    Paste(String),
    /// The terminal was resized: redraw.
    Resize,
    /// Unix seconds; sent every second only while a run is active.
    Tick(i64),
    /// Which targets can be used.
    TargetsProbed(Vec<TargetOption>),
    /// A submission was written and launching began (or a run was reattached).
    RunStarted(RunInfo),
    /// New or changed records of the run on screen.
    Records {
        run_id: String,
        records: Vec<Record>,
    },
    RunsListed(Vec<RunSummary>),
    FleetChanged(Fleet),
    /// A file chosen with Ctrl-O or given on the command line.
    FileLoaded {
        path: String,
        result: Result<String, String>,
    },
    BodyLoaded {
        url_key: String,
        result: Result<String, String>,
    },
    /// Something failed; the program goes on.
    Error(String),
    /// The results store's health: the problem, or None once it answers.
    StoreStatus(Option<String>),
    /// The Elastic IP pool was read (or why not).
    PoolLoaded(Result<EipPool, String>),
    /// Text to put on the clipboard, made elsewhere (a presigned URL), and
    /// the note that says what it is.
    CopyReady {
        text: String,
        note: String,
    },
    /// SIGTERM, SIGHUP: leave now.
    Terminate,
}

/// Where a run's records and bodies are: local runs on disk, EKS and ECS
/// runs in DynamoDB and S3 (a record's own `target` says where its worker
/// ran, which is not always where its run is kept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Local,
    Aws,
}

impl StoreKind {
    pub fn of(target: Target) -> StoreKind {
        match target {
            Target::Local => StoreKind::Local,
            Target::Eks | Target::Ecs => StoreKind::Aws,
        }
    }
}

impl State {
    /// Where the run on screen is kept.
    pub fn store_kind(&self) -> StoreKind {
        StoreKind::of(self.run.as_ref().map_or(self.target, |r| r.target))
    }
}

/// What `update` asks the runtime to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    Submit {
        target: Target,
        urls: Vec<String>,
    },
    Cancel {
        run_id: String,
        target: Target,
    },
    Attach {
        run_id: String,
        /// Where it ran: local runs are on disk, EKS and ECS runs in AWS.
        target: Target,
    },
    ListRuns,
    LoadFile(String),
    LoadBody {
        record: Box<Record>,
        store: StoreKind,
    },
    /// Copy a link to the stored body: a presigned S3 URL (AWS) or the
    /// file's path (local).
    CopyBodyLink {
        record: Box<Record>,
        store: StoreKind,
    },
    /// Read the Elastic IP pool.
    LoadPool,
    /// Put text on the clipboard (OSC 52).
    Copy(String),
    Quit,
}

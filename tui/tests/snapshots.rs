//! What the screen looks like, as insta snapshots of TestBackend buffers at
//! 80x24 and 200x50, plus checks that no size panics, that the palette is
//! 16/256-colour only, and that monochrome draws no colour at all.

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;
use ratatui_textarea::CursorMove;
use trawl::model::{
    EipPool, Fleet, LaunchProgress, NodeState, NodeView, Overlay, Pane, PhaseCounts, PoolAddress,
    RunInfo, RunSummary, SortKey, State, TargetOption, TaskGroup,
};
use trawl::ui::draw;
use trawl_scraper::record::{
    Finding, Record, Redirect, Severity, Status, Target, TlsInfo, Verdict,
};

const NOW: i64 = 1_795_000_000; // 2026-11-18T11:06:40Z
const RUN: &str = "r-20261118-105000-k3x9";

fn render(state: &State, w: u16, h: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| draw(f, state)).unwrap();
    terminal
}

macro_rules! snap {
    ($name:expr, $state:expr) => {{
        let state = &$state;
        for (w, h) in [(80u16, 24u16), (200, 50)] {
            let t = render(state, w, h);
            insta::assert_snapshot!(format!("{}_{w}x{h}", $name), t.backend());
        }
    }};
    ($name:expr, $state:expr, $w:expr, $h:expr) => {{
        let t = render(&$state, $w, $h);
        insta::assert_snapshot!(format!("{}_{}x{}", $name, $w, $h), t.backend());
    }};
}

fn ts(secs: i64, ms: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(secs).unwrap() + time::Duration::milliseconds(ms);
    trawl_scraper::record::timestamp(t)
}

fn base() -> State {
    State {
        now: NOW,
        targets: vec![
            TargetOption {
                target: Target::Local,
                unavailable: None,
            },
            TargetOption {
                target: Target::Eks,
                unavailable: None,
            },
            TargetOption {
                target: Target::Ecs,
                unavailable: Some("no [ecs] section in the config: run trawl init".into()),
            },
        ],
        ..State::default()
    }
}

fn run_info(target: Target, n: usize) -> RunInfo {
    RunInfo::new(RUN, target, n, ts(NOW - 960, 0))
}

/// Record `i` of a big run: statuses, verdicts and sizes spread out.
fn record(i: usize, nodes: usize) -> Record {
    let url = match i % 7 {
        0 => format!("https://www.example{i}.com/"),
        1 => format!("https://shop.example{i}.net/checkout/cart?id={i}&ref=newsletter"),
        2 => format!("http://static.cdn{i}.example.org/js/app.min.js"),
        3 => format!("https://blog{i}.example.com/2026/11/a-rather-long-post-title-about-things"),
        4 => format!("https://login.example{i}.io/"),
        5 => format!("https://example{i}.dev/wp-admin/"),
        _ => format!("https://news.example{i}.co.uk/"),
    };
    let mut r = Record::new(RUN, &url, 1);
    r.target = Some(Target::Eks);
    r.submitted_at = Some(ts(NOW - 900, 0));
    let status = match i % 20 {
        0..=1 => Status::Queued,
        2..=3 => Status::Running,
        4 => Status::Failed,
        5 if i % 40 == 5 => Status::Blocked,
        _ => Status::Done,
    };
    r.status = Some(status);
    if status == Status::Queued {
        return r;
    }
    let node = i % nodes;
    r.node = Some(format!(
        "ip-10-0-{}-{}.ec2.internal",
        node / 200,
        node % 200 + 10
    ));
    r.egress_ip = Some(format!("203.0.113.{}", node % 250 + 1));
    if node % 17 == 3 {
        // This node egressed from a fallback (non-pool) address.
        r.egress_ip = Some(format!("198.51.100.{}", node % 250 + 1));
    }
    r.started_at = Some(ts(NOW - 800 + (i % 300) as i64, 0));
    match status {
        Status::Running => {}
        Status::Failed => {
            r.finished_at = Some(ts(NOW - 700 + (i % 300) as i64, 250));
            r.error = Some("timeout: no response within 30s".into());
        }
        Status::Blocked => {
            r.egress_ip = None;
            r.finished_at = Some(ts(NOW - 799 + (i % 300) as i64, 3));
            r.error = Some("blocked: resolves to 10.0.0.8, a private address".into());
        }
        _ => {
            r.finished_at = Some(ts(NOW - 799 + (i % 300) as i64, (i * 37 % 3000) as i64));
            r.http_status = Some(if i.is_multiple_of(13) { 404 } else { 200 });
            r.bytes = Some((i as u64 * 7919) % 2_000_000 + 300);
            r.content_type = Some("text/html; charset=utf-8".into());
            let (verdict, score) = match i % 50 {
                7 => (Verdict::Malicious, 92),
                11 | 31 => (Verdict::Suspicious, 45),
                _ => (Verdict::Clean, (i % 10) as u8),
            };
            r.verdict = Some(verdict);
            r.score = Some(score);
            match verdict {
                Verdict::Malicious => r.set_findings(vec![
                    Finding::new(
                        "yara.CoinhiveMiner",
                        Severity::High,
                        "coinhive.min.js loaded",
                    ),
                    Finding::new("script.obfuscated", Severity::Medium, "eval(atob(...))"),
                ]),
                Verdict::Suspicious => r.set_findings(vec![Finding::new(
                    "iframe.hidden",
                    Severity::Medium,
                    "0x0 iframe to http://track.example/",
                )]),
                Verdict::Clean => {}
            }
        }
    }
    r
}

fn node(i: usize) -> NodeView {
    NodeView {
        name: format!("ip-10-0-{}-{}.ec2.internal", i / 200, i % 200 + 10),
        instance_type: Some(
            if i.is_multiple_of(3) {
                "c6i.large"
            } else {
                "m6i.xlarge"
            }
            .into(),
        ),
        capacity_type: Some(
            if i.is_multiple_of(4) {
                "on-demand"
            } else {
                "spot"
            }
            .into(),
        ),
        age_secs: Some(30 + i as u64 * 97),
        state: match i % 23 {
            5 => NodeState::NotReady,
            9 => NodeState::Draining,
            _ if i >= 48 => NodeState::Launching,
            _ => NodeState::Ready,
        },
        public_ip: if i >= 48 {
            None
        } else if i % 17 == 3 {
            Some(format!("198.51.100.{}", i % 250 + 1))
        } else {
            Some(format!("203.0.113.{}", i % 250 + 1))
        },
        pool_eip: i < 48 && i % 17 != 3,
        ip_mismatch: (i == 7).then(|| "workers saw 192.0.2.77, the node has 203.0.113.8".into()),
        pods: PhaseCounts {
            pending: (i % 3),
            running: 2 + i % 5,
            succeeded: 10 + i % 9,
            failed: usize::from(i.is_multiple_of(6)),
        },
        problems: if i == 5 {
            vec!["kubelet stopped posting status 2m ago".into()]
        } else if i == 12 {
            vec!["2 pods pending 5m: ImagePullBackOff".into()]
        } else {
            Vec::new()
        },
    }
}

fn fleet(nodes: usize) -> Fleet {
    Fleet {
        synced: true,
        nodes: (0..nodes).map(node).collect(),
        task_groups: Vec::new(),
        pool_total: Some(60),
        pool_known: true,
        launch: None,
    }
}

fn big() -> State {
    let mut s = base();
    s.target = Target::Eks;
    s.run = Some(run_info(Target::Eks, 10_000));
    s.fleet = fleet(50);
    s.results.apply((0..10_000).map(|i| record(i, 50)));
    s.results.select(5_000);
    s.focus = Pane::Results;
    s.editor.set_text(
        &(0..10_000)
            .map(|i| record(i, 50).url)
            .collect::<Vec<_>>()
            .join("\n"),
    );
    for (i, n) in (0..60u64).enumerate() {
        s.completions.add(NOW - 59 + i as i64, (n * 7) % 23 + 5);
    }
    s
}

fn rich_record() -> Record {
    let mut r = Record::new(RUN, "http://example.com/login", 2);
    r.status = Some(Status::Done);
    r.target = Some(Target::Eks);
    r.node = Some("ip-10-0-0-17.ec2.internal".into());
    r.egress_ip = Some("203.0.113.8".into());
    r.submitted_at = Some(ts(NOW - 120, 123));
    r.started_at = Some(ts(NOW - 118, 456));
    r.finished_at = Some(ts(NOW - 117, 789));
    r.http_status = Some(200);
    r.final_url = Some("https://www.example.com/account/login?next=%2F".into());
    r.redirects = vec![
        Redirect {
            url: "http://example.com/login".into(),
            status: 301,
            remote_addr: Some("93.184.215.14:80".into()),
        },
        Redirect {
            url: "https://example.com/login".into(),
            status: 302,
            remote_addr: Some("93.184.215.14:443".into()),
        },
    ];
    r.tls = Some(TlsInfo {
        subject: "CN=www.example.com".into(),
        issuer: "CN=R11, O=Let's Encrypt, C=US".into(),
        not_before: "2026-10-01T00:00:00Z".into(),
        not_after: "2026-12-30T23:59:59Z".into(),
    });
    r.content_type = Some("text/html; charset=utf-8".into());
    r.bytes = Some(48_213);
    r.sha256 = Some("9f2c0c1e5b7a4d3e8f6a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60".into());
    r.object_key = Some(format!("{RUN}/{}/body", r.url_key));
    r.verdict = Some(Verdict::Malicious);
    r.score = Some(92);
    r.set_findings(vec![
        Finding::new(
            "yara.CoinhiveMiner",
            Severity::High,
            "script src=https://coinhive.com/lib/coinhive.min.js starts a miner with site key 'aB3dE...'",
        ),
        Finding::new("script.obfuscated", Severity::Medium, "eval(atob('ZG9jdW1lbnQud3JpdGUo...')) at offset 18,233"),
        Finding::new("form.password-http", Severity::Low, "password field posts to http://example.com/auth"),
        Finding::new("meta.refresh", Severity::Info, "meta refresh after 0s"),
    ]);
    r
}

fn detail_state() -> State {
    let mut s = big();
    let r = rich_record();
    let key = r.url_key.clone();
    s.results.apply([r]);
    s.body_preview = Some((
        key.clone(),
        Ok("<!doctype html>\n<html><head><title>Sign in</title>\n<script src=\"https://coinhive.com/lib/coinhive.min.js\"></script>\n</head><body>\n<form action=\"http://example.com/auth\" method=\"post\">\n  <input type=\"password\" name=\"pw\">\n</form>\n</body></html>".into()),
    ));
    s.overlay = Some(Overlay::Detail {
        url_key: key,
        scroll: 0,
    });
    s
}

fn editor_mix() -> State {
    let mut s = base();
    s.editor.set_text(
        "https://example.com/\nhttps://www.wikipedia.org/\n# staging hosts\n\nexample.org/no-scheme\nhttps://EXAMPLE.com\nftp://files.example.com/\nhttps://exa mple.com/\nhttps://bücher.example/\nhttp://10.0.0.1:8080/admin\nhttps://u:p@example.net/\nhttps://news.ycombinator.com/",
    );
    s.editor.textarea.move_cursor(CursorMove::Jump(4, 3));
    s.focus = Pane::Editor;
    s
}

fn loading() -> State {
    let mut s = base();
    s.target = Target::Eks;
    s.run = Some(run_info(Target::Eks, 120));
    s.submitting = true;
    s.fleet = Fleet::default();
    s.focus = Pane::Results;
    s.editor
        .set_text("https://example.com/\nhttps://www.wikipedia.org/");
    s
}

fn error_state() -> State {
    let mut s = loading();
    s.submitting = false;
    s.last_error =
        Some("cannot write /x: permission denied: check the folder's permissions".into());
    s.message = Some("copied".into());
    s
}

#[test]
fn empty() {
    snap!(
        "empty",
        State {
            now: NOW,
            ..State::default()
        }
    );
}

#[test]
fn editor_with_valid_invalid_and_duplicate_lines() {
    snap!("editor_mix", editor_mix());
}

#[test]
fn loading_and_syncing() {
    snap!("loading", loading());
}

#[test]
fn error_in_the_status_bar() {
    snap!("error", error_state());
}

#[test]
fn ten_thousand_rows_and_fifty_nodes() {
    snap!("big", big());
    let mut s = big();
    s.focus = Pane::Fleet;
    snap!("big_fleet_focused", s, 80, 24);
}

#[test]
fn detail_overlay() {
    snap!("detail", detail_state());
    let mut s = detail_state();
    if let Some(Overlay::Detail { scroll, .. }) = &mut s.overlay {
        *scroll = 30;
    }
    snap!("detail_scrolled", s, 80, 24);
}

#[test]
fn help_overlay() {
    let mut s = big();
    s.overlay = Some(Overlay::Help);
    snap!("help", s);
}

#[test]
fn dialogs() {
    let mut s = editor_mix();
    s.overlay = Some(Overlay::ConfirmSubmit);
    snap!("confirm_submit", s, 80, 24);

    let mut s = big();
    s.overlay = Some(Overlay::ConfirmCancel);
    snap!("confirm_cancel", s, 80, 24);

    let mut s = loading();
    s.overlay = Some(Overlay::ConfirmQuit);
    snap!("confirm_quit", s, 80, 24);

    let mut s = editor_mix();
    s.overlay = Some(Overlay::LoadFile {
        path: "/home/operator/lists/2026-11/phishing-candidates-from-the-abuse-desk-export.txt"
            .into(),
    });
    snap!("load_file", s, 80, 24);

    let mut s = big();
    s.results.set_filter("example1".into());
    s.overlay = Some(Overlay::Filter {
        text: "example1".into(),
    });
    snap!("filter", s, 80, 24);

    let mut s = big();
    s.runs = (0..14)
        .map(|i| RunSummary {
            info: RunInfo::new(
                &format!("r-202611{:02}-0{}3000-ab{:02}", 18 - i / 3, i % 10, i),
                [Target::Eks, Target::Local, Target::Ecs][i % 3],
                [10_000, 120, 3, 5000][i % 4],
                ts(NOW - 3600 * (i as i64 * 7 + 1), 0),
            ),
            finished: [10_000, 118, 3, 2500][i % 4],
            failed: [12, 0, 1, 40][i % 4],
            // AWS counts only the newest runs: older ones show "?".
            counted: i < 6 || i % 3 == 1,
        })
        .collect();
    s.overlay = Some(Overlay::Runs { selected: 2 });
    snap!("runs", s);
}

/// The pool: 6 EIPs held by nodes of the fleet and 3 free; some URLs
/// left from IPs outside it (nodes that found the pool empty).
fn pool_state() -> State {
    let mut s = big();
    let mut addresses: Vec<PoolAddress> = s
        .fleet
        .nodes
        .iter()
        .filter(|n| n.pool_eip)
        .take(6)
        .enumerate()
        .map(|(i, n)| PoolAddress {
            public_ip: n.public_ip.clone().unwrap(),
            allocation_id: format!("eipalloc-0a1b2c3d4e5f6{i:04}"),
            instance_id: Some(format!("i-0123456789abc{i:04}")),
            private_ip: Some(format!("10.0.0.{}", 10 + i)),
        })
        .collect();
    addresses.extend((0..3).map(|i| PoolAddress {
        public_ip: format!("203.0.113.{}", 201 + i),
        allocation_id: format!("eipalloc-0f0f0f0f0f0f0{i:04}"),
        instance_id: None,
        private_ip: None,
    }));
    s.pool.pool = Some(EipPool {
        tag: "trawl:pool=default".into(),
        addresses,
        read_at: NOW - 4,
    });
    s.overlay = Some(Overlay::Pool { scroll: 0 });
    s
}

#[test]
fn pool_view() {
    let s = pool_state();
    snap!("pool", s, 80, 24);
    snap!("pool", s, 200, 50);

    // A failed read keeps the last pool and says what to do.
    let mut s = pool_state();
    s.pool.error = Some(
        "access denied reading the Elastic IP pool: the AWS identity in use may not ec2:DescribeAddresses on Elastic IPs tagged trawl:pool=default; attach the operator policy from `terraform output operator_policy_arn` to it".into(),
    );
    s.pool.loading = true;
    snap!("pool_error", s, 80, 24);

    // ECS: no Elastic IPs, and the view says why.
    let mut s = base();
    s.target = Target::Ecs;
    s.pool.pool = Some(EipPool {
        tag: "trawl:pool=default".into(),
        addresses: Vec::new(),
        read_at: NOW,
    });
    s.overlay = Some(Overlay::Pool { scroll: 0 });
    snap!("pool_ecs_empty", s, 80, 24);
}

#[test]
fn monochrome() {
    let mut s = big();
    s.monochrome = true;
    s.last_error = Some("cannot reach the cluster: check your kubeconfig".into());
    snap!("monochrome", s);
    for (w, h) in [(80, 24), (200, 50)] {
        let t = render(&s, w, h);
        let colored = t
            .backend()
            .buffer()
            .content
            .iter()
            .filter(|c| c.fg != Color::Reset || c.bg != Color::Reset)
            .count();
        assert_eq!(
            colored, 0,
            "monochrome drew {colored} coloured cells at {w}x{h}"
        );
    }
}

#[test]
fn ecs_task_groups_and_local() {
    let mut s = big();
    s.target = Target::Ecs;
    s.run = Some(run_info(Target::Ecs, 10_000));
    s.fleet = Fleet {
        synced: true,
        nodes: Vec::new(),
        task_groups: (0..30)
            .map(|i| TaskGroup {
                public_ip: format!("54.210.{}.{}", i / 10, i * 7 % 250),
                subnet: Some(format!("subnet-0a1b2c3d{:02}", i % 3)),
                zone: Some(["us-east-1a", "us-east-1b", "us-east-1c"][i % 3].into()),
                tasks: PhaseCounts {
                    pending: i % 2,
                    running: 1,
                    succeeded: 3 + i % 4,
                    failed: usize::from(i.is_multiple_of(7)),
                },
            })
            .collect(),
        pool_total: None,
        pool_known: false,
        launch: None,
    };
    s.focus = Pane::Fleet;
    snap!("ecs", s, 200, 50);

    // Still launching: how far, what waits, what failed; quitting asks.
    s.fleet.launch = Some(LaunchProgress {
        total: 10_000,
        launched: 6_480,
        waiting: 3_410,
        failed: 110,
        relaunched: 12,
    });
    snap!("ecs_launching", s, 120, 30);
    s.overlay = Some(Overlay::ConfirmQuit);
    snap!("ecs_launching_quit", s, 80, 24);

    let mut s = base();
    s.run = Some(run_info(Target::Local, 3));
    s.fleet = Fleet {
        synced: true,
        ..Fleet::default()
    };
    s.focus = Pane::Fleet;
    snap!("local_empty_fleet", s, 80, 24);
}

/// Every cell's colour is a named one or Indexed: never RGB.
#[test]
fn palette_is_16_and_256_colour_only() {
    for state in [big(), detail_state(), editor_mix(), error_state()] {
        for (w, h) in [(80, 24), (200, 50)] {
            let t = render(&state, w, h);
            for c in &t.backend().buffer().content {
                assert!(
                    !matches!(c.fg, Color::Rgb(..)) && !matches!(c.bg, Color::Rgb(..)),
                    "RGB colour in {w}x{h}"
                );
            }
        }
    }
}

#[test]
fn no_size_panics() {
    let mut states = vec![
        State::default(),
        editor_mix(),
        loading(),
        error_state(),
        big(),
        detail_state(),
    ];
    for overlay in [
        Overlay::Help,
        Overlay::ConfirmSubmit,
        Overlay::ConfirmCancel,
        Overlay::ConfirmQuit,
        Overlay::Runs { selected: 0 },
        Overlay::LoadFile {
            path: "/tmp/x".into(),
        },
        Overlay::Filter { text: "abc".into() },
    ] {
        let mut s = big();
        s.overlay = Some(overlay);
        states.push(s);
    }
    for focus in Pane::ORDER {
        let mut s = big();
        s.focus = focus;
        states.push(s);
    }
    let sizes = [
        (1, 1),
        (2, 1),
        (1, 2),
        (5, 3),
        (10, 2),
        (20, 5),
        (33, 7),
        (40, 10),
        (60, 15),
        (79, 23),
        (99, 19),
        (100, 20),
        (120, 30),
        (160, 40),
        (255, 70),
        (300, 80),
    ];
    for s in &states {
        for (w, h) in sizes {
            render(s, w, h);
        }
    }
}

/// Every small size, every focus and every overlay: the arithmetic of
/// borders, titles and columns never underflows.
#[test]
fn small_sizes_sweep_without_panic() {
    let mut base = big();
    base.results = Default::default();
    base.results.apply((0..300).map(|i| record(i, 50)));
    base.results.select(150);
    base.last_error =
        Some("cannot write /x: permission denied: check the folder's permissions".into());
    let key = base.results.view_row(7).unwrap().url_key.clone();
    let mut states = Vec::new();
    for focus in Pane::ORDER {
        let mut s = big_like(&base);
        s.focus = focus;
        states.push(s);
    }
    for overlay in [
        Overlay::Help,
        Overlay::ConfirmSubmit,
        Overlay::ConfirmCancel,
        Overlay::ConfirmQuit,
        Overlay::Runs { selected: 3 },
        Overlay::LoadFile {
            path: "/a/very/long/path/to/a/file/of/urls.txt".into(),
        },
        Overlay::Filter {
            text: "example".into(),
        },
        Overlay::Detail {
            url_key: key.clone(),
            scroll: 3,
        },
    ] {
        let mut s = big_like(&base);
        s.overlay = Some(overlay);
        states.push(s);
    }
    for s in &states {
        for w in 1..=46 {
            for h in 1..=14 {
                render(s, w, h);
            }
        }
    }
}

fn big_like(s: &State) -> State {
    let mut n = base();
    n.target = s.target;
    n.run = s.run.clone();
    n.fleet = s.fleet.clone();
    n.results = s.results.clone();
    n.last_error = s.last_error.clone();
    n.runs = (0..5)
        .map(|i| RunSummary {
            info: RunInfo::new(RUN, Target::Eks, 10 + i, ts(NOW - 3600, 0)),
            finished: i,
            failed: 1,
            counted: true,
        })
        .collect();
    n.editor
        .set_text("https://a.example/\nnot a url\nhttps://a.example/");
    n
}

/// Rows are coloured by status, and by verdict when it is bad; the
/// selected row is reversed.
#[test]
fn row_colours_follow_status_and_verdict() {
    use ratatui::style::Modifier;
    let s = big();
    let t = render(&s, 200, 50);
    let buf = t.backend().buffer();
    let w = usize::from(buf.area.width);
    // The style of the first cell of `needle` on the row that contains it.
    let style_of = |needle: &str, and: &str| {
        let text = t.backend().to_string();
        let (row, line) = text
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains(needle) && l.contains(and))
            .unwrap_or_else(|| panic!("no row with {needle} and {and}"));
        let col = line[1..].split(needle).next().unwrap().chars().count();
        buf.content[row * w + col].style()
    };
    assert_eq!(style_of("FAILED", "timeout").fg, Some(Color::Red));
    assert_eq!(style_of("BLOCKED", "blocked").fg, Some(Color::Magenta));
    assert_eq!(style_of("RUNNING", "9m5").fg, Some(Color::Cyan));
    let malicious = style_of("malicious 92", "yara");
    assert_eq!(malicious.fg, Some(Color::Red));
    assert!(malicious.add_modifier.contains(Modifier::BOLD));
    assert_eq!(style_of("suspicious 45", "iframe").fg, Some(Color::Yellow));
    // Row 5,001 (the selection) is queued: dim grey and reversed.
    let selected = style_of("static.cdn5000", "QUEUED");
    assert_eq!(selected.fg, Some(Color::DarkGray));
    assert!(selected.add_modifier.contains(Modifier::REVERSED));
}

/// Selection and sort change what is drawn, not the cost: the window
/// around the selection is drawn whatever the row count.
#[test]
fn selection_at_the_end_and_sorted_descending() {
    let mut s = big();
    s.results.set_sort(SortKey::Verdict, true);
    s.results.select(9_999);
    s.results.follow = true;
    let t = render(&s, 200, 50);
    let text = t.backend().to_string();
    assert!(text.contains("VERDICT ↓"), "{text}");
    assert!(text.contains("10,000/10,000"), "{text}");
}

/// The EKS map as the watches make it: slim objects decoded from the API's
/// JSON, through `map::fleet`, then egress IPs cross-checked with records.
#[test]
fn eks_map_from_the_cluster() {
    use serde_json::json;
    use std::sync::Arc;
    use trawl::targets::eks::map::{ClusterState, fleet};
    use trawl::targets::eks::slim::{SlimNode, SlimNodeClaim, SlimPod};
    let t = |ago: i64| ts(NOW - ago, 0);
    let node = |i: usize, ip: &str, eip: &str, extra: serde_json::Value| {
        let mut n = json!({
            "metadata": {"name": format!("ip-10-0-1-{i}.ec2.internal"), "creationTimestamp": t(600 - i as i64 * 60),
                "labels": {"trawl.io/pool": "scrapers", "node.kubernetes.io/instance-type": "c6i.large",
                           "karpenter.sh/capacity-type": if i == 3 { "on-demand" } else { "spot" }, "trawl.io/eip": eip}},
            "spec": {},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("10.0.1.{i}")},
                                     {"type": "ExternalIP", "address": ip}],
                       "conditions": [{"type": "Ready", "status": "True"}]}
        });
        if let Some(spec) = extra.get("spec") {
            n["spec"] = spec.clone();
        }
        Arc::new(serde_json::from_value::<SlimNode>(n).unwrap())
    };
    let nodes = vec![
        node(1, "198.51.100.10", "pool", json!({})),
        node(2, "198.51.100.11", "pool", json!({})),
        node(3, "203.0.113.5", "fallback", json!({})),
        node(
            4,
            "198.51.100.12",
            "pool",
            json!({"spec": {"taints": [{"key": "karpenter.sh/disrupted", "effect": "NoSchedule"}]}}),
        ),
    ];
    let pod = |name: &str, node: Option<&str>, phase: &str, ago: i64, status: serde_json::Value| {
        let mut status = status;
        status["phase"] = json!(phase);
        Arc::new(
            serde_json::from_value::<SlimPod>(json!({
                "metadata": {"name": name, "creationTimestamp": t(ago),
                    "labels": {"trawl.io/run-id": RUN, "batch.kubernetes.io/job-name": format!("trawl-{RUN}-0")},
                    "annotations": {"batch.kubernetes.io/job-completion-index": "0"}},
                "spec": {"nodeName": node, "activeDeadlineSeconds": 120},
                "status": status
            }))
            .unwrap(),
        )
    };
    let mut pods = Vec::new();
    for i in 0..24 {
        let n = format!("ip-10-0-1-{}.ec2.internal", i % 4 + 1);
        let phase = ["Running", "Succeeded", "Succeeded", "Pending"][i % 4];
        pods.push(pod(
            &format!("trawl-{RUN}-0-{i}-abcde"),
            Some(&n),
            phase,
            60,
            json!({}),
        ));
    }
    pods.push(pod(&format!("trawl-{RUN}-0-30-oomkd"), Some("ip-10-0-1-2.ec2.internal"), "Failed", 90,
        json!({"containerStatuses": [{"state": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]})));
    pods.push(pod(&format!("trawl-{RUN}-0-31-dline"), Some("ip-10-0-1-1.ec2.internal"), "Failed", 200,
        json!({"reason": "DeadlineExceeded", "message": "Pod was active on the node longer than the specified deadline"})));
    pods.push(pod(&format!("trawl-{RUN}-0-32-image"), Some("ip-10-0-1-3.ec2.internal"), "Pending", 30,
        json!({"containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]})));
    for i in 0..3 {
        pods.push(pod(&format!("trawl-{RUN}-0-4{i}-sched"), None, "Pending", 900,
            json!({"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/4 nodes are available: 4 Too many pods."}]})));
    }
    let claims = vec![Arc::new(
        serde_json::from_value::<SlimNodeClaim>(json!({
            "metadata": {"name": "scrapers-x7k2p", "creationTimestamp": t(20),
                         "labels": {"node.kubernetes.io/instance-type": "c6i.large", "karpenter.sh/capacity-type": "spot"}},
            "status": {}
        }))
        .unwrap(),
    )];
    let cluster = ClusterState {
        synced: true,
        nodes,
        pods,
        claims,
        problem: None,
    };
    let mut s = base();
    s.target = Target::Eks;
    s.run = Some(run_info(Target::Eks, 40));
    // A worker on node 2 left from another IP: the map flags it.
    let mut odd = record(0, 1);
    odd.node = Some("ip-10-0-1-2.ec2.internal".into());
    odd.egress_ip = Some("192.0.2.77".into());
    odd.status = Some(Status::Done);
    s.results.apply([odd]);
    let mut f = fleet(&cluster, NOW, 600, &Default::default());
    f.flag_egress_mismatches(s.results.records());
    s.fleet = f;
    s.focus = Pane::Fleet;
    snap!("eks_map", s);
    // Before the first complete list: syncing.
    s.fleet = fleet(&ClusterState::default(), NOW, 600, &Default::default());
    snap!("eks_syncing", s, 80, 24);
}

//! The `trawl` binary end to end: headless submit and results, and the full
//! screen driven in tmux against the hostile server's loopback pages.

use std::path::Path;
use std::time::Duration;
use trawl_scraper::record::{Record, Status};
use trawl_tests::env::{STUB_EGRESS_IP, safe_command, workspace_bin};
use trawl_tests::hostile::HostileServer;
use trawl_tests::tmux::Tmux;
use trawl_tests::trawl::{tmux_available, trawl_env};

fn trawl(home: &Path, args: &[&str]) -> std::process::Output {
    trawl_tests::trawl::trawl(home, args, &[])
}

#[test]
fn headless_submit_then_results_round_trip() {
    let server = HostileServer::start_plain().unwrap();
    let home = tempfile::tempdir().unwrap();
    let urls = home.path().join("urls.txt");
    std::fs::write(
        &urls,
        format!(
            "{}\nnot a url\n{}\n{}\n",
            server.url("/page"),
            server.url("/status/404"),
            server.url("/page")
        ),
    )
    .unwrap();
    let out = trawl(home.path(), &["submit", urls.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("line 2: contains whitespace"), "{stderr}");
    assert!(stderr.contains("line 4: same URL as line 1"), "{stderr}");
    assert!(stderr.contains("2/2 final: 2 done"), "{stderr}");
    let run_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(run_id.starts_with("r-"), "{run_id}");

    let out = trawl(home.path(), &["results", &run_id, "--json"]);
    assert!(out.status.success());
    let records: Vec<Record> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.status(), Status::Done);
        assert_eq!(r.egress_ip.as_deref(), Some(STUB_EGRESS_IP));
        assert_eq!(r.run_id, run_id);
    }
    let statuses: Vec<Option<u16>> = records.iter().map(|r| r.http_status).collect();
    assert!(statuses.contains(&Some(200)) && statuses.contains(&Some(404)));

    let out = trawl(home.path(), &["runs"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing.contains(&run_id) && listing.contains("2/2"),
        "{listing}"
    );

    let out = trawl(home.path(), &["results", "r-20200101-000000-none"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("trawl runs"));
}

#[test]
fn headless_submit_of_nothing_valid_fails_clearly() {
    let home = tempfile::tempdir().unwrap();
    let urls = home.path().join("urls.txt");
    std::fs::write(&urls, "ftp://example.com/\n").unwrap();
    let out = trawl(home.path(), &["submit", urls.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("holds no valid URL"), "{stderr}");
}

/// Pastes `urls` (all valid, distinct) into the editor and submits them.
fn paste_and_submit(t: &Tmux, urls: &[String]) {
    t.paste(&(urls.join("\n") + "\n"));
    t.wait_for(&format!("{} valid", urls.len()), Duration::from_secs(5));
    submit(t, urls.len());
}

/// Ctrl-S, the confirm dialog with the count, y.
fn submit(t: &Tmux, count: usize) {
    t.keys(&["C-s"]);
    t.wait_for(&format!("Submit {count} URLs"), Duration::from_secs(5));
    t.keys(&["y"]);
}

/// `stty -a` of the pane after trawl left: echo and icanon are back on.
fn assert_terminal_sane(stty: &Path) {
    let text = std::fs::read_to_string(stty).expect("stty output");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert!(words.contains(&"echo"), "{text}");
    assert!(words.contains(&"icanon"), "{text}");
}

#[test]
fn tmux_paste_submit_watch_detail_quit() {
    if !tmux_available() {
        return;
    }
    let server = HostileServer::start_plain().unwrap();
    let home = tempfile::tempdir().unwrap();
    let stty = home.path().join("stty.txt");
    let command = format!(
        "{} ; stty -a > {}",
        workspace_bin("trawl").display(),
        stty.display()
    );
    let t = Tmux::start(&command, &trawl_env(home.path()), 200, 50);
    t.wait_for("URLs", Duration::from_secs(10));
    let urls = [
        server.url("/page"),
        server.url("/status/404"),
        server.url("/fixture/miner.html"),
    ];
    t.paste(&format!(
        "{}\nnot a url\n{}\n{}\n{}\n",
        urls[0], urls[1], urls[0], urls[2]
    ));
    t.wait_for("3 valid", Duration::from_secs(5));
    let screen = t.screen();
    assert!(
        screen.contains("1 invalid") && screen.contains("1 duplicate"),
        "{screen}"
    );

    submit(&t, 3);
    t.wait_for("3/3", Duration::from_secs(30));
    let screen = t.screen();
    assert!(screen.contains("DONE"), "{screen}");
    assert!(
        screen.contains("malicious") || screen.contains("suspicious"),
        "{screen}"
    );

    // The detail view of the selected row.
    t.keys(&["Enter"]);
    t.wait_for("BODY PREVIEW", Duration::from_secs(5));
    t.keys(&["Escape"]);
    t.keys(&["q"]);
    t.wait_until(Duration::from_secs(10), |_| t.pane_dead())
        .expect("trawl quit");
    assert_terminal_sane(&stty);
}

#[test]
fn tmux_sigterm_restores_the_terminal_and_the_run_is_there_after_restart() {
    if !tmux_available() {
        return;
    }
    let server = HostileServer::start_plain().unwrap();
    let home = tempfile::tempdir().unwrap();
    let stty = home.path().join("stty.txt");
    let bin = workspace_bin("trawl");
    let command = format!("{} ; stty -a > {}", bin.display(), stty.display());
    let t = Tmux::start(&command, &trawl_env(home.path()), 200, 50);
    t.wait_for("URLs", Duration::from_secs(10));
    // Slow pages: the run is still going when trawl is stopped.
    let slow: Vec<String> = (0..3)
        .map(|i| server.url(&format!("/drip?n={i}")))
        .collect();
    paste_and_submit(&t, &slow);
    t.wait_for("RUNNING", Duration::from_secs(10));

    let trawl_pid = child_pid(t.pane_pid()).expect("trawl runs in the pane's shell");
    let killed = safe_command("kill")
        .args(["-TERM", &trawl_pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    t.wait_until(Duration::from_secs(10), |_| t.pane_dead())
        .expect("the shell ends after trawl");
    assert_terminal_sane(&stty);
    drop(t);

    // Restart: the run is listed; attaching shows its URLs, now interrupted.
    let t = Tmux::start(&bin.display().to_string(), &trawl_env(home.path()), 200, 50);
    t.wait_for("URLs", Duration::from_secs(10));
    t.keys(&["Escape", "r"]);
    t.wait_for("r-", Duration::from_secs(5));
    t.keys(&["Enter"]);
    let screen = t.wait_for("interrupted", Duration::from_secs(10));
    assert!(screen.contains("FAILED"), "{screen}");
    t.keys(&["q"]);
}

/// The first child process of `pid` (trawl under the pane's shell).
fn child_pid(pid: u32) -> Option<u32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    children.split_whitespace().next()?.parse().ok()
}

#[test]
fn tmux_cancel_marks_unfinished_urls_cancelled() {
    if !tmux_available() {
        return;
    }
    let server = HostileServer::start_plain().unwrap();
    let home = tempfile::tempdir().unwrap();
    let t = Tmux::start(
        &workspace_bin("trawl").display().to_string(),
        &trawl_env(home.path()),
        200,
        50,
    );
    t.wait_for("URLs", Duration::from_secs(10));
    let slow: Vec<String> = (0..2)
        .map(|i| server.url(&format!("/drip?n={i}")))
        .collect();
    paste_and_submit(&t, &slow);
    t.wait_for("RUNNING", Duration::from_secs(10));
    t.keys(&["x"]);
    t.wait_for("Cancel run", Duration::from_secs(5));
    t.keys(&["y"]);
    let screen = t.wait_for("2/2", Duration::from_secs(10));
    assert!(screen.contains("FAILED"), "{screen}");
    // The records say why.
    let out = trawl(home.path(), &["runs"]);
    let listing = String::from_utf8_lossy(&out.stdout).to_string();
    let run_id = listing
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_owned();
    let out = trawl(home.path(), &["results", &run_id, "--json"]);
    let records: Vec<Record> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert_eq!(r.status(), Status::Failed);
        assert!(
            r.error.as_deref().unwrap().starts_with("cancelled:"),
            "{:?}",
            r.error
        );
    }
    t.keys(&["q"]);
}

#[test]
fn detached_submit_runs_in_the_background_and_init_writes_the_config() {
    let server = HostileServer::start_plain().unwrap();
    let home = tempfile::tempdir().unwrap();
    let urls = home.path().join("urls.txt");
    std::fs::write(
        &urls,
        format!("{}\n{}\n", server.url("/page"), server.url("/status/500")),
    )
    .unwrap();
    let out = trawl(home.path(), &["submit", "--detach", urls.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let records = loop {
        let out = trawl(home.path(), &["results", &run_id, "--json"]);
        let records: Vec<Record> = serde_json::from_slice(&out.stdout).unwrap_or_default();
        if records.len() == 2 && records.iter().all(|r| r.status().is_final()) {
            break records;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the detached run did not finish: {records:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(records.iter().all(|r| r.status() == Status::Done));

    let tf = home.path().join("tf.json");
    std::fs::write(
        &tf,
        r#"{"region": {"value": "us-east-1"}, "bucket": {"value": "b"}, "table": {"value": "t"},
        "ecs_cluster": {"value": "trawl"}, "ecs_task_definition": {"value": "trawl-scraper"},
        "ecs_subnets": {"value": ["subnet-1"]}, "ecs_security_groups": {"value": ["sg-1"]}}"#,
    )
    .unwrap();
    let out = trawl(
        home.path(),
        &["init", "--terraform-output", tf.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(home.path().join("config/trawl/config.toml")).unwrap();
    assert!(
        written.contains("bucket = \"b\"") && written.contains("subnet-1"),
        "{written}"
    );
}

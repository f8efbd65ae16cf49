//! Frames the real `trawl` draws while idle: started in tmux, left alone
//! for 10 s with no input and no run, its frame log is counted (goal: 0).
//! Prints the figure. Run with `scripts/bench` (needs tmux).

use std::time::Duration;
use trawl_tests::tmux::Tmux;

fn drawn(log: &std::path::Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("\"drew\""))
        .count()
}

fn main() {
    let home = tempfile::tempdir().unwrap();
    let env: Vec<(String, String)> = [
        ("XDG_DATA_HOME", home.path().join("data")),
        ("XDG_STATE_HOME", home.path().join("state")),
        ("XDG_CONFIG_HOME", home.path().join("config")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.display().to_string()))
    .chain([("TRAWL_LOG".to_owned(), "trawl=trace".to_owned())])
    .collect();
    let bin = trawl_tests::env::workspace_bin("trawl");
    let t = Tmux::start(&bin.display().to_string(), &env, 200, 50);
    t.wait_for("URLs", Duration::from_secs(10));
    std::thread::sleep(Duration::from_secs(1));
    let log = home.path().join("state/trawl/trawl.log");
    let before = drawn(&log);
    std::thread::sleep(Duration::from_secs(10));
    let after = drawn(&log);
    t.keys(&["Escape", "q"]);
    println!(
        "idle: {} frames drawn in 10 s with no input and no run ({} at start-up)",
        after - before,
        before
    );
}

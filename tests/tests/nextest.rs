//! The test command cannot hang: the project's nextest profile
//! (`.config/nextest.toml`) kills a stuck test and reports it by name. The
//! profile is run as it is on a fixture crate with one hung test, with only
//! its period shortened (from a minute to a second) so the check takes
//! seconds, not the five minutes a real stuck test gets.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()
}

#[test]
fn a_hung_test_is_killed_by_the_profile_and_named() {
    let config = std::fs::read_to_string(root().join(".config/nextest.toml")).unwrap();
    let line = config
        .lines()
        .find(|l| l.starts_with("slow-timeout"))
        .expect("the default profile has a slow-timeout");
    assert!(
        line.contains("period = \"60s\"") && line.contains("terminate-after = 5"),
        "{line}"
    );
    let quick = config.replace("period = \"60s\"", "period = \"1s\"");
    let dir = tempfile::tempdir().unwrap();
    let config_file = dir.path().join("nextest.toml");
    std::fs::write(&config_file, quick).unwrap();

    let started = Instant::now();
    let out = Command::new("cargo")
        .args([
            "nextest",
            "run",
            "--offline",
            "--no-fail-fast",
            "--manifest-path",
        ])
        .arg(root().join("tests/fixtures/hung-test/Cargo.toml"))
        .arg("--config-file")
        .arg(&config_file)
        .env("CARGO_TARGET_DIR", dir.path().join("target"))
        .env_remove("NEXTEST_PROFILE")
        .output()
        .expect("cargo nextest (scripts/test installs it)");
    let took = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "the hung test must fail the run: {stderr}"
    );
    let timed_out = stderr
        .lines()
        .find(|l| l.contains("TIMEOUT"))
        .unwrap_or_else(|| panic!("no TIMEOUT line: {stderr}"));
    assert!(timed_out.contains("hangs_on_purpose"), "{timed_out}");
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("PASS") && l.contains("finishes")),
        "the other test still runs: {stderr}"
    );
    // Five periods of a second, the grace period, and the fixture's build.
    assert!(took < Duration::from_secs(120), "{took:?}");
    eprintln!("hung test killed and named in {took:?}");
}

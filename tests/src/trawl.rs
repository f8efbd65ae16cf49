//! Runs the `trawl` binary under test: its own XDG folders under a
//! temporary home (config, data, state), loopback allowed for its workers,
//! and the safe environment of every test process.

use crate::env::{safe_command, workspace_bin};
use std::path::Path;

/// The environment a trawl under test gets.
pub fn trawl_env(home: &Path) -> Vec<(String, String)> {
    [
        ("XDG_DATA_HOME", home.join("data")),
        ("XDG_STATE_HOME", home.join("state")),
        ("XDG_CONFIG_HOME", home.join("config")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.display().to_string()))
    .chain([
        ("TRAWL_ALLOW_CIDRS".to_owned(), "127.0.0.1/32".to_owned()),
        ("TRAWL_TIMEOUT_SECS".to_owned(), "20".to_owned()),
    ])
    .collect()
}

/// Writes `home`'s trawl config (`$XDG_CONFIG_HOME/trawl/config.toml`).
pub fn write_config(home: &Path, toml: &str) {
    let dir = home.join("config/trawl");
    std::fs::create_dir_all(&dir).expect("config folder");
    std::fs::write(dir.join("config.toml"), toml).expect("write config");
}

/// Runs `trawl ARGS` to the end with `home`'s environment plus `extra`.
pub fn trawl(home: &Path, args: &[&str], extra: &[(String, String)]) -> std::process::Output {
    safe_command(workspace_bin("trawl"))
        .envs(trawl_env(home))
        .envs(extra.iter().cloned())
        .args(args)
        .output()
        .expect("run trawl")
}

/// Whether tmux can run here; a loud skip otherwise.
pub fn tmux_available() -> bool {
    let ok = safe_command("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("\n*** SKIPPED: tmux is not installed (scripts/test installs it) ***\n");
    }
    ok
}

/// EKS settings for tests and benchmarks: namespace `trawl`, the default
/// pod settings, table `trawl-results` and bucket `trawl-content`.
pub fn eks_settings() -> trawl::targets::eks::EksSettings {
    trawl::targets::eks::EksSettings::new(
        "trawl",
        "trawl-scraper:test",
        "trawl-results",
        "trawl-content",
        "us-east-1",
    )
}

/// A kube client of the cluster a kubeconfig file names (the simulator's).
pub async fn kube_client(kubeconfig: &Path) -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig).expect("a kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("a kube config");
    kube::Client::try_from(config).expect("a kube client")
}

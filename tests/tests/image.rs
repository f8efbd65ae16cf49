//! The worker image that scripts/test builds with scraper/build-image.sh
//! (TRAWL_IMAGE_REF, TRAWL_STATIC_BIN): its user, entrypoint, size and
//! contents, and the static binary itself run against a loopback page
//! (containers cannot run in this sandbox, so the binary is run directly).

use std::path::PathBuf;
use std::process::Command;
use trawl_scraper::record::Status;
use trawl_tests::hostile::HostileServer;
use trawl_tests::worker::{WorkerRun, stored_record, test_run_id};

const MAX_IMAGE_BYTES: u64 = 25 * 1024 * 1024;

fn built(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            eprintln!(
                "\n*** SKIPPED: {var} is not set; scripts/test builds the image and sets it ***\n"
            );
            None
        }
    }
}

fn buildah(args: &[&str]) -> String {
    let out = Command::new("buildah")
        .arg("--storage-driver")
        .arg("vfs")
        .args(args)
        .output()
        .expect("run buildah");
    assert!(
        out.status.success(),
        "buildah {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn image_runs_the_static_worker_as_a_non_root_user_and_holds_nothing_else() {
    let Some(image) = built("TRAWL_IMAGE_REF") else {
        return;
    };
    let inspect: serde_json::Value =
        serde_json::from_str(&buildah(&["inspect", "--type", "image", &image])).unwrap();
    let config = &inspect["OCIv1"]["config"];
    assert_eq!(config["User"], "65532:65532");
    assert_eq!(config["Entrypoint"], serde_json::json!(["/trawl-scraper"]));
    assert!(
        config["Env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "TRAWL_SINK=aws")
    );

    let container = buildah(&["from", &image]).trim().to_owned();
    let root = PathBuf::from(buildah(&["mount", &container]).trim());
    let mut files = Vec::new();
    let mut total = 0;
    for entry in walk(&root) {
        let meta = std::fs::symlink_metadata(&entry).unwrap();
        if meta.is_file() {
            total += meta.len();
            files.push(entry.strip_prefix(&root).unwrap().display().to_string());
        }
    }
    buildah(&["umount", &container]);
    buildah(&["rm", &container]);
    files.sort();
    assert!(files.contains(&"trawl-scraper".to_owned()), "{files:?}");
    let others: Vec<&String> = files
        .iter()
        .filter(|f| *f != "trawl-scraper" && !(f.starts_with("rules/") && f.ends_with(".yar")))
        .collect();
    assert!(
        others.is_empty(),
        "unexpected files in the image: {others:?}"
    );
    assert!(total < MAX_IMAGE_BYTES, "image content is {total} bytes");
    eprintln!(
        "image: {} files, {:.1} MiB",
        files.len(),
        total as f64 / 1048576.0
    );
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_static_binary_is_self_contained_and_works() {
    let Some(bin) = built("TRAWL_STATIC_BIN") else {
        return;
    };
    let ldd = Command::new("ldd").arg(&bin).output().unwrap();
    let text =
        String::from_utf8_lossy(&ldd.stdout).to_string() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(!text.contains("=>"), "dynamically linked: {text}");

    let server = HostileServer::start_plain().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run_id = test_run_id();
    let url = server.url("/page");
    let result = WorkerRun::local(&url, &run_id, out.path()).run_binary(bin.as_ref());
    assert!(result.success(), "{}", result.stderr);
    let r = stored_record(out.path(), &run_id, &url).unwrap();
    assert_eq!(r.status(), Status::Done, "{:?}", r.error);
    assert!(r.verdict.is_some());
}

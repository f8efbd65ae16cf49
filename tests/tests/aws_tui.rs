//! `trawl` on the AWS results store, end to end against moto: the screen
//! (in tmux) attaches to an EKS run, follows it as workers (the real binary,
//! aws sink) finish, shows the stored body and copies its presigned URL,
//! shows the Elastic IP pool and flags egress IPs outside it, says what to
//! do when AWS refuses or throttles, and shows the same table after a
//! restart; `trawl runs` and `trawl results` read the same store.

use std::path::Path;
use std::time::Duration;
use trawl::store::aws::AwsStore;
use trawl_scraper::record::{Record, RunItem, Status, Target, new_run_id, now};
use trawl_tests::env::{STUB_EGRESS_IP, workspace_bin};
use trawl_tests::fault_proxy::{Fault, FaultProxy, Rule, When};
use trawl_tests::hostile::HostileServer;
use trawl_tests::moto::Moto;
use trawl_tests::tmux::Tmux;
use trawl_tests::trawl::{tmux_available, trawl, trawl_env, write_config};
use trawl_tests::worker::WorkerRun;

const TABLE: &str = "trawl-results";
const BUCKET: &str = "trawl-content";
const POOL_TAG: &str = "trawl:pool=default";

/// Moto with the table, the bucket and a pool of 3 EIPs (1 associated),
/// an EKS run of 12 loopback URLs, and 6 of them done by real workers.
struct Setup {
    moto: Moto,
    server: HostileServer,
    run: RunItem,
    urls: Vec<String>,
    home: tempfile::TempDir,
}

impl Setup {
    fn new(rt: &tokio::runtime::Runtime) -> Setup {
        let moto = Moto::start().unwrap();
        let server = HostileServer::start_plain().unwrap();
        let (run, urls) = rt.block_on(async {
            moto.create_bucket(BUCKET).await.unwrap();
            moto.create_results_table(TABLE).await.unwrap();
            moto.create_eip_pool(POOL_TAG, 3, 1).await.unwrap();
            let store = AwsStore::new(&moto.sdk_config().await, TABLE);
            let run = RunItem::new(
                &new_run_id(time::OffsetDateTime::now_utc()),
                Target::Eks,
                12,
                now(),
            );
            let urls: Vec<String> = (0..12)
                .map(|i| server.url(&format!("/page?u={i:02}")))
                .collect();
            store.create_run(&run, &urls).await.unwrap();
            (run, urls)
        });
        let home = tempfile::tempdir().unwrap();
        let setup = Setup {
            moto,
            server,
            run,
            urls,
            home,
        };
        for url in &setup.urls[..6] {
            setup.finish(url);
        }
        setup
    }

    /// A real worker (aws sink) scrapes `url` for the run, as a pod on an
    /// EKS node would.
    fn finish(&self, url: &str) {
        let result = WorkerRun::aws(url, &self.run.run_id, &self.moto, BUCKET, TABLE)
            .env("TRAWL_NODE_NAME", "ip-10-0-1-5.ec2.internal")
            .run();
        assert!(result.success(), "{}", result.stderr);
    }

    /// The config `trawl init` would write, pointing at `endpoint` (moto,
    /// or the fault proxy in front of it).
    fn trawl_env(&self, endpoint: &str) -> Vec<(String, String)> {
        write_config(
            self.home.path(),
            &format!(
                "region = \"us-east-1\"\ntable = \"{TABLE}\"\nbucket = \"{BUCKET}\"\npoll_interval_secs = 1\n\n[pool]\ntag = \"{POOL_TAG}\"\n"
            ),
        );
        let mut env = trawl_env(self.home.path());
        env.push(("AWS_ENDPOINT_URL".into(), endpoint.to_owned()));
        env
    }
}

/// The results table's rows on the screen: lines with the run's URLs.
fn result_rows(screen: &str, base: &str) -> Vec<String> {
    screen
        .lines()
        .filter(|l| l.contains(base))
        .map(|l| l.trim_end().to_owned())
        .collect()
}

/// From the editor: Escape, the runs list, the first (newest) run.
fn attach_newest(t: &Tmux, run_id: &str) {
    t.keys(&["Escape", "r"]);
    t.wait_for(run_id, Duration::from_secs(10));
    t.keys(&["Enter"]);
}

fn start_trawl(env: &[(String, String)]) -> Tmux {
    let t = Tmux::start(&workspace_bin("trawl").display().to_string(), env, 200, 50);
    t.wait_for("URLs", Duration::from_secs(10));
    t
}

#[test]
fn the_screen_follows_an_eks_run_in_dynamodb_and_shows_the_same_table_after_a_restart() {
    if !tmux_available() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = Setup::new(&rt);
    let env = s.trawl_env(&s.moto.endpoint());
    let base = s.server.base_url();

    let t = start_trawl(&env);
    t.keys(&["Escape", "r"]);
    // The runs list reads the runs index, with counts by status.
    let listing = t.wait_for(&s.run.run_id, Duration::from_secs(10));
    assert!(listing.contains("6/12"), "{listing}");
    t.keys(&["Enter"]);
    let screen = t.wait_for("6 done", Duration::from_secs(15));
    assert!(screen.contains("6 queued"), "{screen}");
    assert_eq!(result_rows(&screen, &base).len(), 12, "{screen}");

    // Workers finish three more: the next polls bring exactly those.
    for url in &s.urls[6..9] {
        s.finish(url);
    }
    t.wait_for("9 done", Duration::from_secs(15));

    // The pool: 3 EIPs, 1 associated; the workers' egress IP is not one of
    // them, so their URLs are flagged.
    t.keys(&["e"]);
    let pool = t.wait_for("3 EIPs", Duration::from_secs(15));
    assert!(
        pool.contains("1 associated") && pool.contains("2 free"),
        "{pool}"
    );
    assert!(
        pool.contains("9 URLs left from 1 IPs outside the pool") && pool.contains(STUB_EGRESS_IP),
        "{pool}"
    );
    t.keys(&["Escape"]);

    // The detail of a finished URL shows its body from S3; p copies a
    // presigned URL.
    t.keys(&["/"]);
    t.keys(&["/page?u=03", "Enter", "Enter"]);
    let detail = t.wait_for("hello", Duration::from_secs(15));
    assert!(detail.contains("trawl test page"), "{detail}");
    t.keys(&["p"]);
    t.wait_for("copied a presigned URL", Duration::from_secs(15));
    t.keys(&["Escape", "/"]);
    t.keys(&["BSpace"; 12]);
    t.keys(&["Enter"]);
    let before = t
        .wait_until(Duration::from_secs(10), |screen| {
            result_rows(screen, &base).len() == 12
        })
        .expect("all 12 rows again");
    let before = result_rows(&before, &base);
    t.keys(&["q"]);
    t.wait_until(Duration::from_secs(10), |_| t.pane_dead())
        .expect("trawl quits");
    drop(t);

    // Restart and reattach: the same table.
    let t = start_trawl(&env);
    attach_newest(&t, &s.run.run_id);
    let after = t
        .wait_until(Duration::from_secs(15), |screen| {
            screen.contains("9 done") && result_rows(screen, &base).len() == 12
        })
        .expect("the run again");
    let after = result_rows(&after, &base);
    assert_eq!(before, after);
    t.keys(&["q"]);

    // The headless commands read the same store.
    let endpoint = [("AWS_ENDPOINT_URL".to_owned(), s.moto.endpoint())];
    let out = trawl(s.home.path(), &["runs"], &endpoint);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        listing.contains(&s.run.run_id) && listing.contains("eks") && listing.contains("9/12"),
        "{listing}"
    );
    let out = trawl(
        s.home.path(),
        &["results", &s.run.run_id, "--json"],
        &endpoint,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records: Vec<Record> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records.len(), 12);
    assert_eq!(
        records
            .iter()
            .filter(|r| r.status() == Status::Done)
            .count(),
        9
    );
    assert!(
        records
            .iter()
            .filter(|r| r.status() == Status::Done)
            .all(|r| r.egress_ip.as_deref() == Some(STUB_EGRESS_IP))
    );
}

#[test]
fn access_denied_and_throttling_show_what_to_do_and_clear_when_aws_answers() {
    if !tmux_available() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = Setup::new(&rt);
    let proxy = FaultProxy::start(&s.moto.endpoint()).unwrap();
    let env = s.trawl_env(&proxy.endpoint());
    let t = start_trawl(&env);
    attach_newest(&t, &s.run.run_id);
    t.wait_for("6 done", Duration::from_secs(15));

    // The polls are refused: one line says why and what to do; the program
    // goes on and keeps trying.
    proxy.add(Rule::new("Query", Fault::AccessDenied, When::Always));
    let screen = t.wait_for("access denied polling records", Duration::from_secs(15));
    assert!(screen.contains("dynamodb:Query"), "{screen}");
    proxy.clear();
    t.wait_until(Duration::from_secs(15), |screen| {
        !screen.contains("access denied")
    })
    .expect("the problem clears once AWS answers");

    // Throttled beyond the SDK's retries: polls slow down, and say so.
    proxy.add(Rule::new("Query", Fault::Throttling, When::Always));
    let screen = t.wait_for("polling every", Duration::from_secs(30));
    assert!(
        screen.contains("AWS is throttling polling records"),
        "{screen}"
    );
    proxy.clear();
    s.finish(&s.urls[6]);
    t.wait_for("7 done", Duration::from_secs(40));
    t.wait_until(Duration::from_secs(10), |screen| {
        !screen.contains("throttling")
    })
    .expect("the throttling line clears");
    t.keys(&["q"]);
}

#[test]
fn retain_days_sets_the_ttl_and_expired_local_runs_are_deleted() {
    let server = HostileServer::start_plain().unwrap();
    let home = tempfile::tempdir().unwrap();
    let urls = home.path().join("urls.txt");
    std::fs::write(&urls, format!("{}\n", server.url("/page"))).unwrap();
    let out = trawl(
        home.path(),
        &["submit", "--retain-days", "3", urls.to_str().unwrap()],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run_id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let run_dir = home.path().join("data/trawl/runs").join(&run_id);
    let run: RunItem =
        serde_json::from_slice(&std::fs::read(run_dir.join("run.json")).unwrap()).unwrap();
    let in_three_days = time::OffsetDateTime::now_utc().unix_timestamp() + 3 * 86_400;
    let ttl = run.expires_at.expect("a TTL");
    assert!((ttl - in_three_days).abs() < 60, "{ttl} vs {in_three_days}");
    let out = trawl(home.path(), &["results", &run_id, "--json"], &[]);
    let records: Vec<Record> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(records[0].status(), Status::Done);
    assert_eq!(records[0].expires_at, Some(ttl), "the worker keeps the TTL");

    let out = trawl(home.path(), &["submit", "--retain-days", "0", "-"], &[]);
    assert_eq!(out.status.code(), Some(2), "0 days is refused");

    // Past its retention, the run is deleted the next time trawl looks.
    expire(&run_dir);
    let out = trawl(home.path(), &["runs"], &[]);
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&run_id));
    assert!(!run_dir.exists(), "the expired run's folder is gone");
}

/// Moves a local run's TTL into the past.
fn expire(run_dir: &Path) {
    let path = run_dir.join("run.json");
    let mut run: RunItem = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    run.expires_at = Some(time::OffsetDateTime::now_utc().unix_timestamp() - 1);
    std::fs::write(&path, serde_json::to_vec(&run).unwrap()).unwrap();
}

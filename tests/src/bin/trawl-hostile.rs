//! Runs the hostile web server standalone (e.g. inside a network namespace).
//!
//! `trawl-hostile --bind IP --port N [--tls-ca-dir DIR] [--lifetime-secs S]`
//! prints `listening http(s)://IP:PORT` once it accepts connections and
//! serves until it is killed or its lifetime (default 120 s) ends.

use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use trawl_tests::hostile::{HostileServer, Options};
use trawl_tests::tls::TestCa;

#[derive(Parser, Debug)]
#[command(
    name = "trawl-hostile",
    about = "The hostile web server of trawl's tests"
)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value_t = IpAddr::V4(Ipv4Addr::LOCALHOST))]
    bind: IpAddr,
    /// Port to listen on (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Serve TLS: create a test CA, write DIR/ca.pem and use a leaf
    /// certificate for the bind IP (and "localhost") signed by it.
    #[arg(long, value_name = "DIR")]
    tls_ca_dir: Option<PathBuf>,
    /// Stop by itself after this many seconds.
    #[arg(long, default_value_t = 120)]
    lifetime_secs: u64,
    /// The body of /checkip.
    #[arg(long)]
    checkip_answer: Option<String>,
    /// Print `request TARGET` on stdout for every request (so a test can
    /// tell that a server in a network namespace was never asked).
    #[arg(long)]
    log_requests: bool,
    /// Where /fixture/NAME reads from.
    #[arg(long, value_name = "DIR")]
    fixtures_dir: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let mut opts = Options {
        bind: args.bind,
        port: args.port,
        lifetime: Duration::from_secs(args.lifetime_secs),
        ..Options::default()
    };
    if let Some(answer) = args.checkip_answer {
        opts.checkip_answer = answer;
    }
    if let Some(dir) = args.fixtures_dir {
        opts.fixtures_dir = dir;
    }
    if let Some(dir) = &args.tls_ca_dir {
        let ca = TestCa::new()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        ca.write_ca_file(dir)?;
        opts.tls = Some(ca.server_config(&["localhost"], &[args.bind])?);
    }
    let server = HostileServer::start(opts)?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening {}", server.base_url())?;
    stdout.flush()?;
    if !args.log_requests {
        drop(stdout);
        server.wait();
        return Ok(());
    }
    // Poll the request log until the lifetime ends (bounded).
    let end = std::time::Instant::now() + Duration::from_secs(args.lifetime_secs);
    let mut printed = 0;
    while std::time::Instant::now() < end {
        let seen = server.requests();
        for target in &seen[printed..] {
            writeln!(stdout, "request {target}")?;
        }
        stdout.flush()?;
        printed = seen.len();
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

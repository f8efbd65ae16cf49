//! The cluster simulator as a program, to try trawl (or kubectl) against it
//! by hand: `trawl-sim --port N --kubeconfig FILE [--eip-pool N]
//! [--node-delay-ms N]`. Writes a kubeconfig that points at itself and
//! serves until SIGINT or SIGTERM. Pods run the `trawl-scraper` next to this
//! binary (or TRAWL_BIN_TRAWL_SCRAPER) with the environment their Job gives
//! them (the sink included) plus this process's AWS_* variables.

use clap::Parser;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;
use trawl_tests::sim::{Sim, SimOptions};

#[derive(Parser, Debug)]
#[command(
    name = "trawl-sim",
    about = "A simulated EKS cluster with Karpenter on 127.0.0.1"
)]
struct Args {
    /// API port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Where to write the kubeconfig.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// Elastic IPs in the pool (198.51.100.10, .11, ...); nodes beyond it
    /// get an ephemeral fallback IP.
    #[arg(long, default_value_t = 2)]
    eip_pool: u8,
    /// NodeClaim -> Node delay.
    #[arg(long, default_value_t = 2000)]
    node_delay_ms: u64,
    /// How long an empty node lives before Karpenter removes it.
    #[arg(long, default_value_t = 30_000)]
    consolidation_ms: u64,
    /// Pods per node.
    #[arg(long, default_value_t = 8)]
    pods_per_node: usize,
    /// Karpenter's node limit.
    #[arg(long, default_value_t = 10)]
    max_nodes: usize,
    /// Worker processes at once.
    #[arg(long, default_value_t = 16)]
    max_running: usize,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let pod_env: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    let worker_bin = std::env::var_os("TRAWL_BIN_TRAWL_SCRAPER")
        .map(PathBuf::from)
        .or_else(|| {
            let exe = std::env::current_exe().ok()?;
            Some(exe.parent()?.join("trawl-scraper"))
        });
    let sim = Sim::start(SimOptions {
        port: args.port,
        kubeconfig: Some(args.kubeconfig.clone()),
        eip_pool: (0..args.eip_pool)
            .map(|i| Ipv4Addr::new(198, 51, 100, 10u8.saturating_add(i)))
            .collect(),
        node_delay: Duration::from_millis(args.node_delay_ms),
        consolidation_delay: Duration::from_millis(args.consolidation_ms),
        pods_per_node: args.pods_per_node,
        max_nodes: args.max_nodes,
        max_running: args.max_running,
        pod_env,
        worker_bin,
        ..SimOptions::default()
    })?;
    eprintln!(
        "trawl-sim: serving {} (kubeconfig {}); stop with Ctrl-C",
        sim.url(),
        args.kubeconfig.display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        anyhow::Ok(())
    })?;
    eprintln!("trawl-sim: stopping");
    drop(sim);
    Ok(())
}

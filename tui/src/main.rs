//! `trawl`: the TUI, or a headless command (see `cli`).

use clap::Parser;
use std::process::ExitCode;
use trawl::cli::{self, Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Worker(args)) = cli.command {
        // The worker logs JSON to stderr (the local target sends it to the log file).
        return trawl_scraper::worker::main_with(*args);
    }
    init_logging();
    match &cli.command {
        None => match trawl::app::run(&cli) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("trawl: {e:#}");
                ExitCode::from(1)
            }
        },
        Some(Command::Submit {
            file,
            target,
            detach,
        }) => cli::submit(&cli, file, *target, *detach),
        Some(Command::Runs) => cli::runs(&cli),
        Some(Command::Results { run, json, csv }) => cli::results(&cli, run, *json, *csv),
        Some(Command::Init { terraform_output }) => cli::init(&cli, terraform_output),
        Some(Command::Resume { run }) => cli::resume(&cli, run),
        Some(Command::Worker(_)) => unreachable!("handled above"),
    }
}

/// Logs go to the log file, never to the screen.
fn init_logging() {
    let path = trawl::paths::log_file();
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let Ok(file) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    else {
        return;
    };
    let _ = tracing_subscriber::fmt()
        .json()
        .with_writer(std::sync::Mutex::new(file))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TRAWL_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .try_init();
}

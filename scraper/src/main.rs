//! `trawl-scraper`: the worker binary (see `worker::main_with`).

use clap::Parser;
use std::process::ExitCode;
use trawl_scraper::config::WorkerArgs;

fn main() -> ExitCode {
    trawl_scraper::worker::main_with(WorkerArgs::parse())
}

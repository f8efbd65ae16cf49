//! trawl, the operator's terminal program. `model` holds the state and its
//! pure update; `ui` draws it; `targets` and `store` do the work and report
//! back as actions; `app` runs the loop; `cli` the headless commands.

pub mod app;
pub mod aws;
pub mod backoff;
pub mod cli;
pub mod config;
pub mod model;
pub mod paths;
pub mod store;
pub mod targets;
pub mod terminal;
pub mod ui;
pub mod urls;

//! trawl, the operator's terminal program. `model` holds the state and its
//! pure update; `ui` draws it; `targets` and `store` do the work and report
//! back as actions; `app` runs the loop; `cli` the headless commands.

pub mod model;
pub mod ui;
pub mod urls;

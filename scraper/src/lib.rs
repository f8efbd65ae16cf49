//! trawl's worker: fetches one URL as if the site were hostile, analyses the
//! content without running it, and writes one record (DESIGN.md "Worker
//! contract").

pub mod analysis;
pub mod config;
pub mod error_text;
pub mod fetch;
pub mod guard;
pub mod record;
pub mod sink;
pub mod worker;

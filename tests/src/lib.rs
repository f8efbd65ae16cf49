//! The harness every end-to-end test of trawl uses: a safe environment for
//! every process, a moto server, a hostile web server, a test CA, and a way
//! to run the worker binary.

pub mod env;
pub mod fargate;
pub mod fault_proxy;
pub mod figures;
pub mod follow;
pub mod hostile;
pub mod moto;
pub mod sim;
pub mod tls;
pub mod tmux;
pub mod trawl;
pub mod worker;

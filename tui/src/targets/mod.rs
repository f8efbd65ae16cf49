//! Where URLs run. Each target launches a run's URLs and reports progress
//! as Actions; the local target is built in, EKS and ECS join with their
//! own issues.

pub mod local;

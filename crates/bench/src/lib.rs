//! Benchmarks of Rampart's hot paths against named peers, kept out of the server's build.
//!
//! Workload generators live here; the criterion benches live in `benches/`.

pub mod rbac_workload;

//! `rampart serve` as a process: it becomes ready, writes its env file, and stops on SIGTERM.

mod common;

use common::Rampart;

#[test]
fn serve_becomes_ready_and_stops_cleanly_on_sigterm() {
    let mut rampart = Rampart::start();
    assert!(rampart.data_dir.join("env").is_file(), "the env file is written when ready");
    assert!(rampart.banner.iter().any(|line| line.contains(". ") && line.contains("env")), "{:?}", rampart.banner);
    assert_eq!(rampart.stop(), Some(0), "SIGTERM ends rampart serve with exit code 0");
}

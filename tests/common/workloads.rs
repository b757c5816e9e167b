//! Helpers the `workloads_*` end-to-end files share (`use common::workloads::*`, which brings
//! `kubectl`'s and the harness's with it): waiting for the simulated cluster to get somewhere,
//! and reading what kubectl says about it.

pub use super::kubectl::*;

use std::time::{Duration, Instant};

/// Calls `attempt` until it returns `Some`, for up to `seconds`; panics naming `what`.
pub fn eventually<T>(seconds: u64, what: &str, mut attempt: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = attempt() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out after {seconds}s waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `kubectl get <what> -o jsonpath=<path>`'s output.
pub fn jsonpath(rampart: &Rampart, what: &[&str], path: &str) -> String {
    let mut args = vec!["get"];
    args.extend_from_slice(what);
    let expression = format!("jsonpath={path}");
    args.extend(["-o", expression.as_str()]);
    rampart.kubectl(&args).ok().stdout
}

/// The names of the pods a selector picks that are not being deleted.
pub fn live_pods(rampart: &Rampart, selector: &str) -> Vec<serde_json::Value> {
    let list = json(&rampart.kubectl(&["get", "pods", "-l", selector, "-o", "json"]).ok());
    list["items"].as_array().unwrap().iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).cloned().collect()
}

/// Waits until `count` pods of `selector` run (and no other is left), returning them.
pub fn running(rampart: &Rampart, selector: &str, count: usize) -> Vec<serde_json::Value> {
    eventually(60, &format!("{count} running pods {selector}"), || {
        let pods = live_pods(rampart, selector);
        let all_running = pods.iter().all(|p| p["status"]["phase"] == "Running");
        (pods.len() == count && all_running).then_some(pods)
    })
}

/// `kubectl rollout status`, which must finish.
pub fn rolled_out(rampart: &Rampart, deployment: &str) {
    let out = rampart.kubectl(&["rollout", "status", &format!("deployment/{deployment}"), "--timeout=60s"]).ok();
    assert!(out.stdout.ends_with(&format!("deployment \"{deployment}\" successfully rolled out\n")), "{}", out.stdout);
}

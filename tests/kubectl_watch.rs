//! Watches with the real kubectl: `get -w` (Tables per event, `--output-watch-events`,
//! `-o name`), raw watches from a resourceVersion (only later changes), and selectors turning
//! changes into ADDED/DELETED as objects enter or leave them.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::kubectl::*;

/// A background kubectl whose output lines arrive on a channel.
struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Watching {
    fn start(rampart: &Rampart, args: &[&str]) -> Watching {
        let mut command = rampart.command("kubectl");
        command.args(args).stdout(Stdio::piped()).stderr(Stdio::null()).stdin(Stdio::null());
        let mut child = command.spawn().expect("starting kubectl");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watching { child, lines }
    }

    /// Lines until `n` have arrived (or 15 s passed).
    fn take(&self, n: usize) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut out = Vec::new();
        while out.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => out.push(line),
                Err(_) => break,
            }
        }
        out
    }

    /// Whatever else arrives within `wait`.
    fn rest(&self, wait: Duration) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(wait) {
            out.push(line);
        }
        out
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn get_watch_prints_every_change_once() {
    let rampart = Rampart::start();
    rampart.kubectl(&["create", "configmap", "before", "--from-literal=a=b"]).ok();
    let watch = Watching::start(&rampart, &["get", "configmaps", "-w", "--output-watch-events"]);
    // The initial list: header plus the two existing objects.
    let initial = watch.take(3);
    assert_eq!(header(&initial.join("\n")), ["EVENT", "NAME", "DATA", "AGE"], "{initial:?}");
    std::thread::sleep(Duration::from_millis(300));
    rampart.kubectl(&["create", "configmap", "w1", "--from-literal=a=b"]).ok();
    rampart.kubectl(&["label", "configmap", "w1", "x=y"]).ok();
    rampart.kubectl(&["delete", "configmap", "w1"]).ok();
    let changes = watch.take(3);
    let table = rows(&changes.join("\n"));
    let events: Vec<(&str, &str)> = table.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
    assert_eq!(events, [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")], "{changes:?}");
    assert!(watch.rest(Duration::from_millis(500)).is_empty(), "no duplicates of existing objects");
}

#[test]
fn get_watch_names_uses_json_events() {
    let rampart = Rampart::start();
    let watch = Watching::start(&rampart, &["get", "secrets", "-w", "-o", "name"]);
    std::thread::sleep(Duration::from_millis(800));
    rampart.kubectl(&["create", "secret", "generic", "s1", "--from-literal=k=v"]).ok();
    assert_eq!(watch.take(1), ["secret/s1"]);
}

#[test]
fn raw_watches_start_after_their_resource_version_and_follow_selectors() {
    let rampart = Rampart::start();
    rampart.kubectl(&["create", "configmap", "old", "--from-literal=a=b"]).ok();
    let rv = rampart.kubectl(&["get", "configmaps", "-o", "jsonpath={.metadata.resourceVersion}"]).ok().stdout;
    let url = format!(
        "/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&labelSelector=tier%3Dweb&timeoutSeconds=5"
    );
    let watch = Watching::start(&rampart, &["get", "--raw", &url]);
    std::thread::sleep(Duration::from_millis(500));
    rampart.kubectl(&["create", "configmap", "c1", "--from-literal=a=b"]).ok();
    rampart.kubectl(&["label", "configmap", "c1", "tier=web"]).ok();
    rampart.kubectl(&["label", "configmap", "c1", "tier=db", "--overwrite"]).ok();
    let events: Vec<serde_json::Value> =
        watch.take(2).iter().map(|l| serde_json::from_str(l).expect("a JSON event per line")).collect();
    let summary: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["object"]["metadata"]["name"].as_str().unwrap()))
        .collect();
    assert_eq!(summary, [("ADDED", "c1"), ("DELETED", "c1")], "entering then leaving the selector");
    assert_eq!(events[1]["object"]["metadata"]["labels"]["tier"], "db");
    assert!(watch.rest(Duration::from_millis(300)).is_empty());
    // Without a resourceVersion, a watch first sends what exists.
    let all = rampart.kubectl(&["get", "--raw", "/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1"]).ok();
    let names: Vec<String> = all
        .stdout
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["object"]["metadata"]["name"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(names, ["c1", "kube-root-ca.crt", "old"]);
}

#[test]
fn a_watch_from_before_a_restart_is_served_from_the_stores_history() {
    let mut rampart = Rampart::start();
    rampart.kubectl(&["create", "configmap", "kept", "--from-literal=a=b"]).ok();
    let rv = rampart.kubectl(&["get", "configmap", "kept", "-o", "jsonpath={.metadata.resourceVersion}"]).ok().stdout;
    rampart.kubectl(&["label", "configmap", "kept", "x=1"]).ok();
    // The new server's watch window starts empty: everything before it is in the store only.
    rampart.restart();
    rampart.kubectl(&["create", "configmap", "later", "--from-literal=a=b"]).ok();
    rampart.kubectl(&["delete", "configmap", "kept"]).ok();
    let url = format!("/api/v1/namespaces/default/configmaps?watch=1&resourceVersion={rv}&timeoutSeconds=2");
    let out = rampart.kubectl(&["get", "--raw", &url]).ok();
    let events: Vec<serde_json::Value> =
        out.stdout.lines().map(|l| serde_json::from_str(l).expect("a JSON event per line")).collect();
    let summary: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["object"]["metadata"]["name"].as_str().unwrap()))
        .filter(|(_, name)| *name != "kube-root-ca.crt")
        .collect();
    assert_eq!(summary, [("MODIFIED", "kept"), ("ADDED", "later"), ("DELETED", "kept")], "{}", out.stdout);
    assert_eq!(events.iter().find(|e| e["type"] == "MODIFIED").unwrap()["object"]["metadata"]["labels"]["x"], "1");
    let versions: Vec<u64> =
        events.iter().map(|e| e["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()).collect();
    assert!(versions.windows(2).all(|w| w[0] < w[1]) && versions[0] > rv.parse().unwrap(), "{versions:?}");
}

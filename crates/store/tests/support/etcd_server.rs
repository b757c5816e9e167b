//! Real etcd (Debian's `etcd-server`) for one test or benchmark: one member or a cluster of
//! several, on free loopback ports, data in a temp dir, `--unsafe-no-fsync` and short raft
//! timings (heartbeat 50 ms, election 500 ms) unless asked otherwise, killed on drop. Members
//! can be killed (-9) and restarted on their data, and the leader found. A missing `etcd` fails
//! loudly. Shared by the store crate's tests and the workspace's HA tests (`tests/ha_etcd.rs`).

#![allow(dead_code)] // each user needs a part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One member: its ports, and its process while it runs.
struct Member {
    name: String,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// An etcd cluster on loopback.
pub struct EtcdCluster {
    members: Vec<Member>,
    token: String,
    dir: tempfile::TempDir,
}

/// A single-member etcd (the store's conformance tests and benchmarks).
pub type EtcdServer = EtcdCluster;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET on loopback: the body, or `None` if nothing answers.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut connection = TcpStream::connect(("127.0.0.1", port)).ok()?;
    connection.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(connection, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").ok()?;
    let mut text = String::new();
    connection.read_to_string(&mut text).ok()?;
    text.split_once("\r\n\r\n").map(|(_, body)| body.to_string())
}

impl EtcdCluster {
    /// One member.
    pub fn start() -> Self {
        Self::start_members(1)
    }

    /// `n` members, started together; returns once every member is healthy (has a leader).
    pub fn start_members(n: usize) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let token = format!("rampart-{}-{}", std::process::id(), free_port());
        let members =
            (0..n).map(|i| Member { name: format!("m{i}"), client: free_port(), peer: free_port(), child: None });
        let mut cluster = EtcdCluster { members: members.collect(), token, dir };
        for i in 0..n {
            cluster.spawn(i);
        }
        for i in 0..n {
            cluster.wait_healthy(i);
        }
        cluster
    }

    fn spawn(&mut self, i: usize) {
        let initial: Vec<String> =
            self.members.iter().map(|m| format!("{}=http://127.0.0.1:{}", m.name, m.peer)).collect();
        let member = &self.members[i];
        let client_url = format!("http://127.0.0.1:{}", member.client);
        let peer_url = format!("http://127.0.0.1:{}", member.peer);
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path(i)).unwrap();
        let child = Command::new("etcd")
            .args(["--name", &member.name, "--data-dir"])
            .arg(self.dir.path().join(&member.name))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", &peer_url, "--initial-advertise-peer-urls", &peer_url])
            .args(["--initial-cluster", &initial.join(","), "--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", &self.token])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500", "--unsafe-no-fsync"])
            .args(["--logger", "zap", "--log-outputs", "stderr"])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|err| {
                panic!("cannot start etcd ({err}); the etcd backend's tests need it: apt-get install etcd-server")
            });
        self.members[i].child = Some(child);
    }

    fn log_path(&self, i: usize) -> PathBuf {
        self.dir.path().join(format!("{}.log", self.members[i].name))
    }

    fn wait_healthy(&mut self, i: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if http_get(self.members[i].client, "/health").is_some_and(|body| body.contains("\"true\"")) {
                return;
            }
            if let Some(status) = self.members[i].child.as_mut().and_then(|child| child.try_wait().unwrap()) {
                let log = std::fs::read_to_string(self.log_path(i)).unwrap_or_default();
                panic!("etcd member {i} exited with {status} before it was healthy:\n{log}");
            }
            assert!(Instant::now() < deadline, "etcd member {i} was not healthy within 30 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The first member's client URL, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.members[0].client)
    }

    /// Every member's client URL.
    pub fn endpoints(&self) -> Vec<String> {
        self.members.iter().map(|m| format!("http://127.0.0.1:{}", m.client)).collect()
    }

    /// The PID of the first member (the memory benchmark reads its resident set).
    pub fn pid(&self) -> u32 {
        self.members[0].child.as_ref().expect("running").id()
    }

    /// SIGKILL member `i` and wait for it to be gone.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start member `i` again on its data (after [`EtcdCluster::kill`]) and wait until healthy.
    pub fn restart(&mut self, i: usize) {
        assert!(self.members[i].child.is_none(), "member {i} is running");
        self.spawn(i);
        self.wait_healthy(i);
    }

    /// The index of the member that is raft leader now, from the members' metrics.
    pub fn leader(&self) -> Option<usize> {
        self.members.iter().position(|m| {
            m.child.is_some()
                && http_get(m.client, "/metrics")
                    .is_some_and(|text| text.lines().any(|line| line.trim() == "etcd_server_is_leader 1"))
        })
    }

    /// A metric of member `i` (a gauge or counter line `name value`).
    pub fn metric(&self, i: usize, name: &str) -> Option<f64> {
        let text = http_get(self.members[i].client, "/metrics")?;
        let prefix = format!("{name} ");
        text.lines().find_map(|line| line.strip_prefix(&prefix)).and_then(|value| value.trim().parse().ok())
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

//! The harness every end-to-end test shares: start the real `rampart` binary on free ports in a
//! fresh data directory and a fresh HOME, then drive it with the real `kubectl` and `aws`.
//!
//! The real clients are required: a missing one fails the test loudly, it is never skipped.
//! The helpers one family of test files shares are the submodules, each re-exporting the harness:
//! `access`, `eks`, `kubectl` and `workloads` (`use common::eks::*`).

#![allow(dead_code)]

pub mod access;
pub mod eks;
pub mod kubectl;
pub mod workloads;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `rampart serve`, stopped (SIGTERM) when dropped.
pub struct Rampart {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub home: PathBuf,
    /// The variables of the env file `rampart serve` wrote.
    pub env: BTreeMap<String, String>,
    /// What `rampart serve` printed up to and including its ready message.
    pub banner: Vec<String>,
    extra_args: Vec<String>,
    _dirs: tempfile::TempDir,
}

/// What a client command printed and how it ended.
#[derive(Debug)]
pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    /// Panics, showing everything, unless the command exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "command failed\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }

    /// Panics, showing everything, unless the command failed.
    #[track_caller]
    pub fn failed(self) -> Self {
        assert_ne!(self.code, 0, "command unexpectedly succeeded\nstdout:\n{}\nstderr:\n{}", self.stdout, self.stderr);
        self
    }
}

pub fn rampart_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_rampart"))
}

/// Panics with a clear message when a real client is missing: e2e tests never skip.
pub fn require_client(program: &str) {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(found, "the real `{program}` client is required for end-to-end tests but is not on PATH");
}

impl Rampart {
    /// Start `rampart serve` on free ports with a fresh data dir and HOME.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Start with extra `rampart serve` arguments.
    pub fn start_with(extra: &[&str]) -> Self {
        let dirs = tempfile::tempdir().expect("creating a temporary directory");
        let data_dir = dirs.path().join("data");
        let home = dirs.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        let mut rampart = Rampart {
            child: None,
            data_dir,
            home,
            env: BTreeMap::new(),
            banner: vec![],
            extra_args: extra.iter().map(|s| s.to_string()).collect(),
            _dirs: dirs,
        };
        rampart.launch();
        rampart
    }

    fn launch(&mut self) {
        let mut command = Command::new(rampart_bin());
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(["--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0"])
            .args(&self.extra_args)
            .env("HOME", &self.home)
            .env_remove("RAMPART_DATA_DIR")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = command.spawn().expect("starting rampart serve");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining so the server never blocks.
                    continue;
                }
            }
        });
        self.child = Some(child);
        self.banner.clear();
        loop {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => {
                    self.banner.push(line.clone());
                    if line.starts_with("Rampart is ready.") {
                        break;
                    }
                }
                Err(_) => panic!("rampart serve did not become ready; it printed:\n{}", self.banner.join("\n")),
            }
        }
        // Keep reading the rest of the banner lines that follow the ready line.
        while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
            self.banner.push(line);
        }
        std::thread::spawn(move || while rx.recv().is_ok() {});
        self.env = parse_env(&self.data_dir.join("env"));
    }

    /// Stop (SIGTERM) and start again on the same data dir.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Send SIGTERM and wait for the process to exit; returns its exit code.
    pub fn stop(&mut self) -> Option<i32> {
        let child = self.child.as_ref()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        self.wait()
    }

    /// Wait (up to 5 s, then SIGKILL) for the process to exit after a signal; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        let mut child = self.child.take()?;
        for _ in 0..100 {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        child.wait().ok().and_then(|s| s.code())
    }

    /// A command with the env file's variables and this test's HOME, run in the data dir's
    /// parent (so relative paths in tests land in the temporary directory).
    pub fn command(&self, program: &str) -> Command {
        require_client(program);
        let mut command = Command::new(program);
        command.env("HOME", &self.home).envs(&self.env).current_dir(self.data_dir.parent().unwrap());
        for var in ["AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "KUBECONFIG"] {
            if !self.env.contains_key(var) {
                command.env_remove(var);
            }
        }
        command
    }

    pub fn kubectl(&self, args: &[&str]) -> Output {
        run(self.command("kubectl").args(args), None)
    }

    pub fn kubectl_stdin(&self, args: &[&str], stdin: &str) -> Output {
        run(self.command("kubectl").args(args), Some(stdin))
    }

    pub fn aws(&self, args: &[&str]) -> Output {
        run(self.command("aws").args(args), None)
    }

    /// Run the `rampart` binary itself (offline commands) with this test's environment.
    pub fn rampart(&self, args: &[&str]) -> Output {
        let mut command = Command::new(rampart_bin());
        command.env("HOME", &self.home).envs(&self.env).args(args);
        run(&mut command, None)
    }

    /// Write `contents` to a file in the test's temporary directory and return its path.
    pub fn write_file(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.data_dir.parent().unwrap().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Rampart {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Run a prepared command to completion, feeding `stdin` if given.
pub fn run(command: &mut Command, stdin: Option<&str>) -> Output {
    command.stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|err| panic!("cannot run {command:?}: {err}"));
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        let input = input.to_string();
        std::thread::spawn(move || {
            let _ = pipe.write_all(input.as_bytes());
        });
    }
    let output = child.wait_with_output().unwrap();
    Output {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The `export NAME='value'` lines of an env file.
pub fn parse_env(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|err| panic!("reading {}: {err}", path.display()));
    text.lines()
        .filter_map(|line| line.strip_prefix("export "))
        .filter_map(|assignment| assignment.split_once('='))
        .map(|(name, value)| (name.to_string(), unquote(value)))
        .collect()
}

fn unquote(value: &str) -> String {
    match value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        Some(inner) => inner.replace(r"'\''", "'"),
        None => value.to_string(),
    }
}

//! Local processes as the runtime starts them: the environment a container's processes get,
//! the process group that is killed whole (no stray process outlives its container or exec
//! session), the pid file that lets the next server find a group a killed server left running,
//! exit codes as containerd reports them, and runc's wording for a command that cannot start.
//!
//! A pid file (`<sandbox>/pids/<container>`) holds the group's id and its leader's start time
//! (`/proc/<pid>/stat`, field 22), so that a recycled process id is never taken for the
//! container: a group is killed only while its leader is the very process that was started.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;

use rand::RngCore;
use rustix::process::{Pid, Signal, kill_process_group};

/// The `PATH` of a container whose image sets none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The environment of a container process: nothing of the server's own environment (it may
/// hold credentials), a default `PATH`, `HOSTNAME` = the pod's name, `HOME` = the container's
/// directory, then the container's resolved `env` (which may override those), and
/// `TERM=xterm` under a terminal, as containerd sets it.
pub(crate) fn container_env(pod_name: &str, home: &Path, env: &[(String, String)], tty: bool) -> Vec<(String, String)> {
    let mut vars = vec![
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("HOSTNAME".to_string(), pod_name.to_string()),
        ("HOME".to_string(), home.display().to_string()),
    ];
    for (name, value) in env {
        vars.retain(|(n, _)| n != name);
        vars.push((name.clone(), value.clone()));
    }
    if tty {
        vars.retain(|(n, _)| n != "TERM");
        vars.push(("TERM".to_string(), "xterm".to_string()));
    }
    vars
}

/// A process group that is killed (SIGKILL) when dropped, unless it was already killed.
#[derive(Debug)]
pub(crate) struct ProcessGroup {
    pgid: Option<Pid>,
}

impl ProcessGroup {
    /// The group led by `pid` (a child started with `process_group(0)` or `setsid`).
    pub(crate) fn led_by(pid: Option<u32>) -> Self {
        Self { pgid: pid.and_then(|pid| Pid::from_raw(i32::try_from(pid).ok()?)) }
    }

    /// Sends `signal` to every process of the group; a group already gone is not an error.
    pub(crate) fn signal(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (nobody left) is the expected outcome once the group has ended.
            let _ = kill_process_group(pgid, signal);
        }
    }

    /// Sends `signal` to the group's leader only, as containerd signals a container's init
    /// process when it stops the container.
    pub(crate) fn signal_leader(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            let _ = rustix::process::kill_process(pgid, signal);
        }
    }

    /// Kills what is left of the group and forgets it, so the id is never signalled again.
    pub(crate) fn kill(&mut self) {
        self.signal(Signal::KILL);
        self.pgid = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The on-disk record of a running container's process group, removed when the group ends.
pub(crate) struct PidFile {
    path: PathBuf,
}

impl PidFile {
    /// Records the group led by `pid` in `<sandbox>/pids/<container>`.
    pub(crate) fn write(sandbox: &Path, container: &str, pid: u32) -> io::Result<Self> {
        let dir = sandbox.join("pids");
        std::fs::create_dir_all(&dir)?;
        let started = start_time(pid).ok_or_else(|| io::Error::other(format!("process {pid} is gone")))?;
        let path = dir.join(container);
        std::fs::write(&path, format!("{pid} {started}\n"))?;
        Ok(Self { path })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A process's start time since boot, in clock ticks, and only if it leads its own process
/// group (as every container process does).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp …`: comm may hold spaces and parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let group: u32 = fields.get(2)?.parse().ok()?;
    (group == pid).then(|| fields.get(19)?.parse().ok())?
}

/// Kills (SIGKILL) the process groups of the pid files under `root`
/// (`<cluster>/<namespace>/<pod-uid>/pids/<container>`) whose leader still runs, and removes
/// the files. Returns how many groups were killed.
pub(crate) fn kill_orphans(root: &Path) -> usize {
    let children = |dir: &Path| -> Vec<PathBuf> {
        std::fs::read_dir(dir).map(|d| d.flatten().map(|e| e.path()).collect()).unwrap_or_default()
    };
    let mut killed = 0;
    for cluster in children(root) {
        for namespace in children(&cluster) {
            for sandbox in children(&namespace) {
                for pid_file in children(&sandbox.join("pids")) {
                    let record = std::fs::read_to_string(&pid_file).unwrap_or_default();
                    let mut words = record.split_whitespace().map(str::parse::<u64>);
                    if let (Some(Ok(pid)), Some(Ok(started))) = (words.next(), words.next())
                        && let Ok(pid) = u32::try_from(pid)
                        && start_time(pid) == Some(started)
                    {
                        ProcessGroup::led_by(Some(pid)).kill();
                        killed += 1;
                    }
                    let _ = std::fs::remove_file(&pid_file);
                }
            }
        }
    }
    killed
}

/// The exit code containerd reports: the process's own, or 128 + the signal that killed it.
pub(crate) fn exit_code(status: ExitStatus) -> (i32, Option<i32>) {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => (code, None),
        (None, Some(signal)) => (128 + signal, Some(signal)),
        (None, None) => (1, None),
    }
}

/// Why `program` could not be started, in runc's words (`exec: "ps": executable file not
/// found in $PATH`).
pub(crate) fn start_failure(program: &str, err: &io::Error) -> String {
    let quoted = go_format::quote(program);
    match err.kind() {
        io::ErrorKind::NotFound if program.contains('/') => {
            format!("exec: {quoted}: stat {program}: no such file or directory")
        }
        io::ErrorKind::NotFound => format!("exec: {quoted}: executable file not found in $PATH"),
        io::ErrorKind::PermissionDenied => format!("exec: {quoted}: permission denied"),
        _ => format!("exec: {quoted}: {err}"),
    }
}

/// A fresh 64-hex-digit id, the shape of containerd's container and exec ids.
pub(crate) fn new_id() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt as _;

    use super::*;

    #[test]
    fn env_keeps_nothing_of_the_server_and_lets_the_pod_override() {
        let env = container_env("web", Path::new("/sandbox/c"), &[("PATH".into(), "/opt/bin".into())], true);
        assert_eq!(
            env,
            vec![
                ("HOSTNAME".to_string(), "web".to_string()),
                ("HOME".to_string(), "/sandbox/c".to_string()),
                ("PATH".to_string(), "/opt/bin".to_string()),
                ("TERM".to_string(), "xterm".to_string()),
            ]
        );
        let env = container_env("web", Path::new("/h"), &[], false);
        assert!(env.iter().all(|(n, _)| n != "TERM"));
        assert!(env.iter().any(|(n, v)| n == "PATH" && v == DEFAULT_PATH));
    }

    #[test]
    fn start_failures_read_like_runc() {
        let not_found = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(start_failure("ps", &not_found), r#"exec: "ps": executable file not found in $PATH"#);
        assert_eq!(start_failure("/nope", &not_found), r#"exec: "/nope": stat /nope: no such file or directory"#);
        let denied = io::Error::from(io::ErrorKind::PermissionDenied);
        assert_eq!(start_failure("/etc/passwd", &denied), r#"exec: "/etc/passwd": permission denied"#);
    }

    /// A group recorded by a server that was killed is killed by the next one; a record whose
    /// process id now belongs to another process (another start time) is only removed.
    #[test]
    fn orphaned_groups_are_killed_and_recycled_ids_spared() {
        let root = tempfile::tempdir().unwrap();
        let sandbox = root.path().join("rampart/default/uid-1");
        let mut orphan = std::process::Command::new("sleep").arg("60").process_group(0).spawn().unwrap();
        let file = PidFile::write(&sandbox, "app", orphan.id()).unwrap();
        std::mem::forget(file); // as a killed server leaves it
        let mut bystander = std::process::Command::new("sleep").arg("60").process_group(0).spawn().unwrap();
        let recycled = sandbox.join("pids/other");
        std::fs::write(&recycled, format!("{} 1\n", bystander.id())).unwrap();

        assert_eq!(kill_orphans(root.path()), 1);
        let status = orphan.wait().unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
        assert_eq!(bystander.try_wait().unwrap(), None, "a process that was not the container's runs on");
        assert!(!sandbox.join("pids/app").exists() && !recycled.exists());
        bystander.kill().unwrap();
        bystander.wait().unwrap();
        assert_eq!(kill_orphans(root.path()), 0);
    }

    #[test]
    fn ids_look_like_containerd_ids() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

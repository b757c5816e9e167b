//! Local processes as the runtime starts them: the environment a container's processes get,
//! the process group that is killed whole (no stray process outlives its container or exec
//! session), exit codes as containerd reports them, and runc's wording for a command that
//! cannot start.

use std::io;
use std::path::Path;
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

    #[test]
    fn ids_look_like_containerd_ids() {
        let (a, b) = (new_id(), new_id());
        assert_eq!(a.len(), 64);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}

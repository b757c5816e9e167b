//! Exec sessions: a command started as a local process in the container's directory with the
//! container's environment, its stdin/stdout/stderr on pipes, or all three on a real PTY for
//! `tty=true` (the child leads a new session with the PTY as its controlling terminal, via
//! `pty-process`). The process leads its own process group, killed whole when the session ends
//! or is dropped. Also the `PodExecOptions` query parameters.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;
use std::process::Stdio;

use tokio::io::{AsyncRead, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::watch;

use crate::channel::TerminalSize;
use crate::error::KubeletError;
use crate::logs::parse_bool;
use crate::process::{ProcessGroup, container_env, new_id, start_failure};
use crate::runtime::ContainerState;

/// What to run and which streams to attach (`PodExecOptions`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    pub command: Vec<String>,
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
    pub tty: bool,
}

/// The query of `GET …/pods/{name}/exec` (`command` once per argv element).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PodExecQuery {
    pub container: Option<String>,
    pub options: ExecOptions,
}

impl PodExecQuery {
    /// Parses `query` (without `?`); unknown parameters are ignored, as kube-apiserver does.
    pub fn parse(query: &str) -> Result<Self, KubeletError> {
        let mut parsed = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match key.as_ref() {
                "command" => parsed.options.command.push(value.into_owned()),
                "container" => parsed.container = Some(value.into_owned()).filter(|c| !c.is_empty()),
                "stdin" => parsed.options.stdin = parse_bool(&value)?,
                "stdout" => parsed.options.stdout = parse_bool(&value)?,
                "stderr" => parsed.options.stderr = parse_bool(&value)?,
                "tty" => parsed.options.tty = parse_bool(&value)?,
                _ => {}
            }
        }
        Ok(parsed)
    }
}

/// A running exec'd command, ready to be served over a channel stream
/// ([`crate::serve_exec`]). Dropping it kills its whole process group.
pub struct ExecProcess {
    pub(crate) child: Child,
    pub(crate) group: ProcessGroup,
    pub(crate) stdin: Option<StdinWriter>,
    pub(crate) terminal: Option<Terminal>,
    pub(crate) stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    pub(crate) stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    /// Whether stdout output is forwarded (a terminal is always drained).
    pub(crate) forward_stdout: bool,
    /// The container's state: the session is killed when the container stops.
    pub(crate) container: watch::Receiver<ContainerState>,
}

impl ExecProcess {
    /// The process id of the command (also its process group id).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }
}

/// Where the client's stdin goes.
pub(crate) enum StdinWriter {
    Pipe(ChildStdin),
    Terminal(pty_process::OwnedWritePty),
}

impl StdinWriter {
    pub(crate) async fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Pipe(pipe) => pipe.write_all(data).await,
            Self::Terminal(pty) => pty.write_all(data).await,
        }
    }

    /// The client's stdin ended: a pipe is closed; a terminal gets its end-of-file character
    /// (^D), which ends a read at the start of a line.
    pub(crate) async fn close(self) {
        if let Self::Terminal(mut pty) = self {
            let _ = pty.write_all(&[0x04]).await;
        }
    }
}

/// The PTY's master side, kept to apply resizes (TIOCSWINSZ).
pub(crate) struct Terminal {
    master: OwnedFd,
}

impl Terminal {
    pub(crate) fn resize(&self, size: TerminalSize) {
        let winsize = rustix::termios::Winsize { ws_row: size.height, ws_col: size.width, ws_xpixel: 0, ws_ypixel: 0 };
        if let Err(err) = rustix::termios::tcsetwinsize(&self.master, winsize) {
            tracing::debug!(%err, "cannot resize an exec terminal");
        }
    }
}

/// Starts `options.command` for a container whose processes run in `dir` with `env` (already
/// resolved), as the kubelet's exec would inside the container.
pub(crate) fn spawn(
    options: &ExecOptions,
    pod_name: &str,
    dir: &Path,
    env: &[(String, String)],
    container: watch::Receiver<ContainerState>,
) -> Result<ExecProcess, KubeletError> {
    if !options.stdin && !options.stdout && !options.stderr {
        return Err(KubeletError::NoStreams);
    }
    let Some((program, args)) = options.command.split_first() else {
        return Err(KubeletError::ExecStart { exec_id: new_id(), cause: start_failure("", &not_found()) });
    };
    let env = container_env(pod_name, dir, env, options.tty);
    let failed =
        |err: std::io::Error| KubeletError::ExecStart { exec_id: new_id(), cause: start_failure(program, &err) };
    if options.tty {
        let (pty, pts) = pty_process::open().map_err(|e| failed(pty_error(e)))?;
        let master = pty.as_fd().try_clone_to_owned().map_err(failed)?;
        let child = pty_process::Command::new(program)
            .args(args)
            .env_clear()
            .envs(env)
            .current_dir(dir)
            .kill_on_drop(true)
            .spawn(pts)
            .map_err(|e| failed(pty_error(e)))?;
        let group = ProcessGroup::led_by(child.id());
        let (read, write) = pty.into_split();
        Ok(ExecProcess {
            child,
            group,
            stdin: options.stdin.then_some(StdinWriter::Terminal(write)),
            terminal: Some(Terminal { master }),
            stdout: Some(Box::new(read)),
            stderr: None,
            forward_stdout: options.stdout,
            container,
        })
    } else {
        let piped = |wanted: bool| if wanted { Stdio::piped() } else { Stdio::null() };
        let mut child = Command::new(program)
            .args(args)
            .env_clear()
            .envs(env)
            .current_dir(dir)
            .stdin(piped(options.stdin))
            .stdout(piped(options.stdout))
            .stderr(piped(options.stderr))
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(failed)?;
        let group = ProcessGroup::led_by(child.id());
        Ok(ExecProcess {
            stdin: child.stdin.take().map(StdinWriter::Pipe),
            terminal: None,
            stdout: child.stdout.take().map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
            stderr: child.stderr.take().map(|s| Box::new(s) as Box<dyn AsyncRead + Send + Unpin>),
            forward_stdout: true,
            child,
            group,
            container,
        })
    }
}

fn pty_error(err: pty_process::Error) -> std::io::Error {
    match err {
        pty_process::Error::Io(io) => io,
        pty_process::Error::Rustix(errno) => errno.into(),
        other => std::io::Error::other(other.to_string()),
    }
}

fn not_found() -> std::io::Error {
    std::io::Error::from(std::io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_kubectl_sends() {
        let q = PodExecQuery::parse(
            "command=sh&command=-c&command=echo+out%3B+echo+err+%3E%262%3B+exit+3&container=nginx&stderr=true&stdout=true",
        )
        .unwrap();
        assert_eq!(q.container.as_deref(), Some("nginx"));
        assert_eq!(
            q.options,
            ExecOptions {
                command: vec!["sh".into(), "-c".into(), "echo out; echo err >&2; exit 3".into()],
                stdout: true,
                stderr: true,
                ..Default::default()
            }
        );
        let q = PodExecQuery::parse("command=sh&container=nginx&stdin=true&stdout=true&tty=true").unwrap();
        assert!(q.options.stdin && q.options.stdout && q.options.tty && !q.options.stderr);
        assert!(PodExecQuery::parse("stdin=1").unwrap().options.stdin);
        assert_eq!(PodExecQuery::parse("tty=yes").unwrap_err().http_status(), 400);
    }
}

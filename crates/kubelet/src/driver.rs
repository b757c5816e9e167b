//! Serves an exec session over any WebSocket-like pair of binary-message sink and stream: the
//! client's stdin, resize and close-stdin frames go to the process, its stdout and stderr come
//! back as channel frames, and its end as the one status frame and a close. A client that
//! goes away (close frame, error, end of stream), a container that stops, or the future being
//! dropped kills the whole process group.
//!
//! The transport must answer pings itself (axum's WebSocket does, as long as it is read, and
//! this driver reads it for the whole session).

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use futures::{Sink, SinkExt, Stream, StreamExt};
use rustix::process::Signal;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use crate::channel::{ClientFrame, ExecStatus, Protocol, ServerFrame, TerminalSize};
use crate::error::KubeletError;
use crate::exec::{ExecProcess, StdinWriter};
use crate::process::exit_code;

/// How long output may still be drained once the command has exited and its group was killed.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);
/// How long the server waits for the client's close frame after sending its own.
const CLOSE_HANDSHAKE: Duration = Duration::from_secs(1);
/// Stdin the client sent that the process has not read yet, buffered before the driver stops
/// reading the connection.
const MAX_BUFFERED_STDIN: usize = 1 << 20;

/// A WebSocket message, as far as the channel protocol cares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Binary(Bytes),
    /// A close frame (sent: code 1000, normal closure).
    Close,
    /// Text, ping and pong messages: ignored.
    Other,
}

/// How an exec session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExecOutcome {
    /// The command exited with this code and the client was told.
    Exited(i32),
    /// The exec could not run; the client got this failure on the error channel.
    Failed(String),
    /// The client went away first; the process group was killed.
    ClientGone,
}

/// Runs `exec` against a client connected through `tx`/`rx` speaking `protocol`.
/// `exec` is the runtime's answer ([`crate::Runtime::exec`]): an error is reported on the
/// error channel, as a Kubernetes 1.32 API server reports kubelet failures after the upgrade.
pub async fn serve_exec<Tx, Rx, E>(
    protocol: Protocol,
    exec: Result<ExecProcess, KubeletError>,
    mut tx: Tx,
    mut rx: Rx,
) -> ExecOutcome
where
    Tx: Sink<Message> + Unpin,
    Rx: Stream<Item = Result<Message, E>> + Unpin,
{
    let process = match exec {
        Ok(process) => process,
        Err(err) => {
            let failure = err.exec_failure();
            finish(&mut tx, &mut rx, ExecStatus::InternalError(failure.clone())).await;
            return ExecOutcome::Failed(failure);
        }
    };
    let ExecProcess { mut child, mut group, stdin, terminal, stdout, stderr, forward_stdout, mut container } = process;

    let (input_tx, input_rx) = mpsc::channel(16);
    let client = async {
        tokio::select! {
            () = read_client(protocol, &mut rx, input_tx, |size| {
                if let Some(terminal) = &terminal {
                    terminal.resize(size);
                }
            }) => {}
            never = write_stdin(stdin, input_rx) => match never {},
        }
    };
    let command = async {
        let exited = async {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = async {
                    container.wait_for(|state| !matches!(state, crate::ContainerState::Running { .. })).await.is_ok()
                } => {
                    group.signal(Signal::KILL);
                    child.wait().await
                }
            };
            // Whatever the command left behind in its group goes with it.
            group.kill();
            status
        };
        let output = forward_output(stdout, stderr, forward_stdout, &mut tx);
        tokio::pin!(exited, output);
        let mut status = None;
        let mut drained = false;
        let drain_deadline = tokio::time::sleep(Duration::MAX);
        tokio::pin!(drain_deadline);
        while status.is_none() || !drained {
            tokio::select! {
                done = &mut exited, if status.is_none() => {
                    status = Some(done);
                    drain_deadline.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
                }
                sent = &mut output, if !drained => {
                    sent?;
                    drained = true;
                }
                () = &mut drain_deadline, if status.is_some() && !drained => drained = true,
            }
        }
        Ok::<_, ClientGone>(status)
    };

    let ended = tokio::select! {
        () = client => Err(ClientGone),
        ended = command => ended,
    };
    match ended {
        Ok(Some(Ok(status))) => {
            let (code, _) = exit_code(status);
            let status = if code == 0 { ExecStatus::Success } else { ExecStatus::NonZeroExit(code) };
            finish(&mut tx, &mut rx, status).await;
            ExecOutcome::Exited(code)
        }
        Ok(_) => {
            let failure = "error executing command in container: cannot wait for the process".to_string();
            finish(&mut tx, &mut rx, ExecStatus::InternalError(failure.clone())).await;
            ExecOutcome::Failed(failure)
        }
        Err(ClientGone) => {
            group.kill();
            ExecOutcome::ClientGone
        }
    }
}

/// The client disconnected (or its connection broke).
struct ClientGone;

/// What the client sent for the process's terminal input.
enum Input {
    Data(Bytes),
    Close,
}

/// Reads the client until it goes away, passing stdin on (buffered, bounded) and resizes to
/// `resize` at once.
async fn read_client<Rx, E>(protocol: Protocol, rx: &mut Rx, input: mpsc::Sender<Input>, resize: impl Fn(TerminalSize))
where
    Rx: Stream<Item = Result<Message, E>> + Unpin,
{
    let mut queue: VecDeque<Input> = VecDeque::new();
    let mut buffered = 0usize;
    loop {
        tokio::select! {
            permit = input.reserve(), if !queue.is_empty() => {
                let Ok(permit) = permit else { return };
                if let Some(next) = queue.pop_front() {
                    if let Input::Data(data) = &next {
                        buffered -= data.len();
                    }
                    permit.send(next);
                }
            }
            message = rx.next(), if buffered < MAX_BUFFERED_STDIN => match message {
                Some(Ok(Message::Binary(data))) => match ClientFrame::decode(protocol, &data) {
                    Some(ClientFrame::Stdin(data)) => {
                        buffered += data.len();
                        queue.push_back(Input::Data(data));
                    }
                    Some(ClientFrame::CloseStdin) => queue.push_back(Input::Close),
                    Some(ClientFrame::Resize(size)) => resize(size),
                    None => {}
                },
                Some(Ok(Message::Other)) => {}
                Some(Ok(Message::Close) | Err(_)) | None => return,
            },
        }
    }
}

/// Writes the client's stdin to the process until it is closed; then waits forever (the
/// session ends through the other side).
async fn write_stdin(mut stdin: Option<StdinWriter>, mut input: mpsc::Receiver<Input>) -> std::convert::Infallible {
    while let Some(next) = input.recv().await {
        match next {
            Input::Data(data) => {
                if let Some(writer) = &mut stdin
                    && writer.write(&data).await.is_err()
                {
                    // The process closed its stdin; the rest of the input is dropped.
                    stdin = None;
                }
            }
            Input::Close => {
                if let Some(writer) = stdin.take() {
                    writer.close().await;
                }
            }
        }
    }
    std::future::pending().await
}

/// Sends the process's output to the client until both streams end.
async fn forward_output<Tx>(
    mut stdout: Option<Box<dyn AsyncRead + Send + Unpin>>,
    mut stderr: Option<Box<dyn AsyncRead + Send + Unpin>>,
    forward_stdout: bool,
    tx: &mut Tx,
) -> Result<(), ClientGone>
where
    Tx: Sink<Message> + Unpin,
{
    let mut out_buf = vec![0u8; 32 * 1024];
    let mut err_buf = vec![0u8; 32 * 1024];
    while stdout.is_some() || stderr.is_some() {
        let frame = tokio::select! {
            read = read_some(&mut stdout, &mut out_buf), if stdout.is_some() => match read {
                Some(n) if forward_stdout => ServerFrame::Stdout(Bytes::copy_from_slice(&out_buf[..n])),
                Some(_) => continue,
                None => {
                    stdout = None;
                    continue;
                }
            },
            read = read_some(&mut stderr, &mut err_buf), if stderr.is_some() => match read {
                Some(n) => ServerFrame::Stderr(Bytes::copy_from_slice(&err_buf[..n])),
                None => {
                    stderr = None;
                    continue;
                }
            },
        };
        tx.send(Message::Binary(frame.encode())).await.map_err(|_| ClientGone)?;
    }
    Ok(())
}

/// Reads what is available; `None` at the end (a terminal's EIO once the process is gone is
/// its end too).
async fn read_some(source: &mut Option<Box<dyn AsyncRead + Send + Unpin>>, buf: &mut [u8]) -> Option<usize> {
    match source.as_mut()?.read(buf).await {
        Ok(0) | Err(_) => None,
        Ok(n) => Some(n),
    }
}

/// Sends the status frame and a close, then gives the client a moment to answer the close.
async fn finish<Tx, Rx, E>(tx: &mut Tx, rx: &mut Rx, status: ExecStatus)
where
    Tx: Sink<Message> + Unpin,
    Rx: Stream<Item = Result<Message, E>> + Unpin,
{
    let frame = ServerFrame::Status(Bytes::from(status.to_json()));
    if tx.send(Message::Binary(frame.encode())).await.is_err() || tx.send(Message::Close).await.is_err() {
        return;
    }
    let _ = tokio::time::timeout(CLOSE_HANDSHAKE, async {
        while let Some(Ok(message)) = rx.next().await {
            if message == Message::Close {
                break;
            }
        }
    })
    .await;
}

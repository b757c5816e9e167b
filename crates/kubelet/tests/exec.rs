//! Exec sessions through the channel driver, with real processes: pipes, stdin and its close,
//! exit codes, a real PTY with resizes, errors on the error channel, and no process left
//! behind when the client goes away or the session is cancelled.

mod common;

use std::time::Duration;

use common::*;
use kubelet::channel::ClientFrame;
use kubelet::{ExecOptions, ExecOutcome, ExecStatus, Message, PodRef, Protocol, TerminalSize};

async fn running_pod(t: &TestRuntime, name: &str) -> PodRef {
    let pod = pod(name);
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    sandbox.start_container(&container("main", &[])).unwrap();
    pod
}

fn options(command: &[&str]) -> ExecOptions {
    ExecOptions {
        command: command.iter().map(ToString::to_string).collect(),
        stdout: true,
        stderr: true,
        ..Default::default()
    }
}

#[tokio::test]
async fn echo_over_pipes() {
    let t = runtime();
    let pod = running_pod(&t, "echo").await;
    let (client, session) = connect(Protocol::V5, t.runtime.exec(&pod, "main", &options(&["echo", "hi"])));
    let transcript = client.finish(session).await;
    assert_eq!(transcript.stdout, "hi\n");
    assert_eq!(transcript.stderr, "");
    assert_eq!(transcript.status, Some(ExecStatus::Success));
    assert_eq!(transcript.outcome, ExecOutcome::Exited(0));
}

#[tokio::test]
async fn a_non_zero_exit_code_reaches_the_client_with_both_streams() {
    let t = runtime();
    let pod = running_pod(&t, "exit3").await;
    let exec = t.runtime.exec(&pod, "main", &options(&["sh", "-c", "echo out; echo err >&2; exit 3"]));
    let (client, session) = connect(Protocol::V4, exec);
    let transcript = client.finish(session).await;
    assert_eq!((transcript.stdout.as_str(), transcript.stderr.as_str()), ("out\n", "err\n"));
    assert_eq!(transcript.status, Some(ExecStatus::NonZeroExit(3)));
    assert_eq!(transcript.outcome, ExecOutcome::Exited(3));
}

#[tokio::test]
async fn the_command_sees_the_containers_environment_and_directory() {
    let t = runtime();
    let pod = running_pod(&t, "env").await;
    let exec = t.runtime.exec(&pod, "main", &options(&["sh", "-c", "echo \"$GREETING|$HOSTNAME|$TERM\"; pwd"]));
    let (client, session) = connect(Protocol::V5, exec);
    let transcript = client.finish(session).await;
    let dir = t.runtime.sandbox(&pod.uid).unwrap().dir().join("containers/main");
    assert_eq!(transcript.stdout, format!("hello from the pod|env|\n{}\n", dir.display()));
}

#[tokio::test]
async fn stdin_is_piped_and_its_close_ends_the_command() {
    let t = runtime();
    let pod = running_pod(&t, "cat").await;
    let exec = t.runtime.exec(&pod, "main", &ExecOptions { stdin: true, ..options(&["cat"]) });
    let (mut client, session) = connect(Protocol::V5, exec);
    client.stdin("piped input\n");
    assert!(client.wait_for_stdout("piped input\n").await);
    client.stdin("more");
    client.send(ClientFrame::CloseStdin);
    let transcript = client.finish(session).await;
    assert_eq!(transcript.stdout, "piped input\nmore");
    assert_eq!(transcript.status, Some(ExecStatus::Success));
}

#[tokio::test]
async fn a_tty_session_runs_under_a_real_pty_and_follows_resizes() {
    let t = runtime();
    let pod = running_pod(&t, "tty").await;
    let exec = t.runtime.exec(
        &pod,
        "main",
        &ExecOptions { command: vec!["sh".into()], stdin: true, stdout: true, tty: true, ..Default::default() },
    );
    let (mut client, session) = connect(Protocol::V5, exec);
    client.send(ClientFrame::Resize(TerminalSize { width: 100, height: 30 }));
    client.stdin("echo hello-from-tty; tty; echo \"TERM=$TERM\"; stty size\r");
    assert!(client.wait_for_stdout("30 100").await, "{}", String::from_utf8_lossy(&client.stdout));
    let screen = String::from_utf8_lossy(&client.stdout).into_owned();
    assert!(screen.contains("hello-from-tty\r\n"), "{screen}");
    assert!(screen.contains("/dev/pts/"), "{screen}");
    assert!(screen.contains("TERM=xterm\r\n"), "{screen}");
    client.send(ClientFrame::Resize(TerminalSize { width: 120, height: 40 }));
    client.send(ClientFrame::Resize(TerminalSize { width: 120, height: 40 }));
    client.stdin("stty size; exit 7\r");
    let transcript = client.finish(session).await;
    assert!(transcript.stdout.contains("40 120\r\n"), "{}", transcript.stdout);
    assert_eq!(transcript.stderr, "");
    assert_eq!(transcript.status, Some(ExecStatus::NonZeroExit(7)));
}

#[tokio::test]
async fn closing_stdin_under_a_tty_is_end_of_file() {
    let t = runtime();
    let pod = running_pod(&t, "ttycat").await;
    let exec = t.runtime.exec(
        &pod,
        "main",
        &ExecOptions { command: vec!["cat".into()], stdin: true, stdout: true, tty: true, ..Default::default() },
    );
    let (mut client, session) = connect(Protocol::V5, exec);
    client.stdin("typed\r");
    assert!(client.wait_for_stdout("typed\r\n").await);
    client.send(ClientFrame::CloseStdin);
    let transcript = client.finish(session).await;
    assert_eq!(transcript.status, Some(ExecStatus::Success));
}

#[tokio::test]
async fn a_client_that_goes_away_leaves_no_process() {
    let t = runtime();
    let pod = running_pod(&t, "gone").await;
    for tty in [false, true] {
        let exec = t
            .runtime
            .exec(
                &pod,
                "main",
                &ExecOptions { tty, stdin: true, ..options(&["sh", "-c", "sleep 303 & sleep 303; wait"]) },
            )
            .unwrap();
        let pgid = exec.pid().unwrap();
        let (client, session) = connect(Protocol::V5, Ok(exec));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!group_is_gone_now(pgid), "the command runs");
        // A broken connection: the client's side of the stream ends without a close frame.
        drop(client);
        assert_eq!(
            tokio::time::timeout(Duration::from_secs(5), session).await.unwrap().unwrap(),
            ExecOutcome::ClientGone
        );
        assert!(group_is_gone(pgid).await, "tty={tty}: a process of the group survived");
    }
    // A close frame from the client ends the session the same way.
    let exec = t.runtime.exec(&pod, "main", &options(&["sleep", "304"])).unwrap();
    let pgid = exec.pid().unwrap();
    let (client, session) = connect(Protocol::V5, Ok(exec));
    client.to_server.unbounded_send(Ok(Message::Close)).unwrap();
    assert_eq!(session.await.unwrap(), ExecOutcome::ClientGone);
    assert!(group_is_gone(pgid).await);
    drop(client);
}

#[tokio::test]
async fn a_cancelled_session_kills_the_process_group() {
    let t = runtime();
    let pod = running_pod(&t, "cancel").await;
    let exec = t.runtime.exec(&pod, "main", &options(&["sh", "-c", "sleep 305 & sleep 305; wait"])).unwrap();
    let pgid = exec.pid().unwrap();
    let (client, session) = connect(Protocol::V5, Ok(exec));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!group_is_gone_now(pgid));
    session.abort();
    assert!(session.await.unwrap_err().is_cancelled());
    assert!(group_is_gone(pgid).await, "a process of the group survived the cancelled session");
    drop(client);
}

#[tokio::test]
async fn a_session_ends_with_the_container() {
    let t = runtime();
    let pod = running_pod(&t, "stopped").await;
    let exec = t.runtime.exec(&pod, "main", &options(&["sleep", "306"])).unwrap();
    let (client, session) = connect(Protocol::V5, Ok(exec));
    let sandbox = t.runtime.sandbox(&pod.uid).unwrap();
    sandbox.stop_container("main", Duration::from_secs(1)).await.unwrap();
    let transcript = client.finish(session).await;
    assert_eq!(transcript.status, Some(ExecStatus::NonZeroExit(137)));
}

#[tokio::test]
async fn failures_go_on_the_error_channel_as_a_1_32_api_server_sends_them() {
    let t = runtime();
    let pod = running_pod(&t, "errors").await;

    let (client, session) = connect(Protocol::V5, t.runtime.exec(&pod, "nope", &options(&["true"])));
    let transcript = client.finish(session).await;
    let failure = r#"unable to upgrade connection: container not found ("nope")"#;
    assert_eq!(transcript.status, Some(ExecStatus::InternalError(failure.into())));
    assert_eq!(transcript.outcome, ExecOutcome::Failed(failure.into()));

    let (client, session) = connect(Protocol::V5, t.runtime.exec(&pod, "main", &options(&["no-such-command"])));
    let ExecStatus::InternalError(message) = client.finish(session).await.status.unwrap() else { panic!() };
    assert!(message.starts_with(
        "Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \""
    ));
    assert!(message.ends_with(
        "\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"no-such-command\": \
         executable file not found in $PATH: unknown"
    ));

    let (client, session) = connect(Protocol::V5, t.runtime.exec(&pod, "main", &options(&[])));
    let ExecStatus::InternalError(message) = client.finish(session).await.status.unwrap() else { panic!() };
    assert!(message.ends_with(r#"exec: "": executable file not found in $PATH: unknown"#), "{message}");

    let no_streams = ExecOptions { command: vec!["true".into()], ..Default::default() };
    let err = t.runtime.exec(&pod, "main", &no_streams).err().unwrap();
    assert_eq!(
        err.exec_failure(),
        "unable to upgrade connection: you must specify at least 1 of stdin, stdout, stderr"
    );

    // A container whose command has exited is not running: nothing to exec into.
    let sandbox = t.runtime.sandbox(&pod.uid).unwrap();
    sandbox.start_container(&container("done", &["true"])).unwrap().wait().await;
    let err = t.runtime.exec(&pod, "done", &options(&["true"])).err().unwrap();
    assert_eq!(err.to_string(), r#"container not found ("done")"#);
    let elsewhere = common::pod("elsewhere");
    let err = t.runtime.exec(&elsewhere, "main", &options(&["true"])).err().unwrap();
    assert_eq!(err.to_string(), r#"container not found ("main")"#);
}

#[tokio::test]
async fn a_process_that_never_reads_stdin_does_not_stall_the_session() {
    let t = runtime();
    let pod = running_pod(&t, "flood").await;
    let exec =
        t.runtime.exec(&pod, "main", &ExecOptions { stdin: true, ..options(&["sh", "-c", "sleep 0.3; echo done"]) });
    let (client, session) = connect(Protocol::V5, exec);
    let chunk = "x".repeat(64 * 1024);
    for _ in 0..64 {
        client.stdin(&chunk);
    }
    let transcript = client.finish(session).await;
    assert_eq!(transcript.stdout, "done\n");
    assert_eq!(transcript.status, Some(ExecStatus::Success));
}

fn group_is_gone_now(pgid: u32) -> bool {
    rustix::process::test_kill_process_group(rustix::process::Pid::from_raw(pgid as i32).unwrap()).is_err()
}

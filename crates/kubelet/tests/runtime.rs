//! Sandboxes, containers and their logs, with real processes.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use kubelet::{ContainerState, ExecMode, KubeletError, LogOptions, LogSince};

#[tokio::test]
async fn a_container_without_command_runs_until_stopped_and_its_follow_stream_ends_then() {
    let t = runtime();
    let pod = pod("web");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let dir = t.dir.path().join("pods/demo/default").join(&pod.uid);
    assert_eq!(sandbox.dir(), dir);
    let started = sandbox.start_container(&container("nginx", &[])).unwrap();
    assert_eq!(started.restart_count, 0);
    assert_eq!(started.container_id.len(), 64);
    assert!(dir.join("containers/nginx").is_dir());
    let status = sandbox.container_status("nginx").unwrap();
    assert!(matches!(status.state, ContainerState::Running { .. }), "{status:?}");
    assert_eq!(status.container_id, started.container_id);

    let follow = LogOptions { follow: true, ..Default::default() };
    let mut stream = t.runtime.logs(&pod, "nginx", &follow).unwrap();
    let first = String::from_utf8(stream.next().await.unwrap().unwrap().to_vec()).unwrap();
    assert_eq!(
        first,
        "Rampart simulates container nginx (image busybox:1.36): it runs no process until it is stopped; kubectl exec \
         runs commands in its sandbox\n"
    );
    // Still following: nothing more arrives while the container runs.
    assert!(tokio::time::timeout(Duration::from_millis(300), stream.next()).await.is_err());

    let terminated = sandbox.stop_container("nginx", Duration::from_secs(1)).await.unwrap();
    assert_eq!((terminated.exit_code, terminated.reason.as_str()), (0, "Completed"));
    assert!(tokio::time::timeout(Duration::from_secs(5), stream.next()).await.unwrap().is_none());
    let on_disk = std::fs::read_to_string(dir.join("logs/nginx/0.log")).unwrap();
    assert!(on_disk.contains(" stdout F Rampart simulates container nginx"), "{on_disk}");
}

#[tokio::test]
async fn a_command_that_exits_0_completes_and_its_output_is_the_log() {
    let t = runtime();
    let pod = pod("job");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let mut started = sandbox
        .start_container(&container("main", &["sh", "-c", "echo \"$GREETING\"; pwd; echo oops >&2; printf tail"]))
        .unwrap();
    let terminated = started.wait().await;
    assert_eq!((terminated.exit_code, terminated.reason.as_str(), terminated.signal), (0, "Completed", None));
    assert!(terminated.finished_at >= terminated.started_at);

    let log = read_log(&t.runtime, &pod, "main", LogOptions::default()).await;
    let workdir = sandbox.dir().join("containers/main");
    // stdout and stderr are separate pipes: their relative order is not fixed.
    for line in ["hello from the pod\n".to_string(), format!("{}\n", workdir.display()), "oops\n".to_string()] {
        assert!(log.contains(&line), "{line:?} missing from {log:?}");
    }
    assert!(log.contains("tail"), "{log:?}");
    // On disk: CRI records, the unterminated last line as a partial record.
    let on_disk = std::fs::read_to_string(sandbox.dir().join("logs/main/0.log")).unwrap();
    assert!(on_disk.contains(" stdout F hello from the pod\n"), "{on_disk}");
    assert!(on_disk.contains(" stderr F oops\n"), "{on_disk}");
    assert!(on_disk.contains(" stdout P tail\n"), "{on_disk}");
    let first = on_disk.lines().next().unwrap();
    let stamp = first.split(' ').next().unwrap();
    assert_eq!(stamp.len(), "2024-01-01T00:00:00.000000000Z".len(), "{first}");
    assert!(stamp.ends_with('Z'));
}

#[tokio::test]
async fn a_command_that_exits_3_fails_and_a_restart_keeps_the_previous_log() {
    let t = runtime();
    let pod = pod("crash");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let spec = container("app", &["sh", "-c", "echo run $RUN; exit 3"]);
    let mut first = sandbox.start_container(&spec).unwrap();
    let terminated = first.wait().await;
    assert_eq!((terminated.exit_code, terminated.reason.as_str()), (3, "Error"));

    // Before a restart there is no previous instance: the kubelet's error.
    let previous = LogOptions { previous: true, ..Default::default() };
    let err = t.runtime.logs(&pod, "app", &previous).err().unwrap();
    assert_eq!(err.to_string(), r#"previous terminated container "app" in pod "crash" not found"#);
    assert_eq!(err.http_status(), 400);

    let mut again = spec.clone();
    again.env.push(kubelet::EnvVar::new("RUN", "two"));
    let mut second = sandbox.start_container(&again).unwrap();
    assert_eq!(second.restart_count, 1);
    assert_ne!(second.container_id, first.container_id);
    assert_eq!(second.wait().await.exit_code, 3);
    assert_eq!(read_log(&t.runtime, &pod, "app", previous.clone()).await, "run\n");
    assert_eq!(read_log(&t.runtime, &pod, "app", LogOptions::default()).await, "run two\n");
    let status = sandbox.container_status("app").unwrap();
    assert_eq!(status.restart_count, 1);
    assert_eq!(status.last_state.as_ref().map(|t| t.exit_code), Some(3));
    assert!(matches!(status.state, ContainerState::Terminated(ref t) if t.exit_code == 3));

    // A third instance: the first instance's log is gone, the second is now the previous one.
    let mut third = sandbox.start_container(&spec).unwrap();
    third.wait().await;
    assert!(!sandbox.dir().join("logs/app/0.log").exists());
    assert_eq!(read_log(&t.runtime, &pod, "app", previous).await, "run two\n");
}

#[tokio::test]
async fn starting_a_running_container_again_is_refused() {
    let t = runtime();
    let sandbox = t.runtime.run_pod_sandbox(&pod("p")).unwrap();
    sandbox.start_container(&container("c", &[])).unwrap();
    let err = sandbox.start_container(&container("c", &[])).unwrap_err();
    assert_eq!(err.to_string(), r#"container "c" in pod "p" is already running"#);
    let err = sandbox.start_container(&container("../escape", &[])).unwrap_err();
    assert_eq!(err.http_status(), 400);
}

#[tokio::test]
async fn logs_honour_tail_timestamps_limit_and_since_on_a_real_log() {
    let t = runtime();
    let pod = pod("counter");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let mut started = sandbox
        .start_container(&container(
            "c",
            &["sh", "-c", "for i in 1 2 3; do echo line $i; done; sleep 2.5; echo line 4"],
        ))
        .unwrap();
    started.wait().await;
    let read = |options| read_log(&t.runtime, &pod, "c", options);
    assert_eq!(read(LogOptions::default()).await, "line 1\nline 2\nline 3\nline 4\n");
    assert_eq!(read(LogOptions { tail_lines: Some(2), ..Default::default() }).await, "line 3\nline 4\n");
    assert_eq!(read(LogOptions { limit_bytes: Some(10), ..Default::default() }).await, "line 1\nlin");
    let stamped = read(LogOptions { timestamps: true, tail_lines: Some(1), ..Default::default() }).await;
    let (stamp, line) = stamped.split_once(' ').unwrap();
    assert_eq!(line, "line 4\n");
    assert_eq!((stamp.len(), stamp.ends_with('Z')), ("2024-01-01T00:00:00.000000000Z".len(), true), "{stamp}");
    let stamp = chrono::DateTime::parse_from_rfc3339(stamp).unwrap();
    // Lines 1-3 are 2.5 s older than line 4, which was written just now.
    assert_eq!(read(LogOptions { since: Some(LogSince::Seconds(2)), ..Default::default() }).await, "line 4\n");
    let since = LogOptions { since: Some(LogSince::Time(stamp.to_utc())), ..Default::default() };
    assert_eq!(read(since).await, "line 4\n");
}

#[tokio::test]
async fn a_follow_stream_ends_when_the_command_exits() {
    let t = runtime();
    let pod = pod("follow");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let started = sandbox.start_container(&container("c", &["sh", "-c", "echo a; sleep 0.5; echo b"])).unwrap();
    let follow = LogOptions { follow: true, ..Default::default() };
    let log = read_log(&t.runtime, &pod, "c", follow).await;
    assert_eq!(log, "a\nb\n");
    drop(started);
}

#[tokio::test]
async fn stop_sends_sigterm_then_sigkill_after_the_grace_period() {
    let t = runtime();
    let pod = pod("grace");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let polite = "trap 'echo bye; exit 0' TERM; while true; do sleep 0.05; done";
    sandbox.start_container(&container("polite", &["sh", "-c", polite])).unwrap();
    sandbox.start_container(&container("stubborn", &["sh", "-c", "trap '' TERM; sleep 300"])).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let polite = sandbox.stop_container("polite", Duration::from_secs(10)).await.unwrap();
    assert_eq!((polite.exit_code, polite.reason.as_str()), (0, "Completed"));
    assert_eq!(read_log(&t.runtime, &pod, "polite", LogOptions::default()).await, "bye\n");

    let begun = std::time::Instant::now();
    let stubborn = sandbox.stop_container("stubborn", Duration::from_millis(300)).await.unwrap();
    assert!(begun.elapsed() >= Duration::from_millis(300));
    assert_eq!((stubborn.exit_code, stubborn.signal, stubborn.reason.as_str()), (137, Some(9), "Error"));
}

#[tokio::test]
async fn removing_the_sandbox_kills_everything_ends_followers_and_removes_the_directory() {
    let t = runtime();
    let pod = pod("doomed");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    sandbox
        .start_container(&container("sleeper", &["sh", "-c", "sleep 301 & sleep 301 & echo started; wait"]))
        .unwrap();
    sandbox.start_container(&container("idle", &[])).unwrap();
    let follow = LogOptions { follow: true, ..Default::default() };
    let mut follower = t.runtime.logs(&pod, "sleeper", &follow).unwrap();
    assert_eq!(&follower.next().await.unwrap().unwrap()[..], b"started\n");
    let exec = t.runtime.exec(
        &pod,
        "idle",
        &kubelet::ExecOptions { command: vec!["sleep".into(), "302".into()], stdout: true, ..Default::default() },
    );
    let exec = exec.unwrap();
    let exec_pid = exec.pid().unwrap();
    let (client, session) = connect(kubelet::Protocol::V5, Ok(exec));
    let sleeper_pgid = find_group_of("sleep 301").expect("the container's sleeps run");

    t.runtime.remove_pod_sandbox(&pod, Duration::from_secs(5)).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_secs(5), follower.next()).await.unwrap().is_none());
    assert!(!sandbox.dir().exists());
    assert!(group_is_gone(sleeper_pgid).await, "the container's process group survived");
    assert!(group_is_gone(exec_pid).await, "the exec session's process group survived");
    let transcript = client.finish(session).await;
    assert_eq!(transcript.status, Some(kubelet::ExecStatus::NonZeroExit(137)));
    assert!(t.runtime.sandbox(&pod.uid).is_none());
    // Logs and exec of a pod without sandbox: still being created, not found.
    let err = t.runtime.logs(&pod, "sleeper", &LogOptions::default()).err().unwrap();
    assert_eq!(err.to_string(), r#"container "sleeper" in pod "doomed" is waiting to start: ContainerCreating"#);
    // Removing again is fine.
    t.runtime.remove_pod_sandbox(&pod, Duration::ZERO).await.unwrap();
}

/// The process group of a process of ours whose command line is `cmdline` (space-separated).
fn find_group_of(cmdline: &str) -> Option<u32> {
    for _ in 0..100 {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else { continue };
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.trim_end() == cmdline {
                let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
                let after = stat.rsplit_once(')')?.1;
                let pgid = after.split_whitespace().nth(2)?.parse().ok()?;
                let ppid: u32 = after.split_whitespace().nth(1)?.parse().ok()?;
                if is_descendant_of_us(ppid) {
                    return Some(pgid);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn is_descendant_of_us(mut pid: u32) -> bool {
    let me = std::process::id();
    while pid > 1 {
        if pid == me {
            return true;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
        let Some(ppid) = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok())
        else {
            return false;
        };
        pid = ppid;
    }
    false
}

#[tokio::test]
async fn a_command_that_cannot_start_is_a_start_error() {
    let t = runtime();
    let sandbox = t.runtime.run_pod_sandbox(&pod("broken")).unwrap();
    let mut started = sandbox.start_container(&container("c", &["no-such-program-anywhere"])).unwrap();
    let terminated = started.wait().await;
    assert_eq!((terminated.exit_code, terminated.reason.as_str()), (128, "StartError"));
    assert_eq!(
        terminated.message.as_deref(),
        Some(
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create \
             failed: unable to start container process: exec: \"no-such-program-anywhere\": executable file not found \
             in $PATH: unknown"
        )
    );
}

#[tokio::test]
async fn command_and_args_expand_env_references_like_the_kubelet() {
    let t = runtime();
    let pod = pod("expand");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let mut spec = container("c", &["echo"]);
    spec.args = vec!["$(GREETING)".into(), "$$(GREETING)".into(), "$(UNSET)".into()];
    sandbox.start_container(&spec).unwrap().wait().await;
    assert_eq!(
        read_log(&t.runtime, &pod, "c", LogOptions::default()).await,
        "hello from the pod $(GREETING) $(UNSET)\n"
    );
}

#[tokio::test]
async fn with_local_execution_off_a_command_is_not_run() {
    let t = runtime_with(ExecMode::Off);
    let pod = pod("safe");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let marker = t.dir.path().join("ran");
    let command = format!("touch {}", marker.display());
    sandbox.start_container(&container("c", &["sh", "-c", &command])).unwrap();
    let log = read_log(&t.runtime, &pod, "c", LogOptions::default()).await;
    assert_eq!(
        log,
        "Rampart did not run the command of container c: local exec is turned off on this server (rampart serve \
         --exec=off)\n"
    );
    let status = sandbox.container_status("c").unwrap();
    assert!(matches!(status.state, ContainerState::Running { .. }));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(!marker.exists());
    let err = t.runtime.exec(
        &pod,
        "c",
        &kubelet::ExecOptions { command: vec!["true".into()], stdout: true, ..Default::default() },
    );
    assert!(matches!(err, Err(KubeletError::ExecDisabled(_))));
}

#[tokio::test]
async fn logs_of_a_container_not_started_yet_say_it_is_waiting() {
    let t = runtime();
    let pod = pod("pending");
    t.runtime.run_pod_sandbox(&pod).unwrap();
    let err = t.runtime.logs(&pod, "later", &LogOptions::default()).err().unwrap();
    assert_eq!(err.to_string(), r#"container "later" in pod "pending" is waiting to start: ContainerCreating"#);
    let mut bad = pod.clone();
    bad.namespace = "..".into();
    assert_eq!(t.runtime.run_pod_sandbox(&bad).err().unwrap().http_status(), 400);
}

/// The API server and the controllers run these on a multi-threaded runtime.
#[tokio::test]
async fn the_runtime_s_futures_can_move_between_threads() {
    fn assert_send<T: Send>(_: &T) {}
    let t = runtime();
    let pod = pod("send");
    let sandbox = t.runtime.run_pod_sandbox(&pod).unwrap();
    let mut started = sandbox.start_container(&container("c", &[])).unwrap();
    assert_send(&started.wait());
    assert_send(&sandbox.stop_container("c", Duration::ZERO));
    assert_send(&t.runtime.remove_pod_sandbox(&pod, Duration::ZERO));
    assert_send(&t.runtime.logs(&pod, "c", &LogOptions::default()).unwrap());
    fn assert_sync<T: Sync>(_: &T) {}
    assert_sync(&t.runtime);
}

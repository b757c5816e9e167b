//! Logs and exec through the API server with the real kubectl against `rampart serve`: `logs`
//! of a container's command, `logs -f` ending when the pod is deleted, `logs --previous` of a
//! restarted container, `exec` with exit codes, `exec -i` with piped stdin, `exec -it` on a
//! real terminal, the environment from ConfigMaps, Secrets and the downward API, the refusals
//! (a container not in the pod, attach, port-forward, `--exec=off`), and a user bound by RBAC:
//! forbidden without the subresources, `logs`, `exec` and `exec -it` once a Role grants them.

mod common;

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::workloads::*;

/// Runs a pod with a busybox-style command and waits for it to run.
fn run_pod(rampart: &Rampart, name: &str, script: &str) {
    rampart.kubectl(&["run", name, "--image=busybox", "--", "sh", "-c", script]).ok();
    eventually(60, &format!("pod {name} running"), || {
        (jsonpath(rampart, &["pod", name], "{.status.phase}") == "Running").then_some(())
    });
}

#[test]
fn exec_and_logs_through_the_api_server() {
    let rampart = Rampart::start();
    run_pod(&rampart, "shell", "echo started as $HOSTNAME; while true; do sleep 1; done");

    let out = rampart.kubectl(&["exec", "shell", "--", "echo", "hi"]).ok();
    assert_eq!(out.stdout, "hi\n");
    let out = rampart.kubectl(&["exec", "shell", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(out.code, 3, "{out:?}");
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\ncommand terminated with exit code 3\n");
    let out = rampart
        .kubectl_stdin(&["exec", "-i", "shell", "--", "sh", "-c", "tr a-z A-Z"], "piped input\nsecond line\n")
        .ok();
    assert_eq!(out.stdout, "PIPED INPUT\nSECOND LINE\n");
    // The pod's own environment: its name, and the API server's service link.
    let out = rampart.kubectl(&["exec", "shell", "--", "sh", "-c", "echo $HOSTNAME $KUBERNETES_SERVICE_HOST"]).ok();
    assert_eq!(out.stdout, "shell 10.100.0.1\n");

    let out = rampart.kubectl(&["logs", "shell"]).ok();
    assert_eq!(out.stdout, "started as shell\n");

    // Refusals, in kube-apiserver's words.
    let out = rampart.kubectl(&["exec", "shell", "-c", "nope", "--", "true"]).failed();
    assert_eq!(out.stderr, "Error from server (BadRequest): container nope is not valid for pod shell\n");
    let out = rampart.kubectl(&["exec", "missing", "--", "true"]).failed();
    assert_eq!(out.stderr, "Error from server (NotFound): pods \"missing\" not found\n");
    let out = rampart.kubectl(&["exec", "shell", "--", "no-such-command"]).failed();
    assert!(out.stderr.contains(r#"exec: "no-such-command": executable file not found in $PATH"#), "{out:?}");
    let out = rampart.kubectl(&["attach", "shell"]).failed();
    assert!(out.stderr.contains("Rampart simulates containers and cannot attach to their processes"), "{out:?}");
    let out = rampart.kubectl(&["port-forward", "shell", "8080:80"]).failed();
    assert!(out.stderr.contains("there is no port to forward to"), "{out:?}");
}

#[test]
fn logs_follow_until_the_pod_is_deleted_and_previous_shows_the_last_run() {
    let rampart = Rampart::start();
    run_pod(&rampart, "ticker", "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done");
    let mut follow = rampart.command("kubectl");
    follow.args(["logs", "-f", "ticker"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = follow.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let started = Instant::now();
    rampart.kubectl(&["delete", "pod", "ticker", "--wait=true"]).ok();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "logs -f did not end with the pod");
        std::thread::sleep(Duration::from_millis(100));
    };
    let mut output = String::new();
    child.stdout.take().unwrap().read_to_string(&mut output).unwrap();
    assert!(status.success(), "{status:?}");
    assert!(output.starts_with("tick 0\ntick 1\n"), "{output}");
    assert!(output.lines().count() >= 8, "it followed while the pod ran: {output}");

    // A container that keeps failing: its previous run's log, and the back-off.
    run_pod(&rampart, "crashy", "echo run at $(date +%s%N); exit 1");
    let describe = eventually(60, "a restart", || {
        let out = rampart.kubectl(&["describe", "pod", "crashy"]).ok().stdout;
        out.contains("BackOff").then_some(out)
    });
    assert!(describe.contains("Back-off restarting failed container crashy in pod crashy_default("), "{describe}");
    assert!(describe.contains("Last State:     Terminated"), "{describe}");
    assert!(describe.contains("Exit Code:    1"), "{describe}");
    let previous = rampart.kubectl(&["logs", "crashy", "--previous"]).ok().stdout;
    assert!(previous.starts_with("run at "), "{previous}");
    let table = rows(&rampart.kubectl(&["get", "pod", "crashy"]).ok().stdout);
    assert!(["CrashLoopBackOff", "Error", "Running", "Completed"].contains(&table[1][2].as_str()), "{table:?}");
    assert_ne!(table[1][3], "0", "restarts are counted: {table:?}");

    // A pod that is never restarted ends Failed with its exit code.
    rampart.kubectl(&["run", "once", "--image=busybox", "--restart=Never", "--", "sh", "-c", "echo bye; exit 3"]).ok();
    eventually(60, "pod once to fail", || {
        (jsonpath(&rampart, &["pod", "once"], "{.status.phase}") == "Failed").then_some(())
    });
    assert_eq!(jsonpath(&rampart, &["pod", "once"], "{.status.containerStatuses[0].state.terminated.exitCode}"), "3");
    assert_eq!(rows(&rampart.kubectl(&["get", "pod", "once"]).ok().stdout)[1][2], "Error");
    assert_eq!(rampart.kubectl(&["logs", "once"]).ok().stdout, "bye\n");
    let out = rampart.kubectl(&["logs", "once", "--previous"]).failed();
    assert_eq!(
        out.stderr,
        "Error from server (BadRequest): previous terminated container \"once\" in pod \"once\" not found\n"
    );
}

#[test]
fn the_environment_comes_from_config_maps_secrets_and_the_pod() {
    let rampart = Rampart::start();
    rampart
        .kubectl(&["create", "configmap", "settings", "--from-literal=COLOR=blue", "--from-literal=SIZE=large"])
        .ok();
    rampart.kubectl(&["create", "secret", "generic", "creds", "--from-literal=token=s3cret"]).ok();
    let manifest = rampart.write_file(
        "env.yaml",
        r#"apiVersion: v1
kind: Pod
metadata:
  name: env
  labels: {team: blue}
spec:
  containers:
  - name: app
    image: busybox
    command: ["sh", "-c", "echo $GREETING; sleep 3600"]
    envFrom:
    - configMapRef: {name: settings}
      prefix: CFG_
    env:
    - name: TOKEN
      valueFrom: {secretKeyRef: {name: creds, key: token}}
    - name: TEAM
      valueFrom: {fieldRef: {fieldPath: "metadata.labels['team']"}}
    - name: NODE
      valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
    - name: GREETING
      value: "hello $(CFG_COLOR) $(TEAM)"
"#,
    );
    rampart.kubectl(&["apply", "-f", manifest.to_str().unwrap()]).ok();
    eventually(60, "pod env running", || {
        (jsonpath(&rampart, &["pod", "env"], "{.status.phase}") == "Running").then_some(())
    });
    let out = rampart.kubectl(&["exec", "env", "--", "sh", "-c", "echo $CFG_COLOR $CFG_SIZE $TOKEN $TEAM"]).ok();
    assert_eq!(out.stdout, "blue large s3cret blue\n");
    let node = rampart.kubectl(&["exec", "env", "--", "printenv", "NODE"]).ok().stdout;
    assert_eq!(node.trim(), jsonpath(&rampart, &["pod", "env"], "{.spec.nodeName}"));
    assert_eq!(rampart.kubectl(&["logs", "env"]).ok().stdout, "hello blue blue\n");

    // A missing ConfigMap holds the container back until it exists.
    let manifest = rampart.write_file(
        "later.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: later\nspec:\n  containers:\n  - name: app\n    image: busybox\n    command: [\"sh\", \"-c\", \"echo $MODE; sleep 3600\"]\n    env:\n    - name: MODE\n      valueFrom: {configMapKeyRef: {name: modes, key: mode}}\n",
    );
    rampart.kubectl(&["apply", "-f", manifest.to_str().unwrap()]).ok();
    let reason = eventually(30, "the config error", || {
        let reason = jsonpath(&rampart, &["pod", "later"], "{.status.containerStatuses[0].state.waiting.reason}");
        (!reason.is_empty()).then_some(reason)
    });
    assert_eq!(reason, "CreateContainerConfigError");
    assert_eq!(rows(&rampart.kubectl(&["get", "pod", "later"]).ok().stdout)[1][2], "CreateContainerConfigError");
    let describe = rampart.kubectl(&["describe", "pod", "later"]).ok().stdout;
    assert!(describe.contains("Error: configmap \"modes\" not found"), "{describe}");
    rampart.kubectl(&["create", "configmap", "modes", "--from-literal=mode=fast"]).ok();
    eventually(60, "pod later running", || {
        (jsonpath(&rampart, &["pod", "later"], "{.status.phase}") == "Running").then_some(())
    });
    eventually(10, "its log", || (rampart.kubectl(&["logs", "later"]).ok().stdout == "fast\n").then_some(()));
}

/// `kubectl exec -it` on a real terminal (a PTY of the test's own), typed into as a user would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_it_gives_an_interactive_shell_on_a_terminal() {
    let rampart = tokio::task::spawn_blocking(|| {
        let rampart = Rampart::start();
        run_pod(&rampart, "box", "sleep 3600");
        rampart
    })
    .await
    .unwrap();
    interactive_shell(&rampart, &[], "box").await;
    tokio::task::spawn_blocking(move || drop(rampart)).await.unwrap();
}

/// `kubectl [kubectl_args] exec -it POD -- sh` on a PTY: the shell answers on a terminal of the
/// PTY's size, follows a resize, and its exit code is kubectl's.
async fn interactive_shell(rampart: &Rampart, kubectl_args: &[&str], pod: &str) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let (pty, pts) = pty_process::open().unwrap();
    pty.resize(pty_process::Size::new(30, 100)).unwrap();
    let mut args = kubectl_args.to_vec();
    args.extend(["exec", "-it", pod, "--", "sh"]);
    let mut command = pty_process::Command::new("kubectl").args(args);
    command = command.env_clear().env("PATH", std::env::var("PATH").unwrap()).env("HOME", &rampart.home);
    for (name, value) in &rampart.env {
        command = command.env(name, value);
    }
    let mut child = command.kill_on_drop(true).spawn(pts).expect("the real kubectl is required");
    let (mut reader, mut keyboard) = pty.into_split();
    let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let filled = std::sync::Arc::clone(&screen);
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf).await {
            if n == 0 {
                break;
            }
            filled.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    let shows = |needle: &'static str| async move {
        for _ in 0..200 {
            if text().contains(needle) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    };
    keyboard.write_all(b"echo hello-from-$HOSTNAME; tty; stty size\r").await.unwrap();
    assert!(shows("30 100").await, "{}", text());
    assert!(text().contains(&format!("hello-from-{pod}\r\n")), "{}", text());
    assert!(text().contains("/dev/pts/"), "{}", text());
    keyboard.resize(pty_process::Size::new(40, 120)).unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    keyboard.write_all(b"stty size; exit 7\r").await.unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await.unwrap().unwrap();
    assert_eq!(status.code(), Some(7), "{}", text());
    assert!(shows("command terminated with exit code 7").await, "{}", text());
    assert!(text().contains("40 120"), "{}", text());
}

/// Logs and exec in a pod of two containers: the default container, `-c`, `--all-containers`,
/// `--tail`, `--since`; and exec into a pod no node took, refused as kube-apiserver refuses it.
#[test]
fn logs_and_exec_pick_containers_and_lines() {
    let rampart = Rampart::start();
    let manifest = rampart.write_file(
        "duo.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: duo\nspec:\n  containers:\n  - name: web\n    image: nginx\n    command: [sh, -c, 'echo web one; echo web two; echo web three; sleep 3600']\n  - name: sidecar\n    image: busybox\n    command: [sh, -c, 'echo sidecar up; sleep 3600']\n",
    );
    rampart.kubectl(&["apply", "-f", manifest.to_str().unwrap()]).ok();
    eventually(60, "pod duo running", || {
        (jsonpath(&rampart, &["pod", "duo"], "{.status.phase}") == "Running").then_some(())
    });
    eventually(10, "both logs", || {
        (rampart.kubectl(&["logs", "duo", "--all-containers"]).ok().stdout.lines().count() == 4).then_some(())
    });
    let out = rampart.kubectl(&["logs", "duo"]).ok();
    assert_eq!(out.stdout, "web one\nweb two\nweb three\n");
    assert!(out.stderr.contains("Defaulted container \"web\" out of: web, sidecar"), "{out:?}");
    assert_eq!(rampart.kubectl(&["logs", "duo", "-c", "sidecar"]).ok().stdout, "sidecar up\n");
    // kubectl requests the containers' logs in a Go map's order: each container's lines come
    // whole and in order, the containers in any order.
    let all = rampart.kubectl(&["logs", "duo", "--all-containers", "--prefix"]).ok().stdout;
    let web = "[pod/duo/web] web one\n[pod/duo/web] web two\n[pod/duo/web] web three\n";
    let sidecar = "[pod/duo/sidecar] sidecar up\n";
    assert!(all == format!("{web}{sidecar}") || all == format!("{sidecar}{web}"), "{all}");
    assert_eq!(rampart.kubectl(&["logs", "duo", "--tail=1"]).ok().stdout, "web three\n");
    assert_eq!(rampart.kubectl(&["logs", "duo", "--since=1h"]).ok().stdout, "web one\nweb two\nweb three\n");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(rampart.kubectl(&["logs", "duo", "--since=1s"]).ok().stdout, "");
    assert_eq!(
        rampart
            .kubectl(&["exec", "duo", "-c", "sidecar", "--", "sh", "-c", "pwd"])
            .ok()
            .stdout
            .trim_end()
            .rsplit('/')
            .next(),
        Some("sidecar")
    );

    // A pod no node can take has nowhere to exec.
    rampart
        .kubectl(&[
            "run",
            "nowhere",
            "--image=busybox",
            "--overrides={\"spec\":{\"nodeSelector\":{\"disk\":\"none\"}}}",
            "--",
            "sleep",
            "3600",
        ])
        .ok();
    let out = rampart.kubectl(&["exec", "nowhere", "--", "true"]).failed();
    assert_eq!(out.stderr, "Error from server (BadRequest): pod nowhere does not have a host assigned\n");
}

#[test]
fn exec_off_runs_nothing_and_says_so() {
    let rampart = Rampart::start_with(&["--exec=off"]);
    assert!(
        rampart.banner.iter().any(|l| l.contains("no local processes") && l.contains("--exec=off")),
        "{:?}",
        rampart.banner
    );
    run_pod(&rampart, "quiet", "echo this never runs");
    let log = rampart.kubectl(&["logs", "quiet"]).ok().stdout;
    assert!(log.starts_with("Rampart did not run the command of container quiet: local exec is turned off"), "{log}");
    let out = rampart.kubectl(&["exec", "quiet", "--", "echo", "hi"]).failed();
    assert!(out.stderr.contains("local exec is turned off on this server (rampart serve --exec=off)"), "{out:?}");
}

/// A user bound by RBAC (a service account with a token, bound to Roles as the tutorial binds
/// its users): allowed the pods but not their subresources, `logs` and `exec` are forbidden in
/// kube-apiserver's words; once a Role grants `pods/log` (get) and `pods/exec` (get, create),
/// `logs`, `exec` and `exec -it` on a terminal work for that user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_and_exec_need_their_subresource() {
    let (rampart, viewer) = tokio::task::spawn_blocking(|| {
        let rampart = Rampart::start();
        run_pod(&rampart, "secret-box", "echo private; sleep 3600");
        rampart.kubectl(&["create", "serviceaccount", "viewer"]).ok();
        let token = rampart.kubectl(&["create", "token", "viewer"]).ok().stdout;
        let viewer = token_kubeconfig(&rampart, "viewer.kubeconfig", token.trim());
        let viewer = viewer.to_str().unwrap().to_string();
        let as_viewer = |args: &[&str]| {
            let mut all = vec!["--kubeconfig", viewer.as_str()];
            all.extend_from_slice(args);
            rampart.kubectl(&all)
        };
        let forbidden = |what: &str| {
            format!(
                "Error from server (Forbidden): pods \"secret-box\" is forbidden: User \"system:serviceaccount:default:viewer\" cannot {what} in API group \"\" in the namespace \"default\"\n"
            )
        };
        // Bound to a Role on pods alone: the pod may be read, its log and a shell may not.
        rampart.kubectl(&["create", "role", "pod-reader", "--verb=get,list", "--resource=pods"]).ok();
        rampart
            .kubectl(&["create", "rolebinding", "viewer-reads", "--role=pod-reader", "--serviceaccount=default:viewer"])
            .ok();
        let phase = as_viewer(&["get", "pod", "secret-box", "-o", "jsonpath={.status.phase}"]).ok().stdout;
        assert_eq!(phase, "Running");
        let out = as_viewer(&["logs", "secret-box"]).failed();
        assert_eq!(out.stderr, forbidden("get resource \"pods/log\""));
        let out = as_viewer(&["exec", "secret-box", "--", "echo", "hi"]).failed();
        assert!(
            out.stderr.starts_with(
                "Error from server (Forbidden): pods \"secret-box\" is forbidden: User \"system:serviceaccount:default:viewer\" cannot "
            ) && out.stderr.contains("resource \"pods/exec\""),
            "{out:?}"
        );
        // `create` alone on pods/exec, as Kubernetes 1.32 authorizes it: the WebSocket GET needs
        // `get`, so kubectl falls back to SPDY's POST, which is allowed and then refused as a
        // protocol this server does not speak, saying what to do.
        rampart.kubectl(&["create", "role", "exec-create", "--verb=create", "--resource=pods/exec"]).ok();
        rampart
            .kubectl(&["create", "rolebinding", "viewer-exec", "--role=exec-create", "--serviceaccount=default:viewer"])
            .ok();
        let out = as_viewer(&["exec", "secret-box", "--", "echo", "hi"]).failed();
        assert!(out.stderr.contains("not SPDY"), "{out:?}");
        // The tutorial's Role: the subresources granted, the same user gets the log and a shell.
        let role = rampart.write_file(
            "pod-shell.yaml",
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata:\n  name: pod-shell\n  namespace: default\nrules:\n- apiGroups: [\"\"]\n  resources: [\"pods/log\"]\n  verbs: [\"get\"]\n- apiGroups: [\"\"]\n  resources: [\"pods/exec\"]\n  verbs: [\"get\", \"create\"]\n",
        );
        rampart.kubectl(&["apply", "-f", role.to_str().unwrap()]).ok();
        rampart
            .kubectl(&["create", "rolebinding", "viewer-shell", "--role=pod-shell", "--serviceaccount=default:viewer"])
            .ok();
        assert_eq!(as_viewer(&["logs", "secret-box"]).ok().stdout, "private\n");
        assert_eq!(as_viewer(&["exec", "secret-box", "--", "echo", "hi"]).ok().stdout, "hi\n");
        let out = as_viewer(&["exec", "secret-box", "--", "sh", "-c", "exit 4"]);
        assert_eq!(out.code, 4, "{out:?}");
        // Still nothing the Roles do not grant.
        let out = as_viewer(&["delete", "pod", "secret-box"]).failed();
        assert_eq!(out.stderr, forbidden("delete resource \"pods\""));
        (rampart, viewer)
    })
    .await
    .unwrap();
    interactive_shell(&rampart, &["--kubeconfig", &viewer], "secret-box").await;
    tokio::task::spawn_blocking(move || drop(rampart)).await.unwrap();
}

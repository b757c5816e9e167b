//! The runtime proper: pod sandboxes (one directory per pod, one per container inside it),
//! container instances and their lifecycle, and the entry points for logs and exec.
//!
//! Layout under the root the caller gives (e.g. `DIR/pods`):
//! `<cluster>/<namespace>/<pod-uid>/containers/<container>/` is a container's working directory
//! and `HOME`; `<cluster>/<namespace>/<pod-uid>/logs/<container>/<restartCount>.log` its CRI
//! logs, the current instance's and the previous one's (older ones are removed, as the kubelet
//! keeps only the last terminated instance).
//!
//! A container with a `command` (or `args`) runs it as a local process leading its own process
//! group, its output going to the log; when it exits the container is terminated with its exit
//! code and the caller (the pod lifecycle controller) decides about restarts. A container with
//! neither "runs" with no process until stopped, its log holding one start line. Each instance
//! is watched by one task; stopping sends SIGTERM to the main process, as containerd does, then
//! SIGKILL to the whole group after the grace period. When the main process ends, the rest of
//! its group is killed, as a container's processes die with its init process. While it runs,
//! `<sandbox>/pids/<container>` records its group, and [`Runtime::kill_orphans`] kills the groups
//! a server killed with SIGKILL left behind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rustix::process::Signal;
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};

use crate::cri_log::LogStream as OutputStream;
use crate::error::KubeletError;
use crate::exec::{self, ExecOptions, ExecProcess};
use crate::logs::{LogFile, LogOptions, LogStream, pump_output};
use crate::pod::{ContainerSpec, PodRef, check_segment};
use crate::policy::ExecPolicy;
use crate::process::{PidFile, ProcessGroup, container_env, exit_code, kill_orphans, new_id, start_failure};

/// How long a container's output may still be drained after its process group was killed
/// (a process that escaped the group could hold the pipes open forever).
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(2);

/// The container runtime of one Rampart server: every pod sandbox, by pod UID.
pub struct Runtime {
    root: PathBuf,
    policy: ExecPolicy,
    sandboxes: Mutex<HashMap<String, Arc<Sandbox>>>,
}

impl Runtime {
    /// A runtime keeping its sandboxes under `root`, running local processes only if `policy`
    /// allows. Nothing is created on disk until the first sandbox.
    pub fn new(root: impl Into<PathBuf>, policy: ExecPolicy) -> Self {
        Self { root: root.into(), policy, sandboxes: Mutex::new(HashMap::new()) }
    }

    /// Kills the container processes a previous server left running under this root (it was
    /// killed before it could stop them), so that a container restarted now is its only process.
    /// Returns how many process groups were killed. Call once, before any pod starts.
    pub fn kill_orphans(&self) -> usize {
        kill_orphans(&self.root)
    }

    /// The exec policy, to refuse an exec before upgrading its connection.
    pub fn policy(&self) -> &ExecPolicy {
        &self.policy
    }

    /// Creates the pod's sandbox directory (or returns the existing sandbox).
    pub fn run_pod_sandbox(&self, pod: &PodRef) -> Result<Arc<Sandbox>, KubeletError> {
        pod.check_path_segments()?;
        let mut sandboxes = lock(&self.sandboxes);
        if let Some(sandbox) = sandboxes.get(&pod.uid) {
            return Ok(Arc::clone(sandbox));
        }
        let dir = self.sandbox_dir(pod);
        std::fs::create_dir_all(&dir).map_err(|e| KubeletError::io("creating the pod sandbox", &dir, e))?;
        let sandbox = Arc::new(Sandbox {
            pod: pod.clone(),
            dir,
            policy: self.policy.clone(),
            state: Mutex::new(SandboxState::default()),
        });
        sandboxes.insert(pod.uid.clone(), Arc::clone(&sandbox));
        Ok(sandbox)
    }

    /// The sandbox of the pod with this UID, if it runs.
    pub fn sandbox(&self, pod_uid: &str) -> Option<Arc<Sandbox>> {
        lock(&self.sandboxes).get(pod_uid).cloned()
    }

    /// The pods of `cluster` that have a sandbox.
    pub fn pods_of(&self, cluster: &str) -> Vec<PodRef> {
        lock(&self.sandboxes).values().filter(|s| s.pod.cluster == cluster).map(|s| s.pod.clone()).collect()
    }

    /// Stops every container of the pod (SIGTERM, SIGKILL after `grace`), kills its exec
    /// sessions, ends its log followers and removes its directory. Also removes a directory
    /// left by an earlier server run.
    pub async fn remove_pod_sandbox(&self, pod: &PodRef, grace: Duration) -> Result<(), KubeletError> {
        pod.check_path_segments()?;
        let sandbox = lock(&self.sandboxes).remove(&pod.uid);
        if let Some(sandbox) = sandbox {
            sandbox.stop_all(grace).await;
        }
        let dir = self.sandbox_dir(pod);
        match tokio::fs::remove_dir_all(&dir).await {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(KubeletError::io("removing the pod sandbox", &dir, e))
            }
            _ => Ok(()),
        }
    }

    /// `pods/log` for a container of a pod; a pod without sandbox is still being created.
    pub fn logs(&self, pod: &PodRef, container: &str, options: &LogOptions) -> Result<LogStream, KubeletError> {
        match self.sandbox(&pod.uid) {
            Some(sandbox) => sandbox.logs(container, options),
            None => Err(waiting(container, &pod.name)),
        }
    }

    /// `pods/exec` into a container of a pod; see [`Sandbox::exec`].
    pub fn exec(&self, pod: &PodRef, container: &str, options: &ExecOptions) -> Result<ExecProcess, KubeletError> {
        match self.sandbox(&pod.uid) {
            Some(sandbox) => sandbox.exec(container, options),
            None => Err(KubeletError::ContainerNotFound { container: container.to_string() }),
        }
    }

    fn sandbox_dir(&self, pod: &PodRef) -> PathBuf {
        self.root.join(&pod.cluster).join(&pod.namespace).join(&pod.uid)
    }
}

/// A container's state, as `containerStatuses[].state` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ContainerState {
    Running { started_at: DateTime<Utc> },
    Terminated(Terminated),
}

impl ContainerState {
    fn terminated(&self) -> Option<&Terminated> {
        match self {
            Self::Terminated(terminated) => Some(terminated),
            Self::Running { .. } => None,
        }
    }
}

/// `state.terminated` of a container status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Terminated {
    pub exit_code: i32,
    /// The signal that killed the process, if one did.
    pub signal: Option<i32>,
    /// `Completed` (exit 0), `Error`, or `StartError` (the command could not be started).
    pub reason: String,
    pub message: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// What `containerStatuses[]` needs about one container.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerStatus {
    pub name: String,
    /// containerd-shaped (64 hex digits); `containerID` is `containerd://` + this.
    pub container_id: String,
    pub restart_count: u32,
    pub state: ContainerState,
    /// The previous instance's end, after a restart.
    pub last_state: Option<Terminated>,
}

/// A container instance just started.
#[derive(Debug)]
pub struct StartedContainer {
    pub container_id: String,
    pub restart_count: u32,
    pub started_at: DateTime<Utc>,
    state: watch::Receiver<ContainerState>,
}

impl StartedContainer {
    /// Waits until this instance terminates (its command exits, or it is stopped) and says how.
    pub async fn wait(&mut self) -> Terminated {
        wait_terminated(&mut self.state).await
    }
}

/// One pod's sandbox: its directory and its containers.
pub struct Sandbox {
    pod: PodRef,
    dir: PathBuf,
    policy: ExecPolicy,
    state: Mutex<SandboxState>,
}

#[derive(Default)]
struct SandboxState {
    removed: bool,
    containers: HashMap<String, ContainerRecord>,
}

struct ContainerRecord {
    /// The resolved environment, for exec sessions.
    env: Vec<(String, String)>,
    restart_count: u32,
    current: Instance,
    previous: Option<Instance>,
}

#[derive(Clone)]
struct Instance {
    container_id: String,
    log_path: PathBuf,
    log_updates: watch::Receiver<u64>,
    state: watch::Receiver<ContainerState>,
    /// Asks the instance's task to stop, with a grace period.
    stop: mpsc::UnboundedSender<Duration>,
}

impl Instance {
    fn is_running(&self) -> bool {
        self.state.borrow().terminated().is_none()
    }
}

impl Sandbox {
    pub fn pod(&self) -> &PodRef {
        &self.pod
    }

    /// The sandbox directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Starts (or restarts) a container: a new instance with a fresh log, the previous
    /// instance's log kept for `previous=true`. Must be called within a Tokio runtime.
    pub fn start_container(&self, spec: &ContainerSpec) -> Result<StartedContainer, KubeletError> {
        check_segment("container name", &spec.name)?;
        let mut state = lock(&self.state);
        if state.removed {
            return Err(KubeletError::SandboxRemoved { pod: self.pod.name.clone() });
        }
        let restart_count = match state.containers.get(&spec.name) {
            Some(record) if record.current.is_running() => {
                return Err(KubeletError::ContainerRunning {
                    container: spec.name.clone(),
                    pod: self.pod.name.clone(),
                });
            }
            Some(record) => record.restart_count + 1,
            None => 0,
        };
        let workdir = self.container_dir(&spec.name);
        let logdir = self.dir.join("logs").join(&spec.name);
        for dir in [&workdir, &logdir] {
            std::fs::create_dir_all(dir).map_err(|e| KubeletError::io("creating the container directory", dir, e))?;
        }
        if let Some(older) = restart_count.checked_sub(2) {
            let _ = std::fs::remove_file(logdir.join(format!("{older}.log")));
        }
        let log_path = logdir.join(format!("{restart_count}.log"));
        let (log, log_updates) = LogFile::create(&log_path)?;
        let log = Arc::new(log);
        let env = spec.resolved_env();
        let started_at = Utc::now();
        let (state_tx, state_rx) = watch::channel(ContainerState::Running { started_at });
        let (stop_tx, stop_rx) = mpsc::unbounded_channel();

        match (spec.argv(&env), self.policy.refusal()) {
            (None, _) => {
                log.line(
                    OutputStream::Stdout,
                    &format!(
                        "Rampart simulates container {} (image {}): it runs no process until it is stopped; \
                         kubectl exec runs commands in its sandbox",
                        spec.name, spec.image
                    ),
                );
                tokio::spawn(supervise_simulated(log, state_tx, stop_rx, started_at));
            }
            (Some(_), Some(refusal)) => {
                log.line(
                    OutputStream::Stdout,
                    &format!("Rampart did not run the command of container {}: {refusal}", spec.name),
                );
                tokio::spawn(supervise_simulated(log, state_tx, stop_rx, started_at));
            }
            (Some(argv), None) => {
                let mut command = Command::new(&argv[0]);
                command
                    .args(&argv[1..])
                    .env_clear()
                    .envs(container_env(&self.pod.name, &workdir, &env, false))
                    .current_dir(&workdir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .process_group(0)
                    .kill_on_drop(true);
                match command.spawn() {
                    Ok(child) => {
                        // Without its pid file, a server killed now would leave the process to a
                        // restarted one that cannot find it; the container still runs.
                        let pid_file = child.id().map(|pid| PidFile::write(&self.dir, &spec.name, pid));
                        let pid_file = match pid_file {
                            Some(Ok(file)) => Some(file),
                            Some(Err(err)) => {
                                tracing::warn!(%err, container = %spec.name, "cannot write the container's pid file");
                                None
                            }
                            None => None,
                        };
                        tokio::spawn(supervise_process(child, pid_file, log, state_tx, stop_rx, started_at));
                    }
                    Err(err) => {
                        let message = format!(
                            "failed to create containerd task: failed to create shim task: OCI runtime create failed: \
                             runc create failed: unable to start container process: {}: unknown",
                            start_failure(&argv[0], &err)
                        );
                        state_tx.send_replace(ContainerState::Terminated(Terminated {
                            exit_code: 128,
                            signal: None,
                            reason: "StartError".into(),
                            message: Some(message),
                            started_at,
                            finished_at: Utc::now(),
                        }));
                    }
                }
            }
        }

        let container_id = new_id();
        let instance = Instance {
            container_id: container_id.clone(),
            log_path,
            log_updates,
            state: state_rx.clone(),
            stop: stop_tx,
        };
        let previous = state.containers.remove(&spec.name).map(|record| record.current);
        state.containers.insert(spec.name.clone(), ContainerRecord { env, restart_count, current: instance, previous });
        Ok(StartedContainer { container_id, restart_count, started_at, state: state_rx })
    }

    /// Stops a container's current instance: SIGTERM to its main process, SIGKILL to its
    /// process group after `grace`. Returns how it terminated (at once if it already had).
    pub async fn stop_container(&self, name: &str, grace: Duration) -> Result<Terminated, KubeletError> {
        let instance = lock(&self.state).containers.get(name).map(|record| record.current.clone());
        let mut instance = instance.ok_or_else(|| KubeletError::ContainerNotFound { container: name.to_string() })?;
        let _ = instance.stop.send(grace);
        Ok(wait_terminated(&mut instance.state).await)
    }

    /// The status of a container, `None` if it was never started.
    pub fn container_status(&self, name: &str) -> Option<ContainerStatus> {
        let state = lock(&self.state);
        let record = state.containers.get(name)?;
        Some(ContainerStatus {
            name: name.to_string(),
            container_id: record.current.container_id.clone(),
            restart_count: record.restart_count,
            state: record.current.state.borrow().clone(),
            last_state: record.previous.as_ref().and_then(|p| p.state.borrow().terminated().cloned()),
        })
    }

    /// `pods/log`: the current (or, with `previous`, the previous) instance's log.
    pub fn logs(&self, container: &str, options: &LogOptions) -> Result<LogStream, KubeletError> {
        let state = lock(&self.state);
        if state.removed {
            return Err(KubeletError::SandboxRemoved { pod: self.pod.name.clone() });
        }
        let record = state.containers.get(container).ok_or_else(|| waiting(container, &self.pod.name))?;
        let instance = if options.previous {
            record.previous.as_ref().ok_or_else(|| KubeletError::PreviousNotFound {
                container: container.to_string(),
                pod: self.pod.name.clone(),
            })?
        } else {
            &record.current
        };
        LogStream::open(&instance.log_path, instance.log_updates.clone(), options)
    }

    /// `pods/exec`: starts the command in the container's directory with its environment.
    /// Errors are the kubelet's; after a WebSocket upgrade they go on the error channel
    /// ([`crate::serve_exec`] does that).
    pub fn exec(&self, container: &str, options: &ExecOptions) -> Result<ExecProcess, KubeletError> {
        self.policy.check()?;
        let (env, container_state) = {
            let state = lock(&self.state);
            let record = state
                .containers
                .get(container)
                .filter(|record| !state.removed && record.current.is_running())
                .ok_or_else(|| KubeletError::ContainerNotFound { container: container.to_string() })?;
            (record.env.clone(), record.current.state.clone())
        };
        exec::spawn(options, &self.pod.name, &self.container_dir(container), &env, container_state)
    }

    fn container_dir(&self, name: &str) -> PathBuf {
        self.dir.join("containers").join(name)
    }

    async fn stop_all(&self, grace: Duration) {
        let instances: Vec<Instance> = {
            let mut state = lock(&self.state);
            state.removed = true;
            state.containers.values().map(|record| record.current.clone()).collect()
        };
        let stops = instances.into_iter().map(|mut instance| async move {
            let _ = instance.stop.send(grace);
            wait_terminated(&mut instance.state).await
        });
        futures::future::join_all(stops).await;
    }
}

fn waiting(container: &str, pod: &str) -> KubeletError {
    KubeletError::ContainerWaiting {
        container: container.to_string(),
        pod: pod.to_string(),
        reason: "ContainerCreating".to_string(),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

async fn wait_terminated(state: &mut watch::Receiver<ContainerState>) -> Terminated {
    // The instance's task always publishes `Terminated` before it ends, so an error here can
    // only mean it is already published (or the runtime is shutting down).
    let _ = state.wait_for(|s| s.terminated().is_some()).await;
    let current = state.borrow().clone();
    match current {
        ContainerState::Terminated(terminated) => terminated,
        ContainerState::Running { started_at } => Terminated {
            exit_code: 137,
            signal: Some(9),
            reason: "Error".into(),
            message: None,
            started_at,
            finished_at: Utc::now(),
        },
    }
}

/// The task of a container without a process: it runs until asked to stop.
async fn supervise_simulated(
    log: Arc<LogFile>,
    state: watch::Sender<ContainerState>,
    mut stop: mpsc::UnboundedReceiver<Duration>,
    started_at: DateTime<Utc>,
) {
    // `None`: the instance was forgotten (the runtime is going away); stop as well.
    let _ = stop.recv().await;
    drop(log);
    state.send_replace(ContainerState::Terminated(Terminated {
        exit_code: 0,
        signal: None,
        reason: "Completed".into(),
        message: None,
        started_at,
        finished_at: Utc::now(),
    }));
}

/// The task of a container process: copies its output to the log, waits for it to exit or
/// for a stop, kills what is left of its group, then publishes how it terminated.
async fn supervise_process(
    mut child: Child,
    pid_file: Option<PidFile>,
    log: Arc<LogFile>,
    state: watch::Sender<ContainerState>,
    mut stop: mpsc::UnboundedReceiver<Duration>,
    started_at: DateTime<Utc>,
) {
    let mut group = ProcessGroup::led_by(child.id());
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let mut pumps = tokio::spawn(async move {
        let out = async {
            if let Some(stdout) = stdout {
                pump_output(stdout, OutputStream::Stdout, &log).await;
            }
        };
        let err = async {
            if let Some(stderr) = stderr {
                pump_output(stderr, OutputStream::Stderr, &log).await;
            }
        };
        futures::future::join(out, err).await;
    });
    let status = tokio::select! {
        status = child.wait() => status,
        grace = stop.recv() => {
            group.signal_leader(Signal::TERM);
            match tokio::time::timeout(grace.unwrap_or_default(), child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    group.signal(Signal::KILL);
                    child.wait().await
                }
            }
        }
    };
    group.kill();
    drop(pid_file);
    if tokio::time::timeout(DRAIN_AFTER_EXIT, &mut pumps).await.is_err() {
        pumps.abort();
    }
    let (exit_code, signal) = match status {
        Ok(status) => exit_code(status),
        Err(err) => {
            tracing::warn!(%err, "cannot wait for a container process");
            (1, None)
        }
    };
    state.send_replace(ContainerState::Terminated(Terminated {
        exit_code,
        signal,
        reason: if exit_code == 0 { "Completed" } else { "Error" }.into(),
        message: None,
        started_at,
        finished_at: Utc::now(),
    }));
}

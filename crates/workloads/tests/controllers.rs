//! The controllers on a real in-process API server (in-memory store): a Deployment becomes a
//! ReplicaSet and Running pods on the pool's nodes, scales, rolls out a new template, rolls
//! back; pods that exit follow their restart policy; unschedulable pods wait with the
//! scheduler's reason; deletion is graceful.

use std::sync::Arc;
use std::time::Duration;

use kube_api::{Cluster, ClusterConfig, ClusterHandle, ClusterServer, Ctx, Target};
use kube_core::params::{DeleteOptions, ListOptions};
use kubelet::{ExecMode, ExecPolicy, Runtime};
use serde_json::{Value, json};
use workloads::{NodeCapacity, NodePool, Workloads, WorkloadsConfig};

struct Env {
    handle: ClusterHandle,
    runtime: Arc<Runtime>,
    workloads: Option<Workloads>,
    _dir: tempfile::TempDir,
}

impl Env {
    fn cluster(&self) -> &Arc<Cluster> {
        self.handle.cluster()
    }
}

async fn start(nodes: usize, capacity: &str) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn store::Store> = Arc::new(store::MemStore::new());
    let config = ClusterConfig::new("demo", "127.0.0.1:0".parse().unwrap(), store);
    let handle = ClusterServer::start(config).await.unwrap();
    let policy = ExecPolicy::decide(ExecMode::Local, &[handle.addr()]);
    let runtime = Arc::new(Runtime::new(dir.path().join("pods"), policy));
    let pool = NodePool::new(nodes, NodeCapacity::parse(capacity).unwrap(), "us-east-1").unwrap();
    let config = WorkloadsConfig { runtime: Arc::clone(&runtime), node_pool: pool };
    let workloads = workloads::install(handle.cluster(), config).await.unwrap();
    Env { handle, runtime, workloads: Some(workloads), _dir: dir }
}

impl Drop for Env {
    fn drop(&mut self) {
        if let Some(w) = self.workloads.take() {
            w.shutdown();
        }
    }
}

fn admin() -> Ctx {
    Ctx {
        user: rbac::UserInfo { name: "admin".into(), groups: vec!["system:masters".into()], ..Default::default() },
        ..Default::default()
    }
}

async fn list(cluster: &Cluster, plural: &str, group: &str, selector: &str) -> Vec<Value> {
    let def = cluster.objects().resource(group, "v1", plural).unwrap();
    let mut options = ListOptions::default();
    if !selector.is_empty() {
        options.label_selector = kube_core::selector::LabelSelector::parse(selector).unwrap();
    }
    cluster.objects().list(&Target::collection(&def, "default"), &options).await.unwrap().items
}

async fn get(cluster: &Cluster, plural: &str, group: &str, name: &str) -> Option<Value> {
    let def = cluster.objects().resource(group, "v1", plural).unwrap();
    let namespace = if def.namespaced { "default" } else { "" };
    cluster.objects().get(&Target::object(&def, namespace, name)).await.ok()
}

/// Polls `check` until it returns Some, for up to `seconds`.
async fn wait_for<T, F, Fut>(seconds: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn phase(pod: &Value) -> &str {
    pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or_default()
}

async fn running_pods(cluster: &Cluster, selector: &str, count: usize) -> Vec<Value> {
    wait_for(30, &format!("{count} running pods {selector}"), || async {
        let pods = list(cluster, "pods", "", selector).await;
        let running: Vec<Value> = pods
            .into_iter()
            .filter(|p| phase(p) == "Running" && p.pointer("/metadata/deletionTimestamp").is_none())
            .collect();
        (running.len() == count).then_some(running)
    })
    .await
}

fn deployment(name: &str, replicas: i64, image: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]}}}})
}

async fn deployment_done(cluster: &Cluster, name: &str, replicas: i64) -> Value {
    wait_for(30, &format!("deployment {name} rolled out"), || async {
        let d = get(cluster, "deployments", "apps", name).await?;
        let s = &d["status"];
        let n = |f: &str| s.get(f).and_then(Value::as_i64).unwrap_or(0);
        let done = s["observedGeneration"] == d["metadata"]["generation"]
            && n("updatedReplicas") == replicas
            && n("replicas") == replicas
            && n("availableReplicas") == replicas;
        done.then_some(d)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_are_registered_ready() {
    let env = start(3, "cpu=2,memory=8Gi,pods=20").await;
    let nodes = env.workloads.as_ref().unwrap().nodes().to_vec();
    assert_eq!(nodes.len(), 3);
    for node in &nodes {
        let object = get(env.cluster(), "nodes", "", &node.name).await.expect("registered");
        let ready = object["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "True");
        assert_eq!(object["status"]["allocatable"]["pods"], "20");
        assert_eq!(object["status"]["nodeInfo"]["kubeletVersion"], workloads::KUBELET_VERSION);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deployment_runs_scales_rolls_out_and_rolls_back() {
    let env = start(2, "cpu=4,memory=16Gi,pods=110").await;
    let cluster = env.cluster();
    let deployments = cluster.objects().resource("apps", "v1", "deployments").unwrap();
    cluster
        .objects()
        .create(&Target::collection(&deployments, "default"), deployment("web", 3, "nginx:1.27"), &mut admin())
        .await
        .unwrap();
    let pods = running_pods(cluster, "app=web", 3).await;
    for pod in &pods {
        assert!(pod["spec"]["nodeName"].as_str().unwrap().starts_with("ip-192-168-"), "{pod}");
        assert!(pod["status"]["podIP"].as_str().unwrap().starts_with("192.168."));
        assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    }
    let nodes: std::collections::BTreeSet<&str> =
        pods.iter().map(|p| p["spec"]["nodeName"].as_str().unwrap()).collect();
    assert_eq!(nodes.len(), 2, "the scheduler spreads pods over the nodes");
    let d = deployment_done(cluster, "web", 3).await;
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");
    assert_eq!(d["status"]["conditions"][0]["type"], "Available");
    assert_eq!(d["status"]["conditions"][1]["reason"], "NewReplicaSetAvailable");
    let sets = list(cluster, "replicasets", "apps", "app=web").await;
    assert_eq!(sets.len(), 1);
    let first_set = sets[0]["metadata"]["name"].as_str().unwrap().to_string();
    let hash = sets[0]["metadata"]["labels"]["pod-template-hash"].as_str().unwrap().to_string();
    assert_eq!(first_set, format!("web-{hash}"));
    assert!(pods.iter().all(|p| p["metadata"]["labels"]["pod-template-hash"] == hash.as_str()));

    // Scale up and down.
    let patch = |replicas: i64| serde_json::to_vec(&json!({"spec": {"replicas": replicas}})).unwrap();
    cluster
        .objects()
        .patch(&Target::object(&deployments, "default", "web"), kube_patch::PatchType::Merge, &patch(5), &mut admin())
        .await
        .unwrap();
    running_pods(cluster, "app=web", 5).await;
    deployment_done(cluster, "web", 5).await;
    cluster
        .objects()
        .patch(&Target::object(&deployments, "default", "web"), kube_patch::PatchType::Merge, &patch(2), &mut admin())
        .await
        .unwrap();
    running_pods(cluster, "app=web", 2).await;
    deployment_done(cluster, "web", 2).await;

    // A new template rolls out as revision 2.
    let image = serde_json::to_vec(
        &json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}}}),
    )
    .unwrap();
    cluster
        .objects()
        .patch(
            &Target::object(&deployments, "default", "web"),
            kube_patch::PatchType::StrategicMerge,
            &image,
            &mut admin(),
        )
        .await
        .unwrap();
    let d = deployment_done(cluster, "web", 2).await;
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    let pods = running_pods(cluster, "app=web", 2).await;
    assert!(pods.iter().all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.28"));
    let sets = list(cluster, "replicasets", "apps", "app=web").await;
    assert_eq!(sets.len(), 2);
    let old = sets.iter().find(|s| s["metadata"]["name"] == first_set.as_str()).unwrap();
    assert_eq!(old["spec"]["replicas"], 0);

    // Rolling back (what kubectl rollout undo patches): the old set comes back as revision 3.
    let template = old["spec"]["template"].clone();
    let mut template = template;
    template["metadata"]["labels"].as_object_mut().unwrap().remove("pod-template-hash");
    let undo = serde_json::to_vec(&json!([{"op": "replace", "path": "/spec/template", "value": template}])).unwrap();
    cluster
        .objects()
        .patch(&Target::object(&deployments, "default", "web"), kube_patch::PatchType::Json, &undo, &mut admin())
        .await
        .unwrap();
    let d = deployment_done(cluster, "web", 2).await;
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    let back = get(cluster, "replicasets", "apps", &first_set).await.unwrap();
    assert_eq!(back["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    assert_eq!(back["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"], "1");
    assert_eq!(back["spec"]["replicas"], 2);
    let pods = running_pods(cluster, "app=web", 2).await;
    assert!(pods.iter().all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.27"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn containers_follow_their_restart_policy() {
    let env = start(1, "").await;
    let cluster = env.cluster();
    let pods = cluster.objects().resource("", "v1", "pods").unwrap();
    let pod = |name: &str, policy: &str, script: &str| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"restartPolicy": policy, "containers": [{"name": "app", "image": "busybox",
                "command": ["sh", "-c", script], "env": [{"name": "WHO", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]}]}})
    };
    cluster
        .objects()
        .create(
            &Target::collection(&pods, "default"),
            pod("fails", "Never", "echo bye from $WHO; exit 3"),
            &mut admin(),
        )
        .await
        .unwrap();
    cluster
        .objects()
        .create(&Target::collection(&pods, "default"), pod("done", "OnFailure", "echo done"), &mut admin())
        .await
        .unwrap();
    cluster
        .objects()
        .create(&Target::collection(&pods, "default"), pod("crash", "Always", "exit 1"), &mut admin())
        .await
        .unwrap();
    let failed = wait_for(20, "pod fails to fail", || async {
        get(cluster, "pods", "", "fails").await.filter(|p| phase(p) == "Failed")
    })
    .await;
    let terminated = &failed["status"]["containerStatuses"][0]["state"]["terminated"];
    assert_eq!(terminated["exitCode"], 3);
    assert_eq!(terminated["reason"], "Error");
    assert_eq!(failed["status"]["conditions"][2]["reason"], "PodFailed");
    wait_for(20, "pod done to succeed", || async {
        get(cluster, "pods", "", "done").await.filter(|p| phase(p) == "Succeeded")
    })
    .await;
    let crashing = wait_for(30, "pod crash to back off", || async {
        get(cluster, "pods", "", "crash")
            .await
            .filter(|p| p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "CrashLoopBackOff")
    })
    .await;
    assert_eq!(phase(&crashing), "Running");
    let status = &crashing["status"]["containerStatuses"][0];
    assert!(status["restartCount"].as_i64().unwrap() >= 1, "{status}");
    assert_eq!(status["lastState"]["terminated"]["exitCode"], 1);
    assert!(
        status["state"]["waiting"]["message"]
            .as_str()
            .unwrap()
            .starts_with("back-off 10s restarting failed container=app pod=crash_default(")
    );

    wait_for(10, "a BackOff event", || async {
        let events = list(cluster, "events", "", "").await;
        events.iter().any(|e| e["involvedObject"]["name"] == "crash" && e["reason"] == "BackOff").then_some(())
    })
    .await;

    // The log of the failed pod is what its command printed, with its env resolved.
    let summary = kubelet::PodSummary::from_object("demo", &failed).unwrap();
    let stream = env.runtime.logs(&summary.pod, "app", &kubelet::LogOptions::default()).unwrap();
    use futures::StreamExt;
    let chunks: Vec<_> = stream.collect().await;
    let log: Vec<u8> = chunks.into_iter().flat_map(|c| c.unwrap().to_vec()).collect();
    assert_eq!(String::from_utf8(log).unwrap(), "bye from fails\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn unschedulable_pods_wait_with_the_reason_and_deletion_is_graceful() {
    let env = start(2, "cpu=1,memory=4Gi,pods=10").await;
    let cluster = env.cluster();
    let pods = cluster.objects().resource("", "v1", "pods").unwrap();
    let big = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "resources": {"requests": {"cpu": "2"}}}]}});
    cluster.objects().create(&Target::collection(&pods, "default"), big, &mut admin()).await.unwrap();
    let pending = wait_for(10, "the scheduler's verdict", || async {
        get(cluster, "pods", "", "big").await.filter(|p| {
            p["status"]["conditions"].as_array().is_some_and(|c| c.iter().any(|c| c["reason"] == "Unschedulable"))
        })
    })
    .await;
    let condition =
        pending["status"]["conditions"].as_array().unwrap().iter().find(|c| c["type"] == "PodScheduled").unwrap();
    assert_eq!(
        condition["message"],
        "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
    );
    assert_eq!(phase(&pending), "Pending");
    assert!(pending["spec"].get("nodeName").is_none());
    wait_for(10, "a FailedScheduling event", || async {
        let events = list(cluster, "events", "", "").await;
        events
            .iter()
            .any(|e| {
                e["involvedObject"]["name"] == "big" && e["reason"] == "FailedScheduling" && e["type"] == "Warning"
            })
            .then_some(())
    })
    .await;

    // A pod that ignores SIGTERM is killed at the end of its grace period, then removed.
    let stubborn = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stubborn", "namespace": "default"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{"name": "c", "image": "busybox",
            "command": ["sh", "-c", "trap '' TERM; while true; do sleep 0.1; done"]}]}});
    cluster.objects().create(&Target::collection(&pods, "default"), stubborn, &mut admin()).await.unwrap();
    wait_for(20, "stubborn running", || async {
        get(cluster, "pods", "", "stubborn").await.filter(|p| phase(p) == "Running")
    })
    .await;
    let started = std::time::Instant::now();
    cluster
        .objects()
        .delete(&Target::object(&pods, "default", "stubborn"), &DeleteOptions::default(), &mut admin())
        .await
        .unwrap();
    let terminating = get(cluster, "pods", "", "stubborn").await.expect("still there during its grace period");
    assert!(terminating["metadata"]["deletionTimestamp"].is_string());
    wait_for(20, "stubborn gone", || async { get(cluster, "pods", "", "stubborn").await.is_none().then_some(()) })
        .await;
    assert!(started.elapsed() >= Duration::from_millis(900), "killed only after its grace period");
    let events = list(cluster, "events", "", "").await;
    assert!(events.iter().any(|e| e["involvedObject"]["name"] == "stubborn"
        && e["reason"] == "Killing"
        && e["message"] == "Stopping container c"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shutdown_stops_the_clusters_containers_and_removes_their_sandboxes() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let store: Arc<dyn store::Store> = Arc::new(store::MemStore::new());
    let handle =
        ClusterServer::start(ClusterConfig::new("hooked", "127.0.0.1:0".parse().unwrap(), store)).await.unwrap();
    let policy = ExecPolicy::decide(ExecMode::Local, &[handle.addr()]);
    let runtime = Arc::new(Runtime::new(dir.path().join("pods"), policy));
    let pool = NodePool::new(1, NodeCapacity::default(), "eu-west-1").unwrap();
    let config = WorkloadsConfig { runtime: Arc::clone(&runtime), node_pool: pool };
    let workloads = workloads::install(handle.cluster(), config).await.unwrap();
    let cluster = handle.cluster();
    let node = get(cluster, "nodes", "", "ip-192-168-0-10.eu-west-1.compute.internal").await;
    assert!(node.is_some(), "the pool is registered");
    let pods = cluster.objects().resource("", "v1", "pods").unwrap();
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "c", "image": "busybox",
            "command": ["sh", "-c", format!("echo $$ > {}; exec sleep 3600", pid_file.display())]}]}});
    cluster.objects().create(&Target::collection(&pods, "default"), pod, &mut admin()).await.unwrap();
    wait_for(20, "the pod running", || async { get(cluster, "pods", "", "p").await.filter(|p| phase(p) == "Running") })
        .await;
    let pods_of = runtime.pods_of("hooked");
    assert_eq!(pods_of.len(), 1);
    let sandbox = runtime.sandbox(&pods_of[0].uid).unwrap().dir().to_path_buf();
    assert!(sandbox.is_dir());
    let pid = wait_for(20, "the container's pid", || async {
        std::fs::read_to_string(&pid_file).ok().filter(|s| s.ends_with('\n'))
    })
    .await;
    workloads.shutdown();
    wait_for(20, "the sandbox removed", || async { (!sandbox.exists()).then_some(()) }).await;
    assert!(runtime.pods_of("hooked").is_empty());
    assert!(!std::path::Path::new("/proc").join(pid.trim()).exists(), "the container's process is gone");
    handle.shutdown().await;
}

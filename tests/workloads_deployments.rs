//! Deployments with the real kubectl against `rampart serve`: `create deployment` gives Running
//! pods on the simulated nodes, `scale` up and down, `rollout status`, `set image` with
//! `rollout history` and `rollout undo`, ReplicaSets with their hash and revision, what
//! `describe pod` and `get events` show, cascading deletion, pods that outlive a restart of
//! Rampart, and containers that stay one process each across a SIGKILL of the server.

mod common;

use common::workloads::*;

#[test]
fn a_deployment_runs_scales_rolls_out_and_rolls_back() {
    let rampart = Rampart::start();
    let nodes = rampart.kubectl(&["get", "nodes"]).ok();
    assert_eq!(header(&nodes.stdout), ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
    let table = rows(&nodes.stdout);
    assert_eq!(table.len(), 3, "{}", nodes.stdout);
    for node in &table[1..] {
        assert!(node[0].starts_with("ip-192-168-") && node[0].ends_with(".ec2.internal"), "{node:?}");
        assert_eq!((node[1].as_str(), node[2].as_str()), ("Ready", "<none>"));
        assert!(node[4].starts_with("v1.32."), "{node:?}");
    }

    let out = rampart.kubectl(&["create", "deployment", "web", "--image=nginx:1.27", "--replicas=3"]).ok();
    assert_eq!(out.stdout, "deployment.apps/web created\n");
    rolled_out(&rampart, "web");
    let pods = running(&rampart, "app=web", 3);
    for pod in &pods {
        assert!(pod["spec"]["nodeName"].as_str().unwrap().starts_with("ip-192-168-"), "{pod}");
        assert!(pod["status"]["podIP"].as_str().unwrap().starts_with("192.168."), "{pod}");
        assert_eq!(pod["status"]["containerStatuses"][0]["ready"], true);
        assert_eq!(pod["status"]["containerStatuses"][0]["image"], "docker.io/library/nginx:1.27");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "ReplicaSet");
    }
    let table = rows(&rampart.kubectl(&["get", "pods", "-l", "app=web"]).ok().stdout);
    assert_eq!(table.len(), 4);
    assert!(table[1..].iter().all(|r| r[1] == "1/1" && r[2] == "Running" && r[3] == "0"), "{table:?}");
    let deploy = rows(&rampart.kubectl(&["get", "deployment", "web"]).ok().stdout);
    assert_eq!(deploy[1][..4], ["web", "3/3", "3", "3"]);

    // describe shows what the scheduler and the kubelet did, in order.
    let name = pods[0]["metadata"]["name"].as_str().unwrap().to_string();
    let describe = rampart.kubectl(&["describe", "pod", &name]).ok().stdout;
    let events = describe.split("Events:").nth(1).expect("an Events section").to_string();
    let mut reasons: Vec<&str> = events.lines().skip(3).filter_map(|l| l.split_whitespace().nth(1)).collect();
    // The first pod on a node pulls its image; the others find it there.
    reasons.retain(|r| *r != "Pulling");
    assert_eq!(reasons, ["Scheduled", "Pulled", "Created", "Started"], "{describe}");
    let all_events = rampart.kubectl(&["get", "events"]).ok().stdout;
    assert!(all_events.contains("Container image \"nginx:1.27\" already present on machine"), "{all_events}");
    assert!(all_events.contains("Pulling image \"nginx:1.27\""), "{all_events}");
    assert!(events.contains("default-scheduler  Successfully assigned default/"), "{events}");
    assert!(events.contains("kubelet            Started container nginx"), "{events}");
    assert!(describe.contains("Controlled By:  ReplicaSet/web-"), "{describe}");
    let rs_events = rampart.kubectl(&["get", "events", "--field-selector", "involvedObject.kind=Deployment"]).ok();
    assert!(rs_events.stdout.contains("Scaled up replica set web-"), "{}", rs_events.stdout);

    // Scale up, then down.
    rampart.kubectl(&["scale", "deployment", "web", "--replicas=5"]).ok();
    rolled_out(&rampart, "web");
    running(&rampart, "app=web", 5);
    assert_eq!(jsonpath(&rampart, &["deployment", "web"], "{.status.availableReplicas}"), "5");
    rampart.kubectl(&["scale", "deployment", "web", "--replicas=2"]).ok();
    rolled_out(&rampart, "web");
    running(&rampart, "app=web", 2);

    // A new image is revision 2; its change cause is annotated afterwards, as the Kubernetes
    // docs do (annotating first would label the current revision: the controller copies the
    // Deployment's annotations to its current ReplicaSet).
    rampart.kubectl(&["set", "image", "deployment/web", "nginx=nginx:1.28"]).ok();
    rampart.kubectl(&["annotate", "deployment", "web", "kubernetes.io/change-cause=upgrade to 1.28"]).ok();
    rolled_out(&rampart, "web");
    let pods = running(&rampart, "app=web", 2);
    assert!(pods.iter().all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.28"), "{pods:?}");
    let history = rampart.kubectl(&["rollout", "history", "deployment/web"]).ok().stdout;
    let table = rows(&history);
    assert_eq!(table[1], ["REVISION", "CHANGE-CAUSE"], "{history}");
    assert_eq!(table[2], ["1", "<none>"], "{history}");
    assert_eq!(table[3], ["2", "upgrade to 1.28"], "{history}");
    let sets = rows(&rampart.kubectl(&["get", "rs", "-l", "app=web"]).ok().stdout);
    assert_eq!(sets.len(), 3, "{sets:?}");
    assert!(sets[1..].iter().any(|r| r[1..4] == ["0", "0", "0"]), "the old set is scaled to zero: {sets:?}");

    // Undo (client-side in kubectl 1.32): revision 1's template comes back as revision 3.
    let out = rampart.kubectl(&["rollout", "undo", "deployment/web"]).ok();
    assert_eq!(out.stdout, "deployment.apps/web rolled back\n");
    rolled_out(&rampart, "web");
    let pods = running(&rampart, "app=web", 2);
    assert!(pods.iter().all(|p| p["spec"]["containers"][0]["image"] == "nginx:1.27"), "{pods:?}");
    let history = rows(&rampart.kubectl(&["rollout", "history", "deployment/web"]).ok().stdout);
    let revisions: Vec<&str> = history[2..].iter().map(|r| r[0].as_str()).collect();
    assert_eq!(revisions, ["2", "3"]);
    assert_eq!(
        jsonpath(&rampart, &["deployment", "web"], "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}"),
        "3"
    );
    let detail = rampart.kubectl(&["rollout", "history", "deployment/web", "--revision=3"]).ok().stdout;
    assert!(detail.contains("Image:\tnginx:1.27"), "{detail}");

    // Deleting the deployment takes its ReplicaSets and pods with it.
    rampart.kubectl(&["delete", "deployment", "web"]).ok();
    eventually(60, "the ReplicaSets and pods to be collected", || {
        let sets = rampart.kubectl(&["get", "rs", "-l", "app=web", "-o", "name"]).ok().stdout;
        let pods = rampart.kubectl(&["get", "pods", "-l", "app=web", "-o", "name"]).ok().stdout;
        (sets.is_empty() && pods.is_empty()).then_some(())
    });
}

/// A pod manifest asking for `cpu`.
fn pod_asking(name: &str, cpu: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: app\n    image: nginx\n    resources:\n      requests:\n        cpu: \"{cpu}\"\n"
    )
}

#[test]
fn unschedulable_pods_wait_say_why_and_run_once_room_is_made() {
    let rampart = Rampart::start_with(&["--nodes", "2", "--node-capacity", "cpu=2,memory=8Gi,pods=110"]);
    for (name, cpu) in [("hog-1", "1500m"), ("hog-2", "1500m"), ("waiter", "1")] {
        let manifest = rampart.write_file(&format!("{name}.yaml"), &pod_asking(name, cpu));
        rampart.kubectl(&["apply", "-f", manifest.to_str().unwrap()]).ok();
    }
    let describe = eventually(30, "a FailedScheduling event", || {
        let out = rampart.kubectl(&["describe", "pod", "waiter"]).ok().stdout;
        out.contains("FailedScheduling").then_some(out)
    });
    assert!(
        describe.contains(
            "0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: 2 No preemption victims found for incoming pod."
        ),
        "{describe}"
    );
    assert!(describe.contains("Warning  FailedScheduling"), "{describe}");
    assert!(describe.contains("Node:             <none>"), "{describe}");
    let table = rows(&rampart.kubectl(&["get", "pod", "waiter"]).ok().stdout);
    assert_eq!(table[1][1..3], ["0/1", "Pending"]);
    let hogs = [
        jsonpath(&rampart, &["pod", "hog-1"], "{.spec.nodeName}"),
        jsonpath(&rampart, &["pod", "hog-2"], "{.spec.nodeName}"),
    ];
    assert_ne!(hogs[0], hogs[1], "one hog per node");

    // Room is made: the waiting pod is placed where the hog was, and runs.
    rampart.kubectl(&["delete", "pod", "hog-1"]).ok();
    eventually(60, "the waiting pod to run", || {
        (jsonpath(&rampart, &["pod", "waiter"], "{.status.phase}") == "Running").then_some(())
    });
    assert_eq!(jsonpath(&rampart, &["pod", "waiter"], "{.spec.nodeName}"), hogs[0]);
    let events = rampart.kubectl(&["get", "events", "--field-selector", "involvedObject.name=waiter"]).ok().stdout;
    assert!(events.contains(&format!("Successfully assigned default/waiter to {}", hogs[0])), "{events}");
}

#[test]
fn pods_outlive_a_restart_of_rampart() {
    let mut rampart = Rampart::start();
    rampart
        .kubectl(&[
            "create",
            "deployment",
            "api",
            "--image=busybox",
            "--replicas=2",
            "--",
            "sh",
            "-c",
            "echo serving; sleep 3600",
        ])
        .ok();
    rolled_out(&rampart, "api");
    let before = running(&rampart, "app=api", 2);
    rampart.restart();
    let after = running(&rampart, "app=api", 2);
    let names = |pods: &[serde_json::Value]| {
        let mut names: Vec<String> = pods.iter().map(|p| p["metadata"]["name"].as_str().unwrap().to_string()).collect();
        names.sort();
        names
    };
    assert_eq!(names(&before), names(&after), "the same pods, not new ones");
    let restarted = eventually(30, "the containers to be started again", || {
        let pods = live_pods(&rampart, "app=api");
        let again = pods.iter().all(|p| p["status"]["containerStatuses"][0]["restartCount"] == 1);
        again.then_some(pods)
    });
    for pod in &restarted {
        let status = &pod["status"]["containerStatuses"][0];
        assert_eq!(status["lastState"]["terminated"]["reason"], "Unknown", "{status}");
        assert_eq!(status["lastState"]["terminated"]["exitCode"], 255);
        assert_eq!(status["ready"], true);
        let ip = before.iter().find(|p| p["metadata"]["name"] == pod["metadata"]["name"]).unwrap()["status"]["podIP"]
            .clone();
        assert_eq!(pod["status"]["podIP"], ip, "a pod keeps its address");
    }
    let name = restarted[0]["metadata"]["name"].as_str().unwrap();
    assert_eq!(rampart.kubectl(&["logs", name]).ok().stdout, "serving\n");
    assert_eq!(rampart.kubectl(&["exec", name, "--", "echo", "still here"]).ok().stdout, "still here\n");
}

/// The processes running `argv` whose working directory is under `dir` (a container's, in this
/// server's data directory: other tests on the machine run the same commands).
fn container_processes(dir: &std::path::Path, argv: &[&str]) -> Vec<u32> {
    let expected: Vec<u8> = argv.iter().flat_map(|a| a.bytes().chain([0])).collect();
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cwd = std::fs::read_link(entry.path().join("cwd")).unwrap_or_default();
        if cmdline == expected && cwd.starts_with(dir) {
            pids.push(pid);
        }
    }
    pids
}

/// A server killed with SIGKILL cannot stop its containers' processes; the next one kills them
/// (it finds them by the pid files in the pod sandboxes) before it starts the containers again,
/// so a container is one process.
#[test]
fn a_killed_server_leaves_no_second_copy_of_a_container() {
    let mut rampart = Rampart::start();
    let argv = ["sleep", "3613"];
    rampart
        .kubectl(&["create", "deployment", "worker", "--image=busybox", "--replicas=2", "--", argv[0], argv[1]])
        .ok();
    rolled_out(&rampart, "worker");
    running(&rampart, "app=worker", 2);
    let first = container_processes(&rampart.data_dir, &argv);
    assert_eq!(first.len(), 2, "one process per container");

    let pid = rampart.pid().unwrap().to_string();
    std::process::Command::new("kill").args(["-KILL", &pid]).status().unwrap();
    rampart.wait();
    assert_eq!(container_processes(&rampart.data_dir, &argv), first, "nobody stopped them");

    rampart.restart();
    eventually(30, "the containers to be started again", || {
        let pods = live_pods(&rampart, "app=worker");
        pods.iter().all(|p| p["status"]["containerStatuses"][0]["restartCount"] == 1).then_some(())
    });
    let second = container_processes(&rampart.data_dir, &argv);
    assert_eq!(second.len(), 2, "still one process per container: {first:?} then {second:?}");
    assert!(second.iter().all(|pid| !first.contains(pid)), "the old processes are gone: {first:?}, {second:?}");
}

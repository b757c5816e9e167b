//! Several `rampart serve` replicas on one etcd cluster (three Debian etcd members on loopback,
//! started by the tests): they act as one EKS — one administrator, one CA per endpoint, IAM,
//! aws-auth and EKS records written through one replica effective on the other, driven by the
//! real `aws` and `kubectl` — and a replica that would corrupt the shared state is refused at
//! start. Under a write load, killing etcd's leader loses no acknowledged write. The lag from a
//! write through one replica to the other applying it is measured.

mod common;
#[path = "../crates/store/tests/support/etcd_server.rs"]
mod etcd_server;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::eks::*;
use etcd_server::EtcdCluster;

/// A replica on `etcd`, sealing with `sealing_key` (shared by the replicas), plus `extra` flags.
fn replica(etcd: &EtcdCluster, sealing_key: &Path, extra: &[&str]) -> Rampart {
    let servers = etcd.endpoints().join(",");
    let key = sealing_key.display().to_string();
    let mut args = vec!["--etcd-servers", &servers, "--sealing-key-file", &key];
    args.extend_from_slice(extra);
    Rampart::start_with(&args)
}

/// `aws` with `rampart`'s environment, signing with this access key.
fn aws_with_key(rampart: &Rampart, key: &(String, String), args: &[&str]) -> Output {
    let mut command = rampart.command("aws");
    command.env("AWS_ACCESS_KEY_ID", &key.0).env("AWS_SECRET_ACCESS_KEY", &key.1).args(args);
    run(&mut command, None)
}

/// `kubectl` through `rampart`'s kubeconfig (`aws eks get-token`) as this access key, to `server`.
fn kubectl_with_key(rampart: &Rampart, key: &(String, String), server: &str, args: &[&str]) -> Output {
    let mut command = rampart.command("kubectl");
    command.env("AWS_ACCESS_KEY_ID", &key.0).env("AWS_SECRET_ACCESS_KEY", &key.1).args(["--server", server]).args(args);
    run(&mut command, None)
}

/// How long until `f` holds, polling (at most 10 s).
fn time_until(mut f: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < Duration::from_secs(10), "not within 10 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

#[test]
fn two_replicas_on_one_etcd_act_as_one() {
    let etcd = EtcdCluster::start_members(3);
    let secrets = tempfile::tempdir().unwrap();
    let sealing_key = secrets.path().join("sealing.key");
    let a = replica(&etcd, &sealing_key, &[]);
    let b = replica(&etcd, &sealing_key, &["--kube-advertise-url", "https://rampart-lb.example:443"]);

    // One administrator, one AWS CA: A's environment works against B after changing only the
    // address; so does A's admin kubeconfig.
    let admin_a = json(&a.aws(&["sts", "get-caller-identity"]).ok());
    let admin_b = json(&b.aws(&["sts", "get-caller-identity"]).ok());
    assert_eq!(admin_a["Arn"], admin_b["Arn"]);
    assert_eq!(admin_a["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/admin"));
    assert_eq!(std::fs::read(&a.env["AWS_CA_BUNDLE"]).unwrap(), std::fs::read(&b.env["AWS_CA_BUNDLE"]).unwrap());
    let mut through_b = a.command("aws");
    through_b.env("AWS_ENDPOINT_URL", &b.env["AWS_ENDPOINT_URL"]).args(["sts", "get-caller-identity"]);
    assert_eq!(json(&run(&mut through_b, None).ok())["Arn"], admin_a["Arn"]);
    let b_server = server_of(&b);
    let namespaces = admin_kubectl(&a, &["--server", &b_server, "get", "namespace", "kube-system", "-o", "name"]);
    assert_eq!(namespaces.ok().stdout.trim(), "namespace/kube-system");

    // IAM through A, effective on B.
    a.aws(&["iam", "create-user", "--user-name", "alice"]).ok();
    let created = json(&a.aws(&["iam", "create-access-key", "--user-name", "alice"]).ok());
    let alice = (
        created["AccessKey"]["AccessKeyId"].as_str().unwrap().to_string(),
        created["AccessKey"]["SecretAccessKey"].as_str().unwrap().to_string(),
    );
    let seen = time_until(|| aws_with_key(&b, &alice, &["sts", "get-caller-identity"]).code == 0);
    println!("a key created through A worked on B after {seen:?} (one aws CLI call: the lag is below that)");
    let caller = json(&aws_with_key(&b, &alice, &["sts", "get-caller-identity"]).ok());
    assert_eq!(caller["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/alice"));

    // aws-auth through A's API server, effective on B's: alice mapped into system:masters.
    set_aws_auth(
        &a,
        None,
        Some("- userarn: arn:aws:iam::123456789012:user/alice\n  username: alice\n  groups: [system:masters]\n"),
        None,
    )
    .ok();
    // (B's kubeconfig names the advertised load balancer, which does not exist here.)
    let as_alice = |args: &[&str]| kubectl_with_key(&b, &alice, &b_server, args);
    time_until(|| as_alice(&["get", "namespace", "default", "-o", "name"]).code == 0);
    let whoami = as_alice(&["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
    assert_eq!(whoami.ok().stdout, "alice");
    set_aws_auth(&a, None, Some("[]\n"), None).ok();
    time_until(|| {
        let refused = as_alice(&["get", "namespace", "default"]);
        refused.code != 0 && unauthorized(&refused.stderr)
    });

    // Access entries through A's EKS API, effective on B's API server: the mode switched, an
    // entry with the view policy lets alice read, and its deletion takes that away.
    let alice_arn = format!("arn:aws:iam::{ACCOUNT}:user/alice");
    set_authentication_mode(&a, "API_AND_CONFIG_MAP").ok();
    a.aws(&["eks", "create-access-entry", "--cluster-name", CLUSTER, "--principal-arn", &alice_arn]).ok();
    let view = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy";
    associate_access_policy(&a, CLUSTER, &alice_arn, view, "type=cluster").ok();
    time_until(|| as_alice(&["get", "configmaps", "-n", "default", "-o", "name"]).code == 0);
    let forbidden = as_alice(&["create", "configmap", "x", "-n", "default"]).failed();
    assert!(
        forbidden.stderr.contains("configmaps is forbidden: User \"arn:aws:iam::123456789012:user/alice\""),
        "{}",
        forbidden.stderr
    );
    a.aws(&["eks", "delete-access-entry", "--cluster-name", CLUSTER, "--principal-arn", &alice_arn]).ok();
    time_until(|| {
        let refused = as_alice(&["get", "configmaps", "-n", "default"]);
        refused.code != 0 && unauthorized(&refused.stderr)
    });

    // The key deactivated, then the user deleted, through A: refused on B.
    let key_id = alice.0.as_str();
    a.aws(&["iam", "update-access-key", "--user-name", "alice", "--access-key-id", key_id, "--status", "Inactive"])
        .ok();
    time_until(|| {
        let refused = aws_with_key(&b, &alice, &["sts", "get-caller-identity"]);
        refused.code != 0 && refused.stderr.contains("(InvalidClientTokenId)")
    });
    a.aws(&["iam", "delete-access-key", "--user-name", "alice", "--access-key-id", key_id]).ok();
    a.aws(&["iam", "delete-user", "--user-name", "alice"]).ok();
    time_until(|| b.aws(&["iam", "get-user", "--user-name", "alice"]).stderr.contains("(NoSuchEntity)"));

    // An EKS cluster created through A is served by B too; B describes the default cluster at
    // the address it was told to advertise.
    let created = a.aws(&[
        "eks",
        "create-cluster",
        "--name",
        "second",
        "--role-arn",
        "arn:aws:iam::123456789012:role/eksClusterRole",
        "--resources-vpc-config",
        "{}",
    ]);
    created.ok();
    time_until(|| b.aws(&["eks", "describe-cluster", "--name", "second"]).code == 0);
    let listed = json(&b.aws(&["eks", "list-clusters"]).ok());
    assert_eq!(listed["clusters"], serde_json::json!(["rampart", "second"]));
    let described = json(&b.aws(&["eks", "describe-cluster", "--name", "rampart"]).ok());
    assert_eq!(described["cluster"]["endpoint"], "https://rampart-lb.example:443");
    let described = json(&a.aws(&["eks", "describe-cluster", "--name", "rampart"]).ok());
    assert_ne!(described["cluster"]["endpoint"], "https://rampart-lb.example:443", "A advertises its own address");
}

/// A TCP load balancer with one backend: forwards every connection to a free loopback port to
/// `backend` (`host:port`) until the test ends; returns the port.
fn tcp_forwarder(backend: String) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = std::net::TcpStream::connect(&backend) else { continue };
            for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut to);
                    let _ = to.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
    port
}

/// With the AWS endpoint behind a load balancer (`--aws-advertise-url`), the env file names the
/// balancer, and the EKS tokens `aws eks get-token` presigns for it are accepted by the replica.
#[test]
fn tokens_presigned_for_a_load_balanced_aws_endpoint_are_accepted() {
    let etcd = EtcdCluster::start();
    let secrets = tempfile::tempdir().unwrap();
    let sealing_key = secrets.path().join("sealing.key");
    let a = replica(&etcd, &sealing_key, &[]);
    let balancer = tcp_forwarder(a.env["AWS_ENDPOINT_URL"].trim_start_matches("https://").to_string());
    let url = format!("https://127.0.0.1:{balancer}");
    let b = replica(&etcd, &sealing_key, &["--aws-advertise-url", &url]);
    assert_eq!(b.env["AWS_ENDPOINT_URL"], url);
    let caller = json(&b.aws(&["sts", "get-caller-identity"]).ok());
    assert_eq!(caller["Arn"], format!("arn:aws:iam::{ACCOUNT}:user/admin"));
    let namespaces = b.kubectl(&["get", "namespace", "kube-system", "-o", "name"]);
    assert_eq!(namespaces.ok().stdout.trim(), "namespace/kube-system", "B accepted a token presigned for the balancer");
}

/// The Kubernetes API address of a replica's default cluster (from its admin kubeconfig).
fn server_of(rampart: &Rampart) -> String {
    let config = json(&admin_kubectl(rampart, &["config", "view", "--minify", "-o", "json"]).ok());
    config["clusters"][0]["cluster"]["server"].as_str().unwrap().to_string()
}

/// `rampart serve` with these flags, expected to refuse: its stderr, with the data dir checked
/// to be untouched.
fn refused(data_dir: &Path, args: &[&str]) -> String {
    let output = run(
        Command::new(rampart_bin())
            .arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .args(["--aws-listen", "127.0.0.1:0", "--kube-listen", "127.0.0.1:0"])
            .args(args),
        None,
    );
    assert_eq!(output.code, 1, "stdout:\n{}\nstderr:\n{}", output.stdout, output.stderr);
    assert_eq!(output.stderr.lines().count(), 1, "one line: {}", output.stderr);
    assert!(output.stderr.starts_with("error: "), "{}", output.stderr);
    assert!(!data_dir.exists(), "the data directory was created");
    output.stderr
}

#[test]
fn starts_that_would_corrupt_the_shared_state_are_refused() {
    let dirs = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let nowhere = format!("http://127.0.0.1:{port}");
    let err = refused(&dirs.path().join("nowhere"), &["--etcd-servers", &nowhere]);
    assert!(err.contains(&format!("cannot reach etcd at {nowhere}")), "{err}");

    let etcd = EtcdCluster::start();
    let sealing_key = dirs.path().join("sealing.key");
    let _first = replica(&etcd, &sealing_key, &[]);
    let servers = etcd.endpoint();
    let key = sealing_key.display().to_string();
    let err = refused(
        &dirs.path().join("other-account"),
        &["--etcd-servers", &servers, "--sealing-key-file", &key, "--account-id", "111122223333"],
    );
    assert!(err.contains("--account-id 123456789012") && err.contains("must agree"), "{err}");
    let err = refused(
        &dirs.path().join("other-cluster"),
        &["--etcd-servers", &servers, "--sealing-key-file", &key, "--cluster", "x"],
    );
    assert!(err.contains("--cluster rampart") && err.contains("--cluster x"), "{err}");
    // Its own sealing key (none yet in its data dir) could not open the others' secrets.
    let err = refused(&dirs.path().join("own-key"), &["--etcd-servers", &servers]);
    assert!(err.contains("--sealing-key-file"), "{err}");
}

/// Two kubectl writers, one per replica, creating ConfigMaps while etcd's leader is killed (and
/// restarted 3 s later): every create kubectl saw succeed is in the final list, read through
/// the other replica.
#[test]
fn no_acknowledged_write_is_lost_when_the_etcd_leader_is_killed() {
    let etcd = Arc::new(std::sync::Mutex::new(EtcdCluster::start_members(3)));
    let secrets = tempfile::tempdir().unwrap();
    let sealing_key = secrets.path().join("sealing.key");
    let a = Arc::new(replica(&etcd.lock().unwrap(), &sealing_key, &[]));
    let b = Arc::new(replica(&etcd.lock().unwrap(), &sealing_key, &[]));
    let started = Instant::now();
    let writers: Vec<_> = [("a", a.clone()), ("b", b.clone())]
        .into_iter()
        .map(|(name, rampart)| {
            std::thread::spawn(move || {
                let (mut acknowledged, mut failed, mut longest_gap) = (Vec::new(), Vec::new(), Duration::ZERO);
                let mut last = Instant::now();
                for i in 0..60 {
                    let configmap = format!("chaos-{name}-{i:03}");
                    let created = admin_kubectl(&rampart, &["create", "configmap", &configmap, "--from-literal=i=1"]);
                    if created.code == 0 {
                        longest_gap = longest_gap.max(last.elapsed());
                        last = Instant::now();
                        acknowledged.push(configmap);
                    } else {
                        failed.push(created.stderr);
                    }
                }
                (acknowledged, failed, longest_gap)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let leader = etcd.lock().unwrap().leader().expect("an etcd leader");
    etcd.lock().unwrap().kill(leader);
    let killed_at = started.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    etcd.lock().unwrap().restart(leader);
    let mut acknowledged = Vec::new();
    for writer in writers {
        let (acked, failed, longest_gap) = writer.join().unwrap();
        println!("writer: {} acknowledged, {} failed, longest gap {longest_gap:?}", acked.len(), failed.len());
        for stderr in &failed {
            println!("  failed: {}", stderr.trim());
        }
        acknowledged.extend(acked);
    }
    println!("leader {leader} killed {killed_at:?} into the run; run took {:?}", started.elapsed());
    let listed = admin_kubectl(&b, &["get", "configmaps", "-o", "name"]).ok().stdout;
    let listed: std::collections::BTreeSet<&str> =
        listed.lines().filter_map(|l| l.strip_prefix("configmap/")).collect();
    let lost: Vec<&String> = acknowledged.iter().filter(|name| !listed.contains(name.as_str())).collect();
    assert!(lost.is_empty(), "acknowledged creates lost: {lost:?}");
    assert!(acknowledged.len() >= 100, "only {} of 120 creates acknowledged", acknowledged.len());
}

/// The lag from an IAM change committed through one replica to the other replica's memory
/// having it, on a three-member etcd: two IAM services, each with its own etcd client.
#[test]
fn iam_changes_reach_the_other_replica_within_milliseconds() {
    use iam::persist::Sealer as _;
    let etcd = EtcdCluster::start_members(3);
    let secrets = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let lags = runtime.block_on(async {
        let key = secrets.path().join("sealing.key");
        let service = |endpoints: Vec<String>| {
            let key = key.clone();
            async move {
                let store = store::EtcdStore::connect(&endpoints, store::EtcdOptions::default()).await.unwrap();
                let sealer = aws_api::KeyFileSealer::open_or_create(&key).unwrap();
                assert!(sealer.open(&sealer.seal("x")).is_some());
                aws_api::IamService::load(Arc::new(store), Box::new(sealer)).await.unwrap()
            }
        };
        let mut endpoints = etcd.endpoints();
        let a = service(endpoints.clone()).await;
        endpoints.rotate_left(1);
        let b = service(endpoints).await;
        let now = chrono::Utc::now();
        let mut lags = Vec::new();
        for i in 0..200 {
            let name = format!("user{i}");
            a.update(ACCOUNT, |account, _| {
                Ok(account.create_user(&name, None, vec![], now, &mut rand::rng())?.clone())
            })
            .await
            .unwrap();
            let written = Instant::now();
            let b_handle = b.handle();
            while !b_handle.with_state(|state| state.account(ACCOUNT).is_some_and(|acct| acct.user(&name).is_ok())) {
                assert!(written.elapsed() < Duration::from_secs(5), "{name} never reached B");
                tokio::task::yield_now().await;
            }
            lags.push(written.elapsed());
        }
        lags
    });
    let mut sorted = lags.clone();
    sorted.sort();
    let (p50, p99, max) = (sorted[sorted.len() / 2], sorted[sorted.len() * 99 / 100], sorted[sorted.len() - 1]);
    println!("IAM write through A -> applied on B, 200 writes: p50 {p50:?}, p99 {p99:?}, max {max:?}");
    assert!(p99 < Duration::from_millis(100), "p99 {p99:?}");
}

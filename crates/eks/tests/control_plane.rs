//! The control plane in process, on an in-memory store and live IAM state: a cluster created by
//! an IAM user authenticates that user's `k8s-aws-v1.` tokens as its creator; a deactivated key
//! stops a token already verified (and cached) on the next request; a refused EKS write changes
//! nothing; a restart brings the cluster back with its CA, port and access state; a deleted
//! cluster takes its objects and CA with it and stops what the hooks started.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use chrono::Utc;
use eks::{ClusterHook, ClusterKey, Creator, Eks, NewCluster, Runtime, StopHook};
use iam::persist::Sealer;
use store::{MemStore, Store, StoreExt};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const STS: &str = "127.0.0.1:9443";

struct Plain;

impl Sealer for Plain {
    fn seal(&self, plaintext: &str) -> String {
        format!("x{plaintext}")
    }
    fn open(&self, sealed: &str) -> Option<String> {
        sealed.strip_prefix('x').map(str::to_string)
    }
}

/// A token as `aws eks get-token --cluster-name <cluster>` presigns it for Rampart's STS.
fn token(key_id: &str, secret: &str, cluster: &str) -> String {
    let date = sigv4::format_amz_date(Utc::now());
    let scope = format!("{}/{REGION}/sts/aws4_request", &date[..8]);
    let query = format!(
        "Action=GetCallerIdentity&Version=2011-06-15&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={}&\
         X-Amz-Date={date}&X-Amz-Expires=60&X-Amz-SignedHeaders=host%3Bx-k8s-aws-id",
        sigv4::encode_query_component(&format!("{key_id}/{scope}"))
    );
    let headers = [("host", STS), ("x-k8s-aws-id", cluster)];
    let request = sigv4::SignedRequest { method: "GET", path: "/", query: &query, headers: &headers, body: b"" };
    let canonical = sigv4::canonical_request(&request, "host;x-k8s-aws-id", None, sigv4::EMPTY_PAYLOAD_SHA256);
    let signature = sigv4::SigningKey::derive(secret, &date[..8], REGION, "sts")
        .sign(&sigv4::string_to_sign(&date, &scope, &canonical));
    let url = format!("https://{STS}/?{query}&X-Amz-Signature={signature}");
    format!("k8s-aws-v1.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url))
}

fn runtime(iam: &aws_api::IamHandle, hooks: Vec<ClusterHook>) -> Runtime {
    Runtime {
        iam: iam.clone(),
        sts_origins: vec![format!("https://{STS}")],
        kube_ip: [127, 0, 0, 1].into(),
        pinned_listen: Default::default(),
        advertised: Default::default(),
        log_dir: None,
        hooks,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clusters_authenticate_their_creator_survive_restarts_and_take_everything_with_them() {
    let store: Arc<dyn Store> = Arc::new(MemStore::new());
    let service = aws_api::IamService::load(store.clone(), Box::new(Plain)).await.unwrap();
    let (user_arn, user_id, key) = service
        .update(ACCOUNT, |account, _| {
            let now = Utc::now();
            let user = account.create_user("admin", None, vec![], now, &mut rand::rng())?.clone();
            let key = account.create_access_key("admin", now, &mut rand::rng())?.clone();
            Ok((user.arn, user.user_id, key))
        })
        .await
        .unwrap();
    let iam = service.handle();

    let installs = Arc::new(AtomicUsize::new(0));
    let stops = Arc::new(AtomicUsize::new(0));
    let hook: ClusterHook = {
        let (installs, stops) = (installs.clone(), stops.clone());
        Arc::new(move |_cluster| {
            installs.fetch_add(1, Ordering::SeqCst);
            let stops = stops.clone();
            Box::pin(async move {
                let stop: StopHook = Box::new(move || {
                    stops.fetch_add(1, Ordering::SeqCst);
                });
                Ok(Some(stop))
            })
        })
    };

    let eks = Eks::new(store.clone(), ACCOUNT, REGION);
    eks.start(runtime(&iam, vec![hook.clone()])).await.unwrap();
    let creator = Creator { arn: user_arn.clone(), principal_id: Some(user_id) };
    let request = NewCluster {
        name: "demo".into(),
        role_arn: format!("arn:aws:iam::{ACCOUNT}:role/eksClusterRole"),
        ..NewCluster::default()
    };
    let running = eks.create_cluster(ACCOUNT, REGION, &creator, request.clone(), None, Utc::now()).await.unwrap();
    assert_eq!(installs.load(Ordering::SeqCst), 1, "the hook ran for the new cluster");
    let wire = running.to_wire("ACTIVE");
    assert_eq!(wire["arn"], format!("arn:aws:eks:{REGION}:{ACCOUNT}:cluster/demo"));
    assert_eq!(wire["endpoint"], running.server_url());
    let again = eks.create_cluster(ACCOUNT, REGION, &creator, request.clone(), None, Utc::now()).await;
    assert_eq!(again.err().unwrap().code(), "ResourceInUseException");

    // The creator's token: kubernetes-admin in system:masters (CONFIG_MAP mode).
    let good = token(&key.access_key_id, &key.secret_access_key, "demo");
    let user = running.authenticator().authenticate_token(&good, None).await.unwrap();
    assert_eq!(
        (user.user.name.as_str(), user.user.groups.as_slice()),
        ("kubernetes-admin", &["system:masters".to_string()][..])
    );
    let other = token(&key.access_key_id, &key.secret_access_key, "other");
    let refused = running.authenticator().authenticate_token(&other, None).await.unwrap_err();
    assert!(refused.to_string().contains("SignatureDoesNotMatch"), "{refused}");

    // A refused write changes nothing: access entries need an API mode.
    let key_demo = ClusterKey::new(ACCOUNT, REGION, "demo");
    let before = store.get(&key_demo.store_key()).await.unwrap().unwrap();
    let refused = eks
        .update_record(&key_demo, |record| {
            let mode = record.authentication_mode;
            record.access_entries.delete(mode, &user_arn).map_err(eks::Error::from)
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), "InvalidRequestException");
    assert_eq!(store.get(&key_demo.store_key()).await.unwrap().unwrap().mod_revision, before.mod_revision);

    // Deactivating the key stops the cached token on the next request.
    service
        .update(ACCOUNT, |account, _| {
            account.update_access_key(&key.access_key_id, None, iam::AccessKeyStatus::Inactive)
        })
        .await
        .unwrap();
    let mut stopped = false;
    for _ in 0..50 {
        if running.authenticator().authenticate_token(&good, None).await.is_err() {
            stopped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(stopped, "a deactivated key's cached token must stop working");

    // DeleteCluster stops the API server and the hooks' work, and removes objects and CA.
    let record = running.record();
    let ca = running.cluster().ca_pem().to_string();
    drop(running);
    assert_eq!(
        eks.delete_cluster(&ClusterKey::new(ACCOUNT, REGION, "nope")).await.unwrap_err().code(),
        "ResourceNotFoundException"
    );
    let answer = eks.delete_cluster(&key_demo).await.unwrap();
    assert_eq!(answer["status"], "DELETING");
    assert_eq!(stops.load(Ordering::SeqCst), 1, "the hook's stop ran");
    assert!(store.get(&key_demo.store_key()).await.unwrap().is_none());
    assert!(
        store.list(&format!("/clusters/{}/", record.kube_name)).await.unwrap().kvs.is_empty(),
        "objects and CA are gone"
    );
    assert!(eks.list(ACCOUNT, REGION).is_empty());

    // A cluster of the same name is a new cluster; after a restart it is back on its port with
    // its CA and record.
    let running = eks.create_cluster(ACCOUNT, REGION, &creator, request, None, Utc::now()).await.unwrap();
    assert_ne!(running.cluster().ca_pem(), ca, "a new cluster of the same name has a new CA");
    let record = running.record();
    let ca = running.cluster().ca_pem().to_string();
    drop(running);
    eks.stop().await;
    let restarted = Eks::new(store.clone(), ACCOUNT, REGION);
    restarted.start(runtime(&iam, vec![hook])).await.unwrap();
    let back = restarted.cluster(&key_demo).unwrap();
    assert_eq!(back.cluster().ca_pem(), ca, "the CA lives in the store");
    assert_eq!(back.record(), record, "same record, same port");
    assert_eq!(installs.load(Ordering::SeqCst), 3);
}

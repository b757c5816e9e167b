//! The simulated node pool, as an EKS managed node group registers it: Ready Node objects with
//! EKS's names (`ip-192-168-0-10.ec2.internal`), labels (instance type, zone, node group),
//! capacity and allocatable (with EKS's kube-reserved), addresses, `nodeInfo` with a v1.32
//! kubelet, and conditions the kubelet keeps fresh. Also each node's pod address range, the
//! IPs the VPC CNI would hand its pods.
//!
//! Layout: node `i` is in zone `i % 3` of the region; zone `z` is the eksctl subnet
//! `192.168.<32·z>.0/19`; the node's address is `192.168.<32·z>.<10 + i/3>` and its pods get
//! addresses from `192.168.<32·z + 1 + i/3>.0/24`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube_api::Target;
use kube_core::meta;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::api::{self, Api};
use crate::cache::{Cache, Kind, ObjectKey};
use crate::error::WorkloadsError;
use crate::quantity;

/// The kubelet version the nodes report (an EKS 1.32 AMI's).
pub const KUBELET_VERSION: &str = "v1.32.3-eks-473151a";
/// How many nodes a pool may have (each node's pods get a /24 of its zone's /19).
pub const MAX_NODES: usize = 90;
/// How often the kubelets post their node status.
const HEARTBEAT: Duration = Duration::from_secs(60);

/// What each node of the pool offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeCapacity {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pods: i64,
    pub ephemeral_storage_bytes: i64,
}

impl Default for NodeCapacity {
    /// An m5.xlarge with prefix delegation's 110 pods: 4 vCPU, 16 GiB, a 20 GiB root volume.
    fn default() -> Self {
        Self { cpu_millis: 4000, memory_bytes: 16 << 30, pods: 110, ephemeral_storage_bytes: 20 << 30 }
    }
}

impl NodeCapacity {
    /// Reads `cpu=4,memory=16Gi,pods=110,ephemeral-storage=20Gi` (any subset; the rest default).
    pub fn parse(text: &str) -> Result<Self, WorkloadsError> {
        let mut capacity = Self::default();
        for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (name, value) = item
                .split_once('=')
                .ok_or_else(|| WorkloadsError::NodePool(format!("{item:?} is not name=quantity")))?;
            let bad = || WorkloadsError::NodePool(format!("{value:?} is not a quantity for {name}"));
            match name {
                "cpu" => capacity.cpu_millis = quantity::millis(value).ok_or_else(bad)?,
                "memory" => capacity.memory_bytes = quantity::units(value).ok_or_else(bad)?,
                "pods" => capacity.pods = quantity::units(value).ok_or_else(bad)?,
                "ephemeral-storage" => capacity.ephemeral_storage_bytes = quantity::units(value).ok_or_else(bad)?,
                other => {
                    return Err(WorkloadsError::NodePool(format!(
                        "unknown resource {other:?}: use cpu, memory, pods or ephemeral-storage"
                    )));
                }
            }
        }
        if capacity.cpu_millis <= 0 || capacity.memory_bytes <= 0 {
            return Err(WorkloadsError::NodePool("cpu and memory must be positive".into()));
        }
        if !(1..=250).contains(&capacity.pods) {
            return Err(WorkloadsError::NodePool(format!(
                "pods must be between 1 and 250 (each node's pods share a /24), not {}",
                capacity.pods
            )));
        }
        Ok(capacity)
    }

    /// What the kubelet leaves for pods: EKS's kube-reserved CPU (6% of the first core, 1% of
    /// the second, 0.5% of the next two, 0.25% of the rest), memory (255Mi + 11Mi per pod) and
    /// the 100Mi hard-eviction threshold.
    pub fn allocatable(&self) -> Resources {
        let cores = self.cpu_millis;
        let reserved_cpu = cores.min(1000) * 6 / 100
            + (cores - 1000).clamp(0, 1000) / 100
            + (cores - 2000).clamp(0, 2000) / 200
            + (cores - 4000).max(0) / 400;
        let reserved_memory = (255 << 20) + (11 << 20) * self.pods + (100 << 20);
        Resources {
            cpu_millis: (cores - reserved_cpu).max(0),
            memory_bytes: (self.memory_bytes - reserved_memory).max(0),
            pods: self.pods,
        }
    }
}

impl std::str::FromStr for NodeCapacity {
    type Err = WorkloadsError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The resources scheduling counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub pods: i64,
}

impl Resources {
    pub(crate) fn add(&mut self, other: &Resources) {
        self.cpu_millis += other.cpu_millis;
        self.memory_bytes += other.memory_bytes;
        self.pods += other.pods;
    }

    pub(crate) fn sub(&mut self, other: &Resources) {
        self.cpu_millis -= other.cpu_millis;
        self.memory_bytes -= other.memory_bytes;
        self.pods -= other.pods;
    }
}

/// The simulated node pool of a cluster (an EKS managed node group).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodePool {
    /// The node group's name (label `eks.amazonaws.com/nodegroup`).
    pub name: String,
    pub nodes: usize,
    pub capacity: NodeCapacity,
    pub instance_type: String,
    /// The AWS region (zones and DNS names derive from it).
    pub region: String,
}

impl NodePool {
    pub fn new(nodes: usize, capacity: NodeCapacity, region: impl Into<String>) -> Result<Self, WorkloadsError> {
        if nodes > MAX_NODES {
            return Err(WorkloadsError::NodePool(format!("at most {MAX_NODES} nodes, not {nodes}")));
        }
        Ok(Self {
            name: "rampart-nodes".into(),
            nodes,
            capacity,
            instance_type: "m5.xlarge".into(),
            region: region.into(),
        })
    }

    /// The pool's nodes.
    pub fn members(&self) -> Vec<PoolNode> {
        (0..self.nodes).map(|i| PoolNode::new(self, i)).collect()
    }
}

/// One node of the pool: its name, zone and addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolNode {
    pub name: String,
    pub zone: String,
    pub ip: String,
    /// The first three octets of its pods' /24 (`192.168.1.`).
    pub pod_prefix: String,
}

impl PoolNode {
    fn new(pool: &NodePool, index: usize) -> Self {
        let zone = index % 3;
        let slot = index / 3;
        let ip = format!("192.168.{}.{}", 32 * zone, 10 + slot);
        let domain = if pool.region == "us-east-1" {
            "ec2.internal".to_string()
        } else {
            format!("{}.compute.internal", pool.region)
        };
        Self {
            name: format!("ip-{}.{domain}", ip.replace('.', "-")),
            zone: format!("{}{}", pool.region, ['a', 'b', 'c'][zone]),
            ip,
            pod_prefix: format!("192.168.{}.", 32 * zone + 1 + slot),
        }
    }
}

fn digest(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hex::encode(hasher.finalize())
}

fn condition(kind: &str, status: &str, reason: &str, message: &str, heartbeat: &str, transition: &str) -> Value {
    json!({"type": kind, "status": status, "lastHeartbeatTime": heartbeat, "lastTransitionTime": transition,
        "reason": reason, "message": message})
}

/// The node's status as its kubelet posts it; transition times are kept from `previous`.
pub(crate) fn node_status(
    pool: &NodePool,
    node: &PoolNode,
    cluster: &str,
    boot_id: &str,
    previous: Option<&Value>,
    now: DateTime<Utc>,
) -> Value {
    let now_text = meta::format_time(now);
    let transition = |kind: &str, status: &str| -> String {
        previous
            .and_then(|p| p.pointer("/conditions"))
            .and_then(Value::as_array)
            .and_then(|list| list.iter().find(|c| c["type"] == kind && c["status"] == status))
            .and_then(|c| c["lastTransitionTime"].as_str())
            .map(str::to_string)
            .unwrap_or_else(|| now_text.clone())
    };
    let capacity = &pool.capacity;
    let allocatable = capacity.allocatable();
    let id = digest(&[cluster, &node.name]);
    let resources = |cpu: i64, memory: i64, storage: i64, pods: i64| {
        let cpu = if cpu % 1000 == 0 { (cpu / 1000).to_string() } else { format!("{cpu}m") };
        json!({"cpu": cpu, "ephemeral-storage": quantity::format_kibibytes(storage), "hugepages-1Gi": "0",
            "hugepages-2Mi": "0", "memory": quantity::format_kibibytes(memory), "pods": pods.to_string()})
    };
    json!({
        "capacity": resources(capacity.cpu_millis, capacity.memory_bytes, capacity.ephemeral_storage_bytes, capacity.pods),
        "allocatable": resources(
            allocatable.cpu_millis,
            allocatable.memory_bytes,
            capacity.ephemeral_storage_bytes * 9 / 10,
            allocatable.pods,
        ),
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available", &now_text, &transition("MemoryPressure", "False")),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure", &now_text, &transition("DiskPressure", "False")),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available", &now_text, &transition("PIDPressure", "False")),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status", &now_text, &transition("Ready", "True")),
        ],
        "addresses": [
            {"type": "InternalIP", "address": node.ip},
            {"type": "InternalDNS", "address": node.name},
            {"type": "Hostname", "address": node.name},
        ],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        "nodeInfo": {
            "machineID": &id[..32],
            "systemUUID": format!("ec2{}-{}-{}-{}-{}", &id[32..37], &id[37..41], &id[41..45], &id[45..49], &id[49..61]),
            "bootID": boot_id,
            "kernelVersion": "6.1.132-147.221.amzn2023.x86_64",
            "osImage": "Amazon Linux 2023.7.20250414",
            "containerRuntimeVersion": "containerd://1.7.27",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": KUBELET_VERSION,
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    })
}

/// The Node object a pool member registers.
pub(crate) fn node_object(pool: &NodePool, node: &PoolNode, cluster: &str, boot_id: &str, now: DateTime<Utc>) -> Value {
    let id = digest(&[cluster, &node.name]);
    let labels: BTreeMap<&str, &str> = BTreeMap::from([
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/instance-type", pool.instance_type.as_str()),
        ("beta.kubernetes.io/os", "linux"),
        ("eks.amazonaws.com/capacityType", "ON_DEMAND"),
        ("eks.amazonaws.com/nodegroup", pool.name.as_str()),
        ("failure-domain.beta.kubernetes.io/region", pool.region.as_str()),
        ("failure-domain.beta.kubernetes.io/zone", node.zone.as_str()),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/hostname", node.name.as_str()),
        ("kubernetes.io/os", "linux"),
        ("node.kubernetes.io/instance-type", pool.instance_type.as_str()),
        ("topology.kubernetes.io/region", pool.region.as_str()),
        ("topology.kubernetes.io/zone", node.zone.as_str()),
    ]);
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": labels,
            "annotations": {
                "alpha.kubernetes.io/provided-node-ip": node.ip,
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"providerID": format!("aws:///{}/i-0{}", node.zone, &id[..16])},
        "status": node_status(pool, node, cluster, boot_id, None, now),
    })
}

/// The pod addresses of one node.
#[derive(Default)]
struct Addresses {
    used: BTreeSet<u8>,
}

/// The nodes this Rampart runs the kubelet of, with their pods' address allocation.
pub(crate) struct NodePoolState {
    pub pool: NodePool,
    pub members: Vec<PoolNode>,
    boot_id: String,
    addresses: Mutex<BTreeMap<String, Addresses>>,
}

impl NodePoolState {
    pub(crate) fn new(pool: NodePool) -> Arc<Self> {
        let members = pool.members();
        let boot_id = uuid_like(&rand::random::<[u8; 16]>());
        Arc::new(Self { pool, members, boot_id, addresses: Mutex::new(BTreeMap::new()) })
    }

    pub(crate) fn member(&self, name: &str) -> Option<&PoolNode> {
        self.members.iter().find(|m| m.name == name)
    }

    /// An address for a pod on `node` (`None`: the node's range is full).
    pub(crate) fn allocate_ip(&self, node: &PoolNode) -> Option<String> {
        let mut addresses = self.addresses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let used = &mut addresses.entry(node.name.clone()).or_default().used;
        let host = (2..=254u8).find(|h| !used.contains(h))?;
        used.insert(host);
        Some(format!("{}{host}", node.pod_prefix))
    }

    /// Marks `ip` as used (a pod that already had it before a restart).
    pub(crate) fn reserve_ip(&self, node: &PoolNode, ip: &str) -> bool {
        let Some(host) = ip.strip_prefix(&node.pod_prefix).and_then(|h| h.parse::<u8>().ok()) else { return false };
        let mut addresses = self.addresses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        addresses.entry(node.name.clone()).or_default().used.insert(host)
    }

    pub(crate) fn release_ip(&self, node: &PoolNode, ip: &str) {
        if let Some(host) = ip.strip_prefix(&node.pod_prefix).and_then(|h| h.parse::<u8>().ok()) {
            let mut addresses = self.addresses.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(entry) = addresses.get_mut(&node.name) {
                entry.used.remove(&host);
            }
        }
    }
}

fn uuid_like(bytes: &[u8; 16]) -> String {
    let h = hex::encode(bytes);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Registers the pool's nodes (creating missing ones, refreshing the status of the others) and
/// removes the nodes of this node group the pool no longer has.
pub(crate) async fn register(api: &Api, state: &NodePoolState) -> Result<(), WorkloadsError> {
    let objects = &api.objects;
    let now = Utc::now();
    for member in &state.members {
        let error = |status: kube_core::Status| WorkloadsError::RegisterNode {
            node: member.name.clone(),
            status: Box::new(status),
        };
        let mut ctx = api::kubelet(&member.name);
        match objects.get(&Target::object(&api.nodes, "", &member.name)).await {
            Ok(existing) => {
                let status =
                    node_status(&state.pool, member, objects.cluster(), &state.boot_id, existing.get("status"), now);
                api.write_status(&api.nodes, &existing, status, &mut ctx).await.map_err(error)?;
            }
            Err(status) if status.code == 404 => {
                let object = node_object(&state.pool, member, objects.cluster(), &state.boot_id, now);
                match objects.create(&Target::collection(&api.nodes, ""), object, &mut ctx).await {
                    Ok(_) => {}
                    Err(status) if status.code == 409 => {}
                    Err(status) => return Err(error(status)),
                }
            }
            Err(status) => return Err(error(status)),
        }
    }
    let list = objects
        .list(&Target::collection(&api.nodes, ""), &kube_core::params::ListOptions::default())
        .await
        .map_err(|status| WorkloadsError::RegisterNode { node: "(list)".into(), status: Box::new(status) })?;
    for node in list.items {
        let ours = meta::labels(&node).get("eks.amazonaws.com/nodegroup") == Some(&state.pool.name);
        if ours && state.member(meta::name(&node)).is_none() {
            let _ = api.delete(&api.nodes, &node, None, &mut api::controller("node-controller")).await;
        }
    }
    Ok(())
}

/// Keeps the pool's nodes Ready: posts their status every minute, and at once when someone
/// changed it; force-deletes the pods of a node that went away (the pod garbage collector).
pub(crate) fn spawn(api: Arc<Api>, cache: Arc<Cache>, state: Arc<NodePoolState>) -> Vec<tokio::task::JoinHandle<()>> {
    let queue = crate::queue::WorkQueue::<String>::new();
    {
        let queue = Arc::clone(&queue);
        let state = Arc::clone(&state);
        cache.on_change(move |change| {
            if change.kind != Kind::Node {
                return;
            }
            let name = meta::name(change.object());
            match change.new {
                Some(node) if state.member(name).is_some() => {
                    let ready = node
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"));
                    if !ready {
                        queue.add(name.to_string());
                    }
                }
                Some(_) => {}
                None => queue.add(name.to_string()),
            }
        });
    }
    let mut tasks = Vec::new();
    {
        let (api, cache, state) = (Arc::clone(&api), Arc::clone(&cache), Arc::clone(&state));
        tasks.extend(crate::queue::run_workers(Arc::clone(&queue), 2, move |name: String| {
            let (api, cache, state) = (Arc::clone(&api), Arc::clone(&cache), Arc::clone(&state));
            async move { sync_node(&api, &cache, &state, &name).await }
        }));
    }
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            for member in &state.members {
                queue.add(member.name.clone());
            }
        }
    }));
    tasks
}

async fn sync_node(api: &Api, cache: &Cache, state: &NodePoolState, name: &str) {
    match cache.get(Kind::Node, &ObjectKey::new("", name)) {
        Some(node) => {
            if let Some(member) = state.member(name) {
                let status = node_status(
                    &state.pool,
                    member,
                    api.objects.cluster(),
                    &state.boot_id,
                    node.get("status"),
                    Utc::now(),
                );
                if let Err(status) = api.write_status(&api.nodes, &node, status, &mut api::kubelet(name)).await {
                    tracing::debug!(node = name, error = %status.message, "cannot post the node status");
                }
            }
        }
        None => {
            // PodGC: pods bound to a node that no longer exists are deleted at once.
            let mut ctx = api::controller("pod-garbage-collector");
            for pod in cache.list(Kind::Pod) {
                if pod.pointer("/spec/nodeName").and_then(Value::as_str) == Some(name) {
                    let _ = api.delete(&api.pods, &pod, Some(0), &mut ctx).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_are_named_and_addressed_as_on_eks() {
        let pool = NodePool::new(4, NodeCapacity::default(), "us-east-1").unwrap();
        let members = pool.members();
        assert_eq!(members[0].name, "ip-192-168-0-10.ec2.internal");
        assert_eq!(members[0].zone, "us-east-1a");
        assert_eq!(members[1].ip, "192.168.32.10");
        assert_eq!(members[1].zone, "us-east-1b");
        assert_eq!(members[3].ip, "192.168.0.11");
        assert_eq!(members[3].pod_prefix, "192.168.2.");
        let west = NodePool::new(1, NodeCapacity::default(), "eu-west-1").unwrap();
        assert_eq!(west.members()[0].name, "ip-192-168-0-10.eu-west-1.compute.internal");
        assert!(NodePool::new(MAX_NODES + 1, NodeCapacity::default(), "us-east-1").is_err());
    }

    #[test]
    fn capacity_parses_and_reserves_as_eks() {
        let capacity = NodeCapacity::parse("cpu=2, memory=8Gi,pods=29").unwrap();
        assert_eq!((capacity.cpu_millis, capacity.memory_bytes, capacity.pods), (2000, 8 << 30, 29));
        let allocatable = capacity.allocatable();
        assert_eq!(allocatable.cpu_millis, 1930, "6% of the first core and 1% of the second are reserved");
        assert_eq!(allocatable.memory_bytes, (8 << 30) - ((255 + 11 * 29 + 100) << 20));
        for bad in ["cpu", "cpu=lots", "gpu=1", "pods=0", "pods=300", "memory=0"] {
            assert!(NodeCapacity::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(NodeCapacity::parse("").unwrap(), NodeCapacity::default());
    }

    #[test]
    fn a_node_as_the_kubelet_registers_it() {
        let pool = NodePool::new(1, NodeCapacity::parse("cpu=2,memory=8Gi,pods=110").unwrap(), "us-east-1").unwrap();
        let member = &pool.members()[0];
        let now = Utc::now();
        let node = node_object(&pool, member, "demo", "boot", now);
        assert_eq!(node["metadata"]["labels"]["topology.kubernetes.io/zone"], "us-east-1a");
        assert_eq!(node["metadata"]["labels"]["kubernetes.io/hostname"], member.name);
        assert_eq!(node["status"]["capacity"]["cpu"], "2");
        assert_eq!(node["status"]["allocatable"]["cpu"], "1930m");
        assert_eq!(node["status"]["capacity"]["memory"], "8388608Ki");
        assert_eq!(node["status"]["nodeInfo"]["kubeletVersion"], KUBELET_VERSION);
        let ready = &node["status"]["conditions"][3];
        assert_eq!((ready["type"].as_str(), ready["status"].as_str()), (Some("Ready"), Some("True")));
        assert!(node["spec"]["providerID"].as_str().unwrap().starts_with("aws:///us-east-1a/i-0"));
        // The same node of the same cluster keeps its identity; transition times survive a heartbeat.
        let again = node_object(&pool, member, "demo", "boot", now);
        assert_eq!(again["status"]["nodeInfo"]["systemUUID"], node["status"]["nodeInfo"]["systemUUID"]);
        let later = now + chrono::Duration::seconds(60);
        let status = node_status(&pool, member, "demo", "boot", Some(&node["status"]), later);
        assert_eq!(
            status["conditions"][3]["lastTransitionTime"],
            node["status"]["conditions"][3]["lastTransitionTime"]
        );
        assert_eq!(status["conditions"][3]["lastHeartbeatTime"], meta::format_time(later));
    }

    #[test]
    fn pod_addresses_are_unique_per_node_and_reusable() {
        let state = NodePoolState::new(NodePool::new(2, NodeCapacity::default(), "us-east-1").unwrap());
        let node = state.members[0].clone();
        assert!(state.reserve_ip(&node, "192.168.1.2"));
        let ip = state.allocate_ip(&node).unwrap();
        assert_eq!(ip, "192.168.1.3");
        state.release_ip(&node, "192.168.1.2");
        assert_eq!(state.allocate_ip(&node).unwrap(), "192.168.1.2");
        assert!(!state.reserve_ip(&node, "10.0.0.1"), "another node's range");
    }
}

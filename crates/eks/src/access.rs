//! One cluster's live view of who may use it, shared by the EKS API (which changes it) and the
//! cluster's authenticator, authorizer and aws-auth admission hook (which read it on every
//! request): the authentication mode, the access entries and the cluster creator, swapped as a
//! whole on every EKS write; and `kube-system/aws-auth`, read from the cluster's objects on
//! each authentication (parsed again only when its resourceVersion changed), so an edit takes
//! effect on the very next request.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};

use eks_auth::{AccessEntries, AuthenticationMode, AwsAuth, ClusterAccess};
use kube_api::Target;
use kube_core::Status;
use serde_json::Value;

use crate::model::ClusterRecord;

/// The namespace and name of the aws-auth ConfigMap.
pub const AWS_AUTH_NAMESPACE: &str = "kube-system";
pub const AWS_AUTH_NAME: &str = "aws-auth";

/// What the EKS API decides about a cluster's access, as of its last write.
#[derive(Debug)]
pub struct AccessSnapshot {
    pub mode: AuthenticationMode,
    pub entries: AccessEntries,
    /// The creator's hidden CONFIG_MAP-mode mapping (a role without its path), when
    /// `bootstrapClusterCreatorAdminPermissions` was set.
    pub creator: Option<String>,
    /// The creator's IAM ARN, whom the aws-auth admission check keeps from being locked out.
    pub creator_arn: String,
}

impl AccessSnapshot {
    fn of(record: &ClusterRecord) -> Self {
        AccessSnapshot {
            mode: record.authentication_mode,
            entries: record.access_entries.clone(),
            creator: record.creator_mapping(),
            creator_arn: record.creator_arn.clone(),
        }
    }

    /// The cluster as `eks_auth::resolve` sees it, with this aws-auth.
    pub fn cluster_access<'a>(&'a self, aws_auth: Option<&'a AwsAuth>) -> ClusterAccess<'a> {
        ClusterAccess {
            mode: self.mode,
            access_entries: &self.entries,
            aws_auth,
            cluster_creator: self.creator.as_deref(),
        }
    }
}

/// A cluster's access state.
pub struct AccessState {
    /// The EKS cluster name: the `x-k8s-aws-id` tokens are signed for.
    cluster_name: String,
    snapshot: RwLock<Arc<AccessSnapshot>>,
    cluster: OnceLock<Weak<kube_api::Cluster>>,
    /// The last aws-auth parsed, by resourceVersion.
    aws_auth: Mutex<Option<(String, Arc<AwsAuth>)>>,
}

impl AccessState {
    pub fn new(record: &ClusterRecord) -> Self {
        AccessState {
            cluster_name: record.name.clone(),
            snapshot: RwLock::new(Arc::new(AccessSnapshot::of(record))),
            cluster: OnceLock::new(),
            aws_auth: Mutex::new(None),
        }
    }

    pub fn cluster_name(&self) -> &str {
        &self.cluster_name
    }

    /// Takes the record's mode, entries and creator (after an EKS write).
    pub fn update(&self, record: &ClusterRecord) {
        *self.snapshot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(AccessSnapshot::of(record));
    }

    pub fn snapshot(&self) -> Arc<AccessSnapshot> {
        self.snapshot.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Connects the state to the running cluster whose aws-auth it reads (held weakly: the
    /// cluster owns the hooks that own this state).
    pub fn attach(&self, cluster: &Arc<kube_api::Cluster>) {
        let _ = self.cluster.set(Arc::downgrade(cluster));
    }

    /// The cluster's `kube-system/aws-auth` as it is now, parsed as EKS parses it; `None` when
    /// it does not exist.
    pub async fn aws_auth(&self) -> Result<Option<Arc<AwsAuth>>, Status> {
        let Some(cluster) = self.cluster.get().and_then(Weak::upgrade) else { return Ok(None) };
        let Some(configmaps) = cluster.objects().resource("", "v1", "configmaps") else { return Ok(None) };
        let object = match cluster.objects().get(&Target::object(&configmaps, AWS_AUTH_NAMESPACE, AWS_AUTH_NAME)).await
        {
            Ok(object) => object,
            Err(status) if status.code == 404 => return Ok(None),
            Err(status) => return Err(status),
        };
        let version = kube_core::meta::resource_version(&object).to_string();
        let mut cached = self.aws_auth.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((seen, parsed)) = cached.as_ref()
            && *seen == version
        {
            return Ok(Some(parsed.clone()));
        }
        let parsed = Arc::new(AwsAuth::parse(&configmap_data(&object)));
        *cached = Some((version, parsed.clone()));
        Ok(Some(parsed))
    }
}

/// A ConfigMap's `data`.
pub fn configmap_data(object: &Value) -> BTreeMap<String, String> {
    kube_core::meta::string_map(object.get("data"))
}

/// `{{EC2PrivateDNSName}}` for the simulated nodes: EKS asks EC2 for the private DNS name of
/// the instance a node role session is named after; Rampart has no EC2, so every instance ID
/// has a stable name in the VPC's `192.168.0.0/16`, derived from the ID, in EC2's format
/// (`ip-192-168-a-b.ec2.internal` in us-east-1, `ip-….<region>.compute.internal` elsewhere).
pub fn private_dns_name(region: &str, instance_id: &str) -> String {
    let hash =
        instance_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    let (a, b) = ((hash >> 8) as u8, hash as u8);
    let domain = if region == "us-east-1" { "ec2.internal".to_string() } else { format!("{region}.compute.internal") };
    format!("ip-192-168-{a}-{b}.{domain}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simulated_instances_have_stable_private_dns_names() {
        let name = private_dns_name("us-east-1", "i-0123456789abcdef0");
        assert!(name.starts_with("ip-192-168-") && name.ends_with(".ec2.internal"), "{name}");
        assert_eq!(name, private_dns_name("us-east-1", "i-0123456789abcdef0"));
        assert_ne!(name, private_dns_name("us-east-1", "i-0123456789abcdef1"));
        assert!(private_dns_name("eu-west-1", "i-01234567").ends_with(".eu-west-1.compute.internal"));
    }
}

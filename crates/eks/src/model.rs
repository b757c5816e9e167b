//! What EKS keeps about a cluster, as stored (`/eks/<account>/<region>/clusters/<name>`, JSON),
//! and its shapes on the wire: the `Cluster`, `AccessEntry`, `AssociatedAccessPolicy` and
//! `Update` structures of the EKS API, with timestamps as epoch seconds as EKS sends them.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use eks_auth::{AccessEntries, AccessEntry, AssociatedAccessPolicy, AuthenticationMode};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// Where EKS state lives in the store.
pub const PREFIX: &str = "/eks/";

/// The Kubernetes version every cluster serves (`/version` says 1.32).
pub const KUBERNETES_VERSION: &str = "1.32";

/// The versions `CreateCluster` accepts (EKS's standard and extended support list); whatever is
/// asked for is recorded, the API server serves 1.32.
pub const SUPPORTED_VERSIONS: &[&str] = &["1.28", "1.29", "1.30", "1.31", "1.32", "1.33"];

/// The EKS platform version reported for 1.32.
pub const PLATFORM_VERSION: &str = "eks.9";

/// The simulated managed node group's IAM role, mapped in every new cluster's aws-auth.
pub const NODE_ROLE_NAME: &str = "AmazonEKSNodeRole";

/// Where a cluster lives: account, region, name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClusterKey {
    pub account: String,
    pub region: String,
    pub name: String,
}

impl ClusterKey {
    pub fn new(account: &str, region: &str, name: &str) -> Self {
        ClusterKey { account: account.to_string(), region: region.to_string(), name: name.to_string() }
    }

    /// The store key of the cluster's record.
    pub fn store_key(&self) -> String {
        format!("{PREFIX}{}/{}/clusters/{}", self.account, self.region, self.name)
    }

    /// Parses a store key written by [`ClusterKey::store_key`].
    pub fn from_store_key(key: &str) -> Option<Self> {
        let rest = key.strip_prefix(PREFIX)?;
        let mut parts = rest.splitn(4, '/');
        match (parts.next(), parts.next(), parts.next(), parts.next()) {
            (Some(account), Some(region), Some("clusters"), Some(name)) if !name.contains('/') => {
                Some(ClusterKey::new(account, region, name))
            }
            _ => None,
        }
    }

    /// `arn:aws:eks:<region>:<account>:cluster/<name>`.
    pub fn arn(&self) -> String {
        format!("arn:aws:eks:{}:{}:cluster/{}", self.region, self.account, self.name)
    }
}

/// A change made by `UpdateClusterConfig`, as `DescribeUpdate` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateRecord {
    pub id: String,
    #[serde(rename = "type")]
    pub update_type: String,
    /// `(type, value)` pairs.
    pub params: Vec<(String, String)>,
    pub created_at: DateTime<Utc>,
}

impl UpdateRecord {
    /// The wire `Update`, with the given status (`InProgress` in the response of the call that
    /// made it, `Successful` afterwards: Rampart applies updates at once).
    pub fn to_wire(&self, status: &str) -> Value {
        let params: Vec<Value> = self.params.iter().map(|(t, v)| json!({"type": t, "value": v})).collect();
        json!({
            "id": self.id,
            "status": status,
            "type": self.update_type,
            "params": params,
            "createdAt": epoch(self.created_at),
            "errors": [],
        })
    }
}

/// One cluster as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterRecord {
    pub name: String,
    pub account: String,
    pub region: String,
    /// 32 upper-case hex digits, as in EKS endpoint host names and OIDC issuers.
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub version: String,
    pub role_arn: String,
    /// `resourcesVpcConfig` as answered (the request's values with EKS's defaults).
    pub resources_vpc_config: Value,
    #[serde(default)]
    pub kubernetes_network_config: Value,
    #[serde(default)]
    pub logging: Value,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub authentication_mode: AuthenticationMode,
    pub bootstrap_cluster_creator_admin_permissions: bool,
    /// The IAM principal that created the cluster (a role session's role, with its path).
    pub creator_arn: String,
    #[serde(default)]
    pub client_request_token: Option<String>,
    /// The name of the cluster's Kubernetes API in this process (its store prefix is
    /// `/clusters/<kube_name>/`): the EKS name in the default account and region, else
    /// `<name>.<region>.<account>`.
    pub kube_name: String,
    /// Where its API server listened last (a restart binds the same port again if it can).
    pub listen: SocketAddr,
    #[serde(default)]
    pub access_entries: AccessEntries,
    #[serde(default)]
    pub updates: Vec<UpdateRecord>,
}

impl ClusterRecord {
    pub fn key(&self) -> ClusterKey {
        ClusterKey::new(&self.account, &self.region, &self.name)
    }

    pub fn arn(&self) -> String {
        self.key().arn()
    }

    /// The IAM role of the simulated managed node group.
    pub fn node_role_arn(&self) -> String {
        format!("arn:aws:iam::{}:role/{NODE_ROLE_NAME}", self.account)
    }

    /// The cluster creator as mappings see it (a role without its path), when
    /// `bootstrapClusterCreatorAdminPermissions` gave it access.
    pub fn creator_mapping(&self) -> Option<String> {
        self.bootstrap_cluster_creator_admin_permissions.then(|| eks_auth::strip_path(&self.creator_arn))
    }

    /// The `Cluster` structure of the EKS API.
    pub fn to_wire(&self, status: &str, endpoint: &str, ca_pem: &str) -> Value {
        let mut cluster = Map::new();
        cluster.insert("name".into(), self.name.clone().into());
        cluster.insert("arn".into(), self.arn().into());
        cluster.insert("createdAt".into(), epoch(self.created_at));
        cluster.insert("version".into(), self.version.clone().into());
        cluster.insert("endpoint".into(), endpoint.into());
        cluster.insert("roleArn".into(), self.role_arn.clone().into());
        cluster.insert("resourcesVpcConfig".into(), self.resources_vpc_config.clone());
        cluster.insert("kubernetesNetworkConfig".into(), self.kubernetes_network_config.clone());
        cluster.insert("logging".into(), self.logging.clone());
        cluster.insert(
            "identity".into(),
            json!({"oidc": {"issuer": format!("https://oidc.eks.{}.amazonaws.com/id/{}", self.region, self.id)}}),
        );
        cluster.insert("status".into(), status.into());
        cluster.insert(
            "certificateAuthority".into(),
            json!({"data": base64::engine::general_purpose::STANDARD.encode(ca_pem)}),
        );
        if let Some(token) = &self.client_request_token {
            cluster.insert("clientRequestToken".into(), token.clone().into());
        }
        cluster.insert("platformVersion".into(), PLATFORM_VERSION.into());
        cluster.insert("tags".into(), json!(self.tags));
        cluster.insert("health".into(), json!({"issues": []}));
        cluster.insert(
            "accessConfig".into(),
            json!({
                "bootstrapClusterCreatorAdminPermissions": self.bootstrap_cluster_creator_admin_permissions,
                "authenticationMode": self.authentication_mode.as_str(),
            }),
        );
        cluster.insert("upgradePolicy".into(), json!({"supportType": "EXTENDED"}));
        cluster.insert("deletionProtection".into(), false.into());
        Value::Object(cluster)
    }
}

/// `resourcesVpcConfig` as EKS answers it: the request's subnets, security groups and endpoint
/// access, EKS's defaults for what was not given, and a VPC and cluster security group derived
/// from the cluster's ID.
pub fn vpc_config_response(request: &Value, cluster_id: &str) -> Value {
    let list = |field: &str| request.get(field).and_then(Value::as_array).cloned().unwrap_or_default();
    let flag = |field: &str, default: bool| request.get(field).and_then(Value::as_bool).unwrap_or(default);
    let id = cluster_id.to_ascii_lowercase();
    let cidrs = match list("publicAccessCidrs") {
        cidrs if cidrs.is_empty() => vec![Value::from("0.0.0.0/0")],
        cidrs => cidrs,
    };
    json!({
        "subnetIds": list("subnetIds"),
        "securityGroupIds": list("securityGroupIds"),
        "clusterSecurityGroupId": format!("sg-{}", &id[..17]),
        "vpcId": format!("vpc-{}", &id[15..32]),
        "endpointPublicAccess": flag("endpointPublicAccess", true),
        "endpointPrivateAccess": flag("endpointPrivateAccess", false),
        "publicAccessCidrs": cidrs,
    })
}

/// `kubernetesNetworkConfig` as EKS answers it (the service CIDR the API server allocates from).
pub fn network_config_response() -> Value {
    json!({"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4", "elasticLoadBalancing": {"enabled": false}})
}

/// `logging` as EKS answers it: `base`'s enabled log types (none for a new cluster) changed by
/// the request's `clusterLogging` setups, grouped into an enabled and a disabled setup.
pub fn logging_response(base: Option<&Value>, request: Option<&Value>) -> Value {
    const TYPES: [&str; 5] = ["api", "audit", "authenticator", "controllerManager", "scheduler"];
    let mut enabled: Vec<String> = Vec::new();
    for logging in [base, request].into_iter().flatten() {
        let setups = logging.pointer("/clusterLogging").and_then(Value::as_array).into_iter().flatten();
        for setup in setups {
            let on = setup.get("enabled").and_then(Value::as_bool).unwrap_or(false);
            for kind in setup.get("types").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
                enabled.retain(|k| k != kind);
                if on {
                    enabled.push(kind.to_string());
                }
            }
        }
    }
    let (on, off): (Vec<&str>, Vec<&str>) = TYPES.iter().partition(|t| enabled.iter().any(|e| e == *t));
    let mut setups = Vec::new();
    if !on.is_empty() {
        setups.push(json!({"types": on, "enabled": true}));
    }
    if !off.is_empty() {
        setups.push(json!({"types": off, "enabled": false}));
    }
    json!({"clusterLogging": setups})
}

/// Epoch seconds with milliseconds, as EKS timestamps are sent.
pub fn epoch(time: DateTime<Utc>) -> Value {
    let millis = time.timestamp_millis();
    if millis % 1000 == 0 { Value::from(millis / 1000) } else { Value::from(millis as f64 / 1000.0) }
}

/// The `AccessEntry` structure of the EKS API.
pub fn access_entry_wire(entry: &AccessEntry) -> Value {
    json!({
        "clusterName": entry.cluster_name,
        "principalArn": entry.principal_arn,
        "kubernetesGroups": entry.kubernetes_groups,
        "accessEntryArn": entry.access_entry_arn,
        "createdAt": epoch(entry.created_at),
        "modifiedAt": epoch(entry.modified_at),
        "tags": entry.tags,
        "username": entry.username,
        "type": entry.entry_type.as_str(),
    })
}

/// The `AssociatedAccessPolicy` structure of the EKS API.
pub fn associated_policy_wire(policy: &AssociatedAccessPolicy) -> Value {
    json!({
        "policyArn": policy.policy_arn,
        "accessScope": {
            "type": match policy.access_scope.scope_type {
                eks_auth::AccessScopeType::Cluster => "cluster",
                eks_auth::AccessScopeType::Namespace => "namespace",
            },
            "namespaces": policy.access_scope.namespaces,
        },
        "associatedAt": epoch(policy.associated_at),
        "modifiedAt": epoch(policy.modified_at),
    })
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn store_keys_round_trip_and_reject_other_keys() {
        let key = ClusterKey::new("123456789012", "us-east-1", "demo");
        assert_eq!(key.store_key(), "/eks/123456789012/us-east-1/clusters/demo");
        assert_eq!(ClusterKey::from_store_key(&key.store_key()), Some(key.clone()));
        assert_eq!(ClusterKey::from_store_key("/eks/123456789012/us-east-1/other/demo"), None);
        assert_eq!(ClusterKey::from_store_key("/iam/123456789012/users/demo"), None);
        assert_eq!(key.arn(), "arn:aws:eks:us-east-1:123456789012:cluster/demo");
    }

    #[test]
    fn timestamps_are_epoch_seconds() {
        let at = Utc.with_ymd_and_hms(2026, 11, 28, 9, 16, 25).unwrap();
        assert_eq!(epoch(at), json!(1795857385));
        assert_eq!(epoch(at + chrono::TimeDelta::milliseconds(250)), json!(1795857385.25));
    }

    #[test]
    fn vpc_and_logging_answers_fill_in_eks_defaults() {
        let vpc =
            vpc_config_response(&json!({"subnetIds": ["subnet-1", "subnet-2"]}), "0123456789ABCDEF0123456789ABCDEF");
        assert_eq!(vpc["subnetIds"], json!(["subnet-1", "subnet-2"]));
        assert_eq!(vpc["endpointPublicAccess"], true);
        assert_eq!(vpc["publicAccessCidrs"], json!(["0.0.0.0/0"]));
        assert_eq!(vpc["vpcId"], "vpc-f0123456789abcdef");
        let logging =
            logging_response(None, Some(&json!({"clusterLogging": [{"types": ["audit", "api"], "enabled": true}]})));
        assert_eq!(
            logging,
            json!({"clusterLogging": [
                {"types": ["api", "audit"], "enabled": true},
                {"types": ["authenticator", "controllerManager", "scheduler"], "enabled": false}
            ]})
        );
        assert_eq!(logging_response(None, None)["clusterLogging"][0]["enabled"], false);
        let audit_off = json!({"clusterLogging": [{"types": ["audit"], "enabled": false}]});
        let changed = logging_response(Some(&logging), Some(&audit_off));
        assert_eq!(changed["clusterLogging"][0], json!({"types": ["api"], "enabled": true}));
    }
}

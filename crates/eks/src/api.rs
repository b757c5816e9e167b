//! The EKS REST-JSON API (`2017-11-01`, signing name `eks`) as an `aws_api::RestService`: the
//! AWS endpoint has verified the signature and knows the caller; here each call is routed by
//! method and path (labels percent-decoded), authorized by IAM on the cluster or access-entry
//! ARN it touches (before the resource is looked up, as AWS does), and answered in EKS's shapes
//! and errors. Clusters live in the caller's account and the region of its signature.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_api::{RestRequest, RestService};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use chrono::Utc;
use eks_auth::{AccessScope, CreateAccessEntry, EntryContext, UpdateAccessEntry};
use iam::condition::ContextKeys;
use percent_encoding::percent_decode_str;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::control_plane::{Creator, Eks, NewCluster, principal_id};
use crate::error::Error;
use crate::model::{ClusterKey, ClusterRecord, access_entry_wire, associated_policy_wire};

/// The most items one page of a list holds.
const MAX_RESULTS: usize = 100;

/// The EKS API over the control plane.
pub struct EksApi {
    eks: Arc<Eks>,
}

impl EksApi {
    pub fn new(eks: Arc<Eks>) -> Self {
        EksApi { eks }
    }
}

#[async_trait]
impl RestService for EksApi {
    fn signing_name(&self) -> &'static str {
        "eks"
    }

    async fn handle(&self, request: RestRequest) -> Response {
        match Call::new(&self.eks, &request).route().await {
            Ok(body) => {
                let mut response = (StatusCode::OK, body.to_string()).into_response();
                let headers = response.headers_mut();
                headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                if let Ok(id) = HeaderValue::from_str(&request.request_id) {
                    headers.insert("x-amzn-RequestId", id);
                }
                response
            }
            Err(error) => error.response(&request.request_id),
        }
    }
}

/// One call on its way through its handler.
struct Call<'a> {
    eks: &'a Eks,
    request: &'a RestRequest,
    /// The path's segments, percent-decoded.
    segments: Vec<String>,
    query: BTreeMap<String, String>,
}

/// A `CreateCluster` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateClusterBody {
    name: String,
    #[serde(default)]
    version: Option<String>,
    role_arn: String,
    #[serde(default)]
    resources_vpc_config: Value,
    #[serde(default)]
    logging: Option<Value>,
    #[serde(default)]
    tags: BTreeMap<String, String>,
    #[serde(default)]
    access_config: Option<AccessConfigBody>,
    #[serde(default)]
    client_request_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessConfigBody {
    #[serde(default)]
    authentication_mode: Option<String>,
    #[serde(default)]
    bootstrap_cluster_creator_admin_permissions: Option<bool>,
}

/// An `AssociateAccessPolicy` body.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AssociateBody {
    policy_arn: String,
    access_scope: AccessScope,
}

impl<'a> Call<'a> {
    fn new(eks: &'a Eks, request: &'a RestRequest) -> Self {
        let segments = request
            .path
            .split('/')
            .filter(|segment| !segment.is_empty())
            .map(|segment| percent_decode_str(segment).decode_utf8_lossy().into_owned())
            .collect();
        let query = sigv4::query_pairs(&request.query).collect();
        Call { eks, request, segments, query }
    }

    async fn route(self) -> Result<Value, Error> {
        let segments: Vec<&str> = self.segments.iter().map(String::as_str).collect();
        let method = &self.request.method;
        match (method, segments.as_slice()) {
            (&Method::GET, ["clusters"]) => self.list_clusters(),
            (&Method::POST, ["clusters"]) => self.create_cluster().await,
            (&Method::GET, ["clusters", name]) => self.describe_cluster(name),
            (&Method::DELETE, ["clusters", name]) => self.delete_cluster(name).await,
            (&Method::POST, ["clusters", name, "update-config"]) => self.update_cluster_config(name).await,
            (&Method::GET, ["clusters", name, "updates"]) => self.list_updates(name),
            (&Method::GET, ["clusters", name, "updates", id]) => self.describe_update(name, id),
            (&Method::POST, ["clusters", name, "access-entries"]) => self.create_access_entry(name).await,
            (&Method::GET, ["clusters", name, "access-entries"]) => self.list_access_entries(name),
            (&Method::GET, ["clusters", name, "access-entries", principal]) => {
                self.describe_access_entry(name, principal)
            }
            (&Method::POST, ["clusters", name, "access-entries", principal]) => {
                self.update_access_entry(name, principal).await
            }
            (&Method::DELETE, ["clusters", name, "access-entries", principal]) => {
                self.delete_access_entry(name, principal).await
            }
            (&Method::POST, ["clusters", name, "access-entries", principal, "access-policies"]) => {
                self.associate_access_policy(name, principal).await
            }
            (&Method::GET, ["clusters", name, "access-entries", principal, "access-policies"]) => {
                self.list_associated_access_policies(name, principal)
            }
            (&Method::DELETE, ["clusters", name, "access-entries", principal, "access-policies", policy]) => {
                self.disassociate_access_policy(name, principal, policy).await
            }
            (&Method::GET, ["access-policies"]) => self.list_access_policies(),
            _ => Err(Error::Api {
                code: "UnknownOperationException",
                status: 404,
                message: format!("Rampart's EKS API does not serve {method} {}", self.request.path),
            }),
        }
    }

    fn account(&self) -> &str {
        self.request.caller.account()
    }

    fn region(&self) -> &str {
        &self.request.env.region
    }

    fn key(&self, name: &str) -> ClusterKey {
        ClusterKey::new(self.account(), self.region(), name)
    }

    fn body<T: for<'de> Deserialize<'de>>(&self) -> Result<T, Error> {
        let body: &[u8] = if self.request.body.is_empty() { b"{}" } else { &self.request.body };
        let value: Value = serde_json::from_slice(body).map_err(|e| Error::Api {
            code: "SerializationException",
            status: 400,
            message: format!("The request body is not valid JSON: {e}"),
        })?;
        serde_json::from_value(value).map_err(|e| Error::invalid_parameter(format!("Invalid request body: {e}")))
    }

    /// IAM's decision on `eks:<action>` on `resource`, with `keys` set in the request context.
    fn authorize(&self, action: &str, resource: &str, keys: impl FnOnce(&mut ContextKeys)) -> Result<(), Error> {
        self.request.authorize(&format!("eks:{action}"), resource, keys).map_err(Error::Aws)
    }

    /// Authorizes an action on an existing cluster, then finds it.
    fn cluster_action(&self, action: &str, name: &str) -> Result<ClusterRecord, Error> {
        let key = self.key(name);
        let record = self.eks.cluster(&key).map(|running| running.record());
        self.authorize(action, &key.arn(), |keys| {
            for (tag, value) in record.iter().flat_map(|r| &r.tags) {
                keys.set(&format!("aws:ResourceTag/{tag}"), value.clone());
            }
        })?;
        record.ok_or_else(|| Error::no_cluster(name))
    }

    /// Authorizes an action on an access entry (its ARN, or for a principal without one, the ARN
    /// its entry would have), then finds the cluster.
    fn entry_action(
        &self,
        action: &str,
        name: &str,
        principal: &str,
        keys: impl FnOnce(&mut ContextKeys),
    ) -> Result<ClusterRecord, Error> {
        let key = self.key(name);
        let record = self.eks.cluster(&key).map(|running| running.record());
        let existing = record
            .as_ref()
            .and_then(|r| r.access_entries.entries().iter().find(|e| e.principal_arn == principal))
            .map(|e| e.access_entry_arn.clone());
        let resource = existing.unwrap_or_else(|| {
            let (kind, account, entity) = aws_arn::Arn::parse(principal)
                .map(|arn| {
                    let kind = arn.resource.split('/').next().unwrap_or_default();
                    (
                        kind.to_string(),
                        arn.account_id.to_string(),
                        arn.resource.rsplit('/').next().unwrap_or_default().to_string(),
                    )
                })
                .unwrap_or_default();
            format!("arn:aws:eks:{}:{}:access-entry/{name}/{kind}/{account}/{entity}/*", self.region(), self.account())
        });
        self.authorize(action, &resource, |context| {
            context.set("eks:principalArn", principal.to_string());
            keys(context);
        })?;
        record.ok_or_else(|| Error::no_cluster(name))
    }

    fn list_clusters(&self) -> Result<Value, Error> {
        self.authorize("ListClusters", "*", |_| {})?;
        let names = self.eks.list(self.account(), self.region());
        let (names, next) = self.page(&names)?;
        Ok(with_next(json!({ "clusters": names }), next))
    }

    async fn create_cluster(&self) -> Result<Value, Error> {
        let body: CreateClusterBody = self.body()?;
        let key = self.key(&body.name);
        self.authorize("CreateCluster", &key.arn(), |keys| {
            let mut tag_keys = Vec::new();
            for (tag, value) in &body.tags {
                keys.set(&format!("aws:RequestTag/{tag}"), value.clone());
                tag_keys.push(tag.clone());
            }
            if !tag_keys.is_empty() {
                keys.set_all("aws:TagKeys", tag_keys);
            }
        })?;
        let caller = &self.request.caller;
        let creator_arn = caller.principal_arn();
        let creator = Creator { principal_id: principal_id(&self.request.iam, &creator_arn), arn: creator_arn };
        let access = body.access_config.unwrap_or(AccessConfigBody {
            authentication_mode: None,
            bootstrap_cluster_creator_admin_permissions: None,
        });
        let request = NewCluster {
            name: body.name,
            version: body.version,
            role_arn: body.role_arn,
            resources_vpc_config: body.resources_vpc_config,
            logging: body.logging,
            tags: body.tags,
            authentication_mode: access.authentication_mode,
            bootstrap_cluster_creator_admin_permissions: access.bootstrap_cluster_creator_admin_permissions,
            client_request_token: body.client_request_token,
        };
        let running =
            self.eks.create_cluster(self.account(), self.region(), &creator, request, None, Utc::now()).await?;
        Ok(json!({ "cluster": running.to_wire("CREATING") }))
    }

    fn describe_cluster(&self, name: &str) -> Result<Value, Error> {
        self.cluster_action("DescribeCluster", name)?;
        Ok(json!({ "cluster": self.eks.existing(&self.key(name))?.to_wire("ACTIVE") }))
    }

    async fn delete_cluster(&self, name: &str) -> Result<Value, Error> {
        self.cluster_action("DeleteCluster", name)?;
        Ok(json!({ "cluster": self.eks.delete_cluster(&self.key(name)).await? }))
    }

    async fn update_cluster_config(&self, name: &str) -> Result<Value, Error> {
        self.cluster_action("UpdateClusterConfig", name)?;
        let body: Value = self.body()?;
        let update = self.eks.update_config(&self.key(name), &body, Utc::now()).await?;
        Ok(json!({ "update": update }))
    }

    fn list_updates(&self, name: &str) -> Result<Value, Error> {
        let record = self.cluster_action("ListUpdates", name)?;
        let ids: Vec<String> = record.updates.iter().map(|u| u.id.clone()).collect();
        let (ids, next) = self.page(&ids)?;
        Ok(with_next(json!({ "updateIds": ids }), next))
    }

    fn describe_update(&self, name: &str, id: &str) -> Result<Value, Error> {
        let record = self.cluster_action("DescribeUpdate", name)?;
        let update = record
            .updates
            .iter()
            .find(|u| u.id == id)
            .ok_or_else(|| Error::resource_not_found(format!("No update found for ID: {id}")))?;
        Ok(json!({ "update": update.to_wire("Successful") }))
    }

    async fn create_access_entry(&self, name: &str) -> Result<Value, Error> {
        let key = self.key(name);
        let request: CreateAccessEntry = self.body()?;
        self.authorize("CreateAccessEntry", &key.arn(), |keys| {
            keys.set("eks:principalArn", request.principal_arn.clone());
            if let Some(groups) = &request.kubernetes_groups {
                keys.set_all("eks:kubernetesGroups", groups.clone());
            }
            if let Some(username) = &request.username {
                keys.set("eks:username", username.clone());
            }
        })?;
        let principal_id = principal_id(&self.request.iam, &request.principal_arn);
        let suffix = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let entry = self
            .eks
            .update_record(&key, |record| {
                let context = EntryContext {
                    cluster_name: &record.name,
                    region: &record.region,
                    account_id: &record.account,
                    principal_id: principal_id.as_deref(),
                    unique_suffix: &suffix,
                    now,
                };
                let mode = record.authentication_mode;
                let mut entries = record.access_entries.clone();
                let wire = access_entry_wire(entries.create(mode, request.clone(), &context)?);
                record.access_entries = entries;
                Ok(wire)
            })
            .await?;
        Ok(json!({ "accessEntry": entry }))
    }

    fn list_access_entries(&self, name: &str) -> Result<Value, Error> {
        let record = self.cluster_action("ListAccessEntries", name)?;
        let policy = self.query.get("associatedPolicyArn").map(String::as_str);
        let principals: Vec<String> =
            record.access_entries.list(record.authentication_mode, policy)?.into_iter().map(str::to_string).collect();
        let (principals, next) = self.page(&principals)?;
        Ok(with_next(json!({ "accessEntries": principals }), next))
    }

    fn describe_access_entry(&self, name: &str, principal: &str) -> Result<Value, Error> {
        let record = self.entry_action("DescribeAccessEntry", name, principal, |_| {})?;
        let entry = record.access_entries.describe(record.authentication_mode, principal)?;
        Ok(json!({ "accessEntry": access_entry_wire(entry) }))
    }

    async fn update_access_entry(&self, name: &str, principal: &str) -> Result<Value, Error> {
        let request: UpdateAccessEntry = self.body()?;
        self.entry_action("UpdateAccessEntry", name, principal, |keys| {
            if let Some(groups) = &request.kubernetes_groups {
                keys.set_all("eks:kubernetesGroups", groups.clone());
            }
            if let Some(username) = &request.username {
                keys.set("eks:username", username.clone());
            }
        })?;
        let now = Utc::now();
        let entry = self
            .eks
            .update_record(&self.key(name), |record| {
                let mode = record.authentication_mode;
                Ok(access_entry_wire(record.access_entries.update(mode, principal, request.clone(), now)?))
            })
            .await?;
        Ok(json!({ "accessEntry": entry }))
    }

    async fn delete_access_entry(&self, name: &str, principal: &str) -> Result<Value, Error> {
        self.entry_action("DeleteAccessEntry", name, principal, |_| {})?;
        self.eks
            .update_record(&self.key(name), |record| {
                let mode = record.authentication_mode;
                record.access_entries.delete(mode, principal)?;
                Ok(())
            })
            .await?;
        Ok(json!({}))
    }

    async fn associate_access_policy(&self, name: &str, principal: &str) -> Result<Value, Error> {
        let body: AssociateBody = self.body()?;
        self.entry_action("AssociateAccessPolicy", name, principal, |keys| {
            keys.set("eks:policyArn", body.policy_arn.clone());
            let scope = match body.access_scope.scope_type {
                eks_auth::AccessScopeType::Cluster => "cluster",
                eks_auth::AccessScopeType::Namespace => "namespace",
            };
            keys.set("eks:accessScope", scope);
            if !body.access_scope.namespaces.is_empty() {
                keys.set_all("eks:namespaces", body.access_scope.namespaces.clone());
            }
        })?;
        let now = Utc::now();
        let associated = self
            .eks
            .update_record(&self.key(name), |record| {
                let mode = record.authentication_mode;
                let policy = record.access_entries.associate_policy(
                    mode,
                    principal,
                    &body.policy_arn,
                    body.access_scope.clone(),
                    now,
                )?;
                Ok(associated_policy_wire(policy))
            })
            .await?;
        Ok(json!({ "clusterName": name, "principalArn": principal, "associatedAccessPolicy": associated }))
    }

    async fn disassociate_access_policy(&self, name: &str, principal: &str, policy: &str) -> Result<Value, Error> {
        self.entry_action("DisassociateAccessPolicy", name, principal, |keys| {
            keys.set("eks:policyArn", policy.to_string());
        })?;
        self.eks
            .update_record(&self.key(name), |record| {
                let mode = record.authentication_mode;
                Ok(record.access_entries.disassociate_policy(mode, principal, policy)?)
            })
            .await?;
        Ok(json!({}))
    }

    fn list_associated_access_policies(&self, name: &str, principal: &str) -> Result<Value, Error> {
        let record = self.entry_action("ListAssociatedAccessPolicies", name, principal, |_| {})?;
        let policies: Vec<Value> = record
            .access_entries
            .associated_policies(record.authentication_mode, principal)?
            .iter()
            .map(associated_policy_wire)
            .collect();
        let (policies, next) = self.page(&policies)?;
        let answer = json!({ "clusterName": name, "principalArn": principal, "associatedAccessPolicies": policies });
        Ok(with_next(answer, next))
    }

    fn list_access_policies(&self) -> Result<Value, Error> {
        self.authorize("ListAccessPolicies", "*", |_| {})?;
        let policies: Vec<Value> =
            eks_auth::access_policies().iter().map(|p| json!({ "name": p.name, "arn": p.arn() })).collect();
        let (policies, next) = self.page(&policies)?;
        Ok(with_next(json!({ "accessPolicies": policies }), next))
    }

    /// One page of `items` as `maxResults` and `nextToken` ask (the token is the offset).
    fn page<T: Clone>(&self, items: &[T]) -> Result<(Vec<T>, Option<String>), Error> {
        let max = match self.query.get("maxResults") {
            Some(text) => match text.parse::<usize>() {
                Ok(n) if (1..=MAX_RESULTS).contains(&n) => n,
                _ => {
                    return Err(Error::invalid_parameter(format!(
                        "maxResults must be between 1 and {MAX_RESULTS}, not {text}."
                    )));
                }
            },
            None => MAX_RESULTS,
        };
        let start = match self.query.get("nextToken") {
            Some(token) => decode_token(token).ok_or_else(|| Error::invalid_parameter("The nextToken is invalid."))?,
            None => 0,
        };
        let end = items.len().min(start.saturating_add(max));
        let page = items.get(start..end).map(<[T]>::to_vec).unwrap_or_default();
        let next = (end < items.len()).then(|| encode_token(end));
        Ok((page, next))
    }
}

fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("rampart:{offset}"))
}

fn decode_token(token: &str) -> Option<usize> {
    let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(text).ok()?.strip_prefix("rampart:")?.parse().ok()
}

fn with_next(mut answer: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        answer["nextToken"] = next.into();
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_round_trip_and_reject_others() {
        assert_eq!(decode_token(&encode_token(42)), Some(42));
        assert_eq!(decode_token("not-a-token"), None);
        assert_eq!(decode_token(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("other:1")), None);
    }
}

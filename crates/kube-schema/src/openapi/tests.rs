//! The documents have what kubectl reads (checked against the real kubectl 1.32 by hand and by
//! `tests/kubectl_schema.rs`): PATCH operations with the kind's GVK, the `fieldValidation`
//! parameter and the right patch content types; resolvable component schemas with Kubernetes'
//! extensions; an index pointing at each document by content hash.

use chrono::TimeZone;
use serde_json::{Value, json};

use super::*;

fn crontab_crd() -> Value {
    json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "crontabs.stable.example.com"},
           "spec": {"group": "stable.example.com", "scope": "Namespaced",
                    "names": {"kind": "CronTab", "plural": "crontabs", "singular": "crontab"},
                    "versions": [
                        {"name": "v1", "served": true, "storage": true,
                         "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                             "spec": {"type": "object", "description": "What to run.",
                                      "properties": {"cronSpec": {"type": "string"}, "replicas": {"type": "integer"}}}}}},
                         "subresources": {"status": {}, "scale": {"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}},
                        {"name": "v1beta1", "served": false, "storage": false}]}})
}

fn registry() -> Vec<ApiResource> {
    let mut resources = vec![
        ApiResource::builtin("", "v1", "ConfigMap", "configmaps", true, STANDARD_VERBS),
        ApiResource::builtin("", "v1", "Namespace", "namespaces", false, STANDARD_VERBS),
        ApiResource::builtin("", "v1", "ServiceAccount", "serviceaccounts", true, STANDARD_VERBS).with_subresource(
            "token",
            Gvk::new("authentication.k8s.io", "v1", "TokenRequest"),
            &["create"],
        ),
        ApiResource::builtin("apps", "v1", "Deployment", "deployments", true, STANDARD_VERBS)
            .with_subresource("scale", Gvk::new("autoscaling", "v1", "Scale"), &["get", "patch", "update"])
            .with_subresource("status", Gvk::new("apps", "v1", "Deployment"), &["get", "patch", "update"]),
        ApiResource::builtin("rbac.authorization.k8s.io", "v1", "Role", "roles", true, STANDARD_VERBS),
        ApiResource::builtin(
            "authorization.k8s.io",
            "v1",
            "SelfSubjectAccessReview",
            "selfsubjectaccessreviews",
            false,
            &["create"],
        ),
    ];
    resources.extend(crd_resources(&crontab_crd()).unwrap());
    resources
}

fn document(openapi: &OpenApiV3, gv: &str) -> Value {
    serde_json::from_slice(&openapi.document(gv).unwrap_or_else(|| panic!("no document for {gv}")).body()).unwrap()
}

/// What kubectl's query-param verifier looks for: the PATCH operation of the object's GVK with a
/// `fieldValidation` query parameter (inline, not a `$ref`).
fn patch_operation<'a>(doc: &'a Value, gvk: (&str, &str, &str)) -> &'a Value {
    let paths = doc["paths"].as_object().unwrap();
    let matches: Vec<&Value> = paths
        .values()
        .filter_map(|item| item.get("patch"))
        .filter(|op| op["x-kubernetes-group-version-kind"] == json!({"group": gvk.0, "version": gvk.1, "kind": gvk.2}))
        .collect();
    assert!(!matches.is_empty(), "no PATCH operation for {gvk:?}");
    matches[0]
}

fn has_query(op: &Value, name: &str) -> bool {
    op["parameters"].as_array().is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "query"))
}

#[test]
fn patch_operations_carry_gvk_field_validation_and_patch_types() {
    let openapi = OpenApiV3::build(&registry());
    let core = document(&openapi, "api/v1");
    let op = patch_operation(&core, ("", "v1", "ConfigMap"));
    for param in ["fieldValidation", "dryRun", "fieldManager", "force"] {
        assert!(has_query(op, param), "{param}");
    }
    let content = op["requestBody"]["content"].as_object().unwrap();
    let types: Vec<&str> = content.keys().map(String::as_str).collect();
    assert_eq!(
        types,
        [
            "application/apply-patch+yaml",
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/strategic-merge-patch+json"
        ]
    );
    assert_eq!(op["operationId"], "patchCoreV1NamespacedConfigMap");

    let apps = document(&openapi, "apis/apps/v1");
    assert_eq!(patch_operation(&apps, ("apps", "v1", "Deployment"))["operationId"], "patchAppsV1NamespacedDeployment");
    let scale = patch_operation(&apps, ("autoscaling", "v1", "Scale"));
    assert_eq!(scale["operationId"], "patchAppsV1NamespacedDeploymentScale");
    assert!(apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]["get"].is_object());

    let custom = document(&openapi, "apis/stable.example.com/v1");
    let op = patch_operation(&custom, ("stable.example.com", "v1", "CronTab"));
    assert!(has_query(op, "fieldValidation"));
    let content = op["requestBody"]["content"].as_object().unwrap();
    assert!(
        !content.contains_key("application/strategic-merge-patch+json"),
        "custom resources take no strategic merge patch"
    );
    assert!(content.contains_key("application/merge-patch+json"));
}

#[test]
fn paths_follow_the_verbs_and_scope() {
    let openapi = OpenApiV3::build(&registry());
    let core = document(&openapi, "api/v1");
    let paths = core["paths"].as_object().unwrap();
    let cm = &paths["/api/v1/namespaces/{namespace}/configmaps/{name}"];
    for method in ["get", "put", "patch", "delete"] {
        assert!(cm[method].is_object(), "{method}");
    }
    assert_eq!(paths["/api/v1/namespaces/{namespace}/configmaps"]["get"]["x-kubernetes-action"], "list");
    assert_eq!(paths["/api/v1/configmaps"]["get"]["operationId"], "listCoreV1ConfigMapForAllNamespaces");
    assert!(paths.contains_key("/api/v1/namespaces/{name}"), "namespaces are cluster-scoped");
    assert!(!paths.contains_key("/api/v1/namespaces/{namespace}/namespaces"));
    let token = &paths["/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"];
    assert_eq!(token["post"]["x-kubernetes-group-version-kind"]["kind"], "TokenRequest");
    assert!(token.get("get").is_none());

    let authz = document(&openapi, "apis/authorization.k8s.io/v1");
    let paths = authz["paths"].as_object().unwrap();
    assert_eq!(paths.len(), 1, "a create-only kind has one path: {:?}", paths.keys().collect::<Vec<_>>());
    let review = &paths["/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"];
    assert_eq!(review["post"]["operationId"], "createAuthorizationV1SelfSubjectAccessReview");
    assert!(review.get("get").is_none());
    assert!(openapi.document("apis/batch/v1").is_none());
}

/// Every `$ref` anywhere in every document names a schema of that document.
#[test]
fn every_reference_resolves() {
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let openapi = OpenApiV3::build(&registry());
    for gv in [
        "api/v1",
        "apis/apps/v1",
        "apis/rbac.authorization.k8s.io/v1",
        "apis/authorization.k8s.io/v1",
        "apis/stable.example.com/v1",
    ] {
        let doc = document(&openapi, gv);
        let schemas = doc["components"]["schemas"].as_object().unwrap();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 10, "{gv}");
        for r in found {
            let name = r.strip_prefix("#/components/schemas/").unwrap_or_else(|| panic!("{gv}: odd ref {r}"));
            assert!(schemas.contains_key(name), "{gv}: {name} is referenced but not defined");
        }
    }
}

#[test]
fn schemas_carry_kubernetes_extensions() {
    let openapi = OpenApiV3::build(&registry());
    let apps = document(&openapi, "apis/apps/v1");
    let schemas = &apps["components"]["schemas"];
    let deployment = &schemas["io.k8s.api.apps.v1.Deployment"];
    assert_eq!(
        deployment["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    assert!(deployment.get("required").is_none(), "metadata is optional in Kubernetes");
    let containers = &schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(containers["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(containers["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(containers["x-kubernetes-list-type"], "map");
    assert_eq!(containers["x-kubernetes-list-map-keys"], json!(["name"]));
    let ports = &schemas["io.k8s.api.core.v1.Container"]["properties"]["ports"];
    assert_eq!(ports["x-kubernetes-patch-merge-key"], "containerPort");
    assert_eq!(ports["x-kubernetes-list-map-keys"], json!(["containerPort", "protocol"]));
    assert_eq!(
        schemas["io.k8s.api.core.v1.PodSpec"]["properties"]["volumes"]["x-kubernetes-patch-strategy"],
        "merge,retainKeys"
    );
    assert_eq!(schemas["io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"]["x-kubernetes-map-type"], "atomic");
    assert_eq!(schemas["io.k8s.api.autoscaling.v1.Scale"]["x-kubernetes-group-version-kind"][0]["kind"], "Scale");
    let list = &schemas["io.k8s.api.apps.v1.DeploymentList"];
    assert_eq!(list["x-kubernetes-group-version-kind"][0]["kind"], "DeploymentList");
    assert_eq!(list["properties"]["items"]["items"]["$ref"], "#/components/schemas/io.k8s.api.apps.v1.Deployment");

    let rbac = document(&openapi, "apis/rbac.authorization.k8s.io/v1");
    let role = &rbac["components"]["schemas"]["io.k8s.api.rbac.v1.Role"];
    assert_eq!(role["properties"]["rules"]["x-kubernetes-list-type"], "atomic");
    assert!(role["properties"]["rules"].get("x-kubernetes-patch-strategy").is_none(), "rules are replaced whole");
    assert_eq!(rbac["components"]["schemas"]["io.k8s.api.rbac.v1.PolicyRule"]["required"], json!(["verbs"]));

    let merge_key = field_extensions("io.k8s.api.core.v1.Container", "env").unwrap();
    assert_eq!((merge_key.patch_strategy, merge_key.patch_merge_key), (Some("merge"), Some("name")));
    assert!(field_extensions("io.k8s.api.core.v1.Container", "image").is_none());
}

#[test]
fn custom_resources_get_their_crd_schema() {
    let openapi = OpenApiV3::build(&registry());
    let doc = document(&openapi, "apis/stable.example.com/v1");
    let crontab = &doc["components"]["schemas"]["com.example.stable.v1.CronTab"];
    assert_eq!(crontab["properties"]["spec"]["properties"]["cronSpec"]["type"], "string");
    assert_eq!(
        crontab["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    assert_eq!(
        crontab["x-kubernetes-group-version-kind"],
        json!([{"group": "stable.example.com", "kind": "CronTab", "version": "v1"}])
    );
    assert!(doc["components"]["schemas"]["com.example.stable.v1.CronTabList"].is_object());
    let paths = doc["paths"].as_object().unwrap();
    let scale = &paths["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/scale"];
    assert_eq!(scale["patch"]["x-kubernetes-group-version-kind"]["kind"], "Scale");
    assert!(paths.contains_key("/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}/status"));
    assert!(openapi.document("apis/stable.example.com/v1beta1").is_none(), "unserved versions are not published");
}

#[test]
fn malformed_crds_are_refused() {
    let mut crd = crontab_crd();
    crd["spec"]["scope"] = json!("Galaxy");
    assert_eq!(
        crd_resources(&crd).unwrap_err().to_string(),
        "invalid CustomResourceDefinition: spec.scope Some(\"Galaxy\") is neither Namespaced nor Cluster"
    );
    let mut crd = crontab_crd();
    crd["spec"]["names"].as_object_mut().unwrap().remove("plural");
    assert_eq!(
        crd_resources(&crd).unwrap_err().to_string(),
        "invalid CustomResourceDefinition: spec.names.plural is missing"
    );
    assert!(crd_resources(&json!({})).is_err());
}

#[test]
fn index_points_at_each_document_by_content_hash() {
    let openapi = OpenApiV3::build(&registry());
    let index: Value = serde_json::from_slice(&openapi.index().body()).unwrap();
    let paths = index["paths"].as_object().unwrap();
    assert_eq!(
        paths.keys().map(String::as_str).collect::<Vec<_>>(),
        [
            "api/v1",
            "apis/apps/v1",
            "apis/authorization.k8s.io/v1",
            "apis/rbac.authorization.k8s.io/v1",
            "apis/stable.example.com/v1"
        ]
    );
    let doc = openapi.document("apis/apps/v1").unwrap();
    assert_eq!(doc.hash(), hex::encode_upper(Sha512::digest(doc.body())));
    assert_eq!(doc.hash().len(), 128);
    assert_eq!(paths["apis/apps/v1"]["serverRelativeURL"], format!("/openapi/v3/apis/apps/v1?hash={}", doc.hash()));
    assert_eq!(openapi.document("/apis/apps/v1/").unwrap(), doc);

    // The same resources in another order give the same bytes; another registry, another hash.
    let mut reversed = registry();
    reversed.reverse();
    assert_eq!(OpenApiV3::build(&reversed).document("apis/apps/v1").unwrap().hash(), doc.hash());
    let fewer = OpenApiV3::build(&registry()[..2]);
    assert_ne!(fewer.document("api/v1").unwrap().hash(), openapi.document("api/v1").unwrap().hash());
}

#[test]
fn freshness_follows_the_hash() {
    let openapi = OpenApiV3::build(&registry());
    let doc = openapi.document("api/v1").unwrap();
    let now = Utc.with_ymd_and_hms(2026, 11, 28, 9, 17, 4).unwrap();
    assert_eq!(
        doc.freshness(Some(doc.hash()), now),
        Freshness::Immutable { expires: "Sun, 28 Nov 2027 09:17:04 GMT".into() }
    );
    assert_eq!(
        doc.freshness(Some("AAAA"), now),
        Freshness::Redirect { location: format!("/openapi/v3/api/v1?hash={}", doc.hash()) }
    );
    assert_eq!(doc.freshness(None, now), Freshness::Revalidate);
    assert_eq!(doc.etag(), format!("\"{}\"", doc.hash()));
}

#[test]
fn facts_tables_are_sorted_for_binary_search() {
    assert!(crate::facts::ATOMIC_STRUCTS.windows(2).all(|w| w[0] < w[1]));
    assert!(crate::facts::FIELD_EXTENSIONS.windows(2).all(|w| (w[0].schema, w[0].field) < (w[1].schema, w[1].field)));
}

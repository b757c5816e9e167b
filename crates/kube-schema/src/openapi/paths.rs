//! The `paths` of a group-version document: one operation per verb a resource serves, shaped as
//! kube-apiserver publishes them, because kubectl reads them: `apply`, `edit` and `create`
//! look for the PATCH operation whose `x-kubernetes-group-version-kind` is the object's and check
//! that it takes `fieldValidation`; client-side apply computes a strategic merge patch only if
//! that operation accepts `application/strategic-merge-patch+json`.

use serde_json::{Map, Value, json};

use crate::openapi::{ApiResource, Gvk};

const REF_PREFIX: &str = "#/components/schemas/";
const STATUS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Status";
const DELETE_OPTIONS: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions";
const PATCH: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch";

/// The schema names an operation's request and response bodies refer to.
#[derive(Debug, Clone, Default)]
pub(crate) struct Schemas {
    /// The kind's schema (None when there is none: a built-in kind `k8s-openapi` lacks).
    pub object: Option<String>,
    /// The kind's list schema.
    pub list: Option<String>,
    /// Whether the kind is built in, so strategic merge patch applies to it.
    pub strategic_merge: bool,
}

/// What one operation is: its HTTP method, kube's action word and its operationId verb.
#[derive(Clone, Copy)]
enum Action {
    List,
    ListAllNamespaces,
    Create,
    DeleteCollection,
    Read,
    Replace,
    Patch,
    Delete,
}

impl Action {
    fn method(self) -> &'static str {
        match self {
            Action::List | Action::ListAllNamespaces | Action::Read => "get",
            Action::Create => "post",
            Action::DeleteCollection | Action::Delete => "delete",
            Action::Replace => "put",
            Action::Patch => "patch",
        }
    }

    /// The `x-kubernetes-action` value.
    fn kube_action(self) -> &'static str {
        match self {
            Action::List | Action::ListAllNamespaces => "list",
            Action::Create => "post",
            Action::DeleteCollection => "deletecollection",
            Action::Read => "get",
            Action::Replace => "put",
            Action::Patch => "patch",
            Action::Delete => "delete",
        }
    }

    fn operation_verb(self) -> &'static str {
        match self {
            Action::List | Action::ListAllNamespaces => "list",
            Action::Create => "create",
            Action::DeleteCollection => "deleteCollection",
            Action::Read => "read",
            Action::Replace => "replace",
            Action::Patch => "patch",
            Action::Delete => "delete",
        }
    }
}

/// Adds the paths of one resource (and its subresources) to `paths`.
pub(crate) fn add_resource_paths(
    paths: &mut Map<String, Value>,
    resource: &ApiResource,
    schemas: &Schemas,
    subresource_schemas: &dyn Fn(&Gvk) -> Schemas,
) {
    let prefix = resource.gv_path();
    let gvk = resource.gvk();
    let has = |verb: &str| resource.verbs.iter().any(|v| v == verb);
    let (collection, item) = if resource.namespaced {
        (
            format!("/{prefix}/namespaces/{{namespace}}/{}", resource.plural),
            format!("/{prefix}/namespaces/{{namespace}}/{}/{{name}}", resource.plural),
        )
    } else {
        (format!("/{prefix}/{}", resource.plural), format!("/{prefix}/{}/{{name}}", resource.plural))
    };
    let namespaced = resource.namespaced;
    let ops = |actions: &[(Action, bool)], path_params: &[&str]| {
        let mut ops = path_item(path_params);
        for &(action, served) in actions {
            if served {
                ops.insert(action.method().into(), operation(action, resource, &gvk, "", schemas, namespaced));
            }
        }
        ops
    };
    let collection_ops = ops(
        &[
            (Action::List, has("list")),
            (Action::Create, has("create")),
            (Action::DeleteCollection, has("deletecollection")),
        ],
        if namespaced { &["namespace"] } else { &[] },
    );
    insert_path(paths, collection, collection_ops);
    let item_ops = ops(
        &[
            (Action::Read, has("get")),
            (Action::Replace, has("update")),
            (Action::Patch, has("patch")),
            (Action::Delete, has("delete")),
        ],
        if namespaced { &["name", "namespace"] } else { &["name"] },
    );
    insert_path(paths, item.clone(), item_ops);
    if namespaced && has("list") {
        let mut all = path_item(&[]);
        all.insert("get".into(), operation(Action::ListAllNamespaces, resource, &gvk, "", schemas, false));
        insert_path(paths, format!("/{prefix}/{}", resource.plural), all);
    }
    for sub in &resource.subresources {
        let sub_gvk = sub.gvk();
        let sub_schemas = subresource_schemas(&sub_gvk);
        let mut ops = path_item(if namespaced { &["name", "namespace"] } else { &["name"] });
        for verb in &sub.verbs {
            let action = match verb.as_str() {
                "get" => Action::Read,
                "update" => Action::Replace,
                "patch" => Action::Patch,
                "create" => Action::Create,
                _ => continue,
            };
            let op = operation(action, resource, &sub_gvk, &sub.name, &sub_schemas, namespaced);
            ops.insert(action.method().into(), op);
        }
        insert_path(paths, format!("{item}/{}", sub.name), ops);
    }
}

fn insert_path(paths: &mut Map<String, Value>, path: String, item: Map<String, Value>) {
    if item.keys().any(|k| k != "parameters") {
        paths.insert(path, Value::Object(item));
    }
}

fn path_item(path_params: &[&str]) -> Map<String, Value> {
    let mut parameters: Vec<Value> = path_params
        .iter()
        .map(|name| {
            let description = match *name {
                "name" => "name of the resource",
                _ => "object name and auth scope, such as for teams and projects",
            };
            json!({"name": name, "in": "path", "description": description, "required": true,
                   "schema": {"type": "string", "uniqueItems": true}})
        })
        .collect();
    parameters.push(query("pretty", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).", "string"));
    let mut item = Map::new();
    item.insert("parameters".into(), Value::Array(parameters));
    item
}

fn query(name: &str, description: &str, kind: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": kind, "uniqueItems": true}})
}

fn dry_run() -> Value {
    query(
        "dryRun",
        "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed",
        "string",
    )
}

fn field_manager() -> Value {
    query(
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.",
        "string",
    )
}

fn field_validation() -> Value {
    query(
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.",
        "string",
    )
}

fn list_parameters() -> Vec<Value> {
    vec![
        query(
            "allowWatchBookmarks",
            "allowWatchBookmarks requests watch events with type \"BOOKMARK\". Servers that do not implement bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not assume bookmarks are returned at any specific interval, nor may they assume the server will send any BOOKMARK event during a session. If this is not a watch, this field is ignored.",
            "boolean",
        ),
        query(
            "continue",
            "The continue option should be set when retrieving more results from the server. Since this value is server defined, clients may only use the continue value from a previous query result with identical query parameters (except for the value of continue) and the server may reject a continue value it does not recognize.",
            "string",
        ),
        query(
            "fieldSelector",
            "A selector to restrict the list of returned objects by their fields. Defaults to everything.",
            "string",
        ),
        query(
            "labelSelector",
            "A selector to restrict the list of returned objects by their labels. Defaults to everything.",
            "string",
        ),
        query(
            "limit",
            "limit is a maximum number of responses to return for a list call. If more items exist, the server will set the `continue` field on the list metadata to a value that can be used with the same initial query to retrieve the next set of results.",
            "integer",
        ),
        query(
            "resourceVersion",
            "resourceVersion sets a constraint on what resource versions a request may be served from. See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
            "string",
        ),
        query(
            "resourceVersionMatch",
            "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended that resourceVersionMatch be set for list calls where resourceVersion is set See https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\nDefaults to unset",
            "string",
        ),
        query(
            "sendInitialEvents",
            "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will begin with synthetic events to produce the current state of objects in the collection.",
            "boolean",
        ),
        query(
            "timeoutSeconds",
            "Timeout for the list/watch call. This limits the duration of the call, regardless of any activity or inactivity.",
            "integer",
        ),
        query(
            "watch",
            "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications. Specify resourceVersion.",
            "boolean",
        ),
    ]
}

fn delete_parameters() -> Vec<Value> {
    vec![
        dry_run(),
        query(
            "gracePeriodSeconds",
            "The duration in seconds before the object should be deleted. Value must be non-negative integer. The value zero indicates delete immediately. If this value is nil, the default grace period for the specified type will be used. Defaults to a per object value if not specified. zero means delete immediately.",
            "integer",
        ),
        query(
            "orphanDependents",
            "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the dependent objects be orphaned. If true/false, the \"orphan\" finalizer will be added to/removed from the object's finalizers list. Either this field or PropagationPolicy may be set, but not both.",
            "boolean",
        ),
        query(
            "propagationPolicy",
            "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; 'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - a cascading policy that deletes all dependents in the foreground.",
            "string",
        ),
    ]
}

fn body(content_types: &[&str], schema: Option<&str>) -> Value {
    let schema = schema.map_or_else(|| json!({"type": "object"}), |s| json!({"$ref": format!("{REF_PREFIX}{s}")}));
    let content: Map<String, Value> =
        content_types.iter().map(|t| (t.to_string(), json!({"schema": schema.clone()}))).collect();
    json!({"content": content, "required": true})
}

fn responses(codes: &[&str], schema: Option<&str>) -> Value {
    let schema = schema.map_or_else(|| json!({"type": "object"}), |s| json!({"$ref": format!("{REF_PREFIX}{s}")}));
    let content = json!({
        "application/json": {"schema": schema},
        "application/vnd.kubernetes.protobuf": {"schema": schema},
        "application/yaml": {"schema": schema},
    });
    let mut out: Map<String, Value> = codes
        .iter()
        .map(|code| (code.to_string(), json!({"description": description(code), "content": content})))
        .collect();
    out.insert("401".into(), json!({"description": "Unauthorized"}));
    Value::Object(out)
}

fn description(code: &str) -> &'static str {
    match code {
        "200" => "OK",
        "201" => "Created",
        _ => "Accepted",
    }
}

fn operation(
    action: Action,
    resource: &ApiResource,
    gvk: &Gvk,
    subresource: &str,
    schemas: &Schemas,
    namespaced: bool,
) -> Value {
    let group_token = resource.operation_group_token();
    let scope = match action {
        Action::ListAllNamespaces => "",
        _ if namespaced => "Namespaced",
        _ => "",
    };
    let suffix = match action {
        Action::ListAllNamespaces => "ForAllNamespaces",
        _ => "",
    };
    let operation_id = format!(
        "{}{group_token}{}{scope}{}{}{suffix}",
        action.operation_verb(),
        capitalize(&resource.version),
        resource.kind,
        capitalize(subresource),
    );
    let mut op = Map::new();
    op.insert("tags".into(), json!([resource.tag()]));
    op.insert("description".into(), json!(operation_description(action, &resource.kind, subresource)));
    op.insert("operationId".into(), json!(operation_id));
    let (parameters, request, response) = match action {
        Action::List | Action::ListAllNamespaces => {
            (list_parameters(), None, responses(&["200"], schemas.list.as_deref()))
        }
        Action::Create => (
            vec![dry_run(), field_manager(), field_validation()],
            Some(body(&["*/*"], schemas.object.as_deref())),
            responses(&["200", "201", "202"], schemas.object.as_deref()),
        ),
        Action::Replace => (
            vec![dry_run(), field_manager(), field_validation()],
            Some(body(&["*/*"], schemas.object.as_deref())),
            responses(&["200", "201"], schemas.object.as_deref()),
        ),
        Action::Patch => {
            let mut types =
                vec!["application/apply-patch+yaml", "application/json-patch+json", "application/merge-patch+json"];
            if schemas.strategic_merge {
                types.push("application/strategic-merge-patch+json");
            }
            let force = query(
                "force",
                "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.",
                "boolean",
            );
            (
                vec![dry_run(), field_manager(), field_validation(), force],
                Some(body(&types, Some(PATCH))),
                responses(&["200", "201"], schemas.object.as_deref()),
            )
        }
        Action::Read => (Vec::new(), None, responses(&["200"], schemas.object.as_deref())),
        Action::Delete => {
            (delete_parameters(), Some(body(&["*/*"], Some(DELETE_OPTIONS))), responses(&["200", "202"], Some(STATUS)))
        }
        Action::DeleteCollection => {
            let mut parameters = list_parameters();
            parameters.extend(delete_parameters());
            parameters.retain(|p| p["name"] != "watch" && p["name"] != "allowWatchBookmarks");
            (parameters, Some(body(&["*/*"], Some(DELETE_OPTIONS))), responses(&["200"], Some(STATUS)))
        }
    };
    if !parameters.is_empty() {
        op.insert("parameters".into(), Value::Array(parameters));
    }
    if let Some(request) = request {
        op.insert("requestBody".into(), request);
    }
    op.insert("responses".into(), response);
    op.insert("x-kubernetes-action".into(), json!(action.kube_action()));
    op.insert(
        "x-kubernetes-group-version-kind".into(),
        json!({"group": gvk.group, "version": gvk.version, "kind": gvk.kind}),
    );
    Value::Object(op)
}

fn operation_description(action: Action, kind: &str, subresource: &str) -> String {
    let what = if subresource.is_empty() {
        format!("the specified {kind}")
    } else {
        format!("{subresource} of the specified {kind}")
    };
    match action {
        Action::List | Action::ListAllNamespaces => format!("list or watch objects of kind {kind}"),
        Action::Create if subresource.is_empty() => format!("create a {kind}"),
        Action::Create => format!("create {subresource} of a {kind}"),
        Action::DeleteCollection => format!("delete collection of {kind}"),
        Action::Read => format!("read {what}"),
        Action::Replace => format!("replace {what}"),
        Action::Patch => format!("partially update {what}"),
        Action::Delete => format!("delete a {kind}"),
    }
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map_or_else(String::new, |first| first.to_uppercase().chain(chars).collect())
}

/// `rbac.authorization.k8s.io` → `RbacAuthorization`, `` → `Core`: how kube-apiserver names a
/// group in operation ids.
pub(crate) fn group_token(group: &str) -> String {
    if group.is_empty() {
        return "Core".into();
    }
    group.trim_end_matches(".k8s.io").split(['.', '-']).map(capitalize).collect()
}

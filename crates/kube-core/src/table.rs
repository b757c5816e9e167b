//! Server-side printing: the `meta.k8s.io` `Table` kube-apiserver returns when kubectl asks for
//! `as=Table`, with the column sets and cell rules of kube-apiserver's printers
//! (`pkg/printers/internalversion`), the default convertor (Name, Created At) for kinds without
//! a printer, and custom resources' `additionalPrinterColumns`.
//!
//! kube-apiserver always prints the wide columns (kubectl hides priority-1 columns unless
//! `-o wide`), so every row here carries every column.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::meta::{self, age};
use crate::selector::LabelSelector;

/// `metav1.TableColumnDefinition`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableColumn {
    pub name: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub format: String,
    pub description: String,
    pub priority: i32,
}

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const CREATED_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

fn col(name: &str, type_: &str, description: &str, priority: i32) -> TableColumn {
    TableColumn {
        name: name.into(),
        type_: type_.into(),
        format: String::new(),
        description: description.into(),
        priority,
    }
}

fn name_col() -> TableColumn {
    TableColumn { format: "name".into(), ..col("Name", "string", NAME_DESC, 0) }
}

fn age_col() -> TableColumn {
    col("Age", "string", CREATED_DESC, 0)
}

/// How a row's cells are computed from an object at a time.
type CellFn = fn(&Value, DateTime<Utc>) -> Vec<Value>;

/// The columns of a kind and how to fill them.
#[derive(Clone)]
pub struct Printer {
    pub columns: Vec<TableColumn>,
    cells: Cells,
}

#[derive(Clone)]
enum Cells {
    Builtin(CellFn),
    /// A custom resource's columns: (JSONPath, is-date) after the name.
    JsonPath(Vec<(String, bool)>),
}

impl Printer {
    pub fn cells(&self, object: &Value, now: DateTime<Utc>) -> Vec<Value> {
        match &self.cells {
            Cells::Builtin(f) => f(object, now),
            Cells::JsonPath(paths) => {
                let mut cells = vec![Value::from(meta::name(object))];
                for (path, is_date) in paths {
                    let found = jsonpath(object, path);
                    let cell = match (found.as_slice(), is_date) {
                        ([], _) => Value::Null,
                        ([Value::String(s)], true) => Value::from(age(meta::parse_time(s), now)),
                        ([one], false) => (*one).clone(),
                        (many, _) => Value::from(
                            many.iter()
                                .map(|v| match v {
                                    Value::String(s) => s.clone(),
                                    other => other.to_string(),
                                })
                                .collect::<Vec<_>>()
                                .join(","),
                        ),
                    };
                    cells.push(cell);
                }
                cells
            }
        }
    }

    /// kube-apiserver's printer for a built-in kind (by group and kind), or the default
    /// convertor (Name, Created At).
    pub fn builtin(group: &str, kind: &str) -> Printer {
        let (columns, cells): (Vec<TableColumn>, CellFn) = match (group, kind) {
            ("", "Pod") => (pod_columns(), pod_cells),
            ("", "ConfigMap") => (
                vec![
                    name_col(),
                    col(
                        "Data",
                        "string",
                        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
                        0,
                    ),
                    age_col(),
                ],
                configmap_cells,
            ),
            ("", "Secret") => (
                vec![
                    name_col(),
                    col(
                        "Type",
                        "string",
                        "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
                        0,
                    ),
                    col(
                        "Data",
                        "string",
                        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
                        0,
                    ),
                    age_col(),
                ],
                secret_cells,
            ),
            ("", "Namespace") => (
                vec![name_col(), col("Status", "string", "The status of the namespace", 0), age_col()],
                namespace_cells,
            ),
            ("", "ServiceAccount") => (
                vec![
                    name_col(),
                    col(
                        "Secrets",
                        "string",
                        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                        0,
                    ),
                    age_col(),
                ],
                serviceaccount_cells,
            ),
            ("", "Service") => (
                vec![
                    name_col(),
                    col(
                        "Type",
                        "string",
                        "type determines how the Service is exposed. Defaults to ClusterIP. Valid options are ExternalName, ClusterIP, NodePort, and LoadBalancer.",
                        0,
                    ),
                    col(
                        "Cluster-IP",
                        "string",
                        "clusterIP is the IP address of the service and is usually assigned randomly.",
                        0,
                    ),
                    col(
                        "External-IP",
                        "string",
                        "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
                        0,
                    ),
                    col("Port(s)", "string", "The list of ports that are exposed by this service.", 0),
                    age_col(),
                    col(
                        "Selector",
                        "string",
                        "Route service traffic to pods with label keys and values matching this selector.",
                        1,
                    ),
                ],
                service_cells,
            ),
            ("", "Endpoints") => (
                vec![
                    name_col(),
                    col("Endpoints", "string", "The set of all endpoints is the union of all subsets.", 0),
                    age_col(),
                ],
                endpoints_cells,
            ),
            ("", "Node") => (
                vec![
                    name_col(),
                    col("Status", "string", "The status of the node", 0),
                    col("Roles", "string", "The roles of the node", 0),
                    age_col(),
                    col("Version", "string", "Kubelet Version reported by the node.", 0),
                    col("Internal-IP", "string", "List of addresses reachable to the node.", 1),
                    col("External-IP", "string", "List of addresses reachable to the node.", 1),
                    col(
                        "OS-Image",
                        "string",
                        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
                        1,
                    ),
                    col(
                        "Kernel-Version",
                        "string",
                        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
                        1,
                    ),
                    col(
                        "Container-Runtime",
                        "string",
                        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
                        1,
                    ),
                ],
                node_cells,
            ),
            ("", "Event") | ("events.k8s.io", "Event") => (event_columns(), event_cells),
            ("apps", "Deployment") => (
                vec![
                    name_col(),
                    col("Ready", "string", "Number of the pod with ready state", 0),
                    col(
                        "Up-to-date",
                        "string",
                        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
                        0,
                    ),
                    col(
                        "Available",
                        "string",
                        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
                        0,
                    ),
                    age_col(),
                    col("Containers", "string", CONTAINERS_DESC, 1),
                    col("Images", "string", IMAGES_DESC, 1),
                    col(
                        "Selector",
                        "string",
                        "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
                        1,
                    ),
                ],
                deployment_cells,
            ),
            ("apps", "ReplicaSet") => (
                vec![
                    name_col(),
                    col(
                        "Desired",
                        "integer",
                        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
                        0,
                    ),
                    col(
                        "Current",
                        "integer",
                        "Replicas is the most recently observed number of replicas. More info: https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller/#what-is-a-replicationcontroller",
                        0,
                    ),
                    col(
                        "Ready",
                        "integer",
                        "The number of ready replicas for this replica set. A pod is considered ready when it's readiness probe succeeds.",
                        0,
                    ),
                    age_col(),
                    col("Containers", "string", CONTAINERS_DESC, 1),
                    col("Images", "string", IMAGES_DESC, 1),
                    col(
                        "Selector",
                        "string",
                        "Selector is a label query over pods that should match the replica count. Label keys and values that must match in order to be controlled by this replica set. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
                        1,
                    ),
                ],
                replicaset_cells,
            ),
            ("rbac.authorization.k8s.io", "RoleBinding") | ("rbac.authorization.k8s.io", "ClusterRoleBinding") => {
                let what = if kind == "RoleBinding" { "roleBinding" } else { "clusterRoleBinding" };
                (
                    vec![
                        name_col(),
                        col(
                            "Role",
                            "string",
                            "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace. If the RoleRef cannot be resolved, the Authorizer must return an error. This field is immutable.",
                            0,
                        ),
                        age_col(),
                        col("Users", "string", &format!("Users in the {what}"), 1),
                        col("Groups", "string", &format!("Groups in the {what}"), 1),
                        col("ServiceAccounts", "string", &format!("ServiceAccounts in the {what}"), 1),
                    ],
                    binding_cells,
                )
            }
            _ => (vec![name_col(), col("Created At", "date", CREATED_DESC, 0)], default_cells),
        };
        Printer { columns, cells: Cells::Builtin(cells) }
    }

    /// A custom resource's printer from its CRD version's `additionalPrinterColumns` (Name and
    /// Age when there are none).
    pub fn custom(additional_printer_columns: Option<&Value>) -> Printer {
        let mut columns = vec![name_col()];
        let mut paths = Vec::new();
        let given = additional_printer_columns.and_then(Value::as_array).filter(|a| !a.is_empty());
        match given {
            None => {
                columns.push(col("Age", "date", CREATED_DESC, 0));
                paths.push((".metadata.creationTimestamp".to_string(), true));
            }
            Some(defs) => {
                for def in defs {
                    let s = |f: &str| def.get(f).and_then(Value::as_str).unwrap_or_default().to_string();
                    let type_ = s("type");
                    columns.push(TableColumn {
                        name: s("name"),
                        type_: type_.clone(),
                        format: s("format"),
                        description: s("description"),
                        priority: def.get("priority").and_then(Value::as_i64).unwrap_or(0) as i32,
                    });
                    paths.push((s("jsonPath"), type_ == "date"));
                }
            }
        }
        Printer { columns, cells: Cells::JsonPath(paths) }
    }
}

/// What each row carries besides its cells (`includeObject`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: &str) -> Option<IncludeObject> {
        match s {
            "" | "Metadata" => Some(IncludeObject::Metadata),
            "None" => Some(IncludeObject::None),
            "Object" => Some(IncludeObject::Object),
            _ => None,
        }
    }
}

/// One row of a Table.
pub fn row(
    printer: &Printer,
    object: &Value,
    include: IncludeObject,
    meta_api_version: &str,
    now: DateTime<Utc>,
) -> Value {
    let mut row = Map::new();
    row.insert("cells".into(), Value::Array(printer.cells(object, now)));
    if let Some(conditions) = row_conditions(object) {
        row.insert("conditions".into(), conditions);
    }
    match include {
        IncludeObject::None => {}
        IncludeObject::Metadata => {
            row.insert("object".into(), meta::partial_object_metadata(object, meta_api_version));
        }
        IncludeObject::Object => {
            row.insert("object".into(), object.clone());
        }
    }
    Value::Object(row)
}

/// A whole Table of `rows` (already built), with list metadata.
pub fn table(columns: &[TableColumn], rows: Vec<Value>, list_meta: Value, meta_api_version: &str) -> Value {
    json!({
        "kind": "Table",
        "apiVersion": meta_api_version,
        "metadata": list_meta,
        "columnDefinitions": columns,
        "rows": rows,
    })
}

/// The Completed condition kube-apiserver attaches to rows of finished pods.
fn row_conditions(object: &Value) -> Option<Value> {
    if object.get("kind").and_then(Value::as_str) != Some("Pod") {
        return None;
    }
    match object.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => Some(
            json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}]),
        ),
        Some("Failed") => {
            Some(json!([{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]))
        }
        _ => None,
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

fn i(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(v: &'a Value, pointer: &str) -> &'a [Value] {
    v.pointer(pointer).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

fn len_of(v: &Value, pointer: &str) -> i64 {
    match v.pointer(pointer) {
        Some(Value::Object(m)) => m.len() as i64,
        Some(Value::Array(a)) => a.len() as i64,
        _ => 0,
    }
}

fn created(object: &Value, now: DateTime<Utc>) -> Value {
    Value::from(age(meta::creation_timestamp(object), now))
}

fn none_if_empty(s: &str) -> String {
    if s.is_empty() { "<none>".into() } else { s.into() }
}

/// `labels.FormatLabels`: `k=v,k2=v2` sorted, `<none>` when empty.
fn format_labels(map: Option<&Value>) -> String {
    let labels = meta::string_map(map);
    if labels.is_empty() {
        return "<none>".into();
    }
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",")
}

/// `layoutContainerCells`: names and images joined by commas.
fn containers(v: &Value, pointer: &str) -> (String, String) {
    let list = arr(v, pointer);
    let names = list.iter().map(|c| s(c, "/name")).collect::<Vec<_>>().join(",");
    let images = list.iter().map(|c| s(c, "/image")).collect::<Vec<_>>().join(",");
    (names, images)
}

fn default_cells(o: &Value, _: DateTime<Utc>) -> Vec<Value> {
    let created = meta::creation_timestamp(o).map(meta::format_time).unwrap_or_default();
    vec![meta::name(o).into(), created.into()]
}

fn pod_columns() -> Vec<TableColumn> {
    vec![
        name_col(),
        col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic.", 0),
        col("Status", "string", "The aggregate status of the containers in this pod.", 0),
        col(
            "Restarts",
            "string",
            "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            0,
        ),
        age_col(),
        col(
            "IP",
            "string",
            "podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.",
            1,
        ),
        col(
            "Node",
            "string",
            "NodeName indicates in which node this pod is scheduled. If empty, this pod is a candidate for scheduling by the scheduler defined in schedulerName. Once this field is set, the kubelet for this node becomes responsible for the lifecycle of this pod. This field should not be used to express a desire for the pod to be scheduled on a specific node. https://kubernetes.io/docs/concepts/scheduling-eviction/assign-pod-node/#nodename",
            1,
        ),
        col(
            "Nominated Node",
            "string",
            "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled.",
            1,
        ),
        col(
            "Readiness Gates",
            "string",
            "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates",
            1,
        ),
    ]
}

fn is_restartable_init(container: Option<&Value>) -> bool {
    container.is_some_and(|c| s(c, "/restartPolicy") == "Always")
}

fn pod_cells(pod: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let init_specs = arr(pod, "/spec/initContainers");
    let mut total = arr(pod, "/spec/containers").len();
    total += init_specs.iter().filter(|c| is_restartable_init(Some(c))).count();
    let mut ready = 0;
    let mut restarts = 0i64;
    let mut restartable_init_restarts = 0i64;
    let mut last_restart: Option<DateTime<Utc>> = None;
    let mut last_restartable_init_restart: Option<DateTime<Utc>> = None;
    let phase = s(pod, "/status/phase");
    let mut reason = phase.to_string();
    if !s(pod, "/status/reason").is_empty() {
        reason = s(pod, "/status/reason").to_string();
    }
    for condition in arr(pod, "/status/conditions") {
        if s(condition, "/type") == "PodScheduled" && s(condition, "/reason") == "SchedulingGated" {
            reason = "SchedulingGated".into();
        }
    }
    let finished_at = |c: &Value| meta::parse_time(s(c, "/lastState/terminated/finishedAt"));
    let later = |a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>| match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let init_statuses = arr(pod, "/status/initContainerStatuses");
    let mut initializing = false;
    for (index, status) in init_statuses.iter().enumerate() {
        restarts += i(status, "/restartCount");
        last_restart = later(last_restart, finished_at(status));
        let name = s(status, "/name");
        let spec = init_specs.iter().find(|c| s(c, "/name") == name);
        let restartable = is_restartable_init(spec);
        if restartable {
            restartable_init_restarts += i(status, "/restartCount");
            last_restartable_init_restart = later(last_restartable_init_restart, finished_at(status));
        }
        let terminated = status.pointer("/state/terminated");
        let waiting_reason = s(status, "/state/waiting/reason");
        if terminated.is_some() && i(status, "/state/terminated/exitCode") == 0 {
            continue;
        } else if restartable && status.get("started").and_then(Value::as_bool) == Some(true) {
            if status.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        } else if let Some(t) = terminated {
            let r = s(t, "/reason");
            reason = if r.is_empty() {
                if i(t, "/signal") != 0 {
                    format!("Init:Signal:{}", i(t, "/signal"))
                } else {
                    format!("Init:ExitCode:{}", i(t, "/exitCode"))
                }
            } else {
                format!("Init:{r}")
            };
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            reason = format!("Init:{waiting_reason}");
        } else {
            reason = format!("Init:{index}/{}", init_specs.len());
        }
        initializing = true;
        break;
    }
    let initialized =
        arr(pod, "/status/conditions").iter().any(|c| s(c, "/type") == "Initialized" && s(c, "/status") == "True");
    if !initializing || initialized {
        restarts = restartable_init_restarts;
        last_restart = last_restartable_init_restart;
        let mut has_running = false;
        for status in arr(pod, "/status/containerStatuses").iter().rev() {
            restarts += i(status, "/restartCount");
            last_restart = later(last_restart, finished_at(status));
            let waiting = s(status, "/state/waiting/reason");
            let terminated = status.pointer("/state/terminated");
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated.filter(|t| !s(t, "/reason").is_empty()) {
                reason = s(t, "/reason").to_string();
            } else if let Some(t) = terminated {
                reason = if i(t, "/signal") != 0 {
                    format!("Signal:{}", i(t, "/signal"))
                } else {
                    format!("ExitCode:{}", i(t, "/exitCode"))
                };
            } else if status.get("ready").and_then(Value::as_bool) == Some(true)
                && status.pointer("/state/running").is_some()
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            let pod_ready =
                arr(pod, "/status/conditions").iter().any(|c| s(c, "/type") == "Ready" && s(c, "/status") == "True");
            reason = if pod_ready { "Running".into() } else { "NotReady".into() };
        }
    }
    if meta::deletion_timestamp(pod).is_some() {
        if s(pod, "/status/reason") == "NodeLost" {
            reason = "Unknown".into();
        } else if phase != "Succeeded" && phase != "Failed" {
            reason = "Terminating".into();
        }
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", age(Some(t), now)),
        _ => restarts.to_string(),
    };
    let pod_ip = arr(pod, "/status/podIPs").first().map(|ip| s(ip, "/ip")).unwrap_or_default();
    let gates = arr(pod, "/spec/readinessGates");
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let conditions = arr(pod, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| {
                conditions
                    .iter()
                    .find(|c| s(c, "/type") == s(g, "/conditionType"))
                    .is_some_and(|c| s(c, "/status") == "True")
            })
            .count();
        format!("{true_count}/{}", gates.len())
    };
    vec![
        meta::name(pod).into(),
        format!("{ready}/{total}").into(),
        reason.into(),
        restarts_cell.into(),
        created(pod, now),
        none_if_empty(pod_ip).into(),
        none_if_empty(s(pod, "/spec/nodeName")).into(),
        none_if_empty(s(pod, "/status/nominatedNodeName")).into(),
        readiness_gates.into(),
    ]
}

fn configmap_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![meta::name(o).into(), (len_of(o, "/data") + len_of(o, "/binaryData")).into(), created(o, now)]
}

fn secret_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![meta::name(o).into(), s(o, "/type").into(), len_of(o, "/data").into(), created(o, now)]
}

fn namespace_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![meta::name(o).into(), s(o, "/status/phase").into(), created(o, now)]
}

fn serviceaccount_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    vec![meta::name(o).into(), len_of(o, "/secrets").into(), created(o, now)]
}

fn service_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let type_ = s(o, "/spec/type");
    let cluster_ip = arr(o, "/spec/clusterIPs").first().and_then(Value::as_str).unwrap_or("<none>").to_string();
    let external_ips: Vec<&str> = arr(o, "/spec/externalIPs").iter().filter_map(Value::as_str).collect();
    let external = match type_ {
        "ClusterIP" | "NodePort" => {
            if external_ips.is_empty() {
                "<none>".to_string()
            } else {
                external_ips.join(",")
            }
        }
        "LoadBalancer" => {
            let mut lb: Vec<String> = arr(o, "/status/loadBalancer/ingress")
                .iter()
                .map(|i| if !s(i, "/ip").is_empty() { s(i, "/ip").to_string() } else { s(i, "/hostname").to_string() })
                .filter(|x| !x.is_empty())
                .collect();
            lb.sort();
            lb.dedup();
            lb.extend(external_ips.iter().map(|x| x.to_string()));
            if lb.is_empty() { "<pending>".to_string() } else { lb.join(",") }
        }
        "ExternalName" => s(o, "/spec/externalName").to_string(),
        _ => "<unknown>".to_string(),
    };
    let ports: Vec<String> = arr(o, "/spec/ports")
        .iter()
        .map(|p| {
            let protocol = s(p, "/protocol");
            if i(p, "/nodePort") > 0 {
                format!("{}:{}/{protocol}", i(p, "/port"), i(p, "/nodePort"))
            } else {
                format!("{}/{protocol}", i(p, "/port"))
            }
        })
        .collect();
    vec![
        meta::name(o).into(),
        type_.into(),
        cluster_ip.into(),
        external.into(),
        none_if_empty(&ports.join(",")).into(),
        created(o, now),
        format_labels(o.pointer("/spec/selector")).into(),
    ]
}

fn endpoints_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let subsets = arr(o, "/subsets");
    let text = if subsets.is_empty() {
        "<none>".to_string()
    } else {
        let max = 3;
        let mut list = Vec::new();
        let mut count = 0;
        let mut more = false;
        for subset in subsets {
            let addresses = arr(subset, "/addresses");
            let ports = arr(subset, "/ports");
            if ports.is_empty() {
                count += addresses.len();
                for a in addresses {
                    if list.len() == max {
                        more = true;
                        break;
                    }
                    list.push(s(a, "/ip").to_string());
                }
                continue;
            }
            for port in ports {
                count += addresses.len();
                for a in addresses {
                    if list.len() == max {
                        more = true;
                        break;
                    }
                    let ip = s(a, "/ip");
                    let host = if ip.contains(':') { format!("[{ip}]") } else { ip.to_string() };
                    list.push(format!("{host}:{}", i(port, "/port")));
                }
            }
        }
        let joined = list.join(",");
        if more { format!("{joined} + {} more...", count - max) } else { joined }
    };
    vec![meta::name(o).into(), text.into(), created(o, now)]
}

fn node_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut status: Vec<String> = arr(o, "/status/conditions")
        .iter()
        .filter(|c| s(c, "/type") == "Ready")
        .take(1)
        .map(|c| if s(c, "/status") == "True" { "Ready".to_string() } else { "NotReady".to_string() })
        .collect();
    if status.is_empty() {
        status.push("Unknown".into());
    }
    if o.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        status.push("SchedulingDisabled".into());
    }
    let mut roles: Vec<String> = meta::labels(o)
        .into_iter()
        .filter_map(|(k, v)| {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                (!role.is_empty()).then(|| role.to_string())
            } else if k == "kubernetes.io/role" && !v.is_empty() {
                Some(v)
            } else {
                None
            }
        })
        .collect();
    roles.sort();
    roles.dedup();
    let address = |kind: &str| {
        arr(o, "/status/addresses")
            .iter()
            .find(|a| s(a, "/type") == kind)
            .map(|a| s(a, "/address").to_string())
            .unwrap_or_else(|| "<none>".into())
    };
    let unknown = |p: &str| if s(o, p).is_empty() { "<unknown>".to_string() } else { s(o, p).to_string() };
    vec![
        meta::name(o).into(),
        status.join(",").into(),
        none_if_empty(&roles.join(",")).into(),
        created(o, now),
        s(o, "/status/nodeInfo/kubeletVersion").into(),
        address("InternalIP").into(),
        address("ExternalIP").into(),
        unknown("/status/nodeInfo/osImage").into(),
        unknown("/status/nodeInfo/kernelVersion").into(),
        unknown("/status/nodeInfo/containerRuntimeVersion").into(),
    ]
}

fn event_columns() -> Vec<TableColumn> {
    vec![
        col("Last Seen", "string", "The time at which the most recent occurrence of this event was recorded.", 0),
        col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future", 0),
        col(
            "Reason",
            "string",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            0,
        ),
        col("Object", "string", "The object that this event is about.", 0),
        col(
            "Subobject",
            "string",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2]. For example, if the object reference is to a container within a pod, this would take on a value like: \"spec.containers{name}\" (where \"name\" refers to the name of the container that triggered the event) or if no container name is specified \"spec.containers[2]\" (container with index 2 in this pod). This syntax is chosen only to have some well-defined way of referencing a part of an object.",
            1,
        ),
        col(
            "Source",
            "string",
            "The component reporting this event. Should be a short machine understandable string.",
            1,
        ),
        col("Message", "string", "A human-readable description of the status of this operation.", 0),
        col(
            "First Seen",
            "string",
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
            1,
        ),
        col("Count", "string", "The number of times this event has occurred.", 1),
        TableColumn { format: "name".into(), ..col("Name", "string", NAME_DESC, 1) },
    ]
}

/// Cells of a core/v1 Event (events.k8s.io/v1 objects are converted to core/v1 first).
fn event_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let first_time = meta::parse_time(s(o, "/firstTimestamp"));
    let first = match first_time {
        Some(t) => age(Some(t), now),
        None => age(meta::parse_time(s(o, "/eventTime")), now),
    };
    let mut last = match meta::parse_time(s(o, "/lastTimestamp")) {
        Some(t) => age(Some(t), now),
        None => first.clone(),
    };
    let mut count = i(o, "/count");
    if o.get("series").is_some_and(|v| !v.is_null()) {
        last = age(meta::parse_time(s(o, "/series/lastObservedTime")), now);
        count = i(o, "/series/count");
    } else if count == 0 {
        count = 1;
    }
    let kind = s(o, "/involvedObject/kind").to_lowercase();
    let target = match s(o, "/involvedObject/name") {
        "" => kind,
        name => format!("{kind}/{name}"),
    };
    let component = [s(o, "/source/component"), s(o, "/reportingComponent")].into_iter().find(|x| !x.is_empty());
    let host = [s(o, "/source/host"), s(o, "/reportingInstance")].into_iter().find(|x| !x.is_empty());
    let source = match host {
        None => component.unwrap_or_default().to_string(),
        Some(h) => format!("{}, {h}", component.unwrap_or_default()),
    };
    vec![
        last.into(),
        s(o, "/type").into(),
        s(o, "/reason").into(),
        target.into(),
        s(o, "/involvedObject/fieldPath").into(),
        source.into(),
        s(o, "/message").trim().into(),
        first.into(),
        count.into(),
        meta::name(o).into(),
    ]
}

fn deployment_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers(o, "/spec/template/spec/containers");
    let selector = match LabelSelector::from_object(o.pointer("/spec/selector")) {
        Ok(Some(sel)) => sel.to_string(),
        Ok(None) => String::new(),
        Err(_) => "<invalid>".into(),
    };
    vec![
        meta::name(o).into(),
        format!("{}/{}", i(o, "/status/readyReplicas"), i(o, "/spec/replicas")).into(),
        i(o, "/status/updatedReplicas").into(),
        i(o, "/status/availableReplicas").into(),
        created(o, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

fn replicaset_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let (names, images) = containers(o, "/spec/template/spec/containers");
    let selector = match LabelSelector::from_object(o.pointer("/spec/selector")) {
        Ok(Some(sel)) if !sel.is_empty() => sel.to_string(),
        Ok(_) => "<none>".into(),
        Err(_) => "<error>".into(),
    };
    vec![
        meta::name(o).into(),
        i(o, "/spec/replicas").into(),
        i(o, "/status/replicas").into(),
        i(o, "/status/readyReplicas").into(),
        created(o, now),
        names.into(),
        images.into(),
        selector.into(),
    ]
}

fn binding_cells(o: &Value, now: DateTime<Utc>) -> Vec<Value> {
    let mut users = Vec::new();
    let mut groups = Vec::new();
    let mut sas = Vec::new();
    for subject in arr(o, "/subjects") {
        match s(subject, "/kind") {
            "User" => users.push(s(subject, "/name").to_string()),
            "Group" => groups.push(s(subject, "/name").to_string()),
            "ServiceAccount" => sas.push(format!("{}/{}", s(subject, "/namespace"), s(subject, "/name"))),
            _ => {}
        }
    }
    vec![
        meta::name(o).into(),
        format!("{}/{}", s(o, "/roleRef/kind"), s(o, "/roleRef/name")).into(),
        created(o, now),
        users.join(", ").into(),
        groups.join(", ").into(),
        sas.join(", ").into(),
    ]
}

/// The values a printer-column JSONPath (`.spec.replicas`, `.status.conditions[0].type`,
/// `.spec.containers[*].image`, `.metadata.labels['app']`) selects.
pub fn jsonpath<'a>(object: &'a Value, path: &str) -> Vec<&'a Value> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}');
    let mut current: Vec<&Value> = vec![object];
    let mut rest = path.trim_start_matches('$');
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            let field = &after[..end];
            rest = &after[end..];
            if field.is_empty() {
                continue;
            }
            current = current.into_iter().filter_map(|v| v.get(field)).collect();
        } else if let Some(after) = rest.strip_prefix('[') {
            let Some(end) = after.find(']') else { return vec![] };
            let index = after[..end].trim();
            rest = &after[end + 1..];
            current = if index == "*" {
                current
                    .into_iter()
                    .flat_map(|v| match v {
                        Value::Array(a) => a.iter().collect::<Vec<_>>(),
                        Value::Object(m) => m.values().collect(),
                        _ => vec![],
                    })
                    .collect()
            } else if let Ok(n) = index.parse::<i64>() {
                current
                    .into_iter()
                    .filter_map(|v| {
                        let a = v.as_array()?;
                        let idx = if n < 0 { a.len() as i64 + n } else { n };
                        a.get(usize::try_from(idx).ok()?)
                    })
                    .collect()
            } else {
                let key = index.trim_matches(|c| c == '\'' || c == '"');
                current.into_iter().filter_map(|v| v.get(key)).collect()
            };
        } else {
            return vec![];
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        meta::parse_time("2026-11-28T09:17:38Z").unwrap()
    }

    #[test]
    fn pod_rows_match_kubectl() {
        let pod = json!({"kind": "Pod", "metadata": {"name": "nginx", "creationTimestamp": "2026-11-28T09:12:38Z"},
            "spec": {"containers": [{"name": "nginx", "image": "nginx"}], "nodeName": "node-1"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}],
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "nginx", "ready": true, "restartCount": 0, "state": {"running": {}}}]}});
        let printer = Printer::builtin("", "Pod");
        assert_eq!(printer.columns.len(), 9);
        assert_eq!(
            printer.cells(&pod, now()),
            vec![
                json!("nginx"),
                json!("1/1"),
                json!("Running"),
                json!("0"),
                json!("5m"),
                json!("10.0.0.5"),
                json!("node-1"),
                json!("<none>"),
                json!("<none>")
            ]
        );
        let pending = json!({"kind": "Pod", "metadata": {"name": "p", "deletionTimestamp": "2026-11-28T09:17:00Z"},
            "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
            "status": {"phase": "Pending", "containerStatuses": [{"name": "a", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"finishedAt": "2026-11-28T09:16:38Z"}}}]}});
        let cells = printer.cells(&pending, now());
        assert_eq!(cells[1], json!("0/2"));
        assert_eq!(cells[2], json!("Terminating"));
        assert_eq!(cells[3], json!("2 (60s ago)"));
        assert_eq!(cells[4], json!("<unknown>"));
    }

    #[test]
    fn other_builtin_rows() {
        let deploy = json!({"metadata": {"name": "web", "creationTimestamp": "2026-11-28T09:17:37Z"},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}}, "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 2, "availableReplicas": 2}});
        assert_eq!(
            Printer::builtin("apps", "Deployment").cells(&deploy, now()),
            vec![
                json!("web"),
                json!("2/2"),
                json!(2),
                json!(2),
                json!("1s"),
                json!("nginx"),
                json!("nginx"),
                json!("app=web")
            ]
        );
        let rb = json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "Role", "name": "pod-reader"},
            "subjects": [{"kind": "User", "name": "jane"}, {"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}]});
        let cells = Printer::builtin("rbac.authorization.k8s.io", "RoleBinding").cells(&rb, now());
        assert_eq!(cells[1], json!("Role/pod-reader"));
        assert_eq!((cells[3].clone(), cells[5].clone()), (json!("jane"), json!("ns/sa")));
        let role = json!({"metadata": {"name": "r", "creationTimestamp": "2026-11-28T09:12:38Z"}});
        let printer = Printer::builtin("rbac.authorization.k8s.io", "Role");
        assert_eq!(printer.columns[1].name, "Created At");
        assert_eq!(printer.cells(&role, now())[1], json!("2026-11-28T09:12:38Z"));
        let event = json!({"metadata": {"name": "nginx.17f0a1"}, "involvedObject": {"kind": "Pod", "name": "nginx"},
            "reason": "Started", "message": "Started container nginx ", "type": "Normal", "source": {"component": "kubelet"},
            "firstTimestamp": "2026-11-28T09:17:37Z", "lastTimestamp": "2026-11-28T09:17:37Z", "count": 1});
        let cells = Printer::builtin("", "Event").cells(&event, now());
        assert_eq!(
            cells[..7],
            [
                json!("1s"),
                json!("Normal"),
                json!("Started"),
                json!("pod/nginx"),
                json!(""),
                json!("kubelet"),
                json!("Started container nginx")
            ]
        );
    }

    #[test]
    fn custom_resource_columns() {
        let columns = json!([{"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"}, {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]);
        let printer = Printer::custom(Some(&columns));
        let obj =
            json!({"metadata": {"name": "w", "creationTimestamp": "2026-11-28T09:12:38Z"}, "spec": {"replicas": 3}});
        assert_eq!(printer.cells(&obj, now()), vec![json!("w"), json!(3), json!("5m")]);
        let default = Printer::custom(None);
        assert_eq!(default.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["Name", "Age"]);
        let list = json!({"spec": {"c": [{"i": "a"}, {"i": "b"}]}, "metadata": {"labels": {"app": "x"}}});
        assert_eq!(jsonpath(&list, ".spec.c[*].i").len(), 2);
        assert_eq!(jsonpath(&list, "{.metadata.labels['app']}"), vec![&json!("x")]);
        assert_eq!(jsonpath(&list, ".spec.c[1].i"), vec![&json!("b")]);
    }
}

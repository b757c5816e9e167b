//! The merge metadata of the built-in kinds Rampart serves, as a table keyed by type and field,
//! written from the Go struct tags and markers of `k8s.io/api` (`patchStrategy`,
//! `patchMergeKey`, `+listType`, `+listMapKey`, `+mapType`/`+structType=atomic`).
//!
//! Only fields whose behaviour differs from the default are listed: an unlisted object field
//! merges key by key and an unlisted list is atomic (replaced whole) in both strategic merge
//! patch and server-side apply. So RBAC `rules` and `subjects`, pod `tolerations`, container
//! `command`/`args`/`envFrom` and `Endpoints.subsets` are absent on purpose.

use std::sync::OnceLock;

use serde_json::Value;

use crate::schema::{Arena, DEFAULT, ListType, MapKey, Node, Schema, SmpList, TypeId};

/// What a listed field is.
enum Field {
    /// A struct of this table.
    Struct(&'static str),
    /// An atomic struct or map (`+structType=atomic`, `+mapType=atomic`): one value.
    Atomic,
    /// A list.
    List { ssa: Ssa, smp: Smp, item: Item },
    /// A list merged by one key in both strategic merge patch and server-side apply.
    Keyed { key: &'static str, item: Item },
}

/// The server-side apply list type.
enum Ssa {
    Atomic,
    Set,
    /// `+listType=map` with its `+listMapKey`s, each with the default its field has.
    Map(&'static [(&'static str, Option<&'static str>)]),
}

/// The strategic merge patch strategy.
enum Smp {
    Replace,
    /// `patchStrategy:"merge"` on a list of scalars.
    MergeScalars,
    /// `patchStrategy:"merge" patchMergeKey:"…"`.
    MergeBy(&'static str),
}

/// What the items of a list are.
enum Item {
    /// Scalars, or objects with nothing to describe.
    Plain,
    /// Atomic objects (`+structType=atomic`).
    Atomic,
    /// A struct of this table.
    Struct(&'static str),
}

/// `patchStrategy:"merge" patchMergeKey:"<key>"` and `+listType=map +listMapKey=<key>`.
const fn keyed(key: &'static str, item: Item) -> Field {
    Field::Keyed { key, item }
}

/// `patchStrategy:"merge"` and `+listType=set` on a list of scalars.
const MERGED_SET: Field = Field::List { ssa: Ssa::Set, smp: Smp::MergeScalars, item: Item::Plain };

/// The built-in structs and their non-default fields, by Go type name.
const STRUCTS: &[(&str, &[(&str, Field)])] = &[
    ("ObjectMeta", &[("finalizers", MERGED_SET), ("ownerReferences", keyed("uid", Item::Atomic))]),
    // core/v1
    (
        "Pod",
        &[
            ("metadata", Field::Struct("ObjectMeta")),
            ("spec", Field::Struct("PodSpec")),
            ("status", Field::Struct("PodStatus")),
        ],
    ),
    ("PodTemplateSpec", &[("metadata", Field::Struct("ObjectMeta")), ("spec", Field::Struct("PodSpec"))]),
    (
        "PodSpec",
        &[
            ("affinity", Field::Struct("Affinity")),
            ("containers", keyed("name", Item::Struct("Container"))),
            ("ephemeralContainers", keyed("name", Item::Struct("Container"))),
            ("hostAliases", keyed("ip", Item::Plain)),
            ("imagePullSecrets", keyed("name", Item::Atomic)),
            ("initContainers", keyed("name", Item::Struct("Container"))),
            ("nodeSelector", Field::Atomic),
            ("resourceClaims", keyed("name", Item::Plain)),
            ("resources", Field::Struct("ResourceRequirements")),
            ("schedulingGates", keyed("name", Item::Plain)),
            (
                "topologySpreadConstraints",
                Field::List {
                    ssa: Ssa::Map(&[("topologyKey", None), ("whenUnsatisfiable", None)]),
                    smp: Smp::MergeBy("topologyKey"),
                    item: Item::Struct("TopologySpreadConstraint"),
                },
            ),
            ("volumes", keyed("name", Item::Struct("Volume"))),
        ],
    ),
    ("Affinity", &[("nodeAffinity", Field::Struct("NodeAffinity"))]),
    ("NodeAffinity", &[("requiredDuringSchedulingIgnoredDuringExecution", Field::Atomic)]),
    ("TopologySpreadConstraint", &[("labelSelector", Field::Atomic)]),
    (
        "ResourceRequirements",
        &[("claims", Field::List { ssa: Ssa::Map(&[("name", None)]), smp: Smp::Replace, item: Item::Plain })],
    ),
    (
        "Container",
        &[
            ("env", keyed("name", Item::Struct("EnvVar"))),
            (
                "ports",
                Field::List {
                    ssa: Ssa::Map(&[("containerPort", None), ("protocol", Some("TCP"))]),
                    smp: Smp::MergeBy("containerPort"),
                    item: Item::Plain,
                },
            ),
            ("resources", Field::Struct("ResourceRequirements")),
            ("volumeDevices", keyed("devicePath", Item::Plain)),
            ("volumeMounts", keyed("mountPath", Item::Plain)),
        ],
    ),
    ("EnvVar", &[("valueFrom", Field::Struct("EnvVarSource"))]),
    (
        "EnvVarSource",
        &[
            ("configMapKeyRef", Field::Atomic),
            ("fieldRef", Field::Atomic),
            ("fileKeyRef", Field::Atomic),
            ("resourceFieldRef", Field::Atomic),
            ("secretKeyRef", Field::Atomic),
        ],
    ),
    (
        "Volume",
        &[
            ("cephfs", Field::Struct("SecretRefVolumeSource")),
            ("cinder", Field::Struct("SecretRefVolumeSource")),
            ("csi", Field::Struct("CSIVolumeSource")),
            ("ephemeral", Field::Struct("EphemeralVolumeSource")),
            ("flexVolume", Field::Struct("SecretRefVolumeSource")),
            ("iscsi", Field::Struct("SecretRefVolumeSource")),
            ("rbd", Field::Struct("SecretRefVolumeSource")),
            ("scaleIO", Field::Struct("SecretRefVolumeSource")),
            ("storageos", Field::Struct("SecretRefVolumeSource")),
        ],
    ),
    ("SecretRefVolumeSource", &[("secretRef", Field::Atomic)]),
    ("CSIVolumeSource", &[("nodePublishSecretRef", Field::Atomic)]),
    ("EphemeralVolumeSource", &[("volumeClaimTemplate", Field::Struct("PersistentVolumeClaimTemplate"))]),
    (
        "PersistentVolumeClaimTemplate",
        &[("metadata", Field::Struct("ObjectMeta")), ("spec", Field::Struct("PersistentVolumeClaimSpec"))],
    ),
    ("PersistentVolumeClaimSpec", &[("dataSource", Field::Atomic), ("selector", Field::Atomic)]),
    (
        "PodStatus",
        &[
            ("conditions", keyed("type", Item::Plain)),
            ("hostIPs", Field::List { ssa: Ssa::Atomic, smp: Smp::MergeBy("ip"), item: Item::Plain }),
            ("podIPs", keyed("ip", Item::Plain)),
            ("resourceClaimStatuses", keyed("name", Item::Plain)),
        ],
    ),
    ("ObjectOnly", &[("metadata", Field::Struct("ObjectMeta"))]),
    (
        "CoreEvent",
        &[("metadata", Field::Struct("ObjectMeta")), ("involvedObject", Field::Atomic), ("related", Field::Atomic)],
    ),
    ("Namespace", &[("metadata", Field::Struct("ObjectMeta")), ("status", Field::Struct("ConditionsByType"))]),
    ("ConditionsByType", &[("conditions", keyed("type", Item::Plain))]),
    ("ServiceAccount", &[("metadata", Field::Struct("ObjectMeta")), ("secrets", keyed("name", Item::Atomic))]),
    (
        "Service",
        &[
            ("metadata", Field::Struct("ObjectMeta")),
            ("spec", Field::Struct("ServiceSpec")),
            ("status", Field::Struct("ConditionsByType")),
        ],
    ),
    (
        "ServiceSpec",
        &[
            (
                "ports",
                Field::List {
                    ssa: Ssa::Map(&[("port", None), ("protocol", Some("TCP"))]),
                    smp: Smp::MergeBy("port"),
                    item: Item::Plain,
                },
            ),
            ("selector", Field::Atomic),
        ],
    ),
    (
        "Node",
        &[
            ("metadata", Field::Struct("ObjectMeta")),
            ("spec", Field::Struct("NodeSpec")),
            ("status", Field::Struct("NodeStatus")),
        ],
    ),
    ("NodeSpec", &[("podCIDRs", MERGED_SET)]),
    ("NodeStatus", &[("addresses", keyed("type", Item::Plain)), ("conditions", keyed("type", Item::Plain))]),
    // apps/v1
    (
        "Workload",
        &[
            ("metadata", Field::Struct("ObjectMeta")),
            ("spec", Field::Struct("WorkloadSpec")),
            ("status", Field::Struct("ConditionsByType")),
        ],
    ),
    ("WorkloadSpec", &[("selector", Field::Atomic), ("template", Field::Struct("PodTemplateSpec"))]),
    // rbac.authorization.k8s.io/v1
    ("Binding", &[("metadata", Field::Struct("ObjectMeta")), ("roleRef", Field::Atomic)]),
    // events.k8s.io/v1
    (
        "EventsEvent",
        &[("metadata", Field::Struct("ObjectMeta")), ("regarding", Field::Atomic), ("related", Field::Atomic)],
    ),
    // apiextensions.k8s.io/v1
    (
        "CustomResourceDefinition",
        &[("metadata", Field::Struct("ObjectMeta")), ("status", Field::Struct("CustomResourceDefinitionStatus"))],
    ),
    (
        "CustomResourceDefinitionStatus",
        &[("conditions", Field::List { ssa: Ssa::Map(&[("type", None)]), smp: Smp::Replace, item: Item::Plain })],
    ),
];

/// The built-in kinds: (group, version, kind, root struct, zero object). The zero object is the
/// kind's empty Go struct as JSON with only its always-present objects and lists kept (non-pointer
/// structs, lists and pointers without `omitempty`): kube-apiserver compares a created object
/// against it, which decides where `managedFields` get a `.` entry.
const KINDS: &[(&str, &str, &str, &str, &str)] = &[
    ("", "v1", "Pod", "Pod", r#"{"metadata":{},"spec":{"containers":null},"status":{}}"#),
    ("", "v1", "ConfigMap", "ObjectOnly", r#"{"metadata":{}}"#),
    ("", "v1", "Secret", "ObjectOnly", r#"{"metadata":{}}"#),
    ("", "v1", "Event", "CoreEvent", r#"{"metadata":{},"involvedObject":{},"source":{}}"#),
    ("", "v1", "Namespace", "Namespace", r#"{"metadata":{},"spec":{},"status":{}}"#),
    ("", "v1", "ServiceAccount", "ServiceAccount", r#"{"metadata":{}}"#),
    ("", "v1", "Service", "Service", r#"{"metadata":{},"spec":{},"status":{"loadBalancer":{}}}"#),
    ("", "v1", "Endpoints", "ObjectOnly", r#"{"metadata":{}}"#),
    (
        "",
        "v1",
        "Node",
        "Node",
        r#"{"metadata":{},"spec":{},"status":{"daemonEndpoints":{"kubeletEndpoint":{}},"nodeInfo":{}}}"#,
    ),
    (
        "apps",
        "v1",
        "Deployment",
        "Workload",
        r#"{"metadata":{},"spec":{"selector":null,"template":{"metadata":{},"spec":{"containers":null}},"strategy":{}},"status":{}}"#,
    ),
    (
        "apps",
        "v1",
        "ReplicaSet",
        "Workload",
        r#"{"metadata":{},"spec":{"selector":null,"template":{"metadata":{},"spec":{"containers":null}}},"status":{}}"#,
    ),
    ("autoscaling", "v1", "Scale", "ObjectOnly", r#"{"metadata":{},"spec":{},"status":{}}"#),
    ("rbac.authorization.k8s.io", "v1", "Role", "ObjectOnly", r#"{"metadata":{},"rules":null}"#),
    ("rbac.authorization.k8s.io", "v1", "ClusterRole", "ObjectOnly", r#"{"metadata":{},"rules":null}"#),
    ("rbac.authorization.k8s.io", "v1", "RoleBinding", "Binding", r#"{"metadata":{},"roleRef":{}}"#),
    ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "Binding", r#"{"metadata":{},"roleRef":{}}"#),
    ("events.k8s.io", "v1", "Event", "EventsEvent", r#"{"metadata":{},"regarding":{},"deprecatedSource":{}}"#),
    (
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "CustomResourceDefinition",
        r#"{"metadata":{},"spec":{"names":{},"versions":null},"status":{"acceptedNames":{},"storedVersions":null}}"#,
    ),
];

impl Schema {
    /// The schema of a built-in kind Rampart serves (`group` is `""` for the core group), or
    /// `None` for any other kind (custom resources: use [`Schema::from_openapi_v3`] or
    /// [`Schema::deduced`]).
    pub fn builtin(group: &str, version: &str, kind: &str) -> Option<&'static Schema> {
        static CATALOG: OnceLock<Vec<Schema>> = OnceLock::new();
        let catalog = CATALOG.get_or_init(|| {
            let mut arena = Arena::new();
            let roots: Vec<TypeId> = KINDS.iter().map(|(_, _, _, root, _)| arena.builtin_struct(root)).collect();
            let shared = Schema::from_arena(arena, DEFAULT, true);
            roots
                .into_iter()
                .zip(KINDS)
                .map(|(root, (.., zero))| {
                    let zero: Value = serde_json::from_str(zero).expect("zero objects are valid JSON");
                    shared.with_root(root, zero)
                })
                .collect()
        });
        KINDS.iter().position(|(g, v, k, ..)| (*g, *v, *k) == (group, version, kind)).map(|i| &catalog[i])
    }
}

impl Arena {
    /// Builds (once) the node of a struct of the built-in table.
    pub(crate) fn builtin_struct(&mut self, name: &'static str) -> TypeId {
        let id = match self.named(name) {
            Ok(id) => return id,
            Err(id) => id,
        };
        let (_, fields) =
            STRUCTS.iter().find(|(n, _)| *n == name).unwrap_or_else(|| panic!("no built-in struct {name}"));
        let mut node = Arena::default_node();
        for (field, spec) in fields.iter() {
            let child = self.builtin_field(spec);
            node.fields.push((field.to_string(), child));
        }
        node.fields.sort_by(|a, b| a.0.cmp(&b.0));
        self.set(id, node);
        id
    }

    fn builtin_field(&mut self, field: &Field) -> TypeId {
        match field {
            Field::Struct(name) => self.builtin_struct(name),
            Field::Atomic => self.push(Node { atomic_map: true, ..Arena::default_node() }),
            Field::Keyed { key, item } => {
                let elem = self.builtin_item(item);
                let list_type = ListType::Map(vec![MapKey { name: key.to_string(), default: None }]);
                let smp_list = SmpList::Merge { key: Some(key.to_string()) };
                self.push(Node { elem, list_type, smp_list, ..Arena::default_node() })
            }
            Field::List { ssa, smp, item } => {
                let elem = self.builtin_item(item);
                let list_type = match ssa {
                    Ssa::Atomic => ListType::Atomic,
                    Ssa::Set => ListType::Set,
                    Ssa::Map(keys) => ListType::Map(
                        keys.iter()
                            .map(|(name, default)| MapKey {
                                name: name.to_string(),
                                default: default.map(|d| Value::String(d.to_string())),
                            })
                            .collect(),
                    ),
                };
                let smp_list = match smp {
                    Smp::Replace => SmpList::Replace,
                    Smp::MergeScalars => SmpList::Merge { key: None },
                    Smp::MergeBy(key) => SmpList::Merge { key: Some(key.to_string()) },
                };
                self.push(Node { elem, list_type, smp_list, ..Arena::default_node() })
            }
        }
    }

    fn builtin_item(&mut self, item: &Item) -> TypeId {
        match item {
            Item::Plain => DEFAULT,
            Item::Atomic => self.builtin_field(&Field::Atomic),
            Item::Struct(name) => self.builtin_struct(name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(schema: &Schema, fields: &[&str]) -> TypeId {
        fields.iter().fold(schema.root(), |id, f| {
            let node = schema.node(id);
            if *f == "[]" { node.elem } else { schema.field(id, f).0 }
        })
    }

    #[test]
    fn every_served_kind_has_a_schema() {
        for (group, version, kind, ..) in KINDS {
            let schema = Schema::builtin(group, version, kind).expect("schema");
            assert!(schema.supports_strategic_merge_patch());
        }
        assert!(Schema::builtin("stable.example.com", "v1", "CronTab").is_none());
    }

    #[test]
    fn deployment_containers_merge_by_name_and_ports_by_container_port() {
        let schema = Schema::builtin("apps", "v1", "Deployment").unwrap();
        let containers = path(schema, &["spec", "template", "spec", "containers"]);
        assert_eq!(schema.node(containers).smp_list, SmpList::Merge { key: Some("name".into()) });
        let ports = path(schema, &["spec", "template", "spec", "containers", "[]", "ports"]);
        assert_eq!(schema.node(ports).smp_list, SmpList::Merge { key: Some("containerPort".into()) });
        assert_eq!(
            schema.node(ports).list_type,
            ListType::Map(vec![
                MapKey { name: "containerPort".into(), default: None },
                MapKey { name: "protocol".into(), default: Some(Value::String("TCP".into())) },
            ])
        );
        assert!(schema.node(path(schema, &["spec", "selector"])).atomic_map);
    }

    #[test]
    fn rbac_rules_and_pod_tolerations_are_replaced_whole() {
        let role = Schema::builtin("rbac.authorization.k8s.io", "v1", "Role").unwrap();
        let rules = path(role, &["rules"]);
        assert_eq!(role.node(rules).smp_list, SmpList::Replace);
        assert_eq!(role.node(rules).list_type, ListType::Atomic);
        let pod = Schema::builtin("", "v1", "Pod").unwrap();
        assert_eq!(pod.node(path(pod, &["spec", "tolerations"])).smp_list, SmpList::Replace);
        assert_eq!(pod.node(path(pod, &["metadata", "finalizers"])).list_type, ListType::Set);
    }
}

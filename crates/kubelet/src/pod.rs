//! What the runtime is told about a pod and its containers, and the kubelet's and
//! kube-apiserver's pure rules over them: which container a request means
//! (`validateContainer`), `$(VAR)` expansion of env values, command and args, and the argv
//! a container runs. No I/O.

use std::collections::HashMap;

use crate::error::KubeletError;

/// The pod a sandbox belongs to. `cluster`, `namespace` and `uid` name its directory, so they
/// must be plain path segments (Kubernetes names and UIDs always are).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PodRef {
    pub cluster: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

impl PodRef {
    /// Refuses a segment that could leave the runtime's root (`..`, `/`, empty).
    pub(crate) fn check_path_segments(&self) -> Result<(), KubeletError> {
        for (what, value) in [("cluster", &self.cluster), ("namespace", &self.namespace), ("pod uid", &self.uid)] {
            check_segment(what, value)?;
        }
        Ok(())
    }
}

/// Refuses a name that cannot be one plain directory name under the runtime's root.
pub(crate) fn check_segment(what: &str, value: &str) -> Result<(), KubeletError> {
    let plain = !value.is_empty() && !value.starts_with('.') && !value.contains(['/', '\\', '\0']);
    if plain {
        Ok(())
    } else {
        Err(KubeletError::BadRequest(format!("{what} {value:?} cannot name a pod sandbox directory")))
    }
}

/// What `pods/log` and `pods/exec` need of a Pod object: whose sandbox, which node, which
/// containers. Read from the object as the API server stores it (JSON).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodSummary {
    pub pod: PodRef,
    /// `spec.nodeName`; empty while the pod is not scheduled.
    pub node_name: String,
    pub containers: Vec<String>,
    pub init_containers: Vec<String>,
    pub ephemeral_containers: Vec<String>,
}

impl PodSummary {
    /// Reads a Pod object of `cluster`; `None` if it lacks a name, namespace or uid.
    pub fn from_object(cluster: &str, pod: &serde_json::Value) -> Option<Self> {
        let text = |pointer: &str| pod.pointer(pointer).and_then(serde_json::Value::as_str).map(str::to_string);
        let names = |pointer: &str| -> Vec<String> {
            pod.pointer(pointer)
                .and_then(serde_json::Value::as_array)
                .map(|list| list.iter().filter_map(|c| c.get("name")?.as_str().map(str::to_string)).collect())
                .unwrap_or_default()
        };
        Some(Self {
            pod: PodRef {
                cluster: cluster.to_string(),
                namespace: text("/metadata/namespace")?,
                name: text("/metadata/name")?,
                uid: text("/metadata/uid")?,
            },
            node_name: text("/spec/nodeName").unwrap_or_default(),
            containers: names("/spec/containers"),
            init_containers: names("/spec/initContainers"),
            ephemeral_containers: names("/spec/ephemeralContainers"),
        })
    }

    /// The container a request means ([`resolve_container`] over this pod).
    pub fn container(&self, requested: Option<&str>) -> Result<String, KubeletError> {
        fn names(list: &[String]) -> Vec<&str> {
            list.iter().map(String::as_str).collect()
        }
        resolve_container(
            &self.pod.name,
            &names(&self.containers),
            &names(&self.init_containers),
            &names(&self.ephemeral_containers),
            requested,
        )
    }

    /// kube-apiserver refuses to exec into a pod no node runs yet (`pods/log` answers an
    /// unscheduled pod with an empty body instead).
    pub fn check_scheduled(&self) -> Result<(), KubeletError> {
        if self.node_name.is_empty() {
            Err(KubeletError::NoHostAssigned { pod: self.pod.name.clone() })
        } else {
            Ok(())
        }
    }
}

/// One `env` entry after the caller resolved `valueFrom` (ConfigMaps, Secrets, field refs) but
/// before `$(VAR)` expansion, which the runtime does as the kubelet does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

impl EnvVar {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Self { name: name.into(), value: value.into() }
    }
}

/// A container of the pod spec, as far as the runtime needs it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// The spec's `command`; empty means the image's entrypoint, which a simulated image lacks.
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub env: Vec<EnvVar>,
}

impl ContainerSpec {
    /// The environment the container's processes get: `env` in order, each value expanded
    /// against the variables defined before it; a later duplicate replaces the earlier value.
    pub fn resolved_env(&self) -> Vec<(String, String)> {
        let mut resolved: Vec<(String, String)> = Vec::with_capacity(self.env.len());
        let mut index: HashMap<String, usize> = HashMap::new();
        for var in &self.env {
            let value = expand(&var.value, |name| index.get(name).map(|i| resolved[*i].1.as_str()));
            match index.get(&var.name) {
                Some(i) => resolved[*i].1 = value,
                None => {
                    index.insert(var.name.clone(), resolved.len());
                    resolved.push((var.name.clone(), value));
                }
            }
        }
        resolved
    }

    /// The argv the container runs, with `$(VAR)` expanded against `env`: `command` + `args`,
    /// or `args` alone (an image without an entrypoint, like busybox, runs them as the
    /// command). `None` when both are empty: the simulated container runs no process.
    pub fn argv(&self, env: &[(String, String)]) -> Option<Vec<String>> {
        let lookup = |name: &str| env.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
        let argv: Vec<String> = self.command.iter().chain(&self.args).map(|arg| expand(arg, lookup)).collect();
        (!argv.is_empty()).then_some(argv)
    }
}

/// Kubernetes' `$(VAR)` expansion (`third_party/forked/golang/expansion`): `$(NAME)` becomes
/// the variable's value, or stays as written when undefined; `$$` is an escaped `$`; any other
/// `$` is kept.
pub fn expand<'a>(input: &str, lookup: impl Fn(&str) -> Option<&'a str>) -> String {
    let bytes = input.as_bytes();
    let mut out = String::with_capacity(input.len());
    let mut checkpoint = 0;
    let mut cursor = 0;
    while cursor < bytes.len() {
        if bytes[cursor] == b'$' && cursor + 1 < bytes.len() {
            out.push_str(&input[checkpoint..cursor]);
            let rest = &input[cursor + 1..];
            let advance = match rest.as_bytes()[0] {
                b'$' => {
                    out.push('$');
                    1
                }
                b'(' => match rest.find(')') {
                    Some(close) => {
                        let name = &rest[1..close];
                        match lookup(name) {
                            Some(value) => out.push_str(value),
                            None => {
                                out.push_str("$(");
                                out.push_str(name);
                                out.push(')');
                            }
                        }
                        close + 1
                    }
                    None => {
                        out.push_str("$(");
                        1
                    }
                },
                _ => {
                    let c = rest.chars().next().unwrap_or_default();
                    out.push('$');
                    out.push(c);
                    c.len_utf8()
                }
            };
            cursor += 1 + advance;
            checkpoint = cursor;
        } else {
            cursor += 1;
        }
    }
    out.push_str(&input[checkpoint..]);
    out
}

/// kube-apiserver's `validateContainer` for `pods/log` and `pods/exec`: the requested
/// container, or the only one when none is named; otherwise its BadRequest errors.
/// (kubectl picks the `kubectl.kubernetes.io/default-container` annotation client-side.)
pub fn resolve_container(
    pod: &str,
    containers: &[&str],
    init_containers: &[&str],
    ephemeral_containers: &[&str],
    requested: Option<&str>,
) -> Result<String, KubeletError> {
    match requested.filter(|name| !name.is_empty()) {
        Some(name) => {
            if containers.iter().chain(init_containers).chain(ephemeral_containers).any(|c| *c == name) {
                Ok(name.to_string())
            } else {
                Err(KubeletError::ContainerNotValid { container: name.to_string(), pod: pod.to_string() })
            }
        }
        None => match containers {
            [only] => Ok(only.to_string()),
            _ => Err(KubeletError::ContainerNameRequired {
                pod: pod.to_string(),
                containers: containers.iter().map(ToString::to_string).collect(),
                init_containers: init_containers.iter().map(ToString::to_string).collect(),
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_with(input: &str, vars: &[(&'static str, &'static str)]) -> String {
        expand(input, |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v))
    }

    #[test]
    fn expansion_follows_kubernetes() {
        let vars = [("VAR_A", "A"), ("VAR_B", "B"), ("EMPTY", "")];
        let cases = [
            ("$(VAR_A)", "A"),
            ("___$(VAR_B)___", "___B___"),
            ("$(VAR_A)-$(VAR_B)", "A-B"),
            ("$(UNDEFINED)", "$(UNDEFINED)"),
            ("$$(VAR_A)", "$(VAR_A)"),
            ("$$$(VAR_A)", "$A"),
            ("$$$$(VAR_A)", "$$(VAR_A)"),
            ("$(EMPTY)x", "x"),
            ("$VAR_A", "$VAR_A"),
            ("$(VAR_A", "$(VAR_A"),
            ("trailing $", "trailing $"),
            ("$()", "$()"),
            ("$é", "$é"),
            ("no variables", "no variables"),
        ];
        for (input, want) in cases {
            assert_eq!(expand_with(input, &vars), want, "input {input:?}");
        }
    }

    #[test]
    fn env_resolves_in_order_and_argv_expands() {
        let spec = ContainerSpec {
            name: "c".into(),
            image: "busybox".into(),
            command: vec!["sh".into(), "-c".into()],
            args: vec!["echo $(GREETING) $(LATER) $$HOME".into()],
            env: vec![
                EnvVar::new("NAME", "world"),
                EnvVar::new("GREETING", "hello $(NAME)"),
                EnvVar::new("EARLY", "$(LATER)"),
                EnvVar::new("LATER", "late"),
                EnvVar::new("NAME", "again"),
            ],
        };
        let env = spec.resolved_env();
        assert_eq!(
            env,
            vec![
                ("NAME".to_string(), "again".to_string()),
                ("GREETING".to_string(), "hello world".to_string()),
                ("EARLY".to_string(), "$(LATER)".to_string()),
                ("LATER".to_string(), "late".to_string()),
            ]
        );
        assert_eq!(spec.argv(&env).unwrap(), vec!["sh", "-c", "echo hello world late $HOME"]);

        let args_only = ContainerSpec { args: vec!["echo".into(), "hi".into()], ..Default::default() };
        assert_eq!(args_only.argv(&[]).unwrap(), vec!["echo", "hi"]);
        assert_eq!(ContainerSpec::default().argv(&[]), None);
    }

    #[test]
    fn container_resolution_matches_kube_apiserver() {
        assert_eq!(resolve_container("p", &["only"], &[], &[], None).unwrap(), "only");
        assert_eq!(resolve_container("p", &["a", "b"], &["init"], &[], Some("init")).unwrap(), "init");
        assert_eq!(resolve_container("p", &["a", "b"], &[], &["debugger"], Some("debugger")).unwrap(), "debugger");
        let err = resolve_container("p", &["a", "b"], &[], &[], Some("x")).unwrap_err();
        assert_eq!(err.to_string(), "container x is not valid for pod p");
        let err = resolve_container("two", &["main", "side"], &[], &[], None).unwrap_err();
        assert_eq!(err.to_string(), "a container name must be specified for pod two, choose one of: [main side]");
        assert_eq!(err.http_status(), 400);
        assert!(resolve_container("p", &[], &[], &[], Some("")).is_err());
    }

    #[test]
    fn a_pod_object_says_whose_sandbox_and_which_containers() {
        let object = serde_json::json!({
            "metadata": {"name": "two", "namespace": "default", "uid": "23771244-e270-462b-80db-bd2edb67236a"},
            "spec": {"containers": [{"name": "main", "image": "busybox"}, {"name": "side", "image": "busybox"}],
                     "initContainers": [{"name": "setup"}], "nodeName": "node-1"},
        });
        let summary = PodSummary::from_object("demo", &object).unwrap();
        assert_eq!(summary.pod.uid, "23771244-e270-462b-80db-bd2edb67236a");
        assert_eq!(summary.pod.cluster, "demo");
        assert_eq!(summary.container(Some("setup")).unwrap(), "setup");
        assert_eq!(
            summary.container(None).unwrap_err().to_string(),
            "a container name must be specified for pod two, choose one of: [main side] or one of the init \
             containers: [setup]"
        );
        assert!(summary.check_scheduled().is_ok());

        let pending = serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"containers": [{"name": "only"}]},
        });
        let summary = PodSummary::from_object("demo", &pending).unwrap();
        assert_eq!(summary.container(None).unwrap(), "only");
        let err = summary.check_scheduled().unwrap_err();
        assert_eq!((err.to_string().as_str(), err.http_status()), ("pod p does not have a host assigned", 400));
        assert!(PodSummary::from_object("demo", &serde_json::json!({"metadata": {"name": "x"}})).is_none());
    }

    #[test]
    fn sandbox_paths_refuse_traversal() {
        let pod = |ns: &str, uid: &str| PodRef {
            cluster: "demo".into(),
            namespace: ns.into(),
            name: "p".into(),
            uid: uid.into(),
        };
        assert!(pod("default", "0b3c2c4e-1d1a-4b57-9e5e-2f6f4a1b7c9d").check_path_segments().is_ok());
        for (ns, uid) in [("..", "u"), ("default", "../x"), ("a/b", "u"), ("default", ""), ("default", ".hidden")] {
            assert!(pod(ns, uid).check_path_segments().is_err(), "{ns} {uid}");
        }
    }
}

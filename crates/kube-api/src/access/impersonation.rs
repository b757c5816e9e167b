//! Impersonation, between authentication and authorization, as kube-apiserver 1.32's
//! `WithImpersonation` filter: the `Impersonate-User`, `Impersonate-Group`, `Impersonate-Uid` and
//! `Impersonate-Extra-<key>` headers name an identity; the real requester must be allowed
//! `impersonate` on each part of it (users or serviceaccounts, groups, userextras/<key>, uids),
//! checked in header order, and the request then runs as that identity — with
//! `system:authenticated` (or, for `system:anonymous`, `system:unauthenticated`) added and none
//! of the requester's own groups.
//!
//! A group, uid or extra without a user is what kube-apiserver answers with `InternalError`: a
//! 500 with a plain-text body naming the request URI and the requested parts.

use std::collections::BTreeMap;

use http::HeaderMap;
use kube_core::Status;
use rbac::{Attributes, ResourceAttributes, UserInfo};

use crate::access::authz::{self, Authorizer, Decision};

const USER: &str = "impersonate-user";
const GROUP: &str = "impersonate-group";
const UID: &str = "impersonate-uid";
const EXTRA_PREFIX: &str = "impersonate-extra-";

/// One part of the requested identity (kube-apiserver models them as `ObjectReference`s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    ServiceAccount { namespace: String, name: String },
    User(String),
    Group(String),
    Extra { key: String, value: String },
    Uid(String),
}

impl Part {
    /// The `impersonate` check the requester must pass for this part.
    fn attributes(&self, requester: &UserInfo) -> Attributes {
        let (group, resource, subresource, namespace, name) = match self {
            Part::ServiceAccount { namespace, name } => ("", "serviceaccounts", "", namespace.as_str(), name.as_str()),
            Part::User(name) => ("", "users", "", "", name.as_str()),
            Part::Group(name) => ("", "groups", "", "", name.as_str()),
            Part::Extra { key, value } => ("authentication.k8s.io", "userextras", key.as_str(), "", value.as_str()),
            Part::Uid(uid) => ("authentication.k8s.io", "uids", "", "", uid.as_str()),
        };
        // The ObjectReference's version: none for the core kinds, v1 for authentication's.
        let version = if group.is_empty() { "" } else { "v1" };
        Attributes::resource(
            requester.clone(),
            "impersonate",
            ResourceAttributes {
                namespace: namespace.into(),
                api_group: group.into(),
                api_version: version.into(),
                resource: resource.into(),
                subresource: subresource.into(),
                name: name.into(),
            },
        )
    }

    /// Go's `%v` of the `ObjectReference` kube-apiserver builds for this part (its error text).
    fn go_value(&self) -> String {
        // Kind, Namespace, Name, UID, APIVersion, ResourceVersion, FieldPath.
        let fields: [&str; 7] = match self {
            Part::ServiceAccount { namespace, name } => ["ServiceAccount", namespace, name, "", "", "", ""],
            Part::User(name) => ["User", "", name, "", "", "", ""],
            Part::Group(name) => ["Group", "", name, "", "", "", ""],
            Part::Extra { key, value } => ["UserExtra", "", value, "", "authentication.k8s.io/v1", "", key],
            Part::Uid(uid) => ["UID", "", uid, "", "authentication.k8s.io/v1", "", ""],
        };
        format!("{{{}}}", fields.join(" "))
    }
}

/// Why an impersonation request was refused.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// Malformed headers: kube-apiserver's `InternalError` text (500, `text/plain`).
    Malformed(String),
    /// The requester may not impersonate a part: kube-apiserver's 403 for that check.
    Forbidden(Status),
}

/// The identity parts the request's headers ask for, in kube-apiserver's order (user, groups,
/// extras, uid); empty when the request impersonates nobody. `request_uri` is only for the
/// error text.
pub fn requested(headers: &HeaderMap, request_uri: &str) -> Result<Vec<Part>, Refusal> {
    let mut parts = Vec::new();
    // Like Go's Header.Get: the first value; an empty one is no user.
    let user = headers.get(USER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !user.is_empty() {
        parts.push(match service_account(user) {
            Some((namespace, name)) => Part::ServiceAccount { namespace: namespace.into(), name: name.into() },
            None => Part::User(user.into()),
        });
    }
    let mut others = false;
    for group in headers.get_all(GROUP) {
        others = true;
        parts.push(Part::Group(String::from_utf8_lossy(group.as_bytes()).into_owned()));
    }
    let mut extra_names: Vec<&str> =
        headers.keys().map(|k| k.as_str()).filter(|k| k.starts_with(EXTRA_PREFIX)).collect();
    extra_names.sort_unstable();
    for name in extra_names {
        others = true;
        let key = unescape(&name[EXTRA_PREFIX.len()..]);
        for value in headers.get_all(name) {
            parts.push(Part::Extra { key: key.clone(), value: String::from_utf8_lossy(value.as_bytes()).into_owned() });
        }
    }
    let uid = headers.get(UID).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !uid.is_empty() {
        others = true;
        parts.push(Part::Uid(uid.into()));
    }
    if others && user.is_empty() {
        let list: Vec<String> = parts.iter().map(Part::go_value).collect();
        let error = format!("requested [{}] without impersonating a user", list.join(" "));
        // responsewriters.InternalError, its HTML-ish sanitizer included.
        let text = format!("Internal Server Error: {}: {error}", go_format::quote(request_uri))
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        return Err(Refusal::Malformed(text));
    }
    Ok(parts)
}

/// Check every part against the chain for `requester` and build the impersonated identity.
pub fn impersonate(
    chain: &[std::sync::Arc<dyn Authorizer>],
    requester: &UserInfo,
    parts: &[Part],
) -> Result<UserInfo, Refusal> {
    let groups_given = parts.iter().any(|p| matches!(p, Part::Group(_)));
    let mut user = UserInfo::default();
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for part in parts {
        let attributes = part.attributes(requester);
        match authz::authorize(chain, &attributes).0 {
            Decision::Allow(_) => {}
            Decision::Deny(reason) | Decision::NoOpinion(reason) => {
                return Err(Refusal::Forbidden(authz::forbidden_for(&attributes, &reason)));
            }
        }
        match part {
            Part::ServiceAccount { namespace, name } => {
                user.name = format!("{}{namespace}:{name}", rbac::SERVICE_ACCOUNT_PREFIX);
                if !groups_given {
                    user.groups = vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{namespace}")];
                }
            }
            Part::User(name) => user.name = name.clone(),
            Part::Group(group) => user.groups.push(group.clone()),
            Part::Extra { key, value } => extra.entry(key.clone()).or_default().push(value.clone()),
            Part::Uid(uid) => user.uid = uid.clone(),
        }
    }
    let has = |g: &str| user.groups.iter().any(|x| x == g);
    if user.name != rbac::ANONYMOUS {
        if !has(rbac::SYSTEM_AUTHENTICATED) && !has(rbac::SYSTEM_UNAUTHENTICATED) {
            user.groups.push(rbac::SYSTEM_AUTHENTICATED.into());
        }
    } else if !has(rbac::SYSTEM_UNAUTHENTICATED) {
        user.groups.push(rbac::SYSTEM_UNAUTHENTICATED.into());
    }
    user.extra = extra;
    Ok(user)
}

/// `serviceaccount.SplitUsername`: `system:serviceaccount:<ns>:<name>` with both parts non-empty
/// and no further colon.
fn service_account(user: &str) -> Option<(&str, &str)> {
    let (namespace, name) = user.strip_prefix(rbac::SERVICE_ACCOUNT_PREFIX)?.split_once(':')?;
    (!namespace.is_empty() && !name.is_empty() && !name.contains(':')).then_some((namespace, name))
}

/// An extra key from its header suffix: lower-cased (header names already are), then
/// %-unescaped; kept as is when the escape is malformed (kube-apiserver's `unescapeExtraKey`).
fn unescape(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = key.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => {
                    out.push(b);
                    i += 3;
                    continue;
                }
                None => return key.to_string(),
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| key.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        map
    }

    #[test]
    fn headers_become_parts_in_kube_apiservers_order() {
        let h = headers(&[
            ("Impersonate-Uid", "1234"),
            ("Impersonate-Group", "dev"),
            ("Impersonate-User", "system:serviceaccount:ns:builder"),
            ("Impersonate-Extra-Acme.com%2Fproject", "a"),
            ("Impersonate-Extra-Acme.com%2Fproject", "b"),
            ("Impersonate-Group", "ops"),
        ]);
        assert_eq!(
            requested(&h, "/api").unwrap(),
            vec![
                Part::ServiceAccount { namespace: "ns".into(), name: "builder".into() },
                Part::Group("dev".into()),
                Part::Group("ops".into()),
                Part::Extra { key: "acme.com/project".into(), value: "a".into() },
                Part::Extra { key: "acme.com/project".into(), value: "b".into() },
                Part::Uid("1234".into()),
            ]
        );
        assert_eq!(requested(&headers(&[]), "/").unwrap(), vec![]);
        assert_eq!(requested(&headers(&[("Impersonate-User", "")]), "/").unwrap(), vec![]);
        assert_eq!(
            requested(&headers(&[("Impersonate-User", "system:serviceaccount:ns")]), "/").unwrap(),
            vec![Part::User("system:serviceaccount:ns".into())]
        );
    }

    #[test]
    fn a_group_without_a_user_is_kube_apiservers_internal_error() {
        let h = headers(&[("Impersonate-Group", "dev"), ("Impersonate-Uid", "7")]);
        assert_eq!(
            requested(&h, "/api/v1/namespaces/default/pods?limit=500"),
            Err(Refusal::Malformed(
                "Internal Server Error: \"/api/v1/namespaces/default/pods?limit=500\": requested [{Group  dev    } {UID  7  authentication.k8s.io/v1  }] without impersonating a user".into()
            ))
        );
    }

    struct Allow(&'static [&'static str]);
    impl Authorizer for Allow {
        fn name(&self) -> &str {
            "test"
        }
        fn authorize(&self, attributes: &Attributes) -> Decision {
            let r = attributes.resource.as_ref().unwrap();
            assert_eq!(attributes.verb, "impersonate");
            if self.0.contains(&r.resource.as_str()) {
                Decision::Allow(String::new())
            } else {
                Decision::NoOpinion(String::new())
            }
        }
    }

    #[test]
    fn every_part_is_checked_and_the_identity_built() {
        let admin = UserInfo::new("admin", &["ops", "system:authenticated"]);
        let parts = requested(
            &headers(&[
                ("Impersonate-User", "eks-user"),
                ("Impersonate-Group", "dev"),
                ("Impersonate-Extra-arn", "arn:aws:iam::1:user/u"),
            ]),
            "/",
        )
        .unwrap();
        let all: Vec<Arc<dyn Authorizer>> = vec![Arc::new(Allow(&["users", "groups", "userextras"]))];
        let user = impersonate(&all, &admin, &parts).unwrap();
        assert_eq!(user.name, "eks-user");
        assert_eq!(user.groups, ["dev", "system:authenticated"], "the requester's groups are not carried over");
        assert_eq!(user.extra["arn"], ["arn:aws:iam::1:user/u"]);

        let users_only: Vec<Arc<dyn Authorizer>> = vec![Arc::new(Allow(&["users"]))];
        let Err(Refusal::Forbidden(status)) = impersonate(&users_only, &admin, &parts) else { panic!("forbidden") };
        assert_eq!(
            status.message,
            r#"groups "dev" is forbidden: User "admin" cannot impersonate resource "groups" in API group "" at the cluster scope"#
        );
        let Err(Refusal::Forbidden(status)) = impersonate(&[], &admin, &parts[2..]) else { panic!("forbidden") };
        assert_eq!(
            status.message,
            r#"userextras.authentication.k8s.io "arn:aws:iam::1:user/u" is forbidden: User "admin" cannot impersonate resource "userextras/arn" in API group "authentication.k8s.io" at the cluster scope"#
        );

        let sa = vec![Part::ServiceAccount { namespace: "ns".into(), name: "b".into() }];
        let all_sa: Vec<Arc<dyn Authorizer>> = vec![Arc::new(Allow(&["serviceaccounts"]))];
        let user = impersonate(&all_sa, &admin, &sa).unwrap();
        assert_eq!(user.name, "system:serviceaccount:ns:b");
        assert_eq!(user.groups, ["system:serviceaccounts", "system:serviceaccounts:ns", "system:authenticated"]);
        let anonymous = vec![Part::User(rbac::ANONYMOUS.into())];
        let user = impersonate(&all, &admin, &anonymous).unwrap();
        assert_eq!(user.groups, ["system:unauthenticated"]);
    }
}

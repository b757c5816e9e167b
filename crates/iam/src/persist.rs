//! How an account is laid out in a key-value store: one entry per entity under the account's
//! prefix (`account`, `users/<name>`, `groups/<name>`, `roles/<name>`, `policies/<name>`,
//! `access-keys/<id>`, `sessions/<id>`), JSON values, with every secret (secret access keys,
//! session tokens) sealed by the caller's [`Sealer`] so none is stored in the clear.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::account::{AccessKey, Account, Group, ManagedPolicy, Role, User};
use crate::sts::Session;

/// Encrypts secrets before they are stored and decrypts them when loaded.
pub trait Sealer {
    fn seal(&self, plaintext: &str) -> String;
    /// `None` when `sealed` was not sealed by this sealer (another key, or tampered with).
    fn open(&self, sealed: &str) -> Option<String>;
}

/// Why stored entries could not be loaded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    #[error("entry {key}: {message}")]
    Invalid { key: String, message: String },
    #[error("entry {key}: its secret cannot be decrypted with this data directory's key")]
    Sealed { key: String },
}

const SECRET_FIELDS: &[&str] = &["SecretAccessKey", "SessionToken"];

fn to_json<T: Serialize>(value: &T, sealer: &dyn Sealer) -> Vec<u8> {
    let mut json = serde_json::to_value(value).expect("IAM entities serialize");
    if let Value::Object(map) = &mut json {
        for field in SECRET_FIELDS {
            if let Some(Value::String(secret)) = map.get(*field) {
                let sealed = sealer.seal(secret);
                map.insert((*field).to_string(), Value::String(sealed));
            }
        }
    }
    serde_json::to_vec(&json).expect("JSON values serialize")
}

fn from_json<T: DeserializeOwned>(key: &str, bytes: &[u8], sealer: &dyn Sealer) -> Result<T, LoadError> {
    let invalid = |message: String| LoadError::Invalid { key: key.to_string(), message };
    let mut json: Value = serde_json::from_slice(bytes).map_err(|err| invalid(err.to_string()))?;
    if let Value::Object(map) = &mut json {
        for field in SECRET_FIELDS {
            if let Some(Value::String(sealed)) = map.get(*field) {
                let secret = sealer.open(sealed).ok_or_else(|| LoadError::Sealed { key: key.to_string() })?;
                map.insert((*field).to_string(), Value::String(secret));
            }
        }
    }
    serde_json::from_value(json).map_err(|err| invalid(err.to_string()))
}

impl Account {
    /// The account's entries, keyed relative to its prefix.
    pub fn to_entries(&self, sealer: &dyn Sealer) -> BTreeMap<String, Vec<u8>> {
        let mut entries = BTreeMap::new();
        entries.insert("account".to_string(), to_json(&serde_json::json!({ "Id": self.id }), sealer));
        for (name, user) in &self.users {
            entries.insert(format!("users/{name}"), to_json(user, sealer));
        }
        for (name, group) in &self.groups {
            entries.insert(format!("groups/{name}"), to_json(group, sealer));
        }
        for (name, role) in &self.roles {
            entries.insert(format!("roles/{name}"), to_json(role, sealer));
        }
        for (name, policy) in &self.policies {
            entries.insert(format!("policies/{name}"), to_json(policy, sealer));
        }
        for (id, key) in &self.access_keys {
            entries.insert(format!("access-keys/{id}"), to_json(key, sealer));
        }
        for (id, session) in &self.sessions {
            entries.insert(format!("sessions/{id}"), to_json(session, sealer));
        }
        entries
    }

    /// Rebuilds account `id` from its entries (keys relative to its prefix).
    pub fn from_entries<'a>(
        id: &str,
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
        sealer: &dyn Sealer,
    ) -> Result<Account, LoadError> {
        let mut account = Account::new(id);
        for (key, bytes) in entries {
            let Some((kind, name)) = key.split_once('/') else { continue };
            match kind {
                "users" => {
                    account.users.insert(name.to_string(), from_json::<User>(key, bytes, sealer)?);
                }
                "groups" => {
                    account.groups.insert(name.to_string(), from_json::<Group>(key, bytes, sealer)?);
                }
                "roles" => {
                    account.roles.insert(name.to_string(), from_json::<Role>(key, bytes, sealer)?);
                }
                "policies" => {
                    account.policies.insert(name.to_string(), from_json::<ManagedPolicy>(key, bytes, sealer)?);
                }
                "access-keys" => {
                    account.access_keys.insert(name.to_string(), from_json::<AccessKey>(key, bytes, sealer)?);
                }
                "sessions" => {
                    account.sessions.insert(name.to_string(), from_json::<Session>(key, bytes, sealer)?);
                }
                _ => {
                    return Err(LoadError::Invalid {
                        key: key.to_string(),
                        message: "unknown kind of IAM entry".into(),
                    });
                }
            }
        }
        Ok(account)
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::account::EntityKind;

    /// Reverses the text: enough to see that what is stored is not the plaintext.
    struct Reverse;

    impl Sealer for Reverse {
        fn seal(&self, plaintext: &str) -> String {
            format!("sealed:{}", plaintext.chars().rev().collect::<String>())
        }
        fn open(&self, sealed: &str) -> Option<String> {
            sealed.strip_prefix("sealed:").map(|s| s.chars().rev().collect())
        }
    }

    #[test]
    fn accounts_round_trip_with_secrets_sealed() {
        let now = Utc.with_ymd_and_hms(2026, 11, 28, 9, 0, 0).unwrap();
        let mut rng = rand::rng();
        let mut account = Account::new("123456789012");
        account.create_user("alice", Some("/dev/"), vec![], now, &mut rng).unwrap();
        account.add_access_key("alice", "AKIAEXAMPLE000000000", "very-secret-value", now).unwrap();
        account
            .put_inline_policy(
                EntityKind::User,
                "alice",
                "p",
                r#"{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"iam:Get*","Resource":"*"}}"#,
            )
            .unwrap();
        account.create_group("devs", None, now, &mut rng).unwrap();
        let entries = account.to_entries(&Reverse);
        let stored = String::from_utf8(entries["access-keys/AKIAEXAMPLE000000000"].clone()).unwrap();
        assert!(!stored.contains("very-secret-value"), "{stored}");
        let back =
            Account::from_entries("123456789012", entries.iter().map(|(k, v)| (k.as_str(), v.as_slice())), &Reverse)
                .unwrap();
        assert_eq!(back, account);

        struct Other;
        impl Sealer for Other {
            fn seal(&self, plaintext: &str) -> String {
                plaintext.to_string()
            }
            fn open(&self, _: &str) -> Option<String> {
                None
            }
        }
        let err =
            Account::from_entries("123456789012", entries.iter().map(|(k, v)| (k.as_str(), v.as_slice())), &Other)
                .unwrap_err();
        assert!(matches!(err, LoadError::Sealed { .. }));
    }
}

//! Authentication: who sent a request, decided by a chain as kube-apiserver's — a verified x509
//! client certificate (CN = user, O = groups), else a bearer token offered to each
//! [`TokenAuthenticator`] in turn (the EKS `k8s-aws-v1.` authenticator plugs in here; the
//! cluster's own service-account tokens are built in), else anonymous when allowed. Every
//! authenticated user gains `system:authenticated`; a bearer token nobody accepts is a 401.
//!
//! Service-account tokens are ES256 JWTs signed with the cluster's key (kept in the store, see
//! `pki`), issued by the TokenRequest subresource (`kubectl create token`) and checked against
//! the service account they name. JWTs are built and checked by hand with `ring` because the
//! format needed is small and fixed (one algorithm, our own issuer), which no JWT crate makes
//! smaller.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use kube_core::Status;
use rbac::UserInfo;
use ring::signature::{self, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};

use crate::registry::ResourceDef;
use crate::storage::object_store::ObjectStore;

/// A bearer-token authenticator.
#[async_trait]
pub trait TokenAuthenticator: Send + Sync {
    /// Its name, for logs and audit.
    fn name(&self) -> &str;

    /// `Ok(Some(user))` for a valid token of this authenticator's kind, `Ok(None)` when the token
    /// is not its kind, `Err(reason)` when it is its kind but invalid (the reason is logged,
    /// never sent: the client sees 401 Unauthorized).
    async fn authenticate(&self, token: &str) -> Result<Option<UserInfo>, String>;
}

/// How a request was authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Authenticated {
    User(UserInfo),
    /// No credentials and anonymous requests are allowed.
    Anonymous(UserInfo),
}

impl Authenticated {
    pub fn user(&self) -> &UserInfo {
        match self {
            Authenticated::User(u) | Authenticated::Anonymous(u) => u,
        }
    }

    pub fn into_user(self) -> UserInfo {
        match self {
            Authenticated::User(u) | Authenticated::Anonymous(u) => u,
        }
    }
}

/// Add `system:authenticated` unless present (kube-apiserver's group adder).
pub fn with_authenticated_group(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == rbac::SYSTEM_AUTHENTICATED) && user.name != rbac::ANONYMOUS {
        user.groups.push(rbac::SYSTEM_AUTHENTICATED.into());
    }
    user
}

/// The anonymous user.
pub fn anonymous() -> UserInfo {
    UserInfo { name: rbac::ANONYMOUS.into(), groups: vec![rbac::SYSTEM_UNAUTHENTICATED.into()], ..Default::default() }
}

/// Run the chain over a request's credentials.
pub async fn authenticate(
    client_subject: Option<(String, Vec<String>)>,
    authorization: Option<&str>,
    token_authenticators: &[Arc<dyn TokenAuthenticator>],
    allow_anonymous: bool,
) -> Result<Authenticated, Status> {
    if let Some((name, groups)) = client_subject {
        return Ok(Authenticated::User(with_authenticated_group(UserInfo { name, groups, ..Default::default() })));
    }
    if let Some(header) = authorization {
        let token = header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::trim);
        match token {
            Some(token) if !token.is_empty() => {
                for authenticator in token_authenticators {
                    match authenticator.authenticate(token).await {
                        Ok(Some(user)) => return Ok(Authenticated::User(with_authenticated_group(user))),
                        Ok(None) => {}
                        Err(reason) => {
                            tracing::info!(authenticator = authenticator.name(), %reason, "bearer token rejected");
                        }
                    }
                }
                return Err(Status::unauthorized());
            }
            _ => return Err(Status::unauthorized()),
        }
    }
    if allow_anonymous { Ok(Authenticated::Anonymous(anonymous())) } else { Err(Status::unauthorized()) }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()
}

/// What a service-account token is issued for: the account (`namespace/name`, `uid`), the
/// audiences (the server's when empty), how long it is valid, and the object it is bound to
/// (TokenRequest's `boundObjectRef`).
pub struct ServiceAccountToken<'a> {
    pub namespace: &'a str,
    pub name: &'a str,
    pub uid: &'a str,
    pub audiences: &'a [String],
    pub seconds: i64,
    pub bound: Option<Value>,
}

/// The cluster's service-account token signer and verifier (ES256).
pub struct ServiceAccountKey {
    key: EcdsaKeyPair,
    key_id: String,
    pub issuer: String,
    pub audiences: Vec<String>,
}

impl ServiceAccountKey {
    /// A key from its PKCS#8 DER encoding.
    pub fn from_pkcs8(pkcs8: &[u8], issuer: String, audiences: Vec<String>) -> Result<Self, String> {
        let rng = ring::rand::SystemRandom::new();
        let key = EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| format!("invalid service-account signing key: {e}"))?;
        let digest = ring::digest::digest(&ring::digest::SHA256, key.public_key().as_ref());
        let key_id = b64(&digest.as_ref()[..20]);
        Ok(ServiceAccountKey { key, key_id, issuer, audiences })
    }

    /// A new PKCS#8 DER key.
    pub fn generate_pkcs8() -> Vec<u8> {
        let rng = ring::rand::SystemRandom::new();
        EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("generating a P-256 key")
            .as_ref()
            .to_vec()
    }

    /// Sign the token `request` asks for, valid from `now`. Returns the token and its expiry.
    pub fn issue(
        &self,
        request: &ServiceAccountToken<'_>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (String, chrono::DateTime<chrono::Utc>) {
        let ServiceAccountToken { namespace, name, uid, audiences, seconds, bound } = request;
        let audiences = if audiences.is_empty() { self.audiences.clone() } else { audiences.to_vec() };
        let exp = now + chrono::Duration::seconds(*seconds);
        let mut kubernetes = json!({"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}});
        if let Some(bound) = bound.as_ref() {
            kubernetes[bound["kind"].as_str().unwrap_or("pod").to_ascii_lowercase()] =
                json!({"name": bound["name"], "uid": bound["uid"]});
        }
        let claims = json!({
            "aud": audiences,
            "exp": exp.timestamp(),
            "iat": now.timestamp(),
            "iss": self.issuer,
            "jti": uuid::Uuid::new_v4().to_string(),
            "kubernetes.io": kubernetes,
            "nbf": now.timestamp(),
            "sub": format!("system:serviceaccount:{namespace}:{name}"),
        });
        let header = json!({"alg": "ES256", "kid": self.key_id});
        let signing_input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let rng = ring::rand::SystemRandom::new();
        let sig = self.key.sign(&rng, signing_input.as_bytes()).expect("ECDSA signing");
        (format!("{signing_input}.{}", b64(sig.as_ref())), exp)
    }

    /// The claims of a token this key signed, if its signature, issuer, audience and validity
    /// period check out at `now`.
    pub fn verify(&self, token: &str, now: chrono::DateTime<chrono::Utc>) -> Result<Option<Value>, String> {
        let parts: Vec<&str> = token.split('.').collect();
        let [header, claims, sig] = parts.as_slice() else { return Ok(None) };
        let Some(header) = unb64(header).and_then(|h| serde_json::from_slice::<Value>(&h).ok()) else {
            return Ok(None);
        };
        if header.get("alg").and_then(Value::as_str) != Some("ES256") {
            return Ok(None);
        }
        let Some(claims_json) = unb64(claims).and_then(|c| serde_json::from_slice::<Value>(&c).ok()) else {
            return Ok(None);
        };
        if claims_json.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return Ok(None);
        }
        let sig = unb64(sig).ok_or("malformed signature")?;
        let public =
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, self.key.public_key().as_ref());
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
            .map_err(|_| "invalid signature".to_string())?;
        let exp = claims_json.get("exp").and_then(Value::as_i64).unwrap_or(0);
        let nbf = claims_json.get("nbf").and_then(Value::as_i64).unwrap_or(0);
        if now.timestamp() >= exp {
            return Err("token has expired".into());
        }
        if now.timestamp() + 60 < nbf {
            return Err("token is not valid yet".into());
        }
        let audiences: Vec<&str> = match claims_json.get("aud") {
            Some(Value::String(a)) => vec![a.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !audiences.iter().any(|a| self.audiences.iter().any(|b| b == a)) {
            return Err("token audiences are not accepted".into());
        }
        Ok(Some(claims_json))
    }
}

/// The built-in authenticator of the cluster's service-account tokens.
pub struct ServiceAccountAuthenticator {
    pub key: Arc<ServiceAccountKey>,
    pub objects: ObjectStore,
    pub serviceaccounts: Arc<ResourceDef>,
}

#[async_trait]
impl TokenAuthenticator for ServiceAccountAuthenticator {
    fn name(&self) -> &str {
        "serviceaccount"
    }

    async fn authenticate(&self, token: &str) -> Result<Option<UserInfo>, String> {
        let Some(claims) = self.key.verify(token, chrono::Utc::now())? else { return Ok(None) };
        let namespace = claims.pointer("/kubernetes.io/namespace").and_then(Value::as_str).unwrap_or_default();
        let name = claims.pointer("/kubernetes.io/serviceaccount/name").and_then(Value::as_str).unwrap_or_default();
        let uid = claims.pointer("/kubernetes.io/serviceaccount/uid").and_then(Value::as_str).unwrap_or_default();
        let key = self.objects.key(&self.serviceaccounts, namespace, name);
        let sa = self.objects.get(&key).await.map_err(|s| s.message)?;
        match sa {
            Some(sa) if kube_core::meta::uid(&sa.object) == uid => {}
            _ => return Err(format!("service account {namespace}/{name} has been deleted")),
        }
        let mut extra = std::collections::BTreeMap::new();
        if let Some(jti) = claims.get("jti").and_then(Value::as_str) {
            extra.insert("authentication.kubernetes.io/credential-id".to_string(), vec![format!("JTI={jti}")]);
        }
        Ok(Some(UserInfo {
            name: format!("system:serviceaccount:{namespace}:{name}"),
            uid: uid.to_string(),
            groups: vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{namespace}")],
            extra,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;

    #[async_trait]
    impl TokenAuthenticator for Fixed {
        fn name(&self) -> &str {
            "fixed"
        }
        async fn authenticate(&self, token: &str) -> Result<Option<UserInfo>, String> {
            match token {
                "good" => Ok(Some(UserInfo { name: "jane".into(), groups: vec!["dev".into()], ..Default::default() })),
                "k8s-aws-v1.bad" => Err("bad signature".into()),
                _ => Ok(None),
            }
        }
    }

    #[tokio::test]
    async fn the_chain_orders_certificates_tokens_anonymous() {
        let chain: Vec<Arc<dyn TokenAuthenticator>> = vec![Arc::new(Fixed)];
        let cert = authenticate(
            Some(("kubernetes-admin".into(), vec!["system:masters".into()])),
            Some("Bearer good"),
            &chain,
            false,
        )
        .await
        .unwrap();
        assert_eq!(cert.user().groups, vec!["system:masters", "system:authenticated"]);
        let token = authenticate(None, Some("Bearer good"), &chain, false).await.unwrap();
        assert_eq!(token.user().name, "jane");
        assert_eq!(authenticate(None, Some("Bearer k8s-aws-v1.bad"), &chain, true).await.unwrap_err().code, 401);
        assert_eq!(authenticate(None, Some("Bearer unknown"), &chain, true).await.unwrap_err().code, 401);
        let anon = authenticate(None, None, &chain, true).await.unwrap();
        assert_eq!(anon, Authenticated::Anonymous(anonymous()));
        assert_eq!(authenticate(None, None, &chain, false).await.unwrap_err().message, "Unauthorized");
    }

    #[test]
    fn service_account_tokens_verify_only_when_genuine() {
        let pkcs8 = ServiceAccountKey::generate_pkcs8();
        let issuer = "https://kubernetes.default.svc".to_string();
        let key = ServiceAccountKey::from_pkcs8(&pkcs8, issuer.clone(), vec![issuer.clone()]).unwrap();
        let now = chrono::Utc::now();
        let builder = |audiences, seconds| ServiceAccountToken {
            namespace: "default",
            name: "builder",
            uid: "uid-1",
            audiences,
            seconds,
            bound: None,
        };
        let (token, exp) = key.issue(&builder(&[], 3600), now);
        assert_eq!(exp.timestamp() - now.timestamp(), 3600);
        let claims = key.verify(&token, now).unwrap().unwrap();
        assert_eq!(claims["sub"], "system:serviceaccount:default:builder");
        assert!(key.verify(&token, now + chrono::Duration::seconds(3601)).is_err(), "expired");
        let other =
            ServiceAccountKey::from_pkcs8(&ServiceAccountKey::generate_pkcs8(), issuer.clone(), vec![issuer]).unwrap();
        assert!(other.verify(&token, now).is_err(), "another key's signature");
        assert_eq!(key.verify("not-a-jwt", now).unwrap(), None);
        let (other_aud, _) = key.issue(&builder(&["vault".to_string()], 60), now);
        assert!(key.verify(&other_aud, now).is_err());
    }
}

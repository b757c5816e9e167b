//! Signing keys: SigV4's four-HMAC derivation from a secret access key and a credential scope,
//! and a cache of derived keys so a warm verification costs one HMAC instead of five. A derived
//! key keeps its HMAC keyed state (the inner and outer pads already hashed), so each signature
//! starts from a clone of it instead of hashing the two pad blocks again.

use std::collections::HashMap;
use std::sync::Mutex;

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// A key derived for one (secret, date, region, service): `kSigning` in AWS's documentation.
#[derive(Clone)]
pub struct SigningKey {
    /// HMAC-SHA256 keyed with `kSigning`, nothing hashed yet.
    keyed: HmacSha256,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(..)")
    }
}

impl SigningKey {
    /// `kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")`.
    pub fn derive(secret_access_key: &str, date: &str, region: &str, service: &str) -> Self {
        let mut seed = Vec::with_capacity(4 + secret_access_key.len());
        seed.extend_from_slice(b"AWS4");
        seed.extend_from_slice(secret_access_key.as_bytes());
        let k_date = hmac(&seed, date.as_bytes());
        let k_region = hmac(&k_date, region.as_bytes());
        let k_service = hmac(&k_region, service.as_bytes());
        let k_signing = hmac(&k_service, b"aws4_request");
        SigningKey { keyed: HmacSha256::new_from_slice(&k_signing).expect("HMAC takes keys of any length") }
    }

    /// The raw signature of `string_to_sign`, which may come in pieces.
    pub(crate) fn signature_of<'a>(&self, string_to_sign: impl IntoIterator<Item = &'a [u8]>) -> [u8; 32] {
        let mut mac = self.keyed.clone();
        for piece in string_to_sign {
            mac.update(piece);
        }
        mac.finalize().into_bytes().into()
    }

    /// The lower-case hex signature of `string_to_sign`.
    pub fn sign(&self, string_to_sign: &str) -> String {
        crate::canonical::hex_lower(&self.signature_of([string_to_sign.as_bytes()]))
    }

    /// Whether `signature` (hex, as the client sent it) is the signature of `string_to_sign`,
    /// compared in constant time.
    pub fn verify(&self, string_to_sign: &str, signature: &str) -> bool {
        self.verify_pieces([string_to_sign.as_bytes()], signature)
    }

    /// [`SigningKey::verify`] of a string to sign given in pieces.
    pub(crate) fn verify_pieces<'a>(
        &self,
        string_to_sign: impl IntoIterator<Item = &'a [u8]>,
        signature: &str,
    ) -> bool {
        let mut expected = [0u8; 64];
        crate::canonical::hex_lower_into(&self.signature_of(string_to_sign), &mut expected);
        expected.len() == signature.len() && bool::from(expected.as_slice().ct_eq(signature.as_bytes()))
    }
}

/// How many derived keys the cache holds before it starts over. A key is good for one day, one
/// region and one service, so this covers thousands of active access keys.
const CACHE_CAPACITY: usize = 4096;

/// A thread-safe cache of derived signing keys, keyed by the credential (access key id and
/// scope) and checked against the secret it was derived from, so a changed secret is never
/// served a stale key.
#[derive(Default)]
pub struct SigningKeyCache {
    entries: Mutex<HashMap<String, (Box<str>, SigningKey)>>,
}

impl std::fmt::Debug for SigningKeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyCache").field("entries", &self.len()).finish()
    }
}

impl SigningKeyCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The signing key for `credential` (`AKID/date/region/service/aws4_request`, the cache key)
    /// derived from `secret_access_key` for the given scope parts.
    pub fn get(
        &self,
        credential: &str,
        secret_access_key: &str,
        date: &str,
        region: &str,
        service: &str,
    ) -> SigningKey {
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some((secret, key)) = entries.get(credential)
            && **secret == *secret_access_key
        {
            return key.clone();
        }
        let key = SigningKey::derive(secret_access_key, date, region, service);
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        entries.insert(credential.to_string(), (secret_access_key.into(), key.clone()));
        key
    }

    /// How many keys are cached.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivation_matches_aws_documentation_example() {
        // The example of AWS's "Examples of how to derive a signing key for Signature Version 4".
        let key = SigningKey::derive("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam");
        // The signature of the empty string under it is HMAC(kSigning, "") as any HMAC computes it.
        let hex = "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d";
        let k_signing: Vec<u8> =
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        assert_eq!(key.sign(""), crate::canonical::hex_lower(&hmac(&k_signing, b"")));
        assert_eq!(key.sign("to sign"), crate::canonical::hex_lower(&hmac(&k_signing, b"to sign")));
        // The keyed state is reused: signing twice gives the same answer.
        assert_eq!(key.sign("to sign"), key.sign("to sign"));
    }

    #[test]
    fn verify_accepts_only_the_exact_signature() {
        let key = SigningKey::derive("secret", "20261128", "us-east-1", "sts");
        let signature = key.sign("to sign");
        assert!(key.verify("to sign", &signature));
        assert!(!key.verify("to sign!", &signature));
        assert!(!key.verify("to sign", &signature[..63]));
        assert!(!key.verify("to sign", &signature.to_uppercase()));
    }

    #[test]
    fn cache_never_serves_a_key_for_another_secret() {
        let cache = SigningKeyCache::new();
        let credential = "AKID/20261128/us-east-1/sts/aws4_request";
        let first = cache.get(credential, "one", "20261128", "us-east-1", "sts");
        assert_eq!(cache.len(), 1);
        let again = cache.get(credential, "one", "20261128", "us-east-1", "sts");
        assert_eq!(first.sign("x"), again.sign("x"));
        let other = cache.get(credential, "two", "20261128", "us-east-1", "sts");
        assert_ne!(first.sign("x"), other.sign("x"));
        assert_eq!(other.sign("x"), SigningKey::derive("two", "20261128", "us-east-1", "sts").sign("x"));
    }
}

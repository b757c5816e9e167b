//! Identifiers as AWS forms them: a four-letter prefix that says what the entity is, then
//! characters of the base-32 alphabet AWS uses (`A-Z2-7`); secrets and session tokens.

use rand::Rng;

/// What an identifier names; the prefix AWS gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdKind {
    /// A long-term access key (`AKIA…`, 20 characters).
    AccessKey,
    /// A temporary (session) access key (`ASIA…`, 20 characters).
    SessionKey,
    /// A user's unique id (`AIDA…`, 21 characters).
    User,
    /// A role's unique id (`AROA…`, 21 characters).
    Role,
    /// A group's unique id (`AGPA…`, 21 characters).
    Group,
    /// A managed policy's unique id (`ANPA…`, 21 characters).
    Policy,
}

impl IdKind {
    fn prefix(self) -> &'static str {
        match self {
            IdKind::AccessKey => "AKIA",
            IdKind::SessionKey => "ASIA",
            IdKind::User => "AIDA",
            IdKind::Role => "AROA",
            IdKind::Group => "AGPA",
            IdKind::Policy => "ANPA",
        }
    }

    fn length(self) -> usize {
        match self {
            IdKind::AccessKey | IdKind::SessionKey => 20,
            _ => 21,
        }
    }
}

const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn random_text(rng: &mut (impl Rng + ?Sized), alphabet: &[u8], length: usize) -> String {
    (0..length).map(|_| alphabet[rng.random_range(0..alphabet.len())] as char).collect()
}

/// A new identifier of `kind`.
pub fn generate(kind: IdKind, rng: &mut (impl Rng + ?Sized)) -> String {
    let mut id = kind.prefix().to_string();
    id.push_str(&random_text(rng, BASE32, kind.length() - 4));
    id
}

/// A new secret access key: 40 characters of the base-64 alphabet.
pub fn secret_access_key(rng: &mut (impl Rng + ?Sized)) -> String {
    random_text(rng, SECRET_ALPHABET, 40)
}

/// A new opaque session token, shaped like today's STS tokens (`IQoJb3JpZ2lu…`).
pub fn session_token(rng: &mut (impl Rng + ?Sized)) -> String {
    let mut token = "IQoJb3JpZ2luX2Vj".to_string();
    token.push_str(&random_text(rng, SECRET_ALPHABET, 344));
    token
}

/// Whether `id` looks like an access key id (`AKIA`/`ASIA` + 16 base-32 characters); fixed ids
/// from a config file may use any upper-case letters and digits.
pub fn is_access_key_id(id: &str) -> bool {
    (16..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_aws_prefixes_lengths_and_alphabet() {
        let mut rng = rand::rng();
        for (kind, prefix, length) in [
            (IdKind::AccessKey, "AKIA", 20),
            (IdKind::SessionKey, "ASIA", 20),
            (IdKind::User, "AIDA", 21),
            (IdKind::Role, "AROA", 21),
            (IdKind::Group, "AGPA", 21),
            (IdKind::Policy, "ANPA", 21),
        ] {
            let id = generate(kind, &mut rng);
            assert!(id.starts_with(prefix), "{id}");
            assert_eq!(id.len(), length);
            assert!(id.bytes().all(|b| BASE32.contains(&b)), "{id}");
        }
        assert_ne!(generate(IdKind::User, &mut rng), generate(IdKind::User, &mut rng));
        let secret = secret_access_key(&mut rng);
        assert_eq!(secret.len(), 40);
        assert!(is_access_key_id(&generate(IdKind::AccessKey, &mut rng)));
        assert!(!is_access_key_id("akia-lower"));
        assert!(session_token(&mut rng).starts_with("IQoJb3JpZ2lu"));
    }
}

//! Secrets at rest: every secret access key and session token is sealed with ChaCha20-Poly1305
//! under a 256-bit key kept in a file of the data directory (mode 0600) before it reaches the
//! store.
//!
//! The nonce is synthetic — the first 96 bits of an HMAC-SHA256 of the plaintext under a second
//! key — so sealing is deterministic: an entity whose secret did not change serializes to the
//! same bytes and is not rewritten. Opening checks that synthetic nonce again. The cost is that
//! equal secrets seal equally, which reveals nothing here (secrets are random and unique).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};

use crate::error::AwsError;

const KEY_FILE_LEN: usize = 64;
const PREFIX: &str = "sealed:v1:";

/// Seals secrets with the data directory's key.
pub struct KeyFileSealer {
    aead: LessSafeKey,
    mac: hmac::Key,
}

impl KeyFileSealer {
    /// Reads the key file at `path`, or creates it (mode 0600) with a fresh random key.
    pub fn open_or_create(path: &Path) -> Result<Self, AwsError> {
        let io = |what: &str, err: std::io::Error| AwsError::Io(format!("{what} {}: {err}", path.display()));
        if path.exists() {
            let text = std::fs::read_to_string(path).map_err(|err| io("cannot read the key file", err))?;
            let bytes = hex::decode(text.trim()).ok().filter(|bytes| bytes.len() == KEY_FILE_LEN).ok_or_else(|| {
                AwsError::Io(format!("the key file {} is not {KEY_FILE_LEN} hex-encoded bytes", path.display()))
            })?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .map_err(|err| io("cannot restrict the key file", err))?;
            return Ok(Self::from_bytes(&bytes));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|err| io("cannot create the directory of", err))?;
        }
        let mut bytes = [0u8; KEY_FILE_LEN];
        SystemRandom::new().fill(&mut bytes).map_err(|_| AwsError::Io("the system has no randomness".into()))?;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|err| io("cannot create the key file", err))?;
        file.write_all(format!("{}\n", hex::encode(bytes)).as_bytes())
            .map_err(|err| io("cannot write the key file", err))?;
        file.sync_all().map_err(|err| io("cannot write the key file", err))?;
        Ok(Self::from_bytes(&bytes))
    }

    fn from_bytes(bytes: &[u8]) -> Self {
        let aead = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &bytes[..32]).expect("a 32-byte key"));
        KeyFileSealer { aead, mac: hmac::Key::new(hmac::HMAC_SHA256, &bytes[32..]) }
    }

    fn nonce(&self, plaintext: &[u8]) -> [u8; NONCE_LEN] {
        let tag = hmac::sign(&self.mac, plaintext);
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&tag.as_ref()[..NONCE_LEN]);
        nonce
    }
}

impl iam::persist::Sealer for KeyFileSealer {
    fn seal(&self, plaintext: &str) -> String {
        let nonce = self.nonce(plaintext.as_bytes());
        let mut data = plaintext.as_bytes().to_vec();
        self.aead
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .expect("sealing a short secret cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!("{PREFIX}{}", STANDARD.encode(out))
    }

    fn open(&self, sealed: &str) -> Option<String> {
        let bytes = STANDARD.decode(sealed.strip_prefix(PREFIX)?).ok()?;
        if bytes.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let mut data = ciphertext.to_vec();
        let nonce: [u8; NONCE_LEN] = nonce.try_into().ok()?;
        let plaintext = self.aead.open_in_place(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data).ok()?;
        (self.nonce(plaintext) == nonce).then(|| String::from_utf8(plaintext.to_vec()).ok()).flatten()
    }
}

#[cfg(test)]
mod tests {
    use iam::persist::Sealer;

    use super::*;

    #[test]
    fn seals_deterministically_opens_only_with_its_key_and_keeps_the_file_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("aws").join("sealing.key");
        let sealer = KeyFileSealer::open_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = sealer.seal("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY");
        assert!(!sealed.contains("wJalrXUtnFEMI"));
        assert_eq!(sealed, sealer.seal("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
        assert_ne!(sealed, sealer.seal("another secret"));
        let again = KeyFileSealer::open_or_create(&path).unwrap();
        assert_eq!(again.open(&sealed).as_deref(), Some("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"));
        let other = KeyFileSealer::open_or_create(&dir.path().join("other.key")).unwrap();
        assert_eq!(other.open(&sealed), None);
        let mut tampered = sealed.clone();
        tampered.replace_range(sealed.len() - 3..sealed.len() - 2, if sealed.ends_with("A==") { "B" } else { "A" });
        assert_eq!(sealer.open(&tampered), None);
    }
}

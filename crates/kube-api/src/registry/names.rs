//! Generated names and identifiers: `generateName` suffixes (`utilrand.String(5)`'s alphabet,
//! which avoids vowels and look-alike characters) and object UIDs.

use rand::Rng as _;

const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// Five random characters, as kube-apiserver appends to a `generateName`.
pub fn random_suffix() -> String {
    let mut rng = rand::rng();
    (0..5).map(|_| ALPHANUMS[rng.random_range(0..ALPHANUMS.len())] as char).collect()
}

/// A new object UID.
pub fn uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// `generateName` plus a suffix, truncated as `names.SimpleNameGenerator` does (at most 63
/// characters of prefix before the 5-character suffix).
pub fn generate(prefix: &str) -> String {
    const MAX_PREFIX: usize = 63 - 5;
    let prefix = if prefix.len() > MAX_PREFIX { &prefix[..MAX_PREFIX] } else { prefix };
    format!("{prefix}{}", random_suffix())
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_names_use_the_alphabet() {
        let name = super::generate("web-");
        assert_eq!(name.len(), 9);
        assert!(name[4..].bytes().all(|c| super::ALPHANUMS.contains(&c)));
        assert_ne!(super::uid(), super::uid());
    }
}

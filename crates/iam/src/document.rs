//! A stored policy document: the text exactly as the caller sent it (IAM returns it verbatim,
//! URL-encoded) together with its parsed form, so evaluation never re-parses. Serialized as the
//! text alone and parsed again when loaded.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::{IamError, Result};
use crate::policy::{PolicyDocument, PolicyKind};

/// A policy document of one kind: `Document<false>` for identity-based policies,
/// `Document<true>` for trust policies. Cloning is cheap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Document<const TRUST: bool> {
    text: Arc<str>,
    parsed: Arc<PolicyDocument>,
}

/// An identity-based (or session) policy document.
pub type IdentityDocument = Document<false>;
/// A role's trust policy document.
pub type TrustDocument = Document<true>;

impl<const TRUST: bool> Document<TRUST> {
    const KIND: PolicyKind = if TRUST { PolicyKind::Trust } else { PolicyKind::Identity };

    /// Parses and validates `text`.
    pub fn parse(text: &str) -> Result<Self> {
        let parsed = PolicyDocument::parse(text, Self::KIND)?;
        Ok(Document { text: text.into(), parsed: Arc::new(parsed) })
    }

    /// The document as the caller sent it.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn parsed(&self) -> &PolicyDocument {
        &self.parsed
    }

    /// The size IAM counts against quotas: the characters of the document without whitespace.
    pub fn size(&self) -> usize {
        self.text.chars().filter(|c| !c.is_whitespace()).count()
    }

    /// Fails with `LimitExceeded` when the document is larger than `limit`.
    pub fn check_size(&self, limit: usize, message: impl FnOnce() -> String) -> Result<()> {
        if self.size() > limit { Err(IamError::LimitExceeded(message())) } else { Ok(()) }
    }
}

impl<const TRUST: bool> Serialize for Document<TRUST> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<'de, const TRUST: bool> Deserialize<'de> for Document<TRUST> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Document::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_as_their_text() {
        let text =
            r#"{ "Version": "2012-10-17", "Statement": { "Effect": "Allow", "Action": "s3:*", "Resource": "*" } }"#;
        let document = IdentityDocument::parse(text).unwrap();
        let json = serde_json::to_string(&document).unwrap();
        let back: IdentityDocument = serde_json::from_str(&json).unwrap();
        assert_eq!(back.text(), text);
        assert_eq!(back.parsed().statements.len(), 1);
        assert_eq!(document.size(), text.chars().filter(|c| !c.is_whitespace()).count());
        assert!(TrustDocument::parse(text).is_err(), "a trust policy needs a principal");
    }
}

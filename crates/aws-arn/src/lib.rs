//! Amazon Resource Names, `arn:partition:service:region:account-id:resource`, split as
//! `aws-sdk-go`'s `arn.Parse` splits them (aws-iam-authenticator's parser): the `arn:` prefix,
//! then five `:`-separated sections, the last of which may itself hold colons. Nothing is
//! validated beyond that; each caller judges the sections it cares about.
//!
//! Its own crate because two pure crates read ARNs and neither sits below the other: `iam`
//! (policy resources, trust principals, `AssumeRole`) and `eks-auth` (aws-iam-authenticator's
//! canonicalization of STS identities and EKS's access-entry principals, built on this split).
//! Forming ARNs stays with the service that issues them (`iam::arn`).

/// Why a text is not an ARN; `Display` is `aws-sdk-go`'s message, which aws-iam-authenticator
/// quotes in its errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArnError {
    /// The text does not start with `arn:`.
    #[error("arn: invalid prefix")]
    InvalidPrefix,
    /// Fewer than six `:`-separated sections.
    #[error("arn: not enough sections")]
    NotEnoughSections,
}

/// An ARN split into its sections, borrowed from the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account_id: &'a str,
    /// Everything after the fifth `:` (`user/dev/alice`, `assumed-role/R/session`, `root`).
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits `text`, or says why it is not an ARN.
    pub fn parse(text: &'a str) -> Result<Self, ArnError> {
        let rest = text.strip_prefix("arn:").ok_or(ArnError::InvalidPrefix)?;
        let mut sections = rest.splitn(5, ':');
        let mut next = || sections.next().ok_or(ArnError::NotEnoughSections);
        Ok(Arn { partition: next()?, service: next()?, region: next()?, account_id: next()?, resource: next()? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_into_six_sections_the_last_keeping_its_colons() {
        let arn = Arn::parse("arn:aws:eks:us-east-1:123456789012:access-entry/demo/role/x:y").unwrap();
        assert_eq!(
            arn,
            Arn {
                partition: "aws",
                service: "eks",
                region: "us-east-1",
                account_id: "123456789012",
                resource: "access-entry/demo/role/x:y",
            }
        );
        let arn = Arn::parse("arn:aws-cn:iam::1:root").unwrap();
        assert_eq!((arn.partition, arn.region, arn.resource), ("aws-cn", "", "root"));
        // Empty sections are sections.
        assert_eq!(Arn::parse("arn:::::").unwrap().resource, "");
    }

    #[test]
    fn refuses_with_aws_sdk_go_messages() {
        assert_eq!(Arn::parse("urn:aws:iam::1:root"), Err(ArnError::InvalidPrefix));
        assert_eq!(Arn::parse("arn"), Err(ArnError::InvalidPrefix));
        assert_eq!(Arn::parse("arn:aws:iam::1"), Err(ArnError::NotEnoughSections));
        assert_eq!(ArnError::InvalidPrefix.to_string(), "arn: invalid prefix");
        assert_eq!(ArnError::NotEnoughSections.to_string(), "arn: not enough sections");
    }
}

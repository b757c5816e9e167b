//! The configuration file of `rampart serve --config FILE` (YAML), read once at start.
//!
//! Each part of Rampart owns its section. `aws:` declares identities — accounts, users, groups,
//! roles, managed and inline policies, access keys with fixed ids and secrets — applied
//! idempotently at every start (see `docs/iam.md` and `iam::spec`). `etcd:` names the etcd
//! cluster to keep state in, as the `--etcd-*` flags do (the flags win). Unknown sections and fields
//! are refused, so a typo is an error rather than a silently ignored setting.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::Deserialize;

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Identities to declare in IAM.
    #[serde(default)]
    pub aws: Option<iam::spec::AwsSpec>,
    /// Where state is kept when not in the embedded store.
    #[serde(default)]
    pub etcd: Option<EtcdConfig>,
}

/// The `etcd:` section: kube-apiserver's `--etcd-servers`, `--etcd-cafile`, `--etcd-certfile`,
/// `--etcd-keyfile`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EtcdConfig {
    /// Client URLs of the etcd members.
    pub servers: Vec<String>,
    pub cafile: Option<PathBuf>,
    pub certfile: Option<PathBuf>,
    pub keyfile: Option<PathBuf>,
}

impl Config {
    /// Reads `path`, or the empty configuration when there is none.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else { return Ok(Config::default()) };
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the configuration file {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("invalid configuration file {}", path.display()))
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        Ok(serde_saphyr::from_str(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_etcd_section_names_servers_and_tls_files() {
        let config =
            Config::parse("etcd:\n  servers: [https://10.0.0.1:2379, https://10.0.0.2:2379]\n  cafile: ca.pem\n")
                .unwrap();
        let etcd = config.etcd.unwrap();
        assert_eq!(etcd.servers, ["https://10.0.0.1:2379", "https://10.0.0.2:2379"]);
        assert_eq!(etcd.cafile, Some(PathBuf::from("ca.pem")));
        assert!(Config::parse("etcd:\n  endpoints: [x]\n").is_err(), "a misspelt key is refused");
    }

    #[test]
    fn identities_parse_from_yaml_with_documents_as_mappings_or_text() {
        let config = Config::parse(
            r#"
aws:
  accounts:
    - id: "111122223333"
      users:
        - name: alice
          path: /dev/
          groups: [developers]
          tags: {team: blue}
          accessKeys:
            - id: AKIAALICEEXAMPLE0001
              secret: alice-secret
      groups:
        - name: developers
          policies: [ReadOnlyAccess]
      roles:
        - name: EKSAdmins
          assumeRolePolicy:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Principal: {AWS: "arn:aws:iam::111122223333:user/dev/alice"}
                Action: sts:AssumeRole
          inlinePolicies:
            eks: '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"eks:*","Resource":"*"}}'
"#,
        )
        .unwrap();
        let aws = config.aws.unwrap();
        let account = &aws.accounts[0];
        assert_eq!(account.id, "111122223333");
        assert_eq!(account.users[0].access_keys[0].secret, "alice-secret");
        let trust = iam::TrustDocument::parse(&match &account.roles[0].assume_role_policy {
            iam::spec::DocumentSpec::Object(value) => value.to_string(),
            iam::spec::DocumentSpec::Text(text) => text.clone(),
        });
        assert!(trust.is_ok(), "{trust:?}");
        assert!(matches!(account.roles[0].inline_policies["eks"], iam::spec::DocumentSpec::Text(_)));
    }

    #[test]
    fn typos_are_errors_and_no_file_is_no_configuration() {
        let err = Config::parse("aws:\n  acounts: []\n").unwrap_err();
        assert!(format!("{err:#}").contains("acounts"), "{err:#}");
        assert!(Config::parse("").unwrap().aws.is_none());
        assert!(Config::load(None).unwrap().aws.is_none());
    }
}

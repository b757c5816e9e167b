//! Authentication modes (`accessConfig.authenticationMode`): which sources of identities count
//! and the one-way road between them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Where EKS looks for a caller's Kubernetes identity.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuthenticationMode {
    /// Only the aws-auth ConfigMap (and the cluster creator's hidden mapping). The default of
    /// the API and of `aws eks create-cluster`.
    #[default]
    #[serde(rename = "CONFIG_MAP")]
    ConfigMap,
    /// Access entries first, then the aws-auth ConfigMap.
    #[serde(rename = "API_AND_CONFIG_MAP")]
    ApiAndConfigMap,
    /// Only access entries; aws-auth is ignored.
    #[serde(rename = "API")]
    Api,
}

impl AuthenticationMode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthenticationMode::ConfigMap => "CONFIG_MAP",
            AuthenticationMode::ApiAndConfigMap => "API_AND_CONFIG_MAP",
            AuthenticationMode::Api => "API",
        }
    }

    /// Whether access entries count (and the access-entry APIs may be used).
    pub fn uses_access_entries(self) -> bool {
        self != AuthenticationMode::ConfigMap
    }

    /// Whether the aws-auth ConfigMap counts.
    pub fn uses_config_map(self) -> bool {
        self != AuthenticationMode::Api
    }

    /// Fails, as the access-entry APIs do, unless access entries are enabled.
    pub fn require_access_entries(self) -> Result<(), Error> {
        if self.uses_access_entries() {
            Ok(())
        } else {
            Err(Error::InvalidRequest(
                "The cluster's authentication mode must be set to one of [API, API_AND_CONFIG_MAP] to perform this \
                 operation."
                    .to_string(),
            ))
        }
    }

    /// Checks `UpdateClusterConfig`'s change of mode: only CONFIG_MAP → API_AND_CONFIG_MAP → API,
    /// one step at a time, never back.
    pub fn check_transition(self, to: AuthenticationMode) -> Result<(), Error> {
        use AuthenticationMode::*;
        match (self, to) {
            (ConfigMap, ApiAndConfigMap) | (ApiAndConfigMap, Api) => Ok(()),
            (from, to) => {
                Err(Error::InvalidParameter(format!("Unsupported authentication mode update from {from} to {to}.")))
            }
        }
    }

    /// Checks `CreateCluster`'s access configuration.
    pub fn check_create(self, bootstrap_cluster_creator_admin_permissions: bool) -> Result<(), Error> {
        if self == AuthenticationMode::ConfigMap && !bootstrap_cluster_creator_admin_permissions {
            return Err(Error::InvalidParameter(
                "bootstrapClusterCreatorAdminPermissions must be true if cluster authentication mode is set to \
                 CONFIG_MAP"
                    .to_string(),
            ));
        }
        Ok(())
    }
}

impl fmt::Display for AuthenticationMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthenticationMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "CONFIG_MAP" => Ok(AuthenticationMode::ConfigMap),
            "API_AND_CONFIG_MAP" => Ok(AuthenticationMode::ApiAndConfigMap),
            "API" => Ok(AuthenticationMode::Api),
            _ => Err(Error::InvalidParameter(
                "Invalid authentication mode. Valid values are: CONFIG_MAP, API, API_AND_CONFIG_MAP".to_string(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::AuthenticationMode::*;
    use super::*;

    #[test]
    fn transitions_are_one_way_one_step() {
        assert!(ConfigMap.check_transition(ApiAndConfigMap).is_ok());
        assert!(ApiAndConfigMap.check_transition(Api).is_ok());
        for (from, to) in
            [(Api, ConfigMap), (Api, ApiAndConfigMap), (ApiAndConfigMap, ConfigMap), (ConfigMap, Api), (Api, Api)]
        {
            let error = from.check_transition(to).unwrap_err();
            assert_eq!(error.to_string(), format!("Unsupported authentication mode update from {from} to {to}."));
            assert_eq!(error.code(), Some("InvalidParameterException"));
        }
    }

    #[test]
    fn sources_by_mode() {
        assert!(ConfigMap.uses_config_map() && !ConfigMap.uses_access_entries());
        assert!(ApiAndConfigMap.uses_config_map() && ApiAndConfigMap.uses_access_entries());
        assert!(!Api.uses_config_map() && Api.uses_access_entries());
        assert_eq!(ConfigMap.require_access_entries().unwrap_err().code(), Some("InvalidRequestException"));
        assert!(Api.require_access_entries().is_ok());
    }

    #[test]
    fn names_parse_and_print() {
        for mode in [ConfigMap, ApiAndConfigMap, Api] {
            assert_eq!(mode.as_str().parse::<AuthenticationMode>().unwrap(), mode);
            assert_eq!(serde_json::to_string(&mode).unwrap(), format!("\"{mode}\""));
        }
        assert_eq!(
            "api".parse::<AuthenticationMode>().unwrap_err().to_string(),
            "Invalid authentication mode. Valid values are: CONFIG_MAP, API, API_AND_CONFIG_MAP"
        );
        assert!(ConfigMap.check_create(false).is_err());
        assert!(Api.check_create(false).is_ok());
    }
}

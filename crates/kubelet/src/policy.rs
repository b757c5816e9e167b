//! Whether the runtime may run local processes at all (`rampart serve --exec=auto|off|local`).
//! Exec and container commands run on the Rampart host as the Rampart user, so by default they
//! are allowed only while every Kubernetes endpoint listens on loopback; a non-loopback
//! listener needs `--exec=local` explicitly. Pure: the listen addresses are arguments.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use crate::error::KubeletError;

/// The `--exec` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecMode {
    /// Local execution while the Kubernetes endpoints listen on loopback only.
    #[default]
    Auto,
    /// Never run local processes.
    Off,
    /// Run local processes whatever the listen address.
    Local,
}

impl FromStr for ExecMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(Self::Auto),
            "off" => Ok(Self::Off),
            "local" => Ok(Self::Local),
            other => Err(format!("invalid exec mode {other:?}: use auto, off or local")),
        }
    }
}

impl fmt::Display for ExecMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Off => "off",
            Self::Local => "local",
        })
    }
}

/// The decision, made once at startup and given to [`crate::Runtime::new`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecPolicy {
    /// `None` when local execution is allowed; otherwise why not, in words for the user.
    refusal: Option<String>,
}

impl ExecPolicy {
    /// Decides for `mode` given the addresses the Kubernetes endpoints listen on.
    pub fn decide(mode: ExecMode, kube_listen: &[SocketAddr]) -> Self {
        let refusal = match mode {
            ExecMode::Local => None,
            ExecMode::Off => Some("local exec is turned off on this server (rampart serve --exec=off)".to_string()),
            ExecMode::Auto => kube_listen.iter().find(|addr| !addr.ip().to_canonical().is_loopback()).map(|addr| {
                format!(
                    "local exec is off because the Kubernetes endpoint listens on {addr}, which is not loopback; \
                     start rampart serve with --exec=local to run exec commands as local processes on this host"
                )
            }),
        };
        Self { refusal }
    }

    /// Whether exec sessions and container commands run as local processes.
    pub fn allows_local(&self) -> bool {
        self.refusal.is_none()
    }

    /// Why local execution is not allowed, in words for the user; `None` when it is.
    pub fn refusal(&self) -> Option<&str> {
        self.refusal.as_deref()
    }

    /// `Ok` when local execution is allowed, else the `Forbidden` error to answer an exec with.
    pub fn check(&self) -> Result<(), KubeletError> {
        match &self.refusal {
            None => Ok(()),
            Some(why) => Err(KubeletError::ExecDisabled(why.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(list: &[&str]) -> Vec<SocketAddr> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    #[test]
    fn auto_allows_loopback_only() {
        for loopback in [&["127.0.0.1:6443"][..], &["[::1]:6443"], &["127.0.0.2:1", "[::ffff:127.0.0.1]:2"], &[]] {
            assert!(ExecPolicy::decide(ExecMode::Auto, &addrs(loopback)).allows_local(), "{loopback:?}");
        }
        for exposed in [&["0.0.0.0:6443"][..], &["[::]:6443"], &["127.0.0.1:1", "192.0.2.10:6443"]] {
            let policy = ExecPolicy::decide(ExecMode::Auto, &addrs(exposed));
            assert!(!policy.allows_local(), "{exposed:?}");
            let err = policy.check().unwrap_err();
            assert_eq!((err.http_status(), err.reason()), (403, "Forbidden"));
            assert!(err.to_string().contains("--exec=local"), "{err}");
        }
    }

    #[test]
    fn off_and_local_are_explicit() {
        let off = ExecPolicy::decide(ExecMode::Off, &addrs(&["127.0.0.1:6443"]));
        assert!(!off.allows_local());
        assert!(off.check().unwrap_err().to_string().contains("--exec=off"));
        let local = ExecPolicy::decide(ExecMode::Local, &addrs(&["0.0.0.0:6443"]));
        assert!(local.allows_local());
        assert!(local.check().is_ok());
    }

    #[test]
    fn the_flag_parses_and_prints() {
        for mode in [ExecMode::Auto, ExecMode::Off, ExecMode::Local] {
            assert_eq!(mode.to_string().parse::<ExecMode>(), Ok(mode));
        }
        assert_eq!(ExecMode::default(), ExecMode::Auto);
        assert!("remote".parse::<ExecMode>().unwrap_err().contains("auto, off or local"));
    }
}

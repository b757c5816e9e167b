//! One Query-protocol call (IAM or STS) on its way through its handler: the endpoint, the
//! verified caller, the parameters and the request's environment, with what every handler does
//! with them — authorize on a resource, reach the caller's account, answer in AWS's XML.

use iam::condition::ContextKeys;
use iam::{Caller, RequestEnv};

use crate::api::{AwsApi, authorize};
use crate::error::AwsError;
use crate::params::Params;
use crate::xml::Xml;

/// A Query-protocol call whose signature is verified and whose caller is known.
pub(crate) struct Call<'a> {
    pub api: &'a AwsApi,
    pub caller: Caller,
    pub params: Params,
    pub env: RequestEnv,
    pub action: String,
    pub request_id: String,
}

impl Call<'_> {
    /// The caller's account ID.
    pub fn account(&self) -> String {
        self.caller.account().to_string()
    }

    /// Decides `action` on `resource` for the caller; AWS's AccessDenied when refused.
    pub fn authorize(&self, action: &str, resource: &str) -> Result<(), AwsError> {
        self.authorize_with(action, resource, |_| {})
    }

    /// [`Call::authorize`] with condition keys of the request (`aws:RequestTag/...`) added.
    pub fn authorize_with(
        &self,
        action: &str,
        resource: &str,
        extra: impl FnOnce(&mut ContextKeys),
    ) -> Result<(), AwsError> {
        authorize(&self.api.iam().handle(), &self.caller, &self.env, action, resource, extra)
    }

    /// The response of this call, its result written by `write`.
    pub fn respond(&self, namespace: &str, write: &dyn Fn(&mut Xml)) -> String {
        Xml::response(&self.action, namespace, &self.request_id, Some(write))
    }

    /// The response of a call without output.
    pub fn respond_empty(&self, namespace: &str) -> String {
        Xml::response(&self.action, namespace, &self.request_id, None)
    }
}

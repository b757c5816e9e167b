//! EKS's access-policy authorizer in a cluster's chain, right after `system:masters` and before
//! RBAC: in the API modes, a request allowed by a policy associated with the caller's access
//! entry, within its scope, is allowed with EKS's reason; anything else gets no opinion and goes
//! on to RBAC. The caller is known by the `principalId` and `canonicalArn` extras the EKS
//! authenticator set, so impersonated requests (which carry neither) are left to RBAC, as on EKS.
//! Access policies are not listed by SelfSubjectRulesReview (`kubectl auth can-i --list`), as
//! on EKS.

use std::sync::Arc;

use eks_auth::AccessPolicyDecision;
use kube_api::access::authz::{Authorizer, Decision};
use rbac::Attributes;

use crate::access::AccessState;

pub struct AccessPolicyAuthorizer {
    access: Arc<AccessState>,
}

impl AccessPolicyAuthorizer {
    pub fn new(access: Arc<AccessState>) -> Self {
        AccessPolicyAuthorizer { access }
    }
}

impl Authorizer for AccessPolicyAuthorizer {
    fn name(&self) -> &str {
        "EKSAccessPolicy"
    }

    fn authorize(&self, attributes: &Attributes) -> Decision {
        let snapshot = self.access.snapshot();
        if !snapshot.mode.uses_access_entries() {
            return Decision::NoOpinion(String::new());
        }
        match snapshot.entries.authorize(attributes) {
            AccessPolicyDecision::Allow(reason) => Decision::Allow(reason),
            AccessPolicyDecision::NoOpinion => Decision::NoOpinion(String::new()),
        }
    }
}

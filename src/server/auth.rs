//! Authorisation: verified peer certificate → principal → role → may it call
//! this RPC? Decided in one place, a tower layer that sees each request's
//! method path (tonic interceptors do not).
//!
//! The rule table `permission` lists every RPC the server serves; a path
//! that is not in it is denied (default deny), as is a principal that is not
//! in the policy. Handlers then check object ownership (an agency touches only
//! its own records) using the [`Principal`] this layer puts into the request
//! extensions.

use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tower::{Layer, Service};

use super::tls::PeerIdentity;
use crate::pki::{Policy, Role};

/// The authenticated and authorised caller of one request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// Principal name (certificate common name).
    pub name: String,
    /// Role from the policy.
    pub role: Role,
    /// SHA-256 of the client certificate.
    pub certificate_sha256: [u8; 32],
}

impl Principal {
    /// The agency id when the caller is an agency.
    pub fn agency(&self) -> Option<&str> {
        self.role.agency()
    }
}

/// Who may call an RPC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Permission {
    /// Any client with a certificate from the trusted CA (health checks).
    AnyVerifiedPeer,
    /// Any principal in the policy.
    AnyPrincipal,
    /// Agencies only.
    Agency,
    /// Agencies and the operator.
    AgencyOrOperator,
    /// The analyst only.
    Analyst,
    /// Auditors and the operator.
    AuditorOrOperator,
    /// The operator only.
    Operator,
}

impl Permission {
    fn allows(self, role: &Role) -> bool {
        match self {
            Permission::AnyVerifiedPeer | Permission::AnyPrincipal => true,
            Permission::Agency => matches!(role, Role::Agency(_)),
            Permission::AgencyOrOperator => matches!(role, Role::Agency(_) | Role::Operator),
            Permission::Analyst => matches!(role, Role::Analyst),
            Permission::AuditorOrOperator => matches!(role, Role::Auditor | Role::Operator),
            Permission::Operator => matches!(role, Role::Operator),
        }
    }
}

/// The rule table: who may call each RPC path. `None` = not served (deny).
fn permission(path: &str) -> Option<Permission> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    let rule = match (service, method) {
        ("grpc.health.v1.Health", _) => Permission::AnyVerifiedPeer,
        ("grpc.reflection.v1.ServerReflection", _) => Permission::AnyPrincipal,
        ("veilink.v1.Admin", "WhoAmI") => Permission::AnyPrincipal,
        ("veilink.v1.Admin", "Status") => Permission::Operator,
        ("veilink.v1.Intake", "Submit" | "Withdraw") => Permission::Agency,
        ("veilink.v1.Linkage", "ExportLinkageMap") => Permission::AgencyOrOperator,
        ("veilink.v1.Linkage", "RunJob" | "GetJob" | "ListJobs" | "ExplainModel") => {
            Permission::Operator
        }
        ("veilink.v1.Analysis", "RepeatVictimisation") => Permission::Analyst,
        (
            "veilink.v1.Audit",
            "GetCheckpoint" | "GetEntries" | "GetInclusionProof" | "GetConsistencyProof",
        ) => Permission::AuditorOrOperator,
        _ => return None,
    };
    Some(rule)
}

/// Decides one request: the principal to attach, or the status to answer.
fn authorise(
    policy: &Policy,
    path: &str,
    peer: Option<&PeerIdentity>,
) -> Result<Option<Principal>, Status> {
    let Some(peer) = peer else {
        return Err(Status::unauthenticated("no verified client certificate"));
    };
    let Some(rule) = permission(path) else {
        return Err(Status::permission_denied(format!("{path} is not served")));
    };
    let role = policy.role_of(&peer.common_name);
    if rule == Permission::AnyVerifiedPeer {
        return Ok(role.map(|role| Principal {
            name: peer.common_name.clone(),
            role: role.clone(),
            certificate_sha256: peer.certificate_sha256,
        }));
    }
    let Some(role) = role else {
        return Err(Status::permission_denied(format!(
            "principal {:?} is not in the policy",
            peer.common_name
        )));
    };
    if !rule.allows(role) {
        return Err(Status::permission_denied(format!(
            "role {role} may not call {path}"
        )));
    }
    Ok(Some(Principal {
        name: peer.common_name.clone(),
        role: role.clone(),
        certificate_sha256: peer.certificate_sha256,
    }))
}

/// The tower layer that authorises every request against the policy.
#[derive(Clone)]
pub struct AuthLayer {
    policy: Arc<Policy>,
}

impl AuthLayer {
    /// A layer enforcing `policy`.
    pub fn new(policy: Arc<Policy>) -> AuthLayer {
        AuthLayer { policy }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> AuthService<S> {
        AuthService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

/// The service produced by [`AuthLayer`].
#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    policy: Arc<Policy>,
}

impl<S, B> Service<http::Request<B>> for AuthService<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = futures::future::BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let path = request.uri().path().to_string();
        let decision = authorise(
            &self.policy,
            &path,
            request.extensions().get::<PeerIdentity>(),
        );
        match decision {
            Ok(principal) => {
                if let Some(principal) = principal {
                    request.extensions_mut().insert(principal);
                }
                // Take the service that was polled ready; leave a fresh clone.
                let clone = self.inner.clone();
                let mut ready = std::mem::replace(&mut self.inner, clone);
                Box::pin(async move { ready.call(request).await })
            }
            Err(status) => {
                tracing::info!(%path, code = ?status.code(), message = status.message(), "request refused");
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}

/// The caller of a request that passed [`AuthLayer`].
///
/// # Errors
/// `UNAUTHENTICATED` when the layer attached no principal (never for the
/// veilink services, whose rules all require one).
pub fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("no principal"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every veilink RPC has a rule; unknown paths have none (default deny).
    #[test]
    fn rule_table_covers_the_contract() {
        for path in [
            "/veilink.v1.Intake/Submit",
            "/veilink.v1.Intake/Withdraw",
            "/veilink.v1.Linkage/RunJob",
            "/veilink.v1.Linkage/GetJob",
            "/veilink.v1.Linkage/ListJobs",
            "/veilink.v1.Linkage/ExportLinkageMap",
            "/veilink.v1.Linkage/ExplainModel",
            "/veilink.v1.Analysis/RepeatVictimisation",
            "/veilink.v1.Audit/GetCheckpoint",
            "/veilink.v1.Audit/GetEntries",
            "/veilink.v1.Audit/GetInclusionProof",
            "/veilink.v1.Audit/GetConsistencyProof",
            "/veilink.v1.Admin/WhoAmI",
            "/veilink.v1.Admin/Status",
        ] {
            assert!(permission(path).is_some(), "{path}");
        }
        assert_eq!(permission("/veilink.v1.Admin/Shutdown"), None);
        assert_eq!(permission("/other.Service/Method"), None);
        assert_eq!(permission("nonsense"), None);
    }
}

//! The one mapping from service errors to gRPC status codes.
//!
//! Handlers return [`ServiceError`] and use `?`; the `From` impl below is the
//! only place that decides which gRPC code a failure gets (`DESIGN.md`,
//! "Identities and roles": UNAUTHENTICATED, PERMISSION_DENIED,
//! INVALID_ARGUMENT with record and field, FAILED_PRECONDITION,
//! RESOURCE_EXHAUSTED). Internal failures are logged here with their cause and
//! answered with a generic message, so no store detail reaches a client.

use tonic::Status;

use crate::store::StoreError;

/// A failed RPC.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The request is malformed; the message names the record index and field.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request is valid but the service is not in a state to do it.
    #[error("{0}")]
    FailedPrecondition(String),
    /// The request exceeds a configured limit.
    #[error("{0}")]
    ResourceExhausted(String),
    /// The caller may not do this.
    #[error("{0}")]
    PermissionDenied(String),
    /// The named object does not exist (only ever said to the operator).
    #[error("{0}")]
    NotFound(String),
    /// The service cannot take the request now (writes stopped, no checkpoint yet).
    #[error("{0}")]
    Unavailable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Anything else that is the server's fault.
    #[error("{0}")]
    Internal(String),
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Status {
        match error {
            ServiceError::InvalidArgument(m) => Status::invalid_argument(m),
            ServiceError::FailedPrecondition(m) => Status::failed_precondition(m),
            ServiceError::ResourceExhausted(m) => Status::resource_exhausted(m),
            ServiceError::PermissionDenied(m) => Status::permission_denied(m),
            ServiceError::NotFound(m) => Status::not_found(m),
            ServiceError::Unavailable(m) => Status::unavailable(m),
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "store failure");
                Status::internal("internal store error")
            }
            ServiceError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                Status::internal("internal error")
            }
        }
    }
}

//! `Admin`: who the server thinks the caller is, and the service's state.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::ServiceState;
use super::auth::principal;
use crate::pb::v1 as pb;

/// The `veilink.v1.Admin` service.
pub(crate) struct AdminService {
    state: Arc<ServiceState>,
}

impl AdminService {
    pub(crate) fn new(state: Arc<ServiceState>) -> AdminService {
        AdminService { state }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl pb::admin_server::Admin for AdminService {
    async fn who_am_i(
        &self,
        request: Request<pb::WhoAmIRequest>,
    ) -> Result<Response<pb::WhoAmIResponse>, Status> {
        let caller = principal(&request)?;
        Ok(Response::new(pb::WhoAmIResponse {
            principal: caller.name.clone(),
            role: caller.role.to_string(),
            certificate_sha256: hex(&caller.certificate_sha256),
        }))
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let store_bytes = self
            .state
            .store
            .size_on_disk()
            .map_err(super::ServiceError::from)?;
        Ok(Response::new(pb::StatusResponse {
            store_bytes,
            last_job_state: "none".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        }))
    }
}

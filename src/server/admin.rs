//! `Admin`: who the server thinks the caller is, and the service's state.

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::ServiceState;
use super::auth::principal;
use super::error::ServiceError;
use super::state::read_lock;
use super::writer::read_counter;
use crate::pb::v1 as pb;
use crate::store::{META_FINGERPRINT, TreeName};

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
        let state = &self.state;
        let store_bytes = state.store.size_on_disk().map_err(ServiceError::from)?;
        let names = read_lock(&state.agencies, "agency")?.names().to_vec();
        let mut agencies = Vec::with_capacity(names.len());
        let mut records = 0;
        for (code, name) in names.iter().enumerate() {
            let code = code as u16;
            let counts = pb::AgencyCounts {
                agency: name.clone(),
                records: read_counter(&state.store, "records", code).map_err(ServiceError::from)?,
                withdrawn: read_counter(&state.store, "withdrawn", code)
                    .map_err(ServiceError::from)?,
                batches: read_counter(&state.store, "batches", code).map_err(ServiceError::from)?,
            };
            records += counts.records;
            agencies.push(counts);
        }
        agencies.sort_by(|a, b| a.agency.cmp(&b.agency));
        let latest_job = state.jobs.list(1).into_iter().next();
        // Read without the linkage lock, which a batch or a full job may hold:
        // the summary is as of the writer's last release of it.
        let summary = state.linkage.summary();
        let persons = summary.persons;
        let quarantined = summary
            .quarantined
            .into_iter()
            .map(|q| pb::QuarantinedKey {
                rule: u32::from(q.rule),
                records: q.records as u64,
            })
            .collect();
        let (log_size, _) = state.store.log().head().map_err(ServiceError::from)?;
        let fingerprint = state
            .store
            .tree(TreeName::Meta)
            .get(META_FINGERPRINT)
            .map_err(|e| ServiceError::from(crate::store::StoreError::from(e)))?
            .map(|v| hex(&v))
            .unwrap_or_default();
        Ok(Response::new(pb::StatusResponse {
            agencies,
            records,
            persons,
            log_size,
            store_bytes,
            jobs: state.jobs.count() as u64,
            last_job_state: latest_job.map_or("none".to_string(), |j| {
                serde_json::to_value(j.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            }),
            // Batches are linked before their receipts are sent.
            linkage_lag_records: 0,
            quarantined,
            encoding_fingerprint: fingerprint,
            version: env!("CARGO_PKG_VERSION").into(),
        }))
    }
}

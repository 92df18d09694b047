//! `Audit`: the transparency log for auditors (and the operator): the latest
//! signed checkpoint, entries by index range, inclusion and consistency
//! proofs (RFC 9162 §2.1.3, §2.1.4), all read from committed, never-changing
//! nodes, so reads need no lock.

use std::sync::Arc;

use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use super::ServiceState;
use super::error::ServiceError;
use crate::audit::AuditError;
use crate::pb::v1 as pb;

/// Most entries one `GetEntries` call returns.
pub const MAX_ENTRIES_PER_CALL: u64 = 100_000;

/// The `veilink.v1.Audit` service.
pub(crate) struct AuditService {
    state: Arc<ServiceState>,
}

impl AuditService {
    pub(crate) fn new(state: Arc<ServiceState>) -> AuditService {
        AuditService { state }
    }
}

impl From<AuditError> for ServiceError {
    fn from(error: AuditError) -> ServiceError {
        match error {
            AuditError::OutOfRange(m) => ServiceError::InvalidArgument(m),
            other => ServiceError::Internal(other.to_string()),
        }
    }
}

fn hashes(list: Vec<[u8; 32]>) -> Vec<Vec<u8>> {
    list.into_iter().map(|h| h.to_vec()).collect()
}

#[tonic::async_trait]
impl pb::audit_server::Audit for AuditService {
    async fn get_checkpoint(
        &self,
        _request: Request<pb::GetCheckpointRequest>,
    ) -> Result<Response<pb::Checkpoint>, Status> {
        let log = self.state.store.log();
        let note = log
            .latest_checkpoint()
            .map_err(ServiceError::from)?
            .ok_or_else(|| ServiceError::Unavailable("no checkpoint has been signed yet".into()))?;
        let body_end = note.find("\n\n").ok_or_else(|| {
            ServiceError::Internal("the stored checkpoint is not a signed note".into())
        })?;
        let checkpoint = crate::audit::checkpoint::Checkpoint::parse(&note[..=body_end])
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::Checkpoint {
            note,
            size: checkpoint.size,
            root: checkpoint.root.to_vec(),
            verifier_key: self.state.verifier_key.clone(),
        }))
    }

    type GetEntriesStream = tokio_stream::wrappers::ReceiverStream<Result<pb::LogEntry, Status>>;

    async fn get_entries(
        &self,
        request: Request<pb::GetEntriesRequest>,
    ) -> Result<Response<Self::GetEntriesStream>, Status> {
        let pb::GetEntriesRequest { start, end } = request.into_inner();
        let (size, _) = self.state.store.log().head().map_err(ServiceError::from)?;
        if start >= end {
            return Err(ServiceError::InvalidArgument(format!(
                "field end: the range [{start}, {end}) is empty or reversed"
            ))
            .into());
        }
        if end - start > MAX_ENTRIES_PER_CALL {
            return Err(ServiceError::InvalidArgument(format!(
                "field end: at most {MAX_ENTRIES_PER_CALL} entries per call"
            ))
            .into());
        }
        if start >= size {
            return Err(ServiceError::InvalidArgument(format!(
                "field start: {start} is not below the log size {size}"
            ))
            .into());
        }
        // A range reaching past the log is served up to its end: the caller
        // sees how far the log goes (an auditor names the first missing index).
        let end = end.min(size);
        let (tx, rx) = mpsc::channel(256);
        // The task holds the state (not a clone of the log's trees), so that
        // shutting down waits for it before the store is closed.
        let state = self.state.clone();
        tokio::task::spawn_blocking(move || {
            for item in state.store.log().entries(start..end) {
                let message = item
                    .map(|(index, entry)| pb::LogEntry { index, entry })
                    .map_err(|e| Status::from(ServiceError::from(e)));
                let failed = message.is_err();
                if tx.blocking_send(message).is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let pb::GetInclusionProofRequest { index, tree_size } = request.into_inner();
        if index >= tree_size {
            return Err(ServiceError::InvalidArgument(format!(
                "field index: {index} is not below the tree size {tree_size}"
            ))
            .into());
        }
        let proof = self
            .state
            .store
            .log()
            .inclusion_proof(index, tree_size)
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::InclusionProof {
            index,
            tree_size,
            hashes: hashes(proof),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let pb::GetConsistencyProofRequest { old_size, new_size } = request.into_inner();
        if old_size == 0 || old_size > new_size {
            return Err(ServiceError::InvalidArgument(format!(
                "field old_size: need 1 <= old_size <= new_size, got {old_size} and {new_size}"
            ))
            .into());
        }
        let proof = self
            .state
            .store
            .log()
            .consistency_proof(old_size, new_size)
            .map_err(ServiceError::from)?;
        Ok(Response::new(pb::ConsistencyProof {
            old_size,
            new_size,
            hashes: hashes(proof),
        }))
    }
}

//! The auditor's view of the transparency log over gRPC: a [`LogSource`] for
//! the verifier (`audit::verify`), so `veilink audit verify` checks exactly
//! what the server serves.

use tonic::transport::Channel;

use crate::audit::AuditError;
use crate::audit::hash::Hash;
use crate::audit::verify::LogSource;
use crate::pb::v1 as pb;

/// The `Audit` service as a [`LogSource`].
pub struct GrpcLogSource {
    client: pb::audit_client::AuditClient<Channel>,
    /// The verifier key the server announces with its checkpoint (never
    /// trusted by itself: `audit verify` pins a key).
    pub announced_key: Option<String>,
}

impl GrpcLogSource {
    /// A source over an open channel.
    pub fn new(channel: Channel) -> GrpcLogSource {
        GrpcLogSource {
            client: pb::audit_client::AuditClient::new(channel)
                .max_decoding_message_size(64 * 1024 * 1024),
            announced_key: None,
        }
    }

    /// The latest checkpoint message (note, size, root, verifier key).
    ///
    /// # Errors
    /// The server's status.
    pub async fn checkpoint_message(&mut self) -> Result<pb::Checkpoint, tonic::Status> {
        Ok(self
            .client
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await?
            .into_inner())
    }

    /// Entries in `[start, end)` with their indexes.
    ///
    /// # Errors
    /// The server's status.
    pub async fn indexed_entries(
        &mut self,
        start: u64,
        end: u64,
    ) -> Result<Vec<(u64, Vec<u8>)>, tonic::Status> {
        let mut stream = self
            .client
            .get_entries(pb::GetEntriesRequest { start, end })
            .await?
            .into_inner();
        let mut out = Vec::new();
        while let Some(entry) = stream.message().await? {
            out.push((entry.index, entry.entry));
        }
        Ok(out)
    }
}

fn source_error(status: tonic::Status) -> AuditError {
    AuditError::Source(Box::new(status))
}

fn hashes(list: Vec<Vec<u8>>) -> Result<Vec<Hash>, AuditError> {
    list.into_iter()
        .map(|h| {
            <[u8; 32]>::try_from(h.as_slice())
                .map_err(|_| AuditError::Malformed("a proof hash is not 32 bytes".into()))
        })
        .collect()
}

impl LogSource for GrpcLogSource {
    async fn checkpoint(&mut self) -> Result<String, AuditError> {
        let message = self.checkpoint_message().await.map_err(source_error)?;
        self.announced_key = Some(message.verifier_key);
        Ok(message.note)
    }

    /// Entries in order; stops at the first gap (a missing index) so the
    /// verifier names it.
    async fn entries(&mut self, start: u64, end: u64) -> Result<Vec<Vec<u8>>, AuditError> {
        let served = match self.indexed_entries(start, end).await {
            Ok(served) => served,
            // A range the server cannot serve is a log that lacks entries.
            Err(status) if status.code() == tonic::Code::InvalidArgument => Vec::new(),
            Err(status) => return Err(source_error(status)),
        };
        let mut out = Vec::with_capacity(served.len());
        for (expected, (index, entry)) in (start..).zip(served) {
            if index != expected {
                break;
            }
            out.push(entry);
        }
        Ok(out)
    }

    async fn inclusion_proof(&mut self, index: u64, size: u64) -> Result<Vec<Hash>, AuditError> {
        let proof = self
            .client
            .get_inclusion_proof(pb::GetInclusionProofRequest {
                index,
                tree_size: size,
            })
            .await
            .map_err(source_error)?
            .into_inner();
        hashes(proof.hashes)
    }

    async fn consistency_proof(&mut self, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
        let proof = self
            .client
            .get_consistency_proof(pb::GetConsistencyProofRequest {
                old_size: old,
                new_size: new,
            })
            .await
            .map_err(source_error)?
            .into_inner();
        hashes(proof.hashes)
    }
}

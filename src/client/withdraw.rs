//! `veilink withdraw`: compute the record refs of an agency CSV's records on
//! the agency's machine and ask the service to remove them
//! (`Intake.Withdraw`), in chunks. Only the agency's own records can be
//! withdrawn; refs the service does not hold for this agency are counted as
//! not found, whoever else may hold them.

use std::path::Path;

use serde::Serialize;

use super::submit::SubmitError;
use super::{ClientError, connect};
use crate::encode::{EncodeError, Encoder, OnError, RecordReader};
use crate::pb::v1 as pb;

/// Refs per `Withdraw` call.
pub const WITHDRAW_CHUNK: usize = 10_000;

/// What a withdrawal did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct WithdrawSummary {
    /// Data lines read.
    pub records_read: u64,
    /// Records removed.
    pub withdrawn: u64,
    /// Refs that were not (or no longer) records of this agency.
    pub not_found: u64,
    /// Lines skipped under `--on-error skip`.
    pub skipped: u64,
    /// Transparency-log indexes of the withdrawal entries.
    pub audit_indexes: Vec<u64>,
}

/// Withdraws the records of `input` (a CSV in the schema's format) as
/// principal `name`.
///
/// # Errors
/// [`SubmitError::Encode`] for a bad line under [`OnError::Fail`],
/// [`SubmitError::Client`] when the service refuses.
pub async fn withdraw_file(
    url: &str,
    pki_dir: &Path,
    name: &str,
    encoder: &Encoder,
    input: &Path,
    on_error: OnError,
) -> Result<WithdrawSummary, SubmitError> {
    let mut summary = WithdrawSummary::default();
    let mut refs: Vec<Vec<u8>> = Vec::new();
    for line in RecordReader::open(encoder, input)? {
        summary.records_read += 1;
        match line {
            Ok(record) => refs.push(record.record_ref.to_vec()),
            Err(e) if on_error == OnError::Skip && e.is_skippable() => summary.skipped += 1,
            Err(e) => return Err(EncodeError::Line(e).into()),
        }
    }
    let channel = connect(url, pki_dir, name).await?;
    let mut client = pb::intake_client::IntakeClient::new(channel);
    for chunk in refs.chunks(WITHDRAW_CHUNK) {
        let reply = client
            .withdraw(pb::WithdrawRequest {
                record_refs: chunk.to_vec(),
            })
            .await
            .map_err(ClientError::from)?
            .into_inner();
        summary.withdrawn += u64::from(reply.withdrawn);
        summary.not_found += u64::from(reply.not_found);
        if reply.withdrawn > 0 {
            summary.audit_indexes.push(reply.audit_index);
        }
    }
    Ok(summary)
}

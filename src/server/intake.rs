//! `Intake`: agencies submit and withdraw their own records.
//!
//! The agency is always the one named by the client certificate. Each batch
//! of a `Submit` stream is validated completely (on a blocking thread; it is
//! CPU work), its tokens are re-keyed with the server's key, and it goes to
//! the single writer; receipts come back in order, each after the batch is
//! durable. A stream pipelines at most [`MAX_PIPELINE`] batches; the first
//! failure is answered after the receipts of the batches before it, and ends
//! the stream.

use std::pin::Pin;
use std::sync::Arc;

use futures::stream::{FuturesOrdered, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status, Streaming};

use super::ServiceState;
use super::auth::principal;
use super::error::ServiceError;
use super::validate::{rekey_token, validate_records};
use super::writer::{BatchWrite, WriteRequest};
use crate::pb::v1 as pb;
use crate::wire;

/// Batches of one stream being validated or committed at once.
pub const MAX_PIPELINE: usize = 8;
/// Most refs one `Withdraw` call may name.
pub const MAX_WITHDRAW_REFS: usize = 100_000;

/// The `veilink.v1.Intake` service.
pub(crate) struct IntakeService {
    state: Arc<ServiceState>,
}

impl IntakeService {
    pub(crate) fn new(state: Arc<ServiceState>) -> IntakeService {
        IntakeService { state }
    }
}

fn caller_agency<T>(request: &Request<T>) -> Result<String, Status> {
    let caller = principal(request)?;
    caller
        .agency()
        .map(str::to_string)
        .ok_or_else(|| Status::permission_denied("only agencies submit or withdraw records"))
}

type ReceiptFuture =
    Pin<Box<dyn std::future::Future<Output = Result<pb::BatchReceipt, ServiceError>> + Send>>;

/// Validates one batch and hands it to the writer; the future resolves to its
/// receipt once durable. Validation of several batches runs concurrently,
/// but a batch goes to the writer only after the batch before it
/// (`previous`), so batches commit in stream order (a later correction of a
/// record wins); `sent` tells the next batch.
fn process_batch(
    state: Arc<ServiceState>,
    agency: String,
    batch: pb::RecordBatch,
    previous: Option<oneshot::Receiver<()>>,
    sent: oneshot::Sender<()>,
) -> ReceiptFuture {
    Box::pin(async move {
        // Dropping `sent` on an early return also releases the next batch.
        let order = sent;
        let max = state.config.max_batch_records;
        if batch.records.is_empty() {
            return Err(ServiceError::InvalidArgument(
                "field records: a batch needs at least one record".into(),
            ));
        }
        if batch.records.len() > max {
            return Err(ServiceError::ResourceExhausted(format!(
                "field records: {} records; the maximum per batch is {max}",
                batch.records.len()
            )));
        }
        let batch_id: [u8; 32] = batch.batch_id.as_slice().try_into().map_err(|_| {
            ServiceError::InvalidArgument(format!(
                "field batch_id: must be 32 bytes, got {}",
                batch.batch_id.len()
            ))
        })?;
        let fingerprint: [u8; 32] =
            batch
                .encoding_fingerprint
                .as_slice()
                .try_into()
                .map_err(|_| {
                    ServiceError::InvalidArgument(format!(
                        "field encoding_fingerprint: must be 32 bytes, got {}",
                        batch.encoding_fingerprint.len()
                    ))
                })?;
        let rekey = state.rekey.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let today = chrono::Utc::now().date_naive() + chrono::Duration::days(1);
            let digest = wire::batch_digest(&batch.records);
            let records = validate_records(&batch.records, today)?;
            let records = records
                .into_iter()
                .map(|mut record| {
                    for (rule, token) in &mut record.tokens {
                        *token = rekey_token(&rekey, *rule, token);
                    }
                    record
                })
                .collect::<Vec<_>>();
            Ok::<_, ServiceError>((digest, records))
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("validation task: {e}")))??;
        let (digest, records) = checked;
        if let Some(previous) = previous {
            // An error (the previous batch failed early) also releases us; the
            // stream ends at that failure anyway.
            let _ = previous.await;
        }
        let (reply, answer) = oneshot::channel();
        state
            .writer
            .send(WriteRequest::Batch(
                BatchWrite {
                    agency,
                    batch_id,
                    fingerprint,
                    digest,
                    records,
                },
                reply,
            ))
            .await?;
        let _ = order.send(());
        answer
            .await
            .map_err(|_| ServiceError::Unavailable("the writer stopped".into()))?
    })
}

#[tonic::async_trait]
impl pb::intake_server::Intake for IntakeService {
    type SubmitStream = tokio_stream::wrappers::ReceiverStream<Result<pb::BatchReceipt, Status>>;

    async fn submit(
        &self,
        request: Request<Streaming<pb::RecordBatch>>,
    ) -> Result<Response<Self::SubmitStream>, Status> {
        let agency = caller_agency(&request)?;
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(MAX_PIPELINE);
        let state = self.state.clone();
        tokio::spawn(async move {
            let mut pending: FuturesOrdered<ReceiptFuture> = FuturesOrdered::new();
            let mut reading = true;
            let mut previous: Option<oneshot::Receiver<()>> = None;
            loop {
                if !reading && pending.is_empty() {
                    break;
                }
                tokio::select! {
                    next = inbound.message(), if reading && pending.len() < MAX_PIPELINE => match next {
                        Ok(Some(batch)) => {
                            let (sent, next) = oneshot::channel();
                            pending.push_back(process_batch(
                                state.clone(),
                                agency.clone(),
                                batch,
                                previous.replace(next),
                                sent,
                            ));
                        }
                        Ok(None) => reading = false,
                        Err(status) if status.code() == tonic::Code::OutOfRange => {
                            let error = ServiceError::ResourceExhausted(format!(
                                "batch message too large: {}", status.message()
                            ));
                            pending.push_back(Box::pin(async move { Err(error) }));
                            reading = false;
                        }
                        Err(status) => {
                            tracing::debug!(%agency, status = %status, "submit stream ended by the client");
                            reading = false;
                        }
                    },
                    Some(result) = pending.next(), if !pending.is_empty() => {
                        let failed = result.is_err();
                        if tx.send(result.map_err(Status::from)).await.is_err() || failed {
                            // The client is gone, or the stream ends at the first failure
                            // (receipts of earlier batches were sent first).
                            break;
                        }
                    }
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn withdraw(
        &self,
        request: Request<pb::WithdrawRequest>,
    ) -> Result<Response<pb::WithdrawResponse>, Status> {
        let agency = caller_agency(&request)?;
        let refs = request.into_inner().record_refs;
        if refs.len() > MAX_WITHDRAW_REFS {
            return Err(ServiceError::ResourceExhausted(format!(
                "field record_refs: at most {MAX_WITHDRAW_REFS} refs per call"
            ))
            .into());
        }
        let refs = refs
            .iter()
            .enumerate()
            .map(|(i, r)| {
                <[u8; 32]>::try_from(r.as_slice()).map_err(|_| {
                    ServiceError::InvalidArgument(format!(
                        "field record_refs[{i}]: must be 32 bytes, got {}",
                        r.len()
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (reply, answer) = oneshot::channel();
        self.state
            .writer
            .send(WriteRequest::Withdraw {
                agency,
                refs,
                reply,
            })
            .await?;
        let response = answer
            .await
            .map_err(|_| ServiceError::Unavailable("the writer stopped".into()))??;
        Ok(Response::new(response))
    }
}

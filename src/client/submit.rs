//! `veilink submit`: read an agency CSV, encode it on the fly, and stream it
//! to `Intake.Submit` in batches with content-derived ids, flow control,
//! receipts, and retries that never store anything twice.
//!
//! Worker threads take turns reading the CSV and encode the batches (all
//! cores, `encode::parallel`), and they are sent in input order; the async
//! side keeps at most `max_in_flight` batches unacknowledged. When the
//! connection drops or the server answers `UNAVAILABLE`, it reconnects with
//! back-off and re-sends every unacknowledged batch under the same id: the
//! server answers a batch it already committed with the original receipt, so
//! an interrupted submission completes without duplicates — also when the
//! whole command is simply run again.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::mpsc;

use super::{ClientError, connect};
use crate::encode::csv_input::LineEncoder;
use crate::encode::parallel::{self, LineOutcome, RawLine};
use crate::encode::{EncodeError, Encoder, OnError, RecordReader};
use crate::pb::v1 as pb;
use crate::wire;

/// Records read and encoded ahead of the sender at most (beyond two batches).
const READ_AHEAD_RECORDS: usize = 50_000;

/// Default records per batch.
pub const DEFAULT_BATCH_RECORDS: usize = 2_000;
/// Default number of unacknowledged batches in flight.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 4;
/// Consecutive failed attempts (without any receipt between them) before
/// giving up; back-off doubles from 200 ms to 5 s, so about 40 s in all.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 12;

/// Errors of a submission.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// Reading or encoding the input failed.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The server refused the connection, a batch or the credentials.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The server refused a batch; names the batch and the record's local id.
    #[error("batch {batch} (records from local id {first_local_id}): {status}")]
    Rejected {
        /// 0-based batch number in this run.
        batch: u64,
        /// Local id of the batch's first record (agency-side only).
        first_local_id: String,
        /// The server's answer.
        status: ClientError,
    },
    /// A receipt does not match what was sent.
    #[error("receipt for batch {batch} does not match: {message}")]
    Receipt {
        /// 0-based batch number.
        batch: u64,
        /// What differs.
        message: String,
    },
    /// The server stayed unreachable.
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// Writing the refs or receipts file failed.
    #[error("{path}: {source}")]
    Output {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

impl SubmitError {
    /// True when the user's input caused the error (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            SubmitError::Encode(e) => e.is_bad_input(),
            SubmitError::Client(e) => e.is_bad_input(),
            SubmitError::Rejected { status, .. } => status.is_bad_input(),
            _ => false,
        }
    }
}

/// How to submit.
#[derive(Debug, Clone)]
pub struct SubmitOptions {
    /// Records per batch (at most the server's maximum).
    pub batch_records: usize,
    /// Unacknowledged batches in flight at most.
    pub max_in_flight: usize,
    /// Consecutive failed attempts before giving up.
    pub max_attempts: u32,
    /// Write `local_id,record_ref` here (stays with the agency).
    pub refs_out: Option<PathBuf>,
    /// Write every receipt here, one JSON object per line.
    pub receipts_out: Option<PathBuf>,
    /// Stop at a bad line, or skip and count it.
    pub on_error: OnError,
}

impl Default for SubmitOptions {
    fn default() -> SubmitOptions {
        SubmitOptions {
            batch_records: DEFAULT_BATCH_RECORDS,
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            refs_out: None,
            receipts_out: None,
            on_error: OnError::Fail,
        }
    }
}

/// Progress of a submission, for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct SubmitProgress {
    /// Input bytes consumed.
    pub bytes_read: u64,
    /// Input size in bytes.
    pub bytes_total: u64,
    /// Records acknowledged by the server.
    pub records_acknowledged: u64,
}

/// What a submission did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SubmitSummary {
    /// Data lines read.
    pub records_read: u64,
    /// Records acknowledged (new or corrected, including replays).
    pub accepted: u64,
    /// Of those, corrections of records stored earlier.
    pub corrected: u64,
    /// Batches acknowledged.
    pub batches: u64,
    /// Batches the server had committed before (replays of an earlier run).
    pub replayed_batches: u64,
    /// Lines skipped under `--on-error skip`, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// National ids dropped because they failed their check.
    pub invalid_national_ids: u64,
    /// Dates of birth that were not dates, sent as missing (`invalid =
    /// "missing"` in the schema).
    pub unreadable_birth_dates: u64,
    /// Reconnections after a failure.
    pub reconnects: u64,
    /// Wall time, seconds.
    pub seconds: f64,
}

/// A receipt as kept by the agency (`--receipts-out`, JSON lines).
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct KeptReceipt {
    /// Agency id.
    pub agency: String,
    /// Batch id, hex.
    pub batch_id: String,
    /// Records accepted.
    pub accepted: u32,
    /// Corrections.
    pub corrected: u32,
    /// Digest of the canonical batch encoding, hex.
    pub digest: String,
    /// Index of the receipt's transparency-log entry.
    pub audit_index: u64,
    /// Commit time, RFC 3339.
    pub committed_at: String,
}

/// One encoded batch, ready to send.
struct PreparedBatch {
    number: u64,
    message: pb::RecordBatch,
    digest: [u8; 32],
    local_ids: Vec<String>,
}

/// What the reading thread reports at the end.
#[derive(Default)]
struct ReadOutcome {
    records_read: u64,
    skipped: BTreeMap<String, u64>,
    invalid_national_ids: u64,
    unreadable_birth_dates: u64,
}

/// Submits a CSV file as principal `name`, encoding it with `encoder`.
/// Blocks the calling thread; runs network I/O on `runtime`.
///
/// # Errors
/// [`SubmitError`]: the first bad line (under [`OnError::Fail`]), a refused
/// batch naming it, a mismatching receipt, or giving up on the connection.
#[allow(clippy::too_many_arguments)]
pub fn submit_file(
    runtime: &tokio::runtime::Handle,
    url: &str,
    pki_dir: &Path,
    name: &str,
    encoder: &Encoder,
    input: &Path,
    options: &SubmitOptions,
    progress: &mut (dyn FnMut(SubmitProgress) + Send),
) -> Result<SubmitSummary, SubmitError> {
    let started = Instant::now();
    let bytes_total = std::fs::metadata(input).map(|m| m.len()).unwrap_or(0);
    let fingerprint = encoder.fingerprint();
    let agency = encoder.schema().agency().to_string();
    let (tx, rx) =
        mpsc::channel::<Result<(PreparedBatch, u64), SubmitError>>(options.max_in_flight.max(1));
    let mut outputs = Outputs::create(options)?;

    let (read, sent) = std::thread::scope(|scope| {
        let agency_id = agency.as_str();
        // The reader owns the sender: it stops when the input ends or when the
        // sending side has gone (its receiver dropped).
        let reader =
            scope.spawn(move || read_batches(encoder, input, agency_id, fingerprint, options, &tx));
        let sent = runtime.block_on(send_batches(
            url,
            pki_dir,
            name,
            &agency,
            rx,
            options,
            &mut outputs,
            bytes_total,
            progress,
        ));
        let read = reader.join().unwrap_or_else(|_| {
            Err(SubmitError::Output {
                path: input.to_path_buf(),
                source: std::io::Error::other("the reading thread panicked"),
            })
        });
        (read, sent)
    });
    let mut summary = sent?;
    let read = read?;
    outputs.finish()?;
    summary.records_read = read.records_read;
    summary.skipped = read.skipped;
    summary.invalid_national_ids = read.invalid_national_ids;
    summary.unreadable_birth_dates = read.unreadable_birth_dates;
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Reads and encodes the CSV into batches on all cores
/// ([`parallel::for_each_batch`]); sends each down `tx`, in input order, with
/// the input bytes consumed so far.
fn read_batches(
    encoder: &Encoder,
    input: &Path,
    agency: &str,
    fingerprint: [u8; 32],
    options: &SubmitOptions,
    tx: &mpsc::Sender<Result<(PreparedBatch, u64), SubmitError>>,
) -> Result<ReadOutcome, SubmitError> {
    let mut reader = RecordReader::open(encoder, input)?;
    let work = |lines: &LineEncoder<'_>, batch: &[RawLine]| {
        encode_batch(lines, batch, agency, fingerprint, options.on_error)
    };
    let mut outcome = ReadOutcome::default();
    let mut number = 0u64;
    // Read ahead at most two batches per thread and at most about
    // READ_AHEAD_RECORDS records (but always two batches), so large batches
    // do not multiply memory by the core count.
    let threads = parallel::default_threads();
    let in_flight = (2 * threads).min((READ_AHEAD_RECORDS / options.batch_records.max(1)).max(2));
    parallel::for_each_batch(
        &mut reader,
        options.batch_records,
        threads,
        in_flight,
        &work,
        |encoded, bytes_read| {
            outcome.records_read += encoded.lines.read;
            outcome.invalid_national_ids += encoded.invalid_national_ids;
            outcome.unreadable_birth_dates += encoded.unreadable_birth_dates;
            for (reason, count) in encoded.lines.skipped {
                *outcome.skipped.entry(reason).or_insert(0) += count;
            }
            if let Some(error) = encoded.lines.fatal {
                return Err(SubmitError::from(EncodeError::Line(error)));
            }
            let Some((message, digest)) = encoded.batch else {
                // Every line of the batch was skipped.
                return Ok(ControlFlow::Continue(()));
            };
            let batch = PreparedBatch {
                number,
                digest,
                message,
                local_ids: encoded.local_ids,
            };
            number += 1;
            Ok(match tx.blocking_send(Ok((batch, bytes_read))) {
                Ok(()) => ControlFlow::Continue(()),
                // The sender stopped (it failed); its error is reported instead.
                Err(_) => ControlFlow::Break(()),
            })
        },
    )?;
    Ok(outcome)
}

/// One batch of lines encoded on a worker thread into its wire form.
struct EncodedLines {
    /// The batch message and its digest; `None` when no line was encoded.
    batch: Option<(pb::RecordBatch, [u8; 32])>,
    /// Local record ids of the batch's records, in order.
    local_ids: Vec<String>,
    invalid_national_ids: u64,
    unreadable_birth_dates: u64,
    /// Lines read, skipped by reason, and the line error that ends the submission.
    lines: LineOutcome,
}

/// Encodes one batch of raw lines and builds its `RecordBatch` (id derived
/// from the content, digest of the canonical encoding).
fn encode_batch(
    lines: &LineEncoder<'_>,
    batch: &[RawLine],
    agency: &str,
    fingerprint: [u8; 32],
    on_error: OnError,
) -> EncodedLines {
    let mut local_ids = Vec::with_capacity(batch.len());
    let mut invalid_national_ids = 0;
    let mut unreadable_birth_dates = 0;
    let mut records = Vec::with_capacity(batch.len());
    let lines = parallel::encode_lines(lines, batch, on_error, |record| {
        invalid_national_ids += u64::from(record.national_id_invalid);
        unreadable_birth_dates += u64::from(record.date_of_birth_unreadable);
        records.push(wire::record_to_proto(&record));
        local_ids.push(record.local_id);
    });
    let mut out = EncodedLines {
        batch: None,
        local_ids,
        invalid_national_ids,
        unreadable_birth_dates,
        lines,
    };
    if out.lines.fatal.is_some() {
        return out;
    }
    if !records.is_empty() {
        let digest = wire::batch_digest(&records);
        let message = pb::RecordBatch {
            batch_id: wire::batch_id(agency, &records).to_vec(),
            encoding_fingerprint: fingerprint.to_vec(),
            records,
        };
        out.batch = Some((message, digest));
    }
    out
}

/// The refs and receipts files, written as batches are acknowledged.
struct Outputs {
    refs: Option<(PathBuf, csv::Writer<File>)>,
    receipts: Option<(PathBuf, BufWriter<File>)>,
}

impl Outputs {
    fn create(options: &SubmitOptions) -> Result<Outputs, SubmitError> {
        let open = |path: &Path| {
            private_file(path).map_err(|source| SubmitError::Output {
                path: path.to_path_buf(),
                source,
            })
        };
        let refs = match &options.refs_out {
            Some(path) => {
                let mut writer = csv::Writer::from_writer(open(path)?);
                writer
                    .write_record(["local_id", "record_ref"])
                    .map_err(|e| output_error(path, e))?;
                Some((path.clone(), writer))
            }
            None => None,
        };
        let receipts = match &options.receipts_out {
            Some(path) => Some((path.clone(), BufWriter::new(open(path)?))),
            None => None,
        };
        Ok(Outputs { refs, receipts })
    }

    fn record(&mut self, batch: &PreparedBatch, kept: &KeptReceipt) -> Result<(), SubmitError> {
        if let Some((path, writer)) = &mut self.refs {
            for (local_id, record) in batch.local_ids.iter().zip(&batch.message.records) {
                writer
                    .write_record([local_id.as_str(), &hex(&record.record_ref)])
                    .map_err(|e| output_error(path, e))?;
            }
        }
        if let Some((path, writer)) = &mut self.receipts {
            let line = serde_json::to_string(kept).map_err(|e| output_error(path, e))?;
            writeln!(writer, "{line}").map_err(|e| output_error(path, e))?;
            // A kept receipt is evidence: write it out as soon as it arrives.
            writer.flush().map_err(|e| output_error(path, e))?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<(), SubmitError> {
        if let Some((path, writer)) = &mut self.refs {
            writer.flush().map_err(|e| output_error(path, e))?;
        }
        if let Some((path, writer)) = &mut self.receipts {
            writer.flush().map_err(|e| output_error(path, e))?;
        }
        Ok(())
    }
}

fn output_error(path: &Path, e: impl std::fmt::Display) -> SubmitError {
    SubmitError::Output {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// Creates (truncates) a file readable by its owner only.
fn private_file(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Status codes after which re-sending on a new connection may succeed.
fn retryable(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unavailable
            | tonic::Code::Unknown
            | tonic::Code::Cancelled
            | tonic::Code::Aborted
            | tonic::Code::DeadlineExceeded
    )
}

/// The sending side: connection, flow control, receipts, reconnects.
#[allow(clippy::too_many_arguments)]
async fn send_batches(
    url: &str,
    pki_dir: &Path,
    name: &str,
    agency: &str,
    mut input: mpsc::Receiver<Result<(PreparedBatch, u64), SubmitError>>,
    options: &SubmitOptions,
    outputs: &mut Outputs,
    bytes_total: u64,
    progress: &mut (dyn FnMut(SubmitProgress) + Send),
) -> Result<SubmitSummary, SubmitError> {
    let mut summary = SubmitSummary::default();
    let mut unacked: VecDeque<PreparedBatch> = VecDeque::new();
    let mut input_done = false;
    let mut attempts = 0u32;
    let mut backoff = Duration::from_millis(200);
    let mut report = SubmitProgress {
        bytes_total,
        ..SubmitProgress::default()
    };
    loop {
        if input_done && unacked.is_empty() {
            return Ok(summary);
        }
        if attempts > 0 {
            if attempts >= options.max_attempts {
                return Err(SubmitError::GaveUp {
                    attempts,
                    last: "the server did not become available".into(),
                });
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            summary.reconnects += 1;
        }
        attempts += 1;
        let channel = match connect(url, pki_dir, name).await {
            Ok(channel) => channel,
            Err(e @ ClientError::Connect { .. }) => {
                tracing::warn!(error = %e, "connect failed; retrying");
                if attempts >= options.max_attempts {
                    return Err(SubmitError::GaveUp {
                        attempts,
                        last: e.to_string(),
                    });
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let (requests, request_stream) =
            mpsc::channel::<pb::RecordBatch>(options.max_in_flight.max(1));
        let mut client = pb::intake_client::IntakeClient::new(channel)
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024);
        // Re-send what was not acknowledged, in order, before anything new.
        for batch in &unacked {
            if requests.send(batch.message.clone()).await.is_err() {
                break;
            }
        }
        let call = client.submit(tokio_stream::wrappers::ReceiverStream::new(request_stream));
        let mut requests = Some(requests);
        if input_done && unacked.is_empty() {
            requests = None;
        }
        let mut responses = match call.await {
            Ok(response) => response.into_inner(),
            Err(status) if retryable(&status) => {
                tracing::warn!(status = %status, "submit stream failed; retrying");
                continue;
            }
            Err(status) => return Err(rejected(unacked.front(), status)),
        };
        loop {
            let can_send =
                requests.is_some() && !input_done && unacked.len() < options.max_in_flight;
            tokio::select! {
                next = input.recv(), if can_send => match next {
                    Some(Ok((batch, bytes_read))) => {
                        report.bytes_read = bytes_read;
                        if let Some(tx) = &requests {
                            // A closed request stream shows up as a response error.
                            let _ = tx.send(batch.message.clone()).await;
                        }
                        unacked.push_back(batch);
                    }
                    Some(Err(e)) => return Err(e),
                    None => {
                        input_done = true;
                        if unacked.is_empty() {
                            requests = None;
                        }
                    }
                },
                answer = responses.message() => match answer {
                    Ok(Some(receipt)) => {
                        let Some(batch) = unacked.pop_front() else {
                            return Err(SubmitError::Receipt { batch: 0, message: "a receipt for a batch that was not sent".into() });
                        };
                        let kept = check_receipt(agency, &batch, &receipt)?;
                        outputs.record(&batch, &kept)?;
                        summary.batches += 1;
                        summary.accepted += u64::from(receipt.accepted);
                        summary.corrected += u64::from(receipt.corrected);
                        if receipt.replayed {
                            summary.replayed_batches += 1;
                        }
                        report.records_acknowledged += u64::from(receipt.accepted);
                        progress(report);
                        attempts = 0;
                        backoff = Duration::from_millis(200);
                        if input_done && unacked.is_empty() {
                            requests = None;
                        }
                    }
                    Ok(None) => {
                        if input_done && unacked.is_empty() {
                            return Ok(summary);
                        }
                        tracing::warn!("the server closed the stream early; retrying");
                        break;
                    }
                    Err(status) if retryable(&status) => {
                        tracing::warn!(status = %status, "submit stream failed; retrying");
                        break;
                    }
                    Err(status) => return Err(rejected(unacked.front(), status)),
                },
            }
        }
    }
}

fn rejected(batch: Option<&PreparedBatch>, status: tonic::Status) -> SubmitError {
    SubmitError::Rejected {
        batch: batch.map_or(0, |b| b.number),
        first_local_id: batch
            .and_then(|b| b.local_ids.first().cloned())
            .unwrap_or_default(),
        status: ClientError::Status(status),
    }
}

fn check_receipt(
    agency: &str,
    batch: &PreparedBatch,
    receipt: &pb::BatchReceipt,
) -> Result<KeptReceipt, SubmitError> {
    let mismatch = |message: String| SubmitError::Receipt {
        batch: batch.number,
        message,
    };
    if receipt.batch_id != batch.message.batch_id {
        return Err(mismatch("batch id differs".into()));
    }
    if receipt.digest != batch.digest {
        return Err(mismatch(
            "the server's digest differs from the digest of what was sent".into(),
        ));
    }
    if receipt.accepted as usize != batch.message.records.len() {
        return Err(mismatch(format!(
            "accepted {} of {} records",
            receipt.accepted,
            batch.message.records.len()
        )));
    }
    let committed_at = receipt
        .committed_at
        .as_ref()
        .and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
        .map(|t| t.to_rfc3339())
        .unwrap_or_default();
    Ok(KeptReceipt {
        agency: agency.to_string(),
        batch_id: hex(&receipt.batch_id),
        accepted: receipt.accepted,
        corrected: receipt.corrected,
        digest: hex(&receipt.digest),
        audit_index: receipt.audit_index,
        committed_at,
    })
}

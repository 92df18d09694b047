//! Ordered parallel encoding: the calling thread reads raw CSV lines in
//! batches, worker threads run one function over each batch (encode, and
//! whatever the caller does next: format JSON lines, build a wire batch), and
//! the results come back to the calling thread in input order.
//!
//! `veilink encode` ([`super::encode_file`]) and `veilink submit` both encode
//! through [`for_each_batch`], and the encoding benchmark measures it on all
//! cores. Memory is bounded by the caller's limit of batches in flight. A
//! worker that panics ends the run with its panic (never silently dropping
//! its batch); after an early stop, workers skip the batches still queued.

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::Duration;

use super::csv_input::{LineEncoder, RecordReader};
use super::{EncodedRecord, LineError, OnError};

/// Raw lines of one batch, as [`RecordReader::read_line`] gave them.
pub type RawLines = Vec<Result<csv::ByteRecord, LineError>>;

/// What [`encode_lines`] made of a batch's lines besides the records.
#[derive(Debug, Default)]
pub struct LineOutcome {
    /// Lines taken: encoded, skipped, and the one that ended the batch.
    pub read: u64,
    /// Lines skipped under [`OnError::Skip`], by reason ([`LineError::reason`]).
    pub skipped: BTreeMap<String, u64>,
    /// The line error that ends the run, if any; later lines were not encoded.
    pub fatal: Option<LineError>,
}

/// Encodes the raw lines of one batch in order and hands each record to
/// `encoded`, applying `on_error` to bad lines: under [`OnError::Skip`] a
/// skippable line ([`LineError::is_skippable`]) is counted by reason and
/// passed over; any other bad line ends the batch as its fatal error. The one
/// place `veilink encode` and `veilink submit` decide what a bad line does.
pub fn encode_lines(
    lines: &LineEncoder<'_>,
    batch: RawLines,
    on_error: OnError,
    mut encoded: impl FnMut(EncodedRecord),
) -> LineOutcome {
    let mut outcome = LineOutcome::default();
    for line in batch {
        outcome.read += 1;
        match line.and_then(|raw| lines.encode(&raw)) {
            Ok(record) => encoded(record),
            Err(error) if on_error == OnError::Skip && error.is_skippable() => {
                tracing::debug!(%error, "skipped line");
                *outcome.skipped.entry(error.reason()).or_default() += 1;
            }
            Err(error) => {
                outcome.fatal = Some(error);
                break;
            }
        }
    }
    outcome
}

/// Worker threads to use: the machine's cores, at most 8.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8)
}

/// Reads `reader` to its end in batches of `batch_lines` raw lines, runs
/// `work` on each batch on `threads` worker threads with at most `in_flight`
/// batches read but not yet consumed (at least 1), and calls `consume` with
/// each result in input order, together with the reader (for progress:
/// [`RecordReader::bytes_read`]). Reading stops early when `consume` returns
/// `Ok(ControlFlow::Break(()))` or an error; batches still in flight are then
/// dropped. A read error is handed to `work` inside its batch like any bad
/// line (a CSV read failure ends the input after it).
///
/// # Errors
/// The first error `consume` returns.
///
/// # Panics
/// Re-raises the panic of a worker thread.
pub fn for_each_batch<R, T, E>(
    reader: &mut RecordReader<'_, R>,
    batch_lines: usize,
    threads: usize,
    in_flight: usize,
    work: &(dyn Fn(&LineEncoder<'_>, RawLines) -> T + Sync),
    mut consume: impl FnMut(T, &RecordReader<'_, R>) -> Result<ControlFlow<()>, E>,
) -> Result<(), E>
where
    R: Read,
    T: Send,
{
    let threads = threads.max(1);
    let lines = reader.line_encoder().clone();
    let (job_tx, job_rx) = mpsc::channel::<(u64, RawLines)>();
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = mpsc::channel::<(u64, T)>();
    // Set when the run ends early: queued batches are then not worked on.
    let stopped = AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Owned by this closure: dropped when it returns (also on error), which
        // ends the workers before the scope joins them.
        let job_tx = job_tx;
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let (job_rx, done_tx, lines, stopped) =
                    (&job_rx, done_tx.clone(), &lines, &stopped);
                scope.spawn(move || {
                    // The lock is held only while taking a job, never while working.
                    while let Ok(Ok((index, batch))) = job_rx.lock().map(|rx| rx.recv()) {
                        if stopped.load(Ordering::Relaxed) {
                            return;
                        }
                        if done_tx.send((index, work(lines, batch))).is_err() {
                            return;
                        }
                    }
                })
            })
            .collect();
        drop(done_tx);
        let in_flight_limit = in_flight.max(1) as u64;
        let mut pending = BTreeMap::new();
        let (mut sent, mut next, mut reading) = (0u64, 0u64, true);
        loop {
            while reading && sent - next < in_flight_limit {
                let batch: RawLines = std::iter::from_fn(|| reader.read_line())
                    .take(batch_lines.max(1))
                    .collect();
                if batch.is_empty() || job_tx.send((sent, batch)).is_err() {
                    reading = false;
                } else {
                    sent += 1;
                }
            }
            if next == sent {
                return Ok(());
            }
            match done_rx.recv_timeout(Duration::from_millis(200)) {
                Ok((index, result)) => {
                    pending.insert(index, result);
                }
                // Workers end only when the job channel closes, which has not
                // happened: one panicked. The scope re-raises its panic.
                Err(_) if workers.iter().any(|w| w.is_finished()) => return Ok(()),
                Err(_) => continue,
            }
            while let Some(result) = pending.remove(&next) {
                next += 1;
                match consume(result, reader) {
                    Ok(ControlFlow::Continue(())) => {}
                    stop => {
                        stopped.store(true, Ordering::Relaxed);
                        return stop.map(|_| ());
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::{Encoder, LinkageSecret, Schema};

    const SCHEMA: &str = r#"
version = 1
agency = "test"
[fields]
record_id = { column = "id" }
surname = { column = "surname" }
event_date = { value = "2021-01-01" }
event_type = { value = "assault" }
role = { value = "victim" }
"#;

    /// Results arrive in input order whatever the thread count and batch
    /// size, every line exactly once, and a break stops the reading.
    #[test]
    fn results_come_in_input_order() {
        let schema = Schema::from_toml(SCHEMA).unwrap();
        let encoder = Encoder::new(&LinkageSecret::from_bytes([1; 32]), &schema);
        let csv: String = std::iter::once("id,surname\n".to_string())
            .chain((0..1000).map(|i| format!("R{i},Jansen\n")))
            .collect();
        let ids = |lines: &LineEncoder<'_>, batch: RawLines| -> Vec<String> {
            batch
                .into_iter()
                .map(|line| lines.encode(&line.unwrap()).unwrap().local_id)
                .collect()
        };
        for (threads, batch_lines) in [(1, 1), (2, 7), (4, 100), (3, 2000)] {
            let mut reader =
                RecordReader::new(&encoder, csv.as_bytes(), std::path::Path::new("t.csv")).unwrap();
            let mut seen = Vec::new();
            for_each_batch(
                &mut reader,
                batch_lines,
                threads,
                2 * threads,
                &ids,
                |batch, _| {
                    seen.extend(batch);
                    Ok::<_, ()>(ControlFlow::Continue(()))
                },
            )
            .unwrap();
            let expected: Vec<String> = (0..1000).map(|i| format!("R{i}")).collect();
            assert_eq!(
                seen, expected,
                "{threads} threads, batches of {batch_lines}"
            );
        }
        let mut reader =
            RecordReader::new(&encoder, csv.as_bytes(), std::path::Path::new("t.csv")).unwrap();
        let mut batches = 0;
        for_each_batch(&mut reader, 10, 2, 4, &ids, |_, _| {
            batches += 1;
            Ok::<_, ()>(if batches == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            })
        })
        .unwrap();
        assert_eq!(batches, 3);
    }
}

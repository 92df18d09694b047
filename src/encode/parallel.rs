//! Ordered parallel encoding: worker threads take turns reading a batch of
//! raw CSV lines, each runs one function over the batch it read (encode, and
//! whatever the caller does next: format JSON lines, build a wire batch), and
//! the results come back to the calling thread in input order.
//!
//! `veilink encode` ([`super::encode_file`]) and `veilink submit` both encode
//! through [`for_each_batch`], and the encoding benchmark measures it on all
//! cores. The workers read for themselves (one at a time, under a lock)
//! rather than being fed by a reading thread: on a machine with as many cores
//! as workers, a separate reader would be one thread too many and would take
//! its core from an encoder. Memory is bounded by the caller's limit of
//! batches in flight, and line buffers are reused from batch to batch. A
//! worker that panics ends the run with its panic (never silently dropping
//! its batch); after an early stop, no further batch is read.

use std::collections::BTreeMap;
use std::io::Read;
use std::ops::ControlFlow;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, mpsc};

use super::csv_input::{LineEncoder, RecordReader};
use super::{EncodedRecord, LineError, OnError};

/// One raw line as [`RecordReader::read_line_into`] read it: its fields, or
/// the line error.
pub type RawLine = Result<csv::ByteRecord, LineError>;

/// Raw lines of one batch, in input order.
pub type RawLines = Vec<RawLine>;

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
    batch: &[RawLine],
    on_error: OnError,
    mut encoded: impl FnMut(EncodedRecord),
) -> LineOutcome {
    let mut outcome = LineOutcome::default();
    for line in batch {
        outcome.read += 1;
        let result = match line {
            Ok(raw) => lines.encode(raw),
            Err(error) => Err(error.clone()),
        };
        match result {
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

/// What the workers share under one lock: the reader and the bookkeeping of
/// batches read and consumed.
struct Reading<'r, 'e, R: Read> {
    reader: &'r mut RecordReader<'e, R>,
    /// Batches read so far (the next batch's index).
    read: u64,
    /// Batches the calling thread has consumed.
    consumed: u64,
    /// Set at the end of input, after an early stop, or when a worker panicked.
    finished: bool,
    /// Batches whose work is done, kept to read into again.
    spent: Vec<RawLines>,
}

/// The lock and the condition "a batch may be read" (fewer than the limit in
/// flight, or the run is finished).
struct Turns<'r, 'e, R: Read> {
    reading: Mutex<Reading<'r, 'e, R>>,
    room: Condvar,
}

impl<'r, 'e, R: Read> Turns<'r, 'e, R> {
    /// Takes the lock; a panic elsewhere never leaves the state torn (every
    /// update is a plain field write), so a poisoned lock is used as is.
    fn lock(&self) -> MutexGuard<'_, Reading<'r, 'e, R>> {
        self.reading.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks the run finished and wakes every waiting worker.
    fn finish(&self) {
        self.lock().finished = true;
        self.room.notify_all();
    }
}

/// Ends the run when a worker unwinds, so that the other workers do not wait
/// for room that the calling thread, missing the panicked worker's batch,
/// would never make.
struct FinishOnPanic<'t, 'r, 'e, R: Read>(&'t Turns<'r, 'e, R>);

impl<R: Read> Drop for FinishOnPanic<'_, '_, '_, R> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.finish();
        }
    }
}

/// Reads `reader` to its end in batches of `batch_lines` raw lines and runs
/// `work` on each batch on `threads` worker threads, with at most
/// `in_flight` batches read but not yet consumed (at least 1); calls
/// `consume` on the calling thread with each result in input order, together
/// with the input bytes read up to the end of that batch (for progress). Each
/// worker reads its own batch, one worker at a time, then works on it.
/// Reading stops early when `consume` returns `Ok(ControlFlow::Break(()))` or
/// an error; results still in flight are then dropped. A read error is handed
/// to `work` inside its batch like any bad line (a CSV read failure ends the
/// input after it).
///
/// `work` borrows its batch; the batch's line buffers are then read into
/// again, so a line costs no allocation once the first batches are read.
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
    work: &(dyn Fn(&LineEncoder<'_>, &[RawLine]) -> T + Sync),
    mut consume: impl FnMut(T, u64) -> Result<ControlFlow<()>, E>,
) -> Result<(), E>
where
    R: Read + Send,
    T: Send,
{
    let (threads, batch_lines) = (threads.max(1), batch_lines.max(1));
    let in_flight = in_flight.max(1) as u64;
    let lines = reader.line_encoder().clone();
    let turns = Turns {
        reading: Mutex::new(Reading {
            reader,
            read: 0,
            consumed: 0,
            finished: false,
            spent: Vec::new(),
        }),
        room: Condvar::new(),
    };
    let (done_tx, done_rx) = mpsc::channel::<(u64, T, u64)>();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (turns, lines, done_tx) = (&turns, &lines, done_tx.clone());
            scope.spawn(move || {
                let _finish_on_panic = FinishOnPanic(turns);
                while let Some((index, batch, bytes_read)) =
                    next_batch(turns, batch_lines, in_flight)
                {
                    let result = work(lines, &batch);
                    turns.lock().spent.push(batch);
                    if done_tx.send((index, result, bytes_read)).is_err() {
                        return;
                    }
                }
            });
        }
        // Only the workers hold senders now: `recv` fails once all have ended.
        drop(done_tx);
        let mut pending = BTreeMap::new();
        let mut next = 0u64;
        let outcome = loop {
            let Ok((index, result, bytes_read)) = done_rx.recv() else {
                // Every worker ended: the input is done, or one panicked (the
                // scope then re-raises its panic).
                break Ok(());
            };
            pending.insert(index, (result, bytes_read));
            let mut stop = None;
            while let Some((result, bytes_read)) = pending.remove(&next) {
                next += 1;
                match consume(result, bytes_read) {
                    Ok(ControlFlow::Continue(())) => {}
                    other => {
                        stop = Some(other.map(|_| ()));
                        break;
                    }
                }
            }
            if let Some(stop) = stop {
                break stop;
            }
            turns.lock().consumed = next;
            turns.room.notify_all();
        };
        turns.finish();
        outcome
    })
}

/// Waits for room, then reads the next batch: its index, lines and the input
/// bytes read after it; `None` when the run is finished.
fn next_batch<R: Read>(
    turns: &Turns<'_, '_, R>,
    batch_lines: usize,
    in_flight: u64,
) -> Option<(u64, RawLines, u64)> {
    let mut state = turns.lock();
    while !state.finished && state.read - state.consumed >= in_flight {
        state = turns
            .room
            .wait(state)
            .unwrap_or_else(PoisonError::into_inner);
    }
    if state.finished {
        return None;
    }
    let state = &mut *state;
    let mut batch = state.spent.pop().unwrap_or_default();
    // Line buffers of the spent batch, read into again below.
    let mut buffers: Vec<csv::ByteRecord> = batch.drain(..).filter_map(Result::ok).collect();
    while batch.len() < batch_lines {
        let mut buffer = buffers.pop().unwrap_or_default();
        match state.reader.read_line_into(&mut buffer) {
            Some(Ok(())) => batch.push(Ok(buffer)),
            Some(Err(error)) => batch.push(Err(error)),
            None => break,
        }
    }
    if batch.is_empty() {
        state.finished = true;
        turns.room.notify_all();
        return None;
    }
    let index = state.read;
    state.read += 1;
    Some((index, batch, state.reader.bytes_read()))
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
        let ids = |lines: &LineEncoder<'_>, batch: &[RawLine]| -> Vec<String> {
            batch
                .iter()
                .map(|line| lines.encode(line.as_ref().unwrap()).unwrap().local_id)
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

    /// However many workers, no more than `in_flight` batches are read ahead
    /// of the calling thread, and a worker's panic ends the run with that
    /// panic instead of leaving the others waiting.
    #[test]
    fn read_ahead_is_bounded_and_a_worker_panic_is_raised() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let schema = Schema::from_toml(SCHEMA).unwrap();
        let encoder = Encoder::new(&LinkageSecret::from_bytes([1; 32]), &schema);
        let csv: String = std::iter::once("id,surname\n".to_string())
            .chain((0..1000).map(|i| format!("R{i},Jansen\n")))
            .collect();
        let started = AtomicU64::new(0);
        let work = |_: &LineEncoder<'_>, batch: &[RawLine]| {
            started.fetch_add(1, Ordering::SeqCst);
            batch.len()
        };
        let mut reader =
            RecordReader::new(&encoder, csv.as_bytes(), std::path::Path::new("t.csv")).unwrap();
        let (mut consumed, mut lines) = (0u64, 0);
        for_each_batch(&mut reader, 10, 4, 3, &work, |count, _| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            let ahead = started.load(Ordering::SeqCst) - consumed;
            assert!(ahead <= 3, "{ahead} batches read ahead of the consumer");
            consumed += 1;
            lines += count;
            Ok::<_, ()>(ControlFlow::Continue(()))
        })
        .unwrap();
        assert_eq!((consumed, lines), (100, 1000));

        // On a thread of its own, so that a deadlock fails the test instead
        // of hanging it.
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let encoder = Encoder::new(&LinkageSecret::from_bytes([1; 32]), &schema);
            let panicking = |_: &LineEncoder<'_>, batch: &[RawLine]| {
                let first = batch[0].as_ref().unwrap();
                assert_ne!(&first[0], b"R500", "worker fails on purpose");
            };
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let mut reader =
                    RecordReader::new(&encoder, csv.as_bytes(), std::path::Path::new("t.csv"))
                        .unwrap();
                for_each_batch(&mut reader, 10, 3, 2, &panicking, |(), _| {
                    Ok::<_, ()>(ControlFlow::Continue(()))
                })
            }));
            let _ = done_tx.send(outcome.is_err());
        });
        assert_eq!(
            done_rx.recv_timeout(std::time::Duration::from_secs(60)),
            Ok(true),
            "the worker's panic reaches the caller, without a deadlock"
        );
    }
}

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
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError, TryLockError, mpsc};
use std::time::{Duration, Instant};

use super::csv_input::{LineEncoder, RecordReader};
use super::{EncodeBuffers, EncodedRecord, LineError, OnError};

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
    let mut buffers = EncodeBuffers::default();
    for line in batch {
        outcome.read += 1;
        let result = match line {
            Ok(raw) => lines.encode_reusing(raw, &mut buffers),
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

/// The reader and the index of the next batch, under one lock: holding it
/// is a worker's turn to read.
struct Reading<'r, 'e, R: Read> {
    reader: &'r mut RecordReader<'e, R>,
    /// Batches read so far (the next batch's index).
    read: u64,
}

/// The bookkeeping of the read-ahead bound, under its own lock (never held
/// while reading) with the condition "a batch may be read".
#[derive(Default)]
struct Flow {
    /// Batches workers have taken room for (at least those read).
    taken: u64,
    /// Batches the calling thread has consumed.
    consumed: u64,
    /// Set when a worker found the end of the input: no further batch is read.
    input_done: bool,
    /// Set after an early stop, or when `consume` or a worker panicked: no
    /// further batch is read or worked on.
    stopped: bool,
}

/// What the workers and the calling thread share.
struct Turns<'r, 'e, R: Read> {
    reading: Mutex<Reading<'r, 'e, R>>,
    flow: Mutex<Flow>,
    room: Condvar,
    /// Batches whose work is done, kept to read into again.
    spent: Mutex<Vec<RawLines>>,
}

/// Takes a lock; a panic elsewhere never leaves the shared state torn (every
/// update is a plain field write or a push), so a poisoned lock is used as is.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long a worker that finds another worker reading yields its core and
/// tries again before it sleeps on the lock. Reading a batch takes about
/// 0.1–0.3 ms for the 512 lines of `veilink encode` and about four times
/// that for a 2,000-record wire batch of `veilink submit`; a longer wait
/// (a large batch size, a slow input) ends in the ordinary blocking lock.
const TURN_YIELD: Duration = Duration::from_millis(5);

/// Takes the turn to read. A worker that finds the reader busy yields its
/// core and tries again (for up to [`TURN_YIELD`]) rather than sleeping on
/// the lock at once. Linux may wake a sleeping thread on the core of the
/// thread that woke it (its "wake-affine" placement). That was observed
/// here (`perf sched timehist`, 2 cores): at the start of a run, when every
/// worker wants the first turn, the sleeping worker woke up on the reading
/// worker's core, and both shared that core for about 20 ms while the other
/// idled. Yielding keeps the waiting worker on its own core: +3–7 % on a
/// 20,000-line run, no change on 200,000 lines (BENCHMARKS.md §4).
fn take_turn<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    let mut deadline = None;
    loop {
        match mutex.try_lock() {
            Ok(guard) => return guard,
            Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => {
                let now = Instant::now();
                if now >= *deadline.get_or_insert(now + TURN_YIELD) {
                    return lock(mutex);
                }
                std::thread::yield_now();
            }
        }
    }
}

impl<R: Read> Turns<'_, '_, R> {
    /// Stops the run and wakes every waiting worker.
    fn stop(&self) {
        lock(&self.flow).stopped = true;
        self.room.notify_all();
    }

    fn is_stopped(&self) -> bool {
        lock(&self.flow).stopped
    }
}

/// Stops the run when dropped: by a worker only when it unwinds (so the
/// other workers do not wait for room that the calling thread, missing the
/// panicked worker's batch, would never make); by the calling thread always,
/// also when `consume` panics (so the workers end and the scope can join
/// them).
struct Stop<'t, 'r, 'e, R: Read> {
    turns: &'t Turns<'r, 'e, R>,
    only_on_panic: bool,
}

impl<R: Read> Drop for Stop<'_, '_, '_, R> {
    fn drop(&mut self) {
        if !self.only_on_panic || std::thread::panicking() {
            self.turns.stop();
        }
    }
}

/// Reads `reader` to its end in batches of `batch_lines` raw lines (one at
/// least) and runs `work` on each batch on `threads` worker threads (at least 1),
/// with at most `in_flight` batches read but not yet consumed (at least 1);
/// calls `consume` on the calling thread with each result in input order,
/// together with the input's byte offset after that batch (header included;
/// for progress). Each worker reads its own batch, one worker at a time, then
/// works on it. Reading stops early when `consume` returns
/// `Ok(ControlFlow::Break(()))` or an error: batches already read are then
/// not worked on, and results in flight are dropped. A read error is handed
/// to `work` inside its batch like any bad line (a CSV read failure ends the
/// input after it).
///
/// `work` borrows its batch; the batch's line buffers are then read into
/// again, so reading a line costs no allocation once the first batches are
/// read (buffers grow for longer lines; those of bad lines are not kept).
/// The buffers of at most `in_flight` batches are kept until the run ends.
///
/// # Errors
/// The first error `consume` returns.
///
/// # Panics
/// When a worker thread panicked (after the panic hook reported the worker's
/// panic), or `consume` did; the workers are always ended first.
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
        reading: Mutex::new(Reading { reader, read: 0 }),
        flow: Mutex::new(Flow::default()),
        room: Condvar::new(),
        spent: Mutex::new(Vec::new()),
    };
    let (done_tx, done_rx) = mpsc::channel::<(u64, T, u64)>();
    std::thread::scope(|scope| {
        // Dropped when this closure returns or unwinds, before the scope
        // joins the workers.
        let _stop = Stop {
            turns: &turns,
            only_on_panic: false,
        };
        for _ in 0..threads {
            let (turns, lines, done_tx) = (&turns, &lines, done_tx.clone());
            scope.spawn(move || {
                let _stop_on_panic = Stop {
                    turns,
                    only_on_panic: true,
                };
                while let Some((index, batch, bytes_read)) =
                    next_batch(turns, batch_lines, in_flight)
                {
                    // After an early stop the result would be dropped anyway.
                    if turns.is_stopped() {
                        return;
                    }
                    let result = work(lines, &batch);
                    lock(&turns.spent).push(batch);
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
        loop {
            let Ok((index, result, bytes_read)) = done_rx.recv() else {
                // Every worker ended: the input is done, or one panicked (the
                // scope then panics).
                return Ok(());
            };
            pending.insert(index, (result, bytes_read));
            while let Some((result, bytes_read)) = pending.remove(&next) {
                next += 1;
                match consume(result, bytes_read) {
                    Ok(ControlFlow::Continue(())) => {}
                    other => return other.map(|_| ()),
                }
            }
            lock(&turns.flow).consumed = next;
            turns.room.notify_all();
        }
    })
}

/// Waits for room, then reads the next batch: its index, lines and the input
/// byte offset after it; `None` at the end of the input or when the run was
/// stopped.
fn next_batch<R: Read>(
    turns: &Turns<'_, '_, R>,
    batch_lines: usize,
    in_flight: u64,
) -> Option<(u64, RawLines, u64)> {
    {
        let mut flow = lock(&turns.flow);
        let done = |flow: &Flow| flow.input_done || flow.stopped;
        while !done(&flow) && flow.taken - flow.consumed >= in_flight {
            flow = turns
                .room
                .wait(flow)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if done(&flow) {
            return None;
        }
        flow.taken += 1;
    }
    let mut batch = lock(&turns.spent).pop().unwrap_or_default();
    // Line buffers of the spent batch, read into again below.
    let mut buffers: Vec<csv::ByteRecord> = batch.drain(..).filter_map(Result::ok).collect();
    let mut reading = take_turn(&turns.reading);
    while batch.len() < batch_lines {
        let mut buffer = buffers.pop().unwrap_or_default();
        match reading.reader.read_line_into(&mut buffer) {
            Some(Ok(())) => batch.push(Ok(buffer)),
            Some(Err(error)) => batch.push(Err(error)),
            None => break,
        }
    }
    if batch.is_empty() {
        drop(reading);
        lock(&turns.flow).input_done = true;
        turns.room.notify_all();
        return None;
    }
    let index = reading.read;
    reading.read += 1;
    Some((index, batch, reading.reader.bytes_read()))
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

    /// The test encoder and a CSV of 1000 lines `R0` … `R999`.
    fn fixture() -> (Encoder, String) {
        let schema = Schema::from_toml(SCHEMA).unwrap();
        let encoder = Encoder::new(&LinkageSecret::from_bytes([1; 32]), &schema);
        let csv = std::iter::once("id,surname\n".to_string())
            .chain((0..1000).map(|i| format!("R{i},Jansen\n")))
            .collect();
        (encoder, csv)
    }

    /// Results arrive in input order whatever the thread count and batch
    /// size, every line exactly once, and a break stops the reading.
    #[test]
    fn results_come_in_input_order() {
        let (encoder, csv) = fixture();
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
        let (encoder, csv) = fixture();
        let started = AtomicU64::new(0);
        let work = |_: &LineEncoder<'_>, batch: &[RawLine]| {
            started.fetch_add(1, Ordering::SeqCst);
            batch.len()
        };
        for in_flight in [3, 1] {
            started.store(0, Ordering::SeqCst);
            let mut reader =
                RecordReader::new(&encoder, csv.as_bytes(), std::path::Path::new("t.csv")).unwrap();
            let (mut consumed, mut lines) = (0u64, 0);
            for_each_batch(&mut reader, 10, 4, in_flight, &work, |count, _| {
                std::thread::sleep(std::time::Duration::from_millis(1));
                let ahead = started.load(Ordering::SeqCst) - consumed;
                assert!(
                    ahead <= in_flight as u64,
                    "{ahead} batches read ahead of the consumer"
                );
                consumed += 1;
                lines += count;
                Ok::<_, ()>(ControlFlow::Continue(()))
            })
            .unwrap();
            assert_eq!((consumed, lines), (100, 1000));
        }

        let outcome = panics_without_deadlock(|encoder, csv| {
            let panicking = |_: &LineEncoder<'_>, batch: &[RawLine]| {
                let first = batch[0].as_ref().unwrap();
                assert_ne!(&first[0], b"R500", "worker fails on purpose");
            };
            let mut reader =
                RecordReader::new(encoder, csv.as_bytes(), std::path::Path::new("t.csv")).unwrap();
            for_each_batch(&mut reader, 10, 3, 2, &panicking, |(), _| {
                Ok::<_, ()>(ControlFlow::Continue(()))
            })
        });
        assert_eq!(
            outcome,
            Some(true),
            "the worker's panic reaches the caller, without a deadlock"
        );
    }

    /// Runs `run` on the fixture on a thread of its own and tells whether it
    /// panicked; `None` when it has not ended after a minute (a deadlock),
    /// so that a deadlock fails the test instead of hanging it.
    fn panics_without_deadlock<T: 'static>(run: fn(&Encoder, &str) -> T) -> Option<bool> {
        let (done_tx, done_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let (encoder, csv) = fixture();
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&encoder, &csv)));
            let _ = done_tx.send(outcome.is_err());
        });
        done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .ok()
    }

    /// A panic in `consume` reaches the caller and ends the workers (none is
    /// left waiting for room).
    #[test]
    fn a_consume_panic_ends_the_run() {
        let outcome = panics_without_deadlock(|encoder, csv| {
            let count = |_: &LineEncoder<'_>, batch: &[RawLine]| batch.len();
            let mut reader =
                RecordReader::new(encoder, csv.as_bytes(), std::path::Path::new("t.csv")).unwrap();
            let mut batches = 0;
            for_each_batch(&mut reader, 10, 3, 2, &count, |_, _| {
                batches += 1;
                assert_ne!(batches, 3, "consume fails on purpose");
                Ok::<_, ()>(ControlFlow::Continue(()))
            })
        });
        assert_eq!(
            outcome,
            Some(true),
            "consume's panic reaches the caller, without a deadlock"
        );
    }

    /// An error from `consume` is returned; an input with only a header
    /// gives no batch; bad lines stay in their batch, in order, and the byte
    /// offsets grow to the input's length.
    #[test]
    fn errors_empty_input_and_bad_lines() {
        let (encoder, csv) = fixture();
        let ids = |_: &LineEncoder<'_>, batch: &[RawLine]| -> Vec<Option<Vec<u8>>> {
            batch
                .iter()
                .map(|line| line.as_ref().ok().map(|record| record[0].to_vec()))
                .collect()
        };
        let mut reader =
            RecordReader::new(&encoder, csv.as_bytes(), std::path::Path::new("t.csv")).unwrap();
        let mut calls = 0;
        let outcome = for_each_batch(&mut reader, 10, 2, 4, &ids, |_, _| {
            calls += 1;
            Err::<ControlFlow<()>, _>("stop")
        });
        assert_eq!((outcome, calls), (Err("stop"), 1));

        let header = "id,surname\n";
        let mut reader =
            RecordReader::new(&encoder, header.as_bytes(), std::path::Path::new("t.csv")).unwrap();
        let mut calls = 0;
        for_each_batch(&mut reader, 10, 2, 4, &ids, |_, _| {
            calls += 1;
            Ok::<_, ()>(ControlFlow::Continue(()))
        })
        .unwrap();
        assert_eq!(calls, 0);

        // Every seventh line has a field too many.
        let lines: String = (0..300)
            .map(|i| {
                if i % 7 == 3 {
                    format!("R{i},Jansen,extra\n")
                } else {
                    format!("R{i},Jansen\n")
                }
            })
            .collect();
        let input = format!("{header}{lines}");
        let mut reader =
            RecordReader::new(&encoder, input.as_bytes(), std::path::Path::new("t.csv")).unwrap();
        let (mut seen, mut offsets) = (Vec::new(), Vec::new());
        for_each_batch(&mut reader, 16, 3, 4, &ids, |batch, offset| {
            seen.extend(batch);
            offsets.push(offset);
            Ok::<_, ()>(ControlFlow::Continue(()))
        })
        .unwrap();
        let expected: Vec<Option<Vec<u8>>> = (0..300)
            .map(|i| (i % 7 != 3).then(|| format!("R{i}").into_bytes()))
            .collect();
        assert_eq!(seen, expected);
        assert!(offsets.windows(2).all(|pair| pair[0] < pair[1]));
        assert_eq!(offsets.last().copied(), Some(input.len() as u64));
    }
}

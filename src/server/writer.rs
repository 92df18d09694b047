//! The single writer: every change to the store is decided on one thread,
//! and committed in that order, so linkage, the transparency log and the
//! store never disagree.
//!
//! Handlers validate requests in parallel and send a [`WriteRequest`]; the
//! writer, one at a time: checks idempotency and the project fingerprint,
//! links the records in memory, stages the transparency-log entries, and
//! has everything committed in ONE sled transaction ([`Store::commit`]). The
//! reply then goes to the flusher task, which answers only after an fsync
//! that started after the commit (`flush_async`); commits that arrive during
//! a flush share the next one (group commit). After each flush the
//! checkpoint task signs the durable tree head, at most once a second.
//!
//! **Batches are pipelined.** A batch's transaction is run by a second
//! thread, the committer, while the writer links the next batch: linking
//! and the sled commit each took about half of the writer's time, and the
//! writer was the one busy thread of the server (`BENCHMARKS.md` §5). The
//! committer commits in the order the writer staged, so the log's entries
//! and the store stay in step. The writer reads nothing from sled while it
//! stages a batch (sled blocks reads during a transaction): refs, record
//! names and batch ids come from its in-memory record names
//! ([`RecordNames`](super::names::RecordNames)), which it updates as it
//! stages, and the counters are read once at start; so a
//! retried batch id or a corrected ref is recognised also while its first
//! copy is still being committed. At most [`PIPELINE_DEPTH`] batches wait
//! for the committer. The committer publishes how far the committed records
//! reach ([`WriterHandle::committed_below`]), so that readers of the
//! in-memory names (the linkage-map export) list committed records only. Every other change (withdrawal,
//! retention, job, report entry) first waits until the committer is idle
//! and then commits on the writer thread, as before, so it reads a store
//! that holds every earlier change.
//!
//! A commit failure leaves memory ahead of the store; the writer then stops
//! taking writes (every later write answers `UNAVAILABLE`, also batches
//! staged after the failed one) and the server must be restarted, which
//! rebuilds memory from the store.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch};

use super::error::ServiceError;
use super::jobs::{JobBoard, JobStatus, trigger_name};
use super::names::SharedNames;
use super::state::{
    AgencyCodes, EventRow, Linkage, LinkageWrite, SharedLinkage, encode_person, read_lock,
    write_lock,
};
use super::validate::ValidRecord;
use crate::audit::checkpoint::LogKey;
use crate::audit::entry::{
    self as entry, BatchReceipt, JobCounts, JobOutcome, JobPhase, JobRecord, JobTrigger,
    LinkDecision, LinkKind, LogEntry, Retention, Withdrawal,
};
use crate::audit::log::{LogState, StagedAppend, stage_append};
use crate::link::{ChangeKind, JobOptions, LinkDelta, LinkRecord, PersonId};
use crate::pb::v1 as pb;
use crate::store::codec::{RecordKey, StoredReceipt, batch_key};
use crate::store::{
    META_FINGERPRINT, META_LINK_MODEL, META_NEXT_SEQ, Store, StoreError, TreeName, WriteSet,
    decode_record_row, encode_record_row, fixed_width,
};

/// One validated batch of an agency.
pub(crate) struct BatchWrite {
    /// The agency (from the client certificate).
    pub agency: String,
    /// The client's batch id.
    pub batch_id: [u8; 32],
    /// The batch's encoding fingerprint.
    pub fingerprint: [u8; 32],
    /// Digest of the canonical batch encoding.
    pub digest: [u8; 32],
    /// The records, tokens already re-keyed by the handler.
    pub records: Vec<ValidRecord>,
}

/// A change the writer applies.
pub(crate) enum WriteRequest {
    /// Commit a batch (or answer its stored receipt).
    Batch(
        BatchWrite,
        oneshot::Sender<Result<pb::BatchReceipt, ServiceError>>,
    ),
    /// Withdraw an agency's records by ref.
    Withdraw {
        agency: String,
        refs: Vec<[u8; 32]>,
        reply: oneshot::Sender<Result<pb::WithdrawResponse, ServiceError>>,
    },
    /// Append entries (a report query) to the log; answers the first index.
    Log(Vec<LogEntry>, oneshot::Sender<Result<u64, ServiceError>>),
    /// Run the full linkage job that the board has registered as running.
    Job { job_id: u64, trigger: JobTrigger },
    /// Remove records whose event is before `cutoff`.
    Retention { cutoff: chrono::NaiveDate },
}

/// An agency id with record refs of that agency.
type AgencyRefs = (String, Vec<[u8; 32]>);

/// A reply that waits for the next fsync: `Ok` once the change is durable,
/// the error when the commit or the flush failed.
type Pending = Box<dyn FnOnce(Result<(), ServiceError>) + Send>;

/// Batches the writer may have staged for the committer beyond the one being
/// committed. Two keep both threads busy; more would only let memory run
/// further ahead of the store.
pub(crate) const PIPELINE_DEPTH: usize = 2;

/// A change staged by the writer for the committer.
struct StagedCommit {
    /// 1, 2, … in staging order.
    id: u64,
    /// The store writes.
    writes: WriteSet,
    /// The log append, if the change logs anything.
    log: Option<StagedAppend>,
    /// The log state once this change is committed (for the checkpoints).
    state: LogState,
    /// Every record of this and earlier changes has a sequence number
    /// below this.
    seq_below: u64,
    /// The answer, sent after the flush that follows the commit.
    reply: Pending,
}

/// How far the committer got, shared by the writer and the committer.
#[derive(Default)]
struct CommitProgress {
    state: Mutex<CommitState>,
    changed: Condvar,
}

#[derive(Default)]
struct CommitState {
    /// Every staged change up to this id is committed (or refused after a failure).
    done: u64,
    /// Why the committer stopped committing, if it did.
    failed: Option<String>,
    /// Every record with a sequence number below this is committed.
    seq_below: u64,
}

impl CommitProgress {
    fn lock(&self) -> std::sync::MutexGuard<'_, CommitState> {
        // The state is two plain fields; a panic elsewhere leaves it valid.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn failed(&self) -> Option<String> {
        self.lock().failed.clone()
    }
    /// Change `id` is done: committed up to `seq_below` without `failure`.
    fn finish(&self, id: u64, seq_below: u64, failure: Option<String>) {
        let mut state = self.lock();
        state.done = id;
        match failure {
            None => state.seq_below = state.seq_below.max(seq_below),
            Some(reason) => {
                state.failed.get_or_insert(reason);
            }
        }
        self.changed.notify_all();
    }
    /// Marks the committer as gone (every change done, none committed any
    /// more), so that no one waits for it in vain.
    fn stop(&self, reason: &str) {
        let mut state = self.lock();
        state.done = u64::MAX;
        state.failed.get_or_insert_with(|| reason.to_string());
        self.changed.notify_all();
    }
    /// Blocks until every change up to `id` is done; the failure, if any.
    fn wait_for(&self, id: u64) -> Option<String> {
        let mut state = self.lock();
        while state.done < id {
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        }
        state.failed.clone()
    }
}

/// The committer thread: commits staged changes in order, hands their
/// replies to the flusher, and after a failure refuses every later change.
fn committer(
    store: Store,
    staged: std::sync::mpsc::Receiver<StagedCommit>,
    progress: Arc<CommitProgress>,
    flusher: mpsc::UnboundedSender<(Pending, LogState)>,
) {
    /// Releases the writer from waiting when this thread ends, also by a
    /// panic (after the writer dropped its end, nobody waits any more).
    struct OnExit(Arc<CommitProgress>);
    impl Drop for OnExit {
        fn drop(&mut self) {
            if std::thread::panicking() {
                tracing::error!("the committer thread panicked; stopping writes until restart");
                self.0.stop("the committer panicked");
            } else {
                self.0.stop("the committer stopped");
            }
        }
    }
    let _on_exit = OnExit(progress.clone());
    for change in staged {
        let result = match progress.failed() {
            Some(reason) => Err(reason),
            None if change.writes.is_empty() && change.log.is_none() => Ok(()),
            None => store
                .commit(&change.writes, change.log.as_ref())
                .map_err(|e| {
                    tracing::error!(error = %e, "commit failed; stopping writes until restart");
                    format!("commit failed: {e}")
                }),
        };
        // Progress first, so that whoever gets the reply also sees the mark
        // (the writer's own commits after `wait_for_commits` may reach the
        // flusher before this reply: each reply still waits for a flush
        // that began after its commit).
        progress.finish(change.id, change.seq_below, result.clone().err());
        match result {
            Ok(()) => {
                let _ = flusher.send((change.reply, change.state));
            }
            Err(reason) => (change.reply)(Err(ServiceError::Unavailable(format!(
                "writes are stopped: {reason}"
            )))),
        }
    }
}

/// Handles for talking to the writer.
#[derive(Clone)]
pub(crate) struct WriterHandle {
    requests: mpsc::Sender<WriteRequest>,
    progress: Arc<CommitProgress>,
}

impl WriterHandle {
    /// Every record whose sequence number is below this is committed (not
    /// necessarily flushed yet); records at or above it may be staged only.
    pub(crate) fn committed_below(&self) -> u64 {
        self.progress.lock().seq_below
    }

    /// Sends a request; fails when the writer has stopped.
    pub(crate) async fn send(&self, request: WriteRequest) -> Result<(), ServiceError> {
        self.requests.send(request).await.map_err(|_| {
            ServiceError::Unavailable("the writer has stopped; restart the server".into())
        })
    }
}

/// Counter keys (tree `counters`).
fn counter_key(what: &str, agency: u16) -> Vec<u8> {
    let mut key = what.as_bytes().to_vec();
    key.push(b'/');
    key.extend_from_slice(&agency.to_be_bytes());
    key
}

/// Reads a per-agency counter (0 when absent).
pub(crate) fn read_counter(store: &Store, what: &str, agency: u16) -> Result<u64, StoreError> {
    store.get_u64(TreeName::Counters, &counter_key(what, agency))
}

fn unix_now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

/// The writer's state (owned by its thread).
struct Writer {
    store: Store,
    linkage: Arc<SharedLinkage>,
    agencies: Arc<RwLock<AgencyCodes>>,
    jobs: Arc<JobBoard>,
    log: LogState,
    next_seq: u64,
    fingerprint: Option<[u8; 32]>,
    configured_fingerprint: Option<[u8; 32]>,
    counters: HashMap<Vec<u8>, u64>,
    flusher: mpsc::UnboundedSender<(Pending, LogState)>,
    failed: Option<String>,
    /// Staged batches for the committer.
    staged: std::sync::mpsc::SyncSender<StagedCommit>,
    /// How far the committer got.
    progress: Arc<CommitProgress>,
    /// The id of the last staged change.
    submitted: u64,
    /// Stored (and staged) record refs and batch ids.
    names: SharedNames,
}

/// The writer's thread and its background tasks, awaited at shutdown: the
/// thread ends when the last [`WriterHandle`] is dropped (after the
/// committer thread, which it joins), the flusher after the thread, the
/// checkpoint task (after a last checkpoint) after the flusher.
pub(crate) struct WriterTasks {
    /// The writer thread.
    pub thread: std::thread::JoinHandle<()>,
    /// The flusher and the checkpoint task.
    pub background: Vec<tokio::task::JoinHandle<()>>,
}

/// Starts the writer thread, its committer thread, the flusher and the
/// checkpoint task. First it stores what the startup found: `startup`, the
/// delta of the rebuild (only non-empty when the linkage configuration
/// changed), and `interrupted`, jobs that were running when the server
/// stopped (marked failed and logged). `names` are the stored records' refs
/// and the committed batch ids, read at startup.
#[allow(clippy::too_many_arguments)]
pub(crate) fn start(
    store: Store,
    linkage: Arc<SharedLinkage>,
    agencies: Arc<RwLock<AgencyCodes>>,
    jobs: Arc<JobBoard>,
    configured_fingerprint: Option<[u8; 32]>,
    startup: LinkDelta,
    names: SharedNames,
    interrupted: Vec<JobStatus>,
    key: LogKey,
) -> Result<(WriterHandle, WriterTasks), ServiceError> {
    let log = LogState::open(store.log()).map_err(StoreError::from)?;
    let next_seq = store.get_u64(TreeName::Meta, META_NEXT_SEQ)?.max(1);
    let fingerprint = store
        .tree(TreeName::Meta)
        .get(META_FINGERPRINT)
        .map_err(StoreError::from)?
        .and_then(|v| <[u8; 32]>::try_from(v.as_ref()).ok());
    let (flush_tx, flush_rx) = mpsc::unbounded_channel();
    let (durable_tx, durable_rx) = watch::channel(log.clone());
    let background = vec![
        tokio::spawn(flusher(store.clone(), flush_rx, durable_tx)),
        tokio::spawn(checkpointer(store.clone(), key, durable_rx)),
    ];

    let (tx, mut rx) = mpsc::channel::<WriteRequest>(64);
    let (staged_tx, staged_rx) = std::sync::mpsc::sync_channel(PIPELINE_DEPTH);
    let progress = Arc::new(CommitProgress::default());
    progress.lock().seq_below = next_seq;
    // Read once here, kept in memory after: the writer reads no counter
    // from sled while a commit may be running.
    let mut counters = HashMap::new();
    for item in store.tree(TreeName::Counters).iter() {
        let (key, value) = item.map_err(StoreError::from)?;
        let value = fixed_width(&value, TreeName::Counters, "a counter is not 8 bytes")?;
        counters.insert(key.to_vec(), u64::from_be_bytes(value));
    }
    let committer_thread = {
        let (store, progress, flusher) = (store.clone(), progress.clone(), flush_tx.clone());
        std::thread::Builder::new()
            .name("veilink-commit".into())
            .spawn(move || committer(store, staged_rx, progress, flusher))
            .map_err(|e| ServiceError::Internal(format!("cannot start the committer: {e}")))?
    };
    let mut writer = Writer {
        store,
        linkage,
        agencies,
        jobs,
        log,
        next_seq,
        fingerprint,
        configured_fingerprint,
        counters,
        flusher: flush_tx,
        failed: None,
        staged: staged_tx,
        progress: progress.clone(),
        submitted: 0,
        names,
    };
    if !startup.changes.is_empty() {
        writer.persist_startup_delta(&startup)?;
    }
    for job in interrupted {
        writer.fail_interrupted(job)?;
    }
    let thread = std::thread::Builder::new()
        .name("veilink-writer".into())
        .spawn(move || {
            while let Some(request) = rx.blocking_recv() {
                writer.handle(request);
            }
            // The committer ends once it has committed what was staged.
            drop(writer);
            if committer_thread.join().is_err() {
                tracing::error!("the committer thread panicked");
            }
        })
        .map_err(|e| ServiceError::Internal(format!("cannot start the writer: {e}")))?;
    Ok((
        WriterHandle {
            requests: tx,
            progress,
        },
        WriterTasks { thread, background },
    ))
}

/// Answers pending replies after an fsync that began after their commit;
/// replies that arrive during a flush wait for the next one.
async fn flusher(
    store: Store,
    mut pending: mpsc::UnboundedReceiver<(Pending, LogState)>,
    durable: watch::Sender<LogState>,
) {
    while let Some(first) = pending.recv().await {
        let mut group = vec![first];
        while let Ok(more) = pending.try_recv() {
            group.push(more);
        }
        let result = store.flush().await.map_err(|e| {
            tracing::error!(error = %e, "flush failed");
            "the store could not be made durable"
        });
        if result.is_ok() {
            // The last state in the group is the newest committed before the flush.
            if let Some((_, state)) = group.last() {
                durable.send_replace(state.clone());
            }
        }
        for (reply, _) in group {
            reply(result.map_err(|m| ServiceError::Internal(m.into())));
        }
    }
}

/// Signs a checkpoint of the durable tree head after appends, at most once a
/// second, and a last one when the writer stops.
async fn checkpointer(store: Store, key: LogKey, mut durable: watch::Receiver<LogState>) {
    // u64::MAX: nothing signed yet (also an empty log gets a checkpoint).
    let mut signed_size = store
        .log()
        .latest_checkpoint()
        .ok()
        .flatten()
        .and_then(|note| note.lines().nth(1).and_then(|size| size.parse().ok()))
        .unwrap_or(u64::MAX);
    let mut last: Option<Instant> = None;
    let sign = |state: &LogState, signed_size: &mut u64| {
        if state.size() == *signed_size {
            return;
        }
        match store.log().sign_checkpoint(&key, state, unix_now()) {
            Ok(_) => *signed_size = state.size(),
            Err(e) => tracing::error!(error = %e, "signing a checkpoint failed"),
        }
    };
    loop {
        let state = durable.borrow_and_update().clone();
        if state.size() != signed_size {
            let wait = last.map_or(Duration::ZERO, |t| {
                Duration::from_secs(1).saturating_sub(t.elapsed())
            });
            if !wait.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    changed = durable.changed() => {
                        if changed.is_err() {
                            sign(&durable.borrow().clone(), &mut signed_size);
                            return;
                        }
                    }
                }
                continue;
            }
            sign(&state, &mut signed_size);
            last = Some(Instant::now());
        }
        if durable.changed().await.is_err() {
            sign(&durable.borrow().clone(), &mut signed_size);
            return;
        }
    }
}

impl Writer {
    fn handle(&mut self, request: WriteRequest) {
        if self.failed.is_none() {
            self.failed = self.progress.failed();
        }
        // Only batches are pipelined; everything else sees a store that holds
        // every earlier change.
        if self.failed.is_none() && !matches!(request, WriteRequest::Batch(..)) {
            self.failed = self.wait_for_commits();
        }
        if let Some(reason) = &self.failed {
            let error = ServiceError::Unavailable(format!("writes are stopped: {reason}"));
            match request {
                WriteRequest::Batch(_, reply) => drop(reply.send(Err(error))),
                WriteRequest::Withdraw { reply, .. } => drop(reply.send(Err(error))),
                WriteRequest::Log(_, reply) => drop(reply.send(Err(error))),
                WriteRequest::Job { job_id, .. } => self.jobs.fail(job_id, error.to_string()),
                WriteRequest::Retention { .. } => {}
            }
            return;
        }
        match request {
            WriteRequest::Batch(batch, reply) => self.batch(batch, reply),
            WriteRequest::Withdraw {
                agency,
                refs,
                reply,
            } => self.withdraw(&agency, &refs, reply),
            WriteRequest::Log(entries, reply) => {
                match self.commit(WriteSet::new(), entries, Vec::new()) {
                    Ok((first, state)) => self.after_flush(state, move |r| {
                        let _ = reply.send(r.map(|()| first));
                    }),
                    Err(e) => drop(reply.send(Err(e))),
                }
            }
            WriteRequest::Job { job_id, trigger } => self.job(job_id, trigger),
            WriteRequest::Retention { cutoff } => self.retention(cutoff),
        }
    }

    /// Queues `reply` for after the next flush (with the log state it made
    /// durable). Only for changes committed on this thread, which come after
    /// [`Writer::wait_for_commits`].
    fn after_flush(
        &self,
        state: LogState,
        reply: impl FnOnce(Result<(), ServiceError>) + Send + 'static,
    ) {
        let _ = self.flusher.send((Box::new(reply), state));
    }

    /// Waits until the committer has committed every staged change; the
    /// reason it stopped, if it did.
    fn wait_for_commits(&self) -> Option<String> {
        self.progress.wait_for(self.submitted)
    }

    /// Hands a change to the committer: stages its log entries on the log
    /// state (which from now on counts them), and queues `reply` for after
    /// the flush that follows its commit. Blocks while [`PIPELINE_DEPTH`]
    /// changes wait.
    ///
    /// # Errors
    /// The entries cannot be encoded, or the committer has stopped; `reply`
    /// has then been answered with the error, and the caller stops writes
    /// (memory may already hold the change).
    fn stage(
        &mut self,
        writes: WriteSet,
        entries: Vec<LogEntry>,
        reply: Pending,
    ) -> Result<(), ServiceError> {
        let log = if entries.is_empty() {
            None
        } else {
            match stage_append(&self.log, &entries) {
                Ok(log) => Some(log),
                Err(e) => {
                    reply(Err(ServiceError::Internal(e.to_string())));
                    return Err(ServiceError::Internal(e.to_string()));
                }
            }
        };
        if let Some(log) = &log {
            // The committer commits in staging order or refuses everything
            // after a failure, so the next change is staged on this state.
            self.log = log.state().clone();
        }
        self.submitted += 1;
        let change = StagedCommit {
            id: self.submitted,
            writes,
            log,
            state: self.log.clone(),
            seq_below: self.next_seq,
            reply,
        };
        let message = "the committer has stopped; restart the server";
        self.staged.send(change).map_err(|unsent| {
            (unsent.0.reply)(Err(ServiceError::Unavailable(message.into())));
            ServiceError::Unavailable(message.into())
        })
    }

    /// A counter's value: all of them were read at start and every change
    /// goes through [`Writer::add_counter`], so an absent one is 0.
    fn counter(&self, what: &str, agency: u16) -> u64 {
        self.counters
            .get(&counter_key(what, agency))
            .copied()
            .unwrap_or(0)
    }

    fn add_counter(&mut self, writes: &mut WriteSet, what: &str, agency: u16, delta: i64) {
        let value = (self.counter(what, agency) as i64 + delta).max(0) as u64;
        let key = counter_key(what, agency);
        writes.put(
            TreeName::Counters,
            key.clone(),
            value.to_be_bytes().to_vec(),
        );
        self.counters.insert(key, value);
    }

    /// Commits `writes` with `entries` appended to the log (entries first,
    /// then `later_entries`); returns the index of the first entry and the
    /// new log state. On failure the writer stops taking writes.
    fn commit(
        &mut self,
        writes: WriteSet,
        entries: Vec<LogEntry>,
        later_entries: Vec<LogEntry>,
    ) -> Result<(u64, LogState), ServiceError> {
        let mut all = entries;
        all.extend(later_entries);
        let staged = if all.is_empty() {
            None
        } else {
            Some(stage_append(&self.log, &all).map_err(|e| ServiceError::Internal(e.to_string()))?)
        };
        let first = self.log.size();
        if let Err(e) = self.store.commit(&writes, staged.as_ref()) {
            let reason = format!("commit failed: {e}");
            tracing::error!(error = %e, "commit failed; stopping writes until restart");
            self.failed = Some(reason.clone());
            return Err(ServiceError::Unavailable(reason));
        }
        if let Some(staged) = staged {
            self.log = staged.into_state();
        }
        Ok((first, self.log.clone()))
    }

    fn check_fingerprint(&self, fingerprint: &[u8; 32]) -> Result<bool, ServiceError> {
        let project = self.configured_fingerprint.or(self.fingerprint);
        match project {
            Some(p) if &p != fingerprint => Err(ServiceError::FailedPrecondition(
                "the batch's encoding fingerprint differs from the project's: the agencies \
                 disagree on the rule set, the normalisation or the linkage secret"
                    .into(),
            )),
            Some(_) => Ok(false),
            None => Ok(true),
        }
    }

    /// Stages a batch for the committer; its receipt is answered after the
    /// flush that follows its commit. A replayed batch id stages nothing to
    /// write, so its stored receipt is answered once the first copy is durable.
    fn batch(
        &mut self,
        batch: BatchWrite,
        reply: oneshot::Sender<Result<pb::BatchReceipt, ServiceError>>,
    ) {
        match self.try_batch(batch) {
            Ok((receipt, writes, entries)) => {
                let answer: Pending = Box::new(move |r| {
                    let _ = reply.send(r.map(|()| receipt));
                });
                if let Err(e) = self.stage(writes, entries, answer)
                    && self.failed.is_none()
                {
                    tracing::error!(error = %e, "a batch could not be staged; stopping writes until restart");
                    self.failed = Some(format!("a batch could not be staged: {e}"));
                }
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Checks a batch without side effects (replay, fingerprint), then
    /// applies it to memory: the receipt, the store writes and the log
    /// entries to commit. Once memory starts to change, any failure stops
    /// writes.
    fn try_batch(
        &mut self,
        batch: BatchWrite,
    ) -> Result<(pb::BatchReceipt, WriteSet, Vec<LogEntry>), ServiceError> {
        let known_code = self.read_agencies()?.code(&batch.agency);
        if let Some(agency) = known_code {
            // Idempotency: a committed (or staged) batch id answers its
            // original receipt, read once its first copy is committed.
            let key = batch_key(agency, &batch.batch_id);
            let staged = read_lock(&self.names, "record names")?.batch(&key);
            if let Some(staged) = staged {
                if let Some(reason) = self.progress.wait_for(staged) {
                    return Err(ServiceError::Unavailable(format!(
                        "writes are stopped: {reason}"
                    )));
                }
                let stored = self
                    .store
                    .tree(TreeName::Batches)
                    .get(key)
                    .map_err(StoreError::from)?
                    .ok_or_else(|| {
                        ServiceError::Internal("a committed batch has no receipt".into())
                    })?;
                let stored = StoredReceipt::decode(&stored)?;
                return Ok((
                    receipt_message(&batch.batch_id, &stored, true),
                    WriteSet::new(),
                    Vec::new(),
                ));
            }
        }
        let first_batch = self.check_fingerprint(&batch.fingerprint)?;
        let result = self.apply_batch(batch, first_batch);
        if let Err(e) = &result
            && self.failed.is_none()
        {
            tracing::error!(error = %e, "a batch failed after linking began; stopping writes until restart");
            self.failed = Some(format!("a batch failed midway: {e}"));
        }
        result
    }

    fn read_agencies(&self) -> Result<std::sync::RwLockReadGuard<'_, AgencyCodes>, ServiceError> {
        read_lock(&self.agencies, "agency")
    }

    fn apply_batch(
        &mut self,
        batch: BatchWrite,
        first_batch: bool,
    ) -> Result<(pb::BatchReceipt, WriteSet, Vec<LogEntry>), ServiceError> {
        let mut writes = WriteSet::new();
        let agency = self
            .write_agencies()?
            .code_or_assign(&batch.agency, &mut writes)?;
        let key = batch_key(agency, &batch.batch_id);
        if first_batch {
            writes.put(TreeName::Meta, META_FINGERPRINT, batch.fingerprint.to_vec());
        }

        let mut corrected = 0u32;
        let mut replaced = Vec::new();
        let mut inserts = Vec::with_capacity(batch.records.len());
        let mut rows = Vec::with_capacity(batch.records.len());
        let mut new_records = 0i64;
        let names_lock = self.names.clone();
        let mut names = write_lock(&names_lock, "record names")?;
        // `stage` gives the change the next id.
        names.add_batch(key, self.submitted + 1);
        for record in batch.records {
            let record_key = RecordKey {
                agency,
                record_ref: record.record_ref,
            };
            let seq = match names.seq_of(&record_key) {
                Some(old_seq) => {
                    corrected += 1;
                    replaced.push(old_seq);
                    old_seq
                }
                None => {
                    let seq = self.next_seq;
                    self.next_seq += 1;
                    new_records += 1;
                    names.insert(record_key, seq);
                    seq
                }
            };
            let stored = record.into_stored(seq);
            writes.put(
                TreeName::Records,
                seq.to_be_bytes().to_vec(),
                encode_record_row(record_key, &stored),
            );
            rows.push((seq, EventRow::of(agency, &stored)));
            inserts.push(LinkRecord {
                seq,
                tokens: stored.tokens,
                bloom: stored.bloom,
            });
        }
        // Released before the decisions read the names.
        drop(names);
        writes.put(
            TreeName::Meta,
            META_NEXT_SEQ,
            self.next_seq.to_be_bytes().to_vec(),
        );
        self.add_counter(&mut writes, "records", agency, new_records);
        self.add_counter(&mut writes, "batches", agency, 1);

        // Link in memory, then persist the changed persons.
        let accepted = rows.len() as u32;
        let (decisions, person_writes) = {
            let mut linkage = self.write_linkage()?;
            let mut deltas = Vec::new();
            if !replaced.is_empty() {
                deltas.push(linkage.index.remove(&replaced).map_err(link_error)?);
            }
            deltas.push(linkage.index.insert(inserts).map_err(link_error)?);
            for (seq, row) in rows {
                linkage.events.insert(seq, row);
            }
            let person_writes = persist_persons(&linkage, &deltas);
            let decisions = self.decisions(&deltas, 0, Some(batch.batch_id))?;
            (decisions, person_writes)
        };
        put_persons(&mut writes, person_writes);
        let now_ms = chrono::Utc::now().timestamp_millis();
        let receipt_entry = LogEntry::BatchReceipt(BatchReceipt {
            agency: batch.agency.clone(),
            batch_id: batch.batch_id,
            digest: batch.digest,
            accepted,
            corrected,
            time: now_ms / 1000,
        });
        let stored = StoredReceipt {
            accepted,
            corrected,
            digest: batch.digest,
            audit_index: self.log.size(),
            committed_at_ms: now_ms,
        };
        writes.put(TreeName::Batches, key.to_vec(), stored.encode());
        let mut entries = Vec::with_capacity(decisions.len() + 1);
        entries.push(receipt_entry);
        entries.extend(decisions);
        if first_batch {
            self.fingerprint = Some(batch.fingerprint);
        }
        Ok((
            receipt_message(&batch.batch_id, &stored, false),
            writes,
            entries,
        ))
    }

    fn write_linkage(&self) -> Result<LinkageWrite<'_>, ServiceError> {
        self.linkage.write()
    }

    fn write_agencies(&self) -> Result<std::sync::RwLockWriteGuard<'_, AgencyCodes>, ServiceError> {
        write_lock(&self.agencies, "agency")
    }

    /// Log entries for the linkage decisions of `deltas` (never tokens:
    /// record refs, person ids, rule ids and scores).
    fn decisions(
        &self,
        deltas: &[LinkDelta],
        job_id: u64,
        batch_id: Option<[u8; 32]>,
    ) -> Result<Vec<LogEntry>, ServiceError> {
        // The names hold every record a decision can name: those of a batch
        // being staged were added to them first, and a withdrawal removes
        // its records only after its decisions are built.
        let names = read_lock(&self.names, "record names")?;
        let agencies = self.read_agencies()?;
        let record_key_of = |seq: u64| -> Result<entry::RecordKey, ServiceError> {
            let key = names
                .key_of(seq)
                .ok_or_else(|| ServiceError::Internal(format!("record {seq} has no key")))?;
            Ok(entry::RecordKey {
                agency: agencies.name(key.agency).to_string(),
                record_ref: key.record_ref,
            })
        };
        let mut out = Vec::new();
        for delta in deltas {
            for change in &delta.changes {
                let decision = match change.kind {
                    ChangeKind::New => LinkKind::New,
                    ChangeKind::Join => LinkKind::Join,
                    ChangeKind::Merge => LinkKind::Merge,
                    ChangeKind::Split => LinkKind::Split,
                    // Withdrawal consequences: the withdrawal entry records them.
                    ChangeKind::Reduced | ChangeKind::Removed => continue,
                };
                let records = change
                    .records
                    .iter()
                    .map(|seq| record_key_of(*seq))
                    .collect::<Result<Vec<_>, _>>()?;
                let evidence = change
                    .evidence
                    .iter()
                    .map(|p| {
                        Ok(entry::PairEvidence {
                            a: record_key_of(p.a)?,
                            b: record_key_of(p.b)?,
                            rules: p.rules.clone(),
                            dice: p.dice.map(|d| {
                                (f64::from(d) * 10_000.0).round().clamp(0.0, 10_000.0) as u16
                            }),
                            weight: Some(f64::from(p.match_weight)).filter(|w| w.is_finite()),
                        })
                    })
                    .collect::<Result<Vec<_>, ServiceError>>()?;
                let others = change
                    .merged
                    .iter()
                    .chain(&change.split_off)
                    .chain(&change.split_from)
                    .map(|p| p.0)
                    .collect();
                out.push(LogEntry::LinkDecision(LinkDecision {
                    job_id,
                    batch_id: if job_id == 0 { batch_id } else { None },
                    decision,
                    person: change.person.0,
                    others,
                    records,
                    evidence,
                    rule_set: format!("v{}", crate::encode::RULE_SET_VERSION),
                }));
            }
        }
        Ok(out)
    }

    fn withdraw(
        &mut self,
        agency_name: &str,
        refs: &[[u8; 32]],
        reply: oneshot::Sender<Result<pb::WithdrawResponse, ServiceError>>,
    ) {
        match self.try_withdraw(agency_name, refs, None) {
            Ok((response, Some(state))) => self.after_flush(state, move |r| {
                let _ = reply.send(r.map(|()| response));
            }),
            Ok((response, None)) => {
                let _ = reply.send(Ok(response));
            }
            Err(e) => {
                let _ = reply.send(Err(e));
            }
        }
    }

    /// Removes an agency's records by ref; with `retention`, logs a retention
    /// entry instead of a withdrawal.
    fn try_withdraw(
        &mut self,
        agency_name: &str,
        refs: &[[u8; 32]],
        retention: Option<(chrono::NaiveDate, &mut u32)>,
    ) -> Result<(pb::WithdrawResponse, Option<LogState>), ServiceError> {
        let code = self.read_agencies()?.code(agency_name);
        let mut response = pb::WithdrawResponse::default();
        let Some(agency) = code else {
            response.not_found = refs.len() as u32;
            return Ok((response, None));
        };
        let mut writes = WriteSet::new();
        let mut seqs = Vec::new();
        let mut withdrawn_refs = BTreeSet::new();
        for record_ref in refs {
            let key = RecordKey {
                agency,
                record_ref: *record_ref,
            };
            if withdrawn_refs.contains(record_ref) {
                continue;
            }
            let stored = read_lock(&self.names, "record names")?.seq_of(&key);
            match stored {
                Some(seq) => {
                    writes.delete(TreeName::Records, seq.to_be_bytes().to_vec());
                    seqs.push(seq);
                    withdrawn_refs.insert(*record_ref);
                }
                None => response.not_found += 1,
            }
        }
        response.withdrawn = seqs.len() as u32;
        if seqs.is_empty() {
            return Ok((response, None));
        }
        let applied = self.apply_withdraw(
            agency,
            agency_name,
            seqs,
            &withdrawn_refs,
            writes,
            retention,
        );
        match applied {
            Ok((first, state)) => {
                // The withdrawal is committed: the names must follow even if
                // another thread panicked while holding their lock.
                let mut names = self
                    .names
                    .write()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for record_ref in &withdrawn_refs {
                    names.remove(&RecordKey {
                        agency,
                        record_ref: *record_ref,
                    });
                }
                response.audit_index = first;
                Ok((response, Some(state)))
            }
            Err(e) => {
                if self.failed.is_none() {
                    tracing::error!(error = %e, "a withdrawal failed after linking began; stopping writes until restart");
                    self.failed = Some(format!("a withdrawal failed midway: {e}"));
                }
                Err(e)
            }
        }
    }

    /// Removes the records from memory and commits; the caller stops writes
    /// on failure.
    fn apply_withdraw(
        &mut self,
        agency: u16,
        agency_name: &str,
        seqs: Vec<u64>,
        withdrawn_refs: &BTreeSet<[u8; 32]>,
        mut writes: WriteSet,
        retention: Option<(chrono::NaiveDate, &mut u32)>,
    ) -> Result<(u64, LogState), ServiceError> {
        let count = seqs.len() as u32;
        let n = seqs.len() as i64;
        self.add_counter(&mut writes, "records", agency, -n);
        self.add_counter(&mut writes, "withdrawn", agency, n);
        // Decisions must name records before they are removed from the keys.
        let (decisions, person_writes) = {
            let mut linkage = self.write_linkage()?;
            let delta = linkage.index.remove(&seqs).map_err(link_error)?;
            for seq in &seqs {
                linkage.events.remove(seq);
            }
            let person_writes = persist_persons(&linkage, std::slice::from_ref(&delta));
            let decisions = self.decisions(std::slice::from_ref(&delta), 0, None)?;
            (decisions, person_writes)
        };
        put_persons(&mut writes, person_writes);
        let mut hasher = blake3::Hasher::new();
        for r in withdrawn_refs {
            hasher.update(r);
        }
        let entry = match retention {
            Some((cutoff, total)) => {
                *total += count;
                LogEntry::Retention(Retention {
                    cutoff_days: crate::store::codec::date_to_days(cutoff),
                    records_removed: count,
                    time: unix_now(),
                })
            }
            None => LogEntry::Withdrawal(Withdrawal {
                agency: agency_name.to_string(),
                count,
                refs_digest: *hasher.finalize().as_bytes(),
                time: unix_now(),
            }),
        };
        self.commit(writes, vec![entry], decisions)
    }

    fn retention(&mut self, cutoff: chrono::NaiveDate) {
        let by_agency: Vec<AgencyRefs> = match self.expired(cutoff) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "retention scan failed");
                return;
            }
        };
        let mut removed = 0u32;
        for (agency, refs) in by_agency {
            match self.try_withdraw(&agency, &refs, Some((cutoff, &mut removed))) {
                Ok((_, Some(state))) => self.after_flush(state, |_| {}),
                Ok((_, None)) => {}
                Err(e) => tracing::error!(error = %e, "retention failed"),
            }
        }
        tracing::info!(%cutoff, removed, "retention: records with events before the cutoff removed");
    }

    /// Refs of records whose event is before `cutoff`, per agency.
    fn expired(&self, cutoff: chrono::NaiveDate) -> Result<Vec<AgencyRefs>, ServiceError> {
        let mut out: HashMap<String, Vec<[u8; 32]>> = HashMap::new();
        let agencies = read_lock(&self.agencies, "agency")?.clone();
        for item in self.store.tree(TreeName::Records).iter() {
            let (_, value) = item.map_err(StoreError::from)?;
            let (key, record) = decode_record_row(&value)?;
            if record.event_date < cutoff {
                out.entry(agencies.name(key.agency).to_string())
                    .or_default()
                    .push(key.record_ref);
            }
        }
        let mut out: Vec<_> = out.into_iter().collect();
        out.sort();
        Ok(out)
    }

    fn job_entry(job_id: u64, trigger: JobTrigger, phase: JobPhase) -> LogEntry {
        LogEntry::Job(JobRecord {
            job_id,
            trigger,
            phase,
            time: unix_now(),
        })
    }

    /// Runs a full job: records its start, runs it, and commits its result,
    /// its decisions and its end in one transaction; or records the failure.
    fn job(&mut self, job_id: u64, trigger: JobTrigger) {
        let mut writes = WriteSet::new();
        self.jobs.write_into(job_id, &mut writes);
        let started = Self::job_entry(job_id, trigger, JobPhase::Started);
        match self.commit(writes, vec![started], Vec::new()) {
            Ok((_, state)) => self.after_flush(state, |_| {}),
            Err(e) => {
                self.jobs.fail(job_id, e.to_string());
                return;
            }
        }
        if let Err(e) = self.run_job(job_id, trigger) {
            tracing::error!(job_id, error = %e, "linkage job failed");
            self.jobs.fail(job_id, e.to_string());
            let mut writes = WriteSet::new();
            self.jobs.write_into(job_id, &mut writes);
            let finished = JobPhase::Finished {
                outcome: JobOutcome::Failed {
                    reason: e.to_string(),
                },
                counts: JobCounts::default(),
            };
            if let Ok((_, state)) = self.commit(
                writes,
                vec![Self::job_entry(job_id, trigger, finished)],
                Vec::new(),
            ) {
                self.after_flush(state, |_| {});
            }
        }
    }

    fn run_job(&mut self, job_id: u64, trigger: JobTrigger) -> Result<(), ServiceError> {
        let board = self.jobs.clone();
        let started_ms = board.get(job_id).map_or(0, |j| j.started_ms);
        let (report, person_writes) = {
            let mut linkage = self.write_linkage()?;
            let mut progress = |f: f64| board.progress(job_id, f);
            let report = linkage
                .index
                .run_full_job(JobOptions { reestimate: true }, &mut progress)
                .map_err(link_error)?;
            let person_writes = persist_persons(&linkage, std::slice::from_ref(&report.delta));
            (report, person_writes)
        };
        let mut writes = WriteSet::new();
        let model = serde_json::to_vec(&report.model)
            .map_err(|e| ServiceError::Internal(format!("model: {e}")))?;
        writes.put(TreeName::Meta, META_LINK_MODEL, model);
        put_persons(&mut writes, person_writes);
        let decisions = self.decisions(std::slice::from_ref(&report.delta), job_id, None)?;
        let merges: u64 = report
            .delta
            .changes
            .iter()
            .map(|c| c.merged.len() as u64)
            .sum();
        let splits = report
            .delta
            .changes
            .iter()
            .filter(|c| c.kind == ChangeKind::Split)
            .count() as u64;
        let counts = JobCounts {
            records: report.records as u64,
            persons: report.persons_after as u64,
            merges,
            splits,
            differing_from_incremental: report.persons_differ as u64,
        };
        self.jobs.set(JobStatus::finished(
            job_id,
            trigger_name(trigger),
            started_ms,
            &report,
            counts,
        ));
        self.jobs.write_into(job_id, &mut writes);
        let finished = Self::job_entry(
            job_id,
            trigger,
            JobPhase::Finished {
                outcome: JobOutcome::Succeeded,
                counts,
            },
        );
        let (_, state) = self.commit(writes, decisions, vec![finished])?;
        self.after_flush(state, |_| {});
        Ok(())
    }

    /// Marks a job that was running when the server stopped as failed.
    fn fail_interrupted(&mut self, job: JobStatus) -> Result<(), ServiceError> {
        let trigger = if job.trigger == "periodic" {
            JobTrigger::Periodic
        } else {
            JobTrigger::Manual
        };
        let mut writes = WriteSet::new();
        let job_id = job.job_id;
        let reason = job.error.clone();
        self.jobs.set(job);
        self.jobs.write_into(job_id, &mut writes);
        let finished = JobPhase::Finished {
            outcome: JobOutcome::Failed { reason },
            counts: JobCounts::default(),
        };
        self.commit(
            writes,
            vec![Self::job_entry(job_id, trigger, finished)],
            Vec::new(),
        )?;
        tracing::warn!(
            job_id,
            "a linkage job was interrupted by a restart; marked failed"
        );
        Ok(())
    }

    fn persist_startup_delta(&mut self, delta: &LinkDelta) -> Result<(), ServiceError> {
        let person_writes = {
            let linkage = self.linkage.read()?;
            persist_persons(&linkage, std::slice::from_ref(delta))
        };
        let mut writes = WriteSet::new();
        put_persons(&mut writes, person_writes);
        tracing::warn!(
            persons = delta.changes.len(),
            "the startup rebuild changed persons (the linkage configuration changed); storing them"
        );
        self.commit(writes, Vec::new(), Vec::new())?;
        Ok(())
    }
}

fn put_persons(writes: &mut WriteSet, person_writes: Vec<(Vec<u8>, Option<Vec<u8>>)>) {
    for (key, value) in person_writes {
        match value {
            Some(v) => writes.put(TreeName::Persons, key, v),
            None => writes.delete(TreeName::Persons, key),
        }
    }
}

fn link_error(e: crate::link::LinkError) -> ServiceError {
    ServiceError::Internal(format!("linkage: {e}"))
}

/// The person writes for every person a delta touched: the current form of
/// persons that exist, a delete for retired ids.
fn persist_persons(linkage: &Linkage, deltas: &[LinkDelta]) -> Vec<(Vec<u8>, Option<Vec<u8>>)> {
    let mut ids: BTreeSet<PersonId> = BTreeSet::new();
    for delta in deltas {
        for change in &delta.changes {
            ids.insert(change.person);
            ids.extend(change.merged.iter().copied());
            ids.extend(change.split_off.iter().copied());
            ids.extend(change.split_from.iter().copied());
        }
    }
    ids.into_iter()
        .map(|id| {
            let value = linkage.index.stored_person(&id).map(|p| encode_person(&p));
            (id.0.to_vec(), value)
        })
        .collect()
}

fn receipt_message(
    batch_id: &[u8; 32],
    stored: &StoredReceipt,
    replayed: bool,
) -> pb::BatchReceipt {
    pb::BatchReceipt {
        batch_id: batch_id.to_vec(),
        accepted: stored.accepted,
        corrected: stored.corrected,
        digest: stored.digest.to_vec(),
        audit_index: stored.audit_index,
        replayed,
        committed_at: Some(timestamp(stored.committed_at_ms)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::link::LinkConfig;
    use crate::server::state;
    use crate::server::validate::validate_records;

    /// A valid record with two tokens and a Bloom encoding, distinct per `n`.
    fn record(n: u8) -> pb::Record {
        pb::Record {
            record_ref: vec![n; 32],
            tokens: vec![
                pb::MatchToken {
                    rule: 2,
                    hash: vec![n.wrapping_add(100); 32],
                },
                pb::MatchToken {
                    rule: 3,
                    hash: vec![n.wrapping_add(150); 32],
                },
            ],
            bloom: vec![n; 128],
            event: Some(pb::Event {
                date: "2019-05-04".into(),
                r#type: pb::EventType::TraffickingSexual as i32,
                role: pb::Role::Victim as i32,
            }),
            attributes: Some(pb::Attributes {
                age_band: pb::AgeBand::AgeBand1822 as i32,
                sex: pb::Sex::Female as i32,
                region: "NL-ZH".into(),
                residence_status: pb::ResidenceStatus::Eu as i32,
            }),
        }
    }

    /// A validated batch of agency `care` with batch id `[id; 32]`.
    fn batch(id: u8, refs: std::ops::Range<u8>) -> BatchWrite {
        let records: Vec<pb::Record> = refs.map(record).collect();
        BatchWrite {
            agency: "care".into(),
            batch_id: [id; 32],
            fingerprint: [7; 32],
            digest: crate::wire::batch_digest(&records),
            records: validate_records(&records, chrono::Utc::now().date_naive())
                .expect("valid records"),
        }
    }

    struct Running {
        store: Store,
        handle: WriterHandle,
        tasks: WriterTasks,
        _dir: tempfile::TempDir,
    }

    /// The writer, its committer, flusher and checkpoint task on a new store,
    /// set up as the server does at start.
    fn start_writer() -> Running {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(dir.path()).expect("store");
        let loaded = state::load(&store, LinkConfig::default()).expect("load");
        let agencies = AgencyCodes::load(&store).expect("agencies");
        let (jobs, interrupted) = JobBoard::load(&store).expect("jobs");
        let key = store.log().log_key("veilink.test/log").expect("log key");
        let (handle, tasks) = start(
            store.clone(),
            Arc::new(SharedLinkage::new(loaded.linkage)),
            Arc::new(RwLock::new(agencies)),
            Arc::new(jobs),
            None,
            loaded.delta,
            Arc::new(RwLock::new(loaded.names)),
            interrupted,
            key,
        )
        .expect("writer");
        Running {
            store,
            handle,
            tasks,
            _dir: dir,
        }
    }

    /// Stops the writer and waits for its threads and tasks.
    async fn stop(running: Running) {
        drop(running.handle);
        tokio::task::spawn_blocking(move || running.tasks.thread.join())
            .await
            .expect("join")
            .expect("the writer thread panicked");
        for task in running.tasks.background {
            task.await.expect("background task");
        }
    }

    type Answer = oneshot::Receiver<Result<pb::BatchReceipt, ServiceError>>;

    async fn send(handle: &WriterHandle, batch: BatchWrite) -> Answer {
        let (reply, answer) = oneshot::channel();
        handle
            .send(WriteRequest::Batch(batch, reply))
            .await
            .expect("the writer takes requests");
        answer
    }

    async fn receipt(answer: Answer) -> pb::BatchReceipt {
        answer
            .await
            .expect("answered")
            .expect("the batch was accepted")
    }

    /// While the committer cannot commit (a sled transaction on another
    /// thread holds sled's commit lock), the writer goes on staging: a batch
    /// that repeats refs of a staged, uncommitted batch counts them as
    /// corrections, nothing is answered and the export mark does not move;
    /// once the lock is released, repeated batch ids are answered as replays
    /// of their first copies.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_writer_stages_while_the_committer_is_held() {
        let running = start_writer();
        let first = receipt(send(&running.handle, batch(1, 0..3)).await).await;
        assert_eq!((first.accepted, first.corrected), (3, 0));
        assert_eq!(running.handle.committed_below(), 4);

        let (held_tx, held_rx) = std::sync::mpsc::channel();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let meta = running.store.tree(TreeName::Meta).clone();
        let holder = std::thread::spawn(move || {
            meta.transaction(|_| {
                let _ = held_tx.send(());
                let _ = release_rx.recv();
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .expect("holding transaction");
        });
        held_rx.recv().expect("the lock is held");

        let mut staged = send(&running.handle, batch(2, 10..20)).await;
        let overlapping = send(&running.handle, batch(3, 15..25)).await;
        let staged_again = send(&running.handle, batch(2, 10..20)).await;
        let overlapping_again = send(&running.handle, batch(3, 15..25)).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            staged.try_recv().is_err(),
            "a batch was answered before it could be committed"
        );
        assert_eq!(running.handle.committed_below(), 4);

        release_tx.send(()).expect("release");
        holder.join().expect("holder");
        let staged = receipt(staged).await;
        let overlapping = receipt(overlapping).await;
        let staged_again = receipt(staged_again).await;
        let overlapping_again = receipt(overlapping_again).await;
        assert_eq!((staged.accepted, staged.corrected), (10, 0));
        assert!(!staged.replayed && !overlapping.replayed);
        assert_eq!(
            (overlapping.accepted, overlapping.corrected),
            (10, 5),
            "refs of a staged batch were stored as new records"
        );
        assert!(staged_again.replayed && overlapping_again.replayed);
        assert_eq!(staged_again.audit_index, staged.audit_index);
        assert_eq!(overlapping_again.audit_index, overlapping.audit_index);
        // 3 + 10 + 5 new records: sequence numbers 1..=18, all committed.
        assert_eq!(running.handle.committed_below(), 19);
        assert_eq!(running.store.tree(TreeName::Records).len(), 18);
        stop(running).await;
    }

    /// A commit that fails (the log's stored head was changed behind the
    /// writer's back, so the staged append no longer fits) answers
    /// UNAVAILABLE, and so does every later batch and withdrawal; nothing
    /// more is stored and the export mark stays where it was.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_commit_stops_every_later_write() {
        let running = start_writer();
        receipt(send(&running.handle, batch(1, 0..3)).await).await;
        running
            .store
            .log()
            .meta
            .insert(b"head", vec![0u8; 3])
            .expect("damage the head");

        let failed = send(&running.handle, batch(2, 10..20)).await;
        let later = send(&running.handle, batch(3, 20..30)).await;
        for answer in [failed, later] {
            let result = answer.await.expect("answered");
            assert!(
                matches!(result, Err(ServiceError::Unavailable(_))),
                "{result:?}"
            );
        }
        let (reply, answer) = oneshot::channel();
        running
            .handle
            .send(WriteRequest::Withdraw {
                agency: "care".into(),
                refs: vec![[0; 32]],
                reply,
            })
            .await
            .expect("the writer takes requests");
        let withdrawn = answer.await.expect("answered");
        assert!(
            matches!(withdrawn, Err(ServiceError::Unavailable(_))),
            "{withdrawn:?}"
        );
        assert_eq!(running.handle.committed_below(), 4);
        assert_eq!(running.store.tree(TreeName::Records).len(), 3);
        stop(running).await;
    }
}

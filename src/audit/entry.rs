//! The log's entries: one canonical, versioned byte string per recorded
//! action (the leaf of the Merkle tree), and its decoding for display.
//!
//! An entry records *that* something happened and with which ids and counts,
//! never the records themselves: no token, no Bloom encoding, no normalised
//! name, nothing derived from personal data other than the agencies' record
//! refs (32-byte keyed pseudonyms) and the service's person ids. The field
//! types below make anything else unrepresentable.
//!
//! Encoding (v1, specified byte by byte in `docs/AUDIT.md`): a version byte
//! (`0x01`), a kind byte, then the kind's fields in a fixed order. Integers
//! are big-endian and fixed width; strings are a `u32` byte length then
//! UTF-8; lists are a `u32` count then the items; an optional value is
//! `0x00` (absent) or `0x01` then the value; ids and digests are raw bytes.
//! The encoding is canonical: every value has exactly one encoding, so the
//! same action always gives the same leaf, and [`LogEntry::decode`] refuses
//! anything else (unknown version or kind, bad option tag, invalid UTF-8, a
//! short read or a trailing byte).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::AuditError;
use super::hash::hex_serde;

/// Version byte of the entry encoding defined here.
pub const ENTRY_VERSION: u8 = 1;

/// Largest encoded entry, in bytes (1 MiB): keeps one entry well inside one
/// gRPC message. A larger linkage decision must be split into several.
pub const MAX_ENTRY_BYTES: usize = 1 << 20;

/// One recorded action: a leaf of the transparency log.
///
/// JSON (from [`LogEntry::to_json`]) is an object with `"kind"` set to
/// [`EntryKind::as_str`] and the fields of the kind's struct; ids and
/// digests are lower-case hex.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LogEntry {
    /// An agency's batch was committed (intake).
    BatchReceipt(BatchReceipt),
    /// An agency withdrew records.
    Withdrawal(Withdrawal),
    /// Linkage joined, merged, split or created persons.
    LinkDecision(LinkDecision),
    /// A full linkage job started or finished.
    Job(JobRecord),
    /// An analyst's report query was answered.
    ReportQuery(ReportQuery),
    /// Retention removed records older than a cutoff.
    Retention(Retention),
}

/// Receipt of one committed intake batch (`Intake.Submit`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReceipt {
    /// The submitting agency's id (from its certificate), e.g. `police`.
    pub agency: String,
    /// The batch id chosen by the client (idempotency key), 32 bytes.
    #[serde(with = "hex_serde::array")]
    pub batch_id: [u8; 32],
    /// BLAKE3 digest of the batch's canonical encoding, 32 bytes: lets the
    /// agency prove which batch the receipt is for.
    #[serde(with = "hex_serde::array")]
    pub digest: [u8; 32],
    /// Records accepted (new or corrected).
    pub accepted: u32,
    /// Of the accepted, how many replaced an earlier record (corrections).
    pub corrected: u32,
    /// Commit time, unix seconds.
    pub time: i64,
}

/// An agency removed some of its own records (`Intake.Withdraw`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The withdrawing agency's id.
    pub agency: String,
    /// Records removed.
    pub count: u32,
    /// Digest (32 bytes) of the withdrawn record refs, so the agency can
    /// show which refs it withdrew without the log listing them.
    #[serde(with = "hex_serde::array")]
    pub refs_digest: [u8; 32],
    /// Commit time, unix seconds.
    pub time: i64,
}

/// What a linkage decision did to persons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// Records were joined to an existing person.
    Join,
    /// Persons were merged into one surviving person.
    Merge,
    /// A person was split into several.
    Split,
    /// A new person was created.
    New,
}

/// One record, named the only way the service knows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordKey {
    /// The agency that holds the record.
    pub agency: String,
    /// The agency's record ref: a 32-byte keyed pseudonym of its case id.
    #[serde(with = "hex_serde::array")]
    pub record_ref: [u8; 32],
}

/// Why two records were joined: the evidence of one matched pair.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PairEvidence {
    /// One record of the pair.
    pub a: RecordKey,
    /// The other record of the pair.
    pub b: RecordKey,
    /// Ids of the match-key rules whose tokens agreed, ascending.
    pub rules: Vec<u16>,
    /// Dice coefficient of the Bloom encodings × 10 000 (0..=10 000), when
    /// compared.
    pub dice: Option<u16>,
    /// Fellegi–Sunter match weight (log2 scale), when scored; always finite.
    pub weight: Option<f64>,
}

/// One linkage decision: the match log of a join, merge, split or new
/// person, as record refs and person ids (never tokens).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LinkDecision {
    /// The linkage job; 0 for incremental linking (of an intake batch, or
    /// after a withdrawal or retention removed records).
    pub job_id: u64,
    /// The batch whose arrival triggered incremental linking. Absent for full
    /// jobs, and for incremental re-linking after a withdrawal or retention
    /// (the `withdrawal`/`retention` entry just before it in the same commit
    /// says which).
    #[serde(with = "hex_serde::option")]
    pub batch_id: Option<[u8; 32]>,
    /// What was decided. (Named `decision`, not `kind`: `"kind"` is the
    /// entry kind in JSON.)
    pub decision: LinkKind,
    /// The person id (16 bytes) that survives (join, merge, new) or that was
    /// split (split).
    #[serde(with = "hex_serde::array")]
    pub person: [u8; 16],
    /// The person ids merged away (merge) or created by the split (split).
    #[serde(with = "hex_serde::list")]
    pub others: Vec<[u8; 16]>,
    /// The records involved.
    pub records: Vec<RecordKey>,
    /// Per joined pair, the rules and scores that joined it.
    pub evidence: Vec<PairEvidence>,
    /// Version of the match-key rule set in force, e.g. `v1`.
    pub rule_set: String,
}

/// What started a linkage job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobTrigger {
    /// An operator ran `veilink link`.
    Manual,
    /// The server's schedule.
    Periodic,
}

/// How a finished job ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum JobOutcome {
    /// The job completed and its result was stored.
    Succeeded,
    /// The job stopped; nothing it computed was stored.
    Failed {
        /// Why, in words (never personal data).
        reason: String,
    },
}

/// Counts reported when a job finishes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobCounts {
    /// Records the job linked.
    pub records: u64,
    /// Persons after the job.
    pub persons: u64,
    /// Merges the job made.
    pub merges: u64,
    /// Splits the job made.
    pub splits: u64,
    /// Persons that differ from what incremental linking had produced.
    pub differing_from_incremental: u64,
}

/// The start or the end of a job.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum JobPhase {
    /// The job started.
    Started,
    /// The job finished.
    Finished {
        /// Success or failure.
        outcome: JobOutcome,
        /// What it did.
        counts: JobCounts,
    },
}

/// A full linkage job started or finished.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobRecord {
    /// The job id (1 and up).
    pub job_id: u64,
    /// What started the job.
    pub trigger: JobTrigger,
    /// Start, or end with outcome and counts.
    #[serde(flatten)]
    pub phase: JobPhase,
    /// Time of the start or end, unix seconds.
    pub time: i64,
}

/// An analyst's report query (`Analysis.RepeatVictimisation`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportQuery {
    /// Who asked (the principal's name from its certificate).
    pub principal: String,
    /// The query parameters as canonical JSON (cohort, breakdowns, …).
    pub parameters: String,
    /// Table cells released.
    pub cells_released: u32,
    /// Table cells suppressed by disclosure control.
    pub cells_suppressed: u32,
    /// Time of the answer, unix seconds.
    pub time: i64,
}

/// Retention removed old records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Retention {
    /// Records with events before this date were removed; days since
    /// 1970-01-01.
    pub cutoff_days: i32,
    /// Records removed.
    pub records_removed: u32,
    /// Time of the removal, unix seconds.
    pub time: i64,
}

/// The kinds of entry, for filtering and display.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryKind {
    /// [`BatchReceipt`].
    BatchReceipt,
    /// [`Withdrawal`].
    Withdrawal,
    /// [`LinkDecision`].
    LinkDecision,
    /// [`JobRecord`].
    Job,
    /// [`ReportQuery`].
    ReportQuery,
    /// [`Retention`].
    Retention,
}

impl EntryKind {
    /// Every kind, in the order of their codes.
    pub const ALL: [EntryKind; 6] = [
        EntryKind::BatchReceipt,
        EntryKind::Withdrawal,
        EntryKind::LinkDecision,
        EntryKind::Job,
        EntryKind::ReportQuery,
        EntryKind::Retention,
    ];

    /// The name used in JSON (`"kind"`) and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::BatchReceipt => "batch_receipt",
            EntryKind::Withdrawal => "withdrawal",
            EntryKind::LinkDecision => "link_decision",
            EntryKind::Job => "job",
            EntryKind::ReportQuery => "report_query",
            EntryKind::Retention => "retention",
        }
    }

    /// The kind byte of the encoding (1..=6).
    pub fn code(self) -> u8 {
        match self {
            EntryKind::BatchReceipt => 1,
            EntryKind::Withdrawal => 2,
            EntryKind::LinkDecision => 3,
            EntryKind::Job => 4,
            EntryKind::ReportQuery => 5,
            EntryKind::Retention => 6,
        }
    }

    /// The kind of a kind byte; `None` for an unknown byte.
    pub fn from_code(code: u8) -> Option<EntryKind> {
        EntryKind::ALL.into_iter().find(|k| k.code() == code)
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EntryKind {
    type Err = AuditError;

    /// # Errors
    /// [`AuditError::EntryEncoding`] naming the accepted kinds.
    fn from_str(s: &str) -> Result<EntryKind, AuditError> {
        EntryKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = EntryKind::ALL.iter().map(|k| k.as_str()).collect();
                AuditError::EntryEncoding(format!(
                    "unknown entry kind {s:?} (expected one of: {})",
                    names.join(", ")
                ))
            })
    }
}

impl LogEntry {
    /// The entry's kind.
    pub fn kind(&self) -> EntryKind {
        match self {
            LogEntry::BatchReceipt(_) => EntryKind::BatchReceipt,
            LogEntry::Withdrawal(_) => EntryKind::Withdrawal,
            LogEntry::LinkDecision(_) => EntryKind::LinkDecision,
            LogEntry::Job(_) => EntryKind::Job,
            LogEntry::ReportQuery(_) => EntryKind::ReportQuery,
            LogEntry::Retention(_) => EntryKind::Retention,
        }
    }

    /// The linkage job the entry belongs to (link decisions and job entries);
    /// 0 for incremental linking.
    pub fn job_id(&self) -> Option<u64> {
        match self {
            LogEntry::LinkDecision(d) => Some(d.job_id),
            LogEntry::Job(j) => Some(j.job_id),
            _ => None,
        }
    }

    /// Whether the entry concerns `agency`: its receipts and withdrawals, and
    /// link decisions involving one of its records.
    pub fn involves_agency(&self, agency: &str) -> bool {
        match self {
            LogEntry::BatchReceipt(r) => r.agency == agency,
            LogEntry::Withdrawal(w) => w.agency == agency,
            LogEntry::LinkDecision(d) => d.records.iter().any(|r| r.agency == agency),
            _ => false,
        }
    }

    /// The entry as JSON for display (`veilink audit entries --format json`).
    pub fn to_json(&self) -> serde_json::Value {
        // Serialising these plain structs cannot fail; non-finite weights are
        // refused by `encode` and `decode`, so `Null` is never reached in
        // practice.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The canonical v1 bytes of the entry (the Merkle leaf).
    ///
    /// # Errors
    /// [`AuditError::EntryEncoding`] when the entry breaks a rule of the
    /// encoding: a link decision whose `batch_id` is present although
    /// `job_id` is not 0 (or absent although it is), a Dice value above
    /// 10 000, a non-finite match weight, or more than [`MAX_ENTRY_BYTES`].
    pub fn encode(&self) -> Result<Vec<u8>, AuditError> {
        let mut w = Writer(vec![ENTRY_VERSION, self.kind().code()]);
        match self {
            LogEntry::BatchReceipt(r) => {
                w.string(&r.agency)?;
                w.bytes(&r.batch_id);
                w.bytes(&r.digest);
                w.u32(r.accepted);
                w.u32(r.corrected);
                w.i64(r.time);
            }
            LogEntry::Withdrawal(x) => {
                w.string(&x.agency)?;
                w.u32(x.count);
                w.bytes(&x.refs_digest);
                w.i64(x.time);
            }
            LogEntry::LinkDecision(d) => encode_link_decision(&mut w, d)?,
            LogEntry::Job(j) => {
                w.u64(j.job_id);
                w.u8(match j.trigger {
                    JobTrigger::Manual => 1,
                    JobTrigger::Periodic => 2,
                });
                match &j.phase {
                    JobPhase::Started => w.u8(1),
                    JobPhase::Finished { outcome, counts } => {
                        w.u8(2);
                        match outcome {
                            JobOutcome::Succeeded => w.u8(1),
                            JobOutcome::Failed { reason } => {
                                w.u8(2);
                                w.string(reason)?;
                            }
                        }
                        for n in [
                            counts.records,
                            counts.persons,
                            counts.merges,
                            counts.splits,
                            counts.differing_from_incremental,
                        ] {
                            w.u64(n);
                        }
                    }
                }
                w.i64(j.time);
            }
            LogEntry::ReportQuery(q) => {
                w.string(&q.principal)?;
                w.string(&q.parameters)?;
                w.u32(q.cells_released);
                w.u32(q.cells_suppressed);
                w.i64(q.time);
            }
            LogEntry::Retention(r) => {
                w.i32(r.cutoff_days);
                w.u32(r.records_removed);
                w.i64(r.time);
            }
        }
        if w.0.len() > MAX_ENTRY_BYTES {
            return Err(AuditError::EntryEncoding(format!(
                "a {} entry of {} bytes is larger than the limit of {MAX_ENTRY_BYTES} bytes",
                self.kind(),
                w.0.len()
            )));
        }
        Ok(w.0)
    }

    /// Decodes canonical v1 entry bytes.
    ///
    /// # Errors
    /// [`AuditError::EntryEncoding`] for an unknown version or kind, an
    /// unknown enum or option byte, invalid UTF-8, a broken rule of
    /// [`LogEntry::encode`], a short read or trailing bytes.
    pub fn decode(bytes: &[u8]) -> Result<LogEntry, AuditError> {
        let mut r = Reader { rest: bytes };
        let version = r.u8()?;
        if version != ENTRY_VERSION {
            return Err(AuditError::EntryEncoding(format!(
                "unknown entry version {version}"
            )));
        }
        let code = r.u8()?;
        let kind = EntryKind::from_code(code)
            .ok_or_else(|| AuditError::EntryEncoding(format!("unknown entry kind byte {code}")))?;
        let entry = match kind {
            EntryKind::BatchReceipt => LogEntry::BatchReceipt(BatchReceipt {
                agency: r.string()?,
                batch_id: r.array()?,
                digest: r.array()?,
                accepted: r.u32()?,
                corrected: r.u32()?,
                time: r.i64()?,
            }),
            EntryKind::Withdrawal => LogEntry::Withdrawal(Withdrawal {
                agency: r.string()?,
                count: r.u32()?,
                refs_digest: r.array()?,
                time: r.i64()?,
            }),
            EntryKind::LinkDecision => LogEntry::LinkDecision(decode_link_decision(&mut r)?),
            EntryKind::Job => LogEntry::Job(decode_job(&mut r)?),
            EntryKind::ReportQuery => LogEntry::ReportQuery(ReportQuery {
                principal: r.string()?,
                parameters: r.string()?,
                cells_released: r.u32()?,
                cells_suppressed: r.u32()?,
                time: r.i64()?,
            }),
            EntryKind::Retention => LogEntry::Retention(Retention {
                cutoff_days: r.i32()?,
                records_removed: r.u32()?,
                time: r.i64()?,
            }),
        };
        if !r.rest.is_empty() {
            return Err(AuditError::EntryEncoding(format!(
                "{} trailing bytes after a {kind} entry",
                r.rest.len()
            )));
        }
        Ok(entry)
    }
}

/// Link kind byte: join 1, merge 2, split 3, new 4.
fn link_kind_code(kind: LinkKind) -> u8 {
    match kind {
        LinkKind::Join => 1,
        LinkKind::Merge => 2,
        LinkKind::Split => 3,
        LinkKind::New => 4,
    }
}

/// Checks the cross-field rules of a link decision (shared by encode and
/// decode, so both refuse the same values); decoding also refuses the bits
/// of -0.0, which encoding never writes.
fn check_link_decision(d: &LinkDecision, decoding: bool) -> Result<(), AuditError> {
    if d.job_id != 0 && d.batch_id.is_some() {
        return Err(AuditError::EntryEncoding(
            "a link decision of a full job (job id > 0) has no batch id".into(),
        ));
    }
    for pair in &d.evidence {
        if pair.dice.is_some_and(|dice| dice > 10_000) {
            return Err(AuditError::EntryEncoding(
                "a Dice coefficient × 10000 above 10000".into(),
            ));
        }
        if pair.weight.is_some_and(|w| !w.is_finite()) {
            return Err(AuditError::EntryEncoding(
                "a match weight that is not a finite number".into(),
            ));
        }
        if pair
            .weight
            .is_some_and(|w| w.to_bits() == (-0.0f64).to_bits())
            && decoding
        {
            return Err(AuditError::EntryEncoding(
                "a match weight of -0 (written as 0)".into(),
            ));
        }
    }
    Ok(())
}

/// Writes a link decision's fields (see `docs/AUDIT.md`).
fn encode_link_decision(w: &mut Writer, d: &LinkDecision) -> Result<(), AuditError> {
    check_link_decision(d, false)?;
    w.u64(d.job_id);
    match &d.batch_id {
        None => w.u8(0),
        Some(id) => {
            w.u8(1);
            w.bytes(id);
        }
    }
    w.u8(link_kind_code(d.decision));
    w.bytes(&d.person);
    w.count(d.others.len())?;
    for id in &d.others {
        w.bytes(id);
    }
    w.count(d.records.len())?;
    for record in &d.records {
        w.record_key(record)?;
    }
    w.count(d.evidence.len())?;
    for pair in &d.evidence {
        w.record_key(&pair.a)?;
        w.record_key(&pair.b)?;
        w.count(pair.rules.len())?;
        for rule in &pair.rules {
            w.u16(*rule);
        }
        match pair.dice {
            None => w.u8(0),
            Some(dice) => {
                w.u8(1);
                w.u16(dice);
            }
        }
        match pair.weight {
            None => w.u8(0),
            Some(weight) => {
                w.u8(1);
                // -0.0 is written as 0.0: one weight, one encoding.
                w.u64((weight + 0.0).to_bits());
            }
        }
    }
    w.string(&d.rule_set)
}

/// Reads a link decision's fields (see `docs/AUDIT.md`).
fn decode_link_decision(r: &mut Reader) -> Result<LinkDecision, AuditError> {
    let job_id = r.u64()?;
    let batch_id = match r.option()? {
        false => None,
        true => Some(r.array()?),
    };
    let decision = match r.u8()? {
        1 => LinkKind::Join,
        2 => LinkKind::Merge,
        3 => LinkKind::Split,
        4 => LinkKind::New,
        other => {
            return Err(AuditError::EntryEncoding(format!(
                "unknown link kind byte {other}"
            )));
        }
    };
    let person = r.array()?;
    let others = r.list(16, |r| r.array())?;
    let records = r.list(36, Reader::record_key)?;
    let evidence = r.list(36 * 2 + 6, |r| {
        Ok(PairEvidence {
            a: r.record_key()?,
            b: r.record_key()?,
            rules: r.list(2, Reader::u16)?,
            dice: if r.option()? { Some(r.u16()?) } else { None },
            weight: if r.option()? {
                Some(f64::from_bits(r.u64()?))
            } else {
                None
            },
        })
    })?;
    let decision = LinkDecision {
        job_id,
        batch_id,
        decision,
        person,
        others,
        records,
        evidence,
        rule_set: r.string()?,
    };
    check_link_decision(&decision, true)?;
    Ok(decision)
}

/// Reads a job entry's fields (see `docs/AUDIT.md`).
fn decode_job(r: &mut Reader) -> Result<JobRecord, AuditError> {
    let job_id = r.u64()?;
    let trigger = match r.u8()? {
        1 => JobTrigger::Manual,
        2 => JobTrigger::Periodic,
        other => {
            return Err(AuditError::EntryEncoding(format!(
                "unknown job trigger byte {other}"
            )));
        }
    };
    let phase = match r.u8()? {
        1 => JobPhase::Started,
        2 => {
            let outcome = match r.u8()? {
                1 => JobOutcome::Succeeded,
                2 => JobOutcome::Failed {
                    reason: r.string()?,
                },
                other => {
                    return Err(AuditError::EntryEncoding(format!(
                        "unknown job outcome byte {other}"
                    )));
                }
            };
            let counts = JobCounts {
                records: r.u64()?,
                persons: r.u64()?,
                merges: r.u64()?,
                splits: r.u64()?,
                differing_from_incremental: r.u64()?,
            };
            JobPhase::Finished { outcome, counts }
        }
        other => {
            return Err(AuditError::EntryEncoding(format!(
                "unknown job phase byte {other}"
            )));
        }
    };
    Ok(JobRecord {
        job_id,
        trigger,
        phase,
        time: r.i64()?,
    })
}

/// Appends big-endian fields to an entry under construction.
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    /// A `u32` length or count prefix.
    fn count(&mut self, n: usize) -> Result<(), AuditError> {
        let n = u32::try_from(n)
            .ok()
            .filter(|n| *n as usize <= MAX_ENTRY_BYTES)
            .ok_or_else(|| {
                AuditError::EntryEncoding(format!(
                    "a string or list of {n} elements is larger than an entry may be"
                ))
            })?;
        self.u32(n);
        Ok(())
    }
    fn string(&mut self, s: &str) -> Result<(), AuditError> {
        self.count(s.len())?;
        self.bytes(s.as_bytes());
        Ok(())
    }
    fn record_key(&mut self, key: &RecordKey) -> Result<(), AuditError> {
        self.string(&key.agency)?;
        self.bytes(&key.record_ref);
        Ok(())
    }
}

/// Reads big-endian fields from entry bytes, refusing short reads.
struct Reader<'a> {
    /// The bytes not yet read.
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], AuditError> {
        if self.rest.len() < n {
            return Err(AuditError::EntryEncoding(format!(
                "entry ends early: {n} more bytes expected, {} left",
                self.rest.len()
            )));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], AuditError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    fn u8(&mut self) -> Result<u8, AuditError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, AuditError> {
        Ok(u16::from_be_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, AuditError> {
        Ok(u32::from_be_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, AuditError> {
        Ok(i32::from_be_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, AuditError> {
        Ok(u64::from_be_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, AuditError> {
        Ok(i64::from_be_bytes(self.array()?))
    }
    /// An option tag: `0x00` absent, `0x01` present, anything else refused.
    fn option(&mut self) -> Result<bool, AuditError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(AuditError::EntryEncoding(format!(
                "option tag {other} (expected 0 or 1)"
            ))),
        }
    }
    fn string(&mut self) -> Result<String, AuditError> {
        let len = self.u32()? as usize;
        let bytes = self.take(len)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|_| AuditError::EntryEncoding("a string that is not UTF-8".into()))
    }
    /// A `u32` count then the items; `min_item` (bytes) bounds the count by
    /// what is left, so a forged count cannot make us allocate.
    fn list<T>(
        &mut self,
        min_item: usize,
        mut item: impl FnMut(&mut Self) -> Result<T, AuditError>,
    ) -> Result<Vec<T>, AuditError> {
        let count = self.u32()? as usize;
        if count.saturating_mul(min_item) > self.rest.len() {
            return Err(AuditError::EntryEncoding(format!(
                "a list of {count} items in {} remaining bytes",
                self.rest.len()
            )));
        }
        let mut out = Vec::with_capacity(count);
        for _ in 0..count {
            out.push(item(self)?);
        }
        Ok(out)
    }
    fn record_key(&mut self) -> Result<RecordKey, AuditError> {
        Ok(RecordKey {
            agency: self.string()?,
            record_ref: self.array()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn receipt() -> LogEntry {
        LogEntry::BatchReceipt(BatchReceipt {
            agency: "police".into(),
            batch_id: [0x11; 32],
            digest: [0x22; 32],
            accepted: 500,
            corrected: 3,
            time: 1_700_000_000,
        })
    }

    /// The batch receipt's bytes are exactly the layout of `docs/AUDIT.md`.
    #[test]
    fn batch_receipt_layout() {
        let bytes = receipt().encode().unwrap();
        let mut want = vec![1u8, 1, 0, 0, 0, 6];
        want.extend_from_slice(b"police");
        want.extend_from_slice(&[0x11; 32]);
        want.extend_from_slice(&[0x22; 32]);
        want.extend_from_slice(&500u32.to_be_bytes());
        want.extend_from_slice(&3u32.to_be_bytes());
        want.extend_from_slice(&1_700_000_000i64.to_be_bytes());
        assert_eq!(bytes, want);
        assert_eq!(LogEntry::decode(&bytes).unwrap(), receipt());
    }

    /// Decoding refuses a trailing byte, an unknown version and kind.
    #[test]
    fn decode_refuses_non_canonical_bytes() {
        let bytes = receipt().encode().unwrap();
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(LogEntry::decode(&trailing).is_err());
        let mut version = bytes.clone();
        version[0] = 2;
        assert!(LogEntry::decode(&version).is_err());
        let mut kind = bytes;
        kind[1] = 7;
        assert!(LogEntry::decode(&kind).is_err());
    }

    /// A forged list count larger than the bytes left is refused before any
    /// allocation.
    #[test]
    fn forged_list_count_is_refused() {
        let mut bytes = vec![1u8, 3];
        bytes.extend_from_slice(&5u64.to_be_bytes()); // job id
        bytes.push(0); // no batch id
        bytes.push(1); // join
        bytes.extend_from_slice(&[0xaa; 16]); // person
        bytes.extend_from_slice(&u32::MAX.to_be_bytes()); // others: 4 billion
        assert!(LogEntry::decode(&bytes).is_err());
    }

    /// The job JSON is flat: phase, outcome and counts beside the job id.
    #[test]
    fn job_json_is_flat() {
        let entry = LogEntry::Job(JobRecord {
            job_id: 7,
            trigger: JobTrigger::Periodic,
            phase: JobPhase::Finished {
                outcome: JobOutcome::Failed {
                    reason: "out of memory".into(),
                },
                counts: JobCounts::default(),
            },
            time: 5,
        });
        let json = entry.to_json();
        assert_eq!(json["kind"], "job");
        assert_eq!(json["phase"], "finished");
        assert_eq!(json["outcome"]["result"], "failed");
        let back: LogEntry = serde_json::from_value(json).unwrap();
        assert_eq!(back, entry);
    }
}

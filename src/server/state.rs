//! The server's in-memory state, rebuilt from the store at startup: agency
//! codes, the linkage index, and the event data of every live record.
//!
//! The store is the truth; this state is a cache of it that the single
//! writer (`server::writer`) changes only together with a commit. Readers
//! (reports, the linkage map) take the read side of one lock; `Admin.Status`
//! reads a [`LinkageSummary`] that the writer refreshes each time it
//! releases that lock, so a status call never waits behind a batch or a job.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use chrono::NaiveDate;

use super::error::ServiceError;
use super::names::RecordNames;
use crate::link::{
    IdSource, LinkConfig, LinkDelta, LinkIndex, LinkModel, LinkRecord, PersonId, QuarantinedKey,
    StoredPerson,
};
use crate::store::{
    META_LINK_MODEL, META_NEXT_SEQ, Store, StoreError, StoredRecord, TreeName, WriteSet,
    decode_record_row, fixed_width,
};
use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

/// The read side of one of the state's locks. A poisoned lock (a thread
/// panicked while holding the write side) is [`ServiceError::Internal`]
/// naming `what` ("linkage", "agency").
pub(crate) fn read_lock<'a, T>(
    lock: &'a RwLock<T>,
    what: &str,
) -> Result<RwLockReadGuard<'a, T>, ServiceError> {
    lock.read()
        .map_err(|_| ServiceError::Internal(format!("the {what} lock is poisoned")))
}

/// The write side of one of the state's locks; errors as [`read_lock`].
pub(crate) fn write_lock<'a, T>(
    lock: &'a RwLock<T>,
    what: &str,
) -> Result<RwLockWriteGuard<'a, T>, ServiceError> {
    lock.write()
        .map_err(|_| ServiceError::Internal(format!("the {what} lock is poisoned")))
}

/// Agency ids and their 16-bit codes (tree `agencies`).
#[derive(Debug, Default, Clone)]
pub(crate) struct AgencyCodes {
    by_name: HashMap<String, u16>,
    names: Vec<String>,
}

impl AgencyCodes {
    /// Reads every agency from the store.
    pub(crate) fn load(store: &Store) -> Result<AgencyCodes, StoreError> {
        let mut codes = AgencyCodes::default();
        let mut pairs = Vec::new();
        for item in store.tree(TreeName::Agencies).scan_prefix(b"c") {
            let (key, value) = item?;
            let code = key
                .get(1..3)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(u16::from_be_bytes)
                .ok_or(StoreError::Corrupt {
                    tree: "agencies",
                    message: "bad code key".into(),
                })?;
            let name = String::from_utf8(value.to_vec()).map_err(|_| StoreError::Corrupt {
                tree: "agencies",
                message: "agency name is not UTF-8".into(),
            })?;
            pairs.push((code, name));
        }
        pairs.sort();
        for (expected, (code, name)) in pairs.into_iter().enumerate() {
            if usize::from(code) != expected {
                return Err(StoreError::Corrupt {
                    tree: "agencies",
                    message: "agency codes are not contiguous".into(),
                });
            }
            codes.by_name.insert(name.clone(), code);
            codes.names.push(name);
        }
        Ok(codes)
    }

    /// The code of an agency, if it has one.
    pub(crate) fn code(&self, name: &str) -> Option<u16> {
        self.by_name.get(name).copied()
    }

    /// The agency id of a code.
    pub(crate) fn name(&self, code: u16) -> &str {
        self.names
            .get(usize::from(code))
            .map_or("unknown", String::as_str)
    }

    /// Every agency id, in code order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// The code of `name`, assigning the next one (and adding its writes to
    /// `writes`) when the agency is new.
    pub(crate) fn code_or_assign(
        &mut self,
        name: &str,
        writes: &mut WriteSet,
    ) -> Result<u16, ServiceError> {
        if let Some(code) = self.code(name) {
            return Ok(code);
        }
        let code = u16::try_from(self.names.len())
            .map_err(|_| ServiceError::ResourceExhausted("too many agencies".into()))?;
        let mut name_key = b"n".to_vec();
        name_key.extend_from_slice(name.as_bytes());
        let mut code_key = b"c".to_vec();
        code_key.extend_from_slice(&code.to_be_bytes());
        writes.put(TreeName::Agencies, name_key, code.to_be_bytes().to_vec());
        writes.put(TreeName::Agencies, code_key, name.as_bytes().to_vec());
        self.by_name.insert(name.to_string(), code);
        self.names.push(name.to_string());
        Ok(code)
    }
}

/// The analysis-relevant part of one live record (never tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct EventRow {
    /// Agency code.
    pub agency: u16,
    /// Event date.
    pub date: NaiveDate,
    /// Event type.
    pub event_type: EventType,
    /// Role.
    pub role: Role,
    /// Age band at the event.
    pub age_band: AgeBand,
    /// Sex.
    pub sex: Sex,
    /// Region.
    pub region: Region,
    /// Residence status.
    pub residence_status: ResidenceStatus,
}

impl EventRow {
    pub(crate) fn of(agency: u16, record: &StoredRecord) -> EventRow {
        EventRow {
            agency,
            date: record.event_date,
            event_type: record.event_type,
            role: record.role,
            age_band: record.age_band,
            sex: record.sex,
            region: record.region,
            residence_status: record.residence_status,
        }
    }
}

/// The linkage index and the event data of every live record, keyed by the
/// record's sequence number.
pub(crate) struct Linkage {
    /// The incremental linkage index.
    pub index: LinkIndex,
    /// Event data per live record.
    pub events: HashMap<u64, EventRow>,
}

/// What `Admin.Status` reports about the linkage: persons and quarantined
/// keys (rule and record count, never the key), as of the last time the
/// writer released the linkage lock.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LinkageSummary {
    /// Persons under the default setting.
    pub persons: u64,
    /// Quarantined blocking keys.
    pub quarantined: Vec<QuarantinedKey>,
}

impl LinkageSummary {
    /// The summary of `index` (O(quarantined keys)).
    fn of(index: &LinkIndex) -> Self {
        LinkageSummary {
            persons: index.person_count() as u64,
            quarantined: index.quarantined(),
        }
    }
}

/// The linkage state behind its lock, with its [`LinkageSummary`] beside it.
pub(crate) struct SharedLinkage {
    state: RwLock<Linkage>,
    summary: Mutex<LinkageSummary>,
}

impl SharedLinkage {
    /// Shares `linkage`, summarised as it is now.
    pub(crate) fn new(linkage: Linkage) -> Self {
        SharedLinkage {
            summary: Mutex::new(LinkageSummary::of(&linkage.index)),
            state: RwLock::new(linkage),
        }
    }

    /// The read side of the lock.
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when the lock is poisoned.
    pub(crate) fn read(&self) -> Result<RwLockReadGuard<'_, Linkage>, ServiceError> {
        read_lock(&self.state, "linkage")
    }

    /// The write side of the lock; the summary is refreshed when it is
    /// released.
    ///
    /// # Errors
    /// [`ServiceError::Internal`] when the lock is poisoned.
    pub(crate) fn write(&self) -> Result<LinkageWrite<'_>, ServiceError> {
        Ok(LinkageWrite {
            guard: write_lock(&self.state, "linkage")?,
            summary: &self.summary,
        })
    }

    /// The summary as of the last release of the write side (without
    /// waiting for the lock).
    pub(crate) fn summary(&self) -> LinkageSummary {
        // Every update replaces the whole value, so a poisoned one is usable.
        self.summary
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The write side of [`SharedLinkage`]'s lock; refreshes the summary when
/// dropped, while it still holds the lock.
pub(crate) struct LinkageWrite<'a> {
    guard: RwLockWriteGuard<'a, Linkage>,
    summary: &'a Mutex<LinkageSummary>,
}

impl Deref for LinkageWrite<'_> {
    type Target = Linkage;
    fn deref(&self) -> &Linkage {
        &self.guard
    }
}

impl DerefMut for LinkageWrite<'_> {
    fn deref_mut(&mut self) -> &mut Linkage {
        &mut self.guard
    }
}

impl Drop for LinkageWrite<'_> {
    fn drop(&mut self) {
        // A panic while the lock was held poisons it and may have left the
        // index half changed: keep the last summary rather than publish that
        // (and risk a second panic while unwinding).
        if std::thread::panicking() {
            return;
        }
        let summary = LinkageSummary::of(&self.guard.index);
        *self.summary.lock().unwrap_or_else(|p| p.into_inner()) = summary;
    }
}

/// A fresh person id from the OS CSPRNG.
pub(crate) fn person_id_source() -> IdSource {
    let rng = ring::rand::SystemRandom::new();
    Box::new(move || {
        let mut bytes = [0u8; 16];
        // SystemRandom only fails when the OS has no randomness at all, in
        // which case the server cannot run safely; fall back to the clock
        // hashed, which is still unique per call.
        if ring::rand::SecureRandom::fill(&rng, &mut bytes).is_err() {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            bytes.copy_from_slice(&blake3::hash(&nanos.to_be_bytes()).as_bytes()[..16]);
        }
        PersonId(bytes)
    })
}

/// The stored form of a person: creation sequence ‖ record sequence numbers
/// (u64 big-endian each).
pub(crate) fn encode_person(person: &StoredPerson) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + person.records.len() * 8);
    out.extend_from_slice(&person.created.to_be_bytes());
    for seq in &person.records {
        out.extend_from_slice(&seq.to_be_bytes());
    }
    out
}

fn decode_person(key: &[u8], value: &[u8]) -> Result<StoredPerson, StoreError> {
    let corrupt = || StoreError::Corrupt {
        tree: "persons",
        message: "malformed person".into(),
    };
    let id: [u8; 16] = key.try_into().map_err(|_| corrupt())?;
    if value.len() < 16 || !value.len().is_multiple_of(8) {
        return Err(corrupt());
    }
    let mut words = value
        .chunks_exact(8)
        .map(|c| u64::from_be_bytes(c.try_into().unwrap_or([0; 8])));
    let created = words.next().ok_or_else(corrupt)?;
    Ok(StoredPerson {
        id: PersonId(id),
        created,
        records: words.collect(),
    })
}

/// Everything read back from the store at startup.
pub(crate) struct Loaded {
    /// The state.
    pub linkage: Linkage,
    /// Persons the rebuild changed relative to the stored persons (empty
    /// unless the configuration changed); the writer persists and logs it.
    pub delta: LinkDelta,
    /// The stored records' refs and the committed batch ids (the ref index).
    pub names: RecordNames,
}

/// Rebuilds the linkage state from the store: every record, the stored
/// persons and the stored model.
pub(crate) fn load(store: &Store, config: LinkConfig) -> Result<Loaded, ServiceError> {
    let mut records = Vec::new();
    let mut events = HashMap::new();
    let mut names = RecordNames::default();
    let next_seq = store.get_u64(TreeName::Meta, META_NEXT_SEQ)?;
    for item in store.tree(TreeName::Records).iter() {
        let (_, value) = item.map_err(StoreError::from)?;
        let (key, record) = decode_record_row(&value)?;
        // Every stored sequence number was handed out before `next_seq`.
        if record.seq >= next_seq {
            return Err(StoreError::Corrupt {
                tree: "records",
                message: format!(
                    "record {} is not below the next sequence number {next_seq}",
                    record.seq
                ),
            }
            .into());
        }
        names.insert(key, record.seq);
        events.insert(record.seq, EventRow::of(key.agency, &record));
        records.push(LinkRecord {
            seq: record.seq,
            tokens: record.tokens,
            bloom: record.bloom,
        });
    }
    for item in store.tree(TreeName::Batches).iter() {
        let (key, _) = item.map_err(StoreError::from)?;
        names.add_batch(
            fixed_width(&key, TreeName::Batches, "a key is not 34 bytes")?,
            0,
        );
    }
    let mut persons = Vec::new();
    for item in store.tree(TreeName::Persons).iter() {
        let (key, value) = item.map_err(StoreError::from)?;
        persons.push(decode_person(&key, &value)?);
    }
    let model =
        match store
            .tree(TreeName::Meta)
            .get(META_LINK_MODEL)
            .map_err(StoreError::from)?
        {
            Some(bytes) => Some(serde_json::from_slice::<LinkModel>(&bytes).map_err(|e| {
                StoreError::Corrupt {
                    tree: "meta",
                    message: format!("linkage model: {e}"),
                }
            })?),
            None => None,
        };
    // A model of another rule set or configuration (after an upgrade) does
    // not fit: start from the prior until the next full job.
    let model = match model {
        Some(saved) => {
            let ready = saved.for_config(&config);
            if ready.is_none() {
                tracing::warn!(
                    "the saved linkage model does not fit the configured rules and \
                     comparisons; linking with the prior model until the next full job"
                );
            }
            ready
        }
        None => None,
    };
    let (index, delta) = LinkIndex::restore(
        config,
        model,
        records,
        persons,
        person_id_source(),
        &mut |_| {},
    )
    .map_err(|e| ServiceError::Internal(format!("rebuilding the linkage index: {e}")))?;
    Ok(Loaded {
        linkage: Linkage { index, events },
        delta,
        names,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records with their own national-id token each, plus one shared token
    /// of rule `shared_rule`.
    fn records(n: u64, national_id_rule: u16, shared_rule: u16) -> Vec<LinkRecord> {
        (0..n)
            .map(|i| LinkRecord {
                seq: i + 1,
                tokens: vec![
                    (national_id_rule, [i as u8 + 1; 32]),
                    (shared_rule, [0xee; 32]),
                ],
                bloom: None,
            })
            .collect()
    }

    /// The status summary is read without the linkage lock: while the writer
    /// holds the write side it still answers (with the state before), and
    /// when the write side is released it shows the persons and the
    /// quarantined key the change made.
    #[test]
    fn the_summary_is_refreshed_when_the_write_lock_is_released() {
        let config = LinkConfig {
            quarantine_limit: 2,
            ..LinkConfig::default()
        };
        let (national_id, shared) = (config.national_id_rule, config.rules[1].id);
        assert_ne!(national_id, shared);
        let mut next = 0u8;
        let ids: IdSource = Box::new(move || {
            next += 1;
            PersonId([next; 16])
        });
        let index = LinkIndex::new(config, None, ids).expect("index");
        let shared_linkage = SharedLinkage::new(Linkage {
            index,
            events: HashMap::new(),
        });
        assert_eq!(shared_linkage.summary(), LinkageSummary::default());
        {
            let mut linkage = shared_linkage.write().expect("write");
            linkage
                .index
                .insert(records(3, national_id, shared))
                .expect("insert");
            // Held: the summary answers at once, with the state before.
            assert_eq!(shared_linkage.summary(), LinkageSummary::default());
        }
        let summary = shared_linkage.summary();
        assert_eq!(summary.persons, 3);
        assert_eq!(
            summary.quarantined,
            vec![QuarantinedKey {
                rule: shared,
                records: 3
            }]
        );
        assert_eq!(shared_linkage.read().expect("read").index.person_count(), 3);
    }
}

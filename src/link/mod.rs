//! Linkage: persons from records, on keyed data only.
//!
//! The server stores records as keyed match-key tokens and keyed Bloom
//! encodings (`docs/ENCODING.md`); this module decides which records belong
//! to one person. It is an in-memory engine, keyed by a dense record index;
//! the server persists records, persons and the model in sled and rebuilds
//! the index at startup ([`LinkIndex::restore`]).
//!
//! How a pair is decided (`docs/LINKAGE.md` has the full account):
//!
//! - **blocking** (`blocking`): pairs that share a token or a Bloom LSH band
//!   key become candidates; keys shared by too many records are quarantined;
//! - **comparison** (`compare`): per rule agree / disagree / missing, plus
//!   the Dice coefficient of the Bloom encodings ([`dice`]);
//! - **deterministic stage**: rule weights minus disagreement penalties
//!   against a threshold, never on weak rules alone;
//! - **probabilistic stage** (`model`): a Fellegi–Sunter match weight with
//!   m- and u-probabilities estimated by EM, against a threshold taken from
//!   the fitted mixture;
//! - **clustering** (`cluster`): a deterministic, guarded greedy merge per
//!   connected component, so incremental linkage equals a full run;
//! - **person ids** (`ids`): stable across growth, merges, splits,
//!   restarts and full jobs.
//!
//! [`evaluate`] measures a linkage map against a known truth.
//!
//! Layout: `config` (rules, guards, settings), `record` (the record and its
//! compact form), `dice`, `blocking`, `compare`, `model`, `cluster`, `ids`,
//! `index` (the incremental [`LinkIndex`]), `job` (the full job), `evaluate`.

mod blocking;
mod cluster;
mod compare;
mod config;
pub mod dice;
pub mod evaluate;
mod ids;
mod index;
mod job;
mod model;
mod record;

pub use cluster::{Guard, GuardRefusal};
pub use config::{ComparisonSpec, LinkConfig, LshSpec, RuleClass, RuleSpec, Setting};
pub use ids::{ChangeKind, LinkDelta, PairEvidence, PersonChange};
pub use index::{IdSource, IndexStats, LinkIndex, PairExplanation, QuarantinedKey, StoredPerson};
pub use job::{JobOptions, JobReport, JobTimings};
pub use model::{
    ComparisonModel, ExpectedQuality, ExplainedComparison, ExplainedLevel, LevelModel, LinkModel,
    ModelExplanation, ModelOrigin,
};
pub(crate) use record::LSH_RULE;
pub use record::{LinkRecord, PersonId, RecordKey};

/// Errors of the linkage engine. Messages name record keys and rule ids,
/// never tokens or encodings.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The configuration (or a model that does not fit it) is invalid.
    #[error("invalid linkage configuration: {0}")]
    Config(String),
    /// A record carries a token of a rule the configuration does not know.
    #[error("record {record}: unknown match-key rule {rule}")]
    UnknownRule {
        /// The record's key.
        record: RecordKey,
        /// The rule id.
        rule: u16,
    },
    /// A record carries more tokens and band keys than the index supports.
    #[error("record {record}: {keys} blocking keys, at most {max}", max = config::MAX_KEYS_PER_RECORD)]
    TooManyKeys {
        /// The record's key.
        record: RecordKey,
        /// Its number of distinct keys.
        keys: usize,
    },
    /// A record key is already in the index (or twice in one batch).
    #[error("record {0} is already in the linkage index")]
    DuplicateRecord(RecordKey),
    /// A record key is not in the index.
    #[error("record {0} is not in the linkage index")]
    UnknownRecord(RecordKey),
    /// The stored persons given to [`LinkIndex::restore`] are inconsistent.
    #[error("stored persons are inconsistent: {0}")]
    StoredPersons(String),
    /// More records than the dense index can address (2^32 - 1).
    #[error("the linkage index is full")]
    Full,
}

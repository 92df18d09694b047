//! [`Encoder`]: the keys derived once from the linkage secret for one agency's
//! schema, and the functions that turn one registration into an
//! [`EncodedRecord`]. Also the encoding fingerprint (`DESIGN.md`), which lets
//! the linkage service refuse batches whose rules, normalisation, Bloom scheme
//! or key differ from the project's.

use chrono::NaiveDate;

use std::sync::Arc;

use super::bloom::{self, Bloom, BloomScheme, PositionCache};
use super::dates::age_band;
use super::keys::{self, DerivedKeys, FINGERPRINT_CONTEXT};
use super::normalise::{self, FoldBuffers, NormalisedPerson, RawPerson};
use super::record::{EncodedRecord, MatchToken};
use super::rules::{self, TokenBuffers};
use super::schema::Schema;
use super::secret::LinkageSecret;
use super::{NORMALISATION_VERSION, RULE_SET_VERSION};
use crate::vocab::{EventType, Region, ResidenceStatus, Role};

/// The event and the attributes of one registration that are sent as they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisteredEvent {
    /// Date of the event.
    pub date: NaiveDate,
    /// What happened.
    pub event_type: EventType,
    /// Victim or suspect.
    pub role: Role,
    /// Region of residence.
    pub region: Region,
    /// Residence-status category.
    pub residence_status: ResidenceStatus,
}

/// The working buffers of [`Encoder::encode_reusing`], kept by one thread
/// from one registration to the next. What they hold between calls is of no
/// meaning (`Default` to start).
#[derive(Debug, Default)]
pub struct EncodeBuffers {
    /// The normalised fields of the registration being encoded.
    person: NormalisedPerson,
    /// Folded cells.
    folds: FoldBuffers,
    /// Canonical byte strings and phonetic keys.
    tokens: TokenBuffers,
}

/// Encodes registrations of one agency under one linkage secret.
///
/// Cheap to share across threads (`&Encoder` is all the work needs); building
/// one derives 16 keys (a few microseconds).
#[derive(Clone)]
pub struct Encoder {
    /// The agency's schema: agency id, national-id check, columns.
    schema: Schema,
    /// Keys derived from the secret (never the secret itself).
    keys: DerivedKeys,
    /// The Bloom scheme, or `None` for tokens only.
    bloom: Option<BloomScheme>,
    /// Memoised Bloom element positions under `keys.bloom_keys`, shared by
    /// clones (`bloom::PositionCache`).
    bloom_positions: Arc<PositionCache>,
}

impl std::fmt::Debug for Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoder")
            .field("agency", &self.schema.agency())
            .field("bloom", &self.bloom)
            .finish_non_exhaustive()
    }
}

impl Encoder {
    /// An encoder with the default Bloom scheme ([`BloomScheme::DEFAULT`]).
    pub fn new(secret: &LinkageSecret, schema: &Schema) -> Encoder {
        let keys = DerivedKeys::new(secret, schema.agency());
        Encoder {
            schema: schema.clone(),
            bloom_positions: Arc::new(PositionCache::new(keys.bloom_keys)),
            keys,
            bloom: Some(BloomScheme::DEFAULT),
        }
    }

    /// The same encoder with another Bloom scheme, or none (tokens only).
    /// Changes the fingerprint.
    pub fn with_bloom(mut self, scheme: Option<BloomScheme>) -> Encoder {
        self.bloom = scheme;
        self
    }

    /// The schema this encoder reads.
    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The public id of the linkage secret.
    pub fn key_id(&self) -> [u8; 8] {
        self.keys.key_id
    }

    /// The Bloom scheme, if Bloom encodings are made.
    pub fn bloom_scheme(&self) -> Option<BloomScheme> {
        self.bloom
    }

    /// The encoding fingerprint (`docs/ENCODING.md`, "Fingerprint"):
    /// `BLAKE3 derive_key("veilink encoding v1 fingerprint", be32(rule-set
    /// version) ‖ be32(normalisation version) ‖ u8(Bloom scheme code, 0 = none)
    /// ‖ key id)`. Never depends on the key beyond its public id, nor on the
    /// schema (agencies with different exports must agree).
    pub fn fingerprint(&self) -> [u8; 32] {
        let mut material = Vec::with_capacity(17);
        material.extend_from_slice(&RULE_SET_VERSION.to_be_bytes());
        material.extend_from_slice(&NORMALISATION_VERSION.to_be_bytes());
        material.push(self.bloom.map_or(0, BloomScheme::code));
        material.extend_from_slice(&self.keys.key_id);
        blake3::derive_key(FINGERPRINT_CONTEXT, &material)
    }

    /// Normalises the raw fields of one registration under this schema's
    /// national-id check.
    pub fn normalise(&self, raw: &RawPerson<'_>) -> NormalisedPerson {
        normalise::normalise(raw, self.schema.national_id_check())
    }

    /// Every match token of a normalised person, sorted by (rule, hash).
    pub fn tokens(&self, person: &NormalisedPerson) -> Vec<MatchToken> {
        rules::tokens(person, &self.keys.rule_keys)
    }

    /// The Bloom encoding of a normalised person under this encoder's scheme.
    pub fn bloom(&self, person: &NormalisedPerson) -> Option<Bloom> {
        bloom::encode(person, &self.bloom_positions, self.bloom?)
    }

    /// The record ref of one of this agency's local record ids (the id exactly
    /// as in the CSV cell; surrounding whitespace is removed here).
    pub fn record_ref(&self, local_id: &str) -> [u8; 32] {
        keys::record_ref(&self.keys.record_ref, local_id.trim())
    }

    /// Encodes one registration.
    pub fn encode(
        &self,
        local_id: &str,
        raw: &RawPerson<'_>,
        event: &RegisteredEvent,
    ) -> EncodedRecord {
        self.encode_reusing(&mut EncodeBuffers::default(), local_id, raw, event)
    }

    /// [`Encoder::encode`] with the working buffers in `buffers`, which one
    /// thread keeps from registration to registration: the normalised fields,
    /// folded cells, canonical byte strings and phonetic keys are refilled
    /// instead of allocated (about 20 allocations per registration
    /// otherwise). A buffer is still allocated when a value is longer than
    /// any before it, when its field was missing in the registration before,
    /// and for a surname part beyond those seen so far. The result is the
    /// same whatever `buffers` held (tested).
    pub fn encode_reusing(
        &self,
        buffers: &mut EncodeBuffers,
        local_id: &str,
        raw: &RawPerson<'_>,
        event: &RegisteredEvent,
    ) -> EncodedRecord {
        let EncodeBuffers {
            person,
            folds,
            tokens,
        } = buffers;
        normalise::normalise_into(raw, self.schema.national_id_check(), person, folds);
        let person = &*person;
        if let Some(scheme) = self.bloom {
            // The salted name tables miss the cache; start those loads now so
            // they overlap the token hashing below.
            bloom::prefetch_tables(person, &self.bloom_positions, scheme);
        }
        EncodedRecord {
            local_id: local_id.to_string(),
            record_ref: self.record_ref(local_id),
            tokens: rules::tokens_into(person, &self.keys.rule_keys, tokens),
            bloom: self.bloom(person),
            event_date: event.date,
            event_type: event.event_type,
            role: event.role,
            age_band: age_band(person.date_of_birth, event.date),
            sex: raw.sex,
            region: event.region,
            residence_status: event.residence_status,
            national_id_invalid: person.national_id_invalid,
            date_of_birth_unreadable: false,
        }
    }
}

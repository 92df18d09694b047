//! Complete validation of an incoming batch before anything is stored.
//!
//! Every rule of issue 5 lives here: lengths of record refs, tokens and Bloom
//! encodings, rule ids known to the rule set and no more tokens of a rule
//! than it gives (`docs/ENCODING.md` §6; a checked national id and a
//! register id never together), event date in a sane range and
//! not in the future, vocabulary terms, no duplicate ref inside the batch, and
//! at least one token or a Bloom encoding per record. The first failure
//! rejects the whole batch with a message naming the record index and field;
//! a message never repeats a token, a ref or any other received value.

use std::collections::HashSet;

use chrono::NaiveDate;

use super::error::ServiceError;
use crate::encode::{RULES, RuleId};
use crate::pb::v1 as pb;
use crate::store::StoredRecord;
use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};
use crate::wire;

/// Bytes of a record ref.
pub const RECORD_REF_BYTES: usize = 32;
/// Bytes of a token hash.
pub const TOKEN_BYTES: usize = 32;
/// Bytes of a Bloom encoding (1024 bits).
pub const BLOOM_BYTES: usize = crate::encode::BLOOM_BITS / 8;
/// Most tokens one record may carry. Rule set 2 gives at most 17 (four of
/// rule 6, one of each other rule); 48 leaves room for later rule sets and,
/// with the linkage's Bloom LSH band keys, stays within the linkage's 64 keys
/// per record.
pub const MAX_TOKENS_PER_RECORD: usize = 48;
/// The earliest event date accepted.
pub const EARLIEST_EVENT_DATE: (i32, u32, u32) = (1900, 1, 1);

/// One record that passed validation (tokens not yet re-keyed).
#[derive(Debug, Clone)]
pub struct ValidRecord {
    /// The 32-byte record ref.
    pub record_ref: [u8; 32],
    /// (rule id, 32-byte agency-keyed hash), as received.
    pub tokens: Vec<(u16, [u8; 32])>,
    /// The 1024-bit Bloom encoding, when sent.
    pub bloom: Option<[u8; 128]>,
    /// Event date.
    pub event_date: NaiveDate,
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

impl ValidRecord {
    /// The stored form with sequence number `seq`; the caller has already
    /// re-keyed the tokens ([`rekey_token`]).
    pub fn into_stored(self, seq: u64) -> StoredRecord {
        StoredRecord {
            seq,
            tokens: self.tokens,
            bloom: self.bloom,
            event_date: self.event_date,
            event_type: self.event_type,
            role: self.role,
            age_band: self.age_band,
            sex: self.sex,
            region: self.region,
            residence_status: self.residence_status,
        }
    }
}

/// BLAKE3 `derive_key` context of the server's token re-keying key.
pub const REKEY_CONTEXT: &str = "veilink 2026 server token re-key v1";

/// The prepared re-keying hasher for the server secret: BLAKE3 keyed with
/// `derive_key(REKEY_CONTEXT, server_secret)`.
pub fn rekey_hasher(server_secret: &[u8; 32]) -> blake3::Hasher {
    blake3::Hasher::new_keyed(&blake3::derive_key(REKEY_CONTEXT, server_secret))
}

/// Re-keys one token: BLAKE3-keyed hash of (rule id as u16 big-endian ‖ token).
/// Equal tokens stay equal; a stolen store plus a leaked agency secret still
/// does not give tokens that match a dictionary.
pub fn rekey_token(rekey: &blake3::Hasher, rule: u16, token: &[u8; 32]) -> [u8; 32] {
    let mut hasher = rekey.clone();
    hasher.update(&rule.to_be_bytes());
    hasher.update(token);
    *hasher.finalize().as_bytes()
}

fn invalid(index: usize, field: &str, reason: impl std::fmt::Display) -> ServiceError {
    ServiceError::InvalidArgument(format!("record {index}: field {field}: {reason}"))
}

/// Validates a whole batch's records; `today` bounds the event date.
///
/// # Errors
/// [`ServiceError::InvalidArgument`] naming the first bad record (0-based
/// index in the batch) and field.
pub fn validate_records(
    records: &[pb::Record],
    today: NaiveDate,
) -> Result<Vec<ValidRecord>, ServiceError> {
    let mut seen = HashSet::with_capacity(records.len());
    let mut valid = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let checked = validate_record(index, record, today)?;
        if !seen.insert(checked.record_ref) {
            return Err(invalid(
                index,
                "record_ref",
                "duplicate record ref inside the batch",
            ));
        }
        valid.push(checked);
    }
    Ok(valid)
}

fn validate_record(
    index: usize,
    record: &pb::Record,
    today: NaiveDate,
) -> Result<ValidRecord, ServiceError> {
    let record_ref: [u8; 32] = record.record_ref.as_slice().try_into().map_err(|_| {
        invalid(
            index,
            "record_ref",
            format!(
                "must be {RECORD_REF_BYTES} bytes, got {}",
                record.record_ref.len()
            ),
        )
    })?;

    if record.tokens.len() > MAX_TOKENS_PER_RECORD {
        return Err(invalid(
            index,
            "tokens",
            format!("at most {MAX_TOKENS_PER_RECORD} tokens per record"),
        ));
    }
    let mut tokens = Vec::with_capacity(record.tokens.len());
    let mut per_rule = [0usize; 256];
    for (t, token) in record.tokens.iter().enumerate() {
        let spec = u16::try_from(token.rule)
            .ok()
            .and_then(|r| crate::encode::rules::rule_by_id(RuleId(r)))
            .ok_or_else(|| {
                invalid(
                    index,
                    &format!("tokens[{t}].rule"),
                    format!(
                        "unknown rule id {} (rule set v{} has ids {}..={})",
                        token.rule,
                        crate::encode::RULE_SET_VERSION,
                        RULES.first().map(|r| r.id.0).unwrap_or(0),
                        RULES.last().map(|r| r.id.0).unwrap_or(0)
                    ),
                )
            })?;
        let rule = spec.id.0;
        let slot = &mut per_rule[usize::from(rule).min(255)];
        *slot += 1;
        // `docs/ENCODING.md` §6: one token per rule, except rule 6 (one per
        // surname part).
        if *slot > spec.max_tokens {
            return Err(invalid(
                index,
                &format!("tokens[{t}].rule"),
                format!(
                    "more than {} token(s) of rule {rule} ({})",
                    spec.max_tokens, spec.name
                ),
            ));
        }
        let hash: [u8; 32] = token.hash.as_slice().try_into().map_err(|_| {
            invalid(
                index,
                &format!("tokens[{t}].hash"),
                format!("must be {TOKEN_BYTES} bytes, got {}", token.hash.len()),
            )
        })?;
        tokens.push((rule, hash));
    }

    // One national id per record: a checked one (rule 1) or another
    // register's (rule 13), never both.
    if per_rule[1] > 0 && per_rule[13] > 0 {
        return Err(invalid(
            index,
            "tokens",
            "both a national id (rule 1) and a register id (rule 13); a record has one national id",
        ));
    }

    let bloom = match record.bloom.len() {
        0 => None,
        BLOOM_BYTES => {
            let mut bits = [0u8; 128];
            bits.copy_from_slice(&record.bloom);
            Some(bits)
        }
        other => {
            return Err(invalid(
                index,
                "bloom",
                format!("must be empty or {BLOOM_BYTES} bytes, got {other}"),
            ));
        }
    };
    if tokens.is_empty() && bloom.is_none() {
        return Err(invalid(
            index,
            "tokens",
            "a record needs at least one token or a Bloom encoding",
        ));
    }

    let event = record
        .event
        .as_ref()
        .ok_or_else(|| invalid(index, "event", "missing"))?;
    let event_date = NaiveDate::parse_from_str(&event.date, "%Y-%m-%d")
        .ok()
        .filter(|_| event.date.len() == 10)
        .ok_or_else(|| invalid(index, "event.date", "not a YYYY-MM-DD date"))?;
    let (y, m, d) = EARLIEST_EVENT_DATE;
    let earliest = NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN);
    if event_date < earliest {
        return Err(invalid(index, "event.date", "before 1900-01-01"));
    }
    if event_date > today {
        return Err(invalid(index, "event.date", "in the future"));
    }
    let event_type = wire::event_type_from_proto(event.r#type).ok_or_else(|| {
        invalid(
            index,
            "event.type",
            format!("{} is not an event type", event.r#type),
        )
    })?;
    let role = wire::role_from_proto(event.role)
        .ok_or_else(|| invalid(index, "event.role", format!("{} is not a role", event.role)))?;

    let attributes = record
        .attributes
        .as_ref()
        .ok_or_else(|| invalid(index, "attributes", "missing"))?;
    let age_band = wire::age_band_from_proto(attributes.age_band).ok_or_else(|| {
        invalid(
            index,
            "attributes.age_band",
            format!("{} is not an age band", attributes.age_band),
        )
    })?;
    let sex = wire::sex_from_proto(attributes.sex).ok_or_else(|| {
        invalid(
            index,
            "attributes.sex",
            format!("{} is not a sex", attributes.sex),
        )
    })?;
    let region = wire::region_from_proto(&attributes.region).ok_or_else(|| {
        invalid(
            index,
            "attributes.region",
            "not a region code (NL-DR .. NL-ZH, abroad, unknown)",
        )
    })?;
    let residence_status = wire::residence_status_from_proto(attributes.residence_status)
        .ok_or_else(|| {
            invalid(
                index,
                "attributes.residence_status",
                format!("{} is not a residence status", attributes.residence_status),
            )
        })?;

    Ok(ValidRecord {
        record_ref,
        tokens,
        bloom,
        event_date,
        event_type,
        role,
        age_band,
        sex,
        region,
        residence_status,
    })
}

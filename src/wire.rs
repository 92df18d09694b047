//! The wire form of records and batches, shared by the agency client and the
//! server: conversions between the vocabulary and the protobuf enums, the
//! canonical byte encoding of a batch, its digest and the content-derived
//! batch id.
//!
//! The canonical encoding (`docs/STORAGE.md`, "Batch digest") exists so that
//! an agency can recompute, from what it sent, the digest the server puts in
//! the receipt and in the transparency log: the receipt then proves the server
//! received exactly those records.

use crate::encode::EncodedRecord;
use crate::pb::v1 as pb;
use crate::vocab::{AgeBand, EventType, Region, ResidenceStatus, Role, Sex};

/// Domain-separation prefix of the canonical batch encoding (16 bytes).
const BATCH_ENCODING_PREFIX: &[u8; 16] = b"veilink-batch-v1";

/// BLAKE3 `derive_key` context of batch ids.
const BATCH_ID_CONTEXT: &str = "veilink 2026 batch id v1";

macro_rules! proto_enum_conversions {
    ($($vocab:ident <=> $proto:ident, $to:ident, $from:ident;)+) => {
        $(
            /// The protobuf value of a vocabulary term (the term's code + 1;
            /// 0 is the protobuf's UNSPECIFIED).
            pub fn $to(term: $vocab) -> pb::$proto {
                pb::$proto::try_from(i32::from(term.code()) + 1)
                    .unwrap_or(pb::$proto::default())
            }

            /// The vocabulary term of a protobuf value; `None` for UNSPECIFIED
            /// or a value this build does not know.
            pub fn $from(value: i32) -> Option<$vocab> {
                let code = u8::try_from(value.checked_sub(1)?).ok()?;
                $vocab::from_code(code)
            }
        )+
    };
}

proto_enum_conversions! {
    EventType <=> EventType, event_type_to_proto, event_type_from_proto;
    Role <=> Role, role_to_proto, role_from_proto;
    AgeBand <=> AgeBand, age_band_to_proto, age_band_from_proto;
    Sex <=> Sex, sex_to_proto, sex_from_proto;
    ResidenceStatus <=> ResidenceStatus, residence_status_to_proto, residence_status_from_proto;
}

/// The wire form of an encoded record (everything but the local id, which
/// never leaves the agency).
pub fn record_to_proto(record: &EncodedRecord) -> pb::Record {
    pb::Record {
        record_ref: record.record_ref.to_vec(),
        tokens: record
            .tokens
            .iter()
            .map(|t| pb::MatchToken {
                rule: u32::from(t.rule.0),
                hash: t.hash.to_vec(),
            })
            .collect(),
        bloom: record
            .bloom
            .as_ref()
            .map(|b| b.0.to_vec())
            .unwrap_or_default(),
        event: Some(pb::Event {
            date: record.event_date.format("%Y-%m-%d").to_string(),
            r#type: event_type_to_proto(record.event_type) as i32,
            role: role_to_proto(record.role) as i32,
        }),
        attributes: Some(pb::Attributes {
            age_band: age_band_to_proto(record.age_band) as i32,
            sex: sex_to_proto(record.sex) as i32,
            region: record.region.as_str().to_string(),
            residence_status: residence_status_to_proto(record.residence_status) as i32,
        }),
    }
}

/// Parses a region string of the wire form.
pub fn region_from_proto(text: &str) -> Option<Region> {
    text.parse().ok()
}

fn put_len_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    // Every length-prefixed field is at most a few hundred bytes; longer
    // inputs (invalid records) are cut at u16::MAX, which still yields a
    // deterministic encoding.
    let len = bytes.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(len as u16).to_be_bytes());
    out.extend_from_slice(&bytes[..len]);
}

/// Appends the canonical encoding of one record (`docs/STORAGE.md`).
fn put_record(out: &mut Vec<u8>, record: &pb::Record) {
    put_len_prefixed(out, &record.record_ref);
    let token_count = record.tokens.len().min(usize::from(u16::MAX));
    out.extend_from_slice(&(token_count as u16).to_be_bytes());
    for token in &record.tokens[..token_count] {
        out.extend_from_slice(&token.rule.to_be_bytes());
        put_len_prefixed(out, &token.hash);
    }
    put_len_prefixed(out, &record.bloom);
    let event = record.event.clone().unwrap_or_default();
    put_len_prefixed(out, event.date.as_bytes());
    out.extend_from_slice(&event.r#type.to_be_bytes());
    out.extend_from_slice(&event.role.to_be_bytes());
    let attributes = record.attributes.clone().unwrap_or_default();
    out.extend_from_slice(&attributes.age_band.to_be_bytes());
    out.extend_from_slice(&attributes.sex.to_be_bytes());
    put_len_prefixed(out, attributes.region.as_bytes());
    out.extend_from_slice(&attributes.residence_status.to_be_bytes());
}

/// The canonical byte encoding of a batch's records, in order.
pub fn canonical_batch(records: &[pb::Record]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + records.len() * 600);
    out.extend_from_slice(BATCH_ENCODING_PREFIX);
    out.extend_from_slice(&(records.len() as u64).to_be_bytes());
    for record in records {
        put_record(&mut out, record);
    }
    out
}

/// BLAKE3 digest (32 bytes) of the canonical batch encoding: what the server
/// puts in the receipt and the transparency log.
pub fn batch_digest(records: &[pb::Record]) -> [u8; 32] {
    *blake3::hash(&canonical_batch(records)).as_bytes()
}

/// The deterministic batch id `veilink submit` uses: BLAKE3 in `derive_key`
/// mode (context `BATCH_ID_CONTEXT`) over the agency id, a zero byte and
/// the canonical batch encoding. The same records from the same agency always
/// get the same id, so a retried or re-run submission is recognised.
pub fn batch_id(agency: &str, records: &[pb::Record]) -> [u8; 32] {
    let mut hasher = blake3::Hasher::new_derive_key(BATCH_ID_CONTEXT);
    hasher.update(agency.as_bytes());
    hasher.update(&[0]);
    hasher.update(&canonical_batch(records));
    *hasher.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vocabulary terms and protobuf values map one to one; UNSPECIFIED and
    /// unknown values map to nothing.
    #[test]
    fn enum_conversions_round_trip() {
        for t in EventType::ALL {
            assert_eq!(
                event_type_from_proto(event_type_to_proto(*t) as i32),
                Some(*t)
            );
        }
        for t in AgeBand::ALL {
            assert_eq!(age_band_from_proto(age_band_to_proto(*t) as i32), Some(*t));
        }
        assert_eq!(
            event_type_to_proto(EventType::TraffickingSexual),
            pb::EventType::TraffickingSexual
        );
        assert_eq!(role_to_proto(Role::Suspect), pb::Role::Suspect);
        assert_eq!(
            residence_status_to_proto(ResidenceStatus::Unknown),
            pb::ResidenceStatus::Unknown
        );
        assert_eq!(event_type_from_proto(0), None);
        assert_eq!(event_type_from_proto(11), None);
        assert_eq!(sex_from_proto(-3), None);
    }

    /// The digest and the batch id change with any field and with the order.
    #[test]
    fn digest_covers_every_field() {
        let record = pb::Record {
            record_ref: vec![1; 32],
            tokens: vec![pb::MatchToken {
                rule: 2,
                hash: vec![3; 32],
            }],
            bloom: vec![],
            event: Some(pb::Event {
                date: "2020-01-02".into(),
                r#type: 1,
                role: 1,
            }),
            attributes: Some(pb::Attributes {
                age_band: 3,
                sex: 1,
                region: "NL-ZH".into(),
                residence_status: 1,
            }),
        };
        let base = batch_digest(std::slice::from_ref(&record));
        let mut changed = record.clone();
        changed.attributes.as_mut().unwrap().region = "NL-UT".into();
        assert_ne!(batch_digest(&[changed]), base);
        let mut changed = record.clone();
        changed.tokens[0].rule = 3;
        assert_ne!(batch_digest(&[changed]), base);
        let other = pb::Record {
            record_ref: vec![9; 32],
            ..record.clone()
        };
        assert_ne!(
            batch_digest(&[record.clone(), other.clone()]),
            batch_digest(&[other, record.clone()])
        );
        assert_ne!(
            batch_id("police", std::slice::from_ref(&record)),
            batch_id("care", &[record])
        );
    }
}

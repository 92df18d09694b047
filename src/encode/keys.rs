//! Every key the encoder uses, derived from the linkage secret with BLAKE3
//! `derive_key` (the key derivation mode of the BLAKE3 specification, with
//! hard-coded, globally unique context strings as it asks) — one key per purpose, so a
//! token of one rule says nothing about another rule, a Bloom bit of one field
//! nothing about another field, and record refs nothing about tokens
//! (`docs/ENCODING.md`, "Keys").

use super::bloom::{BLOOM_FIELDS, BloomField};
use super::rules::RULES;
use super::secret::LinkageSecret;

/// Context of the master key for record refs; the agency key is derived from
/// it by a keyed hash of the agency id (`record_ref_key`).
pub const RECORD_REF_CONTEXT: &str = "veilink encoding v1 record ref";

/// Context of the encoding fingerprint (`docs/ENCODING.md`, "Fingerprint").
pub const FINGERPRINT_CONTEXT: &str = "veilink encoding v1 fingerprint";

/// The keys prepared once per encoder.
#[derive(Clone)]
pub(crate) struct DerivedKeys {
    /// One key per rule, in the order of [`RULES`].
    pub rule_keys: Vec<[u8; 32]>,
    /// One key per Bloom field, in the order of [`BLOOM_FIELDS`].
    pub bloom_keys: [[u8; 32]; BLOOM_FIELDS.len()],
    /// The agency's record-ref key.
    pub record_ref: [u8; 32],
    /// The public key id (part of the fingerprint).
    pub key_id: [u8; 8],
}

impl DerivedKeys {
    /// Derives every key for one agency.
    pub fn new(secret: &LinkageSecret, agency: &str) -> DerivedKeys {
        DerivedKeys {
            rule_keys: RULES.iter().map(|r| secret.derive(r.key_context)).collect(),
            bloom_keys: BLOOM_FIELDS.map(|f: BloomField| secret.derive(f.key_context)),
            record_ref: record_ref_key(secret, agency),
            key_id: secret.key_id(),
        }
    }
}

/// The agency-specific record-ref key:
/// `keyed_hash(derive_key(RECORD_REF_CONTEXT, secret), lp(agency))`, so that the
/// same local id at two agencies gives unrelated refs.
fn record_ref_key(secret: &LinkageSecret, agency: &str) -> [u8; 32] {
    let master = secret.derive(RECORD_REF_CONTEXT);
    let mut input = Vec::with_capacity(4 + agency.len());
    push_length_prefixed(&mut input, agency.as_bytes());
    *blake3::keyed_hash(&master, &input).as_bytes()
}

/// Appends `value` with its length as a 4-byte big-endian prefix: the unit of
/// every canonical byte string (injective for any sequence of values).
pub(crate) fn push_length_prefixed(out: &mut Vec<u8>, value: &[u8]) {
    // A CSV cell longer than 4 GiB cannot be read into memory; saturate anyway.
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

/// The record ref of a local record id under an agency's record-ref key:
/// `keyed_hash(agency_key, lp(local_id))`.
pub(crate) fn record_ref(agency_key: &[u8; 32], local_id: &str) -> [u8; 32] {
    let mut input = Vec::with_capacity(4 + local_id.len());
    push_length_prefixed(&mut input, local_id.as_bytes());
    *blake3::keyed_hash(agency_key, &input).as_bytes()
}

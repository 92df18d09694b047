//! RFC 9162 §2.1.1 Merkle tree hashing: the only place the log hashes bytes.
//!
//! Leaves and interior nodes are hashed with distinct one-byte prefixes so a
//! leaf can never be passed off as a node (a second-preimage defence):
//! `leaf = SHA-256(0x00 || entry)`, `node = SHA-256(0x01 || left || right)`,
//! and the root of the empty tree is `SHA-256("")`. These are the hashes of
//! RFC 6962 too, so every tool of the Certificate Transparency and
//! transparency-dev ecosystems computes the same roots and proofs.

use ring::digest::{Context, SHA256, digest};

/// A 32-byte SHA-256 hash: a leaf hash, a node hash or a root.
pub type Hash = [u8; 32];

/// Domain-separation prefix of a leaf hash (RFC 9162 §2.1.1).
const LEAF_PREFIX: u8 = 0x00;

/// Domain-separation prefix of an interior node hash (RFC 9162 §2.1.1).
const NODE_PREFIX: u8 = 0x01;

/// The leaf hash of one entry: `SHA-256(0x00 || entry)` (RFC 9162 §2.1.1).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[LEAF_PREFIX]);
    ctx.update(entry);
    finish(ctx)
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`
/// (RFC 9162 §2.1.1).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[NODE_PREFIX]);
    ctx.update(left);
    ctx.update(right);
    finish(ctx)
}

/// The root of the empty tree: `SHA-256("")` (RFC 9162 §2.1.1).
pub fn empty_root() -> Hash {
    to_hash(digest(&SHA256, b"").as_ref())
}

/// Copies a finished SHA-256 context into a [`Hash`].
fn finish(ctx: Context) -> Hash {
    to_hash(ctx.finish().as_ref())
}

/// Copies a 32-byte SHA-256 output into a [`Hash`].
fn to_hash(bytes: &[u8]) -> Hash {
    let mut out = [0u8; 32];
    out.copy_from_slice(bytes);
    out
}

/// Lower-case hexadecimal of a byte string (for JSON, the state file and
/// messages; hashes and pseudonyms only, never personal data).
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Parses exactly `N` bytes of hexadecimal (either case); `None` when the
/// text has another length or a non-hex character.
pub fn from_hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = text.as_bytes();
    if bytes.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let high = char::from(pair[0]).to_digit(16)?;
        let low = char::from(pair[1]).to_digit(16)?;
        *slot = u8::try_from(high * 16 + low).ok()?;
    }
    Some(out)
}

/// Serde helpers writing byte arrays as lower-case hex (JSON display and
/// the verifier's state file).
pub(crate) mod hex_serde {
    /// Serde as lower-case hex for fixed-size byte arrays.
    pub mod array {
        use serde::{Deserialize, Deserializer, Serializer, de::Error};

        use super::super::{from_hex, to_hex};

        pub fn serialize<S: Serializer, const N: usize>(
            v: &[u8; N],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_str(&to_hex(v))
        }

        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<[u8; N], D::Error> {
            let text = String::deserialize(d)?;
            from_hex(&text)
                .ok_or_else(|| D::Error::custom(format!("expected {} hex digits", 2 * N)))
        }
    }

    /// Serde as lower-case hex (or `null`) for an optional byte array.
    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer, de::Error};

        use super::super::{from_hex, to_hex};

        pub fn serialize<S: Serializer, const N: usize>(
            v: &Option<[u8; N]>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match v {
                Some(bytes) => s.serialize_some(&to_hex(bytes)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<Option<[u8; N]>, D::Error> {
            Option::<String>::deserialize(d)?
                .map(|text| {
                    from_hex(&text)
                        .ok_or_else(|| D::Error::custom(format!("expected {} hex digits", 2 * N)))
                })
                .transpose()
        }
    }

    /// Serde as a list of lower-case hex strings for a list of byte arrays.
    pub mod list {
        use serde::{Deserialize, Deserializer, Serializer, de::Error};

        use super::super::{from_hex, to_hex};

        pub fn serialize<S: Serializer, const N: usize>(
            v: &[[u8; N]],
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.collect_seq(v.iter().map(|bytes| to_hex(bytes)))
        }

        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<Vec<[u8; N]>, D::Error> {
            Vec::<String>::deserialize(d)?
                .iter()
                .map(|text| {
                    from_hex(text)
                        .ok_or_else(|| D::Error::custom(format!("expected {} hex digits", 2 * N)))
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The empty-tree root is the published SHA-256 of the empty string
    /// (RFC 6962 §2.1 / transparency-dev/merkle `testonly.EmptyRootHash`).
    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            to_hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    /// The leaf hash of the empty entry is the first reference node of
    /// transparency-dev/merkle `testonly.NodeHashes()`.
    #[test]
    fn leaf_hash_of_empty_entry() {
        assert_eq!(
            to_hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    /// Hex round-trips and rejects wrong lengths and non-hex characters.
    #[test]
    fn hex_round_trip_and_rejects() {
        let h = leaf_hash(b"x");
        assert_eq!(from_hex::<32>(&to_hex(&h)), Some(h));
        assert_eq!(from_hex::<2>("0aFf"), Some([0x0a, 0xff]));
        assert_eq!(from_hex::<2>("0aF"), None);
        assert_eq!(from_hex::<2>("0aFg"), None);
    }
}

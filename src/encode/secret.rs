//! The linkage secret: 32 random bytes shared by the agencies of one linkage
//! project (through a key custodian) and never given to the linkage service.
//!
//! Every key the encoder uses is derived from it ([`super::keys`]); the only
//! thing about it that may leave an agency is its [`LinkageSecret::key_id`],
//! a one-way identifier that lets the service refuse batches encoded under a
//! different secret.

use std::fmt;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use ring::rand::{SecureRandom, SystemRandom};

use super::EncodeError;

/// Length of a linkage secret in bytes.
pub const SECRET_LEN: usize = 32;

/// BLAKE3 `derive_key` context of the key id (`docs/ENCODING.md`, "Keys").
const KEY_ID_CONTEXT: &str = "veilink encoding v1 key id";

/// A 32-byte linkage secret.
///
/// `Debug` prints only the key id, never the bytes. The bytes are reachable
/// inside the encoding layer only (for key derivation).
#[derive(Clone, PartialEq, Eq)]
pub struct LinkageSecret {
    /// The secret itself: input key material for every derived key.
    bytes: [u8; SECRET_LEN],
}

impl fmt::Debug for LinkageSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LinkageSecret")
            .field("key_id", &hex(&self.key_id()))
            .finish_non_exhaustive()
    }
}

impl LinkageSecret {
    /// Wraps 32 bytes as a secret (tests and other key sources; files use [`load`]).
    ///
    /// [`load`]: LinkageSecret::load
    pub fn from_bytes(bytes: [u8; SECRET_LEN]) -> LinkageSecret {
        LinkageSecret { bytes }
    }

    /// Writes 32 bytes from the operating system's CSPRNG (ring `SystemRandom`)
    /// to a new file, raw, with mode 0600 on Unix.
    ///
    /// # Errors
    /// [`EncodeError::KeyExists`] if the file exists (never overwritten: an
    /// overwritten secret cannot be recovered), [`EncodeError::KeyIo`] if it
    /// cannot be created or written, [`EncodeError::Random`] if the CSPRNG fails.
    pub fn generate_to_file(path: &Path) -> Result<(), EncodeError> {
        let mut bytes = [0u8; SECRET_LEN];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| EncodeError::Random)?;
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let io_error = |source| EncodeError::KeyIo {
            path: path.to_path_buf(),
            source,
        };
        let mut file = options.open(path).map_err(|source: std::io::Error| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                EncodeError::KeyExists {
                    path: path.to_path_buf(),
                }
            } else {
                io_error(source)
            }
        })?;
        file.write_all(&bytes).map_err(io_error)?;
        file.sync_all().map_err(io_error)
    }

    /// Reads a secret from a file holding either exactly 32 raw bytes (what
    /// [`generate_to_file`] writes) or 64 hexadecimal digits (either case, for
    /// custodians who pass keys as text), optionally followed by one newline
    /// (`\n` or `\r\n`) in the hex form.
    ///
    /// Logs a warning (without the key) when the file is readable by group or
    /// others on Unix.
    ///
    /// # Errors
    /// [`EncodeError::KeyIo`] if unreadable, [`EncodeError::KeyLength`] for any
    /// other length or a non-hex 64-byte file.
    ///
    /// [`generate_to_file`]: LinkageSecret::generate_to_file
    pub fn load(path: &Path) -> Result<LinkageSecret, EncodeError> {
        let contents = std::fs::read(path).map_err(|source| EncodeError::KeyIo {
            path: path.to_path_buf(),
            source,
        })?;
        warn_if_shared(path);
        let wrong_length = |found| EncodeError::KeyLength {
            path: path.to_path_buf(),
            found,
        };
        if let Ok(bytes) = <[u8; SECRET_LEN]>::try_from(contents.as_slice()) {
            return Ok(LinkageSecret { bytes });
        }
        let text = contents
            .strip_suffix(b"\r\n")
            .or_else(|| contents.strip_suffix(b"\n"))
            .unwrap_or(&contents);
        if text.len() != 2 * SECRET_LEN {
            return Err(wrong_length(text.len()));
        }
        let mut bytes = [0u8; SECRET_LEN];
        for (out, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            *out = match (hex_digit(pair[0]), hex_digit(pair[1])) {
                (Some(high), Some(low)) => (high << 4) | low,
                _ => return Err(wrong_length(text.len())),
            };
        }
        Ok(LinkageSecret { bytes })
    }

    /// The public identifier of the secret: the first 8 bytes of
    /// BLAKE3 `derive_key("veilink encoding v1 key id", secret)`.
    /// One-way; part of the encoding fingerprint.
    pub fn key_id(&self) -> [u8; 8] {
        let derived = blake3::derive_key(KEY_ID_CONTEXT, &self.bytes);
        let mut id = [0u8; 8];
        id.copy_from_slice(&derived[..8]);
        id
    }

    /// The key derived from the secret for one BLAKE3 `derive_key` context.
    pub(crate) fn derive(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.bytes)
    }

    /// The raw bytes, for tests in this crate that check nothing leaks.
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8; SECRET_LEN] {
        &self.bytes
    }
}

fn hex_digit(byte: u8) -> Option<u8> {
    (byte as char).to_digit(16).map(|d| d as u8)
}

/// Lower-case hex of bytes (key ids, tokens, refs).
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends lower-case hex of bytes to a string.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for chunk in bytes.chunks(32) {
        let mut buf = [0u8; 64];
        for (pair, byte) in buf.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[usize::from(byte >> 4)];
            pair[1] = DIGITS[usize::from(byte & 0x0f)];
        }
        // Hex digits are ASCII.
        out.push_str(std::str::from_utf8(&buf[..2 * chunk.len()]).unwrap_or_default());
    }
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(path = %path.display(), "linkage secret file is readable by group or others; chmod 600 it");
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// keygen writes 32 bytes with mode 0600, load reads them back, and a second
    /// keygen to the same path is refused without touching the file.
    #[test]
    fn keygen_round_trip_and_no_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("linkage.key");
        LinkageSecret::generate_to_file(&path).unwrap();
        let first = std::fs::read(&path).unwrap();
        assert_eq!(first.len(), SECRET_LEN);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let secret = LinkageSecret::load(&path).unwrap();
        assert_eq!(secret.bytes().as_slice(), first.as_slice());
        let again = LinkageSecret::generate_to_file(&path).unwrap_err();
        assert!(matches!(again, EncodeError::KeyExists { .. }), "{again}");
        assert_eq!(std::fs::read(&path).unwrap(), first);
    }

    /// The hex form (with a trailing newline) loads as the same secret as raw bytes.
    #[test]
    fn hex_form_loads() {
        let dir = tempfile::tempdir().unwrap();
        let raw: [u8; 32] = std::array::from_fn(|i| (i * 7 + 1) as u8);
        let path = dir.path().join("hex.key");
        std::fs::write(&path, format!("{}\n", hex(&raw).to_uppercase())).unwrap();
        assert_eq!(
            LinkageSecret::load(&path).unwrap(),
            LinkageSecret::from_bytes(raw)
        );
        std::fs::write(&path, format!("{}zz", &hex(&raw)[..62])).unwrap();
        assert!(matches!(
            LinkageSecret::load(&path),
            Err(EncodeError::KeyLength { found: 64, .. })
        ));
    }

    /// Debug output shows the key id and no byte of the secret in hex.
    #[test]
    fn debug_hides_bytes() {
        let secret = LinkageSecret::from_bytes([0xab; 32]);
        let shown = format!("{secret:?}");
        assert!(shown.contains(&hex(&secret.key_id())), "{shown}");
        assert!(!shown.contains("abab"), "{shown}");
    }
}

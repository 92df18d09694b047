//! Server settings, from three sources in order of precedence: command-line
//! flags, `VEILINK_*` environment variables (both handled by clap in the CLI),
//! and a TOML file (`serve --config FILE`), over built-in defaults.
//!
//! Every source produces a [`ServeSettings`] (all fields optional); the CLI
//! merges them with [`ServeSettings::or`] and resolves the result into a
//! [`ServerConfig`] with every value decided. `docs/OPERATIONS.md` lists the
//! keys.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::ServerError;
use crate::analysis::DisclosureRules;
use crate::link::LinkConfig;

/// Default data directory (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "veilink-data";
/// Default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";
/// Default PKI directory.
pub const DEFAULT_PKI_DIR: &str = "certs";
/// Default maximum records per batch.
pub const DEFAULT_MAX_BATCH_RECORDS: usize = 10_000;
/// Default maximum gRPC message size in bytes (16 MiB: 10,000 records of
/// 14 tokens and a Bloom encoding take about 7 MiB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 * 1024 * 1024;

/// Settings as given by one source; `None` means "not set here".
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeSettings {
    /// Data directory of the sled store.
    pub data: Option<PathBuf>,
    /// Listen address, e.g. `127.0.0.1:50051`.
    pub listen: Option<SocketAddr>,
    /// PKI directory (ca.pem, server.pem/key, policy.toml).
    pub pki: Option<PathBuf>,
    /// Certificate revocation list (PEM).
    pub crl: Option<PathBuf>,
    /// Maximum records per batch.
    pub max_batch_records: Option<usize>,
    /// Maximum gRPC message size, bytes.
    pub max_message_bytes: Option<usize>,
    /// sled page cache, MiB.
    pub store_cache_mb: Option<u64>,
    /// Remove records whose event is older than this many years.
    pub retention_years: Option<u32>,
    /// Run a full linkage job this often, e.g. `6h`.
    #[serde(default, with = "humantime_serde_opt")]
    pub link_every: Option<Duration>,
    /// The project's encoding fingerprint (64 hex digits); when unset, the
    /// first accepted batch fixes it.
    pub encoding_fingerprint: Option<String>,
    /// Origin line of the transparency log's checkpoints.
    pub log_origin: Option<String>,
    /// Linkage guards (`[linkage]`).
    pub linkage: Option<LinkageSettings>,
    /// Disclosure control (`[disclosure]`): set by the operator, never by the analyst.
    pub disclosure: Option<DisclosureRules>,
}

/// The linkage settings an operator may change (`docs/LINKAGE.md`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkageSettings {
    /// A blocking key shared by more distinct records than this is quarantined.
    pub quarantine_limit: Option<u32>,
    /// No person grows beyond this many records.
    pub max_cluster_size: Option<u32>,
}

/// Default origin line of the checkpoints (C2SP tlog-checkpoint).
pub const DEFAULT_LOG_ORIGIN: &str = "veilink.local/log";

mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let text: Option<String> = Option::deserialize(d)?;
        text.map(|t| humantime::parse_duration(&t).map_err(serde::de::Error::custom))
            .transpose()
    }
}

impl ServeSettings {
    /// Reads a TOML settings file; unknown keys are an error.
    ///
    /// # Errors
    /// [`ServerError::Config`] naming the file and the problem.
    pub fn from_file(file: &Path) -> Result<ServeSettings, ServerError> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| ServerError::Config(format!("{}: {e}", file.display())))?;
        toml::from_str(&text).map_err(|e| ServerError::Config(format!("{}: {e}", file.display())))
    }

    /// Each setting from `self`, else from `fallback`.
    pub fn or(self, fallback: ServeSettings) -> ServeSettings {
        ServeSettings {
            data: self.data.or(fallback.data),
            listen: self.listen.or(fallback.listen),
            pki: self.pki.or(fallback.pki),
            crl: self.crl.or(fallback.crl),
            max_batch_records: self.max_batch_records.or(fallback.max_batch_records),
            max_message_bytes: self.max_message_bytes.or(fallback.max_message_bytes),
            store_cache_mb: self.store_cache_mb.or(fallback.store_cache_mb),
            retention_years: self.retention_years.or(fallback.retention_years),
            link_every: self.link_every.or(fallback.link_every),
            encoding_fingerprint: self.encoding_fingerprint.or(fallback.encoding_fingerprint),
            log_origin: self.log_origin.or(fallback.log_origin),
            linkage: self.linkage.or(fallback.linkage),
            disclosure: self.disclosure.or(fallback.disclosure),
        }
    }

    /// Fills in defaults and checks every value.
    ///
    /// # Errors
    /// [`ServerError::Config`] naming the invalid setting.
    pub fn resolve(self) -> Result<ServerConfig, ServerError> {
        let max_batch_records = self.max_batch_records.unwrap_or(DEFAULT_MAX_BATCH_RECORDS);
        if !(1..=100_000).contains(&max_batch_records) {
            return Err(ServerError::Config(
                "max_batch_records must be between 1 and 100000".into(),
            ));
        }
        let max_message_bytes = self.max_message_bytes.unwrap_or(DEFAULT_MAX_MESSAGE_BYTES);
        if !(64 * 1024..=1024 * 1024 * 1024).contains(&max_message_bytes) {
            return Err(ServerError::Config(
                "max_message_bytes must be between 65536 and 1073741824".into(),
            ));
        }
        let store_cache_mb = self
            .store_cache_mb
            .unwrap_or(crate::store::DEFAULT_CACHE_BYTES >> 20);
        if !(16..=1024 * 1024).contains(&store_cache_mb) {
            return Err(ServerError::Config(
                "store_cache_mb must be between 16 and 1048576".into(),
            ));
        }
        if self.retention_years == Some(0) {
            return Err(ServerError::Config(
                "retention_years must be at least 1".into(),
            ));
        }
        if let Some(every) = self.link_every
            && every < Duration::from_secs(1)
        {
            return Err(ServerError::Config("link_every must be at least 1s".into()));
        }
        let encoding_fingerprint = self
            .encoding_fingerprint
            .map(|hex| {
                parse_hex32(&hex).ok_or_else(|| {
                    ServerError::Config("encoding_fingerprint must be 64 hex digits".into())
                })
            })
            .transpose()?;
        let mut linkage = LinkConfig::default();
        if let Some(settings) = &self.linkage {
            if let Some(limit) = settings.quarantine_limit {
                linkage.quarantine_limit = limit;
            }
            if let Some(size) = settings.max_cluster_size {
                linkage.max_cluster_size = size;
            }
        }
        if linkage.quarantine_limit < 2 || linkage.max_cluster_size < 2 {
            return Err(ServerError::Config(
                "linkage.quarantine_limit and linkage.max_cluster_size must be at least 2".into(),
            ));
        }
        let disclosure = self.disclosure.unwrap_or_default();
        disclosure
            .validate()
            .map_err(|e| ServerError::Config(format!("disclosure: {e}")))?;
        Ok(ServerConfig {
            data_dir: self.data.unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR)),
            listen: match self.listen {
                Some(a) => a,
                None => DEFAULT_LISTEN
                    .parse()
                    .map_err(|_| ServerError::Config("default listen address".into()))?,
            },
            pki_dir: self.pki.unwrap_or_else(|| PathBuf::from(DEFAULT_PKI_DIR)),
            crl: self.crl,
            max_batch_records,
            max_message_bytes,
            store_cache_bytes: store_cache_mb << 20,
            retention_years: self.retention_years,
            link_every: self.link_every,
            encoding_fingerprint,
            log_origin: self
                .log_origin
                .unwrap_or_else(|| DEFAULT_LOG_ORIGIN.to_string()),
            linkage,
            disclosure,
        })
    }
}

/// Parses 64 hex digits into 32 bytes.
pub fn parse_hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    // `from_str_radix` alone would also take a sign ("+f").
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

/// The effective server settings, every value decided.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Data directory of the sled store.
    pub data_dir: PathBuf,
    /// Address to listen on.
    pub listen: SocketAddr,
    /// PKI directory.
    pub pki_dir: PathBuf,
    /// Certificate revocation list, when revocation is checked.
    pub crl: Option<PathBuf>,
    /// Maximum records per batch (RESOURCE_EXHAUSTED above it).
    pub max_batch_records: usize,
    /// Maximum decoded gRPC message size, bytes.
    pub max_message_bytes: usize,
    /// Size of sled's page cache, bytes (default 1 GiB). The link index is
    /// held in memory besides it (about 1.1 kB per record).
    pub store_cache_bytes: u64,
    /// Retention in years (`None`: keep records until withdrawn).
    pub retention_years: Option<u32>,
    /// Period of scheduled full linkage jobs.
    pub link_every: Option<Duration>,
    /// Operator-configured project fingerprint.
    pub encoding_fingerprint: Option<[u8; 32]>,
    /// Origin line of the checkpoints.
    pub log_origin: String,
    /// The linkage configuration (rules, weights, guards).
    pub linkage: LinkConfig,
    /// Disclosure-control rules of reports.
    pub disclosure: DisclosureRules,
}

impl ServerConfig {
    /// Defaults with the given data and PKI directories (tests, the demo).
    pub fn new(data_dir: impl Into<PathBuf>, pki_dir: impl Into<PathBuf>) -> ServerConfig {
        let settings = ServeSettings {
            data: Some(data_dir.into()),
            pki: Some(pki_dir.into()),
            ..ServeSettings::default()
        };
        // Only the defaults are resolved here, and they are valid.
        match settings.resolve() {
            Ok(config) => config,
            Err(_) => unreachable!("the built-in defaults are valid"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 64 hex digits parse, either case; anything else, a sign included, does not.
    #[test]
    fn hex32_takes_hex_digits_only() {
        let digits = "0123456789abcdefABCDEF".repeat(3);
        let text = &digits[..64];
        let parsed = parse_hex32(text).expect("64 hex digits");
        assert_eq!(parsed[0], 0x01);
        assert_eq!(parsed[5], 0xab);
        assert_eq!(parse_hex32(&"+f".repeat(32)), None);
        assert_eq!(parse_hex32(&"0".repeat(63)), None);
        assert_eq!(parse_hex32(&format!("{}g", "0".repeat(63))), None);
    }

    /// A flag beats the file, the file beats the default; bad values are named.
    #[test]
    fn precedence_and_validation() {
        let flags = ServeSettings {
            max_batch_records: Some(500),
            ..Default::default()
        };
        let file: ServeSettings =
            toml::from_str("max_batch_records = 900\nretention_years = 7\nlink_every = \"6h\"\n")
                .unwrap();
        let config = flags.or(file).resolve().unwrap();
        assert_eq!(config.max_batch_records, 500);
        assert_eq!(config.retention_years, Some(7));
        assert_eq!(config.link_every, Some(Duration::from_secs(6 * 3600)));
        let err = ServeSettings {
            max_batch_records: Some(0),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("max_batch_records"));
        assert!(toml::from_str::<ServeSettings>("colour = 1").is_err());
    }
}

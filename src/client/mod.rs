//! gRPC clients for agencies, analysts, auditors and operators.
//!
//! [`connect`] opens an mTLS channel as one principal of a PKI directory
//! (`DIR/ca.pem` to verify the server, `DIR/NAME.pem` + `DIR/NAME.key` to
//! prove who we are). The per-service helpers build on it.

pub mod audit;
pub mod submit;
pub mod withdraw;

use std::path::Path;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::pki::PkiPaths;

/// Errors of the client layer.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// A certificate or key file of the PKI directory is missing or unreadable.
    #[error("{file}: {source}")]
    Credentials {
        /// The file.
        file: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The server URL is not valid.
    #[error("invalid server URL {url:?}: {message}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong.
        message: String,
    },
    /// Connecting or the TLS handshake failed.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// The URL.
        url: String,
        /// The transport error, with its causes.
        message: String,
    },
    /// The server answered an RPC with an error status. (Not a `source`:
    /// the message already says everything, once.)
    #[error("{}: {}", code_name(.0.code()), .0.message())]
    Status(tonic::Status),
}

impl From<tonic::Status> for ClientError {
    fn from(status: tonic::Status) -> ClientError {
        ClientError::Status(status)
    }
}

impl ClientError {
    /// True when the error is caused by the user's input (exit status 2):
    /// bad files or URL, or the server saying the request was invalid.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ClientError::Credentials { .. } | ClientError::Url { .. } => true,
            ClientError::Status(s) => matches!(
                s.code(),
                tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition
            ),
            ClientError::Connect { .. } => false,
        }
    }
}

/// The gRPC code name as written in the gRPC specification, e.g. `PERMISSION_DENIED`.
pub fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Display a transport error with its chain of causes (tonic's top-level
/// message alone is "transport error").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn read(file: &Path) -> Result<Vec<u8>, ClientError> {
    std::fs::read(file).map_err(|source| ClientError::Credentials {
        file: file.display().to_string(),
        source,
    })
}

/// Opens an mTLS channel to `url` (e.g. `https://127.0.0.1:50051`) as
/// principal `name` of the PKI in `pki_dir`.
///
/// # Errors
/// [`ClientError::Credentials`] for missing files, [`ClientError::Url`],
/// [`ClientError::Connect`] when the connection or handshake fails.
pub async fn connect(url: &str, pki_dir: &Path, name: &str) -> Result<Channel, ClientError> {
    let paths = PkiPaths::new(pki_dir);
    let ca = Certificate::from_pem(read(&paths.ca_cert())?);
    let identity = Identity::from_pem(read(&paths.cert(name))?, read(&paths.key(name))?);
    let tls = ClientTlsConfig::new().ca_certificate(ca).identity(identity);
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| ClientError::Url {
            url: url.to_string(),
            message: e.to_string(),
        })?
        .tls_config(tls)
        .map_err(|e| ClientError::Url {
            url: url.to_string(),
            message: error_chain(&e),
        })?
        .connect_timeout(Duration::from_secs(10))
        .tcp_nodelay(true);
    endpoint.connect().await.map_err(|e| ClientError::Connect {
        url: url.to_string(),
        message: error_chain(&e),
    })
}

/// Streams the linkage map visible to the channel's principal (record ref
/// → person id; the operator sees every agency's records, an agency only its
/// own), in the chunks the server sends. Messages up to 64 MiB.
///
/// `persons` (16-byte person ids) limits the map to the records of those
/// persons; empty means the whole map.
///
/// # Errors
/// [`ClientError::Status`] when the server refuses the export: for the
/// operator `NOT_FOUND` naming a person id that does not exist;
/// `INVALID_ARGUMENT` for an id that is not 16 bytes.
pub async fn linkage_map(
    channel: Channel,
    persons: Vec<Vec<u8>>,
) -> Result<tonic::Streaming<crate::pb::v1::LinkageMapChunk>, ClientError> {
    Ok(crate::pb::v1::linkage_client::LinkageClient::new(channel)
        .max_decoding_message_size(64 * 1024 * 1024)
        .export_linkage_map(crate::pb::v1::ExportLinkageMapRequest {
            records: Vec::new(),
            persons,
        })
        .await?
        .into_inner())
}

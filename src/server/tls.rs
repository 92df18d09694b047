//! TLS 1.3 with required client certificates, a CRL, and the peer identity.
//!
//! tonic's `ServerTlsConfig` allows TLS 1.2 and has no revocation list, so the
//! server builds its own rustls `ServerConfig` (TLS 1.3 only, a
//! `WebPkiClientVerifier` over the one trusted CA, optional CRLs), accepts TCP
//! connections itself, performs the handshake with tokio-rustls, and hands
//! tonic a stream of [`PeerConnection`]s. Each connection carries the verified
//! leaf certificate, parsed once here into a [`PeerIdentity`]; tonic inserts
//! it into every request's extensions (the `Connected` trait), where the
//! authorisation layer (`server::auth`) reads it.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tonic::transport::server::Connected;

use super::ServerError;
use crate::pki::PkiPaths;

/// How long a client may take to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The verified client, as every request sees it.
#[derive(Debug, Clone)]
pub struct PeerIdentity {
    /// The subject common name of the verified leaf certificate: the principal
    /// name looked up in the policy. Empty when the certificate has none.
    pub common_name: String,
    /// SHA-256 of the leaf certificate (DER), for logs and `WhoAmI`.
    pub certificate_sha256: [u8; 32],
    /// The client's socket address.
    pub remote: SocketAddr,
}

impl PeerIdentity {
    fn from_leaf(leaf: &CertificateDer<'_>, remote: SocketAddr) -> PeerIdentity {
        let digest = ring::digest::digest(&ring::digest::SHA256, leaf.as_ref());
        let mut certificate_sha256 = [0u8; 32];
        certificate_sha256.copy_from_slice(digest.as_ref());
        let common_name = x509_parser::parse_x509_certificate(leaf.as_ref())
            .ok()
            .and_then(|(_, cert)| {
                cert.subject()
                    .iter_common_name()
                    .next()
                    .and_then(|cn| cn.as_str().ok())
                    .map(str::to_string)
            })
            .unwrap_or_default();
        PeerIdentity {
            common_name,
            certificate_sha256,
            remote,
        }
    }
}

/// A TLS connection whose client certificate was verified, with its identity.
pub struct PeerConnection {
    stream: TlsStream<TcpStream>,
    identity: PeerIdentity,
}

impl Connected for PeerConnection {
    type ConnectInfo = PeerIdentity;

    fn connect_info(&self) -> PeerIdentity {
        self.identity.clone()
    }
}

impl AsyncRead for PeerConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

fn read_pem<T: PemObject>(file: &Path, what: &str) -> Result<Vec<T>, ServerError> {
    let items = T::pem_file_iter(file)
        .map_err(|e| ServerError::Tls(format!("{}: cannot read {what}: {e}", file.display())))?
        .collect::<Result<Vec<T>, _>>()
        .map_err(|e| ServerError::Tls(format!("{}: bad {what}: {e}", file.display())))?;
    if items.is_empty() {
        return Err(ServerError::Tls(format!(
            "{}: no {what} found",
            file.display()
        )));
    }
    Ok(items)
}

/// Builds the TLS 1.3-only server configuration with required client
/// certificates from the CA in `pki`, and the CRL when given.
///
/// # Errors
/// [`ServerError::Tls`] naming the file that is missing or malformed.
pub fn server_config(
    pki: &PkiPaths,
    crl: Option<&Path>,
) -> Result<Arc<rustls::ServerConfig>, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = RootCertStore::empty();
    for ca in read_pem::<CertificateDer<'static>>(&pki.ca_cert(), "CA certificate")? {
        roots
            .add(ca)
            .map_err(|e| ServerError::Tls(format!("{}: {e}", pki.ca_cert().display())))?;
    }
    let mut verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
    if let Some(crl) = crl {
        verifier = verifier.with_crls(read_pem::<CertificateRevocationListDer<'static>>(
            crl,
            "certificate revocation list",
        )?);
    }
    let verifier = verifier
        .build()
        .map_err(|e| ServerError::Tls(format!("client verifier: {e}")))?;

    let chain = read_pem::<CertificateDer<'static>>(&pki.cert("server"), "server certificate")?;
    let key = PrivateKeyDer::from_pem_file(pki.key("server")).map_err(|e| {
        ServerError::Tls(format!(
            "{}: bad server key: {e}",
            pki.key("server").display()
        ))
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| ServerError::Tls(format!("server certificate/key: {e}")))?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts TCP connections on `listener`, performs TLS handshakes
/// concurrently (a slow or failing client never blocks others), and yields the
/// verified connections. Failed handshakes are logged and dropped.
///
/// The returned stream ends when the listener fails; the accept task stops
/// when the stream is dropped (tonic drops it on shutdown).
pub fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
) -> tokio_stream::wrappers::ReceiverStream<Result<PeerConnection, io::Error>> {
    let (tx, rx) = mpsc::channel(64);
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        loop {
            let (tcp, remote) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = tx.closed() => return,
            };
            let acceptor = acceptor.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = tcp.set_nodelay(true);
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(stream)) => {
                        let leaf = stream
                            .get_ref()
                            .1
                            .peer_certificates()
                            .and_then(|certs| certs.first().cloned());
                        let Some(leaf) = leaf else {
                            // Unreachable with a verifier that requires certificates.
                            tracing::warn!(%remote, "TLS connection without a client certificate dropped");
                            return;
                        };
                        let identity = PeerIdentity::from_leaf(&leaf, remote);
                        tracing::debug!(%remote, principal = %identity.common_name, "TLS handshake completed");
                        let _ = tx.send(Ok(PeerConnection { stream, identity })).await;
                    }
                    Ok(Err(e)) => {
                        tracing::info!(%remote, error = %e, "TLS handshake refused");
                    }
                    Err(_) => {
                        tracing::info!(%remote, "TLS handshake timed out");
                    }
                }
            });
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

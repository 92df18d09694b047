//! The linkage service: tonic services over mTLS on the sled store.
//!
//! [`Server::open`] prepares everything that can fail before a port is taken
//! (store, PKI, policy, TLS configuration); [`Server::serve`] then runs on a
//! listener the caller bound — `127.0.0.1:0` in tests, the configured address
//! in production — until the shutdown future completes, after which in-flight
//! RPCs drain and the store is flushed. The same function serves tests and
//! production.
//!
//! Layout:
//! - `config`: settings from flags, `VEILINK_*` variables and a TOML file;
//! - `tls`: the TLS 1.3 acceptor and the verified peer identity;
//! - `auth`: the per-RPC authorisation layer;
//! - `error`: the one mapping from service errors to gRPC status codes;
//! - one module per gRPC service.

pub mod auth;
pub mod config;
pub mod error;
pub mod tls;

mod admin;
mod stubs;

use std::future::Future;
use std::sync::Arc;

use tokio::net::TcpListener;

pub use config::ServerConfig;
pub use error::ServiceError;

use crate::pb::v1 as pb;
use crate::pki::{PkiError, PkiPaths, Policy};
use crate::store::{Store, StoreError};

/// Errors that stop the server from starting or running.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The TLS material is missing or malformed (names the file).
    #[error("TLS: {0}")]
    Tls(String),
    /// The PKI directory or policy is unusable.
    #[error(transparent)]
    Pki(#[from] PkiError),
    /// The store could not be opened or written.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A setting is invalid (names the setting).
    #[error("config: {0}")]
    Config(String),
    /// The gRPC transport failed.
    #[error("transport: {0}")]
    Transport(#[from] tonic::transport::Error),
    /// Binding or another socket operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

impl ServerError {
    /// True when the error is caused by the user's input (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        match self {
            ServerError::Tls(_) | ServerError::Config(_) => true,
            ServerError::Pki(e) => e.is_bad_input(),
            _ => false,
        }
    }
}

/// State shared by every service of one server.
pub(crate) struct ServiceState {
    /// The store.
    pub(crate) store: Store,
    /// The effective settings.
    #[allow(dead_code)]
    pub(crate) config: ServerConfig,
}

/// An opened, not yet serving, linkage service.
pub struct Server {
    state: Arc<ServiceState>,
    policy: Arc<Policy>,
    tls: Arc<rustls::ServerConfig>,
}

impl Server {
    /// Opens the store and loads the PKI and policy named by `config`.
    ///
    /// # Errors
    /// [`ServerError`] naming what could not be loaded.
    pub fn open(config: ServerConfig) -> Result<Server, ServerError> {
        let pki = PkiPaths::new(&config.pki_dir);
        let policy = Arc::new(Policy::load(&pki.policy())?);
        let tls = tls::server_config(&pki, config.crl.as_deref())?;
        let store = Store::open(&config.data_dir)?;
        let state = Arc::new(ServiceState { store, config });
        Ok(Server { state, policy, tls })
    }

    /// The store (for tests and the demo's summary).
    pub fn store(&self) -> &Store {
        &self.state.store
    }

    /// Serves on `listener` until `shutdown` completes; then stops accepting,
    /// drains in-flight RPCs and flushes the store.
    ///
    /// # Errors
    /// [`ServerError::Transport`] when serving fails, [`ServerError::Store`]
    /// when the final flush fails.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let local = listener.local_addr()?;
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<pb::admin_server::AdminServer<admin::AdminService>>()
            .await;
        for name in [
            "veilink.v1.Intake",
            "veilink.v1.Linkage",
            "veilink.v1.Analysis",
            "veilink.v1.Audit",
        ] {
            health
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
        let reflection = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(crate::pb::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| ServerError::Config(format!("reflection: {e}")))?;

        let state = self.state.clone();
        let router = tonic::transport::Server::builder()
            .layer(auth::AuthLayer::new(self.policy.clone()))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(pb::admin_server::AdminServer::new(
                admin::AdminService::new(state.clone()),
            ))
            .add_service(pb::intake_server::IntakeServer::new(stubs::Unserved))
            .add_service(pb::linkage_server::LinkageServer::new(stubs::Unserved))
            .add_service(pb::analysis_server::AnalysisServer::new(stubs::Unserved))
            .add_service(pb::audit_server::AuditServer::new(stubs::Unserved));

        tracing::info!(address = %local, "veilink serving (TLS 1.3, client certificates required)");
        let incoming = tls::incoming(listener, self.tls.clone());
        router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await?;
        tracing::info!("shutting down: flushing the store");
        state.store.flush().await?;
        Ok(())
    }
}

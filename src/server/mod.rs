//! The linkage service: tonic services over mTLS on the sled store.
//!
//! [`Server::open`] prepares everything that can fail before a port is taken
//! (PKI, policy, TLS configuration, the store, and the in-memory state rebuilt
//! from it); [`Server::serve`] then runs on a listener the caller bound —
//! `127.0.0.1:0` in tests, the configured address in production — until the
//! shutdown future completes, after which in-flight RPCs drain, the writer
//! finishes, and the store is flushed. The same function serves tests and
//! production.
//!
//! Layout:
//! - `config`: settings from flags, `VEILINK_*` variables and a TOML file;
//! - `tls`: the TLS 1.3 acceptor and the verified peer identity;
//! - `auth`: the per-RPC authorisation layer;
//! - `error`: the one mapping from service errors to gRPC status codes;
//! - `validate`: complete validation of incoming records;
//! - `state`: the in-memory state rebuilt from the store;
//! - `writer`: the single writer and its committer thread, group commit and
//!   checkpoints; `names`: the in-memory ref index;
//! - `jobs`: the job board and the schedules;
//! - one module per gRPC service (`admin`, `intake`, `linkage`, `analysis`, `audit`).

pub mod auth;
pub mod config;
pub mod error;
pub mod jobs;
pub mod tls;
pub mod validate;

mod admin;
mod analysis;
mod audit;
mod intake;
mod linkage;
mod names;
mod state;
mod writer;

use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::net::TcpListener;

pub use config::ServerConfig;
pub use error::ServiceError;

use crate::analysis::DisclosureRules;
use crate::audit::entry::JobTrigger;
use crate::link::LinkDelta;
use crate::pb::v1 as pb;
use crate::pki::{PkiError, PkiPaths, Policy};
use crate::store::{Store, StoreError};
use jobs::{JobBoard, JobStatus};
use state::{AgencyCodes, SharedLinkage};
use writer::{WriteRequest, WriterHandle};

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
    /// The stored state could not be loaded.
    #[error("loading the stored state: {0}")]
    State(#[from] ServiceError),
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
    pub(crate) config: ServerConfig,
    /// The single writer (and how far its committer got).
    pub(crate) writer: WriterHandle,
    /// BLAKE3 keyed with the server's re-keying key.
    pub(crate) rekey: blake3::Hasher,
    /// The linkage index and event data, and their summary for status.
    pub(crate) linkage: Arc<SharedLinkage>,
    /// Agency codes.
    pub(crate) agencies: Arc<RwLock<AgencyCodes>>,
    /// Stored record refs ↔ sequence numbers (the ref index).
    pub(crate) names: names::SharedNames,
    /// Job history and the running job.
    pub(crate) jobs: Arc<JobBoard>,
    /// The operator's disclosure rules.
    pub(crate) disclosure: DisclosureRules,
    /// The transparency log's verifier key (signed-note format).
    pub(crate) verifier_key: String,
}

/// An opened, not yet serving, linkage service.
pub struct Server {
    config: ServerConfig,
    store: Store,
    policy: Arc<Policy>,
    tls: Arc<rustls::ServerConfig>,
    linkage: Arc<SharedLinkage>,
    agencies: Arc<RwLock<AgencyCodes>>,
    jobs: Arc<JobBoard>,
    interrupted: Vec<JobStatus>,
    startup_delta: LinkDelta,
    /// Stored record refs and committed batch ids (the ref index).
    names: names::SharedNames,
}

impl Server {
    /// Loads the PKI and policy, opens the store and rebuilds the in-memory
    /// state from it.
    ///
    /// # Errors
    /// [`ServerError`] naming what could not be loaded.
    pub fn open(config: ServerConfig) -> Result<Server, ServerError> {
        let pki = PkiPaths::new(&config.pki_dir);
        let policy = Arc::new(Policy::load(&pki.policy())?);
        let tls = tls::server_config(&pki, config.crl.as_deref())?;
        config
            .disclosure
            .validate()
            .map_err(|e| ServerError::Config(e.to_string()))?;
        let store = Store::open_with_cache(&config.data_dir, config.store_cache_bytes)?;
        let agencies = AgencyCodes::load(&store)?;
        let (jobs, interrupted) = JobBoard::load(&store)?;
        let loaded = state::load(&store, config.linkage.clone())?;
        Ok(Server {
            config,
            store,
            policy,
            tls,
            linkage: Arc::new(SharedLinkage::new(loaded.linkage)),
            agencies: Arc::new(RwLock::new(agencies)),
            jobs: Arc::new(jobs),
            interrupted,
            startup_delta: loaded.delta,
            names: Arc::new(RwLock::new(loaded.names)),
        })
    }

    /// The store (for tests and the demo's summary).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves on `listener` until `shutdown` completes; then stops accepting,
    /// drains in-flight RPCs, lets the writer finish and flushes the store.
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
        let log_key = self
            .store
            .log()
            .log_key(&self.config.log_origin)
            .map_err(StoreError::from)?;
        let verifier_key = log_key.verifier_key();
        let (writer, writer_tasks) = writer::start(
            self.store.clone(),
            self.linkage.clone(),
            self.agencies.clone(),
            self.jobs.clone(),
            self.config.encoding_fingerprint,
            self.startup_delta,
            self.names.clone(),
            self.interrupted,
            log_key,
        )?;
        let state = Arc::new(ServiceState {
            rekey: validate::rekey_hasher(&self.store.server_secret()?),
            store: self.store.clone(),
            config: self.config.clone(),
            writer,
            linkage: self.linkage,
            agencies: self.agencies,
            names: self.names,
            jobs: self.jobs,
            disclosure: self.config.disclosure,
            verifier_key,
        });
        let schedules = start_schedules(state.clone());

        let (health, health_service) = tonic_health::server::health_reporter();
        for name in [
            "veilink.v1.Admin",
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

        let max = self.config.max_message_bytes;
        let router = tonic::transport::Server::builder()
            .layer(auth::AuthLayer::new(self.policy.clone()))
            .add_service(health_service)
            .add_service(reflection)
            .add_service(pb::admin_server::AdminServer::new(
                admin::AdminService::new(state.clone()),
            ))
            .add_service(
                pb::intake_server::IntakeServer::new(intake::IntakeService::new(state.clone()))
                    .max_decoding_message_size(max),
            )
            .add_service(
                pb::linkage_server::LinkageServer::new(linkage::LinkageService::new(state.clone()))
                    .max_encoding_message_size(max),
            )
            .add_service(pb::analysis_server::AnalysisServer::new(
                analysis::AnalysisService::new(state.clone()),
            ))
            .add_service(
                pb::audit_server::AuditServer::new(audit::AuditService::new(state.clone()))
                    .max_encoding_message_size(max),
            );

        tracing::info!(address = %local, "veilink serving (TLS 1.3, client certificates required)");
        let incoming = tls::incoming(listener, self.tls.clone());
        let served = router
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        for task in schedules {
            task.abort();
        }
        drop(state);
        tracing::info!("shutting down: waiting for the writer, then flushing the store");
        // The writer stops when the last handle is gone (the services are
        // dropped with the router); then the flusher and the checkpoint task
        // finish. Give them a bounded time.
        let thread = writer_tasks.thread;
        let finished = async move {
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            for task in writer_tasks.background {
                let _ = task.await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), finished)
            .await
            .is_err()
        {
            tracing::warn!("the writer did not finish within 30 s");
        }
        self.store.flush().await?;
        served?;
        Ok(())
    }
}

/// Starts the periodic tasks: scheduled full jobs and retention.
fn start_schedules(state: Arc<ServiceState>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let Some(every) = state.config.link_every {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.tick().await; // the first tick is immediate: skip it
            loop {
                ticks.tick().await;
                match linkage::start_job(&state, JobTrigger::Periodic).await {
                    Ok(job_id) => tracing::info!(job_id, "periodic linkage job started"),
                    Err(e) => tracing::info!(error = %e, "periodic linkage job skipped"),
                }
            }
        }));
    }
    if let Some(years) = state.config.retention_years {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(jobs::RETENTION_PERIOD);
            loop {
                ticks.tick().await;
                let today = chrono::Utc::now().date_naive();
                let Some(cutoff) = today.checked_sub_months(chrono::Months::new(12 * years)) else {
                    continue;
                };
                if state
                    .writer
                    .send(WriteRequest::Retention { cutoff })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
    }
    tasks
}

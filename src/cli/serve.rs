//! `veilink serve`: settings from flags, `VEILINK_*` and a TOML file, a dev
//! PKI when none exists, logging, and shutdown on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::CliError;
use crate::pki::PkiPaths;
use crate::server::Server;
use crate::server::config::ServeSettings;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `veilink serve` arguments. Every flag can also come from `VEILINK_<NAME>`
/// and from the `--config` file (flag > environment > file > default).
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Data directory of the store [default: ./veilink-data].
    #[arg(long, env = "VEILINK_DATA")]
    data: Option<PathBuf>,
    /// Address to listen on [default: 127.0.0.1:50051].
    #[arg(long, env = "VEILINK_LISTEN")]
    listen: Option<SocketAddr>,
    /// PKI directory (ca.pem, server.pem/.key, policy.toml) [default: ./certs];
    /// a development PKI is created there when the directory has none.
    #[arg(long, env = "VEILINK_PKI")]
    pki: Option<PathBuf>,
    /// Settings file (TOML; keys as in docs/OPERATIONS.md).
    #[arg(long, env = "VEILINK_CONFIG")]
    config: Option<PathBuf>,
    /// Certificate revocation list (PEM); revoked clients fail the handshake.
    #[arg(long, env = "VEILINK_CRL")]
    crl: Option<PathBuf>,
    /// Maximum records per batch [default: 10000].
    #[arg(long, env = "VEILINK_MAX_BATCH_RECORDS")]
    max_batch_records: Option<usize>,
    /// sled page cache in MiB [default: 1024].
    #[arg(long, env = "VEILINK_STORE_CACHE_MB")]
    store_cache_mb: Option<u64>,
    /// Remove records whose event is older than N years (checked hourly).
    #[arg(long, env = "VEILINK_RETENTION_YEARS")]
    retention_years: Option<u32>,
    /// Run a full linkage job every DURATION (e.g. 6h, 30m).
    #[arg(long, env = "VEILINK_LINK_EVERY", value_parser = humantime::parse_duration)]
    link_every: Option<Duration>,
    /// Log format.
    #[arg(long, env = "VEILINK_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("VEILINK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

/// Resolves when SIGTERM or SIGINT arrives.
async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
    tracing::info!("shutdown signal received; draining in-flight requests");
}

/// Runs the server until SIGTERM/SIGINT.
pub(super) fn run(args: ServeArgs) -> Result<(), CliError> {
    init_logging(args.log_format);
    let flags = ServeSettings {
        data: args.data,
        listen: args.listen,
        pki: args.pki,
        crl: args.crl,
        max_batch_records: args.max_batch_records,
        store_cache_mb: args.store_cache_mb,
        retention_years: args.retention_years,
        link_every: args.link_every,
        ..ServeSettings::default()
    };
    let file = match &args.config {
        Some(path) => ServeSettings::from_file(path)?,
        None => ServeSettings::default(),
    };
    let config = flags.or(file).resolve()?;

    let pki = PkiPaths::new(&config.pki_dir);
    if !pki.ca_cert().exists() {
        let agencies: Vec<String> = crate::pki::DEFAULT_AGENCIES.map(String::from).to_vec();
        crate::pki::init(&config.pki_dir, &agencies, false)?;
        tracing::warn!(
            dir = %config.pki_dir.display(),
            "no PKI found: created a development PKI (not for production; see certs/README.md)"
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listen = config.listen;
        let server = Server::open(config)?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| CliError::input(format!("cannot listen on {listen}: {e}")))?;
        server.serve(listener, shutdown_signal()).await?;
        Ok(())
    })
}

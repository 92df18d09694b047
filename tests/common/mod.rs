//! Shared test harness: a development PKI in a temporary directory and a real
//! veilink server on `127.0.0.1:0` over mTLS, stopped through a oneshot.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use veilink::server::{Server, ServerConfig, ServerError};

/// A temporary directory with a development PKI for the three default agencies.
pub struct TestPki {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl TestPki {
    /// Creates the PKI.
    pub fn new() -> TestPki {
        let dir = tempfile::tempdir().expect("tempdir");
        let agencies: Vec<String> = ["police", "care", "victim-support"]
            .map(String::from)
            .to_vec();
        veilink::pki::init(&dir.path().join("pki"), &agencies, false).expect("pki init");
        TestPki { dir }
    }

    /// The PKI directory.
    pub fn pki(&self) -> PathBuf {
        self.dir.path().join("pki")
    }

    /// A data directory inside the temporary directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Default server settings over this PKI and data directory.
    pub fn config(&self) -> ServerConfig {
        ServerConfig::new(self.data(), self.pki())
    }
}

/// A running server; dropping it does not stop it, call [`RunningServer::stop`].
pub struct RunningServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    shutdown: Option<oneshot::Sender<()>>,
    handle: JoinHandle<Result<(), ServerError>>,
}

impl RunningServer {
    /// Opens and starts a server with `config` on an ephemeral loopback port.
    pub async fn start(config: ServerConfig) -> RunningServer {
        let server = Server::open(config).expect("server opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.serve(listener, async move {
            let _ = rx.await;
        }));
        RunningServer {
            addr,
            url: format!("https://127.0.0.1:{}", addr.port()),
            shutdown: Some(tx),
            handle,
        }
    }

    /// Stops the server gracefully and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.handle
            .await
            .expect("server task")
            .expect("server ends cleanly");
    }

    /// A channel as principal `name` of `pki`.
    pub async fn channel(&self, pki: &Path, name: &str) -> Channel {
        veilink::client::connect(&self.url, pki, name)
            .await
            .expect("connect")
    }
}

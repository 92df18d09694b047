//! Shared test harness: a development PKI in a temporary directory and a real
//! veilink server on `127.0.0.1:0` over mTLS, stopped through a oneshot.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

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

/// A `veilink serve` child process.
pub struct ServeProcess {
    child: Child,
    /// The address it listens on (`127.0.0.1:PORT`).
    pub addr: String,
}

impl ServeProcess {
    /// Starts the server on `listen` and waits until it says where it listens.
    pub fn start(data: &Path, pki: &Path, listen: &str) -> ServeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_veilink"))
            .args(["serve", "--log-format", "json", "--listen", listen])
            .arg("--data")
            .arg(data)
            .arg("--pki")
            .arg(pki)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn serve");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let mut log = Vec::new();
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                panic!(
                    "veilink serve --listen {listen} exited early:\n{}",
                    log.join("\n")
                );
            };
            log.push(line.clone());
            let Ok(event) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if let Some(addr) = event["fields"]["address"].as_str() {
                break addr.to_string();
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        ServeProcess { child, addr }
    }

    /// `https://ADDR` of the server.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// SIGKILL: no shutdown, no flush.
    pub fn kill(mut self) {
        self.child.kill().expect("kill -9");
        self.child.wait().expect("reap");
    }

    /// SIGTERM: graceful shutdown.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        let status = self.child.wait().expect("reap");
        assert!(status.success(), "serve exited with {status}");
    }
}

/// Polls linkage job `job_id` until it is no longer RUNNING; panics after
/// five minutes.
pub async fn wait_for_job(
    client: &mut veilink::pb::v1::linkage_client::LinkageClient<Channel>,
    job_id: u64,
) -> veilink::pb::v1::Job {
    use veilink::pb::v1 as pb;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    loop {
        let job = client
            .get_job(pb::GetJobRequest { job_id })
            .await
            .expect("get job")
            .into_inner();
        if job.state != pb::JobState::Running as i32 {
            return job;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "job {job_id} still running"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Runs a full linkage job over `channel` (the operator's) and waits for
/// its end; panics unless it succeeded.
pub async fn run_job_to_success(channel: Channel) -> veilink::pb::v1::Job {
    use veilink::pb::v1 as pb;
    let mut client = pb::linkage_client::LinkageClient::new(channel);
    let started = client
        .run_job(pb::RunJobRequest {})
        .await
        .expect("run job")
        .into_inner();
    let job = wait_for_job(&mut client, started.job_id).await;
    assert_eq!(
        job.state,
        pb::JobState::Succeeded as i32,
        "job failed: {job:?}"
    );
    job
}

/// Runs the `veilink` binary to completion with `args`; panics with its
/// output unless it exits 0.
pub fn run_veilink(args: &[&str]) -> std::process::Output {
    let output = Command::new(env!("CARGO_BIN_EXE_veilink"))
        .args(args)
        .output()
        .expect("run veilink");
    if !output.status.success() {
        panic!(
            "veilink {} failed ({}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output
}

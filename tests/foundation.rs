//! The foundation over a real server on 127.0.0.1:0 with real TLS: who gets
//! in, what each role may call, and what survives a restart.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;

use common::{RunningServer, TestPki};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use veilink::pb::v1 as pb;

/// How a raw TLS client presents itself in the handshake tests.
struct Probe<'a> {
    /// PKI whose CA certificate the client trusts (the server's).
    trust: &'a Path,
    /// Client certificate and key, if any: (PKI dir, principal).
    identity: Option<(&'a Path, &'a str)>,
    /// Offer only TLS 1.2.
    tls12_only: bool,
}

/// Connects with raw rustls, completes the handshake, sends the HTTP/2
/// preface and reads the server's first frame. Ok(()) only when the server
/// accepted the client: in TLS 1.3 a refused client certificate is reported
/// by the server's alert on the client's first read.
async fn probe(addr: std::net::SocketAddr, p: Probe<'_>) -> Result<(), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(p.trust.join("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let versions: &[&rustls::SupportedProtocolVersion] = if p.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match p.identity {
        Some((dir, name)) => {
            let chain: Vec<CertificateDer<'static>> =
                CertificateDer::pem_file_iter(dir.join(format!("{name}.pem")))
                    .unwrap()
                    .map(|c| c.unwrap())
                    .collect();
            let key = PrivateKeyDer::from_pem_file(dir.join(format!("{name}.key"))).unwrap();
            builder.with_client_auth_cert(chain, key).unwrap()
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .map_err(|e| format!("write: {e}"))?;
    tls.flush().await.map_err(|e| format!("flush: {e}"))?;
    let mut frame = [0u8; 9];
    tls.read_exact(&mut frame)
        .await
        .map_err(|e| format!("read: {e}"))?;
    Ok(())
}

/// A principal with a valid certificate gets health SERVING, and WhoAmI
/// returns its name and role.
#[tokio::test]
async fn valid_principal_is_served() {
    let pki = TestPki::new();
    let server = RunningServer::start(pki.config()).await;
    let channel = server.channel(&pki.pki(), "police").await;

    let health = HealthClient::new(channel.clone())
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);

    let me = pb::admin_client::AdminClient::new(channel)
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.principal, "police");
    assert_eq!(me.role, "agency:police");
    assert_eq!(me.certificate_sha256.len(), 64);
    server.stop().await;
}

/// Without a certificate, with one from another CA, with a revoked one, and
/// with TLS 1.2 only, the handshake fails; the same probe with a valid
/// certificate succeeds (so the probe can tell them apart).
#[tokio::test]
async fn bad_clients_fail_the_handshake() {
    let pki = TestPki::new();
    let other = TestPki::new();
    veilink::pki::revoke(&pki.pki(), "care").unwrap();
    let mut config = pki.config();
    config.crl = Some(pki.pki().join("crl.pem"));
    let server = RunningServer::start(config).await;
    let trust = pki.pki();
    let other_dir = other.pki();

    let ok = probe(
        server.addr,
        Probe {
            trust: &trust,
            identity: Some((&trust, "police")),
            tls12_only: false,
        },
    )
    .await;
    assert_eq!(ok, Ok(()), "a valid client must get in");

    let cases: [(&str, Probe<'_>); 4] = [
        (
            "no certificate",
            Probe {
                trust: &trust,
                identity: None,
                tls12_only: false,
            },
        ),
        (
            "certificate from another CA",
            Probe {
                trust: &trust,
                identity: Some((&other_dir, "police")),
                tls12_only: false,
            },
        ),
        (
            "revoked certificate",
            Probe {
                trust: &trust,
                identity: Some((&trust, "care")),
                tls12_only: false,
            },
        ),
        (
            "TLS 1.2 only",
            Probe {
                trust: &trust,
                identity: Some((&trust, "police")),
                tls12_only: true,
            },
        ),
    ];
    for (what, p) in cases {
        let result = probe(server.addr, p).await;
        assert!(result.is_err(), "{what}: the server accepted the client");
        eprintln!("{what}: refused ({})", result.unwrap_err());
    }

    // Through the real client, a revoked principal cannot call anything either.
    let refused = match veilink::client::connect(&server.url, &trust, "care").await {
        Err(_) => true,
        Ok(channel) => pb::admin_client::AdminClient::new(channel)
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .is_err(),
    };
    assert!(refused, "a revoked principal got an answer");
    server.stop().await;
}

/// A certificate from the right CA whose principal is not in the policy gets
/// PERMISSION_DENIED, even for WhoAmI.
#[tokio::test]
async fn principal_outside_the_policy_is_denied() {
    let pki = TestPki::new();
    veilink::pki::issue_client(&pki.pki(), "mallory", false).unwrap();
    let server = RunningServer::start(pki.config()).await;
    let channel = server.channel(&pki.pki(), "mallory").await;
    let status = pb::admin_client::AdminClient::new(channel)
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert!(status.message().contains("mallory"), "{}", status.message());
    server.stop().await;
}

/// Calls one unary RPC of the contract by name as `channel`'s principal and
/// returns the status code (Ok when the call succeeded).
async fn call(channel: tonic::transport::Channel, rpc: &str) -> Code {
    let result: Result<(), tonic::Status> = match rpc {
        "Admin/WhoAmI" => pb::admin_client::AdminClient::new(channel)
            .who_am_i(pb::WhoAmIRequest {})
            .await
            .map(drop),
        "Admin/Status" => pb::admin_client::AdminClient::new(channel)
            .status(pb::StatusRequest {})
            .await
            .map(drop),
        "Intake/Withdraw" => pb::intake_client::IntakeClient::new(channel)
            .withdraw(pb::WithdrawRequest {
                record_refs: vec![vec![7u8; 32]],
            })
            .await
            .map(drop),
        "Linkage/ListJobs" => pb::linkage_client::LinkageClient::new(channel)
            .list_jobs(pb::ListJobsRequest { limit: 1 })
            .await
            .map(drop),
        "Analysis/RepeatVictimisation" => pb::analysis_client::AnalysisClient::new(channel)
            .repeat_victimisation(pb::ReportRequest::default())
            .await
            .map(drop),
        "Audit/GetCheckpoint" => pb::audit_client::AuditClient::new(channel)
            .get_checkpoint(pb::GetCheckpointRequest {})
            .await
            .map(drop),
        other => panic!("unknown rpc {other}"),
    };
    match result {
        Ok(()) => Code::Ok,
        Err(status) => status.code(),
    }
}

/// The role matrix: every role is refused (PERMISSION_DENIED) exactly on the
/// RPCs it may not use, and passes authorisation on the others.
#[tokio::test]
async fn each_role_is_limited_to_its_rpcs() {
    let pki = TestPki::new();
    let server = RunningServer::start(pki.config()).await;
    let rpcs = [
        "Admin/WhoAmI",
        "Admin/Status",
        "Intake/Withdraw",
        "Linkage/ListJobs",
        "Analysis/RepeatVictimisation",
        "Audit/GetCheckpoint",
    ];
    // (principal, RPCs it may call)
    let matrix: [(&str, &[&str]); 4] = [
        ("police", &["Admin/WhoAmI", "Intake/Withdraw"]),
        ("analyst", &["Admin/WhoAmI", "Analysis/RepeatVictimisation"]),
        ("auditor", &["Admin/WhoAmI", "Audit/GetCheckpoint"]),
        (
            "operator",
            &[
                "Admin/WhoAmI",
                "Admin/Status",
                "Linkage/ListJobs",
                "Audit/GetCheckpoint",
            ],
        ),
    ];
    for (principal, allowed) in matrix {
        let channel = server.channel(&pki.pki(), principal).await;
        for rpc in rpcs {
            let code = call(channel.clone(), rpc).await;
            if allowed.contains(&rpc) {
                assert_ne!(
                    code,
                    Code::PermissionDenied,
                    "{principal} was refused {rpc}"
                );
                assert_ne!(code, Code::Unauthenticated, "{principal} {rpc}");
            } else {
                assert_eq!(
                    code,
                    Code::PermissionDenied,
                    "{principal} may not call {rpc}"
                );
            }
        }
    }
    server.stop().await;
}

/// Restarting on the same data directory keeps the server's own key material.
#[tokio::test]
async fn restart_keeps_key_material() {
    let pki = TestPki::new();
    let first = veilink::server::Server::open(pki.config()).unwrap();
    let secret = first.store().server_secret().unwrap();
    drop(first);
    let server = RunningServer::start(pki.config()).await;
    server.stop().await;
    let again = veilink::server::Server::open(pki.config()).unwrap();
    assert_eq!(again.store().server_secret().unwrap(), secret);
}

/// A second `veilink serve` on a data directory that a running server holds
/// exits with a failure status and an error naming the directory, and the
/// running server goes on serving.
#[test]
fn a_second_server_on_the_same_data_is_refused() {
    let pki = TestPki::new();
    let first = common::ServeProcess::start(&pki.data(), &pki.pki(), "127.0.0.1:0");
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_veilink"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data")
        .arg(pki.data())
        .arg("--pki")
        .arg(pki.pki())
        .output()
        .expect("run a second serve");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let still_serving = rt.block_on(async {
        let channel = veilink::client::connect(&first.url(), &pki.pki(), "operator")
            .await
            .map_err(|e| e.to_string())?;
        pb::admin_client::AdminClient::new(channel)
            .status(pb::StatusRequest {})
            .await
            .map_err(|e| e.to_string())
    });
    // Stopped before any assertion, so that a failure leaves no server behind.
    first.stop();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(stderr.contains("in use by another open store"), "{stderr}");
    assert!(
        stderr.contains(&pki.data().display().to_string()),
        "{stderr}"
    );
    assert!(still_serving.is_ok(), "{still_serving:?}");
}

/// `pki init` refuses to overwrite an existing PKI without --force, and its
/// private keys are mode 0600.
#[test]
fn pki_init_refuses_overwrite_and_protects_keys() {
    let dir = tempfile::tempdir().unwrap();
    let agencies = vec!["police".to_string()];
    veilink::pki::init(dir.path(), &agencies, false).unwrap();
    let ca_before = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let err = veilink::pki::init(dir.path(), &agencies, false).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca_before);

    let mut keys = 0;
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "key") {
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
            keys += 1;
        }
    }
    assert_eq!(keys, 6, "ca, server, police, analyst, auditor, operator");

    veilink::pki::init(dir.path(), &agencies, true).unwrap();
    assert_ne!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca_before);
}

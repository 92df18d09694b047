//! The development PKI: one certificate authority, a server certificate, one
//! client certificate per principal, a policy file, and certificate revocation.
//!
//! veilink trusts exactly one CA. In development `veilink pki init` creates it
//! in a directory (`./certs` by default) next to everything the server and the
//! clients need:
//!
//! ```text
//! DIR/ca.pem  DIR/ca.key            the CA (the key stays with whoever issues certificates)
//! DIR/server.pem  DIR/server.key    the server, for localhost, 127.0.0.1 and ::1
//! DIR/<name>.pem  DIR/<name>.key    one per principal: each agency, analyst, auditor, operator
//! DIR/policy.toml                   principal (certificate common name) -> role
//! DIR/crl.pem                       written by `veilink pki revoke`
//! ```
//!
//! Private keys are written with mode 0600. A real deployment replaces all of
//! this with its own CA (see `certs/README.md`); the server only needs
//! `ca.pem`, `server.pem`, `server.key`, `policy.toml` and optionally a CRL.
//!
//! The policy maps principals to roles (`DESIGN.md`, "Identities and roles");
//! a principal that is not in it gets nothing (default deny).

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use serde::{Deserialize, Serialize};

/// The principal names that always get a certificate besides the agencies.
pub const STAFF_PRINCIPALS: [&str; 3] = ["analyst", "auditor", "operator"];

/// The agencies `pki init` creates when none are named.
pub const DEFAULT_AGENCIES: [&str; 3] = ["police", "care", "victim-support"];

/// Errors of the PKI layer.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A PKI already exists in the directory and `--force` was not given.
    #[error("a PKI already exists in {0} (use --force to replace it)")]
    AlreadyExists(PathBuf),
    /// A principal or agency name is not of the form `[a-z0-9-]{1,32}`.
    #[error("invalid principal name {0:?}: use 1-32 characters a-z, 0-9 and '-'")]
    InvalidName(String),
    /// A role string in the policy is not one of the known roles.
    #[error(
        "{file}: principal {principal:?} has unknown role {role:?} (expected agency:<id>, analyst, auditor or operator)"
    )]
    UnknownRole {
        /// The policy file.
        file: PathBuf,
        /// The principal whose role is wrong.
        principal: String,
        /// The role as written.
        role: String,
    },
    /// The policy file is not valid TOML of the expected shape.
    #[error("{file}: {message}")]
    Policy {
        /// The policy file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A certificate, key or CRL file could not be parsed.
    #[error("{file}: {message}")]
    Parse {
        /// The file.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A certificate could not be generated or signed.
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    /// Reading or writing a file failed.
    #[error("{file}: {source}")]
    Io {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl PkiError {
    /// True when the error is caused by the user's input (exit status 2).
    pub fn is_bad_input(&self) -> bool {
        !matches!(self, PkiError::Io { .. } | PkiError::Generate(_))
    }
}

fn io_err(file: &Path) -> impl FnOnce(std::io::Error) -> PkiError + '_ {
    move |source| PkiError::Io {
        file: file.to_path_buf(),
        source,
    }
}

/// What a principal may do (`DESIGN.md`, "Identities and roles").
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Role {
    /// Submits and withdraws its own records; exports its own part of the linkage map.
    Agency(String),
    /// Reads aggregate reports.
    Analyst,
    /// Reads the transparency log.
    Auditor,
    /// Runs linkage jobs and reads the service status.
    Operator,
}

impl Role {
    /// Parses `agency:<id>`, `analyst`, `auditor` or `operator`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "analyst" => Some(Role::Analyst),
            "auditor" => Some(Role::Auditor),
            "operator" => Some(Role::Operator),
            other => other
                .strip_prefix("agency:")
                .filter(|id| valid_name(id))
                .map(|id| Role::Agency(id.to_string())),
        }
    }

    /// The agency id when the role is an agency.
    pub fn agency(&self) -> Option<&str> {
        match self {
            Role::Agency(id) => Some(id),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Agency(id) => write!(f, "agency:{id}"),
            Role::Analyst => f.write_str("analyst"),
            Role::Auditor => f.write_str("auditor"),
            Role::Operator => f.write_str("operator"),
        }
    }
}

/// True for names of the form `[a-z0-9-]{1,32}` (principals, agency ids).
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// The server-side policy: principal name (certificate common name) → role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    roles: BTreeMap<String, Role>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    principals: BTreeMap<String, String>,
}

impl Policy {
    /// Loads `policy.toml`: a `[principals]` table of `name = "role"`.
    ///
    /// # Errors
    /// [`PkiError::Io`] when unreadable, [`PkiError::Policy`] when malformed or a
    /// name is invalid, [`PkiError::UnknownRole`] naming the principal and role.
    pub fn load(file: &Path) -> Result<Policy, PkiError> {
        let text = fs::read_to_string(file).map_err(io_err(file))?;
        let parsed: PolicyFile = toml::from_str(&text).map_err(|e| PkiError::Policy {
            file: file.to_path_buf(),
            message: e.message().to_string(),
        })?;
        let mut roles = BTreeMap::new();
        for (principal, role_text) in parsed.principals {
            if !valid_name(&principal) {
                return Err(PkiError::Policy {
                    file: file.to_path_buf(),
                    message: format!("invalid principal name {principal:?}"),
                });
            }
            let role = Role::parse(&role_text).ok_or_else(|| PkiError::UnknownRole {
                file: file.to_path_buf(),
                principal: principal.clone(),
                role: role_text.clone(),
            })?;
            roles.insert(principal, role);
        }
        Ok(Policy { roles })
    }

    /// The role of a principal, or `None` (deny) when it is not in the policy.
    pub fn role_of(&self, principal: &str) -> Option<&Role> {
        self.roles.get(principal)
    }

    /// Every agency id that appears in the policy, sorted.
    pub fn agencies(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .roles
            .values()
            .filter_map(|r| r.agency().map(str::to_string))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    fn to_toml(&self) -> String {
        let mut out = String::from(
            "# veilink policy: principal (client certificate common name) = role.\n\
             # Roles: agency:<id>, analyst, auditor, operator. Anyone not listed is denied.\n\
             [principals]\n",
        );
        for (name, role) in &self.roles {
            out.push_str(&format!("{name:?} = \"{role}\"\n"));
        }
        out
    }
}

/// File locations of a PKI directory.
#[derive(Debug, Clone)]
pub struct PkiPaths {
    dir: PathBuf,
}

impl PkiPaths {
    /// The layout of `dir` (nothing is read).
    pub fn new(dir: impl Into<PathBuf>) -> PkiPaths {
        PkiPaths { dir: dir.into() }
    }
    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// `DIR/ca.pem`.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// `DIR/ca.key`.
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// `DIR/<name>.pem`.
    pub fn cert(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.pem"))
    }
    /// `DIR/<name>.key`.
    pub fn key(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.key"))
    }
    /// `DIR/policy.toml`.
    pub fn policy(&self) -> PathBuf {
        self.dir.join("policy.toml")
    }
    /// `DIR/crl.pem`.
    pub fn crl(&self) -> PathBuf {
        self.dir.join("crl.pem")
    }
}

/// What `pki init` created.
#[derive(Debug, Clone, Serialize)]
pub struct PkiSummary {
    /// The directory.
    pub dir: PathBuf,
    /// Every principal that got a certificate, with its role.
    pub principals: Vec<(String, String)>,
}

/// Creates a development PKI in `dir`: CA, server certificate (for
/// `localhost`, `127.0.0.1`, `::1`), one client certificate per agency and per
/// staff principal, and `policy.toml`. Keys are ECDSA P-256, mode 0600.
///
/// # Errors
/// [`PkiError::AlreadyExists`] when `dir/ca.pem` exists and `force` is false;
/// [`PkiError::InvalidName`] for a bad agency name; I/O and generation errors.
pub fn init(dir: &Path, agencies: &[String], force: bool) -> Result<PkiSummary, PkiError> {
    let paths = PkiPaths::new(dir);
    if paths.ca_cert().exists() && !force {
        return Err(PkiError::AlreadyExists(dir.to_path_buf()));
    }
    for agency in agencies {
        if !valid_name(agency) || STAFF_PRINCIPALS.contains(&agency.as_str()) || agency == "server"
        {
            return Err(PkiError::InvalidName(agency.clone()));
        }
    }
    fs::create_dir_all(dir).map_err(io_err(dir))?;

    let ca_key = KeyPair::generate()?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = rcgen::DistinguishedName::new();
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "veilink development CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca_params.serial_number = Some(random_serial()?);
    set_validity(&mut ca_params, 10);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, &ca_key);
    write_public(&paths.ca_cert(), &ca_cert.pem())?;
    write_private(&paths.ca_key(), &ca_key.serialize_pem())?;

    // The server certificate.
    let server_sans = vec![
        SanType::DnsName("localhost".try_into()?),
        SanType::IpAddress([127, 0, 0, 1].into()),
        SanType::IpAddress(std::net::Ipv6Addr::LOCALHOST.into()),
    ];
    issue(
        &paths,
        &issuer,
        "server",
        server_sans,
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;

    let mut policy = Policy::default();
    for agency in agencies {
        policy
            .roles
            .insert(agency.clone(), Role::Agency(agency.clone()));
    }
    policy.roles.insert("analyst".into(), Role::Analyst);
    policy.roles.insert("auditor".into(), Role::Auditor);
    policy.roles.insert("operator".into(), Role::Operator);
    for name in policy.roles.keys() {
        issue(
            &paths,
            &issuer,
            name,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
    }
    write_public(&paths.policy(), &policy.to_toml())?;
    if force && paths.crl().exists() {
        fs::remove_file(paths.crl()).map_err(io_err(&paths.crl()))?;
    }
    Ok(PkiSummary {
        dir: dir.to_path_buf(),
        principals: policy
            .roles
            .iter()
            .map(|(n, r)| (n.clone(), r.to_string()))
            .collect(),
    })
}

/// Issues a client certificate for one more principal from the CA in `dir`
/// (the CA key must be there). The policy is not changed: add the principal
/// to `policy.toml` to give it a role.
///
/// # Errors
/// [`PkiError::InvalidName`], [`PkiError::AlreadyExists`] when the principal
/// has a certificate and `force` is false, parse and I/O errors.
pub fn issue_client(dir: &Path, name: &str, force: bool) -> Result<(), PkiError> {
    if !valid_name(name) || name == "server" || name == "ca" {
        return Err(PkiError::InvalidName(name.to_string()));
    }
    let paths = PkiPaths::new(dir);
    if paths.cert(name).exists() && !force {
        return Err(PkiError::AlreadyExists(paths.cert(name)));
    }
    let ca_key = load_key(&paths.ca_key())?;
    let ca_pem = fs::read_to_string(paths.ca_cert()).map_err(io_err(&paths.ca_cert()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key).map_err(|e| PkiError::Parse {
        file: paths.ca_cert(),
        message: e.to_string(),
    })?;
    issue(
        &paths,
        &issuer,
        name,
        Vec::new(),
        ExtendedKeyUsagePurpose::ClientAuth,
    )
}

/// Revokes the certificate of `name`: adds its serial number to `DIR/crl.pem`
/// (created when absent, signed by the CA; RFC 5280 §5). Serve with
/// `--crl DIR/crl.pem` and the principal is refused at the handshake.
///
/// # Errors
/// Parse errors for the certificate, the CA or an existing CRL; I/O errors.
pub fn revoke(dir: &Path, name: &str) -> Result<PathBuf, PkiError> {
    let paths = PkiPaths::new(dir);
    let serial = certificate_serial(&paths.cert(name))?;
    let ca_key = load_key(&paths.ca_key())?;
    let ca_pem = fs::read_to_string(paths.ca_cert()).map_err(io_err(&paths.ca_cert()))?;
    let issuer = Issuer::from_ca_cert_pem(&ca_pem, &ca_key).map_err(|e| PkiError::Parse {
        file: paths.ca_cert(),
        message: e.to_string(),
    })?;

    let mut serials = if paths.crl().exists() {
        revoked_serials(&paths.crl())?
    } else {
        Vec::new()
    };
    if !serials.contains(&serial) {
        serials.push(serial);
    }
    let (y, m, d) = today();
    let this_update = rcgen::date_time_ymd(y, m, d);
    let revoked_certs = serials
        .iter()
        .map(|s| RevokedCertParams {
            serial_number: SerialNumber::from_slice(s),
            revocation_time: this_update,
            reason_code: Some(RevocationReason::Unspecified),
            invalidity_date: None,
        })
        .collect();
    let params = CertificateRevocationListParams {
        this_update,
        next_update: rcgen::date_time_ymd(y + 1, m, d.min(28)),
        crl_number: SerialNumber::from(serials.len() as u64),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    let crl = params.signed_by(&issuer)?;
    write_public(&paths.crl(), &crl.pem()?)?;
    Ok(paths.crl())
}

fn issue(
    paths: &PkiPaths,
    issuer: &Issuer<'_, &KeyPair>,
    name: &str,
    sans: Vec<SanType>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "veilink development PKI");
    params.subject_alt_names = sans;
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.serial_number = Some(random_serial()?);
    params.use_authority_key_identifier_extension = true;
    set_validity(&mut params, 2);
    let cert = params.signed_by(&key, issuer)?;
    write_public(&paths.cert(name), &cert.pem())?;
    write_private(&paths.key(name), &key.serialize_pem())?;
    Ok(())
}

/// A positive 16-byte serial from the OS CSPRNG (RFC 5280 §4.1.2.2: at most 20 octets).
fn random_serial() -> Result<SerialNumber, PkiError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| PkiError::Generate(rcgen::Error::RingUnspecified))?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

fn today() -> (i32, u8, u8) {
    use chrono::Datelike;
    let now = chrono::Utc::now().date_naive();
    (now.year(), now.month() as u8, now.day() as u8)
}

fn set_validity(params: &mut CertificateParams, years: i32) {
    let (y, m, d) = today();
    // Valid from yesterday's date (clock skew), for `years` years.
    params.not_before = rcgen::date_time_ymd(y, m, d) - std::time::Duration::from_secs(86_400);
    params.not_after = rcgen::date_time_ymd(y + years, m, d.min(28));
}

fn load_key(file: &Path) -> Result<KeyPair, PkiError> {
    let pem = fs::read_to_string(file).map_err(io_err(file))?;
    KeyPair::from_pem(&pem).map_err(|e| PkiError::Parse {
        file: file.to_path_buf(),
        message: e.to_string(),
    })
}

fn read_pem_der(file: &Path, label: &str) -> Result<Vec<u8>, PkiError> {
    let bytes = fs::read(file).map_err(io_err(file))?;
    let (_, pem) = x509_parser::pem::parse_x509_pem(&bytes).map_err(|e| PkiError::Parse {
        file: file.to_path_buf(),
        message: format!("not a PEM {label}: {e}"),
    })?;
    if pem.label != label {
        return Err(PkiError::Parse {
            file: file.to_path_buf(),
            message: format!("expected a PEM {label}, found {}", pem.label),
        });
    }
    Ok(pem.contents)
}

/// The serial number of the certificate in a PEM file, as big-endian bytes.
fn certificate_serial(file: &Path) -> Result<Vec<u8>, PkiError> {
    let der = read_pem_der(file, "CERTIFICATE")?;
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|e| PkiError::Parse {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(cert.raw_serial().to_vec())
}

fn revoked_serials(file: &Path) -> Result<Vec<Vec<u8>>, PkiError> {
    let der = read_pem_der(file, "X509 CRL")?;
    let (_, crl) = x509_parser::parse_x509_crl(&der).map_err(|e| PkiError::Parse {
        file: file.to_path_buf(),
        message: e.to_string(),
    })?;
    Ok(crl
        .iter_revoked_certificates()
        .map(|r| r.raw_serial().to_vec())
        .collect())
}

fn write_public(file: &Path, contents: &str) -> Result<(), PkiError> {
    fs::write(file, contents).map_err(io_err(file))
}

/// Writes a private key with mode 0600 from the moment the file exists.
fn write_private(file: &Path, contents: &str) -> Result<(), PkiError> {
    if file.exists() {
        fs::remove_file(file).map_err(io_err(file))?;
    }
    let mut handle = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(file)
        .map_err(io_err(file))?;
    handle.write_all(contents.as_bytes()).map_err(io_err(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Role strings parse exactly; anything else is unknown.
    #[test]
    fn roles_parse() {
        assert_eq!(
            Role::parse("agency:police"),
            Some(Role::Agency("police".into()))
        );
        assert_eq!(Role::parse("operator"), Some(Role::Operator));
        assert_eq!(Role::parse("agency:"), None);
        assert_eq!(Role::parse("admin"), None);
        assert_eq!(Role::parse("agency:Police"), None);
    }

    /// An unknown role in a policy file is refused, naming principal and role.
    #[test]
    fn policy_with_unknown_role_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("policy.toml");
        fs::write(&file, "[principals]\nbob = \"superuser\"\n").unwrap();
        let err = Policy::load(&file).unwrap_err().to_string();
        assert!(err.contains("bob") && err.contains("superuser"), "{err}");
    }
}

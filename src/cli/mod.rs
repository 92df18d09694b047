//! The `veilink` command line: argument definitions (clap) and one function
//! per command, each a thin layer over the library.
//!
//! Output goes to the writer `run` is given (stdout in production); progress
//! bars and the one-line error go to stderr. Exit status (`DESIGN.md`, "CLI
//! contract"): 0 ok, 2 bad usage or input, 1 anything else.

pub mod output;

mod admin;
mod agency;
pub mod analyst;
mod auditor;
mod demo;
mod operator;
mod serve;

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

pub use output::{Format, Rows};

/// veilink: privacy-preserving record linkage for measuring repeat victimisation.
#[derive(Debug, Parser)]
#[command(name = "veilink", version, about, long_about = None)]
pub struct Cli {
    /// Output format of commands that print data.
    #[arg(long, global = true, value_enum, default_value_t = Format::Table, env = "VEILINK_FORMAT")]
    pub format: Format,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Development PKI: CA, server and principal certificates, policy, revocation.
    Pki {
        /// What to do.
        #[command(subcommand)]
        action: PkiCommand,
    },
    /// Create a 32-byte linkage secret (mode 0600; refuses to overwrite).
    Keygen {
        /// Where to write the secret.
        #[arg(long)]
        out: PathBuf,
    },
    /// Generate a synthetic population: agency CSVs, schema files and the truth.
    Synth(agency::SynthArgs),
    /// Encode an agency CSV into exactly what would be sent (JSON lines).
    Encode(agency::EncodeArgs),
    /// Encode an agency CSV on the fly and submit it over mTLS.
    Submit(agency::SubmitArgs),
    /// Withdraw the agency's records listed in a CSV.
    Withdraw(agency::WithdrawArgs),
    /// Run the linkage service.
    Serve(serve::ServeArgs),
    /// Print the principal and role the server sees for a certificate.
    Whoami(ConnectArgs),
    /// Print record counts, persons, log size and jobs (operator).
    Status(ConnectArgs),
    /// Run a full linkage job and print its summary (operator).
    Link(operator::LinkArgs),
    /// Print the linkage job history (operator).
    Jobs(ConnectArgs),
    /// Print the linkage map record ref -> person id (operator: all; agency: its own;
    /// `--person` for the records of the persons named).
    Persons(operator::PersonsArgs),
    /// Linkage quality of a linkage map against a known truth.
    Evaluate(operator::EvaluateArgs),
    /// The repeat-victimisation report (analyst).
    Report(analyst::ReportArgs),
    /// The whole story in one command: PKI, synthetic agencies, service,
    /// submissions, linkage, report, audit, all held against the truth.
    Demo(demo::DemoArgs),
    /// The transparency log (auditor).
    Audit {
        /// What to do.
        #[command(subcommand)]
        action: auditor::AuditCommand,
    },
}

/// `veilink pki ...`.
#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Create a development CA, server certificate, principal certificates and policy.
    Init {
        /// Directory to create the PKI in.
        #[arg(long, env = "VEILINK_PKI")]
        dir: PathBuf,
        /// Agency ids (comma-separated); each gets a certificate and role `agency:<id>`.
        #[arg(long, value_delimiter = ',', default_values_t = crate::pki::DEFAULT_AGENCIES.map(String::from))]
        agencies: Vec<String>,
        /// Replace an existing PKI in DIR (all earlier certificates stop working).
        #[arg(long)]
        force: bool,
    },
    /// Issue a certificate for one more principal (add it to policy.toml to give it a role).
    Issue {
        /// PKI directory holding the CA key.
        #[arg(long, env = "VEILINK_PKI")]
        dir: PathBuf,
        /// Principal name (certificate common name).
        name: String,
        /// Replace the principal's existing certificate.
        #[arg(long)]
        force: bool,
    },
    /// Revoke a principal's certificate: adds it to DIR/crl.pem (serve with --crl).
    Revoke {
        /// PKI directory holding the CA key.
        #[arg(long, env = "VEILINK_PKI")]
        dir: PathBuf,
        /// Principal name whose certificate is revoked.
        name: String,
    },
}

/// How a client reaches the server and who it is.
#[derive(Debug, Clone, Args)]
pub struct ConnectArgs {
    /// Server URL.
    #[arg(
        long,
        env = "VEILINK_SERVER",
        default_value = "https://127.0.0.1:50051"
    )]
    pub server: String,
    /// PKI directory with ca.pem and NAME.pem / NAME.key.
    #[arg(long, env = "VEILINK_PKI", default_value = "certs")]
    pub pki: PathBuf,
    /// Principal to act as (picks DIR/NAME.pem and DIR/NAME.key).
    #[arg(long = "as", env = "VEILINK_AS")]
    pub name: String,
}

/// A failed command: the error and whether the user's input caused it.
#[derive(Debug)]
pub struct CliError {
    /// True for bad usage or input (exit status 2), false otherwise (1).
    pub bad_input: bool,
    /// The error with its context chain.
    pub error: anyhow::Error,
}

impl CliError {
    /// A bad-input error with this message.
    pub fn input(message: impl std::fmt::Display) -> CliError {
        CliError {
            bad_input: true,
            error: anyhow::anyhow!("{message}"),
        }
    }

    /// The process exit status: 2 for bad input, 1 otherwise.
    pub fn exit_code(&self) -> u8 {
        if self.bad_input { 2 } else { 1 }
    }
}

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.error)
    }
}

macro_rules! cli_error_from {
    ($($ty:ty),+ $(,)?) => {
        $(
            impl From<$ty> for CliError {
                fn from(error: $ty) -> CliError {
                    CliError { bad_input: error.is_bad_input(), error: error.into() }
                }
            }
        )+
    };
}

cli_error_from!(
    crate::pki::PkiError,
    crate::server::ServerError,
    crate::client::ClientError,
    crate::client::submit::SubmitError,
    crate::encode::EncodeError,
    crate::synth::SynthError,
);

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> CliError {
        CliError {
            bad_input: false,
            error: error.into(),
        }
    }
}

/// Runs one parsed command, writing its data to `out`.
///
/// # Errors
/// [`CliError`] with the exit status it deserves.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    let format = cli.format;
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Pki { action } => admin::pki(action, format, out),
        Command::Keygen { out: file } => agency::keygen(file, format, out),
        Command::Synth(args) => agency::synth(args, format, out),
        Command::Encode(args) => agency::encode(args),
        Command::Submit(args) => agency::submit(args, format, out),
        Command::Withdraw(args) => agency::withdraw(args, format, out),
        Command::Whoami(args) => runtime()?.block_on(admin::whoami(args, format, out)),
        Command::Status(args) => runtime()?.block_on(admin::status(args, format, out)),
        Command::Link(args) => runtime()?.block_on(operator::link(args, format, out)),
        Command::Jobs(args) => runtime()?.block_on(operator::jobs(args, format, out)),
        Command::Persons(args) => runtime()?.block_on(operator::persons(args, format, out)),
        Command::Evaluate(args) => operator::evaluate(args, format, out),
        Command::Report(args) => runtime()?.block_on(analyst::report(args, format, out)),
        Command::Audit { action } => runtime()?.block_on(auditor::run(action, format, out)),
        Command::Demo(args) => demo::demo(args, format, out),
    }
}

/// A multi-threaded tokio runtime for client commands.
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

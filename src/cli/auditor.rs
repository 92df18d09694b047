//! The auditor's commands: `veilink audit checkpoint|entries|prove|verify|
//! public-key`. `verify` checks the signed checkpoint against a pinned key,
//! every new entry, consistency with the state saved last time, a sample of
//! inclusion proofs and, with `--receipts`, an agency's kept receipts; on
//! failure it names the first entry that does not verify.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::output::hex;
use super::{CliError, ConnectArgs, Format, Rows};
use crate::audit::AuditError;
use crate::audit::checkpoint::NoteVerifier;
use crate::audit::entry::{EntryKind, LogEntry};
use crate::audit::verify::{self, VerifierState, VerifyOptions};
use crate::client::audit::GrpcLogSource;
use crate::client::submit::KeptReceipt;
use crate::client::{self, ClientError};

/// `veilink audit ...`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Print the latest signed checkpoint.
    Checkpoint(ConnectArgs),
    /// Print log entries, optionally filtered.
    Entries(EntriesArgs),
    /// Print and check the inclusion proof of one entry.
    Prove(ProveArgs),
    /// Verify the log: signature, entries, consistency, proofs, receipts.
    Verify(VerifyArgs),
    /// Print the log's verifier key (pin it with `verify --public-key`).
    PublicKey(PublicKeyArgs),
}

/// `audit entries` arguments.
#[derive(Debug, Args)]
pub struct EntriesArgs {
    /// Server and identity (auditor or operator).
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// First index [default: 0].
    #[arg(long, default_value_t = 0)]
    pub start: u64,
    /// End index, exclusive [default: the log size].
    #[arg(long)]
    pub end: Option<u64>,
    /// Only entries of this kind: batch_receipt, withdrawal, link_decision,
    /// job, report_query, retention.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only entries of this linkage job (0: incremental linking).
    #[arg(long)]
    pub job: Option<u64>,
    /// Only entries that involve this agency.
    #[arg(long)]
    pub agency: Option<String>,
}

/// `audit prove` arguments.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Server and identity.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The entry index.
    #[arg(long)]
    pub index: u64,
}

/// `audit verify` arguments.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Server and identity.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// State file of the previous run: the log seen then must be a prefix of
    /// today's; updated on success.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// The pinned verifier key (a file holding the `audit public-key`
    /// output). Without it the key the server announces is trusted on first
    /// use and, with --state, kept in the state.
    #[arg(long)]
    pub public_key: Option<PathBuf>,
    /// Receipts an agency kept (`submit --receipts-out`): prove each is in the log.
    #[arg(long)]
    pub receipts: Option<PathBuf>,
    /// Re-read every entry, not only the new ones.
    #[arg(long)]
    pub full: bool,
    /// Inclusion proofs to check at random.
    #[arg(long, default_value_t = 32)]
    pub sample: usize,
}

/// `audit public-key` arguments.
#[derive(Debug, Args)]
pub struct PublicKeyArgs {
    /// Server and identity.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Also write the key to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

async fn source(connect: &ConnectArgs) -> Result<GrpcLogSource, CliError> {
    let channel = client::connect(&connect.server, &connect.pki, &connect.name).await?;
    Ok(GrpcLogSource::new(channel))
}

fn audit_failure(error: AuditError) -> CliError {
    CliError {
        bad_input: false,
        error: error.into(),
    }
}

/// Runs one audit command.
pub(super) async fn run(
    command: AuditCommand,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    match command {
        AuditCommand::Checkpoint(connect) => {
            let message = source(&connect)
                .await?
                .checkpoint_message()
                .await
                .map_err(ClientError::from)?;
            match format {
                Format::Table => write!(out, "{}", message.note)?,
                _ => {
                    let mut rows = Rows::new(&["size", "root", "verifier_key", "note"]);
                    rows.push(vec![
                        message.size.to_string(),
                        hex(&message.root),
                        message.verifier_key,
                        message.note,
                    ]);
                    rows.write(format, out)?;
                }
            }
        }
        AuditCommand::PublicKey(args) => {
            let key = source(&args.connect)
                .await?
                .checkpoint_message()
                .await
                .map_err(ClientError::from)?
                .verifier_key;
            if let Some(path) = &args.out {
                std::fs::write(path, format!("{key}\n"))?;
            }
            writeln!(out, "{key}")?;
        }
        AuditCommand::Entries(args) => entries(args, format, out).await?,
        AuditCommand::Prove(args) => prove(args, format, out).await?,
        AuditCommand::Verify(args) => verify_log(args, format, out).await?,
    }
    Ok(())
}

async fn entries(args: EntriesArgs, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    let kind = args
        .kind
        .as_deref()
        .map(|k| {
            k.parse::<EntryKind>()
                .map_err(|e| CliError::input(format!("--kind: {e}")))
        })
        .transpose()?;
    let mut source = source(&args.connect).await?;
    let size = source
        .checkpoint_message()
        .await
        .map_err(ClientError::from)?
        .size;
    let end = args.end.unwrap_or(size);
    let mut rows = Rows::new(&["index", "kind", "entry"]);
    let mut start = args.start;
    while start < end {
        let chunk_end = (start + 10_000).min(end);
        let served = source
            .indexed_entries(start, chunk_end)
            .await
            .map_err(ClientError::from)?;
        for (index, bytes) in served {
            let entry = LogEntry::decode(&bytes).map_err(audit_failure)?;
            if kind.is_some_and(|k| entry.kind() != k)
                || args.job.is_some_and(|j| entry.job_id() != Some(j))
                || args
                    .agency
                    .as_deref()
                    .is_some_and(|a| !entry.involves_agency(a))
            {
                continue;
            }
            rows.push(vec![
                index.to_string(),
                entry.kind().to_string(),
                entry.to_json().to_string(),
            ]);
        }
        start = chunk_end;
    }
    match format {
        // JSON: the entry objects themselves, one per line, with their index.
        Format::Json => {
            for row in &rows.rows {
                let mut value: serde_json::Value =
                    serde_json::from_str(&row[2]).unwrap_or(serde_json::Value::Null);
                if let Some(object) = value.as_object_mut() {
                    object.insert("index".into(), row[0].parse::<u64>().unwrap_or(0).into());
                }
                writeln!(out, "{value}")?;
            }
        }
        _ => rows.write(format, out)?,
    }
    Ok(())
}

async fn prove(args: ProveArgs, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    let mut source = source(&args.connect).await?;
    let checkpoint = source
        .checkpoint_message()
        .await
        .map_err(ClientError::from)?;
    if args.index >= checkpoint.size {
        return Err(CliError::input(format!(
            "--index {}: the latest checkpoint covers {} entries",
            args.index, checkpoint.size
        )));
    }
    let key: NoteVerifier = checkpoint.verifier_key.parse().map_err(audit_failure)?;
    let signed = key
        .open_checkpoint(&checkpoint.note)
        .map_err(audit_failure)?;
    let bytes = source
        .indexed_entries(args.index, args.index + 1)
        .await
        .map_err(ClientError::from)?
        .into_iter()
        .next()
        .map(|(_, b)| b)
        .ok_or_else(|| CliError::input("the server did not serve the entry"))?;
    let proof = verify::LogSource::inclusion_proof(&mut source, args.index, signed.size)
        .await
        .map_err(audit_failure)?;
    crate::audit::proof::verify_inclusion(
        args.index,
        signed.size,
        &crate::audit::hash::leaf_hash(&bytes),
        &proof,
        &signed.root,
    )
    .map_err(audit_failure)?;
    let mut rows = Rows::new(&[
        "index",
        "tree_size",
        "root",
        "leaf_hash",
        "proof",
        "verified",
    ]);
    rows.push(vec![
        args.index.to_string(),
        signed.size.to_string(),
        hex(&signed.root),
        hex(&crate::audit::hash::leaf_hash(&bytes)),
        proof.iter().map(|h| hex(h)).collect::<Vec<_>>().join(" "),
        "true".into(),
    ]);
    rows.write(format, out)?;
    Ok(())
}

/// How long `audit verify --receipts` waits for a checkpoint that covers the
/// newest receipt (the service signs one within a second of new entries).
const RECEIPT_CHECKPOINT_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

async fn verify_log(args: VerifyArgs, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    let mut source = source(&args.connect).await?;
    let saved = match &args.state {
        Some(path) => VerifierState::load(path).map_err(audit_failure)?,
        None => None,
    };
    let key_text = match &args.public_key {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?
            .trim()
            .to_string(),
        None => {
            source
                .checkpoint_message()
                .await
                .map_err(ClientError::from)?
                .verifier_key
        }
    };
    let key: NoteVerifier = key_text
        .parse()
        .map_err(|e: AuditError| CliError::input(format!("verifier key: {e}")))?;
    let options = VerifyOptions {
        full: args.full,
        sample: args.sample,
        ..VerifyOptions::default()
    };
    // Receipts are read (and refused if malformed) before anything is verified.
    let mut receipts = Vec::new();
    if let Some(path) = &args.receipts {
        let text = std::fs::read_to_string(path)
            .map_err(|e| CliError::input(format!("{}: {e}", path.display())))?;
        for (line, json) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let receipt: KeptReceipt = serde_json::from_str(json)
                .map_err(|e| CliError::input(format!("{}:{}: {e}", path.display(), line + 1)))?;
            let parse = |hex_text: &str, what: &str| {
                crate::server::config::parse_hex32(hex_text).ok_or_else(|| {
                    CliError::input(format!(
                        "{}:{}: {what} is not 64 hex digits",
                        path.display(),
                        line + 1
                    ))
                })
            };
            receipts.push((
                receipt.audit_index,
                parse(&receipt.batch_id, "batch_id")?,
                parse(&receipt.digest, "digest")?,
            ));
        }
    }
    // The service signs a checkpoint at most a second after new entries
    // (`docs/AUDIT.md`): a receipt handed out just now may be newer than the
    // latest checkpoint. Wait a little for one that covers it, then verify
    // once; a receipt still not covered is named by the receipt check below.
    if let Some(newest) = receipts.iter().map(|(index, _, _)| *index).max() {
        let deadline = std::time::Instant::now() + RECEIPT_CHECKPOINT_WAIT;
        loop {
            let size = source
                .checkpoint_message()
                .await
                .map_err(ClientError::from)?
                .size;
            if size > newest || std::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    let report = verify::verify(&mut source, &key, saved.as_ref(), &options)
        .await
        .map_err(audit_failure)?;
    let mut receipts_checked = 0u64;
    for (index, batch_id, digest) in &receipts {
        verify::check_receipt(&mut source, &report.checkpoint, *index, batch_id, digest)
            .await
            .map_err(audit_failure)?;
        receipts_checked += 1;
    }
    if let Some(path) = &args.state {
        report.state.save(path).map_err(audit_failure)?;
    }
    match format {
        Format::Table => {
            write!(out, "{report}")?;
            if args.receipts.is_some() {
                write!(out, "; {receipts_checked} receipts proven")?;
            }
            writeln!(out)?;
        }
        _ => {
            let mut rows = Rows::new(&[
                "verified",
                "size",
                "root",
                "entries_checked",
                "proofs_checked",
                "receipts_checked",
            ]);
            rows.push(vec![
                "true".into(),
                report.checkpoint.size.to_string(),
                hex(&report.checkpoint.root),
                report.entries_checked.to_string(),
                report.proofs_checked.to_string(),
                receipts_checked.to_string(),
            ]);
            rows.write(format, out)?;
        }
    }
    Ok(())
}

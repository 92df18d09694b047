//! `veilink pki ...`, `veilink whoami` and `veilink status`.

use std::io::Write;

use super::{CliError, ConnectArgs, Format, PkiCommand, Rows};
use crate::client;
use crate::pb::v1 as pb;

/// `veilink pki init|issue|revoke`.
pub(super) fn pki(action: PkiCommand, format: Format, out: &mut dyn Write) -> Result<(), CliError> {
    match action {
        PkiCommand::Init {
            dir,
            agencies,
            force,
        } => {
            let summary = crate::pki::init(&dir, &agencies, force)?;
            let mut rows = Rows::new(&["principal", "role", "certificate", "key"]);
            for (name, role) in &summary.principals {
                let paths = crate::pki::PkiPaths::new(&dir);
                rows.push(vec![
                    name.clone(),
                    role.clone(),
                    paths.cert(name).display().to_string(),
                    paths.key(name).display().to_string(),
                ]);
            }
            rows.write(format, out)?;
        }
        PkiCommand::Issue { dir, name, force } => {
            crate::pki::issue_client(&dir, &name, force)?;
            let paths = crate::pki::PkiPaths::new(&dir);
            let mut rows = Rows::new(&["principal", "certificate", "key"]);
            rows.push(vec![
                name.clone(),
                paths.cert(&name).display().to_string(),
                paths.key(&name).display().to_string(),
            ]);
            rows.write(format, out)?;
        }
        PkiCommand::Revoke { dir, name } => {
            let crl = crate::pki::revoke(&dir, &name)?;
            let mut rows = Rows::new(&["revoked", "crl"]);
            rows.push(vec![name, crl.display().to_string()]);
            rows.write(format, out)?;
        }
    }
    Ok(())
}

/// `veilink whoami`: the principal and role the server sees.
pub(super) async fn whoami(
    args: ConnectArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let channel = client::connect(&args.server, &args.pki, &args.name).await?;
    let reply = pb::admin_client::AdminClient::new(channel)
        .who_am_i(pb::WhoAmIRequest {})
        .await
        .map_err(client::ClientError::from)?
        .into_inner();
    let mut rows = Rows::new(&["principal", "role", "certificate_sha256"]);
    rows.push(vec![reply.principal, reply.role, reply.certificate_sha256]);
    rows.write(format, out)?;
    Ok(())
}

/// `veilink status`: counts per agency and the service's state (operator).
pub(super) async fn status(
    args: ConnectArgs,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let channel = client::connect(&args.server, &args.pki, &args.name).await?;
    let reply = pb::admin_client::AdminClient::new(channel)
        .status(pb::StatusRequest {})
        .await
        .map_err(client::ClientError::from)?
        .into_inner();
    let mut rows = Rows::new(&["item", "value"]);
    let mut put = |k: &str, v: String| rows.push(vec![k.to_string(), v]);
    for agency in &reply.agencies {
        put(
            &format!("agency {} records", agency.agency),
            agency.records.to_string(),
        );
        put(
            &format!("agency {} withdrawn", agency.agency),
            agency.withdrawn.to_string(),
        );
        put(
            &format!("agency {} batches", agency.agency),
            agency.batches.to_string(),
        );
    }
    put("records", reply.records.to_string());
    put("persons", reply.persons.to_string());
    put(
        "linkage lag (records)",
        reply.linkage_lag_records.to_string(),
    );
    for key in &reply.quarantined {
        // The LSH rule id marks a Bloom LSH band key (docs/LINKAGE.md,
        // "Clustering and guards").
        let what = match key.rule {
            rule if rule == u32::from(crate::link::LSH_RULE) => "Bloom LSH band".to_string(),
            rule => format!("rule {rule}"),
        };
        put(
            &format!("quarantined key ({what})"),
            format!("{} records", key.records),
        );
    }
    put("log size", reply.log_size.to_string());
    put("jobs", reply.jobs.to_string());
    put("last job", reply.last_job_state.clone());
    put("store bytes", reply.store_bytes.to_string());
    put("encoding fingerprint", reply.encoding_fingerprint.clone());
    put("version", reply.version.clone());
    rows.write(format, out)?;
    Ok(())
}

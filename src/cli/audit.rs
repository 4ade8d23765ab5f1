//! `sluice audit verify|seal`: the audit log's hash chain, checked from the server.

use anyhow::bail;
use clap::Subcommand;
use sluice::clock::SharedClock;
use sluice::service::audit;
use sluice::startup::open_db;

use super::{Common, settings};

#[derive(Subcommand)]
pub(crate) enum AuditAction {
    /// Recompute the chain from its first entry; name the first entry that does not match (exit 1).
    /// Prints the head (position and hash) to compare with one kept outside the database.
    Verify {
        #[command(flatten)]
        common: Common,
    },
    /// Seal the entries written since the running servers last sealed (they do every second).
    Seal {
        #[command(flatten)]
        common: Common,
    },
}

pub(crate) fn audit(action: AuditAction, clock: &SharedClock) -> anyhow::Result<()> {
    let common = match &action {
        AuditAction::Verify { common } | AuditAction::Seal { common } => common,
    };
    let s = settings(common, None)?;
    let db = open_db(&s, true)?;
    match action {
        AuditAction::Verify { .. } => match audit::verify(&db)? {
            Ok(v) => {
                let head = v.head.map_or("empty".to_owned(), |(position, hash)| {
                    format!("position {position}, hash {hash}")
                });
                println!(
                    "the audit chain verifies: {} entries; head {head}; {} not sealed yet",
                    v.entries, v.unsealed
                );
            }
            Err(broken) => bail!("the audit chain is broken at {broken}"),
        },
        AuditAction::Seal { .. } => {
            let sealed = audit::seal(&db, clock.now())?;
            println!("sealed {sealed} entries");
        }
    }
    Ok(())
}

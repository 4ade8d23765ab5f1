//! `sluice client add|list|remove`: OAuth2 clients of the built-in token endpoint.

use anyhow::{Context, bail};
use clap::{Subcommand, ValueEnum};
use sluice::auth::Role;
use sluice::clock::SharedClock;
use sluice::service::clients::{self, PEPPER_SECRET};
use sluice::startup::open_db;

use super::{Common, settings};

#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    Operator,
    Ven,
}

#[derive(Subcommand)]
pub(crate) enum ClientAction {
    /// Create a client; prints {"client_id","client_secret","role"} as one JSON line.
    Add {
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// List clients (secrets are never shown again).
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Remove a client; its tokens stop working when they expire.
    Remove {
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

pub(crate) fn client(action: ClientAction, clock: SharedClock) -> anyhow::Result<()> {
    let common = match &action {
        ClientAction::Add { common, .. } | ClientAction::List { common } | ClientAction::Remove { common, .. } => {
            common.clone()
        }
    };
    let s = settings(&common, None)?;
    let db = open_db(&s, true)?;
    match action {
        ClientAction::Add { role, name, .. } => {
            let pepper = clients::load_secret(&db, &clock, PEPPER_SECRET)?;
            let role = match role {
                RoleArg::Operator => Role::Operator,
                RoleArg::Ven => Role::Ven,
            };
            let issued = clients::add(&db, &clock, &pepper, role, &name)?;
            println!("{}", serde_json::to_string(&issued)?);
        }
        ClientAction::List { .. } => {
            for c in clients::list(&db)? {
                println!(
                    "{}",
                    serde_json::json!({"client_id": c.client_id, "name": c.client_name, "role": c.role, "created": sluice::wire::format_time(&c.created)})
                );
            }
        }
        ClientAction::Remove { id, .. } => {
            let removed = clients::remove(&db, &id).context("cannot remove the client")?;
            if !removed {
                bail!("no client {id:?}");
            }
            eprintln!("removed {id}");
        }
    }
    Ok(())
}

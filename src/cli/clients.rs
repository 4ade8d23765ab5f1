//! `sluice client add|list|remove`: OAuth2 clients of the built-in token endpoint.

use anyhow::{Context, bail};
use clap::Subcommand;
use sluice::auth::Role;
use sluice::clock::SharedClock;
use sluice::service::clients::{self, PEPPER_SECRET};
use sluice::startup::open_db;

use super::{Common, settings};

/// A role by name (`sluice::auth::roles` says what each may do).
fn role(name: &str) -> Result<Role, String> {
    Role::parse(name).ok_or_else(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        format!("unknown role; one of {}", names.join(", "))
    })
}

#[derive(Subcommand)]
pub(crate) enum ClientAction {
    /// Create a client; prints {"client_id","client_secret","role"} as one JSON line.
    Add {
        /// admin, dispatcher, enrollment, analyst, viewer (staff roles of the business logic), operator
        /// (a business-logic machine: every permission but administration) or ven.
        #[arg(long, value_parser = role)]
        role: Role,
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
            let removed = clients::remove(&db, &clock, &id).context("cannot remove the client")?;
            if !removed {
                bail!("no client {id:?}");
            }
            eprintln!("removed {id}");
        }
    }
    Ok(())
}

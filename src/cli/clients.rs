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
    /// Remove a client; every running instance refuses its tokens within `auth.revocation_poll_ms`.
    Remove {
        id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Give a client a new secret, printed once; the previous one stays accepted for the grace period.
    Rotate {
        id: String,
        /// How long the previous secret stays accepted: a number with s, m, h or d (e.g. 30m, 24h).
        #[arg(long, default_value = "24h", value_parser = grace)]
        grace: chrono::TimeDelta,
        #[command(flatten)]
        common: Common,
    },
}

/// `30m`, `24h`, `7d`: a grace period of at most 30 days.
fn grace(s: &str) -> Result<chrono::TimeDelta, String> {
    let (n, unit) = s.split_at(s.len().saturating_sub(1));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a number with s, m, h or d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{s:?} needs a unit: s, m, h or d")),
    };
    if !(0..=30 * 86_400).contains(&secs) {
        return Err("the grace period is between 0s and 30d".into());
    }
    Ok(chrono::TimeDelta::seconds(secs))
}

pub(crate) fn client(action: ClientAction, clock: SharedClock) -> anyhow::Result<()> {
    let common = match &action {
        ClientAction::Add { common, .. }
        | ClientAction::List { common }
        | ClientAction::Remove { common, .. }
        | ClientAction::Rotate { common, .. } => common.clone(),
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
        ClientAction::Rotate { id, grace, .. } => {
            let pepper = clients::load_secret(&db, &clock, PEPPER_SECRET)?;
            match clients::rotate(&db, &clock, &pepper, &id, grace)? {
                Some(rotated) => println!("{}", serde_json::to_string(&rotated)?),
                None => bail!("no client {id:?}"),
            }
        }
    }
    Ok(())
}

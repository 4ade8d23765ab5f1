//! `sluice rules set|show`: a program's settlement rules.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use sluice::clock::SharedClock;
use sluice::service::settlement;
use sluice::startup::open_db;

use super::{Common, settings};

#[derive(Subcommand)]
pub(crate) enum RulesAction {
    /// Store a new version of a program's rules from a JSON file.
    Set {
        #[arg(long)]
        program: String,
        file: PathBuf,
        #[command(flatten)]
        common: Common,
    },
    /// Print the newest version.
    Show {
        #[arg(long)]
        program: String,
        #[command(flatten)]
        common: Common,
    },
}

pub(crate) fn rules(action: RulesAction, clock: &SharedClock) -> anyhow::Result<()> {
    let (program, common) = match &action {
        RulesAction::Set { program, common, .. } | RulesAction::Show { program, common } => (program, common),
    };
    let s = settings(common, None)?;
    let db = open_db(&s, true)?;
    let program = settlement::program_by_key(&db, program)?;
    let v = match &action {
        RulesAction::Set { file, .. } => {
            let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
            let rules =
                serde_json::from_str(&text).with_context(|| format!("{} is not settlement rules", file.display()))?;
            settlement::put_rules(&db, &program, rules, "cli", clock.now())
        }
        RulesAction::Show { .. } => settlement::get_rules(&db, &program),
    }
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(())
}

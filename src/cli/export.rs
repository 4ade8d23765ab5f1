//! `sluice export statement|run|chart`.

use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;
use sluice::service::settlement;
use sluice::startup::open_db;

use super::{Common, settings};

#[derive(Subcommand)]
pub(crate) enum ExportAction {
    /// A statement as CSV, JSON or XML (to stdout, or --out).
    Statement {
        id: String,
        #[arg(long, default_value = "json", value_parser = ["csv", "json", "xml"])]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// Every statement a settlement run issued, in one file (CSV rows under one header, a JSON array, or
    /// XML), for billing imports.
    Run {
        id: String,
        #[arg(long, default_value = "csv", value_parser = ["csv", "json", "xml"])]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
    /// An SVG chart of an event of a statement: baseline, actual and the committed level.
    Chart {
        id: String,
        /// Default: the statement's first event.
        #[arg(long)]
        event: Option<String>,
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        common: Common,
    },
}

pub(crate) fn export(action: ExportAction) -> anyhow::Result<()> {
    let (common, out) = match &action {
        ExportAction::Statement { common, out, .. }
        | ExportAction::Run { common, out, .. }
        | ExportAction::Chart { common, out, .. } => (common, out),
    };
    let s = settings(common, None)?;
    let db = open_db(&s, true)?;
    let text = match &action {
        ExportAction::Statement { id, format, .. } => {
            settlement::export_statement(&db, id, file_format(format)?)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .body
        }
        ExportAction::Run { id, format, .. } => {
            settlement::export_run(&db, id, file_format(format)?)
                .map_err(|e| anyhow::anyhow!("{e}"))?
                .body
        }
        ExportAction::Chart { id, event, .. } => {
            settlement::chart(&db, id, event.as_deref()).map_err(|e| anyhow::anyhow!("{e}"))?
        }
    };
    match out {
        Some(path) => {
            std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(())
}

fn file_format(name: &str) -> anyhow::Result<settlement::Format> {
    settlement::Format::parse(name).ok_or_else(|| anyhow::anyhow!("unknown format {name:?}: json, csv or xml"))
}

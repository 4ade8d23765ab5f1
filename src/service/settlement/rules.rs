//! A program's settlement rules: each change a new version, every default written out.

use chrono::{DateTime, Utc};

use crate::error::AppError;
use crate::service::audit::Subject;
use crate::service::commit::commit_blocking;
use crate::settle::rules::Rules;
use crate::store::Db;
use crate::store::repo::{from_naive, to_naive};
use crate::store::settlement as db;
use crate::wire::Operation;
use crate::wire::settlement::RulesVersion;

/// Stores a new version of a program's settlement rules, every default written out.
pub fn put_rules(
    db_: &Db,
    program_id: &str,
    rules: Rules,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RulesVersion, AppError> {
    let problems = rules.problems();
    if !problems.is_empty() {
        return Err(AppError::BadRequest(format!(
            "the settlement rules cannot be used: {}",
            problems.join("; ")
        )));
    }
    let rules = rules.complete();
    let text = serde_json::to_string(&rules).map_err(|e| AppError::Internal(e.to_string()))?;
    let row = commit_blocking(db_, now, |c| {
        crate::store::repo::get_program(c, program_id)?;
        c.audited(Subject::of("SETTLEMENT_RULES", program_id, Operation::Update, &text));
        Ok(db::insert_rules(c, program_id, &text, by, to_naive(now))?)
    })
    .map_err(|e| e.with_not_found("program", program_id))?;
    rules_version(row)
}

pub fn get_rules(db_: &Db, program_id: &str) -> Result<RulesVersion, AppError> {
    match db_.read_blocking(|c| db::latest_rules(c, program_id))? {
        Some(row) => rules_version(row),
        None => Err(AppError::NotFound(format!(
            "program {program_id:?} has no settlement rules"
        ))),
    }
}

fn rules_version(row: db::RulesRow) -> Result<RulesVersion, AppError> {
    Ok(RulesVersion {
        rules: serde_json::from_str(&row.rules).map_err(|e| AppError::Internal(format!("stored rules: {e}")))?,
        program_id: row.program_id,
        version: row.version,
        created_by: row.created_by,
        created_date_time: from_naive(row.created_date_time),
    })
}

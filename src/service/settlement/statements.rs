//! Runs and statements read back, and the chart of a statement's event.

use chrono::NaiveDate;

use crate::error::AppError;
use crate::settle::export::{self, Statement, StatementKind};
use crate::store::Db;
use crate::store::repo::from_naive;
use crate::store::settlement::{self as db, StatementFilter, StatementRow};
use crate::wire::ObjectId;
use crate::wire::Page;
use crate::wire::query::{self, StatementQuery};
use crate::wire::settlement::{Format, SettlementRun, StatementSummary};

pub(super) fn kind_str(k: StatementKind) -> &'static str {
    match k {
        StatementKind::Initial => "INITIAL",
        StatementKind::TrueUp => "TRUE_UP",
    }
}

pub(super) fn summary(row: &StatementRow) -> Result<StatementSummary, AppError> {
    let date = |s: &str| {
        s.parse::<NaiveDate>()
            .map_err(|e| AppError::Internal(format!("stored period: {e}")))
    };
    Ok(StatementSummary {
        statement_id: row.id.clone(),
        run_id: row.run_id.clone(),
        program_id: row.program_id.clone(),
        site_id: row.site_id.clone(),
        from: date(&row.period_from)?,
        to: date(&row.period_to)?,
        version: row.version,
        kind: if row.kind == "TRUE_UP" {
            StatementKind::TrueUp
        } else {
            StatementKind::Initial
        },
        supersedes: row.supersedes.clone(),
        rule_version: row.rule_version,
        total: row
            .total
            .parse()
            .map_err(|_| AppError::Internal("stored total".into()))?,
        created_date_time: from_naive(row.created_date_time),
    })
}

pub(super) fn run_view(run: &db::RunRow, statements: Vec<StatementSummary>) -> SettlementRun {
    SettlementRun {
        run_id: run.id.clone(),
        program_id: run.program_id.clone(),
        from: run.period_from.parse().unwrap_or_default(),
        to: run.period_to.parse().unwrap_or_default(),
        rule_version: run.rule_version,
        sites: run.sites,
        issued: run.issued,
        unchanged: run.unchanged,
        total: run.total.parse().unwrap_or_default(),
        statements,
        created_date_time: from_naive(run.created_date_time),
    }
}

/// A run with the statements it issued.
pub fn get_run(db_: &Db, id: &str) -> Result<SettlementRun, AppError> {
    let (run, rows) = db_
        .read_blocking(|c| {
            let run = db::get_run(c, id)?;
            let f = StatementFilter {
                run_id: Some(id.into()),
                ..Default::default()
            };
            Ok((
                run,
                db::list_statements(
                    c,
                    &f,
                    Page {
                        skip: 0,
                        limit: i64::MAX,
                    },
                )?,
            ))
        })
        .map_err(|e| AppError::from(e).with_not_found("settlement run", id))?;
    Ok(run_view(&run, rows.iter().map(summary).collect::<Result<_, _>>()?))
}

pub fn list_statements(db_: &Db, q: StatementQuery) -> Result<Vec<StatementSummary>, AppError> {
    let page = query::page(q.skip, q.limit);
    let f = StatementFilter {
        program_id: q.program_id.map(ObjectId::into_string),
        site_id: q.site_id.map(ObjectId::into_string),
        run_id: q.run_id.map(ObjectId::into_string),
    };
    db_.read_blocking(|c| db::list_statements(c, &f, page))?
        .iter()
        .map(summary)
        .collect()
}

pub fn get_statement(db_: &Db, id: &str) -> Result<Statement, AppError> {
    let row = db_
        .read_blocking(|c| db::get_statement(c, id))
        .map_err(|e| AppError::from(e).with_not_found("statement", id))?;
    serde_json::from_str(&row.body).map_err(|e| AppError::Internal(format!("stored statement: {e}")))
}

/// The statements a run issued (initial statements and true-ups), whole: what billing imports.
pub fn run_statements(db_: &Db, run_id: &str) -> Result<Vec<Statement>, AppError> {
    let rows = db_
        .read_blocking(|c| {
            db::get_run(c, run_id)?;
            db::statements_of_run(c, run_id)
        })
        .map_err(|e| AppError::from(e).with_not_found("settlement run", run_id))?;
    rows.iter()
        .map(|r| serde_json::from_str(&r.body).map_err(|e| AppError::Internal(format!("stored statement: {e}"))))
        .collect()
}

/// The chart of one event of a statement (the first event when none is named).
pub fn chart(db_: &Db, id: &str, event_id: Option<&str>) -> Result<String, AppError> {
    let s = get_statement(db_, id)?;
    let event = match event_id {
        Some(e) => s.settlement.events.iter().find(|x| x.event_id == e),
        None => s.settlement.events.first(),
    };
    match event {
        Some(e) => Ok(export::event_chart(&s, e)),
        None => Err(AppError::NotFound(match event_id {
            Some(e) => format!("statement {id:?} has no event {e:?}"),
            None => format!("statement {id:?} has no events to chart"),
        })),
    }
}

/// A statement file: its name (without the extension of its format) and its text.
#[derive(Debug, Clone)]
pub struct Export {
    pub name: String,
    pub format: Format,
    pub body: String,
}

/// One statement in `format`, named after its id and version.
pub fn export_statement(db_: &Db, id: &str, format: Format) -> Result<Export, AppError> {
    let s = get_statement(db_, id)?;
    Ok(Export {
        name: format!("statement-{}-v{}", s.statement_id, s.version),
        format,
        body: export::render(&s, format),
    })
}

/// The statements a run issued, in one file in `format`, named after the run.
pub fn export_run(db_: &Db, run_id: &str, format: Format) -> Result<Export, AppError> {
    let statements = run_statements(db_, run_id)?;
    Ok(Export {
        name: format!("settlement-{run_id}"),
        format,
        body: export::render_many(&statements, format),
    })
}

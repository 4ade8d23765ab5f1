//! Reports: rows, their authors and the links (event, program) a change of one is matched by.

use diesel::prelude::*;

use super::{ObjectWrite, RowNoTargets, stored_nt, to_naive};
use crate::store::conn::AnyConnection;
use crate::store::error::StoreResult;
use crate::store::schema::*;
use crate::wire::{ObjectType, Page, StoredObject};

plain_table!(ObjectType::Report, reports, get_report, delete_report);

#[derive(Debug, Clone)]
pub struct ReportColumns {
    pub event_id: String,
    pub client_id: String,
    pub client_name: String,
    pub report_name: Option<String>,
}

pub fn insert_report(c: &mut AnyConnection, w: &ObjectWrite, r: &ReportColumns) -> StoreResult<StoredObject> {
    diesel::insert_into(reports::table)
        .values((
            reports::id.eq(&w.id),
            reports::event_id.eq(&r.event_id),
            reports::client_id.eq(&r.client_id),
            reports::client_name.eq(&r.client_name),
            reports::report_name.eq(&r.report_name),
            reports::body.eq(&w.body),
            reports::created_date_time.eq(to_naive(w.now)),
            reports::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    Ok(w.stored(ObjectType::Report, w.now))
}

pub fn update_report(c: &mut AnyConnection, w: &ObjectWrite, r: &ReportColumns) -> StoreResult<StoredObject> {
    let old = get_report(c, &w.id)?;
    diesel::update(reports::table.find(&w.id))
        .set((
            reports::event_id.eq(&r.event_id),
            reports::client_name.eq(&r.client_name),
            reports::report_name.eq(&r.report_name),
            reports::body.eq(&w.body),
            reports::modification_date_time.eq(to_naive(w.now)),
        ))
        .execute(c)?;
    Ok(w.stored(ObjectType::Report, old.created))
}

pub fn report_client(c: &mut AnyConnection, id: &str) -> StoreResult<String> {
    Ok(reports::table.find(id).select(reports::client_id).first(c)?)
}

/// A report's event, author and program (what subscriptions to reports are matched on).
pub fn report_links(c: &mut AnyConnection, id: &str) -> StoreResult<(String, String, String)> {
    Ok(reports::table
        .inner_join(events::table)
        .filter(reports::id.eq(id))
        .select((reports::event_id, reports::client_id, events::program_id))
        .first(c)?)
}

/// The program an event belongs to.
pub fn event_program(c: &mut AnyConnection, id: &str) -> StoreResult<String> {
    Ok(events::table.find(id).select(events::program_id).first(c)?)
}

/// How many reports refer to the event.
pub fn count_event_reports(c: &mut AnyConnection, event_id: &str) -> StoreResult<i64> {
    Ok(reports::table
        .filter(reports::event_id.eq(event_id))
        .count()
        .get_result(c)?)
}

/// How many reports refer to events of the program.
pub fn count_program_reports(c: &mut AnyConnection, program_id: &str) -> StoreResult<i64> {
    Ok(reports::table
        .inner_join(events::table)
        .filter(events::program_id.eq(program_id))
        .count()
        .get_result(c)?)
}

#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub program_id: Option<String>,
    pub event_id: Option<String>,
    pub client_name: Option<String>,
    /// Object privacy: only this client's reports.
    pub client_id: Option<String>,
}

pub fn list_reports(c: &mut AnyConnection, f: &ReportFilter, page: Page) -> StoreResult<Vec<StoredObject>> {
    let mut q = reports::table.into_boxed();
    if let Some(p) = &f.program_id {
        q = q.filter(
            reports::event_id.eq_any(
                events::table
                    .filter(events::program_id.eq(p.clone()))
                    .select(events::id),
            ),
        );
    }
    if let Some(e) = &f.event_id {
        q = q.filter(reports::event_id.eq(e.clone()));
    }
    if let Some(n) = &f.client_name {
        q = q.filter(reports::client_name.eq(n.clone()));
    }
    if let Some(cid) = &f.client_id {
        q = q.filter(reports::client_id.eq(cid.clone()));
    }
    let rows: Vec<RowNoTargets> = q
        .order(reports::id)
        .offset(page.skip)
        .limit(page.limit)
        .select((
            reports::id,
            reports::body,
            reports::created_date_time,
            reports::modification_date_time,
        ))
        .load(c)?;
    Ok(rows.into_iter().map(|r| stored_nt(ObjectType::Report, r)).collect())
}

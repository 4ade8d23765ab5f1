//! Sites, enrollments and telemetry. Rows in, rows out: the service layer turns them into the
//! domain and wire types.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::conn::AnyConnection;
use super::dialect::insert_many;
use super::error::StoreResult;
use super::schema::*;
use crate::wire::Page;

/// A site row, with its ven's clientID.
#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = sites)]
#[diesel(treat_none_as_null = true)]
pub struct SiteRow {
    pub id: String,
    pub site_name: String,
    pub ven_id: String,
    pub kind: String,
    pub max_import_mw: String,
    pub meter_id: Option<String>,
    pub location: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub time_zone: String,
    pub created_date_time: NaiveDateTime,
    pub modification_date_time: NaiveDateTime,
}

pub fn insert_site(c: &mut AnyConnection, row: &SiteRow) -> StoreResult<()> {
    diesel::insert_into(sites::table).values(row.clone()).execute(c)?;
    Ok(())
}

/// Replaces a site's columns (its creation time is kept).
pub fn update_site(c: &mut AnyConnection, row: &SiteRow) -> StoreResult<SiteRow> {
    let created: NaiveDateTime = sites::table.find(&row.id).select(sites::created_date_time).first(c)?;
    let mut row = row.clone();
    row.created_date_time = created;
    diesel::update(sites::table.find(&row.id)).set(row.clone()).execute(c)?;
    Ok(row)
}

pub fn delete_site(c: &mut AnyConnection, id: &str) -> StoreResult<SiteRow> {
    let row = get_site(c, id)?;
    diesel::delete(sites::table.find(id)).execute(c)?;
    Ok(row)
}

pub fn get_site(c: &mut AnyConnection, id: &str) -> StoreResult<SiteRow> {
    Ok(sites::table.find(id).select(sites::all_columns).first(c)?)
}

/// Sites with their vens' clientIDs, by name.
pub fn list_sites(c: &mut AnyConnection, page: Page) -> StoreResult<Vec<(SiteRow, String)>> {
    Ok(sites::table
        .inner_join(vens::table)
        .order((sites::site_name, sites::id))
        .offset(page.skip)
        .limit(page.limit)
        .select((sites::all_columns, vens::client_id))
        .load(c)?)
}

/// The site whose ven belongs to `client_id`.
pub fn site_of_client(c: &mut AnyConnection, client_id: &str) -> StoreResult<Option<String>> {
    Ok(sites::table
        .inner_join(vens::table)
        .filter(vens::client_id.eq(client_id))
        .select(sites::id)
        .first(c)
        .optional()?)
}

/// The clientID of a site's ven.
pub fn client_of_site(c: &mut AnyConnection, site_id: &str) -> StoreResult<Option<String>> {
    Ok(sites::table
        .inner_join(vens::table)
        .filter(sites::id.eq(site_id))
        .select(vens::client_id)
        .first(c)
        .optional()?)
}

/// The site a ven is, if any (a ven with a site cannot be deleted).
pub fn site_of_ven(c: &mut AnyConnection, ven_id: &str) -> StoreResult<Option<String>> {
    Ok(sites::table
        .filter(sites::ven_id.eq(ven_id))
        .select(sites::site_name)
        .first(c)
        .optional()?)
}

#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = enrollments)]
#[diesel(treat_none_as_null = true)]
pub struct EnrollmentRow {
    pub id: String,
    pub site_id: String,
    pub program_id: String,
    pub shed_mw: String,
    pub load_up_mw: String,
    pub firm_service_level_mw: Option<String>,
    pub notice: String,
    pub ramp: String,
    pub max_event_duration: Option<String>,
    pub max_events: Option<i32>,
    pub max_events_period: Option<String>,
    pub availability: String,
    pub offer_price: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: Option<NaiveDateTime>,
    pub created_date_time: NaiveDateTime,
    pub modification_date_time: NaiveDateTime,
}

pub fn insert_enrollment(c: &mut AnyConnection, row: &EnrollmentRow) -> StoreResult<()> {
    diesel::insert_into(enrollments::table).values(row.clone()).execute(c)?;
    Ok(())
}

pub fn update_enrollment(c: &mut AnyConnection, row: &EnrollmentRow) -> StoreResult<EnrollmentRow> {
    let created: NaiveDateTime = enrollments::table
        .find(&row.id)
        .select(enrollments::created_date_time)
        .first(c)?;
    let mut row = row.clone();
    row.created_date_time = created;
    diesel::update(enrollments::table.find(&row.id))
        .set(row.clone())
        .execute(c)?;
    Ok(row)
}

pub fn get_enrollment(c: &mut AnyConnection, id: &str) -> StoreResult<EnrollmentRow> {
    Ok(enrollments::table.find(id).first(c)?)
}

pub fn delete_enrollment(c: &mut AnyConnection, id: &str) -> StoreResult<EnrollmentRow> {
    let row = get_enrollment(c, id)?;
    diesel::delete(enrollments::table.find(id)).execute(c)?;
    Ok(row)
}

/// Filters of `GET /ops/enrollments`.
#[derive(Debug, Clone, Default)]
pub struct EnrollmentFilter {
    pub site_id: Option<String>,
    pub program_id: Option<String>,
}

pub fn list_enrollments(c: &mut AnyConnection, f: &EnrollmentFilter, page: Page) -> StoreResult<Vec<EnrollmentRow>> {
    let mut q = enrollments::table.into_boxed();
    if let Some(s) = &f.site_id {
        q = q.filter(enrollments::site_id.eq(s.clone()));
    }
    if let Some(p) = &f.program_id {
        q = q.filter(enrollments::program_id.eq(p.clone()));
    }
    Ok(q.order(enrollments::id).offset(page.skip).limit(page.limit).load(c)?)
}

/// Every enrollment of a site (the calendar check reads them all; a site has a handful).
pub fn site_enrollments(c: &mut AnyConnection, site_id: &str) -> StoreResult<Vec<EnrollmentRow>> {
    Ok(enrollments::table
        .filter(enrollments::site_id.eq(site_id))
        .order(enrollments::id)
        .load(c)?)
}

/// How many enrollments a site or a program has (they keep it from being deleted).
pub fn count_enrollments(c: &mut AnyConnection, site_id: Option<&str>, program_id: Option<&str>) -> StoreResult<i64> {
    let mut q = enrollments::table.into_boxed();
    if let Some(s) = site_id {
        q = q.filter(enrollments::site_id.eq(s.to_owned()));
    }
    if let Some(p) = program_id {
        q = q.filter(enrollments::program_id.eq(p.to_owned()));
    }
    Ok(q.count().get_result(c)?)
}

/// A telemetry point, as stored and as read back.
#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = telemetry)]
pub struct PointRow {
    pub site_id: String,
    pub report_id: String,
    pub event_id: String,
    pub resource_name: String,
    pub payload_type: String,
    pub reading_type: Option<String>,
    pub start_at: NaiveDateTime,
    pub end_at: Option<NaiveDateTime>,
    pub server_timed: bool,
    pub value: Option<f64>,
    pub unit: Option<String>,
    pub state: Option<String>,
    pub quality: Option<String>,
    pub received_at: NaiveDateTime,
}

/// Stores a report's telemetry, replacing what an earlier version of the report gave; records (or clears)
/// the report's unread payloads.
pub fn store_telemetry(
    c: &mut AnyConnection,
    report_id: &str,
    points: &[PointRow],
    reject: Option<(&str, i32, &str, NaiveDateTime)>,
) -> StoreResult<()> {
    diesel::delete(telemetry::table.filter(telemetry::report_id.eq(report_id))).execute(c)?;
    diesel::delete(report_rejects::table.find(report_id)).execute(c)?;
    // Bounded statements: SQLite allows at most 32,766 bind values per statement.
    for chunk in points.chunks(1000) {
        insert_many!(c, telemetry::table, chunk)?;
    }
    if let Some((site_id, skipped, problems, at)) = reject {
        diesel::insert_into(report_rejects::table)
            .values((
                report_rejects::report_id.eq(report_id),
                report_rejects::site_id.eq(site_id),
                report_rejects::skipped.eq(skipped),
                report_rejects::problems.eq(problems),
                report_rejects::received_at.eq(at),
            ))
            .execute(c)?;
    }
    Ok(())
}

/// Filters of a site's telemetry.
#[derive(Debug, Clone, Default)]
pub struct TelemetryFilter {
    pub from: Option<NaiveDateTime>,
    pub to: Option<NaiveDateTime>,
    pub payload_type: Option<String>,
    pub event_id: Option<String>,
}

pub fn site_telemetry(
    c: &mut AnyConnection,
    site_id: &str,
    f: &TelemetryFilter,
    page: Page,
) -> StoreResult<Vec<PointRow>> {
    let mut q = telemetry::table
        .filter(telemetry::site_id.eq(site_id.to_owned()))
        .into_boxed();
    if let Some(t) = f.from {
        q = q.filter(telemetry::start_at.ge(t));
    }
    if let Some(t) = f.to {
        q = q.filter(telemetry::start_at.lt(t));
    }
    if let Some(p) = &f.payload_type {
        q = q.filter(telemetry::payload_type.eq(p.clone()));
    }
    if let Some(e) = &f.event_id {
        q = q.filter(telemetry::event_id.eq(e.clone()));
    }
    Ok(q.order((telemetry::start_at, telemetry::seq))
        .offset(page.skip)
        .limit(page.limit)
        .select((
            telemetry::site_id,
            telemetry::report_id,
            telemetry::event_id,
            telemetry::resource_name,
            telemetry::payload_type,
            telemetry::reading_type,
            telemetry::start_at,
            telemetry::end_at,
            telemetry::server_timed,
            telemetry::value,
            telemetry::unit,
            telemetry::state,
            telemetry::quality,
            telemetry::received_at,
        ))
        .load(c)?)
}

/// A report with unread payloads: report id, payloads skipped, reasons (JSON array), when received.
pub type RejectRow = (String, i32, String, NaiveDateTime);

/// How many of a site's reports had unread payloads, and the latest `n` of them.
pub fn site_rejects(c: &mut AnyConnection, site_id: &str, n: i64) -> StoreResult<(i64, Vec<RejectRow>)> {
    let count = report_rejects::table
        .filter(report_rejects::site_id.eq(site_id))
        .count()
        .get_result(c)?;
    let latest = report_rejects::table
        .filter(report_rejects::site_id.eq(site_id))
        .order((report_rejects::received_at.desc(), report_rejects::report_id.desc()))
        .limit(n)
        .select((
            report_rejects::report_id,
            report_rejects::skipped,
            report_rejects::problems,
            report_rejects::received_at,
        ))
        .load(c)?;
    Ok((count, latest))
}

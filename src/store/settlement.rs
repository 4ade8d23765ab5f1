//! Meter data, prices, settlement rules, runs and statements. Rows in, rows out; versions are
//! new rows, never updates.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::conn::AnyConnection;
use super::dialect::insert_many;
use super::error::StoreResult;
use super::schema::*;

/// Rows per multi-row INSERT: well under SQLite's bound-parameter limit at a dozen columns.
const INSERT_CHUNK: usize = 1000;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = meter_imports)]
pub struct ImportRow {
    pub id: String,
    pub format: String,
    pub file_name: Option<String>,
    pub readings: i64,
    pub new_intervals: i64,
    pub revised_intervals: i64,
    pub unchanged_intervals: i64,
    pub versions_written: i64,
    pub imported_by: String,
    pub imported_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = meter_days)]
pub struct MeterDayRow {
    pub site_id: String,
    pub channel: String,
    pub source: String,
    pub day: String,
    pub version: i32,
    pub interval_secs: i32,
    pub meter_id: Option<String>,
    pub kwh: String,
    pub quality: String,
    pub import_id: String,
    pub imported_at: NaiveDateTime,
}

pub fn insert_import(c: &mut AnyConnection, row: &ImportRow) -> StoreResult<()> {
    diesel::insert_into(meter_imports::table)
        .values(row.clone())
        .execute(c)?;
    Ok(())
}

pub fn insert_meter_days(c: &mut AnyConnection, rows: &[MeterDayRow]) -> StoreResult<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        insert_many!(c, meter_days::table, chunk)?;
    }
    Ok(())
}

/// The newest version of each day of one series within `[from, to]` (days as `YYYY-MM-DD`).
pub fn latest_days(
    c: &mut AnyConnection,
    site_id: &str,
    channel: &str,
    source: &str,
    from: &str,
    to: &str,
) -> StoreResult<HashMap<String, MeterDayRow>> {
    let rows: Vec<MeterDayRow> = meter_days::table
        .filter(meter_days::site_id.eq(site_id))
        .filter(meter_days::channel.eq(channel))
        .filter(meter_days::source.eq(source))
        .filter(meter_days::day.ge(from))
        .filter(meter_days::day.le(to))
        .order((meter_days::day, meter_days::version))
        .select(meter_days::all_columns)
        .load(c)?;
    // Ascending versions: the last one of each day stays.
    Ok(rows.into_iter().map(|r| (r.day.clone(), r)).collect())
}

/// The newest version of each day of `channel` (every source) for `sites` within `[from, to]`, ordered by
/// site, source and day.
pub fn latest_days_of_sites(
    c: &mut AnyConnection,
    sites: &[String],
    channel: &str,
    from: &str,
    to: &str,
) -> StoreResult<Vec<MeterDayRow>> {
    let rows: Vec<MeterDayRow> = meter_days::table
        .filter(meter_days::site_id.eq_any(sites))
        .filter(meter_days::channel.eq(channel))
        .filter(meter_days::day.ge(from))
        .filter(meter_days::day.le(to))
        .order((
            meter_days::site_id,
            meter_days::source,
            meter_days::day,
            meter_days::version,
        ))
        .select(meter_days::all_columns)
        .load(c)?;
    let mut out: Vec<MeterDayRow> = Vec::with_capacity(rows.len());
    for r in rows {
        match out.last_mut() {
            Some(last) if last.site_id == r.site_id && last.source == r.source && last.day == r.day => *last = r,
            _ => out.push(r),
        }
    }
    Ok(out)
}

/// Every stored version of one series' days within `[from, to]`, newest first per day (the audit view).
pub fn day_versions(
    c: &mut AnyConnection,
    site_id: &str,
    channel: &str,
    from: &str,
    to: &str,
) -> StoreResult<Vec<MeterDayRow>> {
    Ok(meter_days::table
        .filter(meter_days::site_id.eq(site_id))
        .filter(meter_days::channel.eq(channel))
        .filter(meter_days::day.ge(from))
        .filter(meter_days::day.le(to))
        .order((meter_days::day, meter_days::source, meter_days::version.desc()))
        .select(meter_days::all_columns)
        .load(c)?)
}

/// Sites by id or by name: the key a meter file may use for either.
pub fn resolve_sites(c: &mut AnyConnection, keys: &[String]) -> StoreResult<HashMap<String, String>> {
    let rows: Vec<(String, String)> = sites::table
        .filter(sites::id.eq_any(keys).or(sites::site_name.eq_any(keys)))
        .select((sites::id, sites::site_name))
        .load(c)?;
    let mut out = HashMap::new();
    for (id, name) in rows {
        out.insert(name, id.clone());
        out.insert(id.clone(), id);
    }
    Ok(out)
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = price_points)]
pub struct PriceRow {
    pub series: String,
    pub start_at: NaiveDateTime,
    pub end_at: NaiveDateTime,
    pub price: String,
}

/// Stores prices, replacing those of the same series and interval start.
pub fn upsert_prices(c: &mut AnyConnection, rows: &[PriceRow]) -> StoreResult<()> {
    for chunk in rows.chunks(INSERT_CHUNK) {
        let mut by_series: HashMap<&str, Vec<NaiveDateTime>> = HashMap::new();
        for r in chunk {
            by_series.entry(&r.series).or_default().push(r.start_at);
        }
        for (series, starts) in by_series {
            diesel::delete(
                price_points::table
                    .filter(price_points::series.eq(series))
                    .filter(price_points::start_at.eq_any(starts)),
            )
            .execute(c)?;
        }
        insert_many!(c, price_points::table, chunk)?;
    }
    Ok(())
}

pub fn prices_between(
    c: &mut AnyConnection,
    series: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<PriceRow>> {
    Ok(price_points::table
        .filter(price_points::series.eq(series))
        .filter(price_points::start_at.lt(to))
        .filter(price_points::end_at.gt(from))
        .order(price_points::start_at)
        .select(price_points::all_columns)
        .load(c)?)
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = settlement_rules)]
pub struct RulesRow {
    pub program_id: String,
    pub version: i32,
    pub rules: String,
    pub created_by: String,
    pub created_date_time: NaiveDateTime,
}

/// Adds the next version of a program's rules.
pub fn insert_rules(
    c: &mut AnyConnection,
    program_id: &str,
    rules: &str,
    by: &str,
    at: NaiveDateTime,
) -> StoreResult<RulesRow> {
    let newest: Option<i32> = settlement_rules::table
        .filter(settlement_rules::program_id.eq(program_id))
        .select(diesel::dsl::max(settlement_rules::version))
        .first(c)?;
    let row = RulesRow {
        program_id: program_id.into(),
        version: newest.unwrap_or(0) + 1,
        rules: rules.into(),
        created_by: by.into(),
        created_date_time: at,
    };
    diesel::insert_into(settlement_rules::table)
        .values(row.clone())
        .execute(c)?;
    Ok(row)
}

pub fn latest_rules(c: &mut AnyConnection, program_id: &str) -> StoreResult<Option<RulesRow>> {
    Ok(settlement_rules::table
        .filter(settlement_rules::program_id.eq(program_id))
        .order(settlement_rules::version.desc())
        .select(settlement_rules::all_columns)
        .first(c)
        .optional()?)
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = settlement_runs)]
pub struct RunRow {
    pub id: String,
    pub program_id: String,
    pub period_from: String,
    pub period_to: String,
    pub rule_version: i32,
    pub sites: i32,
    pub issued: i32,
    pub unchanged: i32,
    pub total: String,
    pub requested_by: String,
    pub created_date_time: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = statements)]
pub struct StatementRow {
    pub id: String,
    pub run_id: String,
    pub program_id: String,
    pub site_id: String,
    pub period_from: String,
    pub period_to: String,
    pub version: i32,
    pub kind: String,
    pub supersedes: Option<String>,
    pub rule_version: i32,
    pub total: String,
    pub body: String,
    pub created_date_time: NaiveDateTime,
}

pub fn insert_run(c: &mut AnyConnection, run: &RunRow, statements: &[StatementRow]) -> StoreResult<()> {
    diesel::insert_into(settlement_runs::table)
        .values(run.clone())
        .execute(c)?;
    for chunk in statements.chunks(INSERT_CHUNK / 4) {
        insert_many!(c, statements::table, chunk)?;
    }
    Ok(())
}

pub fn get_run(c: &mut AnyConnection, id: &str) -> StoreResult<RunRow> {
    Ok(settlement_runs::table
        .find(id)
        .select(settlement_runs::all_columns)
        .first(c)?)
}

/// The newest statement of each site of a program and period.
pub fn latest_statements(
    c: &mut AnyConnection,
    program_id: &str,
    from: &str,
    to: &str,
) -> StoreResult<HashMap<String, StatementRow>> {
    let rows: Vec<StatementRow> = statements::table
        .filter(statements::program_id.eq(program_id))
        .filter(statements::period_from.eq(from))
        .filter(statements::period_to.eq(to))
        .order((statements::site_id, statements::version))
        .select(statements::all_columns)
        .load(c)?;
    Ok(rows.into_iter().map(|r| (r.site_id.clone(), r)).collect())
}

pub fn get_statement(c: &mut AnyConnection, id: &str) -> StoreResult<StatementRow> {
    Ok(statements::table.find(id).select(statements::all_columns).first(c)?)
}

/// What lists of statements filter on; all optional.
#[derive(Debug, Default, Clone)]
pub struct StatementFilter {
    pub program_id: Option<String>,
    pub site_id: Option<String>,
    pub run_id: Option<String>,
}

/// Statements without their bodies, by period, site and version.
pub fn list_statements(
    c: &mut AnyConnection,
    f: &StatementFilter,
    page: crate::wire::Page,
) -> StoreResult<Vec<StatementRow>> {
    let mut q = statements::table.into_boxed();
    if let Some(p) = &f.program_id {
        q = q.filter(statements::program_id.eq(p.clone()));
    }
    if let Some(s) = &f.site_id {
        q = q.filter(statements::site_id.eq(s.clone()));
    }
    if let Some(r) = &f.run_id {
        q = q.filter(statements::run_id.eq(r.clone()));
    }
    Ok(q.order((
        statements::period_from.desc(),
        statements::program_id,
        statements::site_id,
        statements::version.desc(),
    ))
    .offset(page.skip)
    .limit(page.limit)
    .select(statements::all_columns)
    .load::<StatementRow>(c)?
    .into_iter()
    .map(|mut r| {
        r.body.clear();
        r
    })
    .collect())
}

/// The enrollments of a program in force at some time in `[from, to)`, with their sites, by site name.
pub fn enrolled_sites(
    c: &mut AnyConnection,
    program_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<(super::sites::EnrollmentRow, super::sites::SiteRow)>> {
    Ok(enrollments::table
        .inner_join(sites::table)
        .filter(enrollments::program_id.eq(program_id))
        .filter(enrollments::starts_at.lt(to))
        .filter(enrollments::ends_at.is_null().or(enrollments::ends_at.gt(from)))
        .order((sites::site_name, enrollments::starts_at, enrollments::id))
        .select((enrollments::all_columns, sites::all_columns))
        .load(c)?)
}

/// One site's part in a dispatch, as settlement reads it.
#[derive(Debug, Clone, Queryable)]
pub struct DispatchedRow {
    pub site_id: String,
    pub event_id: String,
    pub dispatch_id: String,
    pub program_id: String,
    pub direction: String,
    pub created_date_time: NaiveDateTime,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub allocated_mw: String,
}

/// Every dispatch of any program that started in `[from, to)` and ran (a dispatch cancelled before its
/// start has no time to settle), for `sites`.
pub fn dispatched_between(
    c: &mut AnyConnection,
    sites: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<DispatchedRow>> {
    let rows: Vec<DispatchedRow> = dispatch_sites::table
        .inner_join(dispatches::table)
        .filter(dispatch_sites::site_id.eq_any(sites))
        .filter(dispatches::starts_at.ge(from))
        .filter(dispatches::starts_at.lt(to))
        .order((dispatch_sites::site_id, dispatches::starts_at, dispatch_sites::event_id))
        .select((
            dispatch_sites::site_id,
            dispatch_sites::event_id,
            dispatches::id,
            dispatches::program_id,
            dispatches::direction,
            dispatches::created_date_time,
            dispatches::starts_at,
            dispatches::ends_at,
            dispatch_sites::allocated_mw,
        ))
        .load(c)?;
    Ok(rows.into_iter().filter(|r| r.ends_at > r.starts_at).collect())
}

/// An event sent to an enrolled site outside a dispatch (through the OpenADR API), as response latency
/// tracks it: which site, when it ran, and the event as stored.
#[derive(Debug, Clone)]
pub struct SentRow {
    pub site_id: String,
    pub event_id: String,
    pub program_id: String,
    pub created_date_time: NaiveDateTime,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub body: String,
}

/// Every event that started in `[from, to)`, reached one of `sites` and is no dispatch's: the (event,
/// site) pairs response latency tracks (it decides which enrolled sites may read an event), with an end.
pub fn sent_between(
    c: &mut AnyConnection,
    sites: &[String],
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<SentRow>> {
    let pairs: Vec<(String, String, NaiveDateTime, Option<NaiveDateTime>)> = event_latency::table
        .filter(event_latency::site_id.eq_any(sites))
        .filter(event_latency::event_start.ge(from))
        .filter(event_latency::event_start.lt(to))
        .filter(diesel::dsl::not(
            event_latency::event_id.eq_any(dispatch_sites::table.select(dispatch_sites::event_id)),
        ))
        .order((
            event_latency::site_id,
            event_latency::event_start,
            event_latency::event_id,
        ))
        .select((
            event_latency::site_id,
            event_latency::event_id,
            event_latency::event_start,
            event_latency::event_end,
        ))
        .load(c)?;
    let mut ids: Vec<&str> = pairs.iter().map(|p| p.1.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut found: HashMap<String, (String, NaiveDateTime, String)> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String, NaiveDateTime, String)> = events::table
            .filter(events::id.eq_any(chunk))
            .select((events::id, events::program_id, events::created_date_time, events::body))
            .load(c)?;
        found.extend(rows.into_iter().map(|(id, p, t, b)| (id, (p, t, b))));
    }
    Ok(pairs
        .into_iter()
        .filter_map(|(site_id, event_id, starts_at, ends_at)| {
            let (program_id, created, body) = found.get(&event_id)?.clone();
            Some(SentRow {
                site_id,
                event_id,
                program_id,
                created_date_time: created,
                starts_at,
                ends_at: ends_at.filter(|e| *e > starts_at)?,
                body,
            })
        })
        .collect())
}

/// Records what an import did, once it has done it.
pub fn finish_import(c: &mut AnyConnection, row: &ImportRow) -> StoreResult<()> {
    diesel::update(meter_imports::table.find(&row.id))
        .set((
            meter_imports::readings.eq(row.readings),
            meter_imports::new_intervals.eq(row.new_intervals),
            meter_imports::revised_intervals.eq(row.revised_intervals),
            meter_imports::unchanged_intervals.eq(row.unchanged_intervals),
            meter_imports::versions_written.eq(row.versions_written),
        ))
        .execute(c)?;
    Ok(())
}

/// A program's id, given its id or its name.
pub fn program_by_id_or_name(c: &mut AnyConnection, key: &str) -> StoreResult<Option<String>> {
    Ok(programs::table
        .filter(programs::id.eq(key).or(programs::program_name.eq(key)))
        .order(programs::id.ne(key))
        .select(programs::id)
        .first(c)
        .optional()?)
}

/// A site's power telemetry starting in `[from, to)`, in MW: DEMAND as reported, and USAGE (MWh over its
/// interval) as the mean power of its interval. What stands in for missing meter data.
pub fn demand_points(
    c: &mut AnyConnection,
    site_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<(NaiveDateTime, f64)>> {
    let rows: Vec<(NaiveDateTime, Option<NaiveDateTime>, Option<f64>, String)> = telemetry::table
        .filter(telemetry::site_id.eq(site_id))
        .filter(telemetry::payload_type.eq_any(["DEMAND", "USAGE"]))
        .filter(telemetry::start_at.ge(from))
        .filter(telemetry::start_at.lt(to))
        .order(telemetry::start_at)
        .select((
            telemetry::start_at,
            telemetry::end_at,
            telemetry::value,
            telemetry::payload_type,
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .filter_map(|(start, end, value, kind)| {
            let v = value.filter(|v| v.is_finite())?;
            if kind == "DEMAND" {
                return Some((start, v));
            }
            let hours = (end? - start).num_seconds() as f64 / 3600.0;
            (hours > 0.0).then(|| (start, v / hours))
        })
        .collect())
}

/// The statements a run issued, whole, by site.
pub fn statements_of_run(c: &mut AnyConnection, run_id: &str) -> StoreResult<Vec<StatementRow>> {
    Ok(statements::table
        .filter(statements::run_id.eq(run_id))
        .order((statements::site_id, statements::version))
        .select(statements::all_columns)
        .load(c)?)
}

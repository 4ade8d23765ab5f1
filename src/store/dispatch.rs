//! Dispatches, their sites, first sight of events by polling, and response latency per (event, site).

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::conn::AnyConnection;
use super::dialect::{insert_many, insert_many_or_ignore};
use super::error::StoreResult;
use super::schema::*;
use crate::wire::Page;

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = dispatches)]
pub struct DispatchRow {
    pub id: String,
    pub program_id: String,
    pub direction: String,
    pub target_mw: String,
    pub planned_mw: String,
    pub shortfall_mw: String,
    pub starts_at: NaiveDateTime,
    pub ends_at: NaiveDateTime,
    pub duration: String,
    pub response_time: Option<String>,
    pub payload_type: String,
    pub state: String,
    pub requested_by: String,
    pub skipped: String,
    pub created_date_time: NaiveDateTime,
    pub modification_date_time: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Insertable)]
#[diesel(table_name = dispatch_sites)]
pub struct DispatchSiteRow {
    pub dispatch_id: String,
    pub site_id: String,
    pub enrollment_id: String,
    pub event_id: String,
    pub merit_rank: i32,
    pub allocated_mw: String,
    pub reference_mw: String,
    pub level_mw: String,
}

/// Response latency of one site to one event.
#[derive(Debug, Clone, Queryable, Insertable, AsChangeset)]
#[diesel(table_name = event_latency)]
#[diesel(treat_none_as_null = true)]
pub struct LatencyRow {
    pub event_id: String,
    pub site_id: String,
    pub committed_mw: f64,
    pub load_up: bool,
    pub event_start: NaiveDateTime,
    pub event_end: Option<NaiveDateTime>,
    pub notified_at: Option<NaiveDateTime>,
    pub notified_via: Option<String>,
    pub acked_at: Option<NaiveDateTime>,
    pub baseline_mw: Option<f64>,
    pub t_ack_secs: Option<f64>,
    pub t_start_secs: Option<f64>,
    pub t10_secs: Option<f64>,
    pub t50_secs: Option<f64>,
    pub t90_secs: Option<f64>,
    pub t100_secs: Option<f64>,
    pub ramp_mw_per_min: Option<f64>,
    pub sustain: Option<f64>,
    pub snapback_mw: Option<f64>,
    pub early_mw: Option<f64>,
    pub max_reduction_mw: Option<f64>,
    pub last_load_mw: Option<f64>,
    pub last_load_at: Option<NaiveDateTime>,
    pub computed_at: Option<NaiveDateTime>,
}

impl LatencyRow {
    /// A row for an event just sent: nothing measured yet.
    pub fn new(
        event_id: String,
        site_id: String,
        committed_mw: f64,
        load_up: bool,
        event_start: NaiveDateTime,
        event_end: Option<NaiveDateTime>,
    ) -> Self {
        Self {
            event_id,
            site_id,
            committed_mw,
            load_up,
            event_start,
            event_end,
            notified_at: None,
            notified_via: None,
            acked_at: None,
            baseline_mw: None,
            t_ack_secs: None,
            t_start_secs: None,
            t10_secs: None,
            t50_secs: None,
            t90_secs: None,
            t100_secs: None,
            ramp_mw_per_min: None,
            sustain: None,
            snapback_mw: None,
            early_mw: None,
            max_reduction_mw: None,
            last_load_mw: None,
            last_load_at: None,
            computed_at: None,
        }
    }
}

pub fn insert_dispatch(
    c: &mut AnyConnection,
    d: &DispatchRow,
    sites: &[DispatchSiteRow],
    latency: &[LatencyRow],
) -> StoreResult<()> {
    diesel::insert_into(dispatches::table).values(d.clone()).execute(c)?;
    // Bounded statements: SQLite allows at most 32,766 bind values per statement.
    for chunk in sites.chunks(1000) {
        insert_many!(c, dispatch_sites::table, chunk)?;
    }
    for chunk in latency.chunks(500) {
        insert_many!(c, event_latency::table, chunk)?;
    }
    Ok(())
}

pub fn get_dispatch(c: &mut AnyConnection, id: &str) -> StoreResult<DispatchRow> {
    Ok(dispatches::table.find(id).first(c)?)
}

/// Newest first.
pub fn list_dispatches(c: &mut AnyConnection, page: Page) -> StoreResult<Vec<DispatchRow>> {
    Ok(dispatches::table
        .order((dispatches::created_date_time.desc(), dispatches::id.desc()))
        .offset(page.skip)
        .limit(page.limit)
        .load(c)?)
}

/// A dispatch's sites in merit order, with their names and latency rows.
pub fn dispatch_sites(
    c: &mut AnyConnection,
    dispatch_id: &str,
) -> StoreResult<Vec<(DispatchSiteRow, String, Option<LatencyRow>)>> {
    let rows: Vec<(DispatchSiteRow, String)> = dispatch_sites::table
        .inner_join(sites::table)
        .filter(dispatch_sites::dispatch_id.eq(dispatch_id))
        .order(dispatch_sites::merit_rank)
        .select((dispatch_sites::all_columns, sites::site_name))
        .load(c)?;
    let events: Vec<String> = rows.iter().map(|(r, _)| r.event_id.clone()).collect();
    let mut latency: std::collections::HashMap<(String, String), LatencyRow> = std::collections::HashMap::new();
    for chunk in events.chunks(1000) {
        let found: Vec<LatencyRow> = event_latency::table
            .filter(event_latency::event_id.eq_any(chunk))
            .load(c)?;
        for l in found {
            latency.insert((l.event_id.clone(), l.site_id.clone()), l);
        }
    }
    Ok(rows
        .into_iter()
        .map(|(r, name)| {
            let l = latency.remove(&(r.event_id.clone(), r.site_id.clone()));
            (r, name, l)
        })
        .collect())
}

pub fn set_dispatch_state(
    c: &mut AnyConnection,
    id: &str,
    state: &str,
    ends_at: NaiveDateTime,
    now: NaiveDateTime,
) -> StoreResult<()> {
    diesel::update(dispatches::table.find(id))
        .set((
            dispatches::state.eq(state),
            dispatches::ends_at.eq(ends_at),
            dispatches::modification_date_time.eq(now),
        ))
        .execute(c)?;
    Ok(())
}

/// How many active dispatches since `since` asked an enrollment for MW.
pub fn dispatches_of_enrollment_since(
    c: &mut AnyConnection,
    enrollment_id: &str,
    since: NaiveDateTime,
) -> StoreResult<i64> {
    Ok(dispatch_sites::table
        .inner_join(dispatches::table)
        .filter(dispatch_sites::enrollment_id.eq(enrollment_id))
        .filter(dispatches::state.eq("ACTIVE"))
        .filter(dispatches::starts_at.ge(since))
        .count()
        .get_result(c)?)
}

/// MW already asked of an enrollment by active dispatches overlapping `[start, end)`.
pub fn allocated_overlapping(
    c: &mut AnyConnection,
    enrollment_id: &str,
    start: NaiveDateTime,
    end: NaiveDateTime,
) -> StoreResult<Vec<String>> {
    Ok(dispatch_sites::table
        .inner_join(dispatches::table)
        .filter(dispatch_sites::enrollment_id.eq(enrollment_id))
        .filter(dispatches::state.eq("ACTIVE"))
        .filter(dispatches::starts_at.lt(end))
        .filter(dispatches::ends_at.gt(start))
        .select(dispatch_sites::allocated_mw)
        .load(c)?)
}

/// The latest power sample of a site at or after `since`: (MW, time).
pub fn latest_demand(
    c: &mut AnyConnection,
    site_id: &str,
    since: NaiveDateTime,
) -> StoreResult<Option<(f64, NaiveDateTime)>> {
    let row: Option<(Option<f64>, NaiveDateTime)> = telemetry::table
        .filter(telemetry::site_id.eq(site_id))
        .filter(telemetry::payload_type.eq("DEMAND"))
        .filter(telemetry::start_at.ge(since))
        .order(telemetry::start_at.desc())
        .select((telemetry::value, telemetry::start_at))
        .first(c)
        .optional()?;
    Ok(row.and_then(|(v, t)| v.map(|v| (v, t))))
}

/// A past event of a site, for merit order: (site, committed MW, largest reduction, T90).
pub type History = (String, f64, Option<f64>, Option<f64>);

/// Past latency rows of sites (for reliability and speed in merit order).
pub fn latency_history(
    c: &mut AnyConnection,
    site_ids: &[String],
    since: NaiveDateTime,
    before: NaiveDateTime,
) -> StoreResult<Vec<History>> {
    let mut out = Vec::new();
    for chunk in site_ids.chunks(1000) {
        let rows: Vec<History> = event_latency::table
            .filter(event_latency::site_id.eq_any(chunk))
            .filter(event_latency::event_start.ge(since))
            .filter(event_latency::event_end.lt(before))
            .select((
                event_latency::site_id,
                event_latency::committed_mw,
                event_latency::max_reduction_mw,
                event_latency::t90_secs,
            ))
            .load(c)?;
        out.extend(rows);
    }
    Ok(out)
}

/// The dispatch-site rows of one dispatch (for cancelling).
pub fn sites_of_dispatch(c: &mut AnyConnection, dispatch_id: &str) -> StoreResult<Vec<DispatchSiteRow>> {
    Ok(dispatch_sites::table
        .filter(dispatch_sites::dispatch_id.eq(dispatch_id))
        .order(dispatch_sites::merit_rank)
        .load(c)?)
}

pub fn end_latency(c: &mut AnyConnection, event_id: &str, end: NaiveDateTime) -> StoreResult<()> {
    diesel::update(event_latency::table.filter(event_latency::event_id.eq(event_id)))
        .set(event_latency::event_end.eq(end))
        .execute(c)?;
    Ok(())
}

pub fn delete_latency(c: &mut AnyConnection, event_id: &str) -> StoreResult<()> {
    diesel::delete(event_latency::table.filter(event_latency::event_id.eq(event_id))).execute(c)?;
    Ok(())
}

/// Records first sight of events by polling clients (earliest wins).
pub fn record_seen(c: &mut AnyConnection, seen: &[(String, String, NaiveDateTime)]) -> StoreResult<()> {
    for chunk in seen.chunks(1000) {
        let rows: Vec<_> = chunk
            .iter()
            .map(|(e, client, at)| {
                (
                    event_seen::event_id.eq(e.clone()),
                    event_seen::client_id.eq(client.clone()),
                    event_seen::seen_at.eq(*at),
                )
            })
            .collect();
        insert_many_or_ignore!(c, event_seen::table, rows)?;
    }
    Ok(())
}

/// `t + d`, held within the years 0001 to 9999 (the range of accepted date-times, `wire::in_range`):
/// a bound of a query never overflows, whatever an old row holds, and both databases can compare it.
fn shifted(t: NaiveDateTime, d: chrono::Duration) -> NaiveDateTime {
    let bound = |y, m, day, h, min, sec| {
        chrono::NaiveDate::from_ymd_opt(y, m, day)
            .and_then(|date| date.and_hms_opt(h, min, sec))
            .unwrap_or_default()
    };
    let (lo, hi) = (bound(1, 1, 1, 0, 0, 0), bound(9999, 12, 31, 23, 59, 59));
    match t.checked_add_signed(d) {
        Some(t) => t.clamp(lo, hi),
        None if d < chrono::Duration::zero() => lo,
        None => hi,
    }
}

/// Latency rows to recompute: those of the given sites whose window (from `margin` before the event to
/// `margin` after its end) contains a moment in `[from, to]`.
pub fn latency_rows_touching(
    c: &mut AnyConnection,
    site_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    margin: chrono::Duration,
) -> StoreResult<Vec<LatencyRow>> {
    Ok(event_latency::table
        .filter(event_latency::site_id.eq(site_id))
        .filter(event_latency::event_start.le(shifted(to, margin)))
        .filter(
            event_latency::event_end
                .is_null()
                .or(event_latency::event_end.ge(shifted(from, -margin))),
        )
        .load(c)?)
}

/// Latency rows of events that are on now (or ended within `margin`), or not yet computed.
pub fn open_latency_rows(
    c: &mut AnyConnection,
    now: NaiveDateTime,
    margin: chrono::Duration,
) -> StoreResult<Vec<LatencyRow>> {
    Ok(event_latency::table
        .filter(
            event_latency::computed_at
                .is_null()
                .or(event_latency::event_start.le(shifted(now, margin)).and(
                    event_latency::event_end
                        .is_null()
                        .or(event_latency::event_end.ge(shifted(now, -margin))),
                )),
        )
        .load(c)?)
}

pub fn save_latency(c: &mut AnyConnection, row: &LatencyRow) -> StoreResult<()> {
    diesel::update(event_latency::table.find((&row.event_id, &row.site_id)))
        .set(row.clone())
        .execute(c)?;
    Ok(())
}

/// New telemetry of one site: (site, earliest start, latest start, highest seq).
pub type NewTelemetry = (String, Option<NaiveDateTime>, Option<NaiveDateTime>, Option<i64>);

/// Sites with telemetry stored after `seq`.
pub fn telemetry_since(c: &mut AnyConnection, seq: i64) -> StoreResult<Vec<NewTelemetry>> {
    use diesel::dsl::{max, min};
    Ok(telemetry::table
        .filter(telemetry::seq.gt(seq))
        .group_by(telemetry::site_id)
        .select((
            telemetry::site_id,
            min(telemetry::start_at),
            max(telemetry::start_at),
            max(telemetry::seq),
        ))
        .load(c)?)
}

pub fn max_telemetry_seq(c: &mut AnyConnection) -> StoreResult<i64> {
    use diesel::dsl::max;
    Ok(telemetry::table
        .select(max(telemetry::seq))
        .first::<Option<i64>>(c)?
        .unwrap_or(0))
}

/// A load sample: (payload type, start, end, value).
pub type LoadSample = (String, NaiveDateTime, Option<NaiveDateTime>, f64);

/// A site's DEMAND and USAGE samples in `[from, to)`, oldest first.
pub fn load_samples(
    c: &mut AnyConnection,
    site_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<LoadSample>> {
    let rows: Vec<(String, NaiveDateTime, Option<NaiveDateTime>, Option<f64>)> = telemetry::table
        .filter(telemetry::site_id.eq(site_id))
        .filter(telemetry::payload_type.eq_any(["DEMAND", "USAGE"]))
        .filter(telemetry::start_at.ge(from))
        .filter(telemetry::start_at.lt(to))
        .order((telemetry::start_at, telemetry::seq))
        .select((
            telemetry::payload_type,
            telemetry::start_at,
            telemetry::end_at,
            telemetry::value,
        ))
        .load(c)?;
    Ok(rows
        .into_iter()
        .filter_map(|(t, s, e, v)| v.map(|v| (t, s, e, v)))
        .collect())
}

/// When the event's notification first reached a client: (time, channel).
pub fn first_delivery(
    c: &mut AnyConnection,
    event_id: &str,
    client_id: &str,
) -> StoreResult<Option<(NaiveDateTime, String)>> {
    let row: Option<(Option<NaiveDateTime>, String)> = notifications::table
        .filter(notifications::object_id.eq(event_id))
        .filter(notifications::client_id.eq(client_id))
        .filter(notifications::state.eq("delivered"))
        .order(notifications::finished_at)
        .select((notifications::finished_at, notifications::channel))
        .first(c)
        .optional()?;
    Ok(row.and_then(|(t, ch)| t.map(|t| (t, ch))))
}

pub fn first_seen(c: &mut AnyConnection, event_id: &str, client_id: &str) -> StoreResult<Option<NaiveDateTime>> {
    Ok(event_seen::table
        .find((event_id, client_id))
        .select(event_seen::seen_at)
        .first(c)
        .optional()?)
}

/// The first report a client made on an event.
pub fn first_report(c: &mut AnyConnection, event_id: &str, client_id: &str) -> StoreResult<Option<NaiveDateTime>> {
    use diesel::dsl::min;
    Ok(reports::table
        .filter(reports::event_id.eq(event_id))
        .filter(reports::client_id.eq(client_id))
        .select(min(reports::created_date_time))
        .first(c)?)
}

/// Latency rows of a site whose events started in `[from, to)`.
pub fn site_latency(
    c: &mut AnyConnection,
    site_id: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> StoreResult<Vec<LatencyRow>> {
    Ok(event_latency::table
        .filter(event_latency::site_id.eq(site_id))
        .filter(event_latency::event_start.ge(from))
        .filter(event_latency::event_start.lt(to))
        .order((event_latency::event_start, event_latency::event_id))
        .limit(10_000)
        .load(c)?)
}

pub fn event_latency_rows(c: &mut AnyConnection, event_id: &str) -> StoreResult<Vec<(LatencyRow, String)>> {
    Ok(event_latency::table
        .inner_join(sites::table)
        .filter(event_latency::event_id.eq(event_id))
        .order(sites::site_name)
        .select((event_latency::all_columns, sites::site_name))
        .load(c)?)
}

/// An event as the latency pass reads it: (id, program, body, targets JSON).
pub type NewEvent = (String, String, String, Option<String>);

/// Events of programs with enrolled sites whose id was minted at or after `since` (wall clock; ids are
/// UUIDv7, so this walks the primary key instead of scanning the table) and that have not ended before
/// `ended_after`. Events of programs nobody is enrolled in are never read.
pub fn events_created_since(
    c: &mut AnyConnection,
    since: chrono::DateTime<chrono::Utc>,
    ended_after: NaiveDateTime,
) -> StoreResult<Vec<NewEvent>> {
    Ok(events::table
        .filter(events::id.ge(uuid_v7_floor(since)))
        .filter(events::program_id.eq_any(enrollments::table.select(enrollments::program_id)))
        .filter(events::ends_at.is_null().or(events::ends_at.ge(ended_after)))
        .order(events::id)
        .select((events::id, events::program_id, events::body, events::targets))
        .load(c)?)
}

/// The smallest UUIDv7 string minted at `t`: v7 ids sort by their millisecond timestamp as text.
fn uuid_v7_floor(t: chrono::DateTime<chrono::Utc>) -> String {
    let ms = u64::try_from(t.timestamp_millis()).unwrap_or(0);
    format!("{:08x}-{:04x}-0000-0000-000000000000", ms >> 16, ms & 0xffff)
}

/// Whether an event already has latency rows (a dispatch's, or tracked before).
pub fn has_latency(c: &mut AnyConnection, event_id: &str) -> StoreResult<bool> {
    use diesel::dsl::exists;
    Ok(diesel::select(exists(
        event_latency::table.filter(event_latency::event_id.eq(event_id)),
    ))
    .get_result(c)?)
}

/// Adds latency rows, keeping any that exist (several instances may track the same event).
pub fn insert_latency(c: &mut AnyConnection, rows: &[LatencyRow]) -> StoreResult<()> {
    for chunk in rows.chunks(500) {
        insert_many_or_ignore!(c, event_latency::table, chunk)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::uuid_v7_floor;

    #[test]
    fn the_v7_floor_of_a_moment_sorts_between_ids_minted_before_and_after_it() {
        let at = |ms: u64| {
            let ts = uuid::Timestamp::from_unix(
                uuid::NoContext,
                ms / 1000,
                u32::try_from(ms % 1000).unwrap() * 1_000_000,
            );
            uuid::Uuid::new_v7(ts).to_string()
        };
        let t = chrono::DateTime::from_timestamp_millis(1_798_000_000_123).unwrap();
        let floor = uuid_v7_floor(t);
        assert!(
            at(1_798_000_000_122) < floor,
            "an id of the millisecond before sorts below"
        );
        assert!(
            floor <= at(1_798_000_000_123),
            "an id of that millisecond sorts at or above"
        );
        assert!(floor < at(1_798_000_000_124));
    }
}

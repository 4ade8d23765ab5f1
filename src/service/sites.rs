//! Flexible-load sites and their enrollments (operator API under `/ops/`), and the telemetry read from
//! their VENs' reports. Operator scopes only: `read_all` to read, `write_programs` to change.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::auth::Principal;
use crate::error::AppError;
use crate::flex::calendar::{self, Commitment, Conflict, Direction, Window};
use crate::flex::telemetry::Parsed;
use crate::store::dialect;
use crate::store::repo::{self, from_naive, to_naive};
use crate::store::sites::{self as db, EnrollmentFilter, EnrollmentRow, PointRow, SiteRow, TelemetryFilter};
use crate::store::{AnyConnection, StoreError, StoreResult};
use crate::wire::Name;
use crate::wire::Page;
use crate::wire::query::{self, EnrollmentQuery, TelemetryQuery};
use crate::wire::sites::{
    Enrollment, EnrollmentRequest, ReportReject, Site, SiteKind, SiteRequest, SiteTelemetry, TelemetryPoint,
};
use crate::wire::{ObjectId, Operation, WireDuration, format_time};

use super::AppState;
use super::audit::Subject;

/// Most decimal places kept of a megawatt or price figure.
const MAX_SCALE: u32 = 6;

/// The largest megawatt or price figure accepted: a billion is a typo or an attack on any grid, and the
/// bound keeps every sum and product of such figures (capacity checks, settlement) exact.
pub(crate) const MAX_FIGURE: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);

fn decimal(name: &str, v: Decimal, positive: bool) -> Result<Decimal, String> {
    if v.scale() > MAX_SCALE {
        return Err(format!("{name} has more than {MAX_SCALE} decimal places"));
    }
    if v.is_sign_negative() && !v.is_zero() {
        return Err(format!("{name} must not be negative"));
    }
    if positive && v.is_zero() {
        return Err(format!("{name} must be positive"));
    }
    if v > MAX_FIGURE {
        return Err(format!("{name} must not exceed {MAX_FIGURE}"));
    }
    // Kept as written (`120.50` stays `120.50`), like durations: exact, and what the operator recognizes.
    Ok(v)
}

/// A stored decimal column.
pub(crate) fn parse_decimal(s: &str) -> StoreResult<Decimal> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{s:?} is not a decimal")))
}

fn bad(errs: Vec<String>) -> Result<(), AppError> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(AppError::BadRequest(errs.join("; ")))
    }
}

// ---------------------------------------------------------------------------------------------- sites

fn site_row(id: String, req: &SiteRequest, now: DateTime<Utc>) -> Result<SiteRow, AppError> {
    let mut errs = Vec::new();
    let max = decimal("maxImportMW", req.max_import_mw, true).unwrap_or_else(|e| {
        errs.push(e);
        Decimal::ZERO
    });
    if let Some(l) = req.latitude
        && !(-90.0..=90.0).contains(&l)
    {
        errs.push("latitude must be within -90..=90".into());
    }
    if let Some(l) = req.longitude
        && !(-180.0..=180.0).contains(&l)
    {
        errs.push("longitude must be within -180..=180".into());
    }
    let tz = req.time_zone.clone().unwrap_or_else(|| "UTC".into());
    if tz.parse::<chrono_tz::Tz>().is_err() {
        errs.push(format!(
            "timeZone {tz:?} is not an IANA time zone such as America/Chicago"
        ));
    }
    bad(errs)?;
    Ok(SiteRow {
        id,
        site_name: req.site_name.as_str().to_owned(),
        ven_id: req.ven_id.as_str().to_owned(),
        kind: req.kind.as_str().to_owned(),
        max_import_mw: max.to_string(),
        meter_id: req.meter_id.as_ref().map(|m| m.as_str().to_owned()),
        location: req.location.as_ref().map(ToString::to_string),
        latitude: req.latitude,
        longitude: req.longitude,
        time_zone: tz,
        created_date_time: to_naive(now),
        modification_date_time: to_naive(now),
    })
}

fn site(row: SiteRow, client_id: String) -> StoreResult<Site> {
    Ok(Site {
        kind: SiteKind::parse(&row.kind).ok_or_else(|| StoreError::Corrupt(format!("site kind {:?}", row.kind)))?,
        max_import_mw: parse_decimal(&row.max_import_mw)?,
        target: crate::privacy::site_target(&row.id),
        id: row.id,
        site_name: row.site_name,
        ven_id: row.ven_id,
        client_id,
        meter_id: row.meter_id,
        location: row.location,
        latitude: row.latitude,
        longitude: row.longitude,
        time_zone: row.time_zone,
        created_date_time: format_time(&from_naive(row.created_date_time)),
        modification_date_time: format_time(&from_naive(row.modification_date_time)),
    })
}

/// The clientID of the ven a site names; a missing ven is the operator's mistake (409, as for any
/// reference to an object that does not exist).
fn ven_of(c: &mut AnyConnection, ven_id: &str) -> Result<String, AppError> {
    match repo::ven_client(c, ven_id) {
        Err(StoreError::NotFound) => Err(AppError::Conflict(format!("venID {ven_id:?} names no ven"))),
        other => Ok(other?),
    }
}

fn site_conflict(e: StoreError, req: &SiteRequest) -> AppError {
    match e {
        StoreError::Conflict(c) if c.contains("site_name") => AppError::Conflict(format!(
            "siteName {:?} is already used by another site",
            req.site_name.as_str()
        )),
        StoreError::Conflict(c) if c.contains("ven_id") => AppError::Conflict(format!(
            "ven {:?} is already a site; one site per ven",
            req.ven_id.as_str()
        )),
        other => other.into(),
    }
}

pub async fn create_site(state: &AppState, req: SiteRequest) -> Result<Site, AppError> {
    let row = site_row(ObjectId::generate().into_string(), &req, state.clock.now())?;
    state
        .commit(move |tx| {
            let client = ven_of(tx, &row.ven_id)?;
            db::insert_site(tx, &row).map_err(|e| site_conflict(e, &req))?;
            // The site's target is now granted to its ven.
            tx.changed_grants();
            let created = site(row.clone(), client)?;
            tx.audited(Subject::of("SITE", &row.id, Operation::Create, &created));
            Ok(created)
        })
        .await
}

pub async fn update_site(state: &AppState, id: String, req: SiteRequest) -> Result<Site, AppError> {
    let row = site_row(id.clone(), &req, state.clock.now())?;
    state
        .commit(move |tx| {
            dialect::lock_site(tx, &row.id)?;
            let client = ven_of(tx, &row.ven_id)?;
            let stored = db::update_site(tx, &row).map_err(|e| site_conflict(e, &req))?;
            // A smaller site may no longer carry what it committed.
            let capacity = parse_decimal(&stored.max_import_mw)?;
            let all = commitments(&db::site_enrollments(tx, &stored.id)?)?;
            for e in &all {
                check_calendar(e, &all, capacity)?;
            }
            // The site's target may have moved to another ven.
            tx.changed_grants();
            let updated = site(stored, client)?;
            tx.audited(Subject::of("SITE", &row.id, Operation::Update, &updated));
            Ok(updated)
        })
        .await
        .map_err(|e| e.with_not_found("site", &id))
}

pub async fn delete_site(state: &AppState, id: String) -> Result<Site, AppError> {
    let id2 = id.clone();
    state
        .commit(move |tx| {
            let enrolled = db::count_enrollments(tx, Some(&id2), None)?;
            if enrolled > 0 {
                return Err(AppError::Conflict(format!(
                    "site {id2:?} has {enrolled} enrollment(s); delete them first"
                )));
            }
            let row = db::delete_site(tx, &id2)?;
            let client = repo::ven_client(tx, &row.ven_id)?;
            tx.changed_grants();
            tx.audited(Subject::of("SITE", &id2, Operation::Delete, &()));
            Ok(site(row, client)?)
        })
        .await
        .map_err(|e| e.with_not_found("site", &id))
}

pub async fn get_site(state: &AppState, id: String) -> Result<Site, AppError> {
    let id2 = id.clone();
    state
        .db
        .read(move |c| {
            let row = db::get_site(c, &id2)?;
            let client = repo::ven_client(c, &row.ven_id)?;
            site(row, client)
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("site", &id))
}

pub async fn list_sites(state: &AppState, page: Page) -> Result<Vec<Site>, AppError> {
    Ok(state
        .db
        .read(move |c| {
            db::list_sites(c, page)?
                .into_iter()
                .map(|(row, client)| site(row, client))
                .collect()
        })
        .await?)
}

/// The site a client's ven is, if any (cached per generation: every report asks).
pub async fn site_of(state: &AppState, who: &Principal) -> Result<Option<Arc<str>>, AppError> {
    if let Some(s) = state.cache.site(&who.client_id) {
        return Ok(s);
    }
    let generation = state.cache.generation();
    let client = who.client_id.clone();
    let s: Option<Arc<str>> = state
        .db
        .read(move |c| db::site_of_client(c, &client))
        .await?
        .map(Into::into);
    state.cache.put_site(&who.client_id, generation, s.clone());
    Ok(s)
}

// ---------------------------------------------------------------------------------------- enrollments

fn duration(name: &str, d: Option<&WireDuration>, errs: &mut Vec<String>) -> Option<String> {
    let d = d?;
    match d.to_chrono() {
        Some(span) if span >= chrono::Duration::zero() => Some(d.as_str().to_owned()),
        _ => {
            errs.push(format!("{name} must be a finite, non-negative duration"));
            None
        }
    }
}

fn enrollment_row(id: String, req: &EnrollmentRequest, now: DateTime<Utc>) -> Result<EnrollmentRow, AppError> {
    let mut errs = Vec::new();
    let mut dec = |name: &str, v: Decimal| {
        decimal(name, v, false).unwrap_or_else(|e| {
            errs.push(e);
            Decimal::ZERO
        })
    };
    let shed = dec("shedMW", req.shed_mw);
    let up = dec("loadUpMW", req.load_up_mw);
    let fsl = req.firm_service_level_mw.map(|v| dec("firmServiceLevelMW", v));
    let price = if req.offer_price.scale() > MAX_SCALE {
        errs.push(format!("offerPrice has more than {MAX_SCALE} decimal places"));
        Decimal::ZERO
    } else if req.offer_price.abs() > MAX_FIGURE {
        errs.push(format!("offerPrice must lie within ±{MAX_FIGURE}"));
        Decimal::ZERO
    } else {
        req.offer_price
    };
    if shed.is_zero() && up.is_zero() {
        errs.push("an enrollment commits shedMW, loadUpMW or both".into());
    }
    let notice = duration("notice", req.notice.as_ref(), &mut errs).unwrap_or_else(|| "PT0S".into());
    let ramp = duration("ramp", req.ramp.as_ref(), &mut errs).unwrap_or_else(|| "PT0S".into());
    let max_duration = duration("maxEventDuration", req.max_event_duration.as_ref(), &mut errs);
    let period = duration("maxEventsPeriod", req.max_events_period.as_ref(), &mut errs);
    if req.max_events.is_some() != req.max_events_period.is_some() {
        errs.push("maxEvents and maxEventsPeriod go together".into());
    }
    if let Some(end) = &req.end
        && end.0 <= req.start.0
    {
        errs.push("end must be after start".into());
    }
    if req.availability.len() > 100 {
        errs.push("at most 100 availability windows".into());
    }
    if req.availability.iter().any(|w| w.days.is_empty()) {
        errs.push("an availability window names at least one day".into());
    }
    bad(errs)?;
    Ok(EnrollmentRow {
        id,
        site_id: req.site_id.as_str().to_owned(),
        program_id: req.program_id.as_str().to_owned(),
        shed_mw: shed.to_string(),
        load_up_mw: up.to_string(),
        firm_service_level_mw: fsl.map(|v| v.to_string()),
        notice,
        ramp,
        max_event_duration: max_duration,
        max_events: req.max_events.map(|n| n.min(i32::MAX as u32) as i32),
        max_events_period: period,
        availability: serde_json::to_string(&req.availability).map_err(|e| AppError::Internal(e.to_string()))?,
        offer_price: price.to_string(),
        starts_at: to_naive(req.start.0),
        ends_at: req.end.map(|e| to_naive(e.0)),
        created_date_time: to_naive(now),
        modification_date_time: to_naive(now),
    })
}

fn windows(row: &EnrollmentRow) -> StoreResult<Vec<Window>> {
    Ok(serde_json::from_str(&row.availability)?)
}

fn commitments(rows: &[EnrollmentRow]) -> StoreResult<Vec<Commitment>> {
    rows.iter()
        .map(|r| {
            Ok(Commitment {
                id: r.id.clone(),
                program_id: r.program_id.clone(),
                shed_mw: parse_decimal(&r.shed_mw)?,
                load_up_mw: parse_decimal(&r.load_up_mw)?,
                starts: from_naive(r.starts_at),
                ends: r.ends_at.map(from_naive),
                windows: windows(r)?,
            })
        })
        .collect()
}

fn check_calendar(new: &Commitment, all: &[Commitment], capacity: Decimal) -> Result<(), AppError> {
    calendar::check(new, all, capacity).map_err(|c| {
        AppError::Conflict(match c {
            Conflict::SameProgram { other } => format!(
                "the site is already enrolled in program {:?} at overlapping times by enrollment {other:?}",
                new.program_id
            ),
            Conflict::OverCommitted {
                direction,
                others,
                total,
                capacity,
            } => format!(
                "the site would commit {total} MW of {} at once, more than its {capacity} MW maximum import, \
                 together with enrollment(s) {}",
                match direction {
                    Direction::Shed => "shed",
                    Direction::LoadUp => "load-up",
                },
                others.iter().map(|o| format!("{o:?}")).collect::<Vec<_>>().join(", ")
            ),
        })
    })
}

fn enrollment(row: EnrollmentRow) -> StoreResult<Enrollment> {
    Ok(Enrollment {
        shed_mw: parse_decimal(&row.shed_mw)?,
        load_up_mw: parse_decimal(&row.load_up_mw)?,
        firm_service_level_mw: row.firm_service_level_mw.as_deref().map(parse_decimal).transpose()?,
        offer_price: parse_decimal(&row.offer_price)?,
        availability: windows(&row)?,
        max_events: row.max_events.map(|n| n.max(0) as u32),
        start: format_time(&from_naive(row.starts_at)),
        end: row.ends_at.map(|t| format_time(&from_naive(t))),
        created_date_time: format_time(&from_naive(row.created_date_time)),
        modification_date_time: format_time(&from_naive(row.modification_date_time)),
        id: row.id,
        site_id: row.site_id,
        program_id: row.program_id,
        notice: row.notice,
        ramp: row.ramp,
        max_event_duration: row.max_event_duration,
        max_events_period: row.max_events_period,
    })
}

/// Checks an enrollment against its site and program and the site's calendar, in the write transaction.
fn check_enrollment(c: &mut AnyConnection, row: &EnrollmentRow) -> Result<(), AppError> {
    dialect::lock_site(c, &row.site_id)?;
    let site = match db::get_site(c, &row.site_id) {
        Err(StoreError::NotFound) => {
            return Err(AppError::Conflict(format!("siteID {:?} names no site", row.site_id)));
        }
        other => other?,
    };
    if let Err(StoreError::NotFound) = repo::get_program(c, &row.program_id) {
        return Err(AppError::Conflict(format!(
            "programID {:?} names no program",
            row.program_id
        )));
    }
    let capacity = parse_decimal(&site.max_import_mw)?;
    let new = commitments(std::slice::from_ref(row))?.remove(0);
    for (name, v) in [
        ("shedMW", Some(new.shed_mw)),
        ("loadUpMW", Some(new.load_up_mw)),
        (
            "firmServiceLevelMW",
            row.firm_service_level_mw.as_deref().map(parse_decimal).transpose()?,
        ),
    ] {
        if let Some(v) = v
            && v > capacity
        {
            return Err(AppError::BadRequest(format!(
                "{name} {v} is more than the site's maximum import of {capacity} MW"
            )));
        }
    }
    let others = commitments(&db::site_enrollments(c, &row.site_id)?)?;
    check_calendar(&new, &others, capacity)
}

pub async fn create_enrollment(state: &AppState, req: EnrollmentRequest) -> Result<Enrollment, AppError> {
    let row = enrollment_row(ObjectId::generate().into_string(), &req, state.clock.now())?;
    state
        .commit(move |tx| {
            check_enrollment(tx, &row)?;
            db::insert_enrollment(tx, &row)?;
            let created = enrollment(row.clone())?;
            tx.audited(Subject::of("ENROLLMENT", &row.id, Operation::Create, &created));
            Ok(created)
        })
        .await
}

pub async fn update_enrollment(state: &AppState, id: String, req: EnrollmentRequest) -> Result<Enrollment, AppError> {
    let row = enrollment_row(id.clone(), &req, state.clock.now())?;
    state
        .commit(move |tx| {
            db::get_enrollment(tx, &row.id)?;
            check_enrollment(tx, &row)?;
            let updated = enrollment(db::update_enrollment(tx, &row)?)?;
            tx.audited(Subject::of("ENROLLMENT", &row.id, Operation::Update, &updated));
            Ok(updated)
        })
        .await
        .map_err(|e| e.with_not_found("enrollment", &id))
}

pub async fn delete_enrollment(state: &AppState, id: String) -> Result<Enrollment, AppError> {
    let id2 = id.clone();
    state
        .commit(move |tx| {
            tx.audited(Subject::of("ENROLLMENT", &id2, Operation::Delete, &()));
            Ok(enrollment(db::delete_enrollment(tx, &id2)?)?)
        })
        .await
        .map_err(|e| e.with_not_found("enrollment", &id))
}

pub async fn get_enrollment(state: &AppState, id: String) -> Result<Enrollment, AppError> {
    let id2 = id.clone();
    state
        .db
        .read(move |c| enrollment(db::get_enrollment(c, &id2)?))
        .await
        .map_err(|e| AppError::from(e).with_not_found("enrollment", &id))
}

pub async fn list_enrollments(state: &AppState, q: EnrollmentQuery) -> Result<Vec<Enrollment>, AppError> {
    let page = query::page(q.skip, q.limit);
    let filter = EnrollmentFilter {
        site_id: q.site_id.map(ObjectId::into_string),
        program_id: q.program_id.map(ObjectId::into_string),
    };
    Ok(state
        .db
        .read(move |c| {
            db::list_enrollments(c, &filter, page)?
                .into_iter()
                .map(enrollment)
                .collect()
        })
        .await?)
}

// ------------------------------------------------------------------------------------------ telemetry

/// A report of a site read as telemetry, ready to store in the report's transaction.
#[derive(Debug, Clone)]
pub(crate) struct Ingest {
    site_id: Arc<str>,
    received: chrono::NaiveDateTime,
    points: Vec<PointRow>,
    skipped: i32,
    problems: String,
}

impl Ingest {
    pub(crate) fn new(site_id: Arc<str>, report_id: &str, event_id: &str, parsed: Parsed, now: DateTime<Utc>) -> Self {
        let received = to_naive(now);
        let points = parsed
            .points
            .into_iter()
            .map(|p| PointRow {
                site_id: site_id.to_string(),
                report_id: report_id.to_owned(),
                event_id: event_id.to_owned(),
                resource_name: p.resource_name,
                payload_type: p.payload_type,
                reading_type: p.reading_type,
                start_at: to_naive(p.start),
                end_at: p.end.map(to_naive),
                server_timed: p.server_timed,
                value: p.value,
                unit: p.unit.map(str::to_owned),
                state: p.state,
                quality: p.quality,
                received_at: received,
            })
            .collect();
        Self {
            site_id,
            received,
            points,
            skipped: i32::try_from(parsed.skipped).unwrap_or(i32::MAX),
            problems: serde_json::to_string(&parsed.problems).unwrap_or_else(|_| "[]".into()),
        }
    }

    /// Stores the points (replacing those of an earlier version of the report).
    pub(crate) fn store(&self, c: &mut AnyConnection, report_id: &str) -> StoreResult<()> {
        let reject = (self.skipped > 0).then(|| (&*self.site_id, self.skipped, self.problems.as_str(), self.received));
        db::store_telemetry(c, report_id, &self.points, reject)
    }
}

fn point(r: PointRow) -> TelemetryPoint {
    TelemetryPoint {
        report_id: r.report_id,
        event_id: r.event_id,
        resource_name: r.resource_name,
        payload_type: r.payload_type,
        reading_type: r.reading_type,
        start: format_time(&from_naive(r.start_at)),
        end: r.end_at.map(|t| format_time(&from_naive(t))),
        server_timed: r.server_timed,
        value: r.value,
        unit: r.unit,
        state: r.state,
        quality: r.quality,
        received_date_time: format_time(&from_naive(r.received_at)),
    }
}

/// A site's telemetry points (oldest first) and the reports whose payloads could not all be read.
pub async fn telemetry(state: &AppState, site_id: String, q: TelemetryQuery) -> Result<SiteTelemetry, AppError> {
    let page = query::page(q.skip, q.limit);
    let filter = TelemetryFilter {
        from: q.from.map(|t| to_naive(t.0)),
        to: q.to.map(|t| to_naive(t.0)),
        payload_type: q.payload_type.map(Name::into_string),
        event_id: q.event_id.map(ObjectId::into_string),
    };
    let id = site_id.clone();
    state
        .db
        .read(move |c| {
            db::get_site(c, &id)?;
            let points = db::site_telemetry(c, &id, &filter, page)?;
            let (count, recent) = db::site_rejects(c, &id, 20)?;
            Ok(SiteTelemetry {
                site_id: id,
                points: points.into_iter().map(point).collect(),
                rejected_reports: count,
                recent_rejects: recent
                    .into_iter()
                    .map(|(report_id, skipped, problems, at)| ReportReject {
                        report_id,
                        skipped,
                        problems: serde_json::from_str(&problems).unwrap_or_default(),
                        received_date_time: format_time(&from_naive(at)),
                    })
                    .collect(),
            })
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("site", &site_id))
}

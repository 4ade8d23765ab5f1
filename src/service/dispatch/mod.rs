//! Dispatch: the operator asks for megawatts; Sluice picks sites in merit order (`flex/dispatch.rs`),
//! creates one OpenADR event per site through the event service's own write path, and shows live how each
//! site responds (`event_latency`, kept by `service/latency.rs`). Planning and writing are one transaction,
//! one dispatch at a time, so two dispatches never ask the same megawatts of a site at once.

mod events;
mod view;

pub use self::events::price_signal;
pub use self::view::{Views, get, latency_of_event, latency_of_site, list};

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;

use crate::auth::Principal;
use crate::error::AppError;
use crate::flex::calendar::Direction;
use crate::flex::dispatch::{self as plan, Candidate, Request};
use crate::store::dialect::{self, LockId};
use crate::store::dispatch::{self as db, DispatchRow, DispatchSiteRow, LatencyRow};
use crate::store::repo::{from_naive, to_naive};
use crate::store::sites::{self as sites_db, EnrollmentFilter, EnrollmentRow, SiteRow};
use crate::store::{AnyConnection, StoreError, StoreResult};
use crate::wire::Page;
use crate::wire::sites::{Dispatch, DispatchDirection, DispatchRequest, SkippedSite};
use crate::wire::{Name, ObjectId, Operation, WireDuration};

use super::audit::Subject;
use super::events::{Prepared, delete_in};
use super::sites::parse_decimal;
use super::{AppState, Tx};

use self::events::event_request;
use self::view::{render, view};

/// How old a site's latest DEMAND sample may be to count as its load when dispatching.
const REFERENCE_MAX_AGE: Duration = Duration::minutes(15);
/// How far back past events count for reliability and speed.
const HISTORY: Duration = Duration::days(90);

fn span(s: &str) -> StoreResult<Duration> {
    crate::wire::WireDuration::parse(s)
        .ok()
        .and_then(|d| d.to_chrono())
        .ok_or_else(|| StoreError::Corrupt(format!("{s:?} is not a finite duration")))
}

/// The program's enrolled sites as dispatch candidates.
fn candidates(c: &mut AnyConnection, program_id: &str, r: &Request) -> StoreResult<Vec<Candidate>> {
    let enrollments: Vec<EnrollmentRow> = sites_db::list_enrollments(
        c,
        &EnrollmentFilter {
            site_id: None,
            program_id: Some(program_id.to_owned()),
        },
        Page {
            skip: 0,
            limit: i64::MAX,
        },
    )?;
    let mut sites: HashMap<String, SiteRow> = HashMap::new();
    for e in &enrollments {
        if !sites.contains_key(&e.site_id) {
            sites.insert(e.site_id.clone(), sites_db::get_site(c, &e.site_id)?);
        }
    }
    let ids: Vec<String> = sites.keys().cloned().collect();
    let records = track_records(c, &ids, r.now)?;
    let (start, end) = (to_naive(r.start), to_naive(r.end));
    let mut out = Vec::with_capacity(enrollments.len());
    for e in enrollments {
        let site = &sites[&e.site_id];
        let committed = match r.direction {
            Direction::Shed => parse_decimal(&e.shed_mw)?,
            Direction::LoadUp => parse_decimal(&e.load_up_mw)?,
        };
        // What overlapping dispatches already asked of this enrollment is not available again.
        let taken: Decimal = db::allocated_overlapping(c, &e.id, start, end)?
            .iter()
            .map(|s| parse_decimal(s))
            .sum::<StoreResult<Decimal>>()?;
        let max_import = parse_decimal(&site.max_import_mw)?;
        let record = records.get(&site.id).copied().unwrap_or_default();
        out.push(Candidate {
            site_id: site.id.clone(),
            site_name: site.site_name.clone(),
            enrollment_id: e.id.clone(),
            time_zone: site.time_zone.parse().unwrap_or(chrono_tz::UTC),
            committed_mw: (committed - taken).max(Decimal::ZERO),
            offer_price: parse_decimal(&e.offer_price)?,
            notice: span(&e.notice)?,
            ramp: span(&e.ramp)?,
            max_event_duration: e.max_event_duration.as_deref().map(span).transpose()?,
            events_left: events_left(c, &e, r.start)?,
            term_start: from_naive(e.starts_at),
            term_end: e.ends_at.map(from_naive),
            windows: serde_json::from_str(&e.availability)?,
            reliability: record.reliability,
            t90_secs: record.t90_secs,
            reference_mw: reference_mw(c, &site.id, max_import, r)?,
            max_import_mw: max_import,
            firm_service_level_mw: e.firm_service_level_mw.as_deref().map(parse_decimal).transpose()?,
        });
    }
    Ok(out)
}

/// A site's record over the past events that count ([`HISTORY`]).
#[derive(Clone, Copy, Default)]
struct TrackRecord {
    /// Mean share of its commitment a site reached, 0–1.
    reliability: Option<f64>,
    /// Median of its T90 response times, in seconds.
    t90_secs: Option<f64>,
}

fn track_records(
    c: &mut AnyConnection,
    site_ids: &[String],
    now: DateTime<Utc>,
) -> StoreResult<HashMap<String, TrackRecord>> {
    let mut history: HashMap<String, (Vec<f64>, Vec<f64>)> = HashMap::new();
    for (site, committed, reached, t90) in db::latency_history(c, site_ids, to_naive(now - HISTORY), to_naive(now))? {
        let h = history.entry(site).or_default();
        if committed > 0.0 {
            h.0.push((reached.unwrap_or(0.0) / committed).clamp(0.0, 1.0));
        }
        if let Some(t) = t90 {
            h.1.push(t);
        }
    }
    Ok(history
        .into_iter()
        .map(|(site, (shares, mut t90s))| {
            let record = TrackRecord {
                reliability: (!shares.is_empty()).then(|| shares.iter().sum::<f64>() / shares.len() as f64),
                t90_secs: crate::flex::latency::percentile(&mut t90s, 50.0),
            };
            (site, record)
        })
        .collect())
}

/// How many more events the enrollment allows in its period ending at `start`; `None` when unlimited.
fn events_left(c: &mut AnyConnection, e: &EnrollmentRow, start: DateTime<Utc>) -> StoreResult<Option<u32>> {
    let (Some(max), Some(period)) = (e.max_events, &e.max_events_period) else {
        return Ok(None);
    };
    let used = db::dispatches_of_enrollment_since(c, &e.id, to_naive(start - span(period)?))?;
    Ok(Some(u32::try_from((i64::from(max) - used).max(0)).unwrap_or(0)))
}

/// The load a site is at: its latest DEMAND sample when recent ([`REFERENCE_MAX_AGE`]); without one, a shed
/// site is assumed at its maximum import and a load-up site idle.
fn reference_mw(c: &mut AnyConnection, site_id: &str, max_import: Decimal, r: &Request) -> StoreResult<Decimal> {
    Ok(
        match db::latest_demand(c, site_id, to_naive(r.now - REFERENCE_MAX_AGE))? {
            Some((mw, _)) => Decimal::try_from(mw).unwrap_or(max_import).round_dp(3),
            None => match r.direction {
                Direction::Shed => max_import,
                Direction::LoadUp => Decimal::ZERO,
            },
        },
    )
}

fn validate(req: &DispatchRequest, now: DateTime<Utc>) -> Result<(DateTime<Utc>, Duration, String), AppError> {
    let mut errs = Vec::new();
    if req.target_mw <= Decimal::ZERO {
        errs.push("targetMW must be positive".to_owned());
    }
    if req.target_mw > super::sites::MAX_FIGURE {
        errs.push(format!("targetMW must not exceed {}", super::sites::MAX_FIGURE));
    }
    let start = match crate::wire::sites::start_time(req.start.as_deref(), now) {
        Ok(t) if t >= now - Duration::minutes(1) => t,
        Ok(_) => {
            errs.push("start is in the past".into());
            now
        }
        Err(e) => {
            errs.push(e);
            now
        }
    };
    let duration = match req.duration.to_chrono() {
        Some(d) if d > Duration::zero() => d,
        _ => {
            errs.push("duration must be positive and finite".into());
            Duration::zero()
        }
    };
    if req
        .response_time
        .as_ref()
        .is_some_and(|r| r.to_chrono().is_none_or(|d| d <= Duration::zero()))
    {
        errs.push("responseTime must be positive and finite".into());
    }
    let payload = match (req.payload_type.as_deref(), req.direction) {
        (None, DispatchDirection::Shed) => "IMPORT_CAPACITY_LIMIT".to_owned(),
        (None, DispatchDirection::LoadUp) => "DISPATCH_SETPOINT".to_owned(),
        (Some(p @ ("IMPORT_CAPACITY_LIMIT" | "DISPATCH_SETPOINT")), _) => p.to_owned(),
        (Some(p), _) => {
            errs.push(format!(
                "payloadType {p:?} must be IMPORT_CAPACITY_LIMIT or DISPATCH_SETPOINT"
            ));
            String::new()
        }
    };
    if errs.is_empty() {
        Ok((start, duration, payload))
    } else {
        Err(AppError::BadRequest(errs.join("; ")))
    }
}

/// A dispatch request, validated, with what its write needs.
struct Order {
    id: String,
    req: DispatchRequest,
    plan: Request,
    duration: Duration,
    payload_type: String,
    payload_name: Name,
    requested_by: String,
}

/// Plans and writes a dispatch: one event per picked site, in one transaction (see the module).
pub async fn create(state: &AppState, who: &Principal, req: DispatchRequest) -> Result<Dispatch, AppError> {
    let now = state.clock.now();
    let (start, duration, payload_type) = validate(&req, now)?;
    let order = Order {
        id: ObjectId::generate().into_string(),
        plan: Request {
            direction: match req.direction {
                DispatchDirection::Shed => Direction::Shed,
                DispatchDirection::LoadUp => Direction::LoadUp,
            },
            target_mw: req.target_mw,
            start,
            end: start + duration,
            now,
            response_time: req.response_time.as_ref().and_then(|d| d.to_chrono()),
        },
        duration,
        payload_name: Name::parse(&payload_type).map_err(|e| AppError::Internal(format!("payloadType: {e}")))?,
        payload_type,
        requested_by: who.client_id.clone(),
        req,
    };
    state
        .commit(move |tx| {
            let dispatch = write(tx, &order)?;
            tx.audited(Subject::of("DISPATCH", &dispatch.id, Operation::Create, &dispatch));
            Ok(dispatch)
        })
        .await
}

/// Plans the dispatch under the dispatching lock and writes it; the answer is built from what was
/// written, not read back.
fn write(tx: &mut Tx<'_>, order: &Order) -> Result<Dispatch, AppError> {
    let program_id = order.req.program_id.as_str();
    dialect::lock(tx, LockId::Dispatching)?;
    if let Err(StoreError::NotFound) = crate::store::repo::get_program(tx, program_id) {
        return Err(AppError::Conflict(format!("programID {program_id:?} names no program")));
    }
    let candidates = candidates(tx, program_id, &order.plan)?;
    let names: HashMap<&str, &str> = candidates
        .iter()
        .map(|c| (c.site_id.as_str(), c.site_name.as_str()))
        .collect();
    let p = plan::plan(&order.plan, &candidates);
    let mut sent = Vec::with_capacity(p.picks.len());
    for pick in &p.picks {
        let name = names.get(pick.site_id.as_str()).copied().unwrap_or("");
        sent.push(send(tx, order, pick, name)?);
    }
    let row = dispatch_row(order, &p)?;
    let (site_rows, latency): (Vec<_>, Vec<_>) = sent.into_iter().unzip();
    db::insert_dispatch(tx, &row, &site_rows, &latency)?;
    let sites = site_rows
        .into_iter()
        .zip(latency)
        .map(|(s, l)| {
            let name = names.get(s.site_id.as_str()).copied().unwrap_or("").to_owned();
            (s, name, Some(l))
        })
        .collect();
    Ok(render(row, sites)?)
}

/// Creates a picked site's event; its dispatch row and the latency row that will measure its response.
fn send(
    tx: &mut Tx<'_>,
    order: &Order,
    pick: &plan::Pick,
    site_name: &str,
) -> Result<(DispatchSiteRow, LatencyRow), AppError> {
    let (req, start) = (&order.req, order.plan.start);
    let event_id = ObjectId::generate().into_string();
    let ev = event_request(
        &req.program_id,
        &order.id,
        &pick.site_id,
        site_name,
        &order.payload_name,
        req.direction,
        pick.level_mw,
        start,
        &req.duration,
        req.priority,
    )
    .map_err(|e| AppError::Internal(format!("dispatch event: {e}")))?;
    Prepared::at(order.plan.now, event_id.clone(), &ev)?.insert(tx)?;
    let site = DispatchSiteRow {
        dispatch_id: order.id.clone(),
        site_id: pick.site_id.clone(),
        enrollment_id: pick.enrollment_id.clone(),
        event_id: event_id.clone(),
        merit_rank: i32::try_from(pick.rank).unwrap_or(i32::MAX),
        allocated_mw: pick.allocated_mw.to_string(),
        reference_mw: pick.reference_mw.to_string(),
        level_mw: pick.level_mw.to_string(),
    };
    let latency = LatencyRow::new(
        event_id,
        pick.site_id.clone(),
        pick.allocated_mw.try_into().unwrap_or(0.0),
        matches!(order.plan.direction, Direction::LoadUp),
        to_naive(start),
        Some(to_naive(start + order.duration)),
    );
    Ok((site, latency))
}

fn dispatch_row(order: &Order, p: &plan::Plan) -> Result<DispatchRow, AppError> {
    let (req, start, now) = (&order.req, order.plan.start, order.plan.now);
    let skipped: Vec<SkippedSite> = p
        .skipped
        .iter()
        .map(|s| SkippedSite {
            site_id: s.site_id.clone(),
            site_name: s.site_name.clone(),
            reason: s.reason.clone(),
        })
        .collect();
    Ok(DispatchRow {
        id: order.id.clone(),
        program_id: req.program_id.as_str().to_owned(),
        direction: req.direction.as_str().to_owned(),
        target_mw: req.target_mw.to_string(),
        planned_mw: p.planned_mw.to_string(),
        shortfall_mw: p.shortfall_mw.to_string(),
        starts_at: to_naive(start),
        ends_at: to_naive(start + order.duration),
        duration: req.duration.as_str().to_owned(),
        response_time: req.response_time.as_ref().map(|d| d.as_str().to_owned()),
        payload_type: order.payload_type.clone(),
        state: "ACTIVE".into(),
        requested_by: order.requested_by.clone(),
        skipped: serde_json::to_string(&skipped).map_err(|e| AppError::Internal(e.to_string()))?,
        created_date_time: to_naive(now),
        modification_date_time: to_naive(now),
    })
}

/// Cancels a dispatch: events that have not started are deleted (or, when their VEN has reported on them
/// already, shortened to nothing); those under way are shortened to end now (their VENs are notified of
/// either change).
pub async fn cancel(state: &AppState, id: String) -> Result<Dispatch, AppError> {
    let now = state.clock.now();
    let id2 = id.clone();
    let cancelled = state
        .commit(move |tx| {
            dialect::lock(tx, LockId::Dispatching)?;
            let row = db::get_dispatch(tx, &id2)?;
            if row.state == "CANCELLED" {
                let unchanged = view(tx, row)?;
                tx.audited(Subject::of("DISPATCH", &id2, Operation::Update, &unchanged));
                return Ok(unchanged);
            }
            let start = from_naive(row.starts_at);
            let end = from_naive(row.ends_at);
            let direction = DispatchDirection::parse(&row.direction).unwrap_or_default();
            let names: HashMap<String, String> = db::dispatch_sites(tx, &id2)?
                .into_iter()
                .map(|(s, n, _)| (s.site_id, n))
                .collect();
            for s in db::sites_of_dispatch(tx, &id2)? {
                let gone = match crate::store::repo::get_event(tx, &s.event_id) {
                    Err(StoreError::NotFound) => true,
                    other => other.map(|_| false)?,
                };
                if gone || now >= end {
                    continue;
                }
                // An event that has not started is deleted, unless its VEN already reported on it
                // (`delete_in` keeps an event with reports): it then shrinks to nothing at its start.
                let unstarted = now < start;
                let deleted = if unstarted {
                    // Kept for its reports: shortened below instead.
                    delete_in(tx, &s.event_id)?.is_ok()
                } else {
                    false
                };
                if deleted {
                    db::delete_latency(tx, &s.event_id)?;
                } else {
                    let elapsed = if unstarted {
                        0
                    } else {
                        (now - start).num_seconds().max(1)
                    };
                    let corrupt = |what: &str, e: String| AppError::Internal(format!("dispatch {what}: {e}"));
                    let ev = event_request(
                        &ObjectId::parse(&row.program_id).map_err(|e| corrupt("programID", e))?,
                        &row.id,
                        &s.site_id,
                        names.get(&s.site_id).map(String::as_str).unwrap_or(""),
                        &Name::parse(&row.payload_type).map_err(|e| corrupt("payloadType", e))?,
                        direction,
                        parse_decimal(&s.level_mw)?,
                        start,
                        &WireDuration::parse(&format!("PT{elapsed}S"))
                            .map_err(|e| AppError::Internal(format!("cancelled duration: {e}")))?,
                        None,
                    )
                    .map_err(|e| AppError::Internal(format!("dispatch event: {e}")))?;
                    Prepared::at(now, s.event_id.clone(), &ev)?.update(tx)?;
                    if unstarted {
                        db::delete_latency(tx, &s.event_id)?;
                    } else {
                        db::end_latency(tx, &s.event_id, to_naive(now))?;
                    }
                }
            }
            let ends = if now < start { start } else { now.min(end) };
            db::set_dispatch_state(tx, &id2, "CANCELLED", to_naive(ends), to_naive(now))?;
            // The row as just written; its sites are read again for their ended latency records.
            let row = DispatchRow {
                state: "CANCELLED".into(),
                ends_at: to_naive(ends),
                modification_date_time: to_naive(now),
                ..row
            };
            let cancelled = view(tx, row)?;
            tx.audited(Subject::of("DISPATCH", &id2, Operation::Update, &cancelled));
            Ok(cancelled)
        })
        .await;
    state.views.invalidate();
    cancelled.map_err(|e| e.with_not_found("dispatch", &id))
}

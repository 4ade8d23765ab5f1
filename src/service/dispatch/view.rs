//! What an operator sees of a dispatch: each site's status and response figures, rendered once per
//! change, and the latency of an event or a site.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};

use chrono::Duration;

use crate::error::AppError;
use crate::service::AppState;
use crate::service::sites::parse_decimal;
use crate::store::dispatch::{self as db, DispatchRow, DispatchSiteRow, LatencyRow};
use crate::store::repo::{from_naive, to_naive};
use crate::store::sites::{self as sites_db};
use crate::store::{AnyConnection, StoreError, StoreResult};
use crate::wire::Page;
use crate::wire::format_time;
use crate::wire::query::LatencyQuery;
use crate::wire::sites::{
    Dispatch, DispatchDirection, DispatchSite, EventLatency, LatencyFigures, Percentiles, SiteLatency,
};

/// What a site is doing, from its latency row.
fn status(l: Option<&LatencyRow>) -> &'static str {
    match l {
        Some(l) if l.t90_secs.is_some() => "RAMPED",
        Some(l) if l.t_start_secs.is_some() => "RAMPING",
        Some(l) if l.acked_at.is_some() => "ACKNOWLEDGED",
        Some(l) if l.notified_at.is_some() => "NOTIFIED",
        _ => "PENDING",
    }
}

/// The figures of a latency row, for the API.
pub(crate) fn figures(l: &LatencyRow) -> LatencyFigures {
    let time = |t: Option<chrono::NaiveDateTime>| t.map(|t| format_time(&from_naive(t)));
    let delivered = match (l.baseline_mw, l.last_load_mw) {
        (Some(b), Some(x)) => Some(if l.load_up { x - b } else { b - x }),
        _ => None,
    };
    LatencyFigures {
        notified_date_time: time(l.notified_at),
        notified_via: l.notified_via.clone(),
        acknowledged_date_time: time(l.acked_at),
        baseline_mw: l.baseline_mw,
        last_load_mw: l.last_load_mw,
        last_load_date_time: time(l.last_load_at),
        delivered_mw: delivered,
        t_ack_secs: l.t_ack_secs,
        t_start_secs: l.t_start_secs,
        t50_secs: l.t50_secs,
        t90_secs: l.t90_secs,
        t100_secs: l.t100_secs,
        ramp_mw_per_min: l.ramp_mw_per_min.filter(|r| r.is_finite()),
        sustain: l.sustain,
        snapback_mw: l.snapback_mw,
        early_mw: l.early_mw,
        max_reduction_mw: l.max_reduction_mw,
        measured_date_time: time(l.computed_at),
    }
}

pub(super) fn view(c: &mut AnyConnection, row: DispatchRow) -> StoreResult<Dispatch> {
    let sites = db::dispatch_sites(c, &row.id)?;
    render(row, sites)
}

/// A dispatch from its row and its sites' rows (with each site's name and latency row), in merit order.
pub(super) fn render(
    row: DispatchRow,
    sites: Vec<(DispatchSiteRow, String, Option<LatencyRow>)>,
) -> StoreResult<Dispatch> {
    let mut delivered = 0.0;
    let sites = sites
        .into_iter()
        .map(|(s, name, l)| {
            let latency = l.as_ref().map(figures).unwrap_or_default();
            delivered += latency.delivered_mw.unwrap_or(0.0).max(0.0);
            Ok(DispatchSite {
                status: status(l.as_ref()).to_owned(),
                latency,
                site_name: name,
                enrollment_id: s.enrollment_id,
                event_id: s.event_id,
                rank: s.merit_rank,
                allocated_mw: parse_decimal(&s.allocated_mw)?,
                reference_mw: parse_decimal(&s.reference_mw)?,
                level_mw: parse_decimal(&s.level_mw)?,
                site_id: s.site_id,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Dispatch {
        program_id: row.program_id,
        direction: DispatchDirection::parse(&row.direction)
            .ok_or_else(|| StoreError::Corrupt(format!("dispatch direction {:?}", row.direction)))?,
        target_mw: parse_decimal(&row.target_mw)?,
        planned_mw: parse_decimal(&row.planned_mw)?,
        shortfall_mw: parse_decimal(&row.shortfall_mw)?,
        start: format_time(&from_naive(row.starts_at)),
        end: format_time(&from_naive(row.ends_at)),
        duration: row.duration,
        response_time: row.response_time,
        payload_type: row.payload_type,
        state: row.state,
        delivered_mw: delivered,
        sites,
        skipped: serde_json::from_str(&row.skipped)?,
        created_date_time: format_time(&from_naive(row.created_date_time)),
        modification_date_time: format_time(&from_naive(row.modification_date_time)),
        id: row.id,
    })
}

/// Rendered dispatch views. A control room polls a dispatch every second or so while its figures change
/// only when the latency pass writes (every `latency.interval_secs`): a view is served again while this
/// instance has written nothing since and it is younger than [`VIEW_TTL`] (the bound on staleness when
/// another instance did the writing).
#[derive(Debug, Default)]
pub struct Views {
    generation: AtomicU64,
    map: std::sync::Mutex<HashMap<String, (std::time::Instant, u64, bytes::Bytes)>>,
}

/// How long a rendered view may be served.
pub const VIEW_TTL: std::time::Duration = std::time::Duration::from_secs(1);

impl Views {
    /// Latency figures or a dispatch changed.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, AtomicOrdering::AcqRel);
    }

    fn get(&self, id: &str) -> Option<bytes::Bytes> {
        let g = self.generation.load(AtomicOrdering::Acquire);
        let map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.get(id)
            .filter(|(at, generation, _)| *generation == g && at.elapsed() < VIEW_TTL)
            .map(|(_, _, body)| body.clone())
    }

    fn put(&self, id: String, generation: u64, body: bytes::Bytes) {
        let mut map = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.retain(|_, (at, _, _)| at.elapsed() < VIEW_TTL);
        map.insert(id, (std::time::Instant::now(), generation, body));
    }
}

/// A dispatch and its sites' live figures, as JSON.
pub async fn get(state: &AppState, id: String) -> Result<bytes::Bytes, AppError> {
    if let Some(body) = state.views.get(&id) {
        return Ok(body);
    }
    let generation = state.views.generation.load(AtomicOrdering::Acquire);
    let id2 = id.clone();
    let d = state
        .db
        .read(move |c| {
            let row = db::get_dispatch(c, &id2)?;
            view(c, row)
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("dispatch", &id))?;
    let body = bytes::Bytes::from(serde_json::to_vec(&d).map_err(|e| AppError::Internal(e.to_string()))?);
    state.views.put(id, generation, body.clone());
    Ok(body)
}

pub async fn list(state: &AppState, page: Page) -> Result<Vec<Dispatch>, AppError> {
    Ok(state
        .db
        .read(move |c| {
            db::list_dispatches(c, page)?
                .into_iter()
                .map(|row| view(c, row))
                .collect()
        })
        .await?)
}

fn event_latency(l: LatencyRow, site_name: Option<String>) -> EventLatency {
    EventLatency {
        figures: figures(&l),
        event_start: format_time(&from_naive(l.event_start)),
        event_end: l.event_end.map(|t| format_time(&from_naive(t))),
        event_id: l.event_id,
        site_id: l.site_id,
        site_name,
        committed_mw: l.committed_mw,
        load_up: l.load_up,
    }
}

/// Every site's response to one event.
pub async fn latency_of_event(state: &AppState, event_id: String) -> Result<Vec<EventLatency>, AppError> {
    let rows = state.db.read(move |c| db::event_latency_rows(c, &event_id)).await?;
    Ok(rows.into_iter().map(|(l, name)| event_latency(l, Some(name))).collect())
}

/// One site's response to the events that started in `[from, to)`, with percentiles.
pub async fn latency_of_site(state: &AppState, site_id: String, period: LatencyQuery) -> Result<SiteLatency, AppError> {
    let to = period.to.map_or_else(|| state.clock.now(), |t| t.0);
    let from = period.from.map_or(to - Duration::days(30), |t| t.0);
    if to <= from {
        return Err(AppError::BadRequest("to must be after from".into()));
    }
    let id = site_id.clone();
    let rows = state
        .db
        .read(move |c| {
            sites_db::get_site(c, &id)?;
            db::site_latency(c, &id, to_naive(from), to_naive(to))
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("site", &site_id))?;
    let pct = |f: fn(&LatencyRow) -> Option<f64>| {
        let mut v: Vec<f64> = rows.iter().filter_map(f).filter(|x| x.is_finite()).collect();
        Percentiles {
            count: v.len(),
            p50: crate::flex::latency::percentile(&mut v, 50.0),
            p90: crate::flex::latency::percentile(&mut v, 90.0),
            p99: crate::flex::latency::percentile(&mut v, 99.0),
        }
    };
    Ok(SiteLatency {
        t_ack_secs: pct(|l| l.t_ack_secs),
        t_start_secs: pct(|l| l.t_start_secs),
        t90_secs: pct(|l| l.t90_secs),
        t100_secs: pct(|l| l.t100_secs),
        ramp_mw_per_min: pct(|l| l.ramp_mw_per_min),
        sustain: pct(|l| l.sustain),
        site_id,
        from: format_time(&from),
        to: format_time(&to),
        events: rows.into_iter().map(|l| event_latency(l, None)).collect(),
    })
}

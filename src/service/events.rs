//! Events: the requests a VTN sends its VENs. Read within targeting rules, written with `write_events`.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::auth::{Principal, Scope};
use crate::error::AppError;
use crate::store::Page;
use crate::store::dialect;
use crate::store::repo::{self, EventColumns, EventFilter};
use crate::wire::{EventRequest, ObjectId, ObjectType, StoredObject, WireDateTime};

use super::cache::CHANGE_CHANNEL;
use super::privacy::target_scope;
use super::{AppState, Links, View, object_write, record};
use crate::wire::Operation;

/// Filters of `GET /events`.
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub program_id: Option<String>,
    pub targets: Option<Vec<String>>,
    /// `active=true`: leave out events whose last interval has ended.
    pub active: Option<bool>,
}

/// When an event is over, if that can be known: the latest end of its intervals (each interval starts at
/// its own start, else where the previous one ended, else at the event's start), or the event's start plus
/// its `duration` when one is given. `None` means open-ended or undeterminable (P9999Y, no start), and such
/// an event always counts as active. The "now" start `0001-01-01` counts from `now`.
pub fn event_end(req: &EventRequest, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let resolve = |t: &WireDateTime| if t.is_now_marker() { now } else { t.0 };
    let default = req.interval_period.as_ref();
    let event_start = default.and_then(|p| p.start.as_ref()).map(resolve);
    let default_duration = default.and_then(|p| p.duration.as_ref());
    let intervals = req.intervals.as_deref().unwrap_or(&[]);
    let first_start = intervals
        .first()
        .and_then(|i| i.interval_period.as_ref())
        .and_then(|p| p.start.as_ref())
        .map(resolve);
    if let Some(d) = &req.duration {
        let start = event_start.or(first_start)?;
        return start.checked_add_signed(d.to_chrono()?);
    }
    if intervals.is_empty() {
        return event_start?.checked_add_signed(default_duration?.to_chrono()?);
    }
    let mut cursor = event_start;
    let mut end: Option<DateTime<Utc>> = None;
    for interval in intervals {
        let p = interval.interval_period.as_ref();
        let start = p.and_then(|p| p.start.as_ref()).map(resolve).or(cursor)?;
        let duration = p.and_then(|p| p.duration.as_ref()).or(default_duration)?;
        let e = start.checked_add_signed(duration.to_chrono()?)?;
        end = Some(end.map_or(e, |x| x.max(e)));
        cursor = Some(e);
    }
    end
}

fn columns(req: &EventRequest, now: DateTime<Utc>) -> EventColumns {
    EventColumns {
        program_id: req.program_id.as_str().to_owned(),
        event_name: req.event_name.clone(),
        priority: req.priority.map(i64::from),
        ends_at: event_end(req, now),
    }
}

fn event_links<'a>(o: &'a StoredObject, program_id: &'a str) -> Links<'a> {
    Links {
        program_id: Some(program_id),
        event_id: Some(&o.id),
        owner: None,
    }
}

fn missing_program(e: crate::store::StoreError, program: &str) -> AppError {
    match e {
        // OpenADR 3.1 yaml `responses.conflict`: "violation of a foreign key constraint" (digest item 24).
        crate::store::StoreError::ForeignKey(_) => {
            AppError::Conflict(format!("programID {program:?} names no program"))
        }
        other => other.into(),
    }
}

pub async fn create(state: &AppState, who: &Principal, req: EventRequest) -> Result<StoredObject, AppError> {
    who.require(Scope::WriteEvents)?;
    let w = object_write(state, ObjectId::generate().into_string(), &req, req.targets.as_deref())?;
    let cols = columns(&req, w.now);
    let program = req.program_id.into_string();
    // One statement on PostgreSQL (event, targets, outbox change and the change notice), then a new
    // cache generation.
    let created = state
        .write(move |c| dialect::insert_event_announced(c, &w, &cols, CHANGE_CHANNEL))
        .await;
    state.cache.invalidate();
    created.map_err(|e| missing_program(e, &program))
}

pub async fn update(
    state: &AppState,
    who: &Principal,
    id: String,
    req: EventRequest,
) -> Result<StoredObject, AppError> {
    who.require(Scope::WriteEvents)?;
    let w = object_write(state, id.clone(), &req, req.targets.as_deref())?;
    let cols = columns(&req, w.now);
    let program = req.program_id.into_string();
    state
        .write_listed(move |c| {
            let o = repo::update_event(c, &w, &cols)?;
            record(c, Operation::Update, &o, event_links(&o, &cols.program_id))?;
            Ok(o)
        })
        .await
        .map_err(|e| missing_program(e, &program).with_not_found("event", &id))
}

pub async fn delete(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    who.require(Scope::WriteEvents)?;
    let id2 = id.clone();
    state
        .write_listed(move |c| {
            let program = repo::event_program(c, &id2)?;
            let o = repo::delete_event(c, &id2)?;
            record(c, Operation::Delete, &o, event_links(&o, &program))?;
            Ok(o)
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("event", &id))
}

pub async fn get(state: &AppState, who: &Principal, id: String) -> Result<View<StoredObject>, AppError> {
    who.require_read_targets()?;
    let who = who.clone();
    let id2 = id.clone();
    let found = state
        .db
        .read(move |c| {
            let obj = repo::get_event(c, &id2)?;
            let scope = target_scope(c, &who, None)?;
            Ok(scope.admits(obj.targets.as_deref()).then_some(View {
                objects: obj,
                visible: scope.visible,
            }))
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("event", &id))?;
    found.ok_or_else(|| AppError::not_found("event", &id))
}

/// The events `who` may see, as JSON (VENs: targets hidden), served from the read cache when possible.
pub async fn list(state: &AppState, who: &Principal, q: EventQuery, page: Page) -> Result<Bytes, AppError> {
    who.require_read_targets()?;
    // `active` depends on the time: such a list is cached for the current second only.
    let active_at = q.active.unwrap_or(false).then(|| state.clock.now());
    let key = format!(
        "{:?}|{:?}|{:?}|{}|{}",
        q.program_id,
        q.targets,
        active_at.map(|t| t.timestamp()),
        page.skip,
        page.limit
    );
    let filter = EventFilter {
        program_id: q.program_id,
        active_at,
    };
    state
        .cached_list(who, ObjectType::Event, key, q.targets, move |c, targets| {
            repo::list_events(c, &filter, targets, page)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn req(json: &str) -> EventRequest {
        serde_json::from_str(json).unwrap()
    }

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 7, 1, h, m, 0).unwrap()
    }

    #[test]
    fn event_end_follows_consecutive_intervals() {
        let e = req(
            r#"{"programID":"p","intervalPeriod":{"start":"2026-07-01T14:00:00Z","duration":"PT1H"},
            "intervals":[{"id":0,"payloads":[]},{"id":1,"payloads":[]},{"id":2,"intervalPeriod":{"duration":"PT30M"},"payloads":[]}]}"#,
        );
        assert_eq!(event_end(&e, t(0, 0)), Some(t(16, 30)));
    }

    #[test]
    fn event_end_uses_event_duration_and_now_marker() {
        let e = req(r#"{"programID":"p","duration":"PT2H","intervalPeriod":{"start":"0001-01-01"}}"#);
        assert_eq!(event_end(&e, t(9, 0)), Some(t(11, 0)));
    }

    #[test]
    fn open_ended_events_have_no_end() {
        let e = req(
            r#"{"programID":"p","intervalPeriod":{"start":"2026-07-01T14:00:00Z","duration":"P9999Y"},"intervals":[{"id":0,"payloads":[]}]}"#,
        );
        assert_eq!(event_end(&e, t(0, 0)), None);
        assert_eq!(event_end(&req(r#"{"programID":"p"}"#), t(0, 0)), None);
    }
}

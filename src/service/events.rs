//! Events: the requests a VTN sends its VENs. Read within targeting rules, written with `write_events`.

use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::auth::Principal;
use crate::error::AppError;
use crate::store::dialect;
use crate::store::repo::{self, EventColumns, EventFilter, ObjectWrite};
use crate::wire::Text;
use crate::wire::{EventRequest, ObjectId, ObjectType, StoredObject, WireDateTime};

use super::privacy::target_scope;
use super::{AppState, Links, Tx, View, object_write_at};
use crate::wire::Operation;
use crate::wire::query::{self, EventQuery, Targets};

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
        event_name: req.event_name.as_ref().map(Text::to_string),
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
        // OpenADR 3.1 yaml `responses.conflict`: "violation of a foreign key constraint".
        crate::store::StoreError::ForeignKey(_) => {
            AppError::Conflict(format!("programID {program:?} names no program"))
        }
        other => other.into(),
    }
}

/// An event write prepared outside the transaction (validated, rendered, its columns derived).
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    w: ObjectWrite,
    cols: EventColumns,
}

impl Prepared {
    pub(crate) fn new(state: &AppState, id: String, req: &EventRequest) -> Result<Self, AppError> {
        Self::at(state.clock.now(), id, req)
    }

    /// An event write at a given time (prepared inside a transaction).
    pub(crate) fn at(now: DateTime<Utc>, id: String, req: &EventRequest) -> Result<Self, AppError> {
        let w = object_write_at(now, id, req, req.targets.as_deref())?;
        let cols = columns(req, w.now);
        Ok(Self { w, cols })
    }

    /// Inserts the event with its targets (one statement on PostgreSQL).
    pub(crate) fn insert(&self, tx: &mut Tx<'_>) -> Result<StoredObject, AppError> {
        let change =
            dialect::insert_event(tx, &self.w, &self.cols).map_err(|e| missing_program(e, &self.cols.program_id))?;
        tx.changed(
            change.operation,
            &change.object,
            event_links(&change.object, &self.cols.program_id),
        );
        Ok(change.object)
    }

    /// [`Prepared::insert`] as a write PostgreSQL inserts together with the other events of its batch.
    pub(crate) fn batchable(self) -> dialect::EventInsert {
        dialect::EventInsert {
            write: self.w,
            columns: self.cols,
        }
    }

    /// Replaces the stored event.
    pub(crate) fn update(&self, tx: &mut Tx<'_>) -> Result<StoredObject, AppError> {
        let o = repo::update_event(tx, &self.w, &self.cols).map_err(|e| missing_program(e, &self.cols.program_id))?;
        tx.changed(Operation::Update, &o, event_links(&o, &self.cols.program_id));
        Ok(o)
    }
}

/// An event that is not deleted: its reports are the evidence settlement pays on (docs/spec-decisions.md,
/// "Events with reports are not deleted").
#[derive(Debug)]
pub(crate) struct KeptForReports {
    id: String,
    reports: i64,
}

impl From<KeptForReports> for AppError {
    fn from(k: KeptForReports) -> Self {
        AppError::Conflict(format!(
            "event {:?} has {} report(s), evidence for settlement: it is kept (update its intervals to call \
             it off)",
            k.id, k.reports
        ))
    }
}

/// Deletes an event, unless it has reports.
pub(crate) fn delete_in(tx: &mut Tx<'_>, id: &str) -> Result<Result<StoredObject, KeptForReports>, AppError> {
    let program = repo::event_program(tx, id)?;
    let reports = repo::count_event_reports(tx, id)?;
    if reports > 0 {
        return Ok(Err(KeptForReports {
            id: id.to_owned(),
            reports,
        }));
    }
    let o = repo::delete_event(tx, id)?;
    tx.changed(Operation::Delete, &o, event_links(&o, &program));
    Ok(Ok(o))
}

pub async fn create(state: &AppState, req: EventRequest) -> Result<StoredObject, AppError> {
    let event = Prepared::new(state, ObjectId::generate().into_string(), &req)?;
    let program = req.program_id.into_string();
    // One statement on PostgreSQL for all the events of a group-commit batch, and one for their changes.
    state
        .commit_batchable(event.batchable())
        .await
        .map_err(|e| missing_program(e, &program))
}

pub async fn update(state: &AppState, id: String, req: EventRequest) -> Result<StoredObject, AppError> {
    let event = Prepared::new(state, id.clone(), &req)?;
    state
        .commit(move |tx| event.update(tx))
        .await
        .map_err(|e| e.with_not_found("event", &id))
}

pub async fn delete(state: &AppState, id: String) -> Result<StoredObject, AppError> {
    let id2 = id.clone();
    state
        .commit(move |tx| Ok(delete_in(tx, &id2)??))
        .await
        .map_err(|e| e.with_not_found("event", &id))
}

pub async fn get(state: &AppState, who: &Principal, id: String) -> Result<View<StoredObject>, AppError> {
    let reader = who.clone();
    let id2 = id.clone();
    let found = state
        .db
        .read(move |c| {
            let obj = repo::get_event(c, &id2)?;
            let scope = target_scope(c, &reader, None)?;
            Ok(scope.admits(obj.targets.as_deref()).then_some(View {
                objects: obj,
                visible: scope.visible,
            }))
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("event", &id))?;
    let found = found.ok_or_else(|| AppError::not_found("event", &id))?;
    if !who.is_business_logic() {
        state.seen.record(
            &who.client_id,
            std::slice::from_ref(&found.objects.id),
            state.clock.now(),
        );
    }
    Ok(found)
}

/// The events `who` may see, as JSON (VENs: targets hidden), served from the read cache when possible.
pub async fn list(state: &AppState, who: &Principal, q: EventQuery) -> Result<Bytes, AppError> {
    let page = query::page(q.skip, q.limit);
    let program_id = q.program_id.map(ObjectId::into_string);
    let targets = Targets::into_strings(q.targets);
    // `active` depends on the time: such a list is cached until the next event ends (not keyed on it).
    let active_at = q.active.is_some_and(|a| a.0).then(|| state.clock.now());
    let key = format!(
        "{:?}|{:?}|{}|{}|{}",
        program_id,
        targets,
        active_at.is_some(),
        page.skip,
        page.limit
    );
    let filter = EventFilter { program_id, active_at };
    let list = state
        .cached_list(who, ObjectType::Event, key, targets, active_at, move |c, targets| {
            repo::list_events(c, &filter, targets, page)
        })
        .await?;
    // A VEN shown an event has been notified of it (response latency); recorded once, in memory first.
    if !who.is_business_logic() {
        state.seen.record_list(&who.client_id, &list, state.clock.now());
    }
    Ok(list.body)
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

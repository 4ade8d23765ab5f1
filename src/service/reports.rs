//! Reports: written by VENs (`write_reports`) about events they can see; read by their author and by the
//! business logic (Definition §Object Privacy).

use serde::Serialize;

use crate::auth::Principal;
use crate::error::AppError;
use crate::store::dialect;
use crate::store::repo::{self, ReportColumns, ReportFilter};
use crate::store::{AnyConnection, StoreError, StoreResult};
use crate::wire::Text;
use crate::wire::{ObjectId, ReportRequest, StoredObject};

use super::sites::Ingest;
use super::{AppState, Links, View, object_write, record};
use crate::privacy::{TargetScope, scope_for_viewer};
use crate::wire::Name;
use crate::wire::Operation;
use crate::wire::query::{self, ReportQuery};

/// What is stored: the request plus the clientID taken from the token.
#[derive(Serialize)]
struct ReportContent<'a> {
    #[serde(rename = "clientID")]
    client_id: &'a str,
    #[serde(flatten)]
    req: &'a ReportRequest,
}

const EVENT_NOT_VISIBLE: &str = "report event";

/// The report's event must exist and be readable by its author: a VEN cannot report on (or learn of) an
/// event that is not meant for it.
fn check_event(c: &mut AnyConnection, scope: &TargetScope, event_id: &str) -> StoreResult<()> {
    let targets = match repo::event_targets_of(c, event_id) {
        Err(StoreError::NotFound) => return Err(StoreError::ForeignKey(EVENT_NOT_VISIBLE.into())),
        other => other?,
    };
    if scope.admits(targets.as_deref()) {
        Ok(())
    } else {
        Err(StoreError::ForeignKey(EVENT_NOT_VISIBLE.into()))
    }
}

/// Only the author may change or delete a report; anyone else is told it does not exist.
fn check_owner(c: &mut AnyConnection, who: &Principal, id: &str) -> StoreResult<()> {
    if repo::report_client(c, id)? == who.client_id {
        Ok(())
    } else {
        Err(StoreError::NotFound)
    }
}

/// Records a change of a stored report, linked to its event, program and author.
fn record_report(c: &mut AnyConnection, op: Operation, o: &StoredObject) -> StoreResult<()> {
    let (event, owner, program) = repo::report_links(c, &o.id)?;
    let links = Links {
        program_id: Some(&program),
        event_id: Some(&event),
        owner: Some(&owner),
    };
    record(c, op, o, links)
}

fn map_err(e: StoreError, event_id: &str, id: Option<&str>) -> AppError {
    match e {
        StoreError::ForeignKey(_) => {
            AppError::Conflict(format!("eventID {event_id:?} names no event this client can report on"))
        }
        other => match id {
            Some(id) => AppError::from(other).with_not_found("report", id),
            None => other.into(),
        },
    }
}

fn columns(who: &Principal, req: &ReportRequest) -> ReportColumns {
    ReportColumns {
        event_id: req.event_id.as_str().to_owned(),
        client_id: who.client_id.clone(),
        client_name: req.client_name.as_str().to_owned(),
        report_name: req.report_name.as_ref().map(Text::to_string),
    }
}

/// A site's report read as telemetry (`None` when its author is not a site).
async fn telemetry(
    state: &AppState,
    who: &Principal,
    report_id: &str,
    req: &ReportRequest,
) -> Result<Option<Ingest>, AppError> {
    let Some(site) = super::sites::site_of(state, who).await? else {
        return Ok(None);
    };
    let now = state.clock.now();
    let parsed = crate::flex::telemetry::parse(req, now, &state.units);
    Ok(Some(Ingest::new(site, report_id, req.event_id.as_str(), parsed, now)))
}

pub async fn create(state: &AppState, who: &Principal, req: ReportRequest) -> Result<StoredObject, AppError> {
    let content = ReportContent {
        client_id: &who.client_id,
        req: &req,
    };
    let w = object_write(state, ObjectId::generate().into_string(), &content, None)?;
    let cols = columns(who, &req);
    let ingest = telemetry(state, who, &w.id, &req).await?;
    // The author's grants come from the read cache, and the visibility check and the insert are one
    // statement on PostgreSQL: the hottest write path pays one round trip (two when it is a site's
    // report: its telemetry is written in the same transaction).
    // On PostgreSQL the reports of one group-commit batch are inserted by one statement.
    let scope = scope_for_viewer(&state.viewer(who).await?, None);
    let then = ingest.map(|i| Box::new(move |c: &mut crate::store::AnyConnection, id: &str| i.store(c, id)) as Box<_>);
    let insert = dialect::ReportInsert {
        write: w,
        columns: cols,
        visible: scope.filter,
        not_visible: EVENT_NOT_VISIBLE,
        then,
    };
    state
        .write_batchable(insert)
        .await
        .map_err(|e| map_err(e, req.event_id.as_str(), None))
}

pub async fn update(
    state: &AppState,
    who: &Principal,
    id: String,
    req: ReportRequest,
) -> Result<StoredObject, AppError> {
    let content = ReportContent {
        client_id: &who.client_id,
        req: &req,
    };
    let w = object_write(state, id.clone(), &content, None)?;
    let cols = columns(who, &req);
    let ingest = telemetry(state, who, &w.id, &req).await?;
    let scope = scope_for_viewer(&state.viewer(who).await?, None);
    let who2 = who.clone();
    state
        .write(move |c| {
            check_owner(c, &who2, &w.id)?;
            check_event(c, &scope, &cols.event_id)?;
            let o = repo::update_report(c, &w, &cols)?;
            if let Some(i) = &ingest {
                i.store(c, &o.id)?;
            }
            record_report(c, Operation::Update, &o)?;
            Ok(o)
        })
        .await
        .map_err(|e| map_err(e, req.event_id.as_str(), Some(&id)))
}

pub async fn delete(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who2 = who.clone();
    let id2 = id.clone();
    state
        .write(move |c| {
            check_owner(c, &who2, &id2)?;
            let (event, owner, program) = repo::report_links(c, &id2)?;
            let o = repo::delete_report(c, &id2)?;
            let links = Links {
                program_id: Some(&program),
                event_id: Some(&event),
                owner: Some(&owner),
            };
            record(c, Operation::Delete, &o, links)?;
            Ok(o)
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("report", &id))
}

pub async fn get(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who = who.clone();
    let id2 = id.clone();
    state
        .db
        .read(move |c| {
            if !who.is_business_logic() {
                check_owner(c, &who, &id2)?;
            }
            repo::get_report(c, &id2)
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("report", &id))
}

pub async fn list(state: &AppState, who: &Principal, q: ReportQuery) -> Result<View<Vec<StoredObject>>, AppError> {
    let page = query::page(q.skip, q.limit);
    let filter = ReportFilter {
        program_id: q.program_id.map(ObjectId::into_string),
        event_id: q.event_id.map(ObjectId::into_string),
        client_name: q.client_name.map(Name::into_string),
        client_id: (!who.is_business_logic()).then(|| who.client_id.clone()),
    };
    Ok(View::all(
        state.db.read(move |c| repo::list_reports(c, &filter, page)).await?,
    ))
}

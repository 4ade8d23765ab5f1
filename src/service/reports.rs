//! Reports: written by VENs (`write_reports`) about events they can see; read by their author and by the
//! business logic (Definition §Object Privacy).

use serde::Serialize;

use crate::auth::Principal;
use crate::error::AppError;
use crate::store::dialect;
use crate::store::repo::{self, ReportColumns, ReportFilter};
use crate::store::{AnyConnection, StoreError};
use crate::wire::Text;
use crate::wire::{ObjectId, ReportRequest, StoredObject};

use super::sites::Ingest;
use super::{AppState, Links, Tx, View, object_write};
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

fn not_reportable(event_id: &str) -> AppError {
    AppError::Conflict(format!("eventID {event_id:?} names no event this client can report on"))
}

/// The report's event must exist and be readable by its author: a VEN cannot report on (or learn of) an
/// event that is not meant for it.
fn check_event(c: &mut AnyConnection, scope: &TargetScope, event_id: &str) -> Result<(), AppError> {
    let targets = match repo::event_targets_of(c, event_id) {
        Err(StoreError::NotFound) => return Err(not_reportable(event_id)),
        other => other?,
    };
    if scope.admits(targets.as_deref()) {
        Ok(())
    } else {
        Err(not_reportable(event_id))
    }
}

/// Only the author may change or delete a report; anyone else is told it does not exist.
fn check_owner(c: &mut AnyConnection, who: &Principal, id: &str) -> Result<(), AppError> {
    if repo::report_client(c, id)? == who.client_id {
        Ok(())
    } else {
        Err(AppError::not_found("report", id))
    }
}

/// Records a change of a stored report, linked to its event, program and author.
fn record_report(tx: &mut Tx<'_>, op: Operation, o: &StoredObject) -> Result<(), AppError> {
    let (event, owner, program) = repo::report_links(tx, &o.id)?;
    let links = Links {
        program_id: Some(&program),
        event_id: Some(&event),
        owner: Some(&owner),
    };
    tx.changed(op, o, links);
    Ok(())
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
    state.commit_batchable(insert).await.map_err(|e| match e {
        StoreError::ForeignKey(_) => not_reportable(req.event_id.as_str()),
        other => other.into(),
    })
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
        .commit(move |tx| {
            check_owner(tx, &who2, &w.id)?;
            check_event(tx, &scope, &cols.event_id)?;
            let o = repo::update_report(tx, &w, &cols)?;
            if let Some(i) = &ingest {
                i.store(tx, &o.id)?;
            }
            record_report(tx, Operation::Update, &o)?;
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("report", &id))
}

pub async fn delete(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who2 = who.clone();
    let id2 = id.clone();
    state
        .commit(move |tx| {
            check_owner(tx, &who2, &id2)?;
            let (event, owner, program) = repo::report_links(tx, &id2)?;
            let o = repo::delete_report(tx, &id2)?;
            let links = Links {
                program_id: Some(&program),
                event_id: Some(&event),
                owner: Some(&owner),
            };
            tx.changed(Operation::Delete, &o, links);
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("report", &id))
}

pub async fn get(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who = who.clone();
    let id2 = id.clone();
    state
        .db
        .read(move |c| {
            // Only the author (and the business logic) may read a report; anyone else is told it does not
            // exist.
            if !who.is_business_logic() && repo::report_client(c, &id2)? != who.client_id {
                return Err(StoreError::NotFound);
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

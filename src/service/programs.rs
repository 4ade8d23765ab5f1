//! Programs: read by everyone within targeting rules, written only with `write_programs`.

use crate::auth::Principal;
use crate::error::AppError;
use crate::store::repo::{self, ObjectWrite};
use crate::wire::{ObjectId, ObjectType, ProgramRequest, StoredObject};
use bytes::Bytes;

use super::privacy::target_scope;
use super::{AppState, Links, View, name_conflict, object_write};
use crate::wire::Operation;
use crate::wire::query::{self, ProgramQuery, Targets};

fn taken(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("programName {name:?} is already used by another program")
}

fn program_links(o: &StoredObject) -> Links<'_> {
    Links {
        program_id: Some(&o.id),
        ..Links::default()
    }
}

pub async fn create(state: &AppState, req: ProgramRequest) -> Result<StoredObject, AppError> {
    let w: ObjectWrite = object_write(state, ObjectId::generate().into_string(), &req, req.targets.as_deref())?;
    let name = req.program_name.into_string();
    state
        .commit(move |tx| {
            let o = repo::insert_program(tx, &w, &name).map_err(|e| name_conflict(e, "program_name", taken(&name)))?;
            tx.changed(Operation::Create, &o, program_links(&o));
            Ok(o)
        })
        .await
}

pub async fn update(state: &AppState, id: String, req: ProgramRequest) -> Result<StoredObject, AppError> {
    let w = object_write(state, id.clone(), &req, req.targets.as_deref())?;
    let name = req.program_name.into_string();
    state
        .commit(move |tx| {
            let o = repo::update_program(tx, &w, &name).map_err(|e| name_conflict(e, "program_name", taken(&name)))?;
            tx.changed(Operation::Update, &o, program_links(&o));
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("program", &id))
}

pub async fn delete(state: &AppState, id: String) -> Result<StoredObject, AppError> {
    let id2 = id.clone();
    state
        .commit(move |tx| {
            let enrolled = crate::store::sites::count_enrollments(tx, None, Some(&id2))?;
            if enrolled > 0 {
                return Err(AppError::Conflict(format!(
                    "program {id2:?} has {enrolled} site enrollment(s); delete them first"
                )));
            }
            let reports = repo::count_program_reports(tx, &id2)?;
            if reports > 0 {
                return Err(AppError::Conflict(format!(
                    "program {id2:?} has events with {reports} report(s), evidence for settlement: it is kept"
                )));
            }
            let o = repo::delete_program(tx, &id2)?;
            tx.changed(Operation::Delete, &o, program_links(&o));
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("program", &id))
}

pub async fn get(state: &AppState, who: &Principal, id: String) -> Result<View<StoredObject>, AppError> {
    let who = who.clone();
    let id2 = id.clone();
    let found = state
        .db
        .read(move |c| {
            let obj = repo::get_program(c, &id2)?;
            let scope = target_scope(c, &who, None)?;
            Ok(scope.admits(obj.targets.as_deref()).then_some(View {
                objects: obj,
                visible: scope.visible,
            }))
        })
        .await
        .map_err(|e| AppError::from(e).with_not_found("program", &id))?;
    found.ok_or_else(|| AppError::not_found("program", &id))
}

/// The programs `who` may see, as JSON (VENs: targets hidden), served from the read cache when possible.
pub async fn list(state: &AppState, who: &Principal, q: ProgramQuery) -> Result<Bytes, AppError> {
    let page = query::page(q.skip, q.limit);
    let targets = Targets::into_strings(q.targets);
    let key = format!("{targets:?}|{}|{}", page.skip, page.limit);
    state
        .cached_list(who, ObjectType::Program, key, targets, None, move |c, filter| {
            repo::list_programs(c, filter, page)
        })
        .await
        .map(|l| l.body)
}

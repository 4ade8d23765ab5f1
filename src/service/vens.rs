//! Vens: created by the business logic (naming the VEN's clientID, with targets) or by a VEN for itself
//! (clientID from its token, no targets). A VEN reads and writes only its own (Definition §Object Privacy).

use serde::Serialize;

use crate::auth::Principal;
use crate::error::AppError;
use crate::store::repo::{self, VenFilter};
use crate::store::{AnyConnection, StoreError};
use crate::wire::{Name, ObjectId, StoredObject, Target, ValuesMap, VenRequest};

use super::{AppState, Links, View, object_write};
use crate::wire::Operation;
use crate::wire::query::{self, Targets, VenQuery};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VenContent<'a> {
    #[serde(rename = "clientID")]
    client_id: &'a str,
    ven_name: &'a Name,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a Vec<ValuesMap>>,
}

/// A ven request resolved against the caller: whose ven it is and which targets it carries.
struct Resolved<'a> {
    client_id: String,
    ven_name: &'a Name,
    attributes: Option<&'a Vec<ValuesMap>>,
    /// `None` for a VEN's own request: targets are the business logic's to set, so existing ones are kept.
    targets: Option<Option<&'a [Target]>>,
}

fn resolve<'a>(who: &Principal, req: &'a VenRequest) -> Result<Resolved<'a>, AppError> {
    match (who.is_business_logic(), req) {
        (true, VenRequest::Bl(r)) => Ok(Resolved {
            client_id: r.client_id.as_str().to_owned(),
            ven_name: &r.ven_name,
            attributes: r.attributes.as_ref(),
            targets: Some(r.targets.as_deref()),
        }),
        (true, VenRequest::Ven(_)) => Err(AppError::BadRequest(
            "the business logic creates and updates vens with objectType BL_VEN_REQUEST, naming the VEN's clientID"
                .into(),
        )),
        (false, VenRequest::Ven(r)) => Ok(Resolved {
            client_id: who.client_id.clone(),
            ven_name: &r.ven_name,
            attributes: r.attributes.as_ref(),
            targets: None,
        }),
        // Definition: "Only BL clients may write targets to ven and resource objects".
        (false, VenRequest::Bl(_)) => Err(AppError::Forbidden(
            "a VEN registers with objectType VEN_VEN_REQUEST; only the business logic may set clientID and targets"
                .into(),
        )),
    }
}

fn conflict(e: StoreError, name: &str) -> AppError {
    match e {
        StoreError::Conflict(c) if c.contains("ven_name") => {
            AppError::Conflict(format!("venName {name:?} is already used by another ven"))
        }
        StoreError::Conflict(c) if c.contains("client_id") => {
            AppError::Conflict("this clientID already has a ven; update it instead of creating another".into())
        }
        other => other.into(),
    }
}

/// Who may hold a venName (docs/spec-decisions.md, "venName squatting"): a VEN may not take the name of
/// another client (`sluice client add --name site-17` reserves `site-17` for that client's ven); the
/// business logic, on a name another client's ven holds, is told which ven holds it, so it can act.
fn check_name(
    c: &mut AnyConnection,
    who: &Principal,
    name: &str,
    client: &str,
    id: Option<&str>,
) -> Result<(), AppError> {
    if who.is_business_logic() {
        if let Some((holder, holder_client)) = repo::ven_named(c, name)?
            && Some(holder.as_str()) != id
            && holder_client != client
        {
            return Err(AppError::Conflict(format!(
                "venName {name:?} is held by ven {holder:?} of client {holder_client:?}; delete or rename that \
                 ven first"
            )));
        }
    } else if repo::name_of_another_client(c, name, client)? {
        return Err(AppError::Conflict(format!(
            "venName {name:?} is reserved for the client of that name"
        )));
    }
    Ok(())
}

/// A VEN may touch only its own ven; the business logic may touch all.
fn check_owner(c: &mut AnyConnection, who: &Principal, id: &str) -> Result<(), AppError> {
    if who.is_business_logic() || repo::ven_client(c, id)? == who.client_id {
        Ok(())
    } else {
        Err(AppError::not_found("ven", id))
    }
}

fn write_of(state: &AppState, id: String, r: &Resolved<'_>) -> Result<repo::ObjectWrite, AppError> {
    let content = VenContent {
        client_id: &r.client_id,
        ven_name: r.ven_name,
        attributes: r.attributes,
    };
    object_write(state, id, &content, r.targets.flatten())
}

/// A VEN-private object's links: only its owner (and the business logic) hears of it.
pub(crate) fn owned_by(client_id: &str) -> Links<'_> {
    Links {
        owner: Some(client_id),
        ..Links::default()
    }
}

pub async fn create(state: &AppState, who: &Principal, req: VenRequest) -> Result<StoredObject, AppError> {
    let r = resolve(who, &req)?;
    let w = write_of(state, ObjectId::generate().into_string(), &r)?;
    let (name, client) = (r.ven_name.as_str().to_owned(), r.client_id.clone());
    let who2 = who.clone();
    state
        .commit(move |tx| {
            check_name(tx, &who2, &name, &client, None)?;
            let o = repo::insert_ven(tx, &w, &name, &client).map_err(|e| conflict(e, &name))?;
            tx.changed(Operation::Create, &o, owned_by(&client));
            Ok(o)
        })
        .await
}

pub async fn update(state: &AppState, who: &Principal, id: String, req: VenRequest) -> Result<StoredObject, AppError> {
    let r = resolve(who, &req)?;
    let keep_targets = r.targets.is_none();
    let w = write_of(state, id.clone(), &r)?;
    let (name, client) = (r.ven_name.as_str().to_owned(), r.client_id.clone());
    let who2 = who.clone();
    state
        .commit(move |tx| {
            check_owner(tx, &who2, &w.id)?;
            check_name(tx, &who2, &name, &client, Some(&w.id))?;
            let mut w = w.clone();
            if keep_targets {
                w.targets = repo::get_ven(tx, &w.id)?.targets;
            }
            let o = repo::update_ven(tx, &w, &name, &client).map_err(|e| conflict(e, &name))?;
            tx.changed(Operation::Update, &o, owned_by(&client));
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("ven", &id))
}

pub async fn delete(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who2 = who.clone();
    let id2 = id.clone();
    state
        .commit(move |tx| {
            check_owner(tx, &who2, &id2)?;
            if let Some(site) = crate::store::sites::site_of_ven(tx, &id2)? {
                return Err(AppError::Conflict(format!(
                    "ven {id2:?} is the site {site:?}, whose telemetry and enrollments are settlement evidence; delete the site first"
                )));
            }
            let client = repo::ven_client(tx, &id2)?;
            let o = repo::delete_ven(tx, &id2)?;
            tx.changed(Operation::Delete, &o, owned_by(&client));
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("ven", &id))
}

pub async fn get(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who = who.clone();
    let id2 = id.clone();
    state
        .read(move |c| {
            check_owner(c, &who, &id2)?;
            Ok(repo::get_ven(c, &id2)?)
        })
        .await
        .map_err(|e| e.with_not_found("ven", &id))
}

pub async fn list(state: &AppState, who: &Principal, q: VenQuery) -> Result<View<Vec<StoredObject>>, AppError> {
    let page = query::page(q.skip, q.limit);
    let filter = VenFilter {
        ven_name: q.ven_name.map(Name::into_string),
        targets: Targets::into_strings(q.targets),
        client_id: (!who.is_business_logic()).then(|| who.client_id.clone()),
    };
    Ok(View::all(
        state.db.read(move |c| repo::list_vens(c, &filter, page)).await?,
    ))
}

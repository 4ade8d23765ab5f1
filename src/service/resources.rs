//! Resources: a ven's devices or sites. Created by the business logic (with targets) or by the VEN for its
//! own ven. A resource's clientID is always its ven's.

use serde::Serialize;

use crate::auth::Principal;
use crate::error::AppError;
use crate::store::repo::{self, ResourceColumns, ResourceFilter};
use crate::store::{AnyConnection, StoreError};
use crate::wire::{Name, ObjectId, ResourceRequest, StoredObject, Target, ValuesMap};

use super::vens::owned_by;
use super::{AppState, View, object_write};
use crate::wire::Operation;
use crate::wire::query::{self, ResourceQuery, Targets};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceContent<'a> {
    #[serde(rename = "clientID")]
    client_id: &'a str,
    resource_name: &'a Name,
    #[serde(rename = "venID")]
    ven_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    attributes: Option<&'a Vec<ValuesMap>>,
}

/// The request checked against the caller and the ven it names, ready to write.
struct Plan {
    cols: ResourceColumns,
    attributes: Option<Vec<ValuesMap>>,
    name: Name,
    /// `None`: a VEN's request; targets are the business logic's and existing ones are kept.
    targets: Option<Option<Vec<Target>>>,
}

/// Resolves the ven a resource belongs to. A VEN may name only its own ven (or none: OpenLEADR's client
/// omits venID); a ven it does not own is treated as nonexistent.
fn plan(c: &mut AnyConnection, who: &Principal, req: &ResourceRequest) -> Result<Plan, AppError> {
    match req {
        ResourceRequest::Bl(r) => {
            let client = match repo::ven_client(c, r.ven_id.as_str()) {
                Err(StoreError::NotFound) => return Err(no_ven(req)),
                other => other?,
            };
            if client != r.client_id.as_str() {
                return Err(AppError::BadRequest(format!(
                    "clientID {:?} is not the clientID of ven {:?} ({client:?})",
                    r.client_id.as_str(),
                    r.ven_id.as_str()
                )));
            }
            Ok(Plan {
                cols: ResourceColumns {
                    ven_id: r.ven_id.as_str().to_owned(),
                    client_id: client,
                    resource_name: r.resource_name.as_str().to_owned(),
                },
                attributes: r.attributes.clone(),
                name: r.resource_name.clone(),
                targets: Some(r.targets.clone()),
            })
        }
        ResourceRequest::Ven(r) => {
            let own = repo::ven_id_of_client(c, &who.client_id)?;
            let ven_id = match (own, &r.ven_id) {
                (Some(own), None) => own,
                (Some(own), Some(asked)) if own == asked.as_str() => own,
                _ => return Err(no_ven(req)),
            };
            Ok(Plan {
                cols: ResourceColumns {
                    ven_id,
                    client_id: who.client_id.clone(),
                    resource_name: r.resource_name.as_str().to_owned(),
                },
                attributes: r.attributes.clone(),
                name: r.resource_name.clone(),
                targets: None,
            })
        }
    }
}

fn check_role(who: &Principal, req: &ResourceRequest) -> Result<(), AppError> {
    match (who.is_business_logic(), req) {
        (true, ResourceRequest::Bl(_)) | (false, ResourceRequest::Ven(_)) => Ok(()),
        (true, ResourceRequest::Ven(_)) => Err(AppError::BadRequest(
            "the business logic writes resources with objectType BL_RESOURCE_REQUEST, naming clientID and venID".into(),
        )),
        (false, ResourceRequest::Bl(_)) => Err(AppError::Forbidden(
            "a VEN writes resources with objectType VEN_RESOURCE_REQUEST; only the business logic may set clientID and targets".into(),
        )),
    }
}

/// The resource's ven must be one this client may add to.
fn no_ven(req: &ResourceRequest) -> AppError {
    let ven = match req {
        ResourceRequest::Bl(r) => Some(r.ven_id.as_str()),
        ResourceRequest::Ven(r) => r.ven_id.as_ref().map(|v| v.as_str()),
    };
    AppError::Conflict(match ven {
        Some(v) => format!("venID {v:?} names no ven this client may add resources to"),
        None => "this client has no ven yet: register one with POST /vens first".into(),
    })
}

/// A resource's name is unique within its ven, which must exist when it is written.
fn resource_error(e: StoreError, req: &ResourceRequest) -> AppError {
    let name = match req {
        ResourceRequest::Bl(r) => r.resource_name.as_str(),
        ResourceRequest::Ven(r) => r.resource_name.as_str(),
    };
    match e {
        StoreError::ForeignKey(_) => no_ven(req),
        StoreError::Conflict(_) => AppError::Conflict(format!("the ven already has a resource named {name:?}")),
        other => other.into(),
    }
}

fn write_of(state: &AppState, id: String, p: &Plan) -> Result<repo::ObjectWrite, AppError> {
    let content = ResourceContent {
        client_id: &p.cols.client_id,
        resource_name: &p.name,
        ven_id: &p.cols.ven_id,
        attributes: p.attributes.as_ref(),
    };
    object_write(state, id, &content, p.targets.as_ref().and_then(|t| t.as_deref()))
}

/// Writes resolved inside the transaction (the ven lookup and the write see the same data).
async fn write(
    state: &AppState,
    who: &Principal,
    id: Option<String>,
    req: ResourceRequest,
) -> Result<StoredObject, AppError> {
    check_role(who, &req)?;
    let who2 = who.clone();
    let state2 = state.clone();
    let req2 = req.clone();
    let is_update = id.is_some();
    let id = id.unwrap_or_else(|| ObjectId::generate().into_string());
    let id2 = id.clone();
    let written = state
        .commit(move |tx| {
            if is_update {
                // Existence and ownership first: another VEN's resource is simply not found.
                check_owner(tx, &who2, &id2)?;
            }
            let p = plan(tx, &who2, &req2)?;
            let mut w = write_of(&state2, id2.clone(), &p)?;
            let (o, op) = if is_update {
                if p.targets.is_none() {
                    w.targets = repo::get_resource(tx, &w.id)?.targets;
                }
                (repo::update_resource(tx, &w, &p.cols), Operation::Update)
            } else {
                (repo::insert_resource(tx, &w, &p.cols), Operation::Create)
            };
            let o = o.map_err(|e| resource_error(e, &req2))?;
            tx.changed(op, &o, owned_by(&p.cols.client_id));
            Ok(o)
        })
        .await;
    if is_update {
        written.map_err(|e| e.with_not_found("resource", &id))
    } else {
        written
    }
}

pub async fn create(state: &AppState, who: &Principal, req: ResourceRequest) -> Result<StoredObject, AppError> {
    write(state, who, None, req).await
}

pub async fn update(
    state: &AppState,
    who: &Principal,
    id: String,
    req: ResourceRequest,
) -> Result<StoredObject, AppError> {
    write(state, who, Some(id), req).await
}

fn check_owner(c: &mut AnyConnection, who: &Principal, id: &str) -> Result<(), AppError> {
    if who.is_business_logic() || repo::resource_owner(c, id)?.1 == who.client_id {
        Ok(())
    } else {
        Err(AppError::not_found("resource", id))
    }
}

pub async fn delete(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who2 = who.clone();
    let id2 = id.clone();
    state
        .commit(move |tx| {
            check_owner(tx, &who2, &id2)?;
            let (_, owner) = repo::resource_owner(tx, &id2)?;
            let o = repo::delete_resource(tx, &id2)?;
            tx.changed(Operation::Delete, &o, owned_by(&owner));
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("resource", &id))
}

pub async fn get(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who = who.clone();
    let id2 = id.clone();
    state
        .read(move |c| {
            check_owner(c, &who, &id2)?;
            Ok(repo::get_resource(c, &id2)?)
        })
        .await
        .map_err(|e| e.with_not_found("resource", &id))
}

pub async fn list(state: &AppState, who: &Principal, q: ResourceQuery) -> Result<View<Vec<StoredObject>>, AppError> {
    let page = query::page(q.skip, q.limit);
    let filter = ResourceFilter {
        resource_name: q.resource_name.map(Name::into_string),
        ven_id: q.ven_id.map(ObjectId::into_string),
        targets: Targets::into_strings(q.targets),
        client_id: (!who.is_business_logic()).then(|| who.client_id.clone()),
    };
    Ok(View::all(
        state.db.read(move |c| repo::list_resources(c, &filter, page)).await?,
    ))
}

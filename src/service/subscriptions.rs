//! Subscriptions: stored and filtered here, callback URLs checked (https and the echo handshake) before
//! anything is stored; delivery of notifications is `notify`'s job.

use serde::Serialize;

use crate::auth::Principal;
use crate::error::AppError;
use crate::store::repo::{self, SubscriptionColumns, SubscriptionFilter};
use crate::store::{AnyConnection, StoreError};
use crate::wire::{ObjectId, StoredObject, SubscriptionRequest};

use super::vens::owned_by;
use super::{AppState, Links, View, object_write};
use crate::wire::Name;
use crate::wire::Operation;
use crate::wire::query::{self, ObjectTypes, SubscriptionQuery};

/// What is stored: the request (targets included: subscription targets filter notifications and are not
/// hidden) plus the clientID of the subscribing client.
#[derive(Serialize)]
struct SubscriptionContent<'a> {
    #[serde(rename = "clientID")]
    client_id: &'a str,
    /// The same value under the name OpenLEADR's wire types (0.2.x) expect; an extra property, which the
    /// spec allows (Def §Extensibility), so that client decodes subscriptions (docs/spec-decisions.md).
    #[serde(rename = "clientId")]
    client_id_compat: &'a str,
    #[serde(flatten)]
    req: &'a SubscriptionRequest,
}

fn content_json(client_id: &str, req: &SubscriptionRequest) -> Result<String, AppError> {
    serde_json::to_string(&SubscriptionContent {
        client_id,
        client_id_compat: client_id,
        req,
    })
    .map_err(|e| AppError::Internal(e.to_string()))
}

fn columns(client_id: &str, business_logic: bool, req: &SubscriptionRequest) -> SubscriptionColumns {
    SubscriptionColumns {
        client_id: client_id.to_owned(),
        business_logic,
        client_name: req.client_name.as_str().to_owned(),
        program_id: req.program_id.as_ref().map(|p| p.as_str().to_owned()),
        objects: req
            .object_operations
            .iter()
            .flat_map(|o| o.objects.iter().copied())
            .collect(),
    }
}

/// A VEN may touch only its own subscriptions; the business logic may touch all.
fn check_owner(c: &mut AnyConnection, who: &Principal, id: &str) -> Result<(), AppError> {
    if who.is_business_logic() || repo::subscription_client(c, id)? == who.client_id {
        Ok(())
    } else {
        Err(AppError::not_found("subscription", id))
    }
}

/// A subscription names a program that must exist.
fn missing_program(e: StoreError, req: &SubscriptionRequest) -> AppError {
    match e {
        StoreError::ForeignKey(_) => AppError::Conflict(format!(
            "programID {:?} names no program",
            req.program_id.as_ref().map(|p| p.as_str()).unwrap_or_default()
        )),
        other => other.into(),
    }
}

/// Every callback URL must be https and answer the echo handshake (Def §Webhooks: the VTN "MUST NOT
/// allow creation" otherwise); checked on create and on update, before anything is written. A
/// subscription past the limits (`notifications.max_*`: operations, distinct callback URLs) is refused
/// first, so it costs no outbound request.
async fn check_callbacks(state: &AppState, req: &SubscriptionRequest) -> Result<(), AppError> {
    let limits = state.webhooks.limits;
    if req.object_operations.len() > limits.operations {
        return Err(AppError::BadRequest(format!(
            "at most {} objectOperations per subscription (notifications.max_operations_per_subscription), got {}",
            limits.operations,
            req.object_operations.len()
        )));
    }
    let mut urls: Vec<&str> = req.object_operations.iter().map(|o| o.callback_url.as_str()).collect();
    urls.sort_unstable();
    urls.dedup();
    if urls.len() > limits.callback_urls {
        return Err(AppError::BadRequest(format!(
            "at most {} distinct callback URLs per subscription (notifications.max_callback_urls_per_subscription), \
             got {}",
            limits.callback_urls,
            urls.len()
        )));
    }
    for url in urls {
        state
            .webhooks
            .verify_echo(url)
            .await
            .map_err(|f| AppError::BadRequest(format!("callbackUrl refused: {}", f.reason)))?;
    }
    Ok(())
}

fn subscription_links<'a>(o: &'a SubscriptionRequest, owner: &'a str) -> Links<'a> {
    Links {
        program_id: o.program_id.as_ref().map(|p| p.as_str()),
        ..owned_by(owner)
    }
}

/// A VEN may hold at most `notifications.max_subscriptions_per_client` subscriptions (the business
/// logic is not limited); checked before the echo handshake and again in the write.
fn check_count(c: &mut AnyConnection, who: &Principal, limit: i64) -> Result<(), AppError> {
    if !who.is_business_logic() && repo::count_subscriptions(c, &who.client_id)? >= limit {
        return Err(AppError::BadRequest(format!(
            "at most {limit} subscriptions per client (notifications.max_subscriptions_per_client); delete one first"
        )));
    }
    Ok(())
}

pub async fn create(state: &AppState, who: &Principal, req: SubscriptionRequest) -> Result<StoredObject, AppError> {
    let limit = state.webhooks.limits.per_client;
    let who_count = who.clone();
    state.read(move |c| check_count(c, &who_count, limit)).await?;
    check_callbacks(state, &req).await?;
    let who_count = who.clone();
    let mut w = object_write(state, ObjectId::generate().into_string(), &(), None)?;
    w.body = content_json(&who.client_id, &req)?;
    let cols = columns(&who.client_id, who.is_business_logic(), &req);
    let req2 = req.clone();
    state
        .commit(move |tx| {
            check_count(tx, &who_count, limit)?;
            let o = repo::insert_subscription(tx, &w, &cols).map_err(|e| missing_program(e, &req2))?;
            tx.changed(Operation::Create, &o, subscription_links(&req2, &cols.client_id));
            Ok(o)
        })
        .await
}

pub async fn update(
    state: &AppState,
    who: &Principal,
    id: String,
    req: SubscriptionRequest,
) -> Result<StoredObject, AppError> {
    let mut w = object_write(state, id.clone(), &(), None)?;
    let who2 = who.clone();
    let req2 = req.clone();
    // Ownership before the echo check: a VEN learns nothing of (and causes no requests for) another
    // client's subscription.
    let (who3, id3) = (who.clone(), id.clone());
    state
        .read(move |c| check_owner(c, &who3, &id3))
        .await
        .map_err(|e| e.with_not_found("subscription", &id))?;
    check_callbacks(state, &req).await?;
    state
        .commit(move |tx| {
            check_owner(tx, &who2, &w.id)?;
            // The subscription keeps the client that created it, even when the business logic edits it.
            let owner = repo::subscription_client(tx, &w.id)?;
            w.body = content_json(&owner, &req2)?;
            // `business_logic` is not updated: it stays what it was at creation.
            let o = repo::update_subscription(tx, &w, &columns(&owner, false, &req2))
                .map_err(|e| missing_program(e, &req2))?;
            tx.changed(Operation::Update, &o, subscription_links(&req2, &owner));
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("subscription", &id))
}

pub async fn delete(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who2 = who.clone();
    let id2 = id.clone();
    let now = state.clock.now();
    state
        .commit(move |tx| {
            check_owner(tx, &who2, &id2)?;
            let owner = repo::subscription_client(tx, &id2)?;
            let o = repo::delete_subscription(tx, &id2)?;
            crate::store::outbox::cancel_for_subscription(tx, &id2, now)?;
            let req: Option<SubscriptionRequest> = serde_json::from_str(&o.body).ok();
            let links = match &req {
                Some(r) => subscription_links(r, &owner),
                None => owned_by(&owner),
            };
            tx.changed(Operation::Delete, &o, links);
            Ok(o)
        })
        .await
        .map_err(|e| e.with_not_found("subscription", &id))
}

pub async fn get(state: &AppState, who: &Principal, id: String) -> Result<StoredObject, AppError> {
    let who = who.clone();
    let id2 = id.clone();
    state
        .read(move |c| {
            check_owner(c, &who, &id2)?;
            Ok(repo::get_subscription(c, &id2)?)
        })
        .await
        .map_err(|e| e.with_not_found("subscription", &id))
}

pub async fn list(
    state: &AppState,
    who: &Principal,
    q: SubscriptionQuery,
) -> Result<View<Vec<StoredObject>>, AppError> {
    let page = query::page(q.skip, q.limit);
    let filter = SubscriptionFilter {
        program_id: q.program_id.map(ObjectId::into_string),
        client_name: q.client_name.map(Name::into_string),
        objects: q.objects.map(ObjectTypes::into_vec).unwrap_or_default(),
        client_id: (!who.is_business_logic()).then(|| who.client_id.clone()),
    };
    Ok(View::all(
        state
            .db
            .read(move |c| repo::list_subscriptions(c, &filter, page))
            .await?,
    ))
}

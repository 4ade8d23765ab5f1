//! `/subscriptions`.

use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put};
use utoipa::IntoParams;

use super::docs::Subscription;
use super::extract::{Caller, JsonBody, Query};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, subscriptions};
use crate::wire::ObjectType;
use crate::wire::{Name, ObjectId};
use crate::wire::{Problem, SubscriptionRequest};

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ListParams {
    /// Only subscriptions to this program.
    #[param(rename = "programID")]
    program_id: Option<ObjectId>,
    /// Only subscriptions with this clientName.
    #[param(rename = "clientName")]
    client_name: Option<Name>,
    /// Only subscriptions naming one of these object types.
    #[param(rename = "objects")]
    objects: Option<Vec<ObjectType>>,
    #[param(minimum = 0)]
    skip: Option<i32>,
    #[param(minimum = 0, maximum = 50)]
    limit: Option<i32>,
}

/// The `objects` filter: object type names, unknown ones refused.
fn object_types(q: &Query) -> Result<Vec<ObjectType>, AppError> {
    q.names("objects")?
        .unwrap_or_default()
        .iter()
        .map(|o| {
            ObjectType::parse(o).ok_or_else(|| AppError::BadRequest(format!("objects: {o:?} is not an object type")))
        })
        .collect::<Result<_, _>>()
}

/// Subscriptions: a VEN sees its own, the business logic all.
#[utoipa::path(tag = "subscriptions", operation_id = "searchSubscriptions", params(ListParams),
    responses((status = 200, body = [Subscription]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/subscriptions")]
pub async fn search_subscriptions(
    state: Data<AppState>,
    who: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let view = subscriptions::list(
        &state,
        &who.0,
        subscriptions::SubscriptionQuery {
            program_id: q.object_id("programID")?,
            client_name: q.name("clientName")?,
            objects: object_types(&q)?,
        },
        q.page()?,
    )
    .await?;
    Ok(ok(view.to_json()))
}

/// Creates a subscription.
#[utoipa::path(tag = "subscriptions", operation_id = "createSubscription", request_body = SubscriptionRequest,
    responses((status = 201, body = Subscription), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/subscriptions")]
pub async fn create_subscription(
    state: Data<AppState>,
    who: Caller,
    body: JsonBody<SubscriptionRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(created(subscriptions::create(&state, &who.0, body.0).await?.to_json()))
}

/// One subscription.
#[utoipa::path(tag = "subscriptions", operation_id = "searchSubscriptionByID", params(("subscriptionID" = String, Path)),
    responses((status = 200, body = Subscription), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/subscriptions/{subscriptionID}")]
pub async fn search_subscription_by_id(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(subscriptions::get(&state, &who.0, id.into_inner()).await?.to_json()))
}

/// Replaces a subscription.
#[utoipa::path(tag = "subscriptions", operation_id = "updateSubscription", params(("subscriptionID" = String, Path)), request_body = SubscriptionRequest,
    responses((status = 200, body = Subscription), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[put("/subscriptions/{subscriptionID}")]
pub async fn update_subscription(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
    body: JsonBody<SubscriptionRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(subscriptions::update(&state, &who.0, id.into_inner(), body.0)
        .await?
        .to_json()))
}

/// Deletes a subscription.
#[utoipa::path(tag = "subscriptions", operation_id = "deleteSubscription", params(("subscriptionID" = String, Path)),
    responses((status = 200, body = Subscription), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/subscriptions/{subscriptionID}")]
pub async fn delete_subscription(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(subscriptions::delete(&state, &who.0, id.into_inner())
        .await?
        .to_json()))
}

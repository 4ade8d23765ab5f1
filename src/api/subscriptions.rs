//! `/subscriptions`.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, delete, get, post, put};

use super::docs::Subscription;
use super::extract::{Caller, JsonBody, Params};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, subscriptions};
use crate::wire::query::SubscriptionQuery;
use crate::wire::{Problem, SubscriptionRequest};

/// Subscriptions: a VEN sees its own, the business logic all.
#[utoipa::path(tag = "subscriptions", operation_id = "searchSubscriptions", params(SubscriptionQuery),
    responses((status = 200, body = [Subscription]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/subscriptions")]
pub async fn search_subscriptions(
    state: Data<AppState>,
    who: Caller,
    q: Params<SubscriptionQuery>,
) -> Result<HttpResponse, AppError> {
    let view = subscriptions::list(&state, &who.0, q.0).await?;
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

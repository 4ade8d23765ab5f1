//! `/notifiers` (OpenADR 3.1) and the operator's view of notification delivery (`/ops/notifications`,
//! `/ops/callbacks`).

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse, get};
use utoipa::IntoParams;

use super::extract::{Caller, Query};
use super::ok;
use crate::error::AppError;
use crate::service::{AppState, notifications};
use crate::store::outbox::NotificationFilter;
use crate::wire::Problem;
use crate::wire::ops::{CallbackStatus, NotificationStatus, NotifiersResponse};

/// The notification bindings offered. The yaml asks for `read_all`; every authenticated client may read
/// it (it reveals nothing private, and VENs need it to choose a binding; docs/spec-decisions.md).
#[utoipa::path(tag = "notifiers", operation_id = "listAllNotifiers", security(("bearerAuth" = [])),
    responses((status = 200, body = NotifiersResponse), (status = 401, body = Problem)))]
#[get("/notifiers")]
pub async fn list_all_notifiers(_who: Caller) -> HttpResponse {
    HttpResponse::Ok().json(NotifiersResponse { webhook: true })
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct NotificationParams {
    /// Notifications about this event and its reports.
    #[param(rename = "eventID")]
    event_id: Option<String>,
    #[param(rename = "subscriptionID")]
    subscription_id: Option<String>,
    /// Notifications about this object.
    #[param(rename = "objectID")]
    object_id: Option<String>,
    /// Notifications to this subscribing client.
    #[param(rename = "clientID")]
    client_id: Option<String>,
    /// pending, delivered, failed or cancelled.
    state: Option<String>,
    #[param(minimum = 0)]
    skip: Option<i32>,
    #[param(minimum = 0, maximum = 50)]
    limit: Option<i32>,
}

/// Notifications and their delivery state, oldest change first (operator only).
#[utoipa::path(tag = "operations", params(NotificationParams), security(("bearerAuth" = ["read_all"])),
    responses((status = 200, body = [NotificationStatus]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/notifications")]
pub async fn list_notifications(
    state: Data<AppState>,
    who: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let filter = NotificationFilter {
        event_id: q.object_id("eventID")?,
        subscription_id: q.object_id("subscriptionID")?,
        object_id: q.object_id("objectID")?,
        client_id: q.name("clientID")?,
        state: q.one("state").map(str::to_owned),
    };
    let list = notifications::list(&state, &who.0, filter, q.page()?).await?;
    Ok(ok(
        serde_json::to_string(&list).map_err(|e| AppError::Internal(e.to_string()))?
    ))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct CallbackParams {
    /// Only callback URLs currently considered broken.
    broken: Option<bool>,
    #[param(minimum = 0)]
    skip: Option<i32>,
    #[param(minimum = 0, maximum = 50)]
    limit: Option<i32>,
}

/// The health of every callback URL notifications were sent to (operator only).
#[utoipa::path(tag = "operations", params(CallbackParams), security(("bearerAuth" = ["read_all"])),
    responses((status = 200, body = [CallbackStatus]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/callbacks")]
pub async fn list_callbacks(state: Data<AppState>, who: Caller, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let list = notifications::callbacks(&state, &who.0, q.bool("broken")?.unwrap_or(false), q.page()?).await?;
    Ok(ok(
        serde_json::to_string(&list).map_err(|e| AppError::Internal(e.to_string()))?
    ))
}

//! `/events`.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, delete, get, post, put};

use super::docs::Event;
use super::extract::{Caller, JsonBody, Params};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, events};
use crate::wire::query::EventQuery;
use crate::wire::{EventRequest, Problem};

/// Events the caller may see (VENs: untargeted ones and those matching their granted targets), oldest first.
#[utoipa::path(tag = "events", operation_id = "searchAllEvents", params(EventQuery),
    responses((status = 200, body = [Event]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/events")]
pub async fn search_all_events(
    state: Data<AppState>,
    who: Caller,
    q: Params<EventQuery>,
) -> Result<HttpResponse, AppError> {
    let body = events::list(&state, &who.0, q.0).await?;
    Ok(ok(body))
}

/// Creates an event.
#[utoipa::path(tag = "events", operation_id = "createEvent", request_body = EventRequest,
    responses((status = 201, body = Event), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/events")]
pub async fn create_event(state: Data<AppState>, body: JsonBody<EventRequest>) -> Result<HttpResponse, AppError> {
    Ok(created(events::create(&state, body.0).await?.to_json()))
}

/// One event.
#[utoipa::path(tag = "events", operation_id = "searchEventsByID", params(("eventID" = String, Path)),
    responses((status = 200, body = Event), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/events/{eventID}")]
pub async fn search_events_by_id(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(events::get(&state, &who.0, id.into_inner()).await?.to_json()))
}

/// Replaces an event.
#[utoipa::path(tag = "events", operation_id = "updateEvent", params(("eventID" = String, Path)), request_body = EventRequest,
    responses((status = 200, body = Event), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[put("/events/{eventID}")]
pub async fn update_event(
    state: Data<AppState>,
    id: Path<String>,
    body: JsonBody<EventRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(events::update(&state, id.into_inner(), body.0).await?.to_json()))
}

/// Deletes an event (the way to cancel it); answers with the deleted event.
#[utoipa::path(tag = "events", operation_id = "deleteEvent", params(("eventID" = String, Path)),
    responses((status = 200, body = Event), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/events/{eventID}")]
pub async fn delete_event(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(events::delete(&state, id.into_inner()).await?.to_json()))
}

//! `/ops/dispatches` and response latency: megawatts asked of enrolled sites, and how each site answered.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, get, post};

use super::extract::{Caller, JsonBody, Params};
use super::{created, json, ok};
use crate::error::AppError;
use crate::service::{AppState, dispatch};
use crate::wire::Problem;
use crate::wire::query::{LatencyQuery, PageQuery};
use crate::wire::sites::{Dispatch, DispatchRequest, EventLatency, SiteLatency};

/// Dispatches, newest first.
#[utoipa::path(tag = "dispatch", params(PageQuery),
    responses((status = 200, body = [Dispatch]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/dispatches")]
pub async fn list_dispatches(state: Data<AppState>, q: Params<PageQuery>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&dispatch::list(&state, q.0.page()).await?)?))
}

/// Asks the program's enrolled sites for `targetMW` less (or more) load: picks sites in merit order,
/// sends each one OpenADR event with its new level, and returns the plan with any shortfall and the sites
/// skipped, with why.
#[utoipa::path(tag = "dispatch", request_body = DispatchRequest,
    responses((status = 201, body = Dispatch), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/ops/dispatches")]
pub async fn create_dispatch(
    state: Data<AppState>,
    who: Caller,
    body: JsonBody<DispatchRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(created(json(&dispatch::create(&state, &who.0, body.0).await?)?))
}

/// A dispatch and, live, each site's response: notified, acknowledged, ramping or ramped, delivered MW
/// from its telemetry against what it was asked for.
#[utoipa::path(tag = "dispatch", params(("dispatchID" = String, Path)),
    responses((status = 200, body = Dispatch), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/dispatches/{dispatchID}")]
pub async fn get_dispatch(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(dispatch::get(&state, id.into_inner()).await?))
}

/// Cancels a dispatch: its events that have not started are deleted, those under way end now.
#[utoipa::path(tag = "dispatch", params(("dispatchID" = String, Path)),
    responses((status = 200, body = Dispatch), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[post("/ops/dispatches/{dispatchID}/cancel")]
pub async fn cancel_dispatch(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&dispatch::cancel(&state, id.into_inner()).await?)?))
}

/// Every site's response to one event.
#[utoipa::path(tag = "dispatch", params(("eventID" = String, Path)),
    responses((status = 200, body = [EventLatency]), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/events/{eventID}/latency")]
pub async fn event_latency(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&dispatch::latency_of_event(&state, id.into_inner()).await?)?))
}

/// A site's response to the events of a period, with p50/p90/p99 of each figure.
#[utoipa::path(tag = "dispatch", params(("siteID" = String, Path), LatencyQuery),
    responses((status = 200, body = SiteLatency), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/sites/{siteID}/latency")]
pub async fn site_latency(
    state: Data<AppState>,
    id: Path<String>,
    q: Params<LatencyQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(json(
        &dispatch::latency_of_site(&state, id.into_inner(), q.0).await?,
    )?))
}

//! `/ops/sites` and a site's telemetry: the operator's record of each flexible-load site.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, delete, get, post, put};

use super::extract::{JsonBody, Params};
use super::{created, json, ok};
use crate::error::AppError;
use crate::service::{AppState, sites};
use crate::wire::Problem;
use crate::wire::query::{PageQuery, TelemetryQuery};
use crate::wire::sites::{Site, SiteRequest, SiteTelemetry};

/// Sites, by name (operator only).
#[utoipa::path(tag = "sites", params(PageQuery),
    responses((status = 200, body = [Site]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/sites")]
pub async fn list_sites(state: Data<AppState>, q: Params<PageQuery>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&sites::list_sites(&state, q.0.page()).await?)?))
}

/// Creates a site: a ven plus what the operator knows of it. 409 when the ven does not exist, is already a
/// site, or the name is taken.
#[utoipa::path(tag = "sites", request_body = SiteRequest,
    responses((status = 201, body = Site), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/ops/sites")]
pub async fn create_site(state: Data<AppState>, body: JsonBody<SiteRequest>) -> Result<HttpResponse, AppError> {
    Ok(created(json(&sites::create_site(&state, body.0).await?)?))
}

/// One site.
#[utoipa::path(tag = "sites", params(("siteID" = String, Path)),
    responses((status = 200, body = Site), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/sites/{siteID}")]
pub async fn get_site(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&sites::get_site(&state, id.into_inner()).await?)?))
}

/// Replaces a site. 409 when a smaller maximum import no longer carries its enrollments.
#[utoipa::path(tag = "sites", params(("siteID" = String, Path)), request_body = SiteRequest,
    responses((status = 200, body = Site), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[put("/ops/sites/{siteID}")]
pub async fn update_site(
    state: Data<AppState>,
    id: Path<String>,
    body: JsonBody<SiteRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&sites::update_site(&state, id.into_inner(), body.0).await?)?))
}

/// Deletes a site with no enrollments (and its telemetry).
#[utoipa::path(tag = "sites", params(("siteID" = String, Path)),
    responses((status = 200, body = Site), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[delete("/ops/sites/{siteID}")]
pub async fn delete_site(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&sites::delete_site(&state, id.into_inner()).await?)?))
}

/// A site's telemetry, read from its VEN's reports as they arrived: oldest first, power in MW, energy in
/// MWh; with the count of its reports whose payloads could not all be read, and why.
#[utoipa::path(tag = "sites", params(("siteID" = String, Path), TelemetryQuery),
    responses((status = 200, body = SiteTelemetry), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/sites/{siteID}/telemetry")]
pub async fn site_telemetry(
    state: Data<AppState>,
    id: Path<String>,
    q: Params<TelemetryQuery>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&sites::telemetry(&state, id.into_inner(), q.0).await?)?))
}

//! `/ops/sites`, `/ops/enrollments`, site telemetry, `/ops/dispatches` and response latency: the operator's
//! view of flexible-load sites.

use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put};
use serde::Serialize;
use utoipa::IntoParams;

use super::extract::{Caller, JsonBody, Query};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, dispatch, sites};
use crate::store::repo::to_naive;
use crate::store::sites::{EnrollmentFilter, TelemetryFilter};
use crate::wire::Problem;
use crate::wire::sites::{
    Dispatch, DispatchRequest, Enrollment, EnrollmentRequest, EventLatency, PriceSignalRequest, Site, SiteLatency,
    SiteRequest, SiteTelemetry,
};
use crate::wire::{Name, ObjectId, WireDateTime};

// JSON objects only (see crate::wire::strict).
crate::wire::strict::objects_only!(; deserialize_only: NewVenClient);

fn json<T: Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| AppError::Internal(e.to_string()))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct PageParams {
    #[param(minimum = 0)]
    skip: Option<i32>,
    #[param(minimum = 0, maximum = 50)]
    limit: Option<i32>,
}

/// Sites, by name (operator only).
#[utoipa::path(tag = "sites", params(PageParams),
    responses((status = 200, body = [Site]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/sites")]
pub async fn list_sites(state: Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    Ok(ok(json(&sites::list_sites(&state, q.page()?).await?)?))
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

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct TelemetryParams {
    /// Points starting at or after this time.
    from: Option<WireDateTime>,
    /// Points starting before this time.
    to: Option<WireDateTime>,
    /// Only this payload type (DEMAND, USAGE, OPERATING_STATE, …).
    #[param(rename = "payloadType")]
    payload_type: Option<Name>,
    /// Only points from reports on this event.
    #[param(rename = "eventID")]
    event_id: Option<ObjectId>,
    #[param(minimum = 0)]
    skip: Option<i32>,
    /// Default and maximum 10,000.
    #[param(minimum = 0, maximum = 10000)]
    limit: Option<i32>,
}

/// A site's telemetry, read from its VEN's reports as they arrived: oldest first, power in MW, energy in
/// MWh; with the count of its reports whose payloads could not all be read, and why.
#[utoipa::path(tag = "sites", params(("siteID" = String, Path), TelemetryParams),
    responses((status = 200, body = SiteTelemetry), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/sites/{siteID}/telemetry")]
pub async fn site_telemetry(
    state: Data<AppState>,
    id: Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let filter = TelemetryFilter {
        from: q.time("from")?.map(to_naive),
        to: q.time("to")?.map(to_naive),
        payload_type: q.name("payloadType")?,
        event_id: q.object_id("eventID")?,
    };
    let page = q.long_page(sites::MAX_POINTS)?;
    Ok(ok(json(
        &sites::telemetry(&state, id.into_inner(), filter, page).await?,
    )?))
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct EnrollmentParams {
    #[param(rename = "siteID")]
    site_id: Option<ObjectId>,
    #[param(rename = "programID")]
    program_id: Option<ObjectId>,
    #[param(minimum = 0)]
    skip: Option<i32>,
    #[param(minimum = 0, maximum = 50)]
    limit: Option<i32>,
}

/// Enrollments, filtered by site and program.
#[utoipa::path(tag = "sites", params(EnrollmentParams),
    responses((status = 200, body = [Enrollment]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/enrollments")]
pub async fn list_enrollments(state: Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let filter = EnrollmentFilter {
        site_id: q.object_id("siteID")?,
        program_id: q.object_id("programID")?,
    };
    Ok(ok(json(&sites::list_enrollments(&state, filter, q.page()?).await?)?))
}

/// Commits some of a site's megawatts to a program. 409 with the conflicting enrollment named when the
/// site's calendar cannot carry it (the same MW committed twice at overlapping times), or when the site or
/// program does not exist.
#[utoipa::path(tag = "sites", request_body = EnrollmentRequest,
    responses((status = 201, body = Enrollment), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/ops/enrollments")]
pub async fn create_enrollment(
    state: Data<AppState>,
    body: JsonBody<EnrollmentRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(created(json(&sites::create_enrollment(&state, body.0).await?)?))
}

/// One enrollment.
#[utoipa::path(tag = "sites", params(("enrollmentID" = String, Path)),
    responses((status = 200, body = Enrollment), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/enrollments/{enrollmentID}")]
pub async fn get_enrollment(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&sites::get_enrollment(&state, id.into_inner()).await?)?))
}

/// Replaces an enrollment (checked against the calendar like a new one).
#[utoipa::path(tag = "sites", params(("enrollmentID" = String, Path)), request_body = EnrollmentRequest,
    responses((status = 200, body = Enrollment), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[put("/ops/enrollments/{enrollmentID}")]
pub async fn update_enrollment(
    state: Data<AppState>,
    id: Path<String>,
    body: JsonBody<EnrollmentRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(json(
        &sites::update_enrollment(&state, id.into_inner(), body.0).await?,
    )?))
}

/// Ends an enrollment.
#[utoipa::path(tag = "sites", params(("enrollmentID" = String, Path)),
    responses((status = 200, body = Enrollment), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/ops/enrollments/{enrollmentID}")]
pub async fn delete_enrollment(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&sites::delete_enrollment(&state, id.into_inner()).await?)?))
}

/// Dispatches, newest first.
#[utoipa::path(tag = "dispatch", params(PageParams),
    responses((status = 200, body = [Dispatch]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/dispatches")]
pub async fn list_dispatches(state: Data<AppState>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    Ok(ok(json(&dispatch::list(&state, q.page()?).await?)?))
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

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct PeriodParams {
    /// Events starting at or after this time (default: 30 days before `to`).
    from: Option<WireDateTime>,
    /// Events starting before this time (default: now).
    to: Option<WireDateTime>,
}

/// A site's response to the events of a period, with p50/p90/p99 of each figure.
#[utoipa::path(tag = "dispatch", params(("siteID" = String, Path), PeriodParams),
    responses((status = 200, body = SiteLatency), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/ops/sites/{siteID}/latency")]
pub async fn site_latency(state: Data<AppState>, id: Path<String>, req: HttpRequest) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let to = q.time("to")?.unwrap_or_else(|| state.clock.now());
    let from = q.time("from")?.unwrap_or(to - chrono::Duration::days(30));
    Ok(ok(json(
        &dispatch::latency_of_site(&state, id.into_inner(), from, to).await?,
    )?))
}

/// `POST /ops/clients`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(remote = "Self")]
pub struct NewVenClient {
    /// A name for the client.
    pub name: Name,
}

/// Issues OAuth2 credentials for a VEN (a site's controller). The secret is shown once. Operator
/// credentials are made only with `sluice client add` on the server.
#[utoipa::path(tag = "sites", request_body = NewVenClient,
    responses((status = 201, body = crate::service::clients::IssuedClient), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 501, body = Problem)))]
#[post("/ops/clients")]
pub async fn issue_ven_client(state: Data<AppState>, body: JsonBody<NewVenClient>) -> Result<HttpResponse, AppError> {
    Ok(created(json(
        &crate::service::clients::issue_ven(&state, body.0.name).await?,
    )?))
}

/// The economic variant of dispatch: one OpenADR PRICE event (currency per MWh, one interval per price) to
/// the program's VENs; each site decides by its own offer. Returns the event.
#[utoipa::path(tag = "dispatch", request_body = PriceSignalRequest,
    responses((status = 201, body = super::docs::Event), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/ops/price-signals")]
pub async fn price_signal(state: Data<AppState>, body: JsonBody<PriceSignalRequest>) -> Result<HttpResponse, AppError> {
    Ok(created(dispatch::price_signal(&state, body.0).await?.to_json()))
}

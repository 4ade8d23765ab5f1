//! `/reports`.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, delete, get, post, put};

use super::docs::Report;
use super::extract::{Caller, JsonBody, Params};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, reports};
use crate::wire::query::ReportQuery;
use crate::wire::{Problem, ReportRequest};

/// Reports: a VEN sees its own, the business logic all.
#[utoipa::path(tag = "reports", operation_id = "searchAllReports", params(ReportQuery),
    responses((status = 200, body = [Report]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/reports")]
pub async fn search_all_reports(
    state: Data<AppState>,
    who: Caller,
    q: Params<ReportQuery>,
) -> Result<HttpResponse, AppError> {
    let view = reports::list(&state, &who.0, q.0).await?;
    Ok(ok(view.to_json()))
}

/// Creates a report.
#[utoipa::path(tag = "reports", operation_id = "createReport", request_body = ReportRequest,
    responses((status = 201, body = Report), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/reports")]
pub async fn create_report(
    state: Data<AppState>,
    who: Caller,
    body: JsonBody<ReportRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(created(reports::create(&state, &who.0, body.0).await?.to_json()))
}

/// One report.
#[utoipa::path(tag = "reports", operation_id = "searchReportsByReportID", params(("reportID" = String, Path)),
    responses((status = 200, body = Report), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/reports/{reportID}")]
pub async fn search_reports_by_report_id(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(reports::get(&state, &who.0, id.into_inner()).await?.to_json()))
}

/// Replaces a report.
#[utoipa::path(tag = "reports", operation_id = "updateReport", params(("reportID" = String, Path)), request_body = ReportRequest,
    responses((status = 200, body = Report), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[put("/reports/{reportID}")]
pub async fn update_report(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
    body: JsonBody<ReportRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(reports::update(&state, &who.0, id.into_inner(), body.0)
        .await?
        .to_json()))
}

/// Deletes one of the caller's reports.
#[utoipa::path(tag = "reports", operation_id = "deleteReport", params(("reportID" = String, Path)),
    responses((status = 200, body = Report), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/reports/{reportID}")]
pub async fn delete_report(state: Data<AppState>, who: Caller, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(reports::delete(&state, &who.0, id.into_inner()).await?.to_json()))
}

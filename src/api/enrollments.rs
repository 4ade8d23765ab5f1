//! `/ops/enrollments`: the megawatts of a site committed to a program, and when.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, delete, get, post, put};

use super::extract::{JsonBody, Params};
use super::{created, json, ok};
use crate::error::AppError;
use crate::service::{AppState, sites};
use crate::wire::Problem;
use crate::wire::query::EnrollmentQuery;
use crate::wire::sites::{Enrollment, EnrollmentRequest};

/// Enrollments, filtered by site and program.
#[utoipa::path(tag = "sites", params(EnrollmentQuery),
    responses((status = 200, body = [Enrollment]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/enrollments")]
pub async fn list_enrollments(state: Data<AppState>, q: Params<EnrollmentQuery>) -> Result<HttpResponse, AppError> {
    Ok(ok(json(&sites::list_enrollments(&state, q.0).await?)?))
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

//! `/programs`.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, delete, get, post, put};

use super::docs::Program;
use super::extract::{Caller, JsonBody, Params};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, programs};
use crate::wire::query::ProgramQuery;
use crate::wire::{Problem, ProgramRequest};

/// Programs the caller may see (VENs: untargeted ones and those matching their granted targets).
#[utoipa::path(tag = "programs", operation_id = "searchAllPrograms", params(ProgramQuery),
    responses((status = 200, body = [Program]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/programs")]
pub async fn search_all_programs(
    state: Data<AppState>,
    who: Caller,
    q: Params<ProgramQuery>,
) -> Result<HttpResponse, AppError> {
    let body = programs::list(&state, &who.0, q.0).await?;
    Ok(ok(body))
}

/// Creates a program.
#[utoipa::path(tag = "programs", operation_id = "createProgram", request_body = ProgramRequest,
    responses((status = 201, body = Program), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/programs")]
pub async fn create_program(state: Data<AppState>, body: JsonBody<ProgramRequest>) -> Result<HttpResponse, AppError> {
    Ok(created(programs::create(&state, body.0).await?.to_json()))
}

/// One program.
#[utoipa::path(tag = "programs", operation_id = "searchProgramByProgramId", params(("programID" = String, Path)),
    responses((status = 200, body = Program), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/programs/{programID}")]
pub async fn search_program_by_program_id(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(programs::get(&state, &who.0, id.into_inner()).await?.to_json()))
}

/// Replaces a program.
#[utoipa::path(tag = "programs", operation_id = "updateProgram", params(("programID" = String, Path)), request_body = ProgramRequest,
    responses((status = 200, body = Program), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[put("/programs/{programID}")]
pub async fn update_program(
    state: Data<AppState>,
    id: Path<String>,
    body: JsonBody<ProgramRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(programs::update(&state, id.into_inner(), body.0).await?.to_json()))
}

/// Deletes a program and its events; answers with the deleted program.
#[utoipa::path(tag = "programs", operation_id = "deleteProgram", params(("programID" = String, Path)),
    responses((status = 200, body = Program), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/programs/{programID}")]
pub async fn delete_program(state: Data<AppState>, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(programs::delete(&state, id.into_inner()).await?.to_json()))
}

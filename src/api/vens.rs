//! `/vens`.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, delete, get, post, put};

use super::docs::Ven;
use super::extract::{Caller, JsonBody, Params};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, vens};
use crate::wire::query::VenQuery;
use crate::wire::{Problem, VenRequest};

/// Vens: a VEN sees its own, the business logic all.
#[utoipa::path(tag = "vens", operation_id = "searchVens", params(VenQuery),
    responses((status = 200, body = [Ven]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/vens")]
pub async fn search_vens(state: Data<AppState>, who: Caller, q: Params<VenQuery>) -> Result<HttpResponse, AppError> {
    let view = vens::list(&state, &who.0, q.0).await?;
    Ok(ok(view.to_json()))
}

/// Creates a ven.
#[utoipa::path(tag = "vens", operation_id = "createVen", request_body = VenRequest,
    responses((status = 201, body = Ven), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/vens")]
pub async fn create_ven(
    state: Data<AppState>,
    who: Caller,
    body: JsonBody<VenRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(created(vens::create(&state, &who.0, body.0).await?.to_json()))
}

/// One ven.
#[utoipa::path(tag = "vens", operation_id = "searchVenByID", params(("venID" = String, Path)),
    responses((status = 200, body = Ven), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/vens/{venID}")]
pub async fn search_ven_by_id(state: Data<AppState>, who: Caller, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(vens::get(&state, &who.0, id.into_inner()).await?.to_json()))
}

/// Replaces a ven.
#[utoipa::path(tag = "vens", operation_id = "updateVen", params(("venID" = String, Path)), request_body = VenRequest,
    responses((status = 200, body = Ven), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[put("/vens/{venID}")]
pub async fn update_ven(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
    body: JsonBody<VenRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(vens::update(&state, &who.0, id.into_inner(), body.0)
        .await?
        .to_json()))
}

/// Deletes a ven and its resources.
#[utoipa::path(tag = "vens", operation_id = "deleteVen", params(("venID" = String, Path)),
    responses((status = 200, body = Ven), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/vens/{venID}")]
pub async fn delete_ven(state: Data<AppState>, who: Caller, id: Path<String>) -> Result<HttpResponse, AppError> {
    Ok(ok(vens::delete(&state, &who.0, id.into_inner()).await?.to_json()))
}

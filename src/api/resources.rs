//! `/resources`.

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, delete, get, post, put};

use super::docs::Resource;
use super::extract::{Caller, JsonBody, Params};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, resources};
use crate::wire::query::ResourceQuery;
use crate::wire::{Problem, ResourceRequest};

/// Resources: a VEN sees those of its ven, the business logic all.
#[utoipa::path(tag = "resources", operation_id = "searchVenResources", params(ResourceQuery),
    responses((status = 200, body = [Resource]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/resources")]
pub async fn search_ven_resources(
    state: Data<AppState>,
    who: Caller,
    q: Params<ResourceQuery>,
) -> Result<HttpResponse, AppError> {
    let view = resources::list(&state, &who.0, q.0).await?;
    Ok(ok(view.to_json()))
}

/// Creates a resource.
#[utoipa::path(tag = "resources", operation_id = "createResource", request_body = ResourceRequest,
    responses((status = 201, body = Resource), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/resources")]
pub async fn create_resource(
    state: Data<AppState>,
    who: Caller,
    body: JsonBody<ResourceRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(created(resources::create(&state, &who.0, body.0).await?.to_json()))
}

/// One resource.
#[utoipa::path(tag = "resources", operation_id = "searchVenResourceByID", params(("resourceID" = String, Path)),
    responses((status = 200, body = Resource), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[get("/resources/{resourceID}")]
pub async fn search_ven_resource_by_id(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(resources::get(&state, &who.0, id.into_inner()).await?.to_json()))
}

/// Replaces a resource.
#[utoipa::path(tag = "resources", operation_id = "updateVenResource", params(("resourceID" = String, Path)), request_body = ResourceRequest,
    responses((status = 200, body = Resource), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 409, body = Problem)))]
#[put("/resources/{resourceID}")]
pub async fn update_ven_resource(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
    body: JsonBody<ResourceRequest>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(resources::update(&state, &who.0, id.into_inner(), body.0)
        .await?
        .to_json()))
}

/// Deletes a resource.
#[utoipa::path(tag = "resources", operation_id = "deleteVenResource", params(("resourceID" = String, Path)),
    responses((status = 200, body = Resource), (status = 401, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
#[delete("/resources/{resourceID}")]
pub async fn delete_ven_resource(
    state: Data<AppState>,
    who: Caller,
    id: Path<String>,
) -> Result<HttpResponse, AppError> {
    Ok(ok(resources::delete(&state, &who.0, id.into_inner()).await?.to_json()))
}

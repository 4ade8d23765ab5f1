//! `/resources`.

use actix_web::web::{Data, Path};
use actix_web::{HttpRequest, HttpResponse, delete, get, post, put};
use utoipa::IntoParams;

use super::docs::Resource;
use super::extract::{Caller, JsonBody, Query};
use super::{created, ok};
use crate::error::AppError;
use crate::service::{AppState, resources};
use crate::wire::{Name, ObjectId};
use crate::wire::{Problem, ResourceRequest};

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
struct ListParams {
    /// Only resources with this name.
    #[param(rename = "resourceName")]
    resource_name: Option<Name>,
    /// Only resources of this ven.
    #[param(rename = "venID")]
    ven_id: Option<ObjectId>,
    /// Only resources with one of these targets.
    #[param(rename = "targets", max_items = 50)]
    targets: Option<Vec<Name>>,
    #[param(minimum = 0)]
    skip: Option<i32>,
    #[param(minimum = 0, maximum = 50)]
    limit: Option<i32>,
}

/// Resources: a VEN sees those of its ven, the business logic all.
#[utoipa::path(tag = "resources", operation_id = "searchVenResources", params(ListParams),
    responses((status = 200, body = [Resource]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/resources")]
pub async fn search_ven_resources(
    state: Data<AppState>,
    who: Caller,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let q = Query::parse(req.query_string());
    let view = resources::list(
        &state,
        &who.0,
        resources::ResourceQuery {
            resource_name: q.name("resourceName")?,
            ven_id: q.object_id("venID")?,
            targets: q.names("targets")?,
        },
        q.page()?,
    )
    .await?;
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

//! `/ops/clients`: credentials for VENs, issued by the business logic.

use actix_web::web::Data;
use actix_web::{HttpResponse, post};

use super::extract::JsonBody;
use super::{created, json};
use crate::error::AppError;
use crate::service::AppState;
use crate::wire::Problem;
use crate::wire::ops::NewVenClient;

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

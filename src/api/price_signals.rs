//! `/ops/price-signals`: the economic variant of dispatch.

use actix_web::web::Data;
use actix_web::{HttpResponse, post};

use super::created;
use super::extract::JsonBody;
use crate::error::AppError;
use crate::service::{AppState, dispatch};
use crate::wire::Problem;
use crate::wire::sites::PriceSignalRequest;

/// The economic variant of dispatch: one OpenADR PRICE event (currency per MWh, one interval per price) to
/// the program's VENs; each site decides by its own offer. Returns the event.
#[utoipa::path(tag = "dispatch", request_body = PriceSignalRequest,
    responses((status = 201, body = super::docs::Event), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem)))]
#[post("/ops/price-signals")]
pub async fn price_signal(state: Data<AppState>, body: JsonBody<PriceSignalRequest>) -> Result<HttpResponse, AppError> {
    Ok(created(dispatch::price_signal(&state, body.0).await?.to_json()))
}

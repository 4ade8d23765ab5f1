//! `/health`: a database round trip.

use actix_web::web::Data;
use actix_web::{HttpResponse, get};

use super::docs::Health;
use crate::service::AppState;

/// 200 when the database answers, 503 otherwise.
#[utoipa::path(tag = "operations", responses((status = 200, body = Health), (status = 503, body = Health)))]
#[get("/health")]
pub async fn health(state: Data<AppState>) -> HttpResponse {
    match state.database_answers().await {
        Ok(()) => HttpResponse::Ok().json(Health {
            status: "ok",
            database: "ok",
        }),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            HttpResponse::ServiceUnavailable().json(Health {
                status: "unavailable",
                database: "unreachable",
            })
        }
    }
}

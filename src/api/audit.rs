//! `/ops/audit`: the audit log, for administrators and auditors.

use actix_web::web::Data;
use actix_web::{HttpResponse, get};

use super::extract::Params;
use crate::error::AppError;
use crate::service::{AppState, audit};
use crate::wire::Problem;
use crate::wire::ops::AuditEntry;
use crate::wire::query::AuditQuery;

/// Entries of the audit log, oldest first: filtered by actor, object, action and time, paginated, as
/// JSON or as a CSV export (`format=csv`). Each entry names who changed what, when and from where.
#[utoipa::path(tag = "operations", params(AuditQuery),
    responses((status = 200, body = [AuditEntry], content_type = "application/json"),
        (status = 200, body = String, content_type = "text/csv"),
        (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/audit")]
pub async fn list_audit(state: Data<AppState>, q: Params<AuditQuery>) -> Result<HttpResponse, AppError> {
    let (media_type, body) = audit::query(&state, q.0).await?;
    Ok(HttpResponse::Ok().content_type(media_type).body(body))
}

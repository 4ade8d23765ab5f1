//! Who may call each operation: one table, enforced by [`authorize`] before a handler reads anything of
//! the request, and written into the OpenAPI document's `security` by [`document`]. The drift test in
//! `tests/api/openapi.rs` keeps this table, the routes served and the document naming the same operations.
//!
//! The scopes are OpenADR 3.1's (`securitySchemes` of the specification's OpenAPI document); where the
//! specification names `read_bl` Sluice reads `read_all` (see `auth::Scope`). Object-level rules — which
//! program, event or ven a VEN may see or change — are not here: they live in `privacy` and the services.

use std::collections::HashMap;
use std::sync::OnceLock;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header;
use actix_web::middleware::Next;
use actix_web::web::Data;

use crate::auth::Scope::{ReadAll, WriteEvents, WritePrograms, WriteReports, WriteSubscriptions, WriteVens};
use crate::auth::{Access, Permission, Principal};
use crate::error::AppError;
use crate::service::AppState;
use crate::service::audit::Actor;

/// One operation: its method (upper case), its path as routed and documented, and who may call it: the
/// OpenADR scopes a token needs, and the permission a business-logic caller needs beside them
/// (`auth::roles`; `None`: no permission beyond the scopes — open operations, and the VEN's own writes).
#[derive(Debug, Clone, Copy)]
pub struct Operation {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub permission: Option<Permission>,
}

impl Operation {
    /// Whether `who` may call it (what [`authorize`] checks).
    pub fn admits(&self, who: &Principal) -> bool {
        who.check(self.access, self.permission).is_ok()
    }
}

const fn op(method: &'static str, path: &'static str, access: Access, permission: Option<Permission>) -> Operation {
    Operation {
        method,
        path,
        access,
        permission,
    }
}

const OPEN: Option<Permission> = None;
/// Writes only a VEN's token has the scope for (reports).
const VEN_ONLY: Option<Permission> = None;
const READ: Option<Permission> = Some(Permission::Read);
const DISPATCH: Option<Permission> = Some(Permission::Dispatch);
const ENROLL: Option<Permission> = Some(Permission::Enroll);
const SETTLE: Option<Permission> = Some(Permission::Settle);
const AUDIT: Option<Permission> = Some(Permission::Audit);

/// Reads of the operator's own API: business logic only.
const OPS_READ: Access = Access::READ_ALL;
/// Operator writes: business logic (`read_all`) holding the write scope of what is changed.
const OPS_WRITE_PROGRAMS: Access = Access::AllOf(&[ReadAll, WritePrograms]);
const OPS_WRITE_EVENTS: Access = Access::AllOf(&[ReadAll, WriteEvents]);
const OPS_WRITE_VENS: Access = Access::AllOf(&[ReadAll, WriteVens]);

/// Every operation served, with its access rule.
pub const OPERATIONS: &[Operation] = &[
    // OpenADR 3.1: the scope each operation's `security` names in the specification.
    op("GET", "/programs", Access::READ_TARGETS, READ),
    op("POST", "/programs", Access::AllOf(&[WritePrograms]), ENROLL),
    op("GET", "/programs/{programID}", Access::READ_TARGETS, READ),
    op("PUT", "/programs/{programID}", Access::AllOf(&[WritePrograms]), ENROLL),
    op(
        "DELETE",
        "/programs/{programID}",
        Access::AllOf(&[WritePrograms]),
        ENROLL,
    ),
    op("GET", "/events", Access::READ_TARGETS, READ),
    op("POST", "/events", Access::AllOf(&[WriteEvents]), DISPATCH),
    op("GET", "/events/{eventID}", Access::READ_TARGETS, READ),
    op("PUT", "/events/{eventID}", Access::AllOf(&[WriteEvents]), DISPATCH),
    op("DELETE", "/events/{eventID}", Access::AllOf(&[WriteEvents]), DISPATCH),
    op("GET", "/reports", Access::READ_VEN_OBJECTS, READ),
    op("POST", "/reports", Access::AllOf(&[WriteReports]), VEN_ONLY),
    op("GET", "/reports/{reportID}", Access::READ_VEN_OBJECTS, READ),
    op("PUT", "/reports/{reportID}", Access::AllOf(&[WriteReports]), VEN_ONLY),
    op(
        "DELETE",
        "/reports/{reportID}",
        Access::AllOf(&[WriteReports]),
        VEN_ONLY,
    ),
    op("GET", "/subscriptions", Access::READ_VEN_OBJECTS, READ),
    op("POST", "/subscriptions", Access::AllOf(&[WriteSubscriptions]), READ),
    op("GET", "/subscriptions/{subscriptionID}", Access::READ_VEN_OBJECTS, READ),
    op(
        "PUT",
        "/subscriptions/{subscriptionID}",
        Access::AllOf(&[WriteSubscriptions]),
        READ,
    ),
    op(
        "DELETE",
        "/subscriptions/{subscriptionID}",
        Access::AllOf(&[WriteSubscriptions]),
        READ,
    ),
    op("GET", "/vens", Access::READ_VEN_OBJECTS, READ),
    op("POST", "/vens", Access::AllOf(&[WriteVens]), ENROLL),
    op("GET", "/vens/{venID}", Access::READ_VEN_OBJECTS, READ),
    op("PUT", "/vens/{venID}", Access::AllOf(&[WriteVens]), ENROLL),
    op("DELETE", "/vens/{venID}", Access::AllOf(&[WriteVens]), ENROLL),
    op("GET", "/resources", Access::READ_VEN_OBJECTS, READ),
    op("POST", "/resources", Access::AllOf(&[WriteVens]), ENROLL),
    op("GET", "/resources/{resourceID}", Access::READ_VEN_OBJECTS, READ),
    op("PUT", "/resources/{resourceID}", Access::AllOf(&[WriteVens]), ENROLL),
    op("DELETE", "/resources/{resourceID}", Access::AllOf(&[WriteVens]), ENROLL),
    op("GET", "/auth/server", Access::Public, OPEN),
    op("POST", "/auth/token", Access::Public, OPEN),
    // The specification asks `read_all`; any client may read it: it reveals nothing private, and a VEN
    // needs it to choose a binding (docs/spec-decisions.md).
    op("GET", "/notifiers", Access::Token, OPEN),
    op("GET", "/notifiers/mqtt/topics/programs", OPS_READ, READ),
    op("GET", "/notifiers/mqtt/topics/programs/{programID}", OPS_READ, READ),
    op(
        "GET",
        "/notifiers/mqtt/topics/programs/{programID}/events",
        OPS_READ,
        READ,
    ),
    op("GET", "/notifiers/mqtt/topics/events", OPS_READ, READ),
    op("GET", "/notifiers/mqtt/topics/reports", OPS_READ, READ),
    op("GET", "/notifiers/mqtt/topics/subscriptions", OPS_READ, READ),
    op("GET", "/notifiers/mqtt/topics/vens", OPS_READ, READ),
    op("GET", "/notifiers/mqtt/topics/resources", OPS_READ, READ),
    // A VEN's own topics; which ven is its own is checked by the service.
    op(
        "GET",
        "/notifiers/mqtt/topics/vens/{venID}",
        Access::READ_VEN_OBJECTS,
        READ,
    ),
    op(
        "GET",
        "/notifiers/mqtt/topics/vens/{venID}/events",
        Access::READ_VEN_OBJECTS,
        READ,
    ),
    op(
        "GET",
        "/notifiers/mqtt/topics/vens/{venID}/programs",
        Access::READ_VEN_OBJECTS,
        READ,
    ),
    op(
        "GET",
        "/notifiers/mqtt/topics/vens/{venID}/resources",
        Access::READ_VEN_OBJECTS,
        READ,
    ),
    op("GET", "/health", Access::Public, OPEN),
    // The operator's API.
    op("GET", "/ops/notifications", OPS_READ, READ),
    op("GET", "/ops/audit", OPS_READ, AUDIT),
    op("GET", "/ops/callbacks", OPS_READ, READ),
    op("GET", "/ops/sites", OPS_READ, READ),
    op("POST", "/ops/sites", OPS_WRITE_PROGRAMS, ENROLL),
    op("GET", "/ops/sites/{siteID}", OPS_READ, READ),
    op("PUT", "/ops/sites/{siteID}", OPS_WRITE_PROGRAMS, ENROLL),
    op("DELETE", "/ops/sites/{siteID}", OPS_WRITE_PROGRAMS, ENROLL),
    op("GET", "/ops/sites/{siteID}/telemetry", OPS_READ, READ),
    op("GET", "/ops/sites/{siteID}/latency", OPS_READ, READ),
    op("GET", "/ops/enrollments", OPS_READ, READ),
    op("POST", "/ops/enrollments", OPS_WRITE_PROGRAMS, ENROLL),
    op("GET", "/ops/enrollments/{enrollmentID}", OPS_READ, READ),
    op("PUT", "/ops/enrollments/{enrollmentID}", OPS_WRITE_PROGRAMS, ENROLL),
    op("DELETE", "/ops/enrollments/{enrollmentID}", OPS_WRITE_PROGRAMS, ENROLL),
    op("GET", "/ops/dispatches", OPS_READ, READ),
    op("POST", "/ops/dispatches", OPS_WRITE_EVENTS, DISPATCH),
    op("GET", "/ops/dispatches/{dispatchID}", OPS_READ, READ),
    op(
        "POST",
        "/ops/dispatches/{dispatchID}/cancel",
        OPS_WRITE_EVENTS,
        DISPATCH,
    ),
    op("GET", "/ops/events/{eventID}/latency", OPS_READ, READ),
    op("POST", "/ops/price-signals", OPS_WRITE_EVENTS, DISPATCH),
    op("POST", "/ops/clients", OPS_WRITE_VENS, ENROLL),
    op("POST", "/ops/meter-data", OPS_WRITE_PROGRAMS, SETTLE),
    op("GET", "/ops/sites/{siteID}/meter-data", OPS_READ, READ),
    op("POST", "/ops/prices", OPS_WRITE_PROGRAMS, SETTLE),
    op("GET", "/ops/programs/{programID}/settlement-rules", OPS_READ, READ),
    op(
        "PUT",
        "/ops/programs/{programID}/settlement-rules",
        OPS_WRITE_PROGRAMS,
        SETTLE,
    ),
    op("POST", "/ops/settlements", OPS_WRITE_PROGRAMS, SETTLE),
    op("GET", "/ops/settlements/{runID}", OPS_READ, READ),
    op("GET", "/ops/settlements/{runID}/statements", OPS_READ, READ),
    op("GET", "/ops/statements", OPS_READ, READ),
    op("GET", "/ops/statements/{statementID}", OPS_READ, READ),
    op("GET", "/ops/statements/{statementID}/chart", OPS_READ, READ),
];

/// The operation `method` on the routed `path` pattern, if it is in [`OPERATIONS`].
pub fn operation(method: &str, path: &str) -> Option<Operation> {
    static BY_PATH: OnceLock<HashMap<&'static str, Vec<Operation>>> = OnceLock::new();
    BY_PATH
        .get_or_init(|| {
            let mut map: HashMap<&'static str, Vec<Operation>> = HashMap::new();
            for o in OPERATIONS {
                map.entry(o.path).or_default().push(*o);
            }
            map
        })
        .get(path)?
        .iter()
        .find(|o| o.method == method)
        .copied()
}

/// Middleware: the caller's token is verified and its scopes checked against the operation's rule
/// before the handler runs — so a client without the scope gets 403 whatever its body or parameters,
/// and nothing of its request is parsed. The principal is left in the request's extensions for
/// [`super::extract::Caller`].
pub async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // The path as the router will match it: percent-escapes of ordinary characters decoded (`/%6Fps/sites`
    // reaches `/ops/sites`), not the raw path of the request line. Unknown paths, other methods (405), the
    // API page and `/openapi.json` have no rule and pass.
    let routed = req.match_info().as_str();
    let op = req
        .resource_map()
        .match_pattern(routed)
        .and_then(|pattern| operation(req.method().as_str(), &pattern));
    let outcome = match op {
        None => Ok(None),
        Some(op) if op.access == Access::Public => Ok(None),
        Some(op) => principal(&req)
            .await
            .and_then(|p| p.check(op.access, op.permission).map(|()| Some((p, op)))),
    };
    match outcome {
        Ok(None) => next.call(req).await.map(ServiceResponse::map_into_left_body),
        Ok(Some((who, op))) => {
            // Whatever the operation writes is audited as this caller's.
            let actor = Actor {
                id: who.client_id.clone(),
                role: who.role_name().to_owned(),
                source: req.peer_addr().map(|a| a.ip().to_string()),
                request_id: super::REQUEST_ID.try_with(Clone::clone).ok(),
                action: format!("{} {}", op.method, op.path),
            };
            req.extensions_mut().insert(who);
            actor
                .scope(next.call(req))
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(e) => {
            let resp = actix_web::ResponseError::error_response(&e);
            Ok(req.into_response(resp).map_into_right_body())
        }
    }
}

/// The principal of the request's bearer token: 401 without a valid one.
async fn principal(req: &ServiceRequest) -> Result<Principal, AppError> {
    let state = req
        .app_data::<Data<AppState>>()
        .cloned()
        .ok_or_else(|| AppError::Internal("application state missing".into()))?;
    let token = match req.headers().get(header::AUTHORIZATION).map(|v| v.to_str()) {
        None => {
            return Err(AppError::Unauthorized(
                "an Authorization: Bearer token is required".into(),
            ));
        }
        Some(Err(_)) => {
            return Err(AppError::Unauthorized(
                "the Authorization header is not readable".into(),
            ));
        }
        Some(Ok(v)) => bearer(v)
            .ok_or_else(|| AppError::Unauthorized("the Authorization header must be `Bearer <token>`".into()))?,
    };
    let who = state.auth.verify(token).await?;
    if state.revocations.is_revoked(&who.client_id) {
        return Err(AppError::Unauthorized(
            "the credential of this token was removed".into(),
        ));
    }
    Ok(who)
}

fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// The OpenAPI extension naming an operation's permission.
pub const PERMISSION_EXTENSION: &str = "x-sluice-permission";

/// Writes each operation's rule into the document: its `security` (one requirement per way in, every
/// scope of a requirement needed) and, as `x-sluice-permission`, the permission a business-logic caller
/// needs.
pub fn document(api: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    for (path, item) in api.paths.paths.iter_mut() {
        let ops = [
            ("GET", &mut item.get),
            ("PUT", &mut item.put),
            ("POST", &mut item.post),
            ("DELETE", &mut item.delete),
        ];
        for (method, op) in ops {
            let Some(op) = op else { continue };
            let declared = operation(method, path);
            if let Some(permission) = declared.and_then(|o| o.permission) {
                op.extensions
                    .get_or_insert_with(Default::default)
                    .insert(PERMISSION_EXTENSION.to_owned(), permission.as_str().into());
            }
            let requirements = declared.map(|o| o.access.requirements()).unwrap_or_default();
            op.security = (!requirements.is_empty()).then(|| {
                requirements
                    .into_iter()
                    .map(|scopes| SecurityRequirement::new("bearerAuth", scopes))
                    .collect()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn every_operation_is_declared_once() {
        let mut seen = std::collections::HashSet::new();
        for o in OPERATIONS {
            assert!(
                seen.insert((o.method, o.path)),
                "{} {} is declared twice",
                o.method,
                o.path
            );
        }
    }
}

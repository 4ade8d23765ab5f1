//! HTTP: actix handlers (extract, call one service function, shape the response), the problem body of every
//! error, request ids, and the OpenAPI document assembled from the handlers themselves.

pub mod access;
pub mod audit;
pub mod auth;
pub mod clients;
pub mod dispatches;
pub mod docs;
pub mod docs_page;
pub mod enrollments;
pub mod error;
pub mod events;
pub mod extract;
pub mod headers;
pub mod health;
pub mod notifiers;
pub mod price_signals;
pub mod programs;
pub mod reports;
pub mod resources;
pub mod settlement;
pub mod sites;
pub mod subscriptions;
pub mod vens;

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::web::{self, Data};
use actix_web::{App, HttpRequest, HttpResponse};
use futures_util::FutureExt;
use utoipa::openapi::security::{ClientCredentials, Flow, HttpAuthScheme, HttpBuilder, OAuth2, Scopes, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_actix_web::AppExt;
use utoipa_actix_web::service_config::ServiceConfig;

use self::error::REQUEST_ID;
use self::extract::BodyLimits;
use crate::error::AppError;
use crate::service::AppState;

/// A value as its JSON text (a serialization failure is a 500).
pub(crate) fn json<T: serde::Serialize>(v: &T) -> Result<String, AppError> {
    serde_json::to_string(v).map_err(|e| AppError::Internal(e.to_string()))
}

/// A JSON response with status 200.
pub(crate) fn ok(body: impl MessageBody + 'static) -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(body)
}

/// A JSON response with status 201.
pub(crate) fn created(body: impl MessageBody + 'static) -> HttpResponse {
    HttpResponse::Created().content_type("application/json").body(body)
}

/// Every handler, in routing order: one list for the served application and for the OpenAPI document.
macro_rules! services {
    ($cfg:expr) => {
        $cfg.service(programs::search_all_programs)
            .service(programs::create_program)
            .service(programs::search_program_by_program_id)
            .service(programs::update_program)
            .service(programs::delete_program)
            .service(events::search_all_events)
            .service(events::create_event)
            .service(events::search_events_by_id)
            .service(events::update_event)
            .service(events::delete_event)
            .service(reports::search_all_reports)
            .service(reports::create_report)
            .service(reports::search_reports_by_report_id)
            .service(reports::update_report)
            .service(reports::delete_report)
            .service(subscriptions::search_subscriptions)
            .service(subscriptions::create_subscription)
            .service(subscriptions::search_subscription_by_id)
            .service(subscriptions::update_subscription)
            .service(subscriptions::delete_subscription)
            .service(vens::search_vens)
            .service(vens::create_ven)
            .service(vens::search_ven_by_id)
            .service(vens::update_ven)
            .service(vens::delete_ven)
            .service(resources::search_ven_resources)
            .service(resources::create_resource)
            .service(resources::search_ven_resource_by_id)
            .service(resources::update_ven_resource)
            .service(resources::delete_ven_resource)
            .service(auth::get_auth_server_info)
            .service(auth::fetch_token)
            .service(notifiers::list_all_notifiers)
            .service(notifiers::list_all_mqtt_notifier_topics_programs)
            .service(notifiers::list_all_mqtt_notifier_topics_program)
            .service(notifiers::list_all_mqtt_notifier_topics_events)
            .service(notifiers::list_all_mqtt_notifier_topics_program_events)
            .service(notifiers::list_all_mqtt_notifier_topics_reports)
            .service(notifiers::list_all_mqtt_notifier_topics_subscriptions)
            .service(notifiers::list_all_mqtt_notifier_topics_vens)
            .service(notifiers::list_all_mqtt_notifier_topics_resources)
            .service(notifiers::list_all_mqtt_notifier_topics_ven)
            .service(notifiers::list_all_mqtt_notifier_topics_ven_events)
            .service(notifiers::list_all_mqtt_notifier_topics_ven_programs)
            .service(notifiers::list_all_mqtt_notifier_topics_ven_resources)
            .service(notifiers::list_notifications)
            .service(audit::list_audit)
            .service(notifiers::list_callbacks)
            .service(sites::list_sites)
            .service(sites::create_site)
            .service(sites::get_site)
            .service(sites::update_site)
            .service(sites::delete_site)
            .service(sites::site_telemetry)
            .service(enrollments::list_enrollments)
            .service(enrollments::create_enrollment)
            .service(enrollments::get_enrollment)
            .service(enrollments::update_enrollment)
            .service(enrollments::delete_enrollment)
            .service(dispatches::list_dispatches)
            .service(dispatches::create_dispatch)
            .service(dispatches::get_dispatch)
            .service(dispatches::cancel_dispatch)
            .service(dispatches::event_latency)
            .service(dispatches::site_latency)
            .service(clients::issue_ven_client)
            .service(price_signals::price_signal)
            .service(settlement::import_meter)
            .service(settlement::meter_days)
            .service(settlement::import_prices)
            .service(settlement::get_rules)
            .service(settlement::put_rules)
            .service(settlement::settle)
            .service(settlement::get_run)
            .service(settlement::run_statements)
            .service(settlement::list_statements)
            .service(settlement::get_statement)
            .service(settlement::statement_chart)
            .service(health::health);
    };
}

/// Registers every handler with the OpenAPI collector: what [`openapi`] documents.
pub fn configure(cfg: &mut ServiceConfig<'_>) {
    services!(cfg);
}

/// Registers every handler for serving. Not through the OpenAPI collector: that would assemble the whole
/// document again in every worker (about 12 MB at its peak, kept by the allocator afterwards).
fn configure_served(cfg: &mut web::ServiceConfig) {
    services!(cfg);
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Sluice OpenADR 3.1 VTN",
        description = "OpenADR 3.1 VTN for flexible loads. Served at the host root; every error is a problem body.",
        license(name = "Apache-2.0")
    ),
    modifiers(&Security),
    // Named only by query parameters, which utoipa does not collect.
    components(schemas(crate::wire::settlement::Format, crate::wire::settlement::MeterFormat)),
    tags(
        (name = "programs"), (name = "events"), (name = "reports"), (name = "subscriptions"),
        (name = "vens"), (name = "resources"), (name = "auth"), (name = "notifiers"), (name = "MQTT_notifier"), (name = "operations"),
        (name = "sites", description = "Flexible-load sites, their enrollments in programs, and their telemetry (operator only)"),
        (name = "dispatch", description = "Megawatt dispatch over enrolled sites and their measured response (operator only)"),
        (name = "settlement", description = "Meter data, baselines, settlement runs and versioned statements with their exports (operator only)")
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let components = api.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearerAuth",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        // The OpenADR scopes, and the Sluice permissions a business-logic token carries as scopes.
        let scopes = Scopes::from_iter(
            crate::auth::Scope::ALL
                .iter()
                .map(|s| (s.as_str().to_owned(), s.as_str().replace('_', " ")))
                .chain(crate::auth::Permission::ALL.iter().map(|p| {
                    (
                        p.scope_name().to_owned(),
                        format!("the {} permission of the business logic", p.as_str()),
                    )
                })),
        );
        components.add_security_scheme(
            "oAuth2ClientCredentials",
            SecurityScheme::OAuth2(OAuth2::new([Flow::ClientCredentials(ClientCredentials::new(
                "auth/token",
                scopes,
            ))])),
        );
    }
}

/// The OpenAPI document of everything served.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, mut api) = App::new()
        .into_utoipa_app()
        .openapi(ApiDoc::openapi())
        .configure(configure)
        .split_for_parts();
    api.info.version = env!("CARGO_PKG_VERSION").to_owned();
    access::document(&mut api);
    close_tagged_variants(api)
}

/// utoipa writes a variant of an internally tagged enum as `allOf: [{$ref: Variant}, {tag}]`. When the
/// variant's struct refuses unknown fields (`additionalProperties: false`), no object can satisfy both
/// parts: the tag is unknown to the first. Such a variant becomes one object, the struct's schema plus
/// the tag, as serde reads it.
fn close_tagged_variants(api: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use serde_json::Value;
    let Ok(mut doc) = serde_json::to_value(&api) else {
        return api;
    };
    let schemas = doc["components"]["schemas"].clone();
    let closed = |reference: &Value| -> Option<Value> {
        let name = reference["$ref"].as_str()?.strip_prefix("#/components/schemas/")?;
        let target = &schemas[name];
        (target["additionalProperties"] == Value::Bool(false)).then(|| target.clone())
    };
    let Some(all) = doc["components"]["schemas"].as_object_mut() else {
        return api;
    };
    for schema in all.values_mut() {
        let Some(variants) = schema.get_mut("oneOf").and_then(Value::as_array_mut) else {
            continue;
        };
        for variant in variants {
            let Some([reference, tag]) = variant.get("allOf").and_then(Value::as_array).map(Vec::as_slice) else {
                continue;
            };
            let Some(mut merged) = closed(reference) else {
                continue;
            };
            for (k, v) in tag["properties"].as_object().into_iter().flatten() {
                merged["properties"][k] = v.clone();
            }
            let mut required: Vec<Value> = merged["required"].as_array().cloned().unwrap_or_default();
            required.extend(tag["required"].as_array().cloned().unwrap_or_default());
            merged["required"] = Value::Array(required);
            if let Some(d) = variant.get("description") {
                merged["description"] = d.clone();
            }
            *variant = merged;
        }
    }
    serde_json::from_value(doc).unwrap_or(api)
}

/// No route matched: 405 with `Allow` when the path is served with other methods, else 404.
async fn not_found(req: HttpRequest) -> Result<HttpResponse, AppError> {
    match allowed_methods(req.path()) {
        Some(allow) => Err(AppError::MethodNotAllowed {
            method: req.method().to_string(),
            allow,
        }),
        None => Err(AppError::NotFound("no such resource".into())),
    }
}

/// The methods the served OpenAPI document gives `path` (`GET, PUT, DELETE`), if it has the path. The
/// committed document is the one list of routes: the drift test keeps it equal to what is registered.
fn allowed_methods(path: &str) -> Option<String> {
    static ROUTES: std::sync::OnceLock<Vec<(Vec<String>, String)>> = std::sync::OnceLock::new();
    let routes = ROUTES.get_or_init(|| {
        let doc: serde_json::Value =
            serde_json::from_slice(include_bytes!("../../openapi/openapi.json")).unwrap_or_default();
        let Some(paths) = doc.get("paths").and_then(serde_json::Value::as_object) else {
            return Vec::new();
        };
        paths
            .iter()
            .map(|(p, ops)| {
                let segments = p.split('/').map(str::to_owned).collect();
                let methods: Vec<String> = ops
                    .as_object()
                    .map(|o| o.keys().map(|m| m.to_uppercase()).collect())
                    .unwrap_or_default();
                (segments, methods.join(", "))
            })
            .collect()
    });
    let asked: Vec<&str> = path.split('/').collect();
    routes
        .iter()
        .find(|(segments, _)| {
            segments.len() == asked.len()
                && segments
                    .iter()
                    .zip(&asked)
                    .all(|(s, a)| s == a || (s.starts_with('{') && !a.is_empty()))
        })
        .map(|(_, allow)| allow.clone())
}

/// The OpenAPI document as served at `/openapi.json`: the committed `openapi/openapi.json`, which a test
/// keeps equal to [`openapi`]'s document, so the server never assembles it (a peak of about 12 MB).
pub fn openapi_json() -> docs_page::OpenApiJson {
    docs_page::OpenApiJson(actix_web::web::Bytes::from_static(include_bytes!(
        "../../openapi/openapi.json"
    )))
}

/// The application: handlers, state, limits, `/openapi.json`, the API page at `/docs/`, the headers every
/// response carries, request ids.
pub fn app(
    state: AppState,
    limits: BodyLimits,
    origin: auth::PublicOrigin,
    openapi_json: docs_page::OpenApiJson,
    response_headers: headers::ResponseHeaders,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(configure_served)
        .app_data(Data::new(state))
        .app_data(Data::new(limits))
        .app_data(Data::new(origin))
        .app_data(Data::new(openapi_json))
        .app_data(Data::new(response_headers))
        .service(docs_page::openapi_json)
        .service(docs_page::docs_redirect)
        .service(docs_page::docs_page)
        .service(docs_page::rapidoc)
        .default_service(web::to(not_found))
        .wrap(actix_web::middleware::from_fn(access::authorize))
        .wrap_fn(|req, srv| {
            // A URL naming U+0000 (`%00`, the only way a URI carries it) is refused before any handler
            // reads it: no text Sluice accepts holds NUL (`wire::primitives::Text`).
            if req.uri().path_and_query().is_some_and(|pq| pq.as_str().contains("%00")) {
                // Rendered when polled, inside the request id's scope.
                return futures_util::future::Either::Left(async move {
                    let e = AppError::BadRequest("URLs may not contain %00 (U+0000)".into());
                    let resp = actix_web::ResponseError::error_response(&e);
                    Ok(req.into_response(resp).map_into_right_body())
                });
            }
            futures_util::future::Either::Right(srv.call(req).map(|r| r.map(ServiceResponse::map_into_left_body)))
        })
        // Outside the access check and the URL check: their refusals carry the headers too.
        .wrap(actix_web::middleware::from_fn(headers::add))
        .wrap_fn(|req, srv| {
            let id = uuid::Uuid::now_v7().to_string();
            let method = req.method().clone();
            let path = req.path().to_owned();
            let start = Instant::now();
            let fut = REQUEST_ID.scope(id.clone(), srv.call(req));
            fut.map(move |res| {
                let mut res = res?;
                if let Ok(v) = HeaderValue::from_str(&id) {
                    res.headers_mut().insert(HeaderName::from_static("x-request-id"), v);
                }
                tracing::info!(
                    target: "sluice::access",
                    request_id = %id,
                    %method,
                    path,
                    status = res.status().as_u16(),
                    micros = start.elapsed().as_micros() as u64,
                );
                Ok(res)
            })
        })
}

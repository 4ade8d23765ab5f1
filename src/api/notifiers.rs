//! `/notifiers` (OpenADR 3.1) and the operator's view of notification delivery (`/ops/notifications`,
//! `/ops/callbacks`).

use actix_web::web::{Data, Path};
use actix_web::{HttpResponse, get};

use super::extract::{Caller, Params};
use super::ok;
use crate::error::AppError;
use crate::service::notifications::TopicScope;
use crate::service::{AppState, notifications};
use crate::wire::Problem;
use crate::wire::ops::TopicsResponse;
use crate::wire::ops::{CallbackStatus, NotificationStatus, NotifiersResponse};
use crate::wire::query::{CallbackQuery, NotificationQuery};

/// The notification bindings offered. The yaml asks for `read_all`; every authenticated client may read
/// it (it reveals nothing private, and VENs need it to choose a binding; docs/spec-decisions.md).
#[utoipa::path(tag = "notifiers", operation_id = "listAllNotifiers",
    responses((status = 200, body = NotifiersResponse), (status = 401, body = Problem)))]
#[get("/notifiers")]
pub async fn list_all_notifiers(state: Data<AppState>, _who: Caller) -> HttpResponse {
    HttpResponse::Ok().json(state.channels.notifiers())
}

async fn topics(state: Data<AppState>, who: Caller, scope: TopicScope) -> Result<HttpResponse, AppError> {
    let t = notifications::topics(&state, &who.0, scope).await?;
    Ok(ok(
        serde_json::to_string(&t).map_err(|e| AppError::Internal(e.to_string()))?
    ))
}

macro_rules! topic_endpoints {
    ($( $fn:ident, $op:literal, $path:literal, [$($param:ident),*], $what:literal, $make:expr; )*) => {$(
        #[doc = $what]
        #[utoipa::path(tag = "MQTT_notifier", operation_id = $op,
            responses((status = 200, body = TopicsResponse), (status = 400, body = Problem), (status = 401, body = Problem),
                (status = 403, body = Problem), (status = 404, body = Problem)))]
        #[get($path)]
        pub async fn $fn(state: Data<AppState>, who: Caller $(, $param: Path<String>)*) -> Result<HttpResponse, AppError> {
            topics(state, who, $make($($param.into_inner()),*)).await
        }
    )*};
}

topic_endpoints! {
    list_all_mqtt_notifier_topics_programs, "listAllMqttNotifierTopicsPrograms", "/notifiers/mqtt/topics/programs", [],
        "MQTT topics of every program's changes (business logic).", (|| TopicScope::Programs);
    list_all_mqtt_notifier_topics_program, "listAllMqttNotifierTopicsProgram", "/notifiers/mqtt/topics/programs/{programID}", [program_id],
        "MQTT topics of one program's changes (business logic; no CREATE).", TopicScope::Program;
    list_all_mqtt_notifier_topics_events, "listAllMqttNotifierTopicsEvents", "/notifiers/mqtt/topics/events", [],
        "MQTT topics of every event's changes (business logic).", (|| TopicScope::Events);
    list_all_mqtt_notifier_topics_program_events, "listAllMqttNotifierTopicsProgramEvents", "/notifiers/mqtt/topics/programs/{programID}/events", [program_id],
        "MQTT topics of the changes of one program's events (business logic).", TopicScope::ProgramEvents;
    list_all_mqtt_notifier_topics_reports, "listAllMqttNotifierTopicsReports", "/notifiers/mqtt/topics/reports", [],
        "MQTT topics of every report's changes (business logic).", (|| TopicScope::Reports);
    list_all_mqtt_notifier_topics_subscriptions, "listAllMqttNotifierTopicsSubscriptions", "/notifiers/mqtt/topics/subscriptions", [],
        "MQTT topics of every subscription's changes (business logic).", (|| TopicScope::Subscriptions);
    list_all_mqtt_notifier_topics_vens, "listAllMqttNotifierTopicsVens", "/notifiers/mqtt/topics/vens", [],
        "MQTT topics of every ven's changes (business logic).", (|| TopicScope::Vens);
    list_all_mqtt_notifier_topics_resources, "listAllMqttNotifierTopicsResources", "/notifiers/mqtt/topics/resources", [],
        "MQTT topics of every resource's changes (business logic).", (|| TopicScope::Resources);
    list_all_mqtt_notifier_topics_ven, "listAllMqttNotifierTopicsVen", "/notifiers/mqtt/topics/vens/{venID}", [ven_id],
        "MQTT topics of one ven's changes (its own client, or the business logic; no CREATE).", TopicScope::Ven;
    list_all_mqtt_notifier_topics_ven_events, "listAllMqttNotifierTopicsVenEvents", "/notifiers/mqtt/topics/vens/{venID}/events", [ven_id],
        "MQTT topics of the events this ven may read, with its targets only.", TopicScope::VenEvents;
    list_all_mqtt_notifier_topics_ven_programs, "listAllMqttNotifierTopicsVenPrograms", "/notifiers/mqtt/topics/vens/{venID}/programs", [ven_id],
        "MQTT topics of the programs this ven may read, with its targets only.", TopicScope::VenPrograms;
    list_all_mqtt_notifier_topics_ven_resources, "listAllMqttNotifierTopicsVenResources", "/notifiers/mqtt/topics/vens/{venID}/resources", [ven_id],
        "MQTT topics of this ven's resources.", TopicScope::VenResources;
}

/// Notifications and their delivery state, oldest change first (operator only).
#[utoipa::path(tag = "operations", params(NotificationQuery),
    responses((status = 200, body = [NotificationStatus]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/notifications")]
pub async fn list_notifications(state: Data<AppState>, q: Params<NotificationQuery>) -> Result<HttpResponse, AppError> {
    let list = notifications::list(&state, q.0).await?;
    Ok(ok(
        serde_json::to_string(&list).map_err(|e| AppError::Internal(e.to_string()))?
    ))
}

/// The health of every callback URL that has failed at least once (operator only).
#[utoipa::path(tag = "operations", params(CallbackQuery),
    responses((status = 200, body = [CallbackStatus]), (status = 400, body = Problem), (status = 401, body = Problem), (status = 403, body = Problem)))]
#[get("/ops/callbacks")]
pub async fn list_callbacks(state: Data<AppState>, q: Params<CallbackQuery>) -> Result<HttpResponse, AppError> {
    let list = notifications::callbacks(&state, q.0).await?;
    Ok(ok(
        serde_json::to_string(&list).map_err(|e| AppError::Internal(e.to_string()))?
    ))
}

//! What the operator sees of notification delivery: per notification (filtered by event, subscription,
//! object, subscriber or state) and per callback URL; and the MQTT topics each client may use.

use chrono::NaiveDateTime;

use crate::auth::Principal;
use crate::error::AppError;
use crate::notify::mqtt::MQTT;
use crate::notify::mqtt::topics::Topics;
use crate::notify::webhook::WEBHOOK;
use crate::store::outbox::{self, CallbackRow, NotificationFilter, NotificationRow};
use crate::store::repo;
use crate::store::repo::from_naive;
use crate::wire::format_time;
use crate::wire::ops::TopicsResponse;
use crate::wire::ops::{CallbackStatus, NotificationStatus};
use crate::wire::query::{self, CallbackQuery, NotificationQuery};
use crate::wire::{Name, ObjectId};

use super::AppState;

fn time(t: NaiveDateTime) -> String {
    format_time(&from_naive(t))
}

fn status(r: NotificationRow) -> NotificationStatus {
    let finished = r.finished_at.map(time);
    NotificationStatus {
        delivered_date_time: (r.state == "delivered").then(|| finished.clone()).flatten(),
        failed_date_time: (r.state == "failed").then(|| finished.clone()).flatten(),
        next_attempt_date_time: (r.state == "pending").then(|| time(r.next_attempt_at)),
        id: r.id,
        subscription_id: (r.channel == WEBHOOK).then_some(r.subscription_id),
        client_id: r.client_id,
        callback_url: (r.channel == WEBHOOK).then(|| r.callback_url.clone()),
        topic: (r.channel == MQTT).then_some(r.callback_url),
        channel: r.channel,
        object_type: r.object_type,
        operation: r.operation,
        object_id: r.object_id,
        program_id: r.program_id,
        event_id: r.event_id,
        state: r.state,
        attempts: r.attempts,
        created_date_time: time(r.created_at),
        first_attempt_date_time: r.first_attempt_at.map(time),
        last_status: r.last_status,
        last_error: r.last_error,
    }
}

pub async fn list(state: &AppState, q: NotificationQuery) -> Result<Vec<NotificationStatus>, AppError> {
    let page = query::page(q.skip, q.limit);
    let filter = NotificationFilter {
        event_id: q.event_id.map(ObjectId::into_string),
        subscription_id: q.subscription_id.map(ObjectId::into_string),
        object_id: q.object_id.map(ObjectId::into_string),
        client_id: q.client_id.map(Name::into_string),
        state: q.state.map(|s| s.as_str().to_owned()),
    };
    let rows = state
        .db
        .read(move |c| outbox::list_notifications(c, &filter, page))
        .await?;
    Ok(rows.into_iter().map(status).collect())
}

pub async fn callbacks(state: &AppState, q: CallbackQuery) -> Result<Vec<CallbackStatus>, AppError> {
    let page = query::page(q.skip, q.limit);
    let broken_only = q.broken.is_some_and(|b| b.0);
    let rows = state
        .db
        .read(move |c| outbox::list_callbacks(c, broken_only, page))
        .await?;
    Ok(rows
        .into_iter()
        .map(|r: CallbackRow| CallbackStatus {
            callback_url: r.callback_url,
            consecutive_failures: r.consecutive_failures,
            broken: r.broken,
            last_success_date_time: r.last_success_at.map(time),
            last_failure_date_time: r.last_failure_at.map(time),
            last_error: r.last_error,
        })
        .collect())
}

/// Which `/notifiers/mqtt/topics/…` endpoint is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TopicScope {
    Programs,
    Program(String),
    Events,
    ProgramEvents(String),
    Reports,
    Subscriptions,
    Vens,
    Resources,
    Ven(String),
    VenEvents(String),
    VenPrograms(String),
    VenResources(String),
}

/// The MQTT topics of one endpoint. Topics carrying every object are for the business logic (`read_all`);
/// a VEN asks for its own ven's topics (another ven's: 403; a missing ven or program: 404).
pub async fn topics(state: &AppState, who: &Principal, scope: TopicScope) -> Result<TopicsResponse, AppError> {
    let Some(binding) = &state.mqtt else {
        return Err(AppError::NotFound("the MQTT binding is not enabled on this VTN".into()));
    };
    let t = binding.topics.clone();
    let program_exists = |id: String| async move {
        let id2 = id.clone();
        state
            .db
            .read(move |c| repo::get_program(c, &id2).map(|_| ()))
            .await
            .map_err(|e| AppError::from(e).with_not_found("program", &id))
    };
    let ven_client = |id: String| async move {
        let id2 = id.clone();
        let client = state
            .db
            .read(move |c| repo::ven_client(c, &id2))
            .await
            .map_err(|e| AppError::from(e).with_not_found("ven", &id))?;
        if !who.is_business_logic() && client != who.client_id {
            return Err(AppError::Forbidden(format!("ven {id:?} is not this client's ven")));
        }
        Ok::<_, AppError>(client)
    };
    let (base, with_create) = match scope {
        TopicScope::Ven(id) => (t.client(&ven_client(id).await?, "ven"), false),
        TopicScope::VenEvents(id) => (t.client(&ven_client(id).await?, "events"), true),
        TopicScope::VenPrograms(id) => (t.client(&ven_client(id).await?, "programs"), true),
        TopicScope::VenResources(id) => (t.client(&ven_client(id).await?, "resources"), true),
        business_logic_only => match business_logic_only {
            TopicScope::Programs => (t.all_of("programs"), true),
            TopicScope::Events => (t.all_of("events"), true),
            TopicScope::Reports => (t.all_of("reports"), true),
            TopicScope::Subscriptions => (t.all_of("subscriptions"), true),
            TopicScope::Vens => (t.all_of("vens"), true),
            TopicScope::Resources => (t.all_of("resources"), true),
            TopicScope::Program(id) => {
                program_exists(id.clone()).await?;
                (t.program(&id), false)
            }
            TopicScope::ProgramEvents(id) => {
                program_exists(id.clone()).await?;
                (t.program_events(&id), true)
            }
            _ => return Err(AppError::Internal("VEN topic scopes are matched above".into())),
        },
    };
    Ok(Topics::response(&base, with_create))
}

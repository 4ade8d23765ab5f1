//! What the operator sees of notification delivery: per notification (filtered by event, subscription,
//! object, subscriber or state) and per callback URL.

use chrono::NaiveDateTime;

use crate::auth::{Principal, Scope};
use crate::error::AppError;
use crate::store::Page;
use crate::store::outbox::{self, CallbackRow, NotificationFilter, NotificationRow};
use crate::store::repo::from_naive;
use crate::wire::format_time;
use crate::wire::ops::{CallbackStatus, NotificationStatus};

use super::AppState;

pub const STATES: [&str; 4] = ["pending", "delivered", "failed", "cancelled"];

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
        subscription_id: r.subscription_id,
        client_id: r.client_id,
        callback_url: r.callback_url,
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

pub async fn list(
    state: &AppState,
    who: &Principal,
    filter: NotificationFilter,
    page: Page,
) -> Result<Vec<NotificationStatus>, AppError> {
    who.require(Scope::ReadAll)?;
    if let Some(s) = &filter.state
        && !STATES.contains(&s.as_str())
    {
        return Err(AppError::BadRequest(format!(
            "state {s:?} is not one of {}",
            STATES.join(", ")
        )));
    }
    let rows = state
        .db
        .read(move |c| outbox::list_notifications(c, &filter, page))
        .await?;
    Ok(rows.into_iter().map(status).collect())
}

pub async fn callbacks(
    state: &AppState,
    who: &Principal,
    broken_only: bool,
    page: Page,
) -> Result<Vec<CallbackStatus>, AppError> {
    who.require(Scope::ReadAll)?;
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

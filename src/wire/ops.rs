//! Sluice's own operator-facing types (`/ops/…`), beside the OpenADR ones.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Name;
use super::auth::Role;

// JSON objects only (see crate::wire::strict).
crate::wire::strict::objects_only!(NewVenClient);

/// A client as issued (`POST /ops/clients`, the line `sluice client add` prints). The secret is shown
/// once and never stored.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
pub struct IssuedClient {
    pub client_id: String,
    pub client_secret: String,
    pub role: Role,
}

/// `POST /ops/clients`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
pub struct NewVenClient {
    /// A name for the client.
    pub name: Name,
}

/// `GET /notifiers` (yaml `notifiersResponse`): the notification bindings this VTN offers.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct NotifiersResponse {
    /// Webhook subscriptions (always offered).
    #[serde(rename = "WEBHOOK")]
    pub webhook: bool,
    /// The MQTT binding, when enabled.
    #[serde(rename = "MQTT", skip_serializing_if = "Option::is_none")]
    pub mqtt: Option<MqttBindingInfo>,
}

/// `mqttNotifierBindingObject`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MqttBindingInfo {
    #[serde(rename = "URIS")]
    pub uris: Vec<String>,
    /// Always JSON.
    pub serialization: String,
    pub authentication: MqttAuthentication,
}

/// How clients authenticate to the broker (yaml oneOf ANONYMOUS | OAUTH2_BEARER_TOKEN).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MqttAuthentication {
    pub method: String,
    /// `{clientID}`: log in with your own clientID, and your access token as the password.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
}

/// `notifierOperationsTopics`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OperationTopics {
    #[serde(rename = "CREATE", skip_serializing_if = "Option::is_none")]
    pub create: Option<String>,
    #[serde(rename = "UPDATE")]
    pub update: String,
    #[serde(rename = "DELETE")]
    pub delete: String,
    #[serde(rename = "ALL")]
    pub all: String,
}

/// `notifierTopicsResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TopicsResponse {
    pub topics: OperationTopics,
}

/// One notification and its delivery state.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NotificationStatus {
    pub id: String,
    /// The subscription (webhooks; absent for MQTT, which has none).
    #[serde(rename = "subscriptionID", skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The client it is for (empty for MQTT topics read by the business logic).
    #[serde(rename = "clientID")]
    pub client_id: String,
    /// `WEBHOOK` or `MQTT`.
    pub channel: String,
    /// Webhook: where it is POSTed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// MQTT: the topic it is published on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// PROGRAM, EVENT, REPORT, SUBSCRIPTION, VEN or RESOURCE.
    pub object_type: String,
    /// CREATE, UPDATE or DELETE.
    pub operation: String,
    #[serde(rename = "objectID")]
    pub object_id: String,
    #[serde(rename = "programID", skip_serializing_if = "Option::is_none")]
    pub program_id: Option<String>,
    #[serde(rename = "eventID", skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// `pending` (queued or being retried), `delivered`, `failed` (gave up) or `cancelled` (subscription
    /// deleted first).
    pub state: String,
    /// Delivery attempts made so far.
    pub attempts: i32,
    /// When the change was turned into this notification.
    pub created_date_time: String,
    /// When the first delivery attempt started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_attempt_date_time: Option<String>,
    /// When the callback accepted it: the "notified" time of response latency.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delivered_date_time: Option<String>,
    /// When delivery was given up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed_date_time: Option<String>,
    /// When the next attempt is due (pending only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_attempt_date_time: Option<String>,
    /// HTTP status of the last attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_status: Option<i32>,
    /// Why the last attempt failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// The health of one callback URL.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackStatus {
    pub callback_url: String,
    /// Failed attempts since the last success.
    pub consecutive_failures: i32,
    /// Failing persistently (`notifications.broken_after` failures in a row).
    pub broken: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_success_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure_date_time: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One entry of the audit log (`GET /ops/audit`): who changed what, when and from where.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// The entry's number, in the order entries were written (the hash chain, which `sluice audit
    /// verify` checks, lists entries by this number).
    pub id: i64,
    /// When the change was made (RFC 3339, UTC).
    pub at: String,
    /// The client or user id, or `console:<account>` for a command run on the server.
    pub actor: String,
    /// The actor's role (`ven`, `bl` for a business-logic token naming none, `console`).
    pub actor_role: String,
    /// The peer address of the request.
    pub source: Option<String>,
    /// The operation (`POST /ops/dispatches`) or the command (`client add`).
    pub action: String,
    pub object_type: Option<String>,
    #[serde(rename = "objectID")]
    pub object_id: Option<String>,
    /// SHA-256 of the object before the change (after its previous audited change; none for a creation).
    pub before_digest: Option<String>,
    /// SHA-256 of the object after the change (none once deleted).
    pub after_digest: Option<String>,
    /// The configuration fields the change touched, when recorded.
    pub changed_fields: Option<String>,
    #[serde(rename = "requestID")]
    pub request_id: Option<String>,
}

//! The query parameters of each operation that takes any: one struct per operation, filled by
//! [`super::from_query`] and documented by `utoipa`.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::{
    ChannelParam, Day, Flag, FormatParam, Limit, ListLimit, MeterFormatParam, ObjectTypes, Skip, Targets, page,
};
use crate::wire::settlement::Format;
use crate::wire::{Name, ObjectId, Page, WireDateTime};

/// `skip` and `limit` of an OpenADR list, or of an operator list with nothing else to filter by.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

impl PageQuery {
    pub fn page(&self) -> Page {
        page(self.skip, self.limit)
    }
}

/// `GET /programs`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgramQuery {
    /// Only programs with one of these targets (repeat the parameter for several).
    #[param(inline, style = Form, explode)]
    pub targets: Option<Targets>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// `GET /events`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventQuery {
    /// Only events of this program.
    #[serde(rename = "programID")]
    pub program_id: Option<ObjectId>,
    /// Only events with one of these targets.
    #[param(inline, style = Form, explode)]
    pub targets: Option<Targets>,
    /// true: leave out events that have ended.
    #[param(inline)]
    pub active: Option<Flag>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// `GET /reports`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// Only reports on events of this program.
    #[serde(rename = "programID")]
    pub program_id: Option<ObjectId>,
    /// Only reports on this event.
    #[serde(rename = "eventID")]
    pub event_id: Option<ObjectId>,
    /// Only reports with this clientName.
    #[serde(rename = "clientName")]
    pub client_name: Option<Name>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// `GET /subscriptions`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SubscriptionQuery {
    /// Only subscriptions to this program.
    #[serde(rename = "programID")]
    pub program_id: Option<ObjectId>,
    /// Only subscriptions with this clientName.
    #[serde(rename = "clientName")]
    pub client_name: Option<Name>,
    /// Only subscriptions naming one of these object types.
    #[param(inline, style = Form, explode)]
    pub objects: Option<ObjectTypes>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// `GET /vens`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VenQuery {
    /// Only the ven with this name.
    #[serde(rename = "venName")]
    pub ven_name: Option<Name>,
    /// Only vens with one of these targets.
    #[param(inline, style = Form, explode)]
    pub targets: Option<Targets>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// `GET /resources`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ResourceQuery {
    /// Only resources with this name.
    #[serde(rename = "resourceName")]
    pub resource_name: Option<Name>,
    /// Only resources of this ven.
    #[serde(rename = "venID")]
    pub ven_id: Option<ObjectId>,
    /// Only resources with one of these targets.
    #[param(inline, style = Form, explode)]
    pub targets: Option<Targets>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// `GET /ops/sites/{siteID}/latency`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LatencyQuery {
    /// Events starting at or after this time (default: 30 days before `to`).
    pub from: Option<WireDateTime>,
    /// Events starting before this time (default: now).
    pub to: Option<WireDateTime>,
}

/// Most telemetry points in one answer (and the default).
pub const MAX_POINTS: i64 = 10_000;
/// Most statements in one answer (and the default).
pub const MAX_STATEMENTS: i64 = 1_000;

/// `GET /ops/sites/{siteID}/telemetry`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TelemetryQuery {
    /// Points starting at or after this time.
    pub from: Option<WireDateTime>,
    /// Points starting before this time.
    pub to: Option<WireDateTime>,
    /// Only this payload type (DEMAND, USAGE, OPERATING_STATE, …).
    #[serde(rename = "payloadType")]
    pub payload_type: Option<Name>,
    /// Only points from reports on this event.
    #[serde(rename = "eventID")]
    pub event_id: Option<ObjectId>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<PointLimit>,
}

/// Most audit entries in one answer (and the default): an export is one request.
pub const MAX_AUDIT_ENTRIES: i64 = 10_000;

/// `GET /ops/audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only entries of this actor: a client or user id, or `console:<account>` for commands run on the server.
    pub actor: Option<Name>,
    /// Only entries about this kind of object: PROGRAM, EVENT, REPORT, SUBSCRIPTION, VEN, RESOURCE, SITE,
    /// ENROLLMENT, DISPATCH, CLIENT, METER_IMPORT, PRICES, SETTLEMENT_RULES, SETTLEMENT_RUN.
    #[serde(rename = "objectType")]
    pub object_type: Option<Name>,
    /// Only entries about this object.
    #[serde(rename = "objectID")]
    pub object_id: Option<Name>,
    /// Only this action: an operation as the access table names it (`POST /ops/dispatches`) or a command
    /// (`client add`).
    pub action: Option<Name>,
    /// Entries at or after this time.
    pub from: Option<WireDateTime>,
    /// Entries before this time.
    pub to: Option<WireDateTime>,
    /// `json` (the default) or `csv`.
    #[param(inline)]
    pub format: Option<FormatParam>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<AuditLimit>,
}

/// `limit` of an audit listing.
pub type AuditLimit = Limit<MAX_AUDIT_ENTRIES>;

/// `limit` of a telemetry series.
pub type PointLimit = Limit<MAX_POINTS>;
/// `limit` of a statement list.
pub type StatementLimit = Limit<MAX_STATEMENTS>;

/// `GET /ops/enrollments`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrollmentQuery {
    /// Only enrollments of this site.
    #[serde(rename = "siteID")]
    pub site_id: Option<ObjectId>,
    /// Only enrollments in this program.
    #[serde(rename = "programID")]
    pub program_id: Option<ObjectId>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// Where a notification is in its delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryState {
    Pending,
    Delivered,
    Failed,
    Cancelled,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// `GET /ops/notifications`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationQuery {
    /// Notifications about this event and its reports.
    #[serde(rename = "eventID")]
    pub event_id: Option<ObjectId>,
    /// Notifications for this subscription.
    #[serde(rename = "subscriptionID")]
    pub subscription_id: Option<ObjectId>,
    /// Notifications about this object.
    #[serde(rename = "objectID")]
    pub object_id: Option<ObjectId>,
    /// Notifications to this subscribing client.
    #[serde(rename = "clientID")]
    pub client_id: Option<Name>,
    /// Only notifications in this state.
    #[param(inline)]
    pub state: Option<DeliveryState>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// `GET /ops/callbacks`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// Only callback URLs currently considered broken.
    #[param(inline)]
    pub broken: Option<Flag>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<ListLimit>,
}

/// `GET /ops/statements`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementQuery {
    /// Only statements of this program.
    #[serde(rename = "programID")]
    pub program_id: Option<ObjectId>,
    /// Only statements of this site.
    #[serde(rename = "siteID")]
    pub site_id: Option<ObjectId>,
    /// Only statements issued by this settlement run.
    #[serde(rename = "runID")]
    pub run_id: Option<ObjectId>,
    #[param(inline)]
    pub skip: Option<Skip>,
    #[param(inline)]
    pub limit: Option<StatementLimit>,
}

/// `POST /ops/meter-data`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MeterImportQuery {
    /// csv or greenbutton (default: from Content-Type).
    #[param(inline)]
    pub format: Option<MeterFormatParam>,
    /// Green Button: the site (id or name) the meter is.
    pub site: Option<Name>,
    /// Kept with the import for the audit trail.
    #[serde(rename = "fileName")]
    pub file_name: Option<Name>,
}

/// `GET /ops/sites/{siteID}/meter-data`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MeterDaysQuery {
    /// First UTC day, YYYY-MM-DD.
    #[param(inline)]
    pub from: Day,
    /// Last UTC day, included (at most 93 days).
    #[param(inline)]
    pub to: Day,
    /// delivered (default), received or net.
    #[param(inline)]
    pub channel: Option<ChannelParam>,
}

/// An export's format: `GET /ops/statements/{statementID}` and a run's statements.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FormatQuery {
    /// json (default), csv or xml.
    #[param(inline)]
    pub format: Option<FormatParam>,
}

impl FormatQuery {
    pub fn format(&self) -> Format {
        self.format.map_or(Format::Json, |f| f.0)
    }
}

/// `GET /ops/statements/{statementID}/chart`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartQuery {
    /// The event to draw (default: the statement's first).
    #[serde(rename = "eventID")]
    pub event_id: Option<ObjectId>,
}

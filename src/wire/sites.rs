//! Sluice's operator API for flexible-load sites (`/ops/sites`, `/ops/enrollments`): request and response
//! bodies. Megawatts and prices are exact decimals, written as JSON strings (`"40.5"`) and read from
//! strings or numbers.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::primitives::{Duration, Name, ObjectId, WireDateTime};
use crate::flex::calendar::Window;

/// What a site is, for dispatch and reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SiteKind {
    /// A Bitcoin mining site: load that curtails in seconds.
    Mining,
    /// An AI data center with miners beside it: the miners offset the AI load's bursts to hold a cap.
    AiMining,
    Other,
}

impl SiteKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mining => "MINING",
            Self::AiMining => "AI_MINING",
            Self::Other => "OTHER",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Mining, Self::AiMining, Self::Other]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// `POST/PUT /ops/sites`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteRequest {
    /// Unique name of the site.
    pub site_name: Name,
    /// The ven (OpenADR VEN object) this site is; one site per ven.
    #[serde(rename = "venID")]
    pub ven_id: ObjectId,
    pub kind: SiteKind,
    /// The most the site draws from the grid, MW: the bound of every commitment.
    #[serde(rename = "maxImportMW")]
    #[schema(value_type = String, example = "50")]
    pub max_import_mw: Decimal,
    /// Revenue meter (settlement matches meter data by it).
    #[serde(default, rename = "meterID")]
    pub meter_id: Option<Name>,
    /// Free-form location (address, substation, load zone).
    #[serde(default)]
    pub location: Option<String>,
    #[serde(default)]
    pub latitude: Option<f64>,
    #[serde(default)]
    pub longitude: Option<f64>,
    /// IANA time zone of availability windows (default `UTC`), e.g. `America/Chicago`.
    #[serde(default)]
    pub time_zone: Option<String>,
}

/// A site as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    pub id: String,
    pub site_name: String,
    #[serde(rename = "venID")]
    pub ven_id: String,
    /// The VEN's clientID: its reports are this site's telemetry.
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub kind: SiteKind,
    #[serde(rename = "maxImportMW")]
    #[schema(value_type = String, example = "50")]
    pub max_import_mw: Decimal,
    #[serde(rename = "meterID", skip_serializing_if = "Option::is_none")]
    pub meter_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    pub time_zone: String,
    pub created_date_time: String,
    pub modification_date_time: String,
}

/// `POST/PUT /ops/enrollments`: a site's commitment to a program.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRequest {
    #[serde(rename = "siteID")]
    pub site_id: ObjectId,
    #[serde(rename = "programID")]
    pub program_id: ObjectId,
    /// Committed reduction, MW.
    #[serde(rename = "shedMW", default)]
    #[schema(value_type = String, example = "40")]
    pub shed_mw: Decimal,
    /// Committed increase (load-up), MW; 0 when the site offers none.
    #[serde(rename = "loadUpMW", default)]
    #[schema(value_type = String, example = "0")]
    pub load_up_mw: Decimal,
    /// Firm service level ("drop-to"), MW: the load the site promises not to exceed during a shed event.
    #[serde(rename = "firmServiceLevelMW", default)]
    #[schema(value_type = Option<String>, example = "10")]
    pub firm_service_level_mw: Option<Decimal>,
    /// The least notice the site needs before an event starts (default `PT0S`).
    #[serde(default)]
    pub notice: Option<Duration>,
    /// Time to reach the committed level once an event starts (default `PT0S`).
    #[serde(default)]
    pub ramp: Option<Duration>,
    /// Longest event the site accepts.
    #[serde(default)]
    pub max_event_duration: Option<Duration>,
    /// At most this many events per `maxEventsPeriod`.
    #[serde(default)]
    pub max_events: Option<u32>,
    #[serde(default)]
    pub max_events_period: Option<Duration>,
    /// Weekly windows when the commitment holds, in the site's time zone; always when empty.
    #[serde(default)]
    pub availability: Vec<Window>,
    /// Offer price, currency units per MWh (merit order: cheapest first).
    #[schema(value_type = String, example = "120.00")]
    pub offer_price: Decimal,
    /// First moment of the commitment.
    #[schema(value_type = String, format = DateTime)]
    pub start: WireDateTime,
    /// End of the commitment (exclusive); open-ended when absent.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub end: Option<WireDateTime>,
}

/// An enrollment as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Enrollment {
    pub id: String,
    #[serde(rename = "siteID")]
    pub site_id: String,
    #[serde(rename = "programID")]
    pub program_id: String,
    #[serde(rename = "shedMW")]
    #[schema(value_type = String)]
    pub shed_mw: Decimal,
    #[serde(rename = "loadUpMW")]
    #[schema(value_type = String)]
    pub load_up_mw: Decimal,
    #[serde(rename = "firmServiceLevelMW", skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub firm_service_level_mw: Option<Decimal>,
    #[schema(value_type = String)]
    pub notice: String,
    #[schema(value_type = String)]
    pub ramp: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_event_duration: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_events: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_events_period: Option<String>,
    pub availability: Vec<Window>,
    #[schema(value_type = String)]
    pub offer_price: Decimal,
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    pub created_date_time: String,
    pub modification_date_time: String,
}

/// One telemetry point of a site (`GET /ops/sites/{id}/telemetry`).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TelemetryPoint {
    #[serde(rename = "reportID")]
    pub report_id: String,
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub resource_name: String,
    pub payload_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading_type: Option<String>,
    pub start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// The report gave no interval start: `start` is when Sluice received it.
    pub server_timed: bool,
    /// MW (power) or MWh (energy), per `unit`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    /// OPERATING_STATE, SIMPLE_LEVEL, DATA_QUALITY values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    pub received_date_time: String,
}

/// A report of a site whose payloads were not all read as telemetry.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportReject {
    #[serde(rename = "reportID")]
    pub report_id: String,
    /// Payloads not read.
    pub skipped: i32,
    /// Why, one line per reason.
    pub problems: Vec<String>,
    pub received_date_time: String,
}

/// `GET /ops/sites/{id}/telemetry`: points in the window asked for, and the site's reports (all time) with
/// payloads that could not be read.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteTelemetry {
    #[serde(rename = "siteID")]
    pub site_id: String,
    pub points: Vec<TelemetryPoint>,
    /// How many of the site's reports had payloads that could not be read.
    pub rejected_reports: i64,
    /// The latest of them (at most 20).
    pub recent_rejects: Vec<ReportReject>,
}

//! Sluice's operator API for flexible-load sites (`/ops/sites`, `/ops/enrollments`): request and response
//! bodies. Megawatts and prices are exact decimals, written as JSON strings (`"40.5"`) and read from
//! strings or numbers.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calendar::Window;
use super::decimal::WireDecimal;
use super::primitives::{Currency, Location, Name, ObjectId, WireDateTime, WireDuration};

// JSON objects only (see crate::wire::strict).
crate::wire::strict::objects_only!(SkippedSite, SiteRequest, EnrollmentRequest; deserialize_only: DispatchRequest, PriceSignalRequest);

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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
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
    #[schema(value_type = WireDecimal, example = "50")]
    #[serde(deserialize_with = "crate::wire::decimal::de")]
    pub max_import_mw: Decimal,
    /// Revenue meter (settlement matches meter data by it).
    #[serde(default, rename = "meterID", skip_serializing_if = "Option::is_none")]
    pub meter_id: Option<Name>,
    /// Free-form location (address, substation, load zone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
    /// IANA time zone of availability windows (default `UTC`), e.g. `America/Chicago`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(schema_with = time_zone)]
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
    /// The target that addresses this site alone (`site:<id>`): its ven holds it, dispatch events carry it.
    pub target: String,
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
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentRequest {
    #[serde(rename = "siteID")]
    pub site_id: ObjectId,
    #[serde(rename = "programID")]
    pub program_id: ObjectId,
    /// Committed reduction, MW.
    #[serde(rename = "shedMW", default)]
    #[schema(value_type = WireDecimal, example = "40")]
    #[serde(deserialize_with = "crate::wire::decimal::de")]
    pub shed_mw: Decimal,
    /// Committed increase (load-up), MW; 0 when the site offers none.
    #[serde(rename = "loadUpMW", default)]
    #[schema(value_type = WireDecimal, example = "0")]
    #[serde(deserialize_with = "crate::wire::decimal::de")]
    pub load_up_mw: Decimal,
    /// Firm service level ("drop-to"), MW: the load the site promises not to exceed during a shed event.
    #[serde(rename = "firmServiceLevelMW", default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<WireDecimal>, example = "10")]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub firm_service_level_mw: Option<Decimal>,
    /// The least notice the site needs before an event starts (default `PT0S`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<WireDuration>,
    /// Time to reach the committed level once an event starts (default `PT0S`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramp: Option<WireDuration>,
    /// Longest event the site accepts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_event_duration: Option<WireDuration>,
    /// At most this many events per `maxEventsPeriod`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "crate::wire::strict::integer_option")]
    pub max_events: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_events_period: Option<WireDuration>,
    /// Weekly windows when the commitment holds, in the site's time zone; always when empty.
    #[serde(default)]
    pub availability: Vec<Window>,
    /// Offer price, currency units per MWh (merit order: cheapest first).
    #[schema(value_type = WireDecimal, example = "120.00")]
    #[serde(deserialize_with = "crate::wire::decimal::de")]
    pub offer_price: Decimal,
    /// First moment of the commitment.
    pub start: WireDateTime,
    /// End of the commitment (exclusive); open-ended when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(serialize_with = "super::decimal::ser_measured_option")]
    #[schema(value_type = Option<String>)]
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

/// Shed (reduce load) or load-up (raise it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DispatchDirection {
    #[default]
    Shed,
    LoadUp,
}

impl DispatchDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Shed => "SHED",
            Self::LoadUp => "LOAD_UP",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Shed, Self::LoadUp].into_iter().find(|d| d.as_str() == s)
    }
}

/// `POST /ops/dispatches`: "N MW less (or more) from this program's sites, from then, for this long".
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct DispatchRequest {
    #[serde(rename = "programID")]
    pub program_id: ObjectId,
    #[serde(default)]
    pub direction: DispatchDirection,
    /// Megawatts asked for.
    #[serde(rename = "targetMW")]
    #[schema(value_type = WireDecimal, example = "150")]
    #[serde(deserialize_with = "crate::wire::decimal::de")]
    pub target_mw: Decimal,
    /// When the change starts: an RFC 3339 time, or `now` (the default).
    #[serde(default)]
    #[schema(schema_with = start_or_now, example = "now")]
    pub start: Option<String>,
    pub duration: WireDuration,
    /// The full change is needed this long after the dispatch: sites whose notice and ramp do not allow it
    /// are skipped.
    #[serde(default)]
    pub response_time: Option<WireDuration>,
    /// `IMPORT_CAPACITY_LIMIT` (default for shed) or `DISPATCH_SETPOINT` (default for load-up): what the
    /// events carry as each site's new level, in KW, beside a SIMPLE level.
    #[serde(default)]
    pub payload_type: Option<String>,
    /// Event priority (lower is more important).
    #[serde(default)]
    #[serde(deserialize_with = "crate::wire::strict::integer_option")]
    pub priority: Option<u32>,
}

/// One site of a dispatch: what it was asked for and, live, how it is responding.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DispatchSite {
    #[serde(rename = "siteID")]
    pub site_id: String,
    pub site_name: String,
    #[serde(rename = "enrollmentID")]
    pub enrollment_id: String,
    /// The OpenADR event sent to the site.
    #[serde(rename = "eventID")]
    pub event_id: String,
    /// Place in merit order (1 = first).
    pub rank: i32,
    #[serde(rename = "allocatedMW")]
    #[schema(value_type = String)]
    pub allocated_mw: Decimal,
    /// The site's load when dispatched, MW.
    #[serde(rename = "referenceMW")]
    #[schema(value_type = String)]
    pub reference_mw: Decimal,
    /// Its new level (import limit or setpoint), MW.
    #[serde(rename = "levelMW")]
    #[schema(value_type = String)]
    pub level_mw: Decimal,
    /// `PENDING` (not yet notified), `NOTIFIED`, `ACKNOWLEDGED` (first report), `RAMPING` (reduction
    /// started), `RAMPED` (90 % of its allocation reached).
    pub status: String,
    #[serde(flatten)]
    pub latency: LatencyFigures,
}

/// Response-latency figures of one site for one event (times in seconds from notification).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatencyFigures {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified_date_time: Option<String>,
    /// `WEBHOOK`, `MQTT` or `POLL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notified_via: Option<String>,
    /// First report on the event (OpenADR 3 has no acknowledgement; docs/spec-decisions.md).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_date_time: Option<String>,
    #[serde(rename = "baselineMW", skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "super::decimal::ser_measured_option")]
    #[schema(value_type = Option<String>)]
    pub baseline_mw: Option<f64>,
    #[serde(rename = "lastLoadMW", skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "super::decimal::ser_measured_option")]
    #[schema(value_type = Option<String>)]
    pub last_load_mw: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_load_date_time: Option<String>,
    /// Reduction (or, for load-up, increase) now: baseline − last load, MW.
    #[serde(rename = "deliveredMW", skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "super::decimal::ser_measured_option")]
    #[schema(value_type = Option<String>)]
    pub delivered_mw: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_ack_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t_start_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t50_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t90_secs: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub t100_secs: Option<f64>,
    #[serde(rename = "rampMWPerMin", skip_serializing_if = "Option::is_none")]
    pub ramp_mw_per_min: Option<f64>,
    /// Share of event samples at ≥ 95 % of the allocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sustain: Option<f64>,
    #[serde(rename = "snapbackMW", skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "super::decimal::ser_measured_option")]
    #[schema(value_type = Option<String>)]
    pub snapback_mw: Option<f64>,
    /// Reduction seen before the event started, MW.
    #[serde(rename = "earlyMW", skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "super::decimal::ser_measured_option")]
    #[schema(value_type = Option<String>)]
    pub early_mw: Option<f64>,
    #[serde(rename = "maxReductionMW", skip_serializing_if = "Option::is_none")]
    #[serde(serialize_with = "super::decimal::ser_measured_option")]
    #[schema(value_type = Option<String>)]
    pub max_reduction_mw: Option<f64>,
    /// When these figures were computed (they follow new telemetry every `latency.interval_secs`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub measured_date_time: Option<String>,
}

/// An enrolled site not chosen, and why.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct SkippedSite {
    #[serde(rename = "siteID")]
    pub site_id: String,
    pub site_name: String,
    pub reason: String,
}

/// A dispatch: the plan, and live state per site.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dispatch {
    pub id: String,
    #[serde(rename = "programID")]
    pub program_id: String,
    pub direction: DispatchDirection,
    #[serde(rename = "targetMW")]
    #[schema(value_type = String)]
    pub target_mw: Decimal,
    /// What the chosen sites were asked for.
    #[serde(rename = "plannedMW")]
    #[schema(value_type = String)]
    pub planned_mw: Decimal,
    /// What the fleet could not cover.
    #[serde(rename = "shortfallMW")]
    #[schema(value_type = String)]
    pub shortfall_mw: Decimal,
    pub start: String,
    pub end: String,
    pub duration: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response_time: Option<String>,
    pub payload_type: String,
    /// `ACTIVE` or `CANCELLED`.
    pub state: String,
    /// Sum of the sites' delivered MW now, from their telemetry.
    #[serde(rename = "deliveredMW")]
    #[serde(serialize_with = "super::decimal::ser_measured")]
    #[schema(value_type = String)]
    pub delivered_mw: f64,
    pub sites: Vec<DispatchSite>,
    pub skipped: Vec<SkippedSite>,
    pub created_date_time: String,
    pub modification_date_time: String,
}

/// Response latency of one site to one event.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventLatency {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "siteID")]
    pub site_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_name: Option<String>,
    /// What the site was asked for, MW.
    #[serde(rename = "committedMW")]
    #[serde(serialize_with = "super::decimal::ser_measured")]
    #[schema(value_type = String)]
    pub committed_mw: f64,
    pub load_up: bool,
    pub event_start: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_end: Option<String>,
    #[serde(flatten)]
    pub figures: LatencyFigures,
}

/// p50 / p90 / p99 (nearest rank) of one figure over a period, and how many events had it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Percentiles {
    pub count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p90: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99: Option<f64>,
}

/// `GET /ops/sites/{siteID}/latency`: a site's response to every event in a period, and percentiles.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SiteLatency {
    #[serde(rename = "siteID")]
    pub site_id: String,
    pub from: String,
    pub to: String,
    pub t_ack_secs: Percentiles,
    pub t_start_secs: Percentiles,
    pub t90_secs: Percentiles,
    pub t100_secs: Percentiles,
    #[serde(rename = "rampMWPerMin")]
    pub ramp_mw_per_min: Percentiles,
    pub sustain: Percentiles,
    pub events: Vec<EventLatency>,
}

/// `POST /ops/price-signals`: the economic variant of dispatch. One OpenADR PRICE event to the program's
/// VENs; each site curtails (or loads up) on its own when the price crosses its offer.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct PriceSignalRequest {
    #[serde(rename = "programID")]
    pub program_id: ObjectId,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: Currency,
    /// First interval's start: an RFC 3339 time, or `now` (the default).
    #[serde(default)]
    #[schema(schema_with = start_or_now)]
    pub start: Option<String>,
    /// Length of each interval, e.g. `PT15M`.
    pub interval_duration: WireDuration,
    /// One price per interval, currency per MWh, in order (1..=288).
    #[schema(value_type = Vec<WireDecimal>, example = json!(["45.10", "950.00", "1200.00"]))]
    #[serde(deserialize_with = "crate::wire::decimal::de_vec")]
    pub prices: Vec<Decimal>,
    /// Only VENs holding one of these targets (default: every VEN of the program).
    #[serde(default)]
    pub targets: Option<Vec<super::primitives::Target>>,
}

/// The schema of a `start` that is an RFC 3339 date-time or `now`: see [`start_time`].
fn start_or_now() -> utoipa::openapi::Schema {
    use utoipa::openapi::{KnownFormat, ObjectBuilder, SchemaFormat, Type, schema::OneOfBuilder};
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["now"])),
        )
        .build()
        .into()
}

/// A `start` as sent: absent or `now` is `now`; otherwise an RFC 3339 date-time.
pub fn start_time(start: Option<&str>, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    match start {
        None | Some("now") => Ok(now),
        Some(s) => WireDateTime::parse(s)
            .map(|t| t.0)
            .map_err(|e| format!("start: {e} (or \"now\")")),
    }
}

/// The schema of an IANA time zone name: every name the time zone database knows.
fn time_zone() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::Type::String,
            utoipa::openapi::Type::Null,
        ]))
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .build()
}

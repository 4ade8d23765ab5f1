//! Sluice's operator API for settlement (`/ops/meter-data`, `/ops/prices`, settlement rules, runs and
//! statements): request and response bodies. Amounts and quantities are exact decimals, as strings.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::rules::Rules;

// JSON objects only (see crate::wire::strict).
crate::wire::strict::objects_only!(MeterImport, PriceImport, RulesVersion, StatementSummary, SettlementRun, MeterDay; deserialize_only: SettleRequest);

/// Which way the energy flowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// Taken from the grid (the load): what settlement measures by default.
    Delivered,
    /// Sent to the grid.
    Received,
    Net,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Received => "received",
            Self::Net => "net",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "delivered" | "consumption" | "c" => Some(Self::Delivered),
            "received" | "generation" | "g" => Some(Self::Received),
            "net" => Some(Self::Net),
            _ => None,
        }
    }
}

/// A reading that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LineError {
    /// 1-based line of the file (the header is line 1); 0 when the problem is the whole file.
    pub line: usize,
    pub message: String,
}

impl LineError {
    pub fn file(message: impl Into<String>) -> Self {
        Self {
            line: 0,
            message: message.into(),
        }
    }
}

/// How an import changed the stored data.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImportCounts {
    /// Readings in the file.
    pub readings: u64,
    /// Intervals that had no reading before.
    pub new_intervals: u64,
    /// Intervals whose reading changed: kept as a new version of their day.
    pub revised_intervals: u64,
    /// Intervals read again with the same value.
    pub unchanged_intervals: u64,
    /// Day blocks written (a new version each).
    pub versions_written: u64,
}

/// What a statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum StatementKind {
    /// The first statement of a site, program and period.
    Initial,
    /// A re-settlement after inputs changed (revised meter data, new prices): supersedes the previous one.
    TrueUp,
}

/// What a meter-data import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct MeterImport {
    #[serde(rename = "importID")]
    pub import_id: String,
    /// `csv` or `greenbutton`.
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(flatten)]
    pub counts: ImportCounts,
    pub imported_date_time: DateTime<Utc>,
}

/// What a price import did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct PriceImport {
    /// The series the file held.
    pub series: Vec<String>,
    /// Prices stored (a price for an interval already stored replaces it).
    pub points: u64,
}

/// A version of a program's settlement rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct RulesVersion {
    #[serde(rename = "programID")]
    pub program_id: String,
    pub version: i32,
    /// The rules with every default written out.
    pub rules: Rules,
    pub created_by: String,
    pub created_date_time: DateTime<Utc>,
}

/// `POST /ops/settlements`: settle a program for a period.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct SettleRequest {
    #[serde(rename = "programID")]
    pub program_id: String,
    /// First day of the period (UTC).
    pub from: NaiveDate,
    /// Last day of the period (UTC), included.
    pub to: NaiveDate,
}

/// A statement without its lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct StatementSummary {
    #[serde(rename = "statementID")]
    pub statement_id: String,
    #[serde(rename = "runID")]
    pub run_id: String,
    #[serde(rename = "programID")]
    pub program_id: String,
    #[serde(rename = "siteID")]
    pub site_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub version: i32,
    pub kind: StatementKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    pub rule_version: i32,
    #[schema(value_type = String)]
    pub total: Decimal,
    pub created_date_time: DateTime<Utc>,
}

/// A settlement run and the statements it stands on: newly issued ones, and the unchanged latest
/// versions of the others.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct SettlementRun {
    #[serde(rename = "runID")]
    pub run_id: String,
    #[serde(rename = "programID")]
    pub program_id: String,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub rule_version: i32,
    /// Sites settled.
    pub sites: i32,
    /// Statements issued by this run (initial or true-up).
    pub issued: i32,
    /// Sites whose latest statement already said the same.
    pub unchanged: i32,
    /// Sum of the sites' latest totals.
    #[schema(value_type = String)]
    pub total: Decimal,
    pub statements: Vec<StatementSummary>,
    pub created_date_time: DateTime<Utc>,
}

/// One stored version of one UTC day of a site's meter data (`GET /ops/sites/{id}/meter-data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase")]
pub struct MeterDay {
    pub day: NaiveDate,
    /// `revenue` or `telemetry`.
    pub source: String,
    pub channel: String,
    /// 1 for the first import of the day; each revision adds one. Older versions stay.
    pub version: i32,
    pub interval_secs: i32,
    #[serde(rename = "meterID", default, skip_serializing_if = "Option::is_none")]
    pub meter_id: Option<String>,
    #[serde(rename = "importID")]
    pub import_id: String,
    pub imported_date_time: DateTime<Utc>,
    /// kWh per interval from 00:00 UTC (`null`: no reading).
    #[schema(value_type = Vec<Option<String>>)]
    pub kwh: Vec<Option<Decimal>>,
    /// Quality per interval: A actual, E estimated, M missing, `.` no reading.
    pub quality: String,
    /// Sum of the day's kWh.
    #[serde(rename = "totalKWh")]
    #[schema(value_type = String)]
    pub total_kwh: Decimal,
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
    Xml,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Some(Self::Json),
            "csv" => Some(Self::Csv),
            "xml" => Some(Self::Xml),
            _ => None,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xml => "application/xml",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Xml => "xml",
        }
    }
}

/// Meter-data file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum MeterFormat {
    Csv,
    GreenButton,
}

impl MeterFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::GreenButton => "greenbutton",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Some(Self::Csv),
            "greenbutton" | "green-button" | "espi" | "xml" => Some(Self::GreenButton),
            _ => None,
        }
    }
}

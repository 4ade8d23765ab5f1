//! A program's settlement rules as they are sent and stored: the baseline and its parameters, prices,
//! capacity payment, the shortfall rule, caps and floors. What they mean and how absent values are filled in
//! is in `crate::settle::rules`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Currency;
use super::decimal::WireDecimal;
use super::settlement::Channel;

// JSON objects only (see crate::wire::strict).
super::strict::objects_only!(
    Rules,
    EnergyPrice,
    Shortfall,
    PerMwh,
    Baseline,
    FirmServiceLevel,
    MeterBefore,
    XOfYParams,
    AdjustmentRule
);

/// Settlement rules of a program (`PUT /ops/programs/{id}/settlement-rules` makes a new version).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Rules {
    pub baseline: Baseline,
    /// Length of a settlement interval, minutes (divides a day). Meter data finer than this is averaged.
    #[serde(default = "default_interval")]
    #[serde(deserialize_with = "crate::wire::strict::integer")]
    pub interval_minutes: u32,
    /// The meter channel settled.
    #[serde(default = "default_channel")]
    pub channel: Channel,
    /// Where meter data is missing, use the site's telemetry (flagged estimated).
    #[serde(default = "yes")]
    pub telemetry_fallback: bool,
    pub energy_price: EnergyPrice,
    /// Capacity payment, per MW committed per month; zero or absent for energy-only programs.
    #[serde(default, rename = "capacityRatePerMWMonth")]
    #[schema(value_type = WireDecimal, example = "5000")]
    #[serde(deserialize_with = "crate::wire::decimal::de")]
    pub capacity_rate_per_mw_month: Decimal,
    pub shortfall: Shortfall,
    /// Most the statement total may be.
    #[serde(default)]
    #[schema(value_type = Option<WireDecimal>)]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub payment_cap: Option<Decimal>,
    /// Least the statement total may be (for example 0: penalties never exceed what is earned).
    #[serde(default)]
    #[schema(value_type = Option<WireDecimal>)]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub payment_floor: Option<Decimal>,
    /// Holidays: excluded from X-of-Y baseline days, and holiday events use like-day (weekend) rules.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    /// ISO 4217 code the amounts are in.
    #[serde(default = "default_currency")]
    pub currency: Currency,
    /// Days after the period's end by which a statement can be disputed.
    #[serde(default = "default_dispute_days")]
    #[serde(deserialize_with = "crate::wire::strict::integer")]
    pub dispute_days: u32,
}

fn default_interval() -> u32 {
    15
}
fn default_channel() -> Channel {
    Channel::Delivered
}
fn yes() -> bool {
    true
}
fn default_currency() -> Currency {
    Currency::usd()
}
fn default_dispute_days() -> u32 {
    45
}

/// How energy is priced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnergyPrice {
    /// A fixed rate per MWh; or
    #[serde(default, rename = "fixedPerMWh")]
    #[schema(value_type = Option<WireDecimal>, example = "100")]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub fixed_per_mwh: Option<Decimal>,
    /// the name of an imported price series (for example an LMP node), per MWh.
    #[serde(default)]
    pub series: Option<crate::wire::Text>,
    /// Each interval is paid at least this price (NYISO EDRP: max(LMP, 500)).
    #[serde(default, rename = "floorPerMWh")]
    #[schema(value_type = Option<WireDecimal>)]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub floor_per_mwh: Option<Decimal>,
    /// Energy is paid only in intervals whose price is at least this (PJM's net-benefits test).
    #[serde(default, rename = "thresholdPerMWh")]
    #[schema(value_type = Option<WireDecimal>)]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub threshold_per_mwh: Option<Decimal>,
}

/// What a site that delivers less than it committed loses: one rule per program, never both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(tag = "rule", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum Shortfall {
    /// The capacity payment is scaled by the performance factor (ERS style).
    ProRata,
    /// Full capacity payment minus the undelivered MWh at a rate (PJM style).
    PerMwh(PerMwh),
}

/// The per-MWh shortfall rule's rate. (Variants with fields are structs of their own so that the
/// OpenAPI document can say, as serde does, that they take no other fields.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(deny_unknown_fields)]
pub struct PerMwh {
    #[serde(rename = "ratePerMWh")]
    #[schema(value_type = WireDecimal, example = "1150")]
    #[serde(deserialize_with = "crate::wire::decimal::de")]
    pub rate_per_mwh: Decimal,
}

/// Where an adjustment is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Anchor {
    /// The time the event was issued.
    Notice,
    /// The event's start.
    Start,
}

/// How a baseline is computed. X-of-Y methods take every parameter explicitly once stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(tag = "method", rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
pub enum Baseline {
    /// Drop-to: the baseline is the site's firm service level plus its commitment; the enrollment's FSL
    /// applies when none is given here.
    FirmServiceLevel(FirmServiceLevel),
    /// Meter before: the mean load over a window just before the anchor, held flat through the event.
    MeterBefore(MeterBefore),
    /// PJM economic CBL: high 4 of the 5 most recent like days, symmetric additive adjustment.
    #[serde(rename = "PJM_HIGH_4_OF_5")]
    PjmHigh4Of5(XOfYParams),
    /// NYISO average day: high 5 of 10, multiplicative adjustment bounded to [0.8, 1.2].
    #[serde(rename = "NYISO_HIGH_5_OF_10")]
    NyisoHigh5Of10(XOfYParams),
    /// CAISO 10 in 10, multiplicative same-day adjustment bounded to ±20%.
    #[serde(rename = "CAISO_10_OF_10")]
    Caiso10Of10(XOfYParams),
}

/// Parameters of the firm-service-level baseline.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(deny_unknown_fields)]
pub struct FirmServiceLevel {
    #[serde(default, rename = "fslMW")]
    #[schema(value_type = Option<WireDecimal>)]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub fsl_mw: Option<Decimal>,
}

/// Parameters of the meter-before baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MeterBefore {
    #[serde(default = "anchor_notice")]
    pub anchor: Anchor,
    #[serde(default = "default_mbma_window")]
    #[serde(deserialize_with = "crate::wire::strict::integer")]
    pub window_minutes: u32,
}

fn anchor_notice() -> Anchor {
    Anchor::Notice
}
fn default_mbma_window() -> u32 {
    60
}

/// Parameters of an X-of-Y baseline. Absent fields take the method's defaults when the rules are stored.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct XOfYParams {
    /// Like days taken (Y) for a weekday event, most recent first.
    #[serde(default, deserialize_with = "crate::wire::strict::integer_option")]
    pub pool_days: Option<u32>,
    /// Of those, the highest by event-window load kept (X).
    #[serde(default, deserialize_with = "crate::wire::strict::integer_option")]
    pub keep_days: Option<u32>,
    /// Y and X for weekend and holiday events.
    #[serde(default, deserialize_with = "crate::wire::strict::integer_option")]
    pub weekend_pool_days: Option<u32>,
    #[serde(default, deserialize_with = "crate::wire::strict::integer_option")]
    pub weekend_keep_days: Option<u32>,
    /// Calendar days looked back.
    #[serde(default, deserialize_with = "crate::wire::strict::integer_option")]
    pub lookback_days: Option<u32>,
    /// Days right before the event day that are never candidates (NYISO skips the day before).
    #[serde(default, deserialize_with = "crate::wire::strict::integer_option")]
    pub skip_days: Option<u32>,
    /// A day whose event-window load is below this share of the reference is low-usage and excluded.
    #[schema(value_type = Option<WireDecimal>)]
    #[serde(default, deserialize_with = "crate::wire::decimal::de_option")]
    pub low_usage_share: Option<Decimal>,
    /// The reference of the low-usage rule: the candidates' mean (PJM) or maximum (NYISO).
    pub low_usage_of: Option<LowUsageOf>,
    pub adjustment: Option<AdjustmentRule>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LowUsageOf {
    Mean,
    Max,
}

/// A same-day adjustment over a window before the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(remote = "Self")]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdjustmentRule {
    pub kind: AdjustmentKind,
    /// The window starts this many minutes before the event's start…
    #[serde(deserialize_with = "crate::wire::strict::integer")]
    pub from_minutes_before: u32,
    /// …and ends this many minutes before it.
    #[serde(deserialize_with = "crate::wire::strict::integer")]
    pub to_minutes_before: u32,
    /// Bounds of a multiplicative factor.
    #[serde(default)]
    #[schema(value_type = Option<WireDecimal>)]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub min_factor: Option<Decimal>,
    #[serde(default)]
    #[schema(value_type = Option<WireDecimal>)]
    #[serde(deserialize_with = "crate::wire::decimal::de_option")]
    pub max_factor: Option<Decimal>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AdjustmentKind {
    None,
    /// Baseline + (actual − baseline) over the window; may be negative, no cap.
    Additive,
    /// Baseline × actual / baseline over the window, bounded.
    Multiplicative,
}

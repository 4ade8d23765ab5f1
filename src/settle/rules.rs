//! A program's settlement rules: the baseline and its parameters, prices, capacity payment, the shortfall
//! rule, caps and floors. Rules are data, versioned per program; a stored version holds every parameter
//! filled in, so a later change of a default never changes how an old statement was computed. The
//! defaults follow `domain.md` §2–§3 and are marked there as unverified where they are.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Decimal;
use super::meter::Channel;
use crate::wire::Currency;
use crate::wire::decimal::WireDecimal;
use rust_decimal::dec;

// JSON objects only (see crate::wire::strict).
crate::wire::strict::objects_only!(
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

/// X-of-Y parameters with every value present.
#[derive(Debug, Clone, PartialEq)]
pub struct XOfY {
    pub pool_days: u32,
    pub keep_days: u32,
    pub weekend_pool_days: u32,
    pub weekend_keep_days: u32,
    pub lookback_days: u32,
    pub skip_days: u32,
    pub low_usage_share: Decimal,
    pub low_usage_of: LowUsageOf,
    pub adjustment: AdjustmentRule,
}

impl XOfY {
    fn pjm() -> XOfYParams {
        Self {
            pool_days: 5,
            keep_days: 4,
            weekend_pool_days: 3,
            weekend_keep_days: 2,
            lookback_days: 45,
            skip_days: 0,
            low_usage_share: dec!(0.25),
            low_usage_of: LowUsageOf::Mean,
            adjustment: AdjustmentRule {
                kind: AdjustmentKind::Additive,
                from_minutes_before: 240,
                to_minutes_before: 60,
                min_factor: None,
                max_factor: None,
            },
        }
        .params()
    }

    fn nyiso() -> XOfYParams {
        Self {
            pool_days: 10,
            keep_days: 5,
            weekend_pool_days: 3,
            weekend_keep_days: 2,
            lookback_days: 45,
            skip_days: 1,
            low_usage_share: dec!(0.25),
            low_usage_of: LowUsageOf::Max,
            adjustment: AdjustmentRule {
                kind: AdjustmentKind::Multiplicative,
                from_minutes_before: 240,
                to_minutes_before: 120,
                min_factor: Some(dec!(0.8)),
                max_factor: Some(dec!(1.2)),
            },
        }
        .params()
    }

    fn caiso() -> XOfYParams {
        Self {
            pool_days: 10,
            keep_days: 10,
            weekend_pool_days: 4,
            weekend_keep_days: 4,
            lookback_days: 45,
            skip_days: 0,
            low_usage_share: dec!(0),
            low_usage_of: LowUsageOf::Mean,
            adjustment: AdjustmentRule {
                kind: AdjustmentKind::Multiplicative,
                from_minutes_before: 240,
                to_minutes_before: 60,
                min_factor: Some(dec!(0.8)),
                max_factor: Some(dec!(1.2)),
            },
        }
        .params()
    }

    fn params(self) -> XOfYParams {
        XOfYParams {
            pool_days: Some(self.pool_days),
            keep_days: Some(self.keep_days),
            weekend_pool_days: Some(self.weekend_pool_days),
            weekend_keep_days: Some(self.weekend_keep_days),
            lookback_days: Some(self.lookback_days),
            skip_days: Some(self.skip_days),
            low_usage_share: Some(self.low_usage_share),
            low_usage_of: Some(self.low_usage_of),
            adjustment: Some(self.adjustment),
        }
    }

    /// `given` with the absent fields taken from `defaults`.
    fn fill(given: &XOfYParams, defaults: XOfYParams) -> Self {
        let pick = |a: Option<u32>, b: Option<u32>| a.or(b).unwrap_or(0);
        Self {
            pool_days: pick(given.pool_days, defaults.pool_days),
            keep_days: pick(given.keep_days, defaults.keep_days),
            weekend_pool_days: pick(given.weekend_pool_days, defaults.weekend_pool_days),
            weekend_keep_days: pick(given.weekend_keep_days, defaults.weekend_keep_days),
            lookback_days: pick(given.lookback_days, defaults.lookback_days),
            skip_days: pick(given.skip_days, defaults.skip_days),
            low_usage_share: given.low_usage_share.or(defaults.low_usage_share).unwrap_or_default(),
            low_usage_of: given.low_usage_of.or(defaults.low_usage_of).unwrap_or(LowUsageOf::Mean),
            adjustment: given
                .adjustment
                .clone()
                .or(defaults.adjustment)
                .unwrap_or(AdjustmentRule {
                    kind: AdjustmentKind::None,
                    from_minutes_before: 0,
                    to_minutes_before: 0,
                    min_factor: None,
                    max_factor: None,
                }),
        }
    }
}

impl Baseline {
    /// The X-of-Y parameters, complete, when this is an X-of-Y method.
    pub fn x_of_y(&self) -> Option<XOfY> {
        match self {
            Self::PjmHigh4Of5(p) => Some(XOfY::fill(p, XOfY::pjm())),
            Self::NyisoHigh5Of10(p) => Some(XOfY::fill(p, XOfY::nyiso())),
            Self::Caiso10Of10(p) => Some(XOfY::fill(p, XOfY::caiso())),
            _ => None,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::FirmServiceLevel { .. } => "FIRM_SERVICE_LEVEL",
            Self::MeterBefore { .. } => "METER_BEFORE",
            Self::PjmHigh4Of5(_) => "PJM_HIGH_4_OF_5",
            Self::NyisoHigh5Of10(_) => "NYISO_HIGH_5_OF_10",
            Self::Caiso10Of10(_) => "CAISO_10_OF_10",
        }
    }
}

impl Rules {
    /// The rules with every default written out: what is stored as a version.
    pub fn complete(mut self) -> Self {
        let filled = |x: XOfY| x.params();
        self.baseline = match self.baseline {
            b @ (Baseline::FirmServiceLevel(_) | Baseline::MeterBefore(_)) => b,
            ref b @ Baseline::PjmHigh4Of5(_) => {
                Baseline::PjmHigh4Of5(filled(b.x_of_y().unwrap_or_else(unreachable_xofy)))
            }
            ref b @ Baseline::NyisoHigh5Of10(_) => {
                Baseline::NyisoHigh5Of10(filled(b.x_of_y().unwrap_or_else(unreachable_xofy)))
            }
            ref b @ Baseline::Caiso10Of10(_) => {
                Baseline::Caiso10Of10(filled(b.x_of_y().unwrap_or_else(unreachable_xofy)))
            }
        };
        self
    }

    /// Every problem with the rules, in words; empty when they can be used.
    pub fn problems(&self) -> Vec<String> {
        let mut p = Vec::new();
        let m = self.interval_minutes;
        if m == 0 || 1440 % m != 0 {
            p.push(format!("intervalMinutes {m} does not divide a day"));
        }
        match (&self.energy_price.fixed_per_mwh, &self.energy_price.series) {
            (Some(_), Some(_)) => p.push("energyPrice has both fixedPerMWh and series: choose one".into()),
            (None, None) => p.push("energyPrice needs fixedPerMWh or series".into()),
            (_, Some(s)) if s.as_str().trim().is_empty() => p.push("energyPrice.series is empty".into()),
            _ => {}
        }
        if self.capacity_rate_per_mw_month.is_sign_negative() {
            p.push("capacityRatePerMWMonth is negative".into());
        }
        if let Shortfall::PerMwh(PerMwh { rate_per_mwh }) = &self.shortfall
            && rate_per_mwh.is_sign_negative()
        {
            p.push("shortfall.ratePerMWh is negative".into());
        }
        if let (Some(cap), Some(floor)) = (self.payment_cap, self.payment_floor)
            && cap < floor
        {
            p.push(format!("paymentCap {cap} is below paymentFloor {floor}"));
        }
        match &self.baseline {
            Baseline::FirmServiceLevel(FirmServiceLevel { fsl_mw: Some(f) }) if f.is_sign_negative() => {
                p.push("baseline.fslMW is negative".into());
            }
            Baseline::MeterBefore(MeterBefore { window_minutes, .. })
                if *window_minutes == 0 || *window_minutes > 1440 =>
            {
                p.push(format!(
                    "baseline.windowMinutes {window_minutes} is not within 1..=1440"
                ));
            }
            b => {
                if let Some(x) = b.x_of_y() {
                    for (name, pool, keep) in [
                        ("", x.pool_days, x.keep_days),
                        ("weekend", x.weekend_pool_days, x.weekend_keep_days),
                    ] {
                        if keep == 0 || keep > pool {
                            p.push(format!("baseline {name} keep days {keep} must be within 1..={pool}"));
                        }
                    }
                    if x.lookback_days == 0 || x.lookback_days > 366 {
                        p.push("baseline.lookbackDays must be within 1..=366".into());
                    }
                    if !(Decimal::ZERO..=Decimal::ONE).contains(&x.low_usage_share) {
                        p.push("baseline.lowUsageShare must be within 0..=1".into());
                    }
                    let a = &x.adjustment;
                    if a.kind != AdjustmentKind::None && a.from_minutes_before <= a.to_minutes_before {
                        p.push("baseline.adjustment: fromMinutesBefore must exceed toMinutesBefore".into());
                    }
                    if let (Some(lo), Some(hi)) = (a.min_factor, a.max_factor)
                        && lo > hi
                    {
                        p.push("baseline.adjustment: minFactor exceeds maxFactor".into());
                    }
                }
            }
        }
        p
    }
}

fn unreachable_xofy() -> XOfY {
    XOfY::fill(&XOfYParams::default(), XOfY::pjm())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(json: serde_json::Value) -> Rules {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn stored_rules_carry_every_default_of_their_method() {
        let r = rules(serde_json::json!({
            "baseline": {"method": "PJM_HIGH_4_OF_5"},
            "energyPrice": {"fixedPerMWh": "100"},
            "shortfall": {"rule": "PRO_RATA"}
        }))
        .complete();
        let Baseline::PjmHigh4Of5(p) = &r.baseline else {
            panic!()
        };
        assert_eq!(
            (p.pool_days, p.keep_days, p.lookback_days),
            (Some(5), Some(4), Some(45))
        );
        assert_eq!(p.adjustment.as_ref().unwrap().kind, AdjustmentKind::Additive);
        assert!(r.problems().is_empty(), "{:?}", r.problems());
        let n = rules(serde_json::json!({
            "baseline": {"method": "NYISO_HIGH_5_OF_10", "keepDays": 4},
            "energyPrice": {"series": "NYC"},
            "shortfall": {"rule": "PER_MWH", "ratePerMWh": "1150"}
        }))
        .complete();
        let x = n.baseline.x_of_y().unwrap();
        assert_eq!((x.pool_days, x.keep_days, x.skip_days), (10, 4, 1));
        assert_eq!(x.adjustment.max_factor, Some(dec!(1.2)));
        let m = rules(serde_json::json!({
            "baseline": {"method": "METER_BEFORE", "anchor": "START", "windowMinutes": 30},
            "energyPrice": {"fixedPerMWh": "100"},
            "shortfall": {"rule": "PRO_RATA"}
        }));
        assert_eq!(
            m.baseline,
            Baseline::MeterBefore(MeterBefore {
                anchor: Anchor::Start,
                window_minutes: 30
            })
        );
        let wire = serde_json::to_value(&m.baseline).unwrap();
        assert_eq!(wire["windowMinutes"], 30);
    }

    #[test]
    fn rules_that_cannot_settle_are_explained() {
        let r = rules(serde_json::json!({
            "baseline": {"method": "CAISO_10_OF_10", "keepDays": 11},
            "intervalMinutes": 7,
            "energyPrice": {},
            "shortfall": {"rule": "PRO_RATA"},
            "paymentCap": "1", "paymentFloor": "2"
        }));
        let p = r.problems().join("; ");
        for needle in ["intervalMinutes", "energyPrice", "paymentCap", "keep days"] {
            assert!(p.contains(needle), "{needle} in {p}");
        }
        for wrong in [
            serde_json::json!({"baseline": {"method": "GUESS"}, "energyPrice": {}, "shortfall": {"rule": "PRO_RATA"}}),
            serde_json::json!({"baseline": {"method": "METER_BEFORE"}, "energyPrice": {}, "shortfall": {"rule": "PRO_RATA"},
                "currency": "usd"}),
            serde_json::json!({"baseline": {"method": "METER_BEFORE", "windowMinute": 30}, "energyPrice": {},
                "shortfall": {"rule": "PRO_RATA"}}),
        ] {
            assert!(serde_json::from_value::<Rules>(wrong.clone()).is_err(), "{wrong}");
        }
    }
}

//! A program's settlement rules: the baseline and its parameters, prices, capacity payment, the shortfall
//! rule, caps and floors. Rules are data, versioned per program; a stored version holds every parameter
//! filled in, so a later change of a default never changes how an old statement was computed. The
//! defaults are those of docs/demand-response.md, common practice unverified for any one market.

use super::Decimal;
pub use crate::wire::rules::{
    AdjustmentKind, AdjustmentRule, Anchor, Baseline, EnergyPrice, FirmServiceLevel, LowUsageOf, MeterBefore, PerMwh,
    Rules, Shortfall, XOfYParams,
};
use rust_decimal::dec;

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

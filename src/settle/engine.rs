//! Settlement of one site in one program for one period (docs/demand-response.md, "Settlement"): per interval baseline,
//! actual, reduction (never negative), credited (capped at the commitment), price and amount; per event
//! the performance factor; for the period the capacity payment, the shortfall rule, caps and floors.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::baseline::{self, Context, EventWindow, Load, Trace};
use super::meter::Quality;
use super::rules::{PerMwh, Rules, Shortfall};
use super::{Decimal, Direction, ROUNDING_RULE, factor, money, qty};

/// Prices per MWh by interval.
pub trait Prices {
    /// The price of the interval starting at `start`; `None` when the series has none.
    fn at(&self, start: DateTime<Utc>) -> Option<Decimal>;
}

/// A fixed rate.
pub struct Fixed(pub Decimal);

impl Prices for Fixed {
    fn at(&self, _: DateTime<Utc>) -> Option<Decimal> {
        Some(self.0)
    }
}

/// The site, as settlement needs it.
pub struct SiteInput<'a> {
    pub site_id: String,
    pub site_name: String,
    pub ven_id: String,
    pub meter_id: Option<String>,
    pub tz: Tz,
    /// MW committed to shed (the capacity payment's MW).
    pub shed_mw: Decimal,
    pub fsl_mw: Option<Decimal>,
    /// The site's events that start in the period.
    pub events: Vec<EventWindow>,
    /// Local dates of all the site's events, the period's and earlier ones.
    pub event_days: &'a BTreeSet<NaiveDate>,
    pub load: &'a dyn Load,
}

/// A period: from the start of `from` to the end of `to` (UTC dates, both included).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Period {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Period {
    pub fn start(&self) -> DateTime<Utc> {
        self.from.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    pub fn end(&self) -> DateTime<Utc> {
        (self.to + TimeDelta::days(1))
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
    }

    /// The period in months: each calendar month counts the share of its days the period covers.
    pub fn months(&self) -> Decimal {
        let mut months = Decimal::ZERO;
        let mut day = self.from;
        while day <= self.to {
            let (y, m) = (day.year(), day.month());
            let first_next = if m == 12 {
                NaiveDate::from_ymd_opt(y + 1, 1, 1)
            } else {
                NaiveDate::from_ymd_opt(y, m + 1, 1)
            };
            let Some(first_next) = first_next else { break };
            let month_days = (first_next - day.with_day(1).unwrap_or(day)).num_days();
            let last = (first_next - TimeDelta::days(1)).min(self.to);
            let covered = (last - day).num_days() + 1;
            months += Decimal::from(covered) / Decimal::from(month_days);
            day = first_next;
        }
        months
    }
}

/// One settlement interval of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntervalLine {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(rename = "baselineMW")]
    #[schema(value_type = Option<String>)]
    pub baseline_mw: Option<Decimal>,
    #[serde(rename = "actualMW")]
    #[schema(value_type = Option<String>)]
    pub actual_mw: Option<Decimal>,
    /// A: metered; E: estimated (or telemetry standing in); M: missing, nothing credited.
    pub quality: Quality,
    /// Shed: baseline − actual; load-up: actual − baseline; never negative.
    #[serde(rename = "reductionMW")]
    #[schema(value_type = String)]
    pub reduction_mw: Decimal,
    #[serde(rename = "committedMW")]
    #[schema(value_type = String)]
    pub committed_mw: Decimal,
    /// The reduction, capped at the commitment.
    #[serde(rename = "creditedMW")]
    #[schema(value_type = String)]
    pub credited_mw: Decimal,
    /// Hours of the event in this interval.
    #[schema(value_type = String)]
    pub hours: Decimal,
    #[serde(rename = "committedMWh")]
    #[schema(value_type = String)]
    pub committed_mwh: Decimal,
    #[serde(rename = "creditedMWh")]
    #[schema(value_type = String)]
    pub credited_mwh: Decimal,
    /// Price per MWh paid (after the program's floor); `None` below the program's threshold.
    #[serde(rename = "pricePerMWh")]
    #[schema(value_type = Option<String>)]
    pub price_per_mwh: Option<Decimal>,
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// One event of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventLine {
    #[serde(rename = "eventID")]
    pub event_id: String,
    #[serde(rename = "dispatchID", default, skip_serializing_if = "Option::is_none")]
    pub dispatch_id: Option<String>,
    pub direction: Direction,
    pub notice_date_time: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    #[serde(rename = "committedMW")]
    #[schema(value_type = String)]
    pub committed_mw: Decimal,
    pub baseline: Trace,
    pub intervals: Vec<IntervalLine>,
    #[serde(rename = "committedMWh")]
    #[schema(value_type = String)]
    pub committed_mwh: Decimal,
    #[serde(rename = "creditedMWh")]
    #[schema(value_type = String)]
    pub credited_mwh: Decimal,
    /// Credited MWh over committed MWh.
    #[schema(value_type = String)]
    pub performance_factor: Decimal,
    #[schema(value_type = String)]
    pub energy_amount: Decimal,
}

/// A statement's totals: every amount is the exact sum of the lines it totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    /// Over shed events.
    #[serde(rename = "committedMWh")]
    #[schema(value_type = String)]
    pub committed_mwh: Decimal,
    #[serde(rename = "creditedMWh")]
    #[schema(value_type = String)]
    pub credited_mwh: Decimal,
    /// Over shed events; 1 when the period had none.
    #[schema(value_type = String)]
    pub performance_factor: Decimal,
    /// Energy over all events, load-up included.
    #[schema(value_type = String)]
    pub energy_amount: Decimal,
    #[serde(rename = "capacityMW")]
    #[schema(value_type = String)]
    pub capacity_mw: Decimal,
    #[schema(value_type = String)]
    pub capacity_months: Decimal,
    #[schema(value_type = String)]
    pub capacity_amount: Decimal,
    /// Undelivered MWh at the program's rate (per-MWh rule); the pro-rata rule scales capacity instead.
    #[schema(value_type = String)]
    pub penalty_amount: Decimal,
    /// What the program's cap or floor added (negative: removed).
    #[schema(value_type = String)]
    pub cap_floor_adjustment: Decimal,
    /// energy + capacity − penalty + cap/floor adjustment.
    #[schema(value_type = String)]
    pub total: Decimal,
}

/// What a settlement computes: everything on a statement except its identity and version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    #[serde(rename = "siteID")]
    pub site_id: String,
    pub site_name: String,
    #[serde(rename = "venID")]
    pub ven_id: String,
    #[serde(rename = "meterID", default, skip_serializing_if = "Option::is_none")]
    pub meter_id: Option<String>,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub baseline_method: String,
    pub currency: String,
    pub rounding: String,
    pub dispute_deadline: NaiveDate,
    pub events: Vec<EventLine>,
    pub totals: Totals,
}

/// Why a site cannot be settled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettleError {
    #[error("price series `{series}` has no price for the interval starting {at}")]
    NoPrice { series: String, at: DateTime<Utc> },
}

/// Settles one site. Deterministic: the same inputs give the same settlement, to the byte once serialized.
pub fn settle(
    rules: &Rules,
    period: Period,
    site: &SiteInput<'_>,
    prices: &dyn Prices,
) -> Result<Settlement, SettleError> {
    let secs = i64::from(rules.interval_minutes) * 60;
    let holidays: BTreeSet<NaiveDate> = rules.holidays.iter().copied().collect();
    let ctx = Context {
        tz: site.tz,
        holidays: &holidays,
        event_days: site.event_days,
        fsl_mw: site.fsl_mw,
        secs,
    };
    let mut events: Vec<&EventWindow> = site.events.iter().collect();
    events.sort_by(|a, b| (a.start, &a.event_id).cmp(&(b.start, &b.event_id)));
    let mut lines = Vec::with_capacity(events.len());
    for ev in events {
        lines.push(settle_event(rules, &ctx, site.load, ev, prices)?);
    }
    let shed = lines.iter().filter(|e| e.direction == Direction::Shed);
    let committed_mwh = shed.clone().map(|e| e.committed_mwh).sum::<Decimal>().normalize();
    let credited_mwh = shed.map(|e| e.credited_mwh).sum::<Decimal>().normalize();
    let pf = if committed_mwh.is_zero() {
        Decimal::ONE
    } else {
        factor(credited_mwh / committed_mwh)
    };
    let energy_amount = money(lines.iter().map(|e| e.energy_amount).sum());
    let months = period.months();
    let full_capacity = site.shed_mw * rules.capacity_rate_per_mw_month * months;
    let (capacity_amount, penalty_amount) = match &rules.shortfall {
        Shortfall::ProRata => (money(full_capacity * pf), money(Decimal::ZERO)),
        Shortfall::PerMwh(PerMwh { rate_per_mwh }) => (
            money(full_capacity),
            money((committed_mwh - credited_mwh).max(Decimal::ZERO) * rate_per_mwh),
        ),
    };
    let subtotal = energy_amount + capacity_amount - penalty_amount;
    let mut total = subtotal;
    if let Some(cap) = rules.payment_cap {
        total = total.min(money(cap));
    }
    if let Some(floor) = rules.payment_floor {
        total = total.max(money(floor));
    }
    Ok(Settlement {
        site_id: site.site_id.clone(),
        site_name: site.site_name.clone(),
        ven_id: site.ven_id.clone(),
        meter_id: site.meter_id.clone(),
        period_start: period.start(),
        period_end: period.end(),
        baseline_method: rules.baseline.name().into(),
        currency: rules.currency.to_string(),
        rounding: ROUNDING_RULE.into(),
        dispute_deadline: period.to + TimeDelta::days(i64::from(rules.dispute_days)),
        events: lines,
        totals: Totals {
            committed_mwh,
            credited_mwh,
            performance_factor: pf,
            energy_amount,
            capacity_mw: site.shed_mw.normalize(),
            capacity_months: factor(months),
            capacity_amount,
            penalty_amount,
            cap_floor_adjustment: total - subtotal,
            total,
        },
    })
}

fn settle_event(
    rules: &Rules,
    ctx: &Context<'_>,
    load: &dyn Load,
    ev: &EventWindow,
    prices: &dyn Prices,
) -> Result<EventLine, SettleError> {
    let baselined = baseline::compute(&rules.baseline, ctx, load, ev);
    let intervals = baseline::intervals(ev, ctx.secs)
        .into_iter()
        .enumerate()
        .map(|(i, start)| {
            let base = baselined.values.get(i).copied().flatten();
            interval_line(rules, ev, load, prices, start, ctx.secs, base)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let committed_mwh = intervals.iter().map(|l| l.committed_mwh).sum::<Decimal>().normalize();
    let credited_mwh = intervals.iter().map(|l| l.credited_mwh).sum::<Decimal>().normalize();
    Ok(EventLine {
        event_id: ev.event_id.clone(),
        dispatch_id: ev.dispatch_id.clone(),
        direction: ev.direction,
        notice_date_time: ev.notice,
        start: ev.start,
        end: ev.end,
        committed_mw: ev.committed_mw.normalize(),
        baseline: baselined.trace,
        energy_amount: money(intervals.iter().map(|l| l.amount).sum()),
        performance_factor: if committed_mwh.is_zero() {
            Decimal::ONE
        } else {
            factor(credited_mwh / committed_mwh)
        },
        intervals,
        committed_mwh,
        credited_mwh,
    })
}

/// One settlement interval of an event: the reduction against the baseline (the increase, for load-up),
/// credited up to the committed MW, over the part of the interval the event covers, at the interval's price.
fn interval_line(
    rules: &Rules,
    ev: &EventWindow,
    load: &dyn Load,
    prices: &dyn Prices,
    start: DateTime<Utc>,
    secs: i64,
    base: Option<Decimal>,
) -> Result<IntervalLine, SettleError> {
    let end = start + TimeDelta::seconds(secs);
    // Exact to the microsecond: an event starting at 14:00:00.37 covers 899.63 s of its first slot.
    let overlap = (end.min(ev.end) - start.max(ev.start))
        .num_microseconds()
        .unwrap_or(0)
        .max(0);
    let hours = Decimal::from(overlap) / Decimal::from(3_600_000_000_i64);
    let actual = load.mw(start, secs);
    let (reduction, quality) = match (base, actual) {
        (Some(b), Some((a, q))) => {
            let r = match ev.direction {
                Direction::Shed => b - a,
                Direction::LoadUp => a - b,
            };
            (r.max(Decimal::ZERO), q)
        }
        (_, Some((_, q))) => (Decimal::ZERO, q),
        (_, None) => (Decimal::ZERO, Quality::M),
    };
    let committed = ev.committed_mw;
    let credited = qty(reduction.min(committed));
    let credited_mwh = qty(credited * hours);
    let price = paid_price(rules, prices, start)?;
    Ok(IntervalLine {
        start,
        end,
        baseline_mw: base.map(qty),
        actual_mw: actual.map(|(a, _)| qty(a)),
        quality,
        reduction_mw: qty(reduction),
        committed_mw: committed.normalize(),
        credited_mw: credited,
        hours: hours.normalize(),
        committed_mwh: qty(committed * hours),
        credited_mwh,
        price_per_mwh: price,
        amount: money(price.map_or(Decimal::ZERO, |p| credited_mwh * p)),
    })
}

/// The energy price paid for the interval starting at `start`: the series' price raised to the floor, or
/// `None` when it is under the rules' threshold (nothing is paid). A missing price is an error, never zero.
fn paid_price(rules: &Rules, prices: &dyn Prices, start: DateTime<Utc>) -> Result<Option<Decimal>, SettleError> {
    let Some(price) = prices.at(start) else {
        return Err(SettleError::NoPrice {
            series: rules
                .energy_price
                .series
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            at: start,
        });
    };
    let price = rules.energy_price.floor_per_mwh.map_or(price, |f| price.max(f));
    let paid = rules.energy_price.threshold_per_mwh.is_none_or(|t| price >= t);
    Ok(paid.then_some(price.normalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settle::baseline::tests::{MapLoad, at, event};
    use crate::settle::rules::{Baseline, EnergyPrice};
    use proptest::prelude::*;
    use rust_decimal::dec;
    use std::collections::HashMap;

    struct Series(HashMap<DateTime<Utc>, Decimal>);
    impl Prices for Series {
        fn at(&self, start: DateTime<Utc>) -> Option<Decimal> {
            self.0.get(&start).copied()
        }
    }

    fn rules(shortfall: Shortfall) -> Rules {
        Rules {
            baseline: Baseline::FirmServiceLevel(crate::settle::rules::FirmServiceLevel { fsl_mw: None }),
            interval_minutes: 15,
            channel: crate::settle::meter::Channel::Delivered,
            telemetry_fallback: true,
            energy_price: EnergyPrice {
                fixed_per_mwh: None,
                series: Some("HB_NORTH".parse().unwrap()),
                floor_per_mwh: None,
                threshold_per_mwh: None,
            },
            capacity_rate_per_mw_month: dec!(5000),
            shortfall,
            payment_cap: None,
            payment_floor: None,
            holidays: vec![],
            currency: crate::wire::Currency::usd(),
            dispute_days: 45,
        }
    }

    /// docs/demand-response.md, "Settlement" (worked example): 50 MW site, 40 MW committed, FSL 10; event 16:00–17:00 in quarter hours at 12, 10,
    /// 10, 12 MW; LMP 1200, 2500, 3000, 1800.
    fn example() -> (MapLoad, Series) {
        let mut load = MapLoad::default();
        let mut prices = HashMap::new();
        for (q, (mw, lmp)) in [(12, 1200), (10, 2500), (10, 3000), (12, 1800)].into_iter().enumerate() {
            let t = at("2026-07-15T16:00:00Z") + TimeDelta::minutes(15 * q as i64);
            load.0.insert(t, Decimal::from(mw));
            prices.insert(t, Decimal::from(lmp));
        }
        (load, Series(prices))
    }

    fn site<'a>(load: &'a MapLoad, days: &'a BTreeSet<NaiveDate>, events: Vec<EventWindow>) -> SiteInput<'a> {
        SiteInput {
            site_id: "s1".into(),
            site_name: "Mine 1".into(),
            ven_id: "v1".into(),
            meter_id: None,
            tz: chrono_tz::UTC,
            shed_mw: dec!(40),
            fsl_mw: Some(dec!(10)),
            events,
            event_days: days,
            load,
        }
    }

    const JULY: Period = Period {
        from: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap(),
        to: NaiveDate::from_ymd_opt(2026, 7, 31).unwrap(),
    };

    #[test]
    fn domain_example_option_a_pro_rata_pays_278_500() {
        let (load, prices) = example();
        let days = BTreeSet::new();
        let ev = event("2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", dec!(40));
        let s = settle(&rules(Shortfall::ProRata), JULY, &site(&load, &days, vec![ev]), &prices).unwrap();
        let e = &s.events[0];
        let credited: Vec<Decimal> = e.intervals.iter().map(|l| l.credited_mwh).collect();
        assert_eq!(credited, [dec!(9.5), dec!(10), dec!(10), dec!(9.5)]);
        let amounts: Vec<Decimal> = e.intervals.iter().map(|l| l.amount).collect();
        assert_eq!(amounts, [dec!(11400), dec!(25000), dec!(30000), dec!(17100)]);
        assert_eq!(e.baseline_mw_of_first(), dec!(50));
        assert_eq!(
            (e.credited_mwh, e.committed_mwh, e.performance_factor),
            (dec!(39), dec!(40), dec!(0.975))
        );
        assert_eq!(s.totals.energy_amount, dec!(83500));
        assert_eq!(s.totals.capacity_months, dec!(1));
        assert_eq!(s.totals.capacity_amount, dec!(195000));
        assert_eq!(s.totals.total, dec!(278500));
    }

    #[test]
    fn domain_example_option_b_per_mwh_penalty_pays_282_350() {
        let (load, prices) = example();
        let days = BTreeSet::new();
        let ev = event("2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", dec!(40));
        let r = rules(Shortfall::PerMwh(PerMwh {
            rate_per_mwh: dec!(1150),
        }));
        let s = settle(&r, JULY, &site(&load, &days, vec![ev]), &prices).unwrap();
        assert_eq!(
            (s.totals.capacity_amount, s.totals.penalty_amount),
            (dec!(200000), dec!(1150))
        );
        assert_eq!(s.totals.total, dec!(282350));
    }

    impl EventLine {
        fn baseline_mw_of_first(&self) -> Decimal {
            self.intervals[0].baseline_mw.unwrap()
        }
    }

    #[test]
    fn over_delivery_is_capped_and_missing_intervals_earn_nothing() {
        let (mut load, prices) = example();
        // Drop to 0 MW in the first quarter (50 MW reduced, 40 committed) and lose the third.
        load.0.insert(at("2026-07-15T16:00:00Z"), dec!(0));
        struct Gap<'a>(&'a MapLoad, DateTime<Utc>);
        impl Load for Gap<'_> {
            fn mw(&self, start: DateTime<Utc>, secs: i64) -> Option<(Decimal, Quality)> {
                (start != self.1).then(|| self.0.mw(start, secs)).flatten()
            }
        }
        let gappy = Gap(&load, at("2026-07-15T16:30:00Z"));
        let days = BTreeSet::new();
        let ev = event("2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", dec!(40));
        let mut input = site(&load, &days, vec![ev]);
        input.load = &gappy;
        let s = settle(&rules(Shortfall::ProRata), JULY, &input, &prices).unwrap();
        let l = &s.events[0].intervals;
        assert_eq!((l[0].reduction_mw, l[0].credited_mw), (dec!(50), dec!(40)));
        assert_eq!(
            (l[2].quality, l[2].credited_mwh, l[2].amount),
            (Quality::M, dec!(0), dec!(0))
        );
    }

    #[test]
    fn load_rising_above_baseline_is_no_negative_reduction() {
        let (mut load, prices) = example();
        load.0.insert(at("2026-07-15T16:00:00Z"), dec!(60));
        let days = BTreeSet::new();
        let ev = event("2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", dec!(40));
        let s = settle(&rules(Shortfall::ProRata), JULY, &site(&load, &days, vec![ev]), &prices).unwrap();
        assert_eq!(s.events[0].intervals[0].reduction_mw, dec!(0));
        assert_eq!(s.events[0].intervals[0].amount, dec!(0));
    }

    #[test]
    fn load_up_settles_the_increase_over_baseline() {
        let (mut load, prices) = example();
        for q in 0..4 {
            load.0
                .insert(at("2026-07-15T16:00:00Z") + TimeDelta::minutes(15 * q), dec!(25));
        }
        let days = BTreeSet::new();
        let mut ev = event("2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", dec!(20));
        ev.direction = Direction::LoadUp;
        let s = settle(&rules(Shortfall::ProRata), JULY, &site(&load, &days, vec![ev]), &prices).unwrap();
        // Baseline is the FSL (10): 15 MW more, within the 20 committed.
        assert_eq!(s.events[0].credited_mwh, dec!(15));
        // Load-up does not count against the shed performance factor.
        assert_eq!(s.totals.performance_factor, dec!(1));
    }

    #[test]
    fn caps_floors_and_price_rules_apply_once() {
        let (load, prices) = example();
        let days = BTreeSet::new();
        let ev = event("2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", dec!(40));
        let mut r = rules(Shortfall::ProRata);
        r.payment_cap = Some(dec!(250000));
        r.energy_price.threshold_per_mwh = Some(dec!(2000));
        r.energy_price.floor_per_mwh = Some(dec!(1500));
        let s = settle(&r, JULY, &site(&load, &days, vec![ev]), &prices).unwrap();
        let paid: Vec<Option<Decimal>> = s.events[0].intervals.iter().map(|l| l.price_per_mwh).collect();
        // 1200 → floor 1500, still under the 2000 threshold: unpaid. 1800 → unpaid.
        assert_eq!(paid, [None, Some(dec!(2500)), Some(dec!(3000)), None]);
        assert_eq!(s.totals.energy_amount, dec!(55000));
        assert_eq!(s.totals.total, dec!(250000));
        assert_eq!(s.totals.cap_floor_adjustment, dec!(250000) - dec!(55000) - dec!(195000));
    }

    #[test]
    fn a_missing_price_is_an_error_not_a_zero() {
        let (load, _) = example();
        let days = BTreeSet::new();
        let ev = event("2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", dec!(40));
        let err = settle(
            &rules(Shortfall::ProRata),
            JULY,
            &site(&load, &days, vec![ev]),
            &Series(HashMap::new()),
        );
        assert!(matches!(err, Err(SettleError::NoPrice { .. })));
    }

    #[test]
    fn partial_months_count_their_share_of_days() {
        let p = Period {
            from: NaiveDate::from_ymd_opt(2026, 6, 16).unwrap(),
            to: NaiveDate::from_ymd_opt(2026, 7, 31).unwrap(),
        };
        assert_eq!(p.months(), dec!(1.5));
        assert_eq!(JULY.months(), dec!(1));
    }

    proptest! {
        /// Whatever the load, reduction ≥ 0, credited ≤ committed, totals are the sums of their lines,
        /// and settling twice gives the same bytes.
        #[test]
        fn statements_add_up_and_never_credit_more_than_committed(
            loads in proptest::collection::vec(0u32..80_000, 4),
            committed in 1u32..60_000,
            fsl in 0u32..30_000,
        ) {
            let mut load = MapLoad::default();
            let mut prices = HashMap::new();
            for (q, kw) in loads.iter().enumerate() {
                let t = at("2026-07-15T16:00:00Z") + TimeDelta::minutes(15 * q as i64);
                load.0.insert(t, Decimal::new(i64::from(*kw), 3));
                prices.insert(t, Decimal::new(123_457 + q as i64, 2));
            }
            let prices = Series(prices);
            let days = BTreeSet::new();
            let ev = event("2026-07-15T16:00:00Z", "2026-07-15T17:00:00Z", Decimal::new(i64::from(committed), 3));
            let mut s = site(&load, &days, vec![ev]);
            s.fsl_mw = Some(Decimal::new(i64::from(fsl), 3));
            let r = rules(Shortfall::PerMwh(PerMwh { rate_per_mwh: dec!(99.99) }));
            let a = settle(&r, JULY, &s, &prices).unwrap();
            let b = settle(&r, JULY, &s, &prices).unwrap();
            prop_assert_eq!(serde_json::to_vec(&a).unwrap(), serde_json::to_vec(&b).unwrap());
            for e in &a.events {
                for l in &e.intervals {
                    prop_assert!(l.reduction_mw >= Decimal::ZERO);
                    prop_assert!(l.credited_mw <= l.committed_mw);
                }
                prop_assert_eq!(e.energy_amount, e.intervals.iter().map(|l| l.amount).sum::<Decimal>());
                prop_assert_eq!(e.credited_mwh, e.intervals.iter().map(|l| l.credited_mwh).sum::<Decimal>());
            }
            let t = &a.totals;
            prop_assert_eq!(t.energy_amount, a.events.iter().map(|e| e.energy_amount).sum::<Decimal>());
            prop_assert_eq!(t.total, t.energy_amount + t.capacity_amount - t.penalty_amount + t.cap_floor_adjustment);
            // Export → parse → the same numbers, in all three formats.
            let st = crate::settle::export::Statement {
                statement_id: "st".into(),
                version: 1,
                kind: crate::settle::export::StatementKind::Initial,
                supersedes: None,
                program_id: "p".into(),
                program_name: "P".into(),
                rule_version: 1,
                settlement: a.clone(),
                true_up: None,
            };
            use crate::settle::export::{Format, render};
            let back: crate::settle::export::Statement = serde_json::from_str(&render(&st, Format::Json)).unwrap();
            prop_assert_eq!(&back, &st);
            let csv = render(&st, Format::Csv);
            let mut rows = csv::Reader::from_reader(csv.as_bytes());
            let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
            let amount = |line: &str| -> Decimal {
                rows.iter().filter(|r| &r[5] == line).map(|r| r[18].parse::<Decimal>().unwrap()).sum()
            };
            prop_assert_eq!(amount("INTERVAL"), t.energy_amount);
            prop_assert_eq!(amount("TOTAL"), t.total);
            let xml = render(&st, Format::Xml);
            let total_attr = xml.split("total=\"").nth(1).and_then(|r| r.split('"').next()).unwrap();
            prop_assert_eq!(total_attr.parse::<Decimal>().unwrap(), t.total);
            let credited: Decimal = xml
                .split("<interval ")
                .skip(1)
                .map(|iv| iv.split("creditedMWh=\"").nth(1).and_then(|r| r.split('"').next()).unwrap().parse::<Decimal>().unwrap())
                .sum();
            prop_assert_eq!(credited, a.events.iter().map(|e| e.credited_mwh).sum::<Decimal>());
        }
    }
}

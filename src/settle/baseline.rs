//! Baselines (docs/demand-response.md, "Baselines"): what a site's load would have been during an event. Each computation
//! returns the baseline per event interval and a trace of how it was found (the days selected, the days
//! excluded and why, the adjustment), which the statement carries.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike, NaiveDate, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::meter::Quality;
use super::rules::{AdjustmentKind, AdjustmentRule, Anchor, Baseline, FirmServiceLevel, LowUsageOf, MeterBefore, XOfY};
use super::{Decimal, Direction, factor, qty};

/// A site's metered load.
pub trait Load {
    /// Mean MW over `[start, start + secs)` and the worst quality averaged; `None` unless fully covered.
    fn mw(&self, start: DateTime<Utc>, secs: i64) -> Option<(Decimal, Quality)>;
}

/// One event of one site, as settlement sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct EventWindow {
    pub event_id: String,
    pub dispatch_id: Option<String>,
    pub direction: Direction,
    pub notice: DateTime<Utc>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// MW asked of this site in this event.
    pub committed_mw: Decimal,
}

/// What a baseline needs besides the load.
pub struct Context<'a> {
    pub tz: Tz,
    pub holidays: &'a BTreeSet<NaiveDate>,
    /// Local dates on which the site had an event (never baseline days).
    pub event_days: &'a BTreeSet<NaiveDate>,
    /// The enrollment's firm service level.
    pub fsl_mw: Option<Decimal>,
    /// Settlement interval, seconds.
    pub secs: i64,
}

/// A day a baseline looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DayLoad {
    pub day: NaiveDate,
    /// Mean load over the event's hours that day, MW.
    #[serde(rename = "windowMW")]
    #[schema(value_type = String)]
    pub window_mw: Decimal,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExcludedDay {
    pub day: NaiveDate,
    pub reason: String,
}

/// The same-day adjustment applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Adjustment {
    pub kind: AdjustmentKind,
    pub window_start: DateTime<Utc>,
    pub window_end: DateTime<Utc>,
    /// Mean actual load in the window, MW.
    #[serde(rename = "actualMW")]
    #[schema(value_type = String)]
    pub actual_mw: Decimal,
    /// Mean unadjusted baseline in the window, MW.
    #[serde(rename = "baselineMW")]
    #[schema(value_type = String)]
    pub baseline_mw: Decimal,
    /// MW added (additive) or the factor applied (multiplicative), after bounds.
    #[schema(value_type = String)]
    pub value: Decimal,
    /// The factor before its bounds, when they changed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub unbounded: Option<Decimal>,
}

/// How a baseline was found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Trace {
    pub method: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub selected_days: Vec<DayLoad>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excluded_days: Vec<ExcludedDay>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adjustment: Option<Adjustment>,
    /// Why there is no baseline, or what limited it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A baseline per event interval (`None` where it could not be found) and its trace.
#[derive(Debug, Clone)]
pub struct Baselined {
    pub values: Vec<Option<Decimal>>,
    pub trace: Trace,
}

/// The settlement intervals an event touches: starts, from the interval holding its start.
pub fn intervals(ev: &EventWindow, secs: i64) -> Vec<DateTime<Utc>> {
    let first = ev.start.timestamp().div_euclid(secs) * secs;
    let mut out = Vec::new();
    let mut t = first;
    while t < ev.end.timestamp() {
        out.extend(DateTime::from_timestamp(t, 0));
        t += secs;
    }
    out
}

/// The same wall-clock time `days` days away in the site's zone; `None` when that time does not exist
/// there (a spring-forward gap). In a fall-back overlap, the earlier instant.
pub fn shift_local(t: DateTime<Utc>, tz: Tz, days: i64) -> Option<DateTime<Utc>> {
    let local = t.with_timezone(&tz).naive_local() + TimeDelta::days(days);
    tz.from_local_datetime(&local).earliest().map(|l| l.with_timezone(&Utc))
}

pub fn local_day(t: DateTime<Utc>, tz: Tz) -> NaiveDate {
    t.with_timezone(&tz).date_naive()
}

fn mean(values: impl IntoIterator<Item = Decimal>) -> Option<Decimal> {
    let (sum, n) = values
        .into_iter()
        .fold((Decimal::ZERO, 0u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / Decimal::from(n))
}

fn unavailable(method: &str, intervals: usize, note: String) -> Baselined {
    Baselined {
        values: vec![None; intervals],
        trace: Trace {
            method: method.into(),
            note: Some(note),
            ..Default::default()
        },
    }
}

/// The baseline of `ev` by `rule`.
pub fn compute(rule: &Baseline, ctx: &Context<'_>, load: &dyn Load, ev: &EventWindow) -> Baselined {
    let slots = intervals(ev, ctx.secs);
    let method = rule.name();
    match rule {
        Baseline::FirmServiceLevel(FirmServiceLevel { fsl_mw }) => match fsl_mw.or(ctx.fsl_mw) {
            None => unavailable(
                method,
                slots.len(),
                "neither the rules nor the enrollment give a firm service level".into(),
            ),
            Some(fsl) => {
                // Shed: the site drops to its FSL from FSL + commitment. Load-up: increase over the FSL.
                let level = match ev.direction {
                    Direction::Shed => fsl + ev.committed_mw,
                    Direction::LoadUp => fsl,
                };
                Baselined {
                    values: vec![Some(level); slots.len()],
                    trace: Trace {
                        method: method.into(),
                        ..Default::default()
                    },
                }
            }
        },
        Baseline::MeterBefore(MeterBefore { anchor, window_minutes }) => {
            let at = match anchor {
                Anchor::Notice => ev.notice.min(ev.start),
                Anchor::Start => ev.start,
            };
            let span = i64::from(*window_minutes) * 60;
            let from = at - TimeDelta::seconds(span);
            match load.mw(from, span) {
                None => unavailable(
                    method,
                    slots.len(),
                    format!("no complete meter data from {from} to {at}"),
                ),
                Some((mw, _)) => Baselined {
                    values: vec![Some(mw); slots.len()],
                    trace: Trace {
                        method: method.into(),
                        note: Some(format!("mean load from {from} to {at}")),
                        ..Default::default()
                    },
                },
            }
        }
        b => match b.x_of_y() {
            Some(x) => x_of_y(method, &x, ctx, load, ev, &slots),
            None => unavailable(method, slots.len(), "unknown method".into()),
        },
    }
}

fn weekend_like(day: NaiveDate, holidays: &BTreeSet<NaiveDate>) -> bool {
    matches!(day.weekday(), Weekday::Sat | Weekday::Sun) || holidays.contains(&day)
}

struct Candidate {
    day: NaiveDate,
    back: i64,
    window_mw: Decimal,
    values: Vec<Decimal>,
}

/// High X of Y like days, with a same-day adjustment (PJM, NYISO, CAISO differ only in parameters):
/// the like days before the event ([`like_days`]), the highest of them ([`keep_highest`]), their mean
/// per interval, adjusted by the load just before the event ([`adjust`]).
fn x_of_y(
    method: &str,
    x: &XOfY,
    ctx: &Context<'_>,
    load: &dyn Load,
    ev: &EventWindow,
    slots: &[DateTime<Utc>],
) -> Baselined {
    let mut trace = Trace {
        method: method.into(),
        ..Default::default()
    };
    let weekend = weekend_like(local_day(ev.start, ctx.tz), ctx.holidays);
    let (pool, keep) = if weekend {
        (x.weekend_pool_days, x.weekend_keep_days)
    } else {
        (x.pool_days, x.keep_days)
    };
    let mut candidates = like_days(x, ctx, load, ev, slots, &mut trace);
    candidates.truncate(pool as usize);
    if candidates.is_empty() {
        trace.note = Some(format!(
            "no eligible like day in the {} days before the event",
            x.lookback_days
        ));
        trace.excluded_days.sort_by_key(|d| std::cmp::Reverse(d.day));
        return Baselined {
            values: vec![None; slots.len()],
            trace,
        };
    }
    if candidates.len() < pool as usize {
        trace.note = Some(format!("only {} of {pool} like days were eligible", candidates.len()));
    }
    let kept = keep_highest(candidates, keep, &mut trace);
    let mut values: Vec<Decimal> = (0..slots.len())
        .map(|i| mean(kept.iter().map(|c| c.values[i])).unwrap_or_default())
        .collect();
    trace.selected_days = kept
        .iter()
        .map(|c| DayLoad {
            day: c.day,
            window_mw: qty(c.window_mw),
        })
        .collect();
    trace.excluded_days.sort_by_key(|d| std::cmp::Reverse(d.day));
    if x.adjustment.kind != AdjustmentKind::None {
        adjust(&x.adjustment, ctx, load, ev, &kept, &mut values, &mut trace);
    }
    Baselined {
        values: values.into_iter().map(Some).collect(),
        trace,
    }
}

/// The like days of the look-back with complete meter data over the event's intervals, most recent
/// first, without low-usage days; every day left out is in the trace with its reason.
fn like_days(
    x: &XOfY,
    ctx: &Context<'_>,
    load: &dyn Load,
    ev: &EventWindow,
    slots: &[DateTime<Utc>],
    trace: &mut Trace,
) -> Vec<Candidate> {
    let event_day = local_day(ev.start, ctx.tz);
    let weekend = weekend_like(event_day, ctx.holidays);
    let mut candidates = Vec::new();
    for back in (1 + i64::from(x.skip_days))..=i64::from(x.lookback_days) {
        let day = event_day - TimeDelta::days(back);
        let exclude = |reason: &str| ExcludedDay {
            day,
            reason: reason.into(),
        };
        if !weekend && ctx.holidays.contains(&day) {
            trace.excluded_days.push(exclude("holiday"));
            continue;
        }
        if weekend_like(day, ctx.holidays) != weekend {
            continue;
        }
        if ctx.event_days.contains(&day) {
            trace.excluded_days.push(exclude("event day"));
            continue;
        }
        let values: Option<Vec<Decimal>> = slots
            .iter()
            .map(|t| {
                shift_local(*t, ctx.tz, -back)
                    .and_then(|s| load.mw(s, ctx.secs))
                    .map(|(mw, _)| mw)
            })
            .collect();
        match values.and_then(|v| mean(v.iter().copied()).map(|m| (v, m))) {
            Some((values, window_mw)) => candidates.push(Candidate {
                day,
                back,
                window_mw,
                values,
            }),
            None => trace.excluded_days.push(exclude("incomplete meter data")),
        }
    }
    // Low usage, against the mean or the maximum of every complete like day in the look-back.
    let reference = match x.low_usage_of {
        LowUsageOf::Mean => mean(candidates.iter().map(|c| c.window_mw)),
        LowUsageOf::Max => candidates.iter().map(|c| c.window_mw).max(),
    };
    if let Some(reference) = reference {
        let floor = reference * x.low_usage_share;
        candidates.retain(|c| {
            let low = c.window_mw < floor;
            if low {
                trace.excluded_days.push(ExcludedDay {
                    day: c.day,
                    reason: "low usage".into(),
                });
            }
            !low
        });
    }
    candidates
}

/// The `keep` days of highest window load (the more recent wins a tie), most recent first; the others
/// go into the trace.
fn keep_highest(mut candidates: Vec<Candidate>, keep: u32, trace: &mut Trace) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.window_mw.cmp(&a.window_mw).then(a.back.cmp(&b.back)));
    for c in candidates.iter().skip(keep as usize) {
        trace.excluded_days.push(ExcludedDay {
            day: c.day,
            reason: format!("not among the highest {keep}"),
        });
    }
    candidates.truncate(keep as usize);
    candidates.sort_by_key(|c| c.back);
    candidates
}

/// The same-day adjustment: the site's actual load in the window before the event against the kept
/// days' load in the same window, added or (bounded) multiplied into `values`. Incomplete meter data in
/// the window leaves the baseline unadjusted, with a note.
fn adjust(
    a: &AdjustmentRule,
    ctx: &Context<'_>,
    load: &dyn Load,
    ev: &EventWindow,
    kept: &[Candidate],
    values: &mut [Decimal],
    trace: &mut Trace,
) {
    let from = ev.start - TimeDelta::minutes(i64::from(a.from_minutes_before));
    let to = ev.start - TimeDelta::minutes(i64::from(a.to_minutes_before));
    let mut actual = Vec::new();
    let mut base = Vec::new();
    let mut t = from;
    let mut complete = true;
    while t < to {
        let on_days: Option<Vec<Decimal>> = kept
            .iter()
            .map(|c| {
                shift_local(t, ctx.tz, -c.back)
                    .and_then(|s| load.mw(s, ctx.secs))
                    .map(|(mw, _)| mw)
            })
            .collect();
        match (load.mw(t, ctx.secs), on_days.and_then(mean)) {
            (Some((act, _)), Some(b)) => {
                actual.push(act);
                base.push(b);
            }
            _ => complete = false,
        }
        t += TimeDelta::seconds(ctx.secs);
    }
    let (true, Some(act), Some(b)) = (complete, mean(actual), mean(base)) else {
        let note = format!("no adjustment: meter data from {from} to {to} is incomplete");
        trace.note = Some(match trace.note.take() {
            Some(n) => format!("{n}; {note}"),
            None => note,
        });
        return;
    };
    let additive = a.kind == AdjustmentKind::Additive;
    let (value, unbounded) = if additive {
        (act - b, None)
    } else if b.is_zero() {
        (Decimal::ONE, None)
    } else {
        let raw = act / b;
        let mut f = raw;
        if let Some(lo) = a.min_factor {
            f = f.max(lo);
        }
        if let Some(hi) = a.max_factor {
            f = f.min(hi);
        }
        (f, (f != raw).then(|| factor(raw)))
    };
    for v in values.iter_mut() {
        *v = if additive { *v + value } else { *v * value };
    }
    trace.adjustment = Some(Adjustment {
        kind: a.kind,
        window_start: from,
        window_end: to,
        actual_mw: qty(act),
        baseline_mw: qty(b),
        value: if additive { qty(value) } else { factor(value) },
        unbounded,
    });
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::settle::rules::XOfYParams;
    use rust_decimal::dec;
    use std::collections::HashMap;

    /// Load given per instant (interval start); missing instants are missing data.
    #[derive(Default)]
    pub(crate) struct MapLoad(pub HashMap<DateTime<Utc>, Decimal>);

    impl Load for MapLoad {
        fn mw(&self, start: DateTime<Utc>, secs: i64) -> Option<(Decimal, Quality)> {
            // The test data is hourly or finer; average every stored instant inside the span.
            let step = 900;
            let mut sum = Decimal::ZERO;
            let mut n = 0;
            let mut t = start;
            while t < start + TimeDelta::seconds(secs) {
                let v = self.0.get(&t).or_else(|| {
                    let hour = DateTime::from_timestamp(t.timestamp() - t.timestamp().rem_euclid(3600), 0)?;
                    self.0.get(&hour)
                })?;
                sum += *v;
                n += 1;
                t += TimeDelta::seconds(step.min(secs));
            }
            (n > 0).then(|| (sum / Decimal::from(n), Quality::A))
        }
    }

    impl MapLoad {
        /// Every hour of `day` (UTC) at `mw`, except `overrides` (hour → MW).
        pub(crate) fn day(&mut self, day: NaiveDate, mw: Decimal, overrides: &[(u32, Decimal)]) {
            for h in 0..24 {
                let v = overrides.iter().find(|(oh, _)| *oh == h).map_or(mw, |(_, v)| *v);
                self.0.insert(day.and_hms_opt(h, 0, 0).unwrap().and_utc(), v);
            }
        }
    }

    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    pub(crate) fn event(start: &str, end: &str, mw: Decimal) -> EventWindow {
        EventWindow {
            event_id: "ev".into(),
            dispatch_id: None,
            direction: Direction::Shed,
            notice: at(start) - TimeDelta::minutes(10),
            start: at(start),
            end: at(end),
            committed_mw: mw,
        }
    }

    fn ctx<'a>(events: &'a BTreeSet<NaiveDate>, holidays: &'a BTreeSet<NaiveDate>, secs: i64) -> Context<'a> {
        Context {
            tz: chrono_tz::UTC,
            holidays,
            event_days: events,
            fsl_mw: None,
            secs,
        }
    }

    /// PJM's day selection alone, to test it without the same-day adjustment.
    fn pjm_without_adjustment() -> Baseline {
        Baseline::PjmHigh4Of5(XOfYParams {
            adjustment: Some(crate::settle::rules::AdjustmentRule {
                kind: AdjustmentKind::None,
                from_minutes_before: 0,
                to_minutes_before: 0,
                min_factor: None,
                max_factor: None,
            }),
            ..XOfYParams::default()
        })
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// docs/demand-response.md, "High 4 of 5": event-window loads 50, 48, 52, 30, 51 on the five prior weekdays; drop 30 → 50.25;
    /// the window 10:00–13:00 ran at 49.00 against a CBL of 50.25 → SAA −1.25 → 49.00 MW.
    #[test]
    fn pjm_high_4_of_5_golden_example_gives_49_mw() {
        let mut load = MapLoad::default();
        // Event Wednesday 2026-07-15 14:00–15:00 UTC; prior weekdays 14, 13, 10, 9, 8 July.
        for (d, mw) in [
            ("2026-07-14", 50),
            ("2026-07-13", 48),
            ("2026-07-10", 52),
            ("2026-07-09", 30),
            ("2026-07-08", 51),
        ] {
            load.day(date(d), Decimal::from(mw), &[]);
        }
        load.day(date("2026-07-15"), dec!(49), &[(14, dec!(2))]);
        let (none, hol) = (BTreeSet::new(), BTreeSet::new());
        let ev = event("2026-07-15T14:00:00Z", "2026-07-15T15:00:00Z", dec!(50));
        let b = compute(
            &Baseline::PjmHigh4Of5(XOfYParams::default()),
            &ctx(&none, &hol, 3600),
            &load,
            &ev,
        );
        assert_eq!(b.values, vec![Some(dec!(49.00))]);
        let adj = b.trace.adjustment.unwrap();
        assert_eq!(
            (adj.value, adj.actual_mw, adj.baseline_mw),
            (dec!(-1.25), dec!(49), dec!(50.25))
        );
        let days: Vec<String> = b.trace.selected_days.iter().map(|d| d.day.to_string()).collect();
        assert_eq!(days, ["2026-07-14", "2026-07-13", "2026-07-10", "2026-07-08"]);
        assert!(
            b.trace
                .excluded_days
                .iter()
                .any(|d| d.day == date("2026-07-09") && d.reason.contains("highest 4"))
        );
        // Actual 2.0 MW → 47.0 MWh reduction in the hour.
        assert_eq!(b.values[0].unwrap() - dec!(2), dec!(47));
    }

    #[test]
    fn pjm_skips_event_days_holidays_and_low_usage_days() {
        let mut load = MapLoad::default();
        for d in 1..=14 {
            load.day(NaiveDate::from_ymd_opt(2026, 7, d).unwrap(), dec!(40), &[]);
        }
        load.day(date("2026-07-13"), dec!(5), &[]); // low usage: below 25% of the mean
        load.day(date("2026-07-15"), dec!(40), &[]);
        let events = BTreeSet::from([date("2026-07-14")]);
        let holidays = BTreeSet::from([date("2026-07-03")]);
        let ev = event("2026-07-15T14:00:00Z", "2026-07-15T15:00:00Z", dec!(10));
        let b = compute(
            &Baseline::PjmHigh4Of5(XOfYParams::default()),
            &ctx(&events, &holidays, 3600),
            &load,
            &ev,
        );
        let reasons: Vec<(String, String)> = b
            .trace
            .excluded_days
            .iter()
            .map(|d| (d.day.to_string(), d.reason.clone()))
            .collect();
        assert!(
            reasons.contains(&("2026-07-14".into(), "event day".into())),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&("2026-07-13".into(), "low usage".into())),
            "{reasons:?}"
        );
        let days: Vec<String> = b.trace.selected_days.iter().map(|d| d.day.to_string()).collect();
        // 14 event, 13 low, 11–12 weekend: 10, 9, 8, 7, 6 are the five; 3 July (holiday) is never reached.
        assert_eq!(days.len(), 4);
        assert!(!days.contains(&"2026-07-03".into()));
        assert!(
            reasons.contains(&("2026-07-03".into(), "holiday".into())),
            "{reasons:?}"
        );
        assert_eq!(b.values, vec![Some(dec!(40))]);
    }

    /// docs/demand-response.md, "High 5 of 10": CBL 50 flat; actual 55 in the two hours that start four hours before → ×1.10 → 55.
    #[test]
    fn nyiso_average_day_golden_example_gives_55_mw() {
        let mut load = MapLoad::default();
        for d in 1..=14 {
            load.day(NaiveDate::from_ymd_opt(2026, 7, d).unwrap(), dec!(50), &[]);
        }
        load.day(
            date("2026-07-15"),
            dec!(50),
            &[(10, dec!(55)), (11, dec!(55)), (14, dec!(5))],
        );
        let (none, hol) = (BTreeSet::new(), BTreeSet::new());
        let ev = event("2026-07-15T14:00:00Z", "2026-07-15T15:00:00Z", dec!(60));
        let b = compute(
            &Baseline::NyisoHigh5Of10(XOfYParams::default()),
            &ctx(&none, &hol, 3600),
            &load,
            &ev,
        );
        assert_eq!(b.values, vec![Some(dec!(55.0))]);
        assert_eq!(b.trace.adjustment.unwrap().value, dec!(1.1));
        // The day before is skipped by NYISO's rule.
        assert!(!b.trace.selected_days.iter().any(|d| d.day == date("2026-07-14")));
        assert_eq!(b.values[0].unwrap() - dec!(5), dec!(50));
    }

    /// docs/demand-response.md, "10 of 10": 10-day baseline 50; window actual 35 → ratio 0.70 → bounded 0.80 → 40 MW.
    #[test]
    fn caiso_10_in_10_golden_example_caps_the_adjustment_at_20_percent() {
        let mut load = MapLoad::default();
        for d in 1..=14 {
            load.day(NaiveDate::from_ymd_opt(2026, 7, d).unwrap(), dec!(50), &[]);
        }
        load.day(date("2026-07-15"), dec!(35), &[(14, dec!(10))]);
        let (none, hol) = (BTreeSet::new(), BTreeSet::new());
        let ev = event("2026-07-15T14:00:00Z", "2026-07-15T15:00:00Z", dec!(60));
        let b = compute(
            &Baseline::Caiso10Of10(XOfYParams::default()),
            &ctx(&none, &hol, 3600),
            &load,
            &ev,
        );
        assert_eq!(b.values, vec![Some(dec!(40.0))]);
        let adj = b.trace.adjustment.unwrap();
        assert_eq!((adj.value, adj.unbounded), (dec!(0.8), Some(dec!(0.7))));
        assert_eq!(b.trace.selected_days.len(), 10);
        assert_eq!(b.values[0].unwrap() - dec!(10), dec!(30));
    }

    #[test]
    fn meter_before_holds_the_hour_before_notice_flat() {
        let mut load = MapLoad::default();
        load.day(date("2026-07-15"), dec!(48), &[(14, dec!(3))]);
        let (none, hol) = (BTreeSet::new(), BTreeSet::new());
        let ev = event("2026-07-15T14:00:00Z", "2026-07-15T15:00:00Z", dec!(40));
        let rule = Baseline::MeterBefore(MeterBefore {
            anchor: Anchor::Start,
            window_minutes: 60,
        });
        let b = compute(&rule, &ctx(&none, &hol, 900), &load, &ev);
        assert_eq!(b.values, vec![Some(dec!(48)); 4]);
        let empty = MapLoad::default();
        let b = compute(&rule, &ctx(&none, &hol, 900), &empty, &ev);
        assert_eq!(b.values, vec![None; 4]);
        assert!(b.trace.note.unwrap().contains("no complete meter data"));
    }

    #[test]
    fn like_days_keep_their_wall_clock_hours_across_a_dst_change() {
        // New York: 2026-03-08 springs forward. An event at 15:00 local on Tuesday 10 March is 19:00 UTC;
        // the same hour on Friday 6 March (EST) is 20:00 UTC.
        let tz: Tz = "America/New_York".parse().unwrap();
        let t = at("2026-03-10T19:00:00Z");
        assert_eq!(shift_local(t, tz, -4), Some(at("2026-03-06T20:00:00Z")));
        // 02:30 local on the 8th does not exist.
        assert_eq!(shift_local(at("2026-03-09T06:30:00Z"), tz, -1), None);
    }

    #[test]
    fn a_baseline_after_a_dst_change_takes_like_days_at_the_same_local_hour() {
        // New York springs forward on Sunday 8 March 2026. The event is 15:00–16:00 local on Tuesday
        // 10 March (19:00 UTC); on the EST days before the change that hour is 20:00 UTC.
        let tz: Tz = "America/New_York".parse().unwrap();
        let mut load = MapLoad::default();
        for d in 2..=9 {
            let day = NaiveDate::from_ymd_opt(2026, 3, d).unwrap();
            let local_15h = if d >= 8 { 19 } else { 20 };
            load.day(day, dec!(5), &[(local_15h, dec!(40))]);
        }
        let (none, hol) = (BTreeSet::new(), BTreeSet::new());
        let mut c = ctx(&none, &hol, 3600);
        c.tz = tz;
        let ev = event("2026-03-10T19:00:00Z", "2026-03-10T20:00:00Z", dec!(30));
        let b = compute(&pjm_without_adjustment(), &c, &load, &ev);
        let days: Vec<String> = b.trace.selected_days.iter().map(|d| d.day.to_string()).collect();
        assert_eq!(days.len(), 4, "{:?}", b.trace);
        assert!(days.contains(&"2026-03-09".to_owned()) && days.contains(&"2026-03-06".to_owned()));
        // Every selected day ran 40 MW at 15:00 local, whichever UTC hour that was.
        assert_eq!(b.values, vec![Some(dec!(40))]);
    }

    #[test]
    fn an_event_across_midnight_compares_each_hour_with_the_same_hours_of_like_days() {
        let mut load = MapLoad::default();
        for d in 1..=20 {
            load.day(
                NaiveDate::from_ymd_opt(2026, 7, d).unwrap(),
                dec!(30),
                &[(23, dec!(36)), (0, dec!(24))],
            );
        }
        let (none, hol) = (BTreeSet::new(), BTreeSet::new());
        let mut c = ctx(&none, &hol, 3600);
        c.tz = chrono_tz::UTC;
        // Wednesday 15 July 23:00 to Thursday 01:00.
        let ev = event("2026-07-15T23:00:00Z", "2026-07-16T01:00:00Z", dec!(10));
        let b = compute(&pjm_without_adjustment(), &c, &load, &ev);
        assert_eq!(b.values, vec![Some(dec!(36)), Some(dec!(24))]);
    }
}

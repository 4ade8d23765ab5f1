//! Choosing sites for a dispatch: which enrolled sites may take part, in which order, and how many
//! megawatts each is asked for.
//!
//! Eligible: the enrollment's term covers the whole event; its availability windows (site-local time)
//! cover every minute of it; the event is no longer than the enrollment's longest; the site gets at least
//! its notice; with a response time, it reaches full commitment (event start + its ramp) within it; it has
//! events left in its period; and it commits something in the dispatch's direction.
//! Merit order: offer price (cheapest first), then measured reliability (highest first; unmeasured sites
//! after measured ones), then measured T90 (fastest first), then name. Each site in turn is asked for its
//! whole commitment, the last one for what remains; what the fleet cannot cover is the shortfall.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;

use super::Decimal;
use super::calendar::{Direction, Window, available};

/// What the operator asks for.
#[derive(Debug, Clone)]
pub struct Request {
    pub direction: Direction,
    pub target_mw: Decimal,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// When the dispatch is made.
    pub now: DateTime<Utc>,
    /// The full change must be reached this long after `now`.
    pub response_time: Option<Duration>,
}

/// One enrolled site, with what dispatch needs to know of it.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub site_id: String,
    pub site_name: String,
    pub enrollment_id: String,
    pub time_zone: Tz,
    /// Committed MW in the dispatch's direction.
    pub committed_mw: Decimal,
    pub offer_price: Decimal,
    pub notice: Duration,
    pub ramp: Duration,
    pub max_event_duration: Option<Duration>,
    /// Events the enrollment may still take in the period ending at the event's start (`None`: no limit).
    pub events_left: Option<u32>,
    pub term_start: DateTime<Utc>,
    pub term_end: Option<DateTime<Utc>>,
    pub windows: Vec<Window>,
    /// Share of committed MW delivered in past events (0..=1), when measured.
    pub reliability: Option<f64>,
    /// Median T90 of past events, seconds, when measured.
    pub t90_secs: Option<f64>,
    /// The site's load now, MW (latest telemetry, or what the service assumes without it).
    pub reference_mw: Decimal,
    pub max_import_mw: Decimal,
    pub firm_service_level_mw: Option<Decimal>,
}

/// A site chosen.
#[derive(Debug, Clone, PartialEq)]
pub struct Pick {
    pub site_id: String,
    pub enrollment_id: String,
    /// 1 = first in merit order.
    pub rank: u32,
    pub allocated_mw: Decimal,
    pub reference_mw: Decimal,
    /// The site's new level: an import limit (shed) or a consumption setpoint (load-up), MW.
    pub level_mw: Decimal,
}

/// An enrolled site not chosen, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Skip {
    pub site_id: String,
    pub site_name: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub picks: Vec<Pick>,
    pub skipped: Vec<Skip>,
    pub planned_mw: Decimal,
    pub shortfall_mw: Decimal,
}

/// Local minute of the week (Monday 00:00 = 0) of an instant in a time zone.
fn minute_of_week(t: DateTime<Utc>, tz: Tz) -> u32 {
    use chrono::{Datelike, Timelike};
    let local = t.with_timezone(&tz);
    local.weekday().num_days_from_monday() * 24 * 60 + local.hour() * 60 + local.minute()
}

fn fmt_duration(d: Duration) -> String {
    let s = d.num_seconds();
    if s % 60 == 0 {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// Whether a candidate may take part, and if not, why.
pub fn eligible(c: &Candidate, r: &Request) -> Result<(), String> {
    if c.committed_mw <= Decimal::ZERO {
        return Err(match r.direction {
            Direction::Shed => "commits no shed".into(),
            Direction::LoadUp => "commits no load-up".into(),
        });
    }
    if r.start < c.term_start || c.term_end.is_some_and(|e| r.end > e) {
        return Err("the event is outside the enrollment's term".into());
    }
    if let Some(max) = c.max_event_duration
        && r.end - r.start > max
    {
        return Err(format!("the event is longer than its maximum of {}", fmt_duration(max)));
    }
    if r.start - r.now < c.notice {
        return Err(format!(
            "needs {} notice, the event starts in {}",
            fmt_duration(c.notice),
            fmt_duration((r.start - r.now).max(Duration::zero()))
        ));
    }
    if let Some(rt) = r.response_time
        && r.start + c.ramp - r.now > rt
    {
        return Err(format!(
            "would reach its level {} after the dispatch, later than the {} asked",
            fmt_duration(r.start + c.ramp - r.now),
            fmt_duration(rt)
        ));
    }
    if c.events_left == Some(0) {
        return Err("has no events left in its period".into());
    }
    if !c.windows.is_empty() {
        // Every minute of the event (at most a week of them: the pattern repeats).
        let minutes = (r.end - r.start).num_minutes().clamp(1, 7 * 24 * 60);
        for m in 0..minutes {
            let t = r.start + Duration::minutes(m);
            if !available(&c.windows, minute_of_week(t, c.time_zone)) {
                return Err(format!(
                    "is not available at {} {}",
                    t.with_timezone(&c.time_zone).format("%a %H:%M"),
                    c.time_zone
                ));
            }
        }
    }
    Ok(())
}

/// The site's new level when asked for `mw`.
fn level(c: &Candidate, direction: Direction, mw: Decimal) -> Decimal {
    match direction {
        Direction::Shed => {
            let floor = c.firm_service_level_mw.unwrap_or(Decimal::ZERO);
            (c.reference_mw - mw).max(Decimal::ZERO).max(floor)
        }
        Direction::LoadUp => (c.reference_mw + mw).min(c.max_import_mw),
    }
}

/// Chooses sites for `r` from `candidates` in merit order.
pub fn plan(r: &Request, candidates: &[Candidate]) -> Plan {
    let mut ok: Vec<&Candidate> = Vec::new();
    let mut skipped = Vec::new();
    for c in candidates {
        match eligible(c, r) {
            Ok(()) => ok.push(c),
            Err(reason) => skipped.push(Skip {
                site_id: c.site_id.clone(),
                site_name: c.site_name.clone(),
                reason,
            }),
        }
    }
    ok.sort_by(|a, b| {
        a.offer_price
            .cmp(&b.offer_price)
            .then_with(|| match (a.reliability, b.reliability) {
                (Some(x), Some(y)) => y.total_cmp(&x),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| match (a.t90_secs, b.t90_secs) {
                (Some(x), Some(y)) => x.total_cmp(&y),
                (Some(_), None) => std::cmp::Ordering::Less,
                (None, Some(_)) => std::cmp::Ordering::Greater,
                (None, None) => std::cmp::Ordering::Equal,
            })
            .then_with(|| a.site_name.cmp(&b.site_name))
            .then_with(|| a.enrollment_id.cmp(&b.enrollment_id))
    });
    let mut remaining = r.target_mw;
    let mut picks = Vec::new();
    for c in ok {
        if remaining <= Decimal::ZERO {
            skipped.push(Skip {
                site_id: c.site_id.clone(),
                site_name: c.site_name.clone(),
                reason: "not needed: the target is covered by sites ahead of it in merit order".into(),
            });
            continue;
        }
        let mw = c.committed_mw.min(remaining);
        remaining -= mw;
        picks.push(Pick {
            site_id: c.site_id.clone(),
            enrollment_id: c.enrollment_id.clone(),
            rank: u32::try_from(picks.len() + 1).unwrap_or(u32::MAX),
            allocated_mw: mw,
            reference_mw: c.reference_mw,
            level_mw: level(c, r.direction, mw),
        });
    }
    let planned = r.target_mw - remaining.max(Decimal::ZERO);
    Plan {
        picks,
        skipped,
        planned_mw: planned.normalize(),
        shortfall_mw: remaining.max(Decimal::ZERO).normalize(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flex::calendar::{TimeOfDay, Weekday};
    use chrono::TimeZone;
    use rust_decimal::dec;

    /// Thursday 1 July 2027, 15:00 UTC (10:00 in Chicago).
    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 7, 1, 15, 0, 0).unwrap()
    }

    fn site(name: &str, mw: Decimal, price: Decimal) -> Candidate {
        Candidate {
            site_id: format!("id-{name}"),
            site_name: name.into(),
            enrollment_id: format!("en-{name}"),
            time_zone: chrono_tz::America::Chicago,
            committed_mw: mw,
            offer_price: price,
            notice: Duration::minutes(10),
            ramp: Duration::minutes(5),
            max_event_duration: None,
            events_left: None,
            term_start: now() - Duration::days(30),
            term_end: None,
            windows: vec![],
            reliability: None,
            t90_secs: None,
            reference_mw: mw + dec!(10),
            max_import_mw: mw + dec!(10),
            firm_service_level_mw: None,
        }
    }

    fn request(target: Decimal) -> Request {
        Request {
            direction: Direction::Shed,
            target_mw: target,
            start: now() + Duration::minutes(10),
            end: now() + Duration::minutes(130),
            now: now(),
            response_time: None,
        }
    }

    fn mw(plan: &Plan) -> Vec<(String, Decimal)> {
        plan.picks.iter().map(|p| (p.site_id.clone(), p.allocated_mw)).collect()
    }

    /// A hand-built fleet: cheapest first, reliability breaks the tie at $90, the last site is cut to what
    /// remains, and the rest are not needed.
    #[test]
    fn merit_order_on_a_hand_built_fleet() {
        let mut a = site("alpha", dec!(40), dec!(90));
        a.reliability = Some(0.80);
        let mut b = site("bravo", dec!(30), dec!(90));
        b.reliability = Some(0.98);
        let c = site("charlie", dec!(25), dec!(75));
        let d = site("delta", dec!(50), dec!(120));
        let e = site("echo", dec!(20), dec!(200));
        let plan = plan(&request(dec!(100)), &[a, b, c, d, e]);
        assert_eq!(
            mw(&plan),
            vec![
                ("id-charlie".into(), dec!(25)),
                ("id-bravo".into(), dec!(30)),
                ("id-alpha".into(), dec!(40)),
                ("id-delta".into(), dec!(5)),
            ]
        );
        assert_eq!(plan.planned_mw, dec!(100));
        assert_eq!(plan.shortfall_mw, Decimal::ZERO);
        assert_eq!(plan.skipped.len(), 1);
        assert_eq!(plan.skipped[0].site_name, "echo");
        // delta (60 MW now, asked for 5) is limited to 55 MW.
        assert_eq!(plan.picks[3].level_mw, dec!(55));
        assert_eq!(plan.picks.iter().map(|p| p.rank).collect::<Vec<_>>(), vec![1, 2, 3, 4]);
    }

    #[test]
    fn a_fleet_too_small_reports_the_shortfall() {
        let plan = plan(
            &request(dec!(150)),
            &[site("a", dec!(40), dec!(1)), site("b", dec!(60), dec!(2))],
        );
        assert_eq!(plan.planned_mw, dec!(100));
        assert_eq!(plan.shortfall_mw, dec!(50));
    }

    #[test]
    fn sites_that_cannot_take_part_are_skipped_with_the_reason() {
        let mut slow_notice = site("notice", dec!(10), dec!(1));
        slow_notice.notice = Duration::minutes(30);
        let mut slow_ramp = site("ramp", dec!(10), dec!(1));
        slow_ramp.ramp = Duration::minutes(20);
        let mut short = site("short", dec!(10), dec!(1));
        short.max_event_duration = Some(Duration::minutes(60));
        let mut used_up = site("used", dec!(10), dec!(1));
        used_up.events_left = Some(0);
        let mut expired = site("expired", dec!(10), dec!(1));
        expired.term_end = Some(now());
        // Available weekdays 13:00–21:00 Chicago; the event is 10:10–12:10 Chicago.
        let mut afternoons = site("afternoons", dec!(10), dec!(1));
        afternoons.windows = vec![Window {
            days: vec![Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri],
            from: TimeOfDay::parse("13:00").unwrap(),
            to: TimeOfDay::parse("21:00").unwrap(),
        }];
        let ok = site("ok", dec!(10), dec!(1));
        let mut r = request(dec!(100));
        r.response_time = Some(Duration::minutes(20));
        let plan = plan(&r, &[slow_notice, slow_ramp, short, used_up, expired, afternoons, ok]);
        assert_eq!(mw(&plan), vec![("id-ok".into(), dec!(10))]);
        let reasons: Vec<(&str, &str)> = plan
            .skipped
            .iter()
            .map(|s| (s.site_name.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            vec![
                ("notice", "needs 30 min notice, the event starts in 10 min"),
                (
                    "ramp",
                    "would reach its level 30 min after the dispatch, later than the 20 min asked"
                ),
                ("short", "the event is longer than its maximum of 60 min"),
                ("used", "has no events left in its period"),
                ("expired", "the event is outside the enrollment's term"),
                ("afternoons", "is not available at Thu 10:10 America/Chicago"),
            ]
        );
    }

    #[test]
    fn an_afternoon_window_in_local_time_admits_an_afternoon_event() {
        let mut s = site("afternoons", dec!(10), dec!(1));
        s.windows = vec![Window {
            days: Weekday::ALL.to_vec(),
            from: TimeOfDay::parse("13:00").unwrap(),
            to: TimeOfDay::parse("21:00").unwrap(),
        }];
        let mut r = request(dec!(10));
        // 19:00–21:00 UTC is 14:00–16:00 in Chicago (CDT, UTC−5).
        r.start = Utc.with_ymd_and_hms(2027, 7, 1, 19, 0, 0).unwrap();
        r.end = Utc.with_ymd_and_hms(2027, 7, 1, 21, 0, 0).unwrap();
        assert_eq!(eligible(&s, &r), Ok(()));
    }

    #[test]
    fn levels_respect_the_firm_service_level_and_the_import_maximum() {
        let mut s = site("s", dec!(40), dec!(1));
        s.reference_mw = dec!(30);
        s.firm_service_level_mw = Some(dec!(10));
        let p = plan(&request(dec!(40)), std::slice::from_ref(&s));
        assert_eq!(
            p.picks[0].level_mw,
            dec!(10),
            "never asked below its firm service level"
        );
        let mut r = request(dec!(40));
        r.direction = Direction::LoadUp;
        s.max_import_mw = dec!(50);
        let p = plan(&r, &[s]);
        assert_eq!(
            p.picks[0].level_mw,
            dec!(50),
            "a setpoint no higher than the site can draw"
        );
    }
}

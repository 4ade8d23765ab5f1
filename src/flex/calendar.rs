//! The obligation calendar: the same megawatts of a site must not be committed to two programs at once.
//!
//! An enrollment commits `shed` MW (and, separately, `load_up` MW) during its term, inside its weekly
//! availability windows (in the site's time zone; no windows means always). A new or changed enrollment is
//! refused when, at some moment covered by it, the commitments of the site's enrollments active at that
//! moment add up to more than the site can move (its maximum import), or when it overlaps another
//! enrollment of the site in the same program.

use chrono::{DateTime, Utc};

use super::Decimal;
pub use crate::wire::calendar::{TimeOfDay, Weekday, Window};

/// Minutes in a week; windows are sets of half-open minute ranges `[a, b)` of the week, Monday 00:00 = 0.
const WEEK: u32 = 7 * 24 * 60;

// The window's rules; its wire form is in `crate::wire::calendar`.
impl Window {
    /// The minute ranges of the week this window covers (a range that runs past Sunday midnight is split).
    fn ranges(&self) -> Vec<(u32, u32)> {
        let (from, to) = (self.from.minutes(), self.to.minutes());
        let length = if to > from { to - from } else { 24 * 60 - from + to };
        let mut out = Vec::new();
        for d in &self.days {
            let a = d.index() * 24 * 60 + from;
            let b = a + length;
            if b <= WEEK {
                out.push((a, b));
            } else {
                out.push((a, WEEK));
                out.push((0, b - WEEK));
            }
        }
        out
    }

    /// Whether the window covers a moment of the week (minutes since Monday 00:00, site-local).
    pub fn covers(&self, minute_of_week: u32) -> bool {
        self.ranges()
            .iter()
            .any(|&(a, b)| a <= minute_of_week && minute_of_week < b)
    }
}

/// Whether a set of windows (empty = always) covers a moment of the week.
pub fn available(windows: &[Window], minute_of_week: u32) -> bool {
    windows.is_empty() || windows.iter().any(|w| w.covers(minute_of_week))
}

/// One enrollment as the calendar sees it.
#[derive(Debug, Clone)]
pub struct Commitment {
    pub id: String,
    pub program_id: String,
    pub shed_mw: Decimal,
    pub load_up_mw: Decimal,
    pub starts: DateTime<Utc>,
    /// `None`: open-ended.
    pub ends: Option<DateTime<Utc>>,
    pub windows: Vec<Window>,
}

impl Commitment {
    fn term_overlaps(&self, o: &Commitment) -> bool {
        let before_end = |t: DateTime<Utc>, end: Option<DateTime<Utc>>| end.is_none_or(|e| t < e);
        before_end(o.starts, self.ends) && before_end(self.starts, o.ends)
    }

    fn term_contains(&self, t: DateTime<Utc>) -> bool {
        self.starts <= t && self.ends.is_none_or(|e| t < e)
    }

    /// The week's minute ranges; the whole week when there are no windows.
    fn week_ranges(&self) -> Vec<(u32, u32)> {
        if self.windows.is_empty() {
            vec![(0, WEEK)]
        } else {
            self.windows.iter().flat_map(Window::ranges).collect()
        }
    }
}

/// Which commitment would be exceeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Shed,
    LoadUp,
}

/// Why a commitment is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conflict {
    /// Another enrollment of the site in the same program overlaps it.
    SameProgram { other: String },
    /// With the enrollments `others`, active at the same moment, the site would commit `total` MW in
    /// `direction`, more than its `capacity`.
    OverCommitted {
        direction: Direction,
        others: Vec<String>,
        total: Decimal,
        capacity: Decimal,
    },
}

/// Checks `new` against the site's other enrollments (`others` must not contain `new` itself).
/// `capacity` is what the site can move in either direction (its maximum import, MW).
///
/// Exact over the weekly pattern: the week is cut at every window boundary, and within each piece the
/// largest set of enrollments whose terms share a moment is found (intervals on a line that overlap
/// pairwise share a point, so it is enough to look at each term's start). Conservative in one case: two
/// terms that overlap for less than a week are treated as if every weekday occurred in the overlap.
pub fn check(new: &Commitment, others: &[Commitment], capacity: Decimal) -> Result<(), Conflict> {
    let overlapping: Vec<&Commitment> = others
        .iter()
        .filter(|o| o.id != new.id && new.term_overlaps(o))
        .collect();
    let new_ranges = new.week_ranges();
    let shares_week = |o: &Commitment| {
        o.week_ranges()
            .iter()
            .any(|&(a, b)| new_ranges.iter().any(|&(c, d)| a < d && c < b))
    };
    if let Some(o) = overlapping
        .iter()
        .find(|o| o.program_id == new.program_id && shares_week(o))
    {
        return Err(Conflict::SameProgram { other: o.id.clone() });
    }
    // Every window boundary of the week, then each elementary piece inside one of `new`'s ranges.
    let mut cuts: Vec<u32> = vec![0, WEEK];
    for c in std::iter::once(new).chain(overlapping.iter().copied()) {
        for (a, b) in c.week_ranges() {
            cuts.push(a);
            cuts.push(b);
        }
    }
    cuts.sort_unstable();
    cuts.dedup();
    let covers = |c: &Commitment, m: u32| c.week_ranges().iter().any(|&(a, b)| a <= m && m < b);
    let mut worst: Option<(Direction, Vec<String>, Decimal)> = None;
    for piece in cuts.windows(2) {
        let m = piece[0];
        if !covers(new, m) {
            continue;
        }
        let active: Vec<&Commitment> = overlapping.iter().copied().filter(|o| covers(o, m)).collect();
        // Moments worth looking at: the start of each term (clipped to `new`'s term).
        let moments = std::iter::once(new.starts).chain(active.iter().map(|o| o.starts.max(new.starts)));
        for t in moments {
            if !new.term_contains(t) {
                continue;
            }
            let at_t: Vec<&Commitment> = active.iter().copied().filter(|o| o.term_contains(t)).collect();
            for (direction, of) in [
                (
                    Direction::Shed,
                    (|c: &Commitment| c.shed_mw) as fn(&Commitment) -> Decimal,
                ),
                (Direction::LoadUp, |c: &Commitment| c.load_up_mw),
            ] {
                if of(new).is_zero() {
                    continue;
                }
                let others: Vec<&Commitment> = at_t.iter().copied().filter(|o| !of(o).is_zero()).collect();
                // Saturating: a sum past Decimal's range is over any capacity, not a panic.
                let total = others
                    .iter()
                    .fold(of(new), |sum, o| sum.checked_add(of(o)).unwrap_or(Decimal::MAX));
                if total > capacity && worst.as_ref().is_none_or(|(_, _, w)| total > *w) {
                    let mut ids: Vec<String> = others.iter().map(|o| o.id.clone()).collect();
                    ids.sort();
                    worst = Some((direction, ids, total));
                }
            }
        }
    }
    match worst {
        None => Ok(()),
        Some((direction, others, total)) => Err(Conflict::OverCommitted {
            direction,
            others,
            total,
            capacity,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use rust_decimal::dec;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, d, 0, 0, 0).unwrap()
    }

    fn window(days: &[Weekday], from: &str, to: &str) -> Window {
        Window {
            days: days.to_vec(),
            from: TimeOfDay::parse(from).unwrap(),
            to: TimeOfDay::parse(to).unwrap(),
        }
    }

    fn c(id: &str, program: &str, shed: Decimal, from: u32, to: Option<u32>, windows: Vec<Window>) -> Commitment {
        Commitment {
            id: id.into(),
            program_id: program.into(),
            shed_mw: shed,
            load_up_mw: Decimal::ZERO,
            starts: day(from),
            ends: to.map(day),
            windows,
        }
    }

    #[test]
    fn different_megawatts_of_one_site_may_serve_two_programs_at_once() {
        let ers = c("ers", "p1", dec!(40), 1, None, vec![]);
        let fourcp = c("4cp", "p2", dec!(60), 1, None, vec![]);
        assert_eq!(check(&fourcp, &[ers], dec!(100)), Ok(()));
    }

    #[test]
    fn the_same_megawatts_twice_at_overlapping_times_name_the_other_enrollment() {
        let ers = c("ers", "p1", dec!(40), 1, Some(20), vec![]);
        let new = c("new", "p2", dec!(61), 10, Some(30), vec![]);
        assert_eq!(
            check(&new, &[ers], dec!(100)),
            Err(Conflict::OverCommitted {
                direction: Direction::Shed,
                others: vec!["ers".into()],
                total: dec!(101),
                capacity: dec!(100)
            })
        );
    }

    #[test]
    fn consecutive_terms_do_not_overlap() {
        let winter = c("winter", "p1", dec!(90), 1, Some(10), vec![]);
        let spring = c("spring", "p2", dec!(90), 10, None, vec![]);
        assert_eq!(check(&spring, &[winter], dec!(100)), Ok(()));
    }

    #[test]
    fn disjoint_daily_windows_share_no_moment() {
        use Weekday::*;
        let day_shift = c(
            "day",
            "p1",
            dec!(90),
            1,
            None,
            vec![window(&Weekday::ALL, "06:00", "18:00")],
        );
        let night = c(
            "night",
            "p2",
            dec!(90),
            1,
            None,
            vec![window(&Weekday::ALL, "18:00", "06:00")],
        );
        assert_eq!(check(&night, std::slice::from_ref(&day_shift), dec!(100)), Ok(()));
        // A Friday evening window that runs into Saturday morning meets a Saturday-morning one.
        let fri_night = c("fri", "p3", dec!(20), 1, None, vec![window(&[Fri], "20:00", "04:00")]);
        let sat_morning = c("sat", "p4", dec!(90), 1, None, vec![window(&[Sat], "02:00", "03:00")]);
        assert!(check(&fri_night, &[sat_morning], dec!(100)).is_err());
        // Sunday night into Monday wraps around the week.
        let sun_night = c("sun", "p3", dec!(20), 1, None, vec![window(&[Sun], "23:00", "01:00")]);
        let mon_early = c("mon", "p4", dec!(90), 1, None, vec![window(&[Mon], "00:30", "00:45")]);
        assert!(check(&sun_night, &[mon_early], dec!(100)).is_err());
    }

    #[test]
    fn three_enrollments_conflict_only_where_all_three_meet() {
        // a: days 1–10, b: days 12–20, each 40 MW; a new 40 MW over days 5–15 meets each alone (80 ≤ 100).
        let a = c("a", "p1", dec!(40), 1, Some(10), vec![]);
        let b = c("b", "p2", dec!(40), 12, Some(20), vec![]);
        let new = c("new", "p3", dec!(40), 5, Some(15), vec![]);
        assert_eq!(check(&new, &[a.clone(), b.clone()], dec!(100)), Ok(()));
        // With b starting on day 8, all three share days 8–10: 120 MW.
        let b = c("b", "p2", dec!(40), 8, Some(20), vec![]);
        match check(&new, &[a, b], dec!(100)) {
            Err(Conflict::OverCommitted { others, total, .. }) => {
                assert_eq!(others, vec!["a".to_string(), "b".to_string()]);
                assert_eq!(total, dec!(120));
            }
            other => panic!("expected an over-commitment, got {other:?}"),
        }
    }

    #[test]
    fn shed_and_load_up_are_counted_separately() {
        let mut shed = c("shed", "p1", dec!(90), 1, None, vec![]);
        shed.load_up_mw = Decimal::ZERO;
        let mut up = c("up", "p2", Decimal::ZERO, 1, None, vec![]);
        up.load_up_mw = dec!(90);
        assert_eq!(check(&up, std::slice::from_ref(&shed), dec!(100)), Ok(()));
        let mut up2 = c("up2", "p3", Decimal::ZERO, 1, None, vec![]);
        up2.load_up_mw = dec!(20);
        assert!(matches!(
            check(&up2, &[shed, up], dec!(100)),
            Err(Conflict::OverCommitted {
                direction: Direction::LoadUp,
                ..
            })
        ));
    }

    #[test]
    fn one_site_enrolls_in_one_program_once_at_a_time() {
        let a = c("a", "p1", dec!(10), 1, None, vec![]);
        let b = c("b", "p1", dec!(10), 5, None, vec![]);
        assert_eq!(
            check(&b, &[a], dec!(100)),
            Err(Conflict::SameProgram { other: "a".into() })
        );
    }

    #[test]
    fn an_update_is_not_checked_against_itself() {
        let a = c("a", "p1", dec!(90), 1, None, vec![]);
        assert_eq!(check(&a, std::slice::from_ref(&a), dec!(100)), Ok(()));
    }

    #[test]
    fn times_of_day_parse_strictly() {
        assert_eq!(TimeOfDay::parse("24:00").unwrap().minutes(), 1440);
        for bad in ["24:01", "7:00", "07:60", "07-00", ""] {
            assert!(TimeOfDay::parse(bad).is_err(), "{bad}");
        }
    }
}

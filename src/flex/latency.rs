//! Response latency of one site to one event, from the site's own telemetry (docs/demand-response.md, "Response latency").
//!
//! All times are measured from the reference moment: when the site was notified (webhook or MQTT delivery,
//! or the first poll that returned the event), or the event's start when that is not known. The baseline
//! is the mean load in a window just before notification (meter-before, held flat); reduction is
//! baseline − load for a shed event and load − baseline for a load-up event.
//!
//! - `t_ack`: first report on the event (OpenADR 3 has no acknowledgement; docs/spec-decisions.md).
//! - `t_start`: first sample with a reduction of at least `start_share` (5 %) of the commitment.
//! - `t50`, `t90`, `t100`: first sample with 50 / 90 / 100 % of the committed reduction.
//! - `ramp_mw_per_min`: 0.8 × commitment / (T90 − T10).
//! - `sustain`: share of the samples inside the event with at least `sustain_share` (95 %) of it.
//! - `snapback_mw`: the most the load rose above the baseline in the window after the event.
//! - `early_mw`: the most reduction seen before the event started.

use chrono::{DateTime, Utc};

/// One load sample, MW.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub at: DateTime<Utc>,
    pub mw: f64,
}

/// Thresholds of the metrics (common practice, unverified for any one program: configuration, not constants).
#[derive(Debug, Clone, PartialEq)]
pub struct Thresholds {
    /// Baseline window before notification, seconds.
    pub baseline_secs: i64,
    /// Share of the commitment that counts as having started.
    pub start_share: f64,
    /// Share of the commitment that counts as sustained.
    pub sustain_share: f64,
    /// Window after the event in which snapback is looked for, seconds.
    pub snapback_secs: i64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            baseline_secs: 300,
            start_share: 0.05,
            sustain_share: 0.95,
            snapback_secs: 900,
        }
    }
}

/// What is known of one (event, site).
#[derive(Debug, Clone)]
pub struct Case<'a> {
    pub event_start: DateTime<Utc>,
    pub event_end: Option<DateTime<Utc>>,
    pub notified: Option<DateTime<Utc>>,
    pub first_report: Option<DateTime<Utc>>,
    /// Committed change, MW (positive).
    pub committed_mw: f64,
    /// A load-up event: the load is to rise.
    pub load_up: bool,
    /// Load samples, in time order.
    pub samples: &'a [Sample],
}

/// The metrics; seconds are from the reference moment, `None` when not (yet) reached or not measurable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    pub reference: Option<DateTime<Utc>>,
    pub baseline_mw: Option<f64>,
    pub t_ack_secs: Option<f64>,
    pub t_start_secs: Option<f64>,
    pub t10_secs: Option<f64>,
    pub t50_secs: Option<f64>,
    pub t90_secs: Option<f64>,
    pub t100_secs: Option<f64>,
    pub ramp_mw_per_min: Option<f64>,
    /// 0..=1.
    pub sustain: Option<f64>,
    pub snapback_mw: Option<f64>,
    pub early_mw: Option<f64>,
    /// Largest reduction reached, MW.
    pub max_reduction_mw: Option<f64>,
}

fn secs(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

/// `t + d`, held at the ends of chrono's range instead of overflowing: a window reaching past them only
/// selects nothing more.
pub fn shift(t: DateTime<Utc>, d: chrono::Duration) -> DateTime<Utc> {
    t.checked_add_signed(d).unwrap_or(if d < chrono::Duration::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// Computes the metrics of one case.
pub fn compute(case: &Case<'_>, th: &Thresholds) -> Metrics {
    let reference = case.notified.unwrap_or(case.event_start);
    let mut m = Metrics {
        reference: Some(reference),
        t_ack_secs: case.first_report.map(|a| secs(reference, a).max(0.0)),
        ..Metrics::default()
    };
    let Some(baseline) = baseline(case, reference, th) else {
        return m;
    };
    m.baseline_mw = Some(baseline);
    let reduction = |s: &Sample| if case.load_up { s.mw - baseline } else { baseline - s.mw };
    let commit = case.committed_mw;
    if commit <= 0.0 {
        return m;
    }
    let after: Vec<&Sample> = case.samples.iter().filter(|s| s.at >= reference).collect();
    let first_at = |share: f64| {
        after
            .iter()
            .find(|s| reduction(s) >= share * commit - 1e-9)
            .map(|s| secs(reference, s.at))
    };
    m.t_start_secs = first_at(th.start_share);
    m.t10_secs = first_at(0.10);
    m.t50_secs = first_at(0.50);
    m.t90_secs = first_at(0.90);
    m.t100_secs = first_at(1.0);
    if let (Some(t10), Some(t90)) = (m.t10_secs, m.t90_secs) {
        m.ramp_mw_per_min = Some(if t90 > t10 {
            0.8 * commit / ((t90 - t10) / 60.0)
        } else {
            // Reached in one sample step: as fast as the telemetry can tell.
            f64::INFINITY
        });
    }
    m.max_reduction_mw = max(after.iter().map(|s| reduction(s)));
    let during: Vec<&&Sample> = after
        .iter()
        .filter(|s| s.at >= case.event_start && case.event_end.is_none_or(|e| s.at < e))
        .collect();
    if !during.is_empty() {
        let held = during
            .iter()
            .filter(|s| reduction(s) >= th.sustain_share * commit - 1e-9)
            .count();
        m.sustain = Some(held as f64 / during.len() as f64);
    }
    if let Some(end) = case.event_end {
        let until = shift(end, chrono::Duration::seconds(th.snapback_secs));
        let over = case.samples.iter().filter(|s| s.at >= end && s.at < until);
        m.snapback_mw = max(over.map(|s| -reduction(s))).map(|o| o.max(0.0));
    }
    let early = case
        .samples
        .iter()
        .filter(|s| s.at >= reference && s.at < case.event_start);
    m.early_mw = max(early.map(reduction)).map(|e| e.max(0.0));
    m
}

/// The load before the reference time: the mean of the samples in the baseline window, or, with none in
/// it, the last sample before it.
fn baseline(case: &Case<'_>, reference: DateTime<Utc>, th: &Thresholds) -> Option<f64> {
    let window_start = shift(reference, -chrono::Duration::seconds(th.baseline_secs));
    let before: Vec<f64> = case
        .samples
        .iter()
        .filter(|s| s.at >= window_start && s.at < reference)
        .map(|s| s.mw)
        .collect();
    if before.is_empty() {
        case.samples.iter().rev().find(|s| s.at < reference).map(|s| s.mw)
    } else {
        Some(before.iter().sum::<f64>() / before.len() as f64)
    }
}

fn max(values: impl Iterator<Item = f64>) -> Option<f64> {
    values.fold(None, |a: Option<f64>, r| Some(a.map_or(r, |a| a.max(r))))
}

/// The p-th percentile (0..=100) of `values`, nearest rank; `None` when empty.
pub fn percentile(values: &mut [f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * values.len() as f64).ceil().max(1.0) as usize;
    Some(values[rank.min(values.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 7, 1, h, m, s).unwrap()
    }

    fn series(points: &[((u32, u32, u32), f64)]) -> Vec<Sample> {
        points
            .iter()
            .map(|&((h, m, s), mw)| Sample { at: at(h, m, s), mw })
            .collect()
    }

    /// docs/demand-response.md, "Response latency" (example): 50 MW site, 40 MW committed, notice 15:50:00, acknowledged 15:50:04, at or below
    /// 14 MW (90 % of the drop) at 15:56:30: T_ack 4 s, T90 6.5 min.
    #[test]
    fn the_worked_example_of_domain_md_section_4() {
        let s = series(&[
            ((15, 46, 0), 50.0),
            ((15, 48, 0), 50.0),
            ((15, 50, 30), 50.0),
            ((15, 51, 0), 45.0), // 5 MW = 12.5 %: started, past T10
            ((15, 53, 0), 30.0), // 20 MW = 50 %
            ((15, 55, 0), 20.0),
            ((15, 56, 30), 14.0), // 36 MW = 90 %
            ((16, 0, 0), 12.0),
            ((16, 15, 0), 10.0), // 40 MW = 100 %
            ((16, 30, 0), 10.0),
            ((16, 45, 0), 12.0),
            ((17, 0, 0), 53.0), // 3 MW above baseline right after the end
            ((17, 15, 0), 50.0),
        ]);
        let m = compute(
            &Case {
                event_start: at(16, 0, 0),
                event_end: Some(at(17, 0, 0)),
                notified: Some(at(15, 50, 0)),
                first_report: Some(at(15, 50, 4)),
                committed_mw: 40.0,
                load_up: false,
                samples: &s,
            },
            &Thresholds::default(),
        );
        assert_eq!(m.baseline_mw, Some(50.0));
        assert_eq!(m.t_ack_secs, Some(4.0));
        assert_eq!(m.t_start_secs, Some(60.0));
        assert_eq!(m.t10_secs, Some(60.0));
        assert_eq!(m.t50_secs, Some(180.0));
        assert_eq!(m.t90_secs, Some(390.0), "6.5 minutes");
        assert_eq!(m.t100_secs, Some(1500.0));
        // 0.8 × 40 MW over (390 − 60) s = 5.5 min.
        assert!((m.ramp_mw_per_min.unwrap() - 32.0 / 5.5).abs() < 1e-9);
        // In the event: 38, 40, 40, 38 MW; 95 % of 40 is 38: all four held.
        assert_eq!(m.sustain, Some(1.0));
        assert_eq!(m.snapback_mw, Some(3.0));
        // Before 16:00 the site had already shed 36 MW.
        assert_eq!(m.early_mw, Some(36.0));
    }

    #[test]
    fn a_site_that_never_responds_reaches_nothing() {
        let s = series(&[
            ((15, 49, 0), 40.0),
            ((15, 55, 0), 40.0),
            ((16, 10, 0), 40.5),
            ((16, 20, 0), 39.9),
        ]);
        let m = compute(
            &Case {
                event_start: at(16, 0, 0),
                event_end: Some(at(16, 30, 0)),
                notified: Some(at(15, 50, 0)),
                first_report: None,
                committed_mw: 20.0,
                load_up: false,
                samples: &s,
            },
            &Thresholds::default(),
        );
        assert_eq!(m.baseline_mw, Some(40.0));
        assert_eq!(
            (m.t_ack_secs, m.t_start_secs, m.t90_secs, m.ramp_mw_per_min),
            (None, None, None, None)
        );
        assert_eq!(m.sustain, Some(0.0));
    }

    #[test]
    fn a_load_up_counts_the_rise_and_a_partial_response_sustains_partly() {
        let s = series(&[
            ((1, 59, 0), 10.0),
            ((2, 0, 30), 20.0),
            ((2, 1, 0), 30.0),  // +20 = 100 % of 20 MW
            ((2, 10, 0), 28.0), // +18 = 90 %: below 95 %
            ((2, 20, 0), 30.0),
        ]);
        let m = compute(
            &Case {
                event_start: at(2, 0, 0),
                event_end: Some(at(3, 0, 0)),
                notified: None,
                first_report: None,
                committed_mw: 20.0,
                load_up: true,
                samples: &s,
            },
            &Thresholds::default(),
        );
        assert_eq!(
            m.reference,
            Some(at(2, 0, 0)),
            "no notification known: measured from the start"
        );
        assert_eq!(m.t50_secs, Some(30.0));
        assert_eq!(m.t100_secs, Some(60.0));
        // In the event: +10, +20, +18, +20 MW; 95 % of 20 is 19: two of four held.
        assert_eq!(m.sustain, Some(0.5));
    }

    #[test]
    fn without_telemetry_before_the_notice_there_is_no_baseline() {
        let s = series(&[((16, 5, 0), 10.0)]);
        let m = compute(
            &Case {
                event_start: at(16, 0, 0),
                event_end: None,
                notified: Some(at(15, 50, 0)),
                first_report: Some(at(15, 50, 10)),
                committed_mw: 20.0,
                load_up: false,
                samples: &s,
            },
            &Thresholds::default(),
        );
        assert_eq!(m.t_ack_secs, Some(10.0));
        assert_eq!(m.baseline_mw, None);
        assert_eq!(m.t90_secs, None);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut v = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(percentile(&mut v, 50.0), Some(3.0));
        assert_eq!(percentile(&mut v, 99.0), Some(5.0));
        assert_eq!(percentile(&mut v, 0.0), Some(1.0));
        assert_eq!(percentile(&mut [], 50.0), None);
    }
}

//! Revenue-meter interval data: the canonical CSV layout (docs/demand-response.md, "Meter data";
//! `canonical.rs`) and Green Button (NAESB ESPI) Atom feeds (`green_button.rs`), read into [`Reading`]s;
//! and the day blocks they are stored in, one version per revision (`days.rs`).
//!
//! A reading that does not make sense is reported with its line (CSV) or interval start (Green Button);
//! the caller imports nothing when there is one.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

mod canonical;
mod days;
mod green_button;

pub use self::canonical::read_csv;
pub use self::days::{DayBlock, DayGroup, SeriesKey, Slot, day_of, group, merge_day};
pub use self::green_button::read_green_button;
use super::Decimal;
pub use crate::wire::settlement::{Channel, ImportCounts, LineError};

/// Where a series comes from. Revenue-meter data settles; telemetry (SCADA) stands in where it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    Revenue,
    Telemetry,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Revenue => "revenue",
            Self::Telemetry => "telemetry",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "revenue" | "meter" => Some(Self::Revenue),
            "telemetry" | "scada" => Some(Self::Telemetry),
            _ => None,
        }
    }
}

/// Data quality of one interval: actual, estimated, or missing (known to be absent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Quality {
    A,
    E,
    M,
}

impl Quality {
    pub fn code(self) -> char {
        match self {
            Self::A => 'A',
            Self::E => 'E',
            Self::M => 'M',
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "A" | "ACTUAL" | "" => Some(Self::A),
            "E" | "ESTIMATED" => Some(Self::E),
            "M" | "MISSING" => Some(Self::M),
            _ => None,
        }
    }

    /// The worse of two: missing over estimated over actual.
    pub fn worst(self, other: Self) -> Self {
        match (self, other) {
            (Self::M, _) | (_, Self::M) => Self::M,
            (Self::E, _) | (_, Self::E) => Self::E,
            _ => Self::A,
        }
    }
}

/// One interval of metered energy.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The site's id or name, as the file gave it.
    pub site: String,
    pub meter: Option<String>,
    pub channel: Channel,
    pub source: Source,
    pub start: DateTime<Utc>,
    /// Interval length, seconds.
    pub secs: u32,
    /// Energy in the interval; `None` when the quality is missing.
    pub kwh: Option<Decimal>,
    pub quality: Quality,
    /// Where it came from: the CSV line, or 0.
    pub line: usize,
}

/// At most this many problems are listed; the count says how many there were.
pub const MAX_LISTED_ERRORS: usize = 100;

/// Problems found in a file: the first [`MAX_LISTED_ERRORS`], and how many there were.
#[derive(Debug, Default)]
pub struct Problems {
    pub list: Vec<LineError>,
    pub count: usize,
}

impl Problems {
    pub fn add(&mut self, e: LineError) {
        self.count += 1;
        if self.list.len() < MAX_LISTED_ERRORS {
            self.list.push(e);
        }
    }

    fn push(&mut self, line: usize, message: String) {
        self.add(LineError { line, message });
    }
}

/// Interval lengths must divide a day, so each interval sits in one UTC day block.
pub(super) fn check_length(secs: i64) -> Result<u32, String> {
    if secs <= 0 || secs > 86_400 || 86_400 % secs != 0 {
        return Err(format!("an interval of {secs} s does not divide a day"));
    }
    Ok(secs as u32)
}

pub(super) fn check_alignment(start: DateTime<Utc>, secs: u32) -> Result<(), String> {
    if start.timestamp().rem_euclid(i64::from(secs)) != 0 {
        return Err(format!(
            "interval start {start} is not on a {secs} s boundary of the UTC day"
        ));
    }
    Ok(())
}

/// Reads a UTC timestamp: RFC 3339 with any offset, or `YYYY-MM-DD HH:MM[:SS]` / `…THH:MM[:SS]` meaning UTC.
pub fn parse_utc(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc)).filter(crate::wire::in_range);
    }
    let s = s.strip_suffix('Z').unwrap_or(s);
    [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .map(|n| n.and_utc())
    .filter(crate::wire::in_range)
}

pub(super) fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    s.parse::<Decimal>().ok().or_else(|| Decimal::from_scientific(s).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    const GREEN_BUTTON: &[u8] = include_bytes!("../../../tests/data/greenbutton/test_usage_data.xml");

    fn csv(text: &str) -> (Vec<Reading>, Vec<LineError>) {
        let mut out = Vec::new();
        let (errors, _) = read_csv(text.as_bytes(), |r| out.push(r));
        (out, errors)
    }

    #[test]
    fn the_green_button_sample_reads_as_1340_quarter_hours_totalling_1391_666_kwh() {
        let readings = read_green_button(GREEN_BUTTON, "site-1").unwrap();
        assert_eq!(readings.len(), 1340);
        let total: Decimal = readings.iter().filter_map(|r| r.kwh).sum();
        assert_eq!(total, dec!(1391.666));
        assert!(
            readings
                .iter()
                .all(|r| r.secs == 900 && r.channel == Channel::Delivered)
        );
        assert_eq!(readings[0].meter.as_deref(), Some("5446AF3F"));
        assert_eq!(readings[0].start, DateTime::from_timestamp(1_330_578_000, 0).unwrap());
        assert_eq!(readings[0].kwh, Some(dec!(0.282)));
        // quality 8 (estimated with a reference day) and 7 (manually edited) are estimates.
        assert_eq!(readings[0].quality, Quality::E);
        assert_eq!(readings[2].quality, Quality::A);
    }

    #[test]
    fn power_of_ten_scales_green_button_values_and_other_units_are_refused() {
        let scaled =
            String::from_utf8_lossy(GREEN_BUTTON).replace("<powerOfTenMultiplier>0<", "<powerOfTenMultiplier>3<");
        let readings = read_green_button(scaled.as_bytes(), "s").unwrap();
        assert_eq!(readings[0].kwh, Some(dec!(282)));
        let volts = String::from_utf8_lossy(GREEN_BUTTON).replace("<uom>72<", "<uom>29<");
        let (errors, n) = read_green_button(volts.as_bytes(), "s").unwrap_err();
        assert!(n > 0 && errors[0].message.contains("uom"), "{errors:?}");
        let (errors, _) = read_green_button(b"<html><body>no</body></html>", "s").unwrap_err();
        assert!(errors[0].message.contains("feed"), "{errors:?}");
        let (errors, _) = read_green_button(b"<feed><entry><unclosed></feed>", "s").unwrap_err();
        assert_eq!(errors.len(), 1);
    }

    #[test]
    fn csv_rows_read_in_any_column_order_with_defaults() {
        let (rs, errors) = csv("kwh,interval_end_utc,site_id,interval_start_utc,quality\n\
             250.5,2026-07-01T16:15:00Z,s1,2026-07-01T16:00:00Z,E\n\
             ,2026-07-01 16:30,s1,2026-07-01 16:15,M\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rs.len(), 2);
        assert_eq!(rs.iter().filter_map(|r| r.kwh).sum::<Decimal>(), dec!(250.5));
        assert_eq!(
            (rs[0].secs, rs[0].kwh, rs[0].quality),
            (900, Some(dec!(250.5)), Quality::E)
        );
        assert_eq!((rs[1].kwh, rs[1].quality, rs[1].line), (None, Quality::M, 3));
        assert_eq!((rs[0].channel, rs[0].source), (Channel::Delivered, Source::Revenue));
    }

    #[test]
    fn avg_kw_stands_in_for_a_missing_kwh() {
        let (rs, errors) = csv("site_id,interval_start_utc,interval_end_utc,kwh,avg_kw\n\
             s1,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,,1000\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(rs[0].kwh, Some(dec!(250)));
    }

    #[test]
    fn bad_csv_rows_are_each_reported_with_their_line() {
        let (rs, errors) = csv("site_id,interval_start_utc,interval_end_utc,kwh,channel\n\
             s1,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,1,delivered\n\
             s1,yesterday,2026-07-01T16:15:00Z,1,delivered\n\
             s1,2026-07-01T16:00:00Z,2026-07-01T16:07:00Z,1,delivered\n\
             s1,2026-07-01T16:05:00Z,2026-07-01T16:20:00Z,1,delivered\n\
             s1,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,abc,delivered\n\
             s1,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,-1,delivered\n\
             s1,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,1,sideways\n\
             s1,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,,delivered\n");
        assert_eq!(rs.len(), 1);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9]);
        assert!(errors[0].message.contains("yesterday"));
        assert!(errors[1].message.contains("does not divide a day"));
        assert!(errors[2].message.contains("boundary"));
        let (_, errors) = csv("site,when,kwh\ns1,2026-07-01,1\n");
        assert_eq!(errors[0].line, 1);
        assert!(errors[0].message.contains("interval_start_utc"), "{errors:?}");
    }

    #[test]
    fn a_revision_makes_a_new_block_version_and_a_repeat_changes_nothing() {
        let (rs, _) = csv("site_id,interval_start_utc,interval_end_utc,kwh\n\
             s1,2026-07-01T00:00:00Z,2026-07-01T00:15:00Z,1.50\n\
             s1,2026-07-01T00:15:00Z,2026-07-01T00:30:00Z,2\n");
        let groups = group(rs.clone()).unwrap();
        let (_, day, day_rs) = &groups[0];
        let mut counts = ImportCounts::default();
        let v1 = merge_day(None, *day, day_rs, &mut counts).unwrap().unwrap();
        assert_eq!(counts.new_intervals, 2);
        let (values, quality) = v1.encode();
        assert!(values.starts_with("1.5,2,,"));
        assert!(quality.starts_with("AA.."));
        assert_eq!(
            DayBlock::decode(*day, 900, None, &values, &quality).unwrap().slots,
            v1.slots
        );
        let again = merge_day(Some(v1.clone()), *day, day_rs, &mut counts).unwrap();
        assert!(again.is_none());
        let mut revised = rs;
        revised[1].kwh = Some(dec!(2.5));
        let v2 = merge_day(Some(v1), *day, &revised, &mut counts).unwrap().unwrap();
        assert_eq!(counts.revised_intervals, 1);
        assert_eq!(v2.slots[1].unwrap().kwh, Some(dec!(2.5)));
        let hourly = Reading {
            secs: 3600,
            ..revised[0].clone()
        };
        assert!(merge_day(Some(v2), *day, &[hourly], &mut counts).is_err());
    }

    #[test]
    fn two_readings_of_one_interval_in_one_file_are_refused() {
        let (rs, _) = csv("site_id,interval_start_utc,interval_end_utc,kwh\n\
             s1,2026-07-01T00:00:00Z,2026-07-01T00:15:00Z,1\n\
             s1,2026-07-01T00:00:00Z,2026-07-01T00:15:00Z,2\n");
        let errors = group(rs).unwrap_err();
        assert_eq!(errors[0].line, 3);
        assert!(errors[0].message.contains("line 2"));
    }
}

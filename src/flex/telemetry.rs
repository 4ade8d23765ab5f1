//! Reading a VEN report as telemetry: one point per interval and payload, power normalized to MW and
//! energy to MWh, states and levels kept as text, data-quality flags kept. What cannot be read is counted
//! and explained, never silently dropped (the report itself is stored as sent).
//!
//! Timing: an interval's own `intervalPeriod` wins; otherwise the resource's period, shifted by the
//! interval's `id` × duration (intervals numbered from 0, the convention of the spec's examples). A report
//! with no start at all (or the spec's "now" marker) is timed by its receipt, and the point says so.
//! Units: the report's payload descriptor for the type; otherwise the configured defaults (`KW` for power,
//! `KWH` for energy: what the spec's examples use).

use chrono::{DateTime, Utc};

use crate::wire::{Interval, IntervalPeriod, PayloadValue, ReportRequest, ValuesMap, in_range};

/// What a payload type measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quantity {
    /// Power over the interval (MW after normalization).
    Power,
    /// Energy over the interval, or a register reading (MWh).
    Energy,
    /// A named state or an integer level (OPERATING_STATE, SIMPLE_LEVEL, DATA_QUALITY).
    State,
}

/// The report payload types Sluice reads, and what each measures (Definitions, report payload types).
pub fn quantity(payload_type: &str) -> Option<Quantity> {
    Some(match payload_type {
        "DEMAND"
        | "SETPOINT"
        | "LOAD_SHED_DELTA_AVAILABLE"
        | "UP_REGULATION_AVAILABLE"
        | "DOWN_REGULATION_AVAILABLE"
        | "IMPORT_CAPACITY_AVAILABLE"
        | "EXPORT_CAPACITY_AVAILABLE"
        | "IMPORT_CAPACITY_RESERVATION"
        | "EXPORT_CAPACITY_RESERVATION" => Quantity::Power,
        "USAGE"
        | "READING"
        | "DELTA_USAGE"
        | "BASELINE"
        | "USAGE_FORECAST"
        | "STORAGE_USABLE_CAPACITY"
        | "STORAGE_CHARGE_LEVEL" => Quantity::Energy,
        "OPERATING_STATE" | "SIMPLE_LEVEL" | "DATA_QUALITY" => Quantity::State,
        _ => return None,
    })
}

/// The factor that turns a value in `units` into MW or MWh, and which of the two it gives; `None` when
/// the unit is not one of power or energy. Case-insensitive: real clients write `kW` as often as `KW`.
pub fn unit_factor(units: &str) -> Option<(f64, Quantity)> {
    Some(match units.to_ascii_uppercase().as_str() {
        "W" => (1e-6, Quantity::Power),
        "KW" => (1e-3, Quantity::Power),
        "MW" => (1.0, Quantity::Power),
        "GW" => (1e3, Quantity::Power),
        "WH" => (1e-6, Quantity::Energy),
        "KWH" => (1e-3, Quantity::Energy),
        "MWH" => (1.0, Quantity::Energy),
        "GWH" => (1e3, Quantity::Energy),
        _ => return None,
    })
}

/// Units assumed when a report names none for a payload type.
#[derive(Debug, Clone)]
pub struct UnitDefaults {
    pub power: String,
    pub energy: String,
}

impl Default for UnitDefaults {
    fn default() -> Self {
        Self {
            power: "KW".into(),
            energy: "KWH".into(),
        }
    }
}

/// One telemetry point.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub resource_name: String,
    pub payload_type: String,
    pub reading_type: Option<String>,
    pub start: DateTime<Utc>,
    pub end: Option<DateTime<Utc>>,
    pub server_timed: bool,
    /// MW or MWh (see `unit`).
    pub value: Option<f64>,
    /// `MW`, `MWh`, or `None` for states.
    pub unit: Option<&'static str>,
    /// States (`RUNNING_CURTAILED`) and levels (`2`) as text.
    pub state: Option<String>,
    /// The interval's DATA_QUALITY, or `ESTIMATED` when the reading type says so.
    pub quality: Option<String>,
}

/// A report read as telemetry.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Parsed {
    pub points: Vec<Point>,
    /// Payloads that could not be read.
    pub skipped: usize,
    /// Why (one line per distinct reason).
    pub problems: Vec<String>,
}

impl Parsed {
    fn skip(&mut self, why: String) {
        self.skipped += 1;
        if !self.problems.contains(&why) && self.problems.len() < 20 {
            self.problems.push(why);
        }
    }
}

fn period_start(p: Option<&IntervalPeriod>) -> Option<DateTime<Utc>> {
    p.and_then(|p| p.start.as_ref())
        .filter(|s| !s.is_now_marker())
        .map(|s| s.0)
}

fn period_length(p: Option<&IntervalPeriod>) -> Option<chrono::Duration> {
    p.and_then(|p| p.duration.as_ref()).and_then(|d| d.to_chrono())
}

/// Reads `report` as telemetry; `received` times points whose report gave no start.
pub fn parse(report: &ReportRequest, received: DateTime<Utc>, defaults: &UnitDefaults) -> Parsed {
    let descriptor = |payload_type: &str| {
        report
            .payload_descriptors
            .iter()
            .flatten()
            .find(|d| d.payload_type.as_str() == payload_type)
    };
    let mut out = Parsed::default();
    for resource in &report.resources {
        for interval in &resource.intervals {
            let (start, end, server_timed) = match when(resource.interval_period.as_ref(), interval, received) {
                Ok(t) => t,
                Err(why) => {
                    out.skip(why);
                    continue;
                }
            };
            let quality = interval
                .payloads
                .iter()
                .find(|p| p.value_type.as_str() == "DATA_QUALITY")
                .and_then(|p| p.values.first())
                .and_then(|v| match v {
                    PayloadValue::String(s) => Some(s.to_string()),
                    _ => None,
                });
            for payload in &interval.payloads {
                let payload_type = payload.value_type.as_str();
                let d = descriptor(payload_type);
                let reading_type = d.and_then(|d| d.reading_type.as_ref()).map(|r| r.as_str().to_owned());
                let quality = quality.clone().or_else(|| {
                    matches!(reading_type.as_deref(), Some("ESTIMATED" | "FORECAST")).then(|| "ESTIMATED".to_owned())
                });
                let mut point = Point {
                    resource_name: resource.resource_name.as_str().to_owned(),
                    payload_type: payload_type.to_owned(),
                    reading_type,
                    start,
                    end,
                    server_timed,
                    value: None,
                    unit: None,
                    state: None,
                    quality,
                };
                let units = d.and_then(|d| d.units.as_ref()).map(|u| u.as_str());
                match read_value(payload, units, defaults, &mut point) {
                    Ok(()) => out.points.push(point),
                    Err(why) => out.skip(why),
                }
            }
        }
    }
    out
}

/// An interval's start, its end when it has a length, and whether the start is the server's clock.
type When = (DateTime<Utc>, Option<DateTime<Utc>>, bool);

/// When an interval of a resource lies: its own period, or its resource's shifted by the interval's id
/// times the length; without either, the time the report was received (`server_timed`).
fn when(parent: Option<&IntervalPeriod>, interval: &Interval, received: DateTime<Utc>) -> Result<When, String> {
    let own = interval.interval_period.as_ref();
    let length = period_length(own).or_else(|| period_length(parent));
    let start = match period_start(own) {
        Some(own) => Some(Ok(own)),
        None => period_start(parent).map(|base| match length {
            Some(len) if interval.id > 0 => len
                .checked_mul(interval.id)
                .and_then(|shift| base.checked_add_signed(shift))
                .ok_or(()),
            _ => Ok(base),
        }),
    };
    let (start, server_timed) = match start {
        Some(Ok(s)) => (s, false),
        None => (received, true),
        Some(Err(())) => {
            return Err(format!(
                "interval {} starts too far from its period's start",
                interval.id
            ));
        }
    };
    let end = length.and_then(|l| start.checked_add_signed(l));
    // Every time Sluice computes from a client's stays in the range it accepts on the wire.
    if !in_range(&start) || end.is_some_and(|e| !in_range(&e)) {
        return Err(format!("interval {} lies outside the years 0001 to 9999", interval.id));
    }
    Ok((start, end, server_timed))
}

/// Reads a payload's first value into `point`: a state (a name or an integer), or a power or energy
/// converted to MW or MWh from `units` (the descriptor's, else the configured default).
fn read_value(
    payload: &ValuesMap,
    units: Option<&str>,
    defaults: &UnitDefaults,
    point: &mut Point,
) -> Result<(), String> {
    let payload_type = payload.value_type.as_str();
    let Some(kind) = quantity(payload_type) else {
        return Err(format!("payload type {payload_type} is not read as telemetry"));
    };
    let Some(first) = payload.values.first() else {
        return Err(format!("{payload_type} has no value"));
    };
    match kind {
        Quantity::State => match first {
            PayloadValue::String(s) => point.state = Some(s.to_string()),
            PayloadValue::Number(n) if n.is_i64() || n.is_u64() => point.state = Some(n.to_string()),
            _ => return Err(format!("{payload_type} should be a name or an integer")),
        },
        Quantity::Power | Quantity::Energy => {
            let Some(v) = (match first {
                PayloadValue::Number(n) => n.as_f64(),
                _ => None,
            }) else {
                return Err(format!("{payload_type} should be a number"));
            };
            let units = units.unwrap_or(match kind {
                Quantity::Power => defaults.power.as_str(),
                _ => defaults.energy.as_str(),
            });
            let Some((factor, unit_kind)) = unit_factor(units) else {
                return Err(format!("{payload_type} in units {units:?} is neither power nor energy"));
            };
            let v = v * factor;
            if !v.is_finite() {
                return Err(format!("{payload_type} is too large a number"));
            }
            point.value = Some(v);
            point.unit = Some(if unit_kind == Quantity::Power { "MW" } else { "MWh" });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn report(v: serde_json::Value) -> ReportRequest {
        serde_json::from_value(v).unwrap()
    }

    fn at(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 7, 1, h, m, s).unwrap()
    }

    #[test]
    fn demand_in_kw_becomes_megawatts_per_interval() {
        let r = report(json!({
            "eventID": "e1", "clientName": "site-a",
            "resources": [{"resourceName": "MINERS",
                "intervalPeriod": {"start": "2027-07-01T16:00:00Z", "duration": "PT15M"},
                "intervals": [
                    {"id": 0, "payloads": [{"type": "DEMAND", "values": [12000]}]},
                    {"id": 1, "payloads": [{"type": "DEMAND", "values": [10000.5]}]}
                ]}]
        }));
        let p = parse(&r, at(17, 0, 0), &UnitDefaults::default());
        assert_eq!(p.skipped, 0);
        assert_eq!(p.points.len(), 2);
        assert_eq!(p.points[0].value, Some(12.0));
        assert_eq!(p.points[0].unit, Some("MW"));
        assert_eq!(p.points[1].start, at(16, 15, 0));
        assert_eq!(p.points[1].end, Some(at(16, 30, 0)));
        assert!((p.points[1].value.unwrap() - 10.0005).abs() < 1e-12);
    }

    #[test]
    fn descriptor_units_and_quality_flags_are_honoured() {
        let r = report(json!({
            "eventID": "e1", "clientName": "site-a",
            "payloadDescriptors": [
                {"payloadType": "USAGE", "units": "MWh", "readingType": "ESTIMATED"},
                {"payloadType": "DEMAND", "units": "W"}
            ],
            "resources": [{"resourceName": "SITE",
                "intervals": [{"id": 0,
                    "intervalPeriod": {"start": "2027-07-01T16:00:00+02:00", "duration": "PT5M"},
                    "payloads": [
                        {"type": "USAGE", "values": [2.5]},
                        {"type": "DEMAND", "values": [30000000]},
                        {"type": "DATA_QUALITY", "values": ["MISSING"]}
                    ]}]}]
        }));
        let p = parse(&r, at(17, 0, 0), &UnitDefaults::default());
        let usage = &p.points[0];
        assert_eq!((usage.value, usage.unit), (Some(2.5), Some("MWh")));
        assert_eq!(usage.start, at(14, 0, 0));
        assert_eq!(
            usage.quality.as_deref(),
            Some("MISSING"),
            "the interval's DATA_QUALITY wins"
        );
        assert_eq!((p.points[1].value, p.points[1].unit), (Some(30.0), Some("MW")));
        assert_eq!(p.points[2].state.as_deref(), Some("MISSING"));
    }

    #[test]
    fn states_are_kept_as_text_and_reports_without_a_start_are_timed_on_receipt() {
        let r = report(json!({
            "eventID": "e1", "clientName": "site-a",
            "resources": [{"resourceName": "SITE", "intervals": [{"id": 0, "payloads": [
                {"type": "OPERATING_STATE", "values": ["RUNNING_CURTAILED"]},
                {"type": "SIMPLE_LEVEL", "values": [2]}
            ]}]}]
        }));
        let p = parse(&r, at(15, 50, 4), &UnitDefaults::default());
        assert_eq!(p.points.len(), 2);
        assert!(
            p.points
                .iter()
                .all(|x| x.server_timed && x.start == at(15, 50, 4) && x.end.is_none())
        );
        assert_eq!(p.points[0].state.as_deref(), Some("RUNNING_CURTAILED"));
        assert_eq!(p.points[1].state.as_deref(), Some("2"));
    }

    #[test]
    fn payloads_that_do_not_fit_are_counted_with_a_reason() {
        let r = report(json!({
            "eventID": "e1", "clientName": "site-a",
            "payloadDescriptors": [{"payloadType": "DEMAND", "units": "PERCENT"}],
            "resources": [{"resourceName": "SITE", "intervals": [{"id": 0, "payloads": [
                {"type": "DEMAND", "values": [40]},
                {"type": "USAGE", "values": ["lots"]},
                {"type": "X_PRIVATE_TEMPERATURE", "values": [21.5]},
                {"type": "USAGE", "values": [1000]}
            ]}]}]
        }));
        let p = parse(&r, at(17, 0, 0), &UnitDefaults::default());
        assert_eq!(p.points.len(), 1, "only the well-formed USAGE is read");
        assert_eq!(p.points[0].value, Some(1.0));
        assert_eq!(p.skipped, 3);
        assert_eq!(p.problems.len(), 3);
        assert!(p.problems[0].contains("PERCENT"));
    }
}

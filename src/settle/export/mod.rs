//! Statements as they are issued (identity, version, true-up) and their exports: JSON, CSV (one row per
//! interval, event and total, for billing imports; `csv.rs`), XML (`xml.rs`), and an SVG chart of an
//! event (`svg.rs`).

mod csv;
mod svg;
mod xml;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use self::csv::{CSV_HEADER, to_csv};
pub use self::svg::event_chart;
pub use self::xml::to_xml;
use super::Decimal;
use super::engine::Settlement;
pub use crate::wire::settlement::{Format, StatementKind};

/// One interval whose credit changed from the previous version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChangedInterval {
    #[serde(rename = "eventID")]
    pub event_id: String,
    pub start: DateTime<Utc>,
    #[serde(rename = "previousCreditedMWh")]
    #[schema(value_type = String)]
    pub previous_credited_mwh: Decimal,
    #[serde(rename = "creditedMWh")]
    #[schema(value_type = String)]
    pub credited_mwh: Decimal,
    #[schema(value_type = String)]
    pub previous_amount: Decimal,
    #[schema(value_type = String)]
    pub amount: Decimal,
}

/// How a true-up differs from the version it supersedes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TrueUp {
    #[serde(rename = "previousStatementID")]
    pub previous_statement_id: String,
    pub previous_version: i32,
    #[schema(value_type = String)]
    pub previous_total: Decimal,
    /// This total minus the previous one: what is owed (positive) or clawed back (negative).
    #[schema(value_type = String)]
    pub delta_total: Decimal,
    pub changed_intervals: Vec<ChangedInterval>,
}

/// A settlement statement: one site, one program, one period, one version. Never edited: a re-run
/// that changes anything issues the next version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    #[serde(rename = "statementID")]
    pub statement_id: String,
    pub version: i32,
    pub kind: StatementKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub supersedes: Option<String>,
    #[serde(rename = "programID")]
    pub program_id: String,
    pub program_name: String,
    pub rule_version: i32,
    #[serde(flatten)]
    pub settlement: Settlement,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub true_up: Option<TrueUp>,
}

/// The differences of `new` from `previous`, interval by interval.
pub fn true_up(previous: &Statement, new: &Settlement) -> TrueUp {
    use std::collections::HashMap;
    let before: HashMap<(&str, DateTime<Utc>), (Decimal, Decimal)> = previous
        .settlement
        .events
        .iter()
        .flat_map(|e| {
            e.intervals
                .iter()
                .map(move |l| ((e.event_id.as_str(), l.start), (l.credited_mwh, l.amount)))
        })
        .collect();
    let mut changed = Vec::new();
    for e in &new.events {
        for l in &e.intervals {
            let (pc, pa) = before.get(&(e.event_id.as_str(), l.start)).copied().unwrap_or_default();
            if (pc, pa) != (l.credited_mwh, l.amount) {
                changed.push(ChangedInterval {
                    event_id: e.event_id.clone(),
                    start: l.start,
                    previous_credited_mwh: pc,
                    credited_mwh: l.credited_mwh,
                    previous_amount: pa,
                    amount: l.amount,
                });
            }
        }
    }
    TrueUp {
        previous_statement_id: previous.statement_id.clone(),
        previous_version: previous.version,
        previous_total: previous.settlement.totals.total,
        delta_total: new.totals.total - previous.settlement.totals.total,
        changed_intervals: changed,
    }
}

pub fn render(s: &Statement, format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(s).unwrap_or_default() + "\n",
        Format::Csv => to_csv(s),
        Format::Xml => to_xml(s),
    }
}

/// Several statements (a settlement run's) in one file: CSV rows under one header, a JSON array, or
/// `<statements>` holding each `<statement>`.
pub fn render_many(statements: &[Statement], format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(statements).unwrap_or_default() + "\n",
        Format::Csv => csv::many(statements),
        Format::Xml => xml::many(statements),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settle::Direction;
    use crate::settle::engine::EventLine;
    use crate::settle::engine::{IntervalLine, Totals};
    use crate::settle::meter::Quality;
    use quick_xml::events::Event;
    use rust_decimal::dec;

    pub(crate) fn sample() -> Statement {
        let start: DateTime<Utc> = "2026-07-15T16:00:00Z".parse().unwrap();
        let line = |q: i64, act: Decimal, price: Decimal| {
            let credited = dec!(50) - act;
            IntervalLine {
                start: start + chrono::TimeDelta::minutes(15 * q),
                end: start + chrono::TimeDelta::minutes(15 * q + 15),
                baseline_mw: Some(dec!(50)),
                actual_mw: Some(act),
                quality: Quality::A,
                reduction_mw: credited,
                committed_mw: dec!(40),
                credited_mw: credited,
                hours: dec!(0.25),
                committed_mwh: dec!(10),
                credited_mwh: credited / dec!(4),
                price_per_mwh: Some(price),
                amount: credited / dec!(4) * price,
            }
        };
        let intervals = vec![
            line(0, dec!(12), dec!(1200)),
            line(1, dec!(10), dec!(2500)),
            line(2, dec!(10), dec!(3000)),
            line(3, dec!(12), dec!(1800)),
        ];
        Statement {
            statement_id: "st-1".into(),
            version: 1,
            kind: StatementKind::Initial,
            supersedes: None,
            program_id: "p1".into(),
            program_name: "Summer, \"ERS\"".into(),
            rule_version: 1,
            settlement: Settlement {
                site_id: "s1".into(),
                site_name: "Mine <1>".into(),
                ven_id: "v1".into(),
                meter_id: Some("M-7".into()),
                period_start: "2026-07-01T00:00:00Z".parse().unwrap(),
                period_end: "2026-08-01T00:00:00Z".parse().unwrap(),
                baseline_method: "FIRM_SERVICE_LEVEL".into(),
                currency: "USD".into(),
                rounding: crate::settle::ROUNDING_RULE.into(),
                dispute_deadline: "2026-09-14".parse().unwrap(),
                events: vec![EventLine {
                    event_id: "ev,1".into(),
                    dispatch_id: None,
                    direction: Direction::Shed,
                    notice_date_time: start - chrono::TimeDelta::minutes(10),
                    start,
                    end: start + chrono::TimeDelta::hours(1),
                    committed_mw: dec!(40),
                    baseline: Default::default(),
                    intervals,
                    committed_mwh: dec!(40),
                    credited_mwh: dec!(39),
                    performance_factor: dec!(0.975),
                    energy_amount: dec!(83500),
                }],
                totals: Totals {
                    committed_mwh: dec!(40),
                    credited_mwh: dec!(39),
                    performance_factor: dec!(0.975),
                    energy_amount: dec!(83500),
                    capacity_mw: dec!(40),
                    capacity_months: dec!(1),
                    capacity_amount: dec!(195000),
                    penalty_amount: dec!(0),
                    cap_floor_adjustment: dec!(0),
                    total: dec!(278500),
                },
            },
            true_up: None,
        }
    }

    #[test]
    fn json_export_parses_back_to_the_same_statement() {
        let s = sample();
        let back: Statement = serde_json::from_str(&render(&s, Format::Json)).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn csv_export_parses_back_to_lines_that_add_up_to_the_total() {
        let s = sample();
        let text = render(&s, Format::Csv);
        let mut rdr = ::csv::Reader::from_reader(text.as_bytes());
        assert_eq!(rdr.headers().unwrap().iter().collect::<Vec<_>>().join(","), CSV_HEADER);
        let rows: Vec<::csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
        let amount = |line: &str| -> Decimal {
            rows.iter()
                .filter(|r| &r[5] == line)
                .map(|r| r[18].parse::<Decimal>().unwrap())
                .sum()
        };
        assert_eq!(amount("INTERVAL"), dec!(83500));
        assert_eq!(amount("EVENT"), dec!(83500));
        assert_eq!(
            amount("ENERGY") + amount("CAPACITY") - amount("PENALTY") + amount("CAP_FLOOR"),
            amount("TOTAL")
        );
        assert_eq!(amount("TOTAL"), dec!(278500));
        // A comma in an id stays one field.
        assert_eq!(&rows[0][6], "ev,1");
    }

    #[test]
    fn xml_export_parses_back_to_the_same_numbers() {
        let s = sample();
        let xml = render(&s, Format::Xml);
        let mut reader = quick_xml::Reader::from_str(&xml);
        let mut amounts = Decimal::ZERO;
        let mut total = None;
        loop {
            match reader.read_event().unwrap() {
                Event::Empty(e) if e.name().as_ref() == b"interval" => {
                    let a = e.try_get_attribute("amount").unwrap().unwrap();
                    amounts += String::from_utf8_lossy(&a.value).parse::<Decimal>().unwrap();
                }
                Event::Empty(e) if e.name().as_ref() == b"totals" => {
                    let a = e.try_get_attribute("total").unwrap().unwrap();
                    total = Some(String::from_utf8_lossy(&a.value).parse::<Decimal>().unwrap());
                }
                Event::Start(e) if e.name().as_ref() == b"statement" => {
                    let a = e.try_get_attribute("siteName").unwrap().unwrap();
                    assert_eq!(a.unescape_value().unwrap(), "Mine <1>");
                }
                Event::Eof => break,
                _ => {}
            }
        }
        assert_eq!(amounts, dec!(83500));
        assert_eq!(total, Some(dec!(278500)));
    }

    #[test]
    fn a_runs_statements_export_as_one_file_in_each_format() {
        let a = sample();
        let mut b = sample();
        b.statement_id = "st-2".into();
        let both = [a, b];
        let csv = render_many(&both, Format::Csv);
        assert_eq!(csv.matches(CSV_HEADER).count(), 1);
        assert_eq!(csv.lines().filter(|l| l.contains(",TOTAL,")).count(), 2);
        assert!(csv.lines().any(|l| l.starts_with("st-2,")));
        let back: Vec<Statement> = serde_json::from_str(&render_many(&both, Format::Json)).unwrap();
        assert_eq!(back, both);
        let xml = render_many(&both, Format::Xml);
        assert!(xml.contains("<statements count=\"2\">"));
        assert_eq!(xml.matches("<statement ").count(), 2);
        assert_eq!(xml.matches("<?xml").count(), 1);
    }

    #[test]
    fn the_event_chart_is_svg_with_three_series_and_escaped_names() {
        let s = sample();
        let svg = event_chart(&s, &s.settlement.events[0]);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<path").count(), 3);
        assert!(svg.contains("Mine &lt;1&gt;"));
        assert!(svg.contains("credited 39 of 40 MWh"));
    }

    #[test]
    fn a_true_up_lists_the_intervals_that_changed_and_the_delta() {
        let before = sample();
        let mut after = before.settlement.clone();
        after.events[0].intervals[1].credited_mwh = dec!(9);
        after.events[0].intervals[1].amount = dec!(22500);
        after.totals.total = dec!(276000);
        let t = true_up(&before, &after);
        assert_eq!(t.delta_total, dec!(-2500));
        assert_eq!(t.changed_intervals.len(), 1);
        assert_eq!(
            (t.changed_intervals[0].previous_amount, t.changed_intervals[0].amount),
            (dec!(25000), dec!(22500))
        );
    }
}

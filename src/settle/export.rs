//! Statements as they are issued (identity, version, true-up) and their exports: JSON, CSV (one row per
//! interval, event and total, for billing imports), XML, and an SVG chart of an event.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Decimal;
use super::engine::{EventLine, Settlement};
use super::{Direction, money, qty};
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

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "statement_id,version,kind,program_id,site_id,line,event_id,start,end,baseline_mw,\
actual_mw,quality,reduction_mw,committed_mw,credited_mw,committed_mwh,credited_mwh,price_per_mwh,amount";

fn opt(d: Option<Decimal>) -> String {
    d.map(|d| d.to_string()).unwrap_or_default()
}

/// One row per interval and per event, then the statement's totals (line ENERGY, CAPACITY, PENALTY,
/// CAP_FLOOR, TOTAL, and TRUE_UP_DELTA on a true-up). Amounts of INTERVAL rows add up to each EVENT
/// row, EVENT rows to ENERGY, and ENERGY + CAPACITY − PENALTY + CAP_FLOOR is TOTAL.
pub fn to_csv(s: &Statement) -> String {
    let mut out = String::with_capacity(256 * (1 + s.settlement.events.len() * 8));
    out.push_str(CSV_HEADER);
    out.push('\n');
    let kind = match s.kind {
        super::export::StatementKind::Initial => "INITIAL",
        super::export::StatementKind::TrueUp => "TRUE_UP",
    };
    let prefix = format!(
        "{},{},{kind},{},{}",
        csv_field(&s.statement_id),
        s.version,
        csv_field(&s.program_id),
        csv_field(&s.settlement.site_id)
    );
    let row = |out: &mut String, line: &str, cols: [String; 13]| {
        let _ = writeln!(out, "{prefix},{line},{}", cols.join(","));
    };
    for e in &s.settlement.events {
        for l in &e.intervals {
            row(
                &mut out,
                "INTERVAL",
                [
                    csv_field(&e.event_id),
                    l.start.to_rfc3339(),
                    l.end.to_rfc3339(),
                    opt(l.baseline_mw),
                    opt(l.actual_mw),
                    l.quality.code().to_string(),
                    l.reduction_mw.to_string(),
                    l.committed_mw.to_string(),
                    l.credited_mw.to_string(),
                    l.committed_mwh.to_string(),
                    l.credited_mwh.to_string(),
                    opt(l.price_per_mwh),
                    l.amount.to_string(),
                ],
            );
        }
        row(
            &mut out,
            "EVENT",
            [
                csv_field(&e.event_id),
                e.start.to_rfc3339(),
                e.end.to_rfc3339(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                e.committed_mw.to_string(),
                String::new(),
                e.committed_mwh.to_string(),
                e.credited_mwh.to_string(),
                String::new(),
                e.energy_amount.to_string(),
            ],
        );
    }
    let t = &s.settlement.totals;
    let (start, end) = (
        s.settlement.period_start.to_rfc3339(),
        s.settlement.period_end.to_rfc3339(),
    );
    let total_row = |out: &mut String, line: &str, committed_mwh: String, credited_mwh: String, amount: Decimal| {
        row(
            out,
            line,
            [
                String::new(),
                start.clone(),
                end.clone(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                committed_mwh,
                credited_mwh,
                String::new(),
                amount.to_string(),
            ],
        );
    };
    total_row(
        &mut out,
        "ENERGY",
        t.committed_mwh.to_string(),
        t.credited_mwh.to_string(),
        t.energy_amount,
    );
    total_row(&mut out, "CAPACITY", String::new(), String::new(), t.capacity_amount);
    total_row(&mut out, "PENALTY", String::new(), String::new(), t.penalty_amount);
    total_row(
        &mut out,
        "CAP_FLOOR",
        String::new(),
        String::new(),
        t.cap_floor_adjustment,
    );
    total_row(&mut out, "TOTAL", String::new(), String::new(), t.total);
    if let Some(tu) = &s.true_up {
        total_row(&mut out, "TRUE_UP_DELTA", String::new(), String::new(), tu.delta_total);
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// The statement as XML: attributes for values, elements for structure.
pub fn to_xml(s: &Statement) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    write_xml(&mut w, s);
    let mut out = String::from_utf8(w.into_inner()).unwrap_or_default();
    out.push('\n');
    out
}

fn write_xml(w: &mut Writer<Vec<u8>>, s: &Statement) {
    let st = &s.settlement;
    let mut root = BytesStart::new("statement");
    let kind = serde_json::to_value(s.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    let version = s.version.to_string();
    let rule_version = s.rule_version.to_string();
    let (ps, pe) = (st.period_start.to_rfc3339(), st.period_end.to_rfc3339());
    let deadline = st.dispute_deadline.to_string();
    for (k, v) in [
        ("id", s.statement_id.as_str()),
        ("version", &version),
        ("kind", &kind),
        ("programID", &s.program_id),
        ("programName", &s.program_name),
        ("ruleVersion", &rule_version),
        ("siteID", &st.site_id),
        ("siteName", &st.site_name),
        ("venID", &st.ven_id),
        ("periodStart", &ps),
        ("periodEnd", &pe),
        ("baselineMethod", &st.baseline_method),
        ("currency", &st.currency),
        ("disputeDeadline", &deadline),
    ] {
        root.push_attribute((k, v));
    }
    if let Some(m) = &st.meter_id {
        root.push_attribute(("meterID", m.as_str()));
    }
    if let Some(p) = &s.supersedes {
        root.push_attribute(("supersedes", p.as_str()));
    }
    let _ = w.write_event(Event::Start(root));
    for e in &st.events {
        let mut ev = BytesStart::new("event");
        let direction = if e.direction == Direction::Shed {
            "SHED"
        } else {
            "LOAD_UP"
        };
        let attrs = [
            ("id", e.event_id.clone()),
            ("direction", direction.into()),
            ("notice", e.notice_date_time.to_rfc3339()),
            ("start", e.start.to_rfc3339()),
            ("end", e.end.to_rfc3339()),
            ("committedMW", e.committed_mw.to_string()),
            ("committedMWh", e.committed_mwh.to_string()),
            ("creditedMWh", e.credited_mwh.to_string()),
            ("performanceFactor", e.performance_factor.to_string()),
            ("energyAmount", e.energy_amount.to_string()),
        ];
        for (k, v) in &attrs {
            ev.push_attribute((*k, v.as_str()));
        }
        let _ = w.write_event(Event::Start(ev));
        let mut b = BytesStart::new("baseline");
        b.push_attribute(("method", e.baseline.method.as_str()));
        let _ = w.write_event(Event::Start(b));
        for d in &e.baseline.selected_days {
            let mut day = BytesStart::new("selectedDay");
            let (dd, mw) = (d.day.to_string(), d.window_mw.to_string());
            day.push_attribute(("day", dd.as_str()));
            day.push_attribute(("windowMW", mw.as_str()));
            let _ = w.write_event(Event::Empty(day));
        }
        for d in &e.baseline.excluded_days {
            let mut day = BytesStart::new("excludedDay");
            let dd = d.day.to_string();
            day.push_attribute(("day", dd.as_str()));
            day.push_attribute(("reason", d.reason.as_str()));
            let _ = w.write_event(Event::Empty(day));
        }
        if let Some(a) = &e.baseline.adjustment {
            let mut adj = BytesStart::new("adjustment");
            let kind = serde_json::to_value(a.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let attrs = [
                ("kind", kind),
                ("windowStart", a.window_start.to_rfc3339()),
                ("windowEnd", a.window_end.to_rfc3339()),
                ("actualMW", a.actual_mw.to_string()),
                ("baselineMW", a.baseline_mw.to_string()),
                ("value", a.value.to_string()),
            ];
            for (k, v) in &attrs {
                adj.push_attribute((*k, v.as_str()));
            }
            let _ = w.write_event(Event::Empty(adj));
        }
        if let Some(n) = &e.baseline.note {
            let mut note = BytesStart::new("note");
            note.push_attribute(("text", n.as_str()));
            let _ = w.write_event(Event::Empty(note));
        }
        let _ = w.write_event(Event::End(BytesEnd::new("baseline")));
        for l in &e.intervals {
            let mut iv = BytesStart::new("interval");
            let attrs = [
                ("start", l.start.to_rfc3339()),
                ("end", l.end.to_rfc3339()),
                ("baselineMW", opt(l.baseline_mw)),
                ("actualMW", opt(l.actual_mw)),
                ("quality", l.quality.code().to_string()),
                ("reductionMW", l.reduction_mw.to_string()),
                ("committedMW", l.committed_mw.to_string()),
                ("creditedMW", l.credited_mw.to_string()),
                ("hours", l.hours.to_string()),
                ("committedMWh", l.committed_mwh.to_string()),
                ("creditedMWh", l.credited_mwh.to_string()),
                ("pricePerMWh", opt(l.price_per_mwh)),
                ("amount", l.amount.to_string()),
            ];
            for (k, v) in &attrs {
                iv.push_attribute((*k, v.as_str()));
            }
            let _ = w.write_event(Event::Empty(iv));
        }
        let _ = w.write_event(Event::End(BytesEnd::new("event")));
    }
    let t = &st.totals;
    let mut totals = BytesStart::new("totals");
    let attrs = [
        ("committedMWh", t.committed_mwh.to_string()),
        ("creditedMWh", t.credited_mwh.to_string()),
        ("performanceFactor", t.performance_factor.to_string()),
        ("energyAmount", t.energy_amount.to_string()),
        ("capacityMW", t.capacity_mw.to_string()),
        ("capacityMonths", t.capacity_months.to_string()),
        ("capacityAmount", t.capacity_amount.to_string()),
        ("penaltyAmount", t.penalty_amount.to_string()),
        ("capFloorAdjustment", t.cap_floor_adjustment.to_string()),
        ("total", t.total.to_string()),
    ];
    for (k, v) in &attrs {
        totals.push_attribute((*k, v.as_str()));
    }
    let _ = w.write_event(Event::Empty(totals));
    if let Some(tu) = &s.true_up {
        let mut el = BytesStart::new("trueUp");
        let attrs = [
            ("previousStatementID", tu.previous_statement_id.clone()),
            ("previousVersion", tu.previous_version.to_string()),
            ("previousTotal", tu.previous_total.to_string()),
            ("deltaTotal", tu.delta_total.to_string()),
        ];
        for (k, v) in &attrs {
            el.push_attribute((*k, v.as_str()));
        }
        let _ = w.write_event(Event::Start(el));
        for c in &tu.changed_intervals {
            let mut ci = BytesStart::new("changedInterval");
            let attrs = [
                ("eventID", c.event_id.clone()),
                ("start", c.start.to_rfc3339()),
                ("previousCreditedMWh", c.previous_credited_mwh.to_string()),
                ("creditedMWh", c.credited_mwh.to_string()),
                ("previousAmount", c.previous_amount.to_string()),
                ("amount", c.amount.to_string()),
            ];
            for (k, v) in &attrs {
                ci.push_attribute((*k, v.as_str()));
            }
            let _ = w.write_event(Event::Empty(ci));
        }
        let _ = w.write_event(Event::End(BytesEnd::new("trueUp")));
    }
    let _ = w.write_event(Event::End(BytesEnd::new("statement")));
}

/// Several statements (a settlement run's) in one file: CSV rows under one header, a JSON array, or
/// `<statements>` holding each `<statement>`.
pub fn render_many(statements: &[Statement], format: Format) -> String {
    match format {
        Format::Json => serde_json::to_string_pretty(statements).unwrap_or_default() + "\n",
        Format::Csv => {
            let mut out = format!("{CSV_HEADER}\n");
            for s in statements {
                let one = to_csv(s);
                out.push_str(one.split_once('\n').map_or("", |(_, rows)| rows));
            }
            out
        }
        Format::Xml => {
            let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
            let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
            let mut root = BytesStart::new("statements");
            let count = statements.len().to_string();
            root.push_attribute(("count", count.as_str()));
            let _ = w.write_event(Event::Start(root));
            for s in statements {
                write_xml(&mut w, s);
            }
            let _ = w.write_event(Event::End(BytesEnd::new("statements")));
            let mut out = String::from_utf8(w.into_inner()).unwrap_or_default();
            out.push('\n');
            out
        }
    }
}

/// An SVG chart of one event: baseline, actual, and the level the commitment asked for, per interval.
pub fn event_chart(s: &Statement, e: &EventLine) -> String {
    const W: f64 = 720.0;
    const H: f64 = 360.0;
    const L: f64 = 60.0;
    const R: f64 = 150.0;
    const T: f64 = 40.0;
    const B: f64 = 50.0;
    let f = |d: Decimal| d.to_string().parse::<f64>().unwrap_or(0.0);
    let n = e.intervals.len().max(1);
    let target = |l: &super::engine::IntervalLine| {
        l.baseline_mw.map(|b| match e.direction {
            Direction::Shed => (b - l.committed_mw).max(Decimal::ZERO),
            Direction::LoadUp => b + l.committed_mw,
        })
    };
    let max = e
        .intervals
        .iter()
        .flat_map(|l| [l.baseline_mw, l.actual_mw, target(l)])
        .flatten()
        .map(f)
        .fold(1.0_f64, f64::max)
        * 1.1;
    let x = |i: usize| L + (W - L - R) * i as f64 / n as f64;
    let y = |v: f64| T + (H - T - B) * (1.0 - v / max);
    let step = |values: Vec<Option<Decimal>>| {
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Some(v) => {
                    let yv = y(f(v));
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} L{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        x(i),
                        yv,
                        x(i + 1),
                        yv
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        d
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="{L}" y="22" font-size="14">{} — event {} ({}) · statement v{}</text>
"##,
        xml_escape(&s.settlement.site_name),
        xml_escape(&e.event_id),
        e.start.format("%Y-%m-%d %H:%M UTC"),
        s.version
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{L}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.1}</text>"##,
            W - R,
            y(v),
            y(v),
            L - 6.0,
            y(v) + 4.0
        );
    }
    let label_every = n.div_ceil(8).max(1);
    for (i, l) in e.intervals.iter().enumerate().step_by(label_every) {
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            x(i),
            H - B + 18.0,
            l.start.format("%H:%M")
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="14" y="{:.1}" transform="rotate(-90 14 {:.1})">MW</text>"##,
        H / 2.0,
        H / 2.0
    );
    let series = [
        (
            "baseline",
            "#1f77b4",
            "",
            e.intervals.iter().map(|l| l.baseline_mw).collect::<Vec<_>>(),
        ),
        (
            "actual",
            "#ff7f0e",
            "",
            e.intervals.iter().map(|l| l.actual_mw).collect(),
        ),
        (
            "committed level",
            "#2ca02c",
            r#" stroke-dasharray="6 4""#,
            e.intervals.iter().map(target).collect(),
        ),
    ];
    for (k, (name, color, dash, values)) in series.into_iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<path d="{}" fill="none" stroke="{color}" stroke-width="2.5"{dash}/>"##,
            step(values)
        );
        let ly = T + 20.0 * k as f64 + 10.0;
        let _ = writeln!(
            svg,
            r##"<line x1="{:.1}" x2="{:.1}" y1="{ly:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="2.5"{dash}/><text x="{:.1}" y="{:.1}">{name}</text>"##,
            W - R + 12.0,
            W - R + 36.0,
            W - R + 42.0,
            ly + 4.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<text x="{L}" y="{:.1}">credited {} of {} MWh · PF {} · {} {}</text>"##,
        H - 8.0,
        qty(e.credited_mwh),
        qty(e.committed_mwh),
        e.performance_factor,
        money(e.energy_amount),
        xml_escape(&s.settlement.currency)
    );
    svg.push_str("</svg>\n");
    svg
}

fn xml_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settle::engine::{IntervalLine, Totals};
    use crate::settle::meter::Quality;
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
        let mut rdr = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(rdr.headers().unwrap().iter().collect::<Vec<_>>().join(","), CSV_HEADER);
        let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
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

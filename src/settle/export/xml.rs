//! A statement as XML (quick-xml).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};

use super::csv::opt;
use super::{Statement, TrueUp};
use crate::settle::Direction;
use crate::settle::engine::EventLine;

/// The statement as XML: attributes for values, elements for structure.
pub fn to_xml(s: &Statement) -> String {
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
    write_xml(&mut w, s);
    let mut out = String::from_utf8(w.into_inner()).unwrap_or_default();
    out.push('\n');
    out
}

/// Writes `<name attrs…>` (then `close` it yourself) or, when `empty`, `<name attrs…/>`.
fn element(w: &mut Writer<Vec<u8>>, name: &str, attrs: &[(&str, String)], empty: bool) {
    let mut el = BytesStart::new(name);
    for (k, v) in attrs {
        el.push_attribute((*k, v.as_str()));
    }
    let _ = w.write_event(if empty { Event::Empty(el) } else { Event::Start(el) });
}

fn close(w: &mut Writer<Vec<u8>>, name: &str) {
    let _ = w.write_event(Event::End(BytesEnd::new(name)));
}

/// A serde enum's wire name (`SHED`, `MULTIPLICATIVE`).
fn wire_name(v: impl serde::Serialize) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn write_xml(w: &mut Writer<Vec<u8>>, s: &Statement) {
    let st = &s.settlement;
    let mut attrs = vec![
        ("id", s.statement_id.clone()),
        ("version", s.version.to_string()),
        ("kind", wire_name(s.kind)),
        ("programID", s.program_id.clone()),
        ("programName", s.program_name.clone()),
        ("ruleVersion", s.rule_version.to_string()),
        ("siteID", st.site_id.clone()),
        ("siteName", st.site_name.clone()),
        ("venID", st.ven_id.clone()),
        ("periodStart", st.period_start.to_rfc3339()),
        ("periodEnd", st.period_end.to_rfc3339()),
        ("baselineMethod", st.baseline_method.clone()),
        ("currency", st.currency.clone()),
        ("disputeDeadline", st.dispute_deadline.to_string()),
    ];
    attrs.extend(st.meter_id.clone().map(|m| ("meterID", m)));
    attrs.extend(s.supersedes.clone().map(|p| ("supersedes", p)));
    element(w, "statement", &attrs, false);
    for e in &st.events {
        write_event(w, e);
    }
    let t = &st.totals;
    let totals = [
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
    element(w, "totals", &totals, true);
    if let Some(tu) = &s.true_up {
        write_true_up(w, tu);
    }
    close(w, "statement");
}

/// One settled event: its figures, its baseline with the trace, its intervals.
fn write_event(w: &mut Writer<Vec<u8>>, e: &EventLine) {
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
    element(w, "event", &attrs, false);
    element(w, "baseline", &[("method", e.baseline.method.clone())], false);
    for d in &e.baseline.selected_days {
        let day = [("day", d.day.to_string()), ("windowMW", d.window_mw.to_string())];
        element(w, "selectedDay", &day, true);
    }
    for d in &e.baseline.excluded_days {
        let day = [("day", d.day.to_string()), ("reason", d.reason.clone())];
        element(w, "excludedDay", &day, true);
    }
    if let Some(a) = &e.baseline.adjustment {
        let attrs = [
            ("kind", wire_name(a.kind)),
            ("windowStart", a.window_start.to_rfc3339()),
            ("windowEnd", a.window_end.to_rfc3339()),
            ("actualMW", a.actual_mw.to_string()),
            ("baselineMW", a.baseline_mw.to_string()),
            ("value", a.value.to_string()),
        ];
        element(w, "adjustment", &attrs, true);
    }
    if let Some(n) = &e.baseline.note {
        element(w, "note", &[("text", n.clone())], true);
    }
    close(w, "baseline");
    for l in &e.intervals {
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
        element(w, "interval", &attrs, true);
    }
    close(w, "event");
}

/// What changed against the statement this version supersedes.
fn write_true_up(w: &mut Writer<Vec<u8>>, tu: &TrueUp) {
    let attrs = [
        ("previousStatementID", tu.previous_statement_id.clone()),
        ("previousVersion", tu.previous_version.to_string()),
        ("previousTotal", tu.previous_total.to_string()),
        ("deltaTotal", tu.delta_total.to_string()),
    ];
    element(w, "trueUp", &attrs, false);
    for c in &tu.changed_intervals {
        let attrs = [
            ("eventID", c.event_id.clone()),
            ("start", c.start.to_rfc3339()),
            ("previousCreditedMWh", c.previous_credited_mwh.to_string()),
            ("creditedMWh", c.credited_mwh.to_string()),
            ("previousAmount", c.previous_amount.to_string()),
            ("amount", c.amount.to_string()),
        ];
        element(w, "changedInterval", &attrs, true);
    }
    close(w, "trueUp");
}

/// A run's statements as one XML document: `<statements count="…">` holding each `<statement>`.
pub(super) fn many(statements: &[Statement]) -> String {
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

//! A statement as XML (quick-xml).

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};

use super::Statement;
use super::csv::opt;
use crate::settle::Direction;

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

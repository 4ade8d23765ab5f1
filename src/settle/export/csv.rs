//! A statement as CSV, one row per interval and event, then the totals: what billing systems import.

use std::fmt::Write as _;

use super::Statement;
use crate::settle::Decimal;
use crate::settle::engine::{EventLine, IntervalLine};
use crate::wire::settlement::StatementKind;

/// The CSV columns, in order.
pub const CSV_HEADER: &str = "statement_id,version,kind,program_id,site_id,line,event_id,start,end,baseline_mw,\
actual_mw,quality,reduction_mw,committed_mw,credited_mw,committed_mwh,credited_mwh,price_per_mwh,amount";

pub(super) fn opt(d: Option<Decimal>) -> String {
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
        StatementKind::Initial => "INITIAL",
        StatementKind::TrueUp => "TRUE_UP",
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
            row(&mut out, "INTERVAL", interval_columns(e, l));
        }
        row(&mut out, "EVENT", event_columns(e));
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

/// An interval's columns after the line kind.
fn interval_columns(e: &EventLine, l: &IntervalLine) -> [String; 13] {
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
    ]
}

/// An event's summary columns after the line kind (per-interval columns left empty).
fn event_columns(e: &EventLine) -> [String; 13] {
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
    ]
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}

/// A run's statements as one CSV: every statement's rows under one header.
pub(super) fn many(statements: &[Statement]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for s in statements {
        let one = to_csv(s);
        out.push_str(one.split_once('\n').map_or("", |(_, rows)| rows));
    }
    out
}

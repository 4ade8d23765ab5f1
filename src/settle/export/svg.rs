//! An SVG chart of one event of a statement: baseline, actual and the asked-for level per interval.

use std::fmt::Write as _;

use super::Statement;
use crate::settle::Decimal;
use crate::settle::engine::{EventLine, IntervalLine};
use crate::settle::{Direction, money, qty};

/// An SVG chart of one event: baseline, actual, and the level the commitment asked for, per interval.
pub fn event_chart(s: &Statement, e: &EventLine) -> String {
    let target = |l: &IntervalLine| {
        l.baseline_mw.map(|b| match e.direction {
            Direction::Shed => (b - l.committed_mw).max(Decimal::ZERO),
            Direction::LoadUp => b + l.committed_mw,
        })
    };
    let max = (e.intervals.iter())
        .flat_map(|l| [l.baseline_mw, l.actual_mw, target(l)])
        .flatten()
        .map(mw)
        .fold(1.0_f64, f64::max)
        * 1.1;
    let plot = Plot {
        n: e.intervals.len().max(1),
        max,
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
    plot.axes(&mut svg, e);
    let series: [(&str, &str, &str, Vec<Option<Decimal>>); 3] = [
        (
            "baseline",
            "#1f77b4",
            "",
            e.intervals.iter().map(|l| l.baseline_mw).collect(),
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
            plot.step(values)
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

// The chart's size and margins (left, right for the legend, top, bottom), in pixels.
const W: f64 = 720.0;
const H: f64 = 360.0;
const L: f64 = 60.0;
const R: f64 = 150.0;
const T: f64 = 40.0;
const B: f64 = 50.0;

fn mw(d: Decimal) -> f64 {
    d.to_string().parse::<f64>().unwrap_or(0.0)
}

/// The plotting area: `n` intervals across, 0..`max` MW up.
struct Plot {
    n: usize,
    max: f64,
}

impl Plot {
    fn x(&self, i: usize) -> f64 {
        L + (W - L - R) * i as f64 / self.n as f64
    }

    fn y(&self, v: f64) -> f64 {
        T + (H - T - B) * (1.0 - v / self.max)
    }

    /// A step line through one value per interval, lifted where a value is missing.
    fn step(&self, values: Vec<Option<Decimal>>) -> String {
        let mut d = String::new();
        let mut pen_down = false;
        for (i, v) in values.into_iter().enumerate() {
            match v {
                Some(v) => {
                    let yv = self.y(mw(v));
                    let _ = write!(
                        d,
                        "{}{:.1},{:.1} L{:.1},{:.1} ",
                        if pen_down { "L" } else { "M" },
                        self.x(i),
                        yv,
                        self.x(i + 1),
                        yv
                    );
                    pen_down = true;
                }
                None => pen_down = false,
            }
        }
        d
    }

    /// Grid lines with their MW, the intervals' start times (at most about eight), the unit.
    fn axes(&self, svg: &mut String, e: &EventLine) {
        for k in 0..=4 {
            let v = self.max * f64::from(k) / 4.0;
            let _ = writeln!(
                svg,
                r##"<line x1="{L}" x2="{:.1}" y1="{:.1}" y2="{:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v:.1}</text>"##,
                W - R,
                self.y(v),
                self.y(v),
                L - 6.0,
                self.y(v) + 4.0
            );
        }
        let label_every = self.n.div_ceil(8).max(1);
        for (i, l) in e.intervals.iter().enumerate().step_by(label_every) {
            let _ = writeln!(
                svg,
                r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                self.x(i),
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
    }
}

fn xml_escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

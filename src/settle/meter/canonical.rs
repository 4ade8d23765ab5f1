//! The canonical meter CSV (docs/demand-response.md, "Meter data"): columns found by header name.

use std::io::Read;

use super::{
    Channel, LineError, Problems, Quality, Reading, Source, check_alignment, check_length, parse_decimal, parse_utc,
};
use crate::settle::Decimal;

/// The columns of the canonical CSV layout, found by header name (any order, any case).
struct Columns {
    site: usize,
    meter: Option<usize>,
    channel: Option<usize>,
    start: usize,
    end: usize,
    kwh: Option<usize>,
    avg_kw: Option<usize>,
    quality: Option<usize>,
    source: Option<usize>,
}

impl Columns {
    fn find(header: &csv::StringRecord) -> Result<Self, String> {
        let at = |names: &[&str]| {
            header.iter().position(|h| {
                let h = h.trim().trim_start_matches('\u{feff}').to_ascii_lowercase();
                names.contains(&h.as_str())
            })
        };
        let need = |names: &[&str]| at(names).ok_or_else(|| format!("the header has no `{}` column", names[0]));
        let cols = Self {
            site: need(&["site_id", "site", "site_name"])?,
            meter: at(&["meter_id", "meter", "esiid"]),
            channel: at(&["channel"]),
            start: need(&["interval_start_utc", "interval_start", "start"])?,
            end: need(&["interval_end_utc", "interval_end", "end"])?,
            kwh: at(&["kwh"]),
            avg_kw: at(&["avg_kw"]),
            quality: at(&["quality"]),
            source: at(&["source"]),
        };
        if cols.kwh.is_none() && cols.avg_kw.is_none() {
            return Err("the header has neither a `kwh` nor an `avg_kw` column".into());
        }
        Ok(cols)
    }

    fn reading(&self, r: &csv::StringRecord, line: usize) -> Result<Reading, String> {
        let field = |i: Option<usize>| i.and_then(|i| r.get(i)).map(str::trim).filter(|s| !s.is_empty());
        let site = field(Some(self.site)).ok_or("site_id is empty")?.to_owned();
        let start_s = field(Some(self.start)).ok_or("interval_start_utc is empty")?;
        let end_s = field(Some(self.end)).ok_or("interval_end_utc is empty")?;
        let start = parse_utc(start_s).ok_or_else(|| format!("interval_start_utc `{start_s}` is not a date-time"))?;
        let end = parse_utc(end_s).ok_or_else(|| format!("interval_end_utc `{end_s}` is not a date-time"))?;
        let secs = check_length((end - start).num_seconds())?;
        check_alignment(start, secs)?;
        let channel = match field(self.channel) {
            None => Channel::Delivered,
            Some(c) => Channel::parse(c).ok_or_else(|| format!("channel `{c}` is not delivered, received or net"))?,
        };
        let source = match field(self.source) {
            None => Source::Revenue,
            Some(s) => Source::parse(s).ok_or_else(|| format!("source `{s}` is not revenue or telemetry"))?,
        };
        let quality = match field(self.quality) {
            None => Quality::A,
            Some(q) => Quality::parse(q).ok_or_else(|| format!("quality `{q}` is not A, E or M"))?,
        };
        let number = |i: Option<usize>, name: &str| -> Result<Option<Decimal>, String> {
            field(i)
                .map(|s| parse_decimal(s).ok_or_else(|| format!("{name} `{s}` is not a number")))
                .transpose()
        };
        let kwh = match (number(self.kwh, "kwh")?, number(self.avg_kw, "avg_kw")?) {
            (Some(k), _) => Some(k),
            (None, Some(kw)) => Some(
                kw.checked_mul(Decimal::from(secs))
                    .ok_or_else(|| format!("avg_kw `{kw}` is too large"))?
                    / Decimal::from(3600),
            ),
            (None, None) => None,
        };
        let kwh = match (kwh, quality) {
            (_, Quality::M) => None,
            (Some(k), _) => Some(k),
            (None, _) => return Err("kwh is empty and the quality is not M (missing)".into()),
        };
        if kwh.is_some_and(|k| k.is_sign_negative() && channel != Channel::Net) {
            return Err(format!("kwh is negative on the {} channel", channel.as_str()));
        }
        Ok(Reading {
            site,
            meter: field(self.meter).map(str::to_owned),
            channel,
            source,
            start,
            secs,
            kwh,
            quality,
            line,
        })
    }
}

/// Reads a CSV file of the canonical layout, handing each good reading to `each`. Returns every problem
/// (the first [`MAX_LISTED_ERRORS`]) and how many there were; a caller imports only when there are none.
pub fn read_csv<R: Read>(input: R, mut each: impl FnMut(Reading)) -> (Vec<LineError>, usize) {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(input);
    let mut problems = Problems::default();
    let cols = match rdr.headers() {
        Ok(h) => match Columns::find(h) {
            Ok(c) => c,
            Err(m) => {
                problems.push(1, m);
                return (problems.list, problems.count);
            }
        },
        Err(e) => {
            problems.push(1, format!("cannot read the header: {e}"));
            return (problems.list, problems.count);
        }
    };
    let mut record = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line = record.position().map_or(0, |p| p.line() as usize);
                if record.iter().all(|f| f.trim().is_empty()) {
                    continue;
                }
                match cols.reading(&record, line) {
                    Ok(r) => each(r),
                    Err(m) => problems.push(line, m),
                }
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                problems.push(line, format!("not CSV: {e}"));
                if !matches!(e.kind(), csv::ErrorKind::UnequalLengths { .. }) {
                    break;
                }
            }
        }
    }
    (problems.list, problems.count)
}

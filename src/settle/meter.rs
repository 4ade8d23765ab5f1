//! Revenue-meter interval data: the canonical CSV layout (docs/demand-response.md, "Meter data") and Green Button (NAESB ESPI)
//! Atom feeds, read into [`Reading`]s; and the day blocks they are stored in, one version per revision.
//!
//! A reading that does not make sense is reported with its line (CSV) or interval start (Green Button);
//! the caller imports nothing when there is one.

use std::collections::HashMap;
use std::io::Read;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

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
fn check_length(secs: i64) -> Result<u32, String> {
    if secs <= 0 || secs > 86_400 || 86_400 % secs != 0 {
        return Err(format!("an interval of {secs} s does not divide a day"));
    }
    Ok(secs as u32)
}

fn check_alignment(start: DateTime<Utc>, secs: u32) -> Result<(), String> {
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

fn parse_decimal(s: &str) -> Option<Decimal> {
    let s = s.trim();
    s.parse::<Decimal>().ok().or_else(|| Decimal::from_scientific(s).ok())
}

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

// ---------------------------------------------------------------------------------------------------------
// Green Button

/// One Atom entry of a Green Button feed, reduced to what the importer needs.
#[derive(Default, Debug)]
struct Entry {
    self_href: String,
    up_href: String,
    related: Vec<String>,
    kind: EntryKind,
}

#[derive(Default, Debug)]
enum EntryKind {
    #[default]
    Other,
    MeterReading,
    ReadingType(ReadingType),
    IntervalBlock(Vec<EspiReading>),
}

#[derive(Default, Debug, Clone)]
struct ReadingType {
    uom: Option<i64>,
    power_of_ten: i64,
    interval_length: Option<i64>,
    flow_direction: Option<i64>,
}

#[derive(Default, Debug, Clone)]
struct EspiReading {
    start: Option<i64>,
    duration: Option<i64>,
    value: Option<i64>,
    quality: Option<i64>,
}

/// ESPI `uom` 72: watt-hours.
const UOM_WH: i64 = 72;

/// ESPI ReadingQuality codes that mean the value was estimated or edited rather than read: 7 manually
/// edited, 8 estimated with a reference day, 9 estimated by linear interpolation, 10 questionable,
/// 11 derived, 12 projected, 13 mixed, 15 normalised for weather, 16 other. All others (0 valid, 14 raw,
/// 17 validated, 18 verified, 19 revenue-quality) read as actual.
fn espi_quality(code: Option<i64>) -> Quality {
    match code {
        Some(7..=13 | 15 | 16) => Quality::E,
        _ => Quality::A,
    }
}

fn espi_channel(flow: Option<i64>) -> Result<Channel, String> {
    match flow {
        None | Some(1) => Ok(Channel::Delivered),
        Some(19) => Ok(Channel::Received),
        Some(4) => Ok(Channel::Net),
        Some(f) => Err(format!(
            "ReadingType flowDirection {f} is not 1 (delivered), 19 (received) or 4 (net)"
        )),
    }
}

/// Reads a Green Button (ESPI) Atom feed: every IntervalBlock, with the ReadingType of its MeterReading
/// (its `uom` must be 72, watt-hours; `powerOfTenMultiplier` scales the values). The readings are the
/// given `site`'s; the meter is the UsagePoint's id.
pub fn read_green_button(xml: &[u8], site: &str) -> Result<Vec<Reading>, (Vec<LineError>, usize)> {
    let entries = parse_feed(xml).map_err(|m| (vec![LineError::file(m)], 1))?;
    let by_self: HashMap<&str, &Entry> = entries.iter().map(|e| (e.self_href.as_str(), e)).collect();
    let types: Vec<&ReadingType> = entries
        .iter()
        .filter_map(|e| match &e.kind {
            EntryKind::ReadingType(t) => Some(t),
            _ => None,
        })
        .collect();
    let mut out = Vec::new();
    let mut problems = Problems::default();
    for entry in &entries {
        let EntryKind::IntervalBlock(readings) = &entry.kind else {
            continue;
        };
        // IntervalBlock → up: …/MeterReading/01/IntervalBlock → the MeterReading …/MeterReading/01.
        let meter_reading = entry.up_href.trim_end_matches('/').trim_end_matches("/IntervalBlock");
        let reading_type = by_self
            .get(meter_reading)
            .and_then(|mr| mr.related.iter().find(|h| h.contains("/ReadingType/")))
            .and_then(|h| by_self.get(h.as_str()))
            .and_then(|e| match &e.kind {
                EntryKind::ReadingType(t) => Some(t),
                _ => None,
            })
            .or_else(|| (types.len() == 1).then(|| types[0]));
        let Some(rt) = reading_type else {
            problems.push(0, format!("IntervalBlock {} has no ReadingType", entry.self_href));
            continue;
        };
        if rt.uom != Some(UOM_WH) {
            problems.push(
                0,
                format!(
                    "ReadingType uom {:?} is not 72 (Wh): only energy readings settle",
                    rt.uom
                ),
            );
            continue;
        }
        let channel = match espi_channel(rt.flow_direction) {
            Ok(c) => c,
            Err(m) => {
                problems.push(0, m);
                continue;
            }
        };
        // …/UsagePoint/5446AF3F/MeterReading/01 → meter 5446AF3F.
        let meter = meter_reading
            .split("/UsagePoint/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned);
        let scale = Decimal::new(1, 0) * pow10(rt.power_of_ten) / Decimal::from(1000);
        for r in readings {
            let (Some(start), Some(value)) = (r.start, r.value) else {
                problems.push(
                    0,
                    format!("an IntervalReading of {} has no start or value", entry.self_href),
                );
                continue;
            };
            let Some(at) = DateTime::from_timestamp(start, 0).filter(crate::wire::in_range) else {
                problems.push(0, format!("interval start {start} is out of range"));
                continue;
            };
            let duration = r.duration.or(rt.interval_length).unwrap_or(0);
            let secs = match check_length(duration).and_then(|s| check_alignment(at, s).map(|()| s)) {
                Ok(s) => s,
                Err(m) => {
                    problems.push(0, format!("interval at {at}: {m}"));
                    continue;
                }
            };
            if rt.interval_length.is_some_and(|l| l != duration) {
                problems.push(
                    0,
                    format!(
                        "interval at {at} lasts {duration} s, not the ReadingType's {:?} s",
                        rt.interval_length
                    ),
                );
                continue;
            }
            let Some(kwh) = Decimal::from(value).checked_mul(scale) else {
                problems.push(0, format!("interval at {at}: value {value} is too large"));
                continue;
            };
            out.push(Reading {
                site: site.to_owned(),
                meter: meter.clone(),
                channel,
                source: Source::Revenue,
                start: at,
                secs,
                kwh: Some(kwh),
                quality: espi_quality(r.quality),
                line: 0,
            });
        }
    }
    if out.is_empty() && problems.count == 0 {
        problems.push(0, "the feed has no IntervalBlock readings".into());
    }
    if problems.count > 0 {
        Err((problems.list, problems.count))
    } else {
        Ok(out)
    }
}

fn pow10(p: i64) -> Decimal {
    let mut d = Decimal::ONE;
    let ten = Decimal::from(10);
    for _ in 0..p.unsigned_abs().min(20) {
        d = if p >= 0 { d * ten } else { d / ten };
    }
    d
}

/// Walks the Atom feed once, keeping the entries' links and the ESPI resources the importer reads.
fn parse_feed(xml: &[u8]) -> Result<Vec<Entry>, String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut buf = Vec::new();
    let mut entries = Vec::new();
    let mut entry: Option<Entry> = None;
    // Element names from the entry down, local names only (namespaces vary between files).
    let mut path: Vec<String> = Vec::new();
    let mut current = EspiReading::default();
    let mut saw_feed = false;
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                let empty = matches!(event, Event::Empty(_));
                match name.as_str() {
                    "feed" => saw_feed = true,
                    "entry" => entry = Some(Entry::default()),
                    "link" => {
                        if let Some(en) = entry.as_mut() {
                            let attr = |key: &[u8]| {
                                e.attributes()
                                    .flatten()
                                    .find(|a| a.key.local_name().as_ref() == key)
                                    .map(|a| String::from_utf8_lossy(&a.value).into_owned())
                            };
                            let href = attr(b"href").unwrap_or_default();
                            match attr(b"rel").as_deref() {
                                Some("self") => en.self_href = href,
                                Some("up") => en.up_href = href,
                                Some("related") => en.related.push(href),
                                _ => {}
                            }
                        }
                    }
                    "MeterReading" => {
                        if let Some(en) = entry.as_mut() {
                            en.kind = EntryKind::MeterReading;
                        }
                    }
                    "ReadingType" => {
                        if let Some(en) = entry.as_mut() {
                            en.kind = EntryKind::ReadingType(ReadingType::default());
                        }
                    }
                    "IntervalBlock" => {
                        if let Some(en) = entry.as_mut() {
                            en.kind = EntryKind::IntervalBlock(Vec::new());
                        }
                    }
                    "IntervalReading" => current = EspiReading::default(),
                    _ => {}
                }
                if !empty {
                    path.push(name);
                }
            }
            Event::Text(t) => {
                let text = String::from_utf8_lossy(t.as_ref()).trim().to_owned();
                let Some(en) = entry.as_mut() else { continue };
                let leaf = path.last().map(String::as_str).unwrap_or("");
                let parent = path.len().checked_sub(2).and_then(|i| path.get(i)).map(String::as_str);
                let number = || {
                    text.parse::<i64>()
                        .map_err(|_| format!("{leaf} `{text}` is not an integer"))
                };
                match &mut en.kind {
                    EntryKind::ReadingType(rt) if parent == Some("ReadingType") => match leaf {
                        "uom" => rt.uom = Some(number()?),
                        "powerOfTenMultiplier" => rt.power_of_ten = number()?,
                        "intervalLength" => rt.interval_length = Some(number()?),
                        "flowDirection" => rt.flow_direction = Some(number()?),
                        _ => {}
                    },
                    EntryKind::IntervalBlock(_) => match (parent, leaf) {
                        (Some("timePeriod"), "start") => current.start = Some(number()?),
                        (Some("timePeriod"), "duration") => current.duration = Some(number()?),
                        (Some("IntervalReading"), "value") => current.value = Some(number()?),
                        (Some("ReadingQuality"), "quality") => current.quality = Some(number()?),
                        _ => {}
                    },
                    _ => {}
                }
            }
            Event::End(e) => {
                let name = e.local_name();
                match name.as_ref() {
                    b"IntervalReading" => {
                        if let Some(Entry {
                            kind: EntryKind::IntervalBlock(rs),
                            ..
                        }) = entry.as_mut()
                        {
                            rs.push(std::mem::take(&mut current));
                        }
                    }
                    b"entry" => entries.extend(entry.take()),
                    _ => {}
                }
                path.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !saw_feed {
        return Err("not a Green Button file: no Atom <feed>".into());
    }
    Ok(entries)
}

// ---------------------------------------------------------------------------------------------------------
// Day blocks

/// What identifies a stored series: one site's channel from one source. A block holds one UTC day of it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SeriesKey {
    pub site_id: String,
    pub channel: Channel,
    pub source: Source,
}

/// One interval of a day block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub kwh: Option<Decimal>,
    pub quality: Quality,
}

/// One UTC day of a series at one interval length: the unit that is versioned. Slots with no reading
/// are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayBlock {
    pub day: NaiveDate,
    pub secs: u32,
    pub meter: Option<String>,
    pub slots: Vec<Option<Slot>>,
}

impl DayBlock {
    pub fn empty(day: NaiveDate, secs: u32, meter: Option<String>) -> Self {
        Self {
            day,
            secs,
            meter,
            slots: vec![None; (86_400 / secs) as usize],
        }
    }

    pub fn start(&self) -> DateTime<Utc> {
        self.day.and_time(chrono::NaiveTime::MIN).and_utc()
    }

    /// The slot an instant falls in.
    pub fn slot_at(&self, t: DateTime<Utc>) -> Option<&Slot> {
        let offset = (t - self.start()).num_seconds();
        if !(0..86_400).contains(&offset) {
            return None;
        }
        self.slots.get((offset / i64::from(self.secs)) as usize)?.as_ref()
    }

    /// Writes a reading into its slot; says whether the slot changed.
    pub fn put(&mut self, r: &Reading) -> bool {
        let i = ((r.start - self.start()).num_seconds() / i64::from(self.secs)) as usize;
        let new = Some(Slot {
            kwh: r.kwh.map(|k| k.normalize()),
            quality: r.quality,
        });
        if r.meter.is_some() {
            self.meter.clone_from(&r.meter);
        }
        let changed = self.slots[i] != new;
        self.slots[i] = new;
        changed
    }

    /// The stored form: kWh values separated by commas (empty where there is no value), and one quality
    /// code per slot (`.` where there is no reading).
    pub fn encode(&self) -> (String, String) {
        let mut values = String::with_capacity(self.slots.len() * 6);
        let mut quality = String::with_capacity(self.slots.len());
        for (i, s) in self.slots.iter().enumerate() {
            if i > 0 {
                values.push(',');
            }
            match s {
                Some(s) => {
                    if let Some(k) = s.kwh {
                        values.push_str(&k.to_string());
                    }
                    quality.push(s.quality.code());
                }
                None => quality.push('.'),
            }
        }
        (values, quality)
    }

    pub fn decode(day: NaiveDate, secs: u32, meter: Option<String>, values: &str, quality: &str) -> Option<Self> {
        let n = (86_400 / secs.max(1)) as usize;
        let mut slots = Vec::with_capacity(n);
        for (v, q) in values.split(',').zip(quality.chars()) {
            let quality = match q {
                '.' => {
                    slots.push(None);
                    continue;
                }
                c => Quality::parse(&c.to_string())?,
            };
            let kwh = if v.is_empty() { None } else { Some(v.parse().ok()?) };
            slots.push(Some(Slot { kwh, quality }));
        }
        (slots.len() == n).then_some(Self {
            day,
            secs,
            meter,
            slots,
        })
    }
}

/// The UTC day a reading belongs to.
pub fn day_of(t: DateTime<Utc>) -> NaiveDate {
    t.date_naive()
}

/// Merges `readings` (all of one series and one day) into the latest stored block. Returns the block to
/// store as the next version, or `None` when nothing changed.
pub fn merge_day(
    latest: Option<DayBlock>,
    day: NaiveDate,
    readings: &[Reading],
    counts: &mut ImportCounts,
) -> Result<Option<DayBlock>, LineError> {
    let secs = readings.first().map_or(900, |r| r.secs);
    let mut block = match latest {
        Some(b) if b.secs != secs => {
            let r = &readings[0];
            return Err(LineError {
                line: r.line,
                message: format!(
                    "{} on {day} is stored at {} s intervals; this file has {} s",
                    r.site, b.secs, r.secs
                ),
            });
        }
        Some(b) => b,
        None => DayBlock::empty(day, secs, readings[0].meter.clone()),
    };
    let mut changed = false;
    for r in readings {
        if r.secs != secs {
            return Err(LineError {
                line: r.line,
                message: format!("{} on {day} mixes {} s and {} s intervals", r.site, secs, r.secs),
            });
        }
        let had = block.slot_at(r.start).is_some();
        if block.put(r) {
            changed = true;
            if had {
                counts.revised_intervals += 1;
            } else {
                counts.new_intervals += 1;
            }
        } else {
            counts.unchanged_intervals += 1;
        }
    }
    Ok(changed.then_some(block))
}

/// The readings of one series on one UTC day.
pub type DayGroup = (SeriesKey, NaiveDate, Vec<Reading>);

/// Readings grouped by series and UTC day, in a stable order; two readings of one interval in one file
/// are refused (which one would be meant?).
pub fn group(readings: Vec<Reading>) -> Result<Vec<DayGroup>, Vec<LineError>> {
    let mut groups: std::collections::BTreeMap<(SeriesKey, NaiveDate), Vec<Reading>> = Default::default();
    for r in readings {
        let key = SeriesKey {
            site_id: r.site.clone(),
            channel: r.channel,
            source: r.source,
        };
        groups.entry((key, day_of(r.start))).or_default().push(r);
    }
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(groups.len());
    for ((key, day), mut rs) in groups {
        rs.sort_by_key(|r| (r.start, r.line));
        for w in rs.windows(2) {
            if w[0].start == w[1].start && errors.len() < MAX_LISTED_ERRORS {
                errors.push(LineError {
                    line: w[1].line,
                    message: format!(
                        "a second reading of {} {} at {} (the first is on line {})",
                        key.site_id,
                        key.channel.as_str(),
                        w[1].start,
                        w[0].line
                    ),
                });
            }
        }
        out.push((key, day, rs));
    }
    if errors.is_empty() { Ok(out) } else { Err(errors) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::dec;

    const GREEN_BUTTON: &[u8] = include_bytes!("../../tests/data/greenbutton/test_usage_data.xml");

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

//! Green Button (NAESB ESPI) Atom feeds: interval blocks, their reading type (units, power of ten,
//! flow direction) and quality codes.

use std::collections::HashMap;

use chrono::DateTime;

use super::{Channel, LineError, Problems, Quality, Reading, Source, check_alignment, check_length};
use crate::settle::Decimal;

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
        let block = match Block::of(entry, site, &by_self, &types) {
            Ok(b) => b,
            Err(m) => {
                problems.push(0, m);
                continue;
            }
        };
        for r in readings {
            match block.reading(r) {
                Ok(reading) => out.push(reading),
                Err(m) => problems.push(0, m),
            }
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

/// An IntervalBlock with what its readings need: its ReadingType, channel, scale to kWh and meter.
struct Block<'a> {
    href: &'a str,
    site: &'a str,
    meter: Option<String>,
    rt: &'a ReadingType,
    channel: Channel,
    scale: Decimal,
}

impl<'a> Block<'a> {
    /// The block's ReadingType is its MeterReading's (or the feed's only one); it must be in Wh.
    fn of(
        entry: &'a Entry,
        site: &'a str,
        by_self: &HashMap<&str, &'a Entry>,
        types: &[&'a ReadingType],
    ) -> Result<Self, String> {
        // IntervalBlock → up: …/MeterReading/01/IntervalBlock → the MeterReading …/MeterReading/01.
        let meter_reading = entry.up_href.trim_end_matches('/').trim_end_matches("/IntervalBlock");
        let rt = by_self
            .get(meter_reading)
            .and_then(|mr| mr.related.iter().find(|h| h.contains("/ReadingType/")))
            .and_then(|h| by_self.get(h.as_str()))
            .and_then(|e| match &e.kind {
                EntryKind::ReadingType(t) => Some(t),
                _ => None,
            })
            .or_else(|| (types.len() == 1).then(|| types[0]))
            .ok_or_else(|| format!("IntervalBlock {} has no ReadingType", entry.self_href))?;
        if rt.uom != Some(UOM_WH) {
            return Err(format!(
                "ReadingType uom {:?} is not 72 (Wh): only energy readings settle",
                rt.uom
            ));
        }
        let channel = espi_channel(rt.flow_direction)?;
        // …/UsagePoint/5446AF3F/MeterReading/01 → meter 5446AF3F.
        let meter = meter_reading
            .split("/UsagePoint/")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .map(str::to_owned);
        Ok(Self {
            href: &entry.self_href,
            site,
            meter,
            rt,
            channel,
            scale: Decimal::new(1, 0) * pow10(rt.power_of_ten) / Decimal::from(1000),
        })
    }

    /// One IntervalReading in kWh: its start in range, its length whole, aligned and the ReadingType's.
    fn reading(&self, r: &EspiReading) -> Result<Reading, String> {
        let (Some(start), Some(value)) = (r.start, r.value) else {
            return Err(format!("an IntervalReading of {} has no start or value", self.href));
        };
        let Some(at) = DateTime::from_timestamp(start, 0).filter(crate::wire::in_range) else {
            return Err(format!("interval start {start} is out of range"));
        };
        let duration = r.duration.or(self.rt.interval_length).unwrap_or(0);
        let secs = check_length(duration)
            .and_then(|s| check_alignment(at, s).map(|()| s))
            .map_err(|m| format!("interval at {at}: {m}"))?;
        if self.rt.interval_length.is_some_and(|l| l != duration) {
            return Err(format!(
                "interval at {at} lasts {duration} s, not the ReadingType's {:?} s",
                self.rt.interval_length
            ));
        }
        let Some(kwh) = Decimal::from(value).checked_mul(self.scale) else {
            return Err(format!("interval at {at}: value {value} is too large"));
        };
        Ok(Reading {
            site: self.site.to_owned(),
            meter: self.meter.clone(),
            channel: self.channel,
            source: Source::Revenue,
            start: at,
            secs,
            kwh: Some(kwh),
            quality: espi_quality(r.quality),
            line: 0,
        })
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
    let mut feed = Feed::default();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not XML at byte {}: {e}", reader.error_position()))?;
        match event {
            Event::Start(ref e) => feed.open(e, false),
            Event::Empty(ref e) => feed.open(e, true),
            Event::Text(t) => feed.text(String::from_utf8_lossy(t.as_ref()).trim())?,
            Event::End(e) => feed.close(e.local_name().as_ref()),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !feed.saw_feed {
        return Err("not a Green Button file: no Atom <feed>".into());
    }
    Ok(feed.entries)
}

/// The state of one walk over a feed.
#[derive(Default)]
struct Feed {
    entries: Vec<Entry>,
    /// The entry being read.
    entry: Option<Entry>,
    /// Element names from the entry down, local names only (namespaces vary between files).
    path: Vec<String>,
    /// The IntervalReading being read.
    current: EspiReading,
    saw_feed: bool,
}

impl Feed {
    fn open(&mut self, e: &quick_xml::events::BytesStart<'_>, empty: bool) {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        let entry = self.entry.as_mut();
        match (name.as_str(), entry) {
            ("feed", _) => self.saw_feed = true,
            ("entry", _) => self.entry = Some(Entry::default()),
            ("link", Some(en)) => {
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
            ("MeterReading", Some(en)) => en.kind = EntryKind::MeterReading,
            ("ReadingType", Some(en)) => en.kind = EntryKind::ReadingType(ReadingType::default()),
            ("IntervalBlock", Some(en)) => en.kind = EntryKind::IntervalBlock(Vec::new()),
            ("IntervalReading", _) => self.current = EspiReading::default(),
            _ => {}
        }
        if !empty {
            self.path.push(name);
        }
    }

    fn text(&mut self, text: &str) -> Result<(), String> {
        let Some(en) = self.entry.as_mut() else {
            return Ok(());
        };
        let leaf = self.path.last().map(String::as_str).unwrap_or("");
        let parent = (self.path.len().checked_sub(2))
            .and_then(|i| self.path.get(i))
            .map(String::as_str);
        let number = || {
            text.parse::<i64>()
                .map_err(|_| format!("{leaf} `{text}` is not an integer"))
        };
        let current = &mut self.current;
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
        Ok(())
    }

    fn close(&mut self, name: &[u8]) {
        match name {
            b"IntervalReading" => {
                if let Some(Entry {
                    kind: EntryKind::IntervalBlock(rs),
                    ..
                }) = self.entry.as_mut()
                {
                    rs.push(std::mem::take(&mut self.current));
                }
            }
            b"entry" => self.entries.extend(self.entry.take()),
            _ => {}
        }
        self.path.pop();
    }
}

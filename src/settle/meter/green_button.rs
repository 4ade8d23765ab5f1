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

//! The stored form of meter data: one block per series and UTC day, each revision a new version.

use chrono::{DateTime, NaiveDate, Utc};

use super::{Channel, ImportCounts, LineError, MAX_LISTED_ERRORS, Quality, Reading, Source};
use crate::settle::Decimal;

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

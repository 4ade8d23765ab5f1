//! A site's load and a series' prices as the settlement engine reads them.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};

use super::import::decode;
use crate::settle::Decimal;
use crate::settle::baseline::Load;
use crate::settle::engine::Prices;
use crate::settle::meter::{DayBlock, Quality};
use crate::store::settlement::MeterDayRow;

/// A site's meter data as settlement reads it: the newest version of each day, revenue first, then
/// (flagged estimated, where the rules allow) meter data imported as telemetry, then the site's own
/// DEMAND reports around its events. Days are decoded when first read.
#[derive(Default)]
pub(super) struct SiteLoad {
    pub(super) revenue: HashMap<NaiveDate, (MeterDayRow, OnceLock<Option<DayBlock>>)>,
    pub(super) telemetry: HashMap<NaiveDate, (MeterDayRow, OnceLock<Option<DayBlock>>)>,
    /// DEMAND telemetry from the site's reports, MW by time, sorted.
    pub(super) reported: Vec<(DateTime<Utc>, Decimal)>,
    pub(super) fallback: bool,
}

impl SiteLoad {
    fn block(
        days: &HashMap<NaiveDate, (MeterDayRow, OnceLock<Option<DayBlock>>)>,
        day: NaiveDate,
    ) -> Option<&DayBlock> {
        let (row, cell) = days.get(&day)?;
        cell.get_or_init(|| decode(row, day)).as_ref()
    }

    /// The slot holding `t`: its energy, quality, start and length.
    fn slot(&self, t: DateTime<Utc>) -> Option<(Decimal, Quality, DateTime<Utc>, i64)> {
        let day = t.date_naive();
        let pick = |b: &DayBlock, estimated: bool| {
            let s = b.slot_at(t)?;
            let kwh = s.kwh.filter(|_| s.quality != Quality::M)?;
            let len = i64::from(b.secs);
            let start = DateTime::from_timestamp(t.timestamp().div_euclid(len) * len, 0)?;
            Some((
                kwh,
                if estimated {
                    Quality::E.worst(s.quality)
                } else {
                    s.quality
                },
                start,
                len,
            ))
        };
        Self::block(&self.revenue, day)
            .and_then(|b| pick(b, false))
            .or_else(|| {
                self.fallback
                    .then(|| Self::block(&self.telemetry, day).and_then(|b| pick(b, true)))
                    .flatten()
            })
    }
}

impl Load for SiteLoad {
    fn mw(&self, start: DateTime<Utc>, secs: i64) -> Option<(Decimal, Quality)> {
        self.metered(start, secs).or_else(|| self.reported_mw(start, secs))
    }
}

impl SiteLoad {
    /// The mean of the site's DEMAND reports in the span, estimated; `None` without any.
    fn reported_mw(&self, start: DateTime<Utc>, secs: i64) -> Option<(Decimal, Quality)> {
        if !self.fallback {
            return None;
        }
        let end = start + TimeDelta::seconds(secs);
        let from = self.reported.partition_point(|(t, _)| *t < start);
        let points = &self.reported[from..];
        let inside: Vec<Decimal> = points.iter().take_while(|(t, _)| *t < end).map(|(_, v)| *v).collect();
        if inside.is_empty() {
            return None;
        }
        Some((
            inside.iter().copied().sum::<Decimal>() / Decimal::from(inside.len()),
            Quality::E,
        ))
    }

    /// The mean power over the span from the meter's slots, each weighted by the exact time (to the
    /// microsecond) it shares with the span: a window anchored on a notice at 19:50:00.37 cuts its first
    /// and last slots at that fraction of a second, and a flat load comes out exactly as flat.
    pub(super) fn metered(&self, start: DateTime<Utc>, secs: i64) -> Option<(Decimal, Quality)> {
        let end = start + TimeDelta::seconds(secs);
        let mut t = start;
        // Σ slot power (kW) × microseconds used.
        let mut kw_micros = Decimal::ZERO;
        let mut quality = Quality::A;
        while t < end {
            let (slot_kwh, q, slot_start, len) = self.slot(t)?;
            let slot_end = slot_start + TimeDelta::seconds(len);
            let seg_end = slot_end.min(end);
            let used = (seg_end - t).num_microseconds()?;
            let kw = slot_kwh * Decimal::from(3600) / Decimal::from(len);
            kw_micros += kw * Decimal::from(used);
            quality = quality.worst(q);
            t = seg_end;
        }
        // kW × µs over the span's µs → kW → MW.
        Some((
            kw_micros / Decimal::from(secs * 1_000_000) / Decimal::from(1000),
            quality,
        ))
    }
}

/// Prices of a series, by interval.
pub(super) struct SeriesPrices(pub(super) BTreeMap<DateTime<Utc>, (DateTime<Utc>, Decimal)>);

impl Prices for SeriesPrices {
    fn at(&self, t: DateTime<Utc>) -> Option<Decimal> {
        let (_, (end, price)) = self.0.range(..=t).next_back()?;
        (t < *end).then_some(*price)
    }
}

//! Meter data and prices in: files read whole in one transaction, all or nothing, and the stored days read back.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Read;

use chrono::{DateTime, NaiveDate, Utc};

use super::{MeterFormat, rejected};
use crate::error::AppError;
use crate::service::audit::Subject;
use crate::service::commit::commit_blocking;
use crate::settle::Decimal;
use crate::settle::meter::{self, Channel, DayBlock, ImportCounts, LineError, Problems, Reading};
use crate::store::repo::{from_naive, to_naive};
use crate::store::settlement::{self as db, MeterDayRow, PriceRow};
use crate::store::{AnyConnection, Db, StoreError, StoreResult};
use crate::wire::Operation;
use crate::wire::settlement::{MeterDay, MeterImport, PriceImport};

/// Readings held before they are written: a site's readings are written together once this many wait.
const FLUSH_READINGS: usize = 200_000;

/// What one import call needs besides the file.
pub struct ImportOptions<'a> {
    pub format: MeterFormat,
    pub file_name: Option<String>,
    /// Green Button files name no site: whose meter it is.
    pub site: Option<&'a str>,
    pub by: &'a str,
    pub now: DateTime<Utc>,
}

/// Imports a meter-data file in one transaction: every reading, or nothing when any is bad. Revised
/// readings become a new version of their day; repeated ones change nothing. `progress` hears the
/// number of readings read so far.
pub fn import_meter(
    db_: &Db,
    input: impl Read,
    o: &ImportOptions<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<MeterImport, AppError> {
    let import_id = uuid::Uuid::now_v7().to_string();
    let mut problems = Problems::default();
    let mut counts = ImportCounts::default();
    let mut input = input;
    let outcome = commit_blocking(db_, o.now, |c| {
        db::insert_import(c, &import_row(&import_id, o, &counts))?;
        let mut sites: HashMap<String, Option<String>> = HashMap::new();
        let mut pending: Vec<Reading> = Vec::new();
        let mut failure: Option<StoreError> = None;
        match o.format {
            MeterFormat::Csv => {
                let (errors, _) = meter::read_csv(&mut input, |r| {
                    if failure.is_some() {
                        return;
                    }
                    counts.readings += 1;
                    if counts.readings % 100_000 == 0 {
                        progress(counts.readings);
                    }
                    let boundary = pending.len() >= FLUSH_READINGS && pending.last().is_some_and(|p| p.site != r.site);
                    if boundary {
                        let batch = std::mem::take(&mut pending);
                        if let Err(e) = flush(c, batch, &mut sites, &mut problems, &mut counts, &import_id, o.now) {
                            failure = Some(e);
                        }
                    }
                    pending.push(r);
                });
                for e in errors {
                    problems.add(e);
                }
            }
            MeterFormat::GreenButton => {
                pending = green_button_readings(&mut input, o.site, &mut problems)?;
                counts.readings = pending.len() as u64;
            }
        }
        if let Some(e) = failure {
            return Err(e.into());
        }
        flush(c, pending, &mut sites, &mut problems, &mut counts, &import_id, o.now)?;
        progress(counts.readings);
        if problems.count > 0 {
            // Rolls the transaction back: a bad file changes nothing.
            return Err(AppError::BadRequest("rejected".into()));
        }
        db::finish_import(c, &import_row(&import_id, o, &counts))?;
        c.audited(Subject::of("METER_IMPORT", &import_id, Operation::Create, &counts));
        Ok(())
    });
    match outcome {
        Ok(()) => Ok(MeterImport {
            import_id,
            format: o.format.as_str().into(),
            file_name: o.file_name.clone(),
            counts,
            imported_date_time: o.now,
        }),
        Err(_) if problems.count > 0 => Err(rejected(problems.list, problems.count, "the file")),
        Err(e) => Err(e),
    }
}

/// The readings of a Green Button file, which names no site: `site` says whose meter it is.
fn green_button_readings(
    input: &mut impl Read,
    site: Option<&str>,
    problems: &mut Problems,
) -> Result<Vec<Reading>, AppError> {
    let Some(site) = site else {
        problems.add(LineError::file(
            "a Green Button file names no site: say whose meter it is",
        ));
        return Err(AppError::BadRequest("rejected".into()));
    };
    let mut bytes = Vec::new();
    input
        .read_to_end(&mut bytes)
        .map_err(|e| AppError::BadRequest(format!("cannot read the file: {e}")))?;
    match meter::read_green_button(&bytes, site) {
        Ok(readings) => Ok(readings),
        Err((errors, _)) => {
            errors.into_iter().for_each(|e| problems.add(e));
            Ok(Vec::new())
        }
    }
}

fn import_row(id: &str, o: &ImportOptions<'_>, n: &ImportCounts) -> db::ImportRow {
    let i = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    db::ImportRow {
        id: id.into(),
        format: o.format.as_str().into(),
        file_name: o.file_name.clone(),
        readings: i(n.readings),
        new_intervals: i(n.new_intervals),
        revised_intervals: i(n.revised_intervals),
        unchanged_intervals: i(n.unchanged_intervals),
        versions_written: i(n.versions_written),
        imported_by: o.by.into(),
        imported_at: to_naive(o.now),
    }
}

/// Resolves sites, groups readings by series and day, merges each day into its latest version and
/// writes the days that changed. Once there is a problem, only checks.
fn flush(
    c: &mut AnyConnection,
    batch: Vec<Reading>,
    sites: &mut HashMap<String, Option<String>>,
    problems: &mut Problems,
    counts: &mut ImportCounts,
    import_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let readings = with_site_ids(c, batch, sites, problems)?;
    let groups = match meter::group(readings) {
        Ok(g) => g,
        Err(errors) => {
            errors.into_iter().for_each(|e| problems.add(e));
            return Ok(());
        }
    };
    if problems.count > 0 {
        return Ok(());
    }
    let rows = new_versions(c, &groups, problems, counts, import_id, now)?;
    if problems.count == 0 {
        counts.versions_written += rows.len() as u64;
        db::insert_meter_days(c, &rows)?;
    }
    Ok(())
}

/// The readings with their site named by id (a file may name a site by id or by name; `sites` keeps
/// what was looked up); a reading of no known site is a problem on its line.
fn with_site_ids(
    c: &mut AnyConnection,
    batch: Vec<Reading>,
    sites: &mut HashMap<String, Option<String>>,
    problems: &mut Problems,
) -> StoreResult<Vec<Reading>> {
    let unknown: Vec<String> = batch
        .iter()
        .map(|r| r.site.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|s| !sites.contains_key(s))
        .collect();
    if !unknown.is_empty() {
        let found = db::resolve_sites(c, &unknown)?;
        for key in unknown {
            let id = found.get(&key).cloned();
            sites.insert(key, id);
        }
    }
    let mut readings = Vec::with_capacity(batch.len());
    for mut r in batch {
        match sites.get(&r.site).cloned().flatten() {
            Some(id) => {
                r.site = id;
                readings.push(r);
            }
            None => problems.add(LineError {
                line: r.line,
                message: format!("no site has the id or name {:?}", r.site),
            }),
        }
    }
    Ok(readings)
}

/// The new version of every day the readings change, merged into the latest stored version of that
/// day (one query per series for all its days).
fn new_versions(
    c: &mut AnyConnection,
    groups: &[meter::DayGroup],
    problems: &mut Problems,
    counts: &mut ImportCounts,
    import_id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<MeterDayRow>> {
    let mut rows = Vec::new();
    let mut i = 0;
    while i < groups.len() {
        let key = &groups[i].0;
        let j = i + groups[i..].iter().take_while(|g| &g.0 == key).count();
        let (first, last) = (groups[i].1.to_string(), groups[j - 1].1.to_string());
        let latest = db::latest_days(
            c,
            &key.site_id,
            key.channel.as_str(),
            key.source.as_str(),
            &first,
            &last,
        )?;
        for (_, day, rs) in &groups[i..j] {
            let stored = latest.get(&day.to_string());
            let block = stored.and_then(|r| decode(r, *day));
            if stored.is_some() && block.is_none() {
                return Err(StoreError::Corrupt(format!(
                    "meter day {} {day} cannot be read",
                    key.site_id
                )));
            }
            match meter::merge_day(block, *day, rs, counts) {
                Ok(Some(b)) => {
                    let (kwh, quality) = b.encode();
                    rows.push(MeterDayRow {
                        site_id: key.site_id.clone(),
                        channel: key.channel.as_str().into(),
                        source: key.source.as_str().into(),
                        day: day.to_string(),
                        version: stored.map_or(1, |r| r.version + 1),
                        interval_secs: b.secs as i32,
                        meter_id: b.meter.clone(),
                        kwh,
                        quality,
                        import_id: import_id.into(),
                        imported_at: to_naive(now),
                    });
                }
                Ok(None) => {}
                Err(e) => problems.add(e),
            }
        }
        i = j;
    }
    Ok(rows)
}

pub(super) fn decode(r: &MeterDayRow, day: NaiveDate) -> Option<DayBlock> {
    DayBlock::decode(
        day,
        u32::try_from(r.interval_secs).ok()?,
        r.meter_id.clone(),
        &r.kwh,
        &r.quality,
    )
}

/// Imports prices from CSV: `series, interval_start_utc, interval_end_utc, price` (per MWh).
pub fn import_prices(db_: &Db, input: impl Read, now: DateTime<Utc>) -> Result<PriceImport, AppError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(input);
    let header = rdr
        .headers()
        .map_err(|e| AppError::BadRequest(format!("cannot read the header: {e}")))?;
    let Some(cols) = PriceColumns::find(header) else {
        return Err(rejected(
            vec![LineError {
                line: 1,
                message: "the header needs series, interval_start_utc, interval_end_utc and price".into(),
            }],
            1,
            "the price file",
        ));
    };
    let mut problems = Problems::default();
    let mut rows = Vec::new();
    let mut seen = HashSet::new();
    for rec in rdr.records() {
        let row = rec
            .map_err(|e| LineError {
                line: e.position().map_or(0, |p| p.line() as usize),
                message: e.to_string(),
            })
            .and_then(|rec| cols.row(&rec, &mut seen));
        match row {
            Ok(row) => rows.push(row),
            Err(e) => problems.add(e),
        }
    }
    if problems.count > 0 {
        return Err(rejected(problems.list, problems.count, "the price file"));
    }
    let series: BTreeSet<String> = rows.iter().map(|r| r.series.clone()).collect();
    let points = rows.len() as u64;
    commit_blocking(db_, now, |c| {
        let names: Vec<&String> = series.iter().collect();
        c.audited(Subject::of(
            "PRICES",
            &names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(","),
            Operation::Update,
            &(names, points),
        ));
        Ok(db::upsert_prices(c, &rows)?)
    })?;
    Ok(PriceImport {
        series: series.into_iter().collect(),
        points,
    })
}

/// Where a price file keeps each field, found by header name (any case, a few common aliases).
struct PriceColumns {
    series: usize,
    start: usize,
    end: usize,
    price: usize,
}

impl PriceColumns {
    fn find(header: &csv::StringRecord) -> Option<Self> {
        let at = |names: &[&str]| {
            header
                .iter()
                .position(|h| names.contains(&h.to_ascii_lowercase().as_str()))
        };
        Some(Self {
            series: at(&["series", "node"])?,
            start: at(&["interval_start_utc", "interval_start", "start"])?,
            end: at(&["interval_end_utc", "interval_end", "end"])?,
            price: at(&["price", "price_per_mwh", "lmp"])?,
        })
    }

    /// One line of a price file as a row, or what is wrong with it. `seen` holds the (series, start)
    /// of the lines before: a second price for the same interval is an error, not a silent overwrite.
    fn row(&self, rec: &csv::StringRecord, seen: &mut HashSet<(String, DateTime<Utc>)>) -> Result<PriceRow, LineError> {
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let field = |i: usize| rec.get(i).unwrap_or("").trim();
        let problem = |message: String| Err(LineError { line, message });
        let start = meter::parse_utc(field(self.start));
        let end = meter::parse_utc(field(self.end));
        let price = field(self.price).parse::<Decimal>().ok();
        match (field(self.series), start, end, price) {
            ("", ..) => problem("series is empty".into()),
            (_, None, ..) | (_, _, None, _) => problem("interval times are not date-times".into()),
            (_, Some(s), Some(e), _) if e <= s => problem("the interval ends before it starts".into()),
            (_, _, _, None) => problem(format!("price `{}` is not a number", field(self.price))),
            (series, Some(s), ..) if !seen.insert((series.to_owned(), s)) => {
                problem(format!("a second price for {series} at {s}"))
            }
            (series, Some(s), Some(e), Some(p)) => Ok(PriceRow {
                series: series.into(),
                start_at: to_naive(s),
                end_at: to_naive(e),
                price: p.normalize().to_string(),
            }),
        }
    }
}

/// A site's stored meter data from `from` to `to` (UTC days, both included), every version of every day,
/// newest first within a day: the audit view of revisions. At most 93 days at once.
pub fn meter_days(
    db_: &Db,
    site_id: &str,
    channel: Channel,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<MeterDay>, AppError> {
    if to < from || (to - from).num_days() > 92 {
        return Err(AppError::BadRequest(
            "from..to must be a range of at most 93 days".into(),
        ));
    }
    let rows = db_
        .read_blocking(|c| {
            crate::store::sites::get_site(c, site_id)?;
            db::day_versions(c, site_id, channel.as_str(), &from.to_string(), &to.to_string())
        })
        .map_err(|e| AppError::from(e).with_not_found("site", site_id))?;
    rows.into_iter()
        .map(|r| {
            let day: NaiveDate = r
                .day
                .parse()
                .map_err(|_| AppError::Internal("stored meter day".into()))?;
            let block = decode(&r, day).ok_or_else(|| AppError::Internal("stored meter day does not read".into()))?;
            let kwh: Vec<Option<Decimal>> = block.slots.iter().map(|s| s.and_then(|s| s.kwh)).collect();
            Ok(MeterDay {
                day,
                total_kwh: kwh.iter().flatten().copied().sum(),
                kwh,
                source: r.source,
                channel: r.channel,
                version: r.version,
                interval_secs: r.interval_secs,
                meter_id: r.meter_id,
                import_id: r.import_id,
                imported_date_time: from_naive(r.imported_at),
                quality: r.quality,
            })
        })
        .collect()
}

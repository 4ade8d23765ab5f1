//! Settlement: importing meter data and prices, program rules, settlement runs and statements.
//! The functions take the database and the time rather than the whole server state, so the CLI runs
//! exactly what the API runs. Permission checks are the API's (operators only).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::error::AppError;
use crate::service::AppState;
use crate::service::commit::commit_blocking;
use crate::service::sites::parse_decimal;
use crate::settle::baseline::{EventWindow, Load, local_day};
use crate::settle::engine::{self, Period, Prices, SiteInput};
use crate::settle::export::{self, Statement, StatementKind};
use crate::settle::meter::{self, Channel, DayBlock, ImportCounts, LineError, Problems, Quality, Reading, Source};
use crate::settle::rules::Rules;
use crate::settle::{Decimal, Direction};
use crate::store::repo::{from_naive, to_naive};
use crate::store::settlement::{self as db, MeterDayRow, PriceRow, StatementFilter, StatementRow};
use crate::store::{AnyConnection, Db, StoreError, StoreResult};
use crate::wire::ObjectId;
use crate::wire::Page;
use crate::wire::query::{self, StatementQuery};
use crate::wire::settlement::{MeterDay, MeterImport, PriceImport, RulesVersion, SettlementRun, StatementSummary};

/// Readings held before they are written: a site's readings are written together once this many wait.
const FLUSH_READINGS: usize = 200_000;

/// Sites settled per database read.
const SITES_PER_CHUNK: usize = 500;

fn rejected(errors: Vec<LineError>, count: usize, what: &str) -> AppError {
    let shown = errors.len();
    let detail = if count > shown {
        format!("{what} has {count} problems (the first {shown} are listed); nothing was imported")
    } else {
        format!("{what} has {count} problem(s); nothing was imported")
    };
    AppError::Rejected { detail, errors }
}

pub use crate::wire::settlement::MeterFormat;

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
    let outcome = commit_blocking(db_, |c| {
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
                let Some(site) = o.site else {
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
                    Ok(rs) => {
                        counts.readings = rs.len() as u64;
                        pending = rs;
                    }
                    Err((errors, _)) => errors.into_iter().for_each(|e| problems.add(e)),
                }
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
    // One query per series for the latest version of every day the batch touches.
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
    if problems.count == 0 {
        counts.versions_written += rows.len() as u64;
        db::insert_meter_days(c, &rows)?;
    }
    Ok(())
}

fn decode(r: &MeterDayRow, day: NaiveDate) -> Option<DayBlock> {
    DayBlock::decode(
        day,
        u32::try_from(r.interval_secs).ok()?,
        r.meter_id.clone(),
        &r.kwh,
        &r.quality,
    )
}

/// Imports prices from CSV: `series, interval_start_utc, interval_end_utc, price` (per MWh).
pub fn import_prices(db_: &Db, input: impl Read) -> Result<PriceImport, AppError> {
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .comment(Some(b'#'))
        .from_reader(input);
    let mut problems = Problems::default();
    let header = rdr
        .headers()
        .map_err(|e| AppError::BadRequest(format!("cannot read the header: {e}")))?
        .clone();
    let at = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.contains(&h.to_ascii_lowercase().as_str()))
    };
    let cols = (
        at(&["series", "node"]),
        at(&["interval_start_utc", "interval_start", "start"]),
        at(&["interval_end_utc", "interval_end", "end"]),
        at(&["price", "price_per_mwh", "lmp"]),
    );
    let (Some(cs), Some(cst), Some(cen), Some(cp)) = cols else {
        return Err(rejected(
            vec![LineError {
                line: 1,
                message: "the header needs series, interval_start_utc, interval_end_utc and price".into(),
            }],
            1,
            "the price file",
        ));
    };
    let mut rows = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                problems.add(LineError {
                    line: e.position().map_or(0, |p| p.line() as usize),
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let field = |i: usize| rec.get(i).unwrap_or("").trim();
        let start = meter::parse_utc(field(cst));
        let end = meter::parse_utc(field(cen));
        let price = field(cp).parse::<Decimal>().ok();
        match (field(cs), start, end, price) {
            ("", ..) => problems.add(LineError {
                line,
                message: "series is empty".into(),
            }),
            (_, None, ..) | (_, _, None, _) => problems.add(LineError {
                line,
                message: "interval times are not date-times".into(),
            }),
            (_, Some(s), Some(e), _) if e <= s => problems.add(LineError {
                line,
                message: "the interval ends before it starts".into(),
            }),
            (_, _, _, None) => problems.add(LineError {
                line,
                message: format!("price `{}` is not a number", field(cp)),
            }),
            (series, Some(s), ..) if !seen.insert((series.to_owned(), s)) => problems.add(LineError {
                line,
                message: format!("a second price for {series} at {s}"),
            }),
            (series, Some(s), Some(e), Some(p)) => rows.push(PriceRow {
                series: series.into(),
                start_at: to_naive(s),
                end_at: to_naive(e),
                price: p.normalize().to_string(),
            }),
        }
    }
    if problems.count > 0 {
        return Err(rejected(problems.list, problems.count, "the price file"));
    }
    let series: BTreeSet<String> = rows.iter().map(|r| r.series.clone()).collect();
    let points = rows.len() as u64;
    commit_blocking(db_, |c| Ok(db::upsert_prices(c, &rows)?))?;
    Ok(PriceImport {
        series: series.into_iter().collect(),
        points,
    })
}

/// Stores a new version of a program's settlement rules, every default written out.
pub fn put_rules(
    db_: &Db,
    program_id: &str,
    rules: Rules,
    by: &str,
    now: DateTime<Utc>,
) -> Result<RulesVersion, AppError> {
    let problems = rules.problems();
    if !problems.is_empty() {
        return Err(AppError::BadRequest(format!(
            "the settlement rules cannot be used: {}",
            problems.join("; ")
        )));
    }
    let rules = rules.complete();
    let text = serde_json::to_string(&rules).map_err(|e| AppError::Internal(e.to_string()))?;
    let row = commit_blocking(db_, |c| {
        crate::store::repo::get_program(c, program_id)?;
        Ok(db::insert_rules(c, program_id, &text, by, to_naive(now))?)
    })
    .map_err(|e| e.with_not_found("program", program_id))?;
    rules_version(row)
}

/// A program's id, given its id or its name (the CLI accepts either).
pub fn program_by_key(db_: &Db, key: &str) -> Result<String, AppError> {
    db_.read_blocking(|c| db::program_by_id_or_name(c, key))?
        .ok_or_else(|| AppError::NotFound(format!("no program has the id or name {key:?}")))
}

/// Runs blocking settlement work (the functions of this module) off the async threads.
pub async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Db) -> Result<T, AppError> + Send + 'static,
) -> Result<T, AppError> {
    let db = state.db.clone();
    tokio::task::spawn_blocking(move || f(&db))
        .await
        .map_err(|e| AppError::Internal(format!("settlement task failed: {e}")))?
}

pub fn get_rules(db_: &Db, program_id: &str) -> Result<RulesVersion, AppError> {
    match db_.read_blocking(|c| db::latest_rules(c, program_id))? {
        Some(row) => rules_version(row),
        None => Err(AppError::NotFound(format!(
            "program {program_id:?} has no settlement rules"
        ))),
    }
}

fn rules_version(row: db::RulesRow) -> Result<RulesVersion, AppError> {
    Ok(RulesVersion {
        rules: serde_json::from_str(&row.rules).map_err(|e| AppError::Internal(format!("stored rules: {e}")))?,
        program_id: row.program_id,
        version: row.version,
        created_by: row.created_by,
        created_date_time: from_naive(row.created_date_time),
    })
}

// ---------------------------------------------------------------------------------------------------------
// Settling

/// A site's meter data as settlement reads it: the newest version of each day, revenue first, then
/// (flagged estimated, where the rules allow) meter data imported as telemetry, then the site's own
/// DEMAND reports around its events. Days are decoded when first read.
#[derive(Default)]
struct SiteLoad {
    revenue: HashMap<NaiveDate, (MeterDayRow, OnceLock<Option<DayBlock>>)>,
    telemetry: HashMap<NaiveDate, (MeterDayRow, OnceLock<Option<DayBlock>>)>,
    /// DEMAND telemetry from the site's reports, MW by time, sorted.
    reported: Vec<(DateTime<Utc>, Decimal)>,
    fallback: bool,
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
    fn metered(&self, start: DateTime<Utc>, secs: i64) -> Option<(Decimal, Quality)> {
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
struct SeriesPrices(BTreeMap<DateTime<Utc>, (DateTime<Utc>, Decimal)>);

impl Prices for SeriesPrices {
    fn at(&self, t: DateTime<Utc>) -> Option<Decimal> {
        let (_, (end, price)) = self.0.range(..=t).next_back()?;
        (t < *end).then_some(*price)
    }
}

/// Settles a program for a period: a statement per enrolled site, issued as a new version only when it
/// differs from the latest one (a true-up listing what changed). `progress` hears (sites done, sites).
pub fn settle(
    db_: &Db,
    program_id: &str,
    period: Period,
    by: &str,
    now: DateTime<Utc>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<SettlementRun, AppError> {
    if period.to < period.from {
        return Err(AppError::BadRequest(format!(
            "the period ends ({}) before it starts ({})",
            period.to, period.from
        )));
    }
    if (period.to - period.from).num_days() > 366 {
        return Err(AppError::BadRequest("a settlement period is at most a year".into()));
    }
    let (program, rules_row) = db_
        .read_blocking(|c| {
            Ok((
                crate::store::repo::get_program(c, program_id)?,
                db::latest_rules(c, program_id)?,
            ))
        })
        .map_err(|e| AppError::from(e).with_not_found("program", program_id))?;
    let Some(rules_row) = rules_row else {
        return Err(AppError::Conflict(format!(
            "program {program_id:?} has no settlement rules: PUT /ops/programs/{program_id}/settlement-rules first"
        )));
    };
    let program_name = serde_json::from_str::<serde_json::Value>(&program.body)
        .ok()
        .and_then(|b| b.get("programName").and_then(|n| n.as_str()).map(str::to_owned))
        .unwrap_or_default();
    let rules: Rules =
        serde_json::from_str(&rules_row.rules).map_err(|e| AppError::Internal(format!("stored rules: {e}")))?;
    let lookback = rules
        .baseline
        .x_of_y()
        .map_or(2, |x| i64::from(x.lookback_days) + i64::from(x.skip_days) + 2);
    let (from_s, to_s) = (period.from.to_string(), period.to.to_string());
    let history_from = period.start() - TimeDelta::days(lookback);

    let (enrolled, previous) = db_.read_blocking(|c| {
        Ok((
            db::enrolled_sites(c, program_id, to_naive(period.start()), to_naive(period.end()))?,
            db::latest_statements(c, program_id, &from_s, &to_s)?,
        ))
    })?;
    // One enrollment per site: the latest that starts in or before the period.
    let mut by_site: BTreeMap<String, (crate::store::sites::EnrollmentRow, crate::store::sites::SiteRow)> =
        BTreeMap::new();
    for (e, s) in enrolled {
        by_site.insert(s.id.clone(), (e, s));
    }
    let prices: Box<dyn Prices + Sync> = match (&rules.energy_price.fixed_per_mwh, &rules.energy_price.series) {
        (Some(rate), _) => Box::new(engine::Fixed(*rate)),
        (None, Some(series)) => {
            let rows = db_.read_blocking(|c| {
                db::prices_between(c, series.as_str(), to_naive(period.start()), to_naive(period.end()))
            })?;
            let mut map = BTreeMap::new();
            for r in rows {
                let p: Decimal = parse_decimal(&r.price)?;
                map.insert(from_naive(r.start_at), (from_naive(r.end_at), p));
            }
            Box::new(SeriesPrices(map))
        }
        (None, None) => return Err(AppError::Internal("stored rules without a price".into())),
    };

    let site_ids: Vec<String> = by_site.keys().cloned().collect();
    let total_sites = site_ids.len();
    let mut settled: Vec<(String, engine::Settlement)> = Vec::with_capacity(total_sites);
    progress(0, total_sites);
    for chunk in site_ids.chunks(SITES_PER_CHUNK) {
        let (days, dispatched) = db_.read_blocking(|c| {
            Ok((
                db::latest_days_of_sites(
                    c,
                    chunk,
                    rules.channel.as_str(),
                    &(history_from.date_naive() - TimeDelta::days(1)).to_string(),
                    &(period.end().date_naive() + TimeDelta::days(1)).to_string(),
                )?,
                settled_events(c, chunk, history_from, period.end())?,
            ))
        })?;
        let mut loads: HashMap<String, SiteLoad> = HashMap::new();
        for row in days {
            let Ok(day) = row.day.parse::<NaiveDate>() else {
                continue;
            };
            let load = loads.entry(row.site_id.clone()).or_insert_with(|| SiteLoad {
                fallback: rules.telemetry_fallback,
                ..SiteLoad::default()
            });
            let target = if row.source == Source::Telemetry.as_str() {
                &mut load.telemetry
            } else {
                &mut load.revenue
            };
            target.insert(day, (row, OnceLock::new()));
        }
        let mut events: HashMap<&str, Vec<&db::DispatchedRow>> = HashMap::new();
        for d in &dispatched {
            events.entry(d.site_id.as_str()).or_default().push(d);
        }
        if rules.telemetry_fallback {
            add_reports(
                db_,
                &mut loads,
                &events,
                program_id,
                period,
                i64::from(rules.interval_minutes) * 60,
            )?;
        }
        // A stored quantity that does not read is an error, never a zero on a statement.
        let inputs: Vec<(String, SiteInputParts)> = chunk
            .iter()
            .filter_map(|id| by_site.get(id).map(|(e, s)| (id, e, s)))
            .map(|(id, e, s)| Ok((id.clone(), parts(e, s, events.get(id.as_str()), program_id, period)?)))
            .collect::<StoreResult<_>>()?;
        let empty = SiteLoad::default();
        let results = compute_parallel(&inputs, &loads, &empty, &rules, period, prices.as_ref())?;
        settled.extend(results);
        progress(settled.len(), total_sites);
    }

    // Issue what changed; keep what did not.
    let run_id = uuid::Uuid::now_v7().to_string();
    let mut new_rows = Vec::new();
    let mut summaries = Vec::with_capacity(settled.len());
    let mut total = Decimal::ZERO;
    for (site_id, s) in settled {
        let prev = previous.get(&site_id);
        let prev_statement: Option<Statement> = match prev {
            Some(row) => Some(
                serde_json::from_str(&row.body).map_err(|e| AppError::Internal(format!("stored statement: {e}")))?,
            ),
            None => None,
        };
        total += s.totals.total;
        if let (Some(row), Some(p)) = (prev, &prev_statement)
            && p.settlement == s
            && p.rule_version == rules_row.version
        {
            summaries.push(summary(row)?);
            continue;
        }
        let statement = Statement {
            statement_id: uuid::Uuid::now_v7().to_string(),
            version: prev.map_or(1, |r| r.version + 1),
            kind: if prev.is_some() {
                StatementKind::TrueUp
            } else {
                StatementKind::Initial
            },
            supersedes: prev.map(|r| r.id.clone()),
            program_id: program_id.into(),
            program_name: program_name.clone(),
            rule_version: rules_row.version,
            true_up: prev_statement.as_ref().map(|p| export::true_up(p, &s)),
            settlement: s,
        };
        let row = StatementRow {
            id: statement.statement_id.clone(),
            run_id: run_id.clone(),
            program_id: program_id.into(),
            site_id: site_id.clone(),
            period_from: from_s.clone(),
            period_to: to_s.clone(),
            version: statement.version,
            kind: kind_str(statement.kind).into(),
            supersedes: statement.supersedes.clone(),
            rule_version: statement.rule_version,
            total: statement.settlement.totals.total.to_string(),
            body: serde_json::to_string(&statement).map_err(|e| AppError::Internal(e.to_string()))?,
            created_date_time: to_naive(now),
        };
        summaries.push(summary(&row)?);
        new_rows.push(row);
    }
    let run = db::RunRow {
        id: run_id.clone(),
        program_id: program_id.into(),
        period_from: from_s,
        period_to: to_s,
        rule_version: rules_row.version,
        sites: total_sites as i32,
        issued: new_rows.len() as i32,
        unchanged: (total_sites - new_rows.len()) as i32,
        total: total.to_string(),
        requested_by: by.into(),
        created_date_time: to_naive(now),
    };
    commit_blocking(db_, |c| {
        db::insert_run(c, &run, &new_rows).map_err(|e| match e {
            StoreError::Conflict(_) => AppError::Conflict(
                "another settlement of this program and period finished first; run it again to compare with it".into(),
            ),
            e => e.into(),
        })
    })?;
    Ok(run_view(&run, summaries))
}

/// Hours before an event whose reports may stand in for meter data (baseline windows and adjustments).
const REPORTS_BEFORE_EVENT_HOURS: i64 = 5;

/// For each event of the program whose meter data has a gap (in the event or the hours before it), loads
/// the site's DEMAND reports there: a site's own telemetry stands in, flagged estimated. Only where there
/// is a gap: a fleet reporting every few seconds has far more telemetry than meter data.
fn add_reports(
    db_: &Db,
    loads: &mut HashMap<String, SiteLoad>,
    events: &HashMap<&str, Vec<&db::DispatchedRow>>,
    program_id: &str,
    period: Period,
    secs: i64,
) -> Result<(), AppError> {
    for (site, evs) in events {
        let load = loads.entry((*site).to_owned()).or_insert_with(|| SiteLoad {
            fallback: true,
            ..SiteLoad::default()
        });
        for d in evs.iter().filter(|d| d.program_id == program_id) {
            let (start, end) = (from_naive(d.starts_at), from_naive(d.ends_at));
            if start < period.start() || start >= period.end() {
                continue;
            }
            let from = start - TimeDelta::hours(REPORTS_BEFORE_EVENT_HOURS);
            let mut t = DateTime::from_timestamp(from.timestamp().div_euclid(secs) * secs, 0).unwrap_or(from);
            let mut gap = false;
            while t < end && !gap {
                gap = load.metered(t, secs).is_none();
                t += TimeDelta::seconds(secs);
            }
            if !gap {
                continue;
            }
            let points = db_.read_blocking(|c| db::demand_points(c, site, to_naive(from), to_naive(end)))?;
            load.reported.extend(
                points
                    .into_iter()
                    .filter_map(|(t, v)| Decimal::try_from(v).ok().map(|v| (from_naive(t), v))),
            );
            // Windows of nearby events overlap: the same point may have been read twice.
            load.reported.sort();
            load.reported.dedup();
        }
    }
    Ok(())
}

/// The events settled for `sites` that started in `[from, to)`: every dispatch's, and every other event
/// with a curtailment or load-up payload that reached them (docs/spec-decisions.md, "Events settled").
/// The latter carry no dispatch id and no allocation: their site commits its enrollment's megawatts.
fn settled_events(
    c: &mut crate::store::AnyConnection,
    sites: &[String],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StoreResult<Vec<db::DispatchedRow>> {
    let mut rows = db::dispatched_between(c, sites, to_naive(from), to_naive(to))?;
    for sent in db::sent_between(c, sites, to_naive(from), to_naive(to))? {
        let Ok(req) = serde_json::from_str::<crate::wire::EventRequest>(&sent.body) else {
            continue;
        };
        let types = req
            .intervals
            .iter()
            .flatten()
            .flat_map(|i| &i.payloads)
            .map(|p| p.value_type.as_str());
        let Some(direction) = Direction::of_payloads(types) else {
            continue;
        };
        rows.push(db::DispatchedRow {
            site_id: sent.site_id,
            event_id: sent.event_id,
            dispatch_id: String::new(),
            program_id: sent.program_id,
            direction: direction.as_str().to_owned(),
            created_date_time: sent.created_date_time,
            starts_at: sent.starts_at,
            ends_at: sent.ends_at,
            allocated_mw: String::new(),
        });
    }
    Ok(rows)
}

/// What a site's settlement needs, owned, so sites can be settled on several threads.
struct SiteInputParts {
    site_name: String,
    ven_id: String,
    meter_id: Option<String>,
    tz: Tz,
    shed_mw: Decimal,
    fsl_mw: Option<Decimal>,
    events: Vec<EventWindow>,
    event_days: BTreeSet<NaiveDate>,
}

fn parts(
    e: &crate::store::sites::EnrollmentRow,
    s: &crate::store::sites::SiteRow,
    dispatched: Option<&Vec<&db::DispatchedRow>>,
    program_id: &str,
    period: Period,
) -> StoreResult<SiteInputParts> {
    let tz: Tz = s.time_zone.parse().unwrap_or(chrono_tz::UTC);
    let mut events = Vec::new();
    let mut event_days = BTreeSet::new();
    for d in dispatched.into_iter().flatten() {
        let (start, end) = (from_naive(d.starts_at), from_naive(d.ends_at));
        event_days.insert(local_day(start, tz));
        event_days.insert(local_day(end - TimeDelta::seconds(1), tz));
        if d.program_id == program_id && start >= period.start() && start < period.end() {
            let direction = Direction::parse(&d.direction).unwrap_or(Direction::Shed);
            // An event sent outside a dispatch commits the site's enrollment, in its direction.
            let committed_mw = match (d.allocated_mw.as_str(), direction) {
                ("", Direction::Shed) => parse_decimal(&e.shed_mw)?,
                ("", Direction::LoadUp) => parse_decimal(&e.load_up_mw)?,
                (allocated, _) => parse_decimal(allocated)?,
            };
            if committed_mw.is_zero() {
                continue;
            }
            events.push(EventWindow {
                event_id: d.event_id.clone(),
                dispatch_id: (!d.dispatch_id.is_empty()).then(|| d.dispatch_id.clone()),
                direction,
                notice: from_naive(d.created_date_time),
                start,
                end,
                committed_mw,
            });
        }
    }
    Ok(SiteInputParts {
        site_name: s.site_name.clone(),
        ven_id: s.ven_id.clone(),
        meter_id: s.meter_id.clone(),
        tz,
        shed_mw: parse_decimal(&e.shed_mw)?,
        fsl_mw: e.firm_service_level_mw.as_deref().map(parse_decimal).transpose()?,
        events,
        event_days,
    })
}

/// Settles sites on every core; results in the input order.
fn compute_parallel(
    inputs: &[(String, SiteInputParts)],
    loads: &HashMap<String, SiteLoad>,
    empty: &SiteLoad,
    rules: &Rules,
    period: Period,
    prices: &(dyn Prices + Sync),
) -> Result<Vec<(String, engine::Settlement)>, AppError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from).clamp(1, 8);
    let per = inputs.len().div_ceil(threads).max(1);
    let one = |(id, p): &(String, SiteInputParts)| -> Result<(String, engine::Settlement), AppError> {
        let input = SiteInput {
            site_id: id.clone(),
            site_name: p.site_name.clone(),
            ven_id: p.ven_id.clone(),
            meter_id: p.meter_id.clone(),
            tz: p.tz,
            shed_mw: p.shed_mw,
            fsl_mw: p.fsl_mw,
            events: p.events.clone(),
            event_days: &p.event_days,
            load: loads.get(id).unwrap_or(empty),
        };
        let s = engine::settle(rules, period, &input, prices).map_err(|e| AppError::Conflict(e.to_string()))?;
        Ok((id.clone(), s))
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = inputs
            .chunks(per)
            .map(|part| scope.spawn(move || part.iter().map(one).collect::<Result<Vec<_>, AppError>>()))
            .collect();
        let mut out = Vec::with_capacity(inputs.len());
        for h in handles {
            out.extend(
                h.join()
                    .map_err(|_| AppError::Internal("a settlement thread panicked".into()))??,
            );
        }
        Ok(out)
    })
}

fn kind_str(k: StatementKind) -> &'static str {
    match k {
        StatementKind::Initial => "INITIAL",
        StatementKind::TrueUp => "TRUE_UP",
    }
}

fn summary(row: &StatementRow) -> Result<StatementSummary, AppError> {
    let date = |s: &str| {
        s.parse::<NaiveDate>()
            .map_err(|e| AppError::Internal(format!("stored period: {e}")))
    };
    Ok(StatementSummary {
        statement_id: row.id.clone(),
        run_id: row.run_id.clone(),
        program_id: row.program_id.clone(),
        site_id: row.site_id.clone(),
        from: date(&row.period_from)?,
        to: date(&row.period_to)?,
        version: row.version,
        kind: if row.kind == "TRUE_UP" {
            StatementKind::TrueUp
        } else {
            StatementKind::Initial
        },
        supersedes: row.supersedes.clone(),
        rule_version: row.rule_version,
        total: row
            .total
            .parse()
            .map_err(|_| AppError::Internal("stored total".into()))?,
        created_date_time: from_naive(row.created_date_time),
    })
}

fn run_view(run: &db::RunRow, statements: Vec<StatementSummary>) -> SettlementRun {
    SettlementRun {
        run_id: run.id.clone(),
        program_id: run.program_id.clone(),
        from: run.period_from.parse().unwrap_or_default(),
        to: run.period_to.parse().unwrap_or_default(),
        rule_version: run.rule_version,
        sites: run.sites,
        issued: run.issued,
        unchanged: run.unchanged,
        total: run.total.parse().unwrap_or_default(),
        statements,
        created_date_time: from_naive(run.created_date_time),
    }
}

/// A run with the statements it issued.
pub fn get_run(db_: &Db, id: &str) -> Result<SettlementRun, AppError> {
    let (run, rows) = db_
        .read_blocking(|c| {
            let run = db::get_run(c, id)?;
            let f = StatementFilter {
                run_id: Some(id.into()),
                ..Default::default()
            };
            Ok((
                run,
                db::list_statements(
                    c,
                    &f,
                    Page {
                        skip: 0,
                        limit: i64::MAX,
                    },
                )?,
            ))
        })
        .map_err(|e| AppError::from(e).with_not_found("settlement run", id))?;
    Ok(run_view(&run, rows.iter().map(summary).collect::<Result<_, _>>()?))
}

pub fn list_statements(db_: &Db, q: StatementQuery) -> Result<Vec<StatementSummary>, AppError> {
    let page = query::page(q.skip, q.limit);
    let f = StatementFilter {
        program_id: q.program_id.map(ObjectId::into_string),
        site_id: q.site_id.map(ObjectId::into_string),
        run_id: q.run_id.map(ObjectId::into_string),
    };
    db_.read_blocking(|c| db::list_statements(c, &f, page))?
        .iter()
        .map(summary)
        .collect()
}

pub fn get_statement(db_: &Db, id: &str) -> Result<Statement, AppError> {
    let row = db_
        .read_blocking(|c| db::get_statement(c, id))
        .map_err(|e| AppError::from(e).with_not_found("statement", id))?;
    serde_json::from_str(&row.body).map_err(|e| AppError::Internal(format!("stored statement: {e}")))
}

/// The statements a run issued (initial statements and true-ups), whole: what billing imports.
pub fn run_statements(db_: &Db, run_id: &str) -> Result<Vec<Statement>, AppError> {
    let rows = db_
        .read_blocking(|c| {
            db::get_run(c, run_id)?;
            db::statements_of_run(c, run_id)
        })
        .map_err(|e| AppError::from(e).with_not_found("settlement run", run_id))?;
    rows.iter()
        .map(|r| serde_json::from_str(&r.body).map_err(|e| AppError::Internal(format!("stored statement: {e}"))))
        .collect()
}

/// The chart of one event of a statement (the first event when none is named).
pub fn chart(db_: &Db, id: &str, event_id: Option<&str>) -> Result<String, AppError> {
    let s = get_statement(db_, id)?;
    let event = match event_id {
        Some(e) => s.settlement.events.iter().find(|x| x.event_id == e),
        None => s.settlement.events.first(),
    };
    match event {
        Some(e) => Ok(export::event_chart(&s, e)),
        None => Err(AppError::NotFound(match event_id {
            Some(e) => format!("statement {id:?} has no event {e:?}"),
            None => format!("statement {id:?} has no events to chart"),
        })),
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

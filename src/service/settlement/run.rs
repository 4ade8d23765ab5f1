//! A settlement run: load what the period needs, compute each site on every core, compare with the
//! statements issued before, and persist what changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::OnceLock;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use super::load::{SeriesPrices, SiteLoad};
use super::statements::{kind_str, run_view, summary};
use crate::error::AppError;
use crate::service::audit::Subject;
use crate::service::commit::commit_blocking;
use crate::service::sites::parse_decimal;
use crate::settle::baseline::{EventWindow, local_day};
use crate::settle::engine::{self, Period, Prices, SiteInput};
use crate::settle::export::{self, Statement, StatementKind};
use crate::settle::meter::Source;
use crate::settle::rules::Rules;
use crate::settle::{Decimal, Direction};
use crate::store::repo::{from_naive, to_naive};
use crate::store::settlement::{self as db, StatementRow};
use crate::store::{Db, StoreError, StoreResult};
use crate::wire::Operation;
use crate::wire::settlement::{SettlementRun, StatementSummary};

/// Sites settled per database read.
const SITES_PER_CHUNK: usize = 500;

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
    let inputs = load(db_, program_id, period)?;
    let settled = compute(db_, &inputs, progress)?;
    let (run, issued, summaries) = compare(&inputs, settled, by, now)?;
    persist(db_, &run, &issued, now)?;
    Ok(run_view(&run, summaries))
}

/// What a run settles with: the program, its rules, its enrolled sites, the statements issued before,
/// the prices.
struct RunInputs {
    program_id: String,
    program_name: String,
    period: Period,
    rules_version: i32,
    rules: Rules,
    /// One enrollment per site: the latest that starts in or before the period.
    by_site: BTreeMap<String, (crate::store::sites::EnrollmentRow, crate::store::sites::SiteRow)>,
    /// The latest statement of each site for this program and period.
    previous: HashMap<String, StatementRow>,
    prices: Box<dyn Prices + Sync>,
}

fn load(db_: &Db, program_id: &str, period: Period) -> Result<RunInputs, AppError> {
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
    let (from_s, to_s) = (period.from.to_string(), period.to.to_string());
    let (enrolled, previous) = db_.read_blocking(|c| {
        Ok((
            db::enrolled_sites(c, program_id, to_naive(period.start()), to_naive(period.end()))?,
            db::latest_statements(c, program_id, &from_s, &to_s)?,
        ))
    })?;
    let mut by_site = BTreeMap::new();
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
    Ok(RunInputs {
        program_id: program_id.to_owned(),
        program_name,
        period,
        rules_version: rules_row.version,
        rules,
        by_site,
        previous,
        prices,
    })
}

/// Settles every site, a chunk of sites per database read, each chunk on every core.
fn compute(
    db_: &Db,
    inputs: &RunInputs,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<(String, engine::Settlement)>, AppError> {
    let (rules, period, program_id) = (&inputs.rules, inputs.period, inputs.program_id.as_str());
    let lookback = rules
        .baseline
        .x_of_y()
        .map_or(2, |x| i64::from(x.lookback_days) + i64::from(x.skip_days) + 2);
    let history_from = period.start() - TimeDelta::days(lookback);
    let site_ids: Vec<String> = inputs.by_site.keys().cloned().collect();
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
        let parts_of: Vec<(String, SiteInputParts)> = chunk
            .iter()
            .filter_map(|id| inputs.by_site.get(id).map(|(e, s)| (id, e, s)))
            .map(|(id, e, s)| Ok((id.clone(), parts(e, s, events.get(id.as_str()), program_id, period)?)))
            .collect::<StoreResult<_>>()?;
        let empty = SiteLoad::default();
        let results = compute_parallel(&parts_of, &loads, &empty, rules, period, inputs.prices.as_ref())?;
        settled.extend(results);
        progress(settled.len(), total_sites);
    }
    Ok(settled)
}

/// Compares each site's settlement with its latest statement: a new statement (initial, or a true-up
/// listing what changed) where it differs, the old one kept where it does not.
fn compare(
    inputs: &RunInputs,
    settled: Vec<(String, engine::Settlement)>,
    by: &str,
    now: DateTime<Utc>,
) -> Result<(db::RunRow, Vec<StatementRow>, Vec<StatementSummary>), AppError> {
    let (program_id, period) = (inputs.program_id.as_str(), inputs.period);
    let (from_s, to_s) = (period.from.to_string(), period.to.to_string());
    let run_id = uuid::Uuid::now_v7().to_string();
    let total_sites = settled.len();
    let mut new_rows = Vec::new();
    let mut summaries = Vec::with_capacity(settled.len());
    let mut total = Decimal::ZERO;
    for (site_id, s) in settled {
        let prev = inputs.previous.get(&site_id);
        let prev_statement: Option<Statement> = match prev {
            Some(row) => Some(
                serde_json::from_str(&row.body).map_err(|e| AppError::Internal(format!("stored statement: {e}")))?,
            ),
            None => None,
        };
        total += s.totals.total;
        if let (Some(row), Some(p)) = (prev, &prev_statement)
            && p.settlement == s
            && p.rule_version == inputs.rules_version
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
            program_name: inputs.program_name.clone(),
            rule_version: inputs.rules_version,
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
        id: run_id,
        program_id: program_id.into(),
        period_from: from_s,
        period_to: to_s,
        rule_version: inputs.rules_version,
        sites: total_sites as i32,
        issued: new_rows.len() as i32,
        unchanged: (total_sites - new_rows.len()) as i32,
        total: total.to_string(),
        requested_by: by.into(),
        created_date_time: to_naive(now),
    };
    Ok((run, new_rows, summaries))
}

/// Stores the run and the statements it issued, in one transaction.
fn persist(db_: &Db, run: &db::RunRow, issued: &[StatementRow], now: DateTime<Utc>) -> Result<(), AppError> {
    commit_blocking(db_, now, |c| {
        let content = (
            &run.program_id,
            &run.period_from,
            &run.period_to,
            run.rule_version,
            &run.total,
        );
        c.audited(Subject::of("SETTLEMENT_RUN", &run.id, Operation::Create, &content));
        db::insert_run(c, run, issued).map_err(|e| match e {
            StoreError::Conflict(_) => AppError::Conflict(
                "another settlement of this program and period finished first; run it again to compare with it".into(),
            ),
            e => e.into(),
        })
    })
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

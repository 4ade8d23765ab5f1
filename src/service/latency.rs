//! Keeping response-latency metrics (`event_latency`) up to date: a background pass every
//! `latency.interval_secs` recomputes the (event, site) rows whose window received telemetry since the
//! last pass, and those still waiting for their notification or acknowledgement. Metrics are derived from
//! stored data only, so any instance may compute them and a restart loses nothing.
//!
//! First sight of an event by polling (a VEN's `GET /events` returning it) is kept in memory per client,
//! recorded once, and written in batches by the same pass: the hottest read path pays no database write.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{Duration, NaiveDateTime};

use crate::config::LatencySettings;
use crate::error::AppError;
use crate::flex::latency::{self, Case, Sample, Thresholds, shift};
use crate::store::dispatch::{self as db, LatencyRow};
use crate::store::repo::{from_naive, to_naive};
use crate::store::{AnyConnection, StoreResult};

use super::AppState;

/// Telemetry rows stored out of `seq` order on PostgreSQL (concurrent commits) are caught by looking this
/// far back behind the last pass's highest `seq`.
const SEQ_MARGIN: i64 = 10_000;

/// Most (client, event) sights remembered in memory (about 16 MB).
const MAX_KNOWN: usize = 1_000_000;

fn pair_hash(client: &str, event: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (client, event).hash(&mut h);
    h.finish()
}

/// Events seen by polling clients, not yet written.
#[derive(Debug, Default)]
pub struct Seen {
    inner: Mutex<SeenInner>,
}

#[derive(Debug, Default)]
struct SeenInner {
    /// (client, event) pairs already recorded, by a 64-bit hash of the pair: a tenth of the memory of the
    /// strings. A collision (about 1 in 2^64 per pair) would only skip writing a sight the database may
    /// already hold; forgetting, past [`MAX_KNOWN`], only writes a first sight again, which the database
    /// ignores.
    known: HashSet<u64>,
    pending: Vec<(String, String, NaiveDateTime)>,
    /// The last list rendering each client was shown (a poll of an unchanged list costs one lookup).
    last_list: HashMap<String, u64>,
}

impl Seen {
    /// `client` was just shown a (cached) list of events.
    pub fn record_list(&self, client: &str, list: &super::cache::CachedList, now: chrono::DateTime<chrono::Utc>) {
        {
            let mut s = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match s.last_list.get_mut(client) {
                Some(serial) if *serial == list.serial => return,
                Some(serial) => *serial = list.serial,
                None => {
                    if s.last_list.len() > 100_000 {
                        s.last_list.clear();
                    }
                    s.last_list.insert(client.to_owned(), list.serial);
                }
            }
        }
        self.record(client, &list.ids, now);
    }

    /// `client` was just shown these events.
    pub fn record(&self, client: &str, events: &[String], now: chrono::DateTime<chrono::Utc>) {
        if events.is_empty() {
            return;
        }
        let mut s = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if s.known.len() > MAX_KNOWN {
            // Forget (not lose): a re-recorded sight is ignored by the database, which keeps the first.
            s.known = HashSet::new();
        }
        let SeenInner { known, pending, .. } = &mut *s;
        for e in events {
            if known.insert(pair_hash(client, e)) {
                pending.push((e.clone(), client.to_owned(), to_naive(now)));
            }
        }
    }

    fn take(&self) -> Vec<(String, String, NaiveDateTime)> {
        let mut s = self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        std::mem::take(&mut s.pending)
    }
}

/// Runs [`refresh`] every `interval_secs` until `stop` is cancelled (a pass under way finishes first).
pub async fn run(state: AppState, settings: LatencySettings, stop: tokio_util::sync::CancellationToken) {
    let mut watermark = Watermark::default();
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(settings.interval_secs));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = refresh(&state, &settings.thresholds(), &mut watermark).await {
            tracing::warn!(error = %e, "latency refresh failed; retrying next pass");
        }
    }
}

/// Where the previous pass stopped.
#[derive(Debug, Clone, Copy, Default)]
pub struct Watermark {
    /// Highest telemetry `seq` seen (`None` before the first pass, which recomputes every open row).
    telemetry: Option<i64>,
    /// When the previous pass looked for new events, by the wall clock that mints event ids (UUIDv7): the
    /// look is by id, not by the injectable clock's `createdDateTime`.
    events: Option<chrono::DateTime<chrono::Utc>>,
}

/// One pass: writes pending first sights, starts tracking events sent to enrolled sites outside a
/// dispatch, then recomputes what changed. Returns the rows recomputed.
pub async fn refresh(state: &AppState, th: &Thresholds, watermark: &mut Watermark) -> Result<usize, AppError> {
    let seen = state.seen.take();
    if !seen.is_empty() {
        state.commit(move |tx| Ok(db::record_seen(tx, &seen)?)).await?;
    }
    let now = state.clock.now();
    // Events are looked for a minute back from the last look (commits land out of creation order), or a
    // day back on the first pass.
    let minted_now = chrono::Utc::now();
    let look_from = watermark
        .events
        .map_or(minted_now - Duration::days(1), |t| t - Duration::minutes(1));
    let tracked = state.db.read(move |c| rows_for_new_events(c, look_from, now)).await?;
    if !tracked.is_empty() {
        state.commit(move |tx| Ok(db::insert_latency(tx, &tracked)?)).await?;
        state.views.invalidate();
    }
    watermark.events = Some(minted_now);
    let th2 = th.clone();
    let since = watermark.telemetry;
    let (rows, high) = state
        .db
        .read(move |c| {
            let high = db::max_telemetry_seq(c)?;
            let margin = Duration::seconds(th2.baseline_secs.max(th2.snapback_secs) + 3600);
            let mut dirty: HashMap<(String, String), LatencyRow> = HashMap::new();
            for r in db::open_latency_rows(c, to_naive(now), margin)? {
                // Open rows are recomputed on the first pass, and later when they still wait for news.
                if since.is_none() || r.notified_at.is_none() || r.acked_at.is_none() || r.computed_at.is_none() {
                    dirty.insert((r.event_id.clone(), r.site_id.clone()), r);
                }
            }
            if let Some(seq) = since {
                for (site, from, to, _) in db::telemetry_since(c, (seq - SEQ_MARGIN).max(0))? {
                    let (Some(from), Some(to)) = (from, to) else { continue };
                    for r in db::latency_rows_touching(c, &site, from, to, margin)? {
                        dirty.insert((r.event_id.clone(), r.site_id.clone()), r);
                    }
                }
            }
            let mut out = Vec::with_capacity(dirty.len());
            for ((event, site), row) in dirty {
                // One row that cannot be computed (data stored before a rule existed, a value past every
                // bound) is reported and left as it is: the others, and the watermark, go on.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| recompute(c, row, &th2, now))) {
                    Ok(Ok(row)) => out.push(row),
                    Ok(Err(e)) => tracing::warn!(%event, %site, error = %e, "latency row skipped"),
                    Err(_) => tracing::error!(%event, %site, "latency row skipped: its computation panicked"),
                }
            }
            Ok((out, high))
        })
        .await?;
    let n = rows.len();
    if n > 0 {
        state
            .commit(move |tx| {
                for r in &rows {
                    db::save_latency(tx, r)?;
                }
                Ok(())
            })
            .await?;
        state.views.invalidate();
    }
    watermark.telemetry = Some(high);
    Ok(n)
}

/// Latency rows for events minted since `since` that reach enrolled sites of their program and are not a
/// dispatch's (those have rows already): one per site whose ven may read the event, committed to its
/// enrollment's shed MW. Events without a start (report-only) measure nothing and are left out.
fn rows_for_new_events(
    c: &mut AnyConnection,
    since: chrono::DateTime<chrono::Utc>,
    now: chrono::DateTime<chrono::Utc>,
) -> StoreResult<Vec<LatencyRow>> {
    use crate::store::sites::{self as sites_db, EnrollmentFilter};
    let mut out = Vec::new();
    let mut enrolled: HashMap<String, Vec<(String, f64, String)>> = HashMap::new();
    for (event_id, program_id, body, targets) in db::events_created_since(c, since, to_naive(now - Duration::days(1)))?
    {
        if !enrolled.contains_key(&program_id) {
            let rows = sites_db::list_enrollments(
                c,
                &EnrollmentFilter {
                    site_id: None,
                    program_id: Some(program_id.clone()),
                },
                crate::wire::Page {
                    skip: 0,
                    limit: i64::MAX,
                },
            )?;
            let mut sites = Vec::new();
            for e in rows {
                if let Some(client) = sites_db::client_of_site(c, &e.site_id)? {
                    sites.push((e.site_id, e.shed_mw.parse::<f64>().unwrap_or(0.0), client));
                }
            }
            enrolled.insert(program_id.clone(), sites);
        }
        let sites = &enrolled[&program_id];
        if sites.is_empty() || db::has_latency(c, &event_id)? {
            continue;
        }
        let Ok(req) = serde_json::from_str::<crate::wire::EventRequest>(&body) else {
            continue;
        };
        let Some(start) = req
            .interval_period
            .as_ref()
            .and_then(|p| p.start.as_ref())
            .filter(|s| !s.is_now_marker())
            .map(|s| s.0)
        else {
            continue;
        };
        let end = super::events::event_end(&req, now);
        let targets: Vec<String> = targets
            .map(|t| serde_json::from_str(&t))
            .transpose()?
            .unwrap_or_default();
        let readers: Option<HashSet<String>> = if targets.is_empty() {
            None
        } else {
            Some(
                crate::store::repo::granted_targets_among(c, &targets)?
                    .into_keys()
                    .collect(),
            )
        };
        for (site_id, shed, client) in sites {
            if readers.as_ref().is_some_and(|r| !r.contains(client)) || *shed <= 0.0 {
                continue;
            }
            out.push(LatencyRow::new(
                event_id.clone(),
                site_id.clone(),
                *shed,
                false,
                to_naive(start),
                end.map(to_naive),
            ));
        }
    }
    Ok(out)
}

/// Brings one row up to date from what is stored.
fn recompute(
    c: &mut AnyConnection,
    mut row: LatencyRow,
    th: &Thresholds,
    now: chrono::DateTime<chrono::Utc>,
) -> StoreResult<LatencyRow> {
    if let Some(client) = crate::store::sites::client_of_site(c, &row.site_id)? {
        record_notice(c, &mut row, &client)?;
    }
    let start = from_naive(row.event_start);
    let end = row.event_end.map(from_naive);
    let reference = row.notified_at.map(from_naive).unwrap_or(start).min(start);
    // The baseline window, and a quarter of an hour before it for a site that reported nothing in it.
    let from = shift(reference, -Duration::seconds(th.baseline_secs + 900));
    let to = end
        .map_or(now, |e| shift(e, Duration::seconds(th.snapback_secs)))
        .min(shift(now, Duration::seconds(1)));
    let samples = load_samples(c, &row.site_id, from, to)?;
    let m = latency::compute(
        &Case {
            event_start: start,
            event_end: end,
            notified: row.notified_at.map(from_naive),
            first_report: row.acked_at.map(from_naive),
            committed_mw: row.committed_mw,
            load_up: row.load_up,
            samples: &samples,
        },
        th,
    );
    row.baseline_mw = m.baseline_mw;
    row.t_ack_secs = m.t_ack_secs;
    row.t_start_secs = m.t_start_secs;
    row.t10_secs = m.t10_secs;
    row.t50_secs = m.t50_secs;
    row.t90_secs = m.t90_secs;
    row.t100_secs = m.t100_secs;
    row.ramp_mw_per_min = m.ramp_mw_per_min.filter(|r| r.is_finite());
    row.sustain = m.sustain;
    row.snapback_mw = m.snapback_mw;
    row.early_mw = m.early_mw;
    row.max_reduction_mw = m.max_reduction_mw;
    let last = samples.iter().rev().find(|s| s.at <= now);
    row.last_load_mw = last.map(|s| s.mw);
    row.last_load_at = last.map(|s| to_naive(s.at));
    row.computed_at = Some(to_naive(now));
    Ok(row)
}

/// When the site's VEN first heard of the event (pushed or polled, whichever came first) and first reported on it.
fn record_notice(c: &mut AnyConnection, row: &mut LatencyRow, client: &str) -> StoreResult<()> {
    let delivered = db::first_delivery(c, &row.event_id, client)?;
    let polled = db::first_seen(c, &row.event_id, client)?;
    let (at, via) = match (delivered, polled) {
        (Some((d, _)), Some(p)) if p < d => (Some(p), Some("POLL".to_owned())),
        (Some((d, ch)), _) => (Some(d), Some(ch)),
        (None, Some(p)) => (Some(p), Some("POLL".to_owned())),
        (None, None) => (None, None),
    };
    // The first notice found now, or the one found before: notifications are pruned after their
    // retention, and a late report recomputing an old row must not lose when its VEN was notified.
    if row.notified_at.is_none() || at.is_some_and(|at| row.notified_at.is_some_and(|was| at < was)) {
        row.notified_at = at;
        row.notified_via = via;
    }
    row.acked_at = db::first_report(c, &row.event_id, client)?;
    Ok(())
}

/// A site's load from `from` to `to`: its DEMAND samples, or, when it reports no DEMAND, the average power
/// of each energy interval it reported.
fn load_samples(
    c: &mut AnyConnection,
    site_id: &str,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> StoreResult<Vec<Sample>> {
    let raw = db::load_samples(c, site_id, to_naive(from), to_naive(to))?;
    let has_demand = raw.iter().any(|(t, ..)| t == "DEMAND");
    Ok(raw
        .into_iter()
        .filter_map(|(t, s, e, v)| match t.as_str() {
            "DEMAND" => Some(Sample {
                at: from_naive(s),
                mw: v,
            }),
            _ if !has_demand => {
                let hours = (e? - s).num_milliseconds() as f64 / 3_600_000.0;
                (hours > 0.0).then(|| Sample {
                    at: from_naive(s),
                    mw: v / hours,
                })
            }
            _ => None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::cache::CachedList;
    use chrono::TimeZone;

    fn ids(v: &[&str]) -> std::sync::Arc<[String]> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn each_event_is_recorded_once_per_client_at_its_first_sight() {
        let seen = Seen::default();
        let t = |s| chrono::Utc.with_ymd_and_hms(2027, 7, 1, 12, 0, s).unwrap();
        let first = CachedList::new(bytes::Bytes::new(), ids(&["e1", "e2"]));
        seen.record_list("ven-a", &first, t(0));
        seen.record_list("ven-a", &first, t(1)); // the same rendering again
        seen.record_list("ven-b", &first, t(2));
        let next = CachedList::new(bytes::Bytes::new(), ids(&["e1", "e2", "e3"]));
        seen.record_list("ven-a", &next, t(3));
        let mut got: Vec<(String, String, u32)> = seen
            .take()
            .into_iter()
            .map(|(e, c, at)| (e, c, chrono::Timelike::second(&at)))
            .collect();
        got.sort();
        let want = [
            ("e1", "ven-a", 0),
            ("e1", "ven-b", 2),
            ("e2", "ven-a", 0),
            ("e2", "ven-b", 2),
            ("e3", "ven-a", 3),
        ];
        let want: Vec<(String, String, u32)> = want
            .iter()
            .map(|(e, c, s)| (e.to_string(), c.to_string(), *s))
            .collect();
        assert_eq!(got, want);
        assert!(seen.take().is_empty(), "taken once");
    }
}

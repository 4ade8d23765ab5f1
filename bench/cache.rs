//! Read-cache memory benchmark (driven by `bench/cache.sh`): the server's state in this process, on an
//! injected clock, asked what VENs ask. Prints the process's resident memory (VmRSS) as it goes:
//!
//!   1. `GET /events?skip=N` by one VEN, a new N every time (each a new cache key);
//!   2. an hour of `GET /events?active=true` by every site VEN every 5 s of the injected clock, with events
//!      ending every few minutes (each VEN its own grants, so its own cache entries), and the latency
//!      pass writing what they were shown, as the server runs it.
//!
//! Both must leave memory flat: the cache holds what its byte budget says, and is not keyed on the clock.
//!
//!   bench-cache [--database URL] [--requests 100000] [--vens 1000] [--minutes 60]

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

use std::sync::Arc;

use chrono::{TimeDelta, TimeZone, Utc};
use serde_json::json;
use sluice::auth::{Principal, Role};
use sluice::clock::ManualClock;
use sluice::service::events;
use sluice::service::{programs, vens};
use sluice::wire::query::{EventQuery, from_query};

fn opt(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| default.to_owned())
}

/// Resident memory of this process, MB.
fn rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn principal(client: &str, role: Role) -> Principal {
    Principal::of_role(client.to_owned(), role)
}

/// (first, last, largest − smallest) of the samples after the warm-up one, MB.
fn spread(samples: &[f64]) -> (f64, f64, f64) {
    let steady = &samples[1.min(samples.len() - 1)..];
    let max = steady.iter().copied().fold(f64::MIN, f64::max);
    let min = steady.iter().copied().fold(f64::MAX, f64::min);
    (steady[0], steady[steady.len() - 1], max - min)
}

#[actix_rt::main]
async fn main() {
    let requests: usize = opt("--requests", "100000").parse().unwrap();
    let ven_count: usize = opt("--vens", "1000").parse().unwrap();
    let minutes: i64 = opt("--minutes", "60").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let default_db = format!("sqlite://{}", dir.path().join("cache.db").display());
    let mut settings = sluice::config::Settings::default();
    settings.database.url = opt("--database", &default_db);
    settings.latency.interval_secs = 86_400;
    settings.notifications.deliver = false;
    let start = Utc.with_ymd_and_hms(2027, 7, 1, 12, 0, 0).unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let state = sluice::startup::build_state(&settings, clock.clone(), true)
        .await
        .unwrap();
    let bl = principal("bench-operator", Role::Operator);

    eprintln!("seeding {ven_count} site VENs and 300 events…");
    let program = programs::create(&state, serde_json::from_value(json!({"programName": "ERS"})).unwrap())
        .await
        .unwrap()
        .id;
    let mut site_vens = Vec::with_capacity(ven_count);
    for i in 0..ven_count {
        let client = format!("site-{i}");
        let req = json!({"objectType": "BL_VEN_REQUEST", "clientID": client, "venName": client,
                         "targets": [format!("site:{i}"), format!("zone:{}", i % 10)]});
        vens::create(&state, &bl, serde_json::from_value(req).unwrap())
            .await
            .unwrap();
        site_vens.push(principal(&client, Role::Ven));
    }
    // 300 events: a third for everyone, the rest for one zone each; one ends every 2 minutes of the hour.
    for i in 0..300i64 {
        let begin = start + TimeDelta::minutes(i % 30);
        let mut ev = json!({"programID": program, "eventName": format!("e{i}"),
            "intervalPeriod": {"start": begin.to_rfc3339(), "duration": format!("PT{}M", 2 * (i % 30) + 2 + i / 30)},
            "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [5000]}]}]});
        if i % 3 != 0 {
            ev["targets"] = json!([format!("zone:{}", i % 10)]);
        }
        events::create(&state, serde_json::from_value(ev).unwrap())
            .await
            .unwrap();
    }
    let mut out = Vec::new();

    eprintln!("phase 1: {requests} lists, each with a new skip…");
    let mut samples = vec![rss_mb()];
    let one = &site_vens[0];
    for n in 0..requests {
        let q: EventQuery = from_query(&format!("skip={n}&limit=50")).unwrap();
        events::list(&state, one, q).await.unwrap();
        if (n + 1) % (requests / 10).max(1) == 0 {
            samples.push(rss_mb());
            eprintln!("  {:>7} lists   RSS {:6.1} MB", n + 1, samples[samples.len() - 1]);
        }
    }
    let (first, last, range) = spread(&samples);
    out.push(format!(
        "distinct queries: {requests} lists, RSS {first:.1} -> {last:.1} MB, range {range:.1} MB"
    ));

    let rounds = minutes * 12;
    eprintln!("phase 2: {minutes} min of active=true polling by {ven_count} VENs every 5 s ({rounds} rounds)…");
    let mut samples = vec![rss_mb()];
    let thresholds = settings.latency.thresholds();
    let mut watermark = sluice::service::latency::Watermark::default();
    for round in 0..rounds {
        for ven in &site_vens {
            let active: EventQuery = from_query("active=true&limit=50").unwrap();
            events::list(&state, ven, active).await.unwrap();
        }
        // The server's latency pass, every 5 s by default, writes what VENs were shown.
        sluice::service::latency::refresh(&state, &thresholds, &mut watermark)
            .await
            .unwrap();
        clock.advance(TimeDelta::seconds(5));
        if (round + 1) % (rounds / 12).max(1) == 0 {
            samples.push(rss_mb());
            eprintln!(
                "  minute {:>3}   RSS {:6.1} MB",
                (round + 1) / 12,
                samples[samples.len() - 1]
            );
        }
    }
    let (first, last, range) = spread(&samples);
    out.push(format!(
        "active polling: {} lists, RSS {first:.1} -> {last:.1} MB, range {range:.1} MB",
        rounds as usize * ven_count
    ));
    for line in out {
        println!("{line}");
    }
}

//! Settlement benchmark fixture (driven by `bench/settle.sh`): over a running VTN's HTTP API, a program
//! with N mining sites (a ven, a site and an enrollment each) and dispatches of the whole fleet on two
//! days of the period; and a canonical meter-data CSV of every site's quarter hours over the period,
//! curtailing in those events, for `sluice import meter`.
//!
//!   bench-settle --vtn http://127.0.0.1:18094 --operator ID:SECRET --sites 10000 --from 2026-12-01 \
//!          --days 30 --csv meter.csv    (prints the program id)

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "a benchmark fails loudly")]

#[path = "common.rs"]
mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, TimeDelta};
use common::{arg, token};
use futures_util::StreamExt;
use futures_util::stream;
use serde_json::{Value, json};

/// Events: 16:00–17:00 UTC on these days of the period (the 15th and 22nd of a month starting on the 1st).
const EVENT_DAYS: [i64; 2] = [14, 21];
const FSL_MW: i64 = 10;

/// A site's normal draw, MW: 30–49 by site, 10% more from 12:00 to 20:00 UTC.
fn base_mw(site: usize, minute_of_day: i64) -> f64 {
    let b = 30.0 + (site % 20) as f64;
    if (720..1200).contains(&minute_of_day) {
        b * 1.1
    } else {
        b
    }
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: Value) -> Value {
    let r = http.post(url).bearer_auth(token).json(&body).send().await.unwrap();
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{status}: {v}");
    v
}

fn write_csv(path: &str, sites: usize, from: NaiveDate, days: i64) -> u64 {
    let file = std::fs::File::create(path).unwrap();
    let mut w = std::io::BufWriter::with_capacity(1 << 22, file);
    writeln!(
        w,
        "site_id,meter_id,channel,interval_start_utc,interval_end_utc,kwh,quality,source"
    )
    .unwrap();
    let mut rows = 0u64;
    let started = Instant::now();
    for s in 0..sites {
        for d in 0..days {
            let day = from + TimeDelta::days(d);
            let event_day = EVENT_DAYS.contains(&d);
            for q in 0..96i64 {
                let minute = q * 15;
                let start = day.and_hms_opt(0, 0, 0).unwrap() + TimeDelta::minutes(minute);
                let end = start + TimeDelta::minutes(15);
                let in_event = event_day && (960..1020).contains(&minute);
                // A little site- and interval-specific noise, deterministic.
                let noise = ((s * 7 + (d as usize) * 13 + q as usize * 3) % 11) as f64 / 10.0;
                let mw = if in_event {
                    FSL_MW as f64 + noise
                } else {
                    base_mw(s, minute) + noise
                };
                writeln!(
                    w,
                    "bench-{s:05},M{s:05},delivered,{}Z,{}Z,{:.3},A,revenue",
                    start.format("%Y-%m-%dT%H:%M:%S"),
                    end.format("%Y-%m-%dT%H:%M:%S"),
                    mw * 250.0
                )
                .unwrap();
                rows += 1;
            }
        }
        if (s + 1) % 1000 == 0 {
            eprint!(
                "\r  meter CSV: {} of {sites} sites ({:.0} rows/s)   ",
                s + 1,
                rows as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    w.flush().unwrap();
    eprintln!();
    rows
}

#[actix_web::main]
async fn main() {
    let vtn = arg("--vtn");
    let (id, secret) = {
        let o = arg("--operator");
        let (a, b) = o.split_once(':').unwrap();
        (a.to_owned(), b.to_owned())
    };
    let sites: usize = arg("--sites").parse().unwrap();
    let from: NaiveDate = arg("--from").parse().unwrap();
    let days: i64 = arg("--days").parse().unwrap();
    let csv = arg("--csv");
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .timeout(Duration::from_secs(900))
        .build()
        .unwrap();
    let op = token(&http, &vtn, &id, &secret).await;

    let program = post(
        &http,
        format!("{vtn}/programs"),
        &op,
        json!({"programName": format!("bench-settle-{}", uuid::Uuid::new_v4().simple())}),
    )
    .await;
    let program = program["id"].as_str().unwrap().to_owned();

    let started = Instant::now();
    let created: Vec<()> = stream::iter(0..sites)
        .map(|s| {
            let (http, vtn, op, program) = (http.clone(), vtn.clone(), op.clone(), program.clone());
            async move {
                let name = format!("bench-{s:05}");
                let client = post(&http, format!("{vtn}/ops/clients"), &op, json!({"name": name})).await;
                let ven = post(
                    &http,
                    format!("{vtn}/vens"),
                    &op,
                    json!({"objectType": "BL_VEN_REQUEST", "clientID": client["client_id"], "venName": name}),
                )
                .await;
                let site = post(
                    &http,
                    format!("{vtn}/ops/sites"),
                    &op,
                    json!({"siteName": name, "venID": ven["id"], "kind": "MINING", "maxImportMW": "60", "meterID": format!("M{s:05}")}),
                )
                .await;
                let shed = 30 + (s % 20) as i64 - FSL_MW;
                post(
                    &http,
                    format!("{vtn}/ops/enrollments"),
                    &op,
                    json!({"siteID": site["id"], "programID": program, "shedMW": shed.to_string(),
                           "firmServiceLevelMW": FSL_MW.to_string(), "offerPrice": "50", "notice": "PT5M",
                           "ramp": "PT5M", "start": "2026-01-01T00:00:00Z"}),
                )
                .await;
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    eprintln!(
        "  {} sites enrolled in {:.1} s",
        created.len(),
        started.elapsed().as_secs_f64()
    );

    // The whole fleet, on each event day, in dispatches of a quarter of its MW each.
    let fleet_mw: i64 = (0..sites).map(|s| 30 + (s % 20) as i64 - FSL_MW).sum();
    for d in EVENT_DAYS {
        let start = (from + TimeDelta::days(d)).and_hms_opt(16, 0, 0).unwrap();
        for _ in 0..4 {
            let t = Instant::now();
            let r = post(
                &http,
                format!("{vtn}/ops/dispatches"),
                &op,
                json!({"programID": program, "targetMW": (fleet_mw / 4 + 40).to_string(),
                       "start": format!("{}Z", start.format("%Y-%m-%dT%H:%M:%S")), "duration": "PT1H"}),
            )
            .await;
            eprintln!(
                "  dispatch on {}: {} sites in {:.1} s",
                start.date(),
                r["sites"].as_array().map_or(0, Vec::len),
                t.elapsed().as_secs_f64()
            );
        }
    }
    let rows = write_csv(&csv, sites, from, days);
    eprintln!("  {rows} meter rows written to {csv}");
    println!("{program}");
}

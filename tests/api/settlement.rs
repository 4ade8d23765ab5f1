//! Settlement as an analyst uses it: meter data and prices in, rules set, a program settled,
//! statements exported, a true-up after revised meter data. The numbers are the worked example of
//! docs/demand-response.md, "Settlement".

use serde_json::{Value, json};

use crate::support::{As, TestApp, program, ven_object};

/// The worked example's site: 50 MW, 40 MW committed, FSL 10, enrolled in a new program; returns (program, site).
async fn example_site(app: &TestApp, bl: &As) -> (String, String) {
    let (program, site, _) = example_site_and_ven(app, bl).await;
    (program, site)
}

/// [`example_site`], with the site's VEN.
async fn example_site_and_ven(app: &TestApp, bl: &As) -> (String, String, As) {
    let ers = program(bl, "ERS-summer", &[]).await;
    let ven = app.ven("mine-1");
    let ven_id = ven_object(bl, &ven, "mine-1", &[]).await;
    let r = bl
        .post(
            "/ops/sites",
            &json!({"siteName": "mine-1", "venID": ven_id, "kind": "MINING", "maxImportMW": "50", "meterID": "M-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let site = r.id();
    let r = bl
        .post(
            "/ops/enrollments",
            &json!({"siteID": site, "programID": ers, "shedMW": "40", "firmServiceLevelMW": "10", "offerPrice": "50",
                    "notice": "PT5M", "ramp": "PT5M", "start": "2026-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (ers, site, ven)
}

/// Quarter hours from 16:00 on 1 July at the given MW, as canonical CSV rows of kWh.
fn meter_csv(site: &str, mw: &[&str]) -> String {
    meter_csv_from(site, 16, mw)
}

/// Quarter hours from `hour` o'clock on 1 July at the given MW, as canonical CSV rows of kWh.
fn meter_csv_from(site: &str, hour: usize, mw: &[&str]) -> String {
    let mut out = String::from("site_id,meter_id,channel,interval_start_utc,interval_end_utc,kwh,quality,source\n");
    for (q, mw) in mw.iter().enumerate() {
        let (h, m) = (hour + q / 4, (q % 4) * 15);
        let (eh, em) = (hour + (q + 1) / 4, ((q + 1) % 4) * 15);
        let kwh: rust_decimal::Decimal =
            mw.parse::<rust_decimal::Decimal>().unwrap() * rust_decimal::Decimal::from(250);
        out.push_str(&format!(
            "{site},M-1,delivered,2026-07-01T{h:02}:{m:02}:00Z,2026-07-01T{eh:02}:{em:02}:00Z,{kwh},A,revenue\n"
        ));
    }
    out
}

const PRICES: &str = "series,interval_start_utc,interval_end_utc,price\n\
HB_NORTH,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,1200\n\
HB_NORTH,2026-07-01T16:15:00Z,2026-07-01T16:30:00Z,2500\n\
HB_NORTH,2026-07-01T16:30:00Z,2026-07-01T16:45:00Z,3000\n\
HB_NORTH,2026-07-01T16:45:00Z,2026-07-01T17:00:00Z,1800\n";

fn rules() -> Value {
    json!({
        "baseline": {"method": "FIRM_SERVICE_LEVEL"},
        "energyPrice": {"series": "HB_NORTH"},
        "capacityRatePerMWMonth": "5000",
        "shortfall": {"rule": "PRO_RATA"}
    })
}

/// One field of every interval line of a statement's event.
fn column<'a>(event: &'a Value, name: &str) -> Vec<&'a str> {
    event["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l[name].as_str().unwrap())
        .collect()
}

async fn settle(bl: &As, program: &str) -> Value {
    let r = bl
        .post(
            "/ops/settlements",
            &json!({"programID": program, "from": "2026-07-01", "to": "2026-07-31"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

/// Sets the program's rules, settles July and returns the one site's statement.
async fn settled_with(bl: &As, program: &str, rules: &Value) -> crate::support::Resp {
    let r = bl
        .put(&format!("/ops/programs/{program}/settlement-rules"), rules)
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let run = settle(bl, program).await;
    let id = run["statements"][0]["statementID"].as_str().unwrap();
    bl.get(&format!("/ops/statements/{id}")).await
}

/// Dispatches the site for 16:00–17:00 on 1 July (the clock is at 12:00); returns the plan.
async fn dispatch(bl: &As, program: &str) -> Value {
    let r = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": program, "targetMW": "40", "start": "2026-07-01T16:00:00Z", "duration": "PT1H"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    r.body
}

#[actix_rt::test]
async fn an_analyst_imports_meter_data_settles_and_exports_the_worked_example() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (ers, site) = example_site(&app, &bl).await;
    dispatch(&bl, &ers).await;
    let r = bl
        .post_raw(
            "/ops/meter-data?fileName=july.csv",
            "text/csv",
            meter_csv("mine-1", &["12", "10", "10", "12"]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["readings"].as_u64(), r.body["newIntervals"].as_u64()),
        (Some(4), Some(4))
    );
    assert_eq!(r.body["fileName"], "july.csv");
    let r = bl.post_raw("/ops/prices", "text/csv", PRICES).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["points"], 4);
    let r = bl.put(&format!("/ops/programs/{ers}/settlement-rules"), &rules()).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["version"], 1);

    let run = settle(&bl, &ers).await;
    assert_eq!((run["sites"].as_i64(), run["issued"].as_i64()), (Some(1), Some(1)));
    assert_eq!(run["total"], "278500.00");
    let id = run["statements"][0]["statementID"].as_str().unwrap().to_owned();
    assert_eq!(run["statements"][0]["siteID"], site.as_str());

    let s = bl.get(&format!("/ops/statements/{id}")).await;
    assert_eq!(s.status, 200, "{}", s.text);
    let ev = &s.body["events"][0];
    assert_eq!(column(ev, "creditedMWh"), ["9.5", "10", "10", "9.5"]);
    assert_eq!(ev["energyAmount"], "83500.00");
    assert_eq!(ev["performanceFactor"], "0.975");
    assert_eq!(s.body["totals"]["capacityAmount"], "195000.00");
    assert_eq!(s.body["kind"], "INITIAL");
    assert_eq!(s.body["meterID"], "M-1");

    let csv = bl.get(&format!("/ops/statements/{id}?format=csv")).await;
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    assert!(csv.header("content-disposition").unwrap().contains(".csv"));
    let total_row = csv.text.lines().find(|l| l.contains(",TOTAL,")).unwrap();
    assert!(total_row.ends_with(",278500.00"), "{total_row}");
    let xml = bl.get(&format!("/ops/statements/{id}?format=xml")).await;
    assert!(xml.text.contains("total=\"278500.00\""), "{}", xml.text);
    let chart = bl.get(&format!("/ops/statements/{id}/chart")).await;
    assert_eq!(chart.status, 200);
    assert_eq!(chart.header("content-type"), Some("image/svg+xml"));
    assert!(chart.text.starts_with("<svg"));

    // The run's statements in one file, as billing imports them.
    let run_id = run["runID"].as_str().unwrap();
    let all = bl
        .get(&format!("/ops/settlements/{run_id}/statements?format=csv"))
        .await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.text.lines().filter(|l| l.contains(",TOTAL,")).count(), 1);
    assert_eq!(all.text.lines().next(), csv.text.lines().next());
    bl.get("/ops/settlements/nope/statements").await.assert_problem(404);

    // Same inputs, same statement: nothing new is issued.
    let again = settle(&bl, &ers).await;
    assert_eq!(
        (again["issued"].as_i64(), again["unchanged"].as_i64()),
        (Some(0), Some(1))
    );
    assert_eq!(again["statements"][0]["statementID"], id.as_str());
    let same = bl.get(&format!("/ops/statements/{id}")).await;
    assert_eq!(same.text, s.text, "a stored statement is byte for byte what it was");
}

#[actix_rt::test]
async fn revised_meter_data_issues_a_true_up_and_keeps_the_first_statement() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (ers, _) = example_site(&app, &bl).await;
    dispatch(&bl, &ers).await;
    assert_eq!(
        bl.post_raw(
            "/ops/meter-data",
            "text/csv",
            meter_csv("mine-1", &["12", "10", "10", "12"])
        )
        .await
        .status,
        201
    );
    assert_eq!(bl.post_raw("/ops/prices", "text/csv", PRICES).await.status, 201);
    assert_eq!(
        bl.put(&format!("/ops/programs/{ers}/settlement-rules"), &rules())
            .await
            .status,
        201
    );
    let first = settle(&bl, &ers).await;
    let v1 = first["statements"][0]["statementID"].as_str().unwrap().to_owned();
    let before = bl.get(&format!("/ops/statements/{v1}")).await.text;

    // The meter company revises 16:15: the site drew 20 MW, not 10.
    let r = bl
        .post_raw(
            "/ops/meter-data",
            "text/csv",
            meter_csv("mine-1", &["12", "20", "10", "12"]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (
            r.body["revisedIntervals"].as_u64(),
            r.body["unchangedIntervals"].as_u64()
        ),
        (Some(1), Some(3))
    );
    assert_eq!(r.body["versionsWritten"], 1);

    let second = settle(&bl, &ers).await;
    assert_eq!(second["issued"], 1);
    let st = &second["statements"][0];
    assert_eq!(
        (st["version"].as_i64(), st["kind"].as_str()),
        (Some(2), Some("TRUE_UP"))
    );
    assert_eq!(st["supersedes"], v1.as_str());
    let v2 = bl
        .get(&format!("/ops/statements/{}", st["statementID"].as_str().unwrap()))
        .await;
    // 16:15 now credits 30 MW × 0.25 h = 7.5 MWh × 2500 = 18,750 (was 25,000); PF 36.5/40 = 0.9125 →
    // capacity 182,500 (was 195,000): 18,750 less in all.
    let tu = &v2.body["trueUp"];
    assert_eq!(tu["deltaTotal"], "-18750.00");
    assert_eq!(tu["previousTotal"], "278500.00");
    assert_eq!(tu["changedIntervals"].as_array().unwrap().len(), 1);
    assert_eq!(tu["changedIntervals"][0]["amount"], "18750.00");
    assert_eq!(v2.body["totals"]["total"], "259750.00");
    // Version 1 is still there, unchanged; so is the first version of the meter day.
    assert_eq!(bl.get(&format!("/ops/statements/{v1}")).await.text, before);
    let site = st["siteID"].as_str().unwrap();
    let days = bl
        .get(&format!("/ops/sites/{site}/meter-data?from=2026-07-01&to=2026-07-01"))
        .await;
    assert_eq!(days.status, 200, "{}", days.text);
    let versions: Vec<(i64, &str)> = days
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["version"].as_i64().unwrap(), d["kwh"][65].as_str().unwrap()))
        .collect();
    // 16:15 is the day's 66th quarter hour: 5000 kWh now, 2500 before.
    assert_eq!(versions, [(2, "5000"), (1, "2500")]);
    assert_eq!(days.body[0]["totalKWh"], "13500");
    let list = bl.get(&format!("/ops/statements?programID={ers}")).await;
    let versions: Vec<i64> = list
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [2, 1]);
}

#[actix_rt::test]
async fn a_meter_file_with_bad_rows_is_refused_whole_with_every_line_named() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let _ = example_site(&app, &bl).await;
    let file = "site_id,interval_start_utc,interval_end_utc,kwh\n\
                mine-1,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,3000\n\
                mine-1,2026-07-01T16:15:00Z,2026-07-01T16:30:00Z,lots\n\
                nowhere,2026-07-01T16:30:00Z,2026-07-01T16:45:00Z,1\n";
    let r = bl.post_raw("/ops/meter-data", "text/csv", file).await;
    r.assert_problem(400);
    let lines: Vec<u64> = r.body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 4], "{}", r.text);
    assert!(r.body["errors"][1]["message"].as_str().unwrap().contains("nowhere"));
    // Nothing was kept: the good first row is new when sent again alone.
    let good =
        "site_id,interval_start_utc,interval_end_utc,kwh\nmine-1,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,3000\n";
    let r = bl.post_raw("/ops/meter-data", "text/csv", good).await;
    assert_eq!(r.body["newIntervals"], 1, "{}", r.text);
    bl.post_raw("/ops/meter-data", "application/pdf", "%PDF")
        .await
        .assert_problem(415);
    let green_button_without_site = bl.post_raw("/ops/meter-data", "application/atom+xml", "<feed/>").await;
    green_button_without_site.assert_problem(400);
}

#[actix_rt::test]
async fn a_green_button_file_is_read_with_its_units_and_a_repeat_changes_nothing() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let _ = example_site(&app, &bl).await;
    let xml = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/greenbutton/test_usage_data.xml"
    ))
    .unwrap();
    let r = bl
        .post_raw("/ops/meter-data?site=mine-1", "application/atom+xml", xml.clone())
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(
        (r.body["format"].as_str(), r.body["readings"].as_u64()),
        (Some("greenbutton"), Some(1340))
    );
    assert_eq!(r.body["newIntervals"], 1340);
    let r = bl
        .post_raw("/ops/meter-data?site=mine-1", "application/atom+xml", xml)
        .await;
    assert_eq!(
        (
            r.body["unchangedIntervals"].as_u64(),
            r.body["versionsWritten"].as_u64()
        ),
        (Some(1340), Some(0))
    );
}

#[actix_rt::test]
async fn settlement_needs_rules_that_make_sense_and_is_for_operators_only() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (ers, _) = example_site(&app, &bl).await;
    let r = bl
        .post(
            "/ops/settlements",
            &json!({"programID": ers, "from": "2026-07-01", "to": "2026-07-31"}),
        )
        .await;
    r.assert_problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("settlement-rules"));
    let bad = json!({"baseline": {"method": "PJM_HIGH_4_OF_5", "keepDays": 9}, "energyPrice": {},
                     "shortfall": {"rule": "PRO_RATA"}});
    bl.put(&format!("/ops/programs/{ers}/settlement-rules"), &bad)
        .await
        .assert_problem(400);
    bl.put("/ops/programs/nope/settlement-rules", &rules())
        .await
        .assert_problem(404);
    bl.get(&format!("/ops/programs/{ers}/settlement-rules"))
        .await
        .assert_problem(404);
    let r = bl
        .post(
            "/ops/settlements",
            &json!({"programID": ers, "from": "2026-07-31", "to": "2026-07-01"}),
        )
        .await;
    r.assert_problem(400);
    let ven = app.ven("mine-1");
    ven.post(
        "/ops/settlements",
        &json!({"programID": ers, "from": "2026-07-01", "to": "2026-07-31"}),
    )
    .await
    .assert_problem(403);
    ven.get("/ops/statements").await.assert_problem(403);
    ven.post_raw("/ops/meter-data", "text/csv", "site_id\n")
        .await
        .assert_problem(403);
    let twice = format!("{PRICES}HB_NORTH,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,99\n");
    let r = bl.post_raw("/ops/prices", "text/csv", twice).await;
    r.assert_problem(400);
    assert_eq!(r.body["errors"][0]["line"], 6, "{}", r.text);
    bl.get("/ops/statements/nope").await.assert_problem(404);
}

#[actix_rt::test]
async fn where_meter_data_is_missing_the_sites_own_reports_stand_in_flagged_estimated() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (ers, _, ven) = example_site_and_ven(&app, &bl).await;
    let plan = dispatch(&bl, &ers).await;
    let event = plan["sites"][0]["eventID"].as_str().unwrap().to_owned();
    // The meter gave only the first half hour; the site reported its power for the rest of the event.
    assert_eq!(
        bl.post_raw("/ops/meter-data", "text/csv", meter_csv("mine-1", &["12", "10"]))
            .await
            .status,
        201
    );
    let report = json!({
        "eventID": event, "clientName": "mine-1",
        "payloadDescriptors": [{"payloadType": "DEMAND", "units": "MW"}],
        "resources": [{"resourceName": "SITE", "intervals": [
            {"id": 0, "intervalPeriod": {"start": "2026-07-01T16:30:00Z", "duration": "PT15M"},
             "payloads": [{"type": "DEMAND", "values": [10.0]}]}
        ]}]
    });
    // 16:45 is reported as energy: 3 MWh in the quarter hour is 12 MW.
    let usage = json!({
        "eventID": event, "clientName": "mine-1",
        "payloadDescriptors": [{"payloadType": "USAGE", "units": "MWH"}],
        "resources": [{"resourceName": "SITE", "intervals": [
            {"id": 0, "intervalPeriod": {"start": "2026-07-01T16:45:00Z", "duration": "PT15M"},
             "payloads": [{"type": "USAGE", "values": [3.0]}]}
        ]}]
    });
    assert_eq!(ven.post("/reports", &usage).await.status, 201);
    let r = ven.post("/reports", &report).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let mut fixed = rules();
    fixed["energyPrice"] = json!({"fixedPerMWh": "100"});
    let s = settled_with(&bl, &ers, &fixed).await;
    let lines = s.body["events"][0]["intervals"].as_array().unwrap().clone();
    let got: Vec<(&str, &str)> = lines
        .iter()
        .map(|l| (l["quality"].as_str().unwrap(), l["creditedMWh"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [("A", "9.5"), ("A", "10"), ("E", "10"), ("E", "9.5")],
        "{}",
        s.text
    );

    // Without the fallback, the gap is missing and earns nothing.
    fixed["telemetryFallback"] = json!(false);
    let s = settled_with(&bl, &ers, &fixed).await;
    assert_eq!(s.body["events"][0]["intervals"][2]["quality"], "M");
    assert_eq!(s.body["events"][0]["intervals"][2]["creditedMWh"], "0");
    assert_eq!(s.body["ruleVersion"], 2);
}

/// Every real dispatch is noticed at a fraction of a second (19:50:00.37): a meter-before baseline anchored
/// there is still exactly the load metered, and the money follows to the cent.
#[actix_rt::test]
async fn a_meter_before_baseline_anchored_on_a_fractional_second_notice_is_exact() {
    use chrono::TimeZone;
    let app = TestApp::new().await;
    let notice = chrono::Utc.with_ymd_and_hms(2026, 7, 1, 15, 50, 0).unwrap() + chrono::TimeDelta::milliseconds(370);
    app.clock.set(notice);
    let bl = app.bl();
    let (ers, _) = example_site(&app, &bl).await;
    dispatch(&bl, &ers).await;
    // 42 MW flat from 14:00 until the event, 12 MW during it.
    let mut mw = vec!["42"; 8];
    mw.extend(["12"; 4]);
    let r = bl
        .post_raw("/ops/meter-data", "text/csv", meter_csv_from("mine-1", 14, &mw))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(bl.post_raw("/ops/prices", "text/csv", PRICES).await.status, 201);
    let rules = json!({
        "baseline": {"method": "METER_BEFORE", "anchor": "NOTICE", "windowMinutes": 60},
        "energyPrice": {"series": "HB_NORTH"},
        "capacityRatePerMWMonth": "5000",
        "shortfall": {"rule": "PRO_RATA"}
    });
    let s = settled_with(&bl, &ers, &rules).await;
    assert_eq!(s.status, 200, "{}", s.text);
    let ev = &s.body["events"][0];
    assert_eq!(column(ev, "baselineMW"), ["42"; 4]);
    // 30 MW off for each quarter hour: 7.5 MWh at 1200, 2500, 3000 and 1800.
    assert_eq!(column(ev, "creditedMWh"), ["7.5"; 4]);
    assert_eq!(ev["energyAmount"], "63750.00");
    assert_eq!(s.body["totals"]["penaltyAmount"], "0.00");
}

/// A curtailment event the operator sends an enrolled site through the OpenADR API, not through a
/// dispatch, is settled as a dispatch's would be: the site commits its enrollment's megawatts, and the
/// notice is the event's creation.
#[actix_rt::test]
async fn an_event_sent_through_the_openadr_api_to_an_enrolled_site_is_settled() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (ers, site) = example_site(&app, &bl).await;
    let r = bl
        .post(
            "/events",
            &json!({"programID": ers, "targets": [format!("site:{site}")],
                    "intervalPeriod": {"start": "2026-07-01T16:00:00Z", "duration": "PT1H"},
                    "intervals": [{"id": 0, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [10000]}]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ev = r.id();
    // A price event reaches the site too, and is no curtailment: nothing to settle.
    let r = bl
        .post(
            "/events",
            &json!({"programID": ers, "intervalPeriod": {"start": "2026-07-01T18:00:00Z", "duration": "PT1H"},
                    "intervals": [{"id": 0, "payloads": [{"type": "PRICE", "values": [0.2]}]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.refresh_latency().await;
    let r = bl
        .post_raw(
            "/ops/meter-data",
            "text/csv",
            meter_csv("mine-1", &["12", "10", "10", "12"]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(bl.post_raw("/ops/prices", "text/csv", PRICES).await.status, 201);
    let s = settled_with(&bl, &ers, &rules()).await;
    assert_eq!(s.status, 200, "{}", s.text);
    let events = s.body["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{}", s.text);
    assert_eq!(events[0]["eventID"], ev.as_str());
    assert!(events[0].get("dispatchID").is_none_or(Value::is_null), "{}", events[0]);
    assert_eq!(events[0]["noticeDateTime"], "2026-07-01T12:00:00Z");
    assert_eq!(column(&events[0], "creditedMWh"), ["9.5", "10", "10", "9.5"]);
    assert_eq!(events[0]["energyAmount"], "83500.00");
}

//! Dispatch: merit order over a hand-built fleet, events addressed to single sites, shortfall,
//! cancellation, and response latency measured from the sites' own reports.

use serde_json::{Value, json};

use crate::support::{TestApp, demand, enrolled, event, program};

fn site_of<'a>(d: &'a Value, id: &str) -> &'a Value {
    d["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["siteID"] == id)
        .unwrap_or_else(|| panic!("site {id} not in {d}"))
}

#[actix_rt::test]
async fn a_dispatch_picks_sites_in_merit_order_and_measures_their_response() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let ers = program(&bl, "ERS-10", &[]).await;
    let alpha = enrolled(&app, &bl, &ers, "alpha", ("50", "40", "50", "PT5M")).await;
    let bravo = enrolled(&app, &bl, &ers, "bravo", ("35", "30", "60", "PT5M")).await;
    let charlie = enrolled(&app, &bl, &ers, "charlie", ("30", "25", "70", "PT5M")).await;
    let delta = enrolled(&app, &bl, &ers, "delta", ("30", "20", "40", "PT30M")).await;
    // Before the dispatch, alpha reports 48 MW on a standing telemetry event.
    let tele = program(&bl, "telemetry", &[]).await;
    let standing = event(&bl, &tele, &[]).await;
    let r = alpha
        .ven
        .post(
            "/reports",
            &demand(
                &standing,
                "alpha",
                &[("2026-07-01T11:56:00Z", 48.0), ("2026-07-01T11:58:00Z", 48.0)],
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);

    let r = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": ers, "targetMW": "50", "start": "2026-07-01T12:10:00Z", "duration": "PT1H"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let d = r.body.clone();
    let dispatch = r.id();
    // delta is cheapest but needs 30 minutes' notice; alpha and bravo cover 50 MW; charlie is not needed.
    let picked: Vec<(&str, &str)> = d["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["siteName"].as_str().unwrap(), s["allocatedMW"].as_str().unwrap()))
        .collect();
    assert_eq!(picked, vec![("alpha", "40"), ("bravo", "10")]);
    assert_eq!(d["plannedMW"], "50");
    assert_eq!(d["shortfallMW"], "0");
    let skipped: Vec<&str> = d["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["siteName"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, vec!["delta", "charlie"]);
    assert!(d["skipped"][0]["reason"].as_str().unwrap().contains("30 min notice"));
    // alpha drew 48 MW: limited to 8 MW; bravo has no telemetry: assumed at its 35 MW maximum, limited to 25.
    assert_eq!(site_of(&d, &alpha.id)["levelMW"], "8");
    assert_eq!(site_of(&d, &bravo.id)["levelMW"], "25");

    // Each chosen VEN sees exactly its own event, with its level in KW; the others see none.
    let alpha_event = site_of(&d, &alpha.id)["eventID"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::TimeDelta::minutes(1)); // 12:01
    let seen = alpha.ven.get(&format!("/events?programID={ers}")).await;
    assert_eq!(seen.ids(), vec![alpha_event.clone()]);
    assert_eq!(
        seen.body[0]["intervals"][0]["payloads"][0]["type"],
        "IMPORT_CAPACITY_LIMIT"
    );
    assert_eq!(seen.body[0]["intervals"][0]["payloads"][0]["values"][0], 8000);
    assert_eq!(seen.body[0]["targets"], json!([format!("site:{}", alpha.id)]));
    assert_eq!(
        charlie.ven.get(&format!("/events?programID={ers}")).await.body,
        json!([])
    );
    assert_eq!(delta.ven.get(&format!("/events?programID={ers}")).await.body, json!([]));

    // alpha acknowledges at 12:01:30 and ramps: 36 MW off (90 %) by 12:08.
    app.clock.advance(chrono::TimeDelta::seconds(30));
    let r = alpha
        .ven
        .post(
            "/reports",
            &json!({"eventID": alpha_event, "clientName": "alpha", "resources": [{"resourceName": "SITE",
            "intervals": [{"id": 0, "payloads": [{"type": "OPERATING_STATE", "values": ["RUNNING_CURTAILED"]}]}]}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = alpha
        .ven
        .post(
            "/reports",
            &demand(
                &alpha_event,
                "alpha",
                &[
                    ("2026-07-01T12:05:00Z", 30.0),
                    ("2026-07-01T12:08:00Z", 12.0),
                    ("2026-07-01T12:15:00Z", 8.0),
                ],
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    app.clock.advance(chrono::TimeDelta::minutes(15)); // 12:16:30
    assert!(app.refresh_latency().await >= 2);

    let d = bl.get(&format!("/ops/dispatches/{dispatch}")).await.body;
    let a = site_of(&d, &alpha.id);
    assert_eq!(a["status"], "RAMPED", "{a}");
    assert_eq!(a["notifiedVia"], "POLL");
    assert_eq!(a["notifiedDateTime"], "2026-07-01T12:01:00Z");
    assert_eq!(a["acknowledgedDateTime"], "2026-07-01T12:01:30Z");
    assert_eq!(a["tAckSecs"], 30.0);
    assert_eq!(a["baselineMW"], "48");
    assert_eq!(a["t90Secs"], 420.0, "12:01 → 12:08");
    assert_eq!(a["deliveredMW"], "40");
    let b = site_of(&d, &bravo.id);
    assert_eq!(b["status"], "PENDING", "bravo never looked: {b}");
    assert!(b.get("deliveredMW").is_none());
    assert_eq!(d["deliveredMW"], "40");

    // The same figures per event and per site, with percentiles.
    let l = bl.get(&format!("/ops/events/{alpha_event}/latency")).await;
    assert_eq!(l.body[0]["t90Secs"], 420.0);
    let s = bl
        .get(&format!(
            "/ops/sites/{}/latency?from=2026-07-01T00:00:00Z&to=2026-07-02T00:00:00Z",
            alpha.id
        ))
        .await;
    assert_eq!(s.status, 200, "{}", s.text);
    assert_eq!(s.body["t90Secs"]["count"], 1);
    assert_eq!(s.body["t90Secs"]["p50"], 420.0);
}

#[actix_rt::test]
async fn a_fleet_that_cannot_cover_the_target_reports_the_shortfall() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    enrolled(&app, &bl, &p, "a", ("50", "40", "10", "PT0S")).await;
    let r = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": p, "targetMW": "150", "duration": "PT2H"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["plannedMW"], "40");
    assert_eq!(r.body["shortfallMW"], "110");
    // The same megawatts are not asked for twice at once: a second dispatch finds nothing left.
    let r = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": p, "targetMW": "10", "duration": "PT1H"}),
        )
        .await;
    assert_eq!(r.body["shortfallMW"], "10");
    assert!(
        r.body["skipped"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("commits no shed"),
        "{}",
        r.text
    );
}

#[actix_rt::test]
async fn cancelling_deletes_events_not_started_and_ends_those_under_way() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let a = enrolled(&app, &bl, &p, "a", ("50", "40", "10", "PT0S")).await;
    let later = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": p, "targetMW": "10", "start": "2026-07-01T13:00:00Z", "duration": "PT1H"}),
        )
        .await;
    let later_event = later.body["sites"][0]["eventID"].as_str().unwrap().to_owned();
    let r = bl
        .post(&format!("/ops/dispatches/{}/cancel", later.id()), &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["state"], "CANCELLED");
    bl.get(&format!("/events/{later_event}")).await.assert_problem(404);

    let now = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": p, "targetMW": "10", "duration": "PT1H"}),
        )
        .await;
    let now_event = now.body["sites"][0]["eventID"].as_str().unwrap().to_owned();
    app.clock.advance(chrono::TimeDelta::minutes(5));
    let r = bl
        .post(&format!("/ops/dispatches/{}/cancel", now.id()), &json!({}))
        .await;
    assert_eq!(r.body["end"], "2026-07-01T12:05:00Z");
    // The answer to the cancel is the dispatch as stored.
    let stored = bl.get(&format!("/ops/dispatches/{}", now.id())).await;
    assert_eq!(r.body, stored.body);
    let e = a.ven.get(&format!("/events/{now_event}")).await;
    assert_eq!(e.status, 200);
    assert_eq!(e.body["intervalPeriod"]["duration"], "PT300S");
    bl.post("/ops/dispatches/nope/cancel", &json!({}))
        .await
        .assert_problem(404);
}

#[actix_rt::test]
async fn dispatch_requests_that_make_no_sense_are_400() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    for (body, why) in [
        (json!({"programID": p, "targetMW": "0", "duration": "PT1H"}), "targetMW"),
        (json!({"programID": p, "targetMW": "5", "duration": "PT0S"}), "duration"),
        (
            json!({"programID": p, "targetMW": "5", "duration": "PT1H", "start": "yesterday"}),
            "start",
        ),
        (
            json!({"programID": p, "targetMW": "5", "duration": "PT1H", "start": "2020-01-01T00:00:00Z"}),
            "past",
        ),
        (
            json!({"programID": p, "targetMW": "5", "duration": "PT1H", "payloadType": "PRICE"}),
            "payloadType",
        ),
    ] {
        let r = bl.post("/ops/dispatches", &body).await;
        r.assert_problem(400);
        assert!(r.text.contains(why), "{why}: {}", r.text);
    }
    bl.post(
        "/ops/dispatches",
        &json!({"programID": "nope", "targetMW": "5", "duration": "PT1H"}),
    )
    .await
    .assert_problem(409);
    app.ven("v")
        .post(
            "/ops/dispatches",
            &json!({"programID": p, "targetMW": "5", "duration": "PT1H"}),
        )
        .await
        .assert_problem(403);
}

#[actix_rt::test]
async fn a_price_signal_reaches_the_programs_sites_as_one_price_event() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "RTP", &[]).await;
    let a = enrolled(&app, &bl, &p, "a", ("50", "40", "900", "PT0S")).await;
    let r = bl
        .post(
            "/ops/price-signals",
            &json!({"programID": p, "currency": "USD", "start": "2026-07-01T16:00:00Z", "intervalDuration": "PT15M",
                    "prices": ["45.10", "950.00", "1200"]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let e = r.id();
    let seen = a.ven.get(&format!("/events/{e}")).await;
    assert_eq!(seen.status, 200);
    assert_eq!(seen.body["payloadDescriptors"][0]["currency"], "USD");
    let prices: Vec<f64> = seen.body["intervals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["payloads"][0]["values"][0].as_f64().unwrap())
        .collect();
    assert_eq!(prices, vec![45.1, 950.0, 1200.0]);
    assert_eq!(seen.body["intervals"][2]["id"], 2);
    // The enrolled site is tracked for response like any event sent to it.
    app.refresh_latency().await;
    let l = bl.get(&format!("/ops/events/{e}/latency")).await;
    assert_eq!(l.body[0]["siteID"], a.id.as_str());
    assert_eq!(l.body[0]["eventEnd"], "2026-07-01T16:45:00Z");
    for (body, why) in [
        (
            json!({"programID": p, "currency": "dollars", "intervalDuration": "PT15M", "prices": ["1"]}),
            "currency",
        ),
        (
            json!({"programID": p, "currency": "USD", "intervalDuration": "PT15M", "prices": []}),
            "prices",
        ),
        (
            json!({"programID": p, "currency": "USD", "intervalDuration": "PT0S", "prices": ["1"]}),
            "intervalDuration",
        ),
    ] {
        let r = bl.post("/ops/price-signals", &body).await;
        r.assert_problem(400);
        assert!(r.text.contains(why), "{why}: {}", r.text);
    }
}

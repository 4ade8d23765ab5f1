//! Flexible-load sites: enrollment, the obligation calendar, telemetry read from VEN reports.

use serde_json::{Value, json};

use crate::support::{As, TestApp, event, program, ven_object};

/// A site of `max_mw` MW for a new VEN client; returns (site id, the VEN's client).
async fn site(app: &TestApp, bl: &As, name: &str, max_mw: &str) -> (String, As) {
    let ven = app.ven(name);
    let ven_id = ven_object(bl, &ven, name, &[]).await;
    let r = bl
        .post(
            "/ops/sites",
            &json!({"siteName": name, "venID": ven_id, "kind": "MINING", "maxImportMW": max_mw,
                    "meterID": format!("ESI-{name}"), "timeZone": "America/Chicago"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    (r.id(), ven)
}

fn enrollment(site: &str, program: &str, shed: &str, start: &str, end: Option<&str>) -> Value {
    let mut e = json!({"siteID": site, "programID": program, "shedMW": shed, "offerPrice": "120.50",
                       "notice": "PT10M", "ramp": "PT5M", "start": start});
    if let Some(end) = end {
        e["end"] = json!(end);
    }
    e
}

#[actix_rt::test]
async fn an_operator_enrolls_a_site_and_reads_it_back_exactly() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (site_id, ven) = site(&app, &bl, "rockdale", "50.5").await;
    let r = bl.get(&format!("/ops/sites/{site_id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["siteName"], "rockdale");
    assert_eq!(r.body["clientID"], ven.client_id.as_str());
    assert_eq!(r.body["maxImportMW"], "50.5");
    assert_eq!(r.body["timeZone"], "America/Chicago");
    let ers = program(&bl, "ERS-10", &[]).await;
    let mut body = enrollment(
        &site_id,
        &ers,
        "40",
        "2027-06-01T00:00:00Z",
        Some("2027-10-01T00:00:00Z"),
    );
    body["firmServiceLevelMW"] = json!(10);
    body["availability"] = json!([{"days": ["MON", "TUE", "WED", "THU", "FRI"], "from": "14:00", "to": "20:00"}]);
    body["maxEvents"] = json!(10);
    body["maxEventsPeriod"] = json!("P30D");
    let r = bl.post("/ops/enrollments", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["shedMW"], "40");
    assert_eq!(r.body["loadUpMW"], "0");
    assert_eq!(r.body["firmServiceLevelMW"], "10");
    assert_eq!(r.body["offerPrice"], "120.50");
    assert_eq!(r.body["notice"], "PT10M");
    assert_eq!(r.body["availability"][0]["from"], "14:00");
    assert_eq!(r.body["end"], "2027-10-01T00:00:00Z");
    let r = bl.get(&format!("/ops/enrollments?siteID={site_id}")).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);
}

#[actix_rt::test]
async fn a_sites_location_holds_1000_characters_and_a_longer_one_is_refused() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let ven = app.ven("lancium");
    let ven_id = ven_object(&bl, &ven, "lancium", &[]).await;
    let site = |location: String| {
        json!({"siteName": "lancium", "venID": ven_id, "kind": "MINING",
                                         "maxImportMW": "20", "location": location})
    };
    let r = bl.post("/ops/sites", &site("é".repeat(1001))).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("location"), "{}", r.text);
    // Characters, not bytes: 1000 two-byte characters fit.
    let r = bl.post("/ops/sites", &site("é".repeat(1000))).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["location"].as_str().unwrap().chars().count(), 1000);
}

#[actix_rt::test]
async fn the_same_megawatts_in_two_programs_at_overlapping_times_are_refused_naming_the_other() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (site_id, _) = site(&app, &bl, "s1", "50").await;
    let ers = program(&bl, "ERS-10", &[]).await;
    let fourcp = program(&bl, "4CP", &[]).await;
    let r = bl
        .post(
            "/ops/enrollments",
            &enrollment(
                &site_id,
                &ers,
                "40",
                "2027-06-01T00:00:00Z",
                Some("2027-10-01T00:00:00Z"),
            ),
        )
        .await;
    let first = r.id();
    // 40 + 20 MW > 50 MW from August on.
    let r = bl
        .post(
            "/ops/enrollments",
            &enrollment(&site_id, &fourcp, "20", "2027-08-01T00:00:00Z", None),
        )
        .await;
    r.assert_problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains(&first), "{}", r.text);
    // 10 MW fit beside the 40.
    let r = bl
        .post(
            "/ops/enrollments",
            &enrollment(&site_id, &fourcp, "10", "2027-08-01T00:00:00Z", None),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // After the first commitment ends, the site is free again.
    let other = program(&bl, "winter", &[]).await;
    let r = bl
        .post(
            "/ops/enrollments",
            &enrollment(&site_id, &other, "40", "2027-10-01T00:00:00Z", None),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    // Shrinking the site below what it has committed is refused too.
    let site = bl.get(&format!("/ops/sites/{site_id}")).await.body;
    let mut smaller = site.clone();
    smaller["maxImportMW"] = json!("45");
    let r = bl.put(&format!("/ops/sites/{site_id}"), &smaller).await;
    r.assert_problem(409);
}

#[actix_rt::test]
async fn enrollments_that_do_not_make_sense_are_400_and_missing_references_409() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (site_id, _) = site(&app, &bl, "s1", "50").await;
    let p = program(&bl, "p", &[]).await;
    for (tweak, why) in [
        (json!({"shedMW": "-1"}), "negative"),
        (json!({"shedMW": "0"}), "commits"),
        (json!({"shedMW": "60"}), "maximum import"),
        (json!({"end": "2027-01-01T00:00:00Z"}), "after start"),
        (json!({"notice": "-PT5M"}), "non-negative"),
        (json!({"maxEvents": 3}), "together"),
        (
            json!({"availability": [{"from": "25:00", "to": "06:00"}]}),
            "time of day",
        ),
    ] {
        let mut body = enrollment(&site_id, &p, "10", "2027-06-01T00:00:00Z", None);
        for (k, v) in tweak.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = bl.post("/ops/enrollments", &body).await;
        r.assert_problem(400);
        assert!(r.text.contains(why), "{why}: {}", r.text);
    }
    let r = bl
        .post(
            "/ops/enrollments",
            &enrollment("no-such-site", &p, "10", "2027-06-01T00:00:00Z", None),
        )
        .await;
    r.assert_problem(409);
    let r = bl
        .post(
            "/ops/enrollments",
            &enrollment(&site_id, "no-such-program", "10", "2027-06-01T00:00:00Z", None),
        )
        .await;
    r.assert_problem(409);
    let r = bl
        .post(
            "/ops/sites",
            &json!({"siteName": "x", "venID": "nope", "kind": "MINING", "maxImportMW": 5}),
        )
        .await;
    r.assert_problem(409);
    let r = bl
        .post(
            "/ops/sites",
            &json!({"siteName": "x", "venID": "nope", "kind": "MINING", "maxImportMW": 5, "timeZone": "Mars/Olympus"}),
        )
        .await;
    r.assert_problem(400);
}

#[actix_rt::test]
async fn sites_are_for_operators_only() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (site_id, ven) = site(&app, &bl, "s1", "50").await;
    ven.get("/ops/sites").await.assert_problem(403);
    ven.get(&format!("/ops/sites/{site_id}/telemetry"))
        .await
        .assert_problem(403);
    let body = json!({"siteName": "mine", "venID": "v", "kind": "MINING", "maxImportMW": 5});
    ven.post("/ops/sites", &body).await.assert_problem(403);
}

#[actix_rt::test]
async fn a_ven_or_program_with_commitments_cannot_be_deleted_from_under_them() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (site_id, _) = site(&app, &bl, "s1", "50").await;
    let ven_id = bl.get(&format!("/ops/sites/{site_id}")).await.body["venID"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = program(&bl, "p", &[]).await;
    let e = bl
        .post(
            "/ops/enrollments",
            &enrollment(&site_id, &p, "10", "2027-06-01T00:00:00Z", None),
        )
        .await
        .id();
    bl.delete(&format!("/vens/{ven_id}")).await.assert_problem(409);
    bl.delete(&format!("/programs/{p}")).await.assert_problem(409);
    bl.delete(&format!("/ops/sites/{site_id}")).await.assert_problem(409);
    assert_eq!(bl.delete(&format!("/ops/enrollments/{e}")).await.status, 200);
    assert_eq!(bl.delete(&format!("/programs/{p}")).await.status, 200);
    assert_eq!(bl.delete(&format!("/ops/sites/{site_id}")).await.status, 200);
    assert_eq!(bl.delete(&format!("/vens/{ven_id}")).await.status, 200);
}

#[actix_rt::test]
async fn a_sites_reports_become_its_telemetry_in_megawatts() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (site_id, ven) = site(&app, &bl, "s1", "50").await;
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    let report = json!({
        "eventID": e, "clientName": "s1",
        "payloadDescriptors": [{"payloadType": "DEMAND", "units": "KW"}],
        "resources": [{"resourceName": "MINERS",
            "intervalPeriod": {"start": "2026-07-01T14:00:00Z", "duration": "PT1M"},
            "intervals": [
                {"id": 0, "payloads": [{"type": "DEMAND", "values": [48000]}, {"type": "OPERATING_STATE", "values": ["NORMAL"]}]},
                {"id": 1, "payloads": [{"type": "DEMAND", "values": [12500]}, {"type": "X_FAN_SPEED", "values": [3]}]}
            ]}]
    });
    let r = ven.post("/reports", &report).await;
    assert_eq!(r.status, 201, "{}", r.text);
    let report_id = r.id();
    let t = bl
        .get(&format!("/ops/sites/{site_id}/telemetry?payloadType=DEMAND"))
        .await;
    assert_eq!(t.status, 200, "{}", t.text);
    let points = t.body["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    assert_eq!(points[0]["value"], "48");
    assert_eq!(points[0]["unit"], "MW");
    assert_eq!(points[1]["start"], "2026-07-01T14:01:00Z");
    assert_eq!(points[1]["value"], "12.5");
    assert_eq!(points[1]["eventID"], e.as_str());
    // The private payload type is counted, not dropped silently.
    assert_eq!(t.body["rejectedReports"], 1);
    assert_eq!(t.body["recentRejects"][0]["reportID"], report_id.as_str());
    assert!(
        t.body["recentRejects"][0]["problems"][0]
            .as_str()
            .unwrap()
            .contains("X_FAN_SPEED")
    );
    // A corrected report replaces its points.
    let mut fixed = report.clone();
    fixed["resources"][0]["intervals"][1]["payloads"] = json!([{"type": "DEMAND", "values": [11000]}]);
    let r = ven.put(&format!("/reports/{report_id}"), &fixed).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t = bl
        .get(&format!("/ops/sites/{site_id}/telemetry?payloadType=DEMAND"))
        .await;
    assert_eq!(t.body["points"][1]["value"], "11");
    assert_eq!(t.body["rejectedReports"], 0);
    let all = bl
        .get(&format!("/ops/sites/{site_id}/telemetry?from=2026-07-01T14:00:30Z"))
        .await;
    assert_eq!(all.body["points"].as_array().unwrap().len(), 1, "{}", all.text);
}

/// Sites reporting at the same moment have their reports inserted together (one statement per batch on
/// PostgreSQL): each report still becomes its own site's telemetry, and one refused becomes none.
#[actix_rt::test]
async fn reports_of_several_sites_posted_together_each_become_their_own_sites_telemetry() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    let hidden = event(&bl, &p, &["elsewhere"]).await;
    let mut sites = Vec::new();
    for (name, mw) in [("s1", 10), ("s2", 20), ("s3", 30)] {
        let (id, ven) = site(&app, &bl, name, "50").await;
        sites.push((id, ven, name, mw));
    }
    let mut posts = Vec::new();
    for (_, ven, name, mw) in &sites {
        for minute in 0..6 {
            for event in [&e, &hidden] {
                let report = json!({
                    "eventID": event, "clientName": name,
                    "resources": [{"resourceName": "MINERS",
                        "intervalPeriod": {"start": format!("2026-07-01T14:0{minute}:00Z"), "duration": "PT1M"},
                        "intervals": [{"id": 0, "payloads": [{"type": "DEMAND", "values": [mw * 1000 + minute]}]}]}]
                });
                let visible = event == &e;
                posts.push(async move { (visible, ven.post("/reports", &report).await.status) });
            }
        }
    }
    for (visible, status) in futures_util::future::join_all(posts).await {
        assert_eq!(status, if visible { 201 } else { 409 });
    }
    for (id, _, name, mw) in &sites {
        let t = bl.get(&format!("/ops/sites/{id}/telemetry?payloadType=DEMAND")).await;
        let values: Vec<f64> = t.body["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["value"].as_str().unwrap().parse::<f64>().unwrap())
            .collect();
        let want: Vec<f64> = (0..6).map(|m| f64::from(mw * 1000 + m) / 1000.0).collect();
        assert_eq!(
            values, want,
            "{name}: its own six points, none from the refused reports"
        );
    }
}

#[actix_rt::test]
async fn reports_of_clients_that_are_not_sites_are_not_telemetry() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (site_id, _) = site(&app, &bl, "s1", "50").await;
    let other = app.ven("plain");
    ven_object(&bl, &other, "plain", &[]).await;
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    let r = other
        .post(
            "/reports",
            &json!({"eventID": e, "clientName": "plain", "resources": [{"resourceName": "r",
            "intervals": [{"id": 0, "payloads": [{"type": "DEMAND", "values": [1]}]}]}]}),
        )
        .await;
    assert_eq!(r.status, 201);
    let t = bl.get(&format!("/ops/sites/{site_id}/telemetry")).await;
    assert_eq!(t.body["points"], json!([]));
}

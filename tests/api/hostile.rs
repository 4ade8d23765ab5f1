//! Hostile input is normal input: what one authenticated VEN (or a careless operator) sends must not stop
//! the server's work for everybody, mislead other VENs, or destroy evidence. Each test is the exploit.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sluice::config::LatencySettings;
use sluice::service::latency::{Watermark, refresh};
use sluice::store::{StoreError, StoreResult};

use crate::support::{TestApp, demand, enrolled, event, program, ven_object};

/// A report of `mw` on `event` for one interval starting at `start`, lasting `duration`, numbered `id`.
fn report(event: &str, start: &str, duration: &str, id: Value, mw: Value) -> Value {
    json!({
        "eventID": event, "clientName": "alpha",
        "payloadDescriptors": [{"payloadType": "DEMAND", "units": "MW"}],
        "resources": [{"resourceName": "SITE",
            "intervalPeriod": {"start": start, "duration": duration},
            "intervals": [{"id": id, "payloads": [{"type": "DEMAND", "values": [mw]}]}]}]
    })
}

const DATES: [&str; 9] = [
    "-262143-01-01T00:00:00",
    "+262142-12-31T23:59:59",
    "0000-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:01Z",
    "9999-12-31T23:59:59Z",
    "10000-01-01T00:00:00Z",
    "2026-07-01T12:30:00.999999999Z",
    "2026-07-01T12:30:00+14:00",
];
const DURATIONS: [&str; 9] = [
    "P9999Y",
    "P10000Y",
    "P100000D",
    "P4000000D",
    "PT9999999999999H",
    "-P1D",
    "PT0S",
    "P9998Y364D",
    "PT0.000001S",
];

fn numbers() -> [Value; 7] {
    [
        json!(f64::MAX),
        json!(-f64::MAX),
        json!(f64::MIN_POSITIVE),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(0),
        json!("12"),
    ]
}

fn ids() -> [Value; 6] {
    [
        json!(0),
        json!(-1),
        json!(2_000_000_000),
        json!(i32::MAX),
        json!(i64::MAX),
        json!(1.5),
    ]
}

#[actix_rt::test]
async fn extreme_dates_durations_ids_and_numbers_are_refused_or_harmless_and_latency_goes_on() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let ers = program(&bl, "ERS", &[]).await;
    let site = enrolled(&app, &bl, &ers, "alpha", ("50", "40", "50", "PT0S")).await;
    let ev = event(&bl, &ers, &[]).await; // 14:00 for an hour
    let th = LatencySettings::default().thresholds();
    // The background pass has run since start-up: it looks at new telemetry from its watermark on.
    let mut watermark = Watermark::default();
    refresh(&app.state, &th, &mut watermark).await.unwrap();

    // The reported exploits: dates chrono and the databases hold but arithmetic on them overflows.
    for start in [
        "-262143-01-01T00:00:00",
        "+262142-12-31T23:59:59",
        "10000-01-01T00:00:00Z",
    ] {
        let r = site
            .ven
            .post("/reports", &report(&ev, start, "PT1M", json!(0), json!(12)))
            .await;
        r.assert_problem(400);
        assert!(r.body["detail"].as_str().unwrap().contains(start), "{}", r.text);
    }
    // A span times an interval number far past any calendar.
    let r = site
        .ven
        .post(
            "/reports",
            &report(&ev, "2026-07-01T12:00:00Z", "P100000D", json!(2_000_000_000), json!(12)),
        )
        .await;
    assert_eq!(r.status, 201, "a valid report is stored as sent: {}", r.text);

    // Then every kind of extreme value in combination, at each parser a client reaches.
    let mut rng = StdRng::seed_from_u64(2026);
    let (numbers, ids) = (numbers(), ids());
    for round in 0..30 {
        let date = DATES[rng.random_range(0..DATES.len())];
        let duration = DURATIONS[rng.random_range(0..DURATIONS.len())];
        let id = ids[rng.random_range(0..ids.len())].clone();
        let number = numbers[rng.random_range(0..numbers.len())].clone();
        let sent = format!("round {round}: {date} {duration} {id} {number}");
        let r = site
            .ven
            .post("/reports", &report(&ev, date, duration, id.clone(), number.clone()))
            .await;
        assert!(r.status < 500, "report, {sent}: {}", r.text);
        let r = bl
            .post(
                "/events",
                &json!({"programID": ers, "intervalPeriod": {"start": date, "duration": duration},
                        "intervals": [{"id": id, "payloads": [{"type": "IMPORT_CAPACITY_LIMIT", "values": [number]}]}]}),
            )
            .await;
        assert!(r.status < 500, "event, {sent}: {}", r.text);
        let r = bl
            .post(
                "/ops/enrollments",
                &json!({"siteID": site.id, "programID": ers, "shedMW": number, "offerPrice": number,
                        "notice": duration, "ramp": duration, "maxEventDuration": duration, "start": date}),
            )
            .await;
        assert!(r.status < 500, "enrollment, {sent}: {}", r.text);
        let csv = format!(
            "site_id,interval_start_utc,interval_end_utc,kwh,avg_kw\nalpha,{date},{date},,{}\n",
            number.to_string().trim_matches('"')
        );
        let r = bl.post_raw("/ops/meter-data", "text/csv", csv).await;
        assert!(r.status < 500, "meter data, {sent}: {}", r.text);
    }
    // Figures no decimal holds once scaled: a huge average power, a Green Button-sized power of ten.
    let csv = "site_id,interval_start_utc,interval_end_utc,avg_kw\n\
               alpha,2026-07-01T00:00:00Z,2026-07-01T00:15:00Z,79228162514264337593543950335\n";
    bl.post_raw("/ops/meter-data", "text/csv", csv)
        .await
        .assert_problem(400);
    let r = bl
        .post(
            "/ops/sites",
            &json!({"siteName": "huge", "venID": "x", "kind": "MINING", "maxImportMW": "79228162514264337593543950335"}),
        )
        .await;
    r.assert_problem(400);

    // The pass still runs, and still measures: the site acknowledges and reports its ramp.
    app.clock.advance(chrono::TimeDelta::minutes(1));
    let r = site
        .ven
        .post("/reports", &demand(&ev, "alpha", &[("2026-07-01T12:00:30Z", 48.0)]))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    refresh(&app.state, &th, &mut watermark)
        .await
        .expect("the latency pass survives what it was sent");
    let l = bl.get(&format!("/ops/events/{ev}/latency")).await;
    assert_eq!(l.status, 200, "{}", l.text);
    let row = l
        .body
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["siteID"] == site.id.as_str())
        .unwrap();
    assert!(row["acknowledgedDateTime"].is_string(), "{row}");
}

/// A write that panics (a bug, not an input) is undone alone: the writes committed with it in one
/// group-commit batch still succeed.
#[actix_rt::test]
async fn a_panicking_write_fails_alone_and_the_rest_of_its_batch_commits() {
    let app = TestApp::new().await;
    let mut handles = Vec::new();
    for i in 0..64 {
        let db = app.state.db.clone();
        handles.push(tokio::spawn(async move {
            db.write(move |c| -> StoreResult<i32> {
                assert_ne!(i, 20, "a bug in one write");
                use diesel::RunQueryDsl;
                diesel::sql_query("UPDATE programs SET body = body WHERE id = 'none'").execute(c)?;
                Ok(i)
            })
            .await
        }));
    }
    for (i, h) in handles.into_iter().enumerate() {
        let r = h.await.unwrap();
        if i == 20 {
            assert!(matches!(r, Err(StoreError::Panicked(_))), "{r:?}");
        } else {
            assert_eq!(r.unwrap(), i as i32);
        }
    }
}

/// `GET /auth/server` with these request headers.
async fn auth_server(app: &TestApp, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = app.http.get(format!("{}/auth/server", app.base));
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.unwrap()
}

/// `/auth/server` tells VENs where to send their secrets: nothing a request says may change that, except
/// a proxy the operator trusts, and no cache may keep one VEN's answer for another.
#[actix_rt::test]
async fn auth_server_ignores_forwarding_headers_from_untrusted_peers_and_is_never_cached() {
    let app = TestApp::new().await;
    let own = format!("{}/auth/token", app.base);
    for (name, value) in [
        ("X-Forwarded-Host", "attacker.example"),
        ("Forwarded", "host=attacker.example;proto=https"),
        ("X-Forwarded-Proto", "https"),
        ("Host", "attacker.example/steal?"),
    ] {
        let r = auth_server(&app, &[(name, value)]).await;
        assert_eq!(r.headers()["cache-control"], "no-store");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["tokenURL"], own.as_str(), "{name}: {value}");
    }
}

#[actix_rt::test]
async fn auth_server_names_the_configured_public_url_whatever_the_request_says() {
    let app = TestApp::with_settings(|s| s.server.public_url = Some("https://vtn.utility.example/".into())).await;
    for (name, value) in [("Host", "attacker.example"), ("X-Forwarded-Host", "attacker.example")] {
        let body: Value = auth_server(&app, &[(name, value)]).await.json().await.unwrap();
        assert_eq!(body["tokenURL"], "https://vtn.utility.example/auth/token");
    }
}

#[actix_rt::test]
async fn a_trusted_reverse_proxy_names_the_host_vens_reach() {
    let app = TestApp::with_settings(|s| s.server.trusted_proxies = vec!["127.0.0.0/8".into()]).await;
    let forwarded = [
        ("X-Forwarded-Host", "vtn.utility.example"),
        ("X-Forwarded-Proto", "https"),
    ];
    let body: Value = auth_server(&app, &forwarded).await.json().await.unwrap();
    assert_eq!(body["tokenURL"], "https://vtn.utility.example/auth/token");
}

/// Reports are the evidence settlement pays on: deleting their event, or its program, is refused.
#[actix_rt::test]
async fn an_event_with_reports_is_kept_and_so_are_its_reports() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "ERS", &[]).await;
    let site = enrolled(&app, &bl, &p, "alpha", ("50", "40", "50", "PT0S")).await;
    let ev = event(&bl, &p, &[]).await;
    let r = site
        .ven
        .post("/reports", &demand(&ev, "alpha", &[("2026-07-01T14:00:00Z", 10.0)]))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = bl.delete(&format!("/events/{ev}")).await;
    r.assert_problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("report"), "{}", r.text);
    assert_eq!(bl.get(&format!("/events/{ev}")).await.status, 200);
    assert_eq!(bl.get(&format!("/reports?eventID={ev}")).await.ids().len(), 1);
    // Nor does the program go, with its events, once no site is enrolled in it any more.
    let other = program(&bl, "telemetry", &[]).await;
    let standing = event(&bl, &other, &[]).await;
    let ven = app.ven("meter-only");
    ven_object(&bl, &ven, "meter-only", &[]).await;
    let r = ven
        .post(
            "/reports",
            &demand(&standing, "meter-only", &[("2026-07-01T14:00:00Z", 1.0)]),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let r = bl.delete(&format!("/programs/{other}")).await;
    r.assert_problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("report"), "{}", r.text);
    assert_eq!(bl.get(&format!("/reports?eventID={standing}")).await.ids().len(), 1);
    // An event nobody reported on is deleted as before.
    let quiet = event(&bl, &p, &[]).await;
    assert_eq!(bl.delete(&format!("/events/{quiet}")).await.status, 200);
}

#[actix_rt::test]
async fn cancelling_a_dispatch_keeps_an_unstarted_event_its_site_already_reported_on() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "ERS", &[]).await;
    let site = enrolled(&app, &bl, &p, "alpha", ("50", "40", "50", "PT0S")).await;
    let r = bl
        .post(
            "/ops/dispatches",
            &json!({"programID": p, "targetMW": "40", "start": "2026-07-01T13:00:00Z", "duration": "PT1H"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let (dispatch, ev) = (r.id(), r.body["sites"][0]["eventID"].as_str().unwrap().to_owned());
    let ack = json!({"eventID": ev, "clientName": "alpha", "resources": [{"resourceName": "SITE",
        "intervals": [{"id": 0, "payloads": [{"type": "OPERATING_STATE", "values": ["RUNNING_NORMAL"]}]}]}]});
    assert_eq!(site.ven.post("/reports", &ack).await.status, 201);
    let r = bl.post(&format!("/ops/dispatches/{dispatch}/cancel"), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let kept = site.ven.get(&format!("/events/{ev}")).await;
    assert_eq!(kept.status, 200, "{}", kept.text);
    assert_eq!(
        kept.body["intervalPeriod"]["duration"], "PT0S",
        "called off: {}",
        kept.text
    );
    assert_eq!(site.ven.get(&format!("/reports?eventID={ev}")).await.ids().len(), 1);
}

/// A VEN cannot take the venName the operator issued another site's credentials under (`sluice client add
/// --name site-17`), so the operator's registration of that site, and lookups by its name, find the site.
#[actix_rt::test]
async fn a_ven_cannot_squat_the_name_of_another_clients_ven() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let squatter = app.ven("site-18");
    let site17 = app.ven("site-17");
    let own = |name: &str| json!({"objectType": "VEN_VEN_REQUEST", "venName": name});
    let r = squatter.post("/vens", &own("site-17")).await;
    r.assert_problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("reserved"), "{}", r.text);
    let mine = squatter.post("/vens", &own("site-18")).await;
    assert_eq!(mine.status, 201, "its own name is its to take: {}", mine.text);
    squatter
        .put(&format!("/vens/{}", mine.id()), &own("site-17"))
        .await
        .assert_problem(409);

    let id = ven_object(&bl, &site17, "site-17", &[]).await;
    assert_eq!(bl.get("/vens?venName=site-17").await.ids(), vec![id]);
    // The operator naming a ven after one another client holds is told which ven holds it.
    let site19 = app.ven("site-19");
    let r = bl
        .post(
            "/vens",
            &json!({"objectType": "BL_VEN_REQUEST", "clientID": site19.client_id, "venName": "site-18"}),
        )
        .await;
    r.assert_problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains(&mine.id()), "{}", r.text);
}

/// The 3.1 schema makes every object a JSON object. serde would read a struct from an array of its fields
/// (`"intervalPeriod": [null, null]` as an empty period), store it, and serve a shape no client can parse.
#[actix_rt::test]
async fn objects_sent_as_arrays_are_refused_and_nothing_is_stored() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "ERS", &[]).await;
    let cases = [
        (
            "/programs",
            json!({"programName": "arrays", "intervalPeriod": [null, null]}),
        ),
        ("/programs", json!(["arrays"])),
        ("/events", json!({"programID": p, "intervals": [[0, []]]})),
        ("/vens", json!(["BL_VEN_REQUEST", "site-9"])),
        (
            "/vens",
            json!({"objectType": "BL_VEN_REQUEST", "venName": "site-9", "targets": [], "attributes": [["x", []]]}),
        ),
        (
            "/subscriptions",
            json!({"clientName": "c", "objectOperations": [[["EVENT"], ["CREATE"], "https://x.example"]]}),
        ),
    ];
    for (path, body) in cases {
        let r = bl.post(path, &body).await;
        r.assert_problem(400);
        assert!(
            r.body["detail"].as_str().unwrap().contains("sequence"),
            "{path} {body}: {}",
            r.text
        );
    }
    let r = bl
        .put(
            &format!("/ops/programs/{p}/settlement-rules"),
            &json!({"baseline": ["FIRM_SERVICE_LEVEL", null], "energyPrice": {"fixedPerMWh": "100"},
                    "shortfall": {"rule": "PRO_RATA"}}),
        )
        .await;
    r.assert_problem(400);
    assert_eq!(bl.get("/programs").await.ids(), vec![p.clone()]);
    assert!(bl.get("/vens").await.ids().is_empty());
    assert!(bl.get("/subscriptions").await.ids().is_empty());
    assert!(bl.get(&format!("/events?programID={p}")).await.ids().is_empty());
    // The same objects as objects are fine.
    let r = bl
        .post("/programs", &json!({"programName": "objects", "intervalPeriod": {}}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
}

/// PostgreSQL cannot store U+0000, so a NUL reaching a query or a text column was a 500 there (and stored
/// on SQLite). It is refused at the edge, alike on both: in URLs, names, free text, payload values,
/// credentials and uploaded files.
#[actix_rt::test]
async fn nul_characters_are_refused_everywhere_on_both_databases() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "ERS", &[]).await;
    let site = enrolled(&app, &bl, &p, "alpha", ("50", "40", "50", "PT0S")).await;
    let ev = event(&bl, &p, &[]).await;
    for path in [
        "/vens?venName=a%00b",
        "/vens/a%00b",
        "/programs?targets=a%00",
        "/reports?clientName=%00",
    ] {
        bl.get(path).await.assert_problem(400);
    }
    for body in [
        json!({"programName": "p\u{0}"}),
        json!({"programName": "p", "targets": ["west\u{0}"]}),
    ] {
        bl.post("/programs", &body).await.assert_problem(400);
    }
    let named = json!({"programID": p, "eventName": "heat\u{0}wave", "intervals": []});
    bl.post("/events", &named).await.assert_problem(400);
    let state = json!({"eventID": ev, "clientName": "alpha", "resources": [{"resourceName": "SITE",
        "intervals": [{"id": 0, "payloads": [{"type": "OPERATING_STATE", "values": ["RUNNING\u{0}"]}]}]}]});
    site.ven.post("/reports", &state).await.assert_problem(400);
    let site_body = json!({"siteName": "beta", "venID": "v", "kind": "MINING", "maxImportMW": "5",
        "location": "substation\u{0}7"});
    bl.post("/ops/sites", &site_body).await.assert_problem(400);
    let csv = "site_id,meter_id,channel,interval_start_utc,interval_end_utc,kwh,avg_kw,quality,source\n\
               s\0,m,delivered,2026-07-01T00:00:00Z,2026-07-01T00:15:00Z,1,4,A,revenue\n";
    bl.post_raw("/ops/meter-data", "text/csv", csv)
        .await
        .assert_problem(400);
    let prices = "series,interval_start_utc,interval_end_utc,price\nn\0,2026-07-01T00:00:00Z,2026-07-01T00:15:00Z,1\n";
    bl.post_raw("/ops/prices", "text/csv", prices).await.assert_problem(400);
    app.anonymous()
        .post_raw(
            "/auth/token",
            "application/x-www-form-urlencoded",
            "grant_type=client_credentials&client_id=a%00&client_secret=b",
        )
        .await
        .assert_problem(401);
    let basic = reqwest::Client::new()
        .post(format!("{}/auth/token", app.base))
        .basic_auth("a\0", Some("b"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    // Nothing was stored on the way.
    assert_eq!(bl.get("/programs").await.ids(), vec![p]);
    assert_eq!(
        bl.get(&format!("/events?programID={}", bl.get("/programs").await.ids()[0]))
            .await
            .ids(),
        vec![ev]
    );
}

/// A path spelled with percent-escapes the router decodes (`/%6Fps/sites` is `/ops/sites`) is authorized as
/// the operation it reaches: a VEN gets 403 and an anonymous client 401, never the operator's data.
#[actix_rt::test]
async fn an_escaped_path_is_authorized_as_the_operation_it_reaches() {
    let app = TestApp::new().await;
    let bl = app.bl();
    program(&bl, "p", &[]).await;
    let ven = app.ven("v");
    for path in [
        "/%6Fps/sites",
        "/o%70s/sites",
        "/%6fps/%73ites",
        "/ops/%73ites/x",
        "/%70rograms",
    ] {
        let anonymous = app.anonymous().get(path).await;
        assert_eq!(anonymous.status, 401, "{path} without a token: {}", anonymous.text);
        if path.contains("rograms") {
            continue;
        }
        let r = ven.get(path).await;
        assert_eq!(r.status, 403, "{path} as a VEN: {}", r.text);
    }
    assert_eq!(bl.get("/%6Fps/sites").await.status, 200, "the operator reaches it");
}

//! CRUD of every object type: metadata, validation, uniqueness, filters, pagination.

use serde_json::json;

use crate::support::{TestApp, event, program, ven_object};

#[actix_rt::test]
async fn created_programs_carry_server_metadata() {
    let app = TestApp::new().await;
    let r = app.bl().post("/programs", &json!({"programName": "p1"})).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body["objectType"], "PROGRAM");
    assert_eq!(r.body["createdDateTime"], "2026-07-01T12:00:00Z");
    assert_eq!(r.body["modificationDateTime"], "2026-07-01T12:00:00Z");
    let id = r.id();
    assert!((1..=128).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
}

#[actix_rt::test]
async fn server_owned_fields_in_a_post_are_ignored() {
    let app = TestApp::new().await;
    let r = app
        .bl()
        .post(
            "/programs",
            &json!({"programName": "p1", "id": "mine", "createdDateTime": "2000-01-01T00:00:00Z", "objectType": "EVENT"}),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_ne!(r.body["id"], "mine");
    assert_eq!(r.body["createdDateTime"], "2026-07-01T12:00:00Z");
    assert_eq!(r.body["objectType"], "PROGRAM");
}

#[actix_rt::test]
async fn put_moves_modification_time_and_keeps_id_and_creation() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let id = program(&bl, "p1", &[]).await;
    app.clock.advance(chrono::TimeDelta::minutes(5));
    let r = bl
        .put(
            &format!("/programs/{id}"),
            &json!({"programName": "p1-renamed", "targets": ["t"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["id"], id.as_str());
    assert_eq!(r.body["createdDateTime"], "2026-07-01T12:00:00Z");
    assert_eq!(r.body["modificationDateTime"], "2026-07-01T12:05:00Z");
    let r = bl.get(&format!("/programs/{id}")).await;
    assert_eq!(r.body["programName"], "p1-renamed");
    assert_eq!(r.body["targets"], json!(["t"]));
}

#[actix_rt::test]
async fn delete_returns_the_object_and_then_it_is_gone() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let id = program(&bl, "p1", &[]).await;
    let e = event(&bl, &id, &[]).await;
    let r = bl.delete(&format!("/programs/{id}")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["programName"], "p1");
    bl.get(&format!("/programs/{id}")).await.assert_problem(404);
    bl.get(&format!("/events/{e}")).await.assert_problem(404);
}

#[actix_rt::test]
async fn unknown_ids_are_404_everywhere() {
    let app = TestApp::new().await;
    let bl = app.bl();
    for kind in ["programs", "events", "reports", "subscriptions", "vens", "resources"] {
        bl.get(&format!("/{kind}/unknown-id")).await.assert_problem(404);
        bl.delete(&format!("/{kind}/unknown-id"))
            .await
            .assert_problem(if kind == "reports" { 403 } else { 404 });
    }
    bl.put("/programs/unknown-id", &json!({"programName": "x"}))
        .await
        .assert_problem(404);
    let p = program(&bl, "p", &[]).await;
    bl.put("/events/unknown-id", &json!({"programID": p}))
        .await
        .assert_problem(404);
}

#[actix_rt::test]
async fn invalid_programs_are_400_and_nothing_is_created() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let r = bl.post("/programs", &json!({})).await;
    r.assert_problem(400);
    assert!(r.body["detail"].as_str().unwrap().contains("programName"), "{}", r.text);
    bl.post("/programs", &json!({"programName": "x".repeat(129)}))
        .await
        .assert_problem(400);
    assert_eq!(
        bl.post("/programs", &json!({"programName": "x".repeat(128)}))
            .await
            .status,
        201
    );
    assert_eq!(bl.get("/programs").await.ids().len(), 1);
}

#[actix_rt::test]
async fn duplicate_program_names_are_409() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let a = program(&bl, "p1", &[]).await;
    let r = bl.post("/programs", &json!({"programName": "p1"})).await;
    r.assert_problem(409);
    assert!(r.body["detail"].as_str().unwrap().contains("p1"));
    program(&bl, "p2", &[]).await;
    bl.put(&format!("/programs/{a}"), &json!({"programName": "p2"}))
        .await
        .assert_problem(409);
}

#[actix_rt::test]
async fn event_validation() {
    let app = TestApp::new().await;
    let bl = app.bl();
    bl.post("/events", &json!({"eventName": "x"})).await.assert_problem(400);
    let r = bl.post("/events", &json!({"programID": "no-such-program"})).await;
    r.assert_problem(409);
    let p = program(&bl, "p", &[]).await;
    bl.post("/events", &json!({"programID": p, "priority": -1}))
        .await
        .assert_problem(400);
    assert_eq!(bl.get("/events").await.ids().len(), 0);
}

#[actix_rt::test]
async fn report_only_events_need_no_intervals() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let r = bl
        .post(
            "/events",
            &json!({"programID": p, "reportDescriptors": [{"payloadType": "USAGE"}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["objectType"], "EVENT");
}

#[actix_rt::test]
async fn interval_and_values_map_fields_are_required() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    for intervals in [
        json!([{"payloads": []}]),
        json!([{"id": 0}]),
        json!([{"id": 0, "payloads": [{"values": [1]}]}]),
        json!([{"id": 0, "payloads": [{"type": "SIMPLE"}]}]),
    ] {
        bl.post("/events", &json!({"programID": p, "intervals": intervals}))
            .await
            .assert_problem(400);
    }
}

#[actix_rt::test]
async fn durations_and_dates_follow_the_spec_and_are_echoed_as_sent() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let with =
        |duration: &str, start: &str| json!({"programID": p, "intervalPeriod": {"start": start, "duration": duration}});
    for bad in ["1 hour", "P0S"] {
        bl.post("/events", &with(bad, "2026-07-01T00:00:00Z"))
            .await
            .assert_problem(400);
    }
    bl.post("/events", &with("PT1H", "not-a-date"))
        .await
        .assert_problem(400);
    for good in ["PT1H", "P9999Y", "-PT5M", "P0Y0M0DT1H0M0S"] {
        let r = bl.post("/events", &with(good, "0001-01-01T00:00:00Z")).await;
        assert_eq!(r.status, 201, "{good}: {}", r.text);
        assert_eq!(r.body["intervalPeriod"]["duration"], good);
        assert_eq!(r.body["intervalPeriod"]["start"], "0001-01-01T00:00:00Z");
    }
}

#[actix_rt::test]
async fn private_types_and_multi_value_payloads_round_trip() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let intervals = json!([
        {"id": 0, "payloads": [{"type": "MY_PRIVATE_TYPE", "values": ["a", 1, 2.5, true, {"x": 1.0, "y": -2.5}]}]},
        {"id": 7, "intervalPeriod": {"start": "2026-07-01T15:00:00Z", "duration": "PT3H"}, "payloads": [{"type": "PRICE", "values": [0.17, 0.21, 0.3]}]}
    ]);
    let r = bl
        .post("/events", &json!({"programID": p, "intervals": intervals}))
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let got = bl.get(&format!("/events/{}", r.id())).await;
    assert_eq!(got.body["intervals"], intervals);
}

#[actix_rt::test]
async fn report_descriptor_enums_and_bounds() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let bad = json!({"programID": p, "reportDescriptors": [{"payloadType": "USAGE", "reportIntervals": "FOO"}]});
    bl.post("/events", &bad).await.assert_problem(400);
    let ok =
        json!({"programID": p, "reportDescriptors": [{"payloadType": "USAGE", "reportIntervals": "SUB_INTERVALS"}]});
    assert_eq!(bl.post("/events", &ok).await.status, 201);
    let e = event(&bl, &p, &[]).await;
    let ven = app.ven("v");
    let report = |confidence: i64| json!({"eventID": e, "clientName": "v", "payloadDescriptors": [{"payloadType": "USAGE", "confidence": confidence}], "resources": []});
    ven.post("/reports", &report(101)).await.assert_problem(400);
    assert_eq!(ven.post("/reports", &report(100)).await.status, 201);
}

#[actix_rt::test]
async fn pagination_is_bounded_disjoint_and_ordered() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(program(&bl, &format!("p{i}"), &[]).await);
    }
    for bad in ["limit=51", "limit=-1", "skip=-1", "limit=x"] {
        bl.get(&format!("/programs?{bad}")).await.assert_problem(400);
    }
    let first = bl.get("/programs?skip=0&limit=2").await.ids();
    let second = bl.get("/programs?skip=2&limit=2").await.ids();
    assert_eq!(first, ids[0..2]);
    assert_eq!(second, ids[2..4]);
    assert_eq!(bl.get("/programs?skip=4").await.ids(), ids[4..]);
    assert!(bl.get("/programs?limit=0").await.ids().is_empty());
    assert_eq!(
        bl.get("/programs?unknownParam=1&targetType=x").await.ids(),
        ids,
        "unknown parameters are ignored"
    );
}

#[actix_rt::test]
async fn event_filters_are_additive() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let a = program(&bl, "a", &[]).await;
    let b = program(&bl, "b", &[]).await;
    let a_g1 = event(&bl, &a, &["g1"]).await;
    let _a_g2 = event(&bl, &a, &["g2"]).await;
    let _b_g1 = event(&bl, &b, &["g1"]).await;
    let a_g3 = event(&bl, &a, &["g3", "g9"]).await;
    assert_eq!(
        bl.get(&format!("/events?programID={a}&targets=g1")).await.ids(),
        vec![a_g1.clone()]
    );
    assert_eq!(
        bl.get(&format!("/events?programID={a}&targets=g1&targets=g3"))
            .await
            .ids(),
        vec![a_g1, a_g3]
    );
}

#[actix_rt::test]
async fn active_events_exclude_those_that_have_ended() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let past = bl
        .post("/events", &json!({"programID": p, "intervalPeriod": {"start": "2026-07-01T08:00:00Z", "duration": "PT1H"}, "intervals": [{"id": 0, "payloads": []}]}))
        .await
        .id();
    let running = event(&bl, &p, &[]).await; // 14:00–15:00
    let open = bl.post("/events", &json!({"programID": p})).await.id();
    assert_eq!(
        bl.get("/events?active=true").await.ids(),
        vec![running.clone(), open.clone()]
    );
    assert_eq!(bl.get("/events").await.ids(), vec![past, running, open.clone()]);
    app.clock.set(
        chrono::DateTime::parse_from_rfc3339("2026-07-01T15:00:01Z")
            .unwrap()
            .into(),
    );
    let bl = app.bl(); // the first token has expired by now
    assert_eq!(bl.get("/events?active=true").await.ids(), vec![open]);
}

#[actix_rt::test]
async fn report_filters() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let q = program(&bl, "q", &[]).await;
    let e1 = event(&bl, &p, &[]).await;
    let e2 = event(&bl, &q, &[]).await;
    let ven = app.ven("v");
    let r1 = ven
        .post(
            "/reports",
            &json!({"eventID": e1, "clientName": "site-a", "resources": []}),
        )
        .await
        .id();
    let r2 = ven
        .post(
            "/reports",
            &json!({"eventID": e2, "clientName": "site-b", "resources": []}),
        )
        .await
        .id();
    assert_eq!(bl.get(&format!("/reports?eventID={e1}")).await.ids(), vec![r1.clone()]);
    assert_eq!(bl.get("/reports?clientName=site-b").await.ids(), vec![r2.clone()]);
    assert_eq!(bl.get(&format!("/reports?programID={q}")).await.ids(), vec![r2]);
}

#[actix_rt::test]
async fn subscription_object_filter() {
    let app = TestApp::new().await;
    let ven = app.ven("v");
    let rx = crate::receiver::Receiver::start().await;
    let cb = rx.url("/cb");
    let sub = |objects: serde_json::Value| json!({"clientName": "v", "objectOperations": [{"objects": objects, "operations": ["CREATE"], "callbackUrl": cb}]});
    let events = ven.post("/subscriptions", &sub(json!(["EVENT", "PROGRAM"]))).await;
    assert_eq!(events.status, 201, "{}", events.text);
    assert_eq!(events.body["clientID"], ven.client_id.as_str());
    let reports = ven.post("/subscriptions", &sub(json!(["REPORT"]))).await.id();
    assert_eq!(ven.get("/subscriptions?objects=EVENT").await.ids(), vec![events.id()]);
    assert_eq!(
        ven.get("/subscriptions?objects=REPORT&objects=VEN").await.ids(),
        vec![reports]
    );
    ven.get("/subscriptions?objects=NOPE").await.assert_problem(400);
}

#[actix_rt::test]
async fn subscription_validation() {
    let app = TestApp::new().await;
    let ven = app.ven("v");
    ven.post("/subscriptions", &json!({"clientName": "v"}))
        .await
        .assert_problem(400);
    let bad_op = json!({"clientName": "v", "objectOperations": [{"objects": ["EVENT"], "operations": ["POST"], "callbackUrl": "https://x.example/cb"}]});
    ven.post("/subscriptions", &bad_op).await.assert_problem(400);
    let no_name = json!({"objectOperations": [{"objects": ["EVENT"], "operations": ["READ"], "callbackUrl": "https://x.example/cb"}]});
    ven.post("/subscriptions", &no_name).await.assert_problem(400);
}

#[actix_rt::test]
async fn resource_and_ven_filters() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (va, vb) = (app.ven("a"), app.ven("b"));
    let ven_a = ven_object(&bl, &va, "site-a", &["g1"]).await;
    let ven_b = ven_object(&bl, &vb, "site-b", &[]).await;
    let res = |ven: &str, client: &str, name: &str| json!({"objectType": "BL_RESOURCE_REQUEST", "clientID": client, "venID": ven, "resourceName": name});
    let ra = bl.post("/resources", &res(&ven_a, &va.client_id, "miners")).await.id();
    let _rb = bl.post("/resources", &res(&ven_b, &vb.client_id, "miners")).await.id();
    assert_eq!(bl.get(&format!("/resources?venID={ven_a}")).await.ids(), vec![ra]);
    assert_eq!(bl.get("/resources?resourceName=miners").await.ids().len(), 2);
    assert_eq!(bl.get("/vens?venName=site-b").await.ids(), vec![ven_b]);
    assert_eq!(bl.get("/vens?targets=g1").await.ids(), vec![ven_a]);
}

#[actix_rt::test]
async fn ven_registration() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let ven = app.ven("v");
    let r = ven
        .post(
            "/vens",
            &json!({"objectType": "VEN_VEN_REQUEST", "venName": "site-1", "clientID": "someone-else"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["objectType"], "VEN");
    assert_eq!(r.body["clientID"], ven.client_id.as_str());
    bl.post("/vens", &json!({"objectType": "BL_VEN_REQUEST", "venName": "v2"}))
        .await
        .assert_problem(400);
    bl.post("/vens", &json!({"venName": "v3", "clientID": "c"}))
        .await
        .assert_problem(400);
    let other = app.ven("other");
    let dup = bl
        .post(
            "/vens",
            &json!({"objectType": "BL_VEN_REQUEST", "venName": "site-1", "clientID": other.client_id}),
        )
        .await;
    dup.assert_problem(409);
    assert!(dup.body["detail"].as_str().unwrap().contains("site-1"));
}

#[actix_rt::test]
async fn a_ven_cannot_set_targets_on_vens_or_resources() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let ven = app.ven("v");
    let r = ven.post("/vens", &json!({"objectType": "BL_VEN_REQUEST", "venName": "v", "clientID": ven.client_id, "targets": ["all-of-them"]})).await;
    r.assert_problem(403);
    let id = ven_object(&bl, &ven, "v", &["g1"]).await;
    let put = ven
        .put(
            &format!("/vens/{id}"),
            &json!({"objectType": "VEN_VEN_REQUEST", "venName": "v-renamed"}),
        )
        .await;
    assert_eq!(put.status, 200, "{}", put.text);
    assert_eq!(
        put.body["targets"],
        json!(["g1"]),
        "a VEN's update keeps the targets the business logic set"
    );
    let res = ven.post("/resources", &json!({"objectType": "BL_RESOURCE_REQUEST", "clientID": ven.client_id, "venID": id, "resourceName": "r", "targets": ["x"]})).await;
    res.assert_problem(403);
}

#[actix_rt::test]
async fn resources_need_an_existing_ven() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let r = bl
        .post(
            "/resources",
            &json!({"objectType": "BL_RESOURCE_REQUEST", "clientID": "c", "venID": "nope", "resourceName": "r"}),
        )
        .await;
    r.assert_problem(409);
    let ven = app.ven("v");
    ven.post(
        "/resources",
        &json!({"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "r"}),
    )
    .await
    .assert_problem(409);
}

#[actix_rt::test]
async fn ven_resources_default_to_the_callers_ven_and_names_are_unique_per_ven() {
    let app = TestApp::new().await;
    let ven = app.ven("v");
    let ven_id = ven
        .post("/vens", &json!({"objectType": "VEN_VEN_REQUEST", "venName": "site"}))
        .await
        .id();
    let r = ven
        .post(
            "/resources",
            &json!({"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "rack-1"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["venID"], ven_id.as_str());
    assert_eq!(r.body["clientID"], ven.client_id.as_str());
    assert_eq!(r.body["objectType"], "RESOURCE");
    ven.post(
        "/resources",
        &json!({"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "rack-1", "venID": ven_id}),
    )
    .await
    .assert_problem(409);
}

/// Events posted at the same moment are inserted together (one statement per group-commit batch on
/// PostgreSQL): each keeps its own program and targets, and one naming no program is refused alone
/// (Definition §Object Names) without taking the others with it.
#[actix_rt::test]
async fn events_posted_together_keep_their_targets_and_a_bad_one_fails_alone() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let (p, q) = (program(&bl, "p", &[]).await, program(&bl, "q", &[]).await);
    let (a, b) = (app.ven("a"), app.ven("b"));
    ven_object(&bl, &a, "site-a", &["group-a"]).await;
    ven_object(&bl, &b, "site-b", &["group-b"]).await;
    let missing = "no-such-program".to_owned();
    let mut posts = Vec::new();
    for i in 0..8 {
        for (program, group) in [(&p, "group-a"), (&q, "group-b"), (&missing, "group-a")] {
            let body = json!({"programID": program, "eventName": format!("{group}-{i}"), "targets": [group],
                              "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [i]}]}]});
            let (bl, bad) = (&bl, program == &missing);
            posts.push(async move { (bad, bl.post("/events", &body).await) });
        }
    }
    for (bad, r) in futures_util::future::join_all(posts).await {
        assert_eq!(r.status, if bad { 409 } else { 201 }, "{}", r.text);
    }
    for (ven, group, program) in [(&a, "group-a", &p), (&b, "group-b", &q)] {
        let seen = ven.get("/events?limit=50").await;
        assert_eq!(seen.ids().len(), 8, "{group}: its eight events only");
        for e in seen.body.as_array().unwrap() {
            assert_eq!(e["programID"], program.as_str());
            assert!(e["eventName"].as_str().unwrap().starts_with(group), "{e}");
        }
    }
    let all = bl.get("/events?limit=50").await;
    assert_eq!(all.ids().len(), 16);
    for e in all.body.as_array().unwrap() {
        let group = e["eventName"].as_str().unwrap().rsplit_once('-').unwrap().0;
        assert_eq!(e["targets"], json!([group]), "{e}");
    }
}

//! Object privacy, targeting and target hiding (OpenADR 3.1 Definition §Object Privacy, §VEN created
//! object privacy, §Targeting).

use serde_json::json;

use crate::support::{TestApp, event, program, ven_object};

#[actix_rt::test]
async fn report_client_id_comes_from_the_token() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    let ven = app.ven("v");
    let r = ven
        .post(
            "/reports",
            &json!({"eventID": e, "clientName": "v", "clientID": "forged", "resources": []}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["clientID"], ven.client_id.as_str());
    assert_eq!(r.body["objectType"], "REPORT");
}

#[actix_rt::test]
async fn subscription_client_id_comes_from_the_token() {
    let app = TestApp::new().await;
    let ven = app.ven("v");
    let rx = crate::receiver::Receiver::start().await;
    let body = json!({"clientName": "v", "clientID": "forged", "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE", "UPDATE"], "callbackUrl": rx.url("/cb"), "bearerToken": "T"}]});
    let r = ven.post("/subscriptions", &body).await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.body["clientID"], ven.client_id.as_str());
    assert_eq!(r.body["objectOperations"][0]["operations"], json!(["CREATE", "UPDATE"]));
}

#[actix_rt::test]
async fn vens_read_only_their_own_objects_and_the_business_logic_reads_all() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    let (a, b) = (app.ven("a"), app.ven("b"));
    assert_eq!(
        a.get("/reports").await.body,
        json!([]),
        "no reports yet: an empty set, not an error"
    );
    let ra = a
        .post("/reports", &json!({"eventID": e, "clientName": "a", "resources": []}))
        .await
        .id();
    let rb = b
        .post("/reports", &json!({"eventID": e, "clientName": "b", "resources": []}))
        .await
        .id();
    assert_eq!(a.get("/reports").await.ids(), vec![ra.clone()]);
    assert_eq!(b.get("/reports").await.ids(), vec![rb.clone()]);
    assert_eq!(bl.get("/reports").await.ids(), vec![ra, rb]);
    let va = ven_object(&bl, &a, "site-a", &[]).await;
    let _vb = ven_object(&bl, &b, "site-b", &[]).await;
    assert_eq!(a.get("/vens").await.ids(), vec![va]);
    assert_eq!(bl.get("/vens").await.ids().len(), 2);
}

#[actix_rt::test]
async fn another_vens_objects_by_id_are_not_found() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    let (a, b) = (app.ven("a"), app.ven("b"));
    let report = b
        .post("/reports", &json!({"eventID": e, "clientName": "b", "resources": []}))
        .await
        .id();
    let rx = crate::receiver::Receiver::start().await;
    let sub = b
        .post("/subscriptions", &json!({"clientName": "b", "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": rx.url("/b")}]}))
        .await
        .id();
    let ven = b
        .post("/vens", &json!({"objectType": "VEN_VEN_REQUEST", "venName": "site-b"}))
        .await
        .id();
    let res = b
        .post(
            "/resources",
            &json!({"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "r"}),
        )
        .await
        .id();
    let bodies = [
        (
            "reports",
            report,
            json!({"eventID": e, "clientName": "a", "resources": []}),
        ),
        (
            "subscriptions",
            sub,
            json!({"clientName": "a", "objectOperations": [{"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": "https://a.example/cb"}]}),
        ),
        (
            "vens",
            ven,
            json!({"objectType": "VEN_VEN_REQUEST", "venName": "hijack"}),
        ),
        (
            "resources",
            res,
            json!({"objectType": "VEN_RESOURCE_REQUEST", "resourceName": "hijack"}),
        ),
    ];
    for (kind, id, body) in &bodies {
        a.get(&format!("/{kind}/{id}")).await.assert_problem(404);
        a.put(&format!("/{kind}/{id}"), body).await.assert_problem(404);
        a.delete(&format!("/{kind}/{id}")).await.assert_problem(404);
        assert_eq!(
            b.get(&format!("/{kind}/{id}")).await.status,
            200,
            "{kind} still there for its owner"
        );
    }
}

#[actix_rt::test]
async fn targeted_events_reach_only_vens_with_those_targets() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &["g1"]).await;
    let (a, b) = (app.ven("a"), app.ven("b"));
    ven_object(&bl, &a, "site-a", &["g1"]).await;
    ven_object(&bl, &b, "site-b", &[]).await;
    assert_eq!(a.get("/events").await.ids(), vec![e.clone()]);
    assert_eq!(a.get("/events?targets=g1").await.ids(), vec![e.clone()]);
    assert_eq!(b.get("/events").await.body, json!([]));
    assert_eq!(
        b.get("/events?targets=g1").await.body,
        json!([]),
        "asking for a target it was not granted gives nothing"
    );
    b.get(&format!("/events/{e}")).await.assert_problem(404);
    assert_eq!(a.get(&format!("/events/{e}")).await.status, 200);
    b.post("/reports", &json!({"eventID": e, "clientName": "b", "resources": []}))
        .await
        .assert_problem(409);
}

#[actix_rt::test]
async fn a_ven_without_a_ven_object_sees_no_targeted_events() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    event(&bl, &p, &["g1"]).await;
    assert_eq!(app.ven("lonely").get("/events").await.body, json!([]));
}

#[actix_rt::test]
async fn targets_granted_through_a_resource_count() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &["r1"]).await;
    let a = app.ven("a");
    let ven = ven_object(&bl, &a, "site-a", &[]).await;
    assert_eq!(a.get("/events").await.body, json!([]));
    let res = json!({"objectType": "BL_RESOURCE_REQUEST", "clientID": a.client_id, "venID": ven, "resourceName": "rack", "targets": ["r1"]});
    assert_eq!(bl.post("/resources", &res).await.status, 201);
    assert_eq!(a.get("/events").await.ids(), vec![e]);
}

#[actix_rt::test]
async fn untargeted_events_are_readable_by_every_ven() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let e = event(&bl, &p, &[]).await;
    assert_eq!(app.ven("any").get("/events").await.ids(), vec![e]);
}

#[actix_rt::test]
async fn vens_see_only_their_granted_targets() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &["g1", "secret"]).await;
    let e = event(&bl, &p, &["g1", "secret"]).await;
    let a = app.ven("a");
    ven_object(&bl, &a, "site-a", &["g1"]).await;
    let seen = a.get("/events?targets=g1").await;
    assert_eq!(seen.body[0]["targets"], json!(["g1"]));
    assert_eq!(a.get(&format!("/events/{e}")).await.body["targets"], json!(["g1"]));
    assert_eq!(a.get(&format!("/programs/{p}")).await.body["targets"], json!(["g1"]));
    assert_eq!(a.get("/programs").await.body[0]["targets"], json!(["g1"]));
    assert_eq!(
        bl.get(&format!("/events/{e}")).await.body["targets"],
        json!(["g1", "secret"])
    );
}

/// Reports posted at the same moment are inserted together (one statement per group-commit batch on
/// PostgreSQL), yet each is still checked against what its own VEN may see (Definition §Object Privacy).
#[actix_rt::test]
async fn reports_posted_together_are_each_checked_against_their_own_vens_grants() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let p = program(&bl, "p", &[]).await;
    let (ea, eb, open) = (
        event(&bl, &p, &["group-a"]).await,
        event(&bl, &p, &["group-b"]).await,
        event(&bl, &p, &[]).await,
    );
    let (a, b) = (app.ven("a"), app.ven("b"));
    ven_object(&bl, &a, "site-a", &["group-a"]).await;
    ven_object(&bl, &b, "site-b", &["group-b"]).await;
    let missing = "no-such-event".to_owned();
    let mut posts = Vec::new();
    for i in 0..6 {
        for (ven, name) in [(&a, "a"), (&b, "b")] {
            for e in [&ea, &eb, &open, &missing] {
                posts.push(async move {
                    let body =
                        json!({"eventID": e, "clientName": name, "reportName": format!("{name}-{i}"), "resources": []});
                    (name, e.clone(), ven.post("/reports", &body).await.status)
                });
            }
        }
    }
    let results = futures_util::future::join_all(posts).await;
    for (name, e, status) in &results {
        let may_see = *e == open || (*name == "a" && *e == ea) || (*name == "b" && *e == eb);
        assert_eq!(*status, if may_see { 201 } else { 409 }, "{name} reporting on {e}");
    }
    for (ven, name, own) in [(&a, "a", &ea), (&b, "b", &eb)] {
        let mine = ven.get("/reports?limit=50").await;
        assert_eq!(
            mine.ids().len(),
            12,
            "{name}: six on its own event and six on the open one"
        );
        for r in mine.body.as_array().unwrap() {
            assert_eq!(r["clientName"], name);
            assert!(r["eventID"] == own.as_str() || r["eventID"] == open.as_str(), "{r}");
        }
    }
    assert_eq!(bl.get("/reports?limit=50").await.ids().len(), 24);
}

/// The target rule decided in Rust (`privacy::TargetFilter::admits`: notifications, SQLite's report
/// inserts) and in SQL (list queries on both databases; PostgreSQL's single and batched report inserts,
/// rendered by `privacy::admits_sql`) agree, for random targets and filters. Deterministic seeds, so a
/// failure names the case that shows it.
#[actix_rt::test]
async fn the_target_rule_in_sql_agrees_with_the_rule_in_rust() {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use sluice::privacy::TargetFilter;
    use sluice::store::conn::Batchable;
    use sluice::store::dialect::{ReportInsert, insert_report_checked};
    use sluice::store::repo::{EventFilter, ObjectWrite, ReportColumns, list_events};
    use sluice::wire::Page;

    const UNIVERSE: [&str; 5] = ["g1", "g2", "g3", "site:s1", "zone:north"];
    let app = TestApp::new().await;
    let bl = app.bl();
    let subset = |rng: &mut StdRng| -> Vec<String> {
        UNIVERSE
            .iter()
            .filter(|_| rng.random_bool(0.35))
            .map(|t| (*t).to_owned())
            .collect()
    };
    for case in 0..24u64 {
        let mut rng = StdRng::seed_from_u64(case);
        let p = program(&bl, &format!("p{case}"), &[]).await;
        let mut events: Vec<(String, Vec<String>)> = Vec::new();
        for _ in 0..6 {
            let targets = subset(&mut rng);
            let refs: Vec<&str> = targets.iter().map(String::as_str).collect();
            events.push((event(&bl, &p, &refs).await, targets));
        }
        let filter = match rng.random_range(0..3) {
            0 => TargetFilter::All,
            1 => TargetFilter::UntargetedOr(subset(&mut rng)),
            _ => TargetFilter::AnyOf(subset(&mut rng)),
        };
        let mut expected: Vec<String> = events
            .iter()
            .filter(|(_, t)| filter.admits((!t.is_empty()).then_some(&t[..])))
            .map(|(id, _)| id.clone())
            .collect();
        expected.sort();

        let (f, pid) = (filter.clone(), p.clone());
        let listed = app
            .state
            .db
            .read(move |c| {
                let by_program = EventFilter {
                    program_id: Some(pid.clone()),
                    active_at: None,
                };
                list_events(c, &by_program, &f, Page { skip: 0, limit: 50 })
            })
            .await
            .unwrap();
        let mut listed: Vec<String> = listed.into_iter().map(|o| o.id).collect();
        listed.sort();
        assert_eq!(listed, expected, "case {case}: list of events under {filter:?}");

        let report = |n: usize, event_id: &str| ReportInsert {
            write: ObjectWrite {
                id: format!("r-{case}-{n}-{event_id}"),
                body: "{}".into(),
                targets: None,
                now: crate::support::t0(),
            },
            columns: ReportColumns {
                event_id: event_id.to_owned(),
                client_id: "privacy-probe".into(),
                client_name: "privacy-probe".into(),
                report_name: None,
            },
            visible: filter.clone(),
            not_visible: "not visible",
            then: None,
        };
        let singles: Vec<ReportInsert> = events.iter().map(|(e, _)| report(1, e)).collect();
        let mut batch: Vec<ReportInsert> = events.iter().map(|(e, _)| report(2, e)).collect();
        let (one_by_one, together) = app
            .state
            .db
            .write(move |c| {
                let one_by_one: Vec<bool> = singles
                    .iter()
                    .map(|r| insert_report_checked(c, &r.write, &r.columns, &r.visible, r.not_visible).is_ok())
                    .collect();
                let mut refs: Vec<&mut ReportInsert> = batch.iter_mut().collect();
                let together: Vec<bool> = ReportInsert::run_many(c, &mut refs)?
                    .iter()
                    .map(Result::is_ok)
                    .collect();
                Ok::<_, sluice::store::StoreError>((one_by_one, together))
            })
            .await
            .unwrap();
        let admitted: Vec<bool> = events
            .iter()
            .map(|(_, t)| filter.admits((!t.is_empty()).then_some(&t[..])))
            .collect();
        assert_eq!(
            one_by_one, admitted,
            "case {case}: single report inserts under {filter:?}"
        );
        assert_eq!(
            together, admitted,
            "case {case}: batched report inserts under {filter:?}"
        );
    }
}

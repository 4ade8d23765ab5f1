//! The audit log: every write appends exactly one entry naming who asked, the hash chain detects an
//! edited, deleted or reordered entry (on SQLite and PostgreSQL alike), and entries written by two
//! instances at once chain into one log.

use std::process::Command;

use diesel::Connection;
use diesel::connection::SimpleConnection;
use serde_json::{Value, json};
use sluice::auth::Role;
use sluice::service::audit::{self, Broken};
use sluice::store::audit::{EntryRow, Filter};

use crate::receiver::Receiver;
use crate::support::{As, Resp, TestApp, several_instances_possible};

fn entries(app: &TestApp) -> Vec<EntryRow> {
    audit::list(&app.state.db, &Filter::default(), 0, i64::MAX).unwrap()
}

/// Runs SQL on the test's database directly, as someone with access to it would.
fn tamper(app: &TestApp, sql: &str) {
    let url = &app.db_url;
    if url.starts_with("postgres") {
        diesel::PgConnection::establish(url)
            .unwrap()
            .batch_execute(sql)
            .unwrap();
    } else {
        let path = url.trim_start_matches("sqlite://");
        diesel::SqliteConnection::establish(path)
            .unwrap()
            .batch_execute(sql)
            .unwrap();
    }
}

fn sealed(app: &TestApp) {
    audit::seal(&app.state.db, app.state.clock.now()).unwrap();
}

/// The id of the entry at chain position `n` (entries are sealed in id order within one instance).
fn nth(app: &TestApp, n: usize) -> i64 {
    entries(app)[n - 1].id
}

fn broken_at(app: &TestApp) -> Broken {
    audit::verify(&app.state.db)
        .unwrap()
        .expect_err("the tampered chain does not verify")
}

const METER: &str = "site_id,meter_id,channel,interval_start_utc,interval_end_utc,kwh,quality,source\n\
mine-1,M-1,delivered,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,2500,A,revenue\n";
const PRICES: &str = "series,interval_start_utc,interval_end_utc,price\n\
HB_NORTH,2026-07-01T16:00:00Z,2026-07-01T16:15:00Z,1200\n";

/// Every write operation of the access table (`api::access::OPERATIONS`; the token request is not a
/// change) appends exactly one entry, naming its caller, their role, the operation and the object.
#[actix_rt::test]
async fn every_write_operation_appends_exactly_one_audit_entry_naming_its_caller() {
    let app = TestApp::new().await;
    let rx = Receiver::start().await;
    let bl = app.bl();
    let ven = app.ven("mine-1");
    let mut exercised: Vec<(&str, &str)> = Vec::new();

    // One write by `who`; returns the response. The log gains exactly one entry, of this caller and
    // operation, naming an object.
    macro_rules! write {
        ($who:expr, $method:literal, $path:literal, $send:expr) => {{
            let who: &As = $who;
            let before = entries(&app).len();
            let r: Resp = $send;
            assert!(r.status == 200 || r.status == 201, "{} {}: {}", $method, $path, r.text);
            let log = entries(&app);
            assert_eq!(log.len(), before + 1, "{} {} appends one entry", $method, $path);
            let e = &log[before].entry;
            assert_eq!(e.actor, who.client_id, "{} {}", $method, $path);
            assert_eq!(e.action, concat!($method, " ", $path));
            assert!(e.request_id.is_some() && e.source.is_some(), "{e:?}");
            assert!(
                e.object_type.is_some() && e.object_id.is_some(),
                "{} {}: {e:?}",
                $method,
                $path
            );
            exercised.push(($method, $path));
            r
        }};
    }

    let p = write!(
        &bl,
        "POST",
        "/programs",
        bl.post("/programs", &json!({"programName": "ERS"})).await
    )
    .id();
    assert_eq!(entries(&app)[0].entry.actor_role, "operator");
    write!(
        &bl,
        "PUT",
        "/programs/{programID}",
        bl.put(&format!("/programs/{p}"), &json!({"programName": "ERS"})).await
    );
    let ven_body = json!({"objectType": "BL_VEN_REQUEST", "clientID": ven.client_id, "venName": "mine-1"});
    let v = write!(&bl, "POST", "/vens", bl.post("/vens", &ven_body).await).id();
    write!(
        &bl,
        "PUT",
        "/vens/{venID}",
        bl.put(&format!("/vens/{v}"), &ven_body).await
    );
    let res_body =
        json!({"objectType": "BL_RESOURCE_REQUEST", "clientID": ven.client_id, "venID": v, "resourceName": "miners"});
    let res = write!(&bl, "POST", "/resources", bl.post("/resources", &res_body).await).id();
    write!(
        &bl,
        "PUT",
        "/resources/{resourceID}",
        bl.put(&format!("/resources/{res}"), &res_body).await
    );
    let site_body = json!({"siteName": "mine-1", "venID": v, "kind": "MINING", "maxImportMW": "50", "meterID": "M-1"});
    let site = write!(&bl, "POST", "/ops/sites", bl.post("/ops/sites", &site_body).await).id();
    write!(
        &bl,
        "PUT",
        "/ops/sites/{siteID}",
        bl.put(&format!("/ops/sites/{site}"), &site_body).await
    );
    let enrollment_body = json!({"siteID": site, "programID": p, "shedMW": "40", "offerPrice": "50", "notice": "PT5M",
        "ramp": "PT5M", "start": "2026-01-01T00:00:00Z"});
    let enr = write!(
        &bl,
        "POST",
        "/ops/enrollments",
        bl.post("/ops/enrollments", &enrollment_body).await
    )
    .id();
    write!(
        &bl,
        "PUT",
        "/ops/enrollments/{enrollmentID}",
        bl.put(&format!("/ops/enrollments/{enr}"), &enrollment_body).await
    );
    let event_body = json!({"programID": p, "intervalPeriod": {"start": "2026-07-01T14:00:00Z", "duration": "PT1H"},
        "intervals": [{"id": 0, "payloads": [{"type": "SIMPLE", "values": [1]}]}]});
    let e = write!(&bl, "POST", "/events", bl.post("/events", &event_body).await).id();
    write!(
        &bl,
        "PUT",
        "/events/{eventID}",
        bl.put(&format!("/events/{e}"), &event_body).await
    );
    let report_body = json!({"eventID": e, "clientName": "mine-1", "resources": []});
    let rep = write!(&ven, "POST", "/reports", ven.post("/reports", &report_body).await).id();
    assert_eq!(entries(&app).last().unwrap().entry.actor_role, "ven");
    write!(
        &ven,
        "PUT",
        "/reports/{reportID}",
        ven.put(&format!("/reports/{rep}"), &report_body).await
    );
    write!(
        &ven,
        "DELETE",
        "/reports/{reportID}",
        ven.delete(&format!("/reports/{rep}")).await
    );
    let sub_body = json!({"clientName": "mine-1", "objectOperations": [
        {"objects": ["EVENT"], "operations": ["CREATE"], "callbackUrl": rx.url("/v")}]});
    let sub = write!(
        &ven,
        "POST",
        "/subscriptions",
        ven.post("/subscriptions", &sub_body).await
    )
    .id();
    write!(
        &ven,
        "PUT",
        "/subscriptions/{subscriptionID}",
        ven.put(&format!("/subscriptions/{sub}"), &sub_body).await
    );
    write!(
        &ven,
        "DELETE",
        "/subscriptions/{subscriptionID}",
        ven.delete(&format!("/subscriptions/{sub}")).await
    );
    let dispatch = json!({"programID": p, "targetMW": "40", "start": "2026-07-01T16:00:00Z", "duration": "PT1H"});
    let d = write!(
        &bl,
        "POST",
        "/ops/dispatches",
        bl.post("/ops/dispatches", &dispatch).await
    )
    .id();
    assert_eq!(
        entries(&app).last().unwrap().entry.object_type.as_deref(),
        Some("DISPATCH")
    );
    write!(
        &bl,
        "POST",
        "/ops/dispatches/{dispatchID}/cancel",
        bl.post(&format!("/ops/dispatches/{d}/cancel"), &json!({})).await
    );
    write!(
        &bl,
        "POST",
        "/ops/price-signals",
        bl.post(
            "/ops/price-signals",
            &json!({"programID": p, "currency": "USD", "intervalDuration": "PT15M", "prices": ["45.10"]})
        )
        .await
    );
    write!(
        &bl,
        "POST",
        "/ops/clients",
        bl.post("/ops/clients", &json!({"name": "mine-2"})).await
    );
    write!(
        &bl,
        "POST",
        "/ops/meter-data",
        bl.post_raw("/ops/meter-data", "text/csv", METER).await
    );
    write!(
        &bl,
        "POST",
        "/ops/prices",
        bl.post_raw("/ops/prices", "text/csv", PRICES).await
    );
    let rules = json!({"baseline": {"method": "FIRM_SERVICE_LEVEL"}, "energyPrice": {"series": "HB_NORTH"},
        "capacityRatePerMWMonth": "5000", "shortfall": {"rule": "PRO_RATA"}});
    write!(
        &bl,
        "PUT",
        "/ops/programs/{programID}/settlement-rules",
        bl.put(&format!("/ops/programs/{p}/settlement-rules"), &rules).await
    );
    write!(
        &bl,
        "POST",
        "/ops/settlements",
        bl.post(
            "/ops/settlements",
            &json!({"programID": p, "from": "2026-07-01", "to": "2026-07-31"})
        )
        .await
    );
    write!(
        &bl,
        "DELETE",
        "/ops/enrollments/{enrollmentID}",
        bl.delete(&format!("/ops/enrollments/{enr}")).await
    );
    // The settled site keeps its meter data and statements: a spare site and ven are deleted instead.
    let spare_ven = crate::support::ven_object(&bl, &app.ven("spare"), "spare", &[]).await;
    let spare_site = bl
        .post(
            "/ops/sites",
            &json!({"siteName": "spare", "venID": spare_ven, "kind": "MINING", "maxImportMW": "5"}),
        )
        .await
        .id();
    write!(
        &bl,
        "DELETE",
        "/ops/sites/{siteID}",
        bl.delete(&format!("/ops/sites/{spare_site}")).await
    );
    write!(
        &bl,
        "DELETE",
        "/resources/{resourceID}",
        bl.delete(&format!("/resources/{res}")).await
    );
    write!(
        &bl,
        "DELETE",
        "/vens/{venID}",
        bl.delete(&format!("/vens/{spare_ven}")).await
    );
    write!(
        &bl,
        "DELETE",
        "/events/{eventID}",
        bl.delete(&format!("/events/{e}")).await
    );
    let spare = crate::support::program(&bl, "spare", &[]).await;
    write!(
        &bl,
        "DELETE",
        "/programs/{programID}",
        bl.delete(&format!("/programs/{spare}")).await
    );

    // A refused write leaves no entry.
    let before = entries(&app).len();
    bl.post("/programs", &json!({"programName": "ERS"}))
        .await
        .assert_problem(409);
    assert_eq!(entries(&app).len(), before);

    exercised.sort();
    let mut writes: Vec<(&str, &str)> = sluice::api::access::OPERATIONS
        .iter()
        .filter(|o| o.method != "GET" && o.access != sluice::auth::Access::Public)
        .map(|o| (o.method, o.path))
        .collect();
    writes.sort();
    assert_eq!(exercised, writes, "every write operation is exercised here");
}

/// Some history to tamper with: five entries, sealed.
async fn history() -> TestApp {
    let app = TestApp::new().await;
    let bl = app.bl();
    for name in ["a", "b", "c", "d", "e"] {
        crate::support::program(&bl, name, &[]).await;
    }
    sealed(&app);
    let verified = audit::verify(&app.state.db).unwrap().unwrap();
    assert_eq!((verified.entries, verified.unsealed), (5, 0));
    app
}

#[actix_rt::test]
async fn an_edited_entry_is_named_by_verify() {
    let app = history().await;
    let third = nth(&app, 3);
    tamper(
        &app,
        &format!("UPDATE audit_log SET actor = 'someone-else' WHERE id = {third}"),
    );
    let broken = broken_at(&app);
    assert_eq!((broken.position, broken.id), (3, Some(third)), "{broken}");

    // The command says so too, and fails.
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["audit", "verify", "--database", &app.db_url])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("at position 3"), "{said}");
}

#[actix_rt::test]
async fn a_deleted_entry_is_named_by_verify() {
    let app = history().await;
    let second = nth(&app, 2);
    tamper(&app, &format!("DELETE FROM audit_log WHERE id = {second}"));
    let broken = broken_at(&app);
    assert_eq!((broken.position, broken.id), (2, Some(second)), "{broken}");
    assert!(broken.reason.contains("missing"), "{broken}");
}

/// Seals are chained too: one removed (with the entries it listed, say) breaks the chain where it was.
#[actix_rt::test]
async fn a_deleted_seal_is_named_by_verify() {
    let app = history().await;
    let bl = app.bl();
    crate::support::program(&bl, "f", &[]).await;
    sealed(&app);
    assert_eq!(audit::verify(&app.state.db).unwrap().unwrap().entries, 6);
    tamper(&app, "DELETE FROM audit_seals WHERE seal = 1");
    let broken = broken_at(&app);
    assert_eq!((broken.position, broken.id), (1, None), "{broken}");
    assert!(broken.reason.contains("seal 1 is missing"), "{broken}");
}

#[actix_rt::test]
async fn swapped_entries_are_named_by_verify() {
    let app = history().await;
    // The content of the entries at positions 2 and 4 trade places; their ids stay.
    let (two, four) = (nth(&app, 2), nth(&app, 4));
    tamper(
        &app,
        &format!(
            "UPDATE audit_log SET object_id = CASE id \
                 WHEN {two} THEN (SELECT object_id FROM audit_log WHERE id = {four}) \
                 ELSE (SELECT object_id FROM audit_log WHERE id = {two}) END \
             WHERE id IN ({two}, {four})"
        ),
    );
    assert_eq!(broken_at(&app).position, 2);
}

#[actix_rt::test]
async fn an_untouched_log_verifies_from_the_command_line() {
    let app = history().await;
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["audit", "verify", "--database", &app.db_url])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("5 entries"), "{said}");
}

/// Two instances write at once and both seal: one chain, every entry in it once.
#[actix_rt::test]
async fn entries_written_by_two_instances_at_once_chain_into_one_log_that_verifies() {
    if !several_instances_possible() {
        return;
    }
    let one = TestApp::new().await;
    let two = one.second_instance().await;
    let (a, b) = (one.bl(), two.bl().on(&two));
    let writes = (0..20).flat_map(|i| {
        let (a, b) = (a.clone(), b.clone());
        [
            tokio::task::spawn_local(
                async move { a.post("/programs", &json!({"programName": format!("a{i}")})).await },
            ),
            tokio::task::spawn_local(
                async move { b.post("/programs", &json!({"programName": format!("b{i}")})).await },
            ),
        ]
    });
    let sealing = {
        let (d1, d2) = (one.state.db.clone(), two.state.db.clone());
        tokio::task::spawn_blocking(move || {
            for _ in 0..20 {
                std::thread::scope(|s| {
                    s.spawn(|| audit::seal(&d1, chrono::Utc::now()).unwrap());
                    s.spawn(|| audit::seal(&d2, chrono::Utc::now()).unwrap());
                });
            }
        })
    };
    for w in writes.collect::<Vec<_>>() {
        assert_eq!(w.await.unwrap().status, 201);
    }
    sealing.await.unwrap();
    sealed(&one);
    sealed(&two);
    let verified = audit::verify(&two.state.db).unwrap().unwrap();
    assert_eq!((verified.entries, verified.unsealed), (40, 0));
    let ids: std::collections::HashSet<Value> = entries(&one).iter().map(|e| json!(e.entry.object_id)).collect();
    assert_eq!(ids.len(), 40, "each program's entry is in the log once");
}

/// Administrators and auditors read the log, filtered by actor, object, action and time, a page at a
/// time, or exported as CSV.
#[actix_rt::test]
async fn admins_and_viewers_read_the_log_filtered_paginated_and_exported_as_csv() {
    // The test seals when it means to: the server's own sealer first runs an hour after the start.
    let app = TestApp::with_settings(|s| s.audit.seal_interval_ms = 3_600_000).await;
    let (bl, desk) = (app.bl(), app.client(Role::Enrollment, "onboarding"));
    let (admin, viewer) = (app.client(Role::Admin, "it"), app.client(Role::Viewer, "auditor"));
    let p = crate::support::program(&bl, "ERS", &[]).await;
    bl.put(&format!("/programs/{p}"), &json!({"programName": "ERS-2"}))
        .await;
    app.clock.advance(chrono::TimeDelta::hours(1));
    crate::support::program(&desk, "CBP", &[]).await;

    let all = admin.get("/ops/audit").await;
    assert_eq!(all.status, 200, "{}", all.text);
    assert_eq!(all.body.as_array().unwrap().len(), 3);
    let first = &all.body[0];
    assert_eq!(
        (
            first["actor"].as_str(),
            first["action"].as_str(),
            first["objectType"].as_str()
        ),
        (Some(bl.client_id.as_str()), Some("POST /programs"), Some("PROGRAM"))
    );
    assert_eq!(
        all.body[1]["beforeDigest"], first["afterDigest"],
        "an update starts where the last change ended"
    );

    let ids = |r: &Resp| -> Vec<i64> {
        r.body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_i64().unwrap())
            .collect()
    };
    let by_desk = viewer.get(&format!("/ops/audit?actor={}", desk.client_id)).await;
    assert_eq!(by_desk.body.as_array().unwrap().len(), 1, "{}", by_desk.text);
    assert_eq!(by_desk.body[0]["actorRole"], "enrollment");
    let of_p = viewer.get(&format!("/ops/audit?objectType=PROGRAM&objectID={p}")).await;
    assert_eq!(ids(&of_p), ids(&all)[..2]);
    let updates = viewer.get("/ops/audit?action=PUT%20/programs/%7BprogramID%7D").await;
    assert_eq!(ids(&updates), ids(&all)[1..2]);
    let later = viewer.get("/ops/audit?from=2026-07-01T12:30:00Z").await;
    assert_eq!(ids(&later), ids(&all)[2..]);
    let earlier = viewer.get("/ops/audit?to=2026-07-01T12:30:00Z").await;
    assert_eq!(ids(&earlier), ids(&all)[..2]);
    let second = viewer.get("/ops/audit?skip=1&limit=1").await;
    assert_eq!(ids(&second), ids(&all)[1..2]);

    sealed(&app);
    let csv = admin.get("/ops/audit?format=csv").await;
    assert_eq!(csv.header("content-type"), Some("text/csv"));
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(lines.len(), 4, "{}", csv.text);
    assert!(
        lines[0].starts_with("id,at,actor,actor_role,source,action"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains(",2026-07-01T12:00:00") && lines[1].contains("POST /programs"),
        "{}",
        lines[1]
    );

    admin.get("/ops/audit?format=xml").await.assert_problem(400);
    admin.get("/ops/audit?limit=10001").await.assert_problem(400);
    bl.get("/ops/audit").await.assert_problem(403);
    desk.get("/ops/audit").await.assert_problem(403);
}

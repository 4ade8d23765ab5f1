//! Hostile and malformed input: always a problem body with a 4xx, never a 500.

use serde_json::json;

use crate::support::{TestApp, program};

#[actix_rt::test]
async fn malformed_json_is_a_400_problem() {
    let app = TestApp::new().await;
    let bl = app.bl();
    bl.post_raw("/programs", "application/json", "{not json")
        .await
        .assert_problem(400);
    bl.post_raw("/programs", "application/json", "")
        .await
        .assert_problem(400);
    bl.post_raw("/programs", "application/json", "[1,2]")
        .await
        .assert_problem(400);
    bl.post_raw("/programs", "application/json", r#"{"programName": 5}"#)
        .await
        .assert_problem(400);
    bl.post_raw("/vens", "application/json", "\u{0}\u{1}")
        .await
        .assert_problem(400);
}

#[actix_rt::test]
async fn oversized_bodies_are_413_and_nothing_is_written() {
    let app = TestApp::with_settings(|s| s.server.max_body_bytes = 4096).await;
    let bl = app.bl();
    let big = json!({"programName": "p", "attributes": [{"type": "DESCRIPTION", "values": ["x".repeat(8000)]}]});
    bl.post("/programs", &big).await.assert_problem(413);
    assert!(bl.get("/programs").await.ids().is_empty());
}

#[actix_rt::test]
async fn unknown_routes_are_404_problems_and_problems_quote_the_request_id() {
    let app = TestApp::new().await;
    let r = app.bl().get("/nothing-here").await;
    r.assert_problem(404);
    let id = r.header("x-request-id").unwrap().to_owned();
    assert_eq!(r.body["instance"], format!("urn:uuid:{id}"));
}

/// A method a path is not served with is 405 with `Allow` naming those it is (RFC 9110 §15.5.6), not 404.
#[actix_rt::test]
async fn an_undeclared_method_on_an_existing_path_is_405_with_allow() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let r = bl.put("/programs", &json!({})).await;
    r.assert_problem(405);
    assert_eq!(r.header("allow"), Some("GET, POST"));
    let r = bl.post("/programs/some-id", &json!({})).await;
    r.assert_problem(405);
    assert_eq!(r.header("allow"), Some("GET, PUT, DELETE"));
    let r = app.anonymous().delete("/auth/token").await;
    r.assert_problem(405);
    assert_eq!(r.header("allow"), Some("POST"));
    bl.put("/programs/a/b", &json!({})).await.assert_problem(404);
}

#[actix_rt::test]
async fn successful_responses_are_application_json() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let id = program(&bl, "p", &[]).await;
    for r in [
        bl.get("/programs").await,
        bl.get(&format!("/programs/{id}")).await,
        app.anonymous().get("/auth/server").await,
    ] {
        assert_eq!(r.header("content-type"), Some("application/json"), "{}", r.text);
    }
}

#[actix_rt::test]
async fn health_checks_the_database() {
    let app = TestApp::new().await;
    let r = app.anonymous().get("/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["database"], "ok");
}

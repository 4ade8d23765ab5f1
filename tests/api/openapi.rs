//! The OpenAPI document: committed, in step with the code, covering the spec's operations, and served.

use crate::support::TestApp;

const COMMITTED: &str = include_str!("../../openapi/openapi.json");

#[test]
fn committed_openapi_document_matches_the_code() {
    let generated = sluice::api::openapi().to_pretty_json().unwrap();
    assert!(
        generated.trim() == COMMITTED.trim(),
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json` and commit it"
    );
}

/// Every (method, path, operationId) of the OpenADR 3.1.0 yaml.
const SPEC_OPERATIONS: &[(&str, &str, &str)] = &[
    ("get", "/programs", "searchAllPrograms"),
    ("post", "/programs", "createProgram"),
    ("get", "/programs/{programID}", "searchProgramByProgramId"),
    ("put", "/programs/{programID}", "updateProgram"),
    ("delete", "/programs/{programID}", "deleteProgram"),
    ("get", "/reports", "searchAllReports"),
    ("post", "/reports", "createReport"),
    ("get", "/reports/{reportID}", "searchReportsByReportID"),
    ("put", "/reports/{reportID}", "updateReport"),
    ("delete", "/reports/{reportID}", "deleteReport"),
    ("get", "/events", "searchAllEvents"),
    ("post", "/events", "createEvent"),
    ("get", "/events/{eventID}", "searchEventsByID"),
    ("put", "/events/{eventID}", "updateEvent"),
    ("delete", "/events/{eventID}", "deleteEvent"),
    ("get", "/subscriptions", "searchSubscriptions"),
    ("post", "/subscriptions", "createSubscription"),
    ("get", "/subscriptions/{subscriptionID}", "searchSubscriptionByID"),
    ("put", "/subscriptions/{subscriptionID}", "updateSubscription"),
    ("delete", "/subscriptions/{subscriptionID}", "deleteSubscription"),
    ("get", "/vens", "searchVens"),
    ("post", "/vens", "createVen"),
    ("get", "/vens/{venID}", "searchVenByID"),
    ("put", "/vens/{venID}", "updateVen"),
    ("delete", "/vens/{venID}", "deleteVen"),
    ("get", "/resources", "searchVenResources"),
    ("post", "/resources", "createResource"),
    ("get", "/resources/{resourceID}", "searchVenResourceByID"),
    ("put", "/resources/{resourceID}", "updateVenResource"),
    ("delete", "/resources/{resourceID}", "deleteVenResource"),
    ("get", "/auth/server", "getAuthServerInfo"),
    ("post", "/auth/token", "fetchToken"),
    ("get", "/notifiers", "listAllNotifiers"),
    (
        "get",
        "/notifiers/mqtt/topics/programs",
        "listAllMqttNotifierTopicsPrograms",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/programs/{programID}",
        "listAllMqttNotifierTopicsProgram",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/events",
        "listAllMqttNotifierTopicsEvents",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/programs/{programID}/events",
        "listAllMqttNotifierTopicsProgramEvents",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/reports",
        "listAllMqttNotifierTopicsReports",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/subscriptions",
        "listAllMqttNotifierTopicsSubscriptions",
    ),
    ("get", "/notifiers/mqtt/topics/vens", "listAllMqttNotifierTopicsVens"),
    (
        "get",
        "/notifiers/mqtt/topics/vens/{venID}",
        "listAllMqttNotifierTopicsVen",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/resources",
        "listAllMqttNotifierTopicsResources",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/vens/{venID}/events",
        "listAllMqttNotifierTopicsVenEvents",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/vens/{venID}/programs",
        "listAllMqttNotifierTopicsVenPrograms",
    ),
    (
        "get",
        "/notifiers/mqtt/topics/vens/{venID}/resources",
        "listAllMqttNotifierTopicsVenResources",
    ),
];

#[test]
fn every_spec_operation_is_documented_with_the_specs_operation_id() {
    let doc: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    for (method, path, op) in SPEC_OPERATIONS {
        let found = &doc["paths"][path][method]["operationId"];
        assert_eq!(found, op, "{method} {path}");
    }
}

#[actix_rt::test]
async fn the_document_and_the_api_page_are_served_without_a_cdn() {
    let app = TestApp::new().await;
    let doc = app.anonymous().get("/openapi.json").await;
    assert_eq!(doc.status, 200);
    assert_eq!(
        doc.body,
        serde_json::from_str::<serde_json::Value>(COMMITTED).unwrap(),
        "serves what is committed"
    );
    let page = app.anonymous().get("/docs/").await;
    assert_eq!(page.status, 200);
    assert!(page.text.contains("<rapi-doc") && page.text.contains("spec-url=\"/openapi.json\""));
    assert!(
        !page.text.contains("http://") && !page.text.contains("https://"),
        "the page loads nothing from elsewhere"
    );
    let js = app.anonymous().get("/docs/rapidoc-min.js").await;
    assert_eq!(js.status, 200);
    assert!(js.text.len() > 100_000, "the viewer is served by Sluice itself");
}

//! The OpenAPI document: committed, in step with the code, covering the spec's operations, and served.

use sluice::auth::{Role, Scope, Scopes};

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

/// The documented `security` of every operation equals what is enforced: the routed operations and the
/// access table name the same operations, and for tokens of every single scope, of both roles, of all
/// scopes and of none, an operation answers 403 exactly when its documented requirements (alternatives,
/// each needing all of its scopes) or its documented permission exclude the token — before reading the
/// body, which is malformed here.
#[actix_rt::test]
async fn documented_scopes_are_the_enforced_scopes_of_every_operation() {
    let doc: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for (method, op) in ops.as_object().unwrap() {
            documented.push((
                method.to_uppercase(),
                path.clone(),
                op["security"].clone(),
                op[sluice::api::access::PERMISSION_EXTENSION]
                    .as_str()
                    .map(str::to_owned),
            ));
        }
    }
    for o in sluice::api::access::OPERATIONS {
        let documented = &doc["paths"][o.path][o.method.to_lowercase()][sluice::api::access::PERMISSION_EXTENSION];
        assert_eq!(
            documented.as_str(),
            o.permission.map(|p| p.as_str()),
            "{} {} documents the permission it declares",
            o.method,
            o.path
        );
    }
    let mut declared: Vec<(String, String)> = sluice::api::access::OPERATIONS
        .iter()
        .map(|o| (o.method.to_owned(), o.path.to_owned()))
        .collect();
    let mut served: Vec<(String, String)> = documented.iter().map(|(m, p, _, _)| (m.clone(), p.clone())).collect();
    declared.sort();
    served.sort();
    assert_eq!(
        declared, served,
        "the access table names exactly the documented operations"
    );

    let app = TestApp::new().await;
    let mut tokens: Vec<(String, Scopes)> = Scope::ALL
        .iter()
        .map(|s| (s.as_str().to_owned(), Scopes::of(&[*s])))
        .collect();
    tokens.push(("no scope".into(), Scopes::default()));
    tokens.push(("ven".into(), Role::Ven.scopes()));
    tokens.push(("operator".into(), Role::Operator.scopes()));
    tokens.push(("every scope".into(), Scopes::of(&Scope::ALL)));
    let clients: Vec<_> = tokens.iter().map(|(name, s)| (name, *s, app.with_scopes(*s))).collect();
    let mut checked = 0;
    // These tokens name no permission: a business-logic one holds the operator's (auth::roles).
    let operator = sluice::auth::Role::Operator.permissions();
    for (method, path, security, permission) in &documented {
        let url = crate::support::probe_path(path);
        let requirements: Vec<Vec<String>> = security
            .as_array()
            .map(|alts| {
                alts.iter()
                    .map(|alt| serde_json::from_value(alt["bearerAuth"].clone()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        if requirements.is_empty() {
            let r = app.anonymous().probe(method, &url).await;
            assert_ne!(
                r.status, 401,
                "{method} {path} is documented as open but asks for a token"
            );
            continue;
        }
        let anonymous = app.anonymous().probe(method, &url).await;
        assert_eq!(anonymous.status, 401, "{method} {path} without a token");
        for (name, scopes, client) in &clients {
            let permitted = !scopes.contains(Scope::ReadAll)
                || permission
                    .as_deref()
                    .is_none_or(|p| operator.iter().any(|held| held.as_str() == p));
            let admitted = permitted
                && requirements
                    .iter()
                    .any(|req| req.iter().all(|s| scopes.contains(Scope::parse(s).unwrap())));
            let r = client.probe(method, &url).await;
            if admitted {
                assert!(
                    r.status != 401 && r.status != 403,
                    "{method} {path} is documented open to a token with {name}, but answered {}: {}",
                    r.status,
                    r.text
                );
            } else {
                assert_eq!(
                    r.status, 403,
                    "{method} {path} is documented closed to a token with {name}, but answered: {}",
                    r.text
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked > 700,
        "every operation is tried with every token ({checked} requests)"
    );
}

//! Roles: every operation of the one access declaration (`api::access::OPERATIONS`) called with a token of
//! every role, compared with the committed table `tests/api/role_matrix.md`. OpenADR 3.1 Definition
//! §Security names the business logic and VEN clients; Sluice's roles divide the business logic.

use sluice::api::access::OPERATIONS;
use sluice::auth::{Principal, Role};

use crate::support::{TestApp, probe_path};

const MATRIX: &str = "tests/api/role_matrix.md";

/// The table as the server answers it: ✓ where the role's call got past authorization, `403` where it
/// was refused. Each answer is also checked against what the declaration says for that role.
async fn observed(app: &TestApp) -> String {
    let callers: Vec<(Role, crate::support::As)> = Role::ALL
        .into_iter()
        .map(|role| (role, app.client(role, role.as_str())))
        .collect();
    let mut table = String::from("| operation |");
    for (role, _) in &callers {
        table.push_str(&format!(" {} |", role.as_str()));
    }
    table.push_str("\n|---|");
    table.push_str(&"---|".repeat(callers.len()));
    for op in OPERATIONS {
        table.push_str(&format!("\n| `{} {}` |", op.method, op.path));
        for (role, client) in &callers {
            let r = client.probe(op.method, &probe_path(op.path)).await;
            let names: Vec<&str> = role
                .scopes()
                .iter()
                .map(|s| s.as_str())
                .chain(role.permissions().scope_names())
                .collect();
            let principal = Principal::from_scope_names(client.client_id.clone(), names);
            let declared = op.admits(&principal);
            let admitted = !matches!(r.status, 401 | 403);
            assert_eq!(
                admitted, declared,
                "{} {} for {role}: the declaration says {declared}, the server answered {}: {}",
                op.method, op.path, r.status, r.text
            );
            table.push_str(if admitted { " ✓ |" } else { " 403 |" });
        }
    }
    table.push('\n');
    table
}

#[actix_rt::test]
async fn every_role_may_call_exactly_the_operations_of_the_committed_role_matrix() {
    let app = TestApp::new().await;
    let table = observed(&app).await;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(MATRIX);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    // The file's introduction, then the table.
    let (intro, body) = committed.split_at(committed.find("| operation |").unwrap_or(committed.len()));
    if std::env::var_os("UPDATE_ROLE_MATRIX").is_some() {
        std::fs::write(&path, format!("{intro}{table}")).unwrap();
        return;
    }
    assert!(
        body == table,
        "the server's answers differ from {MATRIX}; if the change is meant, run the test with \
         UPDATE_ROLE_MATRIX=1 and review the diff. The server answers:\n{table}"
    );
}

#[test]
fn the_readme_shows_the_role_table_the_code_declares() {
    let readme = include_str!("../../README.md");
    let table = Role::table();
    assert!(
        readme.contains(&table),
        "README.md must show the role table as `auth::roles` declares it:\n{table}"
    );
}

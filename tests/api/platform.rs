//! Storage, TLS and the command line: what an operator touches around the API.

use std::process::Command;

use diesel::RunQueryDsl;
use diesel::sql_types::Text;
use sluice::store::{Db, DbOptions};

use crate::support::{TestApp, TestDb, event, program};

#[derive(diesel::QueryableByName, Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

fn columns(db: &Db) -> Vec<Column> {
    let mut cols = db
        .read_blocking(|c| {
            let sql = match c {
                sluice::store::AnyConnection::Postgresql(_) => {
                    "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
                     WHERE table_schema = 'public' AND table_name <> '__diesel_schema_migrations'"
                }
                sluice::store::AnyConnection::Sqlite(_) => {
                    "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p \
                     WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'"
                }
            };
            Ok(diesel::sql_query(sql).load::<Column>(c)?)
        })
        .unwrap();
    cols.sort();
    cols
}

#[test]
fn migrations_run_up_down_and_up_again() {
    let t = TestDb::new();
    let db = Db::connect(&DbOptions::new(&t.url)).unwrap();
    let applied = db.migrate_blocking().unwrap();
    assert!(!applied.is_empty());
    let before = columns(&db);
    assert!(
        before
            .iter()
            .any(|c| c.table_name == "events" && c.column_name == "ends_at")
    );
    for _ in 0..applied.len() {
        db.revert_last_blocking().unwrap();
    }
    assert!(columns(&db).is_empty(), "down migrations remove every table");
    db.migrate_blocking().unwrap();
    assert_eq!(columns(&db), before);
    assert!(db.migrate_blocking().unwrap().is_empty(), "migrating twice is a no-op");
}

/// Both migration folders must produce the same tables and columns (the one `schema.rs` serves both).
#[test]
fn sqlite_and_postgres_schemas_agree() {
    let Some(pg) = std::env::var("TEST_DATABASE_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("TEST_DATABASE_URL is not set: comparing needs PostgreSQL; .ci/run sets it");
        return;
    };
    let pg_db = TestDb::new();
    assert!(pg_db.url.starts_with("postgres"), "{pg}");
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Db::connect(&DbOptions::new(format!(
        "sqlite://{}",
        dir.path().join("s.db").display()
    )))
    .unwrap();
    let postgres = Db::connect(&DbOptions::new(&pg_db.url)).unwrap();
    sqlite.migrate_blocking().unwrap();
    postgres.migrate_blocking().unwrap();
    // The one table of one backend: PostgreSQL's writers commit audit entries out of id order, so the
    // sealer finds them in a queue; SQLite's one writer commits them in id order (`store::audit`).
    let postgres_only = |c: &Column| c.table_name == "audit_unsealed";
    let mut pg_cols = columns(&postgres);
    assert!(pg_cols.iter().any(postgres_only));
    pg_cols.retain(|c| !postgres_only(c));
    assert_eq!(columns(&sqlite), pg_cols);
}

#[actix_rt::test]
async fn https_serves_tls_and_refuses_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = sluice::startup::write_dev_cert(dir.path()).unwrap();
    let app = TestApp::with_settings(|s| {
        s.tls.cert = Some(cert.clone());
        s.tls.key = Some(key.clone());
    })
    .await;
    assert!(app.base.starts_with("https://"));
    let tls12 = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .max_tls_version(reqwest::tls::Version::TLS_1_2)
        .build()
        .unwrap();
    let r = tls12.get(format!("{}/health", app.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["strict-transport-security"],
        "max-age=31536000",
        "browsers are told to keep to HTTPS"
    );
    let plain = app.base.replace("https://", "http://");
    let r = reqwest::get(format!("{plain}/health")).await;
    assert!(
        r.is_err() || r.unwrap().status() != 200,
        "plain HTTP must not be served on the TLS port"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600,
            "private key is owner-only"
        );
    }
}

/// What a browser or a shared cache is told on every response, whoever answered it: the handler, the
/// access check refusing a token, or the URL check.
#[actix_rt::test]
async fn every_response_forbids_sniffing_and_storing_and_pages_carry_a_content_security_policy() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let anonymous = app.anonymous();
    let answers = [
        ("a program list", bl.get("/programs").await),
        ("a refused token", anonymous.get("/programs").await),
        ("an unknown path", anonymous.get("/nowhere").await),
        ("a URL naming NUL", anonymous.get("/programs?x=%00").await),
        ("the health check", anonymous.get("/health").await),
    ];
    for (what, r) in &answers {
        assert_eq!(
            r.header("x-content-type-options"),
            Some("nosniff"),
            "{what}: {}",
            r.status
        );
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}: {}", r.status);
        assert_eq!(r.header("strict-transport-security"), None, "{what}: plain HTTP");
        assert_eq!(r.header("content-security-policy"), None, "{what}: not a page");
    }
    assert_eq!(answers[1].1.status, 401);
    assert_eq!(answers[3].1.status, 400);

    let page = anonymous.get("/docs/").await;
    assert_eq!(page.status, 200);
    let policy = page
        .header("content-security-policy")
        .expect("the API page has a policy");
    for directive in [
        "default-src 'self'",
        "script-src 'self'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ] {
        assert!(policy.contains(directive), "{directive} in {policy}");
    }
    assert!(!policy.contains("unsafe-eval"), "{policy}");
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let script = anonymous.get("/docs/rapidoc-min.js").await;
    assert_eq!(
        script.header("cache-control"),
        Some("public, max-age=86400"),
        "the page's script stays cacheable"
    );
    assert_eq!(script.header("x-content-type-options"), Some("nosniff"));
}

fn sluice(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(args)
        .env_remove("SLUICE_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn cli_client_add_prints_one_json_line_and_list_and_remove_work() {
    let t = TestDb::new();
    let out = sluice(&[
        "client",
        "add",
        "--role",
        "ven",
        "--name",
        "site-9",
        "--database",
        &t.url,
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1);
    let issued: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(issued["role"], "ven");
    let id = issued["client_id"].as_str().unwrap().to_owned();
    assert!(issued["client_secret"].as_str().unwrap().len() >= 43);

    let out = sluice(&["client", "list", "--database", &t.url]);
    let listed = String::from_utf8(out.stdout).unwrap();
    assert!(listed.contains(&id) && listed.contains("site-9"));
    assert!(
        !listed.contains(issued["client_secret"].as_str().unwrap()),
        "secrets are never listed"
    );

    let removed = sluice(&["client", "remove", &id, "--database", &t.url]);
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    assert!(
        !sluice(&["client", "remove", &id, "--database", &t.url])
            .status
            .success()
    );
}

#[test]
fn invalid_configuration_is_reported_all_at_once_and_stops_start_up() {
    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--bind", "nonsense"])
        .env("SLUICE_DATABASE__POOL_SIZE", "0")
        .env("SLUICE_LOG__FORMAT", "xml")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in ["server.bind", "database.pool_size", "log.format"] {
        assert!(err.contains(expected), "{expected} missing from: {err}");
    }
}

/// Several stateless instances on one PostgreSQL: a change made through one reaches the cached lists of
/// the other (NOTIFY at commit, heard by the other instance's listener within its poll interval).
#[actix_rt::test]
async fn a_second_instance_on_the_same_postgres_sees_changes_made_through_the_first() {
    if !crate::support::several_instances_possible() {
        return;
    }
    let a = TestApp::new().await;
    let b = a.second_instance().await;
    let bl = a.bl();
    let ven = a.ven("v");
    crate::support::ven_object(&bl, &ven, "site", &["g1"]).await;
    let ven_on_b = ven.on(&b);
    assert_eq!(
        ven_on_b.get("/events").await.body,
        serde_json::json!([]),
        "token and data shared by both"
    );
    let p = crate::support::program(&bl, "p", &[]).await;
    let e = crate::support::event(&bl, &p, &["g1"]).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        if ven_on_b.get("/events").await.ids() == vec![e.clone()] {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "instance b never saw the event created through a"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[actix_rt::test]
async fn cached_event_lists_change_as_soon_as_an_event_is_written() {
    let app = TestApp::new().await;
    let bl = app.bl();
    let ven = app.ven("v");
    let p = program(&bl, "p", &[]).await;
    let first = event(&bl, &p, &[]).await;
    assert_eq!(ven.get("/events").await.ids(), vec![first.clone()]);
    assert_eq!(
        ven.get("/events").await.ids(),
        vec![first.clone()],
        "served again (from the cache)"
    );
    let second = event(&bl, &p, &[]).await;
    assert_eq!(ven.get("/events").await.ids(), vec![first.clone(), second.clone()]);
    bl.delete(&format!("/events/{first}")).await;
    assert_eq!(ven.get("/events").await.ids(), vec![second]);
}

/// A cached list of active events is not keyed on the clock (every poll would make a new entry): it is
/// served until the first event in it ends, and not a moment longer.
#[actix_rt::test]
async fn a_cached_list_of_active_events_drops_an_event_the_moment_it_ends() {
    let app = TestApp::new().await;
    let at = |h, m, s| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 7, 1, h, m, s).unwrap();
    app.clock.set(at(14, 59, 58));
    let bl = app.bl();
    let ven = app.ven("v");
    let p = program(&bl, "p", &[]).await;
    let ev = event(&bl, &p, &[]).await; // 14:00 to 15:00
    assert_eq!(ven.get("/events?active=true").await.ids(), vec![ev.clone()]);
    app.clock.set(at(14, 59, 59));
    assert_eq!(ven.get("/events?active=true").await.ids(), vec![ev.clone()]);
    app.clock.set(at(15, 0, 0));
    assert!(ven.get("/events?active=true").await.ids().is_empty(), "ended at 15:00");
    assert_eq!(ven.get("/events").await.ids(), vec![ev], "still listed without active");
}

/// SQLite commits concurrent writes in groups; each write still stands or falls alone.
#[actix_rt::test]
async fn concurrent_writes_commit_independently_even_when_grouped() {
    use sluice::store::repo::{self, ObjectWrite};
    let t = TestDb::new();
    let db = Db::connect(&DbOptions::new(&t.url)).unwrap();
    db.migrate_blocking().unwrap();
    let now = crate::support::t0();
    let handles: Vec<_> = (0..60)
        .map(|i| {
            let db = db.clone();
            actix_rt::spawn(async move {
                let name = format!("p{}", i % 40); // 20 of the 60 repeat a name and must fail alone
                let w = ObjectWrite {
                    id: format!("id{i}"),
                    body: "{}".into(),
                    targets: None,
                    now,
                };
                db.write(move |c| repo::insert_program(c, &w, &name)).await
            })
        })
        .collect();
    let mut ok = 0;
    for h in handles {
        match h.await.unwrap() {
            Ok(_) => ok += 1,
            Err(e) => assert!(matches!(e, sluice::store::StoreError::Conflict(_)), "{e}"),
        }
    }
    assert_eq!(ok, 40);
    let page = sluice::wire::Page { skip: 0, limit: 100 };
    let stored = db
        .read(move |c| repo::list_programs(c, &sluice::privacy::TargetFilter::All, page))
        .await
        .unwrap();
    assert_eq!(stored.len(), 40);
}

/// `sluice serve` stops cleanly on SIGTERM (in-flight requests are drained; nothing is left running).
#[test]
fn serve_starts_on_sqlite_with_no_setup_and_exits_cleanly_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .current_dir(dir.path())
        .env_remove("SLUICE_CONFIG")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut resp = String::new();
            let _ = s.read_to_string(&mut resp);
            if resp.starts_with("HTTP/1.1 200") {
                break;
            }
        }
        assert!(std::time::Instant::now() < deadline, "server did not come up");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        dir.path().join("sluice.db").exists(),
        "the default SQLite database is created on first start"
    );
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status:?}");
}

//! Foundation over HTTP against a real database: authentication, tenancy, environment
//! selection, the failure envelope, limits, trace ids, readiness and the CLI.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

use crate::helpers::{
    assert_failure, database_url_for, db, run_cli, tenants, wait_for, OrgEnvironments, Role, TcpProxy,
    TestApp, BIN,
};

#[sqlx::test]
async fn health_and_readiness_answer_in_the_envelope(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let resp = app.raw(Method::GET, "/healthz", &[], "").await;
    assert!(resp.headers.contains_key("x-trace-id"));
    let (status, body) = (resp.status, resp.json());
    assert_eq!(status, 200);
    assert_eq!(body["status"], "successful");
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["database"], "up");
}

#[sqlx::test]
async fn a_request_without_a_key_is_401(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let (status, body) = app.call(Method::GET, "/si/org/environments", None, None).await;
    assert_eq!(status, 401);
    assert_eq!(assert_failure(&body), "unauthorized");

    let resp = app
        .raw(
            Method::GET,
            "/si/org/environments",
            &[("authorization", "Basic abc")],
            "",
        )
        .await;
    let (status, body) = (resp.status, resp.json());
    assert_eq!(status, 401);
    assert_eq!(assert_failure(&body), "unauthorized");
}

#[sqlx::test]
async fn an_unknown_key_is_401(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let (status, body) = app
        .call(
            Method::GET,
            "/si/org/environments",
            Some("tpm_notarealkeyatall"),
            None,
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(assert_failure(&body), "unauthorized");
}

#[sqlx::test]
async fn a_revoked_key_is_401(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let key = tenants::create_key(&pool, app.tenant.org_id, Role::Tenant)
        .await
        .unwrap();
    let path = "/si/org/environments";
    assert_eq!(app.call(Method::GET, path, Some(&key.api_key), None).await.0, 200);
    assert!(tenants::revoke_key(&pool, key.key_id).await.unwrap());
    let (status, body) = app.call(Method::GET, path, Some(&key.api_key), None).await;
    assert_eq!(status, 401);
    assert_eq!(assert_failure(&body), "unauthorized");
    // The organization's other key is untouched.
    assert_eq!(app.call(Method::GET, path, Some(app.key()), None).await.0, 200);
}

#[sqlx::test]
async fn another_organizations_environment_is_404(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let other = tenants::create_tenant(&pool, "Other Org").await.unwrap();
    let other_env = other.environments[0].id;
    let (status, body) = app
        .get_raw(&format!("/si/org/environments?envId={other_env}"))
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(assert_failure(&body), "not_found");
    // And the other organization's key cannot see ours either.
    let (status, _) = app
        .call(
            Method::GET,
            &format!("/si/org/environments?envId={}", app.env_id("sandbox")),
            Some(&other.api_key),
            None,
        )
        .await;
    assert_eq!(status, 404);
}

#[sqlx::test]
async fn the_environment_is_chosen_by_env_id_then_env_else_sandbox(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let chosen: OrgEnvironments = app.get("/si/org/environments").await;
    assert_eq!(chosen.env, "sandbox");
    assert_eq!(chosen.env_id.to_string(), app.env_id("sandbox"));
    assert_eq!(chosen.environments.len(), 2);

    let chosen: OrgEnvironments = app.get("/si/org/environments?env=production").await;
    assert_eq!(chosen.env_id.to_string(), app.env_id("production"));

    let prod = app.env_id("production");
    let chosen: OrgEnvironments = app
        .get(&format!("/si/org/environments?envId={prod}&env=sandbox"))
        .await;
    assert_eq!(chosen.env_id.to_string(), prod, "envId wins over env");

    // From a JSON body.
    let (status, body) = app
        .call(
            Method::GET,
            "/si/org/environments",
            Some(app.key()),
            Some(&json!({"envId": prod})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["envId"], prod);

    let (status, body) = app.get_raw("/si/org/environments?env=staging").await;
    assert_eq!(status, 400);
    assert_eq!(assert_failure(&body), "invalid_request");
    assert!(body["error"]["fields"]["env"].is_string(), "{body}");

    let (status, body) = app.get_raw("/si/org/environments?envId=not-a-uuid").await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["envId"].is_string(), "{body}");
}

#[sqlx::test]
async fn unknown_routes_and_wrong_methods_answer_in_the_envelope(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let (status, body) = app.call(Method::GET, "/si/mono/nowhere", None, None).await;
    assert_eq!(status, 404);
    assert_eq!(assert_failure(&body), "not_found");

    let (status, body) = app.call(Method::DELETE, "/healthz", None, None).await;
    assert_eq!(status, 405);
    assert_eq!(assert_failure(&body), "method_not_allowed");
}

#[sqlx::test]
async fn bodies_over_one_mebibyte_are_413(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let big = "x".repeat(1024 * 1024 + 10);
    let resp = app
        .raw(
            Method::GET,
            "/si/org/environments",
            &[
                ("authorization", &app.bearer()),
                ("content-type", "application/json"),
            ],
            format!("{{\"pad\":\"{big}\"}}"),
        )
        .await;
    let (status, body) = (resp.status, resp.json());
    assert_eq!(status, 413);
    assert_eq!(assert_failure(&body), "payload_too_large");
}

#[sqlx::test]
async fn the_request_id_is_echoed_as_the_trace_id(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let resp = app
        .raw(
            Method::GET,
            "/si/org/environments",
            &[("x-request-id", "req-12345")],
            "",
        )
        .await;
    assert_eq!(resp.headers["x-trace-id"], "req-12345");
    assert_eq!(resp.json()["traceId"], "req-12345");

    let resp = app.raw(Method::GET, "/healthz", &[], "").await;
    let generated = resp.header("x-trace-id").unwrap();
    assert_eq!(generated.len(), 32);
}

#[sqlx::test]
async fn metrics_count_requests_by_route_and_status(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    app.raw(Method::GET, "/healthz", &[], "").await;
    let text = app.raw(Method::GET, "/metrics", &[], "").await.text();
    assert!(text.contains("http_requests_total"), "{text}");
    assert!(text.contains("route=\"/healthz\""), "{text}");
    assert!(text.contains("http_request_duration_seconds_bucket"), "{text}");
    assert!(text.contains("db_pool_connections"), "{text}");
}

#[sqlx::test]
async fn readiness_follows_a_database_outage_and_recovers(pool_opts: PgPoolOptions, conn: PgConnectOptions) {
    let target = format!("{}:{}", conn.get_host(), conn.get_port());
    let proxy = TcpProxy::start(target).await;
    let proxied = conn.clone().host("127.0.0.1").port(proxy.port);
    let pool = db::pool_with(proxied, 4);
    drop(pool_opts);
    let app = TestApp::builder(pool).start().await;

    let ready = || async { app.raw(Method::GET, "/readyz", &[], "").await.status };
    assert_eq!(ready().await, 200);

    proxy.cut();
    let (status, body) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, 503);
    assert_eq!(assert_failure(&body), "database_unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.raw(Method::GET, "/healthz", &[], "").await.status, 200);

    proxy.restore();
    wait_for(
        "readiness to return by itself once the database is back",
        Duration::from_secs(10),
        move || async move { ready().await == 200 },
    )
    .await;
}

#[sqlx::test]
async fn the_cli_creates_a_tenant_and_a_key(_opts: PgPoolOptions, conn: PgConnectOptions) {
    let url = database_url_for(&conn);
    let out = run_cli(&url, &["tenant", "create", "--name", "CLI Org", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let org_id = created["orgId"].as_str().unwrap().to_string();
    assert!(created["apiKey"].as_str().unwrap().starts_with("tpm_"));
    let names: Vec<_> = created["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"sandbox".to_string()) && names.contains(&"production".to_string()));

    let out = run_cli(&url, &["key", "create", "--org", &org_id, "--admin", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(key["keyId"].is_string());

    let pool = PgPool::connect(&url).await.unwrap();
    let role: String = sqlx::query_scalar("SELECT role FROM api_keys WHERE id = $1::uuid")
        .bind(key["keyId"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(role, "admin");
    let stored: Vec<u8> = sqlx::query_scalar("SELECT key_hash FROM api_keys WHERE id = $1::uuid")
        .bind(key["keyId"].as_str().unwrap())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_ne!(
        stored,
        key["apiKey"].as_str().unwrap().as_bytes(),
        "only the hash is stored"
    );

    let out = run_cli(
        &url,
        &["key", "create", "--org", "00000000-0000-0000-0000-000000000000"],
    );
    assert!(!out.status.success());
}

#[test]
fn an_invalid_variable_stops_start_up_naming_it() {
    let out = std::process::Command::new(BIN)
        .args(["serve"])
        .env("DATABASE_URL", "postgres://x@127.0.0.1:1/x")
        .env("MONO_BUSINESS_FLOOR", "lots")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("MONO_BUSINESS_FLOOR"), "{stderr}");
}

/// The backend serving the pool's next connection, and whether the query got through.
async fn backend(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

/// Waits until `pool`'s connection is back in it (sqlx returns it, with a ping, in a task of
/// its own), then ends its backend and waits until the server no longer lists it.
async fn terminate(admin: &PgPool, pool: &PgPool, pid: i32) {
    wait_for(
        "the connection to be back in its pool",
        Duration::from_secs(10),
        || async { pool.num_idle() == 1 },
    )
    .await;
    let _: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1)")
        .bind(pid)
        .fetch_one(admin)
        .await
        .unwrap();
    wait_for("the backend to end", Duration::from_secs(10), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(admin)
            .await
            .unwrap();
        n == 0
    })
    .await;
}

#[sqlx::test]
async fn a_pooled_connection_idle_long_enough_is_pinged_and_replaced_when_dead(pool: PgPool) {
    let options = (*pool.connect_options()).clone();

    // Pinged after any idle time: the dead connection is replaced before the query.
    let pinging = taxpoynt_mono::db::pool_pinging_after(options.clone(), 1, Duration::ZERO);
    let first = backend(&pinging).await.unwrap();
    terminate(&pool, &pinging, first).await;
    let second = backend(&pinging).await.expect("the dead connection is replaced");
    assert_ne!(first, second);

    // Not pinged after a short idle time (sqlx pinged it on its return to the pool): a
    // connection that died within that time fails the one query that finds it dead, and the
    // pool then replaces it.
    let trusting = taxpoynt_mono::db::pool_pinging_after(options, 1, Duration::from_secs(3600));
    let first = backend(&trusting).await.unwrap();
    terminate(&pool, &trusting, first).await;
    assert!(
        backend(&trusting).await.is_err(),
        "the connection was handed out unpinged"
    );
    let second = backend(&trusting)
        .await
        .expect("the pool opened a new connection");
    assert_ne!(first, second);
}

//! `/openapi.json`, `/docs` and `/demo/callback`: the document describes exactly the routes
//! the router serves, is a valid OpenAPI 3.1 document, and the reference page is served from
//! the binary.

use reqwest::Method;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::{raw, TestApp};

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

/// Every (method, path) of the document.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                ops.push((method.to_string(), path.clone()));
            }
        }
    }
    ops
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.to_uppercase().as_bytes()).unwrap()
}

#[sqlx::test]
async fn the_document_is_valid_openapi_3_1(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let resp = raw(Method::GET, &app.url("/openapi.json"), &[], Vec::new()).await;
    assert_eq!(resp.status, 200);
    assert!(resp
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let doc = resp.json();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        doc["openapi"]
    );

    let schema: Value = serde_json::from_str(include_str!("../fixtures/openapi/schema-3.1.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the OpenAPI 3.1 schema compiles");
    assert!(
        !validator.is_valid(&serde_json::json!({"openapi": "3.1.0", "paths": {}})),
        "the schema check must refuse a document without info"
    );
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "not valid OpenAPI 3.1:\n{}", errors.join("\n"));

    // A mistake the schema cannot see: a $ref to a schema that is not there.
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for part in text.split("\"#/components/schemas/").skip(1) {
        let name = &part[..part.find('"').unwrap()];
        assert!(schemas.contains_key(name), "dangling $ref to {name}");
    }
}

#[sqlx::test]
async fn every_documented_operation_is_routed_and_described(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let doc = raw(Method::GET, &app.url("/openapi.json"), &[], Vec::new())
        .await
        .json();
    let ops = operations(&doc);
    assert!(ops.len() >= 35, "only {} operations documented", ops.len());
    for scheme in ["bearer", "webhookSecret", "webhookSignature"] {
        assert!(
            doc["components"]["securitySchemes"].get(scheme).is_some(),
            "security scheme {scheme} missing"
        );
    }

    for (m, path) in &ops {
        let op = &doc["paths"][path][m];
        let label = format!("{} {path}", m.to_uppercase());
        assert!(
            op["tags"].as_array().is_some_and(|t| !t.is_empty()),
            "{label}: no tag"
        );
        assert!(op["summary"].is_string(), "{label}: no summary");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{label}: no success response"
        );
        assert!(responses.contains_key("500"), "{label}: no 500");
        if path.starts_with("/si/") {
            for status in ["400", "401", "415", "503"] {
                let failure = &responses
                    .get(status)
                    .unwrap_or_else(|| panic!("{label}: no {status}"));
                assert_eq!(
                    failure["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Failure",
                    "{label}: {status} is not the failure envelope"
                );
            }
            assert!(
                op["security"].as_array().is_some_and(|s| !s.is_empty()),
                "{label}: no security"
            );
        }
        if let Some(body) = op.get("requestBody") {
            assert!(
                body["content"]["application/json"]["schema"].is_object(),
                "{label}: untyped body"
            );
        }

        // Routed: an anonymous call reaches the route (401, 400, 200, ...), not the fallback.
        let concrete = path.replace("{id}", "00000000-0000-4000-8000-000000000000");
        let resp = raw(method(m), &app.url(&concrete), &[], Vec::new()).await;
        let fallback = resp.status == 404 && resp.text().contains("no route for")
            || resp.status == 405 && resp.text().contains("is not allowed on");
        assert!(
            !fallback,
            "{label} is documented but not routed: {} {}",
            resp.status,
            resp.text()
        );
    }
}

/// Routes enter the router only through `routes!(...)`, which refuses a handler without
/// `#[utoipa::path]`; a plain `.route(` would slip past, so none may exist, and every handler
/// named in `routes!` is one documented operation.
#[test]
fn no_route_is_mounted_without_its_description() {
    let source = include_str!("../../src/http/router.rs");
    assert!(
        !source.contains(".route("),
        "src/http/router.rs mounts a route with `.route(`: use `.routes(routes!(handler))` and document it"
    );
    let handlers: usize = source
        .split("routes!(")
        .skip(1)
        .map(|rest| {
            rest[..rest.find(')').unwrap()]
                .split(',')
                .filter(|h| !h.trim().is_empty())
                .count()
        })
        .sum();
    let doc: Value = serde_json::to_value(taxpoynt_mono::http::router::document()).unwrap();
    assert_eq!(
        operations(&doc).len(),
        handlers,
        "the router mounts {handlers} handlers but the document has a different number of operations"
    );
}

#[sqlx::test]
async fn the_reference_page_is_served_from_the_binary(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let page = raw(Method::GET, &app.url("/docs"), &[], Vec::new()).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("spec-url=\"/openapi.json\""), "{html}");
    assert!(html.contains("src=\"/docs/redoc.standalone.js\""), "{html}");
    assert!(
        !html.contains("https://"),
        "the page must not load anything from the internet"
    );

    let js = raw(
        Method::GET,
        &app.url("/docs/redoc.standalone.js"),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(js.status, 200);
    assert!(js.header("content-type").unwrap().starts_with("text/javascript"));
    assert!(js.header("cache-control").unwrap().contains("max-age=31536000"));
    assert!(
        js.body.len() > 500_000,
        "the Redoc bundle is {} bytes",
        js.body.len()
    );
}

#[sqlx::test]
async fn the_demo_callback_shows_the_code_escaped(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let page = raw(
        Method::GET,
        &app.url("/demo/callback?code=code_abc%3Cb%3E"),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(
        page.text().contains("<pre id=\"code\">code_abc&lt;b&gt;</pre>"),
        "{}",
        page.text()
    );
}

/// Every JSON answer of a resource names its type: `EnvelopeOf<T>` or `PageOf<T>`. The
/// untyped envelopes are left to the few answers whose shape is open by design.
#[test]
fn success_answers_name_their_data_type() {
    let doc: Value = serde_json::to_value(taxpoynt_mono::http::router::document()).unwrap();
    let mut untyped = Vec::new();
    for (method, path) in operations(&doc) {
        for (status, response) in doc["paths"][&path][&method]["responses"].as_object().unwrap() {
            if !status.starts_with('2') {
                continue;
            }
            let Some(schema) = response.pointer("/content/application~1json/schema") else {
                continue;
            };
            let reference = schema["$ref"].as_str().unwrap_or_default();
            if reference.contains("EnvelopeOf") || reference.contains("PageOf") {
                let name = reference.rsplit('/').next().unwrap();
                assert!(
                    doc["components"]["schemas"][name]["properties"]["data"].is_object(),
                    "{name} has no data schema"
                );
            } else if path != "/openapi.json" {
                untyped.push(format!("{} {path}", method.to_uppercase()));
            }
        }
    }
    untyped.sort();
    assert_eq!(
        untyped,
        [
            // No resource: a confirmation.
            "DELETE /si/mono/allow-deny/{id}",
            "GET /healthz",
            // Mono's own list (or the linked ones), passed through.
            "GET /si/mono/accounts",
            // Eligibility or monitoring events, by `kind`.
            "GET /si/mono/events",
        ]
    );
}

/// The document's `info.version` is the newest version CHANGELOG.md lists, so a contract
/// change raises both together.
#[test]
fn the_document_version_is_the_changelogs_newest() {
    let changelog = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/CHANGELOG.md")).unwrap();
    let newest = changelog
        .lines()
        .find_map(|l| l.strip_prefix("## [")?.split(']').next())
        .expect("a version heading");
    let doc: serde_json::Value =
        serde_json::from_str(taxpoynt_mono::http::router::document_json()).expect("the document");
    assert_eq!(doc["info"]["version"], newest);
}

#[sqlx::test]
async fn the_account_schema_names_its_connection_and_sync_states(pool: PgPool) {
    let app = TestApp::builder(pool).start().await;
    let doc = raw(Method::GET, &app.url("/openapi.json"), &[], Vec::new())
        .await
        .json();
    let schemas = &doc["components"]["schemas"];
    let values = |name: &str| -> Vec<String> {
        let mut v: Vec<String> = schemas[name]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{name} is an enum: {}", schemas[name]))
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        values("Connection"),
        ["ok", "reauth_required", "sync_failed", "unlinked"]
    );
    assert_eq!(values("SyncState"), ["backoff", "idle", "queued", "running"]);
    let account = &schemas["AccountView"]["properties"];
    assert!(account.get("connection").is_some(), "{account}");
    assert!(account.get("sync").is_some(), "{account}");
}

/// The selectors and paging parameters every list shares are typed as the server reads them:
/// `env` one of the two environment names, `envId` a UUID, `limit` and `page` integers.
#[test]
fn shared_parameters_are_typed() {
    let doc: serde_json::Value =
        serde_json::from_str(taxpoynt_mono::http::router::document_json()).expect("the document");
    let resolve = |schema: &serde_json::Value| -> serde_json::Value {
        match schema.get("$ref").and_then(|r| r.as_str()) {
            Some(r) => doc["components"]["schemas"][r.rsplit('/').next().unwrap()].clone(),
            None => schema.clone(),
        }
    };
    let mut seen = std::collections::BTreeMap::<&str, usize>::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for param in op["parameters"].as_array().into_iter().flatten() {
                let name = param["name"].as_str().unwrap();
                let schema = resolve(&param["schema"]);
                let types = |t: &str| {
                    schema["type"] == t
                        || schema["type"]
                            .as_array()
                            .is_some_and(|a| a.iter().any(|x| x == t))
                };
                match name {
                    "env" => {
                        assert_eq!(
                            schema["enum"],
                            serde_json::json!(["sandbox", "production"]),
                            "{method} {path}: {schema}"
                        );
                        *seen.entry("env").or_default() += 1;
                    }
                    "envId" => {
                        assert_eq!(schema["format"], "uuid", "{method} {path}: {schema}");
                        *seen.entry("envId").or_default() += 1;
                    }
                    "limit" | "page" => {
                        assert!(types("integer"), "{method} {path} {name}: {schema}");
                        *seen.entry("paging").or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    assert!(
        seen["env"] > 20 && seen["envId"] > 20 && seen["paging"] >= 4,
        "{seen:?}"
    );
}

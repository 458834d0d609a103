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

/// Where a schema leaves its values open: a property with no type, an object with neither
/// properties nor typed members, an array of anything. Walks every parameter, body and JSON
/// answer of every operation through `$ref`s; each finding is `<where> (<what>)`.
fn open_spots(doc: &Value) -> Vec<String> {
    fn walk(doc: &Value, schema: &Value, at: String, seen: &mut Vec<String>, found: &mut Vec<String>) {
        if let Some(reference) = schema["$ref"].as_str() {
            let name = reference.rsplit('/').next().unwrap().to_string();
            if !seen.contains(&name) {
                seen.push(name.clone());
                walk(doc, &doc["components"]["schemas"][&name], name, seen, found);
            }
            return;
        }
        let mut combined = false;
        for key in ["oneOf", "anyOf", "allOf"] {
            for (i, item) in schema[key].as_array().into_iter().flatten().enumerate() {
                combined = true;
                walk(doc, item, format!("{at}/{key}{i}"), seen, found);
            }
        }
        if combined || schema.get("enum").is_some() || schema.get("const").is_some() {
            return;
        }
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => {
                found.push(format!("{at} (no type)"));
                return;
            }
        };
        if types.contains(&"object") {
            let properties = schema["properties"].as_object();
            let members = &schema["additionalProperties"];
            let typed_members = members.as_object().is_some_and(|m| !m.is_empty());
            if properties.is_none_or(|p| p.is_empty()) && !typed_members && members != &Value::Bool(false) {
                found.push(format!("{at} (an object of anything)"));
            }
            for (name, property) in properties.into_iter().flatten() {
                walk(doc, property, format!("{at}.{name}"), seen, found);
            }
            if typed_members {
                walk(doc, members, format!("{at}{{*}}"), seen, found);
            }
        }
        if types.contains(&"array") {
            match schema.get("items") {
                Some(items) if items.as_object().is_some_and(|i| !i.is_empty()) => {
                    walk(doc, items, format!("{at}[]"), seen, found)
                }
                _ => found.push(format!("{at} (an array of anything)")),
            }
        }
    }
    let mut seen = Vec::new();
    let mut found = Vec::new();
    for (method, path) in operations(doc) {
        let op = &doc["paths"][&path][&method];
        let label = format!("{} {path}", method.to_uppercase());
        for param in op["parameters"].as_array().into_iter().flatten() {
            walk(
                doc,
                &param["schema"],
                format!("{label} ?{}", param["name"].as_str().unwrap()),
                &mut seen,
                &mut found,
            );
        }
        if let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") {
            walk(doc, schema, format!("{label} body"), &mut seen, &mut found);
        }
        for (status, response) in op["responses"].as_object().unwrap() {
            if let Some(schema) = response.pointer("/content/application~1json/schema") {
                walk(doc, schema, format!("{label} {status}"), &mut seen, &mut found);
            }
        }
    }
    found.sort();
    found
}

/// Every answer, body and parameter is typed, so a client generated from the document reads
/// no `unknown`; the only open values are the ones the contract leaves open by design.
#[test]
fn every_value_is_typed_but_a_few_open_by_design() {
    let doc: Value = serde_json::to_value(taxpoynt_mono::http::router::document()).unwrap();
    assert_eq!(
        open_spots(&doc),
        [
            // The document itself.
            "GET /openapi.json 200 (an object of anything)",
            // A single-item job's run notes, for people (bulk jobs' progress is typed).
            "JobProgress/anyOf3 (an object of anything)",
            // A DLQ record's transaction, as Mono sent it (in both answers that carry one).
            "EnvelopeOf_DlqRecord.data.transaction (an object of anything)",
            "PageOf_DlqRecord.data[].transaction (an object of anything)",
            // A webhook delivery's data, as Mono sends it.
            "MonoDelivery.data (an object of anything)",
        ]
        .into_iter()
        .map(String::from)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect::<Vec<_>>()
    );

    // The walk finds what it looks for.
    let mut broken = doc.clone();
    broken["components"]["schemas"]["Address"]["properties"]["city"] = serde_json::json!({});
    assert!(open_spots(&broken).iter().any(|s| s == "Address.city (no type)"));
}

/// Every request body is a named schema, so a generated client has a type to build it with;
/// a body that may be left out says so (`required: false`) rather than allowing `null`.
#[test]
fn every_request_body_is_a_named_schema() {
    let doc: Value = serde_json::to_value(taxpoynt_mono::http::router::document()).unwrap();
    let mut optional = Vec::new();
    for (method, path) in operations(&doc) {
        let Some(body) = doc["paths"][&path][&method].get("requestBody") else {
            continue;
        };
        let schema = &body["content"]["application/json"]["schema"];
        assert!(
            schema["$ref"]
                .as_str()
                .is_some_and(|r| r.starts_with("#/components/schemas/")),
            "{method} {path}: the body is not a named schema: {schema}"
        );
        if body["required"] != true {
            optional.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    optional.sort();
    assert_eq!(
        optional,
        [
            "POST /si/invoices/{id}/confirm",
            "POST /si/mono/dlq/replay",
            "POST /si/mono/dlq/{id}/replay",
            "POST /si/mono/sync-stored",
        ]
    );
}

/// Every operation has an `operationId` no other one has (OpenAPI requires it): a generated
/// client names its operations by them, so two alike would type one with the other's answer.
#[test]
fn every_operation_id_is_unique() {
    let doc: Value = serde_json::to_value(taxpoynt_mono::http::router::document()).unwrap();
    let mut seen: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (method, path) in operations(&doc) {
        let id = doc["paths"][&path][&method]["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
        seen.entry(id.to_string())
            .or_default()
            .push(format!("{} {path}", method.to_uppercase()));
    }
    let shared: Vec<_> = seen.iter().filter(|(_, ops)| ops.len() > 1).collect();
    assert!(shared.is_empty(), "operationIds used more than once: {shared:?}");
    assert_eq!(seen["list_invoices"], ["GET /si/invoices"]);
    assert_eq!(seen["list_dlq"], ["GET /si/mono/dlq"]);
}

/// The contract's closed vocabularies are enums in the document, each with exactly its values.
#[test]
fn closed_vocabularies_are_enums() {
    let doc: Value = serde_json::to_value(taxpoynt_mono::http::router::document()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let values_of = |schema: &Value| -> Vec<String> {
        // An optional member is `oneOf: [null, <the vocabulary>]`.
        let schema = schema["oneOf"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i.get("$ref").is_some()))
            .unwrap_or(schema);
        let schema = match schema["$ref"].as_str() {
            Some(r) => &schemas[r.rsplit('/').next().unwrap()],
            None => schema,
        };
        let mut v: Vec<String> = schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("not an enum: {schema}"))
            .iter()
            .filter_map(|s| s.as_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    };
    let property = |schema: &str, name: &str| values_of(&schemas[schema]["properties"][name]);
    assert_eq!(property("DlqRecord", "status"), ["open", "resolved"]);
    assert_eq!(property("DlqRecord", "source"), ["replay", "sync", "webhook"]);
    assert_eq!(
        property("DlqRecord", "resolution"),
        ["dismissed", "invoiced_manually", "replayed"]
    );
    assert_eq!(
        property("ResolveBody", "resolution"),
        ["dismissed", "invoiced_manually"]
    );
    assert!(property("DlqRecord", "reason").contains(&"own_account_transfer".to_string()));
    assert_eq!(property("Replayed", "outcome"), ["dlq", "draft", "skipped"]);
    assert_eq!(
        property("EligibilityEvent", "outcome"),
        ["dlq", "draft", "skipped"]
    );
    assert_eq!(property("Receipt", "outcome"), ["ignored", "processed", "queued"]);
    assert_eq!(property("WidgetLink", "scope"), ["auth", "reauth"]);
    assert_eq!(
        property("JobView", "status"),
        ["done", "failed", "queued", "running"]
    );
    assert!(property("JobView", "kind").contains(&"dlq_replay".to_string()));
    assert_eq!(
        property("InvoiceView", "status"),
        ["CONFIRMED", "DISCARDED", "DRAFT", "SIGNED", "VALIDATED"]
    );
    assert_eq!(
        property("InvoiceView", "paymentStatus"),
        ["none", "pending", "settled"]
    );
    assert_eq!(property("InvoiceView", "invoiceKind"), ["B2B", "B2C", "B2G"]);
    assert_eq!(property("InvoiceView", "typeCode"), ["380", "381"]);
    assert_eq!(
        property("SubmissionView", "status"),
        ["accepted", "prepared", "rejected", "submitted", "unknown"]
    );
    assert_eq!(
        property("AccountView", "connection"),
        ["ok", "reauth_required", "sync_failed", "unlinked"]
    );
    assert_eq!(property("RuleView", "list"), ["allow", "deny"]);
    assert_eq!(property("NewRuleBody", "match"), ["contains", "exact", "regex"]);

    // The events list: one item schema per `kind`, told apart by it.
    let events =
        &doc["paths"]["/si/mono/events"]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
    let page = &schemas[events["$ref"].as_str().unwrap().rsplit('/').next().unwrap()];
    let item = &page["properties"]["data"]["items"];
    let item = match item["$ref"].as_str() {
        Some(r) => &schemas[r.rsplit('/').next().unwrap()],
        None => item,
    };
    let kinds: Vec<String> = item["oneOf"]
        .as_array()
        .expect("events are a oneOf")
        .iter()
        .flat_map(|variant| {
            let variants: Vec<&Value> = match variant["allOf"].as_array() {
                Some(parts) => parts.iter().collect(),
                None => vec![variant],
            };
            variants
                .into_iter()
                .filter_map(|v| {
                    v.pointer("/properties/kind/enum/0")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(kinds, ["eligibility", "invoice_failed"]);
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

/// Every example the document gives for a request body is one its own schema accepts, so a
/// developer copying it from `/docs` sends a valid body.
#[test]
fn every_body_example_fits_its_schema() {
    let doc: Value = serde_json::to_value(taxpoynt_mono::http::router::document()).unwrap();
    let mut checked = 0;
    for (method, path) in operations(&doc) {
        let Some(content) = doc["paths"][&path][&method].pointer("/requestBody/content/application~1json")
        else {
            continue;
        };
        let reference = content["schema"]["$ref"].as_str().expect("a named body schema");
        let named = &doc["components"]["schemas"][reference.rsplit('/').next().unwrap()];
        let examples: Vec<&Value> = [content.get("example"), named.get("example")]
            .into_iter()
            .flatten()
            .collect();
        // The schema with the document's components beside it, so its `$ref`s resolve.
        let schema = serde_json::json!({
            "$ref": reference,
            "components": doc["components"],
        });
        let validator = jsonschema::validator_for(&schema).expect("the body schema compiles");
        for example in examples {
            let errors: Vec<String> = validator
                .iter_errors(example)
                .map(|e| format!("{e} at {}", e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{} {path}: the example {example} does not fit: {errors:?}",
                method.to_uppercase()
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} examples checked");

    // The check refuses what does not fit.
    let schema =
        serde_json::json!({"$ref": "#/components/schemas/ResolveBody", "components": doc["components"]});
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(!validator.is_valid(&serde_json::json!({"resolution": "ignored"})));
}

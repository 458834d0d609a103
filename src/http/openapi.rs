//! The OpenAPI 3.1 document, generated from the same code as the router: every handler carries
//! `#[utoipa::path]` and is mounted with `utoipa_axum::routes!`, so a route cannot be served
//! without being described. This module adds what is shared: info, tags, the envelopes, the
//! failure statuses every operation can answer, and the security schemes.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{ContentBuilder, OpenApi as OpenApiDoc, Ref, ResponseBuilder};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::http::envelope::PageMeta;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "taxpoynt-mono",
        description = "Mono Connect bank-feed connector for the Taxpoynt SI platform: links bank \
accounts through Mono, syncs their transactions, classifies each one and drafts an invoice or \
sends it to the dead-letter queue (DLQ) for review.\n\nEvery answer is an envelope: \
`{\"status\":\"successful\",\"message\",\"timestamp\",\"data\",\"meta\"?}` on success and \
`{\"status\":\"failed\",\"message\",\"timestamp\",\"data\":null,\"error\":{\"code\",\"fields\"?},\"traceId\"}` \
on failure. `/si/*` calls take `Authorization: Bearer <api key>` and may name an environment \
with `envId` or `env` (query or JSON body).",
        license(name = "UNLICENSED"),
        // The contract's version, raised with every change CHANGELOG.md lists.
        version = "0.3.0",
    ),
    servers((url = "/", description = "this service")),
    tags(
        (name = "accounts", description = "Linking bank accounts through the Mono widget and reading them"),
        (name = "sync", description = "Fetching transactions from Mono and the event log of their outcomes"),
        (name = "invoices", description = "Drafted invoices: review, confirm, validate, sign"),
        (name = "dlq", description = "Transactions that did not become invoices, and replaying them"),
        (name = "rules", description = "Allow and deny rules, and the preview of a rule change"),
        (name = "settings", description = "Per-environment eligibility settings"),
        (name = "buyers", description = "The organization's buyer directory: the buyers its invoices name, and how a transaction's counterparty matches one"),
        (name = "org", description = "The organization, its environments, its supplier profile and its MBS crypto keys"),
        (name = "mbs", description = "The e-invoicing platform's code lists (invoice types, tax categories, …)"),
        (name = "webhooks", description = "Mono's webhook deliveries, their status and background jobs"),
        (name = "ops", description = "Health, readiness, metrics"),
        (name = "docs", description = "This document, its browsable page and the sandbox demo page"),
    ),
    components(schemas(
        Failure, FailureError, PageMeta, EnvParam,
        // The vocabularies only query and path parameters name.
        crate::vocab::Outcome, crate::vocab::Reason, crate::vocab::EventKind, crate::vocab::DlqStatus,
        crate::vocab::RuleList, crate::vocab::QrFormat, crate::vocab::ResourceName, crate::vocab::DateBound,
        crate::invoice::InvoiceStatus, crate::invoice::InvoiceKind, crate::invoice::PaymentStatus,
        crate::services::accounts::Connection,
    )),
)]
pub struct ApiDoc;

pub use crate::vocab::EnvParam;

/// The success envelope around one resource of type `T`.
#[derive(ToSchema)]
pub struct EnvelopeOf<T: ToSchema> {
    /// Always `successful`.
    #[schema(example = "successful")]
    pub status: String,
    pub message: String,
    /// RFC 3339 time of the answer.
    pub timestamp: String,
    pub data: T,
}

/// The success envelope of a paged list of `T`: `meta` says where the next page starts.
#[derive(ToSchema)]
pub struct PageOf<T: ToSchema> {
    /// Always `successful`.
    #[schema(example = "successful")]
    pub status: String,
    pub message: String,
    /// RFC 3339 time of the answer.
    pub timestamp: String,
    pub data: Vec<T>,
    pub meta: PageMeta,
}

/// The success envelope of a list whose `data` is `T` (an array, or a choice of arrays), with
/// `meta` paging it.
#[derive(ToSchema)]
pub struct ListOf<T: ToSchema> {
    /// Always `successful`.
    #[schema(example = "successful")]
    pub status: String,
    pub message: String,
    /// RFC 3339 time of the answer.
    pub timestamp: String,
    pub data: T,
    pub meta: PageMeta,
}

/// The failure envelope: every error, from a bad field to an outage.
#[derive(ToSchema)]
#[schema(example = json!({"status": "failed", "message": "accountId: must not be empty", "timestamp": "2026-12-04T10:00:00Z", "data": null, "error": {"code": "invalid_request", "fields": {"accountId": "must not be empty"}}, "traceId": "0af7651916cd43dd8448eb211c80319c"}))]
pub struct Failure {
    /// Always `failed`.
    #[schema(example = "failed")]
    pub status: String,
    /// What went wrong, for a person.
    pub message: String,
    pub timestamp: String,
    /// Always null.
    #[schema(inline)]
    pub data: Null,
    pub error: FailureError,
    /// The request's trace id, also in the logs.
    #[schema(rename = "traceId")]
    pub trace_id: String,
}

/// JSON's `null`.
pub struct Null;

impl utoipa::PartialSchema for Null {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Null)
            .into()
    }
}

impl ToSchema for Null {}

#[derive(ToSchema)]
pub struct FailureError {
    /// Machine-readable code: `invalid_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `invalid_transition`, `data_not_ready`, `payload_too_large`,
    /// `unsupported_media_type`, `rate_limited`, `mono_upstream`, `mono_timeout`,
    /// `database_unavailable`, `mono_budget_unavailable`, `shutting_down`, `internal`, ...
    #[schema(example = "invalid_request")]
    pub code: String,
    /// Field name -> what is wrong with it (400 only).
    #[schema(value_type = Option<std::collections::BTreeMap<String, String>>)]
    pub fields: Option<serde_json::Value>,
}

/// The failure statuses of every operation, by kind of route, and the security each needs.
pub struct SharedResponses;

const COMMON_FAILURES: &[(&str, &str)] = &[
    ("405", "The method is not allowed on this path"),
    ("413", "The body is larger than the limit"),
    ("429", "Too many requests"),
    ("500", "Internal error; the answer names only the trace id"),
    ("503", "The database is unavailable"),
];
const BASIC_FAILURES: &[(&str, &str)] = &[
    ("405", "The method is not allowed on this path"),
    ("500", "Internal error; the answer names only the trace id"),
];
const TENANT_FAILURES: &[(&str, &str)] = &[
    (
        "400",
        "A field is missing or invalid; `error.fields` names each one",
    ),
    ("401", "Missing or unknown API key"),
    ("403", "The key may not act on this environment or resource"),
    ("404", "No such resource for this tenant"),
    ("409", "The resource is not in a state that allows this"),
    ("415", "The body is not JSON"),
];
const MONO_FAILURES: &[(&str, &str)] = &[
    ("502", "Mono answered with an error"),
    ("504", "Mono did not answer in time"),
    (
        "503",
        "The database is unavailable (`database_unavailable`), or Mono was not called: its \
         request budget could not be read (`mono_budget_unavailable`) or the service is \
         shutting down (`shutting_down`)",
    ),
];
const WEBHOOK_FAILURES: &[(&str, &str)] = &[
    ("400", "The body is not a Mono event"),
    ("401", "The secret or signature is missing or wrong"),
    ("415", "The body is not JSON"),
];

fn add_failures(op: &mut Operation, list: &[(&str, &str)]) {
    for (status, description) in list {
        if op.responses.responses.contains_key(*status) {
            continue;
        }
        let response = ResponseBuilder::new()
            .description(*description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Failure")))
                    .build(),
            )
            .build();
        op.responses
            .responses
            .insert((*status).to_string(), response.into());
    }
}

/// What every free-text string of the API may not hold: NUL, which PostgreSQL text cannot
/// store and the service refuses (400 naming the field) wherever it arrives.
pub const NO_NUL: &str = "^[^\\u0000]*$";

/// Gives every string schema without a format, an enum or a pattern of its own the
/// [`NO_NUL`] pattern, so the document says what the service accepts.
fn strings_without_nul(schema: &mut utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) {
    use utoipa::openapi::schema::{AdditionalProperties, ArrayItems, Schema, SchemaType, Type};
    use utoipa::openapi::RefOr;
    let RefOr::T(schema) = schema else { return };
    match schema {
        Schema::Object(o) => {
            let is_string = match &o.schema_type {
                SchemaType::Type(t) => *t == Type::String,
                SchemaType::Array(ts) => ts.contains(&Type::String),
                SchemaType::AnyValue => false,
            };
            if is_string && o.format.is_none() && o.enum_values.is_none() && o.pattern.is_none() {
                o.pattern = Some(NO_NUL.to_owned());
            }
            for property in o.properties.values_mut() {
                strings_without_nul(property);
            }
            if let Some(AdditionalProperties::RefOr(inner)) = o.additional_properties.as_deref_mut() {
                strings_without_nul(inner);
            }
        }
        Schema::Array(a) => {
            if let ArrayItems::RefOrSchema(items) = &mut a.items {
                strings_without_nul(items);
            }
        }
        Schema::OneOf(c) => c.items.iter_mut().for_each(strings_without_nul),
        Schema::AllOf(c) => c.items.iter_mut().for_each(strings_without_nul),
        Schema::AnyOf(c) => c.items.iter_mut().for_each(strings_without_nul),
        _ => {}
    }
}

/// utoipa writes an optional body (`content = Option<T>`) as `oneOf: [null, T]`, which a
/// generated client reads as "send null"; the contract means "the body may be left out": `T`
/// by reference, not required.
fn optional_body_by_reference(body: &mut utoipa::openapi::request_body::RequestBody) {
    use utoipa::openapi::schema::Schema;
    use utoipa::openapi::RefOr;
    for content in body.content.values_mut() {
        let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema else {
            continue;
        };
        let reference = one_of.items.iter().find_map(|item| match item {
            RefOr::Ref(r) => Some(r.clone()),
            RefOr::T(_) => None,
        });
        if let (2, Some(reference)) = (one_of.items.len(), reference) {
            content.schema = Some(RefOr::Ref(reference));
            body.required = Some(utoipa::openapi::Required::False);
        }
    }
}

impl Modify for SharedResponses {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API key from `taxpoynt-mono tenant create` or `key create`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "webhookSecret",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "mono-webhook-secret",
                "Mono's shared webhook secret, as Mono sends it",
            ))),
        );
        components.add_security_scheme(
            "webhookSignature",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "x-mono-signature",
                "Lower-case hex HMAC-SHA256 of `\"{x-mono-timestamp}.{raw body}\"` with the webhook secret; \
                 sent with `x-mono-timestamp` (Unix seconds)",
            ))),
        );
        let bearer = vec![SecurityRequirement::new("bearer", Vec::<String>::new())];
        let webhook = vec![
            SecurityRequirement::new("webhookSecret", Vec::<String>::new()),
            SecurityRequirement::new("webhookSignature", Vec::<String>::new()),
        ];
        for schema in components.schemas.values_mut() {
            strings_without_nul(schema);
        }
        // The service's own API; `/demo/callback` shows what it is given, NUL included.
        for item in doc
            .paths
            .paths
            .iter_mut()
            .filter(|(path, _)| path.starts_with("/si/"))
            .map(|(_, item)| item)
        {
            let ops = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                for parameter in op.parameters.iter_mut().flatten() {
                    if let Some(schema) = parameter.schema.as_mut() {
                        strings_without_nul(schema);
                    }
                }
                for content in op.request_body.iter_mut().flat_map(|b| b.content.values_mut()) {
                    if let Some(schema) = content.schema.as_mut() {
                        strings_without_nul(schema);
                    }
                }
            }
        }
        for item in doc.paths.paths.values_mut() {
            let ops = [item.put.as_mut(), item.post.as_mut(), item.patch.as_mut()];
            for op in ops.into_iter().flatten() {
                if let Some(body) = op.request_body.as_mut() {
                    optional_body_by_reference(body);
                }
            }
        }
        for (path, item) in doc.paths.paths.iter_mut() {
            let ops = [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in ops.into_iter().flatten() {
                if path == "/si/mono/webhook" {
                    op.security = Some(webhook.clone());
                    add_failures(op, WEBHOOK_FAILURES);
                    add_failures(op, COMMON_FAILURES);
                } else if path.starts_with("/si/") {
                    op.security = Some(bearer.clone());
                    add_failures(op, TENANT_FAILURES);
                    if path.starts_with("/si/mono/") {
                        add_failures(op, MONO_FAILURES);
                    }
                    add_failures(op, COMMON_FAILURES);
                } else if path == "/readyz" {
                    add_failures(op, &[("503", "The database is unreachable or not migrated")]);
                    add_failures(op, BASIC_FAILURES);
                } else {
                    add_failures(op, BASIC_FAILURES);
                }
            }
        }
    }
}

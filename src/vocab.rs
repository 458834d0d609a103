//! The contract's closed vocabularies that storage keeps as text (a DLQ record's status, an
//! event's outcome, a job's kind, ...), described as OpenAPI enums so a generated client gets
//! a union of literals instead of `string`. Each is what the column's CHECK constraint or the
//! code that writes it allows; `tests/api/vocab.rs` holds every one to its source, so the document
//! cannot drift from what the service answers.
//!
//! These types only describe: answers are still written from the stored text. Fields refer
//! to them with `#[schema(value_type = crate::vocab::…)]`.

use utoipa::ToSchema;

/// An environment's name, as `env` selects it.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum EnvParam {
    Sandbox,
    Production,
}

/// A day (`2026-03-01`) or an RFC 3339 time bounding a range; a day as the upper bound takes
/// in the whole day.
pub struct DateBound;

impl utoipa::PartialSchema for DateBound {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, Type};
        let string = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        AnyOfBuilder::new()
            .item(string(KnownFormat::Date))
            .item(string(KnownFormat::DateTime))
            .description(Some("A day (YYYY-MM-DD) or an RFC 3339 time"))
            .into()
    }
}

impl ToSchema for DateBound {}

/// The status a bulk submission takes: only VALIDATED invoices are submitted.
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum SignableStatus {
    Validated,
}

/// What the pipeline did with a transaction.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Outcome {
    Draft,
    Dlq,
    Skipped,
}

/// Why a transaction went where it did: the engine's reasons and the pipeline's own
/// (`ELIGIBILITY.md`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Reason {
    NotIncome,
    Denylisted,
    CurrencyMismatch,
    ReferenceMismatch,
    Allowlisted,
    PersonalOrLowConfidence,
    BusinessSignal,
    ZeroAmount,
    Duplicate,
    MalformedTransaction,
    AmountMismatch,
    Reconciled,
    OwnAccountTransfer,
}

/// Which path decided a transaction.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DecisionSource {
    Sync,
    Webhook,
    Replay,
}

/// A DLQ record's review state.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DlqStatus {
    Open,
    Resolved,
}

/// How a resolved DLQ record was closed: by hand (`dismissed`, `invoiced_manually`) or by a
/// replay that drafted it (`replayed`).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum DlqResolution {
    Dismissed,
    InvoicedManually,
    Replayed,
}

/// How a person may close a DLQ record.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum ResolveAs {
    Dismissed,
    InvoicedManually,
}

/// A background job's kind.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum JobKind {
    Webhook,
    Sync,
    DlqReplay,
    MbsSubmission,
    MbsPaymentUpdate,
    MbsBulkSign,
    SyncStored,
}

/// A background job's state.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    Done,
    Failed,
}

/// An allow or deny list.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RuleList {
    Allow,
    Deny,
}

/// The transaction field a rule looks at.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RuleField {
    Narration,
    Counterparty,
    Reference,
}

/// How a rule's pattern matches.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum RuleMatch {
    Contains,
    Exact,
    Regex,
}

/// Where an invoice came from.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum InvoiceSource {
    Mono,
    Manual,
}

/// MBS's invoice type code: 381 a commercial invoice, 380 a credit note.
#[derive(ToSchema)]
pub enum TypeCode {
    #[schema(rename = "381")]
    Invoice,
    #[schema(rename = "380")]
    CreditNote,
}

/// The seal's algorithm.
#[derive(ToSchema)]
pub enum SealAlg {
    Ed25519,
}

/// What an API key may do: a tenant key acts on its organization; an admin key may also read
/// Mono's own account list.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Role {
    Tenant,
    Admin,
}

/// A widget link's purpose: linking a new account, or reauthorising a linked one.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum LinkScope {
    Auth,
    Reauth,
}

/// Mono's readiness of an account's data.
#[derive(ToSchema)]
#[schema(rename_all = "UPPERCASE")]
pub enum DataStatus {
    Available,
    Processing,
    Partial,
    Unavailable,
    Failed,
}

/// A QR code's image format.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum QrFormat {
    Svg,
    Png,
}

/// The MBS code lists the service keeps.
#[derive(ToSchema)]
#[schema(rename_all = "kebab-case")]
pub enum ResourceName {
    InvoiceTypes,
    TaxCategories,
    Currencies,
    ServicesCodes,
    PaymentMeans,
    Countries,
    States,
    Lgas,
    VatExemptions,
}

/// The kinds of event `GET /si/mono/events` lists.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum EventKind {
    Eligibility,
    InvoiceFailed,
}

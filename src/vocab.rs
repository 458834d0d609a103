//! The contract's closed vocabularies that storage keeps as text (a DLQ record's status, an
//! event's outcome, a job's kind, ...), described as OpenAPI enums so a generated client gets
//! a union of literals instead of `string`. Each is what the column's CHECK constraint or the
//! code that writes it allows; the tests below hold every one to its source, so the document
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use utoipa::PartialSchema;

    use crate::domain::RecordReason;

    /// The literal values of a vocabulary's schema.
    fn values<T: PartialSchema>() -> BTreeSet<String> {
        let schema = serde_json::to_value(T::schema()).unwrap();
        schema["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("not an enum: {schema}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    }

    fn set(items: impl IntoIterator<Item = impl Into<String>>) -> BTreeSet<String> {
        items.into_iter().map(Into::into).collect()
    }

    /// The values a migration's `CHECK (column IN (...))` allows, read from the migrations.
    fn check_values(table_column: &str) -> BTreeSet<String> {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut found = BTreeSet::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for (i, _) in text.match_indices(table_column) {
                let rest = &text[i..];
                let Some(open) = rest.find(" IN (") else { continue };
                if rest[..open].contains('\n') {
                    continue;
                }
                let close = rest[open..].find(')').unwrap() + open;
                found.extend(
                    rest[open + 5..close]
                        .split(',')
                        .map(|v| v.trim().trim_matches('\'').to_string()),
                );
            }
        }
        assert!(!found.is_empty(), "no CHECK found for {table_column}");
        found
    }

    #[test]
    fn reasons_are_every_reason_the_pipeline_records() {
        assert_eq!(
            values::<super::Reason>(),
            set(RecordReason::ALL.iter().map(|r| r.as_str()))
        );
    }

    #[test]
    fn outcomes_are_the_engines() {
        use eligibility::Outcome::*;
        assert_eq!(
            values::<super::Outcome>(),
            set([Draft, Dlq, Skipped].map(|o| o.as_str()))
        );
        assert_eq!(
            values::<super::Outcome>(),
            check_values("outcome         text NOT NULL CHECK (outcome")
        );
    }

    #[test]
    fn stored_vocabularies_are_what_their_columns_allow() {
        assert_eq!(
            values::<super::DecisionSource>(),
            check_values("source          text NOT NULL CHECK (source")
        );
        assert_eq!(
            values::<super::DlqStatus>(),
            check_values("status          text NOT NULL DEFAULT 'open' CHECK (status")
        );
        assert_eq!(
            values::<super::DlqResolution>(),
            check_values("resolution      text CHECK (resolution")
        );
        assert_eq!(
            values::<super::InvoiceSource>(),
            check_values("source              text NOT NULL CHECK (source")
        );
        assert_eq!(
            values::<mbs::InvoiceKind>(),
            check_values(
                "invoice_kind       text CONSTRAINT invoices_invoice_kind_check CHECK (invoice_kind"
            )
        );
        assert_eq!(
            values::<super::LinkScope>(),
            check_values("scope           text NOT NULL CHECK (scope")
        );
        assert_eq!(
            values::<super::RuleList>(),
            check_values("list        text NOT NULL CHECK (list")
        );
        assert_eq!(
            values::<super::RuleField>(),
            check_values("field       text NOT NULL CHECK (field")
        );
        assert_eq!(
            values::<super::RuleMatch>(),
            check_values("match_kind  text NOT NULL CHECK (match_kind")
        );
        assert_eq!(
            values::<super::Role>(),
            check_values("role        text NOT NULL CHECK (role")
        );
        assert_eq!(
            values::<super::JobStatus>(),
            check_values("status          text NOT NULL DEFAULT 'queued' CHECK (status")
        );
    }

    #[test]
    fn job_kinds_are_the_registered_kinds() {
        // The bulk sync-stored job is done by its parts: stored, never claimed.
        let registered = crate::worker::registry::registry()
            .specs()
            .into_iter()
            .map(|s| s.kind)
            .chain([crate::services::sync::stored::KIND]);
        assert_eq!(values::<super::JobKind>(), set(registered));
    }

    #[test]
    fn mbs_vocabularies_are_the_mbs_crates() {
        assert_eq!(values::<super::TypeCode>(), set(["381", "380"]));
        assert_eq!(values::<super::SealAlg>(), set([crate::signing::ALG]));
    }

    #[test]
    fn resource_names_are_the_lists_kept() {
        assert_eq!(
            values::<super::ResourceName>(),
            set(crate::services::mbs_resources::NAMES.iter().copied())
        );
    }

    #[test]
    fn data_statuses_are_monos() {
        use mono::DataStatus::*;
        let statuses = [Available, Processing, Partial, Unavailable, Failed]
            .map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().to_string());
        assert_eq!(values::<super::DataStatus>(), set(statuses));
    }
}

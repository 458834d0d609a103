//! The contract's closed vocabularies (`vocab`) held to their sources: each enum the
//! document lists is exactly what the column's `CHECK`, the engine, the job registry or the
//! MBS and Mono crates allow, so the document cannot drift from what the service answers.

use std::collections::BTreeSet;

use utoipa::PartialSchema;

use taxpoynt_mono::domain::RecordReason;
use taxpoynt_mono::vocab;

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
        values::<vocab::Reason>(),
        set(RecordReason::ALL.iter().map(|r| r.as_str()))
    );
}

#[test]
fn outcomes_are_the_engines() {
    use eligibility::Outcome::*;
    assert_eq!(
        values::<vocab::Outcome>(),
        set([Draft, Dlq, Skipped].map(|o| o.as_str()))
    );
    assert_eq!(
        values::<vocab::Outcome>(),
        check_values("outcome         text NOT NULL CHECK (outcome")
    );
}

#[test]
fn stored_vocabularies_are_what_their_columns_allow() {
    assert_eq!(
        values::<vocab::DecisionSource>(),
        check_values("source          text NOT NULL CHECK (source")
    );
    assert_eq!(
        values::<vocab::DlqStatus>(),
        check_values("status          text NOT NULL DEFAULT 'open' CHECK (status")
    );
    assert_eq!(
        values::<vocab::DlqResolution>(),
        check_values("resolution      text CHECK (resolution")
    );
    assert_eq!(
        values::<vocab::InvoiceSource>(),
        check_values("source              text NOT NULL CHECK (source")
    );
    assert_eq!(
        values::<mbs::InvoiceKind>(),
        check_values("invoice_kind       text CONSTRAINT invoices_invoice_kind_check CHECK (invoice_kind")
    );
    assert_eq!(
        values::<vocab::LinkScope>(),
        check_values("scope           text NOT NULL CHECK (scope")
    );
    assert_eq!(
        values::<vocab::RuleList>(),
        check_values("list        text NOT NULL CHECK (list")
    );
    assert_eq!(
        values::<vocab::RuleField>(),
        check_values("field       text NOT NULL CHECK (field")
    );
    assert_eq!(
        values::<vocab::RuleMatch>(),
        check_values("match_kind  text NOT NULL CHECK (match_kind")
    );
    assert_eq!(
        values::<vocab::Role>(),
        check_values("role        text NOT NULL CHECK (role")
    );
    assert_eq!(
        values::<vocab::JobStatus>(),
        check_values("status          text NOT NULL DEFAULT 'queued' CHECK (status")
    );
}

#[test]
fn job_kinds_are_the_registered_kinds() {
    // The bulk sync-stored job is done by its parts: stored, never claimed.
    let registered = taxpoynt_mono::worker::registry::registry()
        .specs()
        .into_iter()
        .map(|s| s.kind)
        .chain([taxpoynt_mono::services::sync::stored::KIND]);
    assert_eq!(values::<vocab::JobKind>(), set(registered));
}

#[test]
fn mbs_vocabularies_are_the_mbs_crates() {
    assert_eq!(values::<vocab::TypeCode>(), set(["381", "380"]));
    assert_eq!(values::<vocab::SealAlg>(), set([taxpoynt_mono::signing::ALG]));
}

#[test]
fn resource_names_are_the_lists_kept() {
    assert_eq!(
        values::<vocab::ResourceName>(),
        set(taxpoynt_mono::services::mbs_resources::NAMES.iter().copied())
    );
}

#[test]
fn data_statuses_are_monos() {
    use mono::DataStatus::*;
    let statuses = [Available, Processing, Partial, Unavailable, Failed]
        .map(|s| serde_json::to_value(s).unwrap().as_str().unwrap().to_string());
    assert_eq!(values::<vocab::DataStatus>(), set(statuses));
}

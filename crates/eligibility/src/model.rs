//! The engine's input and output types: the normalised [`Transaction`] and the [`Decision`]
//! with its evidence. Their JSON shapes are the contract of `spec/ELIGIBILITY.md` and of the
//! `classify` command (camelCase, lower-case and snake_case enum values).

use serde::{Deserialize, Deserializer, Serialize};

/// A bank transaction, normalised from Mono. Amounts are in minor units (kobo, pesewa, cents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transaction {
    /// Mono's transaction id (`id`, or `_id` as Mono sends it).
    #[serde(alias = "_id")]
    pub id: String,
    /// The linked account the transaction belongs to; selects account-scoped rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(rename = "type")]
    pub kind: TxType,
    pub amount: i64,
    pub currency: String,
    /// Mono may send `null` or nothing; both mean an empty narration.
    #[serde(default, deserialize_with = "null_as_default")]
    pub narration: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        deserialize_with = "null_as_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Mono's own category; informational, never part of the decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<Counterparty>,
    /// RFC 3339, kept as received when the input has it: the engine never reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<String>,
}

#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Counterparty {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank: Option<String>,
}

redact::debug_redacted!(Counterparty { name, bank; account_number });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxType {
    #[serde(alias = "CREDIT", alias = "Credit")]
    Credit,
    #[serde(alias = "DEBIT", alias = "Debit")]
    Debit,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// What happens to a transaction, with the evidence that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    pub outcome: Outcome,
    pub reason: Reason,
    /// Which heuristic sent a `personal_or_low_confidence` record to the DLQ.
    pub detail: Option<Detail>,
    /// With a reference regex: the first candidate it matched. Without one: the
    /// transaction's own reference field, for reconciliation.
    pub reference: Option<String>,
    /// Set for drafts only: a credit drafts an invoice, a refund debit a credit note.
    pub kind: Option<DraftKind>,
    /// The rule that decided a `denylisted` or `allowlisted` outcome.
    pub rule_id: Option<String>,
    /// Every keyword that fired, in its configured spelling: business, personal, then
    /// refund list, each in configured order, without repeats.
    pub keywords: Vec<String>,
    /// The counterparty's name: the counterparty field, else the sender the narration names.
    pub counterparty: Option<String>,
}

impl Decision {
    pub(crate) fn new(outcome: Outcome, reason: Reason) -> Self {
        Decision {
            outcome,
            reason,
            detail: None,
            reference: None,
            kind: None,
            rule_id: None,
            keywords: Vec::new(),
            counterparty: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Draft,
    Dlq,
    Skipped,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Draft => "draft",
            Outcome::Dlq => "dlq",
            Outcome::Skipped => "skipped",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    NotIncome,
    Denylisted,
    CurrencyMismatch,
    ReferenceMismatch,
    Allowlisted,
    PersonalOrLowConfidence,
    BusinessSignal,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::NotIncome => "not_income",
            Reason::Denylisted => "denylisted",
            Reason::CurrencyMismatch => "currency_mismatch",
            Reason::ReferenceMismatch => "reference_mismatch",
            Reason::Allowlisted => "allowlisted",
            Reason::PersonalOrLowConfidence => "personal_or_low_confidence",
            Reason::BusinessSignal => "business_signal",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    PersonalKeyword,
    NoBusinessSignal,
    BelowFloorNoCounterparty,
}

impl Detail {
    pub fn as_str(self) -> &'static str {
        match self {
            Detail::PersonalKeyword => "personal_keyword",
            Detail::NoBusinessSignal => "no_business_signal",
            Detail::BelowFloorNoCounterparty => "below_floor_no_counterparty",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DraftKind {
    Invoice,
    CreditNote,
}

impl DraftKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DraftKind::Invoice => "invoice",
            DraftKind::CreditNote => "credit_note",
        }
    }
}

/// Upper-cases a currency code and maps Mono's own spellings: `GHC` = GHS, `KSH` = KES.
pub fn normalize_currency(code: &str) -> String {
    let upper = code.trim().to_uppercase();
    match upper.as_str() {
        "GHC" => "GHS".to_owned(),
        "KSH" => "KES".to_owned(),
        _ => upper,
    }
}

/// `normalize_currency(raw) == invoice` without allocating for ASCII codes; `invoice` is
/// already normalised (upper-case ASCII).
pub(crate) fn currency_matches(raw: &str, invoice: &str) -> bool {
    // Byte by byte: a code is a few bytes, too few to pay for a call to `memcmp`.
    if raw.len() == invoice.len() && raw.bytes().zip(invoice.bytes()).all(|(a, b)| a == b) {
        return true;
    }
    let raw = raw.trim();
    if !raw.is_ascii() {
        // to_uppercase can turn non-ASCII letters into ASCII ones (ſ -> S): take the slow path.
        return normalize_currency(raw) == invoice;
    }
    let canonical = if raw.eq_ignore_ascii_case("GHC") {
        "GHS"
    } else if raw.eq_ignore_ascii_case("KSH") {
        "KES"
    } else {
        raw
    };
    canonical.eq_ignore_ascii_case(invoice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn currency_normalisation() {
        assert_eq!(normalize_currency("ngn"), "NGN");
        assert_eq!(normalize_currency("GHC"), "GHS");
        assert_eq!(normalize_currency("ghc"), "GHS");
        assert_eq!(normalize_currency("Ksh"), "KES");
        assert_eq!(normalize_currency(" usd "), "USD");
        assert!(currency_matches("ghc", "GHS"));
        assert!(currency_matches("NGN", "NGN"));
        assert!(!currency_matches("NGNX", "NGN"));
        assert!(!currency_matches("USD", "NGN"));
        assert!(currency_matches("ngn", "NGN"));
        // U+017F upper-cases to S: the slow path agrees with normalize_currency.
        assert_eq!(currency_matches("ghſ", "GHS"), normalize_currency("ghſ") == "GHS");
    }

    #[test]
    fn transaction_reads_mono_shapes() {
        let tx: Transaction = serde_json::from_str(
            r#"{"_id":"t1","type":"debit","amount":5,"currency":"NGN","narration":null,
                "tags":null,"counterparty":{"accountNumber":"0123"},"date":"2025-01-01T00:00:00Z"}"#,
        )
        .expect("valid transaction");
        assert_eq!(tx.id, "t1");
        assert_eq!(tx.kind, TxType::Debit);
        assert_eq!(tx.narration, "");
        assert!(tx.tags.is_empty());
        assert_eq!(
            tx.counterparty.and_then(|c| c.account_number).as_deref(),
            Some("0123")
        );
    }

    #[test]
    fn decision_serialises_in_contract_shape() {
        let mut decision = Decision::new(Outcome::Dlq, Reason::PersonalOrLowConfidence);
        decision.detail = Some(Detail::BelowFloorNoCounterparty);
        let json = serde_json::to_value(&decision).expect("serialisable");
        assert_eq!(
            json,
            serde_json::json!({"outcome": "dlq", "reason": "personal_or_low_confidence",
                "detail": "below_floor_no_counterparty", "reference": null, "kind": null,
                "ruleId": null, "keywords": [], "counterparty": null})
        );
        assert_eq!(
            Reason::PersonalOrLowConfidence.as_str(),
            "personal_or_low_confidence"
        );
        assert_eq!(DraftKind::CreditNote.as_str(), "credit_note");
    }
}

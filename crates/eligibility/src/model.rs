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

/// What happens to a transaction, with the evidence that decided it, borrowed: the
/// reference and the counterparty from the transaction, the rule id and the keywords'
/// spellings from the policy. Deciding allocates nothing for it, so a caller that only
/// counts outcomes (the preview) pays for no evidence; one that keeps the evidence takes
/// [`Decision::into_owned`] or the fields it stores. Serialises exactly as
/// [`OwnedDecision`] does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision<'a> {
    pub outcome: Outcome,
    pub reason: Reason,
    /// Which heuristic sent a `personal_or_low_confidence` record to the DLQ.
    pub detail: Option<Detail>,
    /// With a reference regex: the first candidate it matched. Without one: the
    /// transaction's own reference field, for reconciliation. Trimmed.
    pub reference: Option<&'a str>,
    /// Set for drafts only: a credit drafts an invoice, a refund debit a credit note.
    pub kind: Option<DraftKind>,
    /// The rule that decided a `denylisted` or `allowlisted` outcome.
    pub rule_id: Option<&'a str>,
    /// Every keyword that fired, in its configured spelling: business, personal, then
    /// refund list, each in configured order, without repeats.
    pub keywords: Keywords<'a>,
    /// The counterparty's name: the counterparty field, else the sender the narration
    /// names. Trimmed.
    pub counterparty: Option<&'a str>,
}

impl<'a> Decision<'a> {
    pub(crate) fn new(outcome: Outcome, reason: Reason) -> Self {
        Decision {
            outcome,
            reason,
            detail: None,
            reference: None,
            kind: None,
            rule_id: None,
            keywords: Keywords::EMPTY,
            counterparty: None,
        }
    }

    /// The decision with its evidence copied out of the transaction and the policy.
    pub fn into_owned(self) -> OwnedDecision {
        OwnedDecision {
            outcome: self.outcome,
            reason: self.reason,
            detail: self.detail,
            reference: self.reference.map(str::to_owned),
            kind: self.kind,
            rule_id: self.rule_id.map(str::to_owned),
            keywords: self.keywords.to_vec(),
            counterparty: self.counterparty.map(str::to_owned),
        }
    }
}

/// A [`Decision`] that owns its evidence: for keeping beyond the transaction or the policy,
/// and for reading the contract's JSON shape back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnedDecision {
    pub outcome: Outcome,
    pub reason: Reason,
    pub detail: Option<Detail>,
    pub reference: Option<String>,
    pub kind: Option<DraftKind>,
    pub rule_id: Option<String>,
    pub keywords: Vec<String>,
    pub counterparty: Option<String>,
}

impl From<Decision<'_>> for OwnedDecision {
    fn from(decision: Decision<'_>) -> OwnedDecision {
        decision.into_owned()
    }
}

impl PartialEq<OwnedDecision> for Decision<'_> {
    fn eq(&self, other: &OwnedDecision) -> bool {
        self.outcome == other.outcome
            && self.reason == other.reason
            && self.detail == other.detail
            && self.reference == other.reference.as_deref()
            && self.kind == other.kind
            && self.rule_id == other.rule_id.as_deref()
            && self.keywords == other.keywords
            && self.counterparty == other.counterparty.as_deref()
    }
}

impl PartialEq<Decision<'_>> for OwnedDecision {
    fn eq(&self, other: &Decision<'_>) -> bool {
        other == self
    }
}

/// How many fired keywords a [`Keywords`] holds without allocating.
const INLINE_KEYWORDS: usize = 6;

/// The keywords that fired, as indexes into the policy's configured spellings (in report
/// order, so ascending indexes are the report order). Up to [`INLINE_KEYWORDS`] of them
/// are held inline: a decision allocates nothing for its keywords unless more fire.
/// Reads as a list of `&str`; compares, prints and serialises as one.
#[derive(Clone)]
pub struct Keywords<'a> {
    /// Every spelling of the policy, in report order.
    spellings: &'a [String],
    fired: Fired,
}

#[derive(Clone)]
enum Fired {
    Inline { len: u8, at: [u32; INLINE_KEYWORDS] },
    Spilled(Box<[u32]>),
}

impl Keywords<'static> {
    /// No keyword fired.
    pub const EMPTY: Keywords<'static> = Keywords {
        spellings: &[],
        fired: Fired::Inline {
            len: 0,
            at: [0; INLINE_KEYWORDS],
        },
    };
}

impl<'a> Keywords<'a> {
    /// The spellings of `indexes` (ascending, no repeats, each below `spellings.len()`).
    pub(crate) fn from_indexes(spellings: &'a [String], indexes: impl ExactSizeIterator<Item = u32>) -> Self {
        let fired = if indexes.len() <= INLINE_KEYWORDS {
            let mut at = [0; INLINE_KEYWORDS];
            let mut len = 0;
            for (slot, index) in at.iter_mut().zip(indexes) {
                *slot = index;
                len += 1;
            }
            Fired::Inline { len, at }
        } else {
            Fired::Spilled(indexes.collect())
        };
        Keywords { spellings, fired }
    }

    fn indexes(&self) -> &[u32] {
        match &self.fired {
            Fired::Inline { len, at } => at.get(..usize::from(*len)).unwrap_or_default(),
            Fired::Spilled(at) => at,
        }
    }

    pub fn len(&self) -> usize {
        self.indexes().len()
    }

    pub fn is_empty(&self) -> bool {
        self.indexes().is_empty()
    }

    /// The `n`th keyword in report order.
    pub fn get(&self, n: usize) -> Option<&'a str> {
        let spellings = self.spellings;
        self.indexes()
            .get(n)
            .and_then(|&index| spellings.get(index as usize))
            .map(String::as_str)
    }

    /// The keywords in report order.
    pub fn iter(&self) -> KeywordsIter<'_, 'a> {
        KeywordsIter {
            spellings: self.spellings,
            indexes: self.indexes().iter(),
        }
    }

    /// The keywords copied out, in report order.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

/// The keywords of a [`Keywords`], in report order.
#[derive(Debug, Clone)]
pub struct KeywordsIter<'k, 'a> {
    spellings: &'a [String],
    indexes: std::slice::Iter<'k, u32>,
}

impl<'a> KeywordsIter<'_, 'a> {
    fn spelling(&self, index: u32) -> &'a str {
        self.spellings.get(index as usize).map_or("", String::as_str)
    }
}

impl<'a> Iterator for KeywordsIter<'_, 'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let index = *self.indexes.next()?;
        Some(self.spelling(index))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.indexes.size_hint()
    }
}

impl ExactSizeIterator for KeywordsIter<'_, '_> {}

impl<'a> DoubleEndedIterator for KeywordsIter<'_, 'a> {
    fn next_back(&mut self) -> Option<&'a str> {
        let index = *self.indexes.next_back()?;
        Some(self.spelling(index))
    }
}

impl<'k, 'a> IntoIterator for &'k Keywords<'a> {
    type Item = &'a str;
    type IntoIter = KeywordsIter<'k, 'a>;

    fn into_iter(self) -> KeywordsIter<'k, 'a> {
        self.iter()
    }
}

impl Default for Keywords<'_> {
    fn default() -> Self {
        Keywords::EMPTY
    }
}

impl std::fmt::Debug for Keywords<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Keywords<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl PartialEq for Keywords<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Keywords<'_> {}

impl<S: AsRef<str>> PartialEq<[S]> for Keywords<'_> {
    fn eq(&self, other: &[S]) -> bool {
        self.iter().eq(other.iter().map(AsRef::as_ref))
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Keywords<'_> {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Keywords<'_> {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
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

//! Small domain types shared by storage and services, below both: what a stored decision's
//! reason can be, beyond the engine's own.

use eligibility::Reason;

/// Why a transaction went where it did, as stored and counted: the engine's reasons, plus the
/// pipeline's own (the engine sees only well-formed, non-zero transactions, and duplicates are
/// the pipeline's business: `spec/ELIGIBILITY.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordReason {
    Engine(Reason),
    /// A zero amount: nothing to invoice and nothing to review (skipped).
    ZeroAmount,
    /// Already decided for this account (skipped; counted, never stored again).
    Duplicate,
    /// Mono sent an item that does not decode (DLQ, with the item as sent).
    MalformedTransaction,
    /// Reconciliation: the transaction names an invoice whose amount differs (DLQ).
    AmountMismatch,
    /// Reconciliation: the transaction pays an invoice that already exists (skipped: no new
    /// draft; the invoice's payment status moves).
    Reconciled,
    /// One leg of a transfer between the organization's own linked accounts (DLQ; `detail`
    /// names the other leg as `<account>/<transaction>`).
    OwnAccountTransfer,
}

impl RecordReason {
    /// Every reason, for the contract's vocabulary (`crate::vocab::Reason`) to be held to.
    pub const ALL: [RecordReason; 13] = [
        RecordReason::Engine(Reason::NotIncome),
        RecordReason::Engine(Reason::Denylisted),
        RecordReason::Engine(Reason::CurrencyMismatch),
        RecordReason::Engine(Reason::ReferenceMismatch),
        RecordReason::Engine(Reason::Allowlisted),
        RecordReason::Engine(Reason::PersonalOrLowConfidence),
        RecordReason::Engine(Reason::BusinessSignal),
        RecordReason::ZeroAmount,
        RecordReason::Duplicate,
        RecordReason::MalformedTransaction,
        RecordReason::AmountMismatch,
        RecordReason::Reconciled,
        RecordReason::OwnAccountTransfer,
    ];

    /// The reason of this name, if there is one.
    pub fn parse(name: &str) -> Option<RecordReason> {
        RecordReason::ALL.into_iter().find(|r| r.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RecordReason::Engine(r) => r.as_str(),
            RecordReason::ZeroAmount => "zero_amount",
            RecordReason::Duplicate => "duplicate",
            RecordReason::MalformedTransaction => "malformed_transaction",
            RecordReason::AmountMismatch => "amount_mismatch",
            RecordReason::Reconciled => "reconciled",
            RecordReason::OwnAccountTransfer => "own_account_transfer",
        }
    }
}

impl From<Reason> for RecordReason {
    fn from(r: Reason) -> Self {
        RecordReason::Engine(r)
    }
}

/// A Mono account id as the API accepts it: trimmed, 1 to 100 characters, no control
/// characters. Built at the edge; services take it, so an empty id never reaches storage.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MonoAccountId(String);

impl MonoAccountId {
    pub fn parse(raw: &str) -> Result<Self, &'static str> {
        let id = raw.trim();
        if id.is_empty() {
            return Err("must not be empty");
        }
        if id.chars().count() > 100 {
            return Err("must be at most 100 characters");
        }
        if id.chars().any(char::is_control) {
            return Err("must not contain control characters");
        }
        Ok(MonoAccountId(id.to_owned()))
    }

    /// An id read back from storage, where only ids Mono issued are kept.
    pub fn from_stored(id: String) -> Self {
        MonoAccountId(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for MonoAccountId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_ids_are_trimmed_and_bounded() {
        assert_eq!(MonoAccountId::parse("  abc ").unwrap().as_str(), "abc");
        assert!(MonoAccountId::parse("   ").is_err());
        assert!(MonoAccountId::parse(&"x".repeat(101)).is_err());
        assert!(MonoAccountId::parse("a\u{7}b").is_err());
    }

    #[test]
    fn pipeline_reasons_have_their_own_names() {
        assert_eq!(RecordReason::ZeroAmount.as_str(), "zero_amount");
        assert_eq!(
            RecordReason::MalformedTransaction.as_str(),
            "malformed_transaction"
        );
        assert_eq!(RecordReason::from(Reason::Denylisted).as_str(), "denylisted");
    }
}

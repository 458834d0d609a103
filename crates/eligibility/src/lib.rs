//! The eligibility engine: which bank transactions become DRAFT invoices, which go to the
//! DLQ for review and which are skipped (`spec/ELIGIBILITY.md`). Pure and synchronous: no
//! I/O, no async, no database or HTTP types, and no dependency on the service,
//! so services call it and tests drive it directly.
//!
//! Use: [`SettingsOverrides::apply`] the environment's overrides to [`EligibilitySettings`], compile them
//! with the rules once ([`CompiledPolicy::compile`]), then [`decide`] every transaction of the
//! sync against that policy.
//!
//! - `text`: words, keyword normal form, reference candidates, sender forms.
//! - `policy`: settings, rules and their validation ([`PolicyError`]).
//! - `keywords`: the one index (and automaton) all keyword lists share.
//! - `literals`: the literal search of rule patterns, and the literals regexes require.
//! - `compiled`: the matchers built from a policy.
//! - `decide`: the decision table.
//! - `classify`: the engine over JSON Lines for the `classify` command.

mod classify;
mod compiled;
mod decide;
pub mod fuzz;
mod keywords;
mod literals;
mod model;
mod policy;
mod text;

pub use classify::{classify, ClassifyStats};
pub use compiled::CompiledPolicy;
pub use decide::decide;
pub use model::{
    normalize_currency, Counterparty, Decision, Detail, DraftKind, Keywords, KeywordsIter, Outcome,
    OwnedDecision, Reason, Transaction, TxType,
};
pub use policy::{
    floor_minor_from_major, validate_keywords, validate_pattern, validate_rule, EligibilitySettings,
    MatchKind, Overrides, PolicyError, Rule, RuleField, RuleList, SettingsOverrides,
    DEFAULT_BUSINESS_KEYWORDS, DEFAULT_FLOOR_MINOR, DEFAULT_INVOICE_CURRENCY, DEFAULT_PERSONAL_KEYWORDS,
    DEFAULT_REFUND_KEYWORDS, MAX_KEYWORDS, MAX_PATTERN_CHARS, REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT,
};
pub use text::{narration_sender, reference_tokens};

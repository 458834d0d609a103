//! The policy an environment configures: [`EligibilitySettings`] (defaults, overrides and their
//! validation) and allow/deny [`Rule`]s. Every refusal is a [`PolicyError`] naming the field
//! by its API JSON name, so the HTTP layer can answer 400 without translating.

use std::str::FromStr;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

/// Longest rule pattern or keyword, in characters.
pub const MAX_PATTERN_CHARS: usize = 200;
/// Most keywords one list may hold.
pub const MAX_KEYWORDS: usize = 200;
/// Compiled-program budget of one regex (rule or referenceRegex): bounds what one pattern
/// may cost in memory and per byte matched. Rust's engines are linear-time already.
pub const REGEX_SIZE_LIMIT: usize = 256 * 1024;
/// Lazy-DFA cache budget of one regex.
pub const REGEX_DFA_SIZE_LIMIT: usize = 1024 * 1024;

pub const DEFAULT_FLOOR_MINOR: i64 = 1000 * 100;
pub const DEFAULT_INVOICE_CURRENCY: &str = "NGN";
pub const DEFAULT_BUSINESS_KEYWORDS: &[&str] =
    &["invoice", "payment", "contract", "subscription", "settlement"];
pub const DEFAULT_PERSONAL_KEYWORDS: &[&str] = &[
    "family",
    "gift",
    "personal",
    "allowance",
    "loan",
    "charity",
    "pocket money",
    "upkeep",
    "birthday",
    "wedding",
    "donation",
    "tithe",
    "school fees",
];
pub const DEFAULT_REFUND_KEYWORDS: &[&str] = &["refund", "reversal", "reversed", "chargeback"];

/// A refused setting or rule. `field` is the API's JSON name of the offending field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct PolicyError {
    pub field: String,
    pub message: String,
}

impl PolicyError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        PolicyError {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// An environment's eligibility settings, resolved (defaults with overrides applied).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EligibilitySettings {
    /// The business floor in MINOR units (`floor * 100`).
    pub floor_minor: i64,
    pub reference_regex: Option<String>,
    pub invoice_currency: String,
    pub business_keywords: Vec<String>,
    pub personal_keywords: Vec<String>,
    pub refund_keywords: Vec<String>,
}

impl Default for EligibilitySettings {
    fn default() -> Self {
        let owned = |list: &[&str]| list.iter().map(|k| (*k).to_owned()).collect();
        EligibilitySettings {
            floor_minor: DEFAULT_FLOOR_MINOR,
            reference_regex: None,
            invoice_currency: DEFAULT_INVOICE_CURRENCY.to_owned(),
            business_keywords: owned(DEFAULT_BUSINESS_KEYWORDS),
            personal_keywords: owned(DEFAULT_PERSONAL_KEYWORDS),
            refund_keywords: owned(DEFAULT_REFUND_KEYWORDS),
        }
    }
}

impl EligibilitySettings {
    /// Checks every field; [`CompiledPolicy::compile`](super::CompiledPolicy::compile) calls
    /// it too, because the fields are public.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.floor_minor < 0 {
            return Err(PolicyError::new("floor", "must not be negative"));
        }
        validate_currency(&self.invoice_currency)?;
        if let Some(pattern) = &self.reference_regex {
            build_regex("referenceRegex", pattern)?;
        }
        validate_keywords("businessKeywords", &self.business_keywords)?;
        validate_keywords("personalKeywords", &self.personal_keywords)?;
        validate_keywords("refundKeywords", &self.refund_keywords)?;
        Ok(())
    }
}

/// Per-environment overrides as the API and the fixtures carry them. Absent fields keep the
/// base value; a keyword list given replaces the base list (spec: it does not add to it).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SettingsOverrides {
    /// In MAJOR units of the invoice currency, at most two decimals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<serde_json::Number>,
    /// Rust `regex` syntax; an empty string clears a base regex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_regex: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_keywords: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personal_keywords: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_keywords: Option<Vec<String>>,
}

impl SettingsOverrides {
    /// These overrides in the engine's terms: the floor in minor units, the currency
    /// normalised, keywords trimmed. Not yet validated against a base.
    pub fn normalize(&self) -> Result<Overrides, PolicyError> {
        let trimmed = |list: &Vec<String>| list.iter().map(|k| k.trim().to_owned()).collect();
        Ok(Overrides {
            floor_minor: self
                .floor
                .as_ref()
                .map(|f| floor_minor_from_major(&f.to_string()))
                .transpose()?,
            reference_regex: self.reference_regex.clone(),
            invoice_currency: self.invoice_currency.as_deref().map(super::normalize_currency),
            business_keywords: self.business_keywords.as_ref().map(trimmed),
            personal_keywords: self.personal_keywords.as_ref().map(trimmed),
            refund_keywords: self.refund_keywords.as_ref().map(trimmed),
        })
    }

    /// `base` with these overrides applied, validated.
    pub fn apply(&self, base: &EligibilitySettings) -> Result<EligibilitySettings, PolicyError> {
        let settings = self.normalize()?.apply(base);
        settings.validate()?;
        Ok(settings)
    }
}

/// Normalised overrides, as an environment stores them: each `Some` replaces the base value.
/// The one place settings are merged.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub floor_minor: Option<i64>,
    /// An empty pattern switches off a base regex.
    pub reference_regex: Option<String>,
    pub invoice_currency: Option<String>,
    pub business_keywords: Option<Vec<String>>,
    pub personal_keywords: Option<Vec<String>>,
    pub refund_keywords: Option<Vec<String>>,
}

impl Overrides {
    /// `base` with these overrides applied (not validated: see [`EligibilitySettings::validate`]).
    pub fn apply(&self, base: &EligibilitySettings) -> EligibilitySettings {
        let mut settings = base.clone();
        if let Some(v) = self.floor_minor {
            settings.floor_minor = v;
        }
        if let Some(pattern) = &self.reference_regex {
            settings.reference_regex = (!pattern.is_empty()).then(|| pattern.clone());
        }
        if let Some(v) = &self.invoice_currency {
            settings.invoice_currency = v.clone();
        }
        if let Some(v) = &self.business_keywords {
            settings.business_keywords = v.clone();
        }
        if let Some(v) = &self.personal_keywords {
            settings.personal_keywords = v.clone();
        }
        if let Some(v) = &self.refund_keywords {
            settings.refund_keywords = v.clone();
        }
        settings
    }
}

/// Parses a floor in MAJOR units ("1000", "1000.5", "2.5e3") into minor units, exactly:
/// no float rounding, at most two decimals, not negative. Shared by the overrides and by
/// whoever reads `MONO_BUSINESS_FLOOR`.
pub fn floor_minor_from_major(text: &str) -> Result<i64, PolicyError> {
    let invalid = || PolicyError::new("floor", format!("`{text}` is not a number"));
    let text = text.trim();
    let unsigned = text.strip_prefix('+').unwrap_or(text);
    if unsigned.starts_with('-') {
        return Err(PolicyError::new("floor", "must not be negative"));
    }
    let (number, exponent) = match unsigned.find(['e', 'E']) {
        Some(at) => {
            let exp = &unsigned[at + 1..];
            let digits = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid());
            }
            // Anything past +-10_000 is far outside i64 either way; clamp before parsing.
            let magnitude: i64 = digits.parse().unwrap_or(i64::MAX).min(10_000);
            let exponent = if exp.starts_with('-') {
                -magnitude
            } else {
                magnitude
            };
            (&unsigned[..at], exponent)
        }
        None => (unsigned, 0),
    };
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty()) || !all_digits(int_part) || !all_digits(frac_part) {
        return Err(invalid());
    }
    // value = digits * 10^scale, in minor units (hence the +2).
    let digits = format!("{int_part}{frac_part}");
    let mut digits = digits.trim_start_matches('0');
    let mut scale = exponent + 2 - frac_part.len() as i64;
    while let Some(rest) = digits.strip_suffix('0') {
        digits = rest;
        scale += 1;
    }
    if digits.is_empty() {
        return Ok(0);
    }
    if scale < 0 {
        return Err(PolicyError::new("floor", "at most two decimals"));
    }
    let too_large = || PolicyError::new("floor", "is too large");
    let mut value: i64 = digits.parse().map_err(|_| too_large())?;
    for _ in 0..scale {
        value = value.checked_mul(10).ok_or_else(too_large)?;
    }
    Ok(value)
}

fn validate_currency(code: &str) -> Result<(), PolicyError> {
    let normalized = super::normalize_currency(code);
    if normalized.len() == 3 && normalized.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(PolicyError::new(
            "invoiceCurrency",
            format!("`{code}` is not a three-letter currency code"),
        ))
    }
}

/// A keyword list: at most [`MAX_KEYWORDS`] keywords, each trimmed-non-empty, at most
/// [`MAX_PATTERN_CHARS`] characters, with at least one letter or digit (a keyword is
/// matched on words, so one without any could never match).
pub fn validate_keywords(field: &str, keywords: &[String]) -> Result<(), PolicyError> {
    if keywords.len() > MAX_KEYWORDS {
        return Err(PolicyError::new(
            field,
            format!("at most {MAX_KEYWORDS} keywords"),
        ));
    }
    for keyword in keywords {
        let keyword = keyword.trim();
        if keyword.is_empty() {
            return Err(PolicyError::new(field, "keywords must not be empty"));
        }
        if keyword.chars().count() > MAX_PATTERN_CHARS {
            return Err(PolicyError::new(
                field,
                format!("keywords are at most {MAX_PATTERN_CHARS} characters"),
            ));
        }
        if !keyword.chars().any(super::text::is_word_char) {
            return Err(PolicyError::new(
                field,
                format!("keyword `{keyword}` has no letter or digit"),
            ));
        }
    }
    Ok(())
}

/// Compiles a regex within the engine's size budget; errors name `field`.
pub(crate) fn build_regex(field: &str, pattern: &str) -> Result<Regex, PolicyError> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
        .map_err(|err| match err {
            regex::Error::CompiledTooBig(limit) => PolicyError::new(
                field,
                format!("regex is too large (compiled size over {limit} bytes)"),
            ),
            other => PolicyError::new(field, format!("invalid regex: {other}")),
        })
}

/// One allow/deny rule. Extra fields a stored rule carries (note, createdAt) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rule {
    pub id: String,
    pub list: RuleList,
    /// Absent: every account of the environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default)]
    pub field: RuleField,
    #[serde(default, rename = "match")]
    pub match_kind: MatchKind,
    pub pattern: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleList {
    Allow,
    Deny,
}

/// What a rule looks at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleField {
    /// Narration, description and tags joined by single spaces.
    #[default]
    Narration,
    /// The counterparty's name (the field, else the sender the narration names) and its
    /// account number, each on its own.
    Counterparty,
    /// The reference field, and the reference the referenceRegex found, each on its own.
    Reference,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MatchKind {
    /// Case-insensitive substring.
    #[default]
    Contains,
    /// Case-insensitive equality of the trimmed text and the trimmed pattern.
    Exact,
    /// Rust `regex` syntax, `is_match` (unanchored, case-sensitive unless `(?i)`).
    Regex,
}

impl RuleList {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleList::Allow => "allow",
            RuleList::Deny => "deny",
        }
    }
}

impl RuleField {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleField::Narration => "narration",
            RuleField::Counterparty => "counterparty",
            RuleField::Reference => "reference",
        }
    }
}

impl MatchKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchKind::Contains => "contains",
            MatchKind::Exact => "exact",
            MatchKind::Regex => "regex",
        }
    }
}

impl FromStr for RuleList {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "allow" => Ok(RuleList::Allow),
            "deny" => Ok(RuleList::Deny),
            _ => Err(PolicyError::new("list", "must be `allow` or `deny`")),
        }
    }
}

impl FromStr for RuleField {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "narration" => Ok(RuleField::Narration),
            "counterparty" => Ok(RuleField::Counterparty),
            "reference" => Ok(RuleField::Reference),
            _ => Err(PolicyError::new(
                "field",
                "must be `narration`, `counterparty` or `reference`",
            )),
        }
    }
}

impl FromStr for MatchKind {
    type Err = PolicyError;
    fn from_str(s: &str) -> Result<Self, PolicyError> {
        match s {
            "contains" => Ok(MatchKind::Contains),
            "exact" => Ok(MatchKind::Exact),
            "regex" => Ok(MatchKind::Regex),
            _ => Err(PolicyError::new(
                "match",
                "must be `contains`, `exact` or `regex`",
            )),
        }
    }
}

/// Validates a rule as it is created: the pattern is 1 to [`MAX_PATTERN_CHARS`] characters,
/// not blank, and for `regex` a valid Rust regex within the size budget. Errors name `pattern`.
pub fn validate_rule(rule: &Rule) -> Result<(), PolicyError> {
    validate_pattern(rule.match_kind, &rule.pattern)
}

/// The pattern half of [`validate_rule`], for callers that have not built a [`Rule`] yet.
pub fn validate_pattern(match_kind: MatchKind, pattern: &str) -> Result<(), PolicyError> {
    if pattern.trim().is_empty() {
        return Err(PolicyError::new("pattern", "must not be empty"));
    }
    if pattern.chars().count() > MAX_PATTERN_CHARS {
        return Err(PolicyError::new(
            "pattern",
            format!("at most {MAX_PATTERN_CHARS} characters"),
        ));
    }
    if match_kind == MatchKind::Regex {
        build_regex("pattern", pattern)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(json: &str) -> SettingsOverrides {
        serde_json::from_str(json).expect("valid overrides")
    }

    fn rule(match_kind: MatchKind, pattern: &str) -> Rule {
        Rule {
            id: "r".into(),
            list: RuleList::Deny,
            account_id: None,
            field: RuleField::Narration,
            match_kind,
            pattern: pattern.into(),
        }
    }

    #[test]
    fn defaults_follow_the_spec() {
        let settings = EligibilitySettings::default();
        assert_eq!(settings.floor_minor, 100_000);
        assert_eq!(settings.invoice_currency, "NGN");
        assert_eq!(settings.reference_regex, None);
        assert_eq!(settings.business_keywords.len(), 5);
        assert!(settings.personal_keywords.iter().any(|k| k == "school fees"));
        assert_eq!(
            settings.refund_keywords,
            ["refund", "reversal", "reversed", "chargeback"]
        );
        assert_eq!(settings.validate(), Ok(()));
    }

    #[test]
    fn floor_parses_major_units_exactly() {
        let parse = |s: &str| floor_minor_from_major(s);
        assert_eq!(parse("1000"), Ok(100_000));
        assert_eq!(parse("1000.5"), Ok(100_050));
        assert_eq!(parse("0.01"), Ok(1));
        assert_eq!(parse("0.10"), Ok(10));
        assert_eq!(parse("2.5e3"), Ok(250_000));
        assert_eq!(parse("1e-2"), Ok(1));
        assert_eq!(parse("0"), Ok(0));
        assert_eq!(parse("0.000"), Ok(0));
        assert_eq!(parse(".5"), Ok(50));
        let field_of = |s: &str| parse(s).map_err(|e| e.field);
        assert_eq!(field_of("0.001"), Err("floor".into()));
        assert_eq!(field_of("-1"), Err("floor".into()));
        assert_eq!(field_of("1e30"), Err("floor".into()));
        assert_eq!(field_of("1e999999999999999999999"), Err("floor".into()));
        assert_eq!(field_of("abc"), Err("floor".into()));
        assert_eq!(field_of("."), Err("floor".into()));
        assert_eq!(field_of("1e"), Err("floor".into()));
    }

    #[test]
    fn overrides_apply_and_replace_lists() {
        let base = EligibilitySettings::default();
        let settings = overrides(
            r#"{"floor": 50000, "invoiceCurrency": "ghc", "businessKeywords": [" fee "],
                "referenceRegex": "^INV-\\d+$"}"#,
        )
        .apply(&base)
        .expect("valid");
        assert_eq!(settings.floor_minor, 5_000_000);
        assert_eq!(settings.invoice_currency, "GHS");
        assert_eq!(settings.business_keywords, ["fee"]);
        assert_eq!(settings.personal_keywords, base.personal_keywords);
        assert_eq!(settings.reference_regex.as_deref(), Some("^INV-\\d+$"));

        let cleared = overrides(r#"{"referenceRegex": ""}"#)
            .apply(&settings)
            .expect("valid");
        assert_eq!(cleared.reference_regex, None);
        let decimal = overrides(r#"{"floor": 999.99}"#).apply(&base).expect("valid");
        assert_eq!(decimal.floor_minor, 99_999);
    }

    #[test]
    fn overrides_refuse_bad_fields_by_name() {
        let base = EligibilitySettings::default();
        let field_of = |json: &str| overrides(json).apply(&base).map_err(|e| e.field);
        assert_eq!(field_of(r#"{"floor": -5}"#), Err("floor".into()));
        assert_eq!(field_of(r#"{"floor": 10.125}"#), Err("floor".into()));
        assert_eq!(
            field_of(r#"{"referenceRegex": "("}"#),
            Err("referenceRegex".into())
        );
        assert_eq!(
            field_of(r#"{"invoiceCurrency": "NAIRA"}"#),
            Err("invoiceCurrency".into())
        );
        assert_eq!(
            field_of(r#"{"businessKeywords": ["  "]}"#),
            Err("businessKeywords".into())
        );
        assert_eq!(
            field_of(r#"{"personalKeywords": ["--"]}"#),
            Err("personalKeywords".into())
        );
        let long = "x".repeat(201);
        assert_eq!(
            field_of(&format!(r#"{{"refundKeywords": ["{long}"]}}"#)),
            Err("refundKeywords".into())
        );
        let many: Vec<String> = (0..201).map(|i| format!("k{i}")).collect();
        let json = serde_json::json!({ "businessKeywords": many }).to_string();
        assert_eq!(field_of(&json), Err("businessKeywords".into()));
        let unknown =
            serde_json::from_str::<SettingsOverrides>(r#"{"flor": 1}"#).expect_err("unknown field refused");
        assert!(unknown.to_string().contains("flor"), "{unknown}");
    }

    #[test]
    fn rule_patterns_are_validated() {
        assert_eq!(validate_rule(&rule(MatchKind::Contains, "betking")), Ok(()));
        assert_eq!(validate_rule(&rule(MatchKind::Regex, r"^INV-\d+$")), Ok(()));
        for bad in [
            rule(MatchKind::Contains, ""),
            rule(MatchKind::Exact, "   "),
            rule(MatchKind::Contains, &"a".repeat(201)),
            rule(MatchKind::Regex, "(unclosed"),
            rule(MatchKind::Regex, r"\p{NoSuchClass}"),
        ] {
            let err = validate_rule(&bad).expect_err("refused");
            assert_eq!(err.field, "pattern", "{bad:?}");
        }
        // 200 characters is still allowed, counted in chars, not bytes.
        assert_eq!(
            validate_rule(&rule(MatchKind::Contains, &"é".repeat(200))),
            Ok(())
        );
    }

    #[test]
    fn oversized_regex_is_refused_naming_the_field() {
        // Short to type, huge once compiled: nested counted repetitions of a Unicode class.
        let bomb = r"(\w{50}){50}";
        let err = validate_rule(&rule(MatchKind::Regex, bomb)).expect_err("too big");
        assert_eq!(err.field, "pattern");
        assert!(err.message.contains("too large"), "{}", err.message);
        let err = overrides(&serde_json::json!({ "referenceRegex": bomb }).to_string())
            .apply(&EligibilitySettings::default())
            .expect_err("too big");
        assert_eq!(err.field, "referenceRegex");
    }

    #[test]
    fn enum_names_parse_with_field_errors() {
        assert_eq!("deny".parse::<RuleList>(), Ok(RuleList::Deny));
        assert_eq!("reference".parse::<RuleField>(), Ok(RuleField::Reference));
        assert_eq!("exact".parse::<MatchKind>(), Ok(MatchKind::Exact));
        assert_eq!(
            "block".parse::<RuleList>().map_err(|e| e.field),
            Err("list".into())
        );
        assert_eq!(
            "memo".parse::<RuleField>().map_err(|e| e.field),
            Err("field".into())
        );
        assert_eq!(
            "glob".parse::<MatchKind>().map_err(|e| e.field),
            Err("match".into())
        );
    }

    #[test]
    fn rules_read_fixture_shape_with_defaults() {
        let rule: Rule = serde_json::from_str(
            r#"{"id":"r3","list":"allow","pattern":"acme","note":"x","createdAt":"2025"}"#,
        )
        .expect("valid rule");
        assert_eq!(rule.field, RuleField::Narration);
        assert_eq!(rule.match_kind, MatchKind::Contains);
        assert_eq!(rule.account_id, None);
    }
}

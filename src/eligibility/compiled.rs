//! [`CompiledPolicy`]: settings and rules turned once into matchers that every transaction
//! of a sync reuses. All keywords share one automaton (`keywords`). Each rule field has one
//! Aho-Corasick automaton for all its `contains` rules, one sorted table for its `exact`
//! rules and one `RegexSet` for its `regex` rules, whatever list or account the rules belong
//! to: one pass answers every rule, and the few matchers stay hot in cache however many
//! accounts a sync interleaves. A hit is then kept only when its rule applies to the
//! transaction's account (environment-wide rules apply to every account). Rules are
//! numbered in id order (then content), and when several match, the first in that order is
//! reported, so the decision never depends on the order rules were stored in.

use std::cmp::Ordering;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};

use super::keywords::KeywordMatcher;
use super::policy::{
    build_regex, validate_rule, MatchKind, PolicyError, Rule, RuleField, RuleList, Settings,
    REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT,
};
use super::text::lowercase_into;

/// Rule position in id order; `NONE` when no rule of a list matched.
type Ordinal = u32;
const NONE: Ordinal = Ordinal::MAX;

/// Settings and rules compiled for fast, repeated decisions. Cheap to share (`Send + Sync`).
#[derive(Debug)]
pub struct CompiledPolicy {
    settings: Settings,
    pub(crate) floor_minor: i64,
    pub(crate) invoice_currency: String,
    pub(crate) reference_regex: Option<Regex>,
    pub(crate) keywords: KeywordMatcher,
    /// Rule ids by ordinal.
    rule_ids: Vec<String>,
    pub(crate) narration: FieldRules,
    pub(crate) counterparty: FieldRules,
    pub(crate) reference: FieldRules,
}

impl CompiledPolicy {
    /// Validates `settings` and every rule, then builds the matchers.
    pub fn compile(settings: &Settings, rules: &[Rule]) -> Result<CompiledPolicy, PolicyError> {
        settings.validate()?;
        for rule in rules {
            validate_rule(rule).map_err(|err| PolicyError {
                message: format!("rule `{}`: {}", rule.id, err.message),
                ..err
            })?;
        }
        let reference_regex = settings
            .reference_regex
            .as_deref()
            .map(|pattern| build_regex("referenceRegex", pattern))
            .transpose()?;

        let mut ordered: Vec<&Rule> = rules.iter().collect();
        ordered.sort_by(|a, b| {
            (&a.id, a.list, &a.account_id, a.field, a.match_kind, &a.pattern).cmp(&(
                &b.id,
                b.list,
                &b.account_id,
                b.field,
                b.match_kind,
                &b.pattern,
            ))
        });
        let of_field = |field: RuleField| -> Vec<(Ordinal, &Rule)> {
            (0..)
                .zip(ordered.iter().copied())
                .filter(|(_, rule)| rule.field == field)
                .collect()
        };

        Ok(CompiledPolicy {
            floor_minor: settings.floor_minor,
            invoice_currency: super::normalize_currency(&settings.invoice_currency),
            reference_regex,
            keywords: KeywordMatcher::build(settings),
            settings: settings.clone(),
            narration: FieldRules::build(&of_field(RuleField::Narration))?,
            counterparty: FieldRules::build(&of_field(RuleField::Counterparty))?,
            reference: FieldRules::build(&of_field(RuleField::Reference))?,
            rule_ids: ordered.iter().map(|rule| rule.id.clone()).collect(),
        })
    }

    /// The settings this policy was compiled from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// How many rules the policy holds, all accounts together.
    pub fn rule_count(&self) -> usize {
        self.rule_ids.len()
    }

    pub(crate) fn rule_id(&self, ordinal: Ordinal) -> Option<&str> {
        self.rule_ids.get(ordinal as usize).map(String::as_str)
    }
}

/// The first matching rule of each list, as ordinals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RuleHits {
    pub deny: Ordinal,
    pub allow: Ordinal,
}

impl RuleHits {
    pub(crate) const NONE: RuleHits = RuleHits {
        deny: NONE,
        allow: NONE,
    };

    pub(crate) fn add(&mut self, other: RuleHits) {
        self.deny = self.deny.min(other.deny);
        self.allow = self.allow.min(other.allow);
    }

    fn add_one(&mut self, list: RuleList, ordinal: Ordinal) {
        match list {
            RuleList::Deny => self.deny = self.deny.min(ordinal),
            RuleList::Allow => self.allow = self.allow.min(ordinal),
        }
    }

    pub fn deny(&self) -> Option<Ordinal> {
        (self.deny != NONE).then_some(self.deny)
    }

    pub fn allow(&self) -> Option<Ordinal> {
        (self.allow != NONE).then_some(self.allow)
    }
}

/// A rule as a matcher sees it.
#[derive(Debug, Clone)]
struct RuleRef {
    ordinal: Ordinal,
    list: RuleList,
    /// `None`: every account of the environment.
    account: Option<Box<str>>,
}

impl RuleRef {
    fn new(ordinal: Ordinal, rule: &Rule) -> RuleRef {
        RuleRef {
            ordinal,
            list: rule.list,
            account: rule.account_id.as_deref().map(Box::from),
        }
    }

    fn applies_to(&self, account: Option<&str>) -> bool {
        self.account.is_none() || self.account.as_deref() == account
    }
}

/// The rules of one field, every list and account together, by match kind.
#[derive(Debug)]
pub(crate) struct FieldRules {
    /// Lowercased patterns, ASCII-case-insensitive: ASCII text is searched as it stands,
    /// other text lowercased first.
    contains: Option<AhoCorasick>,
    /// Per `contains` pattern, the rules that have it.
    contains_rules: Vec<Vec<RuleRef>>,
    /// Lowercased, trimmed patterns with their rules, sorted by length then bytes: a text
    /// whose length no pattern has is turned away after comparing lengths alone.
    exact: Vec<(String, Vec<RuleRef>)>,
    regex: RegexRules,
}

#[derive(Debug)]
enum RegexRules {
    Empty,
    Set(RegexSet, Vec<RuleRef>),
    /// When the combined set would exceed its budget: each rule's own (validated) regex.
    Each(Vec<(Regex, RuleRef)>),
}

impl FieldRules {
    fn build(rules: &[(Ordinal, &Rule)]) -> Result<FieldRules, PolicyError> {
        let mut contains: Vec<(String, Vec<RuleRef>)> = Vec::new();
        let mut exact: Vec<(String, Vec<RuleRef>)> = Vec::new();
        let mut regexes: Vec<(&str, RuleRef)> = Vec::new();
        let mut buf = String::new();
        for &(ordinal, rule) in rules {
            let rule_ref = RuleRef::new(ordinal, rule);
            match rule.match_kind {
                MatchKind::Contains => {
                    let pattern = lowercase_into(&rule.pattern, &mut buf);
                    add_pattern(&mut contains, pattern, rule_ref);
                }
                MatchKind::Exact => {
                    let pattern = lowercase_into(rule.pattern.trim(), &mut buf);
                    add_pattern(&mut exact, pattern, rule_ref);
                }
                MatchKind::Regex => regexes.push((&rule.pattern, rule_ref)),
            }
        }

        let contains_automaton = if contains.is_empty() {
            None
        } else {
            let automaton = AhoCorasickBuilder::new()
                .match_kind(AcMatchKind::Standard)
                .ascii_case_insensitive(true)
                .build(contains.iter().map(|(p, _)| p.as_str()))
                .map_err(|err| {
                    PolicyError::new("pattern", format!("contains rules do not compile: {err}"))
                })?;
            Some(automaton)
        };
        exact.sort_by(|a, b| cmp_exact(&a.0, &b.0));

        let regex = if regexes.is_empty() {
            RegexRules::Empty
        } else {
            let set = RegexSetBuilder::new(regexes.iter().map(|(p, _)| *p))
                .size_limit(REGEX_SIZE_LIMIT.saturating_mul(regexes.len()))
                .dfa_size_limit(REGEX_DFA_SIZE_LIMIT.saturating_mul(regexes.len().min(8)))
                .build();
            match set {
                Ok(set) => RegexRules::Set(set, regexes.into_iter().map(|(_, r)| r).collect()),
                Err(_) => RegexRules::Each(
                    regexes
                        .into_iter()
                        .map(|(p, r)| Ok((build_regex("pattern", p)?, r)))
                        .collect::<Result<_, PolicyError>>()?,
                ),
            }
        };

        Ok(FieldRules {
            contains: contains_automaton,
            contains_rules: contains.into_iter().map(|(_, rules)| rules).collect(),
            exact,
            regex,
        })
    }

    fn is_empty(&self) -> bool {
        self.contains.is_none() && self.exact.is_empty() && matches!(self.regex, RegexRules::Empty)
    }

    /// The first deny and allow rule of `account` (or environment-wide) among those
    /// matching any of `candidates`. `buf` receives the lowercase form of non-ASCII text.
    pub fn matches_any<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
        account: Option<&str>,
        buf: &mut String,
    ) -> RuleHits {
        let mut hits = RuleHits::NONE;
        if !self.is_empty() {
            for candidate in candidates {
                self.matches(candidate, account, buf, &mut hits);
            }
        }
        hits
    }

    fn matches(&self, text: &str, account: Option<&str>, buf: &mut String, hits: &mut RuleHits) {
        let mut add = |rules: &[RuleRef]| {
            for rule in rules.iter().filter(|r| r.applies_to(account)) {
                hits.add_one(rule.list, rule.ordinal);
            }
        };
        if self.contains.is_some() || !self.exact.is_empty() {
            // ASCII text as it stands: the comparisons below are ASCII-case-insensitive.
            let folded = if text.is_ascii() {
                text
            } else {
                lowercase_into(text, buf)
            };
            if let Some(automaton) = &self.contains {
                // Most texts match no rule: is_match answers that, and only a hit pays for
                // the overlapping walk that finds every matching pattern.
                if automaton.is_match(folded) {
                    for m in automaton.find_overlapping_iter(folded) {
                        if let Some(rules) = self.contains_rules.get(m.pattern().as_usize()) {
                            add(rules);
                        }
                    }
                }
            }
            if !self.exact.is_empty() {
                let trimmed = folded.trim();
                if let Ok(at) = self
                    .exact
                    .binary_search_by(|(pattern, _)| cmp_exact(pattern, trimmed))
                {
                    if let Some((_, rules)) = self.exact.get(at) {
                        add(rules);
                    }
                }
            }
        }
        match &self.regex {
            RegexRules::Empty => {}
            RegexRules::Set(set, rules) => {
                if set.is_match(text) {
                    for index in set.matches(text).iter() {
                        if let Some(rule) = rules.get(index) {
                            add(std::slice::from_ref(rule));
                        }
                    }
                }
            }
            RegexRules::Each(regexes) => {
                for (regex, rule) in regexes {
                    if regex.is_match(text) {
                        add(std::slice::from_ref(rule));
                    }
                }
            }
        }
    }
}

fn add_pattern(table: &mut Vec<(String, Vec<RuleRef>)>, pattern: &str, rule: RuleRef) {
    match table.iter_mut().find(|(p, _)| p == pattern) {
        Some((_, rules)) => rules.push(rule),
        None => table.push((pattern.to_owned(), vec![rule])),
    }
}

/// Orders exact patterns by length, then bytes with ASCII letters compared lowercased; a
/// lowercased pattern equals an ASCII text, or a lowercased one, exactly when this says
/// `Equal`.
fn cmp_exact(pattern: &str, text: &str) -> Ordering {
    pattern.len().cmp(&text.len()).then_with(|| {
        let text = text.bytes().map(|b| b.to_ascii_lowercase());
        pattern.bytes().map(|b| b.to_ascii_lowercase()).cmp(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, list: RuleList, match_kind: MatchKind, pattern: &str) -> Rule {
        Rule {
            id: id.into(),
            list,
            account_id: None,
            field: RuleField::Narration,
            match_kind,
            pattern: pattern.into(),
        }
    }

    fn narration(policy: &CompiledPolicy, account: Option<&str>, text: &str) -> RuleHits {
        policy.narration.matches_any([text], account, &mut String::new())
    }

    #[test]
    fn policy_is_shareable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CompiledPolicy>();
    }

    #[test]
    fn first_rule_by_id_wins_whatever_the_input_order() {
        let rules = vec![
            rule("b", RuleList::Deny, MatchKind::Contains, "acme"),
            rule("a", RuleList::Deny, MatchKind::Regex, "(?i)ac"),
            rule("d", RuleList::Allow, MatchKind::Contains, "ltd"),
            rule("c", RuleList::Allow, MatchKind::Exact, " ACME ltd "),
        ];
        let mut reversed = rules.clone();
        reversed.reverse();
        for set in [rules, reversed] {
            let policy = CompiledPolicy::compile(&Settings::default(), &set).expect("compiles");
            let id = |ordinal: Option<Ordinal>| ordinal.and_then(|o| policy.rule_id(o));
            let hits = narration(&policy, None, "  Acme LTD ");
            assert_eq!(id(hits.deny()), Some("a"));
            assert_eq!(id(hits.allow()), Some("c"));
            let hits = narration(&policy, None, "ACME Ltd Ikeja");
            assert_eq!(id(hits.allow()), Some("d"));
            let hits = narration(&policy, None, "Shoprite");
            assert_eq!((hits.deny(), hits.allow()), (None, None));
        }
    }

    #[test]
    fn account_rules_apply_to_their_account_only() {
        let mut scoped = rule("r7", RuleList::Deny, MatchKind::Contains, "betking");
        scoped.account_id = Some("acc_2".into());
        let global = rule("r8", RuleList::Allow, MatchKind::Contains, "bet");
        let policy = CompiledPolicy::compile(&Settings::default(), &[scoped, global]).expect("compiles");
        let on = |account| {
            let hits = narration(&policy, account, "BETKING");
            let id = |ordinal: Option<Ordinal>| ordinal.and_then(|o| policy.rule_id(o));
            (id(hits.deny()), id(hits.allow()))
        };
        assert_eq!(on(Some("acc_2")), (Some("r7"), Some("r8")));
        assert_eq!(on(Some("acc_1")), (None, Some("r8")));
        assert_eq!(on(None), (None, Some("r8")));
    }

    #[test]
    fn contains_and_exact_fold_unicode_case() {
        let rules = vec![
            rule("u1", RuleList::Deny, MatchKind::Contains, "ÉCOLE"),
            rule("u2", RuleList::Deny, MatchKind::Exact, "straße"),
        ];
        let policy = CompiledPolicy::compile(&Settings::default(), &rules).expect("compiles");
        let first = |text: &str| narration(&policy, None, text).deny();
        assert_eq!(first("frais école"), Some(0));
        assert_eq!(first("FRAIS ÉCOLE"), Some(0));
        assert_eq!(first(" STRASSE "), None);
        assert_eq!(first(" STRAßE "), Some(1));
        assert_eq!(first("strasse"), None);
    }

    #[test]
    fn a_pattern_shared_by_rules_of_several_accounts() {
        let mut a = rule("a", RuleList::Deny, MatchKind::Contains, "bet");
        a.account_id = Some("acc_a".into());
        let mut b = rule("b", RuleList::Allow, MatchKind::Contains, "BET");
        b.account_id = Some("acc_b".into());
        let mut c = rule("c", RuleList::Allow, MatchKind::Regex, "bet");
        c.account_id = Some("acc_a".into());
        let policy = CompiledPolicy::compile(&Settings::default(), &[a, b, c]).expect("compiles");
        let on = |account| {
            let hits = narration(&policy, account, "bet");
            let id = |ordinal: Option<Ordinal>| ordinal.and_then(|o| policy.rule_id(o));
            (id(hits.deny()), id(hits.allow()))
        };
        assert_eq!(on(Some("acc_a")), (Some("a"), Some("c")));
        assert_eq!(on(Some("acc_b")), (None, Some("b")));
        assert_eq!(on(None), (None, None));
    }

    #[test]
    fn invalid_rules_are_refused_with_their_id() {
        let err = CompiledPolicy::compile(
            &Settings::default(),
            &[rule("bad", RuleList::Deny, MatchKind::Regex, "(")],
        )
        .expect_err("refused");
        assert_eq!(err.field, "pattern");
        assert!(err.message.contains("bad"), "{}", err.message);
    }
}

//! [`CompiledPolicy`]: settings and rules turned once into matchers that every transaction
//! of a sync reuses. All keywords share one Aho-Corasick automaton (`keywords`); each rule
//! field has one automaton for its `contains` rules, a sorted table for its
//! `exact` rules and one `RegexSet` for its `regex` rules, with allow and deny rules mixed so
//! one pass answers both lists. Rules are ordered by id (then content), and when several
//! match, the first in that order is reported, so the decision never depends on the order
//! rules were stored in.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind as AcMatchKind};
use regex::{Regex, RegexSet, RegexSetBuilder};

use super::keywords::KeywordMatcher;
use super::policy::{
    build_regex, validate_rule, MatchKind, PolicyError, Rule, RuleField, RuleList, Settings,
    REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT,
};
use super::text::{case_folded, cmp_folded, lowercase_into};

/// Rule position in id order; `NONE` when a pattern has no rule of that list.
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
    /// Environment-wide rules only: accounts without rules of their own, and transactions
    /// without an account.
    env_rules: ScopeRules,
    /// Per account, sorted by account id: its own rules together with the environment-wide
    /// ones. A binary search of a few ids beats hashing one on every decision.
    account_rules: Vec<(String, ScopeRules)>,
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
        let rule_ids = ordered.iter().map(|rule| rule.id.clone()).collect();
        let numbered: Vec<(Ordinal, &Rule)> = ordered
            .into_iter()
            .enumerate()
            .map(|(ordinal, rule)| (ordinal as Ordinal, rule))
            .collect();

        let env_wide: Vec<(Ordinal, &Rule)> = numbered
            .iter()
            .copied()
            .filter(|(_, rule)| rule.account_id.is_none())
            .collect();
        let env_rules = ScopeRules::build(&env_wide)?;
        let mut accounts: Vec<&String> = numbered
            .iter()
            .filter_map(|(_, rule)| rule.account_id.as_ref())
            .collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut account_rules = Vec::with_capacity(accounts.len());
        for account in accounts {
            let scoped: Vec<(Ordinal, &Rule)> = numbered
                .iter()
                .copied()
                .filter(|(_, r)| r.account_id.as_ref().is_none_or(|a| a == account))
                .collect();
            account_rules.push((account.clone(), ScopeRules::build(&scoped)?));
        }

        Ok(CompiledPolicy {
            floor_minor: settings.floor_minor,
            invoice_currency: super::normalize_currency(&settings.invoice_currency),
            reference_regex,
            keywords: KeywordMatcher::build(settings),
            settings: settings.clone(),
            rule_ids,
            env_rules,
            account_rules,
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

    pub(crate) fn rules_for(&self, account_id: Option<&str>) -> &ScopeRules {
        account_id
            .and_then(|account| {
                self.account_rules
                    .binary_search_by(|(id, _)| id.as_str().cmp(account))
                    .ok()
            })
            .and_then(|at| self.account_rules.get(at))
            .map_or(&self.env_rules, |(_, rules)| rules)
    }

    pub(crate) fn rule_id(&self, ordinal: Ordinal) -> Option<&str> {
        self.rule_ids.get(ordinal as usize).map(String::as_str)
    }
}

/// The first matching rule of each list, as ordinals.
#[derive(Debug, Clone, Copy)]
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

/// The rules that apply to one account (or to the environment), by field.
#[derive(Debug, Default)]
pub(crate) struct ScopeRules {
    pub narration: FieldRules,
    pub counterparty: FieldRules,
    pub reference: FieldRules,
}

impl ScopeRules {
    fn build(rules: &[(Ordinal, &Rule)]) -> Result<ScopeRules, PolicyError> {
        let of_field = |field: RuleField| -> Vec<(Ordinal, &Rule)> {
            rules
                .iter()
                .copied()
                .filter(|(_, rule)| rule.field == field)
                .collect()
        };
        Ok(ScopeRules {
            narration: FieldRules::build(&of_field(RuleField::Narration))?,
            counterparty: FieldRules::build(&of_field(RuleField::Counterparty))?,
            reference: FieldRules::build(&of_field(RuleField::Reference))?,
        })
    }
}

/// The rules of one field, by match kind.
#[derive(Debug, Default)]
pub(crate) struct FieldRules {
    /// Lowercased patterns, ASCII-case-insensitive, over text folded by `case_folded`.
    contains: Option<AhoCorasick>,
    contains_hits: Vec<RuleHits>,
    /// Lowercased, trimmed patterns, sorted for binary search.
    exact: Vec<(String, RuleHits)>,
    regex: RegexRules,
}

#[derive(Debug, Default)]
enum RegexRules {
    #[default]
    Empty,
    Set(RegexSet, Vec<(RuleList, Ordinal)>),
    /// When the combined set would exceed its budget: each rule's own (validated) regex.
    Each(Vec<(Regex, RuleList, Ordinal)>),
}

impl FieldRules {
    fn build(rules: &[(Ordinal, &Rule)]) -> Result<FieldRules, PolicyError> {
        let mut contains: Vec<(String, RuleHits)> = Vec::new();
        let mut exact: Vec<(String, RuleHits)> = Vec::new();
        let mut regexes: Vec<(&str, RuleList, Ordinal)> = Vec::new();
        for &(ordinal, rule) in rules {
            let merge = |table: &mut Vec<(String, RuleHits)>, pattern: String| match table
                .iter_mut()
                .find(|(p, _)| *p == pattern)
            {
                Some((_, hits)) => hits.add_one(rule.list, ordinal),
                None => {
                    let mut hits = RuleHits::NONE;
                    hits.add_one(rule.list, ordinal);
                    table.push((pattern, hits));
                }
            };
            let mut buf = String::new();
            match rule.match_kind {
                MatchKind::Contains => {
                    merge(&mut contains, lowercase_into(&rule.pattern, &mut buf).to_owned())
                }
                MatchKind::Exact => merge(
                    &mut exact,
                    lowercase_into(rule.pattern.trim(), &mut buf).to_owned(),
                ),
                MatchKind::Regex => regexes.push((&rule.pattern, rule.list, ordinal)),
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
        exact.sort_by(|a, b| a.0.cmp(&b.0));

        let regex = if regexes.is_empty() {
            RegexRules::Empty
        } else {
            let set = RegexSetBuilder::new(regexes.iter().map(|(p, _, _)| *p))
                .size_limit(REGEX_SIZE_LIMIT.saturating_mul(regexes.len()))
                .dfa_size_limit(REGEX_DFA_SIZE_LIMIT.saturating_mul(regexes.len().min(8)))
                .build();
            match set {
                Ok(set) => RegexRules::Set(set, regexes.iter().map(|&(_, list, ord)| (list, ord)).collect()),
                Err(_) => RegexRules::Each(
                    regexes
                        .iter()
                        .map(|&(p, list, ord)| Ok((build_regex("pattern", p)?, list, ord)))
                        .collect::<Result<_, PolicyError>>()?,
                ),
            }
        };

        Ok(FieldRules {
            contains: contains_automaton,
            contains_hits: contains.into_iter().map(|(_, hits)| hits).collect(),
            exact,
            regex,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.contains.is_none() && self.exact.is_empty() && matches!(self.regex, RegexRules::Empty)
    }

    /// Whether contains or exact rules exist: they compare a case-folded text.
    pub fn needs_folding(&self) -> bool {
        self.contains.is_some() || !self.exact.is_empty()
    }

    /// The first deny and allow rule matching `text`. `folded` is `text` as returned by
    /// [`case_folded`] (the caller folds once for all fields' sake).
    pub fn matches(&self, text: &str, folded: &str) -> RuleHits {
        let mut hits = RuleHits::NONE;
        if let Some(automaton) = &self.contains {
            // Most texts match no rule: the prefiltered is_match answers that fast, and only
            // a hit pays for the overlapping walk that finds every matching pattern.
            if automaton.is_match(folded) {
                for m in automaton.find_overlapping_iter(folded) {
                    if let Some(found) = self.contains_hits.get(m.pattern().as_usize()) {
                        hits.add(*found);
                    }
                }
            }
        }
        if !self.exact.is_empty() {
            let trimmed = folded.trim();
            if let Ok(at) = self
                .exact
                .binary_search_by(|(pattern, _)| cmp_folded(pattern, trimmed))
            {
                hits.add(self.exact[at].1);
            }
        }
        match &self.regex {
            RegexRules::Empty => {}
            RegexRules::Set(set, ordinals) => {
                if set.is_match(text) {
                    for index in set.matches(text).iter() {
                        if let Some(&(list, ordinal)) = ordinals.get(index) {
                            hits.add_one(list, ordinal);
                        }
                    }
                }
            }
            RegexRules::Each(regexes) => {
                for (regex, list, ordinal) in regexes {
                    if regex.is_match(text) {
                        hits.add_one(*list, *ordinal);
                    }
                }
            }
        }
        hits
    }

    /// [`FieldRules::matches`] over several candidate texts, folding each into `buf`.
    pub fn matches_any<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
        buf: &mut String,
    ) -> RuleHits {
        let mut hits = RuleHits::NONE;
        if self.is_empty() {
            return hits;
        }
        for candidate in candidates {
            let found = if self.needs_folding() {
                let folded = case_folded(candidate, buf);
                self.matches(candidate, folded)
            } else {
                self.matches(candidate, candidate)
            };
            hits.add(found);
        }
        hits
    }
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
            let field = &policy.rules_for(None).narration;
            let id = |ordinal: Option<Ordinal>| ordinal.and_then(|o| policy.rule_id(o));
            let hits = field.matches_any(["  Acme LTD "], &mut String::new());
            assert_eq!(id(hits.deny()), Some("a"));
            assert_eq!(id(hits.allow()), Some("c"));
            let hits = field.matches_any(["ACME Ltd Ikeja"], &mut String::new());
            assert_eq!(id(hits.allow()), Some("d"));
            let hits = field.matches_any(["Shoprite"], &mut String::new());
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
            let hits = policy
                .rules_for(account)
                .narration
                .matches_any(["BETKING"], &mut String::new());
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
        let field = &policy.rules_for(None).narration;
        let mut buf = String::new();
        let first = |text: &str, buf: &mut String| field.matches_any([text], buf).deny();
        assert_eq!(first("frais école", &mut buf), Some(0));
        assert_eq!(first(" STRASSE ", &mut buf), None);
        assert_eq!(first(" STRAßE ", &mut buf), Some(1));
        assert_eq!(first("strasse", &mut buf), None);
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

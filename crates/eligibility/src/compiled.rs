//! [`CompiledPolicy`]: settings and rules turned once into matchers that every transaction
//! of a sync reuses. All keywords share one automaton (`keywords`); on ASCII text they are
//! found instead by the narration's literal search, which also holds the keywords' first
//! words and the sender markers, so that text is searched once for all three. Each rule field has one
//! literal search (`literals`) for all its `contains` patterns and for the literals its
//! regexes require, one sorted table for its `exact` rules, and its regexes: those with a
//! required literal run only on text where that literal occurs, the others together in one
//! `RegexSet`. This holds whatever list or account the rules belong to: one pass answers
//! every rule, and the few matchers stay hot in cache however many accounts a sync
//! interleaves. A hit is then kept only when its rule applies to the transaction's account
//! (environment-wide rules apply to every account). Rules are numbered in id order (then
//! content), and when several match, the first in that order is reported, so the decision
//! never depends on the order rules were stored in; a regex that could not come first is
//! not run at all.

use regex::{Regex, RegexSet, RegexSetBuilder};

use super::keywords::{KeywordMatcher, SenderStarts};
use super::literals::{required_literals, LiteralSet, RegexLiterals};
use super::policy::{
    build_regex, validate_rule, EligibilitySettings, MatchKind, PolicyError, Rule, RuleField, RuleList,
    REGEX_DFA_SIZE_LIMIT, REGEX_SIZE_LIMIT,
};
use super::text::{is_ascii, lowercase_into, separates, trim, SENDER_MARKERS};

/// Rule position in id order; `NONE` when no rule of a list matched.
type Ordinal = u32;
const NONE: Ordinal = Ordinal::MAX;

/// EligibilitySettings and rules compiled for fast, repeated decisions. Cheap to share (`Send + Sync`).
#[derive(Debug)]
pub struct CompiledPolicy {
    settings: EligibilitySettings,
    pub(crate) floor_minor: i64,
    pub(crate) invoice_currency: String,
    pub(crate) reference_regex: Option<Regex>,
    /// What a candidate must hold for `reference_regex` to match it, when known.
    pub(crate) reference_literals: RegexLiterals,
    /// Whether the narration's literal search finds the longest of `reference_literals`
    /// ([`Self::scan_ascii_narration`]).
    pub(crate) reference_searched: bool,
    /// Whether the narration's literal search also finds the counterparty rules'
    /// literals, so that a counterparty named by the narration is matched from it
    /// ([`FieldRules::matches_named`]).
    pub(crate) counterparty_searched: bool,
    pub(crate) keywords: KeywordMatcher,
    /// Rule ids by ordinal.
    rule_ids: Vec<String>,
    pub(crate) narration: FieldRules,
    pub(crate) counterparty: FieldRules,
    pub(crate) reference: FieldRules,
}

impl CompiledPolicy {
    /// Validates `settings` and every rule, then builds the matchers.
    pub fn compile(settings: &EligibilitySettings, rules: &[Rule]) -> Result<CompiledPolicy, PolicyError> {
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

        // The narration's literal search also finds where keywords and sender markers may
        // start, so ASCII text is searched once for all three (`scan_ascii_narration`).
        // So does the longest literal of the reference regex, when it can be in a
        // candidate and is long enough not to shorten the search's stride.
        let reference_literals = settings
            .reference_regex
            .as_deref()
            .and_then(required_literals)
            .unwrap_or_default();
        let reference_literal = reference_literals.longest.as_bytes();
        let reference_searched = reference_regex.is_some()
            && reference_literal.len() >= 3
            && !reference_literal.iter().any(|&b| separates(b));
        let keywords = KeywordMatcher::build(settings);
        let mut narration_extras: Vec<&[u8]> = keywords
            .first_words()
            .chain(SENDER_MARKERS.iter().map(|m| m.as_bytes()))
            .collect();
        let keyword_count = narration_extras.len() - SENDER_MARKERS.len();
        if reference_searched {
            narration_extras.push(reference_literal);
        }
        // The counterparty's literals too, when none is short enough to narrow the
        // narration search's stride: a sender the narration names is then matched from
        // that search instead of searching the name again.
        let counterparty = FieldRules::build(&of_field(RuleField::Counterparty), &[], true)?;
        let counterparty_literals: Vec<&[u8]> = counterparty.rule_literals().collect();
        let counterparty_searched = counterparty_literals
            .iter()
            .all(|literal| literal.len() >= LiteralSet::MAX_STRIDE);
        if counterparty_searched {
            narration_extras.extend(counterparty_literals);
        }

        Ok(CompiledPolicy {
            floor_minor: settings.floor_minor,
            invoice_currency: super::normalize_currency(&settings.invoice_currency),
            reference_searched,
            reference_regex,
            narration: FieldRules {
                keyword_count,
                ..FieldRules::build(&of_field(RuleField::Narration), &narration_extras, false)?
            },
            keywords,
            settings: settings.clone(),
            counterparty_searched,
            counterparty,
            reference: FieldRules::build(&of_field(RuleField::Reference), &[], true)?,
            rule_ids: ordered.iter().map(|rule| rule.id.clone()).collect(),
            reference_literals,
        })
    }

    /// The settings this policy was compiled from.
    pub fn settings(&self) -> &EligibilitySettings {
        &self.settings
    }

    /// How many rules the policy holds, all accounts together.
    pub fn rule_count(&self) -> usize {
        self.rule_ids.len()
    }

    pub(crate) fn rule_id(&self, ordinal: Ordinal) -> Option<&str> {
        self.rule_ids.get(ordinal as usize).map(String::as_str)
    }

    /// One search of the searched text, known to be ASCII, for four things at once: the
    /// keywords (spelling indexes appended to `found`, list bits returned), the word starts
    /// of the narration (`senders.limit` bytes) where a sender marker begins, where the
    /// reference regex's longest literal starts (into `references`, in order, when
    /// `reference_searched`), and the literals of the narration rules, kept in `scratch`
    /// for [`FieldRules::matches_searched`]. Only where the literal search finds a
    /// keyword's first word or a marker is a keyword or a sender looked for.
    pub(crate) fn scan_ascii_narration(
        &self,
        text: &str,
        found: &mut Vec<u32>,
        senders: &mut SenderStarts,
        references: &mut Vec<u32>,
        scratch: &mut MatchScratch,
    ) -> u8 {
        let bytes = text.as_bytes();
        let narration = &self.narration;
        let rule_literals = narration.literal_uses.len();
        let keywords = rule_literals + narration.keyword_count;
        let markers = keywords + SENDER_MARKERS.len();
        let counterparty = markers + usize::from(self.reference_searched);
        let mut lists = 0;
        senders.starts.clear();
        references.clear();
        scratch.found.clear();
        scratch.named.clear();
        if let Some(literals) = &narration.literals {
            let SenderStarts { limit, starts, .. } = senders;
            let MatchScratch {
                found: rules, named, ..
            } = scratch;
            literals.for_each_match(bytes, |number, at| {
                if number < rule_literals {
                    rules.push(number as u32);
                } else if number < keywords {
                    lists |= self.keywords.keyword_at(bytes, at, number - rule_literals, found);
                } else if number >= counterparty {
                    // A name the narration gives lies inside the narration.
                    if at < *limit {
                        named.push(((number - counterparty) as u32, at as u32));
                    }
                } else if number >= markers {
                    references.push(at as u32);
                } else if at < *limit
                    && (at == 0 || bytes.get(at - 1).is_some_and(|b| !b.is_ascii_alphanumeric()))
                {
                    starts.push(at as u32);
                }
            });
        }
        references.sort_unstable();
        // Found in no particular order: `decide` tries them from the first.
        senders.starts.sort_unstable();
        senders.starts.dedup();
        senders.complete = true;
        lists
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

    /// Whether a match of this rule could change `hits`: it applies to the account and
    /// comes before the first rule of its list found so far.
    fn would_improve(&self, account: Option<&str>, hits: &RuleHits) -> bool {
        let best = match self.list {
            RuleList::Deny => hits.deny,
            RuleList::Allow => hits.allow,
        };
        self.ordinal < best && self.applies_to(account)
    }
}

/// Buffers a field match reuses from one call to the next.
#[derive(Debug, Default)]
pub(crate) struct MatchScratch {
    /// Lowercase form of non-ASCII text (contains and exact rules).
    folded: String,
    /// Literal numbers found in the current text.
    found: Vec<u32>,
    /// The counterparty rules' literals the narration's search found: (literal number,
    /// where it starts).
    named: Vec<(u32, u32)>,
}

impl MatchScratch {
    pub(crate) const fn new() -> MatchScratch {
        MatchScratch {
            folded: String::new(),
            found: Vec::new(),
            named: Vec::new(),
        }
    }

    /// Gives back buffers grown past `keep` bytes by one huge text.
    pub(crate) fn shrink(&mut self, keep: usize) {
        if self.folded.capacity() > keep {
            self.folded = String::new();
        }
        if self.found.capacity() > keep {
            self.found = Vec::new();
        }
        if self.named.capacity() > keep {
            self.named = Vec::new();
        }
    }
}

/// The rules of one field, every list and account together, by match kind.
#[derive(Debug)]
pub(crate) struct FieldRules {
    /// The lowercased `contains` patterns and the literals the regexes require, in one
    /// search (`literals`): ASCII text is searched as it stands, other text lowercased
    /// first.
    /// After the rules' literals come the extra patterns the field was built with (the
    /// narration's: keywords' first words, then sender markers), which no rule uses.
    literals: Option<LiteralSet>,
    /// Per literal: the `contains` rules it is the pattern of, and the regexes
    /// (`filtered`) it is the required literal of.
    literal_uses: Vec<LiteralUse>,
    /// How many of the extra patterns are keywords' first words.
    keyword_count: usize,
    /// Lowercased, trimmed patterns with their rules, sorted by length: a text whose
    /// length no pattern has is turned away after comparing lengths alone, and the few
    /// patterns of its length are compared ASCII-case-insensitively.
    exact: Vec<(String, Vec<RuleRef>)>,
    /// Per byte length up to the longest pattern's, and one more: where the patterns of
    /// that length start in `exact`. A text is compared only with the patterns of its
    /// length, found without a search.
    exact_starts: Vec<u32>,
    /// Regexes with required literals, each with the rules that have it. On ASCII text a
    /// regex runs only when its longest literal occurs and its anchored ones (what the
    /// text starts or ends with) are there; on other text it always runs.
    filtered: Vec<Filtered>,
    /// Regexes without literals: they run on every text.
    always: RegexRules,
    /// Indexes into `filtered` of the regexes whose longest literal is what the text must
    /// start or end with, when the field was built to check those at the text's ends
    /// instead of searching for them (short texts: counterparty and reference). On ASCII
    /// text they run when their anchors hold.
    anchored: Vec<AnchoredRegex>,
    /// Per rule literal, its length in bytes.
    literal_lens: Vec<u32>,
}

/// A regex checked at the text's ends: its index in `filtered`, with the first byte its
/// prefix and the last byte its suffix require (lowercased), compared before anything else.
#[derive(Debug)]
struct AnchoredRegex {
    index: u32,
    first: Option<u8>,
    last: Option<u8>,
}

impl AnchoredRegex {
    /// Whether the ends of `text` (ASCII) may hold the anchors: the first test of many.
    #[inline]
    fn may_hold(&self, text: &[u8]) -> bool {
        let same = |byte: Option<&u8>, want: u8| byte.is_some_and(|b| b.to_ascii_lowercase() == want);
        self.first.is_none_or(|want| same(text.first(), want))
            && self.last.is_none_or(|want| same(text.last(), want))
    }
}

#[derive(Debug)]
struct Filtered {
    regex: Regex,
    rules: Vec<RuleRef>,
    literals: RegexLiterals,
}

#[derive(Debug, Default)]
struct LiteralUse {
    contains: Vec<RuleRef>,
    regexes: Vec<u32>,
}

#[derive(Debug)]
enum RegexRules {
    Empty,
    /// The set, its rules by pattern, and the first ordinal of each list among them.
    Set(RegexSet, Vec<RuleRef>, RuleHits),
    /// When the combined set would exceed its budget: each rule's own (validated) regex.
    Each(Vec<(Regex, RuleRef)>),
}

impl FieldRules {
    /// The rules of one field; `extras` are searched with the rules' literals (the
    /// narration's: keywords' first words, then the sender markers).
    /// `anchored_apart`: a regex whose longest literal is anchored (`^99`, `plc$`) is not
    /// searched for but checked at the text's ends, which keeps the search's stride wide.
    fn build(
        rules: &[(Ordinal, &Rule)],
        extras: &[&[u8]],
        anchored_apart: bool,
    ) -> Result<FieldRules, PolicyError> {
        let mut literals: Vec<(String, LiteralUse)> = Vec::new();
        let mut exact: Vec<(String, Vec<RuleRef>)> = Vec::new();
        let mut filtered: Vec<(&str, RegexLiterals, Vec<RuleRef>)> = Vec::new();
        let mut always: Vec<(&str, RuleRef)> = Vec::new();
        let mut anchored: Vec<AnchoredRegex> = Vec::new();
        let mut buf = String::new();
        for &(ordinal, rule) in rules {
            let rule_ref = RuleRef::new(ordinal, rule);
            match rule.match_kind {
                MatchKind::Contains => {
                    let pattern = lowercase_into(&rule.pattern, &mut buf);
                    literal_use(&mut literals, pattern).contains.push(rule_ref);
                }
                MatchKind::Exact => {
                    let pattern = lowercase_into(rule.pattern.trim(), &mut buf);
                    match exact.iter_mut().find(|(p, _)| p == pattern) {
                        Some((_, rules)) => rules.push(rule_ref),
                        None => exact.push((pattern.to_owned(), vec![rule_ref])),
                    }
                }
                MatchKind::Regex => match required_literals(&rule.pattern) {
                    // The longest literal is at least as long as the anchored ones.
                    Some(found) if !found.longest.is_empty() => {
                        let at = match filtered.iter().position(|(p, ..)| *p == rule.pattern) {
                            Some(at) => at,
                            None => {
                                let at = filtered.len();
                                let ends = found.longest == found.prefix || found.longest == found.suffix;
                                if anchored_apart && ends {
                                    anchored.push(AnchoredRegex {
                                        index: at as u32,
                                        first: found.prefix.bytes().next(),
                                        last: found.suffix.bytes().last(),
                                    });
                                } else {
                                    literal_use(&mut literals, &found.longest).regexes.push(at as u32);
                                }
                                filtered.push((&rule.pattern, found, Vec::new()));
                                at
                            }
                        };
                        if let Some((.., rules)) = filtered.get_mut(at) {
                            rules.push(rule_ref);
                        }
                    }
                    _ => always.push((&rule.pattern, rule_ref)),
                },
            }
        }
        exact.sort_by(|a, b| (a.0.len(), &a.0).cmp(&(b.0.len(), &b.0)));
        let longest = exact.last().map_or(0, |(p, _)| p.len());
        let exact_starts = (0..=longest + 1)
            .map(|len| exact.partition_point(|(p, _)| p.len() < len) as u32)
            .collect();

        let always = if always.is_empty() {
            RegexRules::Empty
        } else {
            let set = RegexSetBuilder::new(always.iter().map(|(p, _)| *p))
                .size_limit(REGEX_SIZE_LIMIT.saturating_mul(always.len()))
                .dfa_size_limit(REGEX_DFA_SIZE_LIMIT.saturating_mul(always.len().min(8)))
                .build();
            match set {
                Ok(set) => {
                    let mut first = RuleHits::NONE;
                    for (_, rule) in &always {
                        first.add_one(rule.list, rule.ordinal);
                    }
                    RegexRules::Set(set, always.into_iter().map(|(_, r)| r).collect(), first)
                }
                Err(_) => RegexRules::Each(
                    always
                        .into_iter()
                        .map(|(p, r)| Ok((build_regex("pattern", p)?, r)))
                        .collect::<Result<_, PolicyError>>()?,
                ),
            }
        };

        Ok(FieldRules {
            literals: (!literals.is_empty() || !extras.is_empty()).then(|| {
                LiteralSet::new(
                    literals
                        .iter()
                        .map(|(p, _)| p.as_bytes())
                        .chain(extras.iter().copied()),
                )
            }),
            keyword_count: 0,
            literal_lens: literals.iter().map(|(p, _)| p.len() as u32).collect(),
            literal_uses: literals.into_iter().map(|(_, uses)| uses).collect(),
            anchored,
            exact,
            exact_starts,
            filtered: filtered
                .into_iter()
                .map(|(pattern, literals, rules)| {
                    Ok(Filtered {
                        regex: build_regex("pattern", pattern)?,
                        rules,
                        literals,
                    })
                })
                .collect::<Result<_, PolicyError>>()?,
            always,
        })
    }

    fn is_empty(&self) -> bool {
        self.literal_uses.is_empty()
            && self.exact.is_empty()
            && self.filtered.is_empty()
            && matches!(self.always, RegexRules::Empty)
    }

    /// The first deny and allow rule of `account` (or environment-wide) among those
    /// matching any of `candidates`.
    pub fn matches_any<'a>(
        &self,
        candidates: impl IntoIterator<Item = &'a str>,
        account: Option<&str>,
        scratch: &mut MatchScratch,
    ) -> RuleHits {
        let mut hits = RuleHits::NONE;
        if !self.is_empty() {
            for candidate in candidates {
                self.matches(candidate, account, scratch, &mut hits);
            }
        }
        hits
    }

    /// [`Self::matches_any`] of the narration's searched text, ASCII, once
    /// [`CompiledPolicy::scan_ascii_narration`] has found its rule literals.
    pub fn matches_searched(
        &self,
        text: &str,
        account: Option<&str>,
        scratch: &mut MatchScratch,
    ) -> RuleHits {
        let mut hits = RuleHits::NONE;
        if !self.is_empty() {
            self.matches_found(text, text, true, account, &mut scratch.found, &mut hits);
        }
        hits
    }

    /// [`Self::matches_any`] of `name`, the slice of the narration from byte `at`, once
    /// [`CompiledPolicy::scan_ascii_narration`] has searched the narration (ASCII) for
    /// this field's literals too (`counterparty_searched`): the literals inside the name
    /// are those the search found within its bytes. Adds to `hits`.
    pub fn matches_named(
        &self,
        name: &str,
        at: usize,
        account: Option<&str>,
        scratch: &mut MatchScratch,
        hits: &mut RuleHits,
    ) {
        if self.is_empty() {
            return;
        }
        let MatchScratch { found, named, .. } = scratch;
        found.clear();
        let end = at + name.len();
        for &(number, start) in named.iter() {
            let len = self
                .literal_lens
                .get(number as usize)
                .map_or(usize::MAX, |&len| len as usize);
            let start = start as usize;
            if start >= at && start.saturating_add(len) <= end {
                found.push(number);
            }
        }
        self.matches_found(name, name, true, account, found, hits);
    }

    /// The rules' literals of this field, lowercased, by literal number.
    fn rule_literals(&self) -> impl Iterator<Item = &[u8]> {
        self.literals
            .iter()
            .flat_map(|literals| literals.patterns().take(self.literal_uses.len()))
    }

    fn matches(&self, text: &str, account: Option<&str>, scratch: &mut MatchScratch, hits: &mut RuleHits) {
        let MatchScratch { folded, found, .. } = scratch;
        let ascii = is_ascii(text);
        found.clear();
        // ASCII text as it stands: the comparisons are ASCII-case-insensitive.
        let folded = if ascii || (self.literals.is_none() && self.exact.is_empty()) {
            text
        } else {
            lowercase_into(text, folded)
        };
        if let Some(literals) = &self.literals {
            let rules = self.literal_uses.len();
            literals.for_each_match(folded.as_bytes(), |number, _| {
                if number < rules {
                    found.push(number as u32);
                }
            });
        }
        self.matches_found(text, folded, ascii, account, found, hits);
    }

    /// The rest of a match once the rules' literals in `folded` (`text` lowercased unless
    /// ASCII) are in `found`: contains rules, exact rules, regexes.
    fn matches_found(
        &self,
        text: &str,
        folded: &str,
        ascii: bool,
        account: Option<&str>,
        found: &mut Vec<u32>,
        hits: &mut RuleHits,
    ) {
        let add = |rules: &[RuleRef], hits: &mut RuleHits| {
            for rule in rules.iter().filter(|r| r.applies_to(account)) {
                hits.add_one(rule.list, rule.ordinal);
            }
        };
        for &number in found.iter() {
            if let Some(uses) = self.literal_uses.get(number as usize) {
                add(&uses.contains, hits);
            }
        }
        if !self.exact.is_empty() {
            let trimmed = trim(folded);
            let len = trimmed.len();
            // Longer than every pattern: no range.
            if let (Some(&from), Some(&to)) = (self.exact_starts.get(len), self.exact_starts.get(len + 1)) {
                for (pattern, rules) in self.exact.get(from as usize..to as usize).unwrap_or_default() {
                    // A lowercased pattern equals an ASCII text, or a lowercased one,
                    // exactly when they are equal ASCII-case-insensitively.
                    if pattern.eq_ignore_ascii_case(trimmed) {
                        add(rules, hits);
                    }
                }
            }
        }
        // Regexes last: the rules found so far spare those that could not come first.
        let run = |filtered: &Filtered, hits: &mut RuleHits, check_anchors: bool| {
            if (!check_anchors || filtered.literals.anchors_hold(text.as_bytes()))
                && filtered.rules.iter().any(|r| r.would_improve(account, hits))
                && filtered.regex.is_match(text)
            {
                add(&filtered.rules, hits);
            }
        };
        if ascii {
            let bytes = text.as_bytes();
            for anchored in self.anchored.iter().filter(|a| a.may_hold(bytes)) {
                if let Some(filtered) = self.filtered.get(anchored.index as usize) {
                    run(filtered, hits, true);
                }
            }
            // A regex whose required literals are not there cannot match ASCII text.
            if !found.is_empty() {
                found.sort_unstable();
                found.dedup();
                for &number in found.iter() {
                    let regexes = self
                        .literal_uses
                        .get(number as usize)
                        .map_or(&[][..], |uses| &uses.regexes);
                    for &index in regexes {
                        if let Some(filtered) = self.filtered.get(index as usize) {
                            run(filtered, hits, true);
                        }
                    }
                }
            }
        } else {
            for filtered in &self.filtered {
                run(filtered, hits, false);
            }
        }
        match &self.always {
            RegexRules::Empty => {}
            RegexRules::Set(set, rules, first) => {
                let could_improve = first.deny < hits.deny || first.allow < hits.allow;
                if could_improve && set.is_match(text) {
                    for index in set.matches(text).iter() {
                        if let Some(rule) = rules.get(index) {
                            add(std::slice::from_ref(rule), hits);
                        }
                    }
                }
            }
            RegexRules::Each(regexes) => {
                for (regex, rule) in regexes {
                    if rule.would_improve(account, hits) && regex.is_match(text) {
                        add(std::slice::from_ref(rule), hits);
                    }
                }
            }
        }
    }
}

/// The uses of `literal`, added empty when new.
fn literal_use<'t>(table: &'t mut Vec<(String, LiteralUse)>, literal: &str) -> &'t mut LiteralUse {
    let at = match table.iter().position(|(p, _)| p == literal) {
        Some(at) => at,
        None => {
            table.push((literal.to_owned(), LiteralUse::default()));
            table.len() - 1
        }
    };
    &mut table[at].1
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
        policy
            .narration
            .matches_any([text], account, &mut MatchScratch::new())
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
            let policy = CompiledPolicy::compile(&EligibilitySettings::default(), &set).expect("compiles");
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
        let policy =
            CompiledPolicy::compile(&EligibilitySettings::default(), &[scoped, global]).expect("compiles");
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
        let policy = CompiledPolicy::compile(&EligibilitySettings::default(), &rules).expect("compiles");
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
        let policy = CompiledPolicy::compile(&EligibilitySettings::default(), &[a, b, c]).expect("compiles");
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
            &EligibilitySettings::default(),
            &[rule("bad", RuleList::Deny, MatchKind::Regex, "(")],
        )
        .expect_err("refused");
        assert_eq!(err.field, "pattern");
        assert!(err.message.contains("bad"), "{}", err.message);
    }

    fn scoped(mut rule: Rule, account: &str) -> Rule {
        rule.account_id = Some(account.into());
        rule
    }

    /// The first matching rule of each list, naively: every rule tried on its own.
    fn naive(rules: &[Rule], account: Option<&str>, text: &str) -> (Option<String>, Option<String>) {
        let lower = |t: &str| t.chars().flat_map(char::to_lowercase).collect::<String>();
        let first = |list: RuleList| {
            rules
                .iter()
                .filter(|r| r.list == list)
                .filter(|r| r.account_id.is_none() || r.account_id.as_deref() == account)
                .filter(|r| match r.match_kind {
                    MatchKind::Contains => lower(text).contains(&lower(&r.pattern)),
                    MatchKind::Exact => lower(text).trim() == lower(r.pattern.trim()),
                    MatchKind::Regex => regex::Regex::new(&r.pattern)
                        .map(|re| re.is_match(text))
                        .unwrap_or(false),
                })
                .map(|r| r.id.clone())
                .min()
        };
        (first(RuleList::Deny), first(RuleList::Allow))
    }

    #[test]
    fn regexes_run_only_where_their_literals_are_and_agree_with_running_them_all() {
        let rules = vec![
            rule("r01", RuleList::Deny, MatchKind::Regex, r"(?i)\bbet\w*"),
            scoped(
                rule("r02", RuleList::Deny, MatchKind::Regex, r"^99\d{3}$"),
                "acc_1",
            ),
            rule("r03", RuleList::Allow, MatchKind::Regex, r"(?i)\bplc$"),
            rule(
                "r04",
                RuleList::Allow,
                MatchKind::Regex,
                r"^NIP/[A-Z]+/[A-Z ]+ LTD/",
            ),
            rule("r05", RuleList::Allow, MatchKind::Regex, r"(?i)kobo"),
            rule("r06", RuleList::Deny, MatchKind::Regex, r"\d{3}"),
            rule("r07", RuleList::Allow, MatchKind::Regex, r"(?i)gift|loan"),
            scoped(
                rule("r08", RuleList::Allow, MatchKind::Regex, r"(?i)straße"),
                "acc_2",
            ),
            rule("r09", RuleList::Allow, MatchKind::Contains, "ltd"),
            rule("r10", RuleList::Deny, MatchKind::Exact, "bet"),
        ];
        let policy = CompiledPolicy::compile(&EligibilitySettings::default(), &rules).expect("compiles");
        let texts = [
            "BETKING deposit",
            "alphabet",
            "Bet",
            "99123",
            "x99123",
            "DANGOTE CEMENT PLC",
            "plc ltd",
            "NIP/GTB/ACME LTD/INV-1",
            "nip/gtb/acme ltd/",
            "\u{212A}OBO payment",
            "KOBO",
            "ko bo",
            "gift from mum",
            "LOAN",
            "STRASSE",
            "Straße 12",
            "ÉCOLE bet",
            "",
            "   ",
        ];
        assert_agrees_with_naive(&policy, &rules, &texts);
    }

    /// The compiled matchers give the same first deny and allow hit as the rule-by-rule oracle,
    /// for every text on every account.
    fn assert_agrees_with_naive(policy: &CompiledPolicy, rules: &[Rule], texts: &[&str]) {
        for account in [None, Some("acc_1"), Some("acc_2")] {
            for text in texts {
                let hits = narration(policy, account, text);
                let id =
                    |ordinal: Option<Ordinal>| ordinal.and_then(|o| policy.rule_id(o)).map(str::to_owned);
                assert_eq!(
                    (id(hits.deny()), id(hits.allow())),
                    naive(rules, account, text),
                    "{text:?} on {account:?}"
                );
            }
        }
    }

    #[test]
    fn the_first_rule_by_id_wins_among_many_hits_of_every_kind() {
        let rules = vec![
            rule("d5", RuleList::Deny, MatchKind::Contains, "acme"),
            scoped(
                rule("d1", RuleList::Deny, MatchKind::Regex, r"(?i)acme\s+ltd"),
                "acc_1",
            ),
            rule("d3", RuleList::Deny, MatchKind::Exact, "ACME LTD"),
            rule("d4", RuleList::Deny, MatchKind::Regex, r"ACME"),
            scoped(rule("d2", RuleList::Deny, MatchKind::Contains, "ltd"), "acc_2"),
            rule("a9", RuleList::Allow, MatchKind::Contains, "me l"),
            rule("a2", RuleList::Allow, MatchKind::Regex, r"^acme"),
            scoped(rule("a1", RuleList::Allow, MatchKind::Exact, "acme ltd"), "acc_2"),
            rule("a3", RuleList::Allow, MatchKind::Regex, r"."),
        ];
        let policy = CompiledPolicy::compile(&EligibilitySettings::default(), &rules).expect("compiles");
        let on = |account, text| {
            let hits = narration(&policy, account, text);
            let id = |ordinal: Option<Ordinal>| ordinal.and_then(|o| policy.rule_id(o));
            (id(hits.deny()), id(hits.allow()))
        };
        assert_eq!(on(Some("acc_1"), "ACME LTD"), (Some("d1"), Some("a3")));
        assert_eq!(on(Some("acc_2"), "ACME LTD"), (Some("d2"), Some("a1")));
        assert_eq!(on(None, "ACME LTD"), (Some("d3"), Some("a3")));
        assert_eq!(on(None, "acme ltd"), (Some("d3"), Some("a2")));
        assert_eq!(on(None, "x acme"), (Some("d5"), Some("a3")));
        assert_eq!(on(Some("acc_2"), "ltd"), (Some("d2"), Some("a3")));
        assert_eq!(on(None, ""), (None, None));
        assert_agrees_with_naive(
            &policy,
            &rules,
            &[
                "ACME LTD",
                "acme ltd",
                " Acme  Ltd ",
                "x acme",
                "ltd",
                "ÀCME LTD",
                "",
            ],
        );
    }

    #[test]
    fn contains_falls_back_to_unicode_lowercase_for_non_ascii_text() {
        let rules = vec![
            rule("k", RuleList::Deny, MatchKind::Contains, "\u{212A}obo"),
            rule("i", RuleList::Deny, MatchKind::Contains, "i\u{307}stan"),
            rule("e", RuleList::Allow, MatchKind::Contains, "école"),
            rule("x", RuleList::Allow, MatchKind::Contains, "é"),
            rule("y", RuleList::Allow, MatchKind::Contains, "p"),
        ];
        let policy = CompiledPolicy::compile(&EligibilitySettings::default(), &rules).expect("compiles");
        for text in [
            "KOBO",
            "\u{212A}OBO",
            "İSTANBUL",
            "istanbul",
            "ÉCOLE",
            "frais d'École",
            "ECOLE",
            "Pé",
            "P",
            "",
        ] {
            let hits = narration(&policy, None, text);
            let id = |ordinal: Option<Ordinal>| ordinal.and_then(|o| policy.rule_id(o)).map(str::to_owned);
            assert_eq!(
                (id(hits.deny()), id(hits.allow())),
                naive(&rules, None, text),
                "{text:?}"
            );
        }
    }
}

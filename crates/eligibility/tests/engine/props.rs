//! Properties of the decision table that must hold for every transaction and rule set, and
//! differential checks of keyword and `contains` matching against naive implementations
//! written straight from the spec's wording.

use proptest::prelude::*;

use eligibility::{
    decide, validate_pattern, validate_rule, CompiledPolicy, Counterparty, Detail, DraftKind,
    EligibilitySettings, MatchKind, Outcome, OwnedDecision, Reason, Rule, RuleField, RuleList, Transaction,
    TxType, DEFAULT_REFUND_KEYWORDS,
};

const WORDS: &[&str] = &[
    "ACME",
    "LTD",
    "payment",
    "Payments",
    "invoice",
    "gift",
    "mum",
    "school",
    "fees",
    "pocket",
    "money",
    "refund",
    "REVERSAL",
    "chargeback",
    "POS",
    "SHOPRITE",
    "IKEJA",
    "TRF",
    "FROM",
    "NIP",
    "FCMB",
    "INV-1042",
    "INV-7",
    "Olú",
    "ÉCOLE",
    "École",
    "transfer",
    "loan",
    "prepayment",
    "subscription",
    "BETKING",
    "1042",
    "x",
    "USSD",
    "ПЛАТЁЖ",
    "straße",
    "STRASSE",
    "İSTANBUL",
];
const SEPARATORS: &[&str] = &[" ", " ", "/", "-", ", ", "  ", "|", "\t"];
const REGEXES: &[&str] = &[r"(?i)acme", r"^INV-\d+$", r"\d{3}", r"(?i)gift|loan", r".", r"^$"];

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(WORDS).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9]{1,8}",
        1 => "\\PC{1,6}",
    ]
}

fn text(max_words: usize) -> impl Strategy<Value = String> {
    proptest::collection::vec((word(), proptest::sample::select(SEPARATORS)), 0..max_words).prop_map(
        |parts| {
            parts
                .into_iter()
                .map(|(word, sep)| format!("{word}{sep}"))
                .collect()
        },
    )
}

fn transaction() -> impl Strategy<Value = Transaction> {
    let counterparty = proptest::option::of(
        (proptest::option::of(text(3)), proptest::option::of("[0-9]{0,10}")).prop_map(
            |(name, account_number)| Counterparty {
                name,
                account_number,
                bank: None,
            },
        ),
    );
    (
        (
            prop_oneof![Just(TxType::Credit), Just(TxType::Debit)],
            0i64..10_000_000,
            proptest::sample::select(&["NGN", "ngn", "NGN", "USD", "GHC"][..]),
            proptest::option::of(prop_oneof![Just(None), Just(Some("acc_1")), Just(Some("acc_2"))]),
        ),
        (
            text(8),
            proptest::option::of(text(4)),
            proptest::collection::vec(word(), 0..3),
            proptest::option::of(prop_oneof![Just("INV-7".to_owned()), Just(String::new()), word()]),
            counterparty,
        ),
    )
        .prop_map(
            |((kind, amount, currency, account), (narration, description, tags, reference, counterparty))| {
                Transaction {
                    id: "tx_prop".into(),
                    account_id: account.flatten().map(str::to_owned),
                    kind,
                    amount,
                    currency: currency.to_owned(),
                    narration,
                    description,
                    tags,
                    reference,
                    category: None,
                    counterparty,
                    date: Some("2025-05-30T16:03:00.000Z".into()),
                }
            },
        )
}

fn rule_with(list: impl Strategy<Value = RuleList>) -> impl Strategy<Value = Rule> {
    (
        0u8..10,
        list,
        prop_oneof![Just(None), Just(Some("acc_1")), Just(Some("acc_2"))],
        prop_oneof![
            2 => Just(RuleField::Narration),
            1 => Just(RuleField::Counterparty),
            1 => Just(RuleField::Reference),
        ],
        prop_oneof![
            (Just(MatchKind::Contains), word()),
            (Just(MatchKind::Exact), word()),
            (
                Just(MatchKind::Regex),
                proptest::sample::select(REGEXES).prop_map(str::to_owned)
            ),
        ],
    )
        .prop_map(|(id, list, account, field, (match_kind, pattern))| Rule {
            id: format!("r{id}"),
            list,
            account_id: account.map(str::to_owned),
            field,
            match_kind,
            pattern,
        })
        .prop_filter("valid pattern", |rule| validate_rule(rule).is_ok())
}

fn any_rule() -> impl Strategy<Value = Rule> {
    rule_with(prop_oneof![Just(RuleList::Allow), Just(RuleList::Deny)])
}

fn rules() -> impl Strategy<Value = Vec<Rule>> {
    proptest::collection::vec(any_rule(), 0..12)
}

fn settings() -> impl Strategy<Value = EligibilitySettings> {
    proptest::option::of(proptest::sample::select(
        &[r"^INV-\d+$", r"(?i)^acme$", r"\d"][..],
    ))
    .prop_map(|regex| EligibilitySettings {
        reference_regex: regex.map(str::to_owned),
        ..EligibilitySettings::default()
    })
}

fn run(settings: &EligibilitySettings, rules: &[Rule], tx: &Transaction) -> OwnedDecision {
    let policy = CompiledPolicy::compile(settings, rules).expect("generated policies are valid");
    decide(tx, &policy).into_owned()
}

fn is_refund_debit(tx: &Transaction) -> bool {
    tx.kind == TxType::Debit
        && words_of(tx)
            .iter()
            .any(|w| DEFAULT_REFUND_KEYWORDS.iter().any(|k| w.starts_with(k)))
}

/// Words of narration, description and tags, lowercased: the spec's definition, naively.
fn words_of(tx: &Transaction) -> Vec<String> {
    let joined = [Some(tx.narration.clone()), tx.description.clone()]
        .into_iter()
        .flatten()
        .chain(tx.tags.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    naive_words(&joined)
}

fn naive_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(lower)
        .collect()
}

/// The engine's case folding: `char::to_lowercase` char by char (no final-sigma rule).
fn lower(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

/// The spec's keyword rule, naively: the keyword's words in a row, the last by prefix.
fn naive_keyword_match(text_words: &[String], keyword: &str) -> bool {
    let key = naive_words(keyword);
    let Some((last, init)) = key.split_last() else {
        return false;
    };
    text_words
        .windows(key.len())
        .any(|window| window[..init.len()] == *init && window[init.len()].starts_with(last.as_str()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn denylist_beats_allowlist(
        tx in transaction(),
        others in rules(),
        settings in settings(),
        pick in any::<proptest::sample::Index>(),
    ) {
        let words = naive_words(&tx.narration);
        prop_assume!(!words.is_empty());
        let pattern = words[pick.index(words.len())].clone();
        let mut rules = others;
        for (id, list) in [("zz-allow", RuleList::Allow), ("zz-deny", RuleList::Deny)] {
            rules.push(Rule {
                id: id.into(),
                list,
                account_id: None,
                field: RuleField::Narration,
                match_kind: MatchKind::Contains,
                pattern: pattern.clone(),
            });
        }
        let decision = run(&settings, &rules, &tx);
        if tx.kind == TxType::Credit || is_refund_debit(&tx) {
            prop_assert_eq!(decision.reason, Reason::Denylisted);
            prop_assert_eq!(decision.outcome, Outcome::Dlq);
            prop_assert!(decision.rule_id.is_some());
        } else {
            prop_assert_eq!(decision.reason, Reason::NotIncome);
        }
    }

    #[test]
    fn a_deny_twin_of_the_deciding_allow_rule_denies(
        tx in transaction(),
        rules in rules(),
        settings in settings(),
    ) {
        let decision = run(&settings, &rules, &tx);
        if decision.reason == Reason::Allowlisted {
            let id = decision.rule_id.clone().unwrap_or_default();
            let mut with_twins = rules.clone();
            with_twins.extend(rules.iter().filter(|r| r.id == id).map(|r| Rule {
                list: RuleList::Deny,
                ..r.clone()
            }));
            prop_assert_eq!(run(&settings, &with_twins, &tx).reason, Reason::Denylisted);
        }
    }

    #[test]
    fn no_allowlist_lifts_a_currency_mismatch(
        mut tx in transaction(),
        rules in rules(),
        currency in proptest::sample::select(&["USD", "EUR", "gbp", "GHS", ""][..]),
    ) {
        tx.currency = currency.to_owned();
        let mut rules = rules;
        rules.push(Rule {
            id: "allow-all".into(),
            list: RuleList::Allow,
            account_id: None,
            field: RuleField::Narration,
            match_kind: MatchKind::Regex,
            pattern: "(?s).*".into(),
        });
        let decision = run(&EligibilitySettings::default(), &rules, &tx);
        prop_assert_ne!(decision.outcome, Outcome::Draft);
        prop_assert!(matches!(
            decision.reason,
            Reason::CurrencyMismatch | Reason::Denylisted | Reason::NotIncome
        ), "{:?}", decision);
    }

    #[test]
    fn no_allowlist_lifts_a_reference_mismatch(
        mut tx in transaction(),
        rules in rules(),
    ) {
        tx.currency = "NGN".into();
        let settings = EligibilitySettings {
            reference_regex: Some(r"^NO-SUCH-REF-\d+$".into()),
            ..EligibilitySettings::default()
        };
        let mut rules = rules;
        rules.push(Rule {
            id: "allow-all".into(),
            list: RuleList::Allow,
            account_id: None,
            field: RuleField::Narration,
            match_kind: MatchKind::Regex,
            pattern: "(?s).*".into(),
        });
        let decision = run(&settings, &rules, &tx);
        prop_assert_ne!(decision.outcome, Outcome::Draft);
        prop_assert!(matches!(
            decision.reason,
            Reason::ReferenceMismatch | Reason::Denylisted | Reason::NotIncome
        ), "{:?}", decision);
    }

    #[test]
    fn a_debit_without_a_refund_keyword_is_skipped(
        mut tx in transaction(),
        rules in rules(),
        settings in settings(),
    ) {
        tx.kind = TxType::Debit;
        prop_assume!(!is_refund_debit(&tx));
        let decision = run(&settings, &rules, &tx);
        prop_assert_eq!(decision.outcome, Outcome::Skipped);
        prop_assert_eq!(decision.reason, Reason::NotIncome);
        prop_assert_eq!(decision.kind, None);
    }

    #[test]
    fn decisions_are_deterministic_and_ignore_rule_order(
        (rules, shuffled) in rules().prop_flat_map(|rules| (Just(rules.clone()), Just(rules).prop_shuffle())),
        tx in transaction(),
        settings in settings(),
    ) {
        let first = run(&settings, &rules, &tx);
        prop_assert_eq!(&first, &run(&settings, &rules, &tx));
        prop_assert_eq!(&first, &run(&settings, &shuffled, &tx));
        // Lists stored apart (deny first, then allow) decide the same too.
        let (deny, allow): (Vec<Rule>, Vec<Rule>) =
            rules.iter().cloned().partition(|r| r.list == RuleList::Deny);
        let regrouped: Vec<Rule> = deny.into_iter().chain(allow).collect();
        prop_assert_eq!(&first, &run(&settings, &regrouped, &tx));
        // One compiled policy reused across transactions gives the same answer.
        let policy = CompiledPolicy::compile(&settings, &rules).expect("valid");
        let other = Transaction { narration: "NIP/GTB/JOHN/gift".into(), ..tx.clone() };
        let _ = decide(&other, &policy);
        prop_assert_eq!(&first, &decide(&tx, &policy));
    }

    #[test]
    fn adding_an_allow_rule_never_turns_a_draft_into_dlq(
        tx in transaction(),
        rules in rules(),
        extra in rule_with(Just(RuleList::Allow)),
        settings in settings(),
    ) {
        let before = run(&settings, &rules, &tx);
        let mut more = rules;
        more.push(extra);
        let after = run(&settings, &more, &tx);
        if before.outcome == Outcome::Draft {
            prop_assert_eq!(after.outcome, Outcome::Draft);
        }
        if before.outcome == Outcome::Skipped {
            prop_assert_eq!(after.outcome, Outcome::Skipped);
        }
    }

    #[test]
    fn decisions_are_internally_consistent(
        tx in transaction(),
        rules in rules(),
        settings in settings(),
    ) {
        let decision = run(&settings, &rules, &tx);
        prop_assert_eq!(decision.kind.is_some(), decision.outcome == Outcome::Draft);
        prop_assert_eq!(
            decision.detail.is_some(),
            decision.reason == Reason::PersonalOrLowConfidence
        );
        prop_assert_eq!(
            decision.rule_id.is_some(),
            matches!(decision.reason, Reason::Allowlisted | Reason::Denylisted)
        );
        if let Some(id) = &decision.rule_id {
            prop_assert!(rules.iter().any(|r| &r.id == id));
        }
    }

    #[test]
    fn keyword_matching_agrees_with_the_spec_wording(
        tx in transaction(),
        keyword in prop_oneof![
            word(),
            (word(), word()).prop_map(|(a, b)| format!("{a} {b}")),
            proptest::sample::select(&["pocket money", "school fees", "pay", "école", "i"][..])
                .prop_map(str::to_owned),
        ],
    ) {
        prop_assume!(!naive_words(&keyword).is_empty());
        let settings = EligibilitySettings {
            business_keywords: vec![keyword.trim().to_owned()],
            personal_keywords: Vec::new(),
            refund_keywords: Vec::new(),
            ..EligibilitySettings::default()
        };
        let decision = run(&settings, &[], &tx);
        let expected = naive_keyword_match(&words_of(&tx), &keyword);
        prop_assert_eq!(!decision.keywords.is_empty(), expected, "{:?}", decision);
    }

    #[test]
    fn contains_rules_agree_with_lowercased_substring(
        mut tx in transaction(),
        pattern in prop_oneof![word(), "\\PC{1,3}"],
    ) {
        prop_assume!(validate_pattern(MatchKind::Contains, &pattern).is_ok());
        tx.kind = TxType::Credit;
        tx.currency = "NGN".into();
        let rule = Rule {
            id: "c".into(),
            list: RuleList::Allow,
            account_id: None,
            field: RuleField::Narration,
            match_kind: MatchKind::Contains,
            pattern: pattern.clone(),
        };
        let joined = [Some(tx.narration.clone()), tx.description.clone()]
            .into_iter()
            .flatten()
            .chain(tx.tags.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ");
        let expected = lower(&joined).contains(&lower(&pattern));
        let decision = run(&EligibilitySettings::default(), &[rule], &tx);
        prop_assert_eq!(decision.reason == Reason::Allowlisted, expected);
    }
}

/// Regexes of every shape the engine treats apart: with a required literal, anchored at
/// the start or the end, without any literal, beyond the subset it reads, case-folding.
const RULE_REGEXES: &[&str] = &[
    r"(?i)acme",
    r"^INV-\d+$",
    r"(?i)^nip/",
    r"(?i)ltd$",
    r"(?i)\bpay\w*",
    r"INV-\d",
    r"(?i)school\s+fees",
    r"(?i)straße",
    r"(?i)\bécole",
    r"(?i)ÉCOLE",
    r"^\d{2,}$",
    r"[a-z]+ment\b",
    r"(?i)p(ay)ment",
    r"\d{3}",
    r"(?i)gift|loan",
    r".",
    r"^$",
    r"(?i)x",
    r"10",
];

/// Substrings of the generator's words, so that `contains` rules hit often.
fn fragment() -> impl Strategy<Value = String> {
    (proptest::sample::select(WORDS), 0usize..6, 1usize..5).prop_map(|(word, from, len)| {
        let chars: Vec<char> = word.chars().collect();
        let from = from.min(chars.len().saturating_sub(1));
        chars[from..(from + len).min(chars.len())].iter().collect()
    })
}

fn rich_rule() -> impl Strategy<Value = Rule> {
    (
        0u8..20,
        prop_oneof![Just(RuleList::Allow), Just(RuleList::Deny)],
        prop_oneof![Just(None), Just(Some("acc_1")), Just(Some("acc_2"))],
        prop_oneof![
            2 => Just(RuleField::Narration),
            1 => Just(RuleField::Counterparty),
            1 => Just(RuleField::Reference),
        ],
        prop_oneof![
            2 => (Just(MatchKind::Contains), prop_oneof![fragment(), word()]),
            1 => (Just(MatchKind::Exact), prop_oneof![word(), text(2)]),
            2 => (
                Just(MatchKind::Regex),
                proptest::sample::select(RULE_REGEXES).prop_map(str::to_owned)
            ),
        ],
    )
        .prop_map(|(id, list, account, field, (match_kind, pattern))| Rule {
            id: format!("r{id:02}"),
            list,
            account_id: account.map(str::to_owned),
            field,
            match_kind,
            pattern,
        })
        .prop_filter("valid pattern", |rule| validate_rule(rule).is_ok())
}

/// Whether `rule` matches one of `texts`, from the spec's wording.
fn naive_rule_match(rule: &Rule, texts: &[String]) -> bool {
    texts.iter().any(|text| match rule.match_kind {
        MatchKind::Contains => lower(text).contains(&lower(&rule.pattern)),
        MatchKind::Exact => lower(text).trim() == lower(rule.pattern.trim()),
        MatchKind::Regex => regex::Regex::new(&rule.pattern)
            .map(|re| re.is_match(text))
            .unwrap_or(false),
    })
}

/// The id of the first rule of `list` (by id) that applies to the transaction's account
/// and matches its field, naively.
fn naive_first_rule(
    rules: &[Rule],
    list: RuleList,
    tx: &Transaction,
    decision: &OwnedDecision,
    settings: &EligibilitySettings,
) -> Option<String> {
    let joined = [Some(tx.narration.clone()), tx.description.clone()]
        .into_iter()
        .flatten()
        .chain(tx.tags.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let counterparty: Vec<String> = decision
        .counterparty
        .iter()
        .cloned()
        .chain(
            tx.counterparty
                .as_ref()
                .and_then(|c| c.account_number.as_deref())
                .map(|n| n.trim().to_owned())
                .filter(|n| !n.is_empty()),
        )
        .collect();
    let own_reference = tx
        .reference
        .as_deref()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let extracted = decision
        .reference
        .clone()
        .filter(|_| settings.reference_regex.is_some())
        .filter(|r| Some(r) != own_reference.as_ref());
    let references: Vec<String> = own_reference.into_iter().chain(extracted).collect();
    rules
        .iter()
        .filter(|r| r.list == list)
        .filter(|r| r.account_id.is_none() || r.account_id == tx.account_id)
        .filter(|r| {
            let texts = match r.field {
                RuleField::Narration => std::slice::from_ref(&joined),
                RuleField::Counterparty => &counterparty[..],
                RuleField::Reference => &references[..],
            };
            naive_rule_match(r, texts)
        })
        .map(|r| r.id.clone())
        .min()
}

fn keyword() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => word(),
        2 => "(pa|PA|Pa)[a-zé]{0,3}",
        1 => "[a-cé]",
        1 => (word(), word()).prop_map(|(a, b)| format!("{a} {b}")),
        1 => proptest::sample::select(
            &["school fees", "subscriptions", "settlementsettlement", "pocket  money", "ПЛАТЁЖ"][..]
        )
        .prop_map(str::to_owned),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rule_decisions_agree_with_rules_tried_one_by_one(
        mut tx in transaction(),
        rules in proptest::collection::vec(rich_rule(), 0..30),
        settings in settings(),
    ) {
        // Rules come into play from step 2: debits without a refund keyword stop before.
        tx.kind = TxType::Credit;
        let decision = run(&settings, &rules, &tx);
        let deny = naive_first_rule(&rules, RuleList::Deny, &tx, &decision, &settings);
        let allow = naive_first_rule(&rules, RuleList::Allow, &tx, &decision, &settings);
        match decision.reason {
            Reason::Denylisted => prop_assert_eq!(&decision.rule_id, &deny, "{:?}", decision),
            _ => prop_assert_eq!(deny, None, "{:?}", decision),
        }
        match decision.reason {
            Reason::Denylisted | Reason::CurrencyMismatch | Reason::ReferenceMismatch => {}
            Reason::Allowlisted => prop_assert_eq!(&decision.rule_id, &allow, "{:?}", decision),
            _ => prop_assert_eq!(allow, None, "{:?}", decision),
        }
    }

    #[test]
    fn keyword_lists_agree_with_the_spec_wording(
        tx in transaction(),
        keywords in proptest::collection::vec(keyword(), 1..24),
    ) {
        let keywords: Vec<String> = keywords
            .into_iter()
            .map(|k| k.trim().to_owned())
            .filter(|k| !naive_words(k).is_empty())
            .collect();
        prop_assume!(!keywords.is_empty());
        let settings = EligibilitySettings {
            business_keywords: keywords.clone(),
            personal_keywords: Vec::new(),
            refund_keywords: Vec::new(),
            ..EligibilitySettings::default()
        };
        let words = words_of(&tx);
        // The first spelling of each normal form reports it, in configured order.
        let mut seen = Vec::new();
        let mut expected: Vec<String> = Vec::new();
        for keyword in &keywords {
            let form = naive_words(keyword).join(" ");
            if seen.contains(&form) {
                continue;
            }
            seen.push(form);
            if naive_keyword_match(&words, keyword) && !expected.contains(keyword) {
                expected.push(keyword.clone());
            }
        }
        let decision = run(&settings, &[], &tx);
        prop_assert_eq!(decision.keywords, expected);
    }
}

// The whole decision, against an oracle: the decision table of `spec/ELIGIBILITY.md` written
// out plainly (every keyword, rule and candidate tried one by one, no index, no automaton),
// so that every shortcut the compiled engine takes is checked to decide exactly the same,
// evidence included.

/// `char::is_whitespace`, or one of the spec's reference separators.
fn separates_references(c: char) -> bool {
    c.is_whitespace() || matches!(c, '/' | ',' | ';' | '|')
}

/// The sender a narration names (spec "Text matching"), naively: every word start tried in
/// turn with every form.
fn naive_sender(narration: &str) -> Option<String> {
    let chars: Vec<(usize, char)> = narration.char_indices().collect();
    for (i, &(at, _)) in chars.iter().enumerate() {
        if i > 0 && chars[i - 1].1.is_alphanumeric() {
            continue;
        }
        let rest = &narration[at..];
        let lower_rest = rest.to_ascii_lowercase();
        // NIP/<bank>/<name>[/...]
        if lower_rest.starts_with("nip/") {
            let parts: Vec<&str> = rest[4..].splitn(3, '/').collect();
            if parts.len() >= 2 && !parts[0].trim().is_empty() && !parts[1].trim().is_empty() {
                return Some(parts[1].trim().to_owned());
            }
            continue;
        }
        // <marker> <whitespace> ... then the free-form name.
        let after_word = |text: &str, word: &str| -> Option<usize> {
            let head = text.get(..word.len())?;
            if !head.eq_ignore_ascii_case(word) {
                return None;
            }
            let tail = &text[word.len()..];
            let skipped = tail.len() - tail.trim_start().len();
            (skipped > 0).then_some(word.len() + skipped)
        };
        let name_at = after_word(rest, "frm").or_else(|| {
            let first = after_word(rest, "trf").or_else(|| after_word(rest, "transfer"))?;
            Some(first + after_word(&rest[first..], "from")?)
        });
        let Some(name_at) = name_at else {
            continue;
        };
        let name = &rest[name_at..];
        let name = &name[..name.find(['/', ',', ';', '|']).unwrap_or(name.len())];
        // Cut before a standalone `TO` that is not the first word.
        let words: Vec<(usize, &str)> = name
            .split_whitespace()
            .map(|w| (w.as_ptr() as usize - name.as_ptr() as usize, w))
            .collect();
        let end = words
            .iter()
            .skip(1)
            .find(|(_, w)| w.eq_ignore_ascii_case("to"))
            .map_or(name.len(), |(at, _)| *at);
        let name = name[..end].trim();
        if !name.is_empty() {
            return Some(name.to_owned());
        }
    }
    None
}

fn naive_currency(code: &str) -> String {
    match code.trim().to_uppercase().as_str() {
        "GHC" => "GHS".to_owned(),
        "KSH" => "KES".to_owned(),
        other => other.to_owned(),
    }
}

/// The decision of `spec/ELIGIBILITY.md`, step by step, with nothing compiled.
fn oracle(settings: &EligibilitySettings, rules: &[Rule], tx: &Transaction) -> OwnedDecision {
    let words = words_of(tx);
    // Keywords: business, personal, refund, each in configured order; a spelling once, and
    // a keyword repeated in one list (the same words) once, in its first spelling.
    let mut keywords: Vec<String> = Vec::new();
    let mut fired = [false; 3];
    let lists = [
        &settings.business_keywords,
        &settings.personal_keywords,
        &settings.refund_keywords,
    ];
    for (list, configured) in lists.into_iter().enumerate() {
        let mut forms: Vec<Vec<String>> = Vec::new();
        for keyword in configured {
            let spelling = keyword.trim();
            let form = naive_words(spelling);
            if form.is_empty() || forms.contains(&form) {
                continue;
            }
            forms.push(form);
            if naive_keyword_match(&words, spelling) {
                fired[list] = true;
                if !keywords.iter().any(|k| k == spelling) {
                    keywords.push(spelling.to_owned());
                }
            }
        }
    }
    let [business, personal, refund] = fired;
    let mut decision = OwnedDecision {
        outcome: Outcome::Skipped,
        reason: Reason::NotIncome,
        detail: None,
        reference: None,
        kind: None,
        rule_id: None,
        keywords,
        counterparty: None,
    };
    // Step 1.
    if tx.kind == TxType::Debit && !refund {
        return decision;
    }

    let own_reference = tx
        .reference
        .as_deref()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty());
    let regex = settings
        .reference_regex
        .as_deref()
        .map(|pattern| regex::Regex::new(pattern).expect("generated regexes are valid"));
    let matched_reference = regex.as_ref().and_then(|regex| {
        let tokens = |text: &str| {
            text.split(separates_references)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        own_reference
            .iter()
            .cloned()
            .chain(tokens(&tx.narration))
            .chain(tx.description.as_deref().map(tokens).unwrap_or_default())
            .find(|candidate| regex.is_match(candidate))
    });
    decision.reference = if regex.is_some() {
        matched_reference.clone()
    } else {
        own_reference
    };
    let named = tx
        .counterparty
        .as_ref()
        .and_then(|c| c.name.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    decision.counterparty = named.or_else(|| naive_sender(&tx.narration));
    let account_number = tx
        .counterparty
        .as_ref()
        .and_then(|c| c.account_number.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty());

    let deny = naive_first_rule(rules, RuleList::Deny, tx, &decision, settings);
    let allow = naive_first_rule(rules, RuleList::Allow, tx, &decision, settings);
    let low = |detail| (Outcome::Dlq, Reason::PersonalOrLowConfidence, Some(detail), None);
    let (outcome, reason, detail, rule_id) = if deny.is_some() {
        (Outcome::Dlq, Reason::Denylisted, None, deny)
    } else if naive_currency(&tx.currency) != naive_currency(&settings.invoice_currency) {
        (Outcome::Dlq, Reason::CurrencyMismatch, None, None)
    } else if regex.is_some() && matched_reference.is_none() {
        (Outcome::Dlq, Reason::ReferenceMismatch, None, None)
    } else if allow.is_some() {
        (Outcome::Draft, Reason::Allowlisted, None, allow)
    } else if personal {
        low(Detail::PersonalKeyword)
    } else if !business && matched_reference.is_none() {
        low(Detail::NoBusinessSignal)
    } else if tx.amount >= settings.floor_minor || decision.counterparty.is_some() || account_number.is_some()
    {
        // Step 8, or step 9: below the floor with counterparty info.
        (Outcome::Draft, Reason::BusinessSignal, None, None)
    } else {
        low(Detail::BelowFloorNoCounterparty)
    };
    decision.outcome = outcome;
    decision.reason = reason;
    decision.detail = detail;
    decision.rule_id = rule_id;
    decision.kind = (outcome == Outcome::Draft).then_some(match tx.kind {
        TxType::Credit => DraftKind::Invoice,
        TxType::Debit => DraftKind::CreditNote,
    });
    decision
}

/// Narrations in the sender forms and bank shapes, beside free text.
fn bank_narration() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => text(8),
        1 => (word(), text(3), text(3)).prop_map(|(bank, name, rest)| format!("NIP/{bank}/{name}/{rest}")),
        1 => (proptest::sample::select(&["TRF FROM ", "transfer  from ", "Frm ", "TRF FROM\t"][..]), text(4))
            .prop_map(|(marker, rest)| format!("{marker}{rest}")),
        1 => (text(2), text(2), text(2)).prop_map(|(a, b, c)| format!("{a}TRF FROM {b} TO {c}")),
        1 => (text(3), proptest::sample::select(&["INV-42", "inv-7", "PO-1234", "INV-", "xINV-9"][..]), text(2))
            .prop_map(|(a, reference, b)| format!("{a}{reference}/{b}")),
    ]
}

fn oracle_settings() -> impl Strategy<Value = EligibilitySettings> {
    (
        proptest::option::of(proptest::sample::select(
            &[
                r"^INV-\d+$",
                r"(?i)^inv-\d+",
                r"(?i)^acme$",
                r"\d",
                r"PO-\d{4}",
                r"(?i)ltd/",
            ][..],
        )),
        proptest::option::of(proptest::collection::vec(keyword(), 0..6)),
        0i64..200_000,
    )
        .prop_map(|(regex, business, floor_minor)| {
            let mut settings = EligibilitySettings {
                reference_regex: regex.map(str::to_owned),
                floor_minor,
                ..EligibilitySettings::default()
            };
            if let Some(business) = business {
                settings.business_keywords = business
                    .into_iter()
                    .filter(|k| !naive_words(k).is_empty())
                    .collect();
            }
            settings
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn the_engine_decides_exactly_as_the_oracle(
        mut tx in transaction(),
        narration in bank_narration(),
        rules in proptest::collection::vec(rich_rule(), 0..40),
        settings in oracle_settings(),
    ) {
        tx.narration = narration;
        prop_assume!(settings.validate().is_ok());
        let policy = CompiledPolicy::compile(&settings, &rules).expect("generated policies are valid");
        prop_assert_eq!(decide(&tx, &policy), oracle(&settings, &rules, &tx));
    }
}

/// Whether `part` lies inside `whole`'s bytes (not merely equal to some of them).
fn borrowed_from(part: &str, whole: &str) -> bool {
    let (start, end) = (whole.as_ptr() as usize, whole.as_ptr() as usize + whole.len());
    let at = part.as_ptr() as usize;
    at >= start && at + part.len() <= end
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The borrowed evidence is the owned evidence, field by field and byte for byte in the
    /// contract's JSON; the counterparty and the reference are slices of the transaction's
    /// own strings and the rule id is the deciding rule's.
    #[test]
    fn borrowed_evidence_is_the_owned_evidence(
        mut tx in transaction(),
        narration in bank_narration(),
        rules in proptest::collection::vec(rich_rule(), 0..40),
        settings in oracle_settings(),
    ) {
        tx.narration = narration;
        prop_assume!(settings.validate().is_ok());
        let policy = CompiledPolicy::compile(&settings, &rules).expect("generated policies are valid");
        let decision = decide(&tx, &policy);
        let owned = decision.clone().into_owned();
        prop_assert_eq!(&decision, &owned);
        prop_assert_eq!(&owned, &oracle(&settings, &rules, &tx));
        let json = serde_json::to_string(&decision).expect("serialisable");
        prop_assert_eq!(&json, &serde_json::to_string(&owned).expect("serialisable"));
        let read: OwnedDecision = serde_json::from_str(&json).expect("the contract shape reads back");
        prop_assert_eq!(&read, &owned);

        prop_assert_eq!(decision.keywords.len(), owned.keywords.len());
        prop_assert_eq!(decision.keywords.is_empty(), owned.keywords.is_empty());
        prop_assert_eq!(decision.keywords.iter().collect::<Vec<_>>(), owned.keywords.iter().map(String::as_str).collect::<Vec<_>>());
        prop_assert_eq!(decision.keywords.iter().rev().collect::<Vec<_>>(), owned.keywords.iter().rev().map(String::as_str).collect::<Vec<_>>());
        for (n, keyword) in owned.keywords.iter().enumerate() {
            prop_assert_eq!(decision.keywords.get(n), Some(keyword.as_str()));
        }
        prop_assert_eq!(decision.keywords.get(owned.keywords.len()), None);

        if let Some(counterparty) = decision.counterparty {
            let named = tx.counterparty.as_ref().and_then(|c| c.name.as_deref()).unwrap_or_default();
            prop_assert!(borrowed_from(counterparty, named) || borrowed_from(counterparty, &tx.narration));
        }
        if let Some(reference) = decision.reference {
            let within = [tx.reference.as_deref(), Some(tx.narration.as_str()), tx.description.as_deref()];
            prop_assert!(within.into_iter().flatten().any(|field| borrowed_from(reference, field)));
        }
        if let Some(id) = decision.rule_id {
            prop_assert!(rules.iter().any(|rule| rule.id == id));
        }
    }
}

/// Counterparty rules whose literals are all long enough for the narration's search to
/// find them too (`contains` patterns of four bytes or more, regexes whose literal is
/// long or anchored), so a sender the narration names is matched from that search.
fn long_literal_counterparty_rule() -> impl Strategy<Value = Rule> {
    (
        0u8..20,
        prop_oneof![Just(RuleList::Allow), Just(RuleList::Deny)],
        prop_oneof![Just(None), Just(Some("acc_1")), Just(Some("acc_2"))],
        prop_oneof![
            3 => (Just(MatchKind::Contains), prop_oneof![word(), text(2), fragment()]),
            1 => (Just(MatchKind::Exact), prop_oneof![word(), text(2)]),
            1 => (
                Just(MatchKind::Regex),
                proptest::sample::select(&[r"(?i)acme", r"(?i)ltd$", r"^\d{2,}$", r"(?i)^ada", r"[a-z]+ment\b"][..])
                    .prop_map(str::to_owned)
            ),
        ],
    )
        .prop_map(|(id, list, account, (match_kind, pattern))| Rule {
            id: format!("c{id:02}"),
            list,
            account_id: account.map(str::to_owned),
            field: RuleField::Counterparty,
            match_kind,
            pattern,
        })
        .prop_filter("valid pattern", |rule| validate_rule(rule).is_ok())
        .prop_filter("long literal", |rule| {
            rule.match_kind != MatchKind::Contains || rule.pattern.len() >= 4
        })
}

/// Narrations that name a sender, with words the counterparty rules look for.
fn sender_narration() -> impl Strategy<Value = String> {
    let name = proptest::collection::vec(
        proptest::sample::select(
            &[
                "ACME", "Ltd", "ADA", "OBI", "payment", "Payments", "x", "1042", "École", "acmeltd",
            ][..],
        ),
        1..4,
    )
    .prop_map(|words| words.join(" "));
    (
        proptest::sample::select(&["NIP/GTB/", "TRF FROM ", "transfer from ", "FRM ", "pay NIP/FCMB/"][..]),
        name,
        proptest::sample::select(&["", "/invoice 7", " TO ACME LTD", ", ref", " school fees"][..]),
    )
        .prop_map(|(marker, name, rest)| format!("{marker}{name}{rest}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Senders the narration names, matched by counterparty rules from the narration's
    /// search, decide exactly as the oracle does.
    #[test]
    fn senders_named_by_the_narration_match_counterparty_rules_as_the_oracle(
        mut tx in transaction(),
        narration in sender_narration(),
        counterparty_rules in proptest::collection::vec(long_literal_counterparty_rule(), 1..8),
        other_rules in proptest::collection::vec(rich_rule(), 0..10),
        settings in oracle_settings(),
        name_field in any::<bool>(),
    ) {
        tx.narration = narration;
        tx.kind = TxType::Credit;
        if !name_field {
            if let Some(counterparty) = tx.counterparty.as_mut() {
                counterparty.name = None;
            }
        }
        prop_assume!(settings.validate().is_ok());
        let rules: Vec<Rule> = counterparty_rules
            .into_iter()
            .chain(other_rules.into_iter().filter(|r| r.field != RuleField::Counterparty))
            .collect();
        let policy = CompiledPolicy::compile(&settings, &rules).expect("generated policies are valid");
        prop_assert_eq!(decide(&tx, &policy), oracle(&settings, &rules, &tx));
    }
}

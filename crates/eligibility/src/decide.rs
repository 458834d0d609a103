//! [`decide`]: the decision table of `spec/ELIGIBILITY.md`, steps 1 to 10, over a
//! [`CompiledPolicy`]. The first step that applies decides. Working text lives in a
//! per-thread scratch, and the evidence a decision returns is borrowed from the transaction
//! and the policy, so a decision allocates nothing (unless more keywords fire than
//! [`Keywords`](crate::model::Keywords) holds inline).

use std::cell::RefCell;

use regex::Regex;

use super::compiled::{CompiledPolicy, MatchScratch};
use super::keywords::{SenderStarts, BUSINESS, PERSONAL, REFUND};
use super::literals::RegexLiterals;
use super::model::{currency_matches, Decision, Detail, DraftKind, Outcome, Reason, Transaction, TxType};
use super::text::{
    is_ascii, narration_sender, reference_tokens, reference_tokens_holding, sender_at, tokens_around, trim,
};

/// Buffers reused from one decision to the next on the same thread.
struct Scratch {
    /// Narration, description and tags joined by single spaces, when there is more than
    /// the narration.
    joined: String,
    /// Word normal form of a non-ASCII text (keywords).
    normalized: String,
    /// Rule matching buffers.
    rules: MatchScratch,
    /// Spelling indexes of the keywords that fired.
    found: Vec<u32>,
    /// Where the narration's sender may be named.
    senders: SenderStarts,
    /// Where the reference regex's longest literal starts in the searched text.
    references: Vec<u32>,
}

/// Past this, a buffer grown by one huge narration is given back rather than kept.
const SCRATCH_KEEP_BYTES: usize = 64 * 1024;

impl Scratch {
    const fn new() -> Scratch {
        Scratch {
            joined: String::new(),
            normalized: String::new(),
            rules: MatchScratch::new(),
            found: Vec::new(),
            senders: SenderStarts {
                limit: 0,
                starts: Vec::new(),
                complete: false,
            },
            references: Vec::new(),
        }
    }

    fn shrink(&mut self) {
        self.rules.shrink(SCRATCH_KEEP_BYTES);
        for buf in [&mut self.joined, &mut self.normalized] {
            if buf.capacity() > SCRATCH_KEEP_BYTES {
                *buf = String::new();
            }
        }
        if self.found.capacity() > SCRATCH_KEEP_BYTES {
            self.found = Vec::new();
        }
        if self.senders.starts.capacity() > SCRATCH_KEEP_BYTES {
            self.senders.starts = Vec::new();
        }
        if self.references.capacity() > SCRATCH_KEEP_BYTES {
            self.references = Vec::new();
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = const { RefCell::new(Scratch::new()) };
}

/// Decides what becomes of `tx` under `policy`. Pure and deterministic.
pub fn decide<'a>(tx: &'a Transaction, policy: &'a CompiledPolicy) -> Decision<'a> {
    // Filled in place: a decision is large, and moving it out of the closure below would
    // copy it twice.
    let mut decision = Decision::new(Outcome::Skipped, Reason::NotIncome);
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut scratch) => {
            decide_into(tx, policy, &mut scratch, &mut decision);
            scratch.shrink();
        }
        // Unreachable in practice (decide never re-enters itself); stay correct anyway.
        Err(_) => decide_into(tx, policy, &mut Scratch::new(), &mut decision),
    });
    decision
}

/// Writes the decision into `decision`, which holds `Decision::new` (no evidence).
fn decide_into<'a>(
    tx: &'a Transaction,
    policy: &'a CompiledPolicy,
    scratch: &mut Scratch,
    decision: &mut Decision<'a>,
) {
    let Scratch {
        joined,
        normalized,
        rules,
        found,
        senders,
        references,
    } = scratch;

    let text = joined_text(tx, joined);
    found.clear();
    senders.limit = tx.narration.len();
    let ascii = is_ascii(text);
    // ASCII text (the usual) is searched once for keywords, senders and rule literals.
    let fired = if ascii {
        policy.scan_ascii_narration(text, found, senders, references, rules)
    } else {
        policy
            .keywords
            .scan_marking(text, false, normalized, found, senders)
            .lists
    };
    decision.keywords = policy.keywords.spellings_of(found);

    // Step 1.
    let refund = fired & REFUND != 0;
    if tx.kind == TxType::Debit && !refund {
        decision.outcome = Outcome::Skipped;
        decision.reason = Reason::NotIncome;
        return;
    }

    let own_reference = tx.reference.as_deref().map(trim).filter(|r| !r.is_empty());
    let matched_reference = policy.reference_regex.as_ref().and_then(|regex| {
        // Where the narration's search found the literal every candidate holds.
        let searched = (ascii && policy.reference_searched).then_some(&references[..]);
        find_reference(own_reference, tx, regex, &policy.reference_literals, searched)
    });
    let named = tx
        .counterparty
        .as_ref()
        .and_then(|c| c.name.as_deref())
        .map(trim)
        .filter(|name| !name.is_empty());
    // The sender the narration names, and where it starts when the narration's search
    // found it.
    let mut searched_sender = None;
    let counterparty_name = named.or_else(|| {
        let narration = tx.narration.as_str();
        if senders.complete {
            // The narration's word starts, as `narration_sender` would walk them.
            let name = senders
                .starts
                .iter()
                .find_map(|&at| sender_at(narration, at as usize))?;
            // A slice of the narration: its offset is the distance between the two.
            searched_sender = Some(name.as_ptr() as usize - narration.as_ptr() as usize);
            Some(name)
        } else {
            narration_sender(narration)
        }
    });
    let account_number = tx
        .counterparty
        .as_ref()
        .and_then(|c| c.account_number.as_deref())
        .map(trim)
        .filter(|number| !number.is_empty());

    let account = tx.account_id.as_deref();
    let mut hits = if ascii {
        policy.narration.matches_searched(text, account, rules)
    } else {
        policy.narration.matches_any([text], account, rules)
    };
    match (counterparty_name, searched_sender) {
        (Some(name), Some(at)) if ascii && policy.counterparty_searched => {
            // The narration's search found this field's literals inside the name.
            policy
                .counterparty
                .matches_named(name, at, account, rules, &mut hits);
            hits.add(policy.counterparty.matches_any(account_number, account, rules));
        }
        _ => {
            let counterparty = counterparty_name.into_iter().chain(account_number);
            hits.add(policy.counterparty.matches_any(counterparty, account, rules));
        }
    }
    // The reference field and, when the regex found one elsewhere, that reference too.
    let extracted = matched_reference.filter(|r| Some(*r) != own_reference);
    let references = own_reference.into_iter().chain(extracted);
    hits.add(policy.reference.matches_any(references, account, rules));

    let reported_reference = if policy.reference_regex.is_some() {
        matched_reference
    } else {
        own_reference
    };
    decision.reference = reported_reference;
    decision.counterparty = counterparty_name;

    let (outcome, reason, detail, rule) = if let Some(ordinal) = hits.deny() {
        // Step 2: the denylist beats everything after it, the allowlist included.
        (Outcome::Dlq, Reason::Denylisted, None, Some(ordinal))
    } else if !currency_matches(&tx.currency, &policy.invoice_currency) {
        // Steps 3 and 4: hard checks no allowlist lifts.
        (Outcome::Dlq, Reason::CurrencyMismatch, None, None)
    } else if policy.reference_regex.is_some() && matched_reference.is_none() {
        (Outcome::Dlq, Reason::ReferenceMismatch, None, None)
    } else if let Some(ordinal) = hits.allow() {
        // Step 5: the allowlist lifts the keyword, floor and counterparty heuristics.
        (Outcome::Draft, Reason::Allowlisted, None, Some(ordinal))
    } else if fired & PERSONAL != 0 {
        // Step 6.
        low_confidence(Detail::PersonalKeyword)
    } else if fired & BUSINESS == 0 && matched_reference.is_none() {
        // Step 7: a reference the regex matched is a business signal of its own.
        low_confidence(Detail::NoBusinessSignal)
    } else if tx.amount >= policy.floor_minor || counterparty_name.is_some() || account_number.is_some() {
        // Steps 8 and 9: at or above the floor, or below it with counterparty info.
        (Outcome::Draft, Reason::BusinessSignal, None, None)
    } else {
        // Step 10.
        low_confidence(Detail::BelowFloorNoCounterparty)
    };
    decision.outcome = outcome;
    decision.reason = reason;
    decision.detail = detail;
    decision.rule_id = rule.and_then(|ordinal| policy.rule_id(ordinal));
    decision.kind = (outcome == Outcome::Draft).then_some(match tx.kind {
        TxType::Credit => DraftKind::Invoice,
        TxType::Debit => DraftKind::CreditNote,
    });
}

fn low_confidence(detail: Detail) -> (Outcome, Reason, Option<Detail>, Option<u32>) {
    (Outcome::Dlq, Reason::PersonalOrLowConfidence, Some(detail), None)
}

/// The first reference candidate the regex matches: the reference field, then the tokens
/// of narration, then of description.
/// Candidates without the regex's required literals are passed over without running it.
/// `searched`: where the searched text (ASCII) holds the longest literal, in order.
fn find_reference<'a>(
    own_reference: Option<&'a str>,
    tx: &'a Transaction,
    regex: &Regex,
    literals: &'a RegexLiterals,
    searched: Option<&[u32]>,
) -> Option<&'a str> {
    let tries = |candidate: &str, holds: bool| {
        let may_match = if holds {
            literals.anchors_hold(candidate.as_bytes())
        } else {
            literals.may_match(candidate)
        };
        may_match && regex.is_match(candidate)
    };
    if let Some(reference) = own_reference.filter(|reference| tries(reference, false)) {
        return Some(reference);
    }
    // Every match holds the longest literal, so on ASCII text only the tokens holding it
    // are candidates worth trying; they come in the same order, and of their literals only
    // the anchored ones are left to check.
    if let Some(starts) = searched {
        // The searched text is the narration, then a space and the description.
        let narration = tx.narration.as_str();
        let starts = || starts.iter().map(|&at| at as usize);
        let found = tokens_around(narration, starts().take_while(|&at| at < narration.len()))
            .find(|candidate| tries(candidate, true));
        if found.is_some() {
            return found;
        }
        let description = tx.description.as_deref()?;
        let from = narration.len() + 1;
        let within = starts()
            .filter(|&at| at >= from && at < from + description.len())
            .map(|at| at - from);
        return tokens_around(description, within).find(|candidate| tries(candidate, true));
    }
    let literal = literals.longest.as_bytes();
    for text in std::iter::once(tx.narration.as_str()).chain(tx.description.as_deref()) {
        let found = match reference_tokens_holding(text, literal) {
            Some(mut holding) => holding.find(|candidate| tries(candidate, true)),
            None => reference_tokens(text).find(|candidate| tries(candidate, false)),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// Narration, description and tags joined by single spaces; borrowed when there is only
/// the narration, which is the usual Mono transaction.
fn joined_text<'a>(tx: &'a Transaction, buf: &'a mut String) -> &'a str {
    if tx.description.is_none() && tx.tags.is_empty() {
        return &tx.narration;
    }
    buf.clear();
    buf.push_str(&tx.narration);
    for part in tx.description.iter().chain(tx.tags.iter()) {
        buf.push(' ');
        buf.push_str(part);
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counterparty, EligibilitySettings, MatchKind, Rule, RuleField, RuleList};

    fn tx(kind: TxType, amount: i64, narration: &str) -> Transaction {
        Transaction {
            id: "t".into(),
            account_id: Some("acc_1".into()),
            kind,
            amount,
            currency: "NGN".into(),
            narration: narration.into(),
            description: None,
            tags: Vec::new(),
            reference: None,
            category: None,
            counterparty: None,
            date: Some("2025-05-30T16:03:00Z".into()),
        }
    }

    fn rule(id: &str, list: RuleList, field: RuleField, match_kind: MatchKind, pattern: &str) -> Rule {
        Rule {
            id: id.into(),
            list,
            account_id: None,
            field,
            match_kind,
            pattern: pattern.into(),
        }
    }

    fn policy(settings: EligibilitySettings, rules: &[Rule]) -> CompiledPolicy {
        CompiledPolicy::compile(&settings, rules).expect("valid policy")
    }

    #[test]
    fn evidence_is_reported() {
        let p = policy(EligibilitySettings::default(), &[]);
        let t = tx(TxType::Credit, 50_000, "NIP/FCMB/ACME LTD/invoice 88");
        let d = decide(&t, &p);
        assert_eq!((d.outcome, d.reason), (Outcome::Draft, Reason::BusinessSignal));
        assert_eq!(d.kind, Some(DraftKind::Invoice));
        assert_eq!(d.keywords, ["invoice"]);
        assert_eq!(d.counterparty, Some("ACME LTD"));
        assert_eq!(d.detail, None);

        let t = tx(TxType::Debit, 50_000, "POS payment SHOPRITE");
        let d = decide(&t, &p);
        assert_eq!(
            (d.outcome, d.reason, d.kind),
            (Outcome::Skipped, Reason::NotIncome, None)
        );
        assert_eq!(d.keywords, ["payment"]);
    }

    #[test]
    fn many_keywords_are_reported_in_order_past_those_held_inline() {
        let settings = EligibilitySettings {
            business_keywords: [
                "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta",
            ]
            .map(str::to_owned)
            .to_vec(),
            personal_keywords: vec!["Gift".into(), " alpha ".into()],
            refund_keywords: vec!["refund".into()],
            ..EligibilitySettings::default()
        };
        let p = policy(settings, &[]);
        for (narration, want) in [
            ("theta eta zeta gift", &["zeta", "eta", "theta", "Gift"][..]),
            (
                "refund gift theta eta zeta epsilon delta gamma beta alpha",
                &[
                    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "Gift", "refund",
                ][..],
            ),
            ("nothing here", &[][..]),
        ] {
            let t = tx(TxType::Credit, 50_000, narration);
            let d = decide(&t, &p);
            assert_eq!(d.keywords, *want, "{narration}");
            assert_eq!(d.keywords.len(), want.len());
            assert_eq!(
                d.keywords.iter().rev().collect::<Vec<_>>(),
                want.iter().rev().copied().collect::<Vec<_>>()
            );
            assert_eq!(d.keywords.get(want.len()), None);
            assert_eq!(
                serde_json::to_value(&d).expect("serialisable")["keywords"],
                serde_json::json!(want)
            );
            assert_eq!(d.clone().into_owned().keywords, want);
        }
    }

    #[test]
    fn a_sender_marker_counts_only_at_a_word_start() {
        let p = policy(EligibilitySettings::default(), &[]);
        for (narration, sender) in [
            ("NIP/GTB/ACME LTD/invoice", Some("ACME LTD")),
            ("XNIP/GTB/ACME LTD/invoice", None),
            ("invoice TRF FROM ACME LTD", Some("ACME LTD")),
            ("invoice XTRF FROM ACME LTD", None),
            ("invoice 2FRM ACME", None),
            ("invoice/FRM ACME", Some("ACME")),
            ("invoiceTRANSFER FROM ACME", None),
            ("pay nip/gtb/ada obi/x FRM OLU", Some("ada obi")),
        ] {
            let t = tx(TxType::Credit, 50_000, narration);
            let d = decide(&t, &p);
            assert_eq!(d.counterparty, sender, "{narration}");
            assert_eq!(d.counterparty, narration_sender(narration), "{narration}");
        }
    }

    #[test]
    fn refund_debit_drafts_a_credit_note() {
        let p = policy(EligibilitySettings::default(), &[]);
        let t = tx(TxType::Debit, 500_000, "REFUND of invoice overpayment");
        let d = decide(&t, &p);
        assert_eq!((d.outcome, d.kind), (Outcome::Draft, Some(DraftKind::CreditNote)));
        assert_eq!(d.keywords, ["invoice", "refund"]);
    }

    #[test]
    fn account_number_alone_is_counterparty_info() {
        let p = policy(EligibilitySettings::default(), &[]);
        let mut t = tx(TxType::Credit, 10, "invoice 5");
        assert_eq!(decide(&t, &p).detail, Some(Detail::BelowFloorNoCounterparty));
        t.counterparty = Some(Counterparty {
            account_number: Some("0123456789".into()),
            ..Counterparty::default()
        });
        let d = decide(&t, &p);
        assert_eq!((d.outcome, d.counterparty), (Outcome::Draft, None));
        t.counterparty = Some(Counterparty {
            name: Some("  ".into()),
            account_number: Some(" ".into()),
            bank: Some("GTB".into()),
        });
        assert_eq!(decide(&t, &p).detail, Some(Detail::BelowFloorNoCounterparty));
    }

    #[test]
    fn counterparty_and_reference_rules() {
        let settings = EligibilitySettings {
            reference_regex: Some(r"^INV-\d+$".into()),
            ..EligibilitySettings::default()
        };
        let rules = [
            rule(
                "c1",
                RuleList::Allow,
                RuleField::Counterparty,
                MatchKind::Exact,
                "acme ltd",
            ),
            rule(
                "n1",
                RuleList::Deny,
                RuleField::Counterparty,
                MatchKind::Contains,
                "0000",
            ),
            rule(
                "x1",
                RuleList::Deny,
                RuleField::Reference,
                MatchKind::Regex,
                "^INV-666$",
            ),
        ];
        let p = policy(settings, &rules);
        // Counterparty from the narration form, reference from a narration token.
        let t = tx(TxType::Credit, 10, "NIP/GTB/Acme Ltd/INV-3 gift");
        let d = decide(&t, &p);
        assert_eq!((d.reason, d.rule_id), (Reason::Allowlisted, Some("c1")));
        assert_eq!(d.reference, Some("INV-3"));
        // An extracted reference counts for reference rules.
        let t = tx(TxType::Credit, 10, "NIP/GTB/Acme Ltd/INV-666");
        let d = decide(&t, &p);
        assert_eq!((d.reason, d.rule_id), (Reason::Denylisted, Some("x1")));
        // Account numbers count for counterparty rules.
        let mut t = tx(TxType::Credit, 10, "invoice INV-1");
        t.counterparty = Some(Counterparty {
            account_number: Some("1000099".into()),
            ..Counterparty::default()
        });
        let d = decide(&t, &p);
        assert_eq!((d.reason, d.rule_id), (Reason::Denylisted, Some("n1")));
    }

    #[test]
    fn narration_rules_see_description_and_tags_joined() {
        let rules = [
            rule(
                "j",
                RuleList::Allow,
                RuleField::Narration,
                MatchKind::Contains,
                "ltd vip",
            ),
            rule(
                "e",
                RuleList::Deny,
                RuleField::Narration,
                MatchKind::Exact,
                "acme ltd vip",
            ),
        ];
        let p = policy(EligibilitySettings::default(), &rules);
        let mut t = tx(TxType::Credit, 10, "ACME");
        t.description = Some("LTD".into());
        t.tags = vec!["vip".into()];
        // "ACME LTD vip": the exact deny rule fires before the allow rule.
        assert_eq!(decide(&t, &p).rule_id, Some("e"));
        t.narration = "From ACME".into();
        assert_eq!(decide(&t, &p).rule_id, Some("j"));
    }

    #[test]
    fn without_a_regex_the_reference_field_is_reported_but_not_a_signal() {
        let p = policy(EligibilitySettings::default(), &[]);
        let mut t = tx(TxType::Credit, 5_000_000, "ACME LTD");
        t.reference = Some(" INV-9 ".into());
        let d = decide(&t, &p);
        assert_eq!(d.reference, Some("INV-9"));
        assert_eq!(d.detail, Some(Detail::NoBusinessSignal));
    }

    #[test]
    fn the_floor_is_inclusive_and_negative_amounts_are_below_it() {
        let p = policy(EligibilitySettings::default(), &[]);
        assert_eq!(
            decide(&tx(TxType::Credit, 100_000, "invoice"), &p).outcome,
            Outcome::Draft
        );
        assert_eq!(
            decide(&tx(TxType::Credit, -5, "invoice"), &p).outcome,
            Outcome::Dlq
        );
    }
}

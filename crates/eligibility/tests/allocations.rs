//! A decision allocates nothing once its thread has decided before: the evidence it returns
//! is borrowed from the transaction and the policy, and its working text lives in a
//! per-thread scratch kept between calls. A caller that only counts outcomes (the rule
//! preview, which decides every stored transaction under two policies) pays no allocation
//! per transaction. Counted with an allocator that counts this thread's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use eligibility::{
    decide, CompiledPolicy, Counterparty, EligibilitySettings, MatchKind, Outcome, Rule, RuleField, RuleList,
    Transaction, TxType,
};

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

/// The system allocator, counting the allocations of each thread.
struct Counting;

fn count() {
    // `try_with`: a thread being torn down has no counter left, and needs none.
    let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
}

// SAFETY: every call is passed on to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
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

fn tx(kind: TxType, narration: &str) -> Transaction {
    Transaction {
        id: "t".into(),
        account_id: Some("acc_1".into()),
        kind,
        amount: 50_000,
        currency: "NGN".into(),
        narration: narration.into(),
        description: None,
        tags: Vec::new(),
        reference: None,
        category: None,
        counterparty: None,
        date: None,
    }
}

/// Transactions of every shape the engine reads differently: sender forms, a counterparty
/// field, a reference, description and tags joined, non-ASCII text, debits.
fn transactions() -> Vec<Transaction> {
    let mut out = vec![
        tx(TxType::Credit, "NIP/GTB/ACME LTD/INV-1042 payment"),
        tx(TxType::Credit, "TRF FROM DANGOTE CEMENT PLC invoice 88"),
        tx(TxType::Credit, "FRM OLU ADE gift from mum"),
        tx(TxType::Credit, "BETKING deposit 4411"),
        tx(TxType::Debit, "REVERSAL: POS SHOPRITE refund"),
        tx(TxType::Debit, "POS purchase SPAR IKEJA"),
        tx(TxType::Credit, "Paiement de la facture École Olú INV-77"),
        tx(TxType::Credit, "consulting fee"),
    ];
    let mut with_fields = tx(TxType::Credit, "Payment for INV-2001");
    with_fields.description = Some("Ref 2001 via mobile app".into());
    with_fields.tags = vec!["sales".into(), "vip".into()];
    with_fields.reference = Some(" INV-2001 ".into());
    with_fields.counterparty = Some(Counterparty {
        name: Some("Kano Ventures".into()),
        account_number: Some("0123456789".into()),
        bank: None,
    });
    out.push(with_fields);
    out
}

#[test]
fn deciding_allocates_nothing_once_warm() {
    use MatchKind::{Contains, Exact, Regex};
    use RuleField::{Counterparty as Cp, Narration, Reference};
    use RuleList::{Allow, Deny};
    // Regexes with a literal of their own, as most rules' are.
    let rules = [
        rule("d1", Deny, Narration, Contains, "betking"),
        rule("d2", Deny, Narration, Regex, r"(?i)\bbet\w*\b"),
        rule("d3", Deny, Cp, Exact, "0000000000"),
        rule("d4", Deny, Reference, Regex, r"^INV-0\d+$"),
        rule("a1", Allow, Narration, Exact, "consulting fee"),
        rule("a2", Allow, Narration, Regex, r"^NIP/[A-Z]+/[A-Z ]+ LTD/"),
        rule("a3", Allow, Cp, Contains, "ventures"),
        rule("a4", Allow, Cp, Regex, r"(?i)\bplc$"),
        rule("a5", Allow, Reference, Contains, "inv-20"),
    ];
    let plain = CompiledPolicy::compile(&EligibilitySettings::default(), &rules).expect("valid policy");
    let with_reference = CompiledPolicy::compile(
        &EligibilitySettings {
            reference_regex: Some(r"^INV-\d+$".into()),
            ..EligibilitySettings::default()
        },
        &rules,
    )
    .expect("valid policy");
    let txs = transactions();
    let policies = [&plain, &with_reference];

    // The first decisions on this thread grow its scratch buffers.
    for policy in policies {
        for tx in &txs {
            decide(tx, policy);
        }
    }

    let before = allocations();
    let mut evidence = 0;
    let mut outcomes = [0; 3];
    for policy in policies {
        for tx in &txs {
            let decision = decide(tx, policy);
            evidence += decision.keywords.len()
                + usize::from(decision.counterparty.is_some())
                + usize::from(decision.reference.is_some())
                + usize::from(decision.rule_id.is_some());
            outcomes[match decision.outcome {
                Outcome::Draft => 0,
                Outcome::Dlq => 1,
                Outcome::Skipped => 2,
            }] += 1;
        }
    }
    let allocated = allocations() - before;

    // The counter does count: an owned copy of the evidence allocates.
    let counted = allocations();
    let owned = decide(&txs[0], &plain).into_owned();
    assert!(allocations() > counted, "the counter saw {owned:?} allocated");

    assert_eq!(allocated, 0, "decisions allocated {allocated} times");
    // Decisions with evidence of every kind and every outcome were made.
    assert!(evidence > 2 * txs.len(), "{evidence}");
    assert!(outcomes.iter().all(|&n| n > 0), "{outcomes:?}");
}

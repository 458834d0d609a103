//! Throughput of the eligibility engine on a realistic mix: the fixture transactions plus
//! generated Nigerian bank narrations, 50 rules (allow/deny, contains/exact/regex, some
//! account-scoped) and the default keyword lists, with and without a reference regex, and
//! 1,000 generated rules of the same kinds (merchant names, payers, references).
//! Beside it, the floor any keyword engine pays: a bare Aho-Corasick scan (default keyword
//! lists, ASCII-case-insensitive, counting matches) of each transaction's searched text,
//! narration, description and tags joined by single spaces.
//!
//! Both sides pay the same to get that text: `decide` builds it from the transaction on
//! every call, so the baseline does too, the same way (the narration itself when there is
//! nothing to join, else joined into a reused buffer). The scan of texts joined once up
//! front is reported beside it. `cargo bench --bench eligibility` ends with one summary
//! line: the scans/s, then for each case (50 rules, 50 rules with a reference regex, 1,000
//! rules) its decisions/s and its time per transaction as a multiple of the scan's, all
//! measured in the same run, beside the targets (at most 2x, at most 3x, at least
//! 1,000,000 decisions/s).

use std::hint::black_box;
use std::time::{Duration, Instant};

use aho_corasick::AhoCorasick;
use criterion::{Criterion, Throughput};
use eligibility::{
    decide, CompiledPolicy, Counterparty, EligibilitySettings, MatchKind, Rule, RuleField, RuleList,
    Transaction, TxType, DEFAULT_BUSINESS_KEYWORDS, DEFAULT_PERSONAL_KEYWORDS, DEFAULT_REFUND_KEYWORDS,
};

/// The allocator the service runs with (`src/main.rs`), so a decision's evidence is
/// allocated here as it is there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/eligibility/cases.json"
);
const GENERATED: usize = 5000;

/// A small deterministic generator, so every run measures the same mix.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const BANKS: &[&str] = &["FCMB", "GTB", "ZENITH", "ACCESS", "UBA", "FBN", "STANBIC", "WEMA"];
const NAMES: &[&str] = &[
    "BOLA YUSUFF",
    "ACME LTD",
    "CHIDI OKAFOR",
    "ADA OBI",
    "DANGOTE CEMENT PLC",
    "OLU ADE",
    "NGOZI EZE",
    "KANO VENTURES",
    "TUNDE BAKARE",
    "EMEKA GLOBAL ENTERPRISES",
    "FATIMA BELLO",
];
const STORES: &[&str] = &["SHOPRITE", "SPAR", "JUMIA", "CHICKEN REPUBLIC", "TOTAL", "MTN"];
const CITIES: &[&str] = &["IKEJA", "LEKKI", "ABUJA", "PH", "IBADAN", "KANO"];

fn generated(rng: &mut Lcg, n: usize) -> Transaction {
    let name = rng.pick(NAMES);
    let number = 1000 + rng.below(9000);
    let (kind, narration) = match rng.below(16) {
        0 => (
            TxType::Credit,
            format!("NIP/{}/{name}/INV-{number}", rng.pick(BANKS)),
        ),
        1 => (TxType::Credit, format!("TRF FROM {name}")),
        2 => (TxType::Credit, format!("TRF FROM {name} subscription {number}")),
        3 => (
            TxType::Debit,
            format!("POS purchase {} {}", rng.pick(STORES), rng.pick(CITIES)),
        ),
        4 => (TxType::Credit, "gift from mum".to_owned()),
        5 => (TxType::Credit, format!("school fees {name}")),
        6 => (TxType::Debit, format!("USSD transfer {number}")),
        7 => (TxType::Credit, format!("Payment for INV-{number} from {name}")),
        8 => (TxType::Credit, format!("MOBILE TRANSFER FROM {name}/contract")),
        9 => (
            TxType::Credit,
            format!("FRM {name} settlement Q{}", 1 + rng.below(4)),
        ),
        10 => (
            TxType::Debit,
            format!("REVERSAL: POS {} {}", rng.pick(STORES), number),
        ),
        11 => (TxType::Debit, "Airtime purchase MTN".to_owned()),
        12 => (TxType::Credit, format!("BETKING deposit {number}")),
        13 => (TxType::Credit, format!("WEB PMT {name} invoice {number}")),
        14 => (TxType::Credit, format!("Transfer {number}")),
        _ => (
            TxType::Credit,
            format!("NIP/{}/{name}/family upkeep", rng.pick(BANKS)),
        ),
    };
    let with_extras = rng.below(4) == 0;
    Transaction {
        id: format!("tx_gen_{n}"),
        account_id: Some(format!("acc_{}", rng.below(10))),
        kind,
        amount: [5_000, 50_000, 99_999, 100_000, 2_500_000, 15_000_000][rng.below(6)],
        currency: if rng.below(20) == 0 { "USD" } else { "NGN" }.to_owned(),
        narration,
        description: with_extras.then(|| format!("Ref {number} via mobile app")),
        tags: if with_extras {
            vec!["sales".to_owned()]
        } else {
            Vec::new()
        },
        reference: (rng.below(5) == 0).then(|| format!("INV-{number}")),
        category: None,
        counterparty: (rng.below(3) == 0).then(|| Counterparty {
            name: Some(name.to_owned()),
            account_number: Some(format!("01{number}5678")),
            bank: Some(rng.pick(BANKS).to_owned()),
        }),
        date: Some("2025-05-30T16:03:00.000Z".to_owned()),
    }
}

fn transactions() -> Vec<Transaction> {
    let text = std::fs::read_to_string(CASES).unwrap_or_else(|_| "[]".to_owned());
    let cases: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap_or_default();
    let mut out: Vec<Transaction> = cases
        .iter()
        .filter_map(|case| {
            let mut tx: Transaction = serde_json::from_value(case["transaction"].clone()).ok()?;
            tx.account_id = case["accountId"].as_str().map(str::to_owned);
            Some(tx)
        })
        .collect();
    let mut rng = Lcg(0x7a59_0017);
    out.extend((0..GENERATED).map(|n| generated(&mut rng, n)));
    out
}

fn rules() -> Vec<Rule> {
    use MatchKind::{Contains, Exact, Regex};
    use RuleField::{Counterparty as Cp, Narration, Reference};
    use RuleList::{Allow, Deny};
    let spec: &[(RuleList, RuleField, MatchKind, &str, Option<&str>)] = &[
        (Deny, Narration, Contains, "betking", None),
        (Deny, Narration, Contains, "bet9ja", None),
        (Deny, Narration, Contains, "sportybet", None),
        (Deny, Narration, Contains, "nairabet", None),
        (Deny, Narration, Contains, "1xbet", None),
        (Deny, Narration, Contains, "merrybet", None),
        (Deny, Narration, Contains, "binance", None),
        (Deny, Narration, Contains, "palmcredit", None),
        (Deny, Narration, Contains, "loan app", None),
        (Deny, Narration, Contains, "crypto", Some("acc_1")),
        (Deny, Narration, Contains, "forex", Some("acc_2")),
        (Deny, Narration, Exact, "transfer", None),
        (Deny, Narration, Exact, "airtime purchase mtn", Some("acc_3")),
        (Deny, Narration, Regex, r"(?i)\bbet\w*\b", None),
        (Deny, Narration, Regex, r"(?i)atm\s+wd", None),
        (Deny, Narration, Regex, r"(?i)\bwithdrawal\b", Some("acc_4")),
        (Deny, Cp, Exact, "FATIMA BELLO", Some("acc_5")),
        (Deny, Cp, Contains, "casino", None),
        (Deny, Cp, Exact, "0000000000", None),
        (Deny, Cp, Regex, r"^99\d{8}$", None),
        (Deny, Reference, Regex, r"^INV-0\d+$", None),
        (Deny, Reference, Exact, "INV-9999", None),
        (Deny, Narration, Contains, "chargeback fee", Some("acc_6")),
        (Deny, Narration, Contains, "gambling", None),
        (Deny, Narration, Contains, "lottery", Some("acc_7")),
        (Allow, Narration, Contains, "acme", None),
        (Allow, Narration, Contains, "dangote", None),
        (Allow, Narration, Contains, "kano ventures", Some("acc_2")),
        (Allow, Narration, Contains, "web pmt", None),
        (Allow, Narration, Contains, "paystack", None),
        (Allow, Narration, Contains, "flutterwave", None),
        (Allow, Narration, Contains, "remita", Some("acc_8")),
        (Allow, Narration, Contains, "interswitch", None),
        (Allow, Narration, Exact, "salary", None),
        (Allow, Narration, Exact, "consulting fee", Some("acc_1")),
        (Allow, Narration, Regex, r"^NIP/[A-Z]+/[A-Z ]+ LTD/", None),
        (Allow, Narration, Regex, r"(?i)\bPO-\d{4,}\b", None),
        (Allow, Narration, Regex, r"(?i)^settlement\s+\d+", Some("acc_9")),
        (Allow, Cp, Exact, "ACME LTD", None),
        (Allow, Cp, Exact, "DANGOTE CEMENT PLC", None),
        (Allow, Cp, Contains, "ventures", None),
        (Allow, Cp, Contains, "enterprises", Some("acc_3")),
        (Allow, Cp, Contains, "global", None),
        (Allow, Cp, Exact, "0123456789", None),
        (Allow, Cp, Regex, r"(?i)\bplc$", None),
        (Allow, Reference, Regex, r"^PO-\d+$", None),
        (Allow, Reference, Contains, "contract-", None),
        (Allow, Reference, Exact, "INV-1042", Some("acc_main_0001")),
        (Allow, Narration, Contains, "retainer", None),
        (Allow, Narration, Contains, "invoice 8", Some("acc_0")),
    ];
    spec.iter()
        .enumerate()
        .map(|(i, &(list, field, match_kind, pattern, account))| Rule {
            id: format!("rule_{i:02}"),
            list,
            account_id: account.map(str::to_owned),
            field,
            match_kind,
            pattern: pattern.to_owned(),
        })
        .collect()
}

/// 1,000 rules as a large organization might keep: merchants and betting or lending apps
/// denied, customers and payment processors allowed, by narration, counterparty and
/// reference, a fifth of them scoped to one account, a tenth exact and a twentieth regexes
/// (each with a literal of its own). The 50 rules above come first, so the mix still
/// matches the generated narrations.
fn thousand_rules() -> Vec<Rule> {
    const SYLLABLES: &[&str] = &[
        "ba", "ko", "la", "mi", "nu", "de", "ri", "sa", "to", "ye", "fu", "go", "ji", "ke", "wo", "zi",
    ];
    const SUFFIXES: &[&str] = &[
        " ltd",
        " ventures",
        " stores",
        " pay",
        " bet",
        " credit",
        " global",
        "",
        " plc",
        " hub",
    ];
    let mut rng = Lcg(0x0001_0000);
    let mut rules = rules();
    while rules.len() < 1000 {
        let i = rules.len();
        let name: String = (0..3 + rng.below(2)).map(|_| rng.pick(SYLLABLES)).collect();
        let name = format!("{name}{}", rng.pick(SUFFIXES));
        let list = if rng.below(2) == 0 {
            RuleList::Deny
        } else {
            RuleList::Allow
        };
        let (field, match_kind, pattern) = match rng.below(20) {
            0 => (
                RuleField::Narration,
                MatchKind::Regex,
                format!(r"(?i)\b{name}\s+\d{{3,}}"),
            ),
            1 | 2 => (RuleField::Narration, MatchKind::Exact, name),
            3..=11 => (RuleField::Narration, MatchKind::Contains, name),
            12..=15 => (RuleField::Counterparty, MatchKind::Contains, name),
            16 => (
                RuleField::Counterparty,
                MatchKind::Exact,
                (10_000_000 + i).to_string(),
            ),
            17 => (
                RuleField::Reference,
                MatchKind::Exact,
                format!("INV-{}", 20_000 + i),
            ),
            _ => (
                RuleField::Reference,
                MatchKind::Contains,
                format!("{}-", name.split(' ').next().unwrap_or("ref")),
            ),
        };
        rules.push(Rule {
            id: format!("rule_{i:04}"),
            list,
            account_id: (rng.below(5) == 0).then(|| format!("acc_{}", rng.below(10))),
            field,
            match_kind,
            pattern,
        });
    }
    rules
}

fn joined(tx: &Transaction) -> String {
    let mut text = tx.narration.clone();
    for part in tx.description.iter().chain(&tx.tags) {
        text.push(' ');
        text.push_str(part);
    }
    text
}

fn bare_scanner() -> AhoCorasick {
    let keywords = DEFAULT_BUSINESS_KEYWORDS
        .iter()
        .chain(DEFAULT_PERSONAL_KEYWORDS)
        .chain(DEFAULT_REFUND_KEYWORDS);
    AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(keywords)
        .expect("keywords compile")
}

struct Fixture {
    txs: Vec<Transaction>,
    texts: Vec<String>,
    /// Default keywords, no rules: the keyword engine alone.
    keywords_only: CompiledPolicy,
    plain: CompiledPolicy,
    with_reference: CompiledPolicy,
    thousand: CompiledPolicy,
    scanner: AhoCorasick,
}

fn fixture() -> Fixture {
    let txs = transactions();
    let rules = rules();
    assert_eq!(rules.len(), 50);
    let settings = EligibilitySettings::default();
    let reference_settings = EligibilitySettings {
        reference_regex: Some(r"^INV-\d+$".to_owned()),
        ..EligibilitySettings::default()
    };
    Fixture {
        texts: txs.iter().map(joined).collect(),
        keywords_only: CompiledPolicy::compile(&settings, &[]).expect("bench policy compiles"),
        plain: CompiledPolicy::compile(&settings, &rules).expect("bench policy compiles"),
        with_reference: CompiledPolicy::compile(&reference_settings, &rules).expect("bench policy compiles"),
        thousand: CompiledPolicy::compile(&settings, &thousand_rules()).expect("bench policy compiles"),
        scanner: bare_scanner(),
        txs,
    }
}

fn decide_all(txs: &[Transaction], policy: &CompiledPolicy) -> usize {
    txs.iter()
        .map(|tx| decide(black_box(tx), policy).keywords.len())
        .sum()
}

/// The searched text of `tx`, as the engine builds it: the narration itself when there is
/// nothing to join, else narration, description and tags joined into `buf`.
fn searched_text<'a>(tx: &'a Transaction, buf: &'a mut String) -> &'a str {
    if tx.description.is_none() && tx.tags.is_empty() {
        return &tx.narration;
    }
    buf.clear();
    buf.push_str(&tx.narration);
    for part in tx.description.iter().chain(&tx.tags) {
        buf.push(' ');
        buf.push_str(part);
    }
    buf
}

/// The baseline: a bare scan of each transaction's searched text, built per scan.
fn scan_txs(txs: &[Transaction], scanner: &AhoCorasick) -> usize {
    let mut buf = String::new();
    txs.iter()
        .map(|tx| {
            let text = searched_text(black_box(tx), &mut buf);
            scanner.find_iter(text).count()
        })
        .sum()
}

/// The same scan over texts joined once, up front.
fn scan_all(texts: &[String], scanner: &AhoCorasick) -> usize {
    texts
        .iter()
        .map(|text| scanner.find_iter(black_box(text.as_str())).count())
        .sum()
}

fn benches(c: &mut Criterion, f: &Fixture) {
    let mut group = c.benchmark_group("eligibility");
    group.throughput(Throughput::Elements(f.txs.len() as u64));
    group.bench_function("decide", |b| b.iter(|| decide_all(&f.txs, &f.plain)));
    group.bench_function("decide_reference_regex", |b| {
        b.iter(|| decide_all(&f.txs, &f.with_reference))
    });
    group.bench_function("decide_1000_rules", |b| {
        b.iter(|| decide_all(&f.txs, &f.thousand))
    });
    group.bench_function("decide_no_rules", |b| {
        b.iter(|| decide_all(&f.txs, &f.keywords_only))
    });
    group.bench_function("bare_keyword_scan", |b| b.iter(|| scan_txs(&f.txs, &f.scanner)));
    group.bench_function("bare_keyword_scan_prejoined", |b| {
        b.iter(|| scan_all(&f.texts, &f.scanner))
    });
    group.finish();
}

/// Items per second of each workload over `items` items, best of several rounds on one
/// core. The workloads take turns within each round, so a noisy neighbour slows them
/// alike rather than whichever happened to run at the time; each turn first runs its
/// workload once untimed, so that each is timed warm, as it runs through a sync.
fn rates<const N: usize>(items: usize, mut work: [&mut dyn FnMut() -> usize; N]) -> [f64; N] {
    let mut best = [Duration::MAX; N];
    for _ in 0..40 {
        for (work, best) in work.iter_mut().zip(best.iter_mut()) {
            black_box(work());
            let start = Instant::now();
            black_box(work());
            *best = (*best).min(start.elapsed());
        }
    }
    best.map(|time| items as f64 / time.as_secs_f64())
}

fn main() {
    let f = fixture();
    let mut c = Criterion::default().configure_from_args();
    benches(&mut c, &f);
    c.final_summary();

    // The summary only under `cargo bench`, not when tests run the bench once, nor when a
    // profiler runs one benchmark (`--profile-time`).
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|arg| arg == "--bench") && !args.iter().any(|arg| arg == "--profile-time") {
        let n = f.txs.len();
        let [scan, plain, reference, thousand, keywords_only, prejoined] = rates(
            n,
            [
                &mut || scan_txs(&f.txs, &f.scanner),
                &mut || decide_all(&f.txs, &f.plain),
                &mut || decide_all(&f.txs, &f.with_reference),
                &mut || decide_all(&f.txs, &f.thousand),
                &mut || decide_all(&f.txs, &f.keywords_only),
                &mut || scan_all(&f.texts, &f.scanner),
            ],
        );
        let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
        println!(
            "summary: {n} transactions, one core; bare keyword scan {scan:.0}/s (anchor; \
             {prejoined:.0}/s over texts joined up front); decisions/s and time per decision \
             as a multiple of the scan's: 50 rules {plain:.0}/s {:.2}x (target <= 2x, {}); \
             50 rules + reference regex {reference:.0}/s {:.2}x (target <= 3x, {}); 1,000 \
             rules {thousand:.0}/s {:.2}x (target >= 1000000/s, {}); no rules \
             {keywords_only:.0}/s {:.2}x",
            scan / plain,
            verdict(scan / plain <= 2.0),
            scan / reference,
            verdict(scan / reference <= 3.0),
            scan / thousand,
            verdict(thousand >= 1_000_000.0),
            scan / keywords_only,
        );
    }
}

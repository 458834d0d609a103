//! Deterministic sandbox data: customers, their bank accounts and each account's transaction
//! history, all derived from one seed.
//!
//! A history is never materialised. Transaction `i` (0 = oldest) is a pure function of the
//! ledger's seed and `i`: its date is `start + i * step + jitter(i)` (so dates rise with `i`
//! and a date window is a binary search), its id is derived from the account key and `i`, and
//! its running balance comes from a checkpoint every [`CHUNK`] transactions plus at most
//! `CHUNK` cheap amount draws. An account of 100,000 transactions costs ~3 KiB, and a page
//! costs `limit + CHUNK` draws however deep it is.

use chrono::{DateTime, Datelike, Utc};

use mono::types::{MonoTransaction, TransactionType};

/// Transactions between two balance checkpoints.
pub const CHUNK: usize = 256;

// ---------------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------------

/// SplitMix64's output function: a strong 64-bit mixer.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Mixes two words into one (order matters).
pub fn mix(a: u64, b: u64) -> u64 {
    mix64(a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ mix64(b.wrapping_add(0x632b_e59b_d9b4_e019)))
}

/// FNV-1a, then mixed: a stable hash of a string (std's hasher is randomised per process).
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// A 24-hex-digit id in the shape of Mono's (Mongo ObjectId-like) ids.
pub fn hex_id(a: u64, b: u64) -> String {
    format!("{:08x}{:016x}", (mix(a, b) >> 32) as u32, mix(b, a ^ 0x5555))
}

/// SplitMix64: tiny, fast, and good enough for fake data and fault rolls.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.state)
    }

    /// Uniform in `[0, n)`; 0 when `n` is 0.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Log-uniform in `[lo, hi]`: small amounts common, large ones rare, as in real ledgers.
    pub fn log_uniform(&mut self, lo: i64, hi: i64) -> i64 {
        let (lo_f, hi_f) = ((lo.max(1)) as f64, (hi.max(lo).max(1)) as f64);
        let v = (lo_f.ln() + self.unit() * (hi_f.ln() - lo_f.ln())).exp();
        (v as i64).clamp(lo, hi.max(lo))
    }

    pub fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + self.below(10) as u8)).collect()
    }
}

// ---------------------------------------------------------------------------------------------
// Reference tables
// ---------------------------------------------------------------------------------------------

/// A bank the sandbox links accounts at.
#[derive(Debug, PartialEq, Eq)]
pub struct Bank {
    pub name: &'static str,
    pub code: &'static str,
    pub currency: &'static str,
    /// Digits of an account number there.
    pub number_len: usize,
}

impl Bank {
    /// The bank's institution id, stable across runs.
    pub fn institution_id(&self) -> String {
        hex_id(0xba4c, hash_str(self.code))
    }
}

pub static BANKS: &[Bank] = &[
    Bank {
        name: "GTBank",
        code: "058",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "Access Bank",
        code: "044",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "First Bank of Nigeria",
        code: "011",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "Zenith Bank",
        code: "057",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "United Bank for Africa",
        code: "033",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "FCMB",
        code: "214",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "Kuda Bank",
        code: "50211",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "OPay",
        code: "999992",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "Moniepoint MFB",
        code: "50515",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "Sterling Bank",
        code: "232",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "Wema Bank",
        code: "035",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "Stanbic IBTC",
        code: "221",
        currency: "NGN",
        number_len: 10,
    },
    Bank {
        name: "GCB Bank",
        code: "040100",
        currency: "GHS",
        number_len: 13,
    },
    Bank {
        name: "Ecobank Ghana",
        code: "130100",
        currency: "GHS",
        number_len: 13,
    },
    Bank {
        name: "Equity Bank Kenya",
        code: "68",
        currency: "KES",
        number_len: 13,
    },
    Bank {
        name: "KCB Bank",
        code: "01",
        currency: "KES",
        number_len: 10,
    },
    Bank {
        name: "Standard Bank",
        code: "051001",
        currency: "ZAR",
        number_len: 11,
    },
    Bank {
        name: "FNB",
        code: "250655",
        currency: "ZAR",
        number_len: 11,
    },
    // Domiciliary (USD) accounts are held at Nigerian banks.
    Bank {
        name: "Zenith Bank",
        code: "057",
        currency: "USD",
        number_len: 10,
    },
    Bank {
        name: "GTBank",
        code: "058",
        currency: "USD",
        number_len: 10,
    },
];

/// Currencies the sandbox knows, with a rough factor from a naira amount to the same
/// purchasing power in that currency's minor units.
pub static CURRENCIES: &[(&str, f64)] = &[
    ("NGN", 1.0),
    ("GHS", 0.0095),
    ("KES", 0.085),
    ("ZAR", 0.012),
    ("USD", 0.00065),
];

pub fn is_known_currency(code: &str) -> bool {
    CURRENCIES.iter().any(|(c, _)| *c == code)
}

fn fx(currency: &str) -> f64 {
    CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map_or(1.0, |(_, f)| *f)
}

/// Banks holding accounts in `currency`.
pub fn banks_for(currency: &str) -> Vec<&'static Bank> {
    BANKS.iter().filter(|b| b.currency == currency).collect()
}

/// A bank by institution id or bank code, in `currency` when given.
pub fn find_bank(key: &str, currency: Option<&str>) -> Option<&'static Bank> {
    BANKS.iter().find(|b| {
        (b.code == key || b.institution_id() == key || b.name.eq_ignore_ascii_case(key))
            && currency.is_none_or(|c| c == b.currency)
    })
}

const FIRST_NAMES: &[&str] = &[
    "Adaeze",
    "Bola",
    "Chinedu",
    "Damilola",
    "Emeka",
    "Funmilayo",
    "Garba",
    "Hauwa",
    "Ifeoma",
    "Jide",
    "Kemi",
    "Lanre",
    "Musa",
    "Ngozi",
    "Obinna",
    "Temitope",
    "Usman",
    "Yetunde",
    "Zainab",
    "Tunde",
    "Amaka",
    "Segun",
    "Aisha",
    "Kelechi",
];
const LAST_NAMES: &[&str] = &[
    "Adeyemi", "Yusuff", "Okafor", "Balogun", "Eze", "Abubakar", "Okonkwo", "Adebayo", "Nwosu", "Bello",
    "Olawale", "Ibrahim", "Chukwu", "Danjuma", "Oyelaran", "Ogunleye", "Akande", "Mohammed", "Obi",
    "Afolabi",
];
const COMPANIES: &[&str] = &[
    "ACME LTD",
    "DANGOTE FOODS LTD",
    "KONGA ONLINE",
    "ZAINAB FABRICS ENT",
    "OKAFOR & SONS LTD",
    "LAGOS LOGISTICS LTD",
    "BLUE RIVER VENTURES",
    "ADEBAYO FARMS",
    "SUNRISE PHARMACY",
    "NAIJA TECH HUB LTD",
    "ABUJA PRINTWORKS",
    "ADEYEMI CONSULTING",
    "IBADAN AGRO SUPPLIES",
    "KANO TEXTILES LTD",
    "PORT HARCOURT MARINE SVCS",
];
const BUSINESS_WORDS: &[&str] = &[
    "Foods",
    "Logistics",
    "Ventures",
    "Consulting",
    "Fabrics",
    "Pharmacy",
    "Agro",
    "Builders",
    "Tech",
    "Stores",
];
const BUSINESS_SUFFIXES: &[&str] = &["Ltd", "Enterprises", "Nig Ltd", "& Co"];
const MERCHANTS: &[&str] = &[
    "SHOPRITE IKEJA",
    "SPAR LEKKI",
    "JUMIA NG",
    "CHICKEN REPUBLIC YABA",
    "TOTALENERGIES VI",
    "EBEANO SUPERMARKET",
    "MED-PLUS PHARMACY",
    "FILMHOUSE SURULERE",
    "KFC ALLEN",
    "PRINCE EBEANO",
    "BUKKA HUT",
    "CONOIL OBALENDE",
];
const ATM_LOCATIONS: &[&str] = &[
    "IKEJA CITY MALL",
    "ALLEN AVENUE",
    "WUSE II ABUJA",
    "TRADE FAIR",
    "UNILAG",
    "GRA PH",
];
const BILLERS: &[&str] = &[
    "DSTV subscription",
    "GOTV subscription",
    "IKEDC prepaid token",
    "EKEDC postpaid bill",
    "WEB PAYMENT/PAYSTACK/NETFLIX",
    "SPECTRANET internet renewal",
    "LAWMA waste bill",
];
const NETWORKS: &[(&str, &str)] = &[
    ("MTN", "0803"),
    ("AIRTEL", "0802"),
    ("GLO", "0805"),
    ("9MOBILE", "0809"),
];
const STREETS: &[&str] = &[
    "Allen Avenue, Ikeja",
    "Admiralty Way, Lekki",
    "Adeola Odeku St, Victoria Island",
    "Aminu Kano Crescent, Wuse II",
    "Ring Road, Ibadan",
    "Trans-Amadi Road, Port Harcourt",
];
const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];

// ---------------------------------------------------------------------------------------------
// Customers and bank accounts
// ---------------------------------------------------------------------------------------------

/// A customer of the Mono app, with the identity the sandbox reports for their accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerProfile {
    pub id: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub business: bool,
    pub bvn: String,
    pub gender: &'static str,
    pub dob: String,
    pub address: String,
    /// Root of everything derived for this customer (accounts, numbers).
    pub key: u64,
}

/// The `index`-th seeded customer; even ones are businesses, odd ones people.
pub fn seeded_customer(seed: u64, index: usize) -> CustomerProfile {
    let key = mix(seed, 0xc057_0000 + index as u64);
    let mut rng = SplitMix64::new(key);
    let business = index.is_multiple_of(2);
    let first = *rng.pick(FIRST_NAMES);
    let last = *rng.pick(LAST_NAMES);
    let name = if business {
        format!(
            "{last} {} {}",
            rng.pick(BUSINESS_WORDS),
            rng.pick(BUSINESS_SUFFIXES)
        )
    } else {
        format!("{first} {last}")
    };
    let email = format!(
        "{}.{}{}@example.com",
        first.to_ascii_lowercase(),
        last.to_ascii_lowercase(),
        index
    );
    profile(key, name, email, business, &mut rng, first)
}

/// A customer first seen in an initiate call, derived from its email so it is stable.
pub fn customer_from_details(seed: u64, name: &str, email: &str) -> CustomerProfile {
    let key = mix(seed, hash_str(&email.to_ascii_lowercase()));
    let mut rng = SplitMix64::new(key);
    let upper = name.to_ascii_uppercase();
    let business = [
        "LTD",
        "LIMITED",
        "ENTERPRISE",
        "VENTURES",
        "PLC",
        "& CO",
        "STORES",
    ]
    .iter()
    .any(|w| upper.contains(w));
    let first = name.split_whitespace().next().unwrap_or("Customer");
    profile(key, name.to_owned(), email.to_owned(), business, &mut rng, first)
}

fn profile(
    key: u64,
    name: String,
    email: String,
    business: bool,
    rng: &mut SplitMix64,
    first: &str,
) -> CustomerProfile {
    let prefix = rng.pick(NETWORKS).1;
    let female = [
        "Adaeze",
        "Damilola",
        "Funmilayo",
        "Hauwa",
        "Ifeoma",
        "Kemi",
        "Ngozi",
        "Yetunde",
        "Zainab",
        "Amaka",
        "Aisha",
        "Temitope",
    ]
    .contains(&first);
    CustomerProfile {
        id: hex_id(key, 0xc0),
        phone: format!("{prefix}{}", rng.digits(7)),
        bvn: format!("22{}", rng.digits(9)),
        gender: if female { "Female" } else { "Male" },
        dob: format!(
            "{}-{:02}-{:02}",
            1965 + rng.below(35),
            1 + rng.below(12),
            1 + rng.below(28)
        ),
        address: format!("{} {}", 1 + rng.below(120), rng.pick(STREETS)),
        name,
        email,
        business,
        key,
    }
}

/// A bank account a customer holds; linking it creates a Mono account over it.
#[derive(Debug, Clone, PartialEq)]
pub struct BankAccountSpec {
    pub name: String,
    pub account_number: String,
    pub currency: String,
    pub bank: &'static Bank,
    pub account_type: &'static str,
    pub business: bool,
    pub auth_method: &'static str,
    /// Seed of this account's transaction history.
    pub tx_seed: u64,
}

/// The `index`-th bank account of `customer`. The second account of every customer after the
/// first is in another currency (GHS, KES, ZAR, USD in turn), so a default sandbox has each.
pub fn bank_account_spec(
    customer: &CustomerProfile,
    customer_index: usize,
    index: usize,
    currency: Option<&str>,
    bank_key: Option<&str>,
) -> BankAccountSpec {
    let key = mix(customer.key, 0xacc0_0000 + index as u64);
    let mut rng = SplitMix64::new(key);
    let currency = currency.map(str::to_owned).unwrap_or_else(|| {
        if index == 1 && customer_index > 0 {
            CURRENCIES[1 + (customer_index - 1) % (CURRENCIES.len() - 1)]
                .0
                .to_owned()
        } else {
            "NGN".to_owned()
        }
    });
    let bank = bank_key
        .and_then(|k| find_bank(k, Some(&currency)))
        .unwrap_or_else(|| {
            let banks = banks_for(&currency);
            if banks.is_empty() {
                &BANKS[0]
            } else {
                *rng.pick(&banks)
            }
        });
    let account_type = match (currency.as_str(), customer.business) {
        ("USD", _) => "DOMICILIARY_ACCOUNT",
        (_, true) => "CURRENT_ACCOUNT",
        (_, false) => "SAVINGS_ACCOUNT",
    };
    BankAccountSpec {
        name: customer.name.to_ascii_uppercase(),
        account_number: rng.digits(bank.number_len),
        currency,
        bank,
        account_type,
        business: customer.business,
        auth_method: if rng.chance(0.7) {
            "internet_banking"
        } else {
            "mobile_banking"
        },
        tx_seed: rng.next_u64(),
    }
}

// ---------------------------------------------------------------------------------------------
// Transactions
// ---------------------------------------------------------------------------------------------

/// The kinds of transaction the generator writes, each with its narrations and amounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    InvoicePaid,
    Subscription,
    PosSettlement,
    Salary,
    Gift,
    FamilyUpkeepIn,
    PocketMoney,
    SchoolFeesIn,
    UssdIn,
    Refund,
    PosPurchase,
    SupplierPayment,
    Payroll,
    TaxRemittance,
    TransferOut,
    Bill,
    Airtime,
    Charge,
    AtmWithdrawal,
}

/// (kind, weight for business accounts, weight for personal accounts).
const KINDS: &[(Kind, u32, u32)] = &[
    (Kind::InvoicePaid, 22, 1),
    (Kind::Subscription, 7, 1),
    (Kind::PosSettlement, 8, 0),
    (Kind::Salary, 0, 1),
    (Kind::Gift, 1, 7),
    (Kind::FamilyUpkeepIn, 0, 5),
    (Kind::PocketMoney, 0, 5),
    (Kind::SchoolFeesIn, 0, 2),
    (Kind::UssdIn, 3, 5),
    (Kind::Refund, 2, 2),
    (Kind::PosPurchase, 10, 22),
    (Kind::SupplierPayment, 16, 0),
    (Kind::Payroll, 6, 0),
    (Kind::TaxRemittance, 3, 0),
    (Kind::TransferOut, 5, 12),
    (Kind::Bill, 4, 9),
    (Kind::Airtime, 1, 6),
    (Kind::Charge, 14, 16),
    (Kind::AtmWithdrawal, 2, 6),
];

impl Kind {
    fn direction(self) -> TransactionType {
        match self {
            Kind::InvoicePaid
            | Kind::Subscription
            | Kind::PosSettlement
            | Kind::Salary
            | Kind::Gift
            | Kind::FamilyUpkeepIn
            | Kind::PocketMoney
            | Kind::SchoolFeesIn
            | Kind::UssdIn
            | Kind::Refund => TransactionType::Credit,
            _ => TransactionType::Debit,
        }
    }

    /// Amount range in kobo (naira minor units), before currency conversion.
    fn range(self) -> (i64, i64) {
        match self {
            Kind::InvoicePaid => (1_500_000, 450_000_000),
            Kind::Subscription => (250_000, 7_500_000),
            Kind::PosSettlement => (500_000, 60_000_000),
            Kind::Salary => (7_000_000, 150_000_000),
            Kind::Gift => (200_000, 10_000_000),
            Kind::FamilyUpkeepIn => (1_000_000, 15_000_000),
            Kind::PocketMoney => (200_000, 3_000_000),
            Kind::SchoolFeesIn => (5_000_000, 80_000_000),
            Kind::UssdIn => (100_000, 20_000_000),
            Kind::Refund => (100_000, 30_000_000),
            Kind::PosPurchase => (50_000, 25_000_000),
            Kind::SupplierPayment => (2_000_000, 450_000_000),
            Kind::Payroll => (8_000_000, 60_000_000),
            Kind::TaxRemittance => (5_000_000, 100_000_000),
            Kind::TransferOut => (100_000, 150_000_000),
            Kind::Bill => (150_000, 4_500_000),
            Kind::Airtime => (10_000, 1_000_000),
            Kind::Charge => (1_075, 5_000),
            Kind::AtmWithdrawal => (200_000, 4_000_000),
        }
    }

    fn category(self) -> &'static str {
        match self {
            Kind::InvoicePaid | Kind::Subscription | Kind::PosSettlement => "income",
            Kind::Salary => "salary",
            Kind::Gift | Kind::FamilyUpkeepIn | Kind::PocketMoney | Kind::SchoolFeesIn => "transfer",
            Kind::UssdIn | Kind::TransferOut | Kind::SupplierPayment | Kind::Payroll => "transfer",
            Kind::TaxRemittance => "tax",
            Kind::Refund => "refund",
            Kind::PosPurchase => "shopping",
            Kind::Bill => "bills_and_utilities",
            Kind::Airtime => "airtime_and_data",
            Kind::Charge => "bank_charges",
            Kind::AtmWithdrawal => "cash_withdrawal",
        }
    }
}

fn person(rng: &mut SplitMix64) -> String {
    format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES)).to_ascii_uppercase()
}

fn counterparty_bank(rng: &mut SplitMix64, currency: &str) -> String {
    let banks = banks_for(currency);
    let bank = if banks.is_empty() {
        &BANKS[0]
    } else {
        *rng.pick(&banks)
    };
    // Narrations abbreviate banks the way NIP does.
    match bank.name {
        "First Bank of Nigeria" => "FBN".to_owned(),
        "United Bank for Africa" => "UBA".to_owned(),
        "Moniepoint MFB" => "MONIEPOINT".to_owned(),
        other => other
            .split_whitespace()
            .next()
            .unwrap_or(other)
            .to_ascii_uppercase(),
    }
}

/// Narration of a transaction of `kind`; foreign-currency accounts get their rails' wording.
fn narration(kind: Kind, variant: u64, rng: &mut SplitMix64, currency: &str, date: DateTime<Utc>) -> String {
    let inv = 1000 + rng.below(9000);
    match (kind, currency) {
        (Kind::InvoicePaid, "GHS") => format!("MOMO TRF FROM {}/INV-{inv}", rng.pick(COMPANIES)),
        (Kind::InvoicePaid, "KES") => format!("MPESA C2B {} INV-{inv}", rng.pick(COMPANIES)),
        (Kind::InvoicePaid, "ZAR") => format!("EFT PAYMENT {} INV-{inv}", rng.pick(COMPANIES)),
        (Kind::InvoicePaid, "USD") => format!("SWIFT INWARD {} INV-{inv}", rng.pick(COMPANIES)),
        (Kind::InvoicePaid, _) => match rng.below(4) {
            0 => format!(
                "NIP/{}/{}/INV-{inv}",
                counterparty_bank(rng, currency),
                rng.pick(COMPANIES)
            ),
            1 => format!("TRF FROM {}/payment for invoice INV-{inv}", rng.pick(COMPANIES)),
            2 => format!("NIP TRANSFER FROM {} REF:INV{inv}", rng.pick(COMPANIES)),
            _ => format!("WEB PAYMENT/PAYSTACK/{} contract payment", rng.pick(COMPANIES)),
        },
        (Kind::Subscription, _) => format!("TRF FROM {}/subscription", person(rng)),
        (Kind::PosSettlement, _) => {
            format!("POS SETTLEMENT TID 2058{} {}", rng.digits(4), rng.pick(MERCHANTS))
        }
        (Kind::Salary, _) => format!(
            "SALARY {} {} {}",
            rng.pick(COMPANIES),
            MONTHS[date.month0() as usize],
            date.year()
        ),
        (Kind::Gift, _) => match rng.below(3) {
            0 => "gift from mum".to_owned(),
            1 => format!("TRF FROM {}/birthday gift", person(rng)),
            _ => format!("gift from {}", rng.pick(FIRST_NAMES).to_ascii_lowercase()),
        },
        (Kind::FamilyUpkeepIn, _) => match rng.below(2) {
            0 => "family upkeep".to_owned(),
            _ => format!("TRF FROM {}/family upkeep", person(rng)),
        },
        (Kind::PocketMoney, _) => match rng.below(2) {
            0 => "pocket money".to_owned(),
            _ => format!("pocket money for {}", MONTHS[date.month0() as usize]),
        },
        (Kind::SchoolFeesIn, _) => format!("TRF FROM {}/school fees", person(rng)),
        (Kind::UssdIn, "NGN") => match rng.below(2) {
            0 => "USSD transfer".to_owned(),
            _ => format!("USSD transfer from {}", person(rng)),
        },
        (Kind::UssdIn, "KES") => format!("MPESA transfer from {}", person(rng)),
        (Kind::UssdIn, "GHS") => format!("MOMO transfer from {}", person(rng)),
        (Kind::UssdIn, _) => format!("TRANSFER FROM {}", person(rng)),
        (Kind::Refund, _) => match rng.below(3) {
            0 => "REFUND of invoice overpayment".to_owned(),
            1 => "REVERSAL: failed NIP transfer".to_owned(),
            _ => format!("REFUND {} order {}", rng.pick(MERCHANTS), rng.digits(6)),
        },
        (Kind::PosPurchase, _) => format!("POS purchase {}", rng.pick(MERCHANTS)),
        (Kind::SupplierPayment, _) => format!(
            "NIP/{}/{}/supplier payment INV-{inv}",
            counterparty_bank(rng, currency),
            rng.pick(COMPANIES)
        ),
        (Kind::TransferOut, _) => match rng.below(3) {
            0 => format!(
                "NIP/{}/{}/school fees",
                counterparty_bank(rng, currency),
                person(rng)
            ),
            1 => format!("TRF TO {}/family upkeep", person(rng)),
            _ => "USSD transfer".to_owned(),
        },
        (Kind::Bill, _) => (*rng.pick(BILLERS)).to_owned(),
        (Kind::Airtime, _) => {
            let (network, prefix) = *rng.pick(NETWORKS);
            format!("AIRTIME/{network}/{prefix}{}", rng.digits(7))
        }
        (Kind::Payroll, _) => format!(
            "SALARY PAYMENT/{}/{} {}",
            person(rng),
            MONTHS[date.month0() as usize],
            date.year()
        ),
        (Kind::TaxRemittance, _) => match rng.below(2) {
            0 => format!("FIRS VAT REMITTANCE {}", MONTHS[date.month0() as usize]),
            _ => format!("LIRS PAYE REMITTANCE {}", MONTHS[date.month0() as usize]),
        },
        (Kind::Charge, _) => match variant {
            0 => "NIP CHARGE + VAT".to_owned(),
            1 => "SMS ALERT CHARGES".to_owned(),
            2 => "Stamp duty charge".to_owned(),
            _ => "ACCOUNT MAINTENANCE FEE".to_owned(),
        },
        (Kind::AtmWithdrawal, _) => format!("ATM WDL {}", rng.pick(ATM_LOCATIONS)),
    }
}

/// One account's transaction history, generated on demand (see the module docs).
#[derive(Debug, Clone)]
pub struct History {
    /// Root of transaction ids: derived from the account id, so ids are unique per account.
    id_key: u64,
    seed: u64,
    count: usize,
    start_ms: i64,
    step_ms: i64,
    currency: String,
    business: bool,
    opening: i64,
    /// Balance before transaction `k * CHUNK`.
    checkpoints: Vec<i64>,
    closing: i64,
}

/// Draws of one transaction, before its narration.
struct Draw {
    kind: Kind,
    /// Picks a sub-kind where the amount depends on it (which charge).
    variant: u64,
    amount: i64,
    rng: SplitMix64,
}

impl History {
    /// A history of `count` transactions spread over the `days` before `end`.
    pub fn new(
        account_id: &str,
        seed: u64,
        count: usize,
        end: DateTime<Utc>,
        days: u32,
        currency: &str,
        business: bool,
    ) -> Self {
        let span_ms = i64::from(days.max(1)) * 86_400_000;
        let step_ms = (span_ms / count.max(1) as i64).max(1);
        let mut ledger = History {
            id_key: hash_str(account_id),
            seed,
            count,
            start_ms: end.timestamp_millis() - step_ms * count as i64,
            step_ms,
            currency: currency.to_owned(),
            business,
            opening: 0,
            checkpoints: Vec::with_capacity(count / CHUNK + 1),
            closing: 0,
        };
        // One pass of amount draws: checkpoints, and an opening balance high enough that the
        // running balance never goes below a small cushion.
        let mut running: i64 = 0;
        let mut lowest: i64 = 0;
        let mut offsets = Vec::with_capacity(count / CHUNK + 1);
        for i in 0..count {
            if i % CHUNK == 0 {
                offsets.push(running);
            }
            running += ledger.signed_amount(i);
            lowest = lowest.min(running);
        }
        let mut cushion = SplitMix64::new(mix(seed, 0x0be4));
        let base = ((cushion.log_uniform(5_000_000, 200_000_000) as f64) * fx(currency)) as i64;
        ledger.opening = base - lowest;
        ledger.checkpoints = offsets.into_iter().map(|o| ledger.opening + o).collect();
        ledger.closing = ledger.opening + running;
        ledger
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn currency(&self) -> &str {
        &self.currency
    }

    /// Balance after the newest generated transaction.
    pub fn closing_balance(&self) -> i64 {
        self.closing
    }

    /// Date of transaction `i`; strictly increasing in `i`.
    pub fn date(&self, i: usize) -> DateTime<Utc> {
        let jitter = (mix(self.seed ^ 0xda7e, i as u64) % self.step_ms as u64) as i64;
        let ms = self.start_ms + self.step_ms * i as i64 + jitter;
        DateTime::from_timestamp_millis(ms).unwrap_or_default()
    }

    /// The newest generated date (the history's end), if any.
    pub fn newest_date(&self) -> Option<DateTime<Utc>> {
        self.count.checked_sub(1).map(|i| self.date(i))
    }

    /// Indices whose dates fall in `[from, until)`, as a range (dates are sorted).
    pub fn index_range(
        &self,
        from: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> std::ops::Range<usize> {
        let lo = from.map_or(0, |f| partition(self.count, |i| self.date(i) < f));
        let hi = until.map_or(self.count, |u| partition(self.count, |i| self.date(i) < u));
        lo..hi.max(lo)
    }

    fn draw(&self, i: usize) -> Draw {
        let mut rng = SplitMix64::new(mix(self.seed, i as u64));
        let total: u32 = KINDS
            .iter()
            .map(|(_, b, p)| if self.business { *b } else { *p })
            .sum();
        let mut roll = rng.below(u64::from(total)) as u32;
        let mut kind = Kind::Charge;
        for (k, b, p) in KINDS {
            let w = if self.business { *b } else { *p };
            if roll < w {
                kind = *k;
                break;
            }
            roll -= w;
        }
        let variant = rng.below(4);
        let (lo, hi) = kind.range();
        let factor = fx(&self.currency);
        let naira = match (kind, variant) {
            // Bank charges come in the fixed sizes banks charge: NIP fee + VAT by band, SMS
            // alerts, the ₦50 stamp duty, a maintenance fee.
            (Kind::Charge, 0) => *rng.pick(&[1_075i64, 2_688, 5_375]),
            (Kind::Charge, 1) => *rng.pick(&[400i64, 600, 800]),
            (Kind::Charge, 2) => 5_000,
            (Kind::Charge, _) => *rng.pick(&[10_000i64, 25_000, 50_000]),
            // Cash comes out in round thousands.
            (Kind::AtmWithdrawal, _) => rng.log_uniform(lo, hi) / 100_000 * 100_000,
            _ => rng.log_uniform(lo, hi),
        };
        let amount = ((naira as f64 * factor) as i64).max(if factor < 1.0 { 50 } else { 100 });
        Draw {
            kind,
            variant,
            amount,
            rng,
        }
    }

    fn signed_amount(&self, i: usize) -> i64 {
        let d = self.draw(i);
        match d.kind.direction() {
            TransactionType::Credit => d.amount,
            TransactionType::Debit => -d.amount,
        }
    }

    /// Direction of transaction `i`, without building its narration (a cheap filter).
    pub fn kind(&self, i: usize) -> TransactionType {
        self.draw(i).kind.direction()
    }

    /// Narration of transaction `i`, without its balance (a cheaper filter than the whole).
    pub fn narration(&self, i: usize) -> String {
        let mut d = self.draw(i);
        narration(d.kind, d.variant, &mut d.rng, &self.currency, self.date(i))
    }

    pub fn transaction_id(&self, i: usize) -> String {
        hex_id(self.id_key, i as u64)
    }

    /// Balance after transaction `i`.
    pub fn balance_after(&self, i: usize) -> i64 {
        let chunk = i / CHUNK;
        let base = self.checkpoints.get(chunk).copied().unwrap_or(self.opening);
        base + (chunk * CHUNK..=i).map(|j| self.signed_amount(j)).sum::<i64>()
    }

    /// Transaction `i` in full.
    pub fn transaction(&self, i: usize) -> MonoTransaction {
        let mut tx = self.transaction_without_balance(i);
        tx.balance = Some(self.balance_after(i));
        tx
    }

    /// Transactions `range` in order, sharing the balance walk (cheaper than one by one).
    pub fn transactions(&self, range: std::ops::Range<usize>) -> Vec<MonoTransaction> {
        let range = range.start.min(self.count)..range.end.min(self.count);
        let mut out = Vec::with_capacity(range.len());
        let mut balance = None;
        for i in range {
            let mut tx = self.transaction_without_balance(i);
            let b = match balance {
                Some(prev) => prev + signed(&tx),
                None => self.balance_after(i),
            };
            tx.balance = Some(b);
            balance = Some(b);
            out.push(tx);
        }
        out
    }

    fn transaction_without_balance(&self, i: usize) -> MonoTransaction {
        let mut d = self.draw(i);
        let date = self.date(i);
        MonoTransaction {
            id: self.transaction_id(i),
            narration: narration(d.kind, d.variant, &mut d.rng, &self.currency, date),
            amount: d.amount,
            kind: d.kind.direction(),
            balance: None,
            date,
            category: Some(d.kind.category().to_owned()),
            currency: Some(self.currency.clone()),
            reference: None,
            description: None,
            counterparty: None,
        }
    }

    /// The index of the generated transaction with `id`.
    pub fn find(&self, id: &str) -> Option<usize> {
        (0..self.count).find(|&i| self.transaction_id(i) == id)
    }

    /// A fresh transaction in this ledger's style (for `count` additions), dated `date`.
    pub fn fresh(&self, salt: u64, date: DateTime<Utc>) -> (TransactionType, i64, String, String) {
        let i = (self.count as u64).wrapping_add(salt) as usize;
        let mut d = self.draw(i);
        let text = narration(d.kind, d.variant, &mut d.rng, &self.currency, date);
        (d.kind.direction(), d.amount, text, d.kind.category().to_owned())
    }
}

/// Signed amount of a transaction: credits add, debits take away.
pub fn signed(tx: &MonoTransaction) -> i64 {
    match tx.kind {
        TransactionType::Credit => tx.amount,
        TransactionType::Debit => -tx.amount,
    }
}

/// The first index in `0..n` where `pred` turns false (`pred` true then false).
fn partition(n: usize, pred: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0usize, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if pred(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn ledger(count: usize) -> History {
        let end = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
        History::new("acc_test", 7, count, end, 365, "NGN", true)
    }

    #[test]
    fn deterministic_sorted_and_consistent() {
        let a = ledger(3_000);
        let b = ledger(3_000);
        assert_eq!(a.transactions(0..3_000), b.transactions(0..3_000));
        let all = a.transactions(0..3_000);
        for w in all.windows(2) {
            assert!(w[0].date < w[1].date);
            assert_eq!(w[1].balance.unwrap(), w[0].balance.unwrap() + signed(&w[1]));
        }
        assert!(all.iter().all(|t| t.balance.unwrap() >= 0 && t.amount > 0));
        assert_eq!(all.last().unwrap().balance, Some(a.closing_balance()));
        // Random access agrees with the sequential walk.
        for i in [0, 1, 255, 256, 257, 1_000, 2_999] {
            assert_eq!(a.transaction(i), all[i]);
        }
        let ids: std::collections::HashSet<_> = all.iter().map(|t| t.id.clone()).collect();
        assert_eq!(ids.len(), 3_000);
        assert_eq!(a.find(&all[1234].id), Some(1234));
        let days = (all[2_999].date - all[0].date).num_days();
        assert!((350..=366).contains(&days), "{days}");
    }

    #[test]
    fn index_range_is_a_date_window() {
        let l = ledger(1_000);
        let from = l.date(100);
        let until = l.date(200);
        assert_eq!(l.index_range(Some(from), Some(until)), 100..200);
        assert_eq!(l.index_range(None, None), 0..1_000);
        assert_eq!(l.index_range(Some(until), Some(from)), 200..200);
    }

    #[test]
    fn narrations_look_nigerian_and_mix_business_and_personal() {
        let end = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
        let biz = History::new("b", 1, 2_000, end, 365, "NGN", true);
        let personal = History::new("p", 2, 2_000, end, 365, "NGN", false);
        let text: Vec<String> = (0..2_000)
            .map(|i| biz.narration(i))
            .chain((0..2_000).map(|i| personal.narration(i)))
            .collect();
        for needle in [
            "NIP/",
            "TRF FROM",
            "POS purchase",
            "gift from mum",
            "school fees",
            "family upkeep",
            "USSD transfer",
            "REFUND of invoice overpayment",
            "pocket money",
        ] {
            assert!(text.iter().any(|t| t.contains(needle)), "no `{needle}`");
        }
        let credits = (0..2_000)
            .filter(|&i| biz.kind(i) == TransactionType::Credit)
            .count();
        assert!((500..1_500).contains(&credits), "{credits}");
    }
}

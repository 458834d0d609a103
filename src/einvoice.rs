//! The figures of an e-invoice and the payload MBS takes for it: VAT backed out of a
//! VAT-inclusive bank amount (`split_vat`, exact integer arithmetic in kobo), a draft's one
//! service line, tax and totals (`draft_figures`), the invoice kind and due date, and the
//! invoice of MBS's `validate` and `sign` built from a resolved [`EInvoiceDoc`]
//! (`mbs_payload`), naming every missing field at once. Pure: no I/O, no database.

use chrono::{Days, NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::FieldErrors;
use crate::party::{is_email, is_telephone, Buyer, Supplier};
use crate::tenancy::Tin;

/// A tax rate in hundredths of a percent (basis points): `750` is 7.5 %. Between 0 and
/// 100 %, as MBS's `tax-categories` list can write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Percent(i64);

impl Percent {
    pub const ZERO: Percent = Percent(0);
    /// The standard VAT rate, 7.5 %.
    pub const STANDARD_VAT: Percent = Percent(750);
    const MAX_BASIS_POINTS: i64 = 10_000;

    /// Basis points between 0 and 10000 (100 %).
    pub fn from_basis_points(bp: i64) -> Option<Percent> {
        (0..=Self::MAX_BASIS_POINTS).contains(&bp).then_some(Percent(bp))
    }

    pub fn basis_points(self) -> i64 {
        self.0
    }

    /// A percent as MBS's `tax-categories` list writes it: digits with at most two decimals
    /// (`"7.5"`, `"0.0"`, `"10"`), surrounding spaces ignored. Anything else, such as
    /// `"Not Available"` or `""`, is no percent.
    pub fn parse(s: &str) -> Option<Percent> {
        let s = s.trim();
        let (whole, fraction) = match s.split_once('.') {
            Some((w, f)) => (w, f),
            None => (s, ""),
        };
        let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty()
            || whole.len() > 3
            || !digits(whole)
            || fraction.len() > 2
            || !digits(fraction)
            || (s.contains('.') && fraction.is_empty())
        {
            return None;
        }
        let whole: i64 = whole.parse().ok()?;
        let hundredths: i64 = format!("{fraction:0<2}").parse().ok()?;
        Percent::from_basis_points(whole * 100 + hundredths)
    }

    /// The percent as MBS's `tax_category.percent` number: exact, since basis points over a
    /// hundred is the nearest double to the two-decimal value and prints as it (750 → 7.5).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / 100.0
    }
}

/// As MBS writes a percent: at least one decimal, no trailing zeros beyond it (`7.5`,
/// `0.0`, `10.0`, `12.34`).
impl std::fmt::Display for Percent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, hundredths) = (self.0 / 100, self.0 % 100);
        if hundredths % 10 == 0 {
            write!(f, "{whole}.{}", hundredths / 10)
        } else {
            write!(f, "{whole}.{hundredths:02}")
        }
    }
}

/// A VAT-inclusive amount split into its net part and its VAT, in kobo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaxSplit {
    pub tax_exclusive: i64,
    pub tax_amount: i64,
}

/// VAT backed out of a VAT-inclusive `amount` (kobo): `taxExclusive = round(amount × 100 /
/// (100 + p))`, half away from zero, and `taxAmount = amount − taxExclusive`, so the two
/// always add up to `amount`. Integer arithmetic in i128: exact for every i64 amount.
pub fn split_vat(amount: i64, percent: Percent) -> TaxSplit {
    let numerator = i128::from(amount) * 10_000;
    let denominator = 10_000 + i128::from(percent.0);
    // round(n / d) half away from zero, d > 0: floor((2|n| + d) / 2d) with n's sign.
    let magnitude = (2 * numerator.abs() + denominator) / (2 * denominator);
    let rounded = if numerator < 0 { -magnitude } else { magnitude };
    // |rounded| ≤ |amount|, so it fits an i64.
    let tax_exclusive = rounded as i64;
    TaxSplit {
        tax_exclusive,
        tax_amount: amount - tax_exclusive,
    }
}

/// Tax categories that carry no VAT whatever percent their list entry shows.
pub fn is_untaxed(tax_category: &str) -> bool {
    matches!(tax_category, "ZERO_VAT" | "EXEMPTED")
}

/// One line of an invoice: `{description, serviceCode, serviceCategory, quantity, unitPrice,
/// lineAmount}`, money in kobo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Line {
    pub description: String,
    pub service_code: String,
    pub service_category: Option<String>,
    pub quantity: i64,
    pub unit_price: i64,
    pub line_amount: i64,
}

/// The invoice's VAT: `{category, percent, taxableAmount, taxAmount}`, `percent` as MBS
/// writes it (`"7.5"`), money in kobo.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Tax {
    pub category: String,
    pub percent: String,
    pub taxable_amount: i64,
    pub tax_amount: i64,
}

/// `{lineExtension, taxExclusive, taxInclusive, payable}` in kobo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub line_extension: i64,
    pub tax_exclusive: i64,
    pub tax_inclusive: i64,
    pub payable: i64,
}

/// An invoice's lines, VAT and totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Figures {
    pub lines: Vec<Line>,
    pub tax: Tax,
    pub totals: Totals,
}

/// The figures of a draft from a bank amount (kobo, VAT included): one service line for the
/// whole net amount (quantity 1, unit price = line amount = tax exclusive), the VAT backed
/// out with `percent` (none for `ZERO_VAT` and `EXEMPTED`, whose percent is recorded as 0),
/// and totals with `taxInclusive = payable = amount`.
pub fn draft_figures(
    amount: i64,
    description: String,
    service_code: String,
    service_category: Option<String>,
    tax_category: &str,
    percent: Percent,
) -> Figures {
    let percent = if is_untaxed(tax_category) {
        Percent::ZERO
    } else {
        percent
    };
    let split = split_vat(amount, percent);
    Figures {
        lines: vec![Line {
            description,
            service_code,
            service_category,
            quantity: 1,
            unit_price: split.tax_exclusive,
            line_amount: split.tax_exclusive,
        }],
        tax: Tax {
            category: tax_category.to_string(),
            percent: percent.to_string(),
            taxable_amount: split.tax_exclusive,
            tax_amount: split.tax_amount,
        },
        totals: Totals {
            line_extension: split.tax_exclusive,
            tax_exclusive: split.tax_exclusive,
            tax_inclusive: amount,
            payable: amount,
        },
    }
}

/// B2B when the buyer has a TIN, else B2C, unless the invoice's kind was `set` at confirm.
pub fn invoice_kind(buyer: &Buyer, set: Option<mbs::InvoiceKind>) -> mbs::InvoiceKind {
    set.unwrap_or(if buyer.tin.as_deref().is_some_and(|t| !t.trim().is_empty()) {
        mbs::InvoiceKind::B2B
    } else {
        mbs::InvoiceKind::B2C
    })
}

/// Three upper-case ASCII letters, the shape of an ISO 4217 alphabetic code.
pub fn is_currency_code(s: &str) -> bool {
    s.len() == 3 && s.bytes().all(|b| b.is_ascii_uppercase())
}

/// The due date `payment_terms_days` after the issue date (0: the issue date itself).
pub fn due_date(issue: NaiveDate, payment_terms_days: u32) -> NaiveDate {
    issue
        .checked_add_days(Days::new(payment_terms_days.into()))
        .unwrap_or(NaiveDate::MAX)
}

/// The invoice a credit note credits (`{irn, issueDate}` in the API, MBS's
/// `billing_reference`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingReference {
    pub irn: String,
    pub issue_date: NaiveDate,
}

/// Everything MBS's invoice needs, already resolved by the caller: the IRN fixed, the
/// dates worked out, the supplier a snapshot of the organization profile, the buyer as
/// confirmed, each line's service category resolved from MBS's `services-codes`.
#[derive(Debug, Clone, PartialEq)]
pub struct EInvoiceDoc {
    /// The UUID MBS issued the supplier's business.
    pub business_id: Uuid,
    pub irn: String,
    pub issue_date: NaiveDate,
    pub issue_time: NaiveTime,
    pub due_date: NaiveDate,
    pub tax_point_date: NaiveDate,
    /// `381` an invoice, `380` a credit note.
    pub type_code: String,
    pub invoice_kind: mbs::InvoiceKind,
    pub currency: String,
    pub note: Option<String>,
    /// The credited invoice: required on a credit note.
    pub billing_reference: Option<BillingReference>,
    pub supplier: Supplier,
    pub buyer: Buyer,
    pub figures: Figures,
}

/// The type code of a credit note (MBS's `invoice-types`).
pub const CREDIT_NOTE_TYPE_CODE: &str = "380";
/// The type code of a commercial invoice.
pub const INVOICE_TYPE_CODE: &str = "381";

/// An item name MBS shows in lists: the description's first line, at most this many
/// characters (cut at a word when one ends near the limit).
const ITEM_NAME_MAX_CHARS: usize = 100;

/// The invoice of MBS's `validate` and `sign` for `doc`, or every field MBS requires that
/// is missing or malformed, named as this API names it (`supplier.email`, `lines[0].serviceCode`).
pub fn mbs_payload(doc: &EInvoiceDoc) -> Result<mbs::Invoice, FieldErrors> {
    let mut fields = FieldErrors::new();

    if doc.business_id.is_nil() {
        fields.insert(
            "supplier.businessId".into(),
            "is missing: set the organization profile's businessId (the UUID MBS issued)".into(),
        );
    }
    if doc.irn.trim().is_empty() || doc.irn.len() > 50 {
        fields.insert("irn".into(), "must be 1 to 50 characters".into());
    }
    if doc.type_code.trim().is_empty() {
        fields.insert("typeCode".into(), "is missing".into());
    }
    if !is_currency_code(&doc.currency) {
        fields.insert(
            "currency".into(),
            "must be an ISO 4217 code (three upper-case letters)".into(),
        );
    }
    if doc.type_code == CREDIT_NOTE_TYPE_CODE && doc.billing_reference.is_none() {
        fields.insert(
            "creditedInvoiceId".into(),
            "a credit note must name the signed invoice it credits".into(),
        );
    }

    let supplier = supplier_party(&doc.supplier, &mut fields);
    let customer = customer_party(doc, &mut fields);
    let lines = invoice_lines(&doc.figures.lines, &mut fields);
    let tax_total = tax_total(&doc.figures.tax, &mut fields);

    let totals = &doc.figures.totals;
    let line_sum: i64 = doc.figures.lines.iter().map(|l| l.line_amount).sum();
    if totals.line_extension != line_sum {
        fields.insert(
            "totals.lineExtension".into(),
            "must equal the sum of the lines' amounts".into(),
        );
    }

    let (Some(supplier), Some(customer), Some(invoice_line), Some(tax_total)) =
        (supplier, customer, lines, tax_total)
    else {
        debug_assert!(!fields.is_empty(), "every missing part names its field");
        return Err(fields);
    };
    if !fields.is_empty() {
        return Err(fields);
    }
    Ok(mbs::Invoice {
        business_id: doc.business_id.to_string(),
        irn: doc.irn.clone(),
        issue_date: doc.issue_date,
        issue_time: doc.issue_time.format("%H:%M:%S").to_string(),
        due_date: doc.due_date,
        tax_point_date: doc.tax_point_date,
        invoice_type_code: doc.type_code.clone(),
        invoice_kind: doc.invoice_kind,
        payment_status: mbs::PaymentStatus::Pending,
        document_currency_code: doc.currency.clone(),
        tax_currency_code: doc.currency.clone(),
        note: doc.note.clone().filter(|n| !n.trim().is_empty()),
        billing_reference: doc
            .billing_reference
            .iter()
            .map(|r| mbs::BillingReference {
                irn: r.irn.clone(),
                issue_date: r.issue_date,
            })
            .collect(),
        payment_means: Vec::new(),
        accounting_supplier_party: supplier,
        accounting_customer_party: customer,
        tax_total,
        legal_monetary_total: mbs::LegalMonetaryTotal {
            line_extension_amount: mbs::Amount(totals.line_extension),
            tax_exclusive_amount: mbs::Amount(totals.tax_exclusive),
            tax_inclusive_amount: mbs::Amount(totals.tax_inclusive),
            payable_amount: mbs::Amount(totals.payable),
        },
        invoice_line,
    })
}

/// A text MBS requires: present and not blank.
fn given(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A complete party or the problems of each member, under `prefix` (`supplier`, `buyer`).
struct PartyParts<'a> {
    name: &'a str,
    tin: Option<&'a str>,
    email: Option<&'a str>,
    telephone: Option<&'a str>,
    address: Option<&'a crate::party::Address>,
    description: Option<&'a str>,
}

fn party(prefix: &str, parts: PartyParts<'_>, fields: &mut FieldErrors) -> Option<mbs::Party> {
    let before = fields.len();
    let mut problem = |member: &str, text: &str| {
        fields.insert(format!("{prefix}.{member}"), text.to_string());
    };
    let name = given(Some(parts.name));
    if name.is_none() {
        problem("name", "is missing");
    }
    let tin = given(parts.tin);
    match tin {
        None => problem("tin", "is missing"),
        Some(t) if Tin::parse(t).is_err() => problem("tin", Tin::RULE),
        Some(_) => {}
    }
    let email = given(parts.email);
    match email {
        None => problem("email", "is missing"),
        Some(e) if !is_email(e) => problem("email", "must be an email address"),
        Some(_) => {}
    }
    let telephone = given(parts.telephone);
    match telephone {
        None => problem("telephone", "is missing"),
        Some(t) if !is_telephone(t) => problem("telephone", "must start with + and hold 7 to 15 digits"),
        Some(_) => {}
    }
    match parts.address {
        None => problem("address", "is missing"),
        Some(a) => a.problems(&format!("{prefix}.address"), fields),
    }
    if fields.len() > before {
        return None;
    }
    Some(mbs::Party {
        party_name: name?.to_string(),
        tin: tin?.to_string(),
        email: email?.to_string(),
        telephone: telephone?.to_string(),
        business_description: given(parts.description).map(str::to_string),
        postal_address: parts.address?.to_mbs(),
    })
}

fn supplier_party(supplier: &Supplier, fields: &mut FieldErrors) -> Option<mbs::Party> {
    party(
        "supplier",
        PartyParts {
            name: &supplier.name,
            tin: supplier.tin.as_deref(),
            email: supplier.email.as_deref(),
            telephone: supplier.telephone.as_deref(),
            address: supplier.address.as_ref(),
            description: supplier.description.as_deref(),
        },
        fields,
    )
}

/// The customer party, `Some(None)` when it is left out (B2C with a buyer without TIN); the
/// buyer's name is required either way.
fn customer_party(doc: &EInvoiceDoc, fields: &mut FieldErrors) -> Option<Option<mbs::Party>> {
    let buyer = &doc.buyer;
    let without_tin = given(buyer.tin.as_deref()).is_none();
    if doc.invoice_kind == mbs::InvoiceKind::B2C && without_tin {
        if given(Some(&buyer.name)).is_none() {
            fields.insert("buyer.name".into(), "is missing".into());
            return None;
        }
        return Some(None);
    }
    party(
        "buyer",
        PartyParts {
            name: &buyer.name,
            tin: buyer.tin.as_deref(),
            email: buyer.email.as_deref(),
            telephone: buyer.telephone.as_deref(),
            address: buyer.address.as_ref(),
            description: None,
        },
        fields,
    )
    .map(Some)
}

fn invoice_lines(lines: &[Line], fields: &mut FieldErrors) -> Option<Vec<mbs::InvoiceLine>> {
    if lines.is_empty() {
        fields.insert("lines".into(), "an invoice needs at least one line".into());
        return None;
    }
    let before = fields.len();
    let mut out = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let mut problem = |member: &str, text: &str| {
            fields.insert(format!("lines[{i}].{member}"), text.to_string());
        };
        let code = given(Some(&line.service_code));
        if code.is_none() {
            problem(
                "serviceCode",
                "is missing: confirm the invoice with a serviceCode",
            );
        }
        let category = given(line.service_category.as_deref());
        if category.is_none() {
            problem(
                "serviceCategory",
                "is missing: the service code is not one of MBS's",
            );
        }
        let quantity = u32::try_from(line.quantity).ok().filter(|q| *q > 0);
        if quantity.is_none() {
            problem("quantity", "must be a whole number above zero");
        }
        let description = line.description.trim();
        // A line without a description is named after its service.
        let description = if description.is_empty() {
            category.unwrap_or_default()
        } else {
            description
        };
        if let (Some(code), Some(category), Some(quantity)) = (code, category, quantity) {
            out.push(mbs::InvoiceLine {
                isic_code: Some(code.to_string()),
                service_category: Some(category.to_string()),
                hsn_code: None,
                product_category: None,
                invoiced_quantity: quantity,
                line_extension_amount: mbs::Amount(line.line_amount),
                item: mbs::Item {
                    name: item_name(description),
                    description: description.to_string(),
                    sellers_item_identification: code.to_string(),
                },
                price: mbs::Price {
                    price_amount: mbs::Amount(line.unit_price),
                    base_quantity: 1,
                    price_unit: "EA".to_string(),
                },
                discount_rate: None,
                discount_amount: None,
                fee_rate: None,
                fee_amount: None,
            });
        }
    }
    (fields.len() == before).then_some(out)
}

/// An item's name: the description's first line, cut to [`ITEM_NAME_MAX_CHARS`] characters,
/// at the last space in the final fifth when there is one, with an ellipsis when cut.
fn item_name(description: &str) -> String {
    let first_line = description.lines().next().unwrap_or_default().trim();
    if first_line.chars().count() <= ITEM_NAME_MAX_CHARS {
        return first_line.to_string();
    }
    let keep = ITEM_NAME_MAX_CHARS - 1;
    let cut: String = first_line.chars().take(keep).collect();
    let at_word = cut
        .rfind(' ')
        .filter(|&i| cut[..i].chars().count() >= keep * 4 / 5)
        .map_or(cut.as_str(), |i| &cut[..i]);
    format!("{}…", at_word.trim_end())
}

fn tax_total(tax: &Tax, fields: &mut FieldErrors) -> Option<Vec<mbs::TaxTotal>> {
    let before = fields.len();
    if given(Some(&tax.category)).is_none() {
        fields.insert(
            "tax.category".into(),
            "is missing: confirm the invoice with a taxCategory".into(),
        );
    }
    let percent = Percent::parse(&tax.percent);
    if percent.is_none() {
        fields.insert(
            "tax.percent".into(),
            "must be a percent with at most two decimals between 0 and 100".into(),
        );
    }
    if fields.len() > before {
        return None;
    }
    Some(vec![mbs::TaxTotal {
        tax_amount: mbs::Amount(tax.tax_amount),
        tax_subtotal: vec![mbs::TaxSubtotal {
            taxable_amount: mbs::Amount(tax.taxable_amount),
            tax_amount: mbs::Amount(tax.tax_amount),
            tax_category: mbs::TaxCategory {
                id: tax.category.trim().to_string(),
                percent: percent?.as_f64(),
            },
        }],
    }])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::party::Address;
    use proptest::prelude::*;
    use serde_json::Value;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn address(street: &str, lga: &str) -> Address {
        Address {
            street: street.into(),
            city: "Lagos".into(),
            postal_zone: Some("100001".into()),
            country: "NG".into(),
            state: Some("NG-LA".into()),
            lga: Some(lga.into()),
        }
    }

    fn supplier() -> Supplier {
        Supplier {
            name: "Acme Ltd".into(),
            tin: Some("12345678-0001".into()),
            email: Some("billing@acme.ng".into()),
            telephone: Some("+2348012345678".into()),
            address: Some(address("12 Allen Avenue", "NG-LA-IKJ")),
            business_id: Some(business_id()),
            service_id: "AB12CD34".into(),
            description: Some("Software and consulting".into()),
        }
    }

    fn business_id() -> Uuid {
        Uuid::parse_str("9f6c2b1e-4d3a-4c5b-8e7f-0a1b2c3d4e5f").unwrap()
    }

    fn b2b_buyer() -> Buyer {
        Buyer {
            id: None,
            name: "Bola Stores Ltd".into(),
            tin: Some("87654321-0001".into()),
            email: Some("accounts@bolastores.ng".into()),
            telephone: Some("+2348098765432".into()),
            address: Some(address("4 Broad Street", "NG-LA-LAI")),
        }
    }

    /// An invoice of `amount` kobo to `buyer`, figures drafted with `tax_category` at `percent`.
    fn doc(number: &str, amount: i64, buyer: Buyer, tax_category: &str, percent: Percent) -> EInvoiceDoc {
        let issue = date(2026, 3, 9);
        EInvoiceDoc {
            business_id: business_id(),
            irn: format!("{number}-AB12CD34-20260309"),
            issue_date: issue,
            issue_time: NaiveTime::from_hms_opt(14, 5, 9).unwrap(),
            due_date: due_date(issue, 30),
            tax_point_date: issue,
            type_code: INVOICE_TYPE_CODE.into(),
            invoice_kind: invoice_kind(&buyer, None),
            currency: "NGN".into(),
            note: None,
            billing_reference: None,
            supplier: supplier(),
            buyer,
            figures: draft_figures(
                amount,
                "Website maintenance, March".into(),
                "62.01".into(),
                Some("Computer programming activities".into()),
                tax_category,
                percent,
            ),
        }
    }

    fn fixtures() -> Vec<(&'static str, EInvoiceDoc)> {
        let b2b = doc(
            "INV000042",
            107_527,
            b2b_buyer(),
            "STANDARD_VAT",
            Percent::STANDARD_VAT,
        );
        let walk_in = Buyer {
            name: "Chidi Okafor".into(),
            ..Buyer::default()
        };
        let mut b2c = doc("INV000043", 1_075, walk_in, "STANDARD_VAT", Percent::STANDARD_VAT);
        b2c.note = Some("Paid by transfer".into());
        let mut credit = doc(
            "CN000007",
            10_750,
            b2b_buyer(),
            "STANDARD_VAT",
            Percent::STANDARD_VAT,
        );
        credit.type_code = CREDIT_NOTE_TYPE_CODE.into();
        credit.due_date = credit.issue_date;
        credit.billing_reference = Some(BillingReference {
            irn: "INV000042-AB12CD34-20260309".into(),
            issue_date: date(2026, 3, 9),
        });
        let zero = doc(
            "INV000044",
            500_000,
            b2b_buyer(),
            "ZERO_VAT",
            Percent::parse("0.0").unwrap(),
        );
        // The exempted category's listed percent is ignored: no VAT whatever it says.
        let exempted = doc(
            "INV000045",
            99_999,
            b2b_buyer(),
            "EXEMPTED",
            Percent::STANDARD_VAT,
        );
        vec![
            ("b2b_invoice", b2b),
            ("b2c_no_tin", b2c),
            ("credit_note", credit),
            ("zero_vat", zero),
            ("exempted", exempted),
        ]
    }

    /// The MBS payload of each fixed document equals its checked-in JSON in
    /// `tests/fixtures/mbs_payloads/`. After an intended change, rewrite the files with
    /// `TPM_BLESS=1 SQLX_OFFLINE=true cargo test --lib einvoice` and review the diff.
    #[test]
    fn payloads_match_the_golden_files() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mbs_payloads");
        let bless = std::env::var_os("TPM_BLESS").is_some_and(|v| v == "1");
        for (name, doc) in fixtures() {
            let payload = serde_json::to_value(mbs_payload(&doc).unwrap()).unwrap();
            let path = dir.join(format!("{name}.json"));
            if bless {
                std::fs::create_dir_all(&dir).unwrap();
                let text = serde_json::to_string_pretty(&payload).unwrap() + "\n";
                std::fs::write(&path, text).unwrap();
                continue;
            }
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{}: {e} (TPM_BLESS=1 writes it)", path.display()));
            let golden: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                payload,
                golden,
                "{name}: the payload differs from {}",
                path.display()
            );
        }
    }

    #[test]
    fn golden_payloads_say_what_mbs_reads() {
        let payloads: Vec<(&str, Value)> = fixtures()
            .into_iter()
            .map(|(name, doc)| (name, serde_json::to_value(mbs_payload(&doc).unwrap()).unwrap()))
            .collect();
        let get = |name: &str| payloads.iter().find(|(n, _)| *n == name).unwrap().1.clone();

        let b2b = get("b2b_invoice");
        assert_eq!(b2b["invoice_kind"], "B2B");
        assert_eq!(b2b["payment_status"], "PENDING");
        assert_eq!(b2b["issue_time"], "14:05:09");
        assert_eq!(b2b["due_date"], "2026-04-08");
        assert_eq!(b2b["accounting_customer_party"]["tin"], "87654321-0001");
        // 1075.27 naira: 1000.25 net (107527 × 100 / 107.5 = 100025.1…), 75.02 VAT.
        assert_eq!(
            b2b["legal_monetary_total"]["payable_amount"].to_string(),
            "1075.27"
        );
        assert_eq!(
            b2b["legal_monetary_total"]["tax_exclusive_amount"].to_string(),
            "1000.25"
        );
        assert_eq!(b2b["tax_total"][0]["tax_amount"].to_string(), "75.02");
        assert_eq!(
            b2b["tax_total"][0]["tax_subtotal"][0]["tax_category"]["percent"].to_string(),
            "7.5"
        );
        assert_eq!(b2b["invoice_line"][0]["price"]["price_unit"], "EA");

        let b2c = get("b2c_no_tin");
        assert_eq!(b2c["invoice_kind"], "B2C");
        assert!(b2c.get("accounting_customer_party").is_none());
        assert_eq!(
            b2c["legal_monetary_total"]["tax_inclusive_amount"].to_string(),
            "10.75"
        );
        assert_eq!(
            b2c["legal_monetary_total"]["line_extension_amount"].to_string(),
            "10.0"
        );
        assert_eq!(b2c["tax_total"][0]["tax_amount"].to_string(), "0.75");

        let credit = get("credit_note");
        assert_eq!(credit["invoice_type_code"], "380");
        assert_eq!(
            credit["billing_reference"],
            serde_json::json!([{"irn": "INV000042-AB12CD34-20260309", "issue_date": "2026-03-09"}])
        );

        for name in ["zero_vat", "exempted"] {
            let p = get(name);
            let total = &p["legal_monetary_total"];
            let subtotal = &p["tax_total"][0]["tax_subtotal"][0];
            assert_eq!(p["tax_total"][0]["tax_amount"].to_string(), "0.0", "{name}");
            assert_eq!(subtotal["tax_category"]["percent"].to_string(), "0.0", "{name}");
            assert_eq!(subtotal["taxable_amount"], total["payable_amount"], "{name}");
            assert_eq!(total["tax_exclusive_amount"], total["payable_amount"], "{name}");
        }
    }

    #[test]
    fn vat_is_backed_out_of_bank_amounts() {
        let vat = Percent::STANDARD_VAT;
        // (amount, percent, tax exclusive, tax), worked out by hand: amount × 10000 / 10750.
        let table = [
            (1, vat, 1, 0),                                            // 0.93 → 1
            (2, vat, 2, 0),                                            // 1.86 → 2
            (15, vat, 14, 1),                                          // 13.95 → 14
            (1_075, vat, 1_000, 75),                                   // 10.75 naira, exactly 10 + 0.75
            (10_750, vat, 10_000, 750),                                // 107.5 naira, exactly 100 + 7.5
            (107_500, vat, 100_000, 7_500),                            // 1,075 naira, exactly 1,000 + 75
            (107_527, vat, 100_025, 7_502),                            // 100025.11 → 100025
            (99_999, vat, 93_022, 6_977),                              // 93022.33 → 93022
            (123_456_789, vat, 114_843_525, 8_613_264),                // 114843524.65 → 114843525
            (1_000_000_000_000, vat, 930_232_558_140, 69_767_441_860), // …139.53 → …140
            (500_000, Percent::ZERO, 500_000, 0),
            // Ties at 100 %: amount / 2, halves rounded away from zero.
            (1, Percent(10_000), 1, 0),
            (3, Percent(10_000), 2, 1),
            (5, Percent(10_000), 3, 2),
            (4, Percent(10_000), 2, 2),
            (-3, Percent(10_000), -2, -1),
        ];
        for (amount, percent, tax_exclusive, tax_amount) in table {
            assert_eq!(
                split_vat(amount, percent),
                TaxSplit {
                    tax_exclusive,
                    tax_amount
                },
                "{amount} kobo at {percent}"
            );
        }
        assert_eq!(split_vat(i64::MAX, Percent::ZERO).tax_exclusive, i64::MAX);
        assert_eq!(
            split_vat(i64::MAX, vat).tax_exclusive + split_vat(i64::MAX, vat).tax_amount,
            i64::MAX
        );
    }

    #[test]
    fn draft_figures_carry_one_line_for_the_net_amount() {
        let f = draft_figures(
            10_750,
            "Fees".into(),
            "62.01".into(),
            None,
            "STANDARD_VAT",
            Percent(750),
        );
        assert_eq!(
            f.lines,
            [Line {
                description: "Fees".into(),
                service_code: "62.01".into(),
                service_category: None,
                quantity: 1,
                unit_price: 10_000,
                line_amount: 10_000,
            }]
        );
        assert_eq!(
            f.tax,
            Tax {
                category: "STANDARD_VAT".into(),
                percent: "7.5".into(),
                taxable_amount: 10_000,
                tax_amount: 750,
            }
        );
        assert_eq!(
            f.totals,
            Totals {
                line_extension: 10_000,
                tax_exclusive: 10_000,
                tax_inclusive: 10_750,
                payable: 10_750,
            }
        );
        let json = serde_json::to_value(&f).unwrap();
        assert_eq!(json["lines"][0]["unitPrice"], 10_000);
        assert_eq!(json["totals"]["lineExtension"], 10_000);
        assert_eq!(json["tax"]["taxableAmount"], 10_000);
    }

    #[test]
    fn percents_parse_as_mbs_writes_them() {
        let cases = [
            ("7.5", Some(750)),
            ("7.50", Some(750)),
            (" 7.5 ", Some(750)),
            ("0.0", Some(0)),
            ("0", Some(0)),
            ("10", Some(1_000)),
            ("12.34", Some(1_234)),
            ("100", Some(10_000)),
            ("100.01", None),
            ("7.505", None),
            ("7.", None),
            (".5", None),
            ("-1", None),
            ("+7.5", None),
            ("1e1", None),
            ("Not Available", None),
            ("", None),
        ];
        for (text, bp) in cases {
            assert_eq!(Percent::parse(text).map(Percent::basis_points), bp, "{text:?}");
        }
        let shown: Vec<String> = [0, 750, 1_000, 1_234, 5, 10_000]
            .map(|bp| Percent(bp).to_string())
            .into();
        assert_eq!(shown, ["0.0", "7.5", "10.0", "12.34", "0.05", "100.0"]);
        assert_eq!(serde_json::to_string(&Percent(750).as_f64()).unwrap(), "7.5");
    }

    #[test]
    fn kind_and_due_date() {
        let mut buyer = b2b_buyer();
        assert_eq!(invoice_kind(&buyer, None), mbs::InvoiceKind::B2B);
        assert_eq!(
            invoice_kind(&buyer, Some(mbs::InvoiceKind::B2G)),
            mbs::InvoiceKind::B2G
        );
        buyer.tin = Some("  ".into());
        assert_eq!(invoice_kind(&buyer, None), mbs::InvoiceKind::B2C);
        buyer.tin = None;
        assert_eq!(invoice_kind(&buyer, None), mbs::InvoiceKind::B2C);
        assert_eq!(due_date(date(2026, 3, 9), 0), date(2026, 3, 9));
        assert_eq!(due_date(date(2026, 1, 31), 30), date(2026, 3, 2));
        assert_eq!(due_date(NaiveDate::MAX, 1), NaiveDate::MAX);
    }

    #[test]
    fn every_missing_field_is_named_at_once() {
        let mut d = doc("INV1", 10_750, Buyer::default(), "", Percent::STANDARD_VAT);
        d.invoice_kind = mbs::InvoiceKind::B2B;
        d.business_id = Uuid::nil();
        d.currency = "ngn".into();
        d.type_code = CREDIT_NOTE_TYPE_CODE.into();
        d.supplier.email = None;
        d.supplier.telephone = Some("0801".into());
        d.supplier.address.as_mut().unwrap().city = String::new();
        d.figures.lines[0].service_code = " ".into();
        d.figures.lines[0].service_category = None;
        d.figures.tax.percent = "Not Available".into();
        let fields = mbs_payload(&d).unwrap_err();
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "buyer.address",
                "buyer.email",
                "buyer.name",
                "buyer.telephone",
                "buyer.tin",
                "creditedInvoiceId",
                "currency",
                "lines[0].serviceCategory",
                "lines[0].serviceCode",
                "supplier.address.city",
                "supplier.businessId",
                "supplier.email",
                "supplier.telephone",
                "tax.category",
                "tax.percent",
            ]
        );
    }

    #[test]
    fn a_b2c_buyer_without_tin_needs_only_a_name_but_one_with_a_tin_is_sent_complete() {
        let mut d = doc(
            "INV1",
            10_750,
            Buyer::default(),
            "STANDARD_VAT",
            Percent::STANDARD_VAT,
        );
        assert_eq!(d.invoice_kind, mbs::InvoiceKind::B2C);
        let fields = mbs_payload(&d).unwrap_err();
        assert_eq!(fields.keys().collect::<Vec<_>>(), ["buyer.name"]);
        d.buyer.name = "Chidi Okafor".into();
        assert_eq!(mbs_payload(&d).unwrap().accounting_customer_party, None);
        d.buyer.tin = Some("11112222-0001".into());
        let fields = mbs_payload(&d).unwrap_err();
        assert_eq!(
            fields.keys().collect::<Vec<_>>(),
            ["buyer.address", "buyer.email", "buyer.telephone"]
        );
    }

    #[test]
    fn item_names_are_cut_at_a_word() {
        assert_eq!(item_name("Fees\nsecond line"), "Fees");
        let long = "word ".repeat(40);
        let name = item_name(&long);
        assert!(name.chars().count() <= ITEM_NAME_MAX_CHARS, "{name}");
        assert!(name.ends_with("word…"), "{name}");
        let unbroken = "x".repeat(150);
        assert_eq!(item_name(&unbroken).chars().count(), ITEM_NAME_MAX_CHARS);
    }

    /// Kobo from a JSON number's text in naira, exactly: `1075.2` → 107520; `None` for any
    /// other shape (an exponent, more than two decimals).
    fn kobo_of(text: &str) -> Option<i64> {
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !all_digits(whole) || fraction.len() > 2 || !(fraction.is_empty() || all_digits(fraction)) {
            return None;
        }
        let kobo = whole.parse::<i64>().ok()? * 100 + format!("{fraction:0<2}").parse::<i64>().ok()?;
        Some(if negative { -kobo } else { kobo })
    }

    proptest! {
        #[test]
        fn the_split_is_the_exact_rounding(amount in 1i64..=10_000_000_000_000, bp in 0i64..=10_000) {
            let split = split_vat(amount, Percent(bp));
            prop_assert_eq!(split.tax_exclusive + split.tax_amount, amount);
            let d = 10_000 + i128::from(bp);
            let n = i128::from(amount) * 10_000;
            // 2·excl·d − 2n is twice the rounding error times d: within d, and at a tie
            // (exactly d away) the rounding went up, away from zero.
            let twice_error = 2 * i128::from(split.tax_exclusive) * d - 2 * n;
            prop_assert!(twice_error.abs() <= d);
            prop_assert!(twice_error != -d);
            prop_assert!(split.tax_amount >= 0);
        }

        #[test]
        fn the_payload_writes_the_kobo_figures(amount in 1i64..=10_000_000_000_000, bp in 0i64..=10_000) {
            let d = doc("INV1", amount, b2b_buyer(), "STANDARD_VAT", Percent(bp));
            let payload = serde_json::to_value(mbs_payload(&d).unwrap()).unwrap();
            let split = split_vat(amount, Percent(bp));
            let total = &payload["legal_monetary_total"];
            let tax = &payload["tax_total"][0];
            let line = &payload["invoice_line"][0];
            let figures = [
                (&total["line_extension_amount"], split.tax_exclusive),
                (&total["tax_exclusive_amount"], split.tax_exclusive),
                (&total["tax_inclusive_amount"], amount),
                (&total["payable_amount"], amount),
                (&tax["tax_amount"], split.tax_amount),
                (&tax["tax_subtotal"][0]["taxable_amount"], split.tax_exclusive),
                (&tax["tax_subtotal"][0]["tax_amount"], split.tax_amount),
                (&line["line_extension_amount"], split.tax_exclusive),
                (&line["price"]["price_amount"], split.tax_exclusive),
            ];
            for (written, kobo) in figures {
                prop_assert_eq!(kobo_of(&written.to_string()), Some(kobo), "{}", written);
            }
            let percent = tax["tax_subtotal"][0]["tax_category"]["percent"].to_string();
            prop_assert_eq!(kobo_of(&percent), Some(bp), "{}", percent);
        }
    }
}

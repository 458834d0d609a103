//! What MBS checks of a submission, on the raw JSON (never through the client's types, so a
//! bug in those types is caught here): the IRN against a business's template, and every
//! required field and format of an invoice (`spec/MBS.md`, "The invoice"), stopping at the
//! first bad one and naming it as MBS does: `invoicerequest.invoice.<path> <reason>`, the
//! path lower-cased, underscores dropped, `[i]` for array items.

use chrono::{NaiveDate, NaiveTime};
use serde_json::{Map, Value};

use super::reply::Refusal;
use super::resources;

/// Longest IRN MBS takes.
pub const MAX_IRN_LEN: usize = 50;
/// How far apart two amounts that must agree may be (a rounding of half a kobo each way).
const TOLERANCE: f64 = 0.011;

/// Whether `irn` is `{invoice number: letters and digits}-{service_id}-{YYYYMMDD}`, at most
/// 50 characters; with `reference`, the invoice number must be that reference's letters and
/// digits.
pub fn irn_fits(irn: &str, service_id: &str, reference: Option<&str>) -> bool {
    if irn.len() > MAX_IRN_LEN || !irn.is_ascii() {
        return false;
    }
    let mut parts = irn.rsplitn(3, '-');
    let (Some(date), Some(service), Some(number)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let date_ok = date.len() == 8
        && date.bytes().all(|b| b.is_ascii_digit())
        && NaiveDate::parse_from_str(date, "%Y%m%d").is_ok();
    let number_ok = !number.is_empty() && number.bytes().all(|b| b.is_ascii_alphanumeric());
    let reference_ok = reference.is_none_or(|r| {
        let letters: String = r.chars().filter(char::is_ascii_alphanumeric).collect();
        letters == number
    });
    date_ok && service == service_id && number_ok && reference_ok
}

/// The business an invoice is checked for.
#[derive(Debug, Clone, Copy)]
pub struct Submitter<'a> {
    pub business_id: &'a str,
    pub service_id: &'a str,
}

/// Checks `invoice` as MBS's `validate` and `sign` do; the refusal names the first bad field.
pub fn check_invoice(invoice: &Value, who: Submitter<'_>) -> Result<(), Refusal> {
    let Some(top) = invoice.as_object() else {
        return Err(Refusal::invoice("invoicerequest.invoice must be a json object"));
    };
    let c = Checker;
    let at = Path::root();

    let business = c.text(top, &at, "business_id")?;
    if uuid::Uuid::parse_str(business).is_err() {
        return Err(c.bad(&at.key("business_id"), "must be a valid uuid"));
    }
    if business != who.business_id {
        return Err(c.bad(
            &at.key("business_id"),
            "does not belong to the business of this api key",
        ));
    }
    let irn = c.text(top, &at, "irn")?;
    if !irn_fits(irn, who.service_id, None) {
        return Err(Refusal::irn_template());
    }
    c.date(top, &at, "issue_date")?;
    let time = c.text(top, &at, "issue_time")?;
    if time.len() != 8 || NaiveTime::parse_from_str(time, "%H:%M:%S").is_err() {
        return Err(c.bad(
            &at.key("issue_time"),
            "must be a valid time in the format HH:MM:SS",
        ));
    }
    c.date(top, &at, "due_date")?;
    c.date(top, &at, "tax_point_date")?;
    let type_code = c.text(top, &at, "invoice_type_code")?;
    if !resources::is_invoice_type(type_code) {
        return Err(c.bad(
            &at.key("invoice_type_code"),
            "must be a valid invoice type code, refer to the invoice resource apis",
        ));
    }
    let kind = c.text(top, &at, "invoice_kind")?;
    if !matches!(kind, "B2B" | "B2C" | "B2G") {
        return Err(c.bad(&at.key("invoice_kind"), "must be one of [B2B B2C B2G]"));
    }
    let status = c.text(top, &at, "payment_status")?;
    if !is_payment_status(status) {
        return Err(c.bad(
            &at.key("payment_status"),
            "must be one of [PENDING PAID REJECTED CANCELED]",
        ));
    }
    for key in ["document_currency_code", "tax_currency_code"] {
        if !resources::is_currency(c.text(top, &at, key)?) {
            return Err(c.bad(
                &at.key(key),
                "must be a valid currency code, refer to the invoice resource apis",
            ));
        }
    }
    c.optional_text(top, &at, "note")?;

    // A credit note names the invoice it credits.
    match present(top, "billing_reference") {
        None if type_code == "380" => {
            return Err(c.bad(&at.key("billing_reference"), "is required for a credit note"));
        }
        None => {}
        Some(_) => {
            for (i, reference) in c.array(top, &at, "billing_reference", true)? {
                let at = at.key("billing_reference").index(i);
                let reference = c.object(reference, &at)?;
                c.text(reference, &at, "irn")?;
                c.date(reference, &at, "issue_date")?;
            }
        }
    }
    if present(top, "payment_means").is_some() {
        for (i, means) in c.array(top, &at, "payment_means", false)? {
            let at = at.key("payment_means").index(i);
            let means = c.object(means, &at)?;
            if !resources::is_payment_means(c.text(means, &at, "payment_means_code")?) {
                return Err(c.bad(
                    &at.key("payment_means_code"),
                    "must be a valid payment means code, refer to the invoice resource apis",
                ));
            }
            c.date(means, &at, "payment_due_date")?;
        }
    }

    c.party(top, &at, "accounting_supplier_party")?;
    match present(top, "accounting_customer_party") {
        None if kind != "B2C" => {
            return Err(c.bad(&at.key("accounting_customer_party"), "is required"));
        }
        None => {}
        Some(_) => c.party(top, &at, "accounting_customer_party")?,
    }

    let mut total_tax = 0.0;
    for (i, total) in c.array(top, &at, "tax_total", true)? {
        let at = at.key("tax_total").index(i);
        let total = c.object(total, &at)?;
        total_tax += c.amount(total, &at, "tax_amount")?;
        for (j, sub) in c.array(total, &at, "tax_subtotal", true)? {
            let at = at.key("tax_subtotal").index(j);
            let sub = c.object(sub, &at)?;
            c.amount(sub, &at, "taxable_amount")?;
            c.amount(sub, &at, "tax_amount")?;
            let category = c.object(c.field(sub, &at, "tax_category")?, &at.key("tax_category"))?;
            let at = at.key("tax_category");
            let id = c.text(category, &at, "id")?;
            let Some(fixed) = resources::tax_category_percent(id) else {
                return Err(c.bad(
                    &at.key("id"),
                    "must be a valid tax category, refer to the invoice resource apis",
                ));
            };
            let percent = c.number(category, &at, "percent")?;
            if fixed.is_some_and(|p| (p - percent).abs() > 1e-9) {
                return Err(c.bad(
                    &at.key("percent"),
                    "does not match the percent of the tax category",
                ));
            }
        }
    }

    let monetary = c.object(
        c.field(top, &at, "legal_monetary_total")?,
        &at.key("legal_monetary_total"),
    )?;
    let mat = at.key("legal_monetary_total");
    let line_total = c.amount(monetary, &mat, "line_extension_amount")?;
    let exclusive = c.amount(monetary, &mat, "tax_exclusive_amount")?;
    let inclusive = c.amount(monetary, &mat, "tax_inclusive_amount")?;
    let payable = c.amount(monetary, &mat, "payable_amount")?;

    let mut lines_sum = 0.0;
    let lines = c.array(top, &at, "invoice_line", true)?;
    let line_count = lines.len();
    for (i, line) in lines {
        let at = at.key("invoice_line").index(i);
        let line = c.object(line, &at)?;
        lines_sum += c.line(line, &at)?;
    }

    // The totals add up.
    if (lines_sum - line_total).abs() > TOLERANCE * line_count.max(1) as f64 {
        return Err(c.bad(
            &mat.key("line_extension_amount"),
            "must equal the sum of the line extension amounts of the invoice lines",
        ));
    }
    if (exclusive + total_tax - inclusive).abs() > TOLERANCE {
        return Err(c.bad(
            &mat.key("tax_inclusive_amount"),
            "must equal the tax exclusive amount plus the tax total",
        ));
    }
    if (payable - inclusive).abs() > TOLERANCE {
        return Err(c.bad(&mat.key("payable_amount"), "must equal the tax inclusive amount"));
    }
    Ok(())
}

/// A payment status MBS takes (both spellings of cancelled).
pub fn is_payment_status(s: &str) -> bool {
    matches!(s, "PENDING" | "PAID" | "REJECTED" | "CANCELED" | "CANCELLED")
}

/// `key` of `object` unless absent or null.
fn present<'v>(object: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// A JSON path in MBS's spelling.
#[derive(Debug, Clone)]
struct Path(String);

impl Path {
    fn root() -> Self {
        Path(String::new())
    }

    fn key(&self, key: &str) -> Path {
        let name: String = key
            .chars()
            .filter(|c| *c != '_')
            .collect::<String>()
            .to_lowercase();
        if self.0.is_empty() {
            Path(name)
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }
}

/// The checks, each failing with the refusal that names the field.
struct Checker;

impl Checker {
    fn bad(&self, at: &Path, reason: &str) -> Refusal {
        Refusal::field(&at.0, reason)
    }

    fn field<'v>(&self, object: &'v Map<String, Value>, at: &Path, key: &str) -> Result<&'v Value, Refusal> {
        present(object, key).ok_or_else(|| self.bad(&at.key(key), "is required"))
    }

    fn object<'v>(&self, value: &'v Value, at: &Path) -> Result<&'v Map<String, Value>, Refusal> {
        value.as_object().ok_or_else(|| self.bad(at, "must be an object"))
    }

    /// A required non-empty string.
    fn text<'v>(&self, object: &'v Map<String, Value>, at: &Path, key: &str) -> Result<&'v str, Refusal> {
        let value = self.field(object, at, key)?;
        let text = value
            .as_str()
            .ok_or_else(|| self.bad(&at.key(key), "must be a string"))?;
        if text.trim().is_empty() {
            return Err(self.bad(&at.key(key), "is required"));
        }
        Ok(text)
    }

    fn optional_text(&self, object: &Map<String, Value>, at: &Path, key: &str) -> Result<(), Refusal> {
        match present(object, key) {
            Some(v) if !v.is_string() => Err(self.bad(&at.key(key), "must be a string")),
            _ => Ok(()),
        }
    }

    fn date(&self, object: &Map<String, Value>, at: &Path, key: &str) -> Result<(), Refusal> {
        let text = self.text(object, at, key)?;
        if text.len() != 10 || NaiveDate::parse_from_str(text, "%Y-%m-%d").is_err() {
            return Err(self.bad(&at.key(key), "must be a valid date in the format YYYY-MM-DD"));
        }
        Ok(())
    }

    /// A required JSON number.
    fn number(&self, object: &Map<String, Value>, at: &Path, key: &str) -> Result<f64, Refusal> {
        self.field(object, at, key)?
            .as_f64()
            .ok_or_else(|| self.bad(&at.key(key), "must be a number"))
    }

    /// A required amount: a number, not negative.
    fn amount(&self, object: &Map<String, Value>, at: &Path, key: &str) -> Result<f64, Refusal> {
        let n = self.number(object, at, key)?;
        if n < 0.0 {
            return Err(self.bad(&at.key(key), "must not be negative"));
        }
        Ok(n)
    }

    fn optional_amount(&self, object: &Map<String, Value>, at: &Path, key: &str) -> Result<(), Refusal> {
        if present(object, key).is_some() {
            self.amount(object, at, key)?;
        }
        Ok(())
    }

    /// A required array with its items (`non_empty`: at least one).
    fn array<'v>(
        &self,
        object: &'v Map<String, Value>,
        at: &Path,
        key: &str,
        non_empty: bool,
    ) -> Result<Vec<(usize, &'v Value)>, Refusal> {
        let items = self
            .field(object, at, key)?
            .as_array()
            .ok_or_else(|| self.bad(&at.key(key), "must be an array"))?;
        if non_empty && items.is_empty() {
            return Err(self.bad(&at.key(key), "must contain at least one item"));
        }
        Ok(items.iter().enumerate().collect())
    }

    fn party(&self, top: &Map<String, Value>, at: &Path, key: &str) -> Result<(), Refusal> {
        let at = at.key(key);
        let party = self.object(self.field(top, &Path::root(), key)?, &at)?;
        self.text(party, &at, "party_name")?;
        let tin = self.text(party, &at, "tin")?;
        if tin.len() < 5 || !tin.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
            return Err(self.bad(
                &at.key("tin"),
                "must be a valid tin of at least 5 characters, digits and '-' only",
            ));
        }
        let email = self.text(party, &at, "email")?;
        if !is_email(email) {
            return Err(self.bad(&at.key("email"), "must be a valid email address"));
        }
        let phone = self.text(party, &at, "telephone")?;
        if !is_phone(phone) {
            return Err(self.bad(
                &at.key("telephone"),
                "must be a valid phone number starting with '+' and the country code",
            ));
        }
        self.optional_text(party, &at, "business_description")?;
        let address = self.object(
            self.field(party, &at, "postal_address")?,
            &at.key("postal_address"),
        )?;
        let at = at.key("postal_address");
        self.text(address, &at, "street_name")?;
        self.text(address, &at, "city_name")?;
        self.optional_text(address, &at, "postal_zone")?;
        if !resources::is_country(self.text(address, &at, "country")?) {
            return Err(self.bad(
                &at.key("country"),
                "must be a valid country code, refer to the invoice resource apis",
            ));
        }
        let state = match present(address, "state") {
            Some(_) => {
                let state = self.text(address, &at, "state")?;
                if !resources::is_state(state) {
                    return Err(self.bad(
                        &at.key("state"),
                        "must be a valid state code, refer to the invoice resource apis",
                    ));
                }
                Some(state)
            }
            None => None,
        };
        if present(address, "lga").is_some() {
            let lga = self.text(address, &at, "lga")?;
            match resources::lga_state(lga) {
                Some(s) if state.is_none_or(|state| state == s) => {}
                _ => {
                    return Err(self.bad(
                        &at.key("lga"),
                        "must be a valid lga code of the state, refer to the invoice resource apis",
                    ))
                }
            }
        }
        Ok(())
    }

    /// One invoice line; its line extension amount.
    fn line(&self, line: &Map<String, Value>, at: &Path) -> Result<f64, Refusal> {
        let service = present(line, "isic_code").is_some() || present(line, "service_category").is_some();
        let goods = present(line, "hsn_code").is_some() || present(line, "product_category").is_some();
        match (service, goods) {
            (true, true) => {
                return Err(self.bad(
                    &at.key("hsn_code"),
                    "must not be sent with isiccode: a line is either a service or goods",
                ))
            }
            (false, false) => {
                return Err(self.bad(
                    &at.key("isic_code"),
                    "is required (or hsncode and productcategory for goods)",
                ))
            }
            (true, false) => {
                let code = self.text(line, at, "isic_code")?;
                if !resources::is_service_code(code) {
                    return Err(self.bad(
                        &at.key("isic_code"),
                        "must be a valid service code, refer to the invoice resource apis",
                    ));
                }
                self.text(line, at, "service_category")?;
            }
            (false, true) => {
                let code = self.text(line, at, "hsn_code")?;
                if !code.bytes().all(|b| b.is_ascii_digit() || b == b'.') || code.len() < 4 {
                    return Err(self.bad(&at.key("hsn_code"), "must be a valid hs code"));
                }
                self.text(line, at, "product_category")?;
            }
        }
        let quantity = self.number(line, at, "invoiced_quantity")?;
        if quantity <= 0.0 {
            return Err(self.bad(&at.key("invoiced_quantity"), "must be greater than 0"));
        }
        let amount = self.amount(line, at, "line_extension_amount")?;
        let item = self.object(self.field(line, at, "item")?, &at.key("item"))?;
        let item_at = at.key("item");
        for key in ["name", "description", "sellers_item_identification"] {
            self.text(item, &item_at, key)?;
        }
        let price = self.object(self.field(line, at, "price")?, &at.key("price"))?;
        let price_at = at.key("price");
        self.amount(price, &price_at, "price_amount")?;
        if self.number(price, &price_at, "base_quantity")? <= 0.0 {
            return Err(self.bad(&price_at.key("base_quantity"), "must be greater than 0"));
        }
        let unit = self.text(price, &price_at, "price_unit")?;
        if unit.len() > 5 || !unit.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return Err(self.bad(
                &price_at.key("price_unit"),
                "must be a valid unit code such as EA",
            ));
        }
        for key in ["discount_rate", "discount_amount", "fee_rate", "fee_amount"] {
            self.optional_amount(line, at, key)?;
        }
        Ok(amount)
    }
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !s.contains(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
}

/// `+` then the country code and number: 7 to 15 digits.
fn is_phone(s: &str) -> bool {
    s.strip_prefix('+')
        .is_some_and(|rest| (7..=15).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BUSINESS: &str = "0b0f2a9e-54a5-4b5c-9c4e-0a5f5e2b8d11";
    const WHO: Submitter<'static> = Submitter {
        business_id: BUSINESS,
        service_id: "94ND90NR",
    };

    fn party() -> Value {
        json!({"party_name": "Adaeze Foods Ltd", "tin": "98765432-0001", "email": "a@b.ng",
               "telephone": "+2348098765432",
               "postal_address": {"street_name": "4 Aminu Kano", "city_name": "Abuja", "country": "NG",
                                  "state": "NG-FC", "lga": "NG-FC-AMA"}})
    }

    fn invoice() -> Value {
        json!({
            "business_id": BUSINESS, "irn": "INV001-94ND90NR-20240611", "issue_date": "2024-06-11",
            "issue_time": "17:59:04", "due_date": "2024-07-11", "tax_point_date": "2024-06-11",
            "invoice_type_code": "381", "invoice_kind": "B2B", "payment_status": "PENDING",
            "document_currency_code": "NGN", "tax_currency_code": "NGN",
            "accounting_supplier_party": party(), "accounting_customer_party": party(),
            "tax_total": [{"tax_amount": 75.0, "tax_subtotal": [{"taxable_amount": 1000.0, "tax_amount": 75.0,
                           "tax_category": {"id": "STANDARD_VAT", "percent": 7.5}}]}],
            "legal_monetary_total": {"line_extension_amount": 1000.0, "tax_exclusive_amount": 1000.0,
                                     "tax_inclusive_amount": 1075.0, "payable_amount": 1075.0},
            "invoice_line": [{"isic_code": "6920", "service_category": "Tax consultancy", "invoiced_quantity": 1,
                              "line_extension_amount": 1000.0,
                              "item": {"name": "Filing", "description": "VAT filing", "sellers_item_identification": "SVC-1"},
                              "price": {"price_amount": 1000.0, "base_quantity": 1, "price_unit": "EA"}}]
        })
    }

    fn details(v: &Value) -> String {
        match check_invoice(v, WHO) {
            Err(Refusal::Failure { details, .. }) => details.unwrap_or_default(),
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn a_complete_invoice_passes() {
        assert_eq!(check_invoice(&invoice(), WHO), Ok(()));
        let mut b2c = invoice();
        b2c["invoice_kind"] = json!("B2C");
        b2c.as_object_mut().unwrap().remove("accounting_customer_party");
        assert_eq!(check_invoice(&b2c, WHO), Ok(()));
    }

    #[test]
    fn a_goods_line_passes_and_needs_its_product_category() {
        let mut v = invoice();
        let line = v["invoice_line"][0].as_object_mut().unwrap();
        line.remove("isic_code");
        line.remove("service_category");
        line.insert("hsn_code".into(), json!("8471.30"));
        line.insert("product_category".into(), json!("Laptops"));
        assert_eq!(check_invoice(&v, WHO), Ok(()));
        v["invoice_line"][0]
            .as_object_mut()
            .unwrap()
            .remove("product_category");
        assert_eq!(
            details(&v),
            "invoicerequest.invoice.invoiceline[0].productcategory is required"
        );
    }

    #[test]
    fn the_first_bad_field_is_named_in_mbs_spelling() {
        let mut v = invoice();
        v["tax_total"][0]["tax_subtotal"][0]["tax_category"]["id"] = json!("VAT");
        assert_eq!(
            details(&v),
            "invoicerequest.invoice.taxtotal[0].taxsubtotal[0].taxcategory.id must be a valid tax category, refer to the invoice resource apis"
        );
        let mut v = invoice();
        v["accounting_supplier_party"]["postal_address"]
            .as_object_mut()
            .unwrap()
            .remove("city_name");
        assert_eq!(
            details(&v),
            "invoicerequest.invoice.accountingsupplierparty.postaladdress.cityname is required"
        );
        let mut v = invoice();
        v["invoice_line"][0]["hsn_code"] = json!("8471");
        assert!(details(&v).starts_with("invoicerequest.invoice.invoiceline[0].hsncode "));
        let mut v = invoice();
        v["invoice_type_code"] = json!("380");
        assert!(details(&v).starts_with("invoicerequest.invoice.billingreference is required"));
        let mut v = invoice();
        v["legal_monetary_total"]["payable_amount"] = json!("1075.00");
        assert!(details(&v)
            .starts_with("invoicerequest.invoice.legalmonetarytotal.payableamount must be a number"));
        let mut v = invoice();
        v["legal_monetary_total"]["tax_inclusive_amount"] = json!(1076.0);
        v["legal_monetary_total"]["payable_amount"] = json!(1076.0);
        assert!(details(&v).contains("taxinclusiveamount must equal"));
        let mut v = invoice();
        v["accounting_customer_party"]["telephone"] = json!("08098765432");
        assert!(details(&v).starts_with("invoicerequest.invoice.accountingcustomerparty.telephone "));
        let mut v = invoice();
        v["irn"] = json!("INV-001-94ND90NR-20240611");
        assert_eq!(check_invoice(&v, WHO), Err(Refusal::irn_template()));
    }

    #[test]
    fn the_irn_template() {
        assert!(irn_fits("INV001-94ND90NR-20240611", "94ND90NR", Some("INV-001")));
        assert!(!irn_fits("INV001-94ND90NR-20240611", "94ND90NR", Some("INV-002")));
        assert!(!irn_fits("INV001-94ND90NX-20240611", "94ND90NR", None));
        assert!(!irn_fits("INV001-94ND90NR-20240231", "94ND90NR", None));
        assert!(!irn_fits("-94ND90NR-20240611", "94ND90NR", None));
        assert!(!irn_fits("INV_001-94ND90NR-20240611", "94ND90NR", None));
        let long = format!("{}-94ND90NR-20240611", "A".repeat(33));
        assert!(!irn_fits(&long, "94ND90NR", None));
        assert!(irn_fits(&long[1..], "94ND90NR", None));
    }
}

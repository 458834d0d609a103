//! MBS's wire types, with its exact field names: the invoice submitted to `validate` and
//! `sign`, and the answers of `confirm` and `verify-tin`. Amounts are kept in minor units
//! (kobo) and written as major units with two decimals, as MBS reads them.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize, Serializer};

/// An amount in minor units, written as a decimal number in major units (`107527` → `1075.27`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(pub i64);

impl Serialize for Amount {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Exact for every amount below 2^53 minor units; the shortest form of the quotient is
        // the two-decimal text (1075.27, 1075.2 for 107520, 1075 for 107500).
        s.serialize_f64(self.0 as f64 / 100.0)
    }
}

/// Written as a number in major units.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Amount {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Number)
            .description(Some("Major units, at most two decimals"))
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Amount {}

impl<'de> Deserialize<'de> for Amount {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let major = f64::deserialize(d)?;
        Ok(Amount((major * 100.0).round() as i64))
    }
}

/// `B2B`, `B2C` or `B2G`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsInvoiceKind))]
pub enum InvoiceKind {
    B2B,
    B2C,
    B2G,
}

/// An invoice's payment status at MBS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsPaymentStatus))]
#[serde(rename_all = "UPPERCASE")]
pub enum PaymentStatus {
    Pending,
    Paid,
    Rejected,
    /// Sources differ on the name; this client sends `CANCELED`.
    #[serde(alias = "CANCELLED")]
    Canceled,
}

/// The invoice of `validate` and `sign`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsInvoice))]
pub struct Invoice {
    pub business_id: String,
    pub irn: String,
    pub issue_date: NaiveDate,
    /// `HH:MM:SS`.
    pub issue_time: String,
    pub due_date: NaiveDate,
    pub tax_point_date: NaiveDate,
    /// From the `invoice-types` resource: 381 commercial invoice, 380 credit note.
    pub invoice_type_code: String,
    pub invoice_kind: InvoiceKind,
    pub payment_status: PaymentStatus,
    pub document_currency_code: String,
    pub tax_currency_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The credited invoice, on a credit note.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub billing_reference: Vec<BillingReference>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub payment_means: Vec<PaymentMeans>,
    pub accounting_supplier_party: Party,
    /// Left out for B2C when the buyer has no TIN (a party sent must be complete).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounting_customer_party: Option<Party>,
    pub tax_total: Vec<TaxTotal>,
    pub legal_monetary_total: LegalMonetaryTotal,
    pub invoice_line: Vec<InvoiceLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsBillingReference))]
pub struct BillingReference {
    pub irn: String,
    pub issue_date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsPaymentMeans))]
pub struct PaymentMeans {
    pub payment_means_code: String,
    pub payment_due_date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsParty))]
pub struct Party {
    pub party_name: String,
    pub tin: String,
    pub email: String,
    /// Starts with `+`.
    pub telephone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_description: Option<String>,
    pub postal_address: PostalAddress,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsPostalAddress))]
pub struct PostalAddress {
    pub street_name: String,
    pub city_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_zone: Option<String>,
    /// ISO 3166 alpha-2.
    pub country: String,
    /// `NG-LA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// `NG-LA-IKJ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lga: Option<String>,
}

/// A line: a service (`isic_code` + `service_category`) or goods (`hsn_code` +
/// `product_category`), never both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsInvoiceLine))]
pub struct InvoiceLine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isic_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_category: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hsn_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_category: Option<String>,
    pub invoiced_quantity: u32,
    pub line_extension_amount: Amount,
    pub item: Item,
    pub price: Price,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_amount: Option<Amount>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_amount: Option<Amount>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsItem))]
pub struct Item {
    pub name: String,
    pub description: String,
    pub sellers_item_identification: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsPrice))]
pub struct Price {
    pub price_amount: Amount,
    pub base_quantity: u32,
    /// A unit code such as `EA`.
    pub price_unit: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsTaxTotal))]
pub struct TaxTotal {
    pub tax_amount: Amount,
    pub tax_subtotal: Vec<TaxSubtotal>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsTaxSubtotal))]
pub struct TaxSubtotal {
    pub taxable_amount: Amount,
    pub tax_amount: Amount,
    pub tax_category: TaxCategory,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsTaxCategory))]
pub struct TaxCategory {
    /// From `tax-categories`: `STANDARD_VAT`, `ZERO_VAT`, `EXEMPTED`, …
    pub id: String,
    pub percent: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = MbsLegalMonetaryTotal))]
pub struct LegalMonetaryTotal {
    pub line_extension_amount: Amount,
    pub tax_exclusive_amount: Amount,
    pub tax_inclusive_amount: Amount,
    pub payable_amount: Amount,
}

/// `irn/validate`'s body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IrnCheck {
    pub business_id: String,
    /// The invoice number.
    pub invoice_reference: String,
    pub irn: String,
}

/// What `confirm/{IRN}` knows of a submitted invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    #[serde(default)]
    pub issue_date: Option<String>,
    #[serde(default)]
    pub due_date: Option<String>,
    #[serde(default)]
    pub sync_date: Option<String>,
    #[serde(default)]
    pub payment_status: Option<String>,
    #[serde(default)]
    pub transmitted: bool,
    #[serde(default)]
    pub delivered: bool,
}

/// `verify-tin`'s answer: every field a string, more may come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxpayerInfo {
    pub tin: String,
    #[serde(default)]
    pub taxpayer_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    #[serde(default)]
    pub address: Option<String>,
    #[serde(default)]
    pub rc_number: Option<String>,
    #[serde(default)]
    pub taxpayer_type: Option<String>,
}

/// The resource lists MBS serves (`GET /api/v1/invoice/resources/{name}`).
pub const RESOURCES: [&str; 9] = [
    "invoice-types",
    "tax-categories",
    "currencies",
    "services-codes",
    "payment-means",
    "countries",
    "vat-exemptions",
    "states",
    "lgas",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_in_major_units_with_their_cents() {
        let text =
            serde_json::to_string(&[Amount(107_527), Amount(107_520), Amount(100), Amount(1)]).unwrap();
        assert_eq!(text, "[1075.27,1075.2,1.0,0.01]");
        let back: Vec<Amount> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, [Amount(107_527), Amount(107_520), Amount(100), Amount(1)]);
    }

    #[test]
    fn payment_status_reads_both_spellings_of_cancelled() {
        let s: PaymentStatus = serde_json::from_str("\"CANCELLED\"").unwrap();
        assert_eq!(s, PaymentStatus::Canceled);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"CANCELED\"");
    }
}

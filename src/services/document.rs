//! The printable invoice (`GET /si/invoices/{id}/document`): one self-contained HTML page
//! with the supplier, the buyer, the lines, the VAT, the totals, the IRN and the QR code
//! inline, fit to hand to a buyer or print. No outside assets: styles inline, the QR an
//! inline SVG. Built from the invoice as the API shows it, so the page and the JSON never
//! disagree.

use serde_json::Value;

/// The page for `invoice` (the API's invoice object) with its QR code as SVG, when there is
/// one (a SIGNED invoice of an organization with crypto keys).
pub fn render(invoice: &Value, qr_svg: Option<&str>) -> String {
    let s = |v: &Value| v.as_str().map(escape).unwrap_or_default();
    let currency = invoice["currency"].as_str().unwrap_or("NGN");
    let money = |v: &Value| v.as_i64().map(|k| format_money(k, currency)).unwrap_or_default();
    let title = match invoice["kind"].as_str() {
        Some("credit_note") => "Credit note",
        _ => "Invoice",
    };
    let party = |p: &Value| -> String {
        let mut out = format!("<div class=\"name\">{}</div>", s(&p["name"]));
        for (label, key) in [("TIN", "tin"), ("Email", "email"), ("Telephone", "telephone")] {
            if let Some(v) = p[key].as_str() {
                out.push_str(&format!("<div>{label}: {}</div>", escape(v)));
            }
        }
        if let Some(a) = p["address"].as_object() {
            let parts: Vec<String> = ["street", "city", "lga", "state", "postalZone", "country"]
                .iter()
                .filter_map(|k| a.get(*k).and_then(Value::as_str))
                .map(escape)
                .collect();
            out.push_str(&format!("<div>{}</div>", parts.join(", ")));
        }
        out
    };
    let mut lines = String::new();
    for line in invoice["lines"].as_array().into_iter().flatten() {
        lines.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            s(&line["description"]),
            s(&line["serviceCode"]),
            line["quantity"].as_i64().unwrap_or(1),
            money(&line["unitPrice"]),
            money(&line["lineAmount"]),
        ));
    }
    let tax = &invoice["tax"];
    let totals = &invoice["totals"];
    let qr = qr_svg
        .map(|svg| format!("<div class=\"qr\" id=\"qr\">{svg}</div>"))
        .unwrap_or_else(|| "<div class=\"qr missing\">No QR code: the invoice is not signed, or the organization has no MBS crypto keys.</div>".to_owned());
    let billing = invoice["billingReference"]
        .as_object()
        .map(|b| {
            format!(
                "<div>Credits invoice IRN {} of {}</div>",
                b.get("irn")
                    .and_then(Value::as_str)
                    .map(escape)
                    .unwrap_or_default(),
                b.get("issueDate")
                    .and_then(Value::as_str)
                    .map(escape)
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default();
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{title} {number}</title>
<style>
body {{ font-family: sans-serif; color: #111; margin: 32px; max-width: 900px; }}
h1 {{ font-size: 24px; margin: 0 0 4px; }}
.meta div, .party div {{ margin: 2px 0; }}
.head {{ display: flex; justify-content: space-between; gap: 24px; }}
.parties {{ display: flex; gap: 48px; margin: 24px 0; }}
.party {{ flex: 1; }} .party h2 {{ font-size: 13px; text-transform: uppercase; color: #555; }}
.name {{ font-weight: bold; }}
table {{ width: 100%; border-collapse: collapse; margin: 16px 0; }}
th, td {{ border-bottom: 1px solid #ccc; padding: 6px 8px; text-align: left; }}
.n {{ text-align: right; }}
.totals td {{ border: none; }} .totals tr.payable td {{ font-weight: bold; border-top: 2px solid #111; }}
.irn {{ font-family: monospace; font-size: 14px; }}
.qr svg {{ width: 240px; height: 240px; }}
.missing {{ color: #a00; }}
@media print {{ body {{ margin: 0; }} }}
</style></head>
<body>
<div class="head">
<div class="meta">
<h1>{title} {number}</h1>
<div>Status: {status}</div>
<div>Issued: {issue_date} {issue_time}</div>
<div>Due: {due_date}</div>
<div>Type: {type_code} ({invoice_kind})</div>
<div>IRN: <span class="irn" id="irn">{irn}</span></div>
{billing}
</div>
{qr}
</div>
<div class="parties">
<div class="party"><h2>Supplier</h2>{supplier}</div>
<div class="party"><h2>Buyer</h2>{buyer}</div>
</div>
<table>
<thead><tr><th>Description</th><th>Service code</th><th class="n">Qty</th><th class="n">Unit price</th><th class="n">Amount</th></tr></thead>
<tbody>{lines}</tbody>
</table>
<table class="totals">
<tr><td>Net ({tax_category})</td><td class="n">{line_extension}</td></tr>
<tr><td>VAT {percent}%</td><td class="n">{tax_amount}</td></tr>
<tr class="payable"><td>Total payable</td><td class="n">{payable}</td></tr>
</table>
<div>Reference: {reference}</div>
</body></html>
"#,
        number = s(&invoice["invoiceNumber"]),
        status = s(&invoice["status"]),
        issue_date = s(&invoice["issueDate"]),
        issue_time = s(&invoice["issueTime"]),
        due_date = s(&invoice["dueDate"]),
        type_code = s(&invoice["typeCode"]),
        invoice_kind = s(&invoice["invoiceKind"]),
        irn = s(&invoice["irn"]),
        supplier = if invoice["supplier"].is_object() {
            party(&invoice["supplier"])
        } else {
            "<div class=\"missing\">Not validated yet</div>".into()
        },
        buyer = party(&invoice["buyer"]),
        tax_category = s(&tax["category"]),
        percent = s(&tax["percent"]),
        tax_amount = money(&tax["taxAmount"]),
        line_extension = money(&totals["lineExtension"]),
        payable = money(&totals["payable"]),
        reference = s(&invoice["reference"]),
    )
}

/// Minor units as `NGN 1,075.00`.
pub fn format_money(kobo: i64, currency: &str) -> String {
    let sign = if kobo < 0 { "-" } else { "" };
    let abs = kobo.unsigned_abs();
    let major = (abs / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in major.chars().enumerate() {
        if i > 0 && (major.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{} {sign}{grouped}.{:02}", escape(currency), abs % 100)
}

/// Text as HTML: `&`, `<`, `>`, `"` and `'` escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn money_is_grouped_with_two_decimals() {
        assert_eq!(format_money(107_500, "NGN"), "NGN 1,075.00");
        assert_eq!(format_money(1, "NGN"), "NGN 0.01");
        assert_eq!(format_money(100_000_000_000, "NGN"), "NGN 1,000,000,000.00");
        assert_eq!(format_money(-250, "USD"), "USD -2.50");
    }

    #[test]
    fn the_page_names_everything_and_escapes_what_it_is_given() {
        let invoice = json!({
            "kind": "invoice", "invoiceNumber": "INV000001", "status": "SIGNED", "currency": "NGN",
            "issueDate": "2026-03-09", "issueTime": "14:30:05", "dueDate": "2026-03-23",
            "typeCode": "381", "invoiceKind": "B2C", "irn": "INV000001-TXPDEMO1-20260309",
            "supplier": {"name": "Acme <Ltd>", "tin": "12345678-0001", "address": {"street": "1 Marina", "city": "Lagos", "country": "NG"}},
            "buyer": {"name": "Bola & Sons"},
            "lines": [{"description": "Bookkeeping", "serviceCode": "6920", "quantity": 1, "unitPrice": 100_000, "lineAmount": 100_000}],
            "tax": {"category": "STANDARD_VAT", "percent": "7.5", "taxAmount": 7_500},
            "totals": {"lineExtension": 100_000, "payable": 107_500},
            "reference": "PO-1"
        });
        let page = render(&invoice, Some("<svg id=\"code\"></svg>"));
        for expected in [
            "Acme &lt;Ltd&gt;",
            "Bola &amp; Sons",
            "INV000001-TXPDEMO1-20260309",
            "NGN 1,075.00",
            "NGN 75.00",
            "NGN 1,000.00",
            "VAT 7.5%",
            "<svg id=\"code\"></svg>",
            "Lagos",
        ] {
            assert!(page.contains(expected), "{expected}");
        }
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no outside assets"
        );
        assert!(render(&invoice, None).contains("No QR code"));
    }
}

//! The first-run demo: a "Demo" organization (created once, reused after) with a complete
//! profile as the MBS sandbox's demo business, a fresh API key for it, and the walk-through of
//! the API a new user can paste into a shell, from linking an account to a signed e-invoice
//! with its QR code and printable page. The same steps
//! are printed as text and as JSON (`demo --json`), and a test runs them against a service.

use serde::Serialize;
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::db::tenancy;
use crate::services::tenants::{self, TenantError};
use crate::tenancy::Role;

pub const DEMO_ORGANIZATION: &str = "Demo";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DemoTenant {
    pub org_id: Uuid,
    pub api_key: String,
    /// False when this run created the organization.
    pub reused: bool,
}

/// The demo organization, created on the first run and reused after, with a new key.
pub async fn ensure_demo(pool: &PgPool) -> Result<DemoTenant, TenantError> {
    match tenancy::organization_named(pool, DEMO_ORGANIZATION).await? {
        Some(org_id) => {
            let key = tenants::create_key(pool, org_id, Role::Tenant).await?;
            Ok(DemoTenant {
                org_id,
                api_key: key.api_key,
                reused: true,
            })
        }
        None => {
            let created = tenants::create_tenant(pool, DEMO_ORGANIZATION).await?;
            if let Some(env) = created.environments.first() {
                let env_name =
                    crate::tenancy::EnvName::parse(&env.name).unwrap_or(crate::tenancy::EnvName::Sandbox);
                let tenant = crate::tenancy::Tenant::system(created.org_id, env.id, env_name);
                tenancy::update_profile(pool, &tenant, &demo_profile()).await?;
            }
            Ok(DemoTenant {
                org_id: created.org_id,
                api_key: created.api_key,
                reused: false,
            })
        }
    }
}

/// The demo organization's profile: the MBS sandbox's demo business (its business id,
/// service id and TIN), with a complete address and the defaults a draft needs.
pub fn demo_profile() -> tenancy::ProfileChange {
    use sandbox::mbs::state::{DEMO_BUSINESS_ID, DEMO_SERVICE_ID, DEMO_TIN};
    tenancy::ProfileChange {
        tin: Some(Some(DEMO_TIN.to_owned())),
        service_id: Some(DEMO_SERVICE_ID.to_owned()),
        business_id: Some(Uuid::parse_str(DEMO_BUSINESS_ID).ok()),
        email: Some(Some("billing@demo-supplies.ng".to_owned())),
        telephone: Some(Some("+2348012345678".to_owned())),
        address: Some(Some(crate::party::Address {
            street: "1 Marina".to_owned(),
            city: "Lagos".to_owned(),
            postal_zone: None,
            country: "NG".to_owned(),
            state: Some("NG-LA".to_owned()),
            lga: None,
        })),
        description: Some(Some("Bookkeeping and tax services".to_owned())),
        default_service_code: Some(Some("6920".to_owned())),
        ..tenancy::ProfileChange::default()
    }
}

/// One call of the walk-through. `path` and `body` may hold `{code}` (the code the
/// `/demo/callback` page shows) and `{accountId}` (`data.id` of the exchange).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub title: &'static str,
    pub method: &'static str,
    pub path: &'static str,
    pub body: Option<Value>,
    /// What to look at in the answer, or what to do next.
    pub then: &'static str,
}

pub fn steps(base: &str) -> Vec<Step> {
    let base = base.trim_end_matches('/');
    vec![
        Step {
            title: "Start linking a bank account",
            method: "POST",
            path: "/si/mono/widget-link",
            body: Some(json!({
                "customer": {"name": "Ada Demo", "email": "ada@example.com"},
                "redirectUrl": format!("{base}/demo/callback"),
            })),
            then: "Open data.monoUrl in a browser: the sandbox's widget links an account and sends you to /demo/callback, which shows the code.",
        },
        Step {
            title: "Exchange the code for a linked account",
            method: "POST",
            path: "/si/mono/exchange",
            body: Some(json!({"code": "{code}"})),
            then: "data.id is the account id.",
        },
        Step {
            title: "Sync its transactions",
            method: "POST",
            path: "/si/mono/sync",
            body: Some(json!({"accountId": "{accountId}"})),
            then: "data counts the transactions fetched, drafted and sent to the DLQ. The exchange has already queued the account's first sync in the background (MONO_SYNC_ON_LINK): while it runs this answers 409 sync_in_progress, and once it has run, fetched 0 (nothing new).",
        },
        Step {
            title: "What happened to each transaction",
            method: "GET",
            path: "/si/mono/events?accountId={accountId}&limit=5",
            body: None,
            then: "One event per transaction: its outcome and reason.",
        },
        Step {
            title: "The drafted invoices",
            method: "GET",
            path: "/si/invoices?accountId={accountId}&kind=invoice&limit=5",
            body: None,
            then: "Each has its line, VAT backed out of the amount, and totals. Pick one to file.",
        },
        Step {
            title: "Transactions that were not invoiced (the DLQ)",
            method: "GET",
            path: "/si/mono/dlq?accountId={accountId}&limit=5",
            body: None,
            then: "Replay or resolve them; tune rules with /si/mono/allow-deny.",
        },
        Step {
            title: "Confirm the invoice (corrections optional: buyer, due date, service code, ...)",
            method: "POST",
            path: "/si/invoices/{invoiceId}/confirm",
            body: Some(json!({"buyer": {"name": "Demo Customer Ltd"}})),
            then: "CONFIRMED. A draft names the counterparty the bank gave, when it gave one; the buyer given here is used either way and is now in the buyer directory (/si/buyers).",
        },
        Step {
            title: "Validate it, here and at MBS (the built-in MBS sandbox)",
            method: "POST",
            path: "/si/invoices/{invoiceId}/validate",
            body: Some(json!({})),
            then: "VALIDATED, with its IRN fixed; a problem would be named field by field.",
        },
        Step {
            title: "Sign it: the submission to MBS that makes it an e-invoice",
            method: "POST",
            path: "/si/invoices/{invoiceId}/sign",
            body: Some(json!({})),
            then: "SIGNED: signedPayload is what MBS accepted, signature the service's seal over it.",
        },
        Step {
            title: "Its QR code (SVG; ?format=png for a PNG)",
            method: "GET",
            path: "/si/invoices/{invoiceId}/qr",
            body: None,
            then: "Save it with -o qr.svg: it encodes the IRN, encrypted with the business's MBS key.",
        },
        Step {
            title: "Its printable page",
            method: "GET",
            path: "/si/invoices/{invoiceId}/document",
            body: None,
            then: "Save it with -o invoice.html and open it in a browser.",
        },
    ]
}

fn shell(text: &str) -> String {
    text.replace("{code}", "$CODE")
        .replace("{accountId}", "$ACCOUNT")
        .replace("{invoiceId}", "$INVOICE")
}

/// The walk-through as shell commands.
pub fn render(base: &str, demo: &DemoTenant) -> String {
    let base = base.trim_end_matches('/');
    let mut out = String::new();
    out.push_str(&format!(
        "Demo organization {} ({}).\n\nPaste into a shell:\n\n  export TPM={base}\n  export KEY={}\n\n",
        demo.org_id,
        if demo.reused { "reused" } else { "created" },
        demo.api_key
    ));
    for (i, step) in steps(base).iter().enumerate() {
        out.push_str(&format!("{}. {}\n", i + 1, step.title));
        let mut cmd = format!(
            "  curl -s -X {} \"$TPM{}\" -H \"Authorization: Bearer $KEY\"",
            step.method,
            shell(step.path)
        );
        if let Some(body) = &step.body {
            // Single quotes around the JSON; the placeholders close and reopen them.
            let json = body
                .to_string()
                .replace("{code}", "'\"$CODE\"'")
                .replace("{accountId}", "'\"$ACCOUNT\"'");
            cmd.push_str(&format!(" -H 'content-type: application/json' -d '{json}'"));
        }
        out.push_str(&cmd);
        out.push('\n');
        out.push_str(&format!("   {}\n", step.then));
        match i {
            0 => out.push_str("   Then: export CODE=<the code on that page>\n"),
            1 => out.push_str("   Then: export ACCOUNT=<data.id>\n"),
            4 => out.push_str("   Then: export INVOICE=<data[0].id>\n"),
            _ => {}
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "The API reference: {base}/docs (the OpenAPI document: {base}/openapi.json)\n"
    ));
    out
}

/// What the demo organization needs of its business at the MBS sandbox: its service id (the
/// middle of every IRN) and the `crypto_keys.txt` MBS issued it.
#[derive(Debug, Clone)]
pub struct SandboxBusiness {
    pub business_id: String,
    pub service_id: String,
    pub tin: String,
    pub crypto_keys_txt: Vec<u8>,
}

/// `serve --sandbox`: gives the demo organization, when it exists, the built-in MBS
/// sandbox's demo business: its service id and TIN in the profile, and its crypto keys
/// (sealed with this run's `DATA_ENCRYPTION_KEY`: the sandbox makes new keys every run, so
/// they are stored again every run). Answers whether there was a demo organization.
pub async fn attach_sandbox_business(
    state: &crate::state::AppState,
    business: &SandboxBusiness,
) -> Result<bool, crate::error::ApiError> {
    let Some(org_id) = tenancy::organization_named(&state.db, DEMO_ORGANIZATION).await? else {
        return Ok(false);
    };
    let Some((env_id, env)) = tenancy::list_environments(&state.db, org_id)
        .await?
        .into_iter()
        .next()
    else {
        return Ok(false);
    };
    let tenant = crate::tenancy::Tenant::system(org_id, env_id, env);
    let change = tenancy::ProfileChange {
        service_id: Some(business.service_id.clone()),
        tin: Some(Some(business.tin.clone())),
        business_id: Some(Uuid::parse_str(&business.business_id).ok()),
        ..demo_profile()
    };
    tenancy::update_profile(&state.db, &tenant, &change).await?;
    crate::services::crypto_keys::put(state, &tenant, &business.crypto_keys_txt).await?;
    Ok(true)
}

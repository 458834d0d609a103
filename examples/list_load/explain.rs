//! The lists' queries as the service issues them (copied from the `db` functions each names,
//! which a change there must follow), bound to the values of a case's first request, for
//! `EXPLAIN (ANALYZE, BUFFERS)`.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryScalar;
use sqlx::Postgres;
use uuid::Uuid;

use super::Case;

pub enum Param {
    Text(Option<String>),
    Date(Option<NaiveDate>),
    Ts(Option<DateTime<Utc>>),
    Uuid(Option<Uuid>),
    I64(Option<i64>),
}

pub struct Plan {
    pub name: String,
    pub source: &'static str,
    pub sql: &'static str,
    /// After `$1` env_id and `$2` org_id, or after `$1` org_id alone (`org_only`).
    pub params: Vec<Param>,
    pub org_only: bool,
    pub values: Vec<String>,
}

impl Plan {
    pub fn bind<'q>(
        &self,
        q: QueryScalar<'q, Postgres, String, PgArguments>,
        tenant: &taxpoynt_mono::tenancy::Tenant,
    ) -> QueryScalar<'q, Postgres, String, PgArguments> {
        let mut q = if self.org_only {
            q.bind(tenant.org_id)
        } else {
            q.bind(tenant.env_id).bind(tenant.org_id)
        };
        for p in &self.params {
            q = match p {
                Param::Text(v) => q.bind(v.clone()),
                Param::Date(v) => q.bind(*v),
                Param::Ts(v) => q.bind(*v),
                Param::Uuid(v) => q.bind(*v),
                Param::I64(v) => q.bind(*v),
            };
        }
        q
    }
}

pub const INVOICES: &str = r#"
SELECT i.id, i.status, i.kind, i.source, i.account_id, i.transaction_id, i.invoice_number, i.issue_date,
       i.issue_time, i.due_date, i.currency, i.amount, coalesce(i.buyer_name, i.counterparty) AS buyer_name,
       i.counterparty, i.buyer, i.invoice_kind, i.service_code, i.tax_category, i.tax_percent_bp,
       i.supplier, i.billing_reference, i.reference,
       coalesce(i.description, i.narration) AS description, i.payment_status, i.reason, i.rule_id,
       i.keywords, i.credited_invoice_id, i.irn, i.signed_at, i.signed_payload, i.signature,
       i.created_at, i.updated_at,
       s.status AS "submission_status?", s.submitted_at AS "submitted_at?", s.last_error AS "submission_error?",
       s.mbs_payment_status AS "mbs_payment_status?"
FROM invoices i LEFT JOIN invoice_submissions s ON s.invoice_id = i.id
WHERE i.env_id = $1 AND i.org_id = $2
  AND ($3::text IS NULL OR i.status = $3)
  AND ($4::text IS NULL OR i.account_id = $4)
  AND ($5::text IS NULL OR i.kind = $5)
  AND ($6::text IS NULL OR i.payment_status = $6)
  AND ($7::date IS NULL OR i.issue_date >= $7)
  AND ($8::date IS NULL OR i.issue_date <= $8)
  AND ($9::timestamptz IS NULL OR (i.created_at, i.id) < ($9, $10::uuid))
ORDER BY i.created_at DESC, i.id DESC
LIMIT $11
"#;

pub const DLQ: &str = r#"
SELECT id, seq, account_id, transaction_id, reason, detail, amount, currency, narration, reference,
       transaction, source, rule_id, keywords, policy_version, trace_id, status, resolution, note,
       invoice_id, created_at, resolved_at
FROM dlq_records
WHERE env_id = $1 AND org_id = $2 AND status = $3
  AND ($4::text IS NULL OR reason = $4)
  AND ($5::text IS NULL OR account_id = $5)
  AND ($6::timestamptz IS NULL OR created_at >= $6)
  AND ($7::timestamptz IS NULL OR created_at < $7)
  AND ($8::int8 IS NULL OR seq < $8)
ORDER BY seq DESC
LIMIT $9
"#;

pub const EVENTS: &str = r#"
SELECT id, account_id, transaction_id, outcome, reason, detail, amount, currency, narration,
       reference, source, trace_id, created_at
FROM eligibility_events
WHERE env_id = $1 AND org_id = $2
  AND ($3::text IS NULL OR account_id = $3)
  AND ($4::text IS NULL OR outcome = $4)
  AND ($5::text IS NULL OR reason = $5)
  AND ($6::int8 IS NULL OR id < $6)
ORDER BY id DESC
LIMIT $7
"#;

pub const BUYERS: &str = r#"
SELECT b.id, b.name, b.tin, b.email, b.telephone, b.address,
       coalesce((SELECT array_agg(k.match_key ORDER BY k.match_key) FROM buyer_match_keys k
                 WHERE k.org_id = b.org_id AND k.buyer_id = b.id AND k.kind = 'account'), '{}') AS "account_numbers!",
       coalesce((SELECT array_agg(k.match_key ORDER BY k.match_key) FROM buyer_match_keys k
                 WHERE k.org_id = b.org_id AND k.buyer_id = b.id AND k.kind = 'name'), '{}') AS "names!",
       (SELECT count(*) FROM invoices i WHERE i.org_id = b.org_id AND i.buyer_id = b.id) AS "invoices!",
       b.updated_at, lower(b.name) AS "sort_key!"
FROM buyers b
WHERE b.org_id = $1
  AND ($2::text IS NULL OR b.name ILIKE $2 OR b.tin ILIKE $2)
  AND ($3::text IS NULL OR (lower(b.name), b.id) > ($3, $4::uuid))
ORDER BY lower(b.name), b.id
LIMIT $5
"#;

pub const BUYERS_COUNT: &str = r#"
SELECT count(*) AS "n!" FROM buyers WHERE org_id = $1 AND ($2::text IS NULL OR name ILIKE $2 OR tin ILIKE $2)
"#;

pub const ACCOUNTS: &str = r#"
SELECT a.id, a.org_id, a.env_id, a.name, a.account_number, a.currency, a.type AS "type", a.balance,
       a.bvn_last4, a.institution_name, a.bank_code, a.institution_type, a.customer_id,
       a.data_status, a.auth_method, a.reauth_required, a.link_ref, a.linked_at, a.unlinked_at,
       a.details_fetched_at, a.last_synced_at, a.sync_cursor, a.cursor_updated_at,
       a.retrieved_data, a.last_sync_error, a.next_sync_at, a.connection,
       j.id AS "sync_job_id?", j.status AS "sync_job_status?"
FROM mono_accounts a
LEFT JOIN LATERAL (
    SELECT id, status FROM jobs
    WHERE dedupe_key = 'sync:' || a.env_id || ':' || a.id AND status IN ('queued', 'running')
) j ON true
WHERE a.env_id = $1 AND a.org_id = $2 AND a.unlinked_at IS NULL
  AND ($3::text IS NULL OR a.connection = $3)
ORDER BY a.linked_at, a.id
"#;

pub const JOB: &str = r#"
SELECT id, kind, status, progress, attempts, last_error, created_at, finished_at
FROM jobs WHERE id = $3 AND env_id = $1 AND org_id = $2
"#;

fn query_of(url: &str) -> (String, Vec<(String, String)>) {
    let parsed = url::Url::parse(url).expect("a request URL");
    let pairs = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    (parsed.path().to_string(), pairs)
}

fn get(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .filter(|v| !v.is_empty())
}

fn invoices(name: String, pairs: &[(String, String)]) -> Plan {
    let date = |n: &str| get(pairs, n).and_then(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").ok());
    let before = get(pairs, "before").and_then(|b| {
        let (micros, id) = b.split_once('_')?;
        Some((
            DateTime::from_timestamp_micros(micros.parse().ok()?)?,
            Uuid::parse_str(id).ok()?,
        ))
    });
    let limit = get(pairs, "limit").and_then(|l| l.parse().ok()).unwrap_or(50i64);
    Plan {
        name,
        source: "db::invoices::list",
        sql: INVOICES,
        org_only: false,
        values: pairs
            .iter()
            .filter(|(k, _)| k != "envId")
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        params: vec![
            Param::Text(get(pairs, "status")),
            Param::Text(get(pairs, "accountId")),
            Param::Text(None),
            Param::Text(None),
            Param::Date(date("from")),
            Param::Date(date("to")),
            Param::Ts(before.map(|b| b.0)),
            Param::Uuid(before.map(|b| b.1)),
            Param::I64(Some(limit + 1)),
        ],
    }
}

fn dlq(name: String, pairs: &[(String, String)]) -> Plan {
    let limit = get(pairs, "limit").and_then(|l| l.parse().ok()).unwrap_or(50i64);
    Plan {
        name,
        source: "db::dlq::list",
        sql: DLQ,
        org_only: false,
        values: pairs
            .iter()
            .filter(|(k, _)| k != "envId")
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        params: vec![
            Param::Text(Some("open".into())),
            Param::Text(get(pairs, "reason")),
            Param::Text(get(pairs, "accountId")),
            Param::Ts(None),
            Param::Ts(None),
            Param::I64(get(pairs, "before").and_then(|b| b.parse().ok())),
            Param::I64(Some(limit + 1)),
        ],
    }
}

fn events(name: String, pairs: &[(String, String)]) -> Plan {
    let limit = get(pairs, "limit").and_then(|l| l.parse().ok()).unwrap_or(50i64);
    Plan {
        name,
        source: "db::events::eligibility",
        sql: EVENTS,
        org_only: false,
        values: pairs
            .iter()
            .filter(|(k, _)| k != "envId")
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        params: vec![
            Param::Text(get(pairs, "accountId")),
            Param::Text(get(pairs, "outcome")),
            Param::Text(None),
            Param::I64(get(pairs, "before").and_then(|b| b.parse().ok())),
            Param::I64(Some(limit + 1)),
        ],
    }
}

/// One plan per case and query (the 40th page's three lists each).
pub fn plans(cases: &[Case]) -> Vec<Plan> {
    let mut out = Vec::new();
    for case in cases {
        for (k, url) in case.urls.iter().enumerate() {
            let (path, pairs) = query_of(url);
            let name = if case.name == "deep_page_40" {
                format!("{}_{}", case.name, ["invoices", "dlq", "events"][k.min(2)])
            } else if k == 0 {
                case.name.to_string()
            } else {
                break;
            };
            let values: Vec<String> = pairs
                .iter()
                .filter(|(k, _)| k != "envId")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            match path.as_str() {
                "/si/invoices" => out.push(invoices(name, &pairs)),
                "/si/mono/dlq" => out.push(dlq(name, &pairs)),
                "/si/mono/events" => out.push(events(name, &pairs)),
                "/si/buyers" => {
                    let pattern = get(&pairs, "q").map(|q| format!("%{q}%"));
                    out.push(Plan {
                        name: name.clone(),
                        source: "db::buyers::list",
                        sql: BUYERS,
                        org_only: true,
                        values: values.clone(),
                        params: vec![
                            Param::Text(pattern.clone()),
                            Param::Text(None),
                            Param::Uuid(None),
                            Param::I64(Some(51)),
                        ],
                    });
                    out.push(Plan {
                        name: format!("{name}_count"),
                        source: "db::buyers::count",
                        sql: BUYERS_COUNT,
                        org_only: true,
                        values,
                        params: vec![Param::Text(pattern)],
                    });
                }
                "/si/mono/accounts" => out.push(Plan {
                    name,
                    source: "db::accounts::list_linked",
                    sql: ACCOUNTS,
                    org_only: false,
                    values,
                    params: vec![Param::Text(None)],
                }),
                p if p.starts_with("/si/mono/jobs/") => out.push(Plan {
                    name,
                    source: "db::queue::get",
                    sql: JOB,
                    org_only: false,
                    values: vec![p.to_string()],
                    params: vec![Param::Uuid(
                        Uuid::parse_str(p.trim_start_matches("/si/mono/jobs/")).ok(),
                    )],
                }),
                _ => {}
            }
        }
    }
    out
}

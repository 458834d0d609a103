//! The lists' statements as the service issues them (read from the `src/db` function each
//! names, `common::statements`), bound to the values of a case's first request, for
//! `EXPLAIN (ANALYZE, BUFFERS)`.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::postgres::PgArguments;
use sqlx::query::QueryScalar;
use sqlx::Postgres;
use uuid::Uuid;

use super::common::statements::{highest_parameter, statement_of};
use super::Case;

pub enum Param {
    /// The tenant's environment.
    Env,
    /// The tenant's organization.
    Org,
    Text(Option<String>),
    Date(Option<NaiveDate>),
    Ts(Option<DateTime<Utc>>),
    Uuid(Option<Uuid>),
    I64(Option<i64>),
}

pub struct Plan {
    pub name: String,
    /// The `db` function whose statement this is, `db::<file>::<fn>`.
    pub source: &'static str,
    pub sql: &'static str,
    /// The statement's parameters, `$1` first.
    pub params: Vec<Param>,
    pub values: Vec<String>,
}

impl Plan {
    fn new(name: String, source: &'static str, values: Vec<String>, params: Vec<Param>) -> Plan {
        let sql = statement_of(source);
        assert_eq!(
            highest_parameter(sql),
            params.len(),
            "{source}: the statement's parameters and the plan's differ"
        );
        Plan {
            name,
            source,
            sql,
            params,
            values,
        }
    }

    pub fn bind<'q>(
        &self,
        mut q: QueryScalar<'q, Postgres, String, PgArguments>,
        tenant: &taxpoynt_mono::tenancy::Tenant,
    ) -> QueryScalar<'q, Postgres, String, PgArguments> {
        for p in &self.params {
            q = match p {
                Param::Env => q.bind(tenant.env_id),
                Param::Org => q.bind(tenant.org_id),
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

/// A request's filters as the plan's header prints them.
fn values_of(pairs: &[(String, String)]) -> Vec<String> {
    pairs
        .iter()
        .filter(|(k, _)| k != "envId")
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
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
    Plan::new(
        name,
        "db::invoices::list",
        values_of(pairs),
        vec![
            Param::Env,
            Param::Org,
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
    )
}

fn dlq(name: String, pairs: &[(String, String)]) -> Plan {
    let limit = get(pairs, "limit").and_then(|l| l.parse().ok()).unwrap_or(50i64);
    Plan::new(
        name,
        "db::dlq::list",
        values_of(pairs),
        vec![
            Param::Env,
            Param::Org,
            Param::Text(Some("open".into())),
            Param::Text(get(pairs, "reason")),
            Param::Text(get(pairs, "accountId")),
            Param::Ts(None),
            Param::Ts(None),
            Param::I64(get(pairs, "before").and_then(|b| b.parse().ok())),
            Param::I64(Some(limit + 1)),
        ],
    )
}

fn events(name: String, pairs: &[(String, String)]) -> Plan {
    let limit = get(pairs, "limit").and_then(|l| l.parse().ok()).unwrap_or(50i64);
    Plan::new(
        name,
        "db::events::eligibility",
        values_of(pairs),
        vec![
            Param::Env,
            Param::Org,
            Param::Text(get(pairs, "accountId")),
            Param::Text(get(pairs, "outcome")),
            Param::Text(None),
            Param::I64(get(pairs, "before").and_then(|b| b.parse().ok())),
            Param::I64(Some(limit + 1)),
        ],
    )
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
            let values = values_of(&pairs);
            match path.as_str() {
                "/si/invoices" => out.push(invoices(name, &pairs)),
                "/si/mono/dlq" => out.push(dlq(name, &pairs)),
                "/si/mono/events" => out.push(events(name, &pairs)),
                "/si/buyers" => {
                    let pattern = get(&pairs, "q").map(|q| format!("%{q}%"));
                    out.push(Plan::new(
                        name.clone(),
                        "db::buyers::list",
                        values.clone(),
                        vec![
                            Param::Org,
                            Param::Text(pattern.clone()),
                            Param::Text(None),
                            Param::Uuid(None),
                            Param::I64(Some(51)),
                        ],
                    ));
                    out.push(Plan::new(
                        format!("{name}_count"),
                        "db::buyers::count",
                        values,
                        vec![Param::Org, Param::Text(pattern)],
                    ));
                }
                "/si/mono/accounts" => out.push(Plan::new(
                    name,
                    "db::accounts::list_linked",
                    values,
                    vec![Param::Env, Param::Org, Param::Text(None)],
                )),
                p if p.starts_with("/si/mono/jobs/") => out.push(Plan::new(
                    name,
                    "db::queue::get",
                    vec![p.to_string()],
                    vec![
                        Param::Uuid(Uuid::parse_str(p.trim_start_matches("/si/mono/jobs/")).ok()),
                        Param::Env,
                        Param::Org,
                    ],
                )),
                _ => {}
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each statement the bench explains is found in its function, whole, whatever the
    /// literal's kind (raw or plain).
    #[test]
    fn each_statement_is_read_from_its_function() {
        for (source, first, last, params) in [
            ("db::invoices::list", "SELECT i.id", "LIMIT $11", 11),
            ("db::dlq::list", "SELECT id, seq", "LIMIT $9", 9),
            ("db::events::eligibility", "SELECT id, account_id", "LIMIT $7", 7),
            ("db::buyers::list", "SELECT b.id", "LIMIT $5", 5),
            ("db::buyers::count", "SELECT count(*)", "tin LIKE $2)", 2),
            (
                "db::accounts::list_linked",
                "SELECT a.id",
                "ORDER BY a.linked_at, a.id",
                3,
            ),
            ("db::queue::get", "SELECT id, kind", "org_id = $3", 3),
        ] {
            let sql = statement_of(source);
            assert!(sql.trim_start().starts_with(first), "{source}: {sql}");
            assert!(sql.trim_end().ends_with(last), "{source}: {sql}");
            assert_eq!(highest_parameter(sql), params, "{source}");
        }
    }
}

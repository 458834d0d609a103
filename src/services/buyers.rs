//! The buyer directory (`/si/buyers`): the organization's buyers, edited by hand and learned
//! from confirmed invoices, and the matching that names a draft's buyer from its
//! transaction's counterparty: by account number when the transaction carries one an entry
//! holds, else by normalised name (`normalise_name`). One directory per organization: both
//! environments invoice the same buyers, as they share the organization profile.
//!
//! Drafting names a draft's entry in the statement that stores the drafts
//! (`db::buyers::prefill_drafts`, the same keys); [`find_match`] answers the entry one
//! counterparty names. Invoice code calls [`learn`] inside `confirm`'s transaction, and
//! converts a [`BuyerEntry`] into the invoice's `party::Buyer` with `Buyer::from`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::db::buyers::{self as db, BuyerChange, BuyerDetails, KeyKind};
use crate::error::{ApiError, FieldErrors};
use crate::party::{Address, Buyer};
use crate::services::party_checks::{self, present};
use crate::state::AppState;
use crate::tenancy::Tenant;

pub use crate::db::buyers::BuyerEntry;

/// At most this many keys of each kind per entry.
pub const MAX_KEYS: usize = 50;

/// A name as matching compares it: letters and digits only, upper case, words split at
/// spaces and punctuation and joined by one space, `LIMITED` written `LTD`. "Bola Stores
/// Ltd." == "BOLA STORES LIMITED" == "bola-stores ltd".
pub fn normalise_name(name: &str) -> String {
    let folded: String = name
        .chars()
        .flat_map(char::to_uppercase)
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    folded
        .split_whitespace()
        .map(|word| if word == "LIMITED" { "LTD" } else { word })
        .collect::<Vec<_>>()
        .join(" ")
}

/// An account number as matching compares it: spaces and `-` dropped, letters upper case;
/// None when nothing is left or it is not 1 to 34 letters and digits (an IBAN's length).
pub fn normalise_account(number: &str) -> Option<String> {
    let n: String = number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (!n.is_empty() && n.len() <= 34 && n.bytes().all(|b| b.is_ascii_alphanumeric())).then_some(n)
}

/// The entry the counterparty of a transaction names: its account number when it carries
/// one an entry holds, else its normalised name. Raw values: they are normalised here.
pub async fn find_match(
    db: &PgPool,
    tenant: &Tenant,
    account_number: Option<&str>,
    name: Option<&str>,
) -> Result<Option<BuyerEntry>, sqlx::Error> {
    let account = account_number.and_then(normalise_account);
    let name = name.map(normalise_name).filter(|n| !n.is_empty());
    if account.is_none() && name.is_none() {
        return Ok(None);
    }
    match db::match_id(db, tenant, account.as_deref(), name.as_deref()).await? {
        Some(id) => db::get(db, tenant, id).await,
        None => Ok(None),
    }
}

/// What `confirm` calls inside its transaction with the buyer an invoice ends with and its
/// transaction's counterparty (raw account number and name). With `buyer.id`, that entry (of
/// this organization, else 400 naming `buyer.id`) takes the buyer's details; else the entry
/// the counterparty matches does; else a new entry is made. The counterparty's keys then
/// point at that entry (moved from any other). A detail the buyer leaves out is kept. Bad
/// details → 400 naming each `buyer.*` field. Answers the entry's id.
pub async fn learn(
    conn: &mut PgConnection,
    tenant: &Tenant,
    buyer: &Buyer,
    account_number: Option<&str>,
    counterparty_name: Option<&str>,
) -> Result<Uuid, ApiError> {
    let details = checked_buyer(buyer)?;
    let account = account_number.and_then(normalise_account);
    let name_key = counterparty_name.map(normalise_name).filter(|n| !n.is_empty());
    db::lock_directory(&mut *conn, tenant).await?;
    let existing = match buyer.id {
        Some(id) => {
            if !db::lock(&mut *conn, tenant, id).await? {
                return Err(ApiError::field(
                    "buyer.id",
                    "is not an entry of the organization's buyer directory",
                ));
            }
            Some(id)
        }
        None => db::match_id(&mut *conn, tenant, account.as_deref(), name_key.as_deref()).await?,
    };
    let id = match existing {
        Some(id) => {
            let change = BuyerChange {
                name: Some(details.name),
                tin: details.tin.map(Some),
                email: details.email.map(Some),
                telephone: details.telephone.map(Some),
                address: details.address.map(Some),
            };
            db::update(&mut *conn, tenant, id, &change).await?;
            id
        }
        None => {
            let id = Uuid::now_v7();
            let own = normalise_name(&details.name);
            db::insert(&mut *conn, tenant, id, &details).await?;
            if !own.is_empty() {
                db::add_keys(&mut *conn, tenant, id, KeyKind::Name, &[own], false).await?;
            }
            id
        }
    };
    if let Some(account) = account {
        db::add_keys(&mut *conn, tenant, id, KeyKind::Account, &[account], true).await?;
    }
    if let Some(name) = name_key {
        db::add_keys(&mut *conn, tenant, id, KeyKind::Name, &[name], true).await?;
    }
    Ok(id)
}

/// A buyer's details checked as the directory keeps them, problems named `buyer.*`.
fn checked_buyer(b: &Buyer) -> Result<BuyerDetails, ApiError> {
    let mut bad = FieldErrors::new();
    let name = party_checks::name(&b.name)
        .map_err(|rule| bad.insert("buyer.name".into(), rule.into()))
        .unwrap_or_default();
    let mut optional = |field: &str, v: &Option<String>, check: fn(&str) -> Result<String, &'static str>| {
        party_checks::optional_checked(field, Some(v.clone()), &mut bad, check).flatten()
    };
    let tin = optional("buyer.tin", &b.tin, party_checks::tin);
    let email = optional("buyer.email", &b.email, party_checks::email);
    let telephone = optional("buyer.telephone", &b.telephone, party_checks::telephone);
    if let Some(a) = &b.address {
        a.problems("buyer.address", &mut bad);
    }
    if !bad.is_empty() {
        return Err(ApiError::fields(bad));
    }
    Ok(BuyerDetails {
        name,
        tin,
        email,
        telephone,
        address: b.address.clone(),
    })
}

/// An entry as `/si/buyers` shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"id": "0193a5b2-7c1d-7e2f-8a3b-4c5d6e7f8091", "name": "Bola Stores Ltd", "tin": "23456789-0001", "email": "accounts@bolastores.ng", "telephone": "+2348012345678", "address": {"street": "4 Allen Avenue", "city": "Ikeja", "country": "NG", "state": "NG-LA"}, "match": {"accountNumbers": ["0123456789"], "names": ["BOLA STORES LTD"]}, "invoices": 3, "updatedAt": "2026-12-08T10:00:00Z"}))]
pub struct BuyerView {
    id: Uuid,
    name: String,
    tin: Option<String>,
    email: Option<String>,
    telephone: Option<String>,
    address: Option<Address>,
    #[serde(rename = "match")]
    match_keys: MatchView,
    /// Invoices (of either environment) that name this entry.
    invoices: i64,
    updated_at: DateTime<Utc>,
}

/// What makes a transaction's counterparty this buyer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MatchView {
    /// Counterparty account numbers (spaces and `-` dropped).
    account_numbers: Vec<String>,
    /// Normalised counterparty names (upper case, punctuation folded, `LIMITED` as `LTD`).
    names: Vec<String>,
}

impl From<BuyerEntry> for BuyerView {
    fn from(e: BuyerEntry) -> Self {
        BuyerView {
            id: e.id,
            name: e.name,
            tin: e.tin,
            email: e.email,
            telephone: e.telephone,
            address: e.address,
            match_keys: MatchView {
                account_numbers: e.account_numbers,
                names: e.names,
            },
            invoices: e.invoices,
            updated_at: e.updated_at,
        }
    }
}

/// `POST /si/buyers` and `PUT /si/buyers/{id}`. On PUT an absent field is left alone and
/// `null` clears an optional one; a `match` list given replaces that list.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"name": "Bola Stores Ltd", "tin": "23456789-0001", "email": "accounts@bolastores.ng", "telephone": "+2348012345678", "address": {"street": "4 Allen Avenue", "city": "Ikeja", "country": "NG", "state": "NG-LA"}, "match": {"accountNumbers": ["0123456789"]}}))]
pub struct BuyerBody {
    /// Required to create an entry; 1 to 200 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(min_length = 1, max_length = 200)]
    name: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^[0-9-]{8,20}$")]
    tin: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    email: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = r"^\+[0-9 -]+$", max_length = 40)]
    telephone: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<crate::party::Address>)]
    address: Option<Option<Value>>,
    /// How transactions name this buyer.
    #[serde(default, rename = "match", deserialize_with = "present")]
    match_keys: Option<Option<MatchBody>>,
    /// Environment selectors, read by the `Tenant` extractor.
    #[serde(default, rename = "envId")]
    #[schema(value_type = Option<uuid::Uuid>)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[schema(value_type = Option<crate::vocab::EnvParam>)]
    _env: Option<Value>,
}

/// A buyer's match keys: each list given replaces the stored one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MatchBody {
    #[serde(default)]
    account_numbers: Option<Vec<String>>,
    #[serde(default)]
    names: Option<Vec<String>>,
}

/// The checked keys of a request: None leaves that list as it is.
#[derive(Debug, Default)]
struct Keys {
    accounts: Option<Vec<String>>,
    names: Option<Vec<String>>,
}

/// `GET /si/buyers` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct BuyerQuery {
    /// Part of a name or TIN, any case.
    q: Option<String>,
    /// 1 to 200, default 50.
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// `meta.next` of the page before.
    cursor: Option<String>,
    #[serde(default, rename = "envId")]
    #[param(ignore)]
    _env_id: Option<Value>,
    #[serde(default, rename = "env")]
    #[param(ignore)]
    _env: Option<Value>,
}

pub struct BuyerPage {
    pub buyers: Vec<BuyerView>,
    pub total: i64,
    pub pages: i64,
    pub next: Option<String>,
}

pub async fn list(state: &AppState, tenant: &Tenant, q: BuyerQuery) -> Result<BuyerPage, ApiError> {
    let mut bad = FieldErrors::new();
    let limit = match q.limit {
        None => 50,
        Some(n) if (1..=200).contains(&n) => n,
        Some(_) => {
            bad.insert("limit".into(), "must be between 1 and 200".into());
            50
        }
    };
    let after = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let parsed = decode_cursor(c);
            if parsed.is_none() {
                bad.insert("cursor".into(), "is not a cursor from meta.next".into());
            }
            parsed
        }
    };
    if !bad.is_empty() {
        return Err(ApiError::fields(bad));
    }
    let pattern =
        q.q.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| format!("%{}%", escape_like(s)));
    let mut rows = db::list(
        &state.db,
        tenant,
        pattern.as_deref(),
        after.as_ref().map(|(k, id)| (k.as_str(), *id)),
        limit,
    )
    .await?;
    let total = db::count(&state.db, tenant, pattern.as_deref()).await?;
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|(e, key)| encode_cursor(key, e.id))
    } else {
        None
    };
    Ok(BuyerPage {
        buyers: rows.into_iter().map(|(e, _)| e.into()).collect(),
        total,
        pages: (total + limit - 1) / limit,
        next,
    })
}

pub async fn get(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<BuyerView, ApiError> {
    db::get(&state.db, tenant, id)
        .await?
        .map(BuyerView::from)
        .ok_or_else(|| not_found(id))
}

pub async fn create(state: &AppState, tenant: &Tenant, body: BuyerBody) -> Result<BuyerView, ApiError> {
    let (change, keys) = parse_body(body, true)?;
    let details = BuyerDetails {
        name: change.name.unwrap_or_default(),
        tin: change.tin.flatten(),
        email: change.email.flatten(),
        telephone: change.telephone.flatten(),
        address: change.address.flatten(),
    };
    let id = Uuid::now_v7();
    let mut tx = state.db.begin().await?;
    db::lock_directory(&mut *tx, tenant).await?;
    check_keys_free(&mut tx, tenant, id, &keys).await?;
    db::insert(&mut *tx, tenant, id, &details).await?;
    save_keys(&mut tx, tenant, id, &keys).await?;
    if keys.names.is_none() {
        // Without names of its own, an entry matches by its name.
        let own = normalise_name(&details.name);
        if !own.is_empty() {
            db::add_keys(&mut *tx, tenant, id, KeyKind::Name, &[own], false).await?;
        }
    }
    tx.commit().await?;
    get(state, tenant, id).await
}

pub async fn update(
    state: &AppState,
    tenant: &Tenant,
    id: Uuid,
    body: BuyerBody,
) -> Result<BuyerView, ApiError> {
    let (change, keys) = parse_body(body, false)?;
    let mut tx = state.db.begin().await?;
    db::lock_directory(&mut *tx, tenant).await?;
    if !db::lock(&mut *tx, tenant, id).await? {
        return Err(not_found(id));
    }
    check_keys_free(&mut tx, tenant, id, &keys).await?;
    db::update(&mut *tx, tenant, id, &change).await?;
    save_keys(&mut tx, tenant, id, &keys).await?;
    tx.commit().await?;
    get(state, tenant, id).await
}

/// What `DELETE /si/buyers/{id}` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BuyerDeleted {
    pub id: Uuid,
    /// Always true.
    pub deleted: bool,
}

/// Deletes an entry and its keys; the invoices that named it keep their buyer details.
pub async fn delete(state: &AppState, tenant: &Tenant, id: Uuid) -> Result<BuyerDeleted, ApiError> {
    if db::delete(&state.db, tenant, id).await? {
        Ok(BuyerDeleted { id, deleted: true })
    } else {
        Err(not_found(id))
    }
}

fn not_found(id: Uuid) -> ApiError {
    ApiError::not_found(format!("no buyer {id}"))
}

/// 409 `match_taken` when a key asked for already names another entry.
async fn check_keys_free(
    conn: &mut PgConnection,
    tenant: &Tenant,
    id: Uuid,
    keys: &Keys,
) -> Result<(), ApiError> {
    for (kind, list, field) in [
        (KeyKind::Account, &keys.accounts, "match.accountNumbers"),
        (KeyKind::Name, &keys.names, "match.names"),
    ] {
        let Some(list) = list else { continue };
        let held = db::keys_held_elsewhere(&mut *conn, tenant, kind, list, id).await?;
        if let Some((key, other)) = held.first() {
            let mut extra = serde_json::Map::new();
            extra.insert("field".into(), Value::from(field));
            extra.insert(
                "keys".into(),
                Value::from(held.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>()),
            );
            extra.insert("buyerId".into(), Value::from(other.to_string()));
            return Err(ApiError::Conflict {
                code: "match_taken",
                message: format!("{field}: `{key}` already matches buyer {other}; a key names one buyer"),
                extra,
            });
        }
    }
    Ok(())
}

async fn save_keys(
    conn: &mut PgConnection,
    tenant: &Tenant,
    id: Uuid,
    keys: &Keys,
) -> Result<(), sqlx::Error> {
    if let Some(accounts) = &keys.accounts {
        db::replace_keys(&mut *conn, tenant, id, KeyKind::Account, accounts).await?;
    }
    if let Some(names) = &keys.names {
        db::replace_keys(&mut *conn, tenant, id, KeyKind::Name, names).await?;
    }
    Ok(())
}

/// The change and keys of a request, or 400 naming every bad field. `creating`: `name` is
/// required.
fn parse_body(b: BuyerBody, creating: bool) -> Result<(BuyerChange, Keys), ApiError> {
    let mut bad = FieldErrors::new();
    let mut change = BuyerChange::default();
    match b.name {
        None if creating => {
            bad.insert("name".into(), "is required".into());
        }
        None => {}
        Some(None) => {
            bad.insert("name".into(), "cannot be cleared".into());
        }
        Some(Some(name)) => match party_checks::name(&name) {
            Ok(name) => change.name = Some(name),
            Err(rule) => {
                bad.insert("name".into(), rule.into());
            }
        },
    }
    change.tin = party_checks::optional_checked("tin", b.tin, &mut bad, party_checks::tin);
    change.email = party_checks::optional_checked("email", b.email, &mut bad, party_checks::email);
    change.telephone =
        party_checks::optional_checked("telephone", b.telephone, &mut bad, party_checks::telephone);
    change.address = match b.address {
        None => None,
        Some(None) => Some(None),
        Some(Some(v)) => party_checks::address("address", v, &mut bad).map(Some),
    };
    let mut keys = Keys::default();
    match b.match_keys {
        None => {}
        Some(None) => {
            keys.accounts = Some(Vec::new());
            keys.names = Some(Vec::new());
        }
        Some(Some(m)) => {
            keys.accounts = m.account_numbers.map(|list| {
                checked_keys("match.accountNumbers", list, &mut bad, |s| {
                    normalise_account(s).ok_or("must be 1 to 34 letters and digits")
                })
            });
            keys.names = m.names.map(|list| {
                checked_keys("match.names", list, &mut bad, |s| {
                    let n = normalise_name(s);
                    if n.is_empty() || n.chars().count() > 200 {
                        Err("must hold 1 to 200 letters or digits")
                    } else {
                        Ok(n)
                    }
                })
            });
        }
    }
    if bad.is_empty() {
        Ok((change, keys))
    } else {
        Err(ApiError::fields(bad))
    }
}

/// Normalised, deduplicated keys; a bad one named `{field}[i]`.
fn checked_keys(
    field: &str,
    list: Vec<String>,
    bad: &mut FieldErrors,
    normalise: impl Fn(&str) -> Result<String, &'static str>,
) -> Vec<String> {
    if list.len() > MAX_KEYS {
        bad.insert(field.into(), format!("must hold at most {MAX_KEYS} entries"));
    }
    let mut keys = Vec::new();
    for (i, raw) in list.iter().enumerate() {
        match normalise(raw) {
            Ok(k) if !keys.contains(&k) => keys.push(k),
            Ok(_) => {}
            Err(rule) => {
                bad.insert(format!("{field}[{i}]"), rule.into());
            }
        }
    }
    keys
}

fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Opaque: base64url of `{id}:{lower(name)}` of the page's last entry.
fn encode_cursor(sort_key: &str, id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{id}:{sort_key}"))
}

fn decode_cursor(c: &str) -> Option<(String, Uuid)> {
    let bytes = URL_SAFE_NO_PAD.decode(c.trim()).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (id, key) = text.split_once(':')?;
    Some((key.to_owned(), Uuid::parse_str(id).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fold_case_spaces_punctuation_and_limited() {
        let n = normalise_name("Bola Stores Ltd.");
        assert_eq!(n, "BOLA STORES LTD");
        assert_eq!(normalise_name("BOLA STORES LIMITED"), n);
        assert_eq!(normalise_name("bola-stores ltd"), n);
        assert_eq!(normalise_name("  Bola   Stores, Ltd "), n);
        assert_ne!(normalise_name("Bola Store Ltd"), n);
        // Only the word: a name that merely contains it is left alone.
        assert_eq!(normalise_name("Unlimited Foods"), "UNLIMITED FOODS");
        assert_eq!(normalise_name("Ọ̀yọ́ Mart"), normalise_name("ọ̀yọ́ MART"));
        assert_eq!(normalise_name(" .- "), "");
    }

    #[test]
    fn account_numbers_drop_spaces_and_dashes() {
        assert_eq!(normalise_account(" 0123-456 789").as_deref(), Some("0123456789"));
        assert_eq!(
            normalise_account("gb29nwbk60161331926819").as_deref(),
            Some("GB29NWBK60161331926819")
        );
        assert_eq!(normalise_account(" - "), None);
        assert_eq!(normalise_account("0123/456"), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_garbage() {
        let id = Uuid::now_v7();
        let c = encode_cursor("bola: stores", id);
        assert_eq!(decode_cursor(&c), Some(("bola: stores".into(), id)));
        assert_eq!(decode_cursor("not a cursor"), None);
        assert_eq!(decode_cursor(&URL_SAFE_NO_PAD.encode("x:y")), None);
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }

    #[test]
    fn a_body_names_every_bad_field() {
        let body: BuyerBody = crate::http::extract::parse_json(
            br#"{"tin": "x", "email": "no", "telephone": "0801", "address": {"city": "Ikeja"},
                 "match": {"accountNumbers": ["01/2"], "names": ["--"]}}"#,
        )
        .unwrap();
        let Err(ApiError::BadRequest { fields, .. }) = parse_body(body, true) else {
            panic!("expected a 400")
        };
        let names: Vec<&str> = fields.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "address.country",
                "address.street",
                "email",
                "match.accountNumbers[0]",
                "match.names[0]",
                "name",
                "telephone",
                "tin"
            ]
        );
    }
}

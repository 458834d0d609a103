//! Extractors that fail in the contract's envelope, naming the offending field:
//! `ApiJson` (body), `ApiQuery` (query string) and `ApiPath` (path parameters); and the
//! caller's address (`PeerAddr`), which never fails.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Request bodies above this many bytes are refused with 413.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// JSON body; malformed JSON, a wrong content type and a bad field all answer 400/415 in the
/// envelope with the field's path (`customer.email`) named.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "expected a request with `content-type: application/json`".into(),
            ));
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON body that may be left out: an empty body is `T::default()` (e.g. `sync-stored`,
/// whose body is only the optional environment).
pub struct ApiJsonOrEmpty<T>(pub T);

impl<S, T> FromRequest<S> for ApiJsonOrEmpty<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let json = is_json(req.headers());
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Ok(ApiJsonOrEmpty(T::default()));
        }
        if !json {
            return Err(ApiError::UnsupportedMediaType(
                "expected a request with `content-type: application/json`".into(),
            ));
        }
        parse_json(&bytes).map(ApiJsonOrEmpty)
    }
}

/// The socket peer's address, as the server was told it (`startup` serves with it); none
/// when it was not (a router called without a socket). No proxy header is read: behind a
/// proxy this is the proxy.
pub struct PeerAddr(pub Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        Ok(PeerAddr(peer))
    }
}

/// An optional integer as JSON Schema counts one: `161` and `161.0` alike (a client's JSON
/// library may write a whole number with a fraction part); `161.5` is refused.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    use serde::Deserialize;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(i) = n.as_i64() {
        return Ok(Some(i));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(Some(f as i64)),
        _ => Err(serde::de::Error::custom(format!(
            "expected a whole number, got {n}"
        ))),
    }
}

/// The raw body, untouched, within the size limit (413 beyond it): for signed webhooks.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_body(req, state).await.map(RawBody)
    }
}

/// The body as bytes, within the size limit (413 beyond it).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit: BODY_LIMIT }
        } else {
            ApiError::bad_request("invalid_body", rejection.body_text())
        }
    })
}

/// Deserialize a JSON document, mapping errors to the envelope with the field's path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::bad_request(
            "malformed_json",
            "request body is empty; expected a JSON object",
        ));
    }
    // Every body of this API is an object; serde would read an array into a struct by position.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::bad_request(
            "invalid_request",
            "request body must be a JSON object",
        ));
    }
    // PostgreSQL text cannot hold NUL; refuse it here, where the field can still be named.
    if crate::nul::contains_escaped_nul(bytes) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
            if let Some(path) = crate::nul::nul_path(&value, String::new()) {
                return Err(ApiError::field(path, "must not contain NUL characters"));
            }
        }
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        json_error(path, inner)
    })?;
    de.end().map_err(|e| json_error(".".into(), e))?;
    Ok(value)
}

fn json_error(path: String, inner: serde_json::Error) -> ApiError {
    use serde_json::error::Category;
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::bad_request(
            "malformed_json",
            format!("request body is not valid JSON: {inner}"),
        ),
        Category::Data => {
            let problem = redact::serde_problem(strip_position(&inner.to_string()));
            ApiError::field(field_of(path, &problem, "body"), problem)
        }
    }
}

pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query string, with unknown parameters ignored and bad ones named.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_query(parts.uri.query().unwrap_or("")).map(ApiQuery)
    }
}

pub fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    if let Some((key, _)) = form_urlencoded_parse(query).find(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return Err(ApiError::field(
            key.replace('\0', ""),
            "must not contain NUL characters",
        ));
    }
    let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(query));
    serde_path_to_error::deserialize(de).map_err(|err| {
        let path = err.path().to_string();
        let problem = redact::serde_problem(&err.into_inner().to_string());
        ApiError::field(field_of(path, &problem, "query"), problem)
    })
}

fn form_urlencoded_parse(query: &str) -> url::form_urlencoded::Parse<'_> {
    url::form_urlencoded::parse(query.as_bytes())
}

/// Path parameters; a malformed id (or one no database could hold) is an unknown resource.
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if percent_decoded_has_nul(parts.uri.path()) {
            return Err(ApiError::not_found("not found"));
        }
        let axum::extract::Path(value) = axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(ApiPath(value))
    }
}

fn percent_decoded_has_nul(path: &str) -> bool {
    path.as_bytes().windows(3).any(|w| w == b"%00")
}

fn strip_position(text: &str) -> &str {
    match text.rfind(" at line ") {
        Some(i) => &text[..i],
        None => text,
    }
}

/// The offending field: serde's path when it has one, else the name a message quotes
/// ("missing field `code`"), else `fallback`.
fn field_of(path: String, problem: &str, fallback: &str) -> String {
    if path == "." || path.is_empty() {
        field_in_message(problem).unwrap_or_else(|| fallback.to_string())
    } else {
        path
    }
}

/// The first backquoted name in a serde message: "missing field `code`" -> `code`.
fn field_in_message(text: &str) -> Option<String> {
    let start = text.find('`')? + 1;
    let len = text[start..].find('`')?;
    let name = &text[start..start + len];
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {

    #[test]
    fn a_whole_number_may_carry_a_zero_fraction() {
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(default, deserialize_with = "super::whole_number")]
            n: Option<i64>,
        }
        let n = |json: &str| serde_json::from_str::<Body>(json).map(|b| b.n);
        assert_eq!(n(r#"{"n": 161}"#).unwrap(), Some(161));
        assert_eq!(n(r#"{"n": 161.0}"#).unwrap(), Some(161));
        assert_eq!(n(r#"{"n": -3.0}"#).unwrap(), Some(-3));
        assert_eq!(n(r#"{"n": null}"#).unwrap(), None);
        assert_eq!(n(r#"{}"#).unwrap(), None);
        assert!(n(r#"{"n": 161.5}"#).is_err());
        assert!(n(r#"{"n": 1e300}"#).is_err());
        assert!(n(r#"{"n": "161"}"#).is_err());
    }
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Body {
        #[allow(dead_code)]
        account_id: String,
        #[allow(dead_code)]
        page_size: Option<u16>,
    }

    fn fields_of(err: ApiError) -> crate::error::FieldErrors {
        match err {
            ApiError::BadRequest { fields, .. } => fields,
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn names_the_missing_field() {
        let err = parse_json::<Body>(br#"{"pageSize": 3}"#).unwrap_err();
        assert!(fields_of(err).contains_key("accountId"));
    }

    #[test]
    fn names_the_mistyped_field() {
        let err = parse_json::<Body>(br#"{"accountId": "a", "pageSize": "x"}"#).unwrap_err();
        assert!(fields_of(err).contains_key("pageSize"));
    }

    #[test]
    fn malformed_json_has_its_own_code() {
        let err = parse_json::<Body>(br#"{"accountId": "#).unwrap_err();
        assert_eq!(err.code(), "malformed_json");
        let err = parse_json::<Body>(b"  ").unwrap_err();
        assert_eq!(err.code(), "malformed_json");
    }

    #[test]
    fn nul_characters_are_refused_naming_the_field() {
        #[derive(Debug, Deserialize)]
        struct Nested {
            #[allow(dead_code)]
            customer: serde_json::Value,
        }
        let err = parse_json::<Nested>(br#"{"customer": {"names": ["ok", "a\u0000b"]}}"#).unwrap_err();
        assert!(fields_of(err).contains_key("customer.names[1]"));
        #[derive(Debug, Deserialize)]
        struct Q {
            #[allow(dead_code)]
            reason: Option<String>,
        }
        let err = parse_query::<Q>("reason=a%00b").unwrap_err();
        assert!(fields_of(err).contains_key("reason"));
    }

    #[test]
    fn query_errors_name_the_parameter() {
        #[derive(Debug, Deserialize)]
        struct Q {
            #[allow(dead_code)]
            limit: Option<u8>,
        }
        let err = parse_query::<Q>("limit=abc").unwrap_err();
        assert!(fields_of(err).contains_key("limit"));
        assert!(parse_query::<Q>("limit=5&other=1").is_ok());
    }
}

//! HTTP as tests speak it: requests sent exactly as given, JSON calls with a bearer key, the
//! app's typed answers (`app.get::<T>`: a success whose `data` is a `T`) beside the raw ones
//! (`app.get_raw`: status and body, for tests of failures), and the failure envelope.

use axum::body::Bytes;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

use super::{PageMeta, TestApp};

/// What came back: status, headers and the body's bytes as they were.
pub struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    /// The body as JSON; panics showing it when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("body is not JSON: {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("header is text"))
    }
}

/// A client that never follows redirects: tests look at them.
pub(super) fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn send(
    http: &reqwest::Client,
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> reqwest::Result<RawResponse> {
    let mut request = http.request(method, url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    // An empty body is no body: no `content-length: 0` on a GET.
    if !body.is_empty() {
        request = request.body(body);
    }
    let response = request.send().await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.bytes().await?;
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Sends `method url` with `headers` and `body` as given (beyond them only what HTTP needs
/// and reqwest's `accept: */*`; an empty body is no body) and follows no redirect; answers
/// status, headers and body bytes. Panics when nothing answers.
pub async fn raw(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> RawResponse {
    try_raw(method, url, headers, body)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// [`raw`], answering the transport error (nothing listening yet, say) instead of panicking.
pub async fn try_raw(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Vec<u8>>,
) -> reqwest::Result<RawResponse> {
    send(&no_redirects(), method, url, headers, body.into()).await
}

/// `method url` as `key` (none: anonymous) with a JSON `body`; answers the status and the
/// JSON body.
pub async fn call(method: Method, url: &str, key: Option<&str>, body: Option<&Value>) -> (u16, Value) {
    let (headers, bytes) = json_request(key, body);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let resp = raw(method, url, &headers, bytes).await;
    (resp.status, resp.json())
}

/// Headers and bytes of a JSON API request: the bearer `key` and the JSON `body`, if any.
fn json_request(key: Option<&str>, body: Option<&Value>) -> (Vec<(&'static str, String)>, Vec<u8>) {
    let mut headers = Vec::new();
    if let Some(key) = key {
        headers.push(("authorization", format!("Bearer {key}")));
    }
    let bytes = match body {
        Some(body) => {
            headers.push(("content-type", "application/json".to_owned()));
            serde_json::to_vec(body).unwrap()
        }
        None => Vec::new(),
    };
    (headers, bytes)
}

/// A response's status and JSON body.
pub async fn split(resp: reqwest::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("body is not JSON: {text}"));
    (status, body)
}

/// The `data` of the success envelope `body` as a `T`; panics showing the body when it is no
/// success or `data` is no `T` (naming the field that does not fit).
pub fn data<T: DeserializeOwned>(body: &Value) -> T {
    assert_eq!(body["status"], "successful", "not a success: {body}");
    serde_path_to_error::deserialize(&body["data"])
        .unwrap_or_else(|e| panic!("`data` is no {}: {e}: {body}", std::any::type_name::<T>()))
}

/// Asserts the failure envelope and returns its `error.code`.
pub fn assert_failure(body: &Value) -> String {
    assert_eq!(body["status"], "failed", "{body}");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(body["timestamp"].as_str().is_some(), "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert!(body["traceId"].as_str().is_some_and(|t| !t.is_empty()), "{body}");
    body["error"]["code"].as_str().expect("error.code").to_string()
}

/// Opens the widget page at `mono_url` as a browser would; answers where it redirects to.
pub async fn open_widget(mono_url: &str) -> Url {
    let resp = raw(Method::GET, mono_url, &[], "").await;
    assert_eq!(resp.status, 302, "widget page answered {}", resp.status);
    assert!(
        resp.text().contains("Continue to the app"),
        "HTML fallback: {}",
        resp.text()
    );
    Url::parse(resp.header("location").expect("a redirect has a Location")).unwrap()
}

/// The value of `key` in the query of `url`.
pub fn query_value(url: &Url, key: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

impl TestApp {
    /// `method path` with `headers` and `body` as given; see [`raw`].
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Vec<u8>>,
    ) -> RawResponse {
        send(self.http(), method, &self.url(path), headers, body.into())
            .await
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// `method path` as `key` (none: anonymous) with a JSON `body`; answers the status and
    /// the JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (headers, bytes) = json_request(key, body);
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let resp = self.raw(method, path, &headers, bytes).await;
        (resp.status, resp.json())
    }

    /// `method path` as the tenant, which must answer `expected`; answers `data` as a `T`.
    async fn expect<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> T {
        let (status, answer) = self.call(method.clone(), path, Some(self.key()), body).await;
        assert_eq!(status, expected, "{method} {path}: {answer}");
        data(&answer)
    }

    /// `GET path` as the tenant: a 200 whose `data` is a `T`.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        self.expect(Method::GET, path, None, 200).await
    }

    /// `GET path` of a list as the tenant: a 200 whose `data` is a list of `T`, and its paging
    /// (`meta`).
    pub async fn get_page<T: DeserializeOwned>(&self, path: &str) -> (Vec<T>, PageMeta) {
        let (status, answer) = self.get_raw(path).await;
        assert_eq!(status, 200, "GET {path}: {answer}");
        let meta = serde_path_to_error::deserialize(&answer["meta"])
            .unwrap_or_else(|e| panic!("`meta` is no page: {e}: {answer}"));
        (data(&answer), meta)
    }

    /// `POST path` as the tenant: a 200 whose `data` is a `T`.
    pub async fn post<T: DeserializeOwned>(&self, path: &str, body: Value) -> T {
        self.expect(Method::POST, path, Some(&body), 200).await
    }

    /// `POST path` that creates something as the tenant: a 201 whose `data` is a `T`.
    pub async fn create<T: DeserializeOwned>(&self, path: &str, body: Value) -> T {
        self.expect(Method::POST, path, Some(&body), 201).await
    }

    /// `PUT path` as the tenant: a 200 whose `data` is a `T`.
    pub async fn put<T: DeserializeOwned>(&self, path: &str, body: Value) -> T {
        self.expect(Method::PUT, path, Some(&body), 200).await
    }

    /// `DELETE path` as the tenant: a 200 whose `data` is a `T`.
    pub async fn delete<T: DeserializeOwned>(&self, path: &str) -> T {
        self.expect(Method::DELETE, path, None, 200).await
    }

    /// `GET path` as the tenant, whatever it answers: the status and the JSON body.
    pub async fn get_raw(&self, path: &str) -> (u16, Value) {
        self.call(Method::GET, path, Some(self.key()), None).await
    }

    /// `POST path` as the tenant, whatever it answers: the status and the JSON body.
    pub async fn post_raw(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::POST, path, Some(self.key()), Some(&body)).await
    }

    /// `PUT path` as the tenant, whatever it answers: the status and the JSON body.
    pub async fn put_raw(&self, path: &str, body: Value) -> (u16, Value) {
        self.call(Method::PUT, path, Some(self.key()), Some(&body)).await
    }

    /// `DELETE path` as the tenant, whatever it answers: the status and the JSON body.
    pub async fn delete_raw(&self, path: &str) -> (u16, Value) {
        self.call(Method::DELETE, path, Some(self.key()), None).await
    }
}

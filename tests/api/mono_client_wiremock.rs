//! The Mono client against wiremock: every call's success shapes and known variations, every
//! failure class (4xx, 5xx, 429, timeouts, transport, malformed bodies) and the retry policy.

use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::TryStreamExt;
use secrecy::SecretString;
use serde_json::{json, Value};
use url::Url;
use wiremock::matchers::{body_json, header, header_exists, method, path, query_param};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

use crate::helpers::mono::*;
use crate::helpers::{free_port, retry_waits};

const SECRET: &str = "test_sk_wiremock_0123456789";

fn config(server: &MockServer) -> MonoConfig {
    MonoConfig {
        base_url: Url::parse(&server.uri()).unwrap(),
        secret_key: SecretString::from(SECRET),
        connect_timeout: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        max_retries: 2,
        retry_base_delay: Duration::from_millis(10),
    }
}

fn client(server: &MockServer) -> MonoClient {
    MonoClient::new(config(server)).unwrap()
}

fn ok(data: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "status": "successful",
        "message": "Request was successfully completed",
        "timestamp": "2024-05-01T10:00:00.000Z",
        "data": data,
    }))
}

fn failed(status: u16, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({
        "status": "failed",
        "message": message,
        "data": null,
    }))
}

fn details_json(id_key: &str) -> Value {
    json!({
        "account": {
            id_key: "65f0c0ffee0000000000a001",
            "name": "ACME LTD",
            "currency": "NGN",
            "type": "CURRENT_ACCOUNT",
            "account_number": "0123456789",
            "balance": 125_000_000_i64,
            "bvn": "1234",
            "institution": {"name": "GTBank", "bank_code": "058", "type": "BUSINESS_BANKING"}
        },
        "customer": {"id": "65f0c0ffee00000000000c01"},
        "meta": {
            "data_status": "AVAILABLE",
            "auth_method": "internet_banking",
            "data_request_id": "drq_1",
            "session_id": "sess_1",
            "retrieved_data": ["identity", "balance", "transactions"]
        }
    })
}

fn tx_json(id_key: &str, id: &str, currency: Option<&str>) -> Value {
    let mut tx = json!({
        id_key: id,
        "narration": "NIP/FCMB/ACME LTD/INV-1042",
        "amount": 15_000_000_i64,
        "type": "credit",
        "balance": 90_000_000_i64,
        "date": "2024-04-30T09:15:00.000Z",
        "category": "income"
    });
    if let Some(c) = currency {
        tx["currency"] = json!(c);
    }
    tx
}

async fn requests(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.unwrap_or_default()
}

fn auth_request() -> InitiateRequest {
    InitiateRequest::Auth(AuthInitiate {
        customer: InitiateCustomer::New {
            name: "Ada Obi".into(),
            email: "ada@example.com".into(),
            identity: Some(CustomerIdentity {
                kind: "bvn".into(),
                number: "22222222222".into(),
            }),
        },
        meta: InitiateMeta {
            reference: Some("ref-0123456789".into()),
        },
        redirect_url: Url::parse("https://app.example.com/mono/callback").unwrap(),
        institution: Some(InitiateInstitution {
            id: "5f2d08be60b92e2888287702".into(),
            auth_method: "internet_banking".into(),
        }),
    })
}

// ----------------------------------------------------------------------------- success shapes

#[tokio::test]
async fn initiate_auth_sends_body_and_headers_and_decodes() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/initiate"))
        .and(header("mono-sec-key", SECRET))
        .and(header("accept", "application/json"))
        .and(body_json(json!({
            "scope": "auth",
            "customer": {"name": "Ada Obi", "email": "ada@example.com",
                         "identity": {"type": "bvn", "number": "22222222222"}},
            "meta": {"ref": "ref-0123456789"},
            "redirect_url": "https://app.example.com/mono/callback",
            "institution": {"id": "5f2d08be60b92e2888287702", "auth_method": "internet_banking"}
        })))
        .respond_with(ok(json!({
            "mono_url": "https://link.mono.co/ALRW7G9ZQ1",
            "customer": "65f0c0ffee00000000000c01",
            "meta": {"ref": "ref-0123456789"},
            "scope": "auth",
            "redirect_url": "https://app.example.com/mono/callback",
            "created_at": "2024-05-01T10:00:00.000Z"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let data = client(&server).initiate(&auth_request()).await.unwrap();
    assert_eq!(data.mono_url.as_str(), "https://link.mono.co/ALRW7G9ZQ1");
    assert_eq!(data.customer.as_deref(), Some("65f0c0ffee00000000000c01"));
    assert_eq!(data.meta.reference.as_deref(), Some("ref-0123456789"));
    assert_eq!(data.scope, Scope::Auth);
    assert_eq!(data.created_at.unwrap().to_rfc3339(), "2024-05-01T10:00:00+00:00");
}

#[tokio::test]
async fn initiate_reauth_decodes_extra_fields_and_customer_object() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/initiate"))
        .and(body_json(json!({
            "scope": "reauth",
            "account": "65f0c0ffee0000000000a001",
            "meta": {"ref": "reauth-000000001"}
        })))
        .respond_with(ok(json!({
            "mono_url": "https://link.mono.co/RE123",
            "customer": {"id": "cus_1"},
            "meta": {"ref": "reauth-000000001"},
            "scope": "reauth",
            "redirect_url": null,
            "created_at": "2024-05-01T10:00:00.000Z",
            "account": "65f0c0ffee0000000000a001",
            "institution": {"id": "inst_1", "auth_method": "mobile_banking"},
            "auth_method": "mobile_banking"
        })))
        .expect(1)
        .mount(&server)
        .await;

    let request = InitiateRequest::Reauth(ReauthInitiate {
        account: "65f0c0ffee0000000000a001".into(),
        meta: InitiateMeta {
            reference: Some("reauth-000000001".into()),
        },
        redirect_url: None,
    });
    let data = client(&server).initiate(&request).await.unwrap();
    assert_eq!(data.scope, Scope::Reauth);
    assert_eq!(data.customer.as_deref(), Some("cus_1"));
    assert_eq!(data.account.as_deref(), Some("65f0c0ffee0000000000a001"));
    assert_eq!(data.auth_method.as_deref(), Some("mobile_banking"));
    assert_eq!(data.institution.unwrap()["id"], "inst_1");
}

#[tokio::test]
async fn exchange_accepts_enveloped_and_bare_answers() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/auth"))
        .and(body_json(json!({"code": "code_enveloped"})))
        .respond_with(ok(json!({"id": "acc_enveloped"})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/auth"))
        .and(body_json(json!({"code": "code_bare"})))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "acc_bare"})))
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(c.exchange_code("code_enveloped").await.unwrap(), "acc_enveloped");
    assert_eq!(c.exchange_code("code_bare").await.unwrap(), "acc_bare");
}

#[tokio::test]
async fn list_accounts_reads_meta_or_paging() {
    let server = MockServer::start().await;
    let item = json!({
        "id": "acc_1", "name": "ACME LTD", "currency": "NGN", "type": "CURRENT_ACCOUNT",
        "account_number": "0123456789", "balance": 5000, "bvn": null,
        "institution": {"name": "GTBank", "bank_code": "058", "type": "BUSINESS_BANKING"}
    });
    Mock::given(method("GET"))
        .and(path("/v2/accounts"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "successful", "message": "ok", "data": [item.clone()],
            "meta": {"total": 2, "pages": 2, "previous": null,
                     "next": "https://api.withmono.com/v2/accounts?page=2"}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts"))
        .and(query_param("page", "2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "successful", "message": "ok", "data": [item],
            "paging": {"total": 2, "pages": 2,
                       "previous": "https://api.withmono.com/v2/accounts?page=1", "next": null}
        })))
        .mount(&server)
        .await;
    let c = client(&server);
    let (accounts, paging) = c.list_accounts(Some(1)).await.unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].institution.bank_code.as_deref(), Some("058"));
    assert_eq!(paging.pages, Some(2));
    assert!(paging.next.is_some());
    let (_, paging) = c.list_accounts(Some(2)).await.unwrap();
    assert_eq!(paging.next, None);
    assert!(paging.previous.is_some());
}

#[tokio::test]
async fn account_details_with_realtime_header_and_underscore_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/65f0c0ffee0000000000a001"))
        .and(header("x-realtime", "true"))
        .respond_with(ok(details_json("_id")))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/65f0c0ffee0000000000a001"))
        .respond_with(ok(details_json("id")))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let realtime = c.account_details("65f0c0ffee0000000000a001", true).await.unwrap();
    let cached = c
        .account_details("65f0c0ffee0000000000a001", false)
        .await
        .unwrap();
    assert_eq!(realtime, cached);
    assert_eq!(cached.account.id, "65f0c0ffee0000000000a001");
    assert_eq!(cached.account.balance, 125_000_000);
    assert_eq!(cached.meta.data_status, DataStatus::Available);
    assert!(cached.meta.transactions_ready());
    assert_eq!(cached.customer.unwrap().id, "65f0c0ffee00000000000c01");
    let reqs = requests(&server).await;
    assert!(reqs[1].headers.get("x-realtime").is_none());
}

#[tokio::test]
async fn identity_and_balance() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1/identity"))
        .respond_with(ok(json!({
            "full_name": "ADA OBI", "email": "ada@example.com", "phone": "08030000000",
            "gender": "Female", "dob": "1990-01-01", "bvn": "22222222222",
            "marital_status": null, "address_line1": "1 Marina, Lagos", "address_line2": null
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1/balance"))
        .and(header("x-realtime", "true"))
        .respond_with(ok(json!({
            "id": "acc_1", "name": "ADA OBI", "account_number": "0123456789",
            "balance": 4_200_050, "currency": "NGN"
        })))
        .mount(&server)
        .await;
    let c = client(&server);
    let identity = c.identity("acc_1").await.unwrap();
    assert_eq!(identity.full_name, "ADA OBI");
    assert_eq!(identity.bvn.as_deref(), Some("22222222222"));
    assert!(
        !format!("{identity:?}").contains("22222222222"),
        "the BVN must not reach Debug output"
    );
    let balance = c.balance("acc_1", true).await.unwrap();
    assert_eq!(balance.balance, 4_200_050);
    assert_eq!(balance.currency, "NGN");
}

#[tokio::test]
async fn transactions_send_filters_and_accept_variations() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1/transactions"))
        .and(query_param("start", "01-02-2024"))
        .and(query_param("end", "29-02-2024"))
        .and(query_param("type", "credit"))
        .and(query_param("narration", "INV"))
        .and(query_param("paginate", "true"))
        .and(query_param("limit", "50"))
        .and(query_param("page", "3"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "successful", "message": "ok",
            "data": [tx_json("_id", "tx_a", None), tx_json("id", "tx_b", Some("NGN"))],
            "paging": {"total": 102, "page": 3, "previous": "https://x/?page=2", "next": null}
        })))
        .expect(1)
        .mount(&server)
        .await;
    let query = TransactionQuery {
        start: NaiveDate::from_ymd_opt(2024, 2, 1),
        end: NaiveDate::from_ymd_opt(2024, 2, 29),
        kind: Some(TransactionType::Credit),
        narration: Some("INV".into()),
        limit: Some(50),
        page: Some(3),
    };
    let page = client(&server).transactions("acc_1", &query).await.unwrap();
    assert_eq!(page.paging.total, 102);
    assert_eq!(page.paging.page, Some(3));
    assert_eq!(page.transactions[0].id, "tx_a");
    assert_eq!(page.transactions[0].currency, None);
    assert_eq!(page.transactions[0].currency_or("NGN"), "NGN");
    assert_eq!(page.transactions[1].currency.as_deref(), Some("NGN"));
    assert_eq!(page.transactions[1].amount, 15_000_000);
    assert_eq!(page.transactions[1].kind, TransactionType::Credit);
}

#[tokio::test]
async fn transaction_pages_follow_next_one_page_at_a_time() {
    let server = MockServer::start().await;
    for page in 1..=3u32 {
        let next = (page < 3).then(|| {
            format!(
                "https://api.withmono.com/v2/accounts/acc_1/transactions?paginate=true&page={}",
                page + 1
            )
        });
        let data: Vec<Value> = (0..2)
            .map(|i| tx_json("id", &format!("tx_{page}_{i}"), Some("NGN")))
            .collect();
        Mock::given(method("GET"))
            .and(path("/v2/accounts/acc_1/transactions"))
            .and(query_param("page", page.to_string()))
            .and(query_param("limit", "2"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "status": "successful", "message": "ok", "data": data,
                "meta": {"total": 6, "page": page, "previous": null, "next": next}
            })))
            .expect(if page == 1 { 1 } else { 2 })
            .mount(&server)
            .await;
    }
    let c = client(&server);
    let query = TransactionQuery {
        limit: Some(2),
        ..Default::default()
    };
    let pages: Vec<TransactionPage> = c
        .transaction_pages("acc_1", query.clone())
        .into_stream()
        .try_collect()
        .await
        .unwrap();
    let ids: Vec<String> = pages
        .iter()
        .flat_map(|p| p.transactions.iter().map(|t| t.id.clone()))
        .collect();
    assert_eq!(ids, ["tx_1_0", "tx_1_1", "tx_2_0", "tx_2_1", "tx_3_0", "tx_3_1"]);

    // The pull form walks the same pages and reports where it stands.
    let mut walker = c.transaction_pages(
        "acc_1",
        TransactionQuery {
            page: Some(2),
            ..query
        },
    );
    assert_eq!(walker.upcoming_page(), Some(2));
    assert_eq!(walker.next_page().await.unwrap().unwrap().paging.page, Some(2));
    assert_eq!(walker.upcoming_page(), Some(3));
    assert!(walker.next_page().await.unwrap().is_ok());
    assert!(walker.next_page().await.is_none());
}

#[tokio::test]
async fn unlink_reports_unlinked_or_already_gone() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/acc_live/unlink"))
        .respond_with(ok(json!(null)))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/acc_gone/unlink"))
        .respond_with(failed(404, "Account not found"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    assert_eq!(c.unlink("acc_live").await.unwrap(), UnlinkOutcome::Unlinked);
    assert_eq!(c.unlink("acc_gone").await.unwrap(), UnlinkOutcome::AlreadyGone);
}

#[tokio::test]
async fn account_ids_are_path_segments_not_paths() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/a%2F..%2Fb/balance"))
        .respond_with(ok(json!({
            "id": "x", "name": "x", "account_number": "1", "balance": 1, "currency": "NGN"
        })))
        .expect(1)
        .mount(&server)
        .await;
    client(&server).balance("a/../b", false).await.unwrap();
}

#[tokio::test]
async fn base_url_path_prefix_is_kept() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/mono-proxy/v2/accounts/acc_1/balance"))
        .respond_with(ok(json!({
            "id": "acc_1", "name": "x", "account_number": "1", "balance": 7, "currency": "NGN"
        })))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.base_url = Url::parse(&format!("{}/mono-proxy", server.uri())).unwrap();
    let c = MonoClient::new(cfg).unwrap();
    assert_eq!(c.balance("acc_1", false).await.unwrap().balance, 7);
}

// ----------------------------------------------------------------------------- failures

#[tokio::test]
async fn client_errors_carry_monos_message_and_are_not_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/auth"))
        .respond_with(failed(400, "This code has expired or is invalid"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1"))
        .respond_with(failed(401, "Invalid secret key"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_missing"))
        .respond_with(failed(404, "Account not found"))
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    let err = c.exchange_code("code_old").await.unwrap_err();
    assert_eq!(
        err,
        MonoError::Api {
            status: 400,
            message: "This code has expired or is invalid".into()
        }
    );
    assert_eq!(err.http_status_hint(), 502);
    let err = c.account_details("acc_1", false).await.unwrap_err();
    assert_eq!(
        err,
        MonoError::Api {
            status: 401,
            message: "Invalid secret key".into()
        }
    );
    let err = c.account_details("acc_missing", false).await.unwrap_err();
    assert!(err.is_status(404));
    assert_eq!(err.code(), "mono_error");
}

#[tokio::test]
async fn server_error_then_success_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1"))
        .respond_with(failed(503, "upstream bank unavailable"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1"))
        .respond_with(ok(details_json("id")))
        .mount(&server)
        .await;
    let details = client(&server).account_details("acc_1", false).await.unwrap();
    assert_eq!(details.account.name, "ACME LTD");
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_max_retries() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1/transactions"))
        .respond_with(ResponseTemplate::new(500).set_body_string("<html>oops</html>"))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server)
        .transactions("acc_1", &TransactionQuery::default())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        MonoError::Api {
            status: 500,
            message: "<html>oops</html>".into()
        }
    );
}

#[tokio::test]
async fn unlink_is_retried_on_server_errors() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/acc_1/unlink"))
        .respond_with(failed(502, "bad gateway"))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/acc_1/unlink"))
        .respond_with(ok(json!(null)))
        .mount(&server)
        .await;
    assert_eq!(
        client(&server).unlink("acc_1").await.unwrap(),
        UnlinkOutcome::Unlinked
    );
    assert_eq!(requests(&server).await.len(), 2);
}

#[tokio::test]
async fn initiate_and_auth_are_never_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/initiate"))
        .respond_with(failed(500, "internal error"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/auth"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "0")
                .set_body_json(json!({"status": "failed", "message": "slow down", "data": null})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let c = client(&server);
    assert!(matches!(
        c.initiate(&auth_request()).await,
        Err(MonoError::Api { status: 500, .. })
    ));
    assert_eq!(
        c.exchange_code("code_1").await.unwrap_err(),
        MonoError::RateLimited {
            retry_after: Some(Duration::ZERO),
            message: "slow down".into()
        }
    );
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1/balance"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("retry-after", "1")
                .set_body_json(json!({"status": "failed", "message": "Too many requests", "data": null})),
        )
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1/balance"))
        .respond_with(ok(json!({
            "id": "acc_1", "name": "x", "account_number": "1", "balance": 3, "currency": "NGN"
        })))
        .mount(&server)
        .await;
    // A backoff base far above the Retry-After shows the header, not backoff, set the wait.
    let mut cfg = config(&server);
    cfg.retry_base_delay = Duration::from_secs(20);
    let started = Instant::now();
    let (balance, waits) = retry_waits(MonoClient::new(cfg).unwrap().balance("acc_1", false)).await;
    let elapsed = started.elapsed();
    assert_eq!(balance.unwrap().balance, 3);
    assert_eq!(requests(&server).await.len(), 2);
    assert!(elapsed >= Duration::from_secs(1), "waited {elapsed:?}");
    assert_eq!(waits, [Duration::from_secs(1)], "one wait, of the Retry-After");
}

#[tokio::test]
async fn rate_limit_without_retry_after_backs_off_then_gives_up() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts"))
        .respond_with(failed(429, "Too many requests"))
        .expect(3)
        .mount(&server)
        .await;
    let err = client(&server).list_accounts(None).await.unwrap_err();
    assert_eq!(
        err,
        MonoError::RateLimited {
            retry_after: None,
            message: "Too many requests".into()
        }
    );
    assert_eq!(err.upstream_status(), Some(429));
    assert_eq!(err.http_status_hint(), 502);
}

#[tokio::test]
async fn slow_answers_time_out_and_are_retried_for_gets_only() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1"))
        .respond_with(ok(details_json("id")).set_delay(Duration::from_secs(3)))
        .expect(2)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/accounts/initiate"))
        .respond_with(ok(json!({})).set_delay(Duration::from_secs(3)))
        .expect(1)
        .mount(&server)
        .await;
    let mut cfg = config(&server);
    cfg.timeout = Duration::from_millis(200);
    cfg.max_retries = 1;
    let c = MonoClient::new(cfg).unwrap();
    let err = c.account_details("acc_1", false).await.unwrap_err();
    assert_eq!(err, MonoError::Timeout);
    assert_eq!(err.http_status_hint(), 504);
    // Both attempts were sent; the 3 s answers were not waited for (that would be a success).
    assert_eq!(requests(&server).await.len(), 2);
    assert_eq!(c.initiate(&auth_request()).await.unwrap_err(), MonoError::Timeout);
}

#[tokio::test]
async fn unreachable_host_is_a_transport_error() {
    // A port that was just free: nothing listens there.
    let port = free_port();
    let c = MonoClient::new(MonoConfig {
        base_url: Url::parse(&format!("http://127.0.0.1:{port}")).unwrap(),
        secret_key: SecretString::from(SECRET),
        connect_timeout: Duration::from_millis(500),
        timeout: Duration::from_secs(1),
        max_retries: 1,
        retry_base_delay: Duration::from_millis(5),
    })
    .unwrap();
    let err = c.balance("acc_1", false).await.unwrap_err();
    assert!(matches!(err, MonoError::Transport(_)), "{err:?}");
    assert_eq!(err.http_status_hint(), 502);
    assert!(!err.to_string().contains(SECRET));
}

#[tokio::test]
async fn malformed_bodies_name_the_field() {
    let server = MockServer::start().await;
    let mut bad = tx_json("id", "tx_1", None);
    bad["amount"] = json!("150000");
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1/transactions"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "status": "successful", "message": "ok",
            "data": [tx_json("id", "tx_0", None), bad],
            "meta": {"total": 2, "page": 1, "previous": null, "next": null}
        })))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_2/transactions"))
        .respond_with(ok(json!([tx_json("id", "tx_0", None)])))
        .mount(&server)
        .await;
    let mut no_status = details_json("id");
    no_status["meta"]["data_status"] = json!("SOMETIMES");
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_3"))
        .respond_with(ok(no_status))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_4"))
        .respond_with(ResponseTemplate::new(200).set_body_string("not json"))
        .mount(&server)
        .await;
    let c = client(&server);

    let err = c
        .transactions("acc_1", &TransactionQuery::default())
        .await
        .unwrap_err();
    match &err {
        MonoError::Decode { path, message } => {
            assert_eq!(path, "data[1].amount");
            assert!(message.contains("invalid type"), "{message}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(err.to_string().contains("data[1].amount"));
    assert_eq!(err.http_status_hint(), 502);

    match c
        .transactions("acc_2", &TransactionQuery::default())
        .await
        .unwrap_err()
    {
        MonoError::Decode { path, .. } => assert_eq!(path, "meta"),
        other => panic!("expected a decode error, got {other:?}"),
    }
    match c.account_details("acc_3", false).await.unwrap_err() {
        MonoError::Decode { path, message } => {
            assert_eq!(path, "data.meta.data_status");
            // The field is named; the value it held is not repeated.
            assert!(message.contains("unknown variant"), "{message}");
            assert!(!message.contains("SOMETIMES"), "{message}");
        }
        other => panic!("expected a decode error, got {other:?}"),
    }
    assert!(matches!(
        c.account_details("acc_4", false).await.unwrap_err(),
        MonoError::Decode { .. }
    ));
}

#[tokio::test]
async fn a_2xx_failed_envelope_is_an_api_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_1/identity"))
        .respond_with(failed(200, "Identity not available for this account"))
        .mount(&server)
        .await;
    assert_eq!(
        client(&server).identity("acc_1").await.unwrap_err(),
        MonoError::Api {
            status: 200,
            message: "Identity not available for this account".into()
        }
    );
}

#[tokio::test]
async fn every_call_sends_the_secret_and_accept_headers() {
    let server = MockServer::start().await;
    Mock::given(header_exists("mono-sec-key"))
        .respond_with(failed(404, "nope"))
        .mount(&server)
        .await;
    let c = client(&server);
    let _ = c.initiate(&auth_request()).await;
    let _ = c.exchange_code("x").await;
    let _ = c.list_accounts(Some(1)).await;
    let _ = c.account_details("a", true).await;
    let _ = c.identity("a").await;
    let _ = c.balance("a", false).await;
    let _ = c.transactions("a", &TransactionQuery::default()).await;
    let _ = c.unlink("a").await;
    let reqs = requests(&server).await;
    assert_eq!(reqs.len(), 8);
    for r in reqs {
        assert_eq!(r.headers.get("mono-sec-key").unwrap(), SECRET, "{}", r.url);
        assert_eq!(r.headers.get("accept").unwrap(), "application/json");
    }
}

// ----------------------------------------------------------------------------- secrets

#[tokio::test]
async fn the_secret_never_shows_in_debug_or_errors() {
    let server = MockServer::start().await;
    let cfg = config(&server);
    let shown = format!("{cfg:?} {:?} {cfg:#?}", MonoClient::new(cfg.clone()).unwrap());
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("[REDACTED]"));
    assert!(shown.contains(&server.uri()));

    Mock::given(method("GET"))
        .respond_with(failed(401, "Invalid secret key"))
        .mount(&server)
        .await;
    let err = MonoClient::new(cfg)
        .unwrap()
        .balance("a", false)
        .await
        .unwrap_err();
    assert!(!format!("{err} {err:?}").contains(SECRET));
}

#[test]
fn config_rejects_non_http_base_urls() {
    let cfg = MonoConfig::new(
        Url::parse("mailto:ops@example.com").unwrap(),
        SecretString::from(SECRET),
    );
    assert!(matches!(MonoClient::new(cfg), Err(MonoError::Config(_))));
}

#[tokio::test]
async fn an_answer_over_the_size_cap_is_refused_once_not_buffered() {
    let server = MockServer::start().await;
    let huge = "x".repeat(mono::client::MAX_ANSWER_BYTES + 1);
    Mock::given(method("GET"))
        .and(path("/v2/accounts/acc_big"))
        .respond_with(ResponseTemplate::new(200).set_body_string(huge))
        .expect(1)
        .mount(&server)
        .await;
    match client(&server)
        .account_details("acc_big", false)
        .await
        .unwrap_err()
    {
        MonoError::Decode { message, .. } => assert!(message.contains("larger than"), "{message}"),
        other => panic!("expected the answer refused, got {other:?}"),
    }
}

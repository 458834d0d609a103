//! The shared DTOs: lenient where Mono varies, strict elsewhere, canonical when serialized.

use chrono::{TimeZone, Utc};
use serde_json::json;

use crate::helpers::mono::*;

#[test]
fn webhook_account_updated_reads_camel_case_and_writes_it_back() {
    let body = json!({
        "event": "mono.events.account_updated",
        "event_id": "evt_1",
        "timestamp": "2024-05-01T10:00:00.000Z",
        "data": {
            "account": {
                "_id": "acc_1", "name": "ACME LTD", "accountNumber": "0123456789",
                "currency": "NGN", "balance": 100, "type": "CURRENT_ACCOUNT", "bvn": "1234",
                "authMethod": "internet_banking",
                "institution": {"name": "GTBank", "bankCode": "058", "type": "BUSINESS_BANKING"}
            },
            "meta": {"data_status": "AVAILABLE", "auth_method": "internet_banking", "ref": "r-0000000001",
                     "retrieved_data": ["transactions"], "sync_status": "REAUTHORISATION_REQUIRED",
                     "has_new_data": true}
        }
    });
    let envelope: WebhookEnvelope = serde_json::from_value(body.clone()).unwrap();
    assert_eq!(envelope.event_id.as_deref(), Some("evt_1"));
    let WebhookEvent::AccountUpdated(updated) = WebhookEvent::from_envelope(&envelope).unwrap() else {
        panic!("wrong variant")
    };
    assert_eq!(updated.account.id, "acc_1");
    assert_eq!(updated.account.account_number.as_deref(), Some("0123456789"));
    assert_eq!(updated.account.auth_method.as_deref(), Some("internet_banking"));
    let inst = updated.account.institution.as_ref().unwrap();
    assert_eq!(inst.bank_code.as_deref(), Some("058"));
    assert_eq!(updated.meta.data_status, Some(DataStatus::Available));
    assert!(updated.meta.reauth_required());
    assert_eq!(updated.meta.reference.as_deref(), Some("r-0000000001"));

    // Serialized back, the canonical camelCase keys come out.
    assert_eq!(serde_json::to_value(&updated).unwrap(), body["data"]);

    // snake_case spellings are accepted too.
    let snake = json!({"account": {"id": "acc_1", "account_number": "1",
                       "auth_method": "mobile_banking",
                       "institution": {"name": "Kuda", "bank_code": "50211"}},
                       "meta": {"data_status": "PARTIAL"}});
    let updated: AccountUpdated = serde_json::from_value(snake).unwrap();
    assert_eq!(updated.account.account_number.as_deref(), Some("1"));
    assert_eq!(
        updated.account.institution.unwrap().bank_code.as_deref(),
        Some("50211")
    );
}

#[test]
fn every_webhook_event_types_its_data() {
    let cases = [
        (
            events::ACCOUNT_CONNECTED,
            json!({"id": "acc_1", "customer": "cus_1",
                   "meta": {"data_status": "PROCESSING", "auth_method": "internet_banking", "ref": "r1"},
                   "app": "app_1", "business": "biz_1"}),
        ),
        (events::ACCOUNT_REAUTHORIZED, json!({"account": {"_id": "acc_1"}})),
        (events::ACCOUNT_UNLINKED, json!({"account": {"id": "acc_1"}})),
        (
            events::ACCOUNT_INCOME,
            json!({"account": "acc_1", "income_summary": {"total": 5}, "income_streams": [{"a": 1}]}),
        ),
        (
            events::JOBS_UPDATE,
            json!({"account": "acc_1", "id": "job_1", "name": "sync", "status": "finished"}),
        ),
        (
            events::TRANSACTION_UPDATED,
            json!({"account": "acc_1", "transaction": {"_id": "tx_1", "type": "credit",
                   "amount": 500, "narration": "TRF FROM BOLA YUSUFF/subscription",
                   "date": "2024-05-01T10:00:00.000Z",
                   "counterparty": {"name": "BOLA YUSUFF", "accountNumber": "0001112223"}}}),
        ),
        (
            events::TRANSACTION_SETTLED,
            json!({"account": "acc_1", "transaction": {"id": "tx_1", "type": "debit",
                   "amount": 500, "currency": "NGN", "narration": "x", "reference": "INV-1",
                   "date": "2024-05-01T10:00:00Z"}}),
        ),
    ];
    for (event, data) in cases {
        let envelope = WebhookEnvelope {
            event: event.to_owned(),
            event_id: None,
            timestamp: None,
            data,
        };
        let typed = WebhookEvent::from_envelope(&envelope).unwrap_or_else(|e| panic!("{event}: {e}"));
        assert_eq!(typed.account_id(), Some("acc_1"), "{event}");
        if let WebhookEvent::TransactionUpdated(t) = &typed {
            let cp = t.transaction.counterparty.as_ref().unwrap();
            assert_eq!(cp.account_number.as_deref(), Some("0001112223"));
        }
    }
    let unknown = WebhookEnvelope {
        event: "mono.events.something_new".into(),
        event_id: None,
        timestamp: None,
        data: json!({}),
    };
    assert_eq!(
        WebhookEvent::from_envelope(&unknown).unwrap(),
        WebhookEvent::Unknown("mono.events.something_new".into())
    );
}

#[test]
fn webhook_decode_errors_name_the_field() {
    let envelope = WebhookEnvelope {
        event: events::JOBS_UPDATE.into(),
        event_id: None,
        timestamp: None,
        data: json!({"account": "acc_1", "id": "job_1", "name": "sync", "status": "stuck"}),
    };
    let err = WebhookEvent::from_envelope(&envelope).unwrap_err();
    assert_eq!(err.path, "data.status");
    assert!(err.to_string().contains("data.status"));

    let envelope = WebhookEnvelope {
        event: events::TRANSACTION_SETTLED.into(),
        event_id: None,
        timestamp: None,
        data: json!({"account": "acc_1", "transaction": {"id": "t", "type": "credit", "narration": "x",
                     "date": "yesterday", "amount": 1}}),
    };
    let err = WebhookEvent::from_envelope(&envelope).unwrap_err();
    assert_eq!(err.path, "data.transaction.date");
}

#[test]
fn webhook_timestamps_accept_text_seconds_and_millis() {
    let at = Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap();
    for ts in [
        json!("2024-05-01T10:00:00.000Z"),
        json!(1_714_557_600),
        json!(1_714_557_600_000i64),
    ] {
        let env: WebhookEnvelope =
            serde_json::from_value(json!({"event": "x", "timestamp": ts, "data": {}})).unwrap();
        assert_eq!(env.timestamp, Some(at));
    }
    let env: WebhookEnvelope = serde_json::from_value(json!({"event": "x", "data": null})).unwrap();
    assert_eq!(env.timestamp, None);
    assert!(serde_json::from_value::<WebhookEnvelope>(
        json!({"event": "x", "timestamp": "noon", "data": {}})
    )
    .is_err());
}

#[test]
fn transactions_serialize_canonically() {
    let tx = MonoTransaction {
        id: "tx_1".into(),
        narration: "POS purchase SHOPRITE IKEJA".into(),
        amount: 1_250_000,
        kind: TransactionType::Debit,
        balance: Some(9_000_000),
        date: Utc.with_ymd_and_hms(2024, 5, 1, 10, 0, 0).unwrap(),
        category: Some("shopping".into()),
        currency: Some("NGN".into()),
        reference: None,
        description: None,
        counterparty: None,
    };
    let value = serde_json::to_value(&tx).unwrap();
    assert_eq!(
        value,
        json!({"id": "tx_1", "narration": "POS purchase SHOPRITE IKEJA", "amount": 1_250_000,
               "type": "debit", "balance": 9_000_000, "date": "2024-05-01T10:00:00.000Z",
               "category": "shopping", "currency": "NGN"})
    );
    let back: MonoTransaction = serde_json::from_value(value).unwrap();
    assert_eq!(back, tx);

    // `_id`, uppercase type and a null narration are the known variations.
    let lenient: MonoTransaction = serde_json::from_value(json!({
        "_id": "tx_2", "narration": null, "amount": 5, "type": "CREDIT",
        "date": "2024-05-01T11:00:00+01:00"
    }))
    .unwrap();
    assert_eq!(lenient.id, "tx_2");
    assert_eq!(lenient.narration, "");
    assert_eq!(lenient.kind, TransactionType::Credit);
    assert_eq!(lenient.date, tx.date);
    assert_eq!(lenient.currency_or("GHS"), "GHS");

    // A float amount is not minor units: refused.
    assert!(serde_json::from_value::<MonoTransaction>(json!({
        "id": "t", "narration": "x", "amount": 12.5, "type": "credit", "date": "2024-05-01T10:00:00Z"
    }))
    .is_err());
}

#[test]
fn initiate_requests_serialize_to_monos_shape() {
    let auth = InitiateRequest::Auth(AuthInitiate {
        customer: InitiateCustomer::Existing { id: "cus_1".into() },
        meta: InitiateMeta {
            reference: Some("ref-0000000001".into()),
        },
        redirect_url: url::Url::parse("https://example.com/cb").unwrap(),
        institution: None,
    });
    let value = serde_json::to_value(&auth).unwrap();
    assert_eq!(
        value,
        json!({"scope": "auth", "customer": {"id": "cus_1"}, "meta": {"ref": "ref-0000000001"},
               "redirect_url": "https://example.com/cb"})
    );
    assert_eq!(serde_json::from_value::<InitiateRequest>(value).unwrap(), auth);
    assert!(serde_json::from_value::<InitiateRequest>(json!({"scope": "link"})).is_err());
}

#[test]
fn failure_envelope_keeps_data_null() {
    let value = serde_json::to_value(FailureEnvelope::new("Account not found")).unwrap();
    assert_eq!(value["status"], "failed");
    assert_eq!(value["message"], "Account not found");
    assert!(value.get("data").unwrap().is_null());
}

#[test]
fn transaction_query_formats_dates_day_first() {
    let query = TransactionQuery {
        start: chrono::NaiveDate::from_ymd_opt(2024, 1, 9),
        end: None,
        kind: Some(TransactionType::Debit),
        narration: Some(String::new()),
        limit: Some(10),
        page: None,
    };
    assert_eq!(
        query.to_pairs(),
        vec![
            ("start", "09-01-2024".to_owned()),
            ("type", "debit".to_owned()),
            ("paginate", "true".to_owned()),
            ("limit", "10".to_owned()),
        ]
    );
}

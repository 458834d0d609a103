//! The fuzz entry points (`taxpoynt_mono::fuzz`) under proptest: random bytes, and inputs
//! built near the valid ones (signed bodies, Mono-shaped JSON, transactions with odd text and
//! extreme amounts). The long runs are the cargo-fuzz targets in `fuzz/` (see its README).

use mono::signature;
use proptest::prelude::*;
use serde_json::json;
use taxpoynt_mono::fuzz;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[ -~]{0,40}",
        Just("\u{0}".to_string()),
        Just("NIP/GTB/ACME LTD/Payment for invoice INV-12".to_string()),
        Just("gift from mum \u{1F381}".to_string()),
    ]
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(|f| serde_json::Number::from_f64(f)
            .map(serde_json::Value::Number)
            .unwrap_or_default()),
        text().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("id".to_string()),
                    Just("_id".to_string()),
                    Just("amount".to_string()),
                    Just("currency".to_string()),
                    Just("narration".to_string()),
                    Just("type".to_string()),
                    Just("account".to_string()),
                    Just("transaction".to_string()),
                    Just("meta".to_string()),
                    Just("data".to_string()),
                    Just("event".to_string()),
                    Just("ref".to_string()),
                    Just("status".to_string()),
                    Just("counterparty".to_string()),
                    "[a-z_]{1,8}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

fn transaction() -> impl Strategy<Value = serde_json::Value> {
    (
        text(),
        prop_oneof![Just("credit"), Just("debit"), Just("CREDIT")],
        prop_oneof![any::<i64>(), Just(i64::MIN), Just(i64::MAX), Just(0), 1i64..10_000_000],
        prop_oneof![Just("NGN".to_string()), Just("ghc".to_string()), "[A-Za-z]{0,5}"],
        text(),
        proptest::option::of(text()),
        proptest::option::of((proptest::option::of(text()), proptest::option::of(text()))),
    )
        .prop_map(|(id, kind, amount, currency, narration, reference, counterparty)| {
            json!({
                "id": id, "type": kind, "amount": amount, "currency": currency, "narration": narration,
                "reference": reference,
                "counterparty": counterparty.map(|(name, number)| json!({"name": name, "accountNumber": number})),
            })
        })
}

proptest! {
    // PROPTEST_CASES raises the count for long runs (`scripts/reliability.sh`).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_500),
        ..ProptestConfig::default()
    })]

    #[test]
    fn webhook_verification_and_parsing_take_any_bytes(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        fuzz::webhook(&data);
    }

    #[test]
    fn webhook_parsing_takes_any_json_signed_or_not(
        event in prop_oneof![Just("transaction.updated".to_string()), Just("mono.events.account_updated".to_string()), Just("mono.events.account_connected".to_string()), text()],
        data in json_value(),
        skew in -400i64..400,
        prefix in any::<bool>(),
        header in proptest::option::of(prop_oneof![Just("fuzz-webhook-secret".to_string()), text()]),
    ) {
        let body = serde_json::to_vec(&json!({"event": event, "event_id": "evt_1", "data": data})).unwrap();
        let ts = 1_760_000_000 + skew;
        let sig = signature::sign(b"fuzz-webhook-secret", ts, &body);
        let sig = if prefix { format!("sha256={sig}") } else { sig };
        let mut input = header.unwrap_or_default().into_bytes();
        input.push(b'\n');
        input.extend(ts.to_string().bytes());
        input.push(b'\n');
        input.extend(sig.bytes());
        input.push(b'\n');
        input.extend(&body);
        fuzz::webhook(&input);
    }

    #[test]
    fn mono_answers_decode_or_fail_cleanly(data in prop::collection::vec(any::<u8>(), 0..1024)) {
        fuzz::mono_dtos(&data);
    }

    #[test]
    fn mono_shaped_json_decodes_or_fails_cleanly(items in prop::collection::vec(prop_oneof![transaction(), json_value()], 0..8), data in json_value()) {
        let page = json!({"status": "successful", "message": "ok", "data": items, "meta": {"total": 3}});
        fuzz::mono_dtos(&serde_json::to_vec(&page).unwrap());
        let details = json!({"status": "successful", "data": data});
        fuzz::mono_dtos(&serde_json::to_vec(&details).unwrap());
    }

    #[test]
    fn the_engine_decides_any_transaction(tx in transaction()) {
        eligibility::fuzz::engine(&serde_json::to_vec(&tx).unwrap());
    }

    #[test]
    fn the_engine_takes_any_bytes(data in prop::collection::vec(any::<u8>(), 0..512)) {
        eligibility::fuzz::engine(&data);
    }
}

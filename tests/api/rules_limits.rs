//! Rules are bounded per environment and listed in pages.

use crate::helpers::*;
use serde_json::json;
use sqlx::PgPool;

#[sqlx::test]
async fn an_environment_holds_at_most_500_rules_listed_in_pages(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let env_id = app.env_id("sandbox");
    sqlx::query(
        "INSERT INTO eligibility_rules (id, org_id, env_id, list, field, match_kind, pattern)
         SELECT gen_random_uuid(), org_id, id, 'deny', 'narration', 'contains', 'word' || n
         FROM environments, generate_series(1, 499) AS n WHERE id = $1::uuid",
    )
    .bind(&env_id)
    .execute(&pool)
    .await
    .unwrap();
    let rule = json!({"list": "deny", "pattern": "casino"});
    let (status, body) = app.post_raw("/si/mono/allow-deny", rule.clone()).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = app.post_raw("/si/mono/allow-deny", rule.clone()).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(assert_failure(&body), "limit_reached");
    // Another environment has its own budget.
    let (status, _) = app
        .post_raw(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": "casino", "env": "production"}),
        )
        .await;
    assert_eq!(status, 201);

    // Pages of 200 walk all 500 once, oldest first.
    let mut seen = Vec::new();
    let mut after = String::new();
    loop {
        let (status, body) = app
            .get_raw(&format!("/si/mono/allow-deny?limit=200{after}"))
            .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["meta"]["total"], 500);
        seen.extend(
            body["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string()),
        );
        match body["meta"]["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), 500);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 500, "no rule twice");

    let (status, body) = app.get_raw("/si/mono/allow-deny?limit=0").await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["limit"].is_string());
    let (status, body) = app.get_raw("/si/mono/allow-deny?after=nope").await;
    assert_eq!(status, 400);
    assert!(body["error"]["fields"]["after"].is_string());
}

#[sqlx::test]
async fn concurrent_inserts_never_pass_the_cap(pool: PgPool) {
    let app = TestApp::builder(pool.clone()).start().await;
    let env_id = app.env_id("sandbox");
    sqlx::query(
        "INSERT INTO eligibility_rules (id, org_id, env_id, list, field, match_kind, pattern)
         SELECT gen_random_uuid(), org_id, id, 'deny', 'narration', 'contains', 'word' || n
         FROM environments, generate_series(1, 495) AS n WHERE id = $1::uuid",
    )
    .bind(&env_id)
    .execute(&pool)
    .await
    .unwrap();
    let calls = (0..12).map(|i| {
        app.post_raw(
            "/si/mono/allow-deny",
            json!({"list": "deny", "pattern": format!("x{i}")}),
        )
    });
    let answers = futures::future::join_all(calls).await;
    let created = answers.iter().filter(|(s, _)| *s == 201).count();
    let refused = answers.iter().filter(|(s, _)| *s == 409).count();
    assert_eq!((created, refused), (5, 7), "{answers:?}");
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM eligibility_rules WHERE env_id = $1::uuid")
        .bind(&env_id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(stored, 500);
}

//! Restarts: state and the generated admin token survive them.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard::startup::TokenSource;
use switchyard_tests::{TestDatabase, spawn_app_with, test_config};

#[tokio::test]
async fn groups_are_kept_across_a_restart() {
    let db = TestDatabase::new().await;
    let app = spawn_app_with(test_config(&db), db).await;
    let response = app
        .admin(Method::POST, "/api/v1/acd-groups")
        .json(&json!({ "name": "billing", "description": "kept" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let db = app.stop().await;

    let app = spawn_app_with(test_config(&db), db).await;
    let list: Vec<Value> = app
        .admin(Method::GET, "/api/v1/acd-groups")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "billing");
    assert_eq!(list[0]["description"], "kept");
}

#[tokio::test]
async fn a_generated_admin_token_is_stored_and_reused_after_a_restart() {
    let db = TestDatabase::new().await;
    let first = switchyard::startup::Application::build(test_config(&db))
        .await
        .unwrap();
    assert_eq!(first.token_source(), TokenSource::Generated);
    let token = first.admin_token().as_str().to_owned();
    assert!(token.len() >= 32, "at least 128 bits: {token}");
    drop(first);

    let app = spawn_app_with(test_config(&db), db).await;
    assert_eq!(app.admin_token, token);
    let response = app
        .admin(Method::GET, "/api/v1/acd-groups")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn a_configured_admin_token_wins_over_the_stored_one() {
    let db = TestDatabase::new().await;
    let generated = switchyard::startup::Application::build(test_config(&db))
        .await
        .unwrap()
        .admin_token()
        .clone();

    let mut config = test_config(&db);
    config.admin_token =
        Some(switchyard::config::AdminToken::parse("configured-token-abcdefgh").unwrap());
    let app = spawn_app_with(config, db).await;
    let status = |token: String| {
        let request = app
            .client
            .get(app.url("/api/v1/acd-groups"))
            .bearer_auth(token);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("configured-token-abcdefgh".into()).await, 200);
    assert_eq!(status(generated.as_str().into()).await, 401);
}

//! `/healthz` is open; everything under `/api/v1` needs the admin token.

use reqwest::Method;
use switchyard_tests::spawn_app;

use super::assert_error;

#[tokio::test]
async fn healthz_answers_without_a_token() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["status"], "ok");
}

#[tokio::test]
async fn the_admin_api_refuses_a_request_without_a_token() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/v1/acd-groups"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("www-authenticate").unwrap(),
        "Bearer"
    );
    let message = assert_error(response, 401, "unauthorized").await;
    assert!(message.contains("Authorization"), "{message}");
}

#[tokio::test]
async fn the_admin_api_refuses_a_wrong_token_and_changes_nothing() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/v1/acd-groups"))
        .bearer_auth("test-admin-token-0123456780")
        .json(&serde_json::json!({ "name": "billing" }))
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 401, "unauthorized").await;
    assert_eq!(message, "wrong admin token");

    let response = app
        .client
        .get(app.url("/api/v1/acd-groups"))
        .header("Authorization", format!("Basic {}", app.admin_token))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;

    let groups: Vec<serde_json::Value> = app
        .admin(Method::GET, "/api/v1/acd-groups")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(groups.is_empty(), "{groups:?}");
}

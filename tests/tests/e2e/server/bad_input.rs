//! Malformed requests get a 4xx with a JSON body naming the problem, never axum's
//! plain text, and change nothing.

use reqwest::Method;
use serde_json::Value;
use switchyard_tests::{TestApp, spawn_app};

use super::assert_error;

fn post_raw(app: &TestApp, body: impl Into<reqwest::Body>) -> reqwest::RequestBuilder {
    app.admin(Method::POST, "/api/v1/acd-groups")
        .header("content-type", "application/json")
        .body(body)
}

async fn assert_no_groups(app: &TestApp) {
    let list: Vec<Value> = app
        .admin(Method::GET, "/api/v1/acd-groups")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(list.is_empty(), "{list:?}");
}

#[tokio::test]
async fn malformed_json_is_a_400_saying_where_it_broke() {
    let app = spawn_app().await;
    let response = post_raw(&app, r#"{"name": "billing""#)
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 400, "malformed_json").await;
    assert!(message.contains("line 1 column"), "{message}");
    assert_no_groups(&app).await;
}

#[tokio::test]
async fn a_missing_or_unknown_field_is_a_422_naming_the_field() {
    let app = spawn_app().await;
    let response = post_raw(&app, r#"{"description": "no name"}"#)
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 422, "invalid_field").await;
    assert!(message.contains("missing field `name`"), "{message}");

    let response = post_raw(&app, r#"{"name": "billing", "colour": "red"}"#)
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 422, "invalid_field").await;
    assert!(message.contains("colour"), "{message}");

    let response = post_raw(&app, r#"{"name": 7}"#).send().await.unwrap();
    let message = assert_error(response, 422, "invalid_field").await;
    assert!(message.contains("invalid type"), "{message}");
    assert_no_groups(&app).await;
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_a_415() {
    let app = spawn_app().await;
    let response = app
        .admin(Method::POST, "/api/v1/acd-groups")
        .header("content-type", "text/plain")
        .body(r#"{"name": "billing"}"#)
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 415, "unsupported_media_type").await;
    assert!(message.contains("application/json"), "{message}");
    assert_no_groups(&app).await;
}

#[tokio::test]
async fn an_oversized_body_is_a_413() {
    let app = spawn_app().await;
    // Valid JSON, just over the default 1 MiB limit.
    let body = format!(
        r#"{{"name": "billing", "description": "{}"}}"#,
        "d".repeat(1 << 20)
    );
    let response = post_raw(&app, body).send().await.unwrap();
    assert_error(response, 413, "body_too_large").await;
    assert_no_groups(&app).await;
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_json() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/nowhere")).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
    let response = app.client.post(app.url("/healthz")).send().await.unwrap();
    assert_error(response, 405, "method_not_allowed").await;
}

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

/// A NUL in a query filter, a path's system name, a plugin hash or a claim never
/// reaches the database: PostgreSQL refuses NUL in text with an error of its own,
/// which these requests were answered with as a 500 (Schemathesis's finding).
#[tokio::test]
async fn nul_characters_are_refused_before_they_reach_the_database() {
    let app = spawn_app().await;
    for (url, field) in [
        ("/api/v1/queue?recipient=a%00", "recipient"),
        ("/api/v1/queue?external_system=%00", "external_system"),
    ] {
        let response = app.admin(Method::GET, url).send().await.unwrap();
        assert_eq!(response.status(), 400, "{url}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{url}: {body}");
    }
    for method in [Method::GET, Method::PUT, Method::DELETE] {
        let response = app
            .admin(method.clone(), "/api/v1/external-systems/a%00b")
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        let message = assert_error(response, 404, "not_found").await;
        assert!(message.contains("`name`"), "{method}: {message}");
    }
    let response = app
        .client
        .get(app.url("/api/v1/external-systems/a%00b/entries"))
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;

    let (status, system) = super::queue::call(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(serde_json::json!({ "name": "billing", "kind": "third_party" })),
    )
    .await;
    assert_eq!(status, 201, "{system}");
    for (method, path, body, field) in [
        (
            Method::POST,
            "/api/v1/external-systems",
            serde_json::json!({ "name": "cas", "kind": "plugin", "plugin": "a\u{0}" }),
            "plugin",
        ),
        (
            Method::PUT,
            "/api/v1/external-systems/billing",
            serde_json::json!({ "kind": "plugin", "plugin": "a\u{0}" }),
            "plugin",
        ),
        (
            Method::PUT,
            "/api/v1/settings/sms",
            serde_json::json!({ "enabled": false, "gateway_plugin": "a\u{0}" }),
            "gateway_plugin",
        ),
    ] {
        let response = app.admin(method, path).json(&body).send().await.unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{path}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{path}: {answer}");
    }
    let response = app
        .client
        .post(app.url("/api/v1/external-systems/billing/entries/1/settle"))
        .bearer_auth(system["token"].as_str().unwrap())
        .json(&serde_json::json!({ "claim": "a\u{0}", "outcome": "completed" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "claim", "{answer}");

    // A login with a NUL (Schemathesis's finding on PostgreSQL, a 500 before).
    let response = app
        .client
        .post(app.url("/api/v1/agent-sessions"))
        .json(&serde_json::json!({ "login": "anna\u{0}", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "login", "{answer}");
}

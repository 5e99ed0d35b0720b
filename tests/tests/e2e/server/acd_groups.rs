//! `/api/v1/acd-groups`: create, list, get, update, delete.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{TestApp, spawn_app};

use super::assert_error;

async fn create(app: &TestApp, body: Value) -> reqwest::Response {
    app.admin(Method::POST, "/api/v1/acd-groups")
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn created(app: &TestApp, body: Value) -> Value {
    let response = create(app, body).await;
    assert_eq!(response.status(), 201);
    response.json().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> reqwest::Response {
    app.admin(Method::GET, path).send().await.unwrap()
}

#[tokio::test]
async fn a_created_group_can_be_read_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let group = created(
        &app,
        json!({ "name": "billing", "description": "Invoices and payments" }),
    )
    .await;
    assert_eq!(group["name"], "billing");
    assert_eq!(group["description"], "Invoices and payments");
    assert!(group["created_at"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(group["created_at"], group["updated_at"]);
    let id = group["id"].as_i64().unwrap();
    let path = format!("/api/v1/acd-groups/{id}");

    let fetched: Value = get(&app, &path).await.json().await.unwrap();
    assert_eq!(fetched, group);

    created(&app, json!({ "name": "general" })).await;
    let list: Vec<Value> = get(&app, "/api/v1/acd-groups").await.json().await.unwrap();
    let names: Vec<&str> = list.iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["billing", "general"]);
    assert_eq!(list[1]["description"], "");

    let patched: Value = app
        .admin(Method::PATCH, &path)
        .json(&json!({ "description": "Billing questions" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        patched["name"], "billing",
        "PATCH keeps fields it does not name"
    );
    assert_eq!(patched["description"], "Billing questions");
    assert!(patched["updated_at"].as_i64() >= group["updated_at"].as_i64());

    let replaced: Value = app
        .admin(Method::PUT, &path)
        .json(&json!({ "name": "accounts" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(replaced["name"], "accounts");
    assert_eq!(replaced["description"], "", "PUT replaces the whole group");
    assert_eq!(replaced["created_at"], group["created_at"]);

    let response = app.admin(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(response.status(), 204);
    assert_error(get(&app, &path).await, 404, "not_found").await;
    let list: Vec<Value> = get(&app, "/api/v1/acd-groups").await.json().await.unwrap();
    assert_eq!(list.len(), 1);
}

#[tokio::test]
async fn a_second_group_with_the_same_name_is_a_conflict() {
    let app = spawn_app().await;
    created(&app, json!({ "name": "billing" })).await;
    let message = assert_error(
        create(&app, json!({ "name": "billing" })).await,
        409,
        "conflict",
    )
    .await;
    assert!(message.contains("`billing`"), "{message}");

    // Renaming another group onto a taken name is the same conflict, and changes nothing.
    let other = created(&app, json!({ "name": "general" })).await;
    let path = format!("/api/v1/acd-groups/{}", other["id"]);
    let response = app
        .admin(Method::PATCH, &path)
        .json(&json!({ "name": "billing" }))
        .send()
        .await
        .unwrap();
    assert_error(response, 409, "conflict").await;
    let still: Value = get(&app, &path).await.json().await.unwrap();
    assert_eq!(still["name"], "general");
}

#[tokio::test]
async fn invalid_names_are_refused_with_the_rule_they_break() {
    let app = spawn_app().await;
    let too_long = "x".repeat(129);
    for (name, rule) in [
        ("", "must not be empty"),
        (too_long.as_str(), "at most 128"),
        ("bill\ning", "control characters"),
        (" billing", "whitespace"),
    ] {
        let message = assert_error(
            create(&app, json!({ "name": name })).await,
            422,
            "invalid_field",
        )
        .await;
        assert!(message.starts_with("name: "), "{message}");
        assert!(message.contains(rule), "{name:?}: {message}");
    }
    let list: Vec<Value> = get(&app, "/api/v1/acd-groups").await.json().await.unwrap();
    assert!(list.is_empty(), "nothing was stored: {list:?}");
}

#[tokio::test]
async fn an_unknown_group_is_not_found_for_every_method() {
    let app = spawn_app().await;
    for path in ["/api/v1/acd-groups/9999", "/api/v1/acd-groups/not-a-number"] {
        assert_error(get(&app, path).await, 404, "not_found").await;
        let response = app
            .admin(Method::PATCH, path)
            .json(&json!({ "description": "x" }))
            .send()
            .await
            .unwrap();
        assert_error(response, 404, "not_found").await;
        let response = app.admin(Method::DELETE, path).send().await.unwrap();
        assert_error(response, 404, "not_found").await;
    }
}

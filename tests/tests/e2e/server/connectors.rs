//! `/api/v1/connectors/sms`: SMS receive connectors with every field of seed 002, and
//! the ACD groups they refer to.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard::runtime::MAX_DEADLINE;
use switchyard_tests::{TestApp, spawn_app};

use super::assert_error;

pub async fn group(app: &TestApp, name: &str) -> i64 {
    let response = app
        .admin(Method::POST, "/api/v1/acd-groups")
        .json(&json!({ "name": name }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .unwrap()
}

async fn create(app: &TestApp, body: Value) -> reqwest::Response {
    app.admin(Method::POST, "/api/v1/connectors/sms")
        .json(&body)
        .send()
        .await
        .unwrap()
}

pub async fn created(app: &TestApp, body: Value) -> Value {
    let response = create(app, body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 201, "{text}");
    serde_json::from_str(&text).unwrap()
}

async fn send(app: &TestApp, method: Method, path: &str, body: Value) -> reqwest::Response {
    app.admin(method, path).json(&body).send().await.unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.admin(Method::GET, path).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn list(app: &TestApp) -> Vec<Value> {
    serde_json::from_value(get(app, "/api/v1/connectors/sms").await).unwrap()
}

/// A token is at least 128 random bits in a URL-safe alphabet.
fn assert_token(token: &Value) {
    let token = token.as_str().expect("a token string");
    assert!(token.len() >= 32, "{token}");
    assert!(
        token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "{token}"
    );
}

#[tokio::test]
async fn a_connector_with_every_field_can_be_created_read_listed_updated_and_deleted() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    let fallback = group(&app, "fallback").await;
    let connector = created(
        &app,
        json!({
            "name": "Sales SMS",
            "recipient": "+49 30 123456",
            "require_token": false,
            "routing_type": "direct_acd_group",
            "acd_group": sales,
            "incoming_subject": "SMS from a customer",
            "plugin_settings": { "keywords": { "invoice": "billing" } },
            "plugin_limits": { "deadline_ms": 200 },
        }),
    )
    .await;
    assert_eq!(connector["name"], "Sales SMS");
    assert_eq!(connector["recipient"], "+4930123456");
    assert_eq!(connector["require_token"], false);
    assert_eq!(connector["routing_type"], "direct_acd_group");
    assert_eq!(connector["acd_group"], sales);
    assert_eq!(connector["incoming_subject"], "SMS from a customer");
    assert_eq!(connector["fallback_acd_group"], Value::Null);
    assert_eq!(
        connector["plugin_settings"],
        json!({ "keywords": { "invoice": "billing" } })
    );
    assert_eq!(connector["plugin_limits"], json!({ "deadline_ms": 200 }));
    assert_eq!(connector["active_plugin"], Value::Null);
    assert!(
        connector.get("generate_new_token").is_none(),
        "write-only: {connector}"
    );
    assert_token(&connector["token"]);
    let id = connector["id"].as_i64().unwrap();
    let path = format!("/api/v1/connectors/sms/{id}");
    assert_eq!(get(&app, &path).await, connector);
    assert_eq!(list(&app).await, std::slice::from_ref(&connector));

    // PUT restates the connector: here as a routing application with a fallback group.
    let response = send(
        &app,
        Method::PUT,
        &path,
        json!({
            "name": "Sales SMS",
            "recipient": "+4930123456",
            "routing_type": "routing_application",
            "fallback_acd_group": fallback,
        }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let replaced: Value = response.json().await.unwrap();
    assert_eq!(replaced["routing_type"], "routing_application");
    assert_eq!(replaced["acd_group"], Value::Null);
    assert_eq!(replaced["fallback_acd_group"], fallback);
    assert_eq!(replaced["require_token"], true, "PUT restores the default");
    assert_eq!(replaced["incoming_subject"], Value::Null);
    assert_eq!(replaced["plugin_settings"], json!({}));
    assert_eq!(replaced["plugin_limits"], Value::Null);
    assert_eq!(
        replaced["active_plugin"],
        Value::Null,
        "no plugin uploaded yet"
    );
    assert_eq!(replaced["token"], connector["token"]);
    assert_eq!(replaced["created_at"], connector["created_at"]);

    // PATCH changes only what it names.
    let response = send(&app, Method::PATCH, &path, json!({ "name": "Sales" })).await;
    assert_eq!(response.status(), 200);
    let patched: Value = response.json().await.unwrap();
    assert_eq!(patched["name"], "Sales");
    assert_eq!(patched["fallback_acd_group"], fallback);
    assert_eq!(patched["routing_type"], "routing_application");

    let response = app.admin(Method::DELETE, &path).send().await.unwrap();
    assert_eq!(response.status(), 204);
    let response = app.admin(Method::GET, &path).send().await.unwrap();
    assert_error(response, 404, "not_found").await;
    assert!(list(&app).await.is_empty());
    // With the connector gone, its groups are free to go too.
    let response = app
        .admin(Method::DELETE, &format!("/api/v1/acd-groups/{sales}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
}

#[tokio::test]
async fn recipients_are_normalised_to_e164_and_invalid_numbers_are_refused() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    let body = |name: &str, recipient: &str| {
        json!({ "name": name, "recipient": recipient,
                "routing_type": "direct_acd_group", "acd_group": sales })
    };
    let connector = created(&app, body("a", "+49 30 123456")).await;
    assert_eq!(connector["recipient"], "+4930123456");

    for bad in ["12ab", "+999", "", "030 123456"] {
        let message = assert_error(create(&app, body("b", bad)).await, 422, "invalid_field").await;
        assert!(message.starts_with("recipient: "), "{bad:?}: {message}");
    }
    assert_eq!(list(&app).await.len(), 1, "nothing else was stored");
}

#[tokio::test]
async fn a_second_connector_for_the_same_number_is_a_conflict() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    let body = |name: &str, recipient: &str| {
        json!({ "name": name, "recipient": recipient,
                "routing_type": "direct_acd_group", "acd_group": sales })
    };
    created(&app, body("first", "+4930123456")).await;
    // The same number written differently is the same number.
    let message = assert_error(
        create(&app, body("second", "+49 (30) 123-456")).await,
        409,
        "conflict",
    )
    .await;
    assert!(message.contains("+4930123456"), "{message}");

    let other = created(&app, body("other", "+442079460958")).await;
    let path = format!("/api/v1/connectors/sms/{}", other["id"]);
    let response = send(
        &app,
        Method::PATCH,
        &path,
        json!({ "recipient": "+4930123456" }),
    )
    .await;
    assert_error(response, 409, "conflict").await;
    assert_eq!(get(&app, &path).await["recipient"], "+442079460958");
    let message = assert_error(
        create(&app, body("first", "+14155552671")).await,
        409,
        "conflict",
    )
    .await;
    assert!(message.contains("named `first`"), "{message}");
}

#[tokio::test]
async fn the_token_is_generated_by_the_server_and_renewed_only_on_request() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    let connector = created(
        &app,
        json!({ "name": "s", "recipient": "+4930123456",
                "routing_type": "direct_acd_group", "acd_group": sales }),
    )
    .await;
    assert_eq!(
        connector["require_token"], true,
        "tokens are required by default"
    );
    let first = connector["token"].clone();
    assert_token(&first);
    let other = created(
        &app,
        json!({ "name": "t", "recipient": "+442079460958",
                "routing_type": "direct_acd_group", "acd_group": sales }),
    )
    .await;
    assert_ne!(other["token"], first, "each connector has its own token");

    let path = format!("/api/v1/connectors/sms/{}", connector["id"]);
    let unchanged: Value = send(
        &app,
        Method::PATCH,
        &path,
        json!({ "incoming_subject": "x" }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(unchanged["token"], first);

    let renewed: Value = send(
        &app,
        Method::PATCH,
        &path,
        json!({ "generate_new_token": true }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_token(&renewed["token"]);
    assert_ne!(renewed["token"], first);
    assert_eq!(get(&app, &path).await["token"], renewed["token"]);

    let message = assert_error(
        send(
            &app,
            Method::PATCH,
            &path,
            json!({ "token": "chosen-by-the-client" }),
        )
        .await,
        422,
        "invalid_field",
    )
    .await;
    assert!(message.starts_with("token: "), "{message}");
    let message = assert_error(
        create(
            &app,
            json!({ "name": "u", "recipient": "+14155552671", "token": "mine",
                    "routing_type": "direct_acd_group", "acd_group": sales }),
        )
        .await,
        422,
        "invalid_field",
    )
    .await;
    assert!(message.starts_with("token: "), "{message}");
    assert_eq!(get(&app, &path).await["token"], renewed["token"]);
}

#[tokio::test]
async fn groups_must_exist_and_fit_the_routing_type() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    let cases = [
        (
            json!({ "routing_type": "direct_acd_group", "acd_group": 9999 }),
            "acd_group: ",
        ),
        (json!({ "routing_type": "direct_acd_group" }), "acd_group: "),
        (
            json!({ "routing_type": "routing_application", "fallback_acd_group": 9999 }),
            "fallback_acd_group: ",
        ),
        (
            json!({ "routing_type": "routing_application", "acd_group": sales }),
            "acd_group: ",
        ),
        (
            json!({ "routing_type": "round_robin", "acd_group": sales }),
            "routing_type: ",
        ),
        (
            json!({ "routing_type": "routing_application", "plugin_settings": "x" }),
            "plugin_settings: ",
        ),
        (
            json!({ "routing_type": "routing_application",
                    "plugin_limits": { "memory_mib": 1_000_000 } }),
            "plugin_limits: ",
        ),
    ];
    for (fields, prefix) in cases {
        let mut body = json!({ "name": "s", "recipient": "+4930123456" });
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        let message = assert_error(create(&app, body.clone()).await, 422, "invalid_field").await;
        assert!(message.starts_with(prefix), "{body}: {message}");
    }
    assert!(list(&app).await.is_empty());

    // A routing application needs no group at all.
    let connector = created(
        &app,
        json!({ "name": "s", "recipient": "+4930123456", "routing_type": "routing_application" }),
    )
    .await;
    assert_eq!(connector["fallback_acd_group"], Value::Null);
}

#[tokio::test]
async fn a_deadline_override_above_the_maximum_is_refused_naming_field_and_maximum() {
    let app = spawn_app().await;
    let max = MAX_DEADLINE.as_millis() as u64;
    let body = |deadline_ms: u64| {
        json!({ "name": "slow", "recipient": "+4930123456",
                "routing_type": "routing_application",
                "plugin_limits": { "deadline_ms": deadline_ms } })
    };
    let response = create(&app, body(max + 1)).await;
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "invalid_field", "{error}");
    assert_eq!(
        error["error"]["field"], "plugin_limits.deadline_ms",
        "{error}"
    );
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains(&max.to_string()), "{message}");
    assert!(list(&app).await.is_empty());

    // The maximum itself is allowed, and kept.
    let connector = created(&app, body(max)).await;
    assert_eq!(connector["plugin_limits"], json!({ "deadline_ms": max }));
    // A PATCH cannot go past it either.
    let path = format!("/api/v1/connectors/sms/{}", connector["id"]);
    let message = assert_error(
        send(
            &app,
            Method::PATCH,
            &path,
            json!({ "plugin_limits": { "deadline_ms": max * 10 } }),
        )
        .await,
        422,
        "invalid_field",
    )
    .await;
    assert!(
        message.starts_with("plugin_limits.deadline_ms: "),
        "{message}"
    );
}

#[tokio::test]
async fn a_group_in_use_by_a_connector_cannot_be_deleted() {
    let app = spawn_app().await;
    let direct = group(&app, "direct").await;
    let fallback = group(&app, "fallback").await;
    created(
        &app,
        json!({ "name": "Direct line", "recipient": "+4930123456",
                "routing_type": "direct_acd_group", "acd_group": direct }),
    )
    .await;
    created(
        &app,
        json!({ "name": "Plugin line", "recipient": "+442079460958",
                "routing_type": "routing_application", "fallback_acd_group": fallback }),
    )
    .await;
    for (id, connector) in [(direct, "Direct line"), (fallback, "Plugin line")] {
        let path = format!("/api/v1/acd-groups/{id}");
        let response = app.admin(Method::DELETE, &path).send().await.unwrap();
        let message = assert_error(response, 409, "conflict").await;
        assert!(message.contains(&format!("`{connector}`")), "{message}");
        assert_eq!(get(&app, &path).await["id"], id, "the group is still there");
    }
}

#[tokio::test]
async fn unknown_fields_and_unknown_connectors_are_refused() {
    let app = spawn_app().await;
    let response = create(
        &app,
        json!({ "name": "s", "recipient": "+4930123456",
                "routing_type": "routing_application", "colour": "red" }),
    )
    .await;
    let message = assert_error(response, 422, "invalid_field").await;
    assert!(message.contains("colour"), "{message}");
    let response = send(
        &app,
        Method::PATCH,
        "/api/v1/connectors/sms/9999",
        json!({ "name": "x" }),
    )
    .await;
    assert_error(response, 404, "not_found").await;
    let response = app
        .admin(Method::DELETE, "/api/v1/connectors/sms/9999")
        .send()
        .await
        .unwrap();
    assert_error(response, 404, "not_found").await;
}

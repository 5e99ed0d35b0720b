//! `/api/v1/connectors/sms/{id}/plugins`: uploading routing applications, validated
//! by the runtime before they are stored; versions, activation and rollback.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard::runtime::content_hash;
use switchyard_tests::{TestApp, plugin_bytes, spawn_app};

use super::assert_error;
use super::connectors::created;

/// A routing-application connector with no plugin yet; returns its plugins path.
async fn connector(app: &TestApp) -> String {
    let connector = created(
        app,
        json!({ "name": "plugin line", "recipient": "+4930123456",
                "routing_type": "routing_application" }),
    )
    .await;
    format!("/api/v1/connectors/sms/{}/plugins", connector["id"])
}

async fn upload(app: &TestApp, path: &str, bytes: Vec<u8>) -> reqwest::Response {
    app.admin(Method::POST, path)
        .header("content-type", "application/wasm")
        .body(bytes)
        .send()
        .await
        .unwrap()
}

async fn uploaded(app: &TestApp, path: &str, bytes: Vec<u8>, status: u16) -> Value {
    let response = upload(app, path, bytes).await;
    assert_eq!(response.status(), status);
    response.json().await.unwrap()
}

async fn versions(app: &TestApp, path: &str) -> Vec<Value> {
    let response = app.admin(Method::GET, path).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn post(app: &TestApp, path: &str) -> reqwest::Response {
    app.admin(Method::POST, path).send().await.unwrap()
}

fn active(list: &[Value]) -> Vec<i64> {
    list.iter()
        .filter(|v| v["active"] == true)
        .map(|v| v["version"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn an_uploaded_router_becomes_version_1_and_the_active_plugin() {
    let app = spawn_app().await;
    let path = connector(&app).await;
    let bytes = plugin_bytes("keyword-router");
    let version = uploaded(&app, &path, bytes.clone(), 201).await;
    assert_eq!(version["version"], 1);
    assert_eq!(version["sha256"], content_hash(&bytes));
    assert_eq!(version["size"], bytes.len());
    assert_eq!(version["active"], true, "a first upload is activated");
    assert!(version["uploaded_at"].as_i64().unwrap() > 1_700_000_000_000);
    assert!(version.get("component").is_none(), "no bytes in responses");
    assert_eq!(versions(&app, &path).await, std::slice::from_ref(&version));

    let connector: Value = app
        .admin(Method::GET, path.trim_end_matches("/plugins"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(connector["active_plugin"]["version"], 1);
    assert_eq!(connector["active_plugin"]["sha256"], content_hash(&bytes));
}

#[tokio::test]
async fn components_that_are_not_routing_applications_are_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let path = connector(&app).await;
    let first = uploaded(&app, &path, plugin_bytes("keyword-router"), 201).await;
    for (bytes, problem) in [
        // An external-system processor exports `process`, not `route`.
        (plugin_bytes("cas-processor"), "route"),
        (plugin_bytes("wrong-world"), "routing-application"),
        (plugin_bytes("forbidden-import"), "imports"),
        (
            b"definitely not a component".to_vec(),
            "not a WebAssembly file",
        ),
    ] {
        let message = assert_error(upload(&app, &path, bytes).await, 422, "invalid_plugin").await;
        assert!(message.contains(problem), "{problem}: {message}");
    }
    assert_eq!(versions(&app, &path).await, [first], "nothing was stored");
}

#[tokio::test]
async fn versions_can_be_activated_and_rolled_back_step_by_step() {
    let app = spawn_app().await;
    let path = connector(&app).await;
    let rust = plugin_bytes("keyword-router");
    uploaded(&app, &path, rust.clone(), 201).await;
    let python = uploaded(&app, &path, plugin_bytes("keyword-router-py"), 201).await;
    assert_eq!(python["version"], 2);
    assert_eq!(
        python["active"], false,
        "later uploads wait for an explicit activation"
    );
    assert_eq!(active(&versions(&app, &path).await), [1]);

    let response = post(&app, &format!("{path}/2/activate")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["active"], true);
    assert_eq!(active(&versions(&app, &path).await), [2]);

    let response = post(&app, &format!("{path}/rollback")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["version"], 1);
    assert_eq!(active(&versions(&app, &path).await), [1]);

    // Nothing was active before version 1.
    let message = assert_error(
        post(&app, &format!("{path}/rollback")).await,
        409,
        "conflict",
    )
    .await;
    assert!(message.contains("roll back"), "{message}");

    // The same bytes again are the same version, not a third one.
    let again = uploaded(&app, &path, rust, 200).await;
    assert_eq!(again["version"], 1);
    assert_eq!(versions(&app, &path).await.len(), 2);

    // Three activations: rollback steps back twice, through the history. (The
    // misbehaving fixture is a routing application too, and small to compile.)
    let third = uploaded(&app, &path, plugin_bytes("hostile"), 201).await;
    assert_eq!(third["version"], 3);
    for version in [2, 3] {
        let response = post(&app, &format!("{path}/{version}/activate")).await;
        assert_eq!(response.status(), 200);
    }
    for expected in [2, 1] {
        let response = post(&app, &format!("{path}/rollback")).await;
        assert_eq!(response.json::<Value>().await.unwrap()["version"], expected);
        assert_eq!(active(&versions(&app, &path).await), [expected]);
    }

    let response = post(&app, &format!("{path}/7/activate")).await;
    assert_error(response, 404, "not_found").await;
}

#[tokio::test]
async fn an_upload_can_choose_whether_it_activates() {
    let app = spawn_app().await;
    let path = connector(&app).await;
    let first = uploaded(
        &app,
        &format!("{path}?activate=false"),
        plugin_bytes("keyword-router"),
        201,
    )
    .await;
    assert_eq!(first["active"], false);
    let second = uploaded(
        &app,
        &format!("{path}?activate=true"),
        plugin_bytes("keyword-router-py"),
        201,
    )
    .await;
    assert_eq!(second["active"], true);
    assert_eq!(active(&versions(&app, &path).await), [2]);
}

#[tokio::test]
async fn uploads_need_the_admin_token_a_component_type_and_a_known_connector() {
    let app = spawn_app().await;
    let path = connector(&app).await;
    let response = app
        .client
        .post(app.url(&path))
        .header("content-type", "application/wasm")
        .body(plugin_bytes("keyword-router"))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;

    let response = app
        .admin(Method::POST, &path)
        .json(&json!({ "component": "base64?" }))
        .send()
        .await
        .unwrap();
    assert_error(response, 415, "unsupported_media_type").await;

    let response = upload(
        &app,
        "/api/v1/connectors/sms/9999/plugins",
        plugin_bytes("keyword-router"),
    )
    .await;
    assert_error(response, 404, "not_found").await;
    assert!(versions(&app, &path).await.is_empty());
}

#[tokio::test]
async fn the_upload_route_accepts_large_components_while_the_rest_of_the_api_does_not() {
    let app = spawn_app().await;
    let path = connector(&app).await;
    // Two MiB: over the API's 1 MiB default, far under the component limit. Not a
    // component, so the runtime (not the body limit) is what refuses it.
    let mut big = b"\0asm\x0d\x00\x01\x00".to_vec();
    big.resize(2 << 20, 0);
    let message = assert_error(upload(&app, &path, big).await, 422, "invalid_plugin").await;
    assert!(!message.is_empty());

    let response = app
        .admin(Method::POST, "/api/v1/acd-groups")
        .header("content-type", "application/json")
        .body(format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20)))
        .send()
        .await
        .unwrap();
    assert_error(response, 413, "body_too_large").await;
}

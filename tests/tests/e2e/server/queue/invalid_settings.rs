//! Plugin settings the runtime cannot give to a plugin (not a JSON object, too large):
//! refused when they are stored, and, when found in the database anyway, a named
//! configuration error on the entry instead of a send with other settings.

use reqwest::Method;
use serde_json::json;
use switchyard_tests::gateway::RecordingGateway;

use super::*;

/// Larger than the runtime's limit on a plugin's settings (256 KiB).
fn too_large() -> Value {
    json!({ "padding": "x".repeat(300 * 1024) })
}

#[tokio::test]
async fn settings_a_plugin_could_not_be_given_are_refused_when_stored() {
    let app = app_without_worker().await;
    let gateway = upload(&app, "json-gateway").await;
    let (status, body) = call(
        &app,
        Method::PUT,
        "/api/v1/settings/sms",
        Some(json!({ "enabled": true, "gateway_plugin": gateway, "settings": too_large() })),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_field", "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("settings: ") && message.contains("the limit is"),
        "{body}"
    );

    let cas = upload(&app, "cas-processor").await;
    for settings in [too_large(), json!(["SPORTS"])] {
        let (status, body) = call(
            &app,
            Method::POST,
            "/api/v1/external-systems",
            Some(json!({ "name": "cas", "kind": "plugin", "plugin": cas, "settings": settings })),
        )
        .await;
        assert_eq!(status, 422, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("settings: "), "{body}");
    }
}

#[tokio::test]
async fn invalid_stored_gateway_settings_reject_the_entry_with_a_configuration_error() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    let mut settings = enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;
    // Edited by hand: the gateway plugin's settings are no longer an object.
    settings["settings"] = json!(["oops"]);
    let text = settings.to_string().replace('\'', "''");
    let changed = app
        .edit_database(&format!(
            "UPDATE settings SET value = '{text}' WHERE key = 'queue.sms'"
        ))
        .await;
    assert_eq!(changed, 1);

    let entry = create(
        &app,
        json!({ "media": "sms", "sender": fresh_number(), "recipient": fresh_number(), "body": "hi" }),
    )
    .await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_code"], "INVALID-SETTINGS", "{done}");
    let description = done["error_description"].as_str().unwrap();
    assert!(
        description.contains("gateway plugin settings are invalid")
            && description.contains("not an array"),
        "{description}"
    );
    assert!(
        gateway.requests().is_empty(),
        "nothing is sent with settings the admin did not give"
    );
}

#[tokio::test]
async fn invalid_stored_external_system_settings_reject_the_entry_with_a_configuration_error() {
    let app = app_without_worker().await;
    let hash = upload(&app, "cas-processor").await;
    expect(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "cas", "kind": "plugin", "plugin": hash, "settings": {} })),
        201,
    )
    .await;
    let changed = app
        .edit_database("UPDATE external_systems SET settings = '\"oops\"' WHERE name = 'cas'")
        .await;
    assert_eq!(changed, 1);
    let entry = create(
        &app,
        json!({ "media": "device", "recipient": "SC-0001", "external_system": "cas",
                "body": json!({ "command": "activate", "device": "SC-0001" }).to_string() }),
    )
    .await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_code"], "INVALID-SETTINGS", "{done}");
    assert!(
        done["error_description"]
            .as_str()
            .unwrap()
            .contains("external system `cas` has invalid plugin settings"),
        "{done}"
    );
}

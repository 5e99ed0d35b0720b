//! DEVICE entries processed by an external system's WASM processor (the CAS processor):
//! seed 000's External Systems table, with the processor's state kept between entries.

use reqwest::Method;
use serde_json::json;

use super::*;

async fn command(app: &TestApp, body: Value) -> Value {
    let entry = create(
        app,
        json!({ "media": "device", "recipient": body["device"],
                                    "body": body.to_string(), "external_system": "cas" }),
    )
    .await;
    process(app, &entry["number"]).await
}

#[tokio::test]
async fn device_commands_are_completed_or_rejected_by_the_cas_processor() {
    let app = app_without_worker().await;
    let hash = upload(&app, "cas-processor").await;
    let system = expect(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "cas", "kind": "plugin", "plugin": hash,
                     "settings": { "known_products": ["SPORTS", "MOVIES"] } })),
        201,
    )
    .await;
    assert_eq!(system["kind"], "plugin");

    // DEVICE, Outgoing, no other errors -> Completed, with the CAS's reference.
    let done = command(&app, json!({ "command": "activate", "device": "SC-0001" })).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["status"], "sent");
    assert_eq!(done["result"], format!("cas-{}", done["number"]));
    assert_eq!(statuses(&done), ["pending", "sending", "sent"]);
    assert_eq!(done["log"]["updated_by"], "queue processor");

    // The processor's kv state was kept: the card exists for the next command.
    let entitled = command(
        &app,
        json!({ "command": "add_entitlement", "device": "SC-0001", "products": ["SPORTS"] }),
    )
    .await;
    assert_eq!(entitled["state"], "completed", "{entitled}");

    // DEVICE, Outgoing, other errors -> Rejected with the third party's own errors.
    let again = command(
        &app,
        json!({ "command": "add_entitlement", "device": "SC-0001", "products": ["SPORTS"] }),
    )
    .await;
    assert_eq!(again["state"], "rejected");
    assert_eq!(again["status"], "failed");
    assert_eq!(again["error_code"], "CAS-409");
    assert!(
        again["error_description"]
            .as_str()
            .unwrap()
            .contains("already holds SPORTS"),
        "{again}"
    );
    let unknown = command(
        &app,
        json!({ "command": "add_entitlement", "device": "SC-0001", "products": ["KIDS"] }),
    )
    .await;
    assert_eq!(unknown["error_code"], "CAS-400");
    let never = command(
        &app,
        json!({ "command": "pair", "device": "SC-0002", "receiver": "STB-0042" }),
    )
    .await;
    assert_eq!(never["error_code"], "CAS-404");

    // A rejected entry is not processed again.
    let (status, answer) = call(
        &app,
        Method::POST,
        &format!("/api/v1/queue/{}/process", again["number"]),
        None,
    )
    .await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("only pending entries")
    );
}

#[tokio::test]
async fn the_background_worker_processes_device_entries_too() {
    let app = app_with_worker().await;
    let hash = upload(&app, "cas-processor").await;
    expect(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "cas", "kind": "plugin", "plugin": hash })),
        201,
    )
    .await;
    let entry = create(
        &app,
        json!({ "media": "device", "recipient": "SC-0009",
        "body": json!({ "command": "activate", "device": "SC-0009" }).to_string(),
        "external_system": "cas" }),
    )
    .await;
    let done = settled(&app, &entry["number"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    // A gateway plugin cannot serve as an external system.
    let gateway = upload(&app, "json-gateway").await;
    let (status, answer) = call(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "wrong", "kind": "plugin", "plugin": gateway })),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
}

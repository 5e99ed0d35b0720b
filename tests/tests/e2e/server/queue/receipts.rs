//! Delivery receipts (`POST /api/v1/sms/receipts`, JSON and Twilio's status callback):
//! Sent moves to Delivered, Undelivered, Unreachable or Failed; receipts are idempotent
//! and a multi-part message's status follows all its parts.

use serde_json::json;
use switchyard_tests::gateway::RecordingGateway;

use super::super::assert_error;
use super::*;

/// Sends a text through the JSON gateway; returns (entry number, gateway reference,
/// receipt token).
async fn sent(app: &TestApp, gateway: &RecordingGateway, body: &str) -> (Value, String, String) {
    let settings = enable_sms(
        app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;
    let entry = create(app, json!({ "media": "sms", "sender": fresh_number(), "recipient": fresh_number(), "body": body })).await;
    let done = process(app, &entry["number"]).await;
    assert_eq!(done["status"], "sent", "{done}");
    (
        entry["number"].clone(),
        done["gateway_reference"].as_str().unwrap().to_owned(),
        settings["receipt_token"].as_str().unwrap().to_owned(),
    )
}

async fn receipt(app: &TestApp, token: &str, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(app.url("/api/v1/sms/receipts"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn receipts_move_a_sent_text_and_are_idempotent() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    let (number, reference, token) = sent(&app, &gateway, "hi").await;

    let (status, answer) = receipt(
        &app,
        &token,
        json!({ "message_id": reference, "status": "delivered" }),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"], "applied");
    assert_eq!(answer["status"], "delivered");
    let now = entry(&app, &number).await;
    assert_eq!(now["status"], "delivered");
    assert_eq!(
        now["state"], "completed",
        "a receipt changes the text status, not the life cycle"
    );
    assert_eq!(statuses(&now), ["pending", "sending", "sent", "delivered"]);

    // The same receipt again changes nothing.
    let (status, answer) = receipt(
        &app,
        &token,
        json!({ "message_id": reference, "status": "delivered" }),
    )
    .await;
    assert_eq!(
        (status, answer["result"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(statuses(&entry(&app, &number).await).len(), 4);

    // A receipt for a message the host does not know yet is kept, not refused.
    let (status, answer) = receipt(
        &app,
        &token,
        json!({ "message_id": "gw-unknown", "status": "failed" }),
    )
    .await;
    assert_eq!((status, answer["result"].as_str()), (202, Some("stored")));

    // Wrong token, bad bodies: clear errors, nothing changes.
    let response = app
        .client
        .post(app.url("/api/v1/sms/receipts"))
        .bearer_auth("wrong")
        .json(&json!({ "message_id": reference, "status": "failed" }))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let response = app
        .client
        .post(app.url("/api/v1/sms/receipts"))
        .json(&json!({ "message_id": reference, "status": "failed" }))
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
    let response = app
        .client
        .post(app.url("/api/v1/sms/receipts"))
        .bearer_auth(&token)
        .json(&json!({ "message_id": reference, "status": "queued" }))
        .send()
        .await
        .unwrap();
    assert_error(response, 422, "invalid_field").await;
    let response = app
        .client
        .post(app.url("/api/v1/sms/receipts"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"message_id\":")
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "malformed_json").await;
    assert_eq!(entry(&app, &number).await["status"], "delivered");
}

#[tokio::test]
async fn a_multi_part_message_is_delivered_when_every_part_is() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    // 200 GSM characters: two parts.
    let (number, reference, token) = sent(&app, &gateway, &"a".repeat(200)).await;
    assert_eq!(entry(&app, &number).await["parts"], 2);
    let part = |n: u32, status: &str| json!({ "message_id": reference, "status": status, "part": n, "parts": 2 });
    receipt(&app, &token, part(1, "delivered")).await;
    assert_eq!(
        entry(&app, &number).await["status"],
        "sent",
        "one part of two is not the message"
    );
    receipt(&app, &token, part(2, "delivered")).await;
    assert_eq!(entry(&app, &number).await["status"], "delivered");

    // Another two-part text whose second part cannot be delivered: Undelivered.
    let (number, reference, token) = sent(&app, &gateway, &"b".repeat(200)).await;
    let part = |n: u32, status: &str| {
        json!({ "message_id": reference, "status": status, "part": n,
        "error_code": "EC-1", "error_description": "handset rejected" })
    };
    receipt(&app, &token, part(1, "delivered")).await;
    receipt(&app, &token, part(2, "undelivered")).await;
    let now = entry(&app, &number).await;
    assert_eq!(now["status"], "undelivered", "{now}");
    assert_eq!(now["error_code"], "EC-1");
}

#[tokio::test]
async fn twilio_status_callbacks_are_understood() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    let sid = format!("AC{}", "0123456789abcdef".repeat(2));
    gateway.twilio_account(&sid, "tw-token");
    let settings = enable_sms(
        &app,
        "twilio-gateway",
        json!({ "account_sid": sid, "auth_token": "tw-token", "base_url": gateway.url() }),
        json!({}),
    )
    .await;
    let token = settings["receipt_token"].as_str().unwrap();
    let mut sent = Vec::new();
    for _ in 0..2 {
        let entry = create(&app, json!({ "media": "sms", "sender": fresh_number(), "recipient": fresh_number(), "body": "hi" })).await;
        let done = process(&app, &entry["number"]).await;
        sent.push((
            entry["number"].clone(),
            done["gateway_reference"].as_str().unwrap().to_owned(),
        ));
    }
    let callback = |form: Vec<(&str, &str)>| {
        app.client
            .post(app.url(&format!("/api/v1/sms/receipts?token={token}")))
            .form(&form)
            .send()
    };
    // An interim status changes nothing.
    let response = callback(vec![
        ("MessageSid", &sent[0].1),
        ("MessageStatus", "sending"),
        ("AccountSid", &sid),
    ])
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(entry(&app, &sent[0].0).await["status"], "sent");
    callback(vec![
        ("MessageSid", &sent[0].1),
        ("MessageStatus", "delivered"),
        ("AccountSid", &sid),
    ])
    .await
    .unwrap();
    assert_eq!(entry(&app, &sent[0].0).await["status"], "delivered");
    // 30003: unreachable destination handset.
    callback(vec![
        ("MessageSid", &sent[1].1),
        ("MessageStatus", "undelivered"),
        ("ErrorCode", "30003"),
    ])
    .await
    .unwrap();
    let now = entry(&app, &sent[1].0).await;
    assert_eq!(now["status"], "unreachable", "{now}");
    assert_eq!(now["error_code"], "30003");
    let response = callback(vec![("MessageStatus", "delivered")])
        .await
        .unwrap();
    assert_error(response, 422, "invalid_field").await;
}

//! Seed 000's SMS table, row by row, through gateway plugins (the generic JSON gateway
//! and the Twilio-style one) to a real local HTTP gateway that records each request;
//! retries, timeouts and the idempotency key.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchyard_tests::gateway::RecordingGateway;

use super::*;

/// A text between two numbers no other text uses, so no rate limit holds it back.
fn text(body: &str) -> Value {
    json!({ "media": "sms", "sender": fresh_number(), "recipient": fresh_number(), "body": body })
}

#[tokio::test]
async fn the_sms_table_row_by_row() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;

    // SMS, Incoming, Enabled -> Rejected "Incoming SMS not Supported".
    let mut incoming = text("hi");
    incoming["direction"] = json!("incoming");
    let entry = create(&app, incoming).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_description"], "Incoming SMS not Supported");

    // SMS, Outgoing, Not Enabled -> Rejected "SMS Server not Enabled".
    let entry = create(&app, text("hi")).await;
    expect(
        &app,
        Method::PUT,
        "/api/v1/settings/sms",
        Some(json!({ "enabled": false })),
        200,
    )
    .await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_description"], "SMS Server not Enabled");
    expect(
        &app,
        Method::PUT,
        "/api/v1/settings/sms",
        Some(json!({ "enabled": true })),
        200,
    )
    .await;

    // SMS, Outgoing, Enabled, other errors -> Rejected with the gateway's error.
    let refused_number = "+32470555555";
    gateway.fail_recipient(
        refused_number,
        400,
        json!({ "status": "failed", "code": "21211", "error": "number not in service" }),
    );
    let entry = create(&app, json!({ "media": "sms", "sender": fresh_number(), "recipient": refused_number, "body": "hi" })).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["status"], "failed");
    assert_eq!(
        done["error_code"], "21211",
        "the gateway's own code, not HTTP-400"
    );
    assert_eq!(done["error_description"], "number not in service");

    // SMS, Outgoing, Enabled, no errors -> Completed; the gateway got the request.
    let entry = create(&app, text("Your code is 1234")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["status"], "sent");
    assert_eq!(statuses(&done), ["pending", "sending", "sent"]);
    let reference = done["gateway_reference"].as_str().unwrap().to_owned();
    let request = gateway.requests().into_iter().last().unwrap();
    assert_eq!(request.path, "/json");
    assert_eq!(request.json()["to"], done["communication"]["recipient"]);
    assert_eq!(request.json()["from"], done["communication"]["sender"]);
    assert_eq!(request.json()["text"], "Your code is 1234");
    assert_eq!(
        request.headers["idempotency-key"],
        format!("switchyard-{}", entry["number"])
    );
    assert!(reference.starts_with("gw-"), "{reference}");
}

#[tokio::test]
async fn the_twilio_style_gateway_sends_a_form_with_basic_auth() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    let sid = format!("AC{}", "0123456789abcdef".repeat(2));
    gateway.twilio_account(&sid, "tw-token");
    enable_sms(
        &app,
        "twilio-gateway",
        json!({ "account_sid": sid, "auth_token": "tw-token", "base_url": gateway.url() }),
        json!({}),
    )
    .await;
    let entry = create(&app, text("Grüße & tschüss")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert!(
        done["gateway_reference"]
            .as_str()
            .unwrap()
            .starts_with("SM"),
        "{done}"
    );
    let request = gateway.requests().into_iter().last().unwrap();
    assert_eq!(
        request.path,
        format!("/2010-04-01/Accounts/{sid}/Messages.json")
    );
    let form = request.form();
    assert!(
        form.contains(&("Body".to_owned(), "Grüße & tschüss".to_owned())),
        "{form:?}"
    );
    let to = done["communication"]["recipient"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(form.contains(&("To".to_owned(), to)), "{form:?}");

    // Wrong credentials: Twilio's 401 error lands in the entry.
    enable_sms(
        &app,
        "twilio-gateway",
        json!({ "account_sid": sid, "auth_token": "nope", "base_url": gateway.url() }),
        json!({}),
    )
    .await;
    let entry = create(&app, text("hi")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_code"], "20003");
}

#[tokio::test]
async fn temporary_gateway_errors_are_retried_with_the_same_idempotency_key() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({ "max_attempts": 3 }),
    )
    .await;
    gateway.fail_next(2, 503);
    let entry = create(&app, text("hi")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "completed", "{done}");
    assert_eq!(done["attempts"], 3);
    assert_eq!(
        statuses(&done),
        ["pending", "sending", "sending", "sending", "sent"]
    );
    let keys: Vec<String> = gateway
        .requests()
        .iter()
        .map(|r| r.headers["idempotency-key"].clone())
        .collect();
    assert_eq!(keys, vec![format!("switchyard-{}", entry["number"]); 3]);

    // Still failing after max_attempts: Unsent, with the gateway's last answer.
    gateway.fail_next(3, 503);
    let entry = create(&app, text("hi again")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["status"], "unsent");
    assert_eq!(done["error_code"], "HTTP-503");
    assert!(
        done["error_description"]
            .as_str()
            .unwrap()
            .contains("gave up after 3 attempts"),
        "{done}"
    );
}

#[tokio::test]
async fn a_gateway_that_does_not_answer_in_time_is_given_up_on() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({ "timeout_seconds": 1, "max_attempts": 1 }),
    )
    .await;
    gateway.delay(Duration::from_secs(3));
    let entry = create(&app, text("hi")).await;
    let started = std::time::Instant::now();
    let done = process(&app, &entry["number"]).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the timeout bounds the wait"
    );
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["status"], "unsent");
    assert_eq!(done["error_code"], "HTTP-TIMEOUT");
    // Nothing listening at all, at a URL with a credential in its query, which the
    // stored (and logged) description must not repeat.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("http://127.0.0.1:{port}/json?api_key=SECRET-KEY-77") }),
        json!({ "max_attempts": 1 }),
    )
    .await;
    let entry = create(&app, text("hi")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["error_code"], "HTTP-CONNECT", "{done}");
    let description = done["error_description"].as_str().unwrap();
    assert!(
        description.contains(&format!("http://127.0.0.1:{port}/json")),
        "{description}"
    );
    assert!(!description.contains("SECRET-KEY-77"), "{description}");
}

#[tokio::test]
async fn a_gateway_plugin_refusal_fails_the_entry_without_a_request() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    // A setting the plugin refuses: it answers GW-CONFIG and nothing is sent.
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()), "auth-token": "x" }),
        json!({}),
    )
    .await;
    let entry = create(&app, text("hi")).await;
    let done = process(&app, &entry["number"]).await;
    assert_eq!(done["state"], "rejected", "{done}");
    assert_eq!(done["error_code"], "GW-CONFIG");
    assert!(gateway.requests().is_empty());
}

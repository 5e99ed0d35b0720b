//! Seed 000's "Which Communications are sent to the Queue?", the queue listing and
//! single entries, removal, and the API's answers to bad input.

use reqwest::Method;
use serde_json::json;

use super::super::assert_error;
use super::*;

#[tokio::test]
async fn only_communications_meeting_a_condition_enter_the_queue() {
    let app = app_without_worker().await;
    // Nothing enabled, no external system: email, SMS and DEVICE all stay out.
    for body in [
        json!({ "media": "email", "sender": "a@acme.example", "recipient": "b@example.com", "body": "x" }),
        json!({ "media": "sms", "sender": NUMBER, "recipient": CONTACT, "body": "x" }),
        json!({ "media": "device", "recipient": "SC-0001", "body": "{}" }),
    ] {
        let response = app
            .admin(Method::POST, "/api/v1/communications")
            .json(&body)
            .send()
            .await
            .unwrap();
        let message = assert_error(response, 422, "not_queued").await;
        assert!(message.contains("does not enter the queue"), "{message}");
    }
    let listed = expect(&app, Method::GET, "/api/v1/queue", None, 200).await;
    assert_eq!(listed["items"], json!([]), "nothing was stored");

    // An external system is enough, whatever the media and settings.
    expect(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "billing", "kind": "third_party" })),
        201,
    )
    .await;
    let entry = create(
        &app,
        json!({ "media": "sms", "sender": NUMBER, "recipient": "+32 470 12 34 56",
                                     "body": "x", "external_system": "billing" }),
    )
    .await;
    assert_eq!(
        entry["communication"]["recipient"], CONTACT,
        "numbers are stored in E.164"
    );
    assert_eq!(entry["status"], "pending");
    assert_eq!(entry["log"]["created_by"], "admin api");
    // Enabling email lets email in.
    expect(
        &app,
        Method::PUT,
        "/api/v1/settings/email",
        Some(
            json!({ "enabled": true, "host": "127.0.0.1", "port": 1, "tls": "none",
                     "default_sender": "desk@acme.example" }),
        ),
        200,
    )
    .await;
    let email = create(
        &app,
        json!({ "media": "email", "recipient": "b@example.com",
                                     "subject": "Hello", "body": "x" }),
    )
    .await;
    assert_eq!(
        email["communication"]["sender"], "desk@acme.example",
        "the default sender"
    );
    let one = entry_of(&app, &email["number"]).await;
    assert_eq!(statuses(&one), ["pending"]);
    assert!(
        one["activity"][0]["at"].as_i64().unwrap() > 0,
        "time-stamped"
    );
}

async fn entry_of(app: &TestApp, number: &Value) -> Value {
    super::entry(app, number).await
}

#[tokio::test]
async fn entries_are_listed_filtered_paged_and_removed_once_completed() {
    let app = app_without_worker().await;
    expect(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "billing", "kind": "third_party" })),
        201,
    )
    .await;
    let mut numbers = Vec::new();
    for i in 0..5 {
        let media = if i % 2 == 0 { "sms" } else { "email" };
        let (sender, recipient) = if media == "sms" {
            (NUMBER.to_owned(), CONTACT.to_owned())
        } else {
            ("a@acme.example".to_owned(), format!("c{i}@example.com"))
        };
        let e = create(
            &app,
            json!({ "media": media, "sender": sender, "recipient": recipient,
                                     "body": format!("text {i}"), "external_system": "billing" }),
        )
        .await;
        numbers.push(e["number"].as_i64().unwrap());
    }
    let page = expect(&app, Method::GET, "/api/v1/queue?limit=2", None, 200).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next_after"].as_i64().unwrap();
    assert_eq!(next, numbers[1]);
    let rest = expect(
        &app,
        Method::GET,
        &format!("/api/v1/queue?after={next}"),
        None,
        200,
    )
    .await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 3);
    assert_eq!(rest["next_after"], Value::Null);
    let sms = expect(
        &app,
        Method::GET,
        "/api/v1/queue?media=sms&state=pending",
        None,
        200,
    )
    .await;
    assert_eq!(sms["items"].as_array().unwrap().len(), 3);
    let none = expect(
        &app,
        Method::GET,
        "/api/v1/queue?status=delivered",
        None,
        200,
    )
    .await;
    assert_eq!(none["items"], json!([]));

    // Only completed entries can be removed.
    let first = json!(numbers[0]);
    let response = app
        .admin(Method::DELETE, &format!("/api/v1/queue/{first}"))
        .send()
        .await
        .unwrap();
    let message = assert_error(response, 409, "conflict").await;
    assert!(message.contains("only completed entries"), "{message}");

    // A third party completes it; then it can be removed and leaves the default list.
    let (status, system) = call(&app, Method::GET, "/api/v1/external-systems/billing", None).await;
    assert_eq!(status, 200);
    let token = system["token"].as_str().unwrap();
    let claim: Value = app
        .client
        .post(app.url(&format!(
            "/api/v1/external-systems/billing/entries/{first}/claim"
        )))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let settled = app
        .client
        .post(app.url(&format!(
            "/api/v1/external-systems/billing/entries/{first}/settle"
        )))
        .bearer_auth(token)
        .json(&json!({ "claim": claim["claim"], "outcome": "completed" }))
        .send()
        .await
        .unwrap();
    assert_eq!(settled.status(), 200);
    let removed = expect(
        &app,
        Method::DELETE,
        &format!("/api/v1/queue/{first}"),
        None,
        200,
    )
    .await;
    assert_eq!(removed["state"], "completed_and_removed");
    let listed = expect(&app, Method::GET, "/api/v1/queue", None, 200).await;
    assert!(
        listed["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["number"] != first)
    );
    let gone = expect(
        &app,
        Method::GET,
        "/api/v1/queue?state=completed_and_removed",
        None,
        200,
    )
    .await;
    assert_eq!(gone["items"][0]["number"], first);
}

#[tokio::test]
async fn bad_communications_and_queries_get_clear_errors_and_change_nothing() {
    let app = app_without_worker().await;
    expect(
        &app,
        Method::PUT,
        "/api/v1/settings/email",
        Some(json!({ "enabled": true, "host": "127.0.0.1", "port": 1, "tls": "none" })),
        200,
    )
    .await;
    expect(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "billing", "kind": "third_party" })),
        201,
    )
    .await;
    let post = |body: String| {
        app.admin(Method::POST, "/api/v1/communications")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    assert_error(
        post("{\"media\": \"email\",".into()).await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    assert_error(
        post(json!({ "media": "fax", "recipient": "x", "body": "x" }).to_string())
            .await
            .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    assert_error(
        post(
            json!({ "media": "email", "recipient": "b@example.com", "body": "x", "colour": 1 })
                .to_string(),
        )
        .await
        .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    let m = assert_error(
        post(json!({ "media": "email", "recipient": "b@example.com", "body": "x" }).to_string())
            .await
            .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    assert!(m.starts_with("sender"), "no sender and no default: {m}");
    let m = assert_error(post(json!({ "media": "email", "sender": "a@acme.example", "recipient": "not-an-address", "body": "x" }).to_string()).await.unwrap(), 422, "invalid_field").await;
    assert!(m.starts_with("recipient"), "{m}");
    let m = assert_error(post(json!({ "media": "sms", "sender": NUMBER, "recipient": "call me", "body": "x", "external_system": "billing" }).to_string()).await.unwrap(), 422, "invalid_field").await;
    assert!(m.starts_with("recipient"), "{m}");
    let m = assert_error(post(json!({ "media": "sms", "sender": NUMBER, "recipient": CONTACT, "body": "x", "external_system": "nobody" }).to_string()).await.unwrap(), 422, "invalid_field").await;
    assert!(m.contains("nobody"), "{m}");
    let m = assert_error(post(json!({ "media": "email", "sender": "a@acme.example", "recipient": "b@example.com", "subject": "two\nlines", "body": "x" }).to_string()).await.unwrap(), 422, "invalid_field").await;
    assert!(m.starts_with("subject"), "{m}");
    let m = assert_error(post(json!({ "media": "email", "sender": "a@acme.example", "recipient": "b@example.com", "body": "x".repeat(40_001) }).to_string()).await.unwrap(), 422, "invalid_field").await;
    assert!(m.starts_with("body"), "{m}");
    let big = json!({ "media": "email", "sender": "a@acme.example", "recipient": "b@example.com", "body": "x".repeat(2 << 20) });
    assert_error(post(big.to_string()).await.unwrap(), 413, "body_too_large").await;

    assert_error(
        app.admin(Method::GET, "/api/v1/queue?state=lost")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_query",
    )
    .await;
    assert_error(
        app.admin(Method::GET, "/api/v1/queue?status=read")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_query",
    )
    .await;
    assert_error(
        app.admin(Method::GET, "/api/v1/queue/abc")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.admin(Method::GET, "/api/v1/queue/999")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.admin(Method::POST, "/api/v1/queue/999/process")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.client
            .get(app.url("/api/v1/queue"))
            .bearer_auth("wrong-token-0123456789")
            .send()
            .await
            .unwrap(),
        401,
        "unauthorized",
    )
    .await;

    // Settings refuse what cannot work.
    let m = assert_error(
        app.admin(Method::PUT, "/api/v1/settings/sms")
            .json(&json!({ "enabled": true }))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    assert!(m.contains("gateway plugin"), "{m}");
    let m = assert_error(
        app.admin(Method::PUT, "/api/v1/settings/sms")
            .json(&json!({ "enabled": true, "gateway_plugin": "00ff" }))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    assert!(m.contains("00ff"), "{m}");
    assert_error(
        app.admin(Method::PUT, "/api/v1/settings/email")
            .json(&json!({ "enabled": true, "host": "" }))
            .send()
            .await
            .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    // A routing application is not a queue plugin.
    let response = app
        .admin(Method::POST, "/api/v1/plugins")
        .header("content-type", "application/wasm")
        .body(plugin_bytes("keyword-router"))
        .send()
        .await
        .unwrap();
    let m = assert_error(response, 422, "invalid_plugin").await;
    assert!(m.contains("routing"), "{m}");

    let listed = expect(&app, Method::GET, "/api/v1/queue", None, 200).await;
    assert_eq!(
        listed["items"],
        json!([]),
        "no refused communication was stored"
    );
    let sms = expect(&app, Method::GET, "/api/v1/settings/sms", None, 200).await;
    assert_eq!(sms["enabled"], false, "refused settings were not stored");
}

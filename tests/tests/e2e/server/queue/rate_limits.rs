//! Seed 001's rate limits with the background worker: one text per second per sending
//! number (the rest wait as Queued, in order), texts to one contact within a second
//! held back, and entries that would wait longer than the cap failing clearly.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use switchyard_tests::eventually;
use switchyard_tests::gateway::RecordingGateway;

use super::*;

/// Milliseconds between consecutive requests the gateway received.
fn gaps(gateway: &RecordingGateway) -> Vec<u128> {
    let times: Vec<_> = gateway.requests().iter().map(|r| r.received_at).collect();
    times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_millis())
        .collect()
}

#[tokio::test]
async fn one_number_sends_one_text_a_second_in_order() {
    let gateway = RecordingGateway::start().await;
    let app = app_with_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;
    let mut numbers = Vec::new();
    for i in 0..3 {
        let e = create(&app, json!({ "media": "sms", "recipient": format!("+3247012345{i}"), "body": format!("text {i}") })).await;
        numbers.push(e["number"].clone());
    }
    for number in &numbers {
        assert_eq!(settled(&app, number).await["status"], "sent");
    }
    let texts: Vec<String> = gateway
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["text 0", "text 1", "text 2"], "sent in queue order");
    for gap in gaps(&gateway) {
        assert!(
            gap >= 950,
            "one text per second per number: {:?}",
            gaps(&gateway)
        );
    }
    // The ones that waited say so in their log.
    let last = entry(&app, &numbers[2]).await;
    assert_eq!(statuses(&last), ["pending", "queued", "sending", "sent"]);
    assert!(last["send_at"].as_i64().unwrap() > 0);
}

#[tokio::test]
async fn texts_to_one_contact_within_a_second_are_held_back_but_other_numbers_are_not() {
    let gateway = RecordingGateway::start().await;
    let app = app_with_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;
    // Two numbers to the same contact: the second waits a second.
    let a = create(
        &app,
        json!({ "media": "sms", "sender": "+32470000001", "recipient": CONTACT, "body": "a" }),
    )
    .await;
    let b = create(
        &app,
        json!({ "media": "sms", "sender": "+32470000002", "recipient": CONTACT, "body": "b" }),
    )
    .await;
    settled(&app, &a["number"]).await;
    settled(&app, &b["number"]).await;
    assert!(gaps(&gateway)[0] >= 950, "{:?}", gaps(&gateway));
    // Two numbers to two contacts: nobody waits.
    let c = create(&app, json!({ "media": "sms", "sender": "+32470000003", "recipient": "+32470200001", "body": "c" })).await;
    let d = create(&app, json!({ "media": "sms", "sender": "+32470000004", "recipient": "+32470200002", "body": "d" })).await;
    let c = settled(&app, &c["number"]).await;
    let d = settled(&app, &d["number"]).await;
    assert!(!statuses(&c).contains(&"queued".to_owned()), "{c}");
    assert!(!statuses(&d).contains(&"queued".to_owned()), "{d}");
}

#[tokio::test]
async fn an_entry_that_would_wait_longer_than_the_cap_fails_with_a_clear_error() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({ "max_wait_seconds": 2 }),
    )
    .await;
    let mut numbers = Vec::new();
    for i in 0..5 {
        let e = create(
            &app,
            json!({ "media": "sms", "recipient": format!("+3247012345{i}"), "body": "x" }),
        )
        .await;
        numbers.push(e["number"].clone());
    }
    let summary = expect(&app, Method::POST, "/api/v1/queue/process", None, 200).await;
    assert_eq!(summary["processed"], 5, "{summary}");
    let first = entry(&app, &numbers[0]).await;
    assert_eq!(first["status"], "sent");
    let second = entry(&app, &numbers[1]).await;
    assert_eq!(second["status"], "queued", "waits its second: {second}");
    // The third would wait about exactly the cap; the fourth and fifth longer.
    for number in &numbers[3..] {
        let late = entry(&app, number).await;
        assert_eq!(late["state"], "rejected", "{late}");
        assert_eq!(late["status"], "unsent");
        assert_eq!(late["error_code"], "RATE-LIMIT-WAIT");
        let description = late["error_description"].as_str().unwrap();
        assert!(description.contains("max_wait_seconds (2 s)"), "{late}");
        // The real wait, to the millisecond: more than the cap, never rounded down to it.
        let waited: f64 = description
            .split_once("would wait ")
            .and_then(|(_, rest)| rest.split_once(" s "))
            .and_then(|(n, _)| n.parse().ok())
            .unwrap_or_else(|| panic!("no wait in `{description}`"));
        assert!(waited > 2.0 && waited <= 4.0, "{description}");
    }
    // The waiting one goes out when its second comes (here on demand): until then,
    // processing it is refused or leaves it queued behind the rate limit.
    let path = format!("/api/v1/queue/{}/process", numbers[1]);
    let sent = eventually(
        "the queued text's second",
        Duration::from_secs(10),
        || async {
            match call(&app, Method::POST, &path, None).await {
                (200, entry) if entry["status"] != "queued" => Some(entry),
                // Still before its second, or its number's sending turn (a second and a
                // margin after the last text) has not come yet.
                (200 | 409, _) => None,
                (status, body) => panic!("{path}: {status} {body}"),
            }
        },
    )
    .await;
    assert_eq!(sent["status"], "sent", "{sent}");
    assert!(gateway.requests().len() >= 2);
}

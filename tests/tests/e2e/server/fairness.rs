//! Tenants do not hold each other up: a connector whose plugin is slow leaves the other
//! connectors' messages routing at their own pace, and a backlog left by a crash is
//! handed to the router once, not again and again.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use switchyard::domain::connectors::inbound::InboundSms;
use switchyard::store::messages::NewInbound;
use switchyard::store::{Store, now_ms};
use switchyard_tests::{TestApp, spawn_app};

use super::connectors::{created, group};
use super::inbound::{accepted, routed, token, upload};

/// A connector for `recipient` routed by the hostile fixture, falling back to `fallback`.
async fn hostile_line(app: &TestApp, recipient: &str, fallback: i64) -> Value {
    let connector = created(
        app,
        json!({ "name": format!("line {recipient}"), "recipient": recipient,
                "require_token": false, "routing_type": "routing_application",
                "fallback_acd_group": fallback }),
    )
    .await;
    upload(app, &connector, "hostile").await;
    connector
}

fn sms(to: &str, from: &str, text: &str, id: &str) -> Value {
    json!({ "from": from, "to": to, "text": text, "message_id": id })
}

// On a runtime with a worker per core, as `switchyard serve` runs: on one thread, every
// database round trip of the fast connector would wait for the spinning plugin's next
// 10 ms yield.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_plugin_does_not_hold_up_another_connectors_messages() {
    let app = spawn_app().await;
    let fallback = group(&app, "fallback").await;
    group(&app, "ok").await;
    let slow = hostile_line(&app, "+4930100001", fallback).await;
    let fast = hostile_line(&app, "+4930100002", fallback).await;

    // Both plugins loaded and each connector's first batch done before measuring.
    for (line, connector) in [("+4930100001", &slow), ("+4930100002", &fast)] {
        let body = sms(line, "+4915123457001", "warm up", &format!("warm-{line}"));
        routed(&app, accepted(&app, &token(connector), &body).await).await;
    }

    // Twelve messages that each spin until the 1 s deadline: 12 s of plugin time on
    // the slow connector.
    let mut backlog = Vec::new();
    for i in 0..12 {
        let body = sms(
            "+4930100001",
            &format!("+49151234560{i:02}"),
            "loop",
            &format!("slow-{i}"),
        );
        backlog.push(accepted(&app, &token(&slow), &body).await);
    }
    // Let the slow connector's first batch start.
    tokio::time::sleep(Duration::from_millis(300)).await;

    for i in 0..3 {
        let posted = Instant::now();
        let body = sms(
            "+4930100002",
            "+4915123457000",
            &format!("fast {i}"),
            &format!("fast-{i}"),
        );
        let id = accepted(&app, &token(&fast), &body).await;
        let message = routed(&app, id).await;
        let waited = posted.elapsed();
        assert_eq!(message["routing"]["outcome"], "acd_group", "{message}");
        // Its own plugin takes milliseconds; the slow backlog would take 12 s.
        assert!(
            waited < Duration::from_secs(2),
            "the fast connector's message {i} waited {waited:?} behind the slow one"
        );
    }

    // The slow connector's messages are all routed, each by its own plugin's failure.
    for id in backlog {
        let message = routed(&app, id).await;
        assert_eq!(message["routing"]["error_kind"], "timeout", "{message}");
    }
}

#[tokio::test]
async fn a_backlog_left_by_a_crash_is_claimed_once() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    let connector = created(
        &app,
        json!({ "name": "main line", "recipient": "+4930100003",
                "routing_type": "direct_acd_group", "acd_group": sales }),
    )
    .await;
    let connector_id = connector["id"].as_i64().unwrap();
    let db = app.stop().await;

    // What a server leaves that acknowledged a burst and died before routing it:
    // messages stored as its ingest writer stores them, still `received`, their
    // leases still running.
    let store = Store::connect(&db.url).await.unwrap();
    let posts: Vec<NewInbound> = (0..600)
        .map(|n| {
            NewInbound::sms(
                connector_id,
                InboundSms::from_json(
                    serde_json::from_value(sms(
                        "+4930100003",
                        "+4915100000001",
                        "left behind",
                        &format!("backlog-{n}"),
                    ))
                    .unwrap(),
                    now_ms(),
                )
                .unwrap(),
            )
        })
        .collect();
    let ids: HashSet<i64> = store
        .store_inbound(&posts)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect();
    let started = now_ms();

    // The next process catches up on every one of them, each once, however many
    // claims it takes; its own leases are not taken again.
    let mut claimed = Vec::new();
    loop {
        let batch = store.claim_unrouted(Some(started), 256).await.unwrap();
        if batch.is_empty() {
            break;
        }
        claimed.extend(batch.iter().map(|m| m.id));
        assert!(claimed.len() <= ids.len(), "claimed more than there is");
    }
    let unique: HashSet<i64> = claimed.iter().copied().collect();
    assert_eq!(unique.len(), claimed.len(), "a message was claimed twice");
    assert_eq!(unique, ids);
    // Leases still run: an ordinary scan takes nothing.
    assert!(store.claim_unrouted(None, 256).await.unwrap().is_empty());
    store.close().await;
}

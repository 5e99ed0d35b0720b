//! Tenant isolation of routing applications: each connector's plugin has its own kv
//! quota, its own log quota, its own conversations, and is answered the same on both
//! backends whatever keys it sends; a failed invocation keeps its log lines.

use serde_json::{Value, json};
use switchyard::runtime::host::{KV_QUOTA, KvChanges, KvUsage};
use switchyard::store::Store;
use switchyard_tests::{TestApp, TestDatabase};

use super::connectors::{created, group};
use super::inbound::{accepted, interaction_of, routed, token, upload};
use super::metrics::scrape;

const CUSTOMER: &str = "+4915123456789";

/// A connector on `recipient` routed by the hostile plugin, falling back to `fallback`.
async fn hostile_connector(app: &TestApp, name: &str, recipient: &str, fallback: i64) -> Value {
    let connector = created(
        app,
        json!({ "name": name, "recipient": recipient, "require_token": true,
                "routing_type": "routing_application", "fallback_acd_group": fallback }),
    )
    .await;
    upload(app, &connector, "hostile").await;
    connector
}

/// Posts `text` from the customer to `connector` and waits for its routing.
async fn route(app: &TestApp, connector: &Value, text: &str, id: &str) -> Value {
    let body = json!({ "from": CUSTOMER, "to": connector["recipient"], "text": text,
                       "message_id": id });
    let message = accepted(app, &token(connector), &body).await;
    routed(app, message).await
}

/// The interaction's user data as a map.
async fn user_data(app: &TestApp, message: &Value) -> serde_json::Map<String, Value> {
    let interaction = interaction_of(app, message).await;
    assert_eq!(interaction["acd_group_name"], "ok", "{message}");
    interaction["user_data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|pair| (pair[0].as_str().unwrap().to_owned(), pair[1].clone()))
        .collect()
}

async fn setup(app: &TestApp) -> Value {
    group(app, "ok").await;
    let fallback = group(app, "fallback").await;
    hostile_connector(app, "tenant a", "+4930555101", fallback).await
}

#[tokio::test]
async fn kv_writes_past_the_connectors_quota_are_refused_with_quota_exceeded() {
    let app = switchyard_tests::spawn_app().await;
    let connector = setup(&app).await;
    // 65,000-byte values, 100 a message: the 16 MiB quota holds 258 of them, so the
    // third message is refused part way, counting what the first two stored.
    let mut written = Vec::new();
    for (i, name) in ["a", "b", "c", "d"].iter().enumerate() {
        let message = route(
            &app,
            &connector,
            &format!("kv-fill {name}"),
            &format!("f{i}"),
        )
        .await;
        assert_eq!(message["routing"]["outcome"], "acd_group", "{message}");
        let data = user_data(&app, &message).await;
        written.push((
            data["written"].as_str().unwrap().parse::<u32>().unwrap(),
            data["error"].as_str().unwrap().to_owned(),
        ));
    }
    assert_eq!(written[0], (100, "none".to_owned()));
    assert_eq!(written[1], (100, "none".to_owned()));
    assert_eq!(written[2].1, "KvError::QuotaExceeded", "{written:?}");
    assert!((50..65).contains(&written[2].0), "{written:?}");
    assert_eq!(
        written[3],
        (0, "KvError::QuotaExceeded".to_owned()),
        "{written:?}"
    );
    // What was accepted was stored, and nothing more.
    let stored = app
        .edit_database(
            "UPDATE plugin_kv SET updated_at = updated_at WHERE scope LIKE 'connector:%'",
        )
        .await;
    assert_eq!(stored, 200 + u64::from(written[2].0));

    // Another connector has its own quota.
    let fallback = connector["fallback_acd_group"].as_i64().unwrap();
    let other = hostile_connector(&app, "tenant b", "+4930555102", fallback).await;
    let message = route(&app, &other, "kv-fill z", "f-other").await;
    let data = user_data(&app, &message).await;
    assert_eq!(data["written"], "100", "{data:?}");
}

#[tokio::test]
async fn bad_kv_keys_are_answered_the_same_on_every_backend() {
    let app = switchyard_tests::spawn_app().await;
    let connector = setup(&app).await;
    let message = route(&app, &connector, "kv-bad-keys", "k1").await;
    let record = &message["routing"];
    assert_eq!(
        record["outcome"], "acd_group",
        "no trap, no fallback: {record}"
    );
    let data = user_data(&app, &message).await;
    assert_eq!(data["get"], "none,none,none");
    assert_eq!(
        data["set"],
        "KvError::InvalidKey,KvError::InvalidKey,KvError::InvalidKey"
    );
    assert_eq!(
        data["delete"],
        "KvError::InvalidKey,KvError::InvalidKey,KvError::InvalidKey"
    );
    let noted = record["logs"].as_array().unwrap().iter().any(|line| {
        line["message"]
            .as_str()
            .unwrap()
            .starts_with("9 kv calls named an invalid key")
    });
    assert!(noted, "{record}");
}

#[tokio::test]
async fn a_failed_invocation_keeps_its_log_lines_on_the_record() {
    let app = switchyard_tests::spawn_app().await;
    let connector = setup(&app).await;
    let message = route(&app, &connector, "log-then-trap", "t1").await;
    let record = &message["routing"];
    assert_eq!(record["outcome"], "fallback", "{record}");
    assert_eq!(record["error_kind"], "trap", "{record}");
    assert_eq!(
        record["logs"],
        json!([{ "level": "warn", "message": "about to fail" }]),
        "{record}"
    );
}

#[tokio::test]
async fn log_lines_past_the_plugins_quota_per_minute_are_dropped_and_counted() {
    let app = switchyard_tests::spawn_app().await;
    let connector = setup(&app).await;
    // 100 lines of 4 KiB a message: the 1 MiB a minute holds 256 of them.
    let mut kept = 0;
    let mut last = Value::Null;
    for i in 0..4 {
        last = route(&app, &connector, "log-flood", &format!("l{i}")).await;
        assert_eq!(last["routing"]["outcome"], "acd_group", "{last}");
        kept += last["routing"]["logs"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|line| line["level"] == "info")
            .count();
    }
    assert_eq!(kept, 256, "lines kept");
    let note = last["routing"]["logs"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(note["level"], "warn");
    assert!(
        note["message"]
            .as_str()
            .unwrap()
            .starts_with("100 log lines dropped: the plugin's log quota"),
        "{note}"
    );
    let metrics = scrape(&app).await;
    let dropped = metrics.value(
        "switchyard_plugin_log_lines_dropped_total",
        &[("world", "routing-application")],
    );
    assert_eq!(dropped as usize, 400 - kept);
}

#[tokio::test]
async fn each_connector_has_its_own_conversation_with_a_contact() {
    let app = switchyard_tests::spawn_app().await;
    let a = setup(&app).await;
    let fallback = a["fallback_acd_group"].as_i64().unwrap();
    let b = hostile_connector(&app, "tenant b", "+4930555102", fallback).await;
    // Connector a fills the contact's tags: 4 x 32 tags, 100 fit.
    for i in 0..3 {
        let message = route(&app, &a, &format!("tags a{i} 32"), &format!("a{i}")).await;
        assert_eq!(message["routing"]["warnings"], json!([]), "{message}");
    }
    let message = route(&app, &a, "tags a3 32", "a3").await;
    assert_eq!(message["state"], "routed", "the decision stands: {message}");
    let data = user_data(&app, &message).await;
    assert_eq!(data["had"], "96");
    let warnings = message["routing"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{message}");
    let warning = warnings[0].as_str().unwrap();
    assert!(
        warning.starts_with("28 tag(s) not stored") && warning.contains("`a3-4`"),
        "{warning}"
    );

    // Connector b's conversation with the same contact is its own, and takes its tags.
    let message = route(&app, &b, "tags b0 5", "b0").await;
    assert_eq!(user_data(&app, &message).await["had"], "0", "{message}");
    assert_eq!(message["routing"]["warnings"], json!([]), "{message}");
    let message = route(&app, &b, "tags b1 1", "b1").await;
    assert_eq!(user_data(&app, &message).await["had"], "5", "{message}");
    let message = route(&app, &a, "tags a4 1", "a4").await;
    assert_eq!(user_data(&app, &message).await["had"], "100", "{message}");
}

/// The store checks the quota again when it commits (an invocation on another node may
/// have filled the scope since this one read its usage): changes that would pass it are
/// not stored, changes that shrink a full scope are.
#[tokio::test]
async fn the_store_refuses_kv_changes_past_the_quota_at_commit() {
    let db = TestDatabase::new().await;
    let store = Store::connect(&db.url).await.unwrap();
    store.migrate().await.unwrap();
    let scope = "connector:1";
    let change = |key: &str, value: Option<&str>| {
        let mut changes = KvChanges::default();
        changes.0.insert(key.to_owned(), value.map(str::to_owned));
        vec![(scope.to_owned(), changes)]
    };
    store
        .apply_routing(&[], &change("a", Some("12345")))
        .await
        .unwrap();
    assert_eq!(
        store.kv_usage(scope).await.unwrap(),
        KvUsage { keys: 1, bytes: 6 }
    );
    // Exactly full: allowed.
    let big = "x".repeat((KV_QUOTA.bytes - 6 - 3) as usize);
    store
        .apply_routing(&[], &change("big", Some(&big)))
        .await
        .unwrap();
    let full = KvUsage {
        keys: 2,
        bytes: KV_QUOTA.bytes,
    };
    assert_eq!(store.kv_usage(scope).await.unwrap(), full);
    // One more byte is not stored, and the usage is unchanged.
    store
        .apply_routing(&[], &change("c", Some("v")))
        .await
        .unwrap();
    assert_eq!(store.kv_get(scope, "c").await.unwrap(), None);
    assert_eq!(store.kv_usage(scope).await.unwrap(), full);
    // Replacing a value by a shorter one, or removing a key, is always allowed.
    store.apply_routing(&[], &change("a", None)).await.unwrap();
    assert_eq!(store.kv_get(scope, "a").await.unwrap(), None);
    assert_eq!(
        store.kv_usage(scope).await.unwrap(),
        KvUsage {
            keys: 1,
            bytes: KV_QUOTA.bytes - 6
        }
    );
}

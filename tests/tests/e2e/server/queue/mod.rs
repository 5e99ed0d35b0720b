//! The communication queue over HTTP: which communications enter it, seed 000's
//! processing tables row by row for email (to a real SMTP server), SMS (through gateway
//! plugins to a real local HTTP gateway) and DEVICE entries (the CAS processor), third
//! parties settling their own entries, text statuses and delivery receipts, rate
//! limits, retries, and bad input.

mod crashes;
mod device;
mod email;
mod entering;
mod invalid_settings;
mod rate_limits;
mod receipts;
mod restart;
mod sms;
mod third_party;

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{
    TEST_ADMIN_TOKEN, TestApp, TestDatabase, plugin_bytes, spawn_app_with, test_config,
};

/// A server whose background worker is off, so a test decides when entries are
/// processed (`POST /queue/{n}/process`) and sees every row of the tables happen.
pub async fn app_without_worker() -> TestApp {
    app(false).await
}

/// A server with the background worker, as in production.
pub async fn app_with_worker() -> TestApp {
    app(true).await
}

async fn app(worker: bool) -> TestApp {
    let db = TestDatabase::new().await;
    let mut config = test_config(&db);
    config.admin_token =
        Some(switchyard::config::AdminToken::parse(TEST_ADMIN_TOKEN).expect("valid token"));
    config.queue_worker = worker;
    spawn_app_with(config, db).await
}

/// Sends an admin request and returns (status, JSON body).
pub async fn call(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = app.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}"))
    };
    (status, json)
}

/// An admin request that must answer `status`; returns its body.
pub async fn expect(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    status: u16,
) -> Value {
    let (got, json) = call(app, method, path, body).await;
    assert_eq!(got, status, "{path}: {json}");
    json
}

/// Creates a communication that must enter the queue; returns the entry.
pub async fn create(app: &TestApp, communication: Value) -> Value {
    let entry = expect(
        app,
        Method::POST,
        "/api/v1/communications",
        Some(communication),
        201,
    )
    .await;
    assert_eq!(entry["state"], "pending", "{entry}");
    entry
}

/// Processes entry `number` on demand; returns it as it is afterwards.
pub async fn process(app: &TestApp, number: &Value) -> Value {
    expect(
        app,
        Method::POST,
        &format!("/api/v1/queue/{number}/process"),
        None,
        200,
    )
    .await
}

pub async fn entry(app: &TestApp, number: &Value) -> Value {
    expect(
        app,
        Method::GET,
        &format!("/api/v1/queue/{number}"),
        None,
        200,
    )
    .await
}

/// Waits (for the background worker) until entry `number` is no longer Pending.
pub async fn settled(app: &TestApp, number: &Value) -> Value {
    let start = Instant::now();
    loop {
        let entry = entry(app, number).await;
        if entry["state"] != "pending" {
            return entry;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "entry {number} was not processed: {entry}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The statuses of an entry's activity log, in order.
pub fn statuses(entry: &Value) -> Vec<String> {
    entry["activity"]
        .as_array()
        .expect("a single entry carries its activity")
        .iter()
        .map(|a| a["status"].as_str().unwrap().to_owned())
        .collect()
}

/// Uploads a built gateway or external-system plugin; returns its hash.
pub async fn upload(app: &TestApp, name: &str) -> String {
    let response = app
        .admin(Method::POST, "/api/v1/plugins")
        .header("content-type", "application/wasm")
        .body(plugin_bytes(name))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let json: Value = response.json().await.unwrap();
    assert!(status == 201 || status == 200, "{json}");
    json["sha256"].as_str().unwrap().to_owned()
}

/// Enables the email server on a local SMTP port, plain SMTP as on loopback.
pub async fn enable_email(app: &TestApp, port: u16) {
    expect(
        app,
        Method::PUT,
        "/api/v1/settings/email",
        Some(
            json!({ "enabled": true, "host": "127.0.0.1", "port": port, "tls": "none",
                     "default_sender": "desk@acme.example", "timeout_seconds": 5,
                     "max_attempts": 2 }),
        ),
        200,
    )
    .await;
}

/// Enables the SMS gateway with the JSON gateway plugin posting to `url`; `extra`
/// adds or overrides SMS settings. Returns the settings (with the receipt token).
pub async fn enable_sms(
    app: &TestApp,
    plugin: &str,
    plugin_settings: Value,
    extra: Value,
) -> Value {
    let hash = upload(app, plugin).await;
    let mut body = json!({ "enabled": true, "gateway_plugin": hash, "settings": plugin_settings,
                           "default_sender": "+32470999999", "timeout_seconds": 2,
                           "max_attempts": 3 });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    expect(app, Method::PUT, "/api/v1/settings/sms", Some(body), 200).await
}

pub const NUMBER: &str = "+32470999999";

/// A number no other text of this test binary uses, so that tests sending several
/// texts are not held back by seed 001's rate limits unless they mean to be.
pub fn fresh_number() -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("+3247110{n:04}")
}
pub const CONTACT: &str = "+32470123456";

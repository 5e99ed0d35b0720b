//! What `switchyard serve` writes to its log: never a query string (connector tokens
//! may come as `?token=`), and with `SWITCHYARD_LOG_FORMAT=json` one JSON object per
//! line, whose plugin log lines carry the spans of the batch and of the invocation
//! (with the message id).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{TEST_ADMIN_TOKEN, TestDatabase, eventually, plugin_bytes};

use super::process::Server;

const RECIPIENT: &str = "+4930123456";
/// A wrong token sent in the query string; it must not show up anywhere in the log.
const QUERY_SECRET: &str = "SECRET-in-the-query-0042";

/// An admin request to the server at `address`; returns the JSON answer.
async fn admin(address: &str, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut request = reqwest::Client::new()
        .request(method, format!("{address}{path}"))
        .bearer_auth(TEST_ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap()
}

fn inbound(address: &str, query_token: &str, text: &str, id: &str) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(format!("{address}/api/v1/sms/inbound?token={query_token}"))
        .json(
            &json!({ "from": "+4915123456789", "to": RECIPIENT, "text": text,
                       "message_id": id }),
        )
}

#[tokio::test]
async fn query_strings_never_reach_the_log() {
    let db = TestDatabase::new().await;
    // Debug level: the request spans and tower-http's per-request events are all on.
    let mut server = Server::start_with_env(&db.url, TEST_ADMIN_TOKEN, &[("RUST_LOG", "debug")]);
    let address = server.wait_for("switchyard: listening on ");
    let group = admin(
        &address,
        Method::POST,
        "/api/v1/acd-groups",
        Some(json!({ "name": "sales" })),
    )
    .await;
    let connector = admin(
        &address,
        Method::POST,
        "/api/v1/connectors/sms",
        Some(json!({ "name": "main", "recipient": RECIPIENT,
                     "routing_type": "direct_acd_group", "acd_group": group["id"] })),
    )
    .await;
    let token = connector["token"].as_str().unwrap().to_owned();

    let refused = inbound(&address, QUERY_SECRET, "hello", "q-1")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let accepted = inbound(&address, &token, "hello", "q-2")
        .send()
        .await
        .unwrap();
    assert_eq!(accepted.status(), 202);
    let unknown = reqwest::Client::new()
        .get(format!("{address}/nowhere?token={QUERY_SECRET}"))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);

    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
    assert!(
        stderr.iter().any(|l| l.contains("/api/v1/sms/inbound")),
        "requests are logged with their path: {stderr:#?}"
    );
    for line in &stderr {
        assert!(
            !line.contains(QUERY_SECRET) && !line.contains(&token),
            "a query-string token reached the log: {line}"
        );
    }
    drop(db);
}

#[tokio::test]
async fn json_log_lines_of_a_plugin_carry_the_batch_and_the_message_id() {
    let db = TestDatabase::new().await;
    let mut server = Server::start_with_env(
        &db.url,
        TEST_ADMIN_TOKEN,
        &[("RUST_LOG", "info"), ("SWITCHYARD_LOG_FORMAT", "json")],
    );
    let address = server.wait_for("switchyard: listening on ");
    for name in ["billing", "general"] {
        admin(
            &address,
            Method::POST,
            "/api/v1/acd-groups",
            Some(json!({ "name": name })),
        )
        .await;
    }
    let connector = admin(
        &address,
        Method::POST,
        "/api/v1/connectors/sms",
        Some(json!({ "name": "keywords", "recipient": RECIPIENT, "require_token": false,
                     "routing_type": "routing_application",
                     "plugin_settings": { "groups": [{ "group": "billing", "keywords": ["invoice"] }],
                                          "default_group": "general" } })),
    )
    .await;
    let uploaded = reqwest::Client::new()
        .post(format!(
            "{address}/api/v1/connectors/sms/{}/plugins",
            connector["id"]
        ))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .header("content-type", "application/wasm")
        .body(plugin_bytes("keyword-router"))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let posted: Value = inbound(&address, "", "a question about my invoice", "j-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = posted["id"].as_i64().unwrap();
    let start = Instant::now();
    loop {
        let message = admin(
            &address,
            Method::GET,
            &format!("/api/v1/messages/{id}"),
            None,
        )
        .await;
        if message["state"] != "received" {
            assert_eq!(message["state"], "routed", "{message}");
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "not routed: {message}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
    // Every line but the server's own `switchyard: ...` announcements is JSON.
    let lines: Vec<Value> = stderr
        .iter()
        .filter(|l| !l.starts_with("switchyard: "))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        lines
            .iter()
            .all(|l| l["level"].is_string() && l["fields"].is_object()),
        "{lines:#?}"
    );
    let plugin_line = lines
        .iter()
        .find(|l| l["target"] == "plugin")
        .unwrap_or_else(|| panic!("the router's log line is in the server log: {lines:#?}"));
    assert!(
        plugin_line["fields"]["message"]
            .as_str()
            .unwrap()
            .contains("invoice"),
        "{plugin_line}"
    );
    let spans = plugin_line["spans"].as_array().expect("the span list");
    let span = |name: &str| {
        spans
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("no `{name}` span: {plugin_line}"))
    };
    assert_eq!(span("plugin")["message_id"], json!(id), "{plugin_line}");
    assert_eq!(span("plugin")["world"], "routing-application");
    assert_eq!(span("plugin")["connector"], connector["id"]);
    assert!(span("route_batch")["size"].as_u64().unwrap() >= 1);
    drop(db);
}

#[tokio::test]
async fn an_unknown_log_format_stops_the_server_with_the_reason() {
    let db = TestDatabase::new().await;
    let server = Server::start_with_env(
        &db.url,
        TEST_ADMIN_TOKEN,
        &[("SWITCHYARD_LOG_FORMAT", "xml")],
    );
    let (exit, stderr) = server.exited(Duration::from_secs(20)).await;
    assert!(!exit.success());
    assert!(
        stderr
            .iter()
            .any(|l| l.contains("SWITCHYARD_LOG_FORMAT=xml")),
        "{stderr:#?}"
    );
    drop(db);
}

#[tokio::test]
async fn plugin_log_text_cannot_forge_lines_or_send_terminal_escapes() {
    let db = TestDatabase::new().await;
    // Text format, stderr a pipe (not a terminal): no colours either.
    let mut server = Server::start_with_env(&db.url, TEST_ADMIN_TOKEN, &[("RUST_LOG", "info")]);
    let address = server.wait_for("switchyard: listening on ");
    let group = admin(
        &address,
        Method::POST,
        "/api/v1/acd-groups",
        Some(json!({ "name": "ok" })),
    )
    .await;
    let connector = admin(
        &address,
        Method::POST,
        "/api/v1/connectors/sms",
        Some(
            json!({ "name": "hostile", "recipient": RECIPIENT, "require_token": false,
                     "routing_type": "routing_application", "fallback_acd_group": group["id"] }),
        ),
    )
    .await;
    let uploaded = reqwest::Client::new()
        .post(format!(
            "{address}/api/v1/connectors/sms/{}/plugins",
            connector["id"]
        ))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .header("content-type", "application/wasm")
        .body(plugin_bytes("hostile"))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let posted: Value = inbound(&address, "", "log-forgery", "f-1")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = posted["id"].as_i64().unwrap();
    let path = format!("/api/v1/messages/{id}");
    let message = eventually("the message routed", Duration::from_secs(30), || async {
        let message = admin(&address, Method::GET, &path, None).await;
        (message["state"] != "received").then_some(message)
    })
    .await;
    assert_eq!(message["state"], "routed", "{message}");
    // The routing record keeps what the plugin wrote, unescaped.
    let logged = message["routing"]["logs"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no plugin log in {message}"));
    assert!(
        logged.contains("\nFORGED-LINE") && logged.contains('\u{1b}'),
        "{logged}"
    );
    // The server's own log line shows it, escaped; wait for it before stopping.
    server.wait_for_line_with("FORGED-SEPARATOR");

    let (exit, stderr) = server.terminate();
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
    let plugin_lines: Vec<&String> = stderr.iter().filter(|l| l.contains("FORGED")).collect();
    for line in &stderr {
        assert!(
            !line.contains('\u{1b}') && !line.contains('\r') && !line.contains('\u{2028}'),
            "a raw escape, carriage return or separator reached the log: {line:?}"
        );
        assert!(
            !line.trim_start().starts_with("FORGED"),
            "a plugin started a log line of its own: {line:?}"
        );
    }
    for line in plugin_lines {
        assert!(line.contains("innocent\\nFORGED-LINE"), "{line:?}");
        assert!(line.contains("\\u{1b}[31m"), "{line:?}");
    }
    drop(db);
}

//! The server, spoken to over HTTP as a client would: health, the admin token, ACD
//! groups, agents with their sessions and status, their notifications over CometD, SMS
//! connectors and their plugins, bad input, the HTTP edges (slow clients, bodies
//! before tokens, odd encodings), restarts, durability through crashes,
//! shutdowns and version switches, recovery from a crash at full speed, `switchyard
//! serve` as a real process, its log output,
//! its Prometheus metrics and its OpenAPI document.
//! Each test gets a fresh database, SQLite by default or PostgreSQL with
//! `SWITCHYARD_TEST_DATABASE=postgres`.

mod acd_groups;
mod agents;
mod auth;
mod bad_input;
mod cometd;
mod concurrent_writes;
mod connectors;
mod contract;
mod conversations;
mod durability;
mod edges;
mod email;
mod email_agents;
mod fairness;
mod inbound;
mod isolation;
mod lifecycle;
mod logging;
mod metrics;
mod offering;
mod openapi;
mod plugins;
mod process;
mod queue;
mod recovery;

use serde_json::Value;

/// Asserts the status and that the body is a JSON error with `code`, and returns its
/// message for further checks.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> String {
    assert_eq!(response.status().as_u16(), status, "{response:?}");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = response.text().await.unwrap();
    assert_eq!(
        content_type.as_deref(),
        Some("application/json"),
        "error bodies are JSON: {text}"
    );
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["error"]["code"], code, "{text}");
    let message = json["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error names its problem: {text}");
    message.to_owned()
}

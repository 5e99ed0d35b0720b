//! A server killed while a text is on its way to the gateway: after the restart the
//! entry is sent again with the same idempotency key, so the gateway sends it once,
//! and the entry ends Completed with the gateway's one reference.

use std::time::{Duration, Instant};

use serde_json::json;
use switchyard_tests::gateway::RecordingGateway;
use switchyard_tests::{TEST_ADMIN_TOKEN, TestDatabase, plugin_bytes};

use super::super::process::Server;
use super::{CONTACT, NUMBER};

struct Api {
    base: String,
    client: reqwest::Client,
}

impl Api {
    fn at(address: &str) -> Self {
        let address = address.trim();
        let base = if address.starts_with("http") {
            address.to_owned()
        } else {
            format!("http://{address}")
        };
        Self {
            base,
            client: reqwest::Client::new(),
        }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<reqwest::Body>,
        json_body: bool,
    ) -> serde_json::Value {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(TEST_ADMIN_TOKEN);
        if let Some(body) = body {
            let kind = if json_body {
                "application/json"
            } else {
                "application/wasm"
            };
            request = request.header("content-type", kind).body(body);
        }
        let response = request.send().await.unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        self.send(method, path, Some(body.to_string().into()), true)
            .await
    }
}

#[tokio::test]
async fn an_entry_in_flight_when_the_server_dies_is_sent_once_under_its_key() {
    let gateway = RecordingGateway::start().await;
    let db = TestDatabase::new().await;
    let mut server = Server::start_with_admin_token(&db.url, TEST_ADMIN_TOKEN);
    let api = Api::at(&server.wait_for("switchyard: listening on "));
    let plugin = api
        .send(
            reqwest::Method::POST,
            "/api/v1/plugins",
            Some(plugin_bytes("json-gateway").into()),
            false,
        )
        .await;
    api.json(reqwest::Method::PUT, "/api/v1/settings/sms", json!({ "enabled": true,
        "gateway_plugin": plugin["sha256"], "settings": { "url": format!("{}/json", gateway.url()) },
        "default_sender": NUMBER, "timeout_seconds": 5 })).await;

    // The gateway holds its answer, so the server dies with the request in flight.
    gateway.delay(Duration::from_secs(2));
    let entry = api
        .json(
            reqwest::Method::POST,
            "/api/v1/communications",
            json!({ "media": "sms", "recipient": CONTACT, "body": "your parcel is here" }),
        )
        .await;
    let number = entry["number"].as_i64().unwrap();
    let start = Instant::now();
    while gateway.requests().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the request never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.signal("KILL");
    let (exit, _) = server.exited(Duration::from_secs(10)).await;
    assert!(!exit.success());
    gateway.delay(Duration::ZERO);

    let mut server = Server::start_with_admin_token(&db.url, TEST_ADMIN_TOKEN);
    let api = Api::at(&server.wait_for("switchyard: listening on "));
    let start = Instant::now();
    let done = loop {
        let now = api
            .send(
                reqwest::Method::GET,
                &format!("/api/v1/queue/{number}"),
                None,
                false,
            )
            .await;
        if now["state"] != "pending" {
            break now;
        }
        // On PostgreSQL the dead node's claim must run out first (timeout + 5 s).
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "not resent after the restart: {now}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(done["state"], "completed", "{done}");
    let key = format!("switchyard-{number}");
    let requests: Vec<_> = gateway
        .requests()
        .into_iter()
        .filter(|r| r.headers.get("idempotency-key") == Some(&key))
        .collect();
    assert!(
        requests.len() >= 2,
        "sent again after the restart: {}",
        requests.len()
    );
    assert_eq!(gateway.sent_count(), 1, "the gateway sent the text once");
    let activity: Vec<&str> = done["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        activity.iter().filter(|s| **s == "sending").count(),
        2,
        "{activity:?}"
    );
    assert_eq!(done["attempts"], 2);
}

//! Admin writes while gateways post a stream of texts. On SQLite every write goes
//! through the store's one writer, so none of them may fail as "database is locked"
//! or wait for another connection's lock.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{TestApp, spawn_app};

use super::connectors::{created, group};

const RECIPIENT: &str = "+4930123456";
const GATEWAYS: usize = 4;
const POSTS_PER_GATEWAY: usize = 60;

/// One gateway posting its texts one after the other; returns the statuses.
async fn gateway(app: &TestApp, token: &str, gateway: usize) -> Vec<(String, u16)> {
    let mut statuses = Vec::new();
    for i in 0..POSTS_PER_GATEWAY {
        let response = app
            .client
            .post(app.url("/api/v1/sms/inbound"))
            .bearer_auth(token)
            .json(
                &json!({ "from": format!("+4915112{gateway:02}{i:04}"), "to": RECIPIENT,
                           "text": "hello", "message_id": format!("gw{gateway}-{i}") }),
            )
            .send()
            .await
            .unwrap();
        statuses.push((format!("post gw{gateway}-{i}"), response.status().as_u16()));
    }
    statuses
}

/// Every kind of admin write, one after the other; returns what each answered.
async fn admin(app: &TestApp, fallback: i64) -> Vec<(String, u16)> {
    let mut answers = Vec::new();
    let mut send = async |method: Method, path: String, body: Option<Value>| -> Value {
        let mut request = app.admin(method.clone(), &path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        answers.push((format!("{method} {path}: {text}"), status));
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    for i in 0..10 {
        let made = send(
            Method::POST,
            "/api/v1/acd-groups".into(),
            Some(json!({ "name": format!("team-{i}") })),
        )
        .await;
        let id = &made["id"];
        send(
            Method::PATCH,
            format!("/api/v1/acd-groups/{id}"),
            Some(json!({ "description": "renamed under load" })),
        )
        .await;
        let connector = send(
            Method::POST,
            "/api/v1/connectors/sms".into(),
            Some(
                json!({ "name": format!("line {i}"), "recipient": format!("+49301234{i:02}9"),
                         "routing_type": "routing_application", "fallback_acd_group": fallback,
                         "plugin_settings": { "n": i } }),
            ),
        )
        .await;
        let connector = &connector["id"];
        send(
            Method::PATCH,
            format!("/api/v1/connectors/sms/{connector}"),
            Some(json!({ "plugin_settings": { "n": i + 1 } })),
        )
        .await;
        send(
            Method::PUT,
            "/api/v1/settings/email".into(),
            Some(json!({ "enabled": false, "host": "mail.example", "port": 25 + i })),
        )
        .await;
        send(
            Method::DELETE,
            format!("/api/v1/connectors/sms/{connector}"),
            None,
        )
        .await;
        send(Method::DELETE, format!("/api/v1/acd-groups/{id}"), None).await;
    }
    answers
}

#[tokio::test]
async fn admin_writes_during_an_ingest_stream_all_succeed() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    let connector = created(
        &app,
        json!({ "name": "main line", "recipient": RECIPIENT, "routing_type": "direct_acd_group",
                "acd_group": sales }),
    )
    .await;
    let token = connector["token"].as_str().unwrap();
    let (posts, writes) = tokio::join!(
        async {
            let (a, b, c, d) = tokio::join!(
                gateway(&app, token, 0),
                gateway(&app, token, 1),
                gateway(&app, token, 2),
                gateway(&app, token, 3),
            );
            [a, b, c, d].concat()
        },
        admin(&app, sales),
    );
    assert_eq!(posts.len(), GATEWAYS * POSTS_PER_GATEWAY);
    let failed: Vec<_> = posts
        .iter()
        .chain(&writes)
        .filter(|(_, status)| !(200..300).contains(status))
        .collect();
    assert!(failed.is_empty(), "writes that failed: {failed:#?}");
}

//! The SMS Receiver API as gateways use it (`POST /api/v1/sms/inbound`, JSON and the
//! Twilio form), connector tokens, idempotent retries, bad posts, and routing end to
//! end: direct, through the Rust and the Python keyword routers, and the fallback when
//! a routing application fails; seen through `/api/v1/interactions` and `/messages`.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{TestApp, plugin_bytes, spawn_app};

use super::assert_error;
use super::connectors::{created, group};

const RECIPIENT: &str = "+4930123456";
const CUSTOMER: &str = "+4915123456789";

/// A direct connector to a new group `sales`; returns (connector, group id).
async fn direct_connector(app: &TestApp, require_token: bool) -> (Value, i64) {
    let sales = group(app, "sales").await;
    let connector = created(
        app,
        json!({ "name": "main line", "recipient": RECIPIENT, "require_token": require_token,
                "routing_type": "direct_acd_group", "acd_group": sales,
                "incoming_subject": "SMS from a customer" }),
    )
    .await;
    (connector, sales)
}

fn sms(from: &str, text: &str, id: &str) -> Value {
    json!({ "from": from, "to": RECIPIENT, "text": text, "message_id": id })
}

pub(super) async fn post_json(
    app: &TestApp,
    token: Option<&str>,
    body: &Value,
) -> reqwest::Response {
    let mut request = app.client.post(app.url("/api/v1/sms/inbound")).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

/// Posts and expects a fresh acknowledgement; returns the message id.
pub(super) async fn accepted(app: &TestApp, token: &str, body: &Value) -> i64 {
    let response = post_json(app, Some(token), body).await;
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 202, "{text}");
    let json: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["duplicate"], false);
    json["id"].as_i64().unwrap()
}

async fn get(app: &TestApp, path: &str) -> Value {
    let response = app.admin(Method::GET, path).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{path}: {text}");
    serde_json::from_str(&text).unwrap()
}

/// Waits until message `id` has left `received`, and returns it with its activity
/// log and routing record.
pub(super) async fn routed(app: &TestApp, id: i64) -> Value {
    let start = Instant::now();
    loop {
        let message = get(app, &format!("/api/v1/messages/{id}")).await;
        if message["state"] != "received" {
            return message;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "message {id} was not routed: {message}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub(super) async fn interaction_of(app: &TestApp, message: &Value) -> Value {
    let id = message["interaction_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no interaction: {message}"));
    get(app, &format!("/api/v1/interactions/{id}")).await
}

async fn all_messages(app: &TestApp) -> Vec<Value> {
    let page = get(app, "/api/v1/messages?limit=1000").await;
    page["items"].as_array().unwrap().clone()
}

pub(super) fn token(connector: &Value) -> String {
    connector["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn json_and_twilio_posts_become_interactions_in_a_direct_group() {
    let app = spawn_app().await;
    let (connector, sales) = direct_connector(&app, true).await;
    let token = token(&connector);

    let first = accepted(
        &app,
        &token,
        &json!({ "from": "+49 151 2345 6789", "to": "+49 30 123456", "text": "Hello there",
                 "message_id": "gw-1", "received_at": "2026-11-22T09:00:00Z" }),
    )
    .await;
    let form = app
        .client
        .post(app.url(&format!("/api/v1/sms/inbound?token={token}")))
        .form(&[
            ("From", CUSTOMER),
            ("To", RECIPIENT),
            ("Body", "Second one"),
            ("MessageSid", "SM0123"),
            ("AccountSid", "AC-ignored"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 202);
    assert!(
        form.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml"),
        "Twilio gets TwiML back"
    );
    let second: i64 = form.headers()["x-switchyard-message-id"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(form.text().await.unwrap().contains("<Response>"));

    let message = routed(&app, first).await;
    assert_eq!(message["state"], "routed");
    assert_eq!(message["from"], CUSTOMER, "numbers are stored in E.164");
    assert_eq!(message["to"], RECIPIENT);
    assert_eq!(message["gateway_message_id"], "gw-1");
    assert_eq!(message["received_at"], 1_795_338_000_000_i64);
    let activity = message["activity"].as_array().unwrap();
    let statuses: Vec<&str> = activity
        .iter()
        .map(|a| a["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["received", "routed"]);
    assert!(activity[0]["at"].as_i64().unwrap() <= activity[1]["at"].as_i64().unwrap());
    assert!(activity[1]["detail"].as_str().unwrap().contains("`sales`"));
    assert_eq!(message["routing"]["outcome"], "acd_group");
    assert_eq!(message["routing"]["routing_type"], "direct_acd_group");

    let interaction = interaction_of(&app, &message).await;
    assert_eq!(interaction["acd_group"], sales);
    assert_eq!(interaction["acd_group_name"], "sales");
    assert_eq!(interaction["state"], "queued");
    assert_eq!(interaction["subject"], "SMS from a customer");
    assert_eq!(interaction["text"], "Hello there");
    assert_eq!(interaction["message"]["id"], first);
    routed(&app, second).await;

    let listed = get(
        &app,
        &format!("/api/v1/interactions?acd_group={sales}&state=queued"),
    )
    .await;
    let texts: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Hello there", "Second one"]);
    assert_eq!(listed["next_after"], Value::Null);
    let paged = get(
        &app,
        &format!("/api/v1/interactions?acd_group={sales}&limit=1"),
    )
    .await;
    assert_eq!(paged["items"].as_array().unwrap().len(), 1);
    let after = paged["next_after"].as_i64().unwrap();
    let rest = get(&app, &format!("/api/v1/interactions?limit=1&after={after}")).await;
    assert_eq!(rest["items"][0]["text"], "Second one");

    let other = group(&app, "other").await;
    let empty = get(&app, &format!("/api/v1/interactions?acd_group={other}")).await;
    assert_eq!(empty["items"], json!([]));
    assert_error(
        app.admin(Method::GET, "/api/v1/interactions?acd_group=999")
            .send()
            .await
            .unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.admin(Method::GET, "/api/v1/interactions?state=lost")
            .send()
            .await
            .unwrap(),
        400,
        "invalid_query",
    )
    .await;
    // Gateways' tokens are not admin tokens.
    let response = app
        .client
        .get(app.url("/api/v1/interactions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "unauthorized").await;
}

#[tokio::test]
async fn a_connector_that_requires_its_token_refuses_posts_without_it() {
    let app = spawn_app().await;
    let (connector, _) = direct_connector(&app, true).await;
    let token = token(&connector);
    let body = sms(CUSTOMER, "hi", "t-1");

    let message = assert_error(post_json(&app, None, &body).await, 401, "unauthorized").await;
    assert!(message.contains("token"), "{message}");
    assert_error(
        post_json(&app, Some("not-the-token"), &body).await,
        401,
        "unauthorized",
    )
    .await;
    let wrong_query = app
        .client
        .post(app.url("/api/v1/sms/inbound?token=nope"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_error(wrong_query, 401, "unauthorized").await;
    // The admin token opens the admin API, not a connector.
    assert_error(
        post_json(&app, Some(&app.admin_token), &body).await,
        401,
        "unauthorized",
    )
    .await;
    assert!(
        all_messages(&app).await.is_empty(),
        "refused posts store nothing"
    );

    accepted(&app, &token, &body).await;

    // A new token takes effect at once; the old one is refused from then on.
    let id = connector["id"].as_i64().unwrap();
    let mut input = connector.clone();
    for field in ["id", "token", "active_plugin", "created_at", "updated_at"] {
        input.as_object_mut().unwrap().remove(field);
    }
    input["generate_new_token"] = json!(true);
    let renewed: Value = app
        .admin(Method::PUT, &format!("/api/v1/connectors/sms/{id}"))
        .json(&input)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_token = renewed["token"].as_str().unwrap();
    assert_ne!(new_token, token);
    assert_error(
        post_json(&app, Some(&token), &sms(CUSTOMER, "hi", "t-2")).await,
        401,
        "unauthorized",
    )
    .await;
    accepted(&app, new_token, &sms(CUSTOMER, "hi", "t-2")).await;

    // Without require_token, posts need no token.
    input["require_token"] = json!(false);
    input["generate_new_token"] = json!(false);
    let response = app
        .admin(Method::PUT, &format!("/api/v1/connectors/sms/{id}"))
        .json(&input)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let response = post_json(&app, None, &sms(CUSTOMER, "hi", "t-3")).await;
    assert_eq!(response.status(), 202);
    assert_eq!(all_messages(&app).await.len(), 3);
}

#[tokio::test]
async fn a_retried_post_is_acknowledged_again_and_stored_once() {
    let app = spawn_app().await;
    let (connector, _) = direct_connector(&app, false).await;
    let token = token(&connector);
    let body = sms(CUSTOMER, "only once", "retry-1");
    let id = accepted(&app, &token, &body).await;
    routed(&app, id).await;

    let again = post_json(&app, Some(&token), &body).await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], id);
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["state"], "routed");

    // Many retries at once, as a gateway that timed out might send.
    let body = sms(CUSTOMER, "burst", "retry-2");
    let posts = (0..20).map(|_| post_json(&app, Some(&token), &body));
    let answers = futures_util::future::join_all(posts).await;
    let mut ids = Vec::new();
    let mut fresh = 0;
    for response in answers {
        assert!(response.status().is_success());
        let json: Value = response.json().await.unwrap();
        ids.push(json["id"].as_i64().unwrap());
        if json["duplicate"] == false {
            fresh += 1;
        }
    }
    assert_eq!(fresh, 1, "exactly one post stored it");
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    routed(&app, ids[0]).await;

    let messages = all_messages(&app).await;
    assert_eq!(messages.len(), 2);
    let interactions = get(&app, "/api/v1/interactions").await;
    assert_eq!(interactions["items"].as_array().unwrap().len(), 2);
    // The same gateway id to another number is another message.
    let support = group(&app, "support").await;
    created(
        &app,
        json!({ "name": "second line", "recipient": "+4930123457", "require_token": false,
                "routing_type": "direct_acd_group", "acd_group": support }),
    )
    .await;
    let mut other = sms(CUSTOMER, "elsewhere", "retry-1");
    other["to"] = json!("+4930123457");
    let response = post_json(&app, None, &other).await;
    assert_eq!(response.status(), 202);
}

#[tokio::test]
async fn bad_posts_are_refused_with_the_problem_named_and_store_nothing() {
    let app = spawn_app().await;
    let (connector, _) = direct_connector(&app, true).await;
    let token = token(&connector);
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/v1/sms/inbound"))
            .bearer_auth(&token)
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_error(
        raw("{\"from\": ", "application/json").await.unwrap(),
        400,
        "malformed_json",
    )
    .await;
    let message = assert_error(
        raw(
            r#"{"from":"+4915123456789","to":"+4930123456","text":"x"}"#,
            "application/json",
        )
        .await
        .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    assert!(message.starts_with("message_id"), "{message}");
    assert_error(
        raw("From=x", "text/plain").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let message = assert_error(
        raw(
            "From=%2B4915123456789&To=%2B4930123456&Body=hi",
            "application/x-www-form-urlencoded",
        )
        .await
        .unwrap(),
        422,
        "invalid_field",
    )
    .await;
    assert!(message.starts_with("MessageSid"), "{message}");

    for (body, field) in [
        (sms("not a number", "x", "b-1"), "from"),
        (sms("+999 123", "x", "b-2"), "from"),
        (sms(CUSTOMER, "x", ""), "message_id"),
        (
            json!({ "from": CUSTOMER, "to": "030 123456", "text": "x", "message_id": "b-3" }),
            "to",
        ),
        (
            json!({ "from": CUSTOMER, "to": RECIPIENT, "text": "x", "message_id": "b-4",
                    "received_at": "last tuesday" }),
            "received_at",
        ),
        (
            json!({ "from": CUSTOMER, "to": RECIPIENT, "text": "x".repeat(40_001),
                    "message_id": "b-5" }),
            "text",
        ),
    ] {
        let message = assert_error(
            post_json(&app, Some(&token), &body).await,
            422,
            "invalid_field",
        )
        .await;
        assert!(message.starts_with(field), "{field}: {message}");
    }
    let message = assert_error(
        post_json(
            &app,
            Some(&token),
            &json!({ "from": CUSTOMER, "to": "+4930999999", "text": "x", "message_id": "b-6" }),
        )
        .await,
        401,
        "unauthorized",
    )
    .await;
    assert!(!message.contains("+4930999999"), "{message}");
    let huge = json!({ "from": CUSTOMER, "to": RECIPIENT, "text": "x".repeat(2 << 20),
                       "message_id": "b-7" });
    assert_error(
        post_json(&app, Some(&token), &huge).await,
        413,
        "body_too_large",
    )
    .await;

    assert!(all_messages(&app).await.is_empty());
    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

/// Groups the keyword router's example settings name, and a routing-application
/// connector with `plugin` uploaded and active. Returns (connector, fallback group).
async fn routed_connector(app: &TestApp, plugin: &str, settings: Value) -> (Value, i64) {
    for name in ["billing", "support", "general"] {
        group(app, name).await;
    }
    let fallback = group(app, "fallback").await;
    let connector = created(
        app,
        json!({ "name": "routed line", "recipient": RECIPIENT, "require_token": false,
                "routing_type": "routing_application", "fallback_acd_group": fallback,
                "incoming_subject": "SMS", "plugin_settings": settings }),
    )
    .await;
    upload(app, &connector, plugin).await;
    (connector, fallback)
}

/// Uploads `plugin` to `connector`; the first upload becomes the active version.
pub(super) async fn upload(app: &TestApp, connector: &Value, plugin: &str) {
    let response = app
        .admin(
            Method::POST,
            &format!("/api/v1/connectors/sms/{}/plugins", connector["id"]),
        )
        .header("content-type", "application/wasm")
        .body(plugin_bytes(plugin))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
}

pub(super) fn keyword_settings() -> Value {
    json!({
        "groups": [
            { "group": "billing", "keywords": ["bill", "invoice", "direct debit"],
              "subject": "Billing", "priority": 5 },
            { "group": "support", "keywords": ["broken", "help"] }
        ],
        "default_group": "general",
        "auto_reply": "Thanks! Reply BILL or HELP so we can route you."
    })
}

/// Queue entries (the communication queue's table) created by routing `message`.
async fn queued_replies(app: &TestApp, message: i64) -> Vec<(String, String, String, String)> {
    use sqlx::Row;
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&app.db.url).await.unwrap();
    let rows = sqlx::query(
        "SELECT state, sender, recipient, body FROM queue_entries \
         WHERE inbound_message_id = $1 ORDER BY number",
    )
    .bind(message)
    .fetch_all(&pool)
    .await
    .unwrap();
    pool.close().await;
    rows.iter()
        .map(|r| {
            (
                r.get("state"),
                r.get("sender"),
                r.get("recipient"),
                r.get("body"),
            )
        })
        .collect()
}

async fn keyword_router_end_to_end(plugin: &str) {
    let app = spawn_app().await;
    let (connector, _) = routed_connector(&app, plugin, keyword_settings()).await;
    let token = token(&connector);

    // A keyword: its group, priority, subject and user data.
    let id = accepted(&app, &token, &sms(CUSTOMER, "My INVOICE is wrong", "k-1")).await;
    let message = routed(&app, id).await;
    assert_eq!(message["state"], "routed", "{message}");
    let record = &message["routing"];
    assert_eq!(record["outcome"], "acd_group");
    assert_eq!(record["plugin_version"], 1);
    assert_eq!(record["error"], Value::Null);
    assert!(record["elapsed_us"].as_i64().unwrap() > 0);
    assert_eq!(
        record["logs"][0]["message"],
        "routed to billing by keyword invoice"
    );
    let interaction = interaction_of(&app, &message).await;
    assert_eq!(interaction["acd_group_name"], "billing");
    assert_eq!(interaction["priority"], 5);
    assert_eq!(interaction["subject"], "Billing");
    assert_eq!(
        interaction["user_data"],
        json!([
            ["matched_keyword", "invoice"],
            ["routed_by", "keyword-router"]
        ])
    );
    assert!(queued_replies(&app, id).await.is_empty());

    // No keyword: the sender's last group, remembered in the plugin's kv store.
    let id = accepted(&app, &token, &sms(CUSTOMER, "any news?", "k-2")).await;
    let interaction = interaction_of(&app, &routed(&app, id).await).await;
    assert_eq!(interaction["acd_group_name"], "billing");
    assert_eq!(
        interaction["user_data"],
        json!([["routed_by", "keyword-router"], ["reason", "last_group"]])
    );

    // A new sender without a keyword: the default group and the connector's subject.
    // The router's auto-reply does not enter the queue while the SMS server settings are
    // disabled (seed 000); the message's activity says so.
    let stranger = "+447911123456";
    let id = accepted(&app, &token, &sms(stranger, "hello", "k-3")).await;
    let message = routed(&app, id).await;
    let interaction = interaction_of(&app, &message).await;
    assert_eq!(interaction["acd_group_name"], "general");
    assert_eq!(interaction["priority"], 0);
    assert_eq!(interaction["subject"], "SMS");
    assert!(queued_replies(&app, id).await.is_empty());
    let detail = message["activity"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("a reply was not queued: the SMS server settings are not enabled"),
        "{detail}"
    );

    // With the SMS gateway enabled, the next stranger's auto-reply is queued from the
    // connector's number and sent to the gateway by the queue worker.
    let gateway = switchyard_tests::gateway::RecordingGateway::start().await;
    let plugin: Value = app
        .admin(Method::POST, "/api/v1/plugins")
        .header("content-type", "application/wasm")
        .body(plugin_bytes("json-gateway"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let enabled = app
        .admin(Method::PUT, "/api/v1/settings/sms")
        .json(
            &json!({ "enabled": true, "gateway_plugin": plugin["sha256"],
                       "settings": { "url": format!("{}/json", gateway.url()) } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), 200);
    let stranger = "+447911123457";
    let id = accepted(&app, &token, &sms(stranger, "hello", "k-4")).await;
    routed(&app, id).await;
    let reply = "Thanks! Reply BILL or HELP so we can route you.";
    let queued = queued_replies(&app, id).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        (&queued[0].1, &queued[0].2, &queued[0].3),
        (
            &RECIPIENT.to_owned(),
            &stranger.to_owned(),
            &reply.to_owned()
        )
    );
    let start = Instant::now();
    while gateway.requests().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the reply was not sent"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = gateway.requests()[0].json();
    assert_eq!(sent["from"], RECIPIENT);
    assert_eq!(sent["to"], stranger);
    assert_eq!(sent["text"], reply);
}

#[tokio::test]
async fn the_rust_keyword_router_decides_group_priority_subject_user_data_and_replies() {
    keyword_router_end_to_end("keyword-router").await;
}

#[tokio::test]
async fn the_python_keyword_router_decides_the_same_way() {
    keyword_router_end_to_end("keyword-router-py").await;
}

#[tokio::test]
async fn a_rejection_is_logged_with_its_reason_and_creates_no_interaction() {
    let app = spawn_app().await;
    // No default group: a message without a keyword is rejected by the router.
    let (connector, _) = routed_connector(&app, "keyword-router", json!({ "groups": [] })).await;
    let id = accepted(&app, &token(&connector), &sms(CUSTOMER, "hello", "r-1")).await;
    let message = routed(&app, id).await;
    assert_eq!(message["state"], "rejected");
    assert_eq!(message["interaction_id"], Value::Null);
    assert_eq!(message["routing"]["outcome"], "reject");
    assert_eq!(
        message["routing"]["reason"],
        "no keyword matched and no default_group"
    );
    let last = message["activity"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["status"], "rejected");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("no keyword matched"),
        "{last}"
    );
    let rejected = get(&app, "/api/v1/messages?state=rejected").await;
    assert_eq!(rejected["items"].as_array().unwrap().len(), 1);
    assert_eq!(get(&app, "/api/v1/interactions").await["items"], json!([]));
}

#[tokio::test]
async fn a_failing_routing_application_falls_back_with_the_error_on_the_record() {
    let app = spawn_app().await;
    let (connector, fallback) = routed_connector(&app, "hostile", json!({})).await;
    group(&app, "ok").await;
    let token = token(&connector);
    let mut ids = Vec::new();
    for (i, body) in ["trap", "loop", "nonsense", "oom", "huge"]
        .iter()
        .enumerate()
    {
        ids.push((
            *body,
            accepted(&app, &token, &sms(CUSTOMER, body, &format!("h-{i}"))).await,
        ));
    }
    let fine = accepted(&app, &token, &sms(CUSTOMER, "fine", "h-fine")).await;
    for (body, id) in ids {
        let message = routed(&app, id).await;
        assert_eq!(message["state"], "routed", "{body}: {message}");
        let record = &message["routing"];
        assert_eq!(record["outcome"], "fallback", "{body}");
        let kind = record["error_kind"].as_str().unwrap();
        let expected = match body {
            "trap" => "trap",
            "loop" => "timeout",
            "oom" => "out_of_memory",
            _ => "invalid_output",
        };
        assert_eq!(kind, expected, "{body}: {record}");
        assert!(!record["error"].as_str().unwrap().is_empty());
        let interaction = interaction_of(&app, &message).await;
        assert_eq!(interaction["acd_group"], fallback, "{body}");
        let detail = message["activity"][1]["detail"].as_str().unwrap();
        assert!(detail.contains("fallback"), "{detail}");
    }
    // The same plugin still routes a good message normally afterwards.
    let message = routed(&app, fine).await;
    let interaction = interaction_of(&app, &message).await;
    assert_eq!(interaction["acd_group_name"], "ok");
    assert_eq!(interaction["user_data"], json!([["echo", "fine"]]));
}

#[tokio::test]
async fn without_a_plugin_or_a_fallback_group_the_reason_is_kept() {
    let app = spawn_app().await;
    let fallback = group(&app, "fallback").await;
    // No version uploaded yet: the fallback group, with the reason.
    let connector = created(
        &app,
        json!({ "name": "no plugin", "recipient": RECIPIENT, "require_token": false,
                "routing_type": "routing_application", "fallback_acd_group": fallback }),
    )
    .await;
    let id = accepted(&app, &token(&connector), &sms(CUSTOMER, "hello", "n-1")).await;
    let message = routed(&app, id).await;
    assert_eq!(message["routing"]["error_kind"], "no_plugin");
    assert_eq!(interaction_of(&app, &message).await["acd_group"], fallback);

    // A failing plugin and no fallback group: unroutable, rejected with the reason.
    let connector = created(
        &app,
        json!({ "name": "no fallback", "recipient": "+4930123457", "require_token": false,
                "routing_type": "routing_application" }),
    )
    .await;
    upload(&app, &connector, "hostile").await;
    let mut body = sms(CUSTOMER, "trap", "n-2");
    body["to"] = json!("+4930123457");
    let id = accepted(&app, "", &body).await;
    let message = routed(&app, id).await;
    assert_eq!(message["state"], "rejected");
    assert_eq!(message["routing"]["outcome"], "unroutable");
    assert_eq!(message["routing"]["error_kind"], "trap");
    assert_eq!(message["interaction_id"], Value::Null);
}

#[tokio::test]
async fn an_email_reply_goes_from_the_email_sender_to_the_contacts_address() {
    let sink = switchyard_tests::smtp::SmtpSink::start().await;
    let app = spawn_app().await;
    super::queue::enable_email(&app, sink.port()).await;
    let (connector, _) = routed_connector(&app, "hostile", json!({})).await;
    group(&app, "ok").await;
    let token = token(&connector);

    // An email reply to an address the application names: from the email settings'
    // default sender, not from the connector's number, and delivered over SMTP.
    let body = "email-reply ann@example.org";
    let id = accepted(&app, &token, &sms(CUSTOMER, body, "e-1")).await;
    let message = routed(&app, id).await;
    assert_eq!(message["state"], "routed", "{message}");
    let queued = queued_replies(&app, id).await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        (queued[0].1.as_str(), queued[0].2.as_str()),
        ("desk@acme.example", "ann@example.org"),
        "{queued:?}"
    );
    let mails = sink.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(mails.len(), 1, "the reply was not sent: {mails:?}");
    assert_eq!(mails[0].mail_from, "desk@acme.example");
    assert_eq!(mails[0].rcpt_tos, ["ann@example.org"]);
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("Your message to us")
    );

    // An email reply "to the contact", who only texted: there is no address to send it
    // to, so it is not queued and the message's activity says why.
    let id = accepted(&app, &token, &sms(CUSTOMER, "email-reply", "e-2")).await;
    let message = routed(&app, id).await;
    assert_eq!(message["state"], "routed", "{message}");
    assert!(queued_replies(&app, id).await.is_empty());
    let detail = message["activity"][1]["detail"].as_str().unwrap();
    assert!(
        detail.contains("a reply was not queued: the contact has no email address"),
        "{detail}"
    );
}

#[tokio::test]
async fn invalid_stored_plugin_settings_fall_back_with_a_configuration_error() {
    let app = spawn_app().await;
    let (connector, fallback) = routed_connector(&app, "hostile", json!({})).await;
    group(&app, "ok").await;
    // Edited by hand: settings the API refuses, which the plugin must not be run
    // without (nor with `{}` in their place).
    let changed = app
        .edit_database(&format!(
            "UPDATE sms_connectors SET plugin_settings = '[1, 2]' WHERE id = {}",
            connector["id"]
        ))
        .await;
    assert_eq!(changed, 1);
    let id = accepted(&app, &token(&connector), &sms(CUSTOMER, "fine", "s-1")).await;
    let message = routed(&app, id).await;
    let record = &message["routing"];
    assert_eq!(record["outcome"], "fallback", "{message}");
    assert_eq!(record["error_kind"], "invalid_settings", "{record}");
    assert!(
        record["error"]
            .as_str()
            .unwrap()
            .contains("plugin settings are invalid"),
        "{record}"
    );
    assert_eq!(interaction_of(&app, &message).await["acd_group"], fallback);
}

/// `acd.availability` counts the group's members who are ready on the message's channel
/// with a live session: the keyword router's overflow group takes a billing message
/// only while no billing agent is ready for SMS.
#[tokio::test]
async fn the_overflow_group_follows_real_agents_ready_on_the_messages_channel() {
    let app = spawn_app().await;
    let mut settings = keyword_settings();
    settings["overflow_group"] = json!("general");
    let (connector, _) = routed_connector(&app, "keyword-router", settings).await;
    let groups = get(&app, "/api/v1/acd-groups").await;
    let id_of = |name: &str| {
        groups
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == name)
            .unwrap()["id"]
            .clone()
    };
    let route = |text: &'static str, id: &'static str| {
        let (app, token) = (&app, token(&connector));
        async move {
            let message = routed(app, accepted(app, &token, &sms(CUSTOMER, text, id)).await).await;
            interaction_of(app, &message).await
        }
    };

    // Nobody is ready in billing: it overflows.
    let first = route("my bill is wrong", "o-1").await;
    assert_eq!(first["acd_group"], id_of("general"), "{first}");
    let overflowed = |interaction: &Value| {
        interaction["user_data"]
            .as_array()
            .unwrap()
            .contains(&json!(["overflow_from", "billing"]))
    };
    assert!(overflowed(&first), "{first}");

    let response = app
        .admin(Method::POST, "/api/v1/agents")
        .json(
            &json!({ "login": "bea", "name": "Bea", "password": "correct horse battery",
                       "groups": [id_of("billing")] }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let session: Value = app
        .client
        .post(app.url("/api/v1/agent-sessions"))
        .json(&json!({ "login": "bea", "password": "correct horse battery" }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let agent_token = session["token"].as_str().unwrap().to_owned();
    let set = |channel: &'static str, state: &'static str| {
        let (app, agent_token) = (&app, agent_token.clone());
        async move {
            let response = app
                .client
                .put(app.url(&format!("/api/v1/me/channels/{channel}")))
                .bearer_auth(agent_token)
                .json(&json!({ "state": state }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
        }
    };

    // Ready for email only: an SMS still finds nobody.
    set("email", "ready").await;
    let second = route("another bill", "o-2").await;
    assert_eq!(second["acd_group"], id_of("general"), "{second}");
    assert!(overflowed(&second), "{second}");

    // Ready for SMS: billing keeps its message.
    set("sms", "ready").await;
    let third = route("the bill again", "o-3").await;
    assert_eq!(third["acd_group"], id_of("billing"), "{third}");
    assert!(!overflowed(&third), "{third}");

    // Logged out: not ready anywhere, so it overflows again.
    let response = app
        .client
        .delete(app.url("/api/v1/agent-sessions/current"))
        .bearer_auth(&agent_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let fourth = route("still the bill", "o-4").await;
    assert_eq!(fourth["acd_group"], id_of("general"), "{fourth}");
}

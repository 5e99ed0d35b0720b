//! The API's shared contract, checked across every resource: secrets are write-only,
//! inbound posts do not reveal which numbers have connectors, direct connectors take
//! no routing application, every listing reads its query the same way, bad bodies and
//! path parameters name the field or parameter at fault, and times come as RFC 3339
//! beside their milliseconds.

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{TestApp, plugin_bytes};

use super::connectors::{created, group};
use super::queue::{CONTACT, app_without_worker, call, create, enable_sms, expect, process};
use switchyard_tests::gateway::RecordingGateway;

const RECIPIENT: &str = "+4930123456";

/// Known secret values, one per place a secret can be stored.
const GATEWAY_TOKEN: &str = "gw-secret-token-41f7";
const GATEWAY_KEY: &str = "gw-secret-header-9c2e";
const SMTP_PASSWORD: &str = "smtp-secret-password-77aa";
const CONNECTOR_SECRET: &str = "connector-secret-webhook-5d31";
const SYSTEM_PASSWORD: &str = "system-secret-password-0b8c";
const SECRETS: [&str; 5] = [
    GATEWAY_TOKEN,
    GATEWAY_KEY,
    SMTP_PASSWORD,
    CONNECTOR_SECRET,
    SYSTEM_PASSWORD,
];

/// The body of an admin request, as text, after checking its status.
async fn text(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> (u16, String) {
    let mut request = app.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn assert_no_secret(path: &str, body: &str) {
    for secret in SECRETS {
        assert!(!body.contains(secret), "{path} shows a secret: {body}");
    }
}

#[tokio::test]
async fn secrets_are_write_only_in_every_answer() {
    let gateway = RecordingGateway::start().await;
    let app = app_without_worker().await;
    let mut answers: Vec<(String, String)> = Vec::new();

    // The SMS gateway's plugin settings.
    let sms = enable_sms(
        &app,
        "json-gateway",
        json!({ "url": gateway.url(), "auth_token": GATEWAY_TOKEN,
                "headers": { "X-Api-Key": GATEWAY_KEY } }),
        json!({}),
    )
    .await;
    answers.push(("PUT /settings/sms".into(), sms.to_string()));
    assert_eq!(sms["settings"]["auth_token"], "[redacted]", "{sms}");
    assert_eq!(sms["settings"]["url"], gateway.url(), "{sms}");

    // The email server's password.
    let (status, body) = text(
        &app,
        Method::PUT,
        "/api/v1/settings/email",
        Some(
            json!({ "enabled": false, "host": "127.0.0.1", "username": "desk",
                     "password": SMTP_PASSWORD }),
        ),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    answers.push(("PUT /settings/email".into(), body));

    // A connector's plugin settings.
    let general = group(&app, "general").await;
    let connector = created(
        &app,
        json!({ "name": "hotline", "recipient": RECIPIENT, "routing_type": "routing_application",
                "fallback_acd_group": general,
                "plugin_settings": { "default_group": "general", "webhook_secret": CONNECTOR_SECRET } }),
    )
    .await;
    answers.push(("POST /connectors/sms".into(), connector.to_string()));
    let id = connector["id"].as_i64().unwrap();
    let response = app
        .admin(
            Method::POST,
            &format!("/api/v1/connectors/sms/{id}/plugins"),
        )
        .header("content-type", "application/wasm")
        .body(plugin_bytes("keyword-router"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);

    // An external system's settings.
    let (status, body) = text(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "billing", "kind": "third_party",
                     "settings": { "login": "desk", "password": SYSTEM_PASSWORD } })),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    answers.push(("POST /external-systems".into(), body));

    // Something in the queue and an inbound message, so the lists have items.
    let entry = create(
        &app,
        json!({ "media": "sms", "recipient": CONTACT, "body": "hello" }),
    )
    .await;
    let number = entry["number"].as_i64().unwrap();
    let token = connector["token"].as_str().unwrap();
    let response = app
        .client
        .post(app.url("/api/v1/sms/inbound"))
        .bearer_auth(token)
        .json(&json!({ "from": CONTACT, "to": RECIPIENT, "text": "hi", "message_id": "m-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);

    // Writing back what was read (the markers) keeps the stored secrets.
    for path in [
        "/api/v1/settings/sms".to_owned(),
        format!("/api/v1/connectors/sms/{id}"),
    ] {
        let mut shown = expect(&app, Method::GET, &path, None, 200).await;
        let fields = shown.as_object_mut().unwrap();
        fields.retain(|k, _| {
            !k.ends_with("_at")
                && !k.ends_with("_rfc3339")
                && !["id", "token", "active_plugin", "receipt_token"].contains(&k.as_str())
        });
        let (status, body) = text(&app, Method::PUT, &path, Some(shown.clone())).await;
        assert_eq!(status, 200, "PUT {path} {shown}: {body}");
        answers.push((format!("PUT {path}"), body));
    }
    let (status, body) = text(
        &app,
        Method::PATCH,
        &format!("/api/v1/connectors/sms/{id}"),
        Some(json!({ "plugin_settings": { "default_group": "general", "webhook_secret": "[redacted]" } })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    answers.push(("PATCH /connectors/sms".into(), body));
    let (status, body) = text(
        &app,
        Method::PUT,
        "/api/v1/external-systems/billing",
        Some(json!({ "settings": { "login": "desk2", "password": "[redacted]" } })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    answers.push(("PUT /external-systems/billing".into(), body));

    // The message is routed (what the plugin logged is shown too) into an interaction.
    let start = std::time::Instant::now();
    let message = loop {
        let message = expect(&app, Method::GET, "/api/v1/messages/1", None, 200).await;
        if message["state"] != "received" {
            break message;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "{message}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let interaction = message["interaction_id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no interaction: {message}"));

    // Every admin listing and detail.
    for path in [
        "/api/v1/acd-groups".to_owned(),
        format!("/api/v1/acd-groups/{general}"),
        "/api/v1/connectors/sms".to_owned(),
        format!("/api/v1/connectors/sms/{id}"),
        format!("/api/v1/connectors/sms/{id}/plugins"),
        "/api/v1/plugins".to_owned(),
        "/api/v1/external-systems".to_owned(),
        "/api/v1/external-systems/billing".to_owned(),
        "/api/v1/settings/email".to_owned(),
        "/api/v1/settings/sms".to_owned(),
        "/api/v1/interactions".to_owned(),
        format!("/api/v1/interactions/{interaction}"),
        "/api/v1/messages".to_owned(),
        "/api/v1/messages/1".to_owned(),
        "/api/v1/queue".to_owned(),
        format!("/api/v1/queue/{number}"),
    ] {
        let (status, body) = text(&app, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        answers.push((path, body));
    }
    for (path, body) in &answers {
        assert_no_secret(path, body);
    }
    let system = expect(
        &app,
        Method::GET,
        "/api/v1/external-systems/billing",
        None,
        200,
    )
    .await;
    assert_eq!(system["settings"]["login"], "desk2", "{system}");
    assert_eq!(system["settings"]["password"], "[redacted]", "{system}");

    // The gateway still gets the real secrets: the markers written back did not
    // replace them.
    let done = process(&app, &json!(number)).await;
    assert_eq!(done["state"], "completed", "{done}");
    let request = gateway.requests().into_iter().last().unwrap();
    assert_eq!(
        request.headers.get("authorization").map(String::as_str),
        Some(format!("Bearer {GATEWAY_TOKEN}").as_str())
    );
    assert_eq!(
        request.headers.get("x-api-key").map(String::as_str),
        Some(GATEWAY_KEY)
    );
}

#[tokio::test]
async fn an_unknown_number_looks_like_a_wrong_token() {
    let app = app_without_worker().await;
    let sales = group(&app, "sales").await;
    let closed = created(
        &app,
        json!({ "name": "closed", "recipient": RECIPIENT, "routing_type": "direct_acd_group",
                "acd_group": sales }),
    )
    .await;
    created(
        &app,
        json!({ "name": "open", "recipient": "+4930555555", "require_token": false,
                "routing_type": "direct_acd_group", "acd_group": sales }),
    )
    .await;
    let post = |to: &str, token: Option<&str>| {
        let mut request = app.client.post(app.url("/api/v1/sms/inbound")).json(
            &json!({ "from": CONTACT, "to": to, "text": "hi", "message_id": format!("p-{to}") }),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };
    let answer = |response: reqwest::Response| async move {
        (response.status().as_u16(), response.text().await.unwrap())
    };
    let wrong = answer(post(RECIPIENT, Some("guess")).await.unwrap()).await;
    let unknown = answer(post("+4930999999", Some("guess")).await.unwrap()).await;
    assert_eq!(wrong.0, 401, "{wrong:?}");
    assert_eq!(wrong, unknown);
    let missing = answer(post(RECIPIENT, None).await.unwrap()).await;
    let unknown_missing = answer(post("+4930999999", None).await.unwrap()).await;
    assert_eq!(missing.0, 401, "{missing:?}");
    assert_eq!(missing, unknown_missing);
    // The form dialect too.
    let form = |to: &'static str| {
        app.client
            .post(app.url("/api/v1/sms/inbound?token=guess"))
            .form(&[
                ("From", CONTACT),
                ("To", to),
                ("Body", "hi"),
                ("MessageSid", "SM1"),
            ])
            .send()
    };
    assert_eq!(
        answer(form(RECIPIENT).await.unwrap()).await,
        answer(form("+4930999999").await.unwrap()).await
    );
    // The right token and an open connector still get through.
    let token = closed["token"].as_str().unwrap();
    assert_eq!(post(RECIPIENT, Some(token)).await.unwrap().status(), 202);
    assert_eq!(post("+4930555555", None).await.unwrap().status(), 202);
}

async fn upload_router(app: &TestApp, id: i64, query: &str) -> reqwest::Response {
    app.admin(
        Method::POST,
        &format!("/api/v1/connectors/sms/{id}/plugins{query}"),
    )
    .header("content-type", "application/wasm")
    .body(plugin_bytes("keyword-router"))
    .send()
    .await
    .unwrap()
}

#[tokio::test]
async fn a_direct_connector_takes_no_routing_application() {
    let app = app_without_worker().await;
    let sales = group(&app, "sales").await;
    let direct = created(
        &app,
        json!({ "name": "direct", "recipient": RECIPIENT, "routing_type": "direct_acd_group",
                "acd_group": sales }),
    )
    .await;
    let id = direct["id"].as_i64().unwrap();
    let message =
        super::assert_error(upload_router(&app, id, "").await, 409, "wrong_routing_type").await;
    assert!(message.contains("direct_acd_group"), "{message}");
    let versions = expect(
        &app,
        Method::GET,
        &format!("/api/v1/connectors/sms/{id}/plugins"),
        None,
        200,
    )
    .await;
    assert_eq!(versions, json!([]));

    // Versions uploaded while it routed with an application cannot be activated once
    // it routes directly.
    let path = format!("/api/v1/connectors/sms/{id}");
    expect(
        &app,
        Method::PATCH,
        &path,
        Some(
            json!({ "routing_type": "routing_application", "acd_group": null,
                     "fallback_acd_group": sales }),
        ),
        200,
    )
    .await;
    assert_eq!(upload_router(&app, id, "").await.status(), 201);
    expect(
        &app,
        Method::PATCH,
        &path,
        Some(
            json!({ "routing_type": "direct_acd_group", "acd_group": sales,
                     "fallback_acd_group": null }),
        ),
        200,
    )
    .await;
    let response = app
        .admin(Method::POST, &format!("{path}/plugins/1/activate"))
        .send()
        .await
        .unwrap();
    super::assert_error(response, 409, "wrong_routing_type").await;
    let response = app
        .admin(Method::POST, &format!("{path}/plugins/rollback"))
        .send()
        .await
        .unwrap();
    super::assert_error(response, 409, "wrong_routing_type").await;
}

/// Asserts a 400 `invalid_query` naming `field`.
async fn assert_bad_query(response: reqwest::Response, path: &str, field: &str) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 400, "{path}: {body}");
    assert_eq!(body["error"]["code"], "invalid_query", "{path}: {body}");
    assert_eq!(body["error"]["field"], field, "{path}: {body}");
}

#[tokio::test]
async fn every_listing_reads_its_query_the_same_way() {
    let app = app_without_worker().await;
    let (status, system) = call(
        &app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "billing", "kind": "third_party" })),
    )
    .await;
    assert_eq!(status, 201, "{system}");
    let token = system["token"].as_str().unwrap().to_owned();
    let sales = group(&app, "sales").await;
    let connector = created(
        &app,
        json!({ "name": "direct", "recipient": RECIPIENT, "routing_type": "direct_acd_group",
                "acd_group": sales }),
    )
    .await;
    let id = connector["id"].as_i64().unwrap();

    let paged = [
        "/api/v1/agents",
        "/api/v1/interactions",
        "/api/v1/messages",
        "/api/v1/queue",
        "/api/v1/external-systems/billing/entries",
    ];
    let bad = [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("after=x", "after"),
        ("after=-1", "after"),
        ("after=1&after=2", "after"),
        ("colour=red", "colour"),
    ];
    for path in paged {
        for (query, field) in bad {
            let url = format!("{path}?{query}");
            let response = app
                .client
                .get(app.url(&url))
                .bearer_auth(if path.contains("/entries") {
                    &token
                } else {
                    &app.admin_token
                })
                .send()
                .await
                .unwrap();
            assert_bad_query(response, &url, field).await;
        }
        for good in ["", "?limit=1", "?limit=1000&after=0"] {
            let url = format!("{path}{good}");
            let response = app
                .client
                .get(app.url(&url))
                .bearer_auth(if path.contains("/entries") {
                    &token
                } else {
                    &app.admin_token
                })
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200, "{url}");
            let page: Value = response.json().await.unwrap();
            assert!(page["items"].is_array(), "{url}: {page}");
            assert!(page.get("next_after").is_some(), "{url}: {page}");
        }
    }
    // The lists' own filters are checked alike.
    for url in [
        "/api/v1/interactions?state=lost",
        "/api/v1/messages?state=lost",
        "/api/v1/queue?state=lost",
    ] {
        let response = app.admin(Method::GET, url).send().await.unwrap();
        assert_bad_query(response, url, "state").await;
    }
    for url in [
        "/api/v1/interactions?acd_group=x",
        "/api/v1/agents?acd_group=x",
    ] {
        assert_bad_query(
            app.admin(Method::GET, url).send().await.unwrap(),
            url,
            "acd_group",
        )
        .await;
    }

    // Lists that are not paged take no parameters, under the same rule.
    for path in [
        "/api/v1/acd-groups".to_owned(),
        "/api/v1/connectors/sms".to_owned(),
        format!("/api/v1/connectors/sms/{id}/plugins"),
        "/api/v1/plugins".to_owned(),
        "/api/v1/external-systems".to_owned(),
    ] {
        let url = format!("{path}?limit=0");
        let response = app.admin(Method::GET, &url).send().await.unwrap();
        assert_bad_query(response, &url, "limit").await;
        let (status, _) = call(&app, Method::GET, &path, None).await;
        assert_eq!(status, 200, "{path}");
    }

    // List items are the detail or say that they are summaries.
    let response = app
        .client
        .post(app.url("/api/v1/sms/inbound"))
        .bearer_auth(connector["token"].as_str().unwrap())
        .json(&json!({ "from": CONTACT, "to": RECIPIENT, "text": "hi", "message_id": "m-1" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let page = expect(&app, Method::GET, "/api/v1/messages", None, 200).await;
    let item = &page["items"][0];
    assert_eq!(item["summary"], true, "{item}");
    assert!(item.get("activity").is_none(), "{item}");
    let detail = expect(&app, Method::GET, "/api/v1/messages/1", None, 200).await;
    assert!(
        !detail["activity"].as_array().unwrap().is_empty(),
        "{detail}"
    );
    assert!(detail.get("summary").is_none(), "{detail}");
}

/// Asserts a 422 `invalid_field` naming `field`.
async fn assert_field(response: reqwest::Response, what: &str, field: &str) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{what}: {body}");
    assert_eq!(body["error"]["code"], "invalid_field", "{what}: {body}");
    assert_eq!(body["error"]["field"], field, "{what}: {body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with(field), "{what}: {body}");
    assert!(!message.contains("line 1"), "{what}: {body}");
}

#[tokio::test]
async fn bad_bodies_name_the_field() {
    let app = app_without_worker().await;
    let sales = group(&app, "sales").await;
    let cases = [
        (
            Method::POST,
            "/api/v1/acd-groups",
            json!({ "description": "x" }),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/acd-groups",
            json!({ "name": "a", "colour": 1 }),
            "colour",
        ),
        (
            Method::POST,
            "/api/v1/acd-groups",
            json!({ "name": 7 }),
            "name",
        ),
        (
            Method::PATCH,
            &*format!("/api/v1/acd-groups/{sales}"),
            json!({ "name": [] }),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/connectors/sms",
            json!({ "recipient": RECIPIENT, "routing_type": "direct_acd_group" }),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/connectors/sms",
            json!({ "name": "x", "recipient": RECIPIENT, "routing_type": "direct_acd_group",
                    "acd_group": "sales" }),
            "acd_group",
        ),
        (
            Method::POST,
            "/api/v1/communications",
            json!({ "media": "fax", "body": "x" }),
            "media",
        ),
        (
            Method::PUT,
            "/api/v1/settings/email",
            json!({ "host": "x" }),
            "enabled",
        ),
        (
            Method::PUT,
            "/api/v1/settings/email",
            json!({ "enabled": false, "port": "smtp" }),
            "port",
        ),
        (
            Method::PUT,
            "/api/v1/settings/sms",
            json!({ "enabled": "yes" }),
            "enabled",
        ),
        (
            Method::POST,
            "/api/v1/external-systems",
            json!({ "kind": "third_party" }),
            "name",
        ),
        (
            Method::POST,
            "/api/v1/external-systems",
            json!({ "name": "x", "kind": "robot" }),
            "kind",
        ),
    ];
    for (method, path, body, field) in cases {
        let what = format!("{method} {path} {body}");
        let response = app.admin(method, path).json(&body).send().await.unwrap();
        assert_field(response, &what, field).await;
    }
    let connector = created(
        &app,
        json!({ "name": "direct", "recipient": RECIPIENT, "routing_type": "direct_acd_group",
                "acd_group": sales }),
    )
    .await;
    let id = connector["id"].as_i64().unwrap();
    let response = app
        .admin(Method::PATCH, &format!("/api/v1/connectors/sms/{id}"))
        .json(&json!({ "require_token": "no" }))
        .send()
        .await
        .unwrap();
    assert_field(response, "PATCH connector", "require_token").await;
    // The gateways' APIs, JSON and form.
    let response = app
        .client
        .post(app.url("/api/v1/sms/inbound"))
        .bearer_auth(connector["token"].as_str().unwrap())
        .json(&json!({ "from": CONTACT, "to": RECIPIENT, "text": "hi" }))
        .send()
        .await
        .unwrap();
    assert_field(response, "inbound JSON", "message_id").await;
    // With the token: a post without one is refused before its body is read.
    let response = app
        .client
        .post(app.url("/api/v1/sms/inbound"))
        .bearer_auth(connector["token"].as_str().unwrap())
        .form(&[("From", CONTACT), ("To", RECIPIENT), ("Body", "hi")])
        .send()
        .await
        .unwrap();
    assert_field(response, "inbound form", "MessageSid").await;
}

#[tokio::test]
async fn path_parameters_that_do_not_parse_are_named() {
    let app = app_without_worker().await;
    for (method, path, parameter) in [
        (Method::GET, "/api/v1/queue/null", "number"),
        (Method::DELETE, "/api/v1/queue/x", "number"),
        (Method::POST, "/api/v1/queue/1.5/process", "number"),
        (Method::GET, "/api/v1/acd-groups/abc", "id"),
        (Method::GET, "/api/v1/connectors/sms/abc", "id"),
        (Method::GET, "/api/v1/connectors/sms/abc/plugins", "id"),
        (
            Method::POST,
            "/api/v1/connectors/sms/1/plugins/v2/activate",
            "version",
        ),
        (
            Method::POST,
            "/api/v1/connectors/sms/x/plugins/2/activate",
            "id",
        ),
        (Method::GET, "/api/v1/interactions/null", "id"),
        (Method::GET, "/api/v1/messages/null", "id"),
    ] {
        let response = app.admin(method.clone(), path).send().await.unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 404, "{method} {path}: {body}");
        assert_eq!(body["error"]["field"], parameter, "{method} {path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("`{parameter}`")) && !message.contains("Invalid URL"),
            "{method} {path}: {body}"
        );
    }
}

#[tokio::test]
async fn times_come_as_rfc3339_beside_their_milliseconds() {
    let app = app_without_worker().await;
    let sales = group(&app, "sales").await;
    let shown = expect(
        &app,
        Method::GET,
        &format!("/api/v1/acd-groups/{sales}"),
        None,
        200,
    )
    .await;
    let ms = shown["created_at"].as_i64().unwrap();
    let text = shown["created_at_rfc3339"].as_str().unwrap();
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(
        (parsed.unix_timestamp_nanos() / 1_000_000) as i64,
        ms,
        "{shown}"
    );
    assert!(text.ends_with('Z'), "{text}");

    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": "http://127.0.0.1:9/" }),
        json!({}),
    )
    .await;
    let entry = create(
        &app,
        json!({ "media": "sms", "recipient": CONTACT, "body": "hi" }),
    )
    .await;
    let page = expect(&app, Method::GET, "/api/v1/queue", None, 200).await;
    let number = entry["number"].as_i64().unwrap();
    let detail = expect(
        &app,
        Method::GET,
        &format!("/api/v1/queue/{number}"),
        None,
        200,
    )
    .await;
    for value in [&entry, &page["items"][0], &detail] {
        assert!(value["log"]["created_at_rfc3339"].is_string(), "{value}");
        assert!(value["log"]["updated_at_rfc3339"].is_string(), "{value}");
        assert!(value.get("send_at_rfc3339").is_some(), "{value}");
    }
    let activity = detail["activity"].as_array().unwrap();
    assert!(!activity.is_empty(), "{detail}");
    for line in activity {
        assert!(line["at_rfc3339"].is_string(), "{line}");
    }
    let groups = expect(&app, Method::GET, "/api/v1/acd-groups", None, 200).await;
    assert!(groups[0]["updated_at_rfc3339"].is_string(), "{groups}");
}

#[tokio::test]
async fn another_gateway_plugin_is_not_handed_the_old_ones_secrets() {
    let app = app_without_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": "http://127.0.0.1:9/", "auth_token": GATEWAY_TOKEN }),
        json!({}),
    )
    .await;
    let twilio = super::queue::upload(&app, "twilio-gateway").await;
    let shown = expect(
        &app,
        Method::PUT,
        "/api/v1/settings/sms",
        Some(json!({ "enabled": true, "gateway_plugin": twilio,
                     "settings": { "account_sid": "AC1", "auth_token": "[redacted]" } })),
        200,
    )
    .await;
    assert_eq!(
        shown["settings"],
        json!({ "account_sid": "AC1" }),
        "{shown}"
    );
}

//! The CometD server at `/cometd`: raw Bayeux over long-polling (reqwest) and over
//! WebSocket (tokio-tungstenite) for the protocol's rules and its refusals, then the
//! real clients (the CometD project's JavaScript client in Node over both transports,
//! and aiocometd in Python) handshaking and subscribing as an agent's browser would,
//! then offered an SMS and told of its acceptance, and across a server restart.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use switchyard::config::AdminToken;
use switchyard_tests::cometd::{ClientKind, CometdClient};
use switchyard_tests::metrics::Exposition;
use switchyard_tests::{TestApp, TestDatabase, eventually, spawn_app, spawn_app_with, test_config};
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use switchyard_tests::gateway::RecordingGateway;

use super::inbound::{accepted, token};
use super::queue::enable_sms;

const PASSWORD: &str = "correct horse battery";
const TEST_ADMIN: &str = switchyard_tests::TEST_ADMIN_TOKEN;
const RECIPIENT: &str = "+4930555000";
/// How long a client may take to show a notification: an offering pass runs at least
/// twice a second, and a client reconnecting after a restart backs off for a few.
const WAIT: Duration = Duration::from_secs(30);

/// Creates an agent `login` and logs it in; returns its session token.
async fn agent_token(app: &TestApp, login: &str) -> String {
    let created = app
        .admin(Method::POST, "/api/v1/agents")
        .json(&json!({ "login": login, "name": login, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
    let session = app
        .client
        .post(app.url("/api/v1/agent-sessions"))
        .json(&json!({ "login": login, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(session.status(), 201);
    let session: Value = session.json().await.unwrap();
    session["token"].as_str().unwrap().to_owned()
}

/// POSTs `body` (JSON) to `path` and returns the status and the JSON answer.
async fn post(app: &TestApp, path: &str, body: &Value) -> (u16, Value) {
    post_text(app, path, &body.to_string()).await
}

async fn post_text(app: &TestApp, path: &str, body: &str) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(path))
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path} answered {status} with non-JSON ({e}): {text}"));
    (status, json)
}

fn handshake(token: Option<&str>) -> Value {
    let mut message = json!({
        "channel": "/meta/handshake", "version": "1.0", "id": "1",
        "supportedConnectionTypes": ["long-polling"],
    });
    if let Some(token) = token {
        message["ext"] = json!({ "token": token });
    }
    json!([message])
}

/// Handshakes over long-polling and returns the client id.
async fn client_id(app: &TestApp, token: &str) -> String {
    let (status, reply) = post(app, "/cometd/handshake", &handshake(Some(token))).await;
    assert_eq!(status, 200);
    assert_eq!(reply[0]["successful"], true, "{reply}");
    reply[0]["clientId"].as_str().unwrap().to_owned()
}

fn connect(client: &str, timeout: Option<u64>) -> Value {
    let mut message = json!({
        "channel": "/meta/connect", "clientId": client,
        "connectionType": "long-polling", "id": "2",
    });
    if let Some(timeout) = timeout {
        message["advice"] = json!({ "timeout": timeout });
    }
    json!([message])
}

fn subscribe(client: &str, subscription: Value) -> Value {
    json!([{ "channel": "/meta/subscribe", "clientId": client,
             "subscription": subscription, "id": "3" }])
}

async fn metrics(app: &TestApp) -> Exposition {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Exposition::parse(&text)
}

#[tokio::test]
async fn a_handshake_needs_an_agents_token_in_ext_or_in_the_authorization_header() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;

    let (status, reply) = post(&app, "/cometd", &handshake(None)).await;
    assert_eq!(status, 200);
    let reply = &reply[0];
    assert_eq!(reply["channel"], "/meta/handshake");
    assert_eq!(reply["successful"], false);
    assert_eq!(reply["error"], "403::Unauthorized");
    assert_eq!(reply["advice"]["reconnect"], "none");
    assert_eq!(reply["id"], "1");

    let (_, reply) = post(&app, "/cometd", &handshake(Some("not-a-token"))).await;
    assert_eq!(reply[0]["error"], "403::Unauthorized");
    let (_, reply) = post(&app, "/cometd", &handshake(Some(TEST_ADMIN))).await;
    assert_eq!(
        reply[0]["successful"], false,
        "the admin token is not an agent's"
    );

    let (status, reply) = post(&app, "/cometd/handshake", &handshake(Some(&token))).await;
    assert_eq!(status, 200);
    let reply = &reply[0];
    assert_eq!(reply["successful"], true, "{reply}");
    assert_eq!(reply["version"], "1.0");
    assert_eq!(reply["id"], "1");
    assert!(
        reply["supportedConnectionTypes"]
            .as_array()
            .unwrap()
            .contains(&json!("long-polling")),
        "{reply}"
    );
    let client = reply["clientId"].as_str().unwrap();
    assert!(client.len() >= 32 && client.bytes().all(|b| b.is_ascii_alphanumeric()));
    assert_eq!(reply["advice"]["reconnect"], "retry");
    assert_eq!(reply["advice"]["timeout"], 30000);

    let response = app
        .client
        .post(app.url("/cometd"))
        .bearer_auth(&token)
        .json(&handshake(None))
        .send()
        .await
        .unwrap();
    let reply: Value = response.json().await.unwrap();
    assert_eq!(
        reply[0]["successful"], true,
        "the header serves too: {reply}"
    );

    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.value(
            "switchyard_cometd_sessions",
            &[("transport", "long-polling")]
        ),
        2.0
    );
    assert_eq!(
        exposition.value(
            "switchyard_cometd_errors_total",
            &[("kind", "unauthorized")]
        ),
        3.0
    );
}

#[tokio::test]
async fn the_message_type_suffixes_of_the_javascript_client_are_served() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;
    let client = client_id(&app, &token).await;
    let (status, reply) = post(
        &app,
        "/cometd/",
        &subscribe(&client, json!("/me/interactions")),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(reply[0]["successful"], true, "{reply}");
    assert_eq!(reply[0]["subscription"], "/me/interactions");
    assert_eq!(reply[0]["id"], "3");
    let (_, reply) = post(
        &app,
        "/cometd/subscribe",
        &subscribe(&client, json!("/me/interactions")),
    )
    .await;
    assert_eq!(
        reply[0]["successful"], true,
        "subscribing again is harmless: {reply}"
    );
    let (_, reply) = post(&app, "/cometd/connect", &connect(&client, None)).await;
    assert_eq!(
        reply[0]["successful"], true,
        "the first connect answers at once"
    );
    assert_eq!(reply[0]["advice"]["reconnect"], "retry");
    let started = Instant::now();
    let (_, reply) = post(&app, "/cometd/connect", &connect(&client, Some(500))).await;
    let held = started.elapsed();
    assert_eq!(reply[0]["successful"], true, "{reply}");
    assert!(
        held >= Duration::from_millis(450) && held < Duration::from_secs(5),
        "held for the client's timeout, not {held:?}"
    );
    let (_, reply) = post(
        &app,
        "/cometd/disconnect",
        &json!([{ "channel": "/meta/disconnect", "clientId": client, "id": "4" }]),
    )
    .await;
    assert_eq!(reply[0]["successful"], true);
    let (_, reply) = post(&app, "/cometd/connect", &connect(&client, None)).await;
    assert_eq!(
        reply[0]["error"], "402::Unknown client",
        "gone once disconnected"
    );
}

#[tokio::test]
async fn an_unknown_client_id_is_told_to_handshake_again() {
    let app = spawn_app().await;
    for path in ["/cometd", "/cometd/connect"] {
        let (status, reply) = post(&app, path, &connect("0123456789abcdef", None)).await;
        assert_eq!(status, 200);
        let reply = &reply[0];
        assert_eq!(reply["successful"], false);
        assert_eq!(reply["error"], "402::Unknown client");
        assert_eq!(
            reply["advice"],
            json!({ "reconnect": "handshake", "interval": 0 })
        );
        assert_eq!(reply["id"], "2");
    }
    let (_, reply) = post(
        &app,
        "/cometd",
        &subscribe("0123456789abcdef", json!("/me/interactions")),
    )
    .await;
    assert_eq!(reply[0]["error"], "402::Unknown client");
}

#[tokio::test]
async fn only_the_agents_own_channel_may_be_subscribed_and_nothing_published() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;
    let client = client_id(&app, &token).await;
    for channel in ["/agents/2", "/**", "/me/other", "/me/*"] {
        let (_, reply) = post(&app, "/cometd", &subscribe(&client, json!(channel))).await;
        assert_eq!(reply[0]["successful"], false, "{channel}: {reply}");
        assert_eq!(
            reply[0]["error"],
            format!("403:{channel}:subscription denied")
        );
        assert_eq!(reply[0]["subscription"], channel);
    }
    let (_, reply) = post(
        &app,
        "/cometd",
        &subscribe(&client, json!(["/me/interactions", "/agents/1"])),
    )
    .await;
    assert_eq!(reply[0]["error"], "403:/agents/1:subscription denied");
    let (_, reply) = post(
        &app,
        "/cometd",
        &json!([{ "channel": "/me/interactions", "clientId": client, "data": { "state": "Accepted" } }]),
    )
    .await;
    assert_eq!(reply[0]["successful"], false);
    assert_eq!(reply[0]["error"], "403:/me/interactions:publish denied");
    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.value(
            "switchyard_cometd_errors_total",
            &[("kind", "subscription_denied")]
        ),
        5.0
    );
}

#[tokio::test]
async fn a_logged_out_agents_handshake_is_refused_and_its_client_ended() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;
    let client = client_id(&app, &token).await;
    post(&app, "/cometd", &connect(&client, None)).await;
    let held = tokio::spawn({
        let http = app.client.clone();
        let url = app.url("/cometd/connect");
        let body = connect(&client, None);
        async move {
            let started = Instant::now();
            let reply: Value = http
                .post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (reply, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let logout = app
        .client
        .delete(app.url("/api/v1/agent-sessions/current"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    let (reply, took) = tokio::time::timeout(Duration::from_secs(15), held)
        .await
        .expect("the held connect ends within seconds of the logout")
        .unwrap();
    assert!(took < Duration::from_secs(12), "{took:?}");
    assert_eq!(reply[0]["successful"], false, "{reply}");
    assert_eq!(reply[0]["error"], "403::Unauthorized");
    assert_eq!(reply[0]["advice"]["reconnect"], "none");

    let (_, reply) = post(&app, "/cometd", &handshake(Some(&token))).await;
    assert_eq!(reply[0]["successful"], false);
    assert_eq!(reply[0]["error"], "403::Unauthorized");
}

#[tokio::test]
async fn malformed_requests_get_clear_errors_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;
    for (body, problem) in [
        ("{", "not JSON"),
        ("3", "JSON object"),
        ("[]", "no message"),
        ("[1]", "not a JSON object"),
        (r#"[{"id":"1"}]"#, "channel"),
        (r#"[{"channel":7}]"#, "channel"),
    ] {
        let (status, reply) = post_text(&app, "/cometd", body).await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(reply["error"]["code"], "malformed_bayeux");
        let message = reply["error"]["message"].as_str().unwrap();
        assert!(message.contains(problem), "{body}: {message}");
    }
    let many = Value::Array(vec![json!({ "channel": "/meta/connect" }); 100]);
    let (status, reply) = post(&app, "/cometd", &many).await;
    assert_eq!(status, 400);
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("too many")
    );
    let huge = format!(r#"[{{"channel":"/x","data":"{}"}}]"#, "x".repeat(200_000));
    let (status, reply) = post_text(&app, "/cometd", &huge).await;
    assert_eq!(status, 413, "{reply}");

    for (body, field) in [
        (json!([{ "channel": "/meta/connect" }]), "clientId"),
        (
            json!([{ "channel": "/meta/connect", "clientId": 5 }]),
            "clientId",
        ),
        (
            json!([{ "channel": "/meta/handshake", "id": "9" }]),
            "supportedConnectionTypes",
        ),
        (
            json!([{ "channel": "/meta/handshake", "supportedConnectionTypes": ["long-polling"], "ext": "x" }]),
            "ext",
        ),
        (
            json!([{ "channel": "/meta/subscribe", "clientId": "c", "subscription": 4 }]),
            "subscription",
        ),
        (
            json!([{ "channel": "/meta/nonsense", "clientId": "c" }]),
            "/meta/nonsense",
        ),
    ] {
        let (status, reply) = post(&app, "/cometd", &body).await;
        assert_eq!(status, 200, "{body}: {reply}");
        assert_eq!(reply[0]["successful"], false, "{body}: {reply}");
        let error = reply[0]["error"].as_str().unwrap();
        assert!(
            error.starts_with("400::") && error.contains(field),
            "{body}: {error}"
        );
        assert_eq!(reply[0]["channel"], body[0]["channel"]);
    }
    let (_, reply) = post(
        &app,
        "/cometd",
        &json!([{ "channel": "/meta/handshake", "supportedConnectionTypes": ["callback-polling"],
                  "ext": { "token": token } }]),
    )
    .await;
    assert_eq!(
        reply[0]["successful"], false,
        "no transport in common: {reply}"
    );

    // A form with a `message` field is Bayeux too.
    let form = app
        .client
        .post(app.url("/cometd"))
        .form(&[("message", handshake(Some(&token)).to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let reply: Value = form.json().await.unwrap();
    assert_eq!(reply[0]["successful"], true, "{reply}");

    let client = client_id(&app, &token).await;
    let (_, reply) = post(&app, "/cometd", &connect(&client, None)).await;
    assert_eq!(reply[0]["successful"], true, "still serving");
    let exposition = metrics(&app).await;
    assert!(
        exposition.value(
            "switchyard_cometd_errors_total",
            &[("kind", "malformed_body")]
        ) >= 8.0
    );
    assert!(
        exposition.value(
            "switchyard_cometd_errors_total",
            &[("kind", "invalid_message")]
        ) >= 6.0
    );
}

/// A raw WebSocket to `/cometd`, sending and reading arrays of messages.
struct Socket {
    stream: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Socket {
    async fn open(app: &TestApp, bearer: Option<&str>) -> Self {
        let url = app.url("/cometd").replacen("http://", "ws://", 1);
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = bearer {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        let (stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
        Self { stream }
    }

    async fn send(&mut self, text: String) {
        self.stream.send(Frame::text(text)).await.unwrap();
    }

    /// The next array of replies, within `within`.
    async fn next(&mut self, within: Duration) -> Value {
        loop {
            let frame = tokio::time::timeout(within, self.stream.next())
                .await
                .expect("a reply in time")
                .expect("the socket is open")
                .unwrap();
            if let Frame::Text(text) = frame {
                return serde_json::from_str(&text).unwrap();
            }
        }
    }
}

#[tokio::test]
async fn websocket_speaks_bayeux_with_the_token_from_the_upgrade_request() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;
    let mut socket = Socket::open(&app, Some(&token)).await;
    socket
        .send(
            json!([{ "channel": "/meta/handshake", "version": "1.0", "id": "1",
                     "supportedConnectionTypes": ["websocket"] }])
            .to_string(),
        )
        .await;
    let reply = socket.next(Duration::from_secs(5)).await;
    assert_eq!(reply[0]["successful"], true, "{reply}");
    let client = reply[0]["clientId"].as_str().unwrap().to_owned();

    socket.send(connect(&client, Some(0)).to_string()).await;
    let reply = socket.next(Duration::from_secs(5)).await;
    assert_eq!(reply[0]["channel"], "/meta/connect");
    assert_eq!(reply[0]["successful"], true);

    // A held connect does not hold up what comes after it on the socket.
    socket.send(connect(&client, None).to_string()).await;
    socket
        .send(subscribe(&client, json!("/agents/1")).to_string())
        .await;
    let reply = socket.next(Duration::from_secs(5)).await;
    assert_eq!(reply[0]["error"], "403:/agents/1:subscription denied");
    socket
        .send(subscribe(&client, json!("/me/interactions")).to_string())
        .await;
    let reply = socket.next(Duration::from_secs(5)).await;
    assert_eq!(reply[0]["channel"], "/meta/subscribe");
    assert_eq!(reply[0]["successful"], true, "{reply}");

    socket.send("not json".into()).await;
    let reply = socket.next(Duration::from_secs(5)).await;
    assert_eq!(reply[0]["successful"], false);
    assert!(
        reply[0]["error"].as_str().unwrap().starts_with("400::"),
        "{reply}"
    );

    socket
        .send(json!([{ "channel": "/meta/disconnect", "clientId": client, "id": "9" }]).to_string())
        .await;
    // The held connect ends with the session; the disconnect is answered too.
    let mut channels = Vec::new();
    for _ in 0..2 {
        let reply = socket.next(Duration::from_secs(5)).await;
        channels.push(reply[0]["channel"].as_str().unwrap().to_owned());
    }
    channels.sort();
    assert_eq!(channels, ["/meta/connect", "/meta/disconnect"]);

    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.value("switchyard_cometd_sessions", &[("transport", "websocket")]),
        0.0
    );
}

#[tokio::test]
async fn a_websocket_handshake_without_a_token_is_refused() {
    let app = spawn_app().await;
    let mut socket = Socket::open(&app, None).await;
    socket
        .send(
            json!([{ "channel": "/meta/handshake", "supportedConnectionTypes": ["websocket"] }])
                .to_string(),
        )
        .await;
    let reply = socket.next(Duration::from_secs(5)).await;
    assert_eq!(reply[0]["error"], "403::Unauthorized");
    assert_eq!(reply[0]["advice"]["reconnect"], "none");
}

/// Starts `kind` as agent `login` and waits for its successful handshake and
/// subscription to `/me/interactions`.
pub(super) async fn subscribed_client(
    app: &TestApp,
    kind: ClientKind,
    token: &str,
) -> CometdClient {
    let mut client = CometdClient::start(kind, &app.url("/cometd"), token);
    let handshake = client
        .wait_for("handshake", Duration::from_secs(20), |line| {
            line["event"] == "handshake"
        })
        .await;
    assert_eq!(handshake["successful"], true, "{handshake}");
    let subscribe = client
        .wait_for("subscribe", Duration::from_secs(20), |line| {
            line["event"] == "subscribe"
        })
        .await;
    assert_eq!(subscribe["successful"], true, "{subscribe}");
    assert_eq!(subscribe["subscription"], "/me/interactions");
    client
}

#[tokio::test]
async fn the_javascript_client_subscribes_over_long_polling() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;
    let mut client = subscribed_client(&app, ClientKind::NodeLongPolling, &token).await;
    let handshake = client
        .wait_for("handshake", Duration::ZERO, |l| l["event"] == "handshake")
        .await;
    assert_eq!(handshake["transport"], "long-polling");
    // Connected and held: no failed connect, and the server counts it.
    let lines = client.lines_after(Duration::from_millis(1500)).await;
    assert!(!lines.iter().any(|l| l["event"] == "connect"), "{lines:#?}");
    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.value(
            "switchyard_cometd_sessions",
            &[("transport", "long-polling")]
        ),
        1.0
    );
    client.kill().await;
}

#[tokio::test]
async fn the_javascript_client_subscribes_over_websocket() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;
    let mut client = subscribed_client(&app, ClientKind::NodeWebSocket, &token).await;
    let handshake = client
        .wait_for("handshake", Duration::ZERO, |l| l["event"] == "handshake")
        .await;
    assert_eq!(handshake["transport"], "websocket");
    let lines = client.lines_after(Duration::from_millis(1500)).await;
    assert!(!lines.iter().any(|l| l["event"] == "connect"), "{lines:#?}");
    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.value("switchyard_cometd_sessions", &[("transport", "websocket")]),
        1.0
    );
    client.kill().await;
}

#[tokio::test]
async fn the_javascript_client_with_a_bad_token_is_refused_and_stops() {
    let app = spawn_app().await;
    let mut client = CometdClient::start(
        ClientKind::NodeLongPolling,
        &app.url("/cometd"),
        "not-a-token",
    );
    let handshake = client
        .wait_for("handshake", Duration::from_secs(20), |l| {
            l["event"] == "handshake"
        })
        .await;
    assert_eq!(handshake["successful"], false);
    assert_eq!(handshake["error"], "403::Unauthorized");
    let lines = client.lines_after(Duration::from_secs(2)).await;
    let handshakes = lines.iter().filter(|l| l["event"] == "handshake").count();
    assert_eq!(handshakes, 1, "advice none: no retry: {lines:#?}");
    client.kill().await;
}

#[tokio::test]
async fn aiocometd_handshakes_over_long_polling_and_moves_to_websocket() {
    let app = spawn_app().await;
    let token = agent_token(&app, "ann").await;
    let mut client = subscribed_client(&app, ClientKind::Python, &token).await;
    let handshake = client
        .wait_for("handshake", Duration::ZERO, |l| l["event"] == "handshake")
        .await;
    assert_eq!(handshake["transport"], "websocket");
    let exposition = metrics(&app).await;
    assert_eq!(
        exposition.value("switchyard_cometd_sessions", &[("transport", "websocket")]),
        1.0,
        "the session moved with its client id"
    );
    client.kill().await;
}

/// A group and a direct SMS connector to it; returns (group id, connector token).
async fn sms_line(app: &TestApp) -> (i64, String) {
    let group = app
        .admin(Method::POST, "/api/v1/acd-groups")
        .json(&json!({ "name": "support" }))
        .send()
        .await
        .unwrap();
    assert_eq!(group.status(), 201);
    let group = group.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let connector = app
        .admin(Method::POST, "/api/v1/connectors/sms")
        .json(
            &json!({ "name": "line", "recipient": RECIPIENT, "require_token": true,
                       "routing_type": "direct_acd_group", "acd_group": group }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(connector.status(), 201);
    let connector: Value = connector.json().await.unwrap();
    (group, token(&connector))
}

/// Creates an agent in `group`, logs them in; returns their token.
async fn agent_in(app: &TestApp, login: &str, group: i64) -> String {
    let created = app
        .admin(Method::POST, "/api/v1/agents")
        .json(
            &json!({ "login": login, "name": login, "password": PASSWORD, "groups": [group],
                       "capacity": { "sms": 5 } }),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let session: Value = app
        .client
        .post(app.url("/api/v1/agent-sessions"))
        .json(&json!({ "login": login, "password": PASSWORD }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    session["token"].as_str().unwrap().to_owned()
}

async fn set_ready_on_sms(app: &TestApp, token: &str) {
    let response = app
        .client
        .put(app.url("/api/v1/me/channels/sms"))
        .bearer_auth(token)
        .json(&json!({ "state": "ready" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn post_sms(app: &TestApp, connector: &str, text: &str, id: &str) {
    accepted(
        app,
        connector,
        &json!({ "from": "+4915112345678", "to": RECIPIENT, "text": text, "message_id": id }),
    )
    .await;
}

/// Waits for the client's notification of `state` (about the SMS whose text is
/// `text`, if given) and returns its data.
async fn notified(client: &mut CometdClient, state: &str, text: Option<&str>) -> Value {
    let line = client
        .wait_for(&format!("a {state} notification"), WAIT, |line| {
            line["event"] == "message"
                && line["data"]["state"] == state
                && text.is_none_or(|text| line["data"]["sms_object"]["text"] == text)
        })
        .await;
    assert_eq!(line["channel"], "/me/interactions");
    line["data"].clone()
}

pub(super) async fn accept(app: &TestApp, token: &str, interaction: &str) {
    let response = app
        .client
        .post(app.url(&format!("/api/v1/me/interactions/{interaction}")))
        .bearer_auth(token)
        .json(&json!({ "operationName": "Accept" }))
        .send()
        .await
        .unwrap();
    let status = response.status();
    assert_eq!(status, 200, "{}", response.text().await.unwrap());
}

/// The states of the notifications `client` received, with their interaction ids.
fn received(client: &CometdClient) -> Vec<(String, String)> {
    client
        .messages()
        .iter()
        .map(|data| {
            (
                data["id"].as_str().unwrap_or_default().to_owned(),
                data["state"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// An agent's browser (`kind`) is offered an SMS and told when they accepted it.
async fn offer_and_acceptance_reach(kind: ClientKind) {
    let app = spawn_app().await;
    let (group, connector) = sms_line(&app).await;
    let token = agent_in(&app, "ann", group).await;
    let mut client = subscribed_client(&app, kind, &token).await;
    set_ready_on_sms(&app, &token).await;
    post_sms(&app, &connector, "Where is my parcel?", "m-1").await;

    let invited = notified(&mut client, "Invited", Some("Where is my parcel?")).await;
    assert_eq!(invited["messageTypeName"], "InteractionStateMessage");
    assert_eq!(invited["channel"], "sms");
    assert_eq!(invited["capabilities"], json!(["Accept", "Reject"]));
    let interaction = invited["id"].as_str().unwrap().to_owned();
    accept(&app, &token, &interaction).await;
    let accepted = notified(&mut client, "Accepted", None).await;
    assert_eq!(accepted["id"], interaction.as_str());

    client.lines_after(Duration::from_millis(500)).await;
    assert_eq!(
        received(&client),
        [
            (interaction.clone(), "Invited".to_owned()),
            (interaction, "Accepted".to_owned())
        ],
        "each once, in order"
    );
    assert!(
        metrics(&app)
            .await
            .value("switchyard_cometd_messages_delivered_total", &[])
            >= 2.0
    );
    client.kill().await;
}

#[tokio::test]
async fn the_javascript_client_over_long_polling_is_offered_an_sms_and_told_of_its_acceptance() {
    offer_and_acceptance_reach(ClientKind::NodeLongPolling).await;
}

#[tokio::test]
async fn the_javascript_client_over_websocket_is_offered_an_sms_and_told_of_its_acceptance() {
    offer_and_acceptance_reach(ClientKind::NodeWebSocket).await;
}

#[tokio::test]
async fn aiocometd_is_offered_an_sms_and_told_of_its_acceptance() {
    offer_and_acceptance_reach(ClientKind::Python).await;
}

/// The server restarts under a connected client; what happened meanwhile arrives
/// once, and nothing it had already is repeated.
async fn a_restart_loses_and_repeats_nothing(kind: ClientKind) {
    let db = TestDatabase::new().await;
    let mut config = test_config(&db);
    config.admin_token = Some(AdminToken::parse(TEST_ADMIN).unwrap());
    let app = spawn_app_with(config.clone(), db).await;
    let (group, connector) = sms_line(&app).await;
    let token = agent_in(&app, "ann", group).await;
    let mut client = subscribed_client(&app, kind, &token).await;
    set_ready_on_sms(&app, &token).await;
    post_sms(&app, &connector, "first", "m-1").await;
    let first = notified(&mut client, "Invited", Some("first")).await;
    let first = first["id"].as_str().unwrap().to_owned();
    accept(&app, &token, &first).await;
    notified(&mut client, "Accepted", None).await;

    // Stop the server and start another on the same address and database. The
    // client's connects fail meanwhile; the new server does not know it (402), so it
    // handshakes and subscribes again, and starts after what it acknowledged.
    let address = app.address.clone();
    let db = app.stop().await;
    config.listen = address.trim_start_matches("http://").parse().unwrap();
    let app = spawn_app_with(config, db).await;
    assert_eq!(app.address, address);
    post_sms(&app, &connector, "second", "m-2").await;
    let second = notified(&mut client, "Invited", Some("second")).await;
    let second = second["id"].as_str().unwrap().to_owned();
    let handshakes = client
        .lines_after(Duration::from_secs(1))
        .await
        .iter()
        .filter(|l| l["event"] == "handshake" && l["successful"] == true)
        .count();
    assert_eq!(handshakes, 2, "handshook again after the restart");
    assert_eq!(
        received(&client),
        [
            (first.clone(), "Invited".to_owned()),
            (first, "Accepted".to_owned()),
            (second, "Invited".to_owned()),
        ],
        "nothing lost, nothing twice"
    );
    client.kill().await;
}

#[tokio::test]
async fn a_javascript_client_over_long_polling_misses_nothing_and_gets_nothing_twice_across_a_restart()
 {
    a_restart_loses_and_repeats_nothing(ClientKind::NodeLongPolling).await;
}

#[tokio::test]
async fn a_javascript_client_over_websocket_misses_nothing_and_gets_nothing_twice_across_a_restart()
{
    a_restart_loses_and_repeats_nothing(ClientKind::NodeWebSocket).await;
}

async fn sms_state(app: &TestApp, token: &str) -> String {
    let me: Value = app
        .client
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    me["channels"]["sms"]["state"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_connected_client_keeps_its_agent_present_and_a_closed_one_does_not() {
    let db = TestDatabase::new().await;
    let mut config = test_config(&db);
    config.admin_token = Some(AdminToken::parse(TEST_ADMIN).unwrap());
    // Ready agents without a CometD connection for 7 s are made not ready; a held
    // connect marks its agent as seen every 5 s at most.
    config.agent_presence = Some(Duration::from_secs(7));
    let app = spawn_app_with(config, db).await;
    let (group, _) = sms_line(&app).await;
    let token = agent_in(&app, "ann", group).await;
    let client = subscribed_client(&app, ClientKind::NodeLongPolling, &token).await;
    set_ready_on_sms(&app, &token).await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    assert_eq!(
        sms_state(&app, &token).await,
        "ready",
        "seen while connected"
    );

    client.kill().await;
    let started = Instant::now();
    eventually(
        "the agent made not ready",
        Duration::from_secs(20),
        || async { (sms_state(&app, &token).await == "not_ready").then_some(()) },
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

/// The whole of an agent's SMS in the real JavaScript client: offered, accepted, a
/// reply drafted and sent, the recording gateway receiving its text, finished; each
/// step pushed to the client once, in order.
#[tokio::test]
async fn the_javascript_client_follows_an_sms_from_offer_to_the_reply_the_gateway_receives() {
    let gateway = RecordingGateway::start().await;
    let app = spawn_app().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;
    let (group, connector) = sms_line(&app).await;
    let token = agent_in(&app, "ann", group).await;
    let mut client = subscribed_client(&app, ClientKind::NodeWebSocket, &token).await;
    set_ready_on_sms(&app, &token).await;
    post_sms(&app, &connector, "Can you call me?", "d-1").await;
    let invited = notified(&mut client, "Invited", Some("Can you call me?")).await;
    let id = invited["id"].as_str().unwrap().to_owned();
    let operate = |body: Value| {
        let (app, token, id) = (&app, token.clone(), id.clone());
        async move {
            let response = app
                .client
                .post(app.url(&format!("/api/v1/me/interactions/{id}")))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = response.status();
            assert_eq!(status, 200, "{body}: {}", response.text().await.unwrap());
        }
    };
    operate(json!({ "operationName": "Accept" })).await;
    operate(json!({ "operationName": "Reply" })).await;
    let draft = notified(&mut client, "ReplyCreated", None).await;
    assert_eq!(draft["interactionSubType"], "OutboundReply");
    operate(json!({ "operationName": "Send", "text": "Calling you in five minutes." })).await;
    let sent = eventually("the gateway got the reply", WAIT, || async {
        gateway.requests().into_iter().find(|r| {
            r.json()
                .to_string()
                .contains("Calling you in five minutes.")
        })
    })
    .await;
    assert!(
        sent.json().to_string().contains("+4915112345678"),
        "{:?}",
        sent.json()
    );
    operate(json!({ "operationName": "StopProcessing" })).await;
    notified(&mut client, "Completed", None).await;
    client.lines_after(Duration::from_millis(300)).await;
    let states: Vec<String> = received(&client).into_iter().map(|(_, s)| s).collect();
    assert_eq!(
        states,
        [
            "Invited",
            "Accepted",
            "ReplyCreated",
            "Accepted",
            "Completed"
        ],
        "each once, in order"
    );
    client.kill().await;
}

/// Two nodes share PostgreSQL: an agent whose client is connected to one node is told
/// at once of an SMS posted to, routed and offered on the other (LISTEN/NOTIFY), well
/// before the held connect's own re-read of the feed would find it. SQLite serves one
/// node, so there is nothing to test there.
#[tokio::test]
async fn a_client_on_one_node_is_told_of_what_another_node_offers() {
    if !switchyard_tests::test_backend_is_postgres() {
        return;
    }
    let db = TestDatabase::new().await;
    let mut config = test_config(&db);
    config.admin_token = Some(AdminToken::parse(TEST_ADMIN).unwrap());
    let first = spawn_app_with(config.clone(), db).await;
    let second = switchyard::startup::Application::build_with_runtime(
        config,
        switchyard_tests::shared_server_runtime(),
    )
    .await
    .unwrap();
    let second_url = format!("http://{}", second.local_addr());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(second.run_until(async move {
        let _ = stopped.await;
    }));

    let (group, connector) = sms_line(&first).await;
    let token = agent_in(&first, "ann", group).await;
    let mut client = CometdClient::start(
        ClientKind::NodeWebSocket,
        &format!("{second_url}/cometd"),
        &token,
    );
    client
        .wait_for("subscribe", Duration::from_secs(20), |l| {
            l["event"] == "subscribe" && l["successful"] == true
        })
        .await;
    set_ready_on_sms(&first, &token).await;
    // Without the notification the held connect finds it within its 2.5 s re-read:
    // four in a row under a second would then be luck (about 1 in 40).
    for n in 0..4 {
        let text = format!("across nodes {n}");
        let posted = Instant::now();
        post_sms(&first, &connector, &text, &format!("n-{n}")).await;
        let invited = notified(&mut client, "Invited", Some(&text)).await;
        let took = posted.elapsed();
        assert!(
            took < Duration::from_millis(1_000),
            "{text} reached the other node's client after {took:?}"
        );
        accept(&first, &token, invited["id"].as_str().unwrap()).await;
    }
    client.kill().await;
    let _ = stop.send(());
    served.await.unwrap().unwrap();
}

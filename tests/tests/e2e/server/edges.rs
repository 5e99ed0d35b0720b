//! The HTTP edges an outside tester found: clients that never finish a request
//! (slowloris) are cut off while CometD's held connects and WebSockets live on; a
//! token-guarded route refuses a caller without its token before reading the body; a
//! post to a connector deleted meanwhile, text that is not UTF-8 and `received_at` in
//! seconds are 4xx naming the problem; the `Bearer` scheme is read in any case.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::{TestApp, TestDatabase, spawn_app, spawn_app_with, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as Frame;

use super::assert_error;
use super::connectors::{created, group};
use super::inbound::{post_json, routed, token};

const RECIPIENT: &str = "+4930123456";
const CUSTOMER: &str = "+4915123456789";
const PASSWORD: &str = "correct horse battery";

/// A server whose clients get one second for their headers and for each pause in a
/// body, and whose CometD connects are held for three.
async fn impatient_app() -> TestApp {
    let db = TestDatabase::new().await;
    let mut config = test_config(&db);
    config.admin_token =
        Some(switchyard::config::AdminToken::parse(switchyard_tests::TEST_ADMIN_TOKEN).unwrap());
    config.header_timeout = Duration::from_secs(1);
    config.body_timeout = Duration::from_secs(1);
    config.cometd_timeout = Duration::from_secs(3);
    spawn_app_with(config, db).await
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Writes `bytes` on a fresh connection, then reads until the server closes it, for at
/// most `within`. Returns what the server answered and when it closed, or `None` if the
/// connection was still open after `within`.
async fn answer_until_closed(
    app: &TestApp,
    bytes: &[u8],
    within: Duration,
) -> Option<(String, Duration)> {
    let mut stream = connect(app).await;
    let start = Instant::now();
    stream.write_all(bytes).await.unwrap();
    let mut answer = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(within, read).await.ok()?;
    Some((
        String::from_utf8_lossy(&answer).into_owned(),
        start.elapsed(),
    ))
}

/// Writes `bytes` on a fresh connection and reads one response, for at most `within`:
/// its status, content type and body. The body need not be sent in full, so this tells
/// whether the server answered before reading it.
async fn raw_response(app: &TestApp, bytes: &[u8], within: Duration) -> (u16, String, String) {
    let mut stream = connect(app).await;
    stream.write_all(bytes).await.unwrap();
    let read = async {
        let mut answer = Vec::new();
        let mut buffer = [0u8; 4096];
        loop {
            let n = stream.read(&mut buffer).await.unwrap_or(0);
            answer.extend_from_slice(&buffer[..n]);
            let text = String::from_utf8_lossy(&answer).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = header(head, "content-length").map_or(0, |v| v.parse().unwrap());
                if body.len() >= length || n == 0 {
                    return (head.to_owned(), body.to_owned());
                }
            } else {
                assert!(n > 0, "the connection closed without an answer: {text}");
            }
        }
    };
    let (head, body) = tokio::time::timeout(within, read)
        .await
        .unwrap_or_else(|_| panic!("no answer within {within:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let content_type = header(&head, "content-type").unwrap_or_default();
    (status, content_type, body)
}

fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.eq_ignore_ascii_case(name)
            .then(|| value.trim().to_owned())
    })
}

#[tokio::test]
async fn a_request_whose_headers_never_end_is_closed_after_the_header_timeout() {
    let app = impatient_app().await;
    let (_, after) = answer_until_closed(
        &app,
        b"POST /api/v1/sms/inbound HTTP/1.1\r\nHost: localhost\r\nContent-Ty",
        Duration::from_secs(10),
    )
    .await
    .expect("the server closes a connection whose headers never end");
    assert!(after < Duration::from_secs(5), "closed after {after:?}");

    // Nothing at all after connecting is no better.
    let (_, after) = answer_until_closed(&app, b"", Duration::from_secs(10))
        .await
        .expect("the server closes a silent connection");
    assert!(after < Duration::from_secs(5), "closed after {after:?}");

    let health = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn a_body_that_stops_halfway_is_answered_408_and_closed() {
    let app = impatient_app().await;
    let connector = token(&direct_connector(&app).await);
    let half = r#"{"name": "bill"#;
    for (path, token) in [
        ("/api/v1/acd-groups", switchyard_tests::TEST_ADMIN_TOKEN),
        ("/api/v1/sms/inbound", connector.as_str()),
    ] {
        let mut request = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\nAuthorization: Bearer {token}\r\n"
        );
        request.push_str("\r\n");
        request.push_str(half);
        let (answer, after) =
            answer_until_closed(&app, request.as_bytes(), Duration::from_secs(10))
                .await
                .unwrap_or_else(|| panic!("{path}: the server closes a stalled body"));
        assert!(
            after < Duration::from_secs(5),
            "{path}: closed after {after:?}"
        );
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("\"request_timeout\""), "{path}: {answer}");
    }
    let groups: Vec<Value> = app
        .admin(Method::GET, "/api/v1/acd-groups")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "only the connector's group: {groups:?}");
}

#[tokio::test]
async fn a_body_that_trickles_a_byte_a_second_is_answered_408_and_closed() {
    // Slowloris on the body: never a pause as long as the body timeout (1 s here), but
    // far too slow to ever finish. The server cuts it off soon after the timeout.
    let app = impatient_app().await;
    let connector = token(&direct_connector(&app).await);
    for (path, token) in [
        ("/api/v1/acd-groups", switchyard_tests::TEST_ADMIN_TOKEN),
        ("/api/v1/sms/inbound", connector.as_str()),
    ] {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: 100\r\nAuthorization: Bearer {token}\r\n\r\n"
        );
        let mut stream = connect(&app).await;
        let start = Instant::now();
        stream.write_all(head.as_bytes()).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let trickle = tokio::spawn(async move {
            for byte in br#"{"name": "a name that never ends"#.iter().cycle().take(60) {
                if writer.write_all(&[*byte]).await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(600)).await;
            }
        });
        let mut answer = Vec::new();
        let read = async {
            let mut buffer = [0u8; 4096];
            loop {
                match reader.read(&mut buffer).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => answer.extend_from_slice(&buffer[..n]),
                }
            }
        };
        let closed = tokio::time::timeout(Duration::from_secs(15), read).await;
        trickle.abort();
        assert!(
            closed.is_ok(),
            "{path}: the trickling connection was left open"
        );
        let after = start.elapsed();
        assert!(
            after < Duration::from_secs(8),
            "{path}: closed after {after:?}"
        );
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("\"request_timeout\""), "{path}: {answer}");
    }
    let groups: Vec<Value> = app
        .admin(Method::GET, "/api/v1/acd-groups")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(groups.len(), 1, "only the connector's group: {groups:?}");
}

/// Creates an agent `login` and logs it in; returns its session token.
async fn agent_token(app: &TestApp, login: &str) -> String {
    let created = app
        .admin(Method::POST, "/api/v1/agents")
        .json(&json!({ "login": login, "name": login, "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201, "{}", created.text().await.unwrap());
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

/// A handshake over long-polling; returns the client id.
async fn handshake(app: &TestApp, token: &str) -> String {
    let reply: Value = app
        .client
        .post(app.url("/cometd"))
        .json(
            &json!([{ "channel": "/meta/handshake", "version": "1.0", "id": "1",
                        "supportedConnectionTypes": ["long-polling"], "ext": { "token": token } }]),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reply[0]["successful"], true, "{reply}");
    reply[0]["clientId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn held_cometd_connects_and_websockets_outlive_the_request_timeouts() {
    let app = impatient_app().await;
    let token = agent_token(&app, "ann").await;

    // A long-poll connect held for 2.5 s, past both the header and the body timeout
    // (1 s): the response takes its time, not the request.
    let client = handshake(&app, &token).await;
    let connect = |advice: Option<i64>| {
        let mut message = json!({ "channel": "/meta/connect", "clientId": client,
                                  "connectionType": "long-polling", "id": "2" });
        if let Some(timeout) = advice {
            message["advice"] = json!({ "timeout": timeout });
        }
        json!([message])
    };
    let first: Value = app
        .client
        .post(app.url("/cometd"))
        .json(&connect(None))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(first[0]["successful"], true, "{first}");
    let start = Instant::now();
    let held = app
        .client
        .post(app.url("/cometd"))
        .json(&connect(Some(2_500)))
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    let held: Value = held.json().await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(2_400),
        "held for {:?}: {held}",
        start.elapsed()
    );
    assert_eq!(held[0]["successful"], true, "{held}");

    // An upgraded WebSocket is no longer HTTP: quiet for longer than either timeout,
    // it still answers.
    let url = app.url("/cometd").replacen("http://", "ws://", 1);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    socket
        .send(Frame::text(
            json!([{ "channel": "/meta/handshake", "version": "1.0", "id": "1",
                     "supportedConnectionTypes": ["websocket"], "ext": { "token": token } }])
            .to_string(),
        ))
        .await
        .unwrap();
    let reply = loop {
        let frame = tokio::time::timeout(Duration::from_secs(5), socket.next())
            .await
            .expect("a reply in time")
            .expect("the socket is open")
            .unwrap();
        if let Frame::Text(text) = frame {
            break serde_json::from_str::<Value>(&text).unwrap();
        }
    };
    assert_eq!(reply[0]["successful"], true, "{reply}");
}

/// An external system `billing` for third parties; returns its token.
async fn third_party(app: &TestApp) -> String {
    let (status, system) = super::queue::call(
        app,
        Method::POST,
        "/api/v1/external-systems",
        Some(json!({ "name": "billing", "kind": "third_party" })),
    )
    .await;
    assert_eq!(status, 201, "{system}");
    system["token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_caller_without_its_token_is_refused_before_its_body_is_read() {
    let app = spawn_app().await;
    let system = third_party(&app).await;
    // 10 MB announced, 64 KiB sent: the answer must not wait for the rest.
    let part = vec![b'a'; 64 << 10];
    for path in [
        "/api/v1/acd-groups",
        "/api/v1/me/channels/sms",
        "/api/v1/external-systems/billing/entries/1/claim",
        "/api/v1/external-systems/billing/entries/1/settle",
        "/api/v1/sms/receipts",
        "/api/v1/sms/inbound",
        // A token, but no connector's.
        "/api/v1/sms/inbound?token=not-a-connectors-token",
    ] {
        if path.starts_with("/api/v1/sms/inbound?") {
            // With a connector whose token is required, so only its token gets in.
            direct_connector(&app).await;
        }
        let method = if path.starts_with("/api/v1/me/") {
            "PUT"
        } else {
            "POST"
        };
        let mut request = format!(
            "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Content-Length: 10000000\r\n\r\n"
        )
        .into_bytes();
        request.extend_from_slice(&part);
        let (status, content_type, body) =
            raw_response(&app, &request, Duration::from_secs(10)).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(content_type, "application/json", "{path}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{path}: {body}");
    }

    // With the token, a body over the limit is a JSON 413.
    let big = json!({ "claim": "x".repeat(2 << 20), "outcome": "completed" });
    for path in [
        "/api/v1/external-systems/billing/entries/1/claim",
        "/api/v1/external-systems/billing/entries/1/settle",
    ] {
        let response = app
            .client
            .post(app.url(path))
            .bearer_auth(&system)
            .json(&big)
            .send()
            .await
            .unwrap();
        assert_error(response, 413, "body_too_large").await;
    }
}

/// A direct connector for [`RECIPIENT`] that requires its token.
async fn direct_connector(app: &TestApp) -> Value {
    let sales = group(app, "sales").await;
    created(
        app,
        json!({ "name": "main line", "recipient": RECIPIENT, "require_token": true,
                "routing_type": "direct_acd_group", "acd_group": sales,
                "incoming_subject": "SMS from a customer" }),
    )
    .await
}

async fn stored_messages(app: &TestApp) -> usize {
    let page: Value = app
        .admin(Method::GET, "/api/v1/messages?limit=1000")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"].as_array().unwrap().len()
}

fn sms(id: &str) -> Value {
    json!({ "from": CUSTOMER, "to": RECIPIENT, "text": "hello", "message_id": id })
}

#[tokio::test]
async fn a_post_to_a_connector_deleted_meanwhile_is_a_404_and_stores_nothing() {
    let app = spawn_app().await;
    let sales = group(&app, "sales").await;
    // The server must still have the connector cached (for up to a second) when the
    // second post arrives; on a machine too busy for that, the post is refused at the
    // token check instead (401, nothing stored either), and the race is tried again.
    let mut seen_404 = false;
    for attempt in 0..5 {
        let connector = created(
            &app,
            json!({ "name": format!("line {attempt}"), "recipient": RECIPIENT,
                    "require_token": true, "routing_type": "direct_acd_group",
                    "acd_group": sales }),
        )
        .await;
        let token = token(&connector);
        let response = post_json(&app, Some(&token), &sms(&format!("d-{attempt}-1"))).await;
        assert_eq!(response.status(), 202);
        let first: Value = response.json().await.unwrap();
        // Routed first: the test is about the next post, not about deleting a
        // connector under a routing transaction.
        routed(&app, first["id"].as_i64().unwrap()).await;

        // Deleted after the server found it for this number (here: behind the
        // server's back, so its lookup still has it), as when an admin deletes it while
        // its gateway posts.
        let id = connector["id"].as_i64().unwrap();
        let deleted = app
            .edit_database(&format!("DELETE FROM sms_connectors WHERE id = {id}"))
            .await;
        assert_eq!(deleted, 1);
        let response = post_json(&app, Some(&token), &sms(&format!("d-{attempt}-2"))).await;
        if response.status() == 401 {
            continue;
        }
        let message = assert_error(response, 404, "not_found").await;
        assert!(message.contains(&format!("connector {id}")), "{message}");
        seen_404 = true;
        assert_eq!(stored_messages(&app).await, attempt + 1);
        break;
    }
    assert!(
        seen_404,
        "the cached connector expired before every second post"
    );
}

#[tokio::test]
async fn text_that_is_not_utf8_is_refused_naming_the_field_in_both_dialects() {
    let app = spawn_app().await;
    let token = token(&direct_connector(&app).await);
    let form = |body: &[u8]| {
        let mut form = b"From=%2B4915123456789&To=%2B4930123456&MessageSid=SM1&Body=".to_vec();
        form.extend_from_slice(body);
        app.client
            .post(app.url("/api/v1/sms/inbound"))
            .bearer_auth(&token)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
    };
    for body in [&b"caf%FF"[..], b"caf\xff", b"caf%C3"] {
        let response = form(body).await.unwrap();
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 422, "{answer}");
        assert_eq!(answer["error"]["code"], "invalid_field", "{answer}");
        assert_eq!(answer["error"]["field"], "Body", "{answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("UTF-8"),
            "{answer}"
        );
    }
    let json = format!(
        r#"{{"from": "{CUSTOMER}", "to": "{RECIPIENT}", "message_id": "u-1", "text": "caf"#
    );
    let mut body = json.into_bytes();
    body.extend_from_slice(b"\xff\"}");
    let response = app
        .client
        .post(app.url("/api/v1/sms/inbound"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "text", "{answer}");
    assert_eq!(stored_messages(&app).await, 0);

    // Valid UTF-8 still passes, percent-encoded or not.
    assert_eq!(form("caf%C3%A9".as_bytes()).await.unwrap().status(), 202);
}

#[tokio::test]
async fn received_at_in_seconds_is_refused_saying_milliseconds_are_expected() {
    let app = spawn_app().await;
    let token = token(&direct_connector(&app).await);
    let mut post = sms("r-1");
    post["received_at"] = json!(1_795_338_000);
    let response = post_json(&app, Some(&token), &post).await;
    let status = response.status();
    let answer: Value = response.json().await.unwrap();
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["error"]["field"], "received_at", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains("milliseconds"), "{message}");
    assert_eq!(stored_messages(&app).await, 0);

    post["received_at"] = json!(1_795_338_000_000_i64);
    assert_eq!(post_json(&app, Some(&token), &post).await.status(), 202);
}

#[tokio::test]
async fn the_bearer_scheme_is_read_in_any_case() {
    let app = spawn_app().await;
    let connector_token = token(&direct_connector(&app).await);
    let agent = agent_token(&app, "ann").await;
    let system = third_party(&app).await;
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        let auth = |token: &str| format!("{scheme} {token}");
        let admin = app
            .client
            .get(app.url("/api/v1/acd-groups"))
            .header("authorization", auth(&app.admin_token))
            .send()
            .await
            .unwrap();
        assert_eq!(admin.status(), 200, "admin, {scheme}");

        let post = app
            .client
            .post(app.url("/api/v1/sms/inbound"))
            .header("authorization", auth(&connector_token))
            .json(&sms(&format!("b-{scheme}")))
            .send()
            .await
            .unwrap();
        assert_eq!(post.status(), 202, "connector, {scheme}");

        let me = app
            .client
            .get(app.url("/api/v1/me"))
            .header("authorization", auth(&agent))
            .send()
            .await
            .unwrap();
        assert_eq!(me.status(), 200, "agent, {scheme}");

        let entries = app
            .client
            .get(app.url("/api/v1/external-systems/billing/entries"))
            .header("authorization", auth(&system))
            .send()
            .await
            .unwrap();
        assert_eq!(entries.status(), 200, "third party, {scheme}");

        let reply: Value = app
            .client
            .post(app.url("/cometd"))
            .header("authorization", auth(&agent))
            .json(
                &json!([{ "channel": "/meta/handshake", "version": "1.0", "id": "1",
                            "supportedConnectionTypes": ["long-polling"] }]),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(reply[0]["successful"], true, "CometD, {scheme}: {reply}");
    }
}

/// Twilio's signature of a post of `params` to `url`, computed by Python's `hmac`: an
/// implementation independent of the server's.
fn python_twilio_signature(auth_token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let script = "import base64, hashlib, hmac, json, sys\n\
        token, url, params = json.loads(sys.argv[1])\n\
        data = url + ''.join(k + v for k, v in sorted(params))\n\
        digest = hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()\n\
        print(base64.b64encode(digest).decode())";
    let output = std::process::Command::new("python3")
        .args(["-c", script, &json!([auth_token, url, params]).to_string()])
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_twilio_post_signed_with_the_connectors_auth_token_needs_no_token() {
    let db = TestDatabase::new().await;
    let mut config = test_config(&db);
    config.admin_token =
        Some(switchyard::config::AdminToken::parse(switchyard_tests::TEST_ADMIN_TOKEN).unwrap());
    config.public_url = Some("https://sms.example.com".into());
    let app = spawn_app_with(config, db).await;
    let sales = group(&app, "sales").await;
    let connector = created(
        &app,
        json!({ "name": "main line", "recipient": RECIPIENT, "require_token": true,
                "routing_type": "direct_acd_group", "acd_group": sales,
                "twilio_auth_token": "the-account-auth-token" }),
    )
    .await;
    // A secret: never shown.
    assert_eq!(connector["twilio_auth_token"], "[redacted]", "{connector}");
    let id = connector["id"].as_i64().unwrap();

    let params = [
        ("MessageSid", "SM0001"),
        ("From", CUSTOMER),
        ("To", RECIPIENT),
        ("Body", "hello & goodbye"),
    ];
    let path = "/api/v1/sms/inbound?source=twilio";
    let url = format!("https://sms.example.com{path}");
    let post = |signature: String, params: Vec<(&'static str, &'static str)>| {
        app.client
            .post(app.url(path))
            .header("X-Twilio-Signature", signature)
            .form(&params)
            .send()
    };
    let good = python_twilio_signature("the-account-auth-token", &url, &params);
    let response = post(good.clone(), params.to_vec()).await.unwrap();
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    assert_eq!(stored_messages(&app).await, 1);

    // Signed with another token, for another URL, or over other text: refused as JSON,
    // nothing stored.
    let tampered = {
        let mut p = params.to_vec();
        p[0] = ("MessageSid", "SM0002");
        p[3] = ("Body", "hello & goodbye!");
        p
    };
    let other_url = "https://elsewhere.example.com/api/v1/sms/inbound?source=twilio";
    for signature in [
        python_twilio_signature("another-token", &url, &tampered),
        python_twilio_signature("the-account-auth-token", other_url, &tampered),
        good.clone(),
        "not a signature".to_owned(),
    ] {
        let response = post(signature, tampered.clone()).await.unwrap();
        assert_error(response, 401, "unauthorized").await;
    }
    assert_eq!(stored_messages(&app).await, 1, "nothing more was stored");

    // A PATCH that leaves the auth token out keeps it; removing it ends signed posts.
    let patch = |body: Value| {
        app.admin(Method::PATCH, &format!("/api/v1/connectors/sms/{id}"))
            .json(&body)
            .send()
    };
    let kept: Value = patch(json!({ "incoming_subject": "SMS" }))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kept["twilio_auth_token"], "[redacted]", "{kept}");
    let again = {
        let mut p = params.to_vec();
        p[0] = ("MessageSid", "SM0003");
        p
    };
    let signature = python_twilio_signature("the-account-auth-token", &url, &again);
    let response = post(signature.clone(), again.clone()).await.unwrap();
    assert_eq!(response.status(), 202);
    let removed = patch(json!({ "twilio_auth_token": null })).await.unwrap();
    assert_eq!(removed.status(), 200);
    let response = post(signature, again).await.unwrap();
    assert_error(response, 401, "unauthorized").await;
    assert_eq!(stored_messages(&app).await, 2);
}

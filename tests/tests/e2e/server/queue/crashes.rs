//! The queue when nodes die and gateways are slow: a text claimed by a node that died
//! goes out within seconds (claims are short and renewed by live nodes), texts of one
//! number keep their queue order across nodes, and a slow gateway still sees a number's
//! texts at least a second apart.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use switchyard::queue::processor::CLAIM_MS;
use switchyard_tests::gateway::RecordingGateway;
use switchyard_tests::{TEST_ADMIN_TOKEN, TestDatabase, test_backend_is_postgres};

use super::super::process::Server;
use super::*;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// The texts the gateway received, in the order they arrived.
fn texts(gateway: &RecordingGateway) -> Vec<String> {
    gateway
        .requests()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// Milliseconds between consecutive requests the gateway received.
fn gaps(gateway: &RecordingGateway) -> Vec<u128> {
    let times: Vec<_> = gateway.requests().iter().map(|r| r.received_at).collect();
    times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_millis())
        .collect()
}

#[tokio::test]
async fn a_text_claimed_by_a_dead_node_goes_out_within_seconds_and_before_its_numbers_later_texts()
{
    let gateway = RecordingGateway::start().await;
    let app = app_with_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({}),
    )
    .await;
    let sender = fresh_number();
    // What a node leaves behind when it dies right after claiming an entry, before
    // marking it as sending: the entry held under its claim token for CLAIM_MS, never
    // to be renewed. Written in one statement, so the live node cannot claim it first.
    let planted = now_ms();
    app.edit_database(&format!(
        "INSERT INTO queue_entries (state, status, media, direction, sender, recipient, \
         body, created_at, created_by, updated_at, updated_by, lease_until, claim_token) \
         VALUES ('pending', 'pending', 'sms', 'outgoing', '{sender}', '+32470300001', \
         'first', {planted}, 'test', {planted}, 'test', {}, 'a-dead-node')",
        planted + CLAIM_MS
    ))
    .await;
    // The live node gets the number's later texts meanwhile.
    let mut later = Vec::new();
    for (i, text) in ["second", "third"].iter().enumerate() {
        let e = create(
            &app,
            json!({ "media": "sms", "sender": sender,
            "recipient": format!("+3247030000{}", i + 2), "body": text }),
        )
        .await;
        later.push(e["number"].clone());
    }
    for number in &later {
        assert_eq!(settled(&app, number).await["status"], "sent");
    }
    let requests = gateway.requests();
    assert_eq!(
        texts(&gateway),
        ["first", "second", "third"],
        "the number's texts left in queue order"
    );
    // The first went out once the dead node's claim ran out, and no later than a few
    // seconds after that (not after the 60 s a claim used to last).
    let first_at = requests[0].received_at;
    let waited = now_ms() - planted - first_at.elapsed().as_millis() as i64;
    assert!(
        waited >= CLAIM_MS - 200,
        "the dead node's claim was respected: {waited} ms"
    );
    assert!(
        waited <= CLAIM_MS + 3_000,
        "sent within the claim's {CLAIM_MS} ms and a few seconds: {waited} ms"
    );
    for gap in gaps(&gateway) {
        assert!(gap >= 1_000, "a second apart: {:?}", gaps(&gateway));
    }
}

#[tokio::test]
async fn texts_of_one_number_reach_a_slow_gateway_at_least_a_second_apart() {
    let gateway = RecordingGateway::start().await;
    // The gateway takes 0.8 s to answer each request.
    gateway.delay(Duration::from_millis(800));
    let app = app_with_worker().await;
    enable_sms(
        &app,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({ "timeout_seconds": 5 }),
    )
    .await;
    let sender = fresh_number();
    let mut numbers = Vec::new();
    for i in 0..6 {
        let e = create(
            &app,
            json!({ "media": "sms", "sender": sender,
            "recipient": format!("+3247040000{i}"), "body": format!("text {i}") }),
        )
        .await;
        numbers.push(e["number"].clone());
    }
    for number in &numbers {
        assert_eq!(settled(&app, number).await["status"], "sent");
    }
    let expected: Vec<String> = (0..6).map(|i| format!("text {i}")).collect();
    assert_eq!(texts(&gateway), expected, "in queue order");
    // Measured where it matters: when each request had arrived at the gateway, which
    // is after it left the host. Every gap is at least the second seed 001 asks for.
    let gaps = gaps(&gateway);
    assert_eq!(gaps.len(), 5);
    for gap in &gaps {
        assert!(*gap >= 1_000, "one text a second at the gateway: {gaps:?}");
    }
    // And the host does not wait much longer than it must.
    assert!(
        gaps.iter().all(|gap| *gap < 2_500),
        "no needless waits: {gaps:?}"
    );
}

/// The admin API of a node running as a real process.
async fn admin_json(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<reqwest::Body>,
    content_type: &str,
) -> serde_json::Value {
    let mut request = client
        .request(method, format!("{}{path}", base.trim()))
        .bearer_auth(TEST_ADMIN_TOKEN);
    if let Some(body) = body {
        request = request.header("content-type", content_type).body(body);
    }
    let response = request.send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// Two nodes on one PostgreSQL database: the node sending a text is killed (SIGKILL)
/// with its request in flight; the other node sends it again, under the same key,
/// within the request timeout and a few seconds. (A SQLite file has one node.)
#[tokio::test]
async fn a_text_held_by_a_killed_node_is_sent_by_the_other_node_within_the_timeout() {
    if !test_backend_is_postgres() {
        return;
    }
    let gateway = RecordingGateway::start().await;
    let db = TestDatabase::new().await;
    let mut node_a = Server::start_with_admin_token(&db.url, TEST_ADMIN_TOKEN);
    let a = node_a.wait_for("switchyard: listening on ");
    let client = reqwest::Client::new();
    let plugin = admin_json(
        &client,
        &a,
        reqwest::Method::POST,
        "/api/v1/plugins",
        Some(switchyard_tests::plugin_bytes("json-gateway").into()),
        "application/wasm",
    )
    .await;
    let timeout_seconds = 2;
    let settings = json!({ "enabled": true, "gateway_plugin": plugin["sha256"],
        "settings": { "url": format!("{}/json", gateway.url()) },
        "default_sender": fresh_number(), "timeout_seconds": timeout_seconds });
    admin_json(
        &client,
        &a,
        reqwest::Method::PUT,
        "/api/v1/settings/sms",
        Some(settings.to_string().into()),
        "application/json",
    )
    .await;
    // The gateway holds its answer: node A dies with the request in flight.
    gateway.delay(Duration::from_secs(30));
    let entry = admin_json(
        &client,
        &a,
        reqwest::Method::POST,
        "/api/v1/communications",
        Some(
            json!({ "media": "sms", "recipient": CONTACT, "body": "hello" })
                .to_string()
                .into(),
        ),
        "application/json",
    )
    .await;
    let number = entry["number"].clone();
    let start = Instant::now();
    while gateway.requests().is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "never reached the gateway"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Node B joins while A holds the entry, then A is killed.
    let mut config = switchyard_tests::test_config(&db);
    config.admin_token =
        Some(switchyard::config::AdminToken::parse(TEST_ADMIN_TOKEN).expect("valid token"));
    config.queue_worker = true;
    let node_b = switchyard_tests::spawn_app_with(config, db).await;
    node_a.signal("KILL");
    let killed = Instant::now();
    let (exit, _) = node_a.exited(Duration::from_secs(10)).await;
    assert!(!exit.success());
    gateway.delay(Duration::ZERO);
    let done = settled(&node_b, &number).await;
    let took = killed.elapsed();
    assert_eq!(done["state"], "completed", "{done}");
    assert!(
        took <= Duration::from_secs(timeout_seconds + 5 + 3),
        "sent again within the request timeout and a few seconds: {took:?}"
    );
    let key = format!("switchyard-{number}");
    let requests = gateway
        .requests()
        .into_iter()
        .filter(|r| r.headers.get("idempotency-key") == Some(&key))
        .count();
    assert_eq!(requests, 2, "sent again by node B under the same key");
    assert_eq!(gateway.sent_count(), 1, "the gateway sent the text once");
}

/// A node with the background worker on `db`'s database (which `db` may keep owning).
async fn node_on(url: &str, db: TestDatabase) -> switchyard_tests::TestApp {
    let mut config = switchyard::config::Config::new("127.0.0.1:0".parse().unwrap(), url);
    config.admin_token =
        Some(switchyard::config::AdminToken::parse(TEST_ADMIN_TOKEN).expect("valid token"));
    config.queue_worker = true;
    switchyard_tests::spawn_app_with(config, db).await
}

/// Texts of one number, created through two nodes, reach the gateway in queue order
/// and a second apart. On PostgreSQL both nodes run side by side; a SQLite file has one
/// node at a time, so there the first stops halfway and the second takes over.
#[tokio::test]
async fn texts_of_one_number_keep_their_order_across_nodes() {
    let gateway = RecordingGateway::start().await;
    gateway.delay(Duration::from_millis(300));
    let db = TestDatabase::new().await;
    let url = db.url.clone();
    let first = node_on(&url, db).await;
    enable_sms(
        &first,
        "json-gateway",
        json!({ "url": format!("{}/json", gateway.url()) }),
        json!({ "timeout_seconds": 5 }),
    )
    .await;
    let sender = fresh_number();
    let text = |i: usize| {
        json!({ "media": "sms", "sender": sender, "recipient": format!("+3247050000{i}"),
                "body": format!("text {i}") })
    };
    let mut numbers = Vec::new();
    // On PostgreSQL the first node owns the database and runs to the end.
    let mut _first_node = None;
    let second = if test_backend_is_postgres() {
        let second = node_on(&url, TestDatabase::sqlite()).await;
        for i in 0..6 {
            let node = if i % 2 == 0 { &first } else { &second };
            numbers.push(create(node, text(i)).await["number"].clone());
        }
        _first_node = Some(first);
        second
    } else {
        for i in 0..6 {
            numbers.push(create(&first, text(i)).await["number"].clone());
        }
        let start = Instant::now();
        while gateway.requests().len() < 2 {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "nothing was sent"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let db = first.stop().await;
        node_on(&url, db).await
    };
    for number in &numbers {
        assert_eq!(settled(&second, number).await["status"], "sent");
    }
    let sent: Vec<String> = texts(&gateway).into_iter().fold(Vec::new(), |mut seen, t| {
        // A text resent under its key after the takeover counts once.
        if !seen.contains(&t) {
            seen.push(t);
        }
        seen
    });
    let expected: Vec<String> = (0..6).map(|i| format!("text {i}")).collect();
    assert_eq!(sent, expected, "in queue order, whichever node sent them");
    for gap in gaps(&gateway) {
        assert!(gap >= 1_000, "a second apart: {:?}", gaps(&gateway));
    }
}

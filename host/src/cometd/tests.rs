//! The server without transports, against an in-memory feed: handshakes, the one
//! channel, held connects woken by the hub, delivery in order without repeats, the ack
//! extension, tokens that stop working, and clients that go away.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use super::feed::{Feed, Notification};
use super::protocol::parse_body;
use super::server::{Cometd, Replies};
use super::session::Transport;
use super::{Hub, Settings};
use crate::metrics::Metrics;
use crate::store::StoreError;

/// Tokens, notifications, acknowledgements and presence, in memory.
#[derive(Clone, Default)]
struct MemoryFeed {
    inner: Arc<Mutex<Memory>>,
}

#[derive(Default)]
struct Memory {
    tokens: HashMap<String, i64>,
    notifications: BTreeMap<(i64, i64), Value>,
    acknowledged: HashMap<i64, i64>,
    seen: HashMap<i64, usize>,
}

impl MemoryFeed {
    fn with_agent(token: &str, agent: i64) -> Self {
        let feed = Self::default();
        feed.inner
            .lock()
            .unwrap()
            .tokens
            .insert(token.into(), agent);
        feed
    }

    fn notify(&self, agent: i64, seq: i64, data: Value) {
        self.inner
            .lock()
            .unwrap()
            .notifications
            .insert((agent, seq), data);
    }

    fn log_out(&self, token: &str) {
        self.inner.lock().unwrap().tokens.remove(token);
    }

    fn acknowledged_now(&self, agent: i64) -> i64 {
        *self
            .inner
            .lock()
            .unwrap()
            .acknowledged
            .get(&agent)
            .unwrap_or(&0)
    }

    fn seen_count(&self, agent: i64) -> usize {
        *self.inner.lock().unwrap().seen.get(&agent).unwrap_or(&0)
    }
}

impl Feed for MemoryFeed {
    async fn authenticate(&self, token: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.inner.lock().unwrap().tokens.get(token).copied())
    }

    async fn read(
        &self,
        agent: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let memory = self.inner.lock().unwrap();
        Ok(memory
            .notifications
            .range((agent, after + 1)..(agent, i64::MAX))
            .take(limit)
            .map(|((_, seq), data)| Notification {
                seq: *seq,
                data: data.clone(),
            })
            .collect())
    }

    async fn acknowledged(&self, agent: i64) -> Result<i64, StoreError> {
        Ok(self.acknowledged_now(agent))
    }

    async fn acknowledge(&self, agent: i64, through: i64) -> Result<(), StoreError> {
        let mut memory = self.inner.lock().unwrap();
        let acknowledged = memory.acknowledged.entry(agent).or_default();
        *acknowledged = (*acknowledged).max(through);
        Ok(())
    }

    async fn seen(&self, agent: i64) -> Result<(), StoreError> {
        *self.inner.lock().unwrap().seen.entry(agent).or_default() += 1;
        Ok(())
    }
}

fn settings() -> Settings {
    Settings {
        timeout: Duration::from_secs(5),
        poll: Duration::from_secs(60),
        ..Settings::default()
    }
}

fn server(feed: &MemoryFeed) -> Cometd<MemoryFeed> {
    Cometd::new(feed.clone(), Hub::new(), settings(), Metrics::new())
}

async fn send(server: &Cometd<MemoryFeed>, body: Value) -> Vec<Value> {
    let replies = send_raw(server, body).await;
    let messages = replies.messages.clone();
    for delivered in replies.delivered {
        server.written(delivered).await;
    }
    messages
}

async fn send_raw(server: &Cometd<MemoryFeed>, body: Value) -> Replies {
    let messages = parse_body(body.to_string().as_bytes()).unwrap();
    server.handle(messages, Transport::LongPolling, None).await
}

async fn handshake(server: &Cometd<MemoryFeed>, token: &str, ack: bool) -> String {
    let reply = send(
        server,
        json!([{ "channel": "/meta/handshake", "version": "1.0", "id": "1",
                 "supportedConnectionTypes": ["long-polling"],
                 "ext": { "token": token, "ack": ack } }]),
    )
    .await;
    assert_eq!(reply[0]["successful"], true, "{reply:?}");
    reply[0]["clientId"].as_str().unwrap().to_owned()
}

async fn subscribe(server: &Cometd<MemoryFeed>, client: &str, channel: &str) -> Value {
    let reply = send(
        server,
        json!([{ "channel": "/meta/subscribe", "clientId": client, "subscription": channel, "id": "2" }]),
    )
    .await;
    reply[0].clone()
}

fn connect(client: &str, ack: Option<i64>, timeout: Option<u64>) -> Value {
    let mut message = json!({ "channel": "/meta/connect", "clientId": client,
                              "connectionType": "long-polling", "id": "3" });
    if let Some(ack) = ack {
        message["ext"] = json!({ "ack": ack });
    }
    if let Some(timeout) = timeout {
        message["advice"] = json!({ "timeout": timeout });
    }
    json!([message])
}

fn deliveries(replies: &[Value]) -> Vec<i64> {
    replies
        .iter()
        .filter(|m| m["channel"] == "/me/interactions")
        .map(|m| m["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn connect_reply(replies: &[Value]) -> &Value {
    replies
        .iter()
        .find(|m| m["channel"] == "/meta/connect")
        .expect("a connect reply")
}

#[tokio::test]
async fn a_handshake_needs_a_live_token() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = server(&feed);
    let refused = send(
        &server,
        json!([{ "channel": "/meta/handshake", "supportedConnectionTypes": ["long-polling"],
                 "ext": { "token": "bad" }, "id": "9" }]),
    )
    .await;
    assert_eq!(refused[0]["successful"], false);
    assert_eq!(refused[0]["error"], "403::Unauthorized");
    assert_eq!(refused[0]["advice"]["reconnect"], "none");
    assert_eq!(refused[0]["id"], "9");
    let client = handshake(&server, "good", false).await;
    assert_eq!(client.len(), 40);
    assert_eq!(feed.seen_count(1), 1, "a handshake marks the agent as seen");
}

#[tokio::test]
async fn the_bearer_header_serves_as_the_token() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = server(&feed);
    let messages =
        parse_body(br#"[{"channel":"/meta/handshake","supportedConnectionTypes":["websocket"]}]"#)
            .unwrap();
    let replies = server
        .handle(messages, Transport::WebSocket, Some("good"))
        .await;
    assert_eq!(replies.messages[0]["successful"], true);
}

#[tokio::test]
async fn only_the_agents_own_channel_may_be_subscribed() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = server(&feed);
    let client = handshake(&server, "good", false).await;
    for channel in ["/agents/2", "/**", "/me/other"] {
        let reply = subscribe(&server, &client, channel).await;
        assert_eq!(reply["successful"], false, "{channel}");
        assert_eq!(reply["error"], format!("403:{channel}:subscription denied"));
        assert_eq!(reply["subscription"], channel);
    }
    let reply = subscribe(&server, &client, "/me/interactions").await;
    assert_eq!(reply["successful"], true);
    assert_eq!(reply["subscription"], "/me/interactions");
    let published = send(
        &server,
        json!([{ "channel": "/me/interactions", "clientId": client, "data": {} }]),
    )
    .await;
    assert_eq!(published[0]["error"], "403:/me/interactions:publish denied");
}

#[tokio::test]
async fn an_unknown_client_is_told_to_handshake() {
    let server = server(&MemoryFeed::default());
    let reply = send(&server, connect("nobody", None, None)).await;
    assert_eq!(reply[0]["successful"], false);
    assert_eq!(reply[0]["error"], "402::Unknown client");
    assert_eq!(
        reply[0]["advice"],
        json!({"reconnect": "handshake", "interval": 0})
    );
}

#[tokio::test]
async fn notifications_arrive_in_order_once_each_and_are_acknowledged() {
    let feed = MemoryFeed::with_agent("good", 1);
    feed.notify(1, 1, json!({"n": 1}));
    feed.notify(1, 2, json!({"n": 2}));
    feed.notify(2, 3, json!({"other agent": true}));
    feed.inner.lock().unwrap().acknowledged.insert(1, 1);
    let server = server(&feed);
    let client = handshake(&server, "good", false).await;
    subscribe(&server, &client, "/me/interactions").await;
    let first = send(&server, connect(&client, None, None)).await;
    assert_eq!(
        deliveries(&first),
        [2],
        "starts after what was acknowledged"
    );
    assert_eq!(connect_reply(&first)["successful"], true);
    assert_eq!(feed.acknowledged_now(1), 2);
    feed.notify(1, 5, json!({"n": 5}));
    feed.notify(1, 4, json!({"n": 4}));
    let second = send(&server, connect(&client, None, None)).await;
    assert_eq!(deliveries(&second), [4, 5]);
    assert_eq!(second[0]["data"], json!({"n": 4}));
    let third = send(&server, connect(&client, None, Some(0))).await;
    assert_eq!(deliveries(&third), Vec::<i64>::new());
    assert_eq!(feed.acknowledged_now(1), 5);
}

#[tokio::test]
async fn a_held_connect_is_answered_when_the_hub_wakes_its_agent() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = server(&feed);
    let client = handshake(&server, "good", false).await;
    subscribe(&server, &client, "/me/interactions").await;
    let first = send(&server, connect(&client, None, None)).await;
    assert_eq!(connect_reply(&first)["advice"]["timeout"], 5000);
    let held = tokio::spawn({
        let server = server.clone();
        let client = client.clone();
        async move { send(&server, connect(&client, None, None)).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!held.is_finished(), "nothing to send: held");
    feed.notify(1, 1, json!({"n": 1}));
    let started = std::time::Instant::now();
    server.hub().wake(1);
    let reply = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("woken at once")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(deliveries(&reply), [1]);
}

#[tokio::test]
async fn a_missed_wake_is_made_up_by_the_poll() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = Cometd::new(
        feed.clone(),
        Hub::new(),
        Settings {
            poll: Duration::from_millis(100),
            ..settings()
        },
        Metrics::new(),
    );
    let client = handshake(&server, "good", false).await;
    subscribe(&server, &client, "/me/interactions").await;
    send(&server, connect(&client, None, None)).await;
    let held = tokio::spawn({
        let server = server.clone();
        async move { send(&server, connect(&client, None, None)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    feed.notify(1, 1, json!({}));
    let reply = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("found by the poll")
        .unwrap();
    assert_eq!(deliveries(&reply), [1]);
}

#[tokio::test]
async fn with_the_ack_extension_a_lost_batch_is_sent_again() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = server(&feed);
    let reply = send(
        &server,
        json!([{ "channel": "/meta/handshake", "supportedConnectionTypes": ["long-polling"],
                 "ext": { "token": "good", "ack": true } }]),
    )
    .await;
    assert_eq!(reply[0]["ext"], json!({"ack": true}));
    let client = reply[0]["clientId"].as_str().unwrap().to_owned();
    subscribe(&server, &client, "/me/interactions").await;
    feed.notify(1, 1, json!({}));
    let first = send(&server, connect(&client, Some(0), None)).await;
    assert_eq!(deliveries(&first), [1]);
    let batch = connect_reply(&first)["ext"]["ack"].as_i64().unwrap();
    assert_eq!(feed.acknowledged_now(1), 0, "not until the client confirms");
    // The reply was lost: the client still names the batch before.
    let again = send(&server, connect(&client, Some(batch - 1), Some(0))).await;
    assert_eq!(deliveries(&again), [1], "sent again");
    let batch = connect_reply(&again)["ext"]["ack"].as_i64().unwrap();
    feed.notify(1, 2, json!({}));
    let next = send(&server, connect(&client, Some(batch), Some(0))).await;
    assert_eq!(feed.acknowledged_now(1), 1);
    assert_eq!(deliveries(&next), [2], "no repeat once confirmed");
}

#[tokio::test]
async fn a_reply_that_was_never_written_is_delivered_again() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = server(&feed);
    let client = handshake(&server, "good", false).await;
    subscribe(&server, &client, "/me/interactions").await;
    feed.notify(1, 1, json!({}));
    let lost = send_raw(&server, connect(&client, None, None)).await;
    assert_eq!(deliveries(&lost.messages), [1]);
    drop(lost);
    let again = send(&server, connect(&client, None, Some(0))).await;
    assert_eq!(deliveries(&again), [1]);
    assert_eq!(feed.acknowledged_now(1), 1);
}

#[tokio::test]
async fn a_logged_out_agents_client_is_ended_with_advice_none() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = Cometd::new(
        feed.clone(),
        Hub::new(),
        Settings {
            recheck_token: Duration::ZERO,
            ..settings()
        },
        Metrics::new(),
    );
    let client = handshake(&server, "good", false).await;
    send(&server, connect(&client, None, None)).await;
    feed.log_out("good");
    let reply = send(&server, connect(&client, None, None)).await;
    assert_eq!(reply[0]["successful"], false);
    assert_eq!(reply[0]["error"], "403::Unauthorized");
    assert_eq!(reply[0]["advice"]["reconnect"], "none");
    let after = send(&server, connect(&client, None, None)).await;
    assert_eq!(
        after[0]["error"], "402::Unknown client",
        "the session is gone"
    );
}

#[tokio::test]
async fn a_newer_connect_answers_the_held_one() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = server(&feed);
    let client = handshake(&server, "good", false).await;
    send(&server, connect(&client, None, None)).await;
    let held = tokio::spawn({
        let server = server.clone();
        let client = client.clone();
        async move { send(&server, connect(&client, None, None)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    let newer = tokio::spawn({
        let server = server.clone();
        let client = client.clone();
        async move { send(&server, connect(&client, None, Some(0))).await }
    });
    let old = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("the older one gives way")
        .unwrap();
    assert_eq!(old[0]["successful"], true);
    newer.await.unwrap();
}

#[tokio::test]
async fn disconnecting_ends_the_session_and_stopping_answers_held_connects() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = server(&feed);
    let client = handshake(&server, "good", false).await;
    let reply = send(
        &server,
        json!([{ "channel": "/meta/disconnect", "clientId": client }]),
    )
    .await;
    assert_eq!(reply[0]["successful"], true);
    let reply = send(&server, connect(&client, None, None)).await;
    assert_eq!(reply[0]["error"], "402::Unknown client");

    let client = handshake(&server, "good", false).await;
    send(&server, connect(&client, None, None)).await;
    let held = tokio::spawn({
        let server = server.clone();
        async move { send(&server, connect(&client, None, None)).await }
    });
    tokio::time::sleep(Duration::from_millis(50)).await;
    server.stop().await;
    let reply = tokio::time::timeout(Duration::from_secs(2), held)
        .await
        .expect("answered at once")
        .unwrap();
    assert_eq!(reply[0]["successful"], true);
}

#[tokio::test]
async fn clients_that_stop_connecting_are_swept() {
    let feed = MemoryFeed::with_agent("good", 1);
    let server = Cometd::new(
        feed.clone(),
        Hub::new(),
        Settings {
            timeout: Duration::ZERO,
            max_interval: Duration::ZERO,
            ..settings()
        },
        Metrics::new(),
    );
    let client = handshake(&server, "good", false).await;
    server.sweep();
    let reply = send(&server, connect(&client, None, None)).await;
    assert_eq!(reply[0]["error"], "402::Unknown client");
}

#[tokio::test]
async fn a_batch_of_subscribe_and_connect_answers_both() {
    let feed = MemoryFeed::with_agent("good", 1);
    feed.notify(1, 1, json!({}));
    let server = server(&feed);
    let client = handshake(&server, "good", false).await;
    let replies = send(
        &server,
        json!([
            { "channel": "/meta/connect", "clientId": client, "connectionType": "long-polling" },
            { "channel": "/meta/subscribe", "clientId": client, "subscription": ["/me/interactions"] },
        ]),
    )
    .await;
    assert_eq!(replies[0]["channel"], "/meta/subscribe");
    assert_eq!(deliveries(&replies), [1]);
    assert_eq!(connect_reply(&replies)["successful"], true);
}

#[test]
fn a_missing_client_id_is_a_clear_error() {
    let messages = parse_body(br#"[{"channel":"/meta/connect"}]"#).unwrap();
    let feed = MemoryFeed::default();
    let replies = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(server(&feed).handle(messages, Transport::LongPolling, None));
    assert_eq!(replies.messages.len(), 1);
    assert_eq!(replies.messages[0]["error"], "400::`clientId` is missing");
}

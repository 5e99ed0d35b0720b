//! Durability of inbound SMS under failure: a `switchyard serve` killed with SIGKILL in
//! the middle of a stream of posts loses no acknowledged message and, after a restart
//! and the gateways' retries, stores and routes each exactly once; SIGTERM lets a post
//! whose body is still arriving finish; a backlog left unrouted is resumed while new
//! posts arrive without failing a batch; and switching a routing application's version
//! while messages stream in neither drops nor double-routes any.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchyard::domain::connectors::inbound::InboundSms;
use switchyard::runtime::World;
use switchyard::store::messages::NewInbound;
use switchyard::store::{Store, now_ms};
use switchyard_tests::{
    TEST_ADMIN_TOKEN, TestApp, TestDatabase, eventually, plugin_bytes, shared_server_runtime,
    spawn_app,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

use super::connectors::{created, group};
use super::inbound::keyword_settings;
use super::process::Server;

const RECIPIENT: &str = "+4930123456";
/// Rows per page when reading lists back: small enough that the lists here take
/// several pages, so paging is part of what "stored exactly once" checks.
const PAGE: usize = 300;

/// A distinct, valid German mobile number per `n`.
pub(super) fn sender(n: usize) -> String {
    format!("+49151{:08}", n)
}

/// A server's HTTP API as a client speaks to it, whether the server runs in this
/// process ([`Api::of`]) or as a `switchyard serve` of its own ([`Api::at`]).
#[derive(Clone)]
pub(super) struct Api {
    base: String,
    admin_token: String,
    client: reqwest::Client,
}

impl Api {
    fn of(app: &TestApp) -> Self {
        Self {
            base: app.address.clone(),
            admin_token: app.admin_token.clone(),
            client: app.client.clone(),
        }
    }

    /// A server process started with [`TEST_ADMIN_TOKEN`] listening at `address`.
    pub(super) fn at(address: &str) -> Self {
        Self {
            base: address.to_owned(),
            admin_token: TEST_ADMIN_TOKEN.to_owned(),
            // A gateway does not wait forever for an answer.
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    pub(super) fn admin(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token)
    }

    pub(super) async fn get(&self, path: &str) -> Value {
        let response = self.admin(Method::GET, path).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 200, "GET {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// POSTs `body` to the admin API and expects 201 Created.
    pub(super) async fn create(&self, path: &str, body: Value) -> Value {
        let response = self
            .admin(Method::POST, path)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert_eq!(status, 201, "POST {path}: {text}");
        serde_json::from_str(&text).unwrap()
    }

    /// Every item of a paged list (`path` has a query already), following `next_after`.
    async fn all(&self, path: &str) -> Vec<Value> {
        let mut items = Vec::new();
        let mut after = 0;
        loop {
            let page = self
                .get(&format!("{path}&limit={PAGE}&after={after}"))
                .await;
            let got = page["items"].as_array().unwrap();
            assert!(got.len() <= PAGE, "{path}: a page longer than its limit");
            items.extend(got.iter().cloned());
            match page["next_after"].as_i64() {
                Some(next) => {
                    assert!(next > after, "{path}: the cursor does not advance");
                    after = next;
                }
                None => return items,
            }
        }
    }

    /// Posts an SMS as a gateway does; the status and the JSON answer (Null if none).
    pub(super) async fn post_sms(
        &self,
        token: &str,
        body: &Value,
    ) -> reqwest::Result<(u16, Value)> {
        let response = self
            .client
            .post(format!("{}/api/v1/sms/inbound", self.base))
            .bearer_auth(token)
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Waits until no message of `connector` is left `received`, and returns them all.
    async fn all_routed(&self, connector: i64, within: Duration) -> Vec<Value> {
        let start = Instant::now();
        loop {
            let messages = self
                .all(&format!("/api/v1/messages?connector={connector}"))
                .await;
            let waiting = messages.iter().filter(|m| m["state"] == "received").count();
            if waiting == 0 {
                return messages;
            }
            assert!(
                start.elapsed() < within,
                "{waiting} of {} messages still unrouted after {within:?}",
                messages.len()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

pub(super) fn sms(n: usize, message_id: &str, text: &str) -> Value {
    json!({ "from": sender(n), "to": RECIPIENT, "text": text, "message_id": message_id })
}

/// An acknowledged post.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ack {
    /// The stored message's id.
    id: i64,
    /// The post was sent after [`Stream::mark`].
    sent_after_mark: bool,
}

/// What a stream of posts saw.
#[derive(Debug, Default)]
pub(super) struct Log {
    /// Gateway message id → its acknowledgement, for each post answered 202.
    pub(super) acked: HashMap<String, Ack>,
    /// Posts that got no 2xx (no answer, or a 5xx), as (gateway message id, whether
    /// the failure was seen after [`Stream::mark`], what went wrong).
    pub(super) failed: Vec<(String, bool, String)>,
    /// Answers that break the contract, e.g. a fresh message id acknowledged as a
    /// duplicate, or a 4xx for a valid post.
    pub(super) wrong: Vec<String>,
}

/// Concurrent tasks posting SMS with unique gateway message ids, as gateways do,
/// until stopped.
pub(super) struct Stream {
    log: Arc<Mutex<Log>>,
    stop: Arc<AtomicBool>,
    mark: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Stream {
    /// `tasks` concurrent posters, each pausing `pace` after an acknowledged post;
    /// message `n` has id `<prefix>-<n>` and text `text(n)`.
    pub(super) fn start(
        api: &Api,
        token: &str,
        prefix: &str,
        tasks: usize,
        pace: Duration,
        text: fn(usize) -> &'static str,
    ) -> Self {
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let mark = Arc::new(AtomicBool::new(false));
        let next = Arc::new(AtomicUsize::new(0));
        let tasks = (0..tasks)
            .map(|_| {
                let (api, token, prefix) = (api.clone(), token.to_owned(), prefix.to_owned());
                let (log, stop, mark, next) =
                    (log.clone(), stop.clone(), mark.clone(), next.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        let n = next.fetch_add(1, Ordering::SeqCst);
                        let id = format!("{prefix}-{n:05}");
                        let sent_after_mark = mark.load(Ordering::SeqCst);
                        let answer = api.post_sms(&token, &sms(n, &id, text(n))).await;
                        let failure = match answer {
                            Ok((202, body))
                                if body["duplicate"] == false && body["id"].is_i64() =>
                            {
                                let ack = Ack {
                                    id: body["id"].as_i64().unwrap(),
                                    sent_after_mark,
                                };
                                log.lock().unwrap().acked.insert(id, ack);
                                if !pace.is_zero() {
                                    tokio::time::sleep(pace).await;
                                }
                                continue;
                            }
                            Ok((status, body)) if status >= 500 => format!("{status} {body}"),
                            Ok((status, body)) => {
                                log.lock()
                                    .unwrap()
                                    .wrong
                                    .push(format!("{id}: {status} {body}"));
                                continue;
                            }
                            Err(e) => e.to_string(),
                        };
                        let seen_after_mark = mark.load(Ordering::SeqCst);
                        log.lock()
                            .unwrap()
                            .failed
                            .push((id, seen_after_mark, failure));
                        // A gateway backs off before its next attempt.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                })
            })
            .collect();
        Self {
            log,
            stop,
            mark,
            tasks,
        }
    }

    pub(super) fn acked(&self) -> usize {
        self.log.lock().unwrap().acked.len()
    }

    /// Waits until at least `count` posts have been acknowledged.
    pub(super) async fn wait_for_acks(&self, count: usize, within: Duration) {
        let start = Instant::now();
        while self.acked() < count {
            assert!(
                start.elapsed() < within,
                "only {} of {count} posts acknowledged after {within:?}: {:?}",
                self.acked(),
                self.log.lock().unwrap().failed.first()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until at least `count` posts have failed.
    async fn wait_for_failures(&self, count: usize, within: Duration) {
        let failed = || self.log.lock().unwrap().failed.len();
        eventually("failed posts", within, || async {
            (failed() >= count).then_some(())
        })
        .await;
    }

    /// Marks the moment from which posts are sent (and failures seen) "after".
    fn mark(&self) {
        self.mark.store(true, Ordering::SeqCst);
    }

    /// Stops the posters, lets the posts in flight finish, and returns what they saw.
    pub(super) async fn stop(self) -> Log {
        self.stop.store(true, Ordering::SeqCst);
        for task in self.tasks {
            task.await.expect("a poster does not panic");
        }
        Arc::try_unwrap(self.log).unwrap().into_inner().unwrap()
    }
}

/// The interactions' message ids, checked to be distinct and to be exactly `messages`.
fn assert_one_interaction_each(interactions: &[Value], messages: &[Value]) {
    let carried: Vec<i64> = interactions
        .iter()
        .map(|i| i["message_id"].as_i64().unwrap())
        .collect();
    let distinct: HashSet<i64> = carried.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        carried.len(),
        "a message has more than one interaction"
    );
    let ids: HashSet<i64> = messages.iter().map(|m| m["id"].as_i64().unwrap()).collect();
    assert_eq!(
        interactions.len(),
        messages.len(),
        "one interaction per message"
    );
    assert_eq!(distinct, ids, "the interactions carry exactly the messages");
    for message in messages {
        assert_eq!(message["state"], "routed", "{message}");
        assert!(message["interaction_id"].is_i64(), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_mid_stream_keeps_every_acknowledged_message_and_routes_each_once() {
    let db = TestDatabase::new().await;
    let mut server = Server::start_with_admin_token(&db.url, TEST_ADMIN_TOKEN);
    let api = Api::at(&server.wait_for("switchyard: listening on "));
    let sales = api
        .create("/api/v1/acd-groups", json!({ "name": "sales" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let connector = api
        .create(
            "/api/v1/connectors/sms",
            json!({ "name": "main line", "recipient": RECIPIENT,
                    "routing_type": "direct_acd_group", "acd_group": sales }),
        )
        .await;
    let connector_id = connector["id"].as_i64().unwrap();
    let token = connector["token"].as_str().unwrap().to_owned();

    let stream = Stream::start(
        &api,
        &token,
        "kill",
        8,
        Duration::ZERO,
        |_| "where is my parcel?",
    );
    stream.wait_for_acks(400, Duration::from_secs(30)).await;
    stream.mark();
    server.signal("KILL");
    let (exit, _) = server.exited(Duration::from_secs(10)).await;
    assert!(!exit.success(), "{exit:?}");
    // The gateways go on posting into the void until they have seen posts fail.
    stream.wait_for_failures(8, Duration::from_secs(10)).await;
    let log = stream.stop().await;
    assert!(log.wrong.is_empty(), "{:#?}", log.wrong);
    let early: Vec<_> = log.failed.iter().filter(|(_, after, _)| !after).collect();
    assert!(early.is_empty(), "posts failed before the kill: {early:#?}");
    assert!(
        !log.failed.is_empty(),
        "the kill interrupted the stream, so some posts failed"
    );
    let acked_before_restart = log.acked.len();

    // Restarted on the same database, the server hears the gateways' retries.
    let restarted_at = now_ms();
    let mut server = Server::start_with_admin_token(&db.url, TEST_ADMIN_TOKEN);
    let api = Api::at(&server.wait_for("switchyard: listening on "));
    let mut expected: HashMap<String, i64> = log
        .acked
        .iter()
        .map(|(id, ack)| (id.clone(), ack.id))
        .collect();
    let mut stored_unacknowledged = 0;
    for (gateway_id, _, _) in &log.failed {
        let n: usize = gateway_id["kill-".len()..].parse().unwrap();
        let (status, body) = api
            .post_sms(&token, &sms(n, gateway_id, "where is my parcel?"))
            .await
            .unwrap();
        // Stored before the kill but not acknowledged, or not stored: either is right.
        match (status, body["duplicate"].as_bool()) {
            (202, Some(false)) => {}
            (200, Some(true)) => stored_unacknowledged += 1,
            _ => panic!("retry of {gateway_id}: {status} {body}"),
        }
        expected.insert(gateway_id.clone(), body["id"].as_i64().unwrap());
    }
    let mut sample: Vec<(&String, &Ack)> = log.acked.iter().collect();
    sample.sort_by_key(|(_, ack)| ack.id);
    for (gateway_id, ack) in sample.iter().step_by(10) {
        let n: usize = gateway_id["kill-".len()..].parse().unwrap();
        let (status, body) = api
            .post_sms(&token, &sms(n, gateway_id, "where is my parcel?"))
            .await
            .unwrap();
        assert_eq!(status, 200, "retry of acknowledged {gateway_id}: {body}");
        assert_eq!(body["duplicate"], true, "{gateway_id}: {body}");
        assert_eq!(body["id"], ack.id, "{gateway_id}: {body}");
    }

    // Every message the gateways posted is stored exactly once, under the id it was
    // acknowledged with.
    let messages = api
        .all(&format!("/api/v1/messages?connector={connector_id}"))
        .await;
    let mut stored: HashMap<String, i64> = HashMap::new();
    for message in &messages {
        let gateway_id = message["gateway_message_id"].as_str().unwrap().to_owned();
        let id = message["id"].as_i64().unwrap();
        if let Some(other) = stored.insert(gateway_id.clone(), id) {
            panic!("{gateway_id} is stored twice: as {other} and {id}");
        }
    }
    let lost: Vec<_> = expected
        .keys()
        .filter(|k| !stored.contains_key(*k))
        .collect();
    assert!(
        lost.is_empty(),
        "acknowledged or retried but not stored: {lost:?}"
    );
    assert_eq!(
        stored, expected,
        "stored under the acknowledged ids, and nothing else"
    );
    let distinct_ids: HashSet<i64> = stored.values().copied().collect();
    assert_eq!(distinct_ids.len(), messages.len());

    // Routing resumes (on PostgreSQL once the dead process's leases run out) and routes
    // each message exactly once.
    let messages = api.all_routed(connector_id, Duration::from_secs(60)).await;
    let interactions = api
        .all(&format!("/api/v1/interactions?acd_group={sales}"))
        .await;
    assert_eq!(messages.len(), expected.len());
    assert_one_interaction_each(&interactions, &messages);

    server.signal("TERM");
    let (exit, stderr) = server.exited(Duration::from_secs(20)).await;
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
    let acked_ids: HashSet<i64> = log.acked.values().map(|ack| ack.id).collect();
    let resumed = interactions
        .iter()
        .filter(|i| acked_ids.contains(&i["message_id"].as_i64().unwrap()))
        .filter(|i| i["created_at"].as_i64().unwrap() >= restarted_at)
        .count();
    eprintln!(
        "{acked_before_restart} acknowledged before the kill ({resumed} of them routed only \
         after the restart), {} failed ({stored_unacknowledged} of them stored anyway), {} \
         stored",
        log.failed.len(),
        messages.len()
    );
}

#[tokio::test]
async fn sigterm_lets_a_post_whose_body_is_still_arriving_finish() {
    let db = TestDatabase::new().await;
    // tower-http logs each request as the server starts on it, inside the request's
    // span (which names the path); the server logs the signal when it begins its
    // shutdown. The test waits for both.
    let mut server = Server::start_with_log(
        &db.url,
        TEST_ADMIN_TOKEN,
        "warn,tower_http=debug,switchyard::api=info,switchyard::startup=info",
    );
    let address = server.wait_for("switchyard: listening on ");
    let api = Api::at(&address);
    let sales = api
        .create("/api/v1/acd-groups", json!({ "name": "sales" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let connector = api
        .create(
            "/api/v1/connectors/sms",
            json!({ "name": "main line", "recipient": RECIPIENT,
                    "routing_type": "direct_acd_group", "acd_group": sales }),
        )
        .await;
    let token = connector["token"].as_str().unwrap();

    let body = sms(1, "slow-1", "sent over a slow link").to_string();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut socket = tokio::net::TcpStream::connect(address.strip_prefix("http://").unwrap())
        .await
        .unwrap();
    let head = format!(
        "POST /api/v1/sms/inbound HTTP/1.1\r\nHost: switchyard\r\n\
         Content-Type: application/json\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(first).await.unwrap();
    socket.flush().await.unwrap();
    // The server has read the headers and started on the request, whose body is
    // still half missing, when it is told to stop. The line must be this request's:
    // the requests that created the group and the connector logged the same words.
    loop {
        let line = server.wait_for_line_with("started processing request");
        if line.contains("/api/v1/sms/inbound") {
            break;
        }
    }
    server.signal("TERM");
    server.wait_for_line_with("shutdown signal received");
    socket.write_all(rest).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), socket.read_to_end(&mut answer))
        .await
        .expect("an answer within 15 s")
        .unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 202 "), "{answer}");
    let json: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(json["duplicate"], false, "{json}");
    let id = json["id"].as_i64().unwrap();

    let (exit, stderr) = server.exited(Duration::from_secs(20)).await;
    let exited_at = now_ms();
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
    assert!(
        stderr.iter().any(|l| l == "switchyard: stopped"),
        "{stderr:#?}"
    );

    let mut server = Server::start_with_admin_token(&db.url, TEST_ADMIN_TOKEN);
    let api = Api::at(&server.wait_for("switchyard: listening on "));
    let message = api.get(&format!("/api/v1/messages/{id}")).await;
    assert_eq!(message["gateway_message_id"], "slow-1", "{message}");
    assert_eq!(message["text"], "sent over a slow link", "{message}");
    // The stopping server routed what it had acknowledged before it exited.
    assert_eq!(message["state"], "routed", "{message}");
    assert!(
        message["routing"]["routed_at"].as_i64().unwrap() <= exited_at,
        "{message}"
    );
    let interaction = api
        .get(&format!(
            "/api/v1/interactions/{}",
            message["interaction_id"].as_i64().expect("an interaction")
        ))
        .await;
    assert_eq!(interaction["acd_group"], sales);
    assert_eq!(interaction["message"]["id"], id);

    server.signal("TERM");
    let (exit, stderr) = server.exited(Duration::from_secs(20)).await;
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backlog_resumed_while_new_posts_arrive_is_routed_once_without_failed_batches() {
    let db = TestDatabase::new().await;
    let mut server = Server::start_with_admin_token(&db.url, TEST_ADMIN_TOKEN);
    let api = Api::at(&server.wait_for("switchyard: listening on "));
    let sales = api
        .create("/api/v1/acd-groups", json!({ "name": "sales" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let connector = api
        .create(
            "/api/v1/connectors/sms",
            json!({ "name": "main line", "recipient": RECIPIENT,
                    "routing_type": "direct_acd_group", "acd_group": sales }),
        )
        .await;
    let connector_id = connector["id"].as_i64().unwrap();
    let token = connector["token"].as_str().unwrap().to_owned();
    server.signal("TERM");
    let (exit, stderr) = server.exited(Duration::from_secs(20)).await;
    assert!(exit.success(), "{exit:?}: {stderr:#?}");

    // What a server leaves that acknowledged a burst and died before routing it:
    // messages stored as its ingest writer stores them, still `received` and leased.
    const BACKLOG: usize = 3_000;
    let store = Store::connect(&db.url).await.unwrap();
    let numbers: Vec<usize> = (0..BACKLOG).collect();
    for chunk in numbers.chunks(500) {
        let posts: Vec<NewInbound> = chunk
            .iter()
            .map(|&n| {
                let post = sms(n, &format!("backlog-{n:05}"), "left behind");
                NewInbound::sms(
                    connector_id,
                    InboundSms::from_json(serde_json::from_value(post).unwrap(), now_ms()).unwrap(),
                )
            })
            .collect();
        store.store_inbound(&posts).await.unwrap();
    }
    store.close().await;

    // The restarted server resumes the backlog while the gateways post new messages.
    let mut server = Server::start_with_admin_token(&db.url, TEST_ADMIN_TOKEN);
    let api = Api::at(&server.wait_for("switchyard: listening on "));
    let stream = Stream::start(&api, &token, "fresh", 8, Duration::ZERO, |_| "just arrived");
    stream.wait_for_acks(1_500, Duration::from_secs(40)).await;
    let log = stream.stop().await;
    assert!(log.wrong.is_empty(), "{:#?}", log.wrong);
    assert!(log.failed.is_empty(), "{:#?}", log.failed);

    let messages = api.all_routed(connector_id, Duration::from_secs(60)).await;
    assert_eq!(messages.len(), BACKLOG + log.acked.len());
    let interactions = api
        .all(&format!("/api/v1/interactions?acd_group={sales}"))
        .await;
    assert_one_interaction_each(&interactions, &messages);

    server.signal("TERM");
    let (exit, stderr) = server.exited(Duration::from_secs(20)).await;
    assert!(exit.success(), "{exit:?}: {stderr:#?}");
    // A healthy database fails no batch (a message handed to the router twice, by the
    // ingest writer and by the scanner, must not give it two outcomes to write).
    let failed: Vec<_> = stderr
        .iter()
        .filter(|l| l.contains("batch") && (l.contains("WARN") || l.contains("ERROR")))
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

/// Texts and the group the keyword router's settings send them to.
pub(super) const TEXTS: [(&str, &str); 4] = [
    ("please send the invoice again", "billing"),
    ("my phone is broken", "support"),
    ("hello there", "general"),
    ("my Direct-Debit failed", "billing"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switching_the_plugin_version_mid_stream_neither_drops_nor_double_routes() {
    let app = spawn_app().await;
    for name in ["billing", "support", "general"] {
        group(&app, name).await;
    }
    let connector = created(
        &app,
        json!({ "name": "keywords", "recipient": RECIPIENT,
                "routing_type": "routing_application",
                "plugin_settings": keyword_settings() }),
    )
    .await;
    let connector_id = connector["id"].as_i64().unwrap();
    let token = connector["token"].as_str().unwrap();
    let plugins = format!("/api/v1/connectors/sms/{connector_id}/plugins");
    let upload = |bytes: Vec<u8>| {
        app.admin(Method::POST, &plugins)
            .header("content-type", "application/wasm")
            .body(bytes)
            .send()
    };
    let rust = plugin_bytes("keyword-router");
    let python = plugin_bytes("keyword-router-py");
    let v1: Value = upload(rust).await.unwrap().json().await.unwrap();
    assert_eq!(
        (v1["version"].as_i64(), v1["active"].as_bool()),
        (Some(1), Some(true)),
        "{v1}"
    );

    // Compiled before the stream (the upload finds it in the runtime's memory), so that
    // the switch is quick and the stream around it short: a cold compile of the 18 MB
    // Python component takes many seconds, and the switch, not Cranelift, is tested.
    let runtime = shared_server_runtime();
    let bytes = python.clone();
    tokio::task::spawn_blocking(move || runtime.load_as(&bytes, World::RoutingApplication))
        .await
        .unwrap()
        .expect("the Python keyword router loads");

    let api = Api::of(&app);
    let stream = Stream::start(&api, token, "switch", 4, Duration::from_millis(40), |n| {
        TEXTS[n % TEXTS.len()].0
    });
    stream.wait_for_acks(100, Duration::from_secs(30)).await;
    // Midway, once version 1 has routed something: version 2 in another language.
    let start = Instant::now();
    while api.get("/api/v1/messages?state=routed&limit=1").await["items"] == json!([]) {
        assert!(start.elapsed() < Duration::from_secs(30), "nothing routed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let response = upload(python).await.unwrap();
    assert_eq!(response.status(), 201);
    let v2: Value = response.json().await.unwrap();
    assert_eq!(
        (v2["version"].as_i64(), v2["active"].as_bool()),
        (Some(2), Some(false)),
        "{v2}"
    );
    let response = app
        .admin(Method::POST, &format!("{plugins}/2/activate"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stream.mark();
    let at_switch = stream.acked();
    stream
        .wait_for_acks(at_switch + 100, Duration::from_secs(30))
        .await;
    let log = stream.stop().await;
    assert!(log.wrong.is_empty(), "{:#?}", log.wrong);
    assert!(log.failed.is_empty(), "{:#?}", log.failed);

    let messages = api.all_routed(connector_id, Duration::from_secs(60)).await;
    assert_eq!(
        messages.len(),
        log.acked.len(),
        "every acknowledged post, once"
    );
    let mut by_version: HashMap<i64, usize> = HashMap::new();
    let api = &api;
    let mut acked: Vec<(&String, &Ack)> = log.acked.iter().collect();
    acked.sort_by_key(|(_, ack)| ack.id);
    for chunk in acked.chunks(32) {
        let routed = futures_util::future::join_all(chunk.iter().map(|(_, ack)| {
            let path = format!("/api/v1/messages/{}", ack.id);
            async move { api.get(&path).await }
        }))
        .await;
        for ((gateway_id, ack), message) in chunk.iter().zip(routed) {
            assert_eq!(&message["gateway_message_id"], gateway_id.as_str());
            assert_eq!(message["state"], "routed", "{message}");
            let routing = &message["routing"];
            let version = routing["plugin_version"].as_i64().unwrap_or_default();
            let sha = match version {
                1 => &v1["sha256"],
                2 => &v2["sha256"],
                _ => panic!("{gateway_id} routed by no known version: {message}"),
            };
            assert_eq!(&routing["plugin_sha256"], sha, "{message}");
            assert_eq!(routing["outcome"], "acd_group", "{message}");
            if ack.sent_after_mark {
                assert_eq!(version, 2, "posted after the switch: {message}");
            }
            *by_version.entry(version).or_default() += 1;
        }
    }
    assert!(
        by_version.len() == 2,
        "both versions routed messages: {by_version:?}"
    );

    let interactions = api.all("/api/v1/interactions?state=queued").await;
    assert_one_interaction_each(&interactions, &messages);
    for interaction in &interactions {
        let text = interaction["text"].as_str().unwrap();
        let (_, group) = TEXTS.iter().find(|(t, _)| *t == text).unwrap();
        assert_eq!(interaction["acd_group_name"], *group, "{interaction}");
    }
    eprintln!("{} messages: {by_version:?} by version", messages.len());
}

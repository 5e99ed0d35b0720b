//! Benchmark: inbound SMS offered to many connected agents over CometD, from the 202
//! of `POST /api/v1/sms/inbound` to the `Invited` notification at the agent's client.
//!
//! Run with `cargo bench -p switchyard-tests --bench agents`; options after `--`:
//! `--backend sqlite|postgres` (default: `SWITCHYARD_TEST_DATABASE`, else SQLite),
//! `--agents N` (default 1000, half long-polling, half WebSocket), `--rate R` (posts a
//! second, default 200), `--seconds S` (default 20), `--deadline S` (how long after the
//! last post an interaction may still be offered, default 30), `--accept` (each agent
//! accepts what it is offered, then stops processing it). `AGENTS`, `RATE` and
//! `SECONDS` in the environment set the same as the flags (flags win). CI runs a tiny
//! size in debug from `tests/run.sh` so the path cannot rot unnoticed.
//!
//! A fresh database and the real server (`Application`) run in this process on a
//! runtime of their own (one worker per CPU, as `switchyard serve` builds it). The
//! clients run on a single-threaded runtime on the main thread: raw Bayeux clients,
//! one per agent, each with its own connection(s) as a browser would have, using the
//! ack extension and subscribed to `/me/interactions`, keeping a connect outstanding.
//! One ACD group holds every agent; one `direct_acd_group` connector feeds it. Agents
//! are created and logged in before anything is measured (each costs two Argon2
//! hashes). Posts go out open-loop at the given rate, each with a unique sender and a
//! text naming its number, so the `Invited` notification tells which post it is.
//!
//! Reported: posts, how many were offered (first `Invited` per post), offers a second
//! (offered over the time from the first post to the last first `Invited`), and the
//! latency from the post's 202 at the poster to its first `Invited` at the client,
//! overall and per transport; `late` counts posts never offered within the deadline.
//! An `Invited` that beats its own 202 to the client counts as 0 ms (`before 202`).
//! Exits non-zero if any post was never offered or a client failed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use switchyard_tests::metrics::Exposition;
use switchyard_tests::{TEST_ADMIN_TOKEN, TestDatabase, test_backend_is_postgres};
use tokio::runtime::Handle;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message as Frame;

/// The number the connector receives for.
const RECIPIENT: &str = "+4930123456";
const PASSWORD: &str = "correct horse battery";
/// What every posted text starts with; the post's number follows.
const TEXT_PREFIX: &str = "bench post ";
/// Logins and agent creations at once: each is an Argon2 hash on a blocking thread,
/// so more than a few per core only queues.
const SETUP_PARALLELISM: usize = 8;
/// Latency target of the brief (p99), shown beside the figure.
const TARGET_P99_MS: f64 = 50.0;

struct Options {
    postgres: bool,
    agents: usize,
    rate: f64,
    seconds: f64,
    deadline: Duration,
    accept: bool,
}

fn options() -> Options {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let number = |value: Option<String>, what: &str| -> f64 {
        value
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|n| *n > 0.0)
            .unwrap_or_else(|| panic!("{what} takes a positive number"))
    };
    let mut options = Options {
        postgres: test_backend_is_postgres(),
        agents: 1_000,
        rate: 200.0,
        seconds: 20.0,
        deadline: Duration::from_secs(30),
        accept: false,
    };
    if let Some(v) = env("AGENTS") {
        options.agents = number(Some(v), "AGENTS") as usize;
    }
    if let Some(v) = env("RATE") {
        options.rate = number(Some(v), "RATE");
    }
    if let Some(v) = env("SECONDS") {
        options.seconds = number(Some(v), "SECONDS");
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // `cargo bench` passes `--bench` to every harness = false target.
            "--bench" => {}
            "--backend" => {
                options.postgres = match args.next().as_deref() {
                    Some("sqlite") => false,
                    Some("postgres") => true,
                    other => panic!("--backend {other:?}: expected sqlite or postgres"),
                }
            }
            "--agents" => options.agents = number(args.next(), "--agents") as usize,
            "--rate" => options.rate = number(args.next(), "--rate"),
            "--seconds" => options.seconds = number(args.next(), "--seconds"),
            "--deadline" => {
                options.deadline = Duration::from_secs_f64(number(args.next(), "--deadline"))
            }
            "--accept" => options.accept = true,
            other => panic!("unknown argument `{other}` (see the top of benches/agents.rs)"),
        }
    }
    assert!(options.agents >= 2, "--agents: at least one per transport");
    options
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Transport {
    LongPolling,
    WebSocket,
}

/// What happened to one post.
#[derive(Default, Clone)]
struct Post {
    sent: Option<Instant>,
    acked: Option<Instant>,
    /// The first `Invited` for it, at whichever client.
    invited: Option<(Instant, Transport)>,
    /// `Invited` notifications after the first (an offer that ran out and went on).
    repeats: u32,
}

/// What the clients and the poster share.
struct Shared {
    base: String,
    /// For the agents' REST calls (ready, Accept, StopProcessing) and the posts.
    http: reqwest::Client,
    posts: Mutex<Vec<Post>>,
    accept: bool,
    connected: AtomicUsize,
    failed: AtomicUsize,
    /// Operations (Accept, StopProcessing) that did not answer 200.
    refused: AtomicUsize,
}

impl Shared {
    /// Records the `Invited` notifications among `messages`, received at `at`.
    fn received(
        self: &Arc<Self>,
        messages: &[Value],
        at: Instant,
        transport: Transport,
        token: &str,
    ) {
        for message in messages {
            if message["channel"] != "/me/interactions" || message["data"]["state"] != "Invited" {
                continue;
            }
            let data = &message["data"];
            let Some(n) = data["sms_object"]["text"]
                .as_str()
                .and_then(|t| t.strip_prefix(TEXT_PREFIX))
                .and_then(|n| n.parse::<usize>().ok())
            else {
                continue;
            };
            {
                let mut posts = self.posts.lock().unwrap();
                let Some(post) = posts.get_mut(n) else {
                    continue;
                };
                if post.invited.is_some() {
                    post.repeats += 1;
                } else {
                    post.invited = Some((at, transport));
                }
            }
            if self.accept
                && let Some(id) = data["id"].as_str()
            {
                let (shared, token, id) = (self.clone(), token.to_owned(), id.to_owned());
                tokio::spawn(async move { shared.finish(&token, &id).await });
            }
        }
    }

    /// Accepts interaction `id`, then stops processing it: the agent's capacity is
    /// freed and the interaction leaves the offering pass's working set.
    async fn finish(&self, token: &str, id: &str) {
        for operation in ["Accept", "StopProcessing"] {
            let response = self
                .http
                .post(format!("{}/api/v1/me/interactions/{id}", self.base))
                .bearer_auth(token)
                .json(&json!({ "operationName": operation }))
                .send()
                .await;
            if !response.is_ok_and(|r| r.status() == 200) {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return;
            }
        }
    }

    async fn set_ready(&self, token: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .put(format!("{}/api/v1/me/channels/sms", self.base))
            .bearer_auth(token)
            .json(&json!({ "state": "ready" }))
            .send()
            .await?;
        anyhow::ensure!(response.status() == 200, "ready: {}", response.status());
        Ok(())
    }
}

fn main() {
    let options = options();
    // Warnings and errors of the server belong in a benchmark's output; per-request
    // logging does not, as in production.
    switchyard::telemetry::init("warn").expect("a valid SWITCHYARD_LOG_FORMAT");
    let server = tokio::runtime::Builder::new_multi_thread()
        .thread_name("server")
        .enable_all()
        .build()
        .expect("server runtime");
    let clients = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    let ok = clients.block_on(run(&options, server.handle()));
    server.shutdown_timeout(Duration::from_secs(10));
    if !ok {
        std::process::exit(1);
    }
}

/// The real server on `db`, spawned on the server runtime.
async fn start_app(
    server: &Handle,
    db: &TestDatabase,
) -> (String, oneshot::Sender<()>, JoinHandle<anyhow::Result<()>>) {
    let mut config = switchyard_tests::test_config(db);
    config.admin_token = Some(switchyard::config::AdminToken::parse(TEST_ADMIN_TOKEN).unwrap());
    let (address, bound) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = server.spawn(async move {
        let app = switchyard::startup::Application::build_with_runtime(
            config,
            switchyard_tests::shared_server_runtime(),
        )
        .await?;
        let _ = address.send(app.local_addr());
        app.run_until(async move {
            let _ = stopped.await;
        })
        .await
    });
    let address = match bound.await {
        Ok(address) => address,
        Err(_) => panic!("the server did not start: {:?}", served.await),
    };
    (format!("http://{address}"), stop, served)
}

/// An admin call that must succeed; returns its JSON answer.
async fn admin(http: &reqwest::Client, base: &str, path: &str, body: Value) -> Value {
    let response = http
        .post(format!("{base}{path}"))
        .bearer_auth(TEST_ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    assert!(status.is_success(), "POST {path}: {status}: {text}");
    serde_json::from_str(&text).expect("JSON")
}

/// Creates agent `i` in `group` and logs them in; returns their session token.
async fn agent(http: &reqwest::Client, base: &str, group: i64, i: usize) -> String {
    let login = format!("agent{i:05}");
    admin(
        http,
        base,
        "/api/v1/agents",
        json!({ "login": login, "name": login, "password": PASSWORD, "groups": [group],
                "capacity": { "sms": 100, "email": 1 } }),
    )
    .await;
    let response = http
        .post(format!("{base}/api/v1/agent-sessions"))
        .json(&json!({ "login": login, "password": PASSWORD }))
        .send()
        .await
        .expect("the server answers");
    assert_eq!(response.status(), 201, "login of {login}");
    let session: Value = response.json().await.expect("JSON");
    session["token"].as_str().expect("a token").to_owned()
}

async fn run(options: &Options, server: &Handle) -> bool {
    let backend = if options.postgres {
        "postgres"
    } else {
        "sqlite"
    };
    let db = if options.postgres {
        TestDatabase::postgres().await
    } else {
        TestDatabase::sqlite()
    };
    let (base, stop, served) = start_app(server, &db).await;
    let http = reqwest::Client::new();

    // Without Accept, an offer stays Invited: a long offer timeout keeps it from
    // running out and going to another agent mid-run.
    let mut group = json!({ "name": "bench" });
    if !options.accept {
        group["offer_timeout_ms"] = json!(3_600_000);
    }
    let group = admin(&http, &base, "/api/v1/acd-groups", group).await["id"]
        .as_i64()
        .unwrap();
    let connector = admin(
        &http,
        &base,
        "/api/v1/connectors/sms",
        json!({ "name": "bench", "recipient": RECIPIENT, "require_token": true,
                "routing_type": "direct_acd_group", "acd_group": group }),
    )
    .await;
    let connector = connector["token"].as_str().unwrap().to_owned();

    let setup = Instant::now();
    let limit = Arc::new(Semaphore::new(SETUP_PARALLELISM));
    let mut created = Vec::new();
    for i in 0..options.agents {
        let (http, base, limit) = (http.clone(), base.clone(), limit.clone());
        created.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            agent(&http, &base, group, i).await
        }));
    }
    let mut tokens = Vec::new();
    for task in created {
        tokens.push(task.await.expect("agent setup"));
    }
    let created_in = setup.elapsed();

    let total = (options.rate * options.seconds).round().max(1.0) as usize;
    let shared = Arc::new(Shared {
        base: base.clone(),
        http: http.clone(),
        posts: Mutex::new(vec![Post::default(); total]),
        accept: options.accept,
        connected: AtomicUsize::new(0),
        failed: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
    });
    let connecting = Instant::now();
    let mut clients = Vec::new();
    for (i, token) in tokens.into_iter().enumerate() {
        let transport = if i % 2 == 0 {
            Transport::LongPolling
        } else {
            Transport::WebSocket
        };
        let shared = shared.clone();
        clients.push(tokio::spawn(async move {
            let result = match transport {
                Transport::LongPolling => long_polling(&shared, &token).await,
                Transport::WebSocket => websocket(&shared, &token).await,
            };
            if let Err(e) = result {
                eprintln!("agent {i} ({transport:?}): {e:#}");
                shared.failed.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Every client connected, subscribed and ready before the first post.
    let ready_limit = Duration::from_secs(120 + options.agents as u64 / 10);
    while shared.connected.load(Ordering::Relaxed) + shared.failed.load(Ordering::Relaxed)
        < options.agents
    {
        assert!(
            connecting.elapsed() < ready_limit,
            "only {} of {} agents connected and ready",
            shared.connected.load(Ordering::Relaxed),
            options.agents
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let connected_in = connecting.elapsed();
    let lp = options.agents.div_ceil(2);
    println!(
        "agents over CometD ({backend}): {} agents ({lp} long-polling, {} WebSocket), \
         created and logged in in {:.1} s, connected and ready in {:.1} s; {}{}",
        options.agents,
        options.agents - lp,
        created_in.as_secs_f64(),
        connected_in.as_secs_f64(),
        machine(),
        if options.accept {
            "; agents accept and stop processing each offer"
        } else {
            ""
        },
    );

    let before = metrics(&http, &base).await;
    let scraped = Instant::now();
    // Open-loop posting: each post on a task of its own at its slot, so a slow 202
    // does not slow the offered rate.
    let interval = Duration::from_secs_f64(1.0 / options.rate);
    let started = tokio::time::Instant::now();
    let mut posters = Vec::with_capacity(total);
    for n in 0..total {
        tokio::time::sleep_until(started + interval.mul_f64(n as f64)).await;
        let (shared, connector) = (shared.clone(), connector.clone());
        posters.push(tokio::spawn(async move {
            let body = json!({ "from": format!("+4915{n:09}"), "to": RECIPIENT,
                               "text": format!("{TEXT_PREFIX}{n}"), "message_id": format!("bench-{n}") });
            let sent = Instant::now();
            shared.posts.lock().unwrap()[n].sent = Some(sent);
            let response = shared
                .http
                .post(format!("{}/api/v1/sms/inbound", shared.base))
                .bearer_auth(&connector)
                .json(&body)
                .send()
                .await;
            let acked = Instant::now();
            match response {
                Ok(r) if r.status() == 202 => {
                    shared.posts.lock().unwrap()[n].acked = Some(acked);
                }
                Ok(r) => eprintln!("post {n}: {}", r.status()),
                Err(e) => eprintln!("post {n}: {e}"),
            }
        }));
    }
    for poster in posters {
        poster.await.expect("poster");
    }
    let posted_in = started.elapsed();
    // Then wait for every acknowledged post's first offer, or the deadline.
    let waited = Instant::now();
    loop {
        let missing = shared
            .posts
            .lock()
            .unwrap()
            .iter()
            .filter(|p| p.acked.is_some() && p.invited.is_none())
            .count();
        if missing == 0 || waited.elapsed() >= options.deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Offers already made may still be reaching clients; repeats are counted after.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let posts = shared.posts.lock().unwrap().clone();
    let ok = report(options, &posts, posted_in, &shared);
    server_side(&before, &metrics(&http, &base).await, scraped.elapsed());
    let stopping = Instant::now();
    for client in clients {
        client.abort();
    }
    let _ = stop.send(());
    match served.await {
        Ok(Ok(())) => {}
        other => eprintln!("the server did not stop cleanly: {other:?}"),
    }
    drop(db);
    eprintln!("stopped in {:.1} s", stopping.elapsed().as_secs_f64());
    ok
}

fn report(options: &Options, posts: &[Post], posted_in: Duration, shared: &Shared) -> bool {
    let acked = posts.iter().filter(|p| p.acked.is_some()).count();
    let first = posts.iter().filter_map(|p| p.sent).min();
    let last = posts.iter().filter_map(|p| p.invited.map(|i| i.0)).max();
    let mut all = Vec::new();
    let mut by = [Vec::new(), Vec::new()];
    let mut before_ack = 0;
    let mut ack_rtt = Vec::new();
    for post in posts {
        if let (Some(sent), Some(acked)) = (post.sent, post.acked) {
            ack_rtt.push(acked - sent);
        }
        let (Some(acked), Some((at, transport))) = (post.acked, post.invited) else {
            continue;
        };
        if at < acked {
            before_ack += 1;
        }
        let latency = at.saturating_duration_since(acked);
        all.push(latency);
        by[(transport == Transport::WebSocket) as usize].push(latency);
    }
    let offered = posts.iter().filter(|p| p.invited.is_some()).count();
    let late = posts
        .iter()
        .filter(|p| p.acked.is_some() && p.invited.is_none())
        .count();
    let repeats: u32 = posts.iter().map(|p| p.repeats).sum();
    let span = match (first, last) {
        (Some(first), Some(last)) => last.saturating_duration_since(first),
        _ => Duration::ZERO,
    };
    println!(
        "{:>6} posted in {:.1} s at {:.0}/s offered; 202 round trip p50 {} p99 {} ms; \
         deadline {:.0} s",
        posts.len(),
        posted_in.as_secs_f64(),
        options.rate,
        ms(percentile(&mut ack_rtt, 0.50)),
        ms(percentile(&mut ack_rtt, 0.99)),
        options.deadline.as_secs_f64(),
    );
    println!(
        "{:<13} {:>7} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>6}",
        "clients", "posted", "offered", "offers/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "late"
    );
    let lp = options.agents.div_ceil(2);
    let [by_lp, by_ws] = &mut by;
    let rows = [
        (
            format!("all {}", options.agents),
            &mut all,
            Some(posts.len()),
        ),
        (format!("LP {lp}"), by_lp, None),
        (format!("WS {}", options.agents - lp), by_ws, None),
    ];
    for (label, latencies, posted) in rows {
        let count = latencies.len();
        let rate = if span.is_zero() {
            0.0
        } else {
            count as f64 / span.as_secs_f64()
        };
        println!(
            "{:<13} {:>7} {:>7} {:>8.0} {:>8} {:>8} {:>8} {:>8} {:>6}",
            label,
            posted.map_or("-".to_owned(), |p| p.to_string()),
            count,
            rate,
            ms(percentile(latencies, 0.50)),
            ms(percentile(latencies, 0.90)),
            ms(percentile(latencies, 0.99)),
            ms(latencies.iter().max().copied()),
            if posted.is_some() {
                late.to_string()
            } else {
                "-".to_owned()
            },
        );
    }
    let p99 = percentile(&mut all, 0.99).map(|d| d.as_secs_f64() * 1e3);
    println!(
        "acked {acked}, Invited before its 202 {before_ack}, repeated Invited {repeats}, \
         operations refused {}, clients failed {}; target p99 <= {TARGET_P99_MS} ms: {}",
        shared.refused.load(Ordering::Relaxed),
        shared.failed.load(Ordering::Relaxed),
        match p99 {
            Some(p) if p <= TARGET_P99_MS => "met",
            Some(_) => "MISSED",
            None => "-",
        }
    );
    let ok = late == 0
        && offered == posts.len()
        && acked == posts.len()
        && shared.failed.load(Ordering::Relaxed) == 0;
    if !ok {
        eprintln!(
            "FAILED: {} of {} posts acknowledged, {offered} offered, {late} never offered \
             within {:.0} s",
            acked,
            posts.len(),
            options.deadline.as_secs_f64()
        );
    }
    ok
}

async fn metrics(http: &reqwest::Client, base: &str) -> Exposition {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .expect("the server answers")
        .text()
        .await
        .expect("a body");
    Exposition::parse(&text)
}

/// Where the server's time went during the run, from its own metrics: the offering
/// passes (how many, how long, how many offers each, the share of `span`, the time
/// between the scrapes, spent in them) and routing's latency.
fn server_side(before: &Exposition, after: &Exposition, span: Duration) {
    let delta = |name: &str| after.value(name, &[]) - before.value(name, &[]);
    let passes = delta("switchyard_offering_pass_seconds_count");
    let pass_s = delta("switchyard_offering_pass_seconds_sum");
    let offers = after.value("switchyard_offers_total", &[("event", "invited")])
        - before.value("switchyard_offers_total", &[("event", "invited")]);
    let routed = delta("switchyard_routing_latency_seconds_count");
    let routing_s = delta("switchyard_routing_latency_seconds_sum");
    let batches = delta("switchyard_routing_batch_size_messages_count");
    let per = |sum: f64, n: f64| if n > 0.0 { sum / n } else { 0.0 };
    println!(
        "server: {passes:.0} offering passes, mean {:.1} ms, {:.1} offers a pass, {:.0}% of \
         one core busy offering; {routed:.0} routed in {batches:.0} batches, mean routing \
         latency {:.1} ms",
        per(pass_s, passes) * 1e3,
        per(offers, passes),
        pass_s * 100.0 / span.as_secs_f64(),
        per(routing_s, routed) * 1e3,
    );
}

/// The `p` quantile (nearest rank) of `values`, sorting them.
fn percentile(values: &mut [Duration], p: f64) -> Option<Duration> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let rank = ((p * values.len() as f64).ceil() as usize).clamp(1, values.len());
    Some(values[rank - 1])
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64() * 1e3))
}

// ---------------------------------------------------------------------------------
// Clients
// ---------------------------------------------------------------------------------

fn handshake(token: &str, transport: &str) -> Value {
    json!([{ "channel": "/meta/handshake", "version": "1.0", "id": "1",
             "supportedConnectionTypes": [transport],
             "ext": { "token": token, "ack": true } }])
}

fn subscribe(client: &str) -> Value {
    json!([{ "channel": "/meta/subscribe", "clientId": client,
             "subscription": "/me/interactions", "id": "2" }])
}

fn connect(client: &str, transport: &str, id: u64, ack: Option<i64>) -> Value {
    let mut message = json!({ "channel": "/meta/connect", "clientId": client,
                               "connectionType": transport, "id": id.to_string() });
    if let Some(ack) = ack {
        message["ext"] = json!({ "ack": ack });
    }
    json!([message])
}

/// The reply on `channel` among `messages`, which must be successful.
fn reply_on<'a>(messages: &'a [Value], channel: &str) -> anyhow::Result<Option<&'a Value>> {
    let Some(reply) = messages.iter().find(|m| m["channel"] == channel) else {
        return Ok(None);
    };
    anyhow::ensure!(reply["successful"] == true, "{channel} refused: {reply}");
    Ok(Some(reply))
}

/// A browser on long-polling: its own HTTP client (so its own connections), the
/// handshake, the subscription, then connects one after another, each held by the
/// server until the agent has something.
async fn long_polling(shared: &Arc<Shared>, token: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let url = format!("{}/cometd", shared.base);
    let exchange = |body: Value| {
        let request = http.post(&url).json(&body);
        async move {
            let messages: Vec<Value> = request.send().await?.error_for_status()?.json().await?;
            anyhow::Ok(messages)
        }
    };
    let replies = exchange(handshake(token, "long-polling")).await?;
    let client = reply_on(&replies, "/meta/handshake")?
        .and_then(|r| r["clientId"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no clientId: {replies:?}"))?
        .to_owned();
    let replies = exchange(subscribe(&client)).await?;
    reply_on(&replies, "/meta/subscribe")?;
    let mut ack = None;
    for id in 3.. {
        let replies = exchange(connect(&client, "long-polling", id, ack)).await?;
        let at = Instant::now();
        let reply = reply_on(&replies, "/meta/connect")?
            .ok_or_else(|| anyhow::anyhow!("no connect reply: {replies:?}"))?;
        if let Some(batch) = reply["ext"]["ack"].as_i64() {
            ack = Some(batch);
        }
        shared.received(&replies, at, Transport::LongPolling, token);
        if id == 3 {
            // The first connect is answered at once: now the agent is connected.
            shared.set_ready(token).await?;
            shared.connected.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}

/// A browser on WebSocket: one socket, the same messages as long-polling, one connect
/// outstanding at a time; each reply comes as a frame of its own.
async fn websocket(shared: &Arc<Shared>, token: &str) -> anyhow::Result<()> {
    let url = format!("{}/cometd", shared.base.replacen("http://", "ws://", 1));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await?;
    socket
        .send(Frame::text(handshake(token, "websocket").to_string()))
        .await?;
    let mut client = None;
    let mut subscribed = false;
    let mut ack = None;
    let mut id = 3;
    while let Some(frame) = socket.next().await {
        let text = match frame? {
            Frame::Text(text) => text,
            Frame::Close(close) => anyhow::bail!("closed by the server: {close:?}"),
            _ => continue,
        };
        let at = Instant::now();
        let replies: Vec<Value> = serde_json::from_str(&text)?;
        if let Some(reply) = reply_on(&replies, "/meta/handshake")? {
            let id = reply["clientId"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("no clientId: {reply}"))?;
            socket.send(Frame::text(subscribe(id).to_string())).await?;
            client = Some(id.to_owned());
            continue;
        }
        let client = client
            .as_deref()
            .ok_or_else(|| anyhow::anyhow!("a reply before the handshake's: {text}"))?;
        if reply_on(&replies, "/meta/subscribe")?.is_some() {
            subscribed = true;
            socket
                .send(Frame::text(
                    connect(client, "websocket", id, None).to_string(),
                ))
                .await?;
            continue;
        }
        anyhow::ensure!(subscribed, "a reply before the subscription's: {text}");
        shared.received(&replies, at, Transport::WebSocket, token);
        if let Some(reply) = reply_on(&replies, "/meta/connect")? {
            if let Some(batch) = reply["ext"]["ack"].as_i64() {
                ack = Some(batch);
            }
            if id == 3 {
                shared.set_ready(token).await?;
                shared.connected.fetch_add(1, Ordering::Relaxed);
            }
            id += 1;
            socket
                .send(Frame::text(
                    connect(client, "websocket", id, ack).to_string(),
                ))
                .await?;
        }
    }
    anyhow::bail!("the socket ended")
}

/// The CPU model, CPU count and load, for the record.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |l| l.trim_start_matches([' ', '\t', ':']));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    format!(
        "{model}, {} CPUs, load {load}",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}

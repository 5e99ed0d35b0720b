//! Benchmark: sustained ingest of the SMS Receiver API over loopback, on SQLite and on
//! PostgreSQL, against a minimal axum handler as the floor.
//!
//! Run with `cargo bench -p switchyard-tests --bench ingest` after `plugins/build.sh`;
//! options after `--`: `--backend sqlite|postgres|both`, `--connections N`, `--warmup S`,
//! `--seconds S`, `--only floor,direct,rust,python`, `--quick` (1 s warm-up, 2 s).
//!
//! For each scenario a fresh database and a real server (`Application`) are started in
//! this process, on a tokio runtime of their own with one worker per CPU, as
//! `switchyard serve` builds it. The load generator runs on a single-threaded runtime
//! on the main thread: a fixed number of HTTP/1.1 keep-alive connections, each writing
//! pre-rendered requests (only the digits of the message id and sender change) and
//! waiting for the answer before the next. After the warm-up the server is left to
//! route everything, so the measured window starts with an empty backlog.
//!
//! Columns: `acked`, `ack/s`, `p50`/`p99` are the 202s and their round trips in the
//! measured window; `routed/s` is the window's posts divided by the time from the
//! window's start until none of them is left `received` (routing is asynchronous, so
//! the drain after the last post, `drain s`, is included); `ack xd` and `rtd xd` are
//! ack/s and routed/s relative to the direct connector on the same backend; `c-cpu`,
//! `s-cpu` and `other` are the CPUs (1.0 = one core) used in the window by the load
//! generator, by the server (the rest of this process) and by everything else on the
//! machine (PostgreSQL's backends, and whatever else runs there).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::post;
use reqwest::Method;
use serde_json::{Value, json};
use switchyard::domain::connectors::inbound::JsonSms;
use switchyard_tests::{TEST_ADMIN_TOKEN, TestDatabase, plugin_bytes, repo_root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The number every connector of the benchmark receives for.
const RECIPIENT: &str = "+4930123456";
/// Texts posted in turn. Two match a keyword group of the router's settings; the third
/// matches none, so the router also reads its kv store and queues the auto-reply: the
/// mix a keyword router sees in practice, rather than its cheapest path only.
const TEXTS: [&str; 3] = [
    "Hello, I have a question about the invoice I got last week",
    "My router is broken since this morning, please help",
    "Hi there, can somebody call me back today?",
];
/// Distinct senders cycled through: enough that conversations are mostly different
/// rows, as with real customers, while repeat senders still meet their own state.
const SENDERS: u64 = 10_000;
/// How often the drain is checked once posting stopped; bounds the error of routed/s.
const DRAIN_POLL: Duration = Duration::from_millis(10);
/// A backlog that takes longer than this to route means the server is stuck.
const DRAIN_LIMIT: Duration = Duration::from_secs(900);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Scenario {
    /// A bare axum handler that parses the post and answers 202: the HTTP floor.
    Floor,
    /// A connector that sends everything to one ACD group.
    Direct,
    /// A connector routed by `keyword-router.wasm`.
    Rust,
    /// A connector routed by `keyword-router-py.wasm`.
    Python,
}

impl Scenario {
    const ALL: [Scenario; 4] = [
        Scenario::Floor,
        Scenario::Direct,
        Scenario::Rust,
        Scenario::Python,
    ];

    fn key(self) -> &'static str {
        match self {
            Scenario::Floor => "floor",
            Scenario::Direct => "direct",
            Scenario::Rust => "rust",
            Scenario::Python => "python",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Scenario::Floor => "floor (axum, no store)",
            Scenario::Direct => "direct ACD group",
            Scenario::Rust => "keyword-router (Rust)",
            Scenario::Python => "keyword-router-py",
        }
    }

    /// The component routing this scenario's connector, by its `plugins/dist` name.
    fn plugin(self) -> Option<&'static str> {
        match self {
            Scenario::Rust => Some("keyword-router"),
            Scenario::Python => Some("keyword-router-py"),
            Scenario::Floor | Scenario::Direct => None,
        }
    }
}

struct Options {
    backends: Vec<Backend>,
    scenarios: Vec<Scenario>,
    connections: usize,
    warmup: Duration,
    duration: Duration,
}

fn options() -> Options {
    let mut options = Options {
        backends: vec![Backend::Sqlite, Backend::Postgres],
        scenarios: Scenario::ALL.to_vec(),
        connections: 64,
        warmup: Duration::from_secs(2),
        duration: Duration::from_secs(5),
    };
    let seconds = |value: Option<String>| {
        let value = value.expect("a number of seconds");
        Duration::from_secs_f64(value.parse().expect("a number of seconds"))
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // `cargo bench` passes `--bench` to every harness = false target.
            "--bench" => {}
            "--backend" => {
                options.backends = match args.next().as_deref() {
                    Some("sqlite") => vec![Backend::Sqlite],
                    Some("postgres") => vec![Backend::Postgres],
                    Some("both") => vec![Backend::Sqlite, Backend::Postgres],
                    other => panic!("--backend {other:?}: expected sqlite, postgres or both"),
                }
            }
            "--connections" => {
                options.connections = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|&n| n > 0)
                    .expect("--connections takes a positive number")
            }
            "--warmup" => options.warmup = seconds(args.next()),
            "--seconds" => options.duration = seconds(args.next()),
            "--quick" => {
                options.warmup = Duration::from_secs(1);
                options.duration = Duration::from_secs(2);
            }
            "--only" => {
                let list = args.next().expect("--only takes floor,direct,rust,python");
                options.scenarios = list
                    .split(',')
                    .map(|key| {
                        *Scenario::ALL
                            .iter()
                            .find(|s| s.key() == key)
                            .unwrap_or_else(|| panic!("--only: unknown scenario `{key}`"))
                    })
                    .collect();
            }
            other => panic!("unknown argument `{other}` (see the top of benches/ingest.rs)"),
        }
    }
    options
}

fn main() {
    let options = options();
    // Warnings and errors of the server (a failed commit, a plugin that traps) belong
    // in the output of a benchmark; per-request logging does not, as in production.
    switchyard::telemetry::init("warn").expect("a valid SWITCHYARD_LOG_FORMAT");
    // plugins/dist is an input: fail before any server starts if it is missing.
    for scenario in &options.scenarios {
        if let Some(name) = scenario.plugin() {
            drop(plugin_bytes(name));
        }
    }
    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");
    print_header(&options);
    let mut notes = Vec::new();
    if options.scenarios.contains(&Scenario::Floor) {
        let row = isolated(|server| client.block_on(measure_floor(&options, server)));
        print_row(&row, None);
    }
    for &backend in &options.backends {
        let mut direct: Option<Row> = None;
        for &scenario in &options.scenarios {
            if scenario == Scenario::Floor {
                continue;
            }
            let (row, note) = isolated(|server| {
                client.block_on(measure_connector(&options, server, backend, scenario))
            });
            print_row(&row, direct.as_ref());
            if scenario == Scenario::Direct {
                direct = Some(row);
            }
            notes.push(note);
        }
    }
    println!();
    for note in notes {
        println!("{note}");
    }
}

/// Runs one scenario with a server runtime of its own, shut down afterwards: a server
/// that stopped may leave its router working through a queue past the shutdown grace,
/// and that must not compete with the next scenario for the CPUs.
fn isolated<T>(scenario: impl FnOnce(&Handle) -> T) -> T {
    // The server's runtime as `switchyard serve` builds it (one worker per CPU), named
    // so that a profile (`perf report --comm server`) tells it from the load generator.
    let server = tokio::runtime::Builder::new_multi_thread()
        .thread_name("server")
        .enable_all()
        .build()
        .expect("server runtime");
    let result = scenario(server.handle());
    server.shutdown_timeout(Duration::from_secs(10));
    result
}

fn print_header(options: &Options) {
    println!(
        "ingest over loopback: {} connections, {:.1} s warm-up, {:.1} s measured; {}",
        options.connections,
        options.warmup.as_secs_f64(),
        options.duration.as_secs_f64(),
        machine(),
    );
    println!(
        "{:<9} {:<23} {:>7} {:>8} {:>8} {:>8} {:>9} {:>7} {:>6} {:>6}  {:>5} {:>5} {:>5}",
        "backend",
        "connector",
        "acked",
        "ack/s",
        "p50 ms",
        "p99 ms",
        "routed/s",
        "drain s",
        "ack xd",
        "rtd xd",
        "c-cpu",
        "s-cpu",
        "other",
    );
}

/// What one scenario measured. Times are over the measured window only.
struct Row {
    backend: &'static str,
    connector: &'static str,
    acked: u64,
    window: Duration,
    p50: Duration,
    p99: Duration,
    /// Posts of the window over the time until the last of them was routed.
    routed_per_s: Option<f64>,
    /// From the last acknowledgement to the last routing.
    drain: Option<Duration>,
    cpu: Cpu,
}

impl Row {
    fn ack_per_s(&self) -> f64 {
        self.acked as f64 / self.window.as_secs_f64()
    }
}

fn print_row(row: &Row, direct: Option<&Row>) {
    let ratio = |mine: Option<f64>, theirs: Option<f64>| match (mine, theirs) {
        (Some(a), Some(b)) => format!("{:.2}", a / b),
        _ => "-".to_owned(),
    };
    let ack_ratio = ratio(Some(row.ack_per_s()), direct.map(Row::ack_per_s));
    let routed_ratio = ratio(row.routed_per_s, direct.and_then(|d| d.routed_per_s));
    let ms = |d: Duration| format!("{:.2}", d.as_secs_f64() * 1e3);
    println!(
        "{:<9} {:<23} {:>7} {:>8.0} {:>8} {:>8} {:>9} {:>7} {:>6} {:>6}  {:>5.2} {:>5.2} {:>5.2}",
        row.backend,
        row.connector,
        row.acked,
        row.ack_per_s(),
        ms(row.p50),
        ms(row.p99),
        row.routed_per_s
            .map_or("-".to_owned(), |r| format!("{r:.0}")),
        row.drain
            .map_or("-".to_owned(), |d| format!("{:.2}", d.as_secs_f64())),
        ack_ratio,
        routed_ratio,
        row.cpu.client,
        row.cpu.server,
        row.cpu.other,
    );
}

// ---------------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------------

/// A server running on the server runtime until `stop` is sent.
struct Running {
    address: SocketAddr,
    stop: oneshot::Sender<()>,
    served: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        self.served
            .await
            .expect("the server task does not panic")
            .expect("the server stops cleanly");
    }
}

/// The floor: the same body parsed into the same type as the real handler, a 202 with
/// a reply of the real one's shape, and nothing else (no store, no validation).
async fn start_floor(server: &Handle) -> Running {
    async fn receive(axum::Json(post): axum::Json<JsonSms>) -> (StatusCode, axum::Json<Value>) {
        std::hint::black_box(post);
        (
            StatusCode::ACCEPTED,
            axum::Json(json!({ "id": 1, "state": "received", "duplicate": false })),
        )
    }
    let (address, bound) = oneshot::channel();
    let (stop, stopped) = oneshot::channel::<()>();
    // Bound inside the server runtime, so the listener belongs to its reactor.
    let served = server.spawn(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let _ = address.send(listener.local_addr()?);
        let router = axum::Router::new().route("/api/v1/sms/inbound", post(receive));
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await?;
        Ok(())
    });
    let address = bound.await.expect("the floor server binds");
    Running {
        address,
        stop,
        served,
    }
}

/// The real server on `db`, with the plugin runtime shared by all scenarios (so the
/// Python component is compiled once per run, not once per backend).
async fn start_app(server: &Handle, db: &TestDatabase) -> Running {
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
    Running {
        address,
        stop,
        served,
    }
}

/// The admin API, for setting a scenario up and watching it drain.
struct Admin {
    client: reqwest::Client,
    base: String,
}

impl Admin {
    async fn send(&self, request: reqwest::RequestBuilder) -> Value {
        let response = request
            .bearer_auth(TEST_ADMIN_TOKEN)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let text = response.text().await.expect("a response body");
        assert!(status.is_success(), "{status}: {text}");
        serde_json::from_str(&text).expect("a JSON response")
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.send(
            self.client
                .request(Method::POST, format!("{}{path}", self.base))
                .json(&body),
        )
        .await
    }

    async fn get(&self, path: &str) -> Value {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    async fn group(&self, name: &str) -> i64 {
        self.post("/api/v1/acd-groups", json!({ "name": name }))
            .await["id"]
            .as_i64()
            .expect("a group id")
    }

    /// Creates the scenario's connector and returns its token.
    async fn connector(&self, scenario: Scenario) -> String {
        let general = self.group("general").await;
        let connector = match scenario.plugin() {
            None => {
                self.post(
                    "/api/v1/connectors/sms",
                    json!({ "name": "bench direct", "recipient": RECIPIENT,
                            "routing_type": "direct_acd_group", "acd_group": general,
                            "incoming_subject": "SMS" }),
                )
                .await
            }
            Some(plugin) => {
                // The groups the router's settings name; `general` is its default.
                self.group("billing").await;
                self.group("support").await;
                let connector = self
                    .post(
                        "/api/v1/connectors/sms",
                        json!({ "name": format!("bench {plugin}"), "recipient": RECIPIENT,
                                "routing_type": "routing_application",
                                "fallback_acd_group": general,
                                "plugin_settings": router_settings() }),
                    )
                    .await;
                let path = format!("/api/v1/connectors/sms/{}/plugins", connector["id"]);
                let version = self
                    .send(
                        self.client
                            .post(format!("{}{path}", self.base))
                            .header("content-type", "application/wasm")
                            .body(plugin_bytes(plugin)),
                    )
                    .await;
                assert_eq!(version["active"], true, "a first upload is activated");
                connector
            }
        };
        connector["token"]
            .as_str()
            .expect("a connector token")
            .to_owned()
    }

    /// Waits until no message is left `received`; returns when that was seen. The
    /// cursor moves past routed messages, so each poll reads only the unrouted tail
    /// instead of scanning the whole table while the router works.
    async fn drained(&self) -> Instant {
        let give_up = Instant::now() + DRAIN_LIMIT;
        let mut after = 0;
        loop {
            let page = self
                .get(&format!(
                    "/api/v1/messages?state=received&limit=1&after={after}"
                ))
                .await;
            match page["items"][0]["id"].as_i64() {
                None => return Instant::now(),
                Some(id) => after = id - 1,
            }
            assert!(
                Instant::now() < give_up,
                "messages still unrouted after {DRAIN_LIMIT:?}"
            );
            tokio::time::sleep(DRAIN_POLL).await;
        }
    }
}

/// `plugins/keyword-router/examples/settings.json` without `overflow_group`: the host
/// reports 0 ready agents for every group until it has agents, so with an overflow
/// group every matched message would overflow, and each batch would count the queued
/// interactions of the group (a query that grows with the table): a different test.
fn router_settings() -> Value {
    let path = repo_root().join("plugins/keyword-router/examples/settings.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let mut settings: Value = serde_json::from_str(&text).expect("settings are JSON");
    settings
        .as_object_mut()
        .expect("settings are an object")
        .remove("overflow_group");
    settings
}

// ---------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------

async fn measure_floor(options: &Options, server: &Handle) -> Row {
    eprintln!("floor: warming up");
    let running = start_floor(server).await;
    let token = "floor-ignores-tokens";
    load(
        running.address,
        token,
        'w',
        options.connections,
        options.warmup,
    )
    .await;
    eprintln!("floor: measuring");
    let cpu = CpuClock::start();
    let window = load(
        running.address,
        token,
        'm',
        options.connections,
        options.duration,
    )
    .await;
    let cpu = cpu.stop();
    running.stop().await;
    window.row("-", Scenario::Floor.label(), None, None, cpu)
}

/// One connector scenario on a fresh database; returns its row and a note on what the
/// database holds afterwards and how durable it was.
async fn measure_connector(
    options: &Options,
    server: &Handle,
    backend: Backend,
    scenario: Scenario,
) -> (Row, String) {
    let name = format!("{} {}", backend.name(), scenario.key());
    let db = match backend {
        Backend::Sqlite => TestDatabase::sqlite(),
        Backend::Postgres => TestDatabase::postgres().await,
    };
    let running = start_app(server, &db).await;
    let admin = Admin {
        client: reqwest::Client::new(),
        base: format!("http://{}", running.address),
    };
    eprintln!("{name}: setting up");
    let token = admin.connector(scenario).await;

    eprintln!("{name}: warming up");
    let warmup = load(
        running.address,
        &token,
        'w',
        options.connections,
        options.warmup,
    )
    .await;
    // The window starts with nothing left to route, so every routing it sees is its
    // own posts'.
    admin.drained().await;

    eprintln!("{name}: measuring");
    let cpu = CpuClock::start();
    let window = load(
        running.address,
        &token,
        'm',
        options.connections,
        options.duration,
    )
    .await;
    let cpu = cpu.stop();
    eprintln!("{name}: draining");
    let drained = admin.drained().await;
    let routed_in = drained - window.started;
    let drain = drained.saturating_duration_since(window.finished);
    let routed_per_s = window.acked() as f64 / routed_in.as_secs_f64();

    let note = check_database(&db, backend, warmup.acked() + window.acked()).await;
    drop(admin);
    running.stop().await;
    drop(db);
    let row = window.row(
        backend.name(),
        scenario.label(),
        Some(routed_per_s),
        Some(drain),
        cpu,
    );
    (row, format!("{name}: {note}"))
}

/// Checks that every acknowledged post was stored once and routed to an interaction,
/// and says what durability the database gave them.
async fn check_database(db: &TestDatabase, backend: Backend, acked: u64) -> String {
    use sqlx::Connection;
    sqlx::any::install_default_drivers();
    let mut conn = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("the benchmark's database opens");
    let mut count = async |sql: &'static str| -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
    };
    let stored = count("SELECT COUNT(*) FROM inbound_messages").await;
    let routed = count("SELECT COUNT(*) FROM inbound_messages WHERE state = 'routed'").await;
    let interactions = count("SELECT COUNT(*) FROM interactions").await;
    let replies = count("SELECT COUNT(*) FROM queue_entries").await;
    assert_eq!(
        stored, acked as i64,
        "every acknowledged post is stored once"
    );
    assert_eq!(routed, stored, "every stored message is routed");
    assert_eq!(
        interactions, stored,
        "every routed message has its interaction"
    );
    let durability = match backend {
        // Per connection, so asked of a connection opened as the server opens its own
        // (sqlx's defaults, which the server does not override).
        Backend::Sqlite => {
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut conn)
                .await
                .expect("journal mode");
            let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
                .fetch_one(&mut conn)
                .await
                .expect("synchronous");
            let sync = match sync {
                0 => "OFF",
                1 => "NORMAL",
                2 => "FULL",
                3 => "EXTRA",
                _ => "?",
            };
            format!("journal_mode={mode} synchronous={sync}")
        }
        Backend::Postgres => {
            let mut setting = async |name: &'static str| -> String {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT current_setting('{name}')"
                )))
                .fetch_one(&mut conn)
                .await
                .expect("a setting")
            };
            format!(
                "fsync={} synchronous_commit={} wal_sync_method={}",
                setting("fsync").await,
                setting("synchronous_commit").await,
                setting("wal_sync_method").await
            )
        }
    };
    format!(
        "{stored} stored, {routed} routed, {interactions} interactions, {replies} replies \
         queued; {durability}"
    )
}

// ---------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------

/// One phase of load: what every connection measured.
struct Phase {
    started: Instant,
    /// When the last connection got its last answer.
    finished: Instant,
    /// Round trips of acknowledged (202) posts.
    latencies: Vec<Duration>,
}

impl Phase {
    fn acked(&self) -> u64 {
        self.latencies.len() as u64
    }

    fn row(
        mut self,
        backend: &'static str,
        connector: &'static str,
        routed_per_s: Option<f64>,
        drain: Option<Duration>,
        cpu: Cpu,
    ) -> Row {
        self.latencies.sort_unstable();
        let at = |q: f64| {
            self.latencies
                .get(((self.latencies.len().saturating_sub(1)) as f64 * q).round() as usize)
                .copied()
                .unwrap_or_default()
        };
        Row {
            backend,
            connector,
            acked: self.acked(),
            window: self.finished - self.started,
            p50: at(0.5),
            p99: at(0.99),
            routed_per_s,
            drain,
            cpu,
        }
    }
}

/// Posts from `connections` keep-alive connections for `duration`, each waiting for
/// its answer before the next post. Any answer but 202 fails the benchmark: a
/// measurement that includes refused posts would not mean what it says.
async fn load(
    address: SocketAddr,
    token: &str,
    phase: char,
    connections: usize,
    duration: Duration,
) -> Phase {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..connections)
        .map(|index| {
            let requests = Requests::new(token, phase, index, connections);
            tokio::spawn(connection(address, requests, deadline))
        })
        .collect();
    let mut latencies = Vec::new();
    let mut finished = started;
    for task in tasks {
        let done = task
            .await
            .expect("a connection task does not panic")
            .unwrap_or_else(|e| panic!("a load connection failed: {e}"));
        latencies.extend(done.latencies);
        finished = finished.max(done.finished);
    }
    Phase {
        started,
        finished,
        latencies,
    }
}

struct Connection {
    latencies: Vec<Duration>,
    finished: Instant,
}

async fn connection(
    address: SocketAddr,
    mut requests: Requests,
    deadline: Instant,
) -> std::io::Result<Connection> {
    let mut stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let mut buffer = Vec::with_capacity(4096);
    let mut latencies = Vec::with_capacity(16_384);
    // One clock read per post: the end of one round trip starts the next.
    let mut now = Instant::now();
    while now < deadline {
        let request = requests.next();
        stream.write_all(request).await?;
        let (status, length, body) = read_response(&mut stream, &mut buffer).await?;
        let done = Instant::now();
        if status != 202 {
            let body = String::from_utf8_lossy(&buffer[body..length]).into_owned();
            return Err(std::io::Error::other(format!(
                "expected 202, got {status}: {body}"
            )));
        }
        latencies.push(done - now);
        buffer.drain(..length);
        now = done;
    }
    Ok(Connection {
        latencies,
        finished: now,
    })
}

/// Reads one response into `buffer`; returns its status, its length in the buffer
/// and where its body starts. Every response of these servers has a Content-Length.
async fn read_response(
    stream: &mut TcpStream,
    buffer: &mut Vec<u8>,
) -> std::io::Result<(u16, usize, usize)> {
    loop {
        let complete = {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut response = httparse::Response::new(&mut headers);
            match response.parse(buffer).map_err(std::io::Error::other)? {
                httparse::Status::Complete(head) => {
                    let length = response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| {
                            std::str::from_utf8(h.value)
                                .ok()?
                                .trim()
                                .parse::<usize>()
                                .ok()
                        })
                        .ok_or_else(|| std::io::Error::other("a response without length"))?;
                    Some((response.code.unwrap_or(0), head + length, head))
                }
                httparse::Status::Partial => None,
            }
        };
        if let Some((status, end, body)) = complete
            && buffer.len() >= end
        {
            return Ok((status, end, body));
        }
        if stream.read_buf(buffer).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
    }
}

/// A connection's requests, rendered once: one per text, whose message id and sender
/// digits are overwritten in place for each post.
struct Requests {
    templates: Vec<Template>,
    index: u64,
    connections: u64,
    sent: u64,
}

struct Template {
    bytes: Vec<u8>,
    sender_at: usize,
    sequence_at: usize,
}

const SENDER_DIGITS: usize = 8;
const SEQUENCE_DIGITS: usize = 10;

impl Requests {
    fn new(token: &str, phase: char, index: usize, connections: usize) -> Self {
        let sender_slot = "S".repeat(SENDER_DIGITS);
        let sequence_slot = "N".repeat(SEQUENCE_DIGITS);
        let templates = TEXTS
            .iter()
            .map(|text| {
                // Message ids are unique per phase and connection; a repeat would be a
                // (cheaper) duplicate, answered 200.
                let body = format!(
                    r#"{{"from":"+49151{sender_slot}","to":"{RECIPIENT}","text":"{text}","message_id":"bench-{phase}-{index:04}-{sequence_slot}"}}"#
                );
                let head = format!(
                    "POST /api/v1/sms/inbound HTTP/1.1\r\nhost: 127.0.0.1\r\n\
                     authorization: Bearer {token}\r\ncontent-type: application/json\r\n\
                     content-length: {}\r\n\r\n",
                    body.len()
                );
                let bytes = format!("{head}{body}").into_bytes();
                let find = |slot: &str| {
                    bytes
                        .windows(slot.len())
                        .position(|w| w == slot.as_bytes())
                        .expect("the slot is in the template")
                };
                Template {
                    sender_at: find(&sender_slot),
                    sequence_at: find(&sequence_slot),
                    bytes,
                }
            })
            .collect();
        Self {
            templates,
            index: index as u64,
            connections: connections as u64,
            sent: 0,
        }
    }

    fn next(&mut self) -> &[u8] {
        let sequence = self.sent;
        self.sent += 1;
        let sender = (sequence * self.connections + self.index) % SENDERS;
        let template = &mut self.templates[(sequence % TEXTS.len() as u64) as usize];
        let at = template.sender_at;
        put_digits(&mut template.bytes[at..at + SENDER_DIGITS], sender);
        let at = template.sequence_at;
        put_digits(&mut template.bytes[at..at + SEQUENCE_DIGITS], sequence);
        &template.bytes
    }
}

/// Writes `n` into `slot` in decimal, zero-padded to the slot's width.
fn put_digits(slot: &mut [u8], mut n: u64) {
    for digit in slot.iter_mut().rev() {
        *digit = b'0' + (n % 10) as u8;
        n /= 10;
    }
}

// ---------------------------------------------------------------------------------
// Where the CPU went
// ---------------------------------------------------------------------------------

/// CPU used during a window, in cores (1.0 = one CPU busy throughout): by the load
/// generator (this thread), by the server (the rest of this process), and by everything
/// else on the machine (PostgreSQL's backends, the kernel's share outside the process,
/// and whatever else runs there).
#[derive(Clone, Copy)]
struct Cpu {
    client: f64,
    server: f64,
    other: f64,
}

struct CpuClock {
    wall: Instant,
    thread: Duration,
    process: Duration,
    machine: Duration,
}

impl CpuClock {
    fn start() -> Self {
        Self {
            wall: Instant::now(),
            thread: thread_cpu(),
            process: process_cpu(),
            machine: machine_busy(),
        }
    }

    fn stop(self) -> Cpu {
        let wall = self.wall.elapsed().as_secs_f64();
        let thread = (thread_cpu() - self.thread).as_secs_f64();
        let process = process_cpu().saturating_sub(self.process).as_secs_f64();
        let machine = machine_busy().saturating_sub(self.machine).as_secs_f64();
        Cpu {
            client: thread / wall,
            server: (process - thread).max(0.0) / wall,
            other: (machine - process).max(0.0) / wall,
        }
    }
}

/// This thread's CPU time, from the scheduler (nanoseconds).
fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(
        text.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0),
    )
}

/// Clock ticks per second of `/proc`'s CPU times: USER_HZ, 100 on every Linux build
/// this runs on.
const TICKS: u64 = 100;

/// User and system time of this whole process.
fn process_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which may contain spaces, in parentheses.
    let fields: Vec<&str> = text
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    Duration::from_millis((ticks(11) + ticks(12)) * 1000 / TICKS)
}

/// Time all CPUs spent on anything but idling or waiting for I/O.
fn machine_busy() -> Duration {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = text
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is within user).
    let busy: u64 = ticks
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, t)| t)
        .sum();
    Duration::from_millis(busy * 1000 / TICKS)
}

/// The CPU model, CPU count and memory, for the record.
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map_or("unknown CPU", |l| l.trim_start_matches([' ', '\t', ':']));
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory_gib = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kib| kib / (1024.0 * 1024.0));
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load = load.split_whitespace().next().unwrap_or("?");
    format!(
        "{model}, {} CPUs, {memory_gib:.0} GiB, load {load} at start",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    )
}

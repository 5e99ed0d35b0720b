//! Benchmark: SMS dispatch through the communication queue to a loopback gateway across
//! many sending numbers, with seed 001's limit of one text per second per number.
//!
//! Run with `cargo bench -p switchyard-tests --bench dispatch` after `plugins/build.sh`;
//! options after `--`: `--backend sqlite|postgres|both`, `--numbers N` (default 1000),
//! `--per-number K` (default 5), `--clients C` (concurrent API clients, default 32).
//!
//! For each backend a fresh database and the real server (with its background queue
//! worker) are started in this process, the JSON gateway plugin is uploaded and pointed
//! at a recording HTTP gateway on loopback, and N x K texts are created through
//! `POST /api/v1/communications`, K from each of N numbers, each to its own contact, on
//! a server without a queue worker; then a server with one starts on that backlog.
//! Reported: how fast the API accepted them (`created/s`), how fast the gateway got them
//! from the first to the last request (`sent/s`, over `span s`; `drain s` is from the
//! second server's start to the last text), and the rate-limit check: for every
//! number, the smallest gap between two of its texts, both as scheduled (`send_at`, must
//! be >= 1000 ms) and as the gateway saw them arrive (network and scheduling jitter
//! included), and how many texts any number sent within one second at the gateway.
//! With K texts a number needs K - 1 seconds at least, so `sent/s` is bounded by N.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use switchyard_tests::gateway::RecordingGateway;
use switchyard_tests::{TEST_ADMIN_TOKEN, TestDatabase, plugin_bytes, spawn_app_with, test_config};

struct Options {
    backends: Vec<&'static str>,
    numbers: usize,
    per_number: usize,
    clients: usize,
}

fn options() -> Options {
    let mut options = Options {
        backends: vec!["sqlite"],
        numbers: 1_000,
        per_number: 5,
        clients: 32,
    };
    let mut args = std::env::args().skip(1);
    let positive = |v: Option<String>, flag: &str| -> usize {
        v.and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .unwrap_or_else(|| panic!("{flag} takes a positive number"))
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            // `cargo bench` passes `--bench` to every harness = false target.
            "--bench" => {}
            "--backend" => {
                options.backends = match args.next().as_deref() {
                    Some("sqlite") => vec!["sqlite"],
                    Some("postgres") => vec!["postgres"],
                    Some("both") => vec!["sqlite", "postgres"],
                    other => panic!("--backend {other:?}: expected sqlite, postgres or both"),
                }
            }
            "--numbers" => options.numbers = positive(args.next(), "--numbers"),
            "--per-number" => options.per_number = positive(args.next(), "--per-number"),
            "--clients" => options.clients = positive(args.next(), "--clients"),
            other => panic!("unknown option {other}"),
        }
    }
    options
}

fn main() {
    let options = options();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!(
        "{:<9} {:>8} {:>10} {:>9} {:>8} {:>8} {:>15} {:>15} {:>13}",
        "backend",
        "texts",
        "created/s",
        "sent/s",
        "span s",
        "drain s",
        "min slot gap",
        "min seen gap",
        "max in 1 s"
    );
    for backend in &options.backends {
        runtime.block_on(run(backend, &options));
    }
}

async fn run(backend: &str, options: &Options) {
    let db = match backend {
        "postgres" => TestDatabase::postgres().await,
        _ => TestDatabase::sqlite(),
    };
    let mut config = test_config(&db);
    config.admin_token = Some(switchyard::config::AdminToken::parse(TEST_ADMIN_TOKEN).unwrap());
    // The texts are queued first by a node without a queue worker; a node with one
    // then starts on the backlog, so the dispatch rate is not bounded by the API.
    config.queue_worker = false;
    let app = spawn_app_with(config.clone(), db).await;
    let gateway = RecordingGateway::start().await;

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
    let settings = app
        .admin(Method::PUT, "/api/v1/settings/sms")
        .json(
            &json!({ "enabled": true, "gateway_plugin": plugin["sha256"],
                       "settings": { "url": format!("{}/json", gateway.url()) },
                       "max_wait_seconds": 3600 }),
        )
        .send()
        .await
        .unwrap();
    assert!(
        settings.status().is_success(),
        "{:?}",
        settings.text().await
    );

    // Round-robin over the numbers, so each number's texts are spread over the run as
    // a bulk campaign's would be.
    let total = options.numbers * options.per_number;
    let jobs: Vec<(String, String)> = (0..total)
        .map(|i| {
            let number = i % options.numbers;
            (format!("+32470{number:06}"), format!("+3249{i:07}"))
        })
        .collect();
    let jobs = std::sync::Arc::new(std::sync::Mutex::new(jobs.into_iter()));
    let started = Instant::now();
    let mut clients = Vec::new();
    for _ in 0..options.clients {
        let (jobs, client, url) = (
            jobs.clone(),
            app.client.clone(),
            app.url("/api/v1/communications"),
        );
        clients.push(tokio::spawn(async move {
            loop {
                let Some((sender, recipient)) = jobs.lock().unwrap().next() else {
                    return;
                };
                let response = client
                    .post(&url)
                    .bearer_auth(TEST_ADMIN_TOKEN)
                    .json(
                        &json!({ "media": "sms", "sender": sender, "recipient": recipient,
                                   "body": "Your appointment is tomorrow at 10:00" }),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 201, "{:?}", response.text().await);
            }
        }));
    }
    for client in clients {
        client.await.unwrap();
    }
    let created_in = started.elapsed();
    let db = app.stop().await;
    config.queue_worker = true;
    let started = Instant::now();
    let app = spawn_app_with(config, db).await;

    let limit = Duration::from_secs((options.per_number as u64) * 4 + 120);
    while gateway.sent_count() < total {
        assert!(
            started.elapsed() < limit,
            "only {} of {total} texts reached the gateway",
            gateway.sent_count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let requests = gateway.requests();
    let first = requests.iter().map(|r| r.received_at).min().unwrap();
    let last = requests.iter().map(|r| r.received_at).max().unwrap();
    let span = last.duration_since(first).as_secs_f64();
    let drain = last.duration_since(started).as_secs_f64();

    // As the gateway saw them.
    let mut seen: HashMap<String, Vec<Instant>> = HashMap::new();
    for r in &requests {
        let from = r.json()["from"].as_str().unwrap().to_owned();
        seen.entry(from).or_default().push(r.received_at);
    }
    let mut min_seen = Duration::MAX;
    let mut max_in_second = 0;
    for times in seen.values_mut() {
        times.sort();
        for pair in times.windows(2) {
            min_seen = min_seen.min(pair[1].duration_since(pair[0]));
        }
        for (i, t) in times.iter().enumerate() {
            let within = times[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
                .count();
            max_in_second = max_in_second.max(within);
        }
    }
    // As scheduled.
    let mut slots: HashMap<String, Vec<i64>> = HashMap::new();
    let mut after = 0;
    loop {
        let page: Value = app
            .admin(
                Method::GET,
                &format!("/api/v1/queue?limit=1000&after={after}"),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for e in page["items"].as_array().unwrap() {
            assert_eq!(e["status"], "sent", "{e}");
            let sender = e["communication"]["sender"].as_str().unwrap().to_owned();
            slots
                .entry(sender)
                .or_default()
                .push(e["send_at"].as_i64().unwrap());
        }
        match page["next_after"].as_i64() {
            Some(next) => after = next,
            None => break,
        }
    }
    let mut min_slot = i64::MAX;
    for times in slots.values_mut() {
        times.sort();
        for pair in times.windows(2) {
            min_slot = min_slot.min(pair[1] - pair[0]);
        }
    }
    println!(
        "{:<9} {:>8} {:>10.0} {:>9.0} {:>8.2} {:>8.2} {:>12} ms {:>12} ms {:>13}",
        backend,
        total,
        total as f64 / created_in.as_secs_f64(),
        total as f64 / span.max(0.001),
        span,
        drain,
        min_slot,
        min_seen.as_millis(),
        max_in_second
    );
    assert!(
        min_slot >= 1_000,
        "two texts of one number were scheduled {min_slot} ms apart"
    );
    app.stop().await;
}

//! Benchmark: one routing decision through the Switchyard runtime (fresh sandboxed
//! instance, limits on) against a bare wasmtime call of the same component (the floor)
//! and, for the Rust router, the same logic compiled natively.
//!
//! Run with `cargo bench -p switchyard --bench routing` after `plugins/build.sh`.
//! Prints median and p99 per decision and the runtime/bare ratios, for the runtime as
//! the server runs it (epoch deadline, memory and table limits, output checks) and with
//! fuel metering on as well (`+fuel`, what `switchyard plugin run` uses).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use switchyard::domain::channel::Channel;
use switchyard::domain::conversations::Conversation;
use switchyard::domain::routing::{ConnectorContext, InboundMessage};
use switchyard::runtime::{HostEnv, Limits, Runtime, RuntimeConfig, Settings, World};
use switchyard::sandbox;

const SETTINGS: &str = r#"{
  "groups": [
    {"group": "billing", "keywords": ["bill", "invoice", "direct debit", "refund"], "subject": "Billing", "priority": 5},
    {"group": "support", "keywords": ["broken", "help", "outage", "router"]},
    {"group": "sales", "keywords": ["upgrade", "offer", "contract"]}
  ],
  "default_group": "general",
  "auto_reply": "Thanks! Reply BILL or HELP so we can route you."
}"#;
const BODY: &str = "Hello, I have a question about the invoice I got last week for my contract";

/// The component's world bound directly with wasmtime, without the Switchyard runtime:
/// the floor the runtime is compared with.
mod bare {
    use std::collections::HashMap;

    wasmtime::component::bindgen!({ path: "../wit", world: "routing-application" });

    use self::switchyard::routing::{acd, clock, config, kv, log, types};

    /// Host imports with the same observable behaviour as the runtime's, minus limits,
    /// buffering and validation.
    pub struct Host {
        pub settings: String,
        pub kv: HashMap<String, String>,
    }

    impl types::Host for Host {}
    impl log::Host for Host {
        fn log(&mut self, _level: log::Level, _message: String) {}
    }
    impl kv::Host for Host {
        fn get(&mut self, key: String) -> Option<String> {
            self.kv.get(&key).cloned()
        }
        fn set(&mut self, key: String, value: String) -> Result<(), kv::KvError> {
            self.kv.insert(key, value);
            Ok(())
        }
        fn delete(&mut self, key: String) {
            self.kv.remove(&key);
        }
        fn remove(&mut self, key: String) -> Result<(), kv::KvError> {
            self.kv.remove(&key);
            Ok(())
        }
    }
    impl config::Host for Host {
        fn settings(&mut self) -> String {
            self.settings.clone()
        }
        fn get(&mut self, key: String) -> Option<String> {
            let value: serde_json::Value = serde_json::from_str(&self.settings).ok()?;
            value.get(&key).map(|v| v.to_string())
        }
    }
    impl clock::Host for Host {
        fn now(&mut self) -> u64 {
            0
        }
    }
    impl acd::Host for Host {
        fn availability(&mut self, _group: String) -> Option<acd::Staffing> {
            None
        }
    }
}

fn dist(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): run plugins/build.sh first",
            path.display()
        )
    })
}

fn message() -> InboundMessage {
    InboundMessage {
        id: "bench-1".into(),
        channel: Channel::Sms,
        sender: "+4915112345678".into(),
        recipient: "+4930123456".into(),
        subject: None,
        body: BODY.into(),
        received_at: 1_700_000_000_000,
        attachments: vec![],
        attributes: vec![],
    }
}

/// Median and 99th percentile of `samples` (sorted in place).
struct Stats {
    median: Duration,
    p99: Duration,
}

fn stats(samples: &mut [Duration]) -> Stats {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    Stats {
        median: at(0.5),
        p99: at(0.99),
    }
}

/// Times `iterations` calls of `f` after `iterations / 10` warm-up calls.
fn measure(iterations: usize, mut f: impl FnMut()) -> Stats {
    for _ in 0..iterations / 10 {
        f();
    }
    let mut samples: Vec<Duration> = (0..iterations)
        .map(|_| {
            let started = Instant::now();
            f();
            started.elapsed()
        })
        .collect();
    stats(&mut samples)
}

/// A bare wasmtime engine: same pooling allocator as the runtime, no fuel, no epochs.
fn bare_engine() -> wasmtime::Engine {
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.total_component_instances(64)
        .total_core_instances(64 * 16)
        .total_memories(64 * 16)
        .total_tables(64 * 64)
        .max_memory_size(128 << 20)
        .table_elements(100_000)
        .max_core_instances_per_component(64)
        .max_memories_per_component(16)
        .max_tables_per_component(64)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(1 << 20);
    let mut config = wasmtime::Config::new();
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    wasmtime::Engine::new(&config).expect("bare engine")
}

fn bare_route(
    pre: &bare::RoutingApplicationPre<bare::Host>,
    message: &bare::switchyard::routing::types::InboundMessage,
    connector: &bare::switchyard::routing::types::ConnectorContext,
    conversation: &bare::switchyard::routing::types::Conversation,
) {
    let host = bare::Host {
        settings: SETTINGS.to_owned(),
        kv: HashMap::new(),
    };
    let mut store = wasmtime::Store::new(pre.engine(), host);
    let instance = pre.instantiate(&mut store).expect("instantiate");
    let decision = instance
        .call_route(&mut store, message, connector, conversation)
        .expect("route");
    std::hint::black_box(decision);
}

fn bare_pre(engine: &wasmtime::Engine, bytes: &[u8]) -> bare::RoutingApplicationPre<bare::Host> {
    let component = wasmtime::component::Component::new(engine, bytes).expect("compile");
    let mut linker = wasmtime::component::Linker::new(engine);
    bare::RoutingApplication::add_to_linker::<_, wasmtime::component::HasSelf<_>>(
        &mut linker,
        |h| h,
    )
    .expect("link");
    bare::RoutingApplicationPre::new(linker.instantiate_pre(&component).expect("pre")).expect("pre")
}

fn bare_inputs() -> (
    bare::switchyard::routing::types::InboundMessage,
    bare::switchyard::routing::types::ConnectorContext,
    bare::switchyard::routing::types::Conversation,
) {
    use bare::switchyard::routing::types as t;
    (
        t::InboundMessage {
            id: "bench-1".into(),
            channel: t::Channel::Sms,
            sender: "+4915112345678".into(),
            recipient: "+4930123456".into(),
            subject: None,
            body: BODY.into(),
            received_at: 1_700_000_000_000,
            attachments: vec![],
            attributes: vec![],
        },
        t::ConnectorContext {
            id: "c1".into(),
            name: "bench".into(),
            recipient: "+4930123456".into(),
            settings: SETTINGS.to_owned(),
        },
        t::Conversation {
            status: t::ConversationStatus::NotContacted,
            tags: vec![],
        },
    )
}

fn print_row(router: &str, mode: &str, s: &Stats, floor: Option<&Stats>) {
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    let ratios = floor.map_or(String::new(), |f| {
        format!(
            "{:>8.2}x {:>8.2}x",
            ratio(s.median, f.median),
            ratio(s.p99, f.p99)
        )
    });
    println!(
        "{router:<20} {mode:<9} {:>12} {:>12} {ratios}",
        format!("{:.1} us", s.median.as_secs_f64() * 1e6),
        format!("{:.1} us", s.p99.as_secs_f64() * 1e6),
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing we need.
    let quick = std::env::args().any(|a| a == "--quick");
    let runtime = Runtime::new(RuntimeConfig::default()).expect("runtime");
    let mut metered = RuntimeConfig::default();
    metered.engine.fuel_metering = true;
    let metered = Runtime::new(metered).expect("metered runtime");
    let engine = bare_engine();
    let env = HostEnv::new(Settings::parse(SETTINGS).unwrap());
    let limits = Limits::default();
    let message = message();
    let connector = ConnectorContext {
        id: "c1".into(),
        name: "bench".into(),
        recipient: "+4930123456".into(),
    };
    let conversation = Conversation::default();
    // Plugin calls are async; one current-thread executor drives them, as the CLI does.
    let executor = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("executor");
    let (bare_message, bare_connector, bare_conversation) = bare_inputs();

    println!(
        "one routing decision, fresh instance per call ({} CPUs)",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<20} {:<9} {:>12} {:>12} {:>9} {:>9}",
        "router", "mode", "median", "p99", "x median", "x p99"
    );
    for (name, iterations) in [
        ("keyword-router", 5_000),
        ("keyword-router-py", 500),
        ("keyword-router-js", 500),
    ] {
        let iterations = if quick { iterations / 10 } else { iterations };
        let bytes = dist(name);
        let plugin = runtime
            .load_as(&bytes, World::RoutingApplication)
            .expect("plugin loads");
        let pre = bare_pre(&engine, &bytes);
        let metered_plugin = metered
            .load_as(&bytes, World::RoutingApplication)
            .expect("plugin loads");

        let bare = measure(iterations, || {
            bare_route(&pre, &bare_message, &bare_connector, &bare_conversation)
        });
        let hosted = measure(iterations, || {
            let decision = executor
                .block_on(sandbox::route(
                    &plugin,
                    &env,
                    &limits,
                    &message,
                    &connector,
                    &conversation,
                ))
                .expect("routes");
            std::hint::black_box(decision);
        });
        let fueled = measure(iterations, || {
            let decision = executor
                .block_on(sandbox::route(
                    &metered_plugin,
                    &env,
                    &limits,
                    &message,
                    &connector,
                    &conversation,
                ))
                .expect("routes");
            std::hint::black_box(decision);
        });
        if name == "keyword-router" {
            let native = measure(iterations * 10, native::route_once);
            print_row(name, "native", &native, None);
        }
        print_row(name, "bare", &bare, None);
        print_row(name, "runtime", &hosted, Some(&bare));
        print_row(name, "+fuel", &fueled, Some(&bare));
    }
}

/// The Rust keyword router's own `decide`, compiled natively: the same logic without
/// any sandbox, with the platform answering from plain maps.
mod native {
    use std::collections::HashMap;

    use keyword_router::{Platform, decide};
    use switchyard_guest::{Channel, Conversation, ConversationStatus, InboundMessage};

    struct Host {
        kv: HashMap<String, String>,
    }

    impl Platform for Host {
        fn ready_agents(&self, _group: &str) -> Option<u32> {
            None
        }
        fn kv_get(&self, key: &str) -> Option<String> {
            self.kv.get(key).cloned()
        }
        fn kv_set(&mut self, key: &str, value: &str) {
            self.kv.insert(key.to_owned(), value.to_owned());
        }
        fn log_info(&mut self, line: &str) {
            std::hint::black_box(line);
        }
    }

    pub fn route_once() {
        let message = InboundMessage {
            id: "bench-1".into(),
            channel: Channel::Sms,
            sender: "+4915112345678".into(),
            recipient: "+4930123456".into(),
            subject: None,
            body: super::BODY.into(),
            received_at: 1_700_000_000_000,
            attachments: vec![],
            attributes: vec![],
        };
        let conversation = Conversation {
            status: ConversationStatus::NotContacted,
            tags: vec![],
        };
        let mut host = Host { kv: HashMap::new() };
        std::hint::black_box(decide(&message, super::SETTINGS, &conversation, &mut host));
    }
}

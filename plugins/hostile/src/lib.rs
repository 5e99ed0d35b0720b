//! A routing application that misbehaves on request, for the host's limit tests, and
//! asks for replies the host must handle with care (an email reply to a texting contact).
//!
//! The message body picks the behaviour:
//!
//! | body           | what happens                                                    |
//! |----------------|-----------------------------------------------------------------|
//! | `loop`         | spins forever (needs the epoch deadline)                        |
//! | `oom`          | allocates and touches memory until allocation fails (> 128 MiB) |
//! | `oom-then-loop`| allocates until the host refuses memory, then spins forever     |
//! | `recurse`      | recurses without bound until the host's stack limit traps       |
//! | `trap`         | panics, which aborts: a wasm trap                               |
//! | `huge`         | returns a reply whose body is 40 MiB                            |
//! | `nonsense`     | routes to a group with an empty name, with 10,000 tags          |
//! | `kv-then-trap` | writes kv `touched` = `yes`, then traps                         |
//! | `kv-flood`     | changes keys until refused, then removes one more; routes to    |
//! |                | `ok` with user data `writes` (accepted) and `remove` (its error)|
//! | `log-forgery`  | logs [`FORGERY`] (a newline, a carriage return, terminal escape   |
//! |                | sequences, a line separator), then routes like anything else    |
//! | `email-reply`  | routes to group `ok` and replies by email, to no recipient      |
//! | `email-reply ADDRESS` | the same, with the email reply to `ADDRESS`              |
//! | anything else  | routes to group `ok` with user data `("echo", <body>)`          |
//!
//! The tenant-isolation modes (kv quota, bad keys, log floods, tags) are in
//! `isolation.rs`.
//!
//! `std::hint::black_box` keeps the optimiser from proving the loops pointless or
//! turning the recursion into a loop.

mod isolation;

use std::hint::black_box;

use switchyard_guest::{
    Channel, ConnectorContext, Conversation, Decision, InboundMessage, OutboundReply,
    RoutingApplication, kv,
};

/// Each `oom` step: big enough to pass 128 MiB quickly, small enough that the failing
/// request is a real `memory.grow` near the limit.
const OOM_CHUNK: usize = 1 << 20;

/// A log line that tries to start a line of its own in the host's log, to overwrite
/// the current one, and to colour the terminal (red, then clear the screen).
const FORGERY: &str = "innocent\nFORGED-LINE level=ERROR admin password reset\r\u{1b}[31mred\u{1b}[2J\u{2028}FORGED-SEPARATOR";

struct Hostile;

impl RoutingApplication for Hostile {
    fn route(
        message: InboundMessage,
        _connector: ConnectorContext,
        conversation: Conversation,
    ) -> Decision {
        match message.body.as_str() {
            "loop" => spin(),
            "oom" => exhaust_memory(),
            "oom-then-loop" => {
                let hoard = hoard_until_refused();
                black_box(&hoard);
                spin()
            }
            "recurse" => {
                let depth = dive(black_box(0));
                Decision::to_group("unreachable").user_data("depth", depth.to_string())
            }
            "trap" => panic!("hostile plugin: trap requested"),
            "huge" => Decision::to_group("ok").reply(message.reply("x".repeat(40 << 20))),
            "nonsense" => Decision::to_group("").tags((0..10_000).map(|i| format!("tag-{i}"))),
            "kv-then-trap" => {
                kv::set("touched", "yes").expect("kv write");
                panic!("hostile plugin: trap after a kv write");
            }
            "kv-flood" => {
                let writes = (0..1_000)
                    .take_while(|i| kv::set(&format!("k{i}"), "v").is_ok())
                    .count();
                let removal = match kv::delete("one-more") {
                    Ok(()) => "ok".to_owned(),
                    Err(e) => format!("{e:?}"),
                };
                Decision::to_group("ok")
                    .user_data("writes", writes.to_string())
                    .user_data("remove", removal)
            }
            "log-forgery" => {
                switchyard_guest::log::warn(FORGERY);
                Decision::to_group("ok").user_data("echo", message.body)
            }
            body if body.starts_with("email-reply") => {
                let reply = OutboundReply::new(Channel::Email, "We got your message.")
                    .subject("Your message to us");
                let reply = match body["email-reply".len()..].trim() {
                    "" => reply,
                    address => reply.to(address),
                };
                Decision::to_group("ok").reply(reply)
            }
            body if isolation::handles(body) => isolation::route(body, conversation),
            _ => Decision::to_group("ok").user_data("echo", message.body),
        }
    }
}

switchyard_guest::export_routing_application!(Hostile);

fn spin() -> ! {
    let mut counter = 0u64;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

fn exhaust_memory() -> ! {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        // Writing every page makes the memory real, not just reserved. When the host
        // refuses `memory.grow`, the allocator fails and the plugin aborts (traps).
        let chunk = vec![0xA5u8; OOM_CHUNK];
        hoard.push(black_box(chunk));
    }
}

/// Allocates and touches memory until an allocation fails, without aborting: the
/// plugin survives the refusal and goes on, so the host must report what ends the call
/// (the deadline), not the refusal on the way.
fn hoard_until_refused() -> Vec<Vec<u8>> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(OOM_CHUNK).is_err() || hoard.try_reserve(1).is_err() {
            return hoard;
        }
        chunk.resize(OOM_CHUNK, 0xA5);
        hoard.push(black_box(chunk));
    }
}

/// Recurses until the host's stack limit stops it. The `black_box` on the result keeps
/// the call out of tail position, so LLVM cannot turn the recursion into a loop.
#[inline(never)]
#[allow(unconditional_recursion, reason = "running out of stack is the point")]
fn dive(depth: u64) -> u64 {
    black_box(dive(black_box(depth + 1))).wrapping_mul(depth | 1)
}

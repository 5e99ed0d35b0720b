//! The hostile plugin's tenant-isolation modes: what one connector's plugin could do to
//! the host or to other connectors through kv data, logging and conversation tags.
//!
//! | body                | what happens                                                 |
//! |---------------------|--------------------------------------------------------------|
//! | `kv-fill NAME`      | sets up to 100 keys `NAME-i` to 65,000-byte values until one  |
//! |                     | is refused; user data `written` (count), `error` (or `none`) |
//! | `kv-bad-keys`       | `get`, `set` and `delete` with a NUL, an empty and a 300-byte |
//! |                     | key; user data `get` (`none`/`some` each) and `set`/`delete`  |
//! | `log-flood`         | logs 100 lines of 4 KiB, the per-invocation maximum          |
//! | `log-then-trap`     | logs `about to fail` (warn), then traps                     |
//! | `tags NAME COUNT`   | tags the conversation with `NAME-0` .. `NAME-{COUNT-1}`;    |
//! |                     | user data `had`: how many tags it had before                 |

use switchyard_guest::{Conversation, Decision, kv, log};

/// Whether `body` names one of these modes.
pub fn handles(body: &str) -> bool {
    let mode = body.split(' ').next().unwrap_or_default();
    matches!(
        mode,
        "kv-fill" | "kv-bad-keys" | "log-flood" | "log-then-trap" | "tags"
    )
}

/// The decision for a body [`handles`] accepts.
pub fn route(body: &str, conversation: Conversation) -> Decision {
    let words: Vec<&str> = body.split(' ').collect();
    match words.as_slice() {
        ["kv-fill", name] => kv_fill(name),
        ["kv-bad-keys"] => bad_keys(),
        ["log-flood"] => {
            let line = "x".repeat(4_096);
            for _ in 0..100 {
                log::info(&line);
            }
            Decision::to_group("ok")
        }
        ["log-then-trap"] => {
            log::warn("about to fail");
            panic!("hostile plugin: trap after logging");
        }
        ["tags", name, count] => {
            let count: usize = count.parse().unwrap_or(1);
            Decision::to_group("ok")
                .user_data("had", conversation.tags.len().to_string())
                .tags((0..count).map(|i| format!("{name}-{i}")))
        }
        _ => Decision::reject("unknown isolation mode"),
    }
}

fn kv_fill(name: &str) -> Decision {
    let value = "v".repeat(65_000);
    let mut written = 0;
    let mut error = "none".to_owned();
    for i in 0..100 {
        match kv::set(&format!("{name}-{i}"), &value) {
            Ok(()) => written += 1,
            Err(e) => {
                error = format!("{e:?}");
                break;
            }
        }
    }
    Decision::to_group("ok")
        .user_data("written", written.to_string())
        .user_data("error", error)
}

fn bad_keys() -> Decision {
    let long = "k".repeat(300);
    let keys = ["nul\0key", "", long.as_str()];
    let got: Vec<&str> = keys
        .iter()
        .map(|k| if kv::get(k).is_some() { "some" } else { "none" })
        .collect();
    let set: Vec<String> = keys
        .iter()
        .map(|k| match kv::set(k, "v") {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("{e:?}"),
        })
        .collect();
    let deleted: Vec<String> = keys
        .iter()
        .map(|k| match kv::delete(k) {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("{e:?}"),
        })
        .collect();
    Decision::to_group("ok")
        .user_data("get", got.join(","))
        .user_data("set", set.join(","))
        .user_data("delete", deleted.join(","))
}

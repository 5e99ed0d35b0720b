//! Misbehaving plugins are contained: each failure is a typed error, the host's state is
//! unchanged, and the same plugin serves the next message.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use switchyard::domain::channel::Channel;
use switchyard::domain::conversations::Conversation;
use switchyard::domain::routing::{ConnectorContext, Decision, InboundMessage, Target};
use switchyard::runtime::host::MemoryKv;
use switchyard::runtime::{HostEnv, Invocation, InvokeError, Limits, Plugin, Settings, World};
use switchyard::sandbox;
use switchyard_tests::{block_on, load, plugin_bytes, server_runtime};

fn hostile() -> Arc<Plugin> {
    load("hostile", World::RoutingApplication)
}

/// An SMS to the test connector with `body`: the input every runtime test routes.
pub(crate) fn message(body: &str) -> InboundMessage {
    InboundMessage {
        id: "m1".into(),
        channel: Channel::Sms,
        sender: "+4915112345678".into(),
        recipient: "+4930123456".into(),
        subject: None,
        body: body.into(),
        received_at: 1_700_000_000_000,
        attachments: vec![],
        attributes: vec![],
    }
}

fn route(
    plugin: &Plugin,
    env: &HostEnv,
    limits: &Limits,
    body: &str,
) -> Result<Invocation<Decision>, InvokeError> {
    block_on(sandbox::route(
        plugin,
        env,
        limits,
        &message(body),
        &ConnectorContext::default(),
        &Conversation::default(),
    ))
}

/// The plugin still answers a normal message correctly after whatever came before.
fn assert_serves_next(plugin: &Plugin, env: &HostEnv) {
    let decision = route(plugin, env, &Limits::default(), "hello")
        .expect("a normal message routes")
        .value;
    match decision.target {
        Target::AcdGroup(target) => {
            assert_eq!(target.group, "ok");
            assert_eq!(target.user_data, vec![("echo".into(), "hello".into())]);
        }
        other => panic!("unexpected target {other:?}"),
    }
}

fn env() -> HostEnv {
    HostEnv::new(Settings::empty())
}

#[test]
fn a_normal_message_is_routed_by_the_fixture() {
    assert_serves_next(&hostile(), &env());
}

#[test]
fn an_infinite_loop_runs_out_of_fuel() {
    let (plugin, env) = (hostile(), env());
    let limits = Limits {
        fuel: 20_000_000,
        ..Limits::default()
    };
    let err = route(&plugin, &env, &limits, "loop").unwrap_err();
    assert_eq!(err, InvokeError::OutOfFuel { limit: 20_000_000 });
    let spent = route(&plugin, &env, &limits, "hello").unwrap().fuel_used;
    assert!(spent.is_some_and(|f| f > 0 && f < 20_000_000), "{spent:?}");
    assert_serves_next(&plugin, &env);
}

#[test]
fn an_infinite_loop_without_fuel_metering_hits_the_deadline() {
    // The server's default runtime meters no fuel: the epoch deadline alone stops it.
    let plugin = server_runtime()
        .load_as(&plugin_bytes("hostile"), World::RoutingApplication)
        .unwrap();
    let env = env();
    let limits = Limits {
        deadline: Duration::from_millis(200),
        ..Limits::default()
    };
    let started = Instant::now();
    let err = route(&plugin, &env, &limits, "loop").unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err,
        InvokeError::Timeout {
            deadline: Duration::from_millis(200)
        }
    );
    assert!(
        took >= Duration::from_millis(190) && took < Duration::from_secs(2),
        "stopped after {took:?}"
    );
    assert_serves_next(&plugin, &env);
}

#[test]
fn unbounded_memory_growth_hits_the_memory_limit() {
    let (plugin, env) = (hostile(), env());
    let limits = Limits {
        memory: 32 << 20,
        ..Limits::default()
    };
    let err = route(&plugin, &env, &limits, "oom").unwrap_err();
    assert_eq!(err, InvokeError::OutOfMemory { limit: 32 << 20 });
    assert_serves_next(&plugin, &env);
}

#[test]
fn memory_growth_is_stopped_at_the_default_limit_too() {
    let (plugin, env) = (hostile(), env());
    let err = route(&plugin, &env, &Limits::default(), "oom").unwrap_err();
    assert_eq!(err.kind(), "out_of_memory");
}

#[test]
fn the_memory_limit_counts_the_memories_of_all_instances_together() {
    // Two core instances each grow their own memory by 80 MiB: each alone is under the
    // 128 MiB default, both together are not.
    let plugin = load("multi-memory", World::RoutingApplication);
    let env = env();
    for _ in 0..2 {
        let err = route(&plugin, &env, &Limits::default(), "grow").unwrap_err();
        assert_eq!(
            err,
            InvokeError::OutOfMemory {
                limit: Limits::default().memory
            }
        );
    }
    // With room for both memories the plugin reaches its final trap instead.
    let roomy = Limits {
        memory: 200 << 20,
        ..Limits::default()
    };
    let err = route(&plugin, &env, &roomy, "grow").unwrap_err();
    assert_eq!(err.kind(), "trap", "{err}");
    assert_serves_next(&hostile(), &env);
}

#[test]
fn a_plugin_refused_memory_that_then_loops_is_reported_as_a_timeout() {
    // The server's runtime meters no fuel, so the deadline is what ends the loop.
    let plugin = server_runtime()
        .load_as(&plugin_bytes("hostile"), World::RoutingApplication)
        .unwrap();
    let env = env();
    let limits = Limits {
        memory: 32 << 20,
        deadline: Duration::from_millis(300),
        ..Limits::default()
    };
    let err = route(&plugin, &env, &limits, "oom-then-loop").unwrap_err();
    assert_eq!(
        err,
        InvokeError::Timeout {
            deadline: Duration::from_millis(300)
        }
    );
    assert_serves_next(&plugin, &env);
}

#[test]
fn deep_recursion_overflows_the_stack() {
    let (plugin, env) = (hostile(), env());
    let err = route(&plugin, &env, &Limits::default(), "recurse").unwrap_err();
    assert_eq!(err, InvokeError::StackOverflow);
    assert_serves_next(&plugin, &env);
}

#[test]
fn a_trap_is_reported_with_its_cause() {
    let (plugin, env) = (hostile(), env());
    let err = route(&plugin, &env, &Limits::default(), "trap").unwrap_err();
    let InvokeError::Trap(text) = &err else {
        panic!("expected a trap, got {err:?}");
    };
    assert!(text.contains("unreachable"), "{text}");
    assert_serves_next(&plugin, &env);
}

#[test]
fn an_enormous_reply_is_refused_as_invalid_output() {
    let (plugin, env) = (hostile(), env());
    let err = route(&plugin, &env, &Limits::default(), "huge").unwrap_err();
    let InvokeError::InvalidOutput(text) = &err else {
        panic!("expected invalid output, got {err:?}");
    };
    assert!(text.contains("reply body"), "{text}");
    assert_serves_next(&plugin, &env);
}

#[test]
fn a_nonsense_decision_is_refused_as_invalid_output() {
    let (plugin, env) = (hostile(), env());
    let err = route(&plugin, &env, &Limits::default(), "nonsense").unwrap_err();
    assert_eq!(
        err,
        InvokeError::InvalidOutput("the target ACD group name is empty".into())
    );
    assert_serves_next(&plugin, &env);
}

#[test]
fn kv_writes_of_a_failed_invocation_are_discarded() {
    let plugin = hostile();
    let store = Arc::new(MemoryKv::default());
    let mut env = env();
    env.kv = store.clone();
    let err = route(&plugin, &env, &Limits::default(), "kv-then-trap").unwrap_err();
    assert_eq!(err.kind(), "trap");
    assert_eq!(store.entries(&env.kv_scope), BTreeMap::new());
    assert_serves_next(&plugin, &env);
}

#[test]
fn hostile_calls_on_other_threads_do_not_disturb_good_ones() {
    let plugin = hostile();
    let limits = Limits {
        fuel: 50_000_000,
        ..Limits::default()
    };
    let bad: Vec<_> = ["loop", "oom", "recurse", "trap", "huge"]
        .into_iter()
        .map(|body| {
            let plugin = plugin.clone();
            std::thread::spawn(move || route(&plugin, &env(), &limits, body).map(|_| ()))
        })
        .collect();
    for _ in 0..50 {
        assert_serves_next(&plugin, &env());
    }
    for handle in bad {
        assert!(
            handle
                .join()
                .expect("no panic crosses the sandboxes")
                .is_err()
        );
    }
}

#[test]
fn a_removal_past_the_write_quota_is_refused_and_the_plugin_is_told() {
    let (plugin, env) = (hostile(), env());
    let decision = route(&plugin, &env, &Limits::default(), "kv-flood")
        .expect("a refused write is the plugin's to handle, not a failure")
        .value;
    let Target::AcdGroup(target) = decision.target else {
        panic!("expected a group target");
    };
    assert_eq!(
        target.user_data,
        vec![
            ("writes".into(), "100".into()),
            ("remove".into(), "KvError::QuotaExceeded".into())
        ]
    );
}

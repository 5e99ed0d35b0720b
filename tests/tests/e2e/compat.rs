//! Plugins built against an older `switchyard:routing` 0.1 keep loading and running
//! after the package grew: `legacy-router` is built from a frozen copy of 0.1.0.

use std::sync::Arc;

use switchyard::domain::conversations::Conversation;
use switchyard::domain::routing::{ConnectorContext, Target};
use switchyard::runtime::host::MemoryKv;
use switchyard::runtime::{HostEnv, Limits, Settings, World};
use switchyard::sandbox;
use switchyard_tests::{block_on, load};

use crate::hostile::message;

/// Routes `body` and commits the kv writes, as the server does; returns the user data
/// `previous`.
fn route(env: &HostEnv, body: &str) -> String {
    let plugin = load("legacy-router", World::RoutingApplication);
    let invocation = block_on(sandbox::route(
        &plugin,
        env,
        &Limits::default(),
        &message(body),
        &ConnectorContext::default(),
        &Conversation::default(),
    ))
    .expect("the 0.1.0 plugin routes");
    invocation.commit_kv(env).unwrap();
    let Target::AcdGroup(target) = invocation.value.target else {
        panic!("expected a group target");
    };
    assert_eq!(target.group, "legacy");
    target.user_data[0].1.clone()
}

#[test]
fn a_plugin_built_against_0_1_0_imports_the_old_package() {
    let plugin = load("legacy-router", World::RoutingApplication);
    let imports = &plugin.info().shape.imports;
    assert!(
        imports.contains(&"switchyard:routing/kv@0.1.0".to_owned()),
        "{imports:?}"
    );
}

#[test]
fn a_plugin_built_against_0_1_0_reads_writes_and_deletes_its_kv() {
    let store = Arc::new(MemoryKv::default());
    let mut env = HostEnv::new(Settings::empty());
    env.kv = store.clone();
    assert_eq!(route(&env, "first"), "");
    assert_eq!(route(&env, "second"), "first");
    assert_eq!(route(&env, "forget"), "second");
    assert_eq!(store.entries(&env.kv_scope).get("last"), None);
    assert_eq!(route(&env, "again"), "");
}

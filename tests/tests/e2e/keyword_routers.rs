//! The keyword router in Rust, Python and JavaScript decides the same on every case of
//! `plugins/keyword-router-cases.json`, and each decision is the one the spec expects.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use switchyard::domain::conversations::Conversation;
use switchyard::domain::routing::{ConnectorContext, InboundMessage};
use switchyard::runtime::host::{MemoryKv, StaffingTable};
use switchyard::runtime::{HostEnv, Limits, Settings, World};
use switchyard::sandbox;
use switchyard_tests::{block_on, load, repo_root};

const ROUTERS: [&str; 3] = ["keyword-router", "keyword-router-py", "keyword-router-js"];

#[derive(Deserialize)]
struct Case {
    name: String,
    message: InboundMessage,
    #[serde(default)]
    settings: Value,
    /// Settings as raw text, for forms a JSON value cannot hold (invalid JSON, `5.0`).
    settings_text: Option<String>,
    #[serde(default)]
    conversation: Conversation,
    #[serde(default)]
    staffing: StaffingTable,
    #[serde(default)]
    kv: BTreeMap<String, String>,
    expect: Expect,
}

#[derive(Deserialize)]
struct Expect {
    target: Value,
    status: Value,
    tags: Value,
    replies: Value,
    kv_after: BTreeMap<String, String>,
    /// `[level, message]` pairs.
    logs: Vec<(String, String)>,
}

impl Case {
    /// The settings as the host accepts them; None when the host refuses them, so no
    /// plugin can ever see them.
    fn settings(&self) -> Option<Settings> {
        match &self.settings_text {
            Some(text) => Settings::parse(text).ok(),
            None => Settings::from_value(self.settings.clone()).ok(),
        }
    }
}

fn cases() -> Vec<Case> {
    let path = repo_root().join("plugins/keyword-router-cases.json");
    let text = std::fs::read_to_string(&path).expect("the case table exists");
    serde_json::from_str(&text).expect("the case table parses")
}

/// Routes one case with one router; returns the decision as JSON, the log lines and the
/// kv contents after committing.
fn run(
    router: &str,
    case: &Case,
    settings: Settings,
) -> (Value, Vec<(String, String)>, BTreeMap<String, String>) {
    let plugin = load(router, World::RoutingApplication);
    let store = Arc::new(MemoryKv::with_entries("local", case.kv.clone()));
    let mut env = HostEnv::new(settings);
    env.kv = store.clone();
    env.staffing = Arc::new(case.staffing.clone());
    let connector = ConnectorContext {
        id: "c1".into(),
        name: "test".into(),
        recipient: case.message.recipient.clone(),
    };
    let invocation = block_on(sandbox::route(
        &plugin,
        &env,
        &Limits::default(),
        &case.message,
        &connector,
        &case.conversation,
    ))
    .unwrap_or_else(|e| panic!("{router} on case {}: {e}", case.name));
    invocation.commit_kv(&env).unwrap();
    let logs = invocation
        .logs
        .iter()
        .map(|l| {
            let level = serde_json::to_value(l.level).unwrap();
            (level.as_str().unwrap().to_owned(), l.message.clone())
        })
        .collect();
    (
        serde_json::to_value(&invocation.value).unwrap(),
        logs,
        store.entries("local"),
    )
}

#[test]
fn the_case_table_covers_every_rule() {
    let cases = cases();
    assert!(cases.len() >= 12, "only {} cases", cases.len());
    let targets: Vec<String> = cases.iter().map(|c| c.expect.target.to_string()).collect();
    assert!(targets.iter().any(|t| t.contains("overflow_from")));
    assert!(targets.iter().any(|t| t.contains("last_group")));
    assert!(targets.iter().any(|t| t.contains("default_group")));
    assert!(targets.iter().any(|t| t.contains("invalid settings")));
}

#[test]
fn settings_that_are_not_a_json_object_never_reach_a_router() {
    let refused: Vec<String> = cases()
        .into_iter()
        .filter(|c| c.settings().is_none())
        .map(|c| c.name)
        .collect();
    // The routers check this themselves too (the table says how), but the host refuses
    // such settings when they are saved, so a plugin cannot be called with them.
    assert_eq!(
        refused,
        [
            "invalid_settings_not_an_object",
            "invalid_settings_not_json",
            "invalid_settings_nan_is_not_json"
        ]
    );
}

#[test]
fn every_router_makes_the_expected_decision() {
    for case in cases() {
        let Some(settings) = case.settings() else {
            continue; // covered by settings_that_are_not_a_json_object_never_reach_a_router
        };
        for router in ROUTERS {
            let (decision, logs, kv_after) = run(router, &case, settings.clone());
            let context = format!("{router} on case `{}`", case.name);
            assert_eq!(decision["target"], case.expect.target, "{context}: target");
            assert_eq!(decision["status"], case.expect.status, "{context}: status");
            assert_eq!(decision["tags"], case.expect.tags, "{context}: tags");
            assert_eq!(
                decision["replies"], case.expect.replies,
                "{context}: replies"
            );
            assert_eq!(kv_after, case.expect.kv_after, "{context}: kv");
            assert_eq!(logs, case.expect.logs, "{context}: logs");
        }
    }
}

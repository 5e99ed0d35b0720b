//! The CAS external-system processor settles DEVICE queue entries through the runtime,
//! keeping each smart card's state in its kv store across invocations.

use std::sync::Arc;

use switchyard::domain::channel::Channel;
use switchyard::domain::queue::{
    Communication, Direction, ProcessError, ProcessOutcome, QueueEntry,
};
use switchyard::runtime::host::MemoryKv;
use switchyard::runtime::{HostEnv, Limits, Settings, World};
use switchyard::sandbox;
use switchyard_tests::{block_on, load};

fn entry(number: u64, media: Channel, direction: Direction, body: &str) -> QueueEntry {
    QueueEntry {
        number,
        external_system: Some("cas".into()),
        communication: Communication {
            media,
            direction,
            sender: "crm".into(),
            recipient: "SC-0001".into(),
            subject: None,
            body: body.into(),
        },
        attributes: vec![],
    }
}

fn device(number: u64, body: &str) -> QueueEntry {
    entry(number, Channel::Device, Direction::Outgoing, body)
}

struct Cas {
    env: HostEnv,
    store: Arc<MemoryKv>,
}

impl Cas {
    fn new(settings: &str) -> Self {
        let store = Arc::new(MemoryKv::default());
        let mut env = HostEnv::new(Settings::parse(settings).unwrap());
        env.kv = store.clone();
        Self { env, store }
    }

    /// Processes `entry` and commits its kv writes, as the queue worker does.
    fn process(&self, entry: &QueueEntry) -> ProcessOutcome {
        let plugin = load("cas-processor", World::ExternalSystem);
        let invocation = block_on(sandbox::process(
            &plugin,
            &self.env,
            &Limits::default(),
            entry,
        ))
        .expect("the processor answers");
        invocation.commit_kv(&self.env).unwrap();
        invocation.value
    }

    fn state(&self, device: &str) -> Option<serde_json::Value> {
        self.store
            .entries(&self.env.kv_scope)
            .get(&format!("device:{device}"))
            .map(|v| serde_json::from_str(v).unwrap())
    }
}

fn rejected(code: &str, outcome: &ProcessOutcome) -> String {
    match outcome {
        ProcessOutcome::Rejected(ProcessError {
            code: c,
            description,
        }) if c == code => description.clone(),
        other => panic!("expected {code}, got {other:?}"),
    }
}

#[test]
fn activation_completes_with_a_stable_reference_and_stores_the_card() {
    let cas = Cas::new("{}");
    let outcome = cas.process(&device(42, r#"{"command":"activate","device":"SC-0001"}"#));
    assert_eq!(outcome, ProcessOutcome::Completed(Some("cas-42".into())));
    assert_eq!(cas.state("SC-0001").unwrap()["active"], true);
}

#[test]
fn entitlements_build_up_across_entries_and_unknown_removals_are_rejected() {
    let cas = Cas::new(r#"{"known_products":["SPORTS","MOVIES"]}"#);
    cas.process(&device(1, r#"{"command":"activate","device":"SC-0001"}"#));
    let added = cas.process(&device(
        2,
        r#"{"command":"add_entitlement","device":"SC-0001","products":["SPORTS"]}"#,
    ));
    assert_eq!(added, ProcessOutcome::Completed(Some("cas-2".into())));
    assert_eq!(
        cas.state("SC-0001").unwrap()["entitlements"],
        serde_json::json!(["SPORTS"])
    );

    let missing = cas.process(&device(
        3,
        r#"{"command":"remove_entitlement","device":"SC-0001","products":["MOVIES"]}"#,
    ));
    assert!(rejected("CAS-404", &missing).contains("MOVIES"));

    let unknown = cas.process(&device(
        4,
        r#"{"command":"add_entitlement","device":"SC-0001","products":["KIDS"]}"#,
    ));
    assert!(rejected("CAS-400", &unknown).contains("KIDS"));
    // Neither rejection changed the card.
    assert_eq!(
        cas.state("SC-0001").unwrap()["entitlements"],
        serde_json::json!(["SPORTS"])
    );
}

#[test]
fn commands_for_a_card_never_activated_are_rejected_and_write_nothing() {
    let cas = Cas::new("{}");
    let outcome = cas.process(&device(
        7,
        r#"{"command":"pair","device":"SC-0009","receiver":"STB-0042"}"#,
    ));
    rejected("CAS-404", &outcome);
    assert_eq!(cas.state("SC-0009"), None);
}

#[test]
fn wrong_media_direction_and_malformed_bodies_get_their_codes() {
    let cas = Cas::new("{}");
    let body = r#"{"command":"activate","device":"SC-0001"}"#;
    rejected(
        "CAS-415",
        &cas.process(&entry(1, Channel::Sms, Direction::Outgoing, body)),
    );
    rejected(
        "CAS-405",
        &cas.process(&entry(2, Channel::Device, Direction::Incoming, body)),
    );
    rejected("CAS-400", &cas.process(&device(3, "not json")));
    rejected(
        "CAS-400",
        &cas.process(&device(4, r#"{"command":"explode","device":"SC-0001"}"#)),
    );
    assert_eq!(cas.state("SC-0001"), None);
}

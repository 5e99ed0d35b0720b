//! End-to-end tests of `process` against a fake host: validation, state kept in kv
//! across entries, and the outcome's codes and references.

use std::collections::HashMap;

use switchyard_guest::{Communication, ProcessError};

use super::*;

#[derive(Default)]
struct FakeHost {
    settings: String,
    kv: HashMap<String, String>,
    full: bool,
    log: Vec<String>,
}

impl Platform for FakeHost {
    fn settings(&self) -> Result<CasSettings, SettingsError> {
        let text = if self.settings.is_empty() {
            "{}"
        } else {
            &self.settings
        };
        // The same parsing the SDK's `config::settings` does.
        switchyard_guest::ConnectorContext {
            id: String::new(),
            name: String::new(),
            recipient: String::new(),
            settings: text.to_string(),
        }
        .settings()
    }

    fn kv_get(&self, key: &str) -> Option<String> {
        self.kv.get(key).cloned()
    }

    fn kv_set(&mut self, key: &str, value: &str) -> Result<(), String> {
        if self.full {
            return Err("quota exceeded".into());
        }
        self.kv.insert(key.into(), value.into());
        Ok(())
    }

    fn log_info(&mut self, line: &str) {
        self.log.push(line.into());
    }
}

fn entry(number: u64, body: &str) -> QueueEntry {
    QueueEntry {
        number,
        external_system: Some("cas".into()),
        communication: Communication {
            media: Channel::Device,
            direction: Direction::Outgoing,
            sender: "crm".into(),
            recipient: "SC-0001".into(),
            subject: None,
            body: body.into(),
        },
        attributes: vec![],
    }
}

fn rejected(code: &str, description: &str) -> ProcessOutcome {
    ProcessOutcome::Rejected(ProcessError {
        code: code.into(),
        description: description.into(),
    })
}

#[test]
fn a_device_lives_through_a_sequence_of_commands() {
    let mut host = FakeHost::default();
    let steps = [
        r#"{"command":"activate","device":"SC-0001"}"#,
        r#"{"command":"add_entitlement","device":"SC-0001","products":["SPORTS","MOVIES"]}"#,
        r#"{"command":"pair","device":"SC-0001","receiver":"STB-0042"}"#,
        r#"{"command":"remove_entitlement","device":"SC-0001","products":["MOVIES"]}"#,
    ];
    for (i, body) in steps.iter().enumerate() {
        let number = 100 + i as u64;
        assert_eq!(
            process(&entry(number, body), &mut host),
            ProcessOutcome::Completed(Some(format!("cas-{number}"))),
            "{body}"
        );
    }
    assert_eq!(
        host.kv["device:SC-0001"],
        r#"{"active":true,"entitlements":["SPORTS"],"receiver":"STB-0042"}"#
    );
    assert_eq!(host.log[0], "activate SC-0001: done (entry 100)");

    let outcome = process(
        &entry(
            200,
            r#"{"command":"remove_entitlement","device":"SC-0001","products":["MOVIES"]}"#,
        ),
        &mut host,
    );
    assert_eq!(
        outcome,
        rejected("CAS-404", "device SC-0001 does not hold MOVIES")
    );
}

#[test]
fn wrong_media_or_direction_is_refused_before_the_body_is_read() {
    let mut host = FakeHost::default();
    let mut sms = entry(1, "not even json");
    sms.communication.media = Channel::Sms;
    assert_eq!(
        process(&sms, &mut host),
        rejected(
            "CAS-415",
            "the CAS takes device commands only, not sms media"
        )
    );

    let mut incoming = entry(2, "not even json");
    incoming.communication.direction = Direction::Incoming;
    assert_eq!(
        process(&incoming, &mut host),
        rejected(
            "CAS-405",
            "the CAS takes outgoing commands only, not incoming ones"
        )
    );
    assert!(host.kv.is_empty());
}

#[test]
fn known_products_come_from_the_settings() {
    let mut host = FakeHost {
        settings: r#"{"known_products":["SPORTS"]}"#.into(),
        ..FakeHost::default()
    };
    process(
        &entry(1, r#"{"command":"activate","device":"SC-0001"}"#),
        &mut host,
    );
    let outcome = process(
        &entry(
            2,
            r#"{"command":"add_entitlement","device":"SC-0001","products":["MOVIES"]}"#,
        ),
        &mut host,
    );
    assert_eq!(outcome, rejected("CAS-400", "unknown product MOVIES"));
}

#[test]
fn bad_settings_and_broken_storage_are_internal_errors() {
    let body = r#"{"command":"activate","device":"SC-0001"}"#;

    let mut host = FakeHost {
        settings: r#"{"known_product":["SPORTS"]}"#.into(),
        ..FakeHost::default()
    };
    match process(&entry(1, body), &mut host) {
        ProcessOutcome::Rejected(error) => {
            assert_eq!(error.code, "CAS-500");
            assert!(
                error
                    .description
                    .starts_with("invalid settings: unknown field"),
                "{}",
                error.description
            );
        }
        other => panic!("expected a rejection, got {other:?}"),
    }

    let mut host = FakeHost {
        full: true,
        ..FakeHost::default()
    };
    assert_eq!(
        process(&entry(1, body), &mut host),
        rejected(
            "CAS-500",
            "could not store the state of device SC-0001: quota exceeded"
        )
    );

    let mut host = FakeHost::default();
    host.kv.insert("device:SC-0001".into(), "garbage".into());
    assert_eq!(
        process(&entry(1, body), &mut host),
        rejected(
            "CAS-500",
            "the stored state of device SC-0001 is unreadable"
        )
    );
}

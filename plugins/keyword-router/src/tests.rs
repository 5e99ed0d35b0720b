//! Whole-decision tests against a fake host, one per rule of KEYWORD-ROUTER.md.

use std::collections::HashMap;

use switchyard_guest::{Channel, OutboundReply, Target};

use super::*;

const SETTINGS: &str = r#"{
  "groups": [
    { "group": "billing", "keywords": ["bill", "invoice", "direct debit"], "subject": "Billing", "priority": 5 },
    { "group": "support", "keywords": ["broken", "help"] }
  ],
  "default_group": "general",
  "auto_reply": "Thanks! Reply BILL or HELP so we can route you.",
  "overflow_group": "general"
}"#;

/// Records what the router asked of the host, in order.
#[derive(Default)]
struct FakeHost {
    staffing: HashMap<String, u32>,
    kv: HashMap<String, String>,
    calls: Vec<String>,
}

impl Platform for FakeHost {
    fn ready_agents(&self, group: &str) -> Option<u32> {
        self.staffing.get(group).copied()
    }

    fn kv_get(&self, key: &str) -> Option<String> {
        self.kv.get(key).cloned()
    }

    fn kv_set(&mut self, key: &str, value: &str) {
        self.calls.push(format!("kv.set {key}={value}"));
        self.kv.insert(key.into(), value.into());
    }

    fn log_info(&mut self, line: &str) {
        self.calls.push(format!("log {line}"));
    }
}

fn sms(body: &str) -> InboundMessage {
    InboundMessage {
        id: "m-1".into(),
        channel: Channel::Sms,
        sender: "+32470000001".into(),
        recipient: "+32470999999".into(),
        subject: None,
        body: body.into(),
        received_at: 1_700_000_000_000,
        attachments: vec![],
        attributes: vec![],
    }
}

fn conversation(status: ConversationStatus) -> Conversation {
    Conversation {
        status,
        tags: vec![],
    }
}

fn run(host: &mut FakeHost, message: &InboundMessage, settings: &str) -> Decision {
    decide(
        message,
        settings,
        &conversation(ConversationStatus::InProgress),
        host,
    )
}

fn user_data(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn a_keyword_routes_to_its_group_with_priority_subject_tag_and_memory() {
    let mut host = FakeHost::default();
    let decision = run(&mut host, &sms("My Direct-Debit failed"), SETTINGS);

    let group = decision.group_target().expect("routed to a group");
    assert_eq!(group.group, "billing");
    assert_eq!(group.priority, 5);
    assert_eq!(group.subject.as_deref(), Some("Billing"));
    assert_eq!(
        group.user_data,
        user_data(&[
            ("matched_keyword", "direct debit"),
            ("routed_by", "keyword-router")
        ])
    );
    assert_eq!(decision.tags, vec!["keyword:direct debit".to_string()]);
    assert!(decision.replies.is_empty());
    assert_eq!(decision.status, None);
    assert_eq!(
        host.calls,
        [
            "kv.set last-group:+32470000001=billing",
            "log routed to billing by keyword direct debit",
        ]
    );
}

#[test]
fn without_a_group_subject_the_message_subject_is_kept() {
    let mut host = FakeHost::default();
    let mut message = sms("it is broken");
    message.channel = Channel::Email;
    message.subject = Some("Router".into());
    let decision = run(&mut host, &message, SETTINGS);
    let group = decision.group_target().unwrap();
    assert_eq!(group.group, "support");
    assert_eq!(group.priority, 0);
    assert_eq!(group.subject.as_deref(), Some("Router"));

    let decision = run(&mut host, &sms("it is broken"), SETTINGS);
    assert_eq!(decision.group_target().unwrap().subject, None);
}

#[test]
fn an_unstaffed_group_overflows() {
    let mut host = FakeHost::default();
    host.staffing.insert("billing".into(), 0);
    let decision = run(&mut host, &sms("invoice"), SETTINGS);

    let group = decision.group_target().unwrap();
    assert_eq!(group.group, "general");
    assert_eq!(group.priority, 5);
    assert_eq!(
        group.user_data,
        user_data(&[
            ("matched_keyword", "invoice"),
            ("routed_by", "keyword-router"),
            ("overflow_from", "billing"),
        ])
    );
    assert_eq!(decision.tags, vec!["keyword:invoice".to_string()]);
    assert_eq!(
        host.calls,
        [
            "kv.set last-group:+32470000001=general",
            "log routed to general by keyword invoice",
        ]
    );
}

#[test]
fn staffed_unknown_or_no_overflow_group_keeps_the_matched_group() {
    let mut host = FakeHost::default();
    host.staffing.insert("billing".into(), 2);
    assert_eq!(
        run(&mut host, &sms("bill"), SETTINGS)
            .group_target()
            .unwrap()
            .group,
        "billing"
    );

    let mut host = FakeHost::default();
    assert_eq!(
        run(&mut host, &sms("bill"), SETTINGS)
            .group_target()
            .unwrap()
            .group,
        "billing"
    );

    let mut host = FakeHost::default();
    host.staffing.insert("support".into(), 0);
    let decision = run(
        &mut host,
        &sms("help"),
        r#"{"groups":[{"group":"support","keywords":["help"]}]}"#,
    );
    assert_eq!(decision.group_target().unwrap().group, "support");
}

#[test]
fn no_match_goes_to_the_default_group_with_the_auto_reply() {
    let mut host = FakeHost::default();
    let decision = run(&mut host, &sms("hello there"), SETTINGS);

    let group = decision.group_target().unwrap();
    assert_eq!(group.group, "general");
    assert_eq!(group.priority, 0);
    assert_eq!(group.subject, None);
    assert_eq!(
        group.user_data,
        user_data(&[("routed_by", "keyword-router"), ("reason", "default_group")])
    );
    assert!(decision.tags.is_empty());
    assert_eq!(
        decision.replies,
        vec![OutboundReply {
            channel: Channel::Sms,
            recipient: None,
            subject: None,
            body: "Thanks! Reply BILL or HELP so we can route you.".into(),
        }]
    );
    assert_eq!(host.calls, ["log no keyword matched"]);
}

#[test]
fn no_match_prefers_the_senders_last_group() {
    let mut host = FakeHost::default();
    host.kv
        .insert("last-group:+32470000001".into(), "support".into());
    let decision = run(&mut host, &sms("still there?"), SETTINGS);
    let group = decision.group_target().unwrap();
    assert_eq!(group.group, "support");
    assert_eq!(
        group.user_data,
        user_data(&[("routed_by", "keyword-router"), ("reason", "last_group")])
    );

    // The memory is per sender.
    let mut other = sms("still there?");
    other.sender = "+32470000002".into();
    let decision = run(&mut host, &other, SETTINGS);
    assert_eq!(decision.group_target().unwrap().group, "general");
}

#[test]
fn no_match_and_no_default_rejects_but_still_replies() {
    let mut host = FakeHost::default();
    let decision = run(&mut host, &sms("hello"), r#"{"auto_reply":"Say BILL"}"#);
    assert_eq!(
        decision.target,
        Target::Reject("no keyword matched and no default_group".into())
    );
    assert_eq!(decision.replies.len(), 1);
    assert_eq!(decision.replies[0].body, "Say BILL");

    let decision = run(&mut host, &sms("hello"), "{}");
    assert!(decision.replies.is_empty());
    assert!(decision.reject_reason().is_some());
}

#[test]
fn invalid_settings_reject_without_side_effects() {
    let mut host = FakeHost::default();
    let decision = run(&mut host, &sms("bill"), r#"{"groups":"billing"}"#);
    assert_eq!(
        decision,
        Decision::reject("invalid settings: groups is not a list")
    );
    assert!(host.calls.is_empty());
}

#[test]
fn idle_conversations_become_new_even_on_reject() {
    for (status, expected) in [
        (
            ConversationStatus::NotContacted,
            Some(ConversationStatus::New),
        ),
        (ConversationStatus::Closed, Some(ConversationStatus::New)),
        (ConversationStatus::New, None),
        (ConversationStatus::InProgress, None),
        (ConversationStatus::InAFlow, None),
    ] {
        for settings in [SETTINGS, "{}", "not json"] {
            let decision = decide(
                &sms("bill"),
                settings,
                &conversation(status),
                &mut FakeHost::default(),
            );
            assert_eq!(decision.status, expected, "{status:?} with {settings}");
        }
    }
}

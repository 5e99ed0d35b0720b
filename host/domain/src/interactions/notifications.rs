//! The notifications an agent gets on CometD's `/me/interactions`, shaped as seed 003's
//! `InteractionStateMessage`: one per change of an interaction the agent holds or held.
//! SMS interactions use the same envelope with channel `sms` and an `sms_object`.

use serde_json::{Map, Value, json};

use super::operations::capabilities;
use super::{Interaction, InteractionState};
use crate::channel::Channel;

/// What happened, as the agent is told: a state of the interaction, or Revoked when
/// it was taken away from them (offer ran out, transferred elsewhere, agent deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notified {
    State(InteractionState),
    Revoked,
}

impl Notified {
    /// The state's name in the message, as the seed spells them.
    pub fn name(self) -> &'static str {
        match self {
            Self::Revoked => "Revoked",
            Self::State(state) => match state {
                InteractionState::Queued => "Queued",
                InteractionState::Invited => "Invited",
                InteractionState::Accepted => "Accepted",
                InteractionState::ReplyCreated => "ReplyCreated",
                InteractionState::InWorkbin => "InWorkbin",
                InteractionState::Completed => "Completed",
            },
        }
    }
}

fn interaction_type(channel: Channel) -> &'static str {
    match channel {
        Channel::Email => "Email",
        Channel::Sms => "SMS",
        Channel::Device => "Device",
    }
}

/// The message's object for the channel (`sms_object` or `email_object`). An offer
/// shows only what the seed's Invited shows (the subject and the id; for SMS the
/// sender and the text too, as an SMS has nothing else to decide on); from Accepted
/// on, everything, and the draft while one is being written.
fn channel_object(i: &Interaction, notified: Notified) -> (&'static str, Value) {
    let id = i.id.to_string();
    let draft = match notified {
        Notified::State(InteractionState::ReplyCreated) => i.draft.as_ref(),
        _ => None,
    };
    match i.channel {
        Channel::Email => {
            let object = match (notified, draft) {
                (Notified::Revoked, _) => json!({ "subject": i.subject }),
                (Notified::State(InteractionState::Invited), _) => {
                    json!({ "subject": i.subject, "interactionId": id })
                }
                (_, Some(d)) => json!({
                    "ToAddress": d.to.join(", "),
                    "FromAddress": d.from,
                    "CCAddresses": "",
                    "Subject": d.subject,
                    "Text": d.text,
                    "StructuredText": "",
                    "MimeType": "text/plain",
                    "StructuredTextMimeType": "text/html",
                    "attachments": d.attachments,
                }),
                (_, None) => json!({
                    "ToAddress": i.to,
                    "FromAddress": i.from,
                    "CCAddresses": i.cc.join(", "),
                    "Subject": i.subject,
                    "Text": i.text,
                    "StructuredText": i.html.clone().unwrap_or_default(),
                    "MimeType": "text/plain",
                    "StructuredTextMimeType": "text/html",
                    "TheComment": "",
                    "ContactID": i.from,
                    "attachments": i.attachments,
                }),
            };
            ("email_object", object)
        }
        Channel::Sms | Channel::Device => {
            let object = match (notified, draft) {
                (Notified::Revoked, _) => json!({ "subject": i.subject }),
                (_, Some(d)) => json!({
                    "from": d.from,
                    "to": d.to.join(", "),
                    "text": d.text,
                    "subject": d.subject,
                }),
                (_, None) => json!({
                    "from": i.from,
                    "to": i.to,
                    "text": i.text,
                    "subject": i.subject,
                    "interactionId": id,
                }),
            };
            ("sms_object", object)
        }
    }
}

/// Milliseconds since the epoch as RFC 3339 (UTC, milliseconds).
fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The notification for `notified` about `i`, with the capabilities of that state
/// (none for Revoked).
pub fn state_message(i: &Interaction, notified: Notified) -> Value {
    let (object_key, object) = channel_object(i, notified);
    let mut message = Map::new();
    message.insert("messageTypeName".into(), json!("InteractionStateMessage"));
    message.insert("id".into(), json!(i.id.to_string()));
    message.insert("channel".into(), json!(i.channel.as_str()));
    message.insert(object_key.into(), object);
    let capabilities: Vec<&str> = match notified {
        Notified::Revoked => Vec::new(),
        Notified::State(state) => capabilities(state).iter().map(|o| o.as_str()).collect(),
    };
    if notified != Notified::Revoked {
        let sub_type = match notified {
            Notified::State(InteractionState::ReplyCreated) => "OutboundReply",
            _ => "InboundNew",
        };
        let user_data: Map<String, Value> = i
            .user_data
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        message.insert("interactionType".into(), json!(interaction_type(i.channel)));
        message.insert("interactionSubType".into(), json!(sub_type));
        message.insert("userData".into(), Value::Object(user_data));
        message.insert("currentQueue".into(), json!(i.acd_group_name));
        message.insert("inQueues".into(), json!([i.acd_group_name]));
        message.insert("outQueues".into(), json!([]));
        message.insert("receivedAt".into(), json!(rfc3339(i.received_at)));
    }
    message.insert("state".into(), json!(notified.name()));
    message.insert("capabilities".into(), json!(capabilities));
    Value::Object(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::interactions::operations::Draft;

    fn sms() -> Interaction {
        Interaction {
            id: 42,
            message_id: 7,
            acd_group: 3,
            acd_group_name: "support".into(),
            state: InteractionState::Invited,
            priority: 0,
            subject: Some("SMS from +4915112345678".into()),
            user_data: vec![("lang".into(), "de".into()), ("vip".into(), "yes".into())],
            channel: Channel::Sms,
            from: "+4915112345678".into(),
            to: "+4930123".into(),
            text: "Hallo".into(),
            received_at: 0,
            agent_id: Some(1),
            offered_at: Some(0),
            workbin: None,
            draft: None,
            cc: Vec::new(),
            html: None,
            attachments: Vec::new(),
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn an_offer_carries_the_seed_fields_and_accept_reject() {
        let m = state_message(&sms(), Notified::State(InteractionState::Invited));
        let keys: Vec<&str> = m.as_object().unwrap().keys().map(|k| k.as_str()).collect();
        for key in [
            "messageTypeName",
            "id",
            "channel",
            "sms_object",
            "interactionType",
            "interactionSubType",
            "userData",
            "currentQueue",
            "inQueues",
            "outQueues",
            "receivedAt",
            "state",
            "capabilities",
        ] {
            assert!(keys.contains(&key), "{key} missing from {m}");
        }
        assert_eq!(m["messageTypeName"], "InteractionStateMessage");
        assert_eq!(m["id"], "42");
        assert_eq!(m["state"], "Invited");
        assert_eq!(m["capabilities"], json!(["Accept", "Reject"]));
        assert_eq!(m["userData"], json!({"lang": "de", "vip": "yes"}));
        assert_eq!(m["currentQueue"], "support");
        assert_eq!(m["sms_object"]["from"], "+4915112345678");
        assert_eq!(m["sms_object"]["text"], "Hallo");
        assert_eq!(m["interactionSubType"], "InboundNew");
        assert_eq!(m["receivedAt"], "1970-01-01T00:00:00Z");
    }

    #[test]
    fn revoked_says_little_and_allows_nothing() {
        let m = state_message(&sms(), Notified::Revoked);
        assert_eq!(m["state"], "Revoked");
        assert_eq!(m["capabilities"], json!([]));
        assert!(m.get("userData").is_none());
    }

    #[test]
    fn a_reply_shows_the_draft_as_an_outbound_reply() {
        let mut i = sms();
        i.draft = Some(Draft {
            from: "+4930123".into(),
            to: vec!["+4915112345678".into()],
            subject: None,
            text: "Danke".into(),
            attachments: Vec::new(),
        });
        let m = state_message(&i, Notified::State(InteractionState::ReplyCreated));
        assert_eq!(m["interactionSubType"], "OutboundReply");
        assert_eq!(m["sms_object"]["text"], "Danke");
        assert_eq!(
            m["capabilities"],
            json!([
                "Cancel",
                "Send",
                "PlaceInWorkbin",
                "UpdateProperties",
                "LinkAttachment"
            ])
        );
    }

    #[test]
    fn email_interactions_use_the_email_object() {
        let mut i = sms();
        i.channel = Channel::Email;
        let invited = state_message(&i, Notified::State(InteractionState::Invited));
        assert_eq!(invited["email_object"]["interactionId"], "42");
        assert_eq!(invited["interactionType"], "Email");
        let accepted = state_message(&i, Notified::State(InteractionState::Accepted));
        assert_eq!(accepted["email_object"]["Text"], "Hallo");
        assert_eq!(accepted["email_object"]["attachments"], json!([]));
        i.cc = vec!["boss@example.com".into(), "team@example.com".into()];
        i.html = Some("<p>Hallo</p>".into());
        i.attachments = vec![crate::interactions::AttachmentRef {
            id: 5,
            name: "a.pdf".into(),
            size: 9,
            mimetype: "application/pdf".into(),
        }];
        let accepted = state_message(&i, Notified::State(InteractionState::Accepted));
        let object = &accepted["email_object"];
        assert_eq!(object["CCAddresses"], "boss@example.com, team@example.com");
        assert_eq!(object["StructuredText"], "<p>Hallo</p>");
        assert_eq!(
            object["attachments"],
            json!([{ "id": 5, "name": "a.pdf", "size": 9, "mimetype": "application/pdf" }])
        );
        assert_eq!(accepted["interactionSubType"], "InboundNew");
    }
}

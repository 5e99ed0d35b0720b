//! A communication handed to the queue (by the API, a routing application's reply or
//! an agent), checked and completed with the senders' defaults before it is stored.

use serde::Deserialize;

use super::entry::{Communication, Direction};
use super::rules::{self, Enabled};
use super::settings::{EmailSettings, SmsSettings, check_address};
use crate::acd_groups::FieldError;
use crate::channel::Channel;
use crate::connectors::Recipient;

/// Longest body accepted: as for inbound texts, far above any real SMS or command, and
/// small enough that a queue entry stays a row rather than a file.
pub const MAX_BODY_CHARS: usize = 40_000;
/// RFC 5322's line limit, which a subject header must fit.
pub const MAX_SUBJECT_CHARS: usize = 998;
/// An external system's name, a device id and the like.
const MAX_NAME_CHARS: usize = 256;

/// `POST /communications`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommunicationInput {
    pub media: Channel,
    #[serde(default = "outgoing")]
    pub direction: Direction,
    pub sender: Option<String>,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub external_system: Option<String>,
}

fn outgoing() -> Direction {
    Direction::Outgoing
}

/// A checked communication, ready to be stored as a Pending entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    pub communication: Communication,
    pub external_system: Option<String>,
    pub parts: u32,
    /// Who created it: `api`, `routing:connector 3`, an agent's name.
    pub created_by: String,
    pub inbound_message_id: Option<i64>,
}

/// Why a communication was not queued.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    #[error(transparent)]
    Invalid(#[from] FieldError),
    /// Seed 000: it meets none of the conditions for entering the queue.
    #[error("{0}")]
    NotQueued(String),
}

/// Checks `input` and decides whether it enters the queue (seed 000). Numbers are
/// stored in E.164 and addresses as given; a missing sender is the sender settings'
/// default.
pub fn accept(
    input: CommunicationInput,
    email: &EmailSettings,
    sms: &SmsSettings,
    created_by: &str,
) -> Result<NewEntry, Refused> {
    let external_system = match input.external_system {
        Some(name) => Some(check_text("external_system", &name, MAX_NAME_CHARS)?.to_owned()),
        None => None,
    };
    let default_sender = match input.media {
        Channel::Email => email.default_sender.clone(),
        Channel::Sms => sms.default_sender.clone(),
        Channel::Device => Some("switchyard".to_owned()),
    };
    let sender = input.sender.or(default_sender).ok_or_else(|| {
        FieldError::new(
            "sender",
            format!(
                "is required: the {} settings have no default sender",
                input.media
            ),
        )
    })?;
    let (sender, recipient) = match input.media {
        Channel::Sms => (
            number(&sender, "sender")?,
            number(&input.recipient, "recipient")?,
        ),
        Channel::Email => {
            check_address(&sender, "sender")?;
            check_address(&input.recipient, "recipient")?;
            (sender, input.recipient)
        }
        Channel::Device => (
            check_text("sender", &sender, MAX_NAME_CHARS)?.to_owned(),
            check_text("recipient", &input.recipient, MAX_NAME_CHARS)?.to_owned(),
        ),
    };
    if let Some(subject) = &input.subject
        && (subject.chars().count() > MAX_SUBJECT_CHARS || subject.contains(['\r', '\n', '\0']))
    {
        return Err(FieldError::new(
            "subject",
            format!("must be one line of at most {MAX_SUBJECT_CHARS} characters"),
        )
        .into());
    }
    if input.body.chars().count() > MAX_BODY_CHARS {
        return Err(FieldError::new(
            "body",
            format!("is longer than {MAX_BODY_CHARS} characters"),
        )
        .into());
    }
    if input.body.contains('\0') {
        return Err(FieldError::new("body", "must not contain NUL characters").into());
    }
    let communication = Communication {
        media: input.media,
        direction: input.direction,
        sender,
        recipient,
        subject: input.subject,
        body: input.body,
    };
    let enabled = Enabled {
        email: email.enabled,
        sms: sms.enabled,
    };
    if !rules::enters_queue(&communication, external_system.as_deref(), enabled) {
        return Err(Refused::NotQueued(rules::refusal(communication.media)));
    }
    Ok(NewEntry {
        parts: match communication.media {
            Channel::Sms => super::segments::count(&communication.body),
            _ => 1,
        },
        communication,
        external_system,
        created_by: created_by.to_owned(),
        inbound_message_id: None,
    })
}

/// A reply a routing application asked for, as routing hands it to the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub media: Channel,
    /// The number the contact wrote to: SMS replies are sent from it.
    pub connector_number: String,
    /// The application's own recipient, else the contact's address on `media`; None
    /// when the contact has none there (an email reply to a texting contact).
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body: String,
    pub inbound_message_id: i64,
    /// Log information, e.g. `routing:connector 3`.
    pub created_by: String,
}

/// Checks a routing application's reply and decides whether it enters the queue, by
/// the rules of [`accept`]. A reply follows its channel: an SMS goes out from the
/// connector's number, an email from the connector's address when it is an email
/// connector (so the customer's answer comes back to it), else from the email
/// settings' default sender (a phone number is no email sender, and the SMTP server
/// would refuse it).
pub fn reply(reply: Reply, email: &EmailSettings, sms: &SmsSettings) -> Result<NewEntry, Refused> {
    // Whether the channel is on comes first: it is the reason an admin can act on.
    let enabled = match reply.media {
        Channel::Email => email.enabled,
        Channel::Sms => sms.enabled,
        Channel::Device => false,
    };
    if !enabled {
        return Err(Refused::NotQueued(rules::refusal(reply.media)));
    }
    let Some(recipient) = reply.recipient else {
        return Err(Refused::NotQueued(format!(
            "the contact has no {} to send it to",
            match reply.media {
                Channel::Email => "email address",
                Channel::Sms => "phone number",
                Channel::Device => "device",
            }
        )));
    };
    let input = CommunicationInput {
        media: reply.media,
        direction: Direction::Outgoing,
        sender: match reply.media {
            Channel::Sms => Some(reply.connector_number),
            Channel::Email if reply.connector_number.contains('@') => Some(reply.connector_number),
            _ => None,
        },
        recipient,
        subject: reply.subject,
        body: reply.body,
        external_system: None,
    };
    let mut entry = accept(input, email, sms, &reply.created_by)?;
    entry.inbound_message_id = Some(reply.inbound_message_id);
    Ok(entry)
}

fn number(text: &str, field: &'static str) -> Result<String, FieldError> {
    Ok(Recipient::parse_field(text, field)?.as_str().to_owned())
}

fn check_text<'a>(field: &'static str, text: &'a str, max: usize) -> Result<&'a str, FieldError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    if trimmed.chars().count() > max || trimmed.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("must be at most {max} characters without control characters"),
        ));
    }
    Ok(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(json: &str) -> CommunicationInput {
        serde_json::from_str(json).unwrap()
    }

    fn sms_on() -> SmsSettings {
        SmsSettings {
            enabled: true,
            gateway_plugin: Some("x".into()),
            default_sender: Some("+32470999999".into()),
            ..SmsSettings::default()
        }
    }

    #[test]
    fn an_sms_gets_e164_numbers_the_default_sender_and_its_parts() {
        let body = "a".repeat(200);
        let entry = accept(
            input(&format!(
                r#"{{"media":"sms","recipient":"+32 470 12 34 56","body":"{body}"}}"#
            )),
            &EmailSettings::default(),
            &sms_on(),
            "api",
        )
        .unwrap();
        assert_eq!(entry.communication.recipient, "+32470123456");
        assert_eq!(entry.communication.sender, "+32470999999");
        assert_eq!(entry.communication.direction, Direction::Outgoing);
        assert_eq!(entry.parts, 2);
    }

    #[test]
    fn communications_that_meet_no_condition_are_not_queued() {
        let refused = accept(
            input(
                r#"{"media":"sms","sender":"+32470999999","recipient":"+32470123456","body":"x"}"#,
            ),
            &EmailSettings::default(),
            &SmsSettings::default(),
            "api",
        )
        .unwrap_err();
        assert!(matches!(refused, Refused::NotQueued(m) if m.contains("SMS server")));
        // Naming an external system is enough.
        assert!(
            accept(
                input(
                    r#"{"media":"device","recipient":"card-1","body":"on","external_system":"cas"}"#
                ),
                &EmailSettings::default(),
                &SmsSettings::default(),
                "api",
            )
            .is_ok()
        );
    }

    fn email_on() -> EmailSettings {
        EmailSettings {
            enabled: true,
            host: "mail.example".into(),
            default_sender: Some("desk@acme.example".into()),
            ..EmailSettings::default()
        }
    }

    fn asked(media: Channel, recipient: Option<&str>) -> Reply {
        Reply {
            media,
            connector_number: "+4930123456".into(),
            recipient: recipient.map(str::to_owned),
            subject: Some("Re: your message".into()),
            body: "Thanks".into(),
            inbound_message_id: 42,
            created_by: "routing:connector 7".into(),
        }
    }

    #[test]
    fn replies_follow_their_channel() {
        let sms = reply(
            asked(Channel::Sms, Some("+4915123456789")),
            &email_on(),
            &sms_on(),
        )
        .unwrap();
        assert_eq!(
            (
                sms.communication.sender.as_str(),
                sms.communication.recipient.as_str()
            ),
            ("+4930123456", "+4915123456789"),
            "an SMS reply comes from the connector's number"
        );
        assert_eq!(sms.inbound_message_id, Some(42));

        let email = reply(
            asked(Channel::Email, Some("ann@example.org")),
            &email_on(),
            &sms_on(),
        )
        .unwrap();
        assert_eq!(
            (
                email.communication.sender.as_str(),
                email.communication.recipient.as_str()
            ),
            ("desk@acme.example", "ann@example.org"),
            "an email reply comes from the email settings' default sender"
        );
        assert_eq!(email.created_by, "routing:connector 7");
    }

    #[test]
    fn an_email_reply_without_an_address_or_a_sender_is_refused_with_the_reason() {
        let refused = reply(asked(Channel::Email, None), &email_on(), &sms_on()).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "the contact has no email address to send it to"
        );
        let no_sender = EmailSettings {
            default_sender: None,
            ..email_on()
        };
        let refused = reply(
            asked(Channel::Email, Some("ann@example.org")),
            &no_sender,
            &sms_on(),
        )
        .unwrap_err();
        assert!(
            refused.to_string().contains("no default sender"),
            "{refused}"
        );
        let refused = reply(
            asked(Channel::Email, None),
            &EmailSettings::default(),
            &sms_on(),
        )
        .unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("email server settings are not enabled"),
            "{refused}"
        );
    }

    #[test]
    fn bad_numbers_and_addresses_name_their_field() {
        let e = accept(
            input(r#"{"media":"sms","recipient":"call me","body":"x"}"#),
            &EmailSettings::default(),
            &sms_on(),
            "api",
        )
        .unwrap_err();
        assert!(matches!(e, Refused::Invalid(f) if f.field == "recipient"));
        let email = EmailSettings {
            enabled: true,
            host: "m".into(),
            ..EmailSettings::default()
        };
        let e = accept(
            input(r#"{"media":"email","sender":"a@b.example","recipient":"nobody","body":"x"}"#),
            &email,
            &sms_on(),
            "api",
        )
        .unwrap_err();
        assert!(matches!(e, Refused::Invalid(f) if f.field == "recipient"));
        let e = accept(
            input(r#"{"media":"email","recipient":"a@b.example","body":"x"}"#),
            &email,
            &sms_on(),
            "api",
        )
        .unwrap_err();
        assert!(matches!(e, Refused::Invalid(f) if f.field == "sender"));
    }
}

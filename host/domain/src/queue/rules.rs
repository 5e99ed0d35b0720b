//! The communication queue's rules from seed 000, as plain functions: which
//! communications enter the queue, and what processing a Pending entry does.

use serde::{Deserialize, Serialize};

use super::entry::{Communication, Direction};
use crate::channel::Channel;

/// The life cycle state of a queue entry (seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LifeCycleState {
    Pending,
    Rejected,
    Completed,
    CompletedAndRemoved,
}

impl LifeCycleState {
    pub const ALL: [LifeCycleState; 4] = [
        Self::Pending,
        Self::Rejected,
        Self::Completed,
        Self::CompletedAndRemoved,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Rejected => "rejected",
            Self::Completed => "completed",
            Self::CompletedAndRemoved => "completed_and_removed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Whether the host's own senders are switched on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Enabled {
    pub email: bool,
    pub sms: bool,
}

/// Seed 000, "Which Communications are sent to the Queue?": email with the email
/// server settings enabled, SMS with the SMS server settings enabled, or any
/// communication that names an external system.
pub fn enters_queue(
    communication: &Communication,
    external_system: Option<&str>,
    enabled: Enabled,
) -> bool {
    external_system.is_some()
        || match communication.media {
            Channel::Email => enabled.email,
            Channel::Sms => enabled.sms,
            Channel::Device => false,
        }
}

/// Why a communication cannot enter the queue, in words for the API's error.
pub fn refusal(media: Channel) -> String {
    match media {
        Channel::Email => {
            "the email server settings are not enabled and no external system is named".into()
        }
        Channel::Sms => {
            "the SMS server settings are not enabled and no external system is named".into()
        }
        Channel::Device => "a DEVICE communication needs an external system to process it".into(),
    }
}

/// Why seed 000's tables reject an entry without trying to send it. The error code
/// and the seed's error text both come from here, so neither is derived from the other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// An incoming email or SMS: the host only sends.
    IncomingNotSupported(Channel),
    /// The media's server settings are switched off.
    ServerNotEnabled(Channel),
    /// A DEVICE communication names no external system to process it.
    NeedsExternalSystem,
}

impl Rejection {
    /// The entry's error code.
    pub fn code(self) -> &'static str {
        match self {
            Self::IncomingNotSupported(_) | Self::NeedsExternalSystem => "NOT-SUPPORTED",
            Self::ServerNotEnabled(_) => "SERVER-NOT-ENABLED",
        }
    }

    /// The entry's error description: seed 000's "Error Log" text.
    pub fn description(self) -> &'static str {
        match self {
            Self::IncomingNotSupported(Channel::Email) => "Incoming Emails not Supported",
            Self::IncomingNotSupported(_) => "Incoming SMS not Supported",
            Self::ServerNotEnabled(Channel::Email) => "Email Server not Enabled",
            Self::ServerNotEnabled(_) => "SMS Server not Enabled",
            Self::NeedsExternalSystem => "DEVICE communications need an External System",
        }
    }
}

/// What processing a Pending entry does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Rejected at once, for this reason.
    Reject(Rejection),
    /// Send by email through the host's SMTP server.
    SendEmail,
    /// Send by SMS through the host's gateway plugin.
    SendSms,
    /// Left to the named external system (a WASM processor or a third party).
    External,
}

/// Seed 000's processing tables, row for row. Entries with an external system are
/// processed by that system, never by the host's senders.
pub fn plan(
    communication: &Communication,
    external_system: Option<&str>,
    enabled: Enabled,
) -> Plan {
    if external_system.is_some() {
        return Plan::External;
    }
    let incoming = communication.direction == Direction::Incoming;
    let media = communication.media;
    let on = match media {
        Channel::Email => enabled.email,
        Channel::Sms => enabled.sms,
        Channel::Device => return Plan::Reject(Rejection::NeedsExternalSystem),
    };
    if incoming {
        Plan::Reject(Rejection::IncomingNotSupported(media))
    } else if !on {
        Plan::Reject(Rejection::ServerNotEnabled(media))
    } else if media == Channel::Email {
        Plan::SendEmail
    } else {
        Plan::SendSms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comm(media: Channel, direction: Direction) -> Communication {
        Communication {
            media,
            direction,
            sender: "a".into(),
            recipient: "b".into(),
            subject: None,
            body: "x".into(),
        }
    }

    const ON: Enabled = Enabled {
        email: true,
        sms: true,
    };
    const OFF: Enabled = Enabled {
        email: false,
        sms: false,
    };

    #[test]
    fn the_email_table() {
        use Direction::*;
        assert_eq!(
            plan(&comm(Channel::Email, Incoming), None, ON),
            Plan::Reject(Rejection::IncomingNotSupported(Channel::Email))
        );
        assert_eq!(
            plan(&comm(Channel::Email, Outgoing), None, OFF),
            Plan::Reject(Rejection::ServerNotEnabled(Channel::Email))
        );
        assert_eq!(
            plan(&comm(Channel::Email, Outgoing), None, ON),
            Plan::SendEmail
        );
    }

    #[test]
    fn the_sms_table() {
        use Direction::*;
        assert_eq!(
            plan(&comm(Channel::Sms, Incoming), None, ON),
            Plan::Reject(Rejection::IncomingNotSupported(Channel::Sms))
        );
        assert_eq!(
            plan(&comm(Channel::Sms, Outgoing), None, OFF),
            Plan::Reject(Rejection::ServerNotEnabled(Channel::Sms))
        );
        assert_eq!(plan(&comm(Channel::Sms, Outgoing), None, ON), Plan::SendSms);
    }

    #[test]
    fn each_rejection_carries_its_own_code_and_the_seeds_text() {
        use Direction::*;
        let cases = [
            (
                comm(Channel::Email, Incoming),
                "NOT-SUPPORTED",
                "Incoming Emails not Supported",
            ),
            (
                comm(Channel::Email, Outgoing),
                "SERVER-NOT-ENABLED",
                "Email Server not Enabled",
            ),
            (
                comm(Channel::Sms, Incoming),
                "NOT-SUPPORTED",
                "Incoming SMS not Supported",
            ),
            (
                comm(Channel::Sms, Outgoing),
                "SERVER-NOT-ENABLED",
                "SMS Server not Enabled",
            ),
            (
                comm(Channel::Device, Outgoing),
                "NOT-SUPPORTED",
                "DEVICE communications need an External System",
            ),
        ];
        for (communication, code, text) in cases {
            let enabled = if communication.direction == Incoming {
                ON
            } else {
                OFF
            };
            let Plan::Reject(why) = plan(&communication, None, enabled) else {
                panic!("{communication:?} is rejected");
            };
            assert_eq!((why.code(), why.description()), (code, text));
        }
    }

    #[test]
    fn external_systems_take_their_entries() {
        let device = comm(Channel::Device, Direction::Outgoing);
        assert_eq!(plan(&device, Some("cas"), OFF), Plan::External);
        assert!(enters_queue(&device, Some("cas"), OFF));
        assert!(!enters_queue(&device, None, ON));
    }

    #[test]
    fn only_enabled_media_enter_the_queue() {
        let email = comm(Channel::Email, Direction::Outgoing);
        let sms = comm(Channel::Sms, Direction::Outgoing);
        assert!(enters_queue(
            &email,
            None,
            Enabled {
                email: true,
                sms: false
            }
        ));
        assert!(!enters_queue(
            &sms,
            None,
            Enabled {
                email: true,
                sms: false
            }
        ));
        assert!(enters_queue(
            &sms,
            None,
            Enabled {
                email: false,
                sms: true
            }
        ));
    }
}

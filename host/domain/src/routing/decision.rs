//! What a routing application decided, and the rules a decision must satisfy.
//!
//! A plugin's return value is untrusted input like any HTTP body: it is checked here
//! before the host creates interactions, queues replies or stores tags. A decision that
//! breaks a rule is refused as a whole, so a misbehaving plugin changes nothing.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;
use crate::conversations::ConversationStatus;

/// ACD group names are identifiers admins type; 128 characters is generous for that
/// and keeps a runaway plugin from naming a group with megabytes.
pub const MAX_GROUP_NAME: usize = 128;
/// An interaction subject is shown in one line of an agent's inbox.
pub const MAX_SUBJECT: usize = 1_000;
/// User data travels with every CometD notification about the interaction, so it stays
/// small: 64 pairs of at most 4 KiB each.
pub const MAX_USER_DATA_PAIRS: usize = 64;
pub const MAX_USER_DATA_VALUE: usize = 4_096;
/// Tags label a conversation in the inbox; a few dozen short words at most.
pub const MAX_TAGS: usize = 32;
pub const MAX_TAG: usize = 64;
/// A routing decision may queue a handful of replies (an acknowledgement, a notice to
/// a supervisor); more than that is a bulk send and belongs in a broadcast.
pub const MAX_REPLIES: usize = 10;
/// A reply body: a long email is far below 256 KiB; an SMS far below that.
pub const MAX_REPLY_BODY: usize = 256 * 1024;
/// A reject reason ends up in the activity log.
pub const MAX_REASON: usize = 1_000;
/// Recipients are E.164 numbers or email addresses.
pub const MAX_RECIPIENT: usize = 320;

/// A routing application's decision for one inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub target: Target,
    pub status: Option<ConversationStatus>,
    pub tags: Vec<String>,
    pub replies: Vec<OutboundReply>,
}

/// Where the message goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    AcdGroup(GroupTarget),
    Reject(String),
    Drop,
}

/// An interaction to create in an ACD group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupTarget {
    pub group: String,
    pub priority: u32,
    pub subject: Option<String>,
    pub user_data: Vec<(String, String)>,
}

/// A message to queue for sending because of this decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboundReply {
    pub channel: Channel,
    /// None: back to the inbound message's sender.
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body: String,
}

/// The first rule a decision broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecisionError {
    #[error("the target ACD group name is empty")]
    EmptyGroup,
    #[error("{what} is {len} long, the limit is {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} has {len} entries, the limit is {max}")]
    TooMany {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("{what} contains a control character")]
    ControlCharacter { what: &'static str },
    #[error("a tag is empty")]
    EmptyTag,
    #[error("a reply has an empty body")]
    EmptyReply,
}

impl Decision {
    /// Check every limit; the error names the first field that breaks one.
    pub fn check(&self) -> Result<(), DecisionError> {
        match &self.target {
            Target::AcdGroup(target) => target.check()?,
            Target::Reject(reason) => check_len("the reject reason", reason, MAX_REASON)?,
            Target::Drop => {}
        }
        check_count("tags", self.tags.len(), MAX_TAGS)?;
        for tag in &self.tags {
            if tag.trim().is_empty() {
                return Err(DecisionError::EmptyTag);
            }
            check_line("a tag", tag, MAX_TAG)?;
        }
        check_count("replies", self.replies.len(), MAX_REPLIES)?;
        for reply in &self.replies {
            reply.check()?;
        }
        Ok(())
    }
}

impl GroupTarget {
    fn check(&self) -> Result<(), DecisionError> {
        if self.group.trim().is_empty() {
            return Err(DecisionError::EmptyGroup);
        }
        check_line("the ACD group name", &self.group, MAX_GROUP_NAME)?;
        if let Some(subject) = &self.subject {
            check_line("the subject", subject, MAX_SUBJECT)?;
        }
        check_count("user data", self.user_data.len(), MAX_USER_DATA_PAIRS)?;
        for (key, value) in &self.user_data {
            check_line("a user data key", key, MAX_GROUP_NAME)?;
            check_len("a user data value", value, MAX_USER_DATA_VALUE)?;
        }
        Ok(())
    }
}

impl OutboundReply {
    fn check(&self) -> Result<(), DecisionError> {
        if self.body.is_empty() {
            return Err(DecisionError::EmptyReply);
        }
        check_len("a reply body", &self.body, MAX_REPLY_BODY)?;
        if let Some(recipient) = &self.recipient {
            check_line("a reply recipient", recipient, MAX_RECIPIENT)?;
        }
        if let Some(subject) = &self.subject {
            check_line("a reply subject", subject, MAX_SUBJECT)?;
        }
        Ok(())
    }
}

/// Multi-line text (a reply body, a reject reason) may hold control characters, but not
/// NUL: PostgreSQL cannot store it in text, so it would fail the write of a whole batch.
fn check_len(what: &'static str, text: &str, max: usize) -> Result<(), DecisionError> {
    if text.len() > max {
        return Err(DecisionError::TooLong {
            what,
            len: text.len(),
            max,
        });
    }
    if text.contains('\0') {
        return Err(DecisionError::ControlCharacter { what });
    }
    Ok(())
}

/// One-line fields end up in headers, inbox rows and CometD keys: no control characters.
fn check_line(what: &'static str, text: &str, max: usize) -> Result<(), DecisionError> {
    check_len(what, text, max)?;
    if text.chars().any(char::is_control) {
        return Err(DecisionError::ControlCharacter { what });
    }
    Ok(())
}

fn check_count(what: &'static str, len: usize, max: usize) -> Result<(), DecisionError> {
    if len > max {
        return Err(DecisionError::TooMany { what, len, max });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn nul_is_refused_even_where_control_characters_are_allowed() {
        use super::*;
        let decision = Decision {
            target: Target::Reject("closed\0".into()),
            status: None,
            tags: vec![],
            replies: vec![],
        };
        assert_eq!(
            decision.check(),
            Err(DecisionError::ControlCharacter {
                what: "the reject reason"
            })
        );
        let multi_line = Decision {
            target: Target::Reject("closed\ntoday".into()),
            ..decision
        };
        assert_eq!(multi_line.check(), Ok(()));
    }

    use super::*;

    fn to_group(group: &str) -> Decision {
        Decision {
            target: Target::AcdGroup(GroupTarget {
                group: group.into(),
                priority: 0,
                subject: None,
                user_data: vec![],
            }),
            status: None,
            tags: vec![],
            replies: vec![],
        }
    }

    #[test]
    fn a_plain_group_decision_passes() {
        assert_eq!(to_group("billing").check(), Ok(()));
    }

    #[test]
    fn an_empty_or_blank_group_is_refused() {
        assert_eq!(to_group("").check(), Err(DecisionError::EmptyGroup));
        assert_eq!(to_group("  ").check(), Err(DecisionError::EmptyGroup));
    }

    #[test]
    fn a_group_name_with_a_newline_is_refused() {
        assert!(matches!(
            to_group("bill\ning").check(),
            Err(DecisionError::ControlCharacter { .. })
        ));
    }

    #[test]
    fn too_many_tags_are_refused() {
        let mut decision = to_group("billing");
        decision.tags = vec!["t".into(); MAX_TAGS + 1];
        assert!(matches!(
            decision.check(),
            Err(DecisionError::TooMany { what: "tags", .. })
        ));
    }

    #[test]
    fn an_oversized_reply_is_refused() {
        let mut decision = to_group("billing");
        decision.replies.push(OutboundReply {
            channel: Channel::Sms,
            recipient: None,
            subject: None,
            body: "x".repeat(MAX_REPLY_BODY + 1),
        });
        assert!(matches!(
            decision.check(),
            Err(DecisionError::TooLong {
                what: "a reply body",
                ..
            })
        ));
    }

    #[test]
    fn a_reject_keeps_its_reason() {
        let decision = Decision {
            target: Target::Reject("spam".into()),
            ..to_group("x")
        };
        assert_eq!(decision.check(), Ok(()));
    }
}

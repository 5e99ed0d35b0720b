//! Conversations with a contact: their status (seed 004) and tags.
//!
//! A conversation belongs to a contact on one connector: each connector's routing
//! application sees and changes only its own, so one cannot fill another's tags.

use serde::{Deserialize, Serialize};

/// Where a conversation stands, as a contact-centre inbox shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConversationStatus {
    /// The contact exists but nobody has talked to them yet.
    #[default]
    NotContacted,
    /// The contact wrote; an agent's answer is awaited.
    New,
    /// An agent answered; the conversation is ongoing.
    InProgress,
    /// Resolved; tags are locked.
    Closed,
    /// The contact is inside an automated messaging flow.
    InAFlow,
}

impl ConversationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotContacted => "not_contacted",
            Self::New => "new",
            Self::InProgress => "in_progress",
            Self::Closed => "closed",
            Self::InAFlow => "in_a_flow",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::NotContacted,
            Self::New,
            Self::InProgress,
            Self::Closed,
            Self::InAFlow,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// The state of a conversation a plugin sees before a message is applied to it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    pub status: ConversationStatus,
    pub tags: Vec<String>,
}

/// A conversation keeps at most this many tags: tags are only ever added (closing a
/// conversation locks them), so a chatty routing application must not grow them
/// without bound.
pub const MAX_CONVERSATION_TAGS: usize = 100;

impl Conversation {
    /// After an inbound message reached an agent's queue: a conversation nobody had
    /// started, or one that was closed, is New again (an answer is awaited); one that
    /// is already New, In progress or In a flow stays so. A routing application's
    /// explicit status wins over that rule.
    pub fn after_inbound(self, status: Option<ConversationStatus>, tags: &[String]) -> Self {
        self.after_inbound_refused(status, tags).0
    }

    /// The routing application's status (if any) and added tags. Tags are never
    /// removed here: the WIT decision can only add them.
    pub fn with(self, status: Option<ConversationStatus>, tags: &[String]) -> Self {
        self.with_refused(status, tags).0
    }

    /// [`Self::with`], also returning the new tags that did not fit under
    /// [`MAX_CONVERSATION_TAGS`], so the routing record can name them.
    pub fn with_refused(
        mut self,
        status: Option<ConversationStatus>,
        tags: &[String],
    ) -> (Self, Vec<String>) {
        if let Some(status) = status {
            self.status = status;
        }
        let mut refused = Vec::new();
        for tag in tags {
            if self.tags.contains(tag) || refused.contains(tag) {
                continue;
            }
            if self.tags.len() >= MAX_CONVERSATION_TAGS {
                refused.push(tag.clone());
            } else {
                self.tags.push(tag.clone());
            }
        }
        (self, refused)
    }

    /// [`Self::after_inbound`], also returning the tags that did not fit.
    pub fn after_inbound_refused(
        self,
        status: Option<ConversationStatus>,
        tags: &[String],
    ) -> (Self, Vec<String>) {
        let default = match self.status {
            ConversationStatus::NotContacted | ConversationStatus::Closed => {
                ConversationStatus::New
            }
            other => other,
        };
        self.with_refused(status.or(Some(default)), tags)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conv(status: ConversationStatus) -> Conversation {
        Conversation {
            status,
            tags: vec!["vip".into()],
        }
    }

    #[test]
    fn an_inbound_message_opens_a_conversation_that_awaits_an_answer() {
        use ConversationStatus::*;
        for (before, after) in [
            (NotContacted, New),
            (Closed, New),
            (New, New),
            (InProgress, InProgress),
            (InAFlow, InAFlow),
        ] {
            assert_eq!(
                conv(before).after_inbound(None, &[]).status,
                after,
                "{before:?}"
            );
        }
        assert_eq!(
            conv(InProgress).after_inbound(Some(InAFlow), &[]).status,
            InAFlow
        );
    }

    #[test]
    fn tags_are_added_once_and_never_removed() {
        let tags = ["billing".to_owned(), "vip".to_owned()];
        let after = conv(ConversationStatus::New).with(None, &tags);
        assert_eq!(after.tags, ["vip", "billing"]);
        let many: Vec<String> = (0..500).map(|i| format!("t{i}")).collect();
        let (full, refused) = after.with_refused(None, &many);
        assert_eq!(full.tags.len(), MAX_CONVERSATION_TAGS);
        assert_eq!(
            refused.len(),
            500 + 2 - MAX_CONVERSATION_TAGS,
            "every one named"
        );
        assert_eq!(refused[0], format!("t{}", MAX_CONVERSATION_TAGS - 2));
    }
}

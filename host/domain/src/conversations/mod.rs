//! Conversations with a contact: their status (seed 004) and tags, the transitions
//! routing applications and people may make, and the inbox's view of them.
//!
//! A conversation belongs to a contact on one connector: each connector's routing
//! application sees and changes only its own, so one cannot fill another's tags.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;

/// Where a conversation stands, as a contact-centre inbox shows it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
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

/// Checks the status a routing application asks for against where the conversation
/// stands, after an inbound message (seed 004). Refused, with the reason for the
/// routing record: `not_contacted` (the contact has just written), and `in_progress`
/// unless an agent already answered or a flow marks it (the conversation is In a
/// flow). Everything else may be set.
pub fn check_routing_status(
    before: ConversationStatus,
    requested: ConversationStatus,
) -> Result<ConversationStatus, String> {
    use ConversationStatus::*;
    match (before, requested) {
        (_, NotContacted) => Err(
            "status not_contacted refused: the contact has written, so the conversation \
             has started"
                .to_owned(),
        ),
        (InProgress | InAFlow, InProgress) => Ok(InProgress),
        (_, InProgress) => Err(format!(
            "status in_progress refused: a conversation becomes In progress when an agent \
             answers or a flow marks it, and this one is {}",
            before.as_str()
        )),
        (_, other) => Ok(other),
    }
}

/// What people do to a conversation through the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Close,
    Reopen,
    Archive,
    Unarchive,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Close => "close",
            Self::Reopen => "reopen",
            Self::Archive => "archive",
            Self::Unarchive => "unarchive",
        }
    }
}

/// Where a conversation stands for the inbox: its status and whether it is archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub status: ConversationStatus,
    pub archived: bool,
}

/// What `action` makes of a conversation standing at `now`, or why it cannot (seed 004):
/// closing resolves an open conversation; reopening makes a closed one New again (an
/// answer is awaited); only a closed conversation is archived, and only an archived one
/// unarchived. Closing or reopening an archived conversation is refused: unarchive it
/// first, so nothing changes in the archive unseen.
pub fn apply(action: Action, now: Standing) -> Result<Standing, String> {
    use ConversationStatus::*;
    match action {
        _ if now.archived && action != Action::Unarchive => {
            Err("the conversation is archived; unarchive it first".to_owned())
        }
        Action::Close if now.status == Closed => Err("the conversation is already closed".into()),
        Action::Close => Ok(Standing {
            status: Closed,
            archived: false,
        }),
        Action::Reopen if now.status != Closed => Err(format!(
            "only a closed conversation is reopened; this one is {}",
            now.status.as_str()
        )),
        Action::Reopen => Ok(Standing {
            status: New,
            archived: false,
        }),
        Action::Archive if now.status != Closed => Err(format!(
            "only a closed conversation is archived; this one is {}: close it first",
            now.status.as_str()
        )),
        Action::Archive => Ok(Standing {
            status: Closed,
            archived: true,
        }),
        Action::Unarchive if !now.archived => Err("the conversation is not archived".into()),
        Action::Unarchive => Ok(Standing {
            status: now.status,
            archived: false,
        }),
    }
}

/// Removing tags from a closed conversation is refused (seed 004: closing locks them);
/// adding stays allowed, as routing applications may.
pub fn check_tag_removal(status: ConversationStatus) -> Result<(), String> {
    if status == ConversationStatus::Closed {
        Err("the conversation is closed: its tags are locked and cannot be removed".into())
    } else {
        Ok(())
    }
}

/// Checks tags given through the API: 1 to 100 characters, one line each.
pub fn check_tags(tags: &[String]) -> Result<(), crate::acd_groups::FieldError> {
    if tags.is_empty() {
        return Err(crate::acd_groups::FieldError::new(
            "tags",
            "name at least one tag",
        ));
    }
    for tag in tags {
        let chars = tag.chars().count();
        if chars == 0 || chars > 100 || tag.chars().any(char::is_control) {
            return Err(crate::acd_groups::FieldError::new(
                "tags",
                format!("`{tag}` is not a tag: 1 to 100 characters, one line"),
            ));
        }
    }
    Ok(())
}

/// A conversation as the inbox shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversationView {
    pub id: i64,
    pub connector_id: i64,
    pub channel: Channel,
    /// The contact's number (E.164) or address.
    pub contact: String,
    pub status: ConversationStatus,
    pub tags: Vec<String>,
    pub archived: bool,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    /// The transitions it went through, oldest first; only in the detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Vec<ConversationActivity>>,
    /// The ids of its inbound messages, oldest first; only in the detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_ids: Option<Vec<i64>>,
}

/// One line of a conversation's activity log: what changed and who changed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ConversationActivity {
    /// `routing:connector 3`, `admin`, `agent:<login>`.
    pub actor: String,
    /// `inbound`, `routing`, `close`, `reopen`, `archive`, `unarchive`, `tags_added`,
    /// `tags_removed`, `agent_reply`.
    pub action: String,
    pub from_status: Option<ConversationStatus>,
    pub to_status: Option<ConversationStatus>,
    pub detail: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
}

/// Which conversations the inbox shows by their archived flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Archived {
    /// Not archived: the default view.
    #[default]
    Hidden,
    /// Archived ones only.
    Only,
    /// Both.
    Any,
}

/// The inbox's filters (`GET /api/v1/conversations`). The default view hides archived
/// conversations.
#[derive(Debug, Clone, Default)]
pub struct ConversationFilter {
    pub status: Option<ConversationStatus>,
    pub tag: Option<String>,
    pub archived: Archived,
    pub connector_id: Option<i64>,
    pub contact: Option<String>,
    pub channel: Option<Channel>,
    /// Updated at or after / before (ms since the epoch).
    pub updated_since: Option<i64>,
    pub updated_before: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_may_not_unstart_a_conversation_or_claim_an_agents_answer() {
        use ConversationStatus::*;
        assert!(check_routing_status(New, NotContacted).is_err());
        assert!(check_routing_status(New, InProgress).is_err());
        assert_eq!(check_routing_status(InAFlow, InProgress), Ok(InProgress));
        assert_eq!(check_routing_status(InProgress, InProgress), Ok(InProgress));
        assert_eq!(check_routing_status(New, Closed), Ok(Closed));
        assert_eq!(check_routing_status(Closed, InAFlow), Ok(InAFlow));
    }

    #[test]
    fn people_close_reopen_archive_and_unarchive_in_order() {
        use ConversationStatus::*;
        let open = Standing {
            status: New,
            archived: false,
        };
        let closed = apply(Action::Close, open).unwrap();
        assert_eq!(closed.status, Closed);
        assert!(apply(Action::Close, closed).is_err());
        assert!(
            apply(Action::Archive, open)
                .unwrap_err()
                .contains("close it first")
        );
        let archived = apply(Action::Archive, closed).unwrap();
        assert!(archived.archived);
        assert!(
            apply(Action::Reopen, archived)
                .unwrap_err()
                .contains("unarchive")
        );
        let back = apply(Action::Unarchive, archived).unwrap();
        assert_eq!((back.status, back.archived), (Closed, false));
        assert!(apply(Action::Unarchive, back).is_err());
        assert_eq!(apply(Action::Reopen, back).unwrap().status, New);
        assert!(apply(Action::Reopen, open).is_err());
    }

    #[test]
    fn closed_conversations_keep_their_tags() {
        assert!(check_tag_removal(ConversationStatus::Closed).is_err());
        assert!(check_tag_removal(ConversationStatus::New).is_ok());
        assert!(check_tags(&["vip".into()]).is_ok());
        assert_eq!(check_tags(&[]).unwrap_err().field, "tags");
        assert!(check_tags(&["a\nb".into()]).is_err());
    }

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

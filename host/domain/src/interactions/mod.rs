//! Interactions: what an inbound message becomes in an ACD group, waiting for an agent
//! (seeds 002 and 003), as the API shows them with the message and its routing record.

pub mod forwarding;
pub mod notifications;
pub mod offering;
pub mod operations;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::channel::Channel;
use crate::routing::outcome::MessageState;

/// Where an interaction stands. Routing creates interactions `queued` in their group;
/// offering moves them to an agent (`invited`), the agent's operations onward
/// ([`operations`]). Revoked is a notification, not a state: a revoked offer puts the
/// interaction back to `queued`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InteractionState {
    /// Waiting in its ACD group for an agent.
    Queued,
    /// Offered to one agent, who may accept or reject it until the offer runs out.
    Invited,
    /// Being handled by the agent who accepted it.
    Accepted,
    /// The agent is drafting a reply to it.
    ReplyCreated,
    /// Set aside in one of its agent's workbins; counts against no capacity.
    InWorkbin,
    /// Finished (StopProcessing): holds nobody's capacity any more.
    Completed,
}

impl InteractionState {
    pub const ALL: [Self; 6] = [
        Self::Queued,
        Self::Invited,
        Self::Accepted,
        Self::ReplyCreated,
        Self::InWorkbin,
        Self::Completed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Invited => "invited",
            Self::Accepted => "accepted",
            Self::ReplyCreated => "reply_created",
            Self::InWorkbin => "in_workbin",
            Self::Completed => "completed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// Whether an interaction in this state takes one of its agent's capacity on the
    /// channel: offered or being worked on, not set aside or finished.
    pub fn holds_capacity(self) -> bool {
        matches!(self, Self::Invited | Self::Accepted | Self::ReplyCreated)
    }
}

/// An interaction with the message it carries.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Interaction {
    pub id: i64,
    pub message_id: i64,
    pub acd_group: i64,
    pub acd_group_name: String,
    pub state: InteractionState,
    pub priority: i64,
    pub subject: Option<String>,
    /// Key-value pairs a routing application attached, in its order.
    pub user_data: Vec<(String, String)>,
    pub channel: Channel,
    pub from: String,
    pub to: String,
    pub text: String,
    pub received_at: i64,
    /// The agent who holds it (invited, accepted, drafting, in a workbin), if any.
    pub agent_id: Option<i64>,
    /// When the current offer was made, while invited.
    pub offered_at: Option<i64>,
    /// The workbin it sits in, while in one.
    pub workbin: Option<String>,
    /// The reply being drafted, from Reply until Send or Cancel.
    pub draft: Option<operations::Draft>,
    /// An email's copied addresses, HTML and attachments; empty for SMS.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub cc: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub html: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub attachments: Vec<AttachmentRef>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An attachment as an interaction lists it (seed 003: id, name, size, mimetype); its
/// bytes are at `GET /api/v1/attachments/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AttachmentRef {
    pub id: i64,
    pub name: String,
    pub size: u64,
    #[serde(alias = "mime_type")]
    pub mimetype: String,
}

/// One line of a message's activity log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Activity {
    pub status: String,
    pub detail: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
}

/// How a message was routed, as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RoutingRecordView {
    pub routing_type: String,
    pub plugin_version: Option<i64>,
    pub plugin_sha256: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub decision: Option<Value>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    /// What the routing application was refused while its decision stood: tags past
    /// the conversation's limit, kv writes past the connector's quota.
    pub warnings: Vec<String>,
    #[schema(value_type = Option<Vec<Object>>)]
    pub logs: Value,
    pub elapsed_us: Option<i64>,
    pub routed_at: i64,
}

/// An inbound message with its activity log and routing record.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageView {
    pub id: i64,
    pub connector_id: Option<i64>,
    pub channel: Channel,
    pub gateway_message_id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub received_at: i64,
    pub stored_at: i64,
    pub state: MessageState,
    pub interaction_id: Option<i64>,
    pub activity: Vec<Activity>,
    pub routing: Option<RoutingRecordView>,
    /// An email's subject, addresses, HTML, threading ids and attachments; absent for
    /// SMS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailView>,
}

/// What an inbound email carried beyond its sender, recipient and text.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmailView {
    pub subject: Option<String>,
    pub from_name: Option<String>,
    pub to: Vec<crate::email::Mailbox>,
    pub cc: Vec<crate::email::Mailbox>,
    pub html: Option<String>,
    /// The Message-ID, without angle brackets.
    pub message_id: String,
    /// The email had none; this one was made from its content.
    pub generated_message_id: bool,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// How it arrived: `mime`, `postmark` or `mailgun`.
    pub dialect: String,
    pub attachments: Vec<AttachmentView>,
}

/// An attachment (seed 003: id, name, size, mimetype); its bytes are at
/// `GET /api/v1/attachments/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AttachmentView {
    pub id: i64,
    pub name: String,
    pub size: i64,
    pub mimetype: String,
    /// Shown in the body (referred to by `content_id`) rather than listed as a file.
    pub inline: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_id: Option<String>,
}

/// A message as the list shows it: without its activity log and routing record, which
/// the detail (`GET /messages/{id}`) adds; `summary: true` says so.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MessageSummary {
    pub id: i64,
    pub connector_id: Option<i64>,
    pub channel: Channel,
    pub gateway_message_id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub received_at: i64,
    pub stored_at: i64,
    pub state: MessageState,
    pub interaction_id: Option<i64>,
    pub summary: bool,
}

impl From<MessageView> for MessageSummary {
    fn from(m: MessageView) -> Self {
        Self {
            id: m.id,
            connector_id: m.connector_id,
            channel: m.channel,
            gateway_message_id: m.gateway_message_id,
            from: m.from,
            to: m.to,
            text: m.text,
            received_at: m.received_at,
            stored_at: m.stored_at,
            state: m.state,
            interaction_id: m.interaction_id,
            summary: true,
        }
    }
}

/// Filters of the interaction list; all optional.
#[derive(Debug, Clone, Default)]
pub struct InteractionFilter {
    pub acd_group: Option<i64>,
    pub state: Option<InteractionState>,
    /// Only interactions with a larger id: the cursor for the next page.
    pub after: Option<i64>,
    pub limit: i64,
}

/// Filters of the message list.
#[derive(Debug, Clone, Default)]
pub struct MessageFilter {
    pub connector_id: Option<i64>,
    pub state: Option<MessageState>,
    pub after: Option<i64>,
    pub limit: i64,
}

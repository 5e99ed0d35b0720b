//! Conversations with a contact: their status (seed 004) and tags.

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

/// The state of a conversation a plugin sees before a message is applied to it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Conversation {
    pub status: ConversationStatus,
    pub tags: Vec<String>,
}

//! An inbound message and the connector it arrived on, as handed to routing applications.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;

/// Metadata of a file attached to an inbound message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub name: String,
    pub mime_type: String,
    pub size: u64,
}

/// A message a gateway delivered. Field names are the WIT record's in snake_case, so
/// `switchyard plugin run --message` files and the API use the same shape; everything
/// but `channel`, `sender`, `recipient` and `body` may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundMessage {
    #[serde(default)]
    pub id: String,
    pub channel: Channel,
    pub sender: String,
    pub recipient: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
    /// Milliseconds since the Unix epoch; 0 means "now" to whoever fills it in.
    #[serde(default)]
    pub received_at: u64,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
}

/// The receive connector a message arrived on, with its plugin settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ConnectorContext {
    pub id: String,
    pub name: String,
    pub recipient: String,
}

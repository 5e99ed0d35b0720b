//! A communication-queue entry (seed 000) as external systems and gateways see it.

use serde::{Deserialize, Serialize};

use crate::channel::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Incoming,
    Outgoing,
}

/// The communication carried by an entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Communication {
    pub media: Channel,
    pub direction: Direction,
    pub sender: String,
    pub recipient: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub body: String,
}

/// One queue entry; `number` is unique and stable, so it is also the idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    pub number: u64,
    #[serde(default)]
    pub external_system: Option<String>,
    pub communication: Communication,
    #[serde(default)]
    pub attributes: Vec<(String, String)>,
}

/// An error code and description, as a third party or gateway reported them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessError {
    pub code: String,
    pub description: String,
}

/// How processing an entry ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessOutcome {
    Completed(Option<String>),
    Rejected(ProcessError),
}

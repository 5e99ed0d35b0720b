//! Queue entries as stored and shown by the API, with their activity log, and the
//! external systems that process entries.

use serde::{Deserialize, Serialize};

use super::entry::{Communication, QueueEntry};
use super::rules::LifeCycleState;
use super::status::TextStatus;

/// One queue entry with every attribute of seed 000 and its text status (seed 001).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntryRecord {
    pub number: i64,
    pub state: LifeCycleState,
    pub status: TextStatus,
    pub communication: Communication,
    pub external_system: Option<String>,
    pub error_code: Option<String>,
    pub error_description: Option<String>,
    /// What the processor said on completion (a remote reference, say).
    pub result: Option<String>,
    pub gateway_reference: Option<String>,
    /// SMS segments.
    pub parts: u32,
    pub attempts: u32,
    /// The rate limit's slot for an SMS (ms since the epoch).
    pub send_at: Option<i64>,
    /// Until when a worker or third party holds the entry.
    pub claimed_until: Option<i64>,
    pub inbound_message_id: Option<i64>,
    pub log: LogInformation,
    /// Every status change, oldest first; only in single-entry answers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activity: Option<Vec<EntryActivity>>,
}

/// Seed 000's "Log Information": who created and last changed the entry, and when.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogInformation {
    pub created_at: i64,
    pub created_by: String,
    pub updated_at: i64,
    pub updated_by: String,
}

/// One line of an entry's activity log.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EntryActivity {
    pub at: i64,
    pub status: TextStatus,
    pub detail: Option<String>,
}

impl EntryRecord {
    /// The entry as plugins and third parties see it.
    pub fn to_queue_entry(&self) -> QueueEntry {
        QueueEntry {
            number: self.number as u64,
            external_system: self.external_system.clone(),
            communication: self.communication.clone(),
            attributes: vec![("parts".into(), self.parts.to_string())],
        }
    }
}

/// What `GET /queue` filters on.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntryFilter {
    pub state: Option<String>,
    pub status: Option<String>,
    pub media: Option<String>,
    pub external_system: Option<String>,
    pub recipient: Option<String>,
    /// Entries with a number above this (paging).
    pub after: Option<i64>,
    pub limit: Option<u32>,
}

/// How an external system processes its entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SystemKind {
    /// A WASM external-system component the host runs (e.g. `cas-processor`).
    Plugin,
    /// A third party that lists, claims and settles its entries over the web API.
    ThirdParty,
}

impl SystemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Plugin => "plugin",
            Self::ThirdParty => "third_party",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Plugin, Self::ThirdParty]
            .into_iter()
            .find(|k| k.as_str() == text)
    }
}

/// An external system as stored.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExternalSystem {
    pub id: i64,
    pub name: String,
    pub kind: SystemKind,
    /// Content hash of the component, for `plugin` systems.
    pub plugin: Option<String>,
    /// Shown with secrets redacted ([`crate::secrets`]); the field itself holds them.
    #[schema(value_type = Object)]
    #[serde(serialize_with = "crate::secrets::serialize_redacted")]
    pub settings: serde_json::Value,
    /// What a third party presents; shown to admins like a connector's token.
    pub token: String,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A gateway or external-system component uploaded to `/plugins`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueuePlugin {
    pub sha256: String,
    pub world: String,
    pub size: i64,
    pub uploaded_at: i64,
}

/// How an entry's processing ended, as the store's `settle_entry` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    pub state: LifeCycleState,
    pub status: TextStatus,
    pub error: Option<super::ProcessError>,
    pub result: Option<String>,
    pub gateway_reference: Option<String>,
    /// The activity log's words for it.
    pub detail: Option<String>,
}

impl Settlement {
    pub fn completed(status: TextStatus, result: Option<String>) -> Self {
        Self {
            state: LifeCycleState::Completed,
            status,
            detail: result.clone(),
            error: None,
            result,
            gateway_reference: None,
        }
    }

    pub fn rejected(status: TextStatus, code: &str, description: impl Into<String>) -> Self {
        let description = description.into();
        Self {
            state: LifeCycleState::Rejected,
            status,
            detail: Some(format!("{code}: {description}")),
            error: Some(super::ProcessError {
                code: code.to_owned(),
                description,
            }),
            result: None,
            gateway_reference: None,
        }
    }
}

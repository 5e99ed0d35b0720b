//! The media a message or communication travels on, shared by routing and the queue.

use serde::{Deserialize, Serialize};

/// SMS, email or DEVICE (commands for a conditional-access system and the like).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
    Device,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Device => "device",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Channel::Sms, Channel::Email, Channel::Device]
            .into_iter()
            .find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

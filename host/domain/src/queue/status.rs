//! Text statuses of seed 001 (Pending ... Failed), how delivery receipts move them, and
//! how a multi-part message's status follows from its parts.

use serde::{Deserialize, Serialize};

/// Where a queued communication is on its way to the recipient (seed 001's Text Log).
/// Emails and device commands use the same words: `sent` once handed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[derive(utoipa::ToSchema)]
pub enum TextStatus {
    /// In the queue, not yet scheduled or processed.
    Pending,
    /// Waiting for its sending number's next free second.
    Queued,
    /// Being handed to the gateway, mail server or external system right now.
    Sending,
    /// Handed over; the recipient may or may not have it.
    Sent,
    /// The gateway reported the recipient has it.
    Delivered,
    /// A receipt said it was not delivered (carrier filtering, handset unavailable).
    Undelivered,
    /// A receipt said the handset is switched off or otherwise unavailable.
    Unreachable,
    /// The host never sent it (refused by the queue's rules, never reached a gateway).
    Unsent,
    /// It could not be delivered: the gateway or system refused it.
    Failed,
}

impl TextStatus {
    pub const ALL: [TextStatus; 9] = [
        Self::Pending,
        Self::Queued,
        Self::Sending,
        Self::Sent,
        Self::Delivered,
        Self::Undelivered,
        Self::Unreachable,
        Self::Unsent,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Undelivered => "undelivered",
            Self::Unreachable => "unreachable",
            Self::Unsent => "unsent",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// What a delivery receipt may report: the outcomes after `sent`.
    pub fn is_receipt_outcome(self) -> bool {
        matches!(
            self,
            Self::Sent | Self::Delivered | Self::Undelivered | Self::Unreachable | Self::Failed
        )
    }

    /// How bad a part's outcome is: the worst part decides the message's status.
    fn severity(self) -> u8 {
        match self {
            Self::Failed => 4,
            Self::Unreachable => 3,
            Self::Undelivered => 2,
            _ => 0,
        }
    }
}

impl std::fmt::Display for TextStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The status of a sent message of `parts` segments, given every receipt's (part,
/// status). A message is delivered only when every part is; a part that failed,
/// was unreachable or undelivered makes the whole message so (the worst wins), since
/// the recipient cannot read a message with a part missing. Otherwise it is `sent`.
pub fn aggregate(parts: u32, receipts: &[(u32, TextStatus)]) -> TextStatus {
    let worst = receipts
        .iter()
        .map(|(_, s)| *s)
        .filter(|s| s.severity() > 0)
        .max_by_key(|s| s.severity());
    if let Some(worst) = worst {
        return worst;
    }
    let all_delivered = (1..=parts.max(1)).all(|part| {
        receipts
            .iter()
            .any(|(p, s)| *p == part && *s == TextStatus::Delivered)
    });
    if all_delivered {
        TextStatus::Delivered
    } else {
        TextStatus::Sent
    }
}

#[cfg(test)]
mod tests {
    use super::TextStatus::*;
    use super::*;

    #[test]
    fn names_round_trip() {
        for status in TextStatus::ALL {
            assert_eq!(TextStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(TextStatus::parse("Delivered"), None);
    }

    #[test]
    fn a_single_part_message_follows_its_receipt() {
        assert_eq!(aggregate(1, &[]), Sent);
        assert_eq!(aggregate(1, &[(1, Delivered)]), Delivered);
        assert_eq!(aggregate(1, &[(1, Undelivered)]), Undelivered);
        assert_eq!(aggregate(1, &[(1, Sent), (1, Delivered)]), Delivered);
    }

    #[test]
    fn a_multi_part_message_is_delivered_only_when_every_part_is() {
        assert_eq!(aggregate(3, &[(1, Delivered), (3, Delivered)]), Sent);
        assert_eq!(
            aggregate(3, &[(1, Delivered), (2, Delivered), (3, Delivered)]),
            Delivered
        );
        // A repeated receipt for one part does not stand in for another part.
        assert_eq!(aggregate(2, &[(1, Delivered), (1, Delivered)]), Sent);
    }

    #[test]
    fn the_worst_part_decides() {
        assert_eq!(
            aggregate(3, &[(1, Delivered), (2, Undelivered), (3, Delivered)]),
            Undelivered
        );
        assert_eq!(
            aggregate(2, &[(1, Unreachable), (2, Undelivered)]),
            Unreachable
        );
        assert_eq!(aggregate(2, &[(1, Unreachable), (2, Failed)]), Failed);
    }
}

//! An agent's status per channel (seed 003): `ready` to be offered interactions of
//! that channel, or `not_ready` (with an optional reason). Agents start not ready on
//! every channel, logging out makes them not ready everywhere, and an agent whose
//! sessions have all run out is not ready whatever was stored: only an agent who can
//! be reached is offered work.

use serde::{Deserialize, Serialize};

use crate::acd_groups::FieldError;
use crate::channel::Channel;

/// Longest not-ready reason, in characters: a label such as `lunch` or `training`.
pub const MAX_REASON_CHARS: usize = 128;

/// The channels an agent has a status on.
pub const AGENT_CHANNELS: [Channel; 2] = [Channel::Sms, Channel::Email];

/// The agent channel named `text` (`sms`, `email`), if it is one.
pub fn agent_channel(text: &str) -> Option<Channel> {
    AGENT_CHANNELS.into_iter().find(|c| c.as_str() == text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelState {
    Ready,
    NotReady,
}

impl ChannelState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::NotReady => "not_ready",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Ready, Self::NotReady]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// The body of `PUT /me/channels/{channel}`.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    pub state: ChannelState,
    #[serde(default)]
    pub reason: Option<String>,
}

/// One channel's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ChannelStatus {
    pub state: ChannelState,
    /// Why the agent is not ready, if they said; always `None` when ready.
    pub reason: Option<String>,
    /// When this state (with this reason) began, in ms since the Unix epoch.
    pub since: i64,
}

impl ChannelStatus {
    /// Where every agent starts.
    pub fn initial(now: i64) -> Self {
        Self {
            state: ChannelState::NotReady,
            reason: None,
            since: now,
        }
    }

    /// The status after `input` at `now`. Stating the same state and reason again
    /// keeps `since`, so a client that repeats itself does not reset the clock.
    pub fn changed(&self, input: StatusInput, now: i64) -> Result<Self, FieldError> {
        let reason = input.reason.filter(|r| !r.is_empty());
        if let Some(reason) = &reason {
            if input.state == ChannelState::Ready {
                return Err(FieldError::new(
                    "reason",
                    "is only given with state not_ready",
                ));
            }
            let chars = reason.chars().count();
            if chars > MAX_REASON_CHARS {
                return Err(FieldError::new(
                    "reason",
                    format!("is {chars} characters long; at most {MAX_REASON_CHARS} are allowed"),
                ));
            }
            if reason.chars().any(char::is_control) {
                return Err(FieldError::new(
                    "reason",
                    "must be one line without control characters",
                ));
            }
        }
        let same = self.state == input.state && self.reason == reason;
        Ok(Self {
            state: input.state,
            reason,
            since: if same { self.since } else { now },
        })
    }

    /// The status as routing sees it: a stored `ready` counts only while the agent has
    /// a session that has not run out (`session_until`, the latest expiry of the
    /// agent's sessions, after `now`); otherwise the agent has been not ready since the
    /// last session ran out.
    pub fn effective(self, session_until: Option<i64>, now: i64) -> Self {
        let live = session_until.is_some_and(|until| until > now);
        if self.state == ChannelState::NotReady || live {
            return self;
        }
        Self {
            state: ChannelState::NotReady,
            reason: None,
            since: session_until.map_or(self.since, |until| until.max(self.since)),
        }
    }
}

/// An agent's status on each of [`AGENT_CHANNELS`], as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Channels {
    pub sms: ChannelStatus,
    pub email: ChannelStatus,
}

impl Channels {
    pub fn initial(now: i64) -> Self {
        Self {
            sms: ChannelStatus::initial(now),
            email: ChannelStatus::initial(now),
        }
    }

    pub fn get(&self, channel: Channel) -> Option<&ChannelStatus> {
        match channel {
            Channel::Sms => Some(&self.sms),
            Channel::Email => Some(&self.email),
            Channel::Device => None,
        }
    }

    /// Sets `channel`'s status; a channel agents have no status on is ignored.
    pub fn set(&mut self, channel: Channel, status: ChannelStatus) {
        match channel {
            Channel::Sms => self.sms = status,
            Channel::Email => self.email = status,
            Channel::Device => {}
        }
    }

    /// Both statuses as routing sees them ([`ChannelStatus::effective`]).
    pub fn effective(self, session_until: Option<i64>, now: i64) -> Self {
        Self {
            sms: self.sms.effective(session_until, now),
            email: self.email.effective(session_until, now),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(state: ChannelState, reason: Option<&str>) -> StatusInput {
        StatusInput {
            state,
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn only_sms_and_email_are_agent_channels() {
        assert_eq!(agent_channel("sms"), Some(Channel::Sms));
        assert_eq!(agent_channel("email"), Some(Channel::Email));
        assert_eq!(agent_channel("device"), None);
        assert_eq!(agent_channel("fax"), None);
    }

    #[test]
    fn a_change_moves_since_but_a_repeat_does_not() {
        let start = ChannelStatus::initial(10);
        assert_eq!(start.state, ChannelState::NotReady);
        let ready = start.changed(input(ChannelState::Ready, None), 20).unwrap();
        assert_eq!((ready.state, ready.since), (ChannelState::Ready, 20));
        let again = ready
            .changed(input(ChannelState::Ready, Some("")), 30)
            .unwrap();
        assert_eq!(again.since, 20, "the same state again keeps since");
        let lunch = again
            .changed(input(ChannelState::NotReady, Some("lunch")), 40)
            .unwrap();
        assert_eq!(lunch.reason.as_deref(), Some("lunch"));
        assert_eq!(lunch.since, 40);
        let meeting = lunch
            .changed(input(ChannelState::NotReady, Some("meeting")), 50)
            .unwrap();
        assert_eq!(meeting.since, 50, "a new reason is a new status");
    }

    #[test]
    fn reasons_go_with_not_ready_only_and_are_short_single_lines() {
        let start = ChannelStatus::initial(0);
        let err = |state, reason: &str| start.changed(input(state, Some(reason)), 1).unwrap_err();
        assert_eq!(err(ChannelState::Ready, "lunch").field, "reason");
        assert_eq!(
            err(ChannelState::NotReady, &"r".repeat(129)).field,
            "reason"
        );
        assert_eq!(err(ChannelState::NotReady, "a\nb").field, "reason");
        assert!(
            start
                .changed(input(ChannelState::NotReady, Some(&"r".repeat(128))), 1)
                .is_ok()
        );
    }

    #[test]
    fn ready_counts_only_while_a_session_lives() {
        let ready = ChannelStatus {
            state: ChannelState::Ready,
            reason: None,
            since: 100,
        };
        assert_eq!(ready.clone().effective(Some(500), 200), ready);
        let lapsed = ready.clone().effective(Some(150), 200);
        assert_eq!((lapsed.state, lapsed.since), (ChannelState::NotReady, 150));
        let never = ready.effective(None, 200);
        assert_eq!((never.state, never.since), (ChannelState::NotReady, 100));
        let resting = ChannelStatus {
            state: ChannelState::NotReady,
            reason: Some("lunch".into()),
            since: 100,
        };
        assert_eq!(resting.clone().effective(None, 200), resting);
    }
}

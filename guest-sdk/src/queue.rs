//! Conveniences for plugins that work the communication queue: external systems
//! ([`ProcessOutcome`]) and gateways ([`SendResult`]).

use crate::message::find_pair;
use crate::{ProcessError, ProcessOutcome, QueueEntry, SendResult};

impl QueueEntry {
    /// The first entry attribute named `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        find_pair(&self.attributes, name)
    }
}

impl ProcessError {
    /// An error with the third party's `code` and a `description` for the entry's log.
    pub fn new(code: impl Into<String>, description: impl Into<String>) -> Self {
        ProcessError {
            code: code.into(),
            description: description.into(),
        }
    }
}

impl ProcessOutcome {
    /// Done; `reference` (e.g. the remote system's id) is kept in the entry's log.
    pub fn completed_with(reference: impl Into<String>) -> Self {
        ProcessOutcome::Completed(Some(reference.into()))
    }

    /// Done, with nothing to record.
    pub fn completed() -> Self {
        ProcessOutcome::Completed(None)
    }

    /// Not done: the entry becomes Rejected with this code and description.
    pub fn rejected(code: impl Into<String>, description: impl Into<String>) -> Self {
        ProcessOutcome::Rejected(ProcessError::new(code, description))
    }
}

impl From<ProcessError> for ProcessOutcome {
    fn from(error: ProcessError) -> Self {
        ProcessOutcome::Rejected(error)
    }
}

impl SendResult {
    /// Accepted by the gateway, which gave the message the id `message_id`.
    pub fn sent(message_id: impl Into<String>) -> Self {
        SendResult::Sent(Some(message_id.into()))
    }

    /// Refused for good (bad number, no credit): the host will not retry.
    pub fn failed(code: impl Into<String>, description: impl Into<String>) -> Self {
        SendResult::Failed(ProcessError::new(code, description))
    }

    /// A passing problem (rate limit, 5xx): the host may retry later.
    pub fn retry(code: impl Into<String>, description: impl Into<String>) -> Self {
        SendResult::Retry(ProcessError::new(code, description))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_constructors_fill_the_variants() {
        assert_eq!(
            ProcessOutcome::completed_with("cas-7"),
            ProcessOutcome::Completed(Some("cas-7".into()))
        );
        assert_eq!(ProcessOutcome::completed(), ProcessOutcome::Completed(None));
        assert_eq!(
            ProcessOutcome::rejected("CAS-404", "unknown device"),
            ProcessOutcome::Rejected(ProcessError {
                code: "CAS-404".into(),
                description: "unknown device".into(),
            })
        );
    }

    #[test]
    fn send_results_carry_their_error() {
        match SendResult::retry("429", "slow down") {
            SendResult::Retry(error) => assert_eq!(error.code, "429"),
            other => panic!("expected a retry, got {other:?}"),
        }
        assert_eq!(
            SendResult::sent("abc"),
            SendResult::Sent(Some("abc".into()))
        );
    }
}

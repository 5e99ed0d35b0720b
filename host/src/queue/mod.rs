//! The communication queue (seeds 000 and 001): outbound communications and how they
//! are processed, by the host's own senders (SMTP, SMS gateway plugins) or by external
//! systems, with their text statuses, delivery receipts and rate limits.

pub mod communication;
pub mod email;
pub mod entry;
pub mod gateway;
pub mod processor;
pub mod rate;
pub mod record;
pub mod rules;
pub mod segments;
pub mod settings;
pub mod sms;
pub mod status;

pub use entry::{Communication, Direction, ProcessError, ProcessOutcome, QueueEntry};
pub use gateway::{HttpMethod, HttpRequestSpec, HttpResponseData, SendResult};
pub use record::{EntryRecord, ExternalSystem, Settlement, SystemKind};
pub use rules::LifeCycleState;
pub use status::TextStatus;

/// An error with its sources, each added only if the text so far does not already
/// hold it (lettre and reqwest repeat their source in their own message).
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let more = inner.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = inner.source();
    }
    text
}

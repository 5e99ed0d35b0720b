//! The communication queue (seeds 000 and 001): outbound communications, the rules of
//! how they are processed by the host's own senders (SMTP, SMS gateway plugins) or by
//! external systems, their text statuses, delivery receipts and rate limits.

pub mod communication;
pub mod entry;
pub mod gateway;
pub mod rate;
pub mod receipts;
pub mod record;
pub mod rules;
pub mod segments;
pub mod settings;
pub mod status;
pub mod systems;

pub use entry::{Communication, Direction, ProcessError, ProcessOutcome, QueueEntry};
pub use gateway::{HttpMethod, HttpRequestSpec, HttpResponseData, SendResult};
pub use record::{EntryRecord, ExternalSystem, Settlement, SystemKind};
pub use rules::LifeCycleState;
pub use status::TextStatus;

//! The communication queue: outbound (and refused inbound) communications, how they are
//! processed, and what gateways and external systems report back.

pub mod entry;
pub mod gateway;
pub mod rules;

pub use entry::{Communication, Direction, ProcessError, ProcessOutcome, QueueEntry};
pub use gateway::{HttpMethod, HttpRequestSpec, HttpResponseData, SendResult};

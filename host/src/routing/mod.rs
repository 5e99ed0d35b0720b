//! Routing: inbound messages, the decisions routing applications make about them, and
//! the rules every decision must satisfy before the host acts on it.

pub mod decision;
pub mod env;
pub mod message;
pub mod outcome;
pub mod pipeline;

pub use decision::{Decision, DecisionError, GroupTarget, OutboundReply, Target};
pub use message::{Attachment, ConnectorContext, InboundMessage};

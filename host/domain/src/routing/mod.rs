//! Routing: inbound messages, the decisions routing applications make about them, the
//! rules every decision must satisfy before the host acts on it, and what routing does
//! to a stored message.

pub mod decision;
pub mod message;
pub mod outcome;

pub use decision::{Decision, DecisionError, GroupTarget, OutboundReply, Target};
pub use message::{Attachment, ConnectorContext, InboundMessage};

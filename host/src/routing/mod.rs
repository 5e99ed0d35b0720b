//! Routing: inbound messages, the decisions routing applications make about them, and
//! the rules every decision must satisfy before the host acts on it.

pub mod decision;
pub mod message;

pub use decision::{Decision, DecisionError, GroupTarget, OutboundReply, Target};
pub use message::{Attachment, ConnectorContext, InboundMessage};

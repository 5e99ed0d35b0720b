//! Switchyard's domain: what agents, connectors, routing decisions, the communication queue,
//! interactions and conversations are, and the rules they obey, as plain types and
//! functions. Nothing here stores, serves HTTP or runs a plugin: the store crate
//! persists these types and the server drives them.

pub mod acd_groups;
pub mod agents;
pub mod channel;
pub mod connectors;
pub mod conversations;
pub mod email;
pub mod interactions;
pub mod queue;
pub mod routing;
pub mod secrets;

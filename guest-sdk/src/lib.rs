//! Write Switchyard plugins in Rust: routing applications, external systems and
//! gateways, compiled to WebAssembly components.
//!
//! A plugin implements the trait of its world — [`RoutingApplication`],
//! [`ExternalSystem`] or [`Gateway`] — on a unit struct and exports it with the matching
//! macro. The host's imports are plain functions in [`log`], [`kv`], [`config`],
//! [`clock`] and [`acd`]; the contract's records ([`Decision`], [`QueueEntry`], ...) come
//! with builders. A plugin never names wit-bindgen.
//!
//! ```
//! use serde::Deserialize;
//! use switchyard_guest::{
//!     ConnectorContext, Conversation, ConversationStatus, Decision, InboundMessage,
//!     RoutingApplication, log,
//! };
//!
//! /// The connector's settings, e.g. `{"group": "support", "urgent_words": ["outage"]}`.
//! #[derive(Deserialize)]
//! struct Settings {
//!     group: String,
//!     #[serde(default)]
//!     urgent_words: Vec<String>,
//! }
//!
//! struct UrgentRouter;
//!
//! impl RoutingApplication for UrgentRouter {
//!     fn route(
//!         message: InboundMessage,
//!         connector: ConnectorContext,
//!         conversation: Conversation,
//!     ) -> Decision {
//!         let settings: Settings = match connector.settings() {
//!             Ok(settings) => settings,
//!             Err(error) => return Decision::reject(error.to_string()),
//!         };
//!         let body = message.body.to_lowercase();
//!         let urgent = settings.urgent_words.iter().any(|w| body.contains(w.as_str()));
//!         log::info(format!("routing to {} (urgent: {urgent})", settings.group));
//!
//!         let decision = Decision::to_group(settings.group)
//!             .priority(if urgent { 10 } else { 0 })
//!             .user_data("routed_by", "urgent-router");
//!         if conversation.is_idle() {
//!             decision
//!                 .status(ConversationStatus::New)
//!                 .reply(message.reply("Thanks! An agent will answer shortly."))
//!         } else {
//!             decision
//!         }
//!     }
//! }
//!
//! switchyard_guest::export_routing_application!(UrgentRouter);
//! # fn main() {}
//! ```
//!
//! The plugin crate is a `cdylib` built for `wasm32-unknown-unknown` and turned into a
//! component with `wasm-tools component new` (see `plugins/build.sh`). It also compiles
//! for the host, so pure logic can be unit-tested natively; the host imports, though,
//! exist only inside a component, and calling one natively panics.

#![warn(missing_docs)]

#[doc(hidden)]
#[path = "bindings.rs"]
pub mod __bindings;

pub mod acd;
pub mod clock;
pub mod config;
pub mod kv;
pub mod log;

mod decision;
mod http;
mod message;
mod queue;
mod worlds;

pub use crate::__bindings::platform::types::{
    Attachment, Channel, Communication, ConnectorContext, Conversation, ConversationStatus,
    Decision, Direction, GroupTarget, HttpMethod, HttpRequest, HttpResponse, InboundMessage,
    OutboundReply, ProcessError, ProcessOutcome, QueueEntry, SendResult, Target,
};
pub use crate::config::SettingsError;
pub use crate::worlds::{ExternalSystem, Gateway, RoutingApplication};

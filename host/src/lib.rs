//! Switchyard: a WebAssembly plugin host for contact-centre routing.
//!
//! Gateways post inbound SMS and email; routing applications (WASM components) attached
//! to connectors decide where each message goes; the communication queue sends what
//! leaves. The modules follow the domain: [`routing`] (messages and decisions),
//! [`runtime`] (the plugin sandbox), [`queue`], [`conversations`].

/// The plugin sandbox, a crate of its own (`host/runtime`) that knows nothing of the
/// server; re-exported so the server, the CLI and the tests name one runtime.
pub use switchyard_runtime as runtime;

pub mod acd_groups;
pub mod api;
pub mod channel;
pub mod cli;
pub mod config;
pub mod connectors;
pub mod conversations;
pub mod interactions;
pub mod metrics;
pub mod queue;
pub mod routing;
pub mod sandbox;
pub mod secrets;
pub mod startup;
pub mod store;
pub mod telemetry;

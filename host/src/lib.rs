//! Switchyard: a WebAssembly plugin host for contact-centre routing.
//!
//! Gateways post inbound SMS and email; routing applications (WASM components) attached
//! to connectors decide where each message goes; the communication queue sends what
//! leaves. This crate is the server: the HTTP API, the routing pipeline, the queue's
//! processor, the edge to the plugin sandbox, metrics and startup. It stands on three
//! crates, each below the one before: [`store`] (persistence), [`domain`] (types and
//! rules) and [`runtime`] (the plugin sandbox); none of them knows this one.

/// The plugin sandbox, a crate of its own (`host/runtime`) that knows nothing of the
/// server; re-exported so the server, the CLI and the tests name one runtime.
pub use switchyard_runtime as runtime;

/// The domain's types and rules (`host/domain`).
pub use switchyard_domain as domain;

/// Durable storage (`host/store`).
pub use switchyard_store as store;

pub mod agents;
pub mod api;
pub mod bearer;
pub mod cli;
pub mod cometd;
pub mod config;
pub mod connectors;
pub mod metrics;
pub mod queue;
pub mod routing;
pub mod sandbox;
pub mod serve;
pub mod startup;
pub mod telemetry;

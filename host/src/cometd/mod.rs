//! A Bayeux 1.0 (CometD) server at `/cometd` that pushes each agent's interaction
//! notifications to their browser, over long-polling or WebSocket.
//!
//! A client handshakes with the agent's session token (`ext.token`, or
//! `Authorization: Bearer`), subscribes to `/me/interactions` (the only channel there
//! is; it carries the notifications of the token's agent) and connects. Notifications
//! come from a [`Feed`] (`feed.rs`: the contract with the rest of the server), in order,
//! each once: a client starts after what its agent acknowledged, and acknowledges as it
//! receives (with the ack extension, on its next connect). Whoever stores a
//! notification wakes the agent's held connects through the [`Hub`].
//!
//! `protocol.rs` holds the message rules and replies, `outbox.rs` the delivery
//! bookkeeping, `session.rs` one client, `server.rs` the server without its transports,
//! `long_polling.rs` and `websocket.rs` the transports.

pub mod feed;
mod hub;
mod long_polling;
mod outbox;
pub mod protocol;
mod server;
mod session;
#[cfg(test)]
mod tests;
mod websocket;

use axum::Router;
use axum::routing::post;

pub use feed::{Feed, Notification};
pub use hub::Hub;
pub use server::{Cometd, Phase, Settings, Stopper};

/// Where the server answers.
pub const PATH: &str = "/cometd";

/// The routes of `/cometd`: POST for long-polling, GET for the WebSocket upgrade, at
/// `/cometd` and under it (the JavaScript client appends the message type, as in
/// `/cometd/connect`, or just `/` to a request of several types). Outside the API's
/// route table: Bayeux is not a REST resource.
pub fn router<F: Feed>(server: Cometd<F>) -> Router {
    let methods = post(long_polling::post::<F>).get(websocket::upgrade::<F>);
    Router::new()
        .route(PATH, methods.clone())
        .route(&format!("{PATH}/"), methods.clone())
        .route(&format!("{PATH}/{{*message_type}}"), methods)
        .with_state(server)
}

//! A Bayeux 1.0 (CometD) server at `/cometd` that pushes each agent's interaction
//! notifications (seed 003) to their browser. Work in progress: see `feed.rs` for what
//! it needs from the rest of the server.

pub mod feed;

pub use feed::{Feed, Notification};

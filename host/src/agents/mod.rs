//! The agents' side of the server at work: the offering loop that hands waiting
//! interactions to ready agents and takes back offers that ran out, the presence sweep
//! that makes agents without a live CometD connection not ready, the feed that CometD
//! reads notifications from, and waking other nodes' CometD clients on PostgreSQL.

pub mod feed;
pub mod offering;

pub use feed::StoreFeed;
pub use offering::Offering;

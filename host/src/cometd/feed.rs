//! What the CometD server needs from the rest of the server: who a token belongs to,
//! each agent's stored notifications in order, how far the agent has acknowledged them,
//! and a place to say the agent is connected. The Bayeux code knows nothing else; the
//! store-backed implementation (`StoreFeed`) lives with the agents, above this module.

use std::future::Future;

use crate::store::StoreError;

/// One stored notification for one agent: `seq` grows with every notification stored
/// for that agent (gaps allowed), and `data` is the message's `data`: an
/// `InteractionStateMessage` (`messageTypeName`, `id`, `channel`, `state`,
/// `capabilities`, ...), in the shapes of Genesys Web Services' notifications.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub seq: i64,
    pub data: serde_json::Value,
}

/// The agents' side of the CometD server. Cloned into every request.
pub trait Feed: Clone + Send + Sync + 'static {
    /// The agent whose live session has this token, or `None` (unknown or expired).
    fn authenticate(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Option<i64>, StoreError>> + Send;

    /// The agent's notifications with `seq > after`, oldest first, at most `limit`.
    fn read(
        &self,
        agent: i64,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Notification>, StoreError>> + Send;

    /// The highest `seq` the agent has acknowledged (0 if none): where a new client of
    /// the agent starts, so a reconnect or a restart neither loses nor repeats.
    fn acknowledged(&self, agent: i64) -> impl Future<Output = Result<i64, StoreError>> + Send;

    /// Records that the agent has received every notification up to `through`.
    /// Never moves backwards.
    fn acknowledge(
        &self,
        agent: i64,
        through: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Says that the agent has a live CometD connection now; called at least every few
    /// seconds while one lasts. An agent without one for the configured time is made
    /// not ready, so nothing is offered to a closed browser.
    fn seen(&self, agent: i64) -> impl Future<Output = Result<(), StoreError>> + Send;
}

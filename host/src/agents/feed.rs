//! The CometD server's [`Feed`] over the store: sessions by token digest, each agent's
//! stored notifications, their acknowledged position and their presence.

use crate::cometd::{Feed, Notification};
use crate::domain::agents::sessions::digest;
use crate::store::{Store, StoreError, now_ms};

/// Reads and writes what CometD needs in the database, so every node serves every
/// agent and nothing is lost when one restarts.
#[derive(Clone)]
pub struct StoreFeed {
    store: Store,
}

impl StoreFeed {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

impl Feed for StoreFeed {
    async fn authenticate(&self, token: &str) -> Result<Option<i64>, StoreError> {
        self.store
            .session_agent(&digest(token.trim()), now_ms())
            .await
    }

    async fn read(
        &self,
        agent: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Notification>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.store
            .notifications_after(agent, after, limit)
            .await?
            .into_iter()
            .map(|(seq, data)| {
                let data = serde_json::from_str(&data)
                    .map_err(|e| StoreError::Corrupt(format!("agent_notifications {seq}: {e}")))?;
                Ok(Notification { seq, data })
            })
            .collect()
    }

    async fn acknowledged(&self, agent: i64) -> Result<i64, StoreError> {
        self.store.notified_through(agent).await
    }

    async fn acknowledge(&self, agent: i64, through: i64) -> Result<(), StoreError> {
        self.store.acknowledge_notifications(agent, through).await
    }

    async fn seen(&self, agent: i64) -> Result<(), StoreError> {
        self.store.agent_seen(agent, now_ms()).await
    }
}

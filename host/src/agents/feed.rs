//! The CometD server's [`Feed`] over the store: sessions by token digest, each agent's
//! stored notifications, their acknowledged position and their presence. Positions and
//! presence arrive once per client round trip, hundreds a second with a thousand agents
//! connected: they are written in batches so they do not each take a turn at the
//! database's writer ahead of the offers the agents are waiting for.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::cometd::{Feed, Notification};
use crate::domain::agents::sessions::digest;
use crate::store::{Store, StoreError, now_ms};

/// How often the agents seen since the last write are written: well inside the
/// presence timeout (a minute by default), which is all presence is read against.
const PRESENCE_FLUSH: Duration = Duration::from_secs(1);

/// One acknowledgement waiting for its batch: `done` hears whether the batch was
/// written.
struct Ack {
    agent: i64,
    through: i64,
    done: oneshot::Sender<bool>,
}

/// Reads and writes what CometD needs in the database, so every node serves every
/// agent and nothing is lost when one restarts.
#[derive(Clone)]
pub struct StoreFeed {
    store: Store,
    acks: mpsc::UnboundedSender<Ack>,
    /// Agents with a live connection since the last presence write.
    seen: Arc<Mutex<HashSet<i64>>>,
}

impl StoreFeed {
    /// A feed over `store`, with the tasks that write acknowledgements and presence in
    /// batches; they end when the last clone of the feed is dropped.
    pub fn start(store: Store) -> Self {
        let (acks, queue) = mpsc::unbounded_channel();
        let seen = Arc::new(Mutex::new(HashSet::new()));
        tokio::spawn(write_acknowledgements(store.clone(), queue));
        tokio::spawn(write_presence(store.clone(), Arc::downgrade(&seen)));
        Self { store, acks, seen }
    }
}

/// Writes acknowledgements as they come, each batch being everything that queued up
/// while the previous one was written (group commit): a client's acknowledgement is
/// stored before its call returns, in one transaction with the others.
async fn write_acknowledgements(store: Store, mut queue: mpsc::UnboundedReceiver<Ack>) {
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, 1_000).await > 0 {
        let positions: Vec<(i64, i64)> = batch.iter().map(|a| (a.agent, a.through)).collect();
        let written = match store.acknowledge_many(&positions).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(error = %e, count = batch.len(), "cannot write a batch of acknowledgements; each is written alone");
                false
            }
        };
        for ack in batch.drain(..) {
            let _ = ack.done.send(written);
        }
    }
}

/// Writes the agents seen every [`PRESENCE_FLUSH`], until the feed is gone. A crash
/// loses at most that much presence, which the next connect restores.
async fn write_presence(store: Store, seen: Weak<Mutex<HashSet<i64>>>) {
    let mut tick = tokio::time::interval(PRESENCE_FLUSH);
    loop {
        tick.tick().await;
        let Some(seen) = seen.upgrade() else { return };
        let agents: Vec<i64> = std::mem::take(&mut *seen.lock().expect("not poisoned"))
            .into_iter()
            .collect();
        drop(seen);
        if agents.is_empty() {
            continue;
        }
        if let Err(e) = store.agents_seen(&agents, now_ms()).await {
            tracing::warn!(error = %e, count = agents.len(), "cannot record the agents' presence");
        }
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
        let (done, written) = oneshot::channel();
        let batched = self
            .acks
            .send(Ack {
                agent,
                through,
                done,
            })
            .is_ok();
        if batched && written.await == Ok(true) {
            return Ok(());
        }
        // The batch failed (or its writer is gone): this one alone, with its own error.
        self.store.acknowledge_notifications(agent, through).await
    }

    async fn seen(&self, agent: i64) -> Result<(), StoreError> {
        self.seen.lock().expect("not poisoned").insert(agent);
        Ok(())
    }
}

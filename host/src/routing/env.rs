//! The host environment routing applications see on the server: kv data and ACD
//! staffing backed by the database.
//!
//! Both are async host calls: a plugin waiting on the database is suspended, not
//! holding a thread. Both are made per routing batch: kv writes of one message are
//! visible to the next message of the batch before the batch's transaction stores
//! them all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use crate::domain::channel::Channel;
use crate::runtime::host::{GroupStaffing, KvChanges, KvStore, Staffing};
use crate::store::Store;

/// Kv data in the `plugin_kv` table, overlaid with the writes committed during the
/// current batch.
pub struct BatchKv {
    store: Store,
    overlay: Mutex<HashMap<(String, String), Option<String>>>,
}

impl BatchKv {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            overlay: Mutex::default(),
        }
    }
}

impl KvStore for BatchKv {
    fn get<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        let pending = self
            .overlay
            .lock()
            .expect("kv overlay")
            .get(&(scope.to_owned(), key.to_owned()))
            .cloned();
        Box::pin(async move {
            match pending {
                Some(value) => Ok(value),
                None => Ok(self.store.kv_get(scope, key).await?),
            }
        })
    }

    /// Only into the overlay: the batch's transaction makes it durable, together with
    /// the routing outcome that produced it.
    fn commit(&self, scope: &str, changes: &KvChanges) -> anyhow::Result<()> {
        let mut overlay = self.overlay.lock().expect("kv overlay");
        for (key, value) in &changes.0 {
            overlay.insert((scope.to_owned(), key.clone()), value.clone());
        }
        Ok(())
    }
}

/// Staffing from the database, looked up once per group and channel per batch: a
/// batch is a few milliseconds, and a router that asks for every message would
/// otherwise query for each. Plugins see it through [`ChannelStaffing`], which names
/// the channel of the message being routed.
pub struct DbStaffing {
    store: Store,
    seen: Mutex<HashMap<(String, Channel), Option<GroupStaffing>>>,
}

impl DbStaffing {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            seen: Mutex::default(),
        }
    }

    /// Ready agents are the group's members ready on `channel` with a live session;
    /// queue depth is the interactions waiting in the group.
    async fn lookup(&self, group: &str, channel: Channel) -> Option<GroupStaffing> {
        let key = (group.to_owned(), channel);
        if let Some(known) = self.seen.lock().expect("staffing memo").get(&key) {
            return *known;
        }
        let found = match self
            .store
            .group_staffing(group, channel, crate::store::now_ms())
            .await
        {
            Ok(staffing) => staffing.map(|(ready_agents, queue_depth)| GroupStaffing {
                ready_agents,
                queue_depth,
            }),
            Err(e) => {
                tracing::warn!(error = %e, group, "cannot read ACD staffing for a plugin");
                None
            }
        };
        self.seen.lock().expect("staffing memo").insert(key, found);
        found
    }
}

/// The batch's staffing as one message sees it: `acd.availability` counts the agents
/// ready on that message's channel.
pub struct ChannelStaffing {
    pub staffing: Arc<DbStaffing>,
    pub channel: Channel,
}

impl Staffing for ChannelStaffing {
    fn staffing<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Option<GroupStaffing>> {
        Box::pin(self.staffing.lookup(group, self.channel))
    }
}

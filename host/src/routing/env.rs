//! The host environment routing applications see on the server: kv data and ACD
//! staffing backed by the database.
//!
//! Both are async host calls: a plugin waiting on the database is suspended, not
//! holding a thread. Both are made per routing batch: kv writes of one message are
//! visible to the next message of the batch before the batch's transaction stores
//! them all.

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::BoxFuture;

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

/// Staffing from the database: queue depth is the number of interactions waiting in
/// the group. Ready agents are reported as 0 until the host has agents.
pub struct DbStaffing {
    store: Store,
    /// Looked up once per group per batch: a batch is a few milliseconds, and a
    /// router that asks for every message would otherwise query for each.
    seen: Mutex<HashMap<String, Option<GroupStaffing>>>,
}

impl DbStaffing {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            seen: Mutex::default(),
        }
    }
}

impl Staffing for DbStaffing {
    fn staffing<'a>(&'a self, group: &'a str) -> BoxFuture<'a, Option<GroupStaffing>> {
        Box::pin(self.lookup(group))
    }
}

impl DbStaffing {
    async fn lookup(&self, group: &str) -> Option<GroupStaffing> {
        if let Some(known) = self.seen.lock().expect("staffing memo").get(group) {
            return *known;
        }
        let found = match self.store.queue_depth(group).await {
            Ok(depth) => depth.map(|queue_depth| GroupStaffing {
                ready_agents: 0,
                queue_depth,
            }),
            Err(e) => {
                tracing::warn!(error = %e, group, "cannot read ACD staffing for a plugin");
                None
            }
        };
        self.seen
            .lock()
            .expect("staffing memo")
            .insert(group.to_owned(), found);
        found
    }
}

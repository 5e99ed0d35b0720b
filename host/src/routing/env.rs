//! The host environment routing applications see on the server: kv data and ACD
//! staffing backed by the database.
//!
//! Plugins call these imports synchronously from inside wasm, on a blocking thread;
//! the lookups reach the async store through the runtime handle. Both are made per
//! routing batch: kv writes of one message are visible to the next message of the
//! batch before the batch's transaction stores them all.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::runtime::Handle;

use crate::runtime::host::{GroupStaffing, KvChanges, KvStore, Staffing};
use crate::store::Store;

/// Kv data in the `plugin_kv` table, overlaid with the writes committed during the
/// current batch.
pub struct BatchKv {
    store: Store,
    handle: Handle,
    overlay: Mutex<HashMap<(String, String), Option<String>>>,
}

impl BatchKv {
    pub fn new(store: Store, handle: Handle) -> Self {
        Self {
            store,
            handle,
            overlay: Mutex::default(),
        }
    }
}

impl KvStore for BatchKv {
    fn get(&self, scope: &str, key: &str) -> anyhow::Result<Option<String>> {
        let pending = self
            .overlay
            .lock()
            .expect("kv overlay")
            .get(&(scope.to_owned(), key.to_owned()))
            .cloned();
        if let Some(value) = pending {
            return Ok(value);
        }
        Ok(self.handle.block_on(self.store.kv_get(scope, key))?)
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
    handle: Handle,
    /// Looked up once per group per batch: a batch is a few milliseconds, and a
    /// router that asks for every message would otherwise query for each.
    seen: Mutex<HashMap<String, Option<GroupStaffing>>>,
}

impl DbStaffing {
    pub fn new(store: Store, handle: Handle) -> Self {
        Self {
            store,
            handle,
            seen: Mutex::default(),
        }
    }
}

impl Staffing for DbStaffing {
    fn staffing(&self, group: &str) -> Option<GroupStaffing> {
        if let Some(known) = self.seen.lock().expect("staffing memo").get(group) {
            return *known;
        }
        let found = match self.handle.block_on(self.store.queue_depth(group)) {
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

//! The host environment routing applications see on the server: kv data and ACD
//! staffing backed by the database, and each application's log quota on this node.
//!
//! Both are async host calls: a plugin waiting on the database is suspended, not
//! holding a thread. Both are made per routing batch: kv writes of one message are
//! visible to the next message of the batch before the batch's transaction stores
//! them all.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use crate::domain::channel::Channel;
use crate::runtime::host::{GroupStaffing, KvChanges, KvStore, KvUsage, LogQuota, Staffing};
use crate::store::Store;

/// Kv data in the `plugin_kv` table, overlaid with the writes committed during the
/// current batch; and each scope's usage, read once per batch and moved by them.
pub struct BatchKv {
    store: Store,
    overlay: Mutex<HashMap<(String, String), Option<String>>>,
    /// Per scope: its stored usage (read at most once per batch) and the change of the
    /// writes committed into the overlay since the batch began.
    usage: Mutex<HashMap<String, (Option<KvUsage>, KvUsage)>>,
}

impl BatchKv {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            overlay: Mutex::default(),
            usage: Mutex::default(),
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

    fn usage<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, anyhow::Result<KvUsage>> {
        Box::pin(async move {
            if let Some((Some(stored), moved)) = self.usage.lock().expect("kv usage").get(scope) {
                return Ok(*stored + *moved);
            }
            let read = self.store.kv_usage(scope).await?;
            let mut usage = self.usage.lock().expect("kv usage");
            let (stored, moved) = usage.entry(scope.to_owned()).or_default();
            Ok(*stored.get_or_insert(read) + *moved)
        })
    }

    /// Only into the overlay: the batch's transaction makes it durable, together with
    /// the routing outcome that produced it. The scope's usage moves with it.
    fn commit(&self, scope: &str, changes: &KvChanges) -> anyhow::Result<()> {
        let mut overlay = self.overlay.lock().expect("kv overlay");
        for (key, value) in &changes.0 {
            overlay.insert((scope.to_owned(), key.clone()), value.clone());
        }
        let mut usage = self.usage.lock().expect("kv usage");
        let (_, moved) = usage.entry(scope.to_owned()).or_default();
        *moved = *moved + changes.usage();
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

/// Each routing application's log quota on this node, per connector and version: what
/// one plugin logs, however many messages it routes, is bounded per minute, and one
/// plugin using up its quota leaves every other's alone. Counted in memory: a node
/// restarting starts a fresh minute.
#[derive(Clone, Default)]
pub struct LogQuotas(Arc<Mutex<HashMap<PluginVersion, Arc<LogQuota>>>>);

/// A connector's id and a version of its routing application.
type PluginVersion = (i64, i64);

impl LogQuotas {
    /// The quota of version `version` on connector `connector`.
    pub fn of(&self, connector: i64, version: i64) -> Arc<LogQuota> {
        self.0
            .lock()
            .expect("log quotas")
            .entry((connector, version))
            .or_default()
            .clone()
    }
}

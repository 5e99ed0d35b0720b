//! `switchyard:routing/kv`: a plugin's private key-value store, transactional per call.
//!
//! Reads go to the backing [`KvStore`] (through the invocation's own pending writes);
//! writes are buffered in [`KvChanges`] and committed by the caller only when the
//! invocation produced a valid result.
//!
//! Each scope (a connector's plugin) holds at most [`KV_QUOTA`]: `set` answers
//! `quota-exceeded` for the write that would take the scope past it, counting what is
//! stored plus this invocation's own changes. The store checks the quota again when it
//! commits, for invocations that ran side by side.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use futures_util::future::BoxFuture;

use super::HostContext;
use crate::bindings::kv;

/// Keys name things like `last-group:+4915112345678`; 256 bytes covers any such key.
pub const MAX_KEY_LEN: usize = 256;
/// Values are small state (a group name, a JSON blob of entitlements), not documents.
pub const MAX_VALUE_LEN: usize = 64 * 1024;
/// Writes per invocation. A router touches a key or two; this bounds what a buggy loop
/// can pile up in host memory before the call ends.
pub const MAX_WRITES: usize = 100;

/// What one scope may hold at most, across invocations: keys, and bytes of keys plus
/// values (UTF-8). 10,000 keys is a contact centre's worth of per-contact state; 16 MiB
/// keeps one connector's data a small share of the database (a full scope of maximal
/// values would be 640 MiB without the byte bound).
pub const KV_QUOTA: KvUsage = KvUsage {
    keys: 10_000,
    bytes: 16 << 20,
};

/// How much a scope holds (or, for [`KvChanges::usage`], by how much changes move it).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct KvUsage {
    pub keys: i64,
    pub bytes: i64,
}

impl std::ops::Add for KvUsage {
    type Output = Self;
    fn add(self, other: Self) -> Self {
        Self {
            keys: self.keys + other.keys,
            bytes: self.bytes + other.bytes,
        }
    }
}

impl KvUsage {
    /// What one stored entry counts: one key, and the bytes of its key and value.
    pub fn entry(key: &str, value: &str) -> Self {
        Self {
            keys: 1,
            bytes: (key.len() + value.len()) as i64,
        }
    }

    /// Whether going from `self` to `after` breaks `quota`: it does when `after` is over
    /// a bound and grew on that bound. Changes that only shrink a scope already over
    /// (after the quota was lowered) are always allowed.
    pub fn breaks(self, after: Self, quota: Self) -> bool {
        (after.keys > quota.keys && after.keys > self.keys)
            || (after.bytes > quota.bytes && after.bytes > self.bytes)
    }
}

/// Where kv data lives between invocations, namespaced by scope.
pub trait KvStore: Send + Sync {
    /// The stored value. Asynchronous: on the server this waits on the database, and a
    /// plugin waiting on it is suspended rather than holding a thread.
    fn get<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>>;
    /// What `scope` holds now: its keys and their bytes, as [`KV_QUOTA`] counts them.
    fn usage<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, anyhow::Result<KvUsage>>;
    /// Applies all of `changes` atomically.
    fn commit(&self, scope: &str, changes: &KvChanges) -> anyhow::Result<()>;
}

/// Pending writes of one invocation: `Some` sets a value, `None` deletes the key. The
/// second field is by how much they change the scope's usage (what the invocation saw
/// stored before each key), so a batch can account for them before they are stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct KvChanges(
    pub BTreeMap<String, Option<String>>,
    #[serde(skip)] pub KvUsage,
);

impl KvChanges {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// By how much these changes move the scope's usage.
    pub fn usage(&self) -> KvUsage {
        self.1
    }
}

/// An in-process store, for the CLI and tests.
#[derive(Debug, Default)]
pub struct MemoryKv {
    data: Mutex<HashMap<String, BTreeMap<String, String>>>,
}

impl MemoryKv {
    /// A store holding `entries` in `scope`.
    pub fn with_entries(scope: &str, entries: BTreeMap<String, String>) -> Self {
        let store = Self::default();
        store
            .data
            .lock()
            .expect("kv lock")
            .insert(scope.to_owned(), entries);
        store
    }

    /// Everything stored in `scope`.
    pub fn entries(&self, scope: &str) -> BTreeMap<String, String> {
        self.data
            .lock()
            .expect("kv lock")
            .get(scope)
            .cloned()
            .unwrap_or_default()
    }
}

impl KvStore for MemoryKv {
    fn get<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>> {
        let data = self.data.lock().expect("kv lock");
        let value = data.get(scope).and_then(|s| s.get(key)).cloned();
        Box::pin(async move { Ok(value) })
    }

    fn usage<'a>(&'a self, scope: &'a str) -> BoxFuture<'a, anyhow::Result<KvUsage>> {
        let data = self.data.lock().expect("kv lock");
        let usage = data.get(scope).map_or_else(KvUsage::default, |entries| {
            entries
                .iter()
                .fold(KvUsage::default(), |sum, (k, v)| sum + KvUsage::entry(k, v))
        });
        Box::pin(async move { Ok(usage) })
    }

    fn commit(&self, scope: &str, changes: &KvChanges) -> anyhow::Result<()> {
        let mut data = self.data.lock().expect("kv lock");
        let entries = data.entry(scope.to_owned()).or_default();
        for (key, value) in &changes.0 {
            match value {
                Some(value) => entries.insert(key.clone(), value.clone()),
                None => entries.remove(key),
            };
        }
        Ok(())
    }
}

/// Whether `key` can name a stored value: what `set` accepts.
fn valid_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= MAX_KEY_LEN && !key.contains('\0')
}

impl HostContext {
    /// What `key` counted in the scope before this invocation changed anything: read
    /// from the backend once, then remembered (a `get` remembers it too).
    async fn stored_size(&mut self, key: &str) -> wasmtime::Result<KvUsage> {
        if let Some(size) = self.kv_seen.get(key) {
            return Ok(*size);
        }
        let value = self.backend_get(key).await?;
        Ok(self.remember(key, value.as_deref()))
    }

    fn remember(&mut self, key: &str, value: Option<&str>) -> KvUsage {
        let size = value.map_or_else(KvUsage::default, |v| KvUsage::entry(key, v));
        self.kv_seen.insert(key.to_owned(), size);
        size
    }

    async fn backend_get(&self, key: &str) -> wasmtime::Result<Option<String>> {
        // A failing backend is the host's problem, not the plugin's: trap so the
        // message falls back instead of being routed on a wrong "not found".
        self.env
            .kv
            .get(&self.env.kv_scope, key)
            .await
            .map_err(|e| wasmtime::format_err!("kv store unavailable: {e:#}"))
    }

    /// Buffers a change of `key` unless the invocation already changed as many keys as
    /// it may, or the change would take the scope past [`KV_QUOTA`]; changing a key
    /// again does not count twice.
    async fn change(
        &mut self,
        key: String,
        value: Option<String>,
    ) -> wasmtime::Result<Result<(), kv::KvError>> {
        if !self.kv_writes.0.contains_key(&key) && self.kv_writes.0.len() >= MAX_WRITES {
            return Ok(Err(kv::KvError::QuotaExceeded));
        }
        let stored = self.stored_size(&key).await?;
        let pending = match self.kv_writes.0.get(&key) {
            Some(pending) => pending
                .as_deref()
                .map_or_else(KvUsage::default, |v| KvUsage::entry(&key, v)),
            None => stored,
        };
        let new = value
            .as_deref()
            .map_or_else(KvUsage::default, |v| KvUsage::entry(&key, v));
        let delta = KvUsage {
            keys: new.keys - pending.keys,
            bytes: new.bytes - pending.bytes,
        };
        if delta.keys > 0 || delta.bytes > 0 {
            let base =
                match self.kv_usage {
                    Some(usage) => usage,
                    None => {
                        let usage =
                            self.env.kv.usage(&self.env.kv_scope).await.map_err(|e| {
                                wasmtime::format_err!("kv store unavailable: {e:#}")
                            })?;
                        *self.kv_usage.insert(usage)
                    }
                };
            let before = base + self.kv_writes.1;
            if before.breaks(before + delta, KV_QUOTA) {
                return Ok(Err(kv::KvError::QuotaExceeded));
            }
        }
        self.kv_writes.1 = self.kv_writes.1 + delta;
        self.kv_writes.0.insert(key, value);
        Ok(Ok(()))
    }
}

impl kv::Host for HostContext {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        // A key `set` refuses cannot have been stored: answer without asking the
        // backend, so every backend answers the same (PostgreSQL refuses NUL in text).
        // The 0.1 `get` has no error to report it with; `none` is the true answer.
        if !valid_key(&key) {
            self.invalid_kv_keys += 1;
            return Ok(None);
        }
        if let Some(pending) = self.kv_writes.0.get(&key) {
            return Ok(pending.clone());
        }
        let value = self.backend_get(&key).await?;
        self.remember(&key, value.as_deref());
        Ok(value)
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), kv::KvError>> {
        if !valid_key(&key) {
            self.invalid_kv_keys += 1;
            return Ok(Err(kv::KvError::InvalidKey));
        }
        // No databases the host runs on store NUL in text, and the 0.1 contract has no
        // error for it: the call fails, and the message falls back with this reason.
        if value.contains('\0') {
            return Err(wasmtime::format_err!(
                "kv value for `{key}` contains a NUL character"
            ));
        }
        if value.len() > MAX_VALUE_LEN {
            return Ok(Err(kv::KvError::ValueTooLarge));
        }
        self.change(key, Some(value)).await
    }

    /// The 0.1.0 removal, which cannot report a failure: a refused one is dropped, as
    /// its documentation says. [`Self::remove`] reports it.
    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        if valid_key(&key) {
            let _ = self.change(key, None).await?;
        } else {
            self.invalid_kv_keys += 1;
        }
        Ok(())
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<Result<(), kv::KvError>> {
        if !valid_key(&key) {
            self.invalid_kv_keys += 1;
            return Ok(Err(kv::KvError::InvalidKey));
        }
        self.change(key, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::{KV_QUOTA, KvUsage};

    #[test]
    fn the_quota_refuses_growth_past_a_bound_but_never_shrinking() {
        let at = |keys, bytes| KvUsage { keys, bytes };
        let full = at(KV_QUOTA.keys, 100);
        assert!(full.breaks(at(KV_QUOTA.keys + 1, 120), KV_QUOTA));
        assert!(
            !full.breaks(at(KV_QUOTA.keys, 120), KV_QUOTA),
            "a replaced value"
        );
        let over = at(KV_QUOTA.keys + 5, KV_QUOTA.bytes + 9);
        assert!(!over.breaks(at(KV_QUOTA.keys + 4, KV_QUOTA.bytes), KV_QUOTA));
        assert!(at(0, KV_QUOTA.bytes).breaks(at(1, KV_QUOTA.bytes + 1), KV_QUOTA));
    }
}

//! `switchyard:routing/kv`: a plugin's private key-value store, transactional per call.
//!
//! Reads go to the backing [`KvStore`] (through the invocation's own pending writes);
//! writes are buffered in [`KvChanges`] and committed by the caller only when the
//! invocation produced a valid result.

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

/// Where kv data lives between invocations, namespaced by scope.
pub trait KvStore: Send + Sync {
    /// The stored value. Asynchronous: on the server this waits on the database, and a
    /// plugin waiting on it is suspended rather than holding a thread.
    fn get<'a>(
        &'a self,
        scope: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, anyhow::Result<Option<String>>>;
    /// Applies all of `changes` atomically.
    fn commit(&self, scope: &str, changes: &KvChanges) -> anyhow::Result<()>;
}

/// Pending writes of one invocation: `Some` sets a value, `None` deletes the key.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct KvChanges(pub BTreeMap<String, Option<String>>);

impl KvChanges {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
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
    /// Buffers a change of `key` unless the invocation already changed as many keys as
    /// it may; changing a key again does not count twice.
    fn change(&mut self, key: String, value: Option<String>) -> Result<(), kv::KvError> {
        if !self.kv_writes.0.contains_key(&key) && self.kv_writes.0.len() >= MAX_WRITES {
            return Err(kv::KvError::QuotaExceeded);
        }
        self.kv_writes.0.insert(key, value);
        Ok(())
    }
}

impl kv::Host for HostContext {
    async fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        if let Some(pending) = self.kv_writes.0.get(&key) {
            return Ok(pending.clone());
        }
        // A key `set` refuses cannot have been stored: answer without asking the
        // backend, so every backend answers the same (PostgreSQL refuses NUL in text).
        if !valid_key(&key) {
            return Ok(None);
        }
        // A failing backend is the host's problem, not the plugin's: trap so the
        // message falls back instead of being routed on a wrong "not found".
        self.env
            .kv
            .get(&self.env.kv_scope, &key)
            .await
            .map_err(|e| wasmtime::format_err!("kv store unavailable: {e:#}"))
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
    ) -> wasmtime::Result<Result<(), kv::KvError>> {
        if !valid_key(&key) {
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
        Ok(self.change(key, Some(value)))
    }

    /// The 0.1.0 removal, which cannot report a failure: a refused one is dropped, as
    /// its documentation says. [`Self::remove`] reports it.
    async fn delete(&mut self, key: String) -> wasmtime::Result<()> {
        if valid_key(&key) {
            let _ = self.change(key, None);
        }
        Ok(())
    }

    async fn remove(&mut self, key: String) -> wasmtime::Result<Result<(), kv::KvError>> {
        if !valid_key(&key) {
            return Ok(Err(kv::KvError::InvalidKey));
        }
        Ok(self.change(key, None))
    }
}

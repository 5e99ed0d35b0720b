//! Compiled components on disk, by content hash, and the bounded in-memory cache of
//! loaded plugins.
//!
//! Compiling an interpreted-language component takes seconds and hundreds of MiB;
//! loading a precompiled one takes a millisecond or two. So every distinct component is
//! compiled once per machine: the artifact is written to the cache directory under its
//! SHA-256, and wasmtime refuses artifacts from another version or configuration, in
//! which case we simply compile again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::{LoadError, budget};

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSource {
    Compiled,
    Disk,
}

/// The SHA-256 of a component's bytes, in hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Compiled artifacts on disk. In memory, components live only inside loaded plugins
/// ([`LoadedPlugins`]), so a component that failed its world check is not kept.
pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    /// Turns to compile ([`budget::COMPILE_CONCURRENCY`]); reading an artifact from
    /// disk needs none.
    gate: budget::Gate,
}

pub(crate) struct Compiled {
    pub component: Component,
    pub source: CacheSource,
    /// Time to compile or deserialize.
    pub load_time: Duration,
}

impl Compiled {
    /// What the component costs in memory: its compiled code and data image.
    pub(crate) fn weight(&self) -> usize {
        let range = self.component.image_range();
        (range.end as usize).saturating_sub(range.start as usize)
    }
}

impl CompileCache {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            gate: budget::Gate::new(budget::COMPILE_CONCURRENCY),
        }
    }

    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        hash: &str,
        bytes: &[u8],
    ) -> Result<Compiled, LoadError> {
        let started = Instant::now();
        let path = self.dir.as_ref().map(|d| {
            d.join(engine_fingerprint(engine))
                .join(format!("{hash}.cwasm"))
        });
        let mut source = CacheSource::Compiled;
        let component = match path.as_deref().and_then(|p| load_artifact(engine, p)) {
            Some(component) => {
                source = CacheSource::Disk;
                component
            }
            None => self.compile(engine, bytes, path)?,
        };
        Ok(Compiled {
            component,
            source,
            load_time: started.elapsed(),
        })
    }
}

impl CompileCache {
    /// Compiles `bytes` in its turn and within [`budget::COMPILE_BUDGET`], and keeps
    /// the artifact at `path`.
    fn compile(
        &self,
        engine: &Engine,
        bytes: &[u8],
        path: Option<PathBuf>,
    ) -> Result<Component, LoadError> {
        let permit = self
            .gate
            .acquire(budget::COMPILE_WAIT)
            .ok_or(LoadError::CompilerBusy {
                waited: budget::COMPILE_WAIT,
            })?;
        let size = bytes.len();
        let (engine, bytes) = (engine.clone(), bytes.to_vec());
        let started = Instant::now();
        let compiled = budget::within_budget(permit, budget::COMPILE_BUDGET, move || {
            let component =
                Component::new(&engine, &bytes).map_err(|e| LoadError::Compile(format!("{e}")))?;
            if let Some(path) = &path {
                store_artifact(&component, path);
            }
            Ok(component)
        });
        tracing::info!(
            size,
            elapsed_ms = started.elapsed().as_millis() as u64,
            finished = compiled.is_some(),
            "compiled a component"
        );
        compiled.unwrap_or(Err(LoadError::CompileTimeout {
            budget: budget::COMPILE_BUDGET,
        }))
    }
}

/// Names the engine's compilation settings, so engines configured differently (the
/// server without fuel metering, `plugin run` with it) sharing one cache directory
/// keep their artifacts apart instead of throwing away each other's.
fn engine_fingerprint(engine: &Engine) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("engine-{:016x}", hasher.finish())
}

fn load_artifact(engine: &Engine, path: &Path) -> Option<Component> {
    // Read into memory rather than `deserialize_file`, which maps the file: a mapped
    // file truncated by someone else while in use brings the process down with SIGBUS.
    let bytes = std::fs::read(path).ok()?;
    // SAFETY: the cache directory is the host's own; only `store_artifact` writes
    // into it, from components this engine compiled. wasmtime still checks that the
    // artifact was made by the same version and configuration and refuses it if not.
    match unsafe { Component::deserialize(engine, &bytes) } {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %path.display(), "ignoring stale compiled component: {e}");
            None
        }
    }
}

/// Writes atomically (temporary file, then rename) so a concurrent reader or a crash
/// never sees half an artifact. A failure only costs a recompilation later.
fn store_artifact(component: &Component, path: &Path) {
    let result = (|| -> anyhow::Result<()> {
        let bytes = component.serialize().map_err(|e| anyhow::anyhow!("{e}"))?;
        let dir = path.parent().expect("artifact path has a parent");
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(
            ".{}.{}.tmp",
            path.file_name().unwrap_or_default().to_string_lossy(),
            std::process::id()
        ));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    })();
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), "cannot cache the compiled component: {e:#}");
    }
}

/// Loaded plugins by content hash, least recently used first out once their compiled
/// code passes a byte budget. A connector's plugin is used for every message, so it
/// stays; versions nobody routes with any more are dropped and reloaded (from the
/// disk cache, when there is one) if they are ever activated again.
pub(crate) struct LoadedPlugins<P> {
    budget: usize,
    state: Mutex<Lru<P>>,
}

struct Lru<P> {
    /// Hash -> (plugin, its weight in bytes, last use).
    entries: HashMap<String, (Arc<P>, usize, u64)>,
    bytes: usize,
    clock: u64,
}

impl<P> LoadedPlugins<P> {
    pub(crate) fn new(budget: usize) -> Self {
        Self {
            budget,
            state: Mutex::new(Lru {
                entries: HashMap::new(),
                bytes: 0,
                clock: 0,
            }),
        }
    }

    pub(crate) fn get(&self, hash: &str) -> Option<Arc<P>> {
        let mut state = self.state.lock().expect("plugin cache");
        state.clock += 1;
        let now = state.clock;
        let (plugin, _, used) = state.entries.get_mut(hash)?;
        *used = now;
        Some(plugin.clone())
    }

    /// Keeps `plugin`, then drops the least recently used others until the cache fits
    /// its budget. The newest plugin always stays, even alone over the budget: it is
    /// about to be used.
    pub(crate) fn insert(&self, hash: String, plugin: Arc<P>, weight: usize) {
        let mut state = self.state.lock().expect("plugin cache");
        state.clock += 1;
        let now = state.clock;
        if let Some((_, old, _)) = state.entries.insert(hash.clone(), (plugin, weight, now)) {
            state.bytes -= old;
        }
        state.bytes += weight;
        while state.bytes > self.budget && state.entries.len() > 1 {
            let oldest = state
                .entries
                .iter()
                .filter(|(key, _)| **key != hash)
                .min_by_key(|(_, (_, _, used))| *used)
                .map(|(key, _)| key.clone())
                .expect("more than one entry");
            let (_, weight, _) = state.entries.remove(&oldest).expect("present");
            state.bytes -= weight;
            tracing::debug!(plugin = %oldest, weight, "dropped a loaded plugin from the cache");
        }
    }

    /// Plugins held and the bytes of compiled code they weigh.
    pub(crate) fn usage(&self) -> (usize, usize) {
        let state = self.state.lock().expect("plugin cache");
        (state.entries.len(), state.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_plugins_leave_once_over_budget() {
        let cache = LoadedPlugins::new(100);
        cache.insert("a".into(), Arc::new('a'), 40);
        cache.insert("b".into(), Arc::new('b'), 40);
        assert!(cache.get("a").is_some()); // b is now the least recently used
        cache.insert("c".into(), Arc::new('c'), 40);
        assert!(cache.get("b").is_none());
        assert!(cache.get("a").is_some() && cache.get("c").is_some());
        assert_eq!(cache.usage(), (2, 80));
    }

    #[test]
    fn a_plugin_over_the_whole_budget_is_still_kept_alone() {
        let cache = LoadedPlugins::new(100);
        cache.insert("a".into(), Arc::new('a'), 40);
        cache.insert("big".into(), Arc::new('b'), 300);
        assert_eq!(cache.usage(), (1, 300));
        assert!(cache.get("big").is_some());
    }

    #[test]
    fn reinserting_a_plugin_does_not_count_it_twice() {
        let cache = LoadedPlugins::new(100);
        cache.insert("a".into(), Arc::new('a'), 40);
        cache.insert("a".into(), Arc::new('a'), 40);
        assert_eq!(cache.usage(), (1, 40));
    }
}

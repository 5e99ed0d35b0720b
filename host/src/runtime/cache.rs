//! Compiled components, cached by content hash in memory and on disk.
//!
//! Compiling an interpreted-language component takes seconds and hundreds of MiB;
//! loading a precompiled one takes a millisecond or two. So every distinct component is
//! compiled once per machine: the artifact is written to the cache directory under its
//! SHA-256, and wasmtime refuses artifacts from another version or configuration, in
//! which case we simply compile again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

use super::LoadError;

/// Where a compiled component came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSource {
    Compiled,
    Disk,
    Memory,
}

/// The SHA-256 of a component's bytes, in hex.
pub fn content_hash(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub(crate) struct CompileCache {
    dir: Option<PathBuf>,
    memory: Mutex<HashMap<String, Component>>,
}

pub(crate) struct Compiled {
    pub component: Component,
    pub source: CacheSource,
    /// Time to compile or deserialize.
    pub load_time: Duration,
}

impl CompileCache {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            memory: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn get_or_compile(
        &self,
        engine: &Engine,
        hash: &str,
        bytes: &[u8],
    ) -> Result<Compiled, LoadError> {
        let started = Instant::now();
        if let Some(component) = self.memory.lock().expect("cache lock").get(hash) {
            return Ok(Compiled {
                component: component.clone(),
                source: CacheSource::Memory,
                load_time: started.elapsed(),
            });
        }
        let path = self.dir.as_ref().map(|d| d.join(format!("{hash}.cwasm")));
        let mut source = CacheSource::Compiled;
        let component = match path.as_deref().and_then(|p| load_artifact(engine, p)) {
            Some(component) => {
                source = CacheSource::Disk;
                component
            }
            None => {
                let component = Component::new(engine, bytes)
                    .map_err(|e| LoadError::Compile(format!("{e}")))?;
                if let Some(path) = &path {
                    store_artifact(&component, path);
                }
                component
            }
        };
        self.memory
            .lock()
            .expect("cache lock")
            .insert(hash.to_owned(), component.clone());
        Ok(Compiled {
            component,
            source,
            load_time: started.elapsed(),
        })
    }
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

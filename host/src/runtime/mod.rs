//! The plugin runtime: loads WASM components, checks them against their world, and runs
//! each invocation in a fresh, limited sandbox.
//!
//! A [`Runtime`] owns the engine, the linker with the host's imports, and the compile
//! cache. [`Runtime::load`] turns component bytes into a [`Plugin`]: compiled once,
//! checked, pre-instantiated, and cached by content hash. Each call on a plugin gets a
//! new store with fuel, an epoch deadline and a memory limiter; whatever the guest
//! does, the caller gets a value or an [`InvokeError`] and the runtime stays usable.

mod bindings;
mod cache;
mod convert;
mod engine;
mod error;
pub mod host;
mod limits;
mod plugin;
mod world;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use wasmtime::Engine;
use wasmtime::component::Linker;

pub use cache::{CacheSource, content_hash};
pub use engine::{EPOCH_TICK, EngineConfig};
pub use error::{InvokeError, LoadError};
pub use host::{HostEnv, Settings};
pub use limits::Limits;
pub use plugin::{Invocation, Plugin, PluginInfo};
pub use world::{PROVIDED_INTERFACES, Shape, World};

/// Components larger than this are refused before compiling: the interpreted-language
/// routers are under 20 MB, and compiling is the most memory-hungry step.
pub const MAX_COMPONENT_SIZE: usize = 64 << 20;

/// Settings of a runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeConfig {
    pub engine: EngineConfig,
    /// Where compiled components are kept between runs; None keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<plugin::Store>,
    cache: cache::CompileCache,
    plugins: Mutex<HashMap<String, Arc<Plugin>>>,
    config: RuntimeConfig,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let engine = engine::build(&config.engine)?;
        let mut linker = Linker::new(&engine);
        bindings::add_to_linker(&mut linker, |store: &mut plugin::Store| &mut store.host)
            .map_err(|e| anyhow::anyhow!("cannot link the host imports: {e}"))?;
        Ok(Self {
            _ticker: engine::EpochTicker::start(&engine),
            cache: cache::CompileCache::new(config.cache_dir.clone()),
            plugins: Mutex::new(HashMap::new()),
            engine,
            linker,
            config,
        })
    }

    /// Loads a component as whichever world it targets.
    pub fn load(&self, bytes: &[u8]) -> Result<Arc<Plugin>, LoadError> {
        self.load_inner(bytes, None)
    }

    /// Loads a component that must be a plugin of `world`.
    pub fn load_as(&self, bytes: &[u8], world: World) -> Result<Arc<Plugin>, LoadError> {
        self.load_inner(bytes, Some(world))
    }

    fn load_inner(&self, bytes: &[u8], expected: Option<World>) -> Result<Arc<Plugin>, LoadError> {
        if bytes.len() > MAX_COMPONENT_SIZE {
            return Err(LoadError::TooLarge {
                size: bytes.len(),
                max: MAX_COMPONENT_SIZE,
            });
        }
        check_header(bytes)?;
        let hash = content_hash(bytes);
        if let Some(plugin) = self.plugins.lock().expect("plugin cache").get(&hash) {
            return match expected {
                Some(world) if world != plugin.info().world => Err(LoadError::WrongWorld {
                    expected: world,
                    problems: plugin.info().shape.export_problems(world),
                }),
                _ => Ok(plugin.clone()),
            };
        }
        let compiled = self.cache.get_or_compile(&self.engine, &hash, bytes)?;
        let plugin = Arc::new(Plugin::prepare(
            &self.engine,
            &self.linker,
            compiled,
            hash.clone(),
            bytes.len(),
            expected,
        )?);
        self.plugins
            .lock()
            .expect("plugin cache")
            .insert(hash, plugin.clone());
        Ok(plugin)
    }

    /// The plugin with content hash `sha256` if this runtime has loaded it, so a caller
    /// that knows the hash need not fetch and hash the bytes again.
    pub fn loaded(&self, sha256: &str) -> Option<Arc<Plugin>> {
        self.plugins
            .lock()
            .expect("plugin cache")
            .get(sha256)
            .cloned()
    }

    /// Checks that `limits` fit the engine's pool, so overrides fail when an admin sets
    /// them rather than at the first message.
    pub fn check_limits(&self, limits: &Limits) -> Result<(), String> {
        let engine = &self.config.engine;
        if limits.memory > engine.max_memory {
            return Err(format!(
                "memory limit {} exceeds the host's maximum of {} bytes",
                limits.memory, engine.max_memory
            ));
        }
        if limits.table_elements > engine.max_table_elements {
            return Err(format!(
                "table limit {} exceeds the host's maximum of {}",
                limits.table_elements, engine.max_table_elements
            ));
        }
        if limits.fuel == 0 || limits.deadline.is_zero() {
            return Err("fuel and deadline must be positive".into());
        }
        Ok(())
    }
}

/// A WebAssembly binary starts with `\0asm` and a version; components use a different
/// version/layer field than core modules, which lets us say which of the two we got.
fn check_header(bytes: &[u8]) -> Result<(), LoadError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(LoadError::NotWasm);
    }
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(LoadError::CoreModule);
    }
    Ok(())
}

//! Switchyard's plugin runtime: loads WASM components, checks them against their world,
//! and runs each invocation in a fresh, limited sandbox.
//!
//! It knows WIT, wasmtime and limits, and nothing of connectors, queues or databases:
//! plugins are called with the WIT types of [`wit`], kv data and ACD staffing come
//! from the embedder through the [`host::KvStore`] and [`host::Staffing`] traits, and
//! the embedder converts its domain types at its own edge.
//!
//! A [`Runtime`] owns the engine, the linker with the host's imports, and the compile
//! cache. [`Runtime::load`] turns component bytes into a [`Plugin`]: compiled once,
//! checked, pre-instantiated, and cached by content hash. Each call on a plugin gets a
//! new store with fuel, an epoch deadline and a memory limiter; whatever the guest
//! does, the caller gets a value or an [`InvokeError`] and the runtime stays usable.

mod bindings;
mod budget;
mod cache;
mod engine;
mod error;
pub mod host;
mod limits;
mod plugin;
mod world;

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::Linker;

pub use bindings::wit;
pub use budget::{
    COMPILE_BUDGET, COMPILE_CONCURRENCY, MAX_COMPONENT_SIZE, MAX_FUNCTION_BODY, MAX_FUNCTIONS,
    MAX_LOCALS,
};
pub use cache::{CacheSource, content_hash};
pub use engine::{EPOCH_TICK, EngineConfig};
pub use error::{InvokeError, LoadError};
pub use host::{HostEnv, Settings};
pub use limits::{Limits, MAX_DEADLINE};
pub use plugin::{Invocation, Plugin, PluginInfo};
pub use world::{PROVIDED_INTERFACES, Shape, World};

/// Compiled code of loaded plugins kept in memory: the Python and JavaScript routers
/// weigh 30 to 60 MiB each once compiled, a Rust router well under 1 MiB, so this holds
/// every active plugin of a typical host while bounding what uploads of ever new
/// versions can pile up.
pub const DEFAULT_PLUGIN_CACHE_BYTES: usize = 512 << 20;

/// Settings of a runtime.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    pub engine: EngineConfig,
    /// Where compiled components are kept between runs; None keeps them in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Budget for loaded plugins' compiled code in memory (least recently used out).
    pub plugin_cache_bytes: usize,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            cache_dir: None,
            plugin_cache_bytes: DEFAULT_PLUGIN_CACHE_BYTES,
        }
    }
}

pub struct Runtime {
    engine: Engine,
    linker: Linker<plugin::Store>,
    cache: cache::CompileCache,
    plugins: cache::LoadedPlugins<Plugin>,
    config: RuntimeConfig,
    _ticker: engine::EpochTicker,
}

impl Runtime {
    pub fn new(config: RuntimeConfig) -> anyhow::Result<Self> {
        let engine = engine::build(&config.engine)?;
        let mut linker = Linker::new(&engine);
        host::add_to_linker(&mut linker, |store: &mut plugin::Store| &mut store.host)
            .map_err(|e| anyhow::anyhow!("cannot link the host imports: {e}"))?;
        Ok(Self {
            _ticker: engine::EpochTicker::start(&engine),
            cache: cache::CompileCache::new(config.cache_dir.clone()),
            plugins: cache::LoadedPlugins::new(config.plugin_cache_bytes),
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
        if let Some(plugin) = self.plugins.get(&hash) {
            return match expected {
                Some(world) if world != plugin.info().world => Err(LoadError::WrongWorld {
                    expected: world,
                    problems: plugin.info().shape.export_problems(world),
                }),
                _ => Ok(plugin.clone()),
            };
        }
        // Everything that can be told from the bytes is checked before Cranelift sees
        // them: a component with WASI imports or without the world's exports costs
        // a millisecond to refuse instead of half a minute of compiling.
        let outline = budget::Outline::of(bytes)?;
        outline.shape.check_imports()?;
        outline.shape.world(expected)?;
        outline.check_cost()?;
        let compiled = self.cache.get_or_compile(&self.engine, &hash, bytes)?;
        let weight = compiled.weight();
        let plugin = Arc::new(Plugin::prepare(
            &self.engine,
            &self.linker,
            compiled,
            hash.clone(),
            bytes.len(),
            expected,
        )?);
        self.plugins.insert(hash, plugin.clone(), weight);
        Ok(plugin)
    }

    /// The plugin with content hash `sha256` if this runtime has loaded it, so a caller
    /// that knows the hash need not fetch and hash the bytes again.
    pub fn loaded(&self, sha256: &str) -> Option<Arc<Plugin>> {
        self.plugins.get(sha256)
    }

    /// Loaded plugins held in memory, and the bytes of compiled code they weigh.
    pub fn plugin_cache_usage(&self) -> (usize, usize) {
        self.plugins.usage()
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
        if limits.deadline > MAX_DEADLINE {
            return Err(format!(
                "deadline {} ms exceeds the host's maximum of {} ms",
                limits.deadline.as_millis(),
                MAX_DEADLINE.as_millis()
            ));
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

//! The shared wasmtime engine: compilation settings, the instance pool, the epoch clock.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use super::limits::{MAX_MEMORIES, MAX_TABLES};

/// How often the epoch advances. Deadlines are whole ticks, so this is their precision;
/// 10 ms keeps the ticker thread's cost negligible.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Engine-wide settings; per-plugin limits live in [`super::Limits`].
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Count fuel (about one unit per instruction) and enforce [`super::Limits::fuel`].
    /// Off by default in the server: the epoch deadline already stops a runaway plugin,
    /// and metering every instruction costs about a tenth of a small plugin's call.
    /// `switchyard plugin run` turns it on to report what a plugin costs.
    pub fuel_metering: bool,
    /// Pre-reserve instance slots (much faster instantiation). Off where virtual memory
    /// is scarce.
    pub pooling: bool,
    /// Component instances that can be alive at once with pooling (concurrent calls).
    pub max_concurrent: u32,
    /// Ceiling for any plugin's memory limit: pool slots are sized for it.
    pub max_memory: usize,
    /// Ceiling for any plugin's table limit.
    pub max_table_elements: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            fuel_metering: false,
            pooling: true,
            max_concurrent: 64,
            max_memory: super::limits::DEFAULT_MEMORY,
            max_table_elements: super::limits::DEFAULT_TABLE_ELEMENTS,
        }
    }
}

pub(crate) fn build(config: &EngineConfig) -> anyhow::Result<Engine> {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(config.fuel_metering)
        .epoch_interruption(true)
        .parallel_compilation(true);
    if config.pooling {
        let mut pool = PoolingAllocationConfig::default();
        let n = config.max_concurrent;
        pool.total_component_instances(n)
            // Interpreted-language components hold a dozen core instances each.
            .total_core_instances(n * 16)
            .total_memories(n * MAX_MEMORIES as u32)
            .total_tables(n * MAX_TABLES as u32)
            .max_memory_size(config.max_memory)
            .table_elements(config.max_table_elements)
            .max_core_instances_per_component(MAX_MEMORIES as u32 * 4)
            .max_memories_per_component(MAX_MEMORIES as u32)
            .max_tables_per_component(MAX_TABLES as u32)
            .max_component_instance_size(1 << 20)
            .max_core_instance_size(1 << 20)
            // Every call runs on a fiber (async host calls), one stack per live call.
            .total_stacks(n);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&wasm).map_err(|e| anyhow::anyhow!("cannot create the wasmtime engine: {e}"))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until dropped.
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
}

impl EpochTicker {
    pub(crate) fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), stop.clone());
        std::thread::Builder::new()
            .name("switchyard-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .expect("spawn the epoch thread");
        Self { stop }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

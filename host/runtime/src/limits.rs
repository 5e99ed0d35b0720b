//! Resource limits for one plugin invocation, and the store limiter that enforces them.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default fuel: roughly one unit per WebAssembly instruction. A Rust keyword router
/// spends tens of thousands; an interpreted Python or JavaScript router a few million.
/// 500 million is over a hundred times that and still stops a busy loop in well under
/// a second on this class of machine.
pub const DEFAULT_FUEL: u64 = 500_000_000;
/// Default wall-clock deadline. Fuel bounds computation; the deadline also covers time
/// spent in host calls and instantiation. A routing decision that takes a second is
/// already a failed one for a gateway waiting on its answer.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(1);
/// Default linear memory per instance. The 12 to 18 MB interpreted components (Python,
/// JavaScript) start with tens of MiB; 128 MiB leaves them headroom while a runaway
/// allocation loop is stopped long before it could matter to the host.
pub const DEFAULT_MEMORY: usize = 128 << 20;
/// Default table elements per instance: the JavaScript engine's function tables need
/// tens of thousands of entries.
pub const DEFAULT_TABLE_ELEMENTS: usize = 100_000;
/// Instances, tables and memories per store: a component made of a handful of core
/// modules needs a few of each; these bound what a malicious one can ask for.
pub const MAX_INSTANCES: usize = 64;
pub const MAX_TABLES: usize = 64;
pub const MAX_MEMORIES: usize = 16;

/// Limits applied to every invocation of one plugin. `Default` gives the documented
/// defaults; admins override them per plugin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Fuel (about one unit per instruction) for instantiation plus the call; enforced
    /// when the engine meters fuel ([`super::EngineConfig::fuel_metering`]).
    pub fuel: u64,
    /// Wall-clock budget for instantiation plus the call.
    #[serde(with = "millis")]
    pub deadline: Duration,
    /// Maximum linear memory of any one memory, in bytes.
    pub memory: usize,
    /// Maximum elements of any one table.
    pub table_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            fuel: DEFAULT_FUEL,
            deadline: DEFAULT_DEADLINE,
            memory: DEFAULT_MEMORY,
            table_elements: DEFAULT_TABLE_ELEMENTS,
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// Enforces [`Limits`] on a store and remembers whether it had to refuse memory, so an
/// allocation failure the guest turns into a trap is reported as out-of-memory.
pub(crate) struct Limiter {
    memory: usize,
    table_elements: usize,
    pub(crate) memory_refused: bool,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            memory: limits.memory,
            table_elements: limits.table_elements,
            memory_refused: false,
        }
    }
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = desired <= self.memory;
        self.memory_refused |= !allowed;
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= self.table_elements)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}

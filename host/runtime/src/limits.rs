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
/// Default linear memory of one invocation: the sum over every memory of every core
/// instance the component creates (a component may hold up to [`MAX_MEMORIES`]). The
/// 12 to 18 MB interpreted components (Python, JavaScript) start with tens of MiB;
/// 128 MiB leaves them headroom while a runaway allocation loop is stopped long before
/// it could matter to the host.
pub const DEFAULT_MEMORY: usize = 128 << 20;
/// Default table elements of one invocation, summed over all its tables: the
/// JavaScript engine's function tables need tens of thousands of entries.
pub const DEFAULT_TABLE_ELEMENTS: usize = 100_000;
/// The longest deadline a connector or the host's configuration may set. A call holds
/// an instance slot and a stack for as long as it runs, and a routing decision later
/// than this is useless to a gateway waiting on it; ten times the default leaves room
/// for an interpreted router doing real work.
pub const MAX_DEADLINE: Duration = Duration::from_secs(10);
/// Instances, tables and memories per invocation (per store): a component made of a
/// handful of core modules needs a few of each; these bound what a malicious one can
/// ask for.
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
    /// Maximum linear memory of the invocation, in bytes: all its memories together.
    pub memory: usize,
    /// Maximum table elements of the invocation: all its tables together.
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

/// What stopped an invocation's store from growing, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Memory,
    TableElements,
}

/// Enforces [`Limits`] on a store: the sum of all its memories' sizes and of all its
/// tables' elements, whichever core instance they belong to. Every memory and table
/// passes through here when it is created (growing from 0) and when it grows, so
/// keeping running totals is enough. A growth allowed here that wasmtime then fails to
/// perform stays counted: wasmtime's failure notice does not say which growth failed,
/// and counting too much only makes this one call's budget stricter. It remembers the first refusal, so the failure
/// the guest makes of it (an allocator abort, a trap) is reported as the limit that
/// caused it.
pub(crate) struct Limiter {
    memory: usize,
    table_elements: usize,
    /// Bytes of linear memory the store holds, over all its memories.
    memory_total: usize,
    /// Table elements the store holds, over all its tables.
    table_total: usize,
    pub(crate) refused: Option<Refusal>,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            memory: limits.memory,
            table_elements: limits.table_elements,
            memory_total: 0,
            table_total: 0,
            refused: None,
        }
    }

    /// Bytes of linear memory held by the store right now, over all its memories.
    pub(crate) fn memory_used(&self) -> usize {
        self.memory_total
    }

    fn refuse(&mut self, what: Refusal) {
        self.refused.get_or_insert(what);
    }
}

/// Adds the growth `current -> desired` to `total` if it stays within `limit`.
fn grow(total: usize, current: usize, desired: usize, limit: usize) -> Option<usize> {
    let after = total.checked_add(desired.saturating_sub(current))?;
    (after <= limit).then_some(after)
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match grow(self.memory_total, current, desired, self.memory) {
            Some(total) => {
                self.memory_total = total;
                Ok(true)
            }
            None => {
                self.refuse(Refusal::Memory);
                Ok(false)
            }
        }
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        match grow(self.table_total, current, desired, self.table_elements) {
            Some(total) => {
                self.table_total = total;
                Ok(true)
            }
            None => {
                self.refuse(Refusal::TableElements);
                Ok(false)
            }
        }
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

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::*;

    fn limiter(memory: usize) -> Limiter {
        Limiter::new(&Limits {
            memory,
            table_elements: 100,
            ..Limits::default()
        })
    }

    #[test]
    fn memories_count_together_against_one_budget() {
        let mut l = limiter(100);
        assert!(l.memory_growing(0, 60, None).unwrap());
        assert!(l.memory_growing(0, 30, None).unwrap());
        // The second memory growing from 30 to 50 would make 110 in all.
        assert!(!l.memory_growing(30, 50, None).unwrap());
        assert_eq!(l.refused, Some(Refusal::Memory));
        assert_eq!(l.memory_used(), 90);
        assert!(l.memory_growing(30, 40, None).unwrap());
        assert_eq!(l.memory_used(), 100);
    }

    #[test]
    fn tables_count_together_and_are_named_when_refused() {
        let mut l = limiter(100);
        assert!(l.table_growing(0, 70, None).unwrap());
        assert!(!l.table_growing(0, 40, None).unwrap());
        assert_eq!(l.refused, Some(Refusal::TableElements));
        // The first refusal is the one reported.
        assert!(!l.memory_growing(0, 200, None).unwrap());
        assert_eq!(l.refused, Some(Refusal::TableElements));
    }
}

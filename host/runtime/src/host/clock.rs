//! `switchyard:routing/clock`: the time, frozen for the length of one invocation.

use super::HostContext;
use crate::bindings::clock;

impl clock::Host for HostContext {
    fn now(&mut self) -> wasmtime::Result<u64> {
        Ok(self.now_ms)
    }
}

/// Milliseconds since the Unix epoch, as plugins see time.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

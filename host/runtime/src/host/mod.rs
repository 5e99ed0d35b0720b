//! The host side of the platform world: what a plugin can reach, one file per interface.
//!
//! Every invocation gets its own [`HostContext`], built from a shared [`HostEnv`]. The
//! context buffers kv writes and log lines; they leave the sandbox only through the
//! invocation's result, so a plugin that fails leaves no trace in the host's state.

mod acd;
mod clock;
mod config;
mod kv;
mod log;

use std::sync::Arc;

pub use acd::{GroupStaffing, NoStaffing, Staffing, StaffingTable};
pub use config::{Settings, SettingsError};
pub use kv::{KvChanges, KvStore, MAX_KEY_LEN, MAX_VALUE_LEN, MAX_WRITES, MemoryKv};
pub use log::{LogLevel, LogLine, MAX_LOG_LINE, MAX_LOG_LINES};

pub use clock::now_ms;

/// What the host offers one plugin attachment (a plugin on a connector, or an external
/// system): its settings, its private kv namespace, the ACD staffing view.
#[derive(Clone)]
pub struct HostEnv {
    pub settings: Arc<Settings>,
    pub kv: Arc<dyn KvStore>,
    /// The plugin's private kv namespace, e.g. `connector:7`.
    pub kv_scope: String,
    pub staffing: Arc<dyn Staffing>,
    /// Names the plugin in log lines, e.g. `connector=sales plugin=3f2a..`.
    pub label: String,
}

impl HostEnv {
    /// An environment with the given settings, an empty in-memory kv store and no ACD
    /// groups: what `switchyard plugin run` starts from.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings: Arc::new(settings),
            kv: Arc::new(MemoryKv::default()),
            kv_scope: "local".into(),
            staffing: Arc::new(NoStaffing),
            label: "plugin".into(),
        }
    }
}

/// Per-invocation host state: the environment plus everything the plugin produced.
pub struct HostContext {
    env: HostEnv,
    /// Fixed when the invocation starts, so a plugin sees one consistent time.
    now_ms: u64,
    kv_writes: KvChanges,
    logs: Vec<LogLine>,
    dropped_logs: usize,
}

impl HostContext {
    pub(crate) fn new(env: HostEnv, now_ms: u64) -> Self {
        Self {
            env,
            now_ms,
            kv_writes: KvChanges::default(),
            logs: Vec::new(),
            dropped_logs: 0,
        }
    }

    /// Hands over what the invocation produced: buffered kv writes and log lines.
    pub(crate) fn finish(self) -> (KvChanges, Vec<LogLine>) {
        let mut logs = self.logs;
        if self.dropped_logs > 0 {
            logs.push(LogLine {
                level: LogLevel::Warn,
                message: format!("{} more log lines were dropped", self.dropped_logs),
            });
        }
        (self.kv_writes, logs)
    }
}

/// `HasData` projection used to register the host traits against a store's data.
pub(crate) struct HostView;

impl wasmtime::component::HasData for HostView {
    type Data<'a> = &'a mut HostContext;
}

impl crate::bindings::types::Host for HostContext {}

/// Adds every host import of the platform world to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut wasmtime::component::Linker<T>,
    get: fn(&mut T) -> &mut HostContext,
) -> wasmtime::Result<()> {
    use crate::bindings::{acd, clock, config, kv, log, types};
    types::add_to_linker::<T, HostView>(linker, get)?;
    log::add_to_linker::<T, HostView>(linker, get)?;
    kv::add_to_linker::<T, HostView>(linker, get)?;
    config::add_to_linker::<T, HostView>(linker, get)?;
    clock::add_to_linker::<T, HostView>(linker, get)?;
    acd::add_to_linker::<T, HostView>(linker, get)?;
    Ok(())
}

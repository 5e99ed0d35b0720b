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

use std::collections::HashMap;
use std::sync::Arc;

pub use acd::{GroupStaffing, NoStaffing, Staffing, StaffingTable};
pub use config::{Settings, SettingsError};
pub use kv::{
    KV_QUOTA, KvChanges, KvStore, KvUsage, MAX_KEY_LEN, MAX_VALUE_LEN, MAX_WRITES, MemoryKv,
};
pub use log::{
    CallLog, LOG_BYTES_PER_MINUTE, LOG_LINES_PER_MINUTE, LogLevel, LogLine, LogQuota, MAX_LOG_LINE,
    MAX_LOG_LINES,
};

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
    /// What each key read or changed counted before this invocation (zero if absent).
    kv_seen: HashMap<String, KvUsage>,
    /// The scope's stored usage, read at the first change that grows it.
    kv_usage: Option<KvUsage>,
    /// Kv calls with a key no backend can hold (empty, too long, NUL): answered without
    /// the backend, and noted with the invocation's log lines.
    invalid_kv_keys: usize,
    logs: Vec<LogLine>,
    dropped_logs: usize,
    log_quota: Option<Arc<LogQuota>>,
    quota_dropped_logs: usize,
}

/// What an invocation produced besides its value.
pub(crate) struct Produced {
    pub(crate) kv_changes: KvChanges,
    pub(crate) logs: Vec<LogLine>,
    /// Lines dropped because the plugin's per-minute quota was used up.
    pub(crate) quota_dropped: usize,
}

impl HostContext {
    pub(crate) fn new(env: HostEnv, now_ms: u64, log_quota: Option<Arc<LogQuota>>) -> Self {
        Self {
            env,
            now_ms,
            kv_writes: KvChanges::default(),
            kv_seen: HashMap::new(),
            kv_usage: None,
            invalid_kv_keys: 0,
            logs: Vec::new(),
            dropped_logs: 0,
            log_quota,
            quota_dropped_logs: 0,
        }
    }

    /// Hands over what the invocation produced: buffered kv writes and log lines, with
    /// a note of every line it lost and of kv calls with invalid keys.
    pub(crate) fn finish(self) -> Produced {
        let mut logs = self.logs;
        let mut note = |message: String| {
            logs.push(LogLine {
                level: LogLevel::Warn,
                message,
            })
        };
        if self.dropped_logs > 0 {
            note(format!("{} more log lines were dropped", self.dropped_logs));
        }
        if self.quota_dropped_logs > 0 {
            note(format!(
                "{} log lines dropped: the plugin's log quota ({LOG_LINES_PER_MINUTE} lines, \
                 {LOG_BYTES_PER_MINUTE} bytes per minute) is used up",
                self.quota_dropped_logs
            ));
        }
        if self.invalid_kv_keys > 0 {
            note(format!(
                "{} kv calls named an invalid key (empty, over {MAX_KEY_LEN} bytes, or \
                 holding NUL): `get` answered none, the others refused or ignored it",
                self.invalid_kv_keys
            ));
        }
        Produced {
            kv_changes: self.kv_writes,
            logs,
            quota_dropped: self.quota_dropped_logs,
        }
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

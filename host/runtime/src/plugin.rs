//! A loaded plugin and its invocations: one fresh, limited store per call.

use std::time::{Duration, Instant};

use serde::Serialize;
use wasmtime::component::{InstancePre, Linker};
use wasmtime::{Engine, Trap, UpdateDeadline};

use super::bindings::{ExternalSystemPre, GatewayPre, RoutingApplicationPre};
use super::cache::{CacheSource, Compiled};
use super::host::{CallLog, HostContext, HostEnv, KvChanges, LogLine};
use super::limits::{Limiter, Refusal};
use super::world::Shape;
use super::{InvokeError, Limits, LoadError, World};
use crate::bindings::wit;

/// Store data of one invocation.
pub(crate) struct Store {
    pub(crate) host: HostContext,
    limiter: Limiter,
}

/// The pre-instantiated component, typed by its world.
enum Pre {
    Routing(RoutingApplicationPre<Store>),
    External(ExternalSystemPre<Store>),
    Gateway(GatewayPre<Store>),
}

/// Runs one export of a typed pre-instance in a fresh store ([`Call`]): instantiates,
/// calls, and turns whatever happened into a value or an [`InvokeError`].
macro_rules! invoke {
    ($pre:expr, $env:expr, $limits:expr, $log:expr, |$bindings:ident, $store:ident| $call:expr) => {{
        let pre = $pre;
        let log: &CallLog = $log;
        let mut call = Call::start(pre.instance_pre(), $env, $limits, log);
        let result = async {
            let $bindings = pre
                .instantiate_async(&mut call.store)
                .await
                .map_err(Phase::Instantiate)?;
            let $store = &mut call.store;
            $call.await.map_err(Phase::Call)
        }
        .await;
        call.finish(result, $limits, log)
    }};
}

/// What is known about a plugin once it is loaded.
#[derive(Debug, Clone, Serialize)]
pub struct PluginInfo {
    /// SHA-256 of the component bytes.
    pub hash: String,
    pub world: World,
    pub size: usize,
    pub shape: Shape,
    /// Whether this load compiled the component or found it cached.
    pub source: CacheSource,
    /// Time spent compiling or deserialising.
    #[serde(serialize_with = "micros")]
    pub load_time: Duration,
}

/// The result of one successful invocation, with what it cost and what it produced
/// besides its value. `kv_changes` are not applied yet: the caller commits them, once
/// it has checked the value.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation<T> {
    pub value: T,
    /// Fuel spent, when the engine meters it.
    pub fuel_used: Option<u64>,
    #[serde(serialize_with = "micros")]
    pub elapsed: Duration,
    pub kv_changes: KvChanges,
    pub logs: Vec<LogLine>,
}

impl<T> Invocation<T> {
    /// Converts the value, keeping what the invocation cost and produced. A value the
    /// caller refuses ends as [`InvokeError::InvalidOutput`], and its kv changes with it.
    pub fn try_map<U>(
        self,
        convert: impl FnOnce(T) -> Result<U, String>,
    ) -> Result<Invocation<U>, InvokeError> {
        Ok(Invocation {
            value: convert(self.value).map_err(InvokeError::InvalidOutput)?,
            fuel_used: self.fuel_used,
            elapsed: self.elapsed,
            kv_changes: self.kv_changes,
            logs: self.logs,
        })
    }

    /// [`Self::try_map`], keeping the log lines in `log` when the value is refused, so
    /// the record of the failure still has them.
    pub fn try_map_logged<U>(
        self,
        convert: impl FnOnce(T) -> Result<U, String>,
        log: &CallLog,
    ) -> Result<Invocation<U>, InvokeError> {
        let Self {
            value,
            fuel_used,
            elapsed,
            kv_changes,
            logs,
        } = self;
        match convert(value) {
            Ok(value) => Ok(Invocation {
                value,
                fuel_used,
                elapsed,
                kv_changes,
                logs,
            }),
            Err(e) => {
                log.keep(log.quota_dropped(), Some(logs));
                Err(InvokeError::InvalidOutput(e))
            }
        }
    }

    /// Commits the invocation's kv writes to the environment's store.
    pub fn commit_kv(&self, env: &HostEnv) -> anyhow::Result<()> {
        if self.kv_changes.is_empty() {
            return Ok(());
        }
        env.kv.commit(&env.kv_scope, &self.kv_changes)
    }
}

fn micros<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_micros() as u64)
}

pub struct Plugin {
    info: PluginInfo,
    pre: Pre,
}

impl std::fmt::Debug for Plugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plugin").field("info", &self.info).finish()
    }
}

impl Plugin {
    pub(crate) fn prepare(
        engine: &Engine,
        linker: &Linker<Store>,
        compiled: Compiled,
        hash: String,
        size: usize,
        expected: Option<World>,
    ) -> Result<Self, LoadError> {
        let shape = Shape::of(engine, &compiled.component);
        shape.check_imports()?;
        let world = shape.world(expected)?;
        let instance_pre = linker
            .instantiate_pre(&compiled.component)
            .map_err(|e| LoadError::Link(format!("{e:#}")))?;
        let mismatch = |e: wasmtime::Error| type_mismatch(world, &shape, e);
        let pre = match world {
            World::RoutingApplication => {
                Pre::Routing(RoutingApplicationPre::new(instance_pre).map_err(mismatch)?)
            }
            World::ExternalSystem => {
                Pre::External(ExternalSystemPre::new(instance_pre).map_err(mismatch)?)
            }
            World::Gateway => Pre::Gateway(GatewayPre::new(instance_pre).map_err(mismatch)?),
        };
        Ok(Self {
            info: PluginInfo {
                hash,
                world,
                size,
                shape,
                source: compiled.source,
                load_time: compiled.load_time,
            },
            pre,
        })
    }

    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// Asks a routing application where `message` goes. The decision is returned as
    /// the plugin gave it: the embedder checks it against its own rules. `log` holds
    /// the plugin's log quota, and keeps the lines of a failed invocation.
    pub async fn route(
        &self,
        env: &HostEnv,
        limits: &Limits,
        log: &CallLog,
        message: &wit::InboundMessage,
        connector: &wit::ConnectorContext,
        conversation: &wit::Conversation,
    ) -> Result<Invocation<wit::Decision>, InvokeError> {
        let Pre::Routing(pre) = &self.pre else {
            return Err(self.wrong_kind(World::RoutingApplication));
        };
        invoke!(pre, env, limits, log, |bindings, store| bindings
            .call_route(store, message, connector, conversation))
    }

    /// Asks an external system to process a queue entry.
    pub async fn process(
        &self,
        env: &HostEnv,
        limits: &Limits,
        entry: &wit::QueueEntry,
    ) -> Result<Invocation<wit::ProcessOutcome>, InvokeError> {
        let Pre::External(pre) = &self.pre else {
            return Err(self.wrong_kind(World::ExternalSystem));
        };
        invoke!(pre, env, limits, &CallLog::default(), |bindings, store| {
            bindings.call_process(store, entry)
        })
    }

    /// Asks a gateway for the HTTP request that sends `entry`. The inner `Err` is the
    /// gateway refusing the entry (e.g. a number it cannot reach).
    pub async fn build_request(
        &self,
        env: &HostEnv,
        limits: &Limits,
        entry: &wit::QueueEntry,
    ) -> Result<Invocation<Result<wit::HttpRequest, wit::ProcessError>>, InvokeError> {
        let Pre::Gateway(pre) = &self.pre else {
            return Err(self.wrong_kind(World::Gateway));
        };
        invoke!(pre, env, limits, &CallLog::default(), |bindings, store| {
            bindings.call_build_request(store, entry)
        })
    }

    /// Asks a gateway what the response to its request means.
    pub async fn parse_response(
        &self,
        env: &HostEnv,
        limits: &Limits,
        entry: &wit::QueueEntry,
        response: &wit::HttpResponse,
    ) -> Result<Invocation<wit::SendResult>, InvokeError> {
        let Pre::Gateway(pre) = &self.pre else {
            return Err(self.wrong_kind(World::Gateway));
        };
        invoke!(pre, env, limits, &CallLog::default(), |bindings, store| {
            bindings.call_parse_response(store, entry, response)
        })
    }

    fn wrong_kind(&self, wanted: World) -> InvokeError {
        InvokeError::WrongKind {
            wanted,
            actual: self.info.world,
        }
    }
}

/// One invocation in progress: a fresh store with `limits`, turned into a value or an
/// [`InvokeError`] by [`Call::finish`] whatever the guest did.
struct Call {
    store: wasmtime::Store<Store>,
    started: Instant,
    metering: bool,
}

impl Call {
    fn start(pre: &InstancePre<Store>, env: &HostEnv, limits: &Limits, log: &CallLog) -> Self {
        let started = Instant::now();
        let data = Store {
            host: HostContext::new(env.clone(), super::host::now_ms(), log.quota()),
            limiter: Limiter::new(limits),
        };
        let mut store = wasmtime::Store::new(pre.engine(), data);
        store.limiter(|s| &mut s.limiter);
        let metering = store.set_fuel(limits.fuel).is_ok();
        // Every epoch tick the guest yields to the executor, so a busy plugin shares
        // its thread with every other task; past the deadline the next tick traps.
        // Time spent waiting on an async host call (a kv read) counts too.
        let deadline = started + limits.deadline;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            Ok(if Instant::now() >= deadline {
                UpdateDeadline::Interrupt
            } else {
                UpdateDeadline::Yield(1)
            })
        });
        Self {
            store,
            started,
            metering,
        }
    }

    fn finish<T>(
        self,
        result: Result<T, Phase>,
        limits: &Limits,
        log: &CallLog,
    ) -> Result<Invocation<T>, InvokeError> {
        let fuel_used = self
            .metering
            .then(|| limits.fuel - self.store.get_fuel().unwrap_or(0));
        let elapsed = self.started.elapsed();
        let data = self.store.into_data();
        tracing::debug!(
            memory_bytes = data.limiter.memory_used(),
            elapsed_us = elapsed.as_micros() as u64,
            "plugin call finished"
        );
        let produced = data.host.finish();
        match result {
            Ok(value) => {
                log.keep(produced.quota_dropped, None);
                Ok(Invocation {
                    value,
                    fuel_used,
                    elapsed,
                    kv_changes: produced.kv_changes,
                    logs: produced.logs,
                })
            }
            Err(phase) => {
                // The lines that explain a failure are kept for its record; its kv
                // writes are dropped with it.
                log.keep(produced.quota_dropped, Some(produced.logs));
                Err(classify(phase, &data.limiter, limits))
            }
        }
    }
}

/// Where a failure happened: instantiation errors that are not traps (an exhausted
/// instance pool) are reported differently from a guest that misbehaved.
pub(crate) enum Phase {
    Instantiate(wasmtime::Error),
    Call(wasmtime::Error),
}

fn classify(phase: Phase, limiter: &Limiter, limits: &Limits) -> InvokeError {
    let (error, instantiating) = match phase {
        Phase::Instantiate(e) => (e, true),
        Phase::Call(e) => (e, false),
    };
    // What ended the call comes first: a plugin refused memory that then looped until
    // its deadline (or fuel) ran out was stopped by the deadline, not by the memory.
    match error.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => return InvokeError::OutOfFuel { limit: limits.fuel },
        Some(Trap::Interrupt) => {
            return InvokeError::Timeout {
                deadline: limits.deadline,
            };
        }
        _ => {}
    }
    // The limiter refused a memory.grow or table.grow; the guest's reaction to that
    // (usually an abort in its allocator) is only a consequence.
    match limiter.refused {
        Some(Refusal::Memory) => {
            return InvokeError::OutOfMemory {
                limit: limits.memory,
            };
        }
        Some(Refusal::TableElements) => {
            return InvokeError::TableLimit {
                limit: limits.table_elements,
            };
        }
        None => {}
    }
    match error.downcast_ref::<Trap>() {
        Some(Trap::StackOverflow) => InvokeError::StackOverflow,
        Some(_) => InvokeError::Trap(describe(&error)),
        // wasmtime's words when a store would exceed the limiter's instance, memory or
        // table count.
        None if instantiating && format!("{error:#}").contains("resource limit exceeded") => {
            InvokeError::InstanceLimit(describe(&error))
        }
        None if instantiating => InvokeError::Instantiate(describe(&error)),
        None => InvokeError::Trap(describe(&error)),
    }
}

/// The error with its wasm backtrace, cut to a size that fits a routing record.
fn describe(error: &wasmtime::Error) -> String {
    const MAX: usize = 2_000;
    let mut text = format!("{error:?}");
    if text.len() > MAX {
        let mut end = MAX;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

/// Explains a failed export type check with both signatures side by side.
fn type_mismatch(world: World, shape: &Shape, error: wasmtime::Error) -> LoadError {
    let problems = world
        .exports()
        .iter()
        .map(|(name, expected)| {
            format!(
                "export `{name}` has type `{}`, expected `{expected}`",
                shape.export_type(name).unwrap_or("?")
            )
        })
        .chain(std::iter::once(format!("wasmtime says: {error:#}")))
        .collect();
    LoadError::WrongWorld {
        expected: world,
        problems,
    }
}

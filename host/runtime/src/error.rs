//! Errors of the plugin runtime: refusing a component, and a failed invocation.

use std::time::Duration;

use super::World;

/// Why a component was not accepted as a plugin.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("not a WebAssembly file: it does not start with the `\\0asm` magic bytes")]
    NotWasm,
    #[error(
        "this is a core WebAssembly module, not a component; wrap it with \
         `wasm-tools component new` (or build with a component toolchain)"
    )]
    CoreModule,
    #[error("the component is {size} bytes, the limit is {max}")]
    TooLarge { size: usize, max: usize },
    #[error("the component does not compile: {0}")]
    Compile(String),
    #[error("the component is too costly to compile: {0}; split the plugin or build it for size")]
    TooCostly(String),
    #[error("compiling the component took longer than the host allows ({} s)", .budget.as_secs())]
    CompileTimeout { budget: Duration },
    #[error(
        "the host is busy compiling other components; try again in a minute \
         (waited {} s)", .waited.as_secs()
    )]
    CompilerBusy { waited: Duration },
    #[error("the component imports `{name}`, which Switchyard does not provide: {hint}")]
    ForbiddenImport { name: String, hint: String },
    #[error("the component does not fit world `{expected}`: {}", .problems.join("; "))]
    WrongWorld {
        expected: World,
        problems: Vec<String>,
    },
    #[error(
        "the component fits no Switchyard world: it exports {exports}; a routing \
         application exports `route`, an external system `process`, a gateway \
         `build-request` and `parse-response`"
    )]
    UnknownWorld { exports: String },
    #[error("the component cannot be linked: {0}")]
    Link(String),
}

/// Why an invocation produced no usable result. The host's state is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    #[error("the plugin ran out of fuel ({limit} units)")]
    OutOfFuel { limit: u64 },
    #[error("the plugin exceeded its deadline of {} ms", .deadline.as_millis())]
    Timeout { deadline: Duration },
    #[error("the plugin exceeded its memory limit of {limit} bytes (all its memories together)")]
    OutOfMemory { limit: usize },
    #[error("the plugin exceeded its table limit of {limit} elements (all its tables together)")]
    TableLimit { limit: usize },
    #[error("the plugin asked for more instances, memories or tables than one call may have: {0}")]
    InstanceLimit(String),
    #[error("the plugin overflowed its stack")]
    StackOverflow,
    #[error("the plugin trapped: {0}")]
    Trap(String),
    #[error("the plugin returned an invalid result: {0}")]
    InvalidOutput(String),
    #[error("the plugin could not be instantiated: {0}")]
    Instantiate(String),
    #[error("the plugin cannot do that: it is a {actual} plugin, not a {wanted} one")]
    WrongKind { wanted: World, actual: World },
}

impl InvokeError {
    /// A stable short name for metrics, routing records and API responses.
    pub fn kind(&self) -> &'static str {
        match self {
            InvokeError::OutOfFuel { .. } => "out_of_fuel",
            InvokeError::Timeout { .. } => "timeout",
            InvokeError::OutOfMemory { .. } => "out_of_memory",
            InvokeError::TableLimit { .. } => "table_limit",
            InvokeError::InstanceLimit(_) => "instance_limit",
            InvokeError::StackOverflow => "stack_overflow",
            InvokeError::Trap(_) => "trap",
            InvokeError::InvalidOutput(_) => "invalid_output",
            InvokeError::Instantiate(_) => "instantiate",
            InvokeError::WrongKind { .. } => "wrong_kind",
        }
    }
}

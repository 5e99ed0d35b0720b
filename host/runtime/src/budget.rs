//! What compiling an upload may cost: a component is outlined (imports, exports, code
//! size) without compiling it and refused if it cannot be a plugin or is too costly;
//! compilations then run one at a time, within a wall-clock budget, and give their
//! memory back to the system when done.
//!
//! Cranelift needs many times a component's code size in memory, more for large
//! functions, so what bounds the compiler's memory is the size of what it is given
//! (component, code, largest function) and that it compiles one component at a time.

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use wasmtime::wasmparser::{ComponentTypeRef, Parser, Payload, TypeBounds};

use super::LoadError;
use super::world::Shape;

/// Largest component accepted, in bytes. The interpreted-language routers are 12 to
/// 18 MB; compiling a component takes tens of times its size in memory at its peak.
pub const MAX_COMPONENT_SIZE: usize = 32 << 20;
/// Most function bodies, over all core modules of a component. The Python router has
/// 13,495, the JavaScript one 12,684, a Rust router a few hundred.
pub const MAX_FUNCTIONS: usize = 50_000;
/// Largest single function body, in bytes. Cranelift's memory grows faster than
/// linearly with one function's size; the largest function of the routers, in the
/// Python one, is 427 KB (the JavaScript one's is 172 KB).
pub const MAX_FUNCTION_BODY: usize = 1 << 20;
/// Most locals of one function: each is a value the register allocator tracks across
/// the whole function. The routers' most is 271 (Python).
pub const MAX_LOCALS: u64 = 10_000;
/// Compilations running at once. Each one already uses every core (wasmtime compiles
/// functions in parallel), so a second one would only double the peak memory.
pub const COMPILE_CONCURRENCY: usize = 1;
/// How long a compilation may take, wall clock. The Python router takes about 40 s on
/// two busy cores in a debug build; a component that takes longer is refused (its compilation finishes in
/// the background, holding its turn, but nobody waits for it).
pub const COMPILE_BUDGET: Duration = Duration::from_secs(120);
/// How long a load waits for its turn to compile before giving up.
pub const COMPILE_WAIT: Duration = Duration::from_secs(300);

/// A component's top-level imports and exports and the size of its code, read from
/// its bytes without compiling them.
#[derive(Debug, Default)]
pub(crate) struct Outline {
    pub shape: Shape,
    pub functions: usize,
    pub largest_function: usize,
    pub most_locals: u64,
}

impl Outline {
    /// Reads `bytes`, a component (checked by the header already). Malformed input is
    /// a compile error, as wasmtime would report it.
    pub(crate) fn of(bytes: &[u8]) -> Result<Outline, LoadError> {
        let malformed = |e: wasmtime::wasmparser::BinaryReaderError| {
            LoadError::Compile(format!("malformed component: {e}"))
        };
        let mut outline = Outline::default();
        // Nested modules and components are parsed inline: `Version` opens one, `End`
        // closes it, so depth 1 is the component itself.
        let mut depth = 0usize;
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(malformed)? {
                Payload::Version { .. } => depth += 1,
                Payload::End(_) => depth = depth.saturating_sub(1),
                Payload::ComponentImportSection(reader) if depth == 1 => {
                    for import in reader {
                        let import = import.map_err(malformed)?;
                        // `use`d WIT types come as imports equal to a type of an
                        // imported instance: names, not something the host provides.
                        if !matches!(import.ty, ComponentTypeRef::Type(TypeBounds::Eq(_))) {
                            outline.shape.imports.push(import.name.name.to_owned());
                        }
                    }
                }
                Payload::ComponentExportSection(reader) if depth == 1 => {
                    for export in reader {
                        let name = export.map_err(malformed)?.name.name;
                        outline.shape.exports.push((name.to_owned(), String::new()));
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    outline.functions += 1;
                    outline.largest_function = outline.largest_function.max(body.range().len());
                    let mut locals = 0u64;
                    for group in body.get_locals_reader().map_err(malformed)? {
                        locals += u64::from(group.map_err(malformed)?.0);
                    }
                    outline.most_locals = outline.most_locals.max(locals);
                }
                _ => {}
            }
        }
        Ok(outline)
    }

    /// Refuses a component whose code would cost the compiler more than any real
    /// plugin does.
    pub(crate) fn check_cost(&self) -> Result<(), LoadError> {
        let over = |what: &str, value: u64, max: u64| {
            Err(LoadError::TooCostly(format!(
                "{what} is {value}, the limit is {max}"
            )))
        };
        if self.functions > MAX_FUNCTIONS {
            return over(
                "the number of functions",
                self.functions as u64,
                MAX_FUNCTIONS as u64,
            );
        }
        if self.largest_function > MAX_FUNCTION_BODY {
            return over(
                "the largest function body (bytes)",
                self.largest_function as u64,
                MAX_FUNCTION_BODY as u64,
            );
        }
        if self.most_locals > MAX_LOCALS {
            return over(
                "the most locals of one function",
                self.most_locals,
                MAX_LOCALS,
            );
        }
        Ok(())
    }
}

/// A counting semaphore for compilations: blocking, since loads run on blocking
/// threads, and a permit travels with the compilation thread it was given to.
#[derive(Clone)]
pub(crate) struct Gate(Arc<(Mutex<usize>, Condvar)>);

/// One turn to compile; the turn ends when this is dropped.
pub(crate) struct Permit(Gate);

impl Gate {
    pub(crate) fn new(permits: usize) -> Self {
        Self(Arc::new((Mutex::new(permits), Condvar::new())))
    }

    /// Waits up to `wait` for a turn.
    pub(crate) fn acquire(&self, wait: Duration) -> Option<Permit> {
        let (free, turn) = &*self.0;
        let deadline = Instant::now() + wait;
        let mut free = free.lock().expect("compile gate");
        while *free == 0 {
            let left = deadline.checked_duration_since(Instant::now())?;
            free = turn.wait_timeout(free, left).expect("compile gate").0;
        }
        *free -= 1;
        Some(Permit(self.clone()))
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let (free, turn) = &*(self.0).0;
        *free.lock().expect("compile gate") += 1;
        turn.notify_one();
    }
}

/// Runs `compile` on a thread of its own holding `permit`, and waits for it at most
/// `budget`. Past the budget the caller gets `None`; the compilation still finishes
/// (Cranelift cannot be stopped) and keeps its turn until then, so abandoned
/// compilations never pile up.
pub(crate) fn within_budget<T: Send + 'static>(
    permit: Permit,
    budget: Duration,
    compile: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (send, receive) = mpsc::sync_channel(1);
    let spawned = std::thread::Builder::new()
        .name("switchyard-compile".into())
        .spawn(move || {
            let result = compile();
            give_back_memory();
            drop(permit);
            let _ = send.send(result);
        });
    if let Err(e) = spawned {
        tracing::error!("cannot start a compilation thread: {e}");
        return None;
    }
    receive.recv_timeout(budget).ok()
}

/// Returns the memory freed by a compilation to the system. glibc keeps freed heap
/// memory for reuse, so without this the hundreds of MiB Cranelift used stay resident
/// long after the compilation.
pub(crate) fn give_back_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of glibc's allocator; it takes no
    // pointers and is thread-safe.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_lets_one_through_at_a_time_and_times_out() {
        let gate = Gate::new(1);
        let first = gate
            .acquire(Duration::from_millis(10))
            .expect("a free turn");
        assert!(gate.acquire(Duration::from_millis(20)).is_none());
        drop(first);
        assert!(gate.acquire(Duration::from_millis(10)).is_some());
    }

    #[test]
    fn a_compilation_over_budget_is_abandoned_but_keeps_its_turn() {
        let gate = Gate::new(1);
        let permit = gate.acquire(Duration::ZERO).unwrap();
        let result = within_budget(permit, Duration::from_millis(20), || {
            std::thread::sleep(Duration::from_millis(300));
        });
        assert!(result.is_none());
        assert!(gate.acquire(Duration::ZERO).is_none(), "still compiling");
        assert!(gate.acquire(Duration::from_secs(5)).is_some());
        let permit = gate.acquire(Duration::ZERO).unwrap();
        assert_eq!(within_budget(permit, Duration::from_secs(5), || 7), Some(7));
    }

    #[test]
    fn costs_over_the_limits_are_refused_with_the_limit() {
        let outline = Outline {
            largest_function: MAX_FUNCTION_BODY + 1,
            ..Outline::default()
        };
        let error = outline.check_cost().unwrap_err().to_string();
        assert!(error.contains(&MAX_FUNCTION_BODY.to_string()), "{error}");
        assert!(Outline::default().check_cost().is_ok());
    }
}

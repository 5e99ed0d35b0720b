//! Gives the hostile fixture a large shadow stack, so that `recurse` overflows the
//! host's wasm stack limit (a `StackOverflow` trap) rather than the guest's own stack
//! in linear memory (a confusing out-of-bounds access).
//!
//! Rust on wasm32 keeps a 1 MiB "shadow" stack for locals in linear memory; each
//! `dive` frame needs a few bytes of it, and would exhaust it after far fewer frames
//! than wasmtime's default 512 KiB native stack allows. With 16 MiB it lasts longer
//! than any sensible `max_wasm_stack`. The memory starts 16 MiB larger, which is well
//! inside the host's 128 MiB limit that `oom` must still break.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
        println!("cargo::rustc-link-arg-cdylib=-zstack-size={}", 16 << 20);
    }
}

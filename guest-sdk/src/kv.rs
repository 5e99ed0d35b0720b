//! A small key-value store private to the plugin on its connector (WIT interface `kv`).
//!
//! Writes are transactional per call: later calls see them only if this call returns a
//! result. A plugin that traps or runs out of time leaves the store as it found it, so
//! "write, then decide" is safe.

use crate::__bindings::platform::kv as wit;

pub use wit::KvError;

/// The value stored under `key`, if any.
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// Store `value` under `key`, replacing what was there.
///
/// Fails when the key is empty or longer than 256 bytes, the value is over 64 KiB, or
/// the plugin holds or writes too many keys.
pub fn set(key: &str, value: &str) -> Result<(), KvError> {
    wit::set(key, value)
}

/// Remove `key`; removing a missing key is not an error.
///
/// Fails when the key is empty or too long, or when this call already changed as
/// many keys as it may (the removal is then not made).
pub fn delete(key: &str) -> Result<(), KvError> {
    wit::remove(key)
}

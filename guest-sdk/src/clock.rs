//! Wall-clock time as the host sees it (WIT interface `clock`).

use crate::__bindings::platform::clock as wit;

/// Milliseconds since the Unix epoch (UTC). The host fixes it for the length of one
/// call, so every reading inside a call agrees.
pub fn now() -> u64 {
    wit::now()
}

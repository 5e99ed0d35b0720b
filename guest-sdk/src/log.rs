//! Levelled lines in the host's log, tagged with the plugin and connector (WIT
//! interface `log`).
//!
//! The host keeps a bounded number of lines per call and truncates long ones, so log
//! what an operator needs to follow a decision, not every step.

use crate::__bindings::platform::log as wit;

pub use wit::Level;

/// Write one line at `level`.
pub fn log(level: Level, message: impl AsRef<str>) {
    wit::log(level, message.as_ref());
}

/// Write one line at trace level.
pub fn trace(message: impl AsRef<str>) {
    log(Level::Trace, message);
}

/// Write one line at debug level.
pub fn debug(message: impl AsRef<str>) {
    log(Level::Debug, message);
}

/// Write one line at info level.
pub fn info(message: impl AsRef<str>) {
    log(Level::Info, message);
}

/// Write one line at warn level.
pub fn warn(message: impl AsRef<str>) {
    log(Level::Warn, message);
}

/// Write one line at error level.
pub fn error(message: impl AsRef<str>) {
    log(Level::Error, message);
}

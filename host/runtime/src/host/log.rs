//! `switchyard:routing/log`: plugin log lines, into tracing and the invocation's result,
//! within a per-invocation bound and a per-plugin quota per minute ([`LogQuota`]).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::HostContext;
use crate::bindings::log;

/// Lines kept per invocation; the rest are counted and reported as dropped, so a
/// plugin logging in a loop cannot flood the host's log or memory.
pub const MAX_LOG_LINES: usize = 100;
/// A line longer than this is cut; 4 KiB holds any useful diagnostic.
pub const MAX_LOG_LINE: usize = 4_096;
/// Lines one plugin may log per minute on one node, across its invocations: a router
/// logging a line for every message at 100 messages a second fits; one logging its
/// per-invocation maximum for every message does not.
pub const LOG_LINES_PER_MINUTE: u64 = 6_000;
/// Bytes of log lines one plugin may log per minute on one node: 1 MiB a minute is
/// 1.4 GiB a day at most, in the server log and in routing records each, and holds a
/// 100-byte line for each of 100 messages a second.
pub const LOG_BYTES_PER_MINUTE: u64 = 1 << 20;

/// One plugin's log budget per minute, shared by its invocations on this node. Lines
/// past it are neither written to the host's log nor kept with the invocation; the
/// invocation says how many it lost, and [`CallLog::quota_dropped`] counts them.
#[derive(Debug)]
pub struct LogQuota {
    lines: u64,
    bytes: u64,
    window: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    lines: u64,
    bytes: u64,
}

impl LogQuota {
    /// A quota of `lines` and `bytes` per minute.
    pub fn new(lines: u64, bytes: u64) -> Self {
        Self {
            lines,
            bytes,
            window: Mutex::new(Window {
                started: Instant::now(),
                lines: 0,
                bytes: 0,
            }),
        }
    }

    /// Takes one line of `bytes` from this minute's budget, if it has room. The minute
    /// is a fixed window: simple, and a burst at its edge costs at most twice the quota.
    pub fn admit(&self, bytes: usize) -> bool {
        let mut window = self.window.lock().expect("log quota");
        if window.started.elapsed() >= Duration::from_secs(60) {
            *window = Window {
                started: Instant::now(),
                lines: 0,
                bytes: 0,
            };
        }
        if window.lines >= self.lines || window.bytes + bytes as u64 > self.bytes {
            return false;
        }
        window.lines += 1;
        window.bytes += bytes as u64;
        true
    }
}

impl Default for LogQuota {
    fn default() -> Self {
        Self::new(LOG_LINES_PER_MINUTE, LOG_BYTES_PER_MINUTE)
    }
}

/// What a caller watches of one invocation besides its result: the plugin's
/// [`LogQuota`], how many lines it dropped, and the lines a failed invocation logged
/// before it failed (a failure carries no [`crate::Invocation`] to hold them).
#[derive(Debug, Default)]
pub struct CallLog {
    quota: Option<Arc<LogQuota>>,
    kept: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    quota_dropped: usize,
    failed_logs: Vec<LogLine>,
}

impl CallLog {
    /// Watches an invocation of a plugin whose lines count against `quota`.
    pub fn with_quota(quota: Arc<LogQuota>) -> Self {
        Self {
            quota: Some(quota),
            kept: Mutex::default(),
        }
    }

    pub(crate) fn quota(&self) -> Option<Arc<LogQuota>> {
        self.quota.clone()
    }

    pub(crate) fn keep(&self, quota_dropped: usize, failed_logs: Option<Vec<LogLine>>) {
        let mut kept = self.kept.lock().expect("call log");
        kept.quota_dropped = quota_dropped;
        if let Some(logs) = failed_logs {
            kept.failed_logs = logs;
        }
    }

    /// Lines the invocation logged past its plugin's quota.
    pub fn quota_dropped(&self) -> usize {
        self.kept.lock().expect("call log").quota_dropped
    }

    /// The lines of the invocation if it failed (bounded like any invocation's).
    pub fn take_failed_logs(&self) -> Vec<LogLine> {
        std::mem::take(&mut self.kept.lock().expect("call log").failed_logs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

/// One line a plugin logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    pub level: LogLevel,
    pub message: String,
}

impl log::Host for HostContext {
    fn log(&mut self, level: log::Level, message: String) -> wasmtime::Result<()> {
        if self.logs.len() >= MAX_LOG_LINES {
            self.dropped_logs += 1;
            return Ok(());
        }
        let message = truncate(message, MAX_LOG_LINE);
        if let Some(quota) = &self.log_quota
            && !quota.admit(message.len())
        {
            self.quota_dropped_logs += 1;
            return Ok(());
        }
        let label = self.env.label.as_str();
        // In the host's log the line stays one line: a plugin must not be able to
        // start a forged log record with a newline. The invocation keeps the original.
        let line = one_line(&message);
        let level = match level {
            log::Level::Trace => {
                tracing::trace!(target: "plugin", source = label, "{line}");
                LogLevel::Trace
            }
            log::Level::Debug => {
                tracing::debug!(target: "plugin", source = label, "{line}");
                LogLevel::Debug
            }
            log::Level::Info => {
                tracing::info!(target: "plugin", source = label, "{line}");
                LogLevel::Info
            }
            log::Level::Warn => {
                tracing::warn!(target: "plugin", source = label, "{line}");
                LogLevel::Warn
            }
            log::Level::Error => {
                tracing::error!(target: "plugin", source = label, "{line}");
                LogLevel::Error
            }
        };
        self.logs.push(LogLine { level, message });
        Ok(())
    }
}

/// `text` with everything that could break or disguise a log line written as an
/// escape (`\n`, `\u{1b}`, `\u{2028}`, ...): control characters (newlines, carriage
/// returns, the ESC of terminal sequences, C1 controls), the Unicode line and paragraph
/// separators some viewers break lines at, and the bidirectional overrides that make
/// text display in another order than it is written.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(needs_escape) {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if needs_escape(c) {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{LogQuota, one_line, truncate};

    #[test]
    fn the_quota_counts_lines_and_bytes() {
        let lines = LogQuota::new(2, 1_000);
        assert!(lines.admit(10) && lines.admit(10));
        assert!(!lines.admit(1), "a third line in the minute");
        let bytes = LogQuota::new(100, 25);
        assert!(bytes.admit(20));
        assert!(!bytes.admit(6), "past the bytes");
        assert!(bytes.admit(5), "a line that still fits");
    }

    #[test]
    fn control_characters_cannot_start_a_new_log_line() {
        assert_eq!(one_line("a\nforged"), "a\\nforged");
        assert_eq!(one_line("a\r\nb"), "a\\r\\nb");
        assert_eq!(one_line("plain, café"), "plain, café");
    }

    #[test]
    fn terminal_escapes_separators_and_bidi_overrides_are_escaped() {
        assert_eq!(one_line("\u{1b}[31mred"), "\\u{1b}[31mred");
        assert_eq!(one_line("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(one_line("a\u{2028}b\u{2029}c"), "a\\u{2028}b\\u{2029}c");
        assert_eq!(one_line("x\u{202e}gnp.exe"), "x\\u{202e}gnp.exe");
        for c in one_line("\n\r\u{1b}\u{7f}\u{85}\u{2028}\u{2066}").chars() {
            assert!(c.is_ascii_graphic(), "{c:?} left unescaped");
        }
    }

    #[test]
    fn truncation_respects_character_boundaries() {
        assert_eq!(truncate("héllo".into(), 2), "h…");
        assert_eq!(truncate("short".into(), 10), "short");
    }
}

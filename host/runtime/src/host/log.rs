//! `switchyard:routing/log`: plugin log lines, into tracing and the invocation's result.

use serde::Serialize;

use super::HostContext;
use crate::bindings::log;

/// Lines kept per invocation; the rest are counted and reported as dropped, so a
/// plugin logging in a loop cannot flood the host's log or memory.
pub const MAX_LOG_LINES: usize = 100;
/// A line longer than this is cut; 4 KiB holds any useful diagnostic.
pub const MAX_LOG_LINE: usize = 4_096;

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
    use super::{one_line, truncate};

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

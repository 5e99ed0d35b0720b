//! Logging setup: tracing to stderr, filtered by `RUST_LOG` (default `info`), as
//! human-readable lines or, with `SWITCHYARD_LOG_FORMAT=json`, as one JSON object per
//! line (with the fields of the spans it happened in) for log collectors.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The environment variable that chooses the log format.
pub const LOG_FORMAT_VAR: &str = "SWITCHYARD_LOG_FORMAT";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// For people at a terminal.
    #[default]
    Text,
    /// One JSON object per line: timestamp, level, target, fields, the current span
    /// and the spans around it.
    Json,
}

impl LogFormat {
    /// Reads [`LOG_FORMAT_VAR`]'s value; unset or empty is [`LogFormat::Text`].
    pub fn parse(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") => Ok(Self::Text),
            Some(v) if v.eq_ignore_ascii_case("text") => Ok(Self::Text),
            Some(v) if v.eq_ignore_ascii_case("json") => Ok(Self::Json),
            Some(other) => Err(format!(
                "{LOG_FORMAT_VAR}={other}: expected `json` or `text`"
            )),
        }
    }
}

/// Installs the global subscriber once, in the format the environment asks for; later
/// calls do nothing. Fails only on an unknown format, before anything is installed.
pub fn init(default_filter: &str) -> Result<(), String> {
    let format = LogFormat::parse(std::env::var(LOG_FORMAT_VAR).ok().as_deref())?;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    // Colours only for a terminal: escape codes in a log file or collector are noise.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_format_is_text_unless_json_is_asked_for() {
        assert_eq!(LogFormat::parse(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("text")), Ok(LogFormat::Text));
        assert_eq!(LogFormat::parse(Some("JSON")), Ok(LogFormat::Json));
        let error = LogFormat::parse(Some("xml")).unwrap_err();
        assert!(error.contains("SWITCHYARD_LOG_FORMAT=xml"), "{error}");
    }
}

//! The settings an admin gave this plugin, typed with serde (WIT interface `config`).
//!
//! A routing application also finds the same settings on
//! [`ConnectorContext::settings`](crate::ConnectorContext::settings); external systems
//! and gateways have only this interface.

use std::fmt;

use serde::de::DeserializeOwned;

use crate::__bindings::platform::config as wit;

/// All settings, deserialized into `T`. The host hands over `{}` when none were given.
pub fn settings<T: DeserializeOwned>() -> Result<T, SettingsError> {
    serde_json::from_str(&wit::settings()).map_err(SettingsError::whole)
}

/// One top-level setting deserialized into `T`, or `None` if it is absent.
pub fn get<T: DeserializeOwned>(key: &str) -> Result<Option<T>, SettingsError> {
    wit::get(key)
        .map(|json| serde_json::from_str(&json).map_err(|e| SettingsError::at(key, e)))
        .transpose()
}

/// All settings as the JSON text the host holds, for plugins that validate by hand.
pub fn raw() -> String {
    wit::settings()
}

/// Settings that did not match the shape the plugin expects.
///
/// It carries serde's explanation (what was expected, and where), which is meant for
/// the admin who wrote the settings: put it in a rejection reason or a log line.
#[derive(Debug)]
pub struct SettingsError {
    key: Option<String>,
    source: serde_json::Error,
}

impl SettingsError {
    pub(crate) fn whole(source: serde_json::Error) -> Self {
        SettingsError { key: None, source }
    }

    pub(crate) fn at(key: &str, source: serde_json::Error) -> Self {
        SettingsError {
            key: Some(key.to_string()),
            source,
        }
    }

    /// The top-level setting at fault, when a single one was read with [`get`].
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Whether the settings were not JSON at all (rather than JSON of the wrong shape).
    pub fn is_syntax(&self) -> bool {
        self.source.is_syntax() || self.source.is_eof()
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "invalid setting {key}: {}", self.source),
            None => write!(f, "invalid settings: {}", self.source),
        }
    }
}

impl std::error::Error for SettingsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_setting_at_fault() {
        let source = serde_json::from_str::<u32>("\"x\"").unwrap_err();
        let err = SettingsError::at("priority", source);
        assert_eq!(err.key(), Some("priority"));
        assert!(!err.is_syntax());
        assert!(
            err.to_string().starts_with("invalid setting priority: "),
            "{err}"
        );
    }

    #[test]
    fn text_that_is_not_json_is_a_syntax_error() {
        let source = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
        assert!(SettingsError::whole(source).is_syntax());
    }
}

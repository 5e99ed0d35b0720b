//! `switchyard:routing/config`: the settings an admin gave a plugin, as JSON.

use serde_json::{Map, Value};

use super::HostContext;
use crate::bindings::config;

/// Settings are small configuration documents; 256 KiB leaves room for long keyword
/// lists while keeping every invocation's copy cheap.
pub const MAX_SETTINGS_LEN: usize = 256 * 1024;

/// A plugin's settings: always a JSON object, parsed once when the settings are saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    text: String,
    fields: Map<String, Value>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("settings are not valid JSON: {0}")]
    Json(String),
    #[error("settings must be a JSON object, not {0}")]
    NotAnObject(&'static str),
    #[error("settings are {0} bytes long, the limit is {MAX_SETTINGS_LEN}")]
    TooLarge(usize),
}

impl Settings {
    pub fn empty() -> Self {
        Self {
            text: "{}".into(),
            fields: Map::new(),
        }
    }

    pub fn parse(text: &str) -> Result<Self, SettingsError> {
        if text.len() > MAX_SETTINGS_LEN {
            return Err(SettingsError::TooLarge(text.len()));
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| SettingsError::Json(e.to_string()))?;
        Self::from_value(value)
    }

    pub fn from_value(value: Value) -> Result<Self, SettingsError> {
        let fields = match value {
            Value::Object(fields) => fields,
            Value::Null => return Err(SettingsError::NotAnObject("null")),
            Value::Bool(_) => return Err(SettingsError::NotAnObject("a boolean")),
            Value::Number(_) => return Err(SettingsError::NotAnObject("a number")),
            Value::String(_) => return Err(SettingsError::NotAnObject("a string")),
            Value::Array(_) => return Err(SettingsError::NotAnObject("an array")),
        };
        // Re-serialise so the plugin always sees compact, canonical JSON.
        let text = Value::Object(fields.clone()).to_string();
        if text.len() > MAX_SETTINGS_LEN {
            return Err(SettingsError::TooLarge(text.len()));
        }
        Ok(Self { text, fields })
    }

    /// The whole document as JSON text.
    pub fn as_json(&self) -> &str {
        &self.text
    }

    /// One top-level field as JSON text.
    pub fn field(&self, key: &str) -> Option<String> {
        self.fields.get(key).map(Value::to_string)
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self::empty()
    }
}

impl config::Host for HostContext {
    fn settings(&mut self) -> wasmtime::Result<String> {
        Ok(self.env.settings.as_json().to_owned())
    }

    fn get(&mut self, key: String) -> wasmtime::Result<Option<String>> {
        Ok(self.env.settings.field(&key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_object_parses_and_fields_come_back_as_json() {
        let settings = Settings::parse(r#"{"a": [1, "x"], "b": "y"}"#).unwrap();
        assert_eq!(settings.field("a").as_deref(), Some(r#"[1,"x"]"#));
        assert_eq!(settings.field("b").as_deref(), Some(r#""y""#));
        assert_eq!(settings.field("c"), None);
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        assert_eq!(
            Settings::parse("[1]"),
            Err(SettingsError::NotAnObject("an array"))
        );
        assert!(matches!(Settings::parse("{"), Err(SettingsError::Json(_))));
    }
}

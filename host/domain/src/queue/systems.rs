//! External systems' fields (seed 000's external systems): what an admin creates or
//! changes, and the rules the result must meet before the store sees it. A change is
//! merged onto the stored system and checked as a whole.

use serde::Deserialize;
use serde_json::{Value, json};

use super::record::{ExternalSystem, SystemKind};
use crate::acd_groups::FieldError;
use crate::connectors::ConnectorToken;
use crate::secrets;

/// A new external system, or the new values of an existing one, checked.
#[derive(Debug, Clone)]
pub struct SystemValues {
    pub name: String,
    pub kind: SystemKind,
    pub plugin: Option<String>,
    pub settings: Value,
    pub token: String,
}

/// A new external system as an admin states it.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemInput {
    /// 1 to 64 letters, digits, `-`, `_` or `.`: it is part of the third party's URLs.
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: String,
    pub kind: SystemKind,
    /// The SHA-256 of an uploaded external-system component: required for `plugin`
    /// systems, refused for `third_party` ones.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub plugin: Option<String>,
    /// The component's settings, a JSON object; `{}` when left out.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// The fields of a stored system to change; the rest keep their values.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemChanges {
    #[schema(pattern = "^[A-Za-z0-9._-]{1,64}$")]
    pub name: Option<String>,
    pub kind: Option<SystemKind>,
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub plugin: Option<String>,
    /// Secrets left out or sent back redacted keep their stored values while the
    /// processor stays the same.
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
    /// Asks for a new token.
    #[serde(default)]
    pub generate_new_token: bool,
}

/// What a system's name may be: it is part of the third party's URLs.
pub const NAME_RULE: &str = "must be 1 to 64 letters, digits, `-`, `_` or `.`";

/// Whether `name` can name a system ([`NAME_RULE`]).
pub fn is_system_name(name: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || "-_.".contains(c);
    !name.is_empty() && name.len() <= 64 && name.chars().all(ok)
}

/// Refuses (in `field`) what cannot name a stored component: the SHA-256 of its bytes,
/// as the upload answered it. Checked before the store looks the plugin up, where
/// PostgreSQL would fail on a NUL.
pub fn check_content_hash(text: &str, field: &'static str) -> Result<(), FieldError> {
    if text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Ok(());
    }
    Err(FieldError::new(
        field,
        format!(
            "`{}` is not the SHA-256 of a plugin uploaded to /api/v1/plugins (64 lowercase \
             hex digits)",
            text.escape_debug()
        ),
    ))
}

impl SystemInput {
    /// The new system's values, with a newly generated token.
    pub fn into_values(self) -> Result<SystemValues, FieldError> {
        values(
            self.name,
            self.kind,
            self.plugin,
            self.settings.unwrap_or_else(|| json!({})),
            ConnectorToken::generate().as_str().to_owned(),
        )
    }
}

impl SystemChanges {
    /// `current` with these changes, checked as a whole. A system switched to another
    /// processor (kind or plugin) is not handed the old one's secrets.
    pub fn apply_to(self, current: ExternalSystem) -> Result<SystemValues, FieldError> {
        let kind = self.kind.unwrap_or(current.kind);
        let plugin = match kind {
            SystemKind::Plugin => self.plugin.or_else(|| current.plugin.clone()),
            SystemKind::ThirdParty => self.plugin,
        };
        let same_processor = kind == current.kind && plugin == current.plugin;
        let token = if self.generate_new_token {
            ConnectorToken::generate().as_str().to_owned()
        } else {
            current.token
        };
        let settings = match self.settings {
            // Secrets sent back redacted, or left out, keep their stored values, but
            // only for the same processor: another must not be handed the old secrets.
            Some(new) if same_processor => secrets::keep_stored(new, &current.settings),
            Some(new) => secrets::keep_stored(new, &json!({})),
            None => current.settings,
        };
        values(
            self.name.unwrap_or(current.name),
            kind,
            plugin,
            settings,
            token,
        )
    }
}

/// Checks a system's fields: a name usable in a URL, a plugin exactly for the
/// `plugin` kind, settings the plugin can be given (an object within the size limit).
fn values(
    name: String,
    kind: SystemKind,
    plugin: Option<String>,
    settings: Value,
    token: String,
) -> Result<SystemValues, FieldError> {
    if !is_system_name(&name) {
        return Err(FieldError::new("name", NAME_RULE));
    }
    if let Some(plugin) = &plugin {
        check_content_hash(plugin, "plugin")?;
    }
    match (kind, &plugin) {
        (SystemKind::Plugin, None) => {
            return Err(FieldError::new(
                "plugin",
                "a plugin system needs the hash of an uploaded external-system plugin",
            ));
        }
        (SystemKind::ThirdParty, Some(_)) => {
            return Err(FieldError::new(
                "plugin",
                "a third-party system processes its entries itself; give no plugin",
            ));
        }
        _ => {}
    }
    super::settings::check_plugin_settings(&settings, "settings")?;
    Ok(SystemValues {
        name,
        kind,
        plugin,
        settings,
        token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const H2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

    fn stored(kind: SystemKind, plugin: Option<&str>) -> ExternalSystem {
        ExternalSystem {
            id: 1,
            name: "cas".into(),
            kind,
            plugin: plugin.map(Into::into),
            settings: json!({ "url": "https://cas.example", "api_key": "SECRET" }),
            token: "old-token".into(),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn changes(fields: Value) -> SystemChanges {
        serde_json::from_value(fields).unwrap()
    }

    #[test]
    fn a_plugin_system_needs_a_plugin_and_a_third_party_none() {
        let input = |kind: &str, plugin: Option<&str>| -> SystemInput {
            serde_json::from_value(json!({ "name": "cas", "kind": kind, "plugin": plugin }))
                .unwrap()
        };
        assert_eq!(
            input("plugin", None).into_values().unwrap_err().field,
            "plugin"
        );
        assert_eq!(
            input("third_party", Some(H1))
                .into_values()
                .unwrap_err()
                .field,
            "plugin"
        );
        let values = input("third_party", None).into_values().unwrap();
        assert_eq!(values.settings, json!({}));
        assert_eq!(values.token.len(), 64);
    }

    #[test]
    fn a_change_keeps_secrets_for_the_same_processor_only() {
        let same =
            changes(json!({ "settings": { "url": "https://new", "api_key": secrets::REDACTED } }))
                .apply_to(stored(SystemKind::Plugin, Some(H1)))
                .unwrap();
        assert_eq!(same.settings["api_key"], "SECRET");
        assert_eq!(same.token, "old-token");
        let other = changes(json!({ "plugin": H2, "settings": { "api_key": secrets::REDACTED } }))
            .apply_to(stored(SystemKind::Plugin, Some(H1)))
            .unwrap();
        assert_eq!(other.plugin.as_deref(), Some(H2));
        assert!(
            other.settings.get("api_key").is_none(),
            "{}",
            other.settings
        );
    }

    #[test]
    fn a_plugin_must_be_named_by_its_hash() {
        let error = changes(json!({ "plugin": "h\u{0}" }))
            .apply_to(stored(SystemKind::Plugin, Some(H1)))
            .unwrap_err();
        assert_eq!(error.field, "plugin");
        assert!(check_content_hash(&"AB".repeat(32), "plugin").is_err());
        assert!(check_content_hash(&"ab".repeat(32), "plugin").is_ok());
    }

    #[test]
    fn a_change_is_checked_as_a_whole_and_can_renew_the_token() {
        let error = changes(json!({ "kind": "plugin" }))
            .apply_to(stored(SystemKind::ThirdParty, None))
            .unwrap_err();
        assert_eq!(error.field, "plugin");
        let renewed = changes(json!({ "generate_new_token": true }))
            .apply_to(stored(SystemKind::ThirdParty, None))
            .unwrap();
        assert_ne!(renewed.token, "old-token");
    }
}

//! The host's own senders' settings: the email server (SMTP) and the SMS gateway. Seed
//! 000 lets a communication into the queue by its media only when these are enabled.

use serde::{Deserialize, Deserializer, Serialize};

use crate::acd_groups::FieldError;
use crate::connectors::Recipient;

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TlsMode {
    /// Plain SMTP: only for a relay on a trusted network (or tests on loopback).
    None,
    /// Plain connection upgraded with STARTTLS, which the server must offer.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
}

impl TlsMode {
    fn default_port(self) -> u16 {
        match self {
            Self::None => 25,
            Self::Starttls => 587,
            Self::Tls => 465,
        }
    }
}

/// The email server settings as stored. The password is kept so the host can log in;
/// [`EmailSettings::view`] is what the API shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailSettings {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The sender of communications created without one.
    pub default_sender: Option<String>,
    pub timeout_seconds: u64,
    /// Tries per entry when the server answers with a temporary (4xx) error or the
    /// connection fails.
    pub max_attempts: u32,
}

impl Default for EmailSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            host: String::new(),
            port: TlsMode::default().default_port(),
            tls: TlsMode::default(),
            username: None,
            password: None,
            default_sender: None,
            timeout_seconds: 30,
            max_attempts: 3,
        }
    }
}

/// The email settings as the API shows them: whether a password is set, never which.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EmailSettingsView {
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: Option<String>,
    pub password_set: bool,
    pub default_sender: Option<String>,
    pub timeout_seconds: u64,
    pub max_attempts: u32,
}

impl EmailSettings {
    pub fn view(&self) -> EmailSettingsView {
        EmailSettingsView {
            enabled: self.enabled,
            host: self.host.clone(),
            port: self.port,
            tls: self.tls,
            username: self.username.clone(),
            password_set: self.password.is_some(),
            default_sender: self.default_sender.clone(),
            timeout_seconds: self.timeout_seconds,
            max_attempts: self.max_attempts,
        }
    }
}

/// `PUT /settings/email`. Fields left out keep their value, except `port`, which
/// follows `tls` unless given; `password: null` removes the password.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailSettingsInput {
    pub enabled: bool,
    pub host: Option<String>,
    pub port: Option<u16>,
    pub tls: Option<TlsMode>,
    #[serde(default, deserialize_with = "present")]
    pub username: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub password: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub default_sender: Option<Option<String>>,
    pub timeout_seconds: Option<u64>,
    pub max_attempts: Option<u32>,
}

/// Tells a field set to `null` (Some(None)) from a field left out (None).
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

impl EmailSettingsInput {
    /// The settings after applying this input to `current`, checked.
    pub fn apply(self, current: &EmailSettings) -> Result<EmailSettings, FieldError> {
        let tls = self.tls.unwrap_or(current.tls);
        let port = match (self.port, self.tls) {
            (Some(port), _) => port,
            (None, Some(tls)) if tls != current.tls => tls.default_port(),
            (None, _) => current.port,
        };
        let settings = EmailSettings {
            enabled: self.enabled,
            host: self
                .host
                .unwrap_or_else(|| current.host.clone())
                .trim()
                .to_owned(),
            port,
            tls,
            username: self.username.unwrap_or_else(|| current.username.clone()),
            password: self.password.unwrap_or_else(|| current.password.clone()),
            default_sender: self
                .default_sender
                .unwrap_or_else(|| current.default_sender.clone()),
            timeout_seconds: self.timeout_seconds.unwrap_or(current.timeout_seconds),
            max_attempts: self.max_attempts.unwrap_or(current.max_attempts),
        };
        settings.check()?;
        Ok(settings)
    }
}

impl EmailSettings {
    fn check(&self) -> Result<(), FieldError> {
        if self.enabled && self.host.is_empty() {
            return Err(FieldError::new(
                "host",
                "an enabled email server needs a host",
            ));
        }
        if self
            .host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(FieldError::new("host", "must be a host name or address"));
        }
        if self.port == 0 {
            return Err(FieldError::new("port", "must be between 1 and 65535"));
        }
        if self.username.is_some() != self.password.is_some() {
            return Err(FieldError::new(
                "password",
                "username and password are given together or not at all",
            ));
        }
        if let Some(sender) = &self.default_sender {
            check_address(sender, "default_sender")?;
        }
        check_range("timeout_seconds", self.timeout_seconds, 1, 300)?;
        check_range("max_attempts", self.max_attempts.into(), 1, 10)?;
        Ok(())
    }
}

/// Checks a plugin's settings by the rules the runtime applies when it hands them to
/// the plugin (a JSON object within the size limit), so that settings which could
/// never run are refused when they are stored rather than found at send time.
pub fn check_plugin_settings(
    settings: &serde_json::Value,
    field: &'static str,
) -> Result<(), FieldError> {
    switchyard_runtime::Settings::from_value(settings.clone())
        .map(|_| ())
        .map_err(|e| FieldError::new(field, e.to_string()))
}

pub use crate::email::check_address;

fn check_range(field: &'static str, value: u64, min: u64, max: u64) -> Result<(), FieldError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(FieldError::new(
            field,
            format!("must be between {min} and {max}, not {value}"),
        ))
    }
}

/// The SMS gateway settings as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SmsSettings {
    pub enabled: bool,
    /// Content hash of the gateway plugin (uploaded to `/plugins`).
    pub gateway_plugin: Option<String>,
    #[schema(value_type = Object)]
    /// The gateway plugin's settings, a JSON object.
    pub settings: serde_json::Value,
    /// The sending number of communications created without one (E.164).
    pub default_sender: Option<String>,
    /// How long an entry may wait for its sending number's rate limit before it fails.
    pub max_wait_seconds: u64,
    pub timeout_seconds: u64,
    /// Tries per entry when the gateway asks for a retry or cannot be reached.
    pub max_attempts: u32,
    /// What gateways present to `POST /sms/receipts`.
    pub receipt_token: String,
}

impl Default for SmsSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            gateway_plugin: None,
            settings: serde_json::json!({}),
            default_sender: None,
            max_wait_seconds: 3_600,
            timeout_seconds: 10,
            max_attempts: 3,
            receipt_token: String::new(),
        }
    }
}

impl SmsSettings {
    /// The settings as the API shows them: the gateway plugin's secrets redacted
    /// ([`crate::secrets`]); the receipt token is shown, since admins configure the
    /// gateway's status callbacks with it.
    pub fn view(&self) -> Self {
        Self {
            settings: crate::secrets::redact(&self.settings),
            ..self.clone()
        }
    }
}

/// `PUT /settings/sms`; fields left out keep their value.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SmsSettingsInput {
    pub enabled: bool,
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub gateway_plugin: Option<Option<String>>,
    #[schema(value_type = Option<Object>)]
    pub settings: Option<serde_json::Value>,
    #[serde(default, deserialize_with = "present")]
    pub default_sender: Option<Option<String>>,
    pub max_wait_seconds: Option<u64>,
    pub timeout_seconds: Option<u64>,
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub generate_new_receipt_token: bool,
}

impl SmsSettingsInput {
    /// The settings after applying this input to `current`, checked except for the
    /// plugin's existence, which the store knows. `new_token` is used when there is no
    /// receipt token yet or a new one was asked for.
    pub fn apply(
        self,
        current: &SmsSettings,
        new_token: String,
    ) -> Result<SmsSettings, FieldError> {
        let default_sender = match self.default_sender {
            Some(Some(number)) => Some(
                Recipient::parse_field(&number, "default_sender")?
                    .as_str()
                    .to_owned(),
            ),
            Some(None) => None,
            None => current.default_sender.clone(),
        };
        let gateway_plugin = self
            .gateway_plugin
            .unwrap_or_else(|| current.gateway_plugin.clone());
        // New settings: secrets sent back redacted, or left out, keep their stored
        // values, but only for the same plugin, so that another gateway is not handed
        // the old one's token. Settings left out are kept whole, as any field is.
        let settings = match self.settings {
            Some(new) if gateway_plugin == current.gateway_plugin => {
                crate::secrets::keep_stored(new, &current.settings)
            }
            Some(new) => crate::secrets::keep_stored(new, &serde_json::json!({})),
            None => current.settings.clone(),
        };
        check_plugin_settings(&settings, "settings")?;
        if self.enabled && gateway_plugin.is_none() {
            return Err(FieldError::new(
                "gateway_plugin",
                "an enabled SMS gateway needs a gateway plugin (upload one to /api/v1/plugins)",
            ));
        }
        let receipt_token = if self.generate_new_receipt_token || current.receipt_token.is_empty() {
            new_token
        } else {
            current.receipt_token.clone()
        };
        let max_wait_seconds = self.max_wait_seconds.unwrap_or(current.max_wait_seconds);
        let timeout_seconds = self.timeout_seconds.unwrap_or(current.timeout_seconds);
        let max_attempts = self.max_attempts.unwrap_or(current.max_attempts);
        check_range("max_wait_seconds", max_wait_seconds, 1, 7 * 86_400)?;
        check_range("timeout_seconds", timeout_seconds, 1, 120)?;
        check_range("max_attempts", max_attempts.into(), 1, 10)?;
        Ok(SmsSettings {
            enabled: self.enabled,
            gateway_plugin,
            settings,
            default_sender,
            max_wait_seconds,
            timeout_seconds,
            max_attempts,
            receipt_token,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(json: &str) -> Result<EmailSettings, FieldError> {
        serde_json::from_str::<EmailSettingsInput>(json)
            .unwrap()
            .apply(&EmailSettings::default())
    }

    #[test]
    fn an_enabled_email_server_needs_a_host() {
        let e = email(r#"{"enabled": true}"#).unwrap_err();
        assert_eq!(e.field, "host");
        assert!(email(r#"{"enabled": false}"#).is_ok());
    }

    #[test]
    fn the_port_follows_the_tls_mode_unless_given() {
        let s = email(r#"{"enabled": true, "host": "mail", "tls": "tls"}"#).unwrap();
        assert_eq!(s.port, 465);
        let s = email(r#"{"enabled": true, "host": "mail", "tls": "none", "port": 2525}"#).unwrap();
        assert_eq!(s.port, 2525);
    }

    #[test]
    fn a_left_out_password_is_kept_and_null_removes_it() {
        let current =
            email(r#"{"enabled": true, "host": "m", "username": "u", "password": "p"}"#).unwrap();
        let keep: EmailSettingsInput = serde_json::from_str(r#"{"enabled": true}"#).unwrap();
        assert_eq!(keep.apply(&current).unwrap().password.as_deref(), Some("p"));
        let clear: EmailSettingsInput =
            serde_json::from_str(r#"{"enabled": true, "username": null, "password": null}"#)
                .unwrap();
        assert_eq!(clear.apply(&current).unwrap().password, None);
        assert!(current.view().password_set);
    }

    #[test]
    fn bad_senders_and_ranges_are_refused() {
        let e = email(r#"{"enabled": false, "default_sender": "not an address"}"#).unwrap_err();
        assert_eq!(e.field, "default_sender");
        let e = email(r#"{"enabled": false, "timeout_seconds": 0}"#).unwrap_err();
        assert_eq!(e.field, "timeout_seconds");
    }

    #[test]
    fn gateway_secrets_are_kept_for_the_same_plugin_only() {
        let current = SmsSettings {
            gateway_plugin: Some("a".into()),
            settings: serde_json::json!({ "url": "u", "auth_token": "secret" }),
            ..SmsSettings::default()
        };
        let input = |json: &str| serde_json::from_str::<SmsSettingsInput>(json).unwrap();
        let same =
            input(r#"{"enabled": false, "settings": {"url": "v", "auth_token": "[redacted]"}}"#)
                .apply(&current, "t".into())
                .unwrap();
        assert_eq!(same.settings["auth_token"], "secret");
        let other = input(r#"{"enabled": false, "gateway_plugin": "b", "settings": {"url": "v"}}"#)
            .apply(&current, "t".into())
            .unwrap();
        assert_eq!(other.settings, serde_json::json!({ "url": "v" }));
    }

    #[test]
    fn an_enabled_sms_gateway_needs_a_plugin_and_gets_a_receipt_token() {
        let input: SmsSettingsInput = serde_json::from_str(r#"{"enabled": true}"#).unwrap();
        let e = input
            .apply(&SmsSettings::default(), "t".into())
            .unwrap_err();
        assert_eq!(e.field, "gateway_plugin");
        let input: SmsSettingsInput = serde_json::from_str(
            r#"{"enabled": true, "gateway_plugin": "abc", "default_sender": "+32 470 99 99 99"}"#,
        )
        .unwrap();
        let s = input.apply(&SmsSettings::default(), "t1".into()).unwrap();
        assert_eq!(s.receipt_token, "t1");
        assert_eq!(s.default_sender.as_deref(), Some("+32470999999"));
        // The token stays unless a new one is asked for.
        let again: SmsSettingsInput = serde_json::from_str(r#"{"enabled": true}"#).unwrap();
        assert_eq!(again.apply(&s, "t2".into()).unwrap().receipt_token, "t1");
    }
}

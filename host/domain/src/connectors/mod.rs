//! SMS receive connectors (seed 002): the number gateways deliver SMS to, the token
//! that guards it, and how its messages are routed, directly to an ACD group or
//! through a routing application. This module holds the rules for a connector's
//! fields; storage is in the store crate and the HTTP resource in the server's API.

pub mod email;
pub mod inbound;
pub mod plugins;
mod recipient;
pub mod twilio;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::acd_groups::{FieldError, validate_name};
use crate::channel::Channel;
pub use plugins::{ActivePlugin, PluginVersion, activates_on_upload};
pub use recipient::Recipient;
use switchyard_runtime::{Limits, MAX_DEADLINE, Settings};

/// Longest incoming SMS subject, in characters: it labels the media event in an agent's
/// list, where a line is what fits.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// How a connector routes what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingType {
    /// Every SMS becomes a media event in the connector's ACD group.
    DirectAcdGroup,
    /// Every SMS goes to the connector's active routing application, which decides.
    RoutingApplication,
}

impl RoutingType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DirectAcdGroup => "direct_acd_group",
            Self::RoutingApplication => "routing_application",
        }
    }

    pub fn parse(text: &str) -> Result<Self, FieldError> {
        match text {
            "direct_acd_group" => Ok(Self::DirectAcdGroup),
            "routing_application" => Ok(Self::RoutingApplication),
            other => Err(FieldError::new(
                "routing_type",
                format!(
                    "`{other}` is not a routing type; use direct_acd_group or routing_application"
                ),
            )),
        }
    }
}

/// The token a gateway presents to post to a connector. 256 random bits, hex-encoded:
/// far beyond guessing, and safe in a header or a query string without escaping.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectorToken(String);

impl ConnectorToken {
    pub fn generate() -> Self {
        Self(hex::encode(rand::random::<[u8; 32]>()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ConnectorToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConnectorToken(..)")
    }
}

/// Per-connector overrides of the host's default plugin limits; a field left out keeps
/// the host's default, so raising one limit does not pin the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PluginLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<usize>,
}

impl PluginLimits {
    /// The limits a plugin of this connector runs with: `defaults` with these
    /// overrides. Whether they fit the engine is the runtime's call
    /// ([`switchyard_runtime::Runtime::check_limits`]); this only refuses what no engine
    /// could accept.
    pub fn resolve(&self, defaults: Limits) -> Result<Limits, FieldError> {
        let field = "plugin_limits";
        let max_deadline_ms = MAX_DEADLINE.as_millis() as u64;
        if self.deadline_ms.is_some_and(|ms| ms > max_deadline_ms) {
            return Err(FieldError::new(
                "plugin_limits.deadline_ms",
                format!("deadline_ms may be at most {max_deadline_ms} (ms)"),
            ));
        }
        let memory = match self.memory_mib {
            Some(mib) => mib
                .checked_mul(1 << 20)
                .ok_or_else(|| FieldError::new(field, "memory_mib is too large"))?,
            None => defaults.memory,
        };
        let limits = Limits {
            fuel: self.fuel.unwrap_or(defaults.fuel),
            deadline: self
                .deadline_ms
                .map_or(defaults.deadline, std::time::Duration::from_millis),
            memory,
            ..defaults
        };
        if limits.fuel == 0 || limits.deadline.is_zero() || limits.memory == 0 {
            return Err(FieldError::new(
                field,
                "fuel, deadline_ms and memory_mib must be positive",
            ));
        }
        Ok(limits)
    }
}

/// A connector as a client states it in POST and PUT (and, after merging with the
/// stored connector, in PATCH). Nothing here is checked yet: see
/// [`ConnectorDefinition::parse`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConnectorInput {
    pub name: String,
    pub recipient: String,
    /// Only here to be refused with a clear message: tokens are generated by the server.
    #[schema(ignore)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Value>,
    #[serde(default)]
    pub require_token: Option<bool>,
    /// Write-only: asks for a new token when this save is stored.
    #[serde(default)]
    pub generate_new_token: bool,
    #[schema(value_type = RoutingType)]
    pub routing_type: String,
    #[serde(default)]
    pub acd_group: Option<i64>,
    #[serde(default)]
    pub incoming_subject: Option<String>,
    #[serde(default)]
    pub fallback_acd_group: Option<i64>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub plugin_settings: Option<Value>,
    #[serde(default)]
    pub plugin_limits: Option<PluginLimits>,
    /// Write-only: the Twilio account's auth token, with which Twilio signs its posts
    /// (`X-Twilio-Signature`); a signed form post needs no connector token. Read back as
    /// `[redacted]`; sending that marker back keeps the stored one, `null` removes it.
    #[serde(default)]
    pub twilio_auth_token: Option<String>,
}

/// A connector that passed every rule that needs no database; whether its groups
/// exist is checked by the store, in the same transaction as the write.
#[derive(Debug, Clone)]
pub struct ConnectorDefinition {
    pub name: String,
    /// SMS or email.
    pub channel: Channel,
    /// The E.164 number of an SMS connector; an email connector's first address.
    pub recipient: String,
    /// Every address an email connector receives for, lower-cased; empty for SMS.
    pub addresses: Vec<String>,
    pub require_token: bool,
    pub generate_new_token: bool,
    pub routing_type: RoutingType,
    pub acd_group: Option<i64>,
    pub incoming_subject: Option<String>,
    pub fallback_acd_group: Option<i64>,
    /// A JSON object, as [`Settings::from_value`] accepts it.
    pub plugin_settings: Value,
    pub plugin_limits: Option<PluginLimits>,
    pub twilio_auth_token: Option<String>,
}

impl ConnectorDefinition {
    /// Checks every field of `input`. `default_limits` are the host's, which
    /// `plugin_limits` overrides.
    pub fn parse(input: ConnectorInput, default_limits: Limits) -> Result<Self, FieldError> {
        let recipient = Recipient::parse(&input.recipient)?;
        Self::parse_routing(
            input,
            Channel::Sms,
            recipient.as_str().to_owned(),
            Vec::new(),
            default_limits,
        )
    }

    /// The rules every connector shares, whatever it receives: name, routing type and
    /// groups, subject, plugin settings and limits, token fields.
    pub(crate) fn parse_routing(
        input: ConnectorInput,
        channel: Channel,
        recipient: String,
        addresses: Vec<String>,
        default_limits: Limits,
    ) -> Result<Self, FieldError> {
        if input.token.is_some() {
            return Err(FieldError::new(
                "token",
                "is generated by the server and cannot be set; send \
                 `\"generate_new_token\": true` to get a new one",
            ));
        }
        validate_name(&input.name)?;
        let routing_type = RoutingType::parse(&input.routing_type)?;
        // Each routing type uses one group field. Refusing the other one, instead of
        // ignoring it, keeps an admin from believing messages go somewhere they don't.
        match routing_type {
            RoutingType::DirectAcdGroup => {
                if input.acd_group.is_none() {
                    return Err(FieldError::new(
                        "acd_group",
                        "is required when routing_type is direct_acd_group",
                    ));
                }
                if input.fallback_acd_group.is_some() {
                    return Err(FieldError::new(
                        "fallback_acd_group",
                        "is only used with routing_type routing_application; direct routing \
                         always uses acd_group",
                    ));
                }
            }
            RoutingType::RoutingApplication => {
                if input.acd_group.is_some() {
                    return Err(FieldError::new(
                        "acd_group",
                        "is only used with routing_type direct_acd_group; the routing \
                         application chooses the group (set fallback_acd_group for when it fails)",
                    ));
                }
            }
        }
        let incoming_subject = match input.incoming_subject {
            Some(subject) if subject.is_empty() => None,
            Some(subject) => {
                validate_subject(&subject)?;
                Some(subject)
            }
            None => None,
        };
        let plugin_settings = input
            .plugin_settings
            .unwrap_or_else(|| Value::Object(Default::default()));
        Settings::from_value(plugin_settings.clone())
            .map_err(|e| FieldError::new("plugin_settings", e.to_string()))?;
        if let Some(limits) = &input.plugin_limits {
            limits.resolve(default_limits)?;
        }
        let twilio_auth_token = match input.twilio_auth_token {
            Some(token) if token == crate::secrets::REDACTED => {
                return Err(FieldError::new(
                    "twilio_auth_token",
                    "is the redaction marker, and no auth token is stored to keep",
                ));
            }
            Some(token)
                if token.is_empty() || token.len() > 256 || token.contains(char::is_control) =>
            {
                return Err(FieldError::new(
                    "twilio_auth_token",
                    "must be the account's auth token: 1 to 256 characters, one line",
                ));
            }
            token => token,
        };
        Ok(Self {
            name: input.name,
            channel,
            recipient,
            addresses,
            require_token: input.require_token.unwrap_or(true),
            generate_new_token: input.generate_new_token,
            routing_type,
            acd_group: input.acd_group,
            incoming_subject,
            fallback_acd_group: input.fallback_acd_group,
            plugin_settings,
            plugin_limits: input.plugin_limits,
            twilio_auth_token,
        })
    }

    /// The groups this connector refers to, with the field that names each.
    pub fn referenced_groups(&self) -> impl Iterator<Item = (&'static str, i64)> {
        [
            ("acd_group", self.acd_group),
            ("fallback_acd_group", self.fallback_acd_group),
        ]
        .into_iter()
        .filter_map(|(field, id)| id.map(|id| (field, id)))
    }
}

/// A subject is one line of at most [`MAX_SUBJECT_CHARS`] characters.
fn validate_subject(subject: &str) -> Result<(), FieldError> {
    let field = "incoming_subject";
    let chars = subject.chars().count();
    if chars > MAX_SUBJECT_CHARS {
        return Err(FieldError::new(
            field,
            format!("is {chars} characters long; at most {MAX_SUBJECT_CHARS} are allowed"),
        ));
    }
    if subject.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must be one line without control characters",
        ));
    }
    Ok(())
}

/// A stored SMS receive connector, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct SmsConnector {
    pub id: i64,
    /// SMS or email: the SMS resource shows only SMS connectors, the email resource
    /// ([`email::EmailConnector`]) the others.
    #[serde(skip)]
    pub channel: Channel,
    pub name: String,
    pub recipient: String,
    /// An email connector's addresses; empty for SMS.
    #[serde(skip)]
    pub addresses: Vec<String>,
    pub token: String,
    pub require_token: bool,
    pub routing_type: RoutingType,
    pub acd_group: Option<i64>,
    pub incoming_subject: Option<String>,
    pub fallback_acd_group: Option<i64>,
    /// Shown with secrets redacted ([`crate::secrets`]); the field itself holds them.
    #[schema(value_type = Object)]
    #[serde(serialize_with = "crate::secrets::serialize_redacted")]
    pub plugin_settings: Value,
    pub plugin_limits: Option<PluginLimits>,
    /// Shown as `[redacted]` when set: a secret is never returned.
    #[schema(value_type = Option<String>)]
    #[serde(serialize_with = "redacted_if_set")]
    pub twilio_auth_token: Option<String>,
    /// The routing application version that handles messages now; `None` until a
    /// plugin is uploaded and activated.
    pub active_plugin: Option<ActivePlugin>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

impl SmsConnector {
    /// The connector restated as input, the base a PATCH is merged onto.
    pub fn to_input(&self) -> ConnectorInput {
        ConnectorInput {
            name: self.name.clone(),
            recipient: self.recipient.clone(),
            token: None,
            require_token: Some(self.require_token),
            generate_new_token: false,
            routing_type: self.routing_type.as_str().to_owned(),
            acd_group: self.acd_group,
            incoming_subject: self.incoming_subject.clone(),
            fallback_acd_group: self.fallback_acd_group,
            plugin_settings: Some(self.plugin_settings.clone()),
            plugin_limits: self.plugin_limits,
            twilio_auth_token: self
                .twilio_auth_token
                .as_ref()
                .map(|_| crate::secrets::REDACTED.to_owned()),
        }
    }

    /// A PATCH merged onto this connector: the fields it names (`null` clears an
    /// optional one) over the connector restated as input. The result is read as a
    /// [`ConnectorInput`] and checked as a whole, so a patch cannot leave a connector
    /// that a PUT would have refused.
    pub fn patched(&self, patch: Map<String, Value>) -> Value {
        merged(&self.to_input(), patch)
    }
}

/// `patch`'s fields over `input`'s: what a connector's PATCH is read from.
pub(crate) fn merged(input: &impl Serialize, patch: Map<String, Value>) -> Value {
    let mut merged = match serde_json::to_value(input) {
        Ok(Value::Object(fields)) => fields,
        _ => unreachable!("a connector input serialises to an object"),
    };
    merged.extend(patch);
    Value::Object(merged)
}

impl ConnectorInput {
    /// Secrets in `plugin_settings` that a write left out or sent back redacted keep
    /// their values stored on `current` ([`crate::secrets::keep_stored`]).
    pub fn keeping_secrets_of(mut self, current: &SmsConnector) -> Self {
        if self.twilio_auth_token.as_deref() == Some(crate::secrets::REDACTED) {
            self.twilio_auth_token = current.twilio_auth_token.clone();
        }
        if let Some(settings) = self.plugin_settings.take() {
            self.plugin_settings = Some(crate::secrets::keep_stored(
                settings,
                &current.plugin_settings,
            ));
        }
        self
    }
}

/// A secret as the API shows it: the redaction marker when set, `null` when not.
fn redacted_if_set<S: serde::Serializer>(
    secret: &Option<String>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str(crate::secrets::REDACTED),
        None => serializer.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> ConnectorInput {
        serde_json::from_value(value).unwrap()
    }

    fn parse(value: Value) -> Result<ConnectorDefinition, FieldError> {
        ConnectorDefinition::parse(input(value), Limits::default())
    }

    #[test]
    fn a_direct_connector_needs_a_group_and_defaults_to_requiring_a_token() {
        let def = parse(json!({
            "name": "sales", "recipient": "+49 30 123456",
            "routing_type": "direct_acd_group", "acd_group": 3,
        }))
        .unwrap();
        assert_eq!(def.recipient.as_str(), "+4930123456");
        assert!(def.require_token);
        assert_eq!(def.plugin_settings, json!({}));
        assert_eq!(
            def.referenced_groups().collect::<Vec<_>>(),
            [("acd_group", 3)]
        );

        let err = parse(json!({
            "name": "sales", "recipient": "+4930123456", "routing_type": "direct_acd_group",
        }))
        .unwrap_err();
        assert_eq!(err.field, "acd_group");
    }

    #[test]
    fn each_routing_type_refuses_the_other_types_group_field() {
        let err = parse(json!({
            "name": "s", "recipient": "+4930123456", "routing_type": "routing_application",
            "acd_group": 1,
        }))
        .unwrap_err();
        assert_eq!(err.field, "acd_group");
        let err = parse(json!({
            "name": "s", "recipient": "+4930123456", "routing_type": "direct_acd_group",
            "acd_group": 1, "fallback_acd_group": 2,
        }))
        .unwrap_err();
        assert_eq!(err.field, "fallback_acd_group");
        let def = parse(json!({
            "name": "s", "recipient": "+4930123456", "routing_type": "routing_application",
            "fallback_acd_group": 2, "require_token": false,
        }))
        .unwrap();
        assert!(!def.require_token);
        assert_eq!(
            def.referenced_groups().collect::<Vec<_>>(),
            [("fallback_acd_group", 2)]
        );
    }

    #[test]
    fn a_client_supplied_token_is_refused() {
        let err = parse(json!({
            "name": "s", "recipient": "+4930123456", "routing_type": "direct_acd_group",
            "acd_group": 1, "token": "mine",
        }))
        .unwrap_err();
        assert_eq!(err.field, "token");
    }

    #[test]
    fn unknown_routing_types_settings_that_are_not_objects_and_bad_limits_are_refused() {
        let base = json!({ "name": "s", "recipient": "+4930123456", "routing_type": "routing_application" });
        let with = |key: &str, value: Value| {
            let mut v = base.clone();
            v[key] = value;
            parse(v).unwrap_err().field
        };
        assert_eq!(with("routing_type", json!("round_robin")), "routing_type");
        assert_eq!(with("plugin_settings", json!([1, 2])), "plugin_settings");
        assert_eq!(with("plugin_limits", json!({ "fuel": 0 })), "plugin_limits");
        assert_eq!(with("incoming_subject", json!("a\nb")), "incoming_subject");
        assert_eq!(with("name", json!("")), "name");
        assert_eq!(with("recipient", json!("12ab")), "recipient");
    }

    #[test]
    fn limit_overrides_keep_the_defaults_they_do_not_name() {
        let defaults = Limits::default();
        let limits = PluginLimits {
            deadline_ms: Some(250),
            ..Default::default()
        }
        .resolve(defaults)
        .unwrap();
        assert_eq!(limits.deadline.as_millis(), 250);
        assert_eq!(limits.fuel, defaults.fuel);
        assert_eq!(limits.memory, defaults.memory);
        let memory = PluginLimits {
            memory_mib: Some(usize::MAX),
            ..Default::default()
        };
        assert!(memory.resolve(defaults).is_err());
    }

    #[test]
    fn a_deadline_override_above_the_maximum_is_refused_naming_field_and_max() {
        let at = |ms| PluginLimits {
            deadline_ms: Some(ms),
            ..Default::default()
        };
        let max = MAX_DEADLINE.as_millis() as u64;
        assert_eq!(
            at(max).resolve(Limits::default()).unwrap().deadline,
            MAX_DEADLINE
        );
        let error = at(max + 1).resolve(Limits::default()).unwrap_err();
        assert_eq!(error.field, "plugin_limits.deadline_ms");
        assert!(
            error.message.contains(&max.to_string()),
            "{}",
            error.message
        );
    }

    #[test]
    fn generated_tokens_carry_256_random_bits() {
        let a = ConnectorToken::generate();
        assert_eq!(a.as_str().len(), 64);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(a, ConnectorToken::generate());
        assert_eq!(format!("{a:?}"), "ConnectorToken(..)");
    }

    #[test]
    fn a_stored_connector_restated_as_input_parses_to_the_same_definition() {
        let connector = SmsConnector {
            id: 1,
            channel: Channel::Sms,
            name: "sales".into(),
            recipient: "+4930123456".into(),
            addresses: Vec::new(),
            token: "t".into(),
            require_token: false,
            routing_type: RoutingType::RoutingApplication,
            acd_group: None,
            incoming_subject: Some("SMS".into()),
            fallback_acd_group: Some(4),
            plugin_settings: json!({ "keywords": ["x"] }),
            plugin_limits: Some(PluginLimits {
                fuel: Some(9),
                ..Default::default()
            }),
            twilio_auth_token: Some("twilio".into()),
            active_plugin: None,
            created_at: 0,
            updated_at: 0,
        };
        let input = connector.to_input();
        assert_eq!(
            input.twilio_auth_token.as_deref(),
            Some(crate::secrets::REDACTED)
        );
        let def =
            ConnectorDefinition::parse(input.keeping_secrets_of(&connector), Limits::default())
                .unwrap();
        assert_eq!(def.fallback_acd_group, Some(4));
        assert!(!def.require_token);
        assert!(!def.generate_new_token);
        assert_eq!(def.plugin_limits, connector.plugin_limits);
        // The auth token is kept, and never shown.
        assert_eq!(def.twilio_auth_token.as_deref(), Some("twilio"));
        let shown = serde_json::to_value(&connector).unwrap();
        assert_eq!(shown["twilio_auth_token"], crate::secrets::REDACTED);
    }
}

//! Agents: the people who take interactions from ACD groups. This module holds the
//! rules for an agent's fields (login, name, password, groups, capacity per channel,
//! how SMS reach them) and the PATCH merge; `password` hashes and checks passwords,
//! `sessions` holds the rules of logging in, and `status` the per-channel
//! ready/not-ready state. Storage is in the store crate, the HTTP resources in the
//! server's API.

pub mod password;
pub mod sessions;
pub mod status;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::acd_groups::{FieldError, validate_name};
use crate::queue::settings::check_address;
pub use status::{ChannelState, ChannelStatus, Channels};

/// Longest login, in characters: it is typed at every login and shown in admin lists.
pub const MAX_LOGIN_CHARS: usize = 64;
/// Shortest password, in characters (OWASP's floor for passwords without a second
/// factor).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password, in characters: long enough for any passphrase or password
/// manager, short enough that hashing it costs nothing extra.
pub const MAX_PASSWORD_CHARS: usize = 256;
/// Most work items an agent may hold at once on one channel.
pub const MAX_CAPACITY: i64 = 100;
/// Capacity of a channel left out: one work item at a time.
pub const DEFAULT_CAPACITY: i64 = 1;
/// Most ACD groups one agent may belong to: a bound on what one request may ask the
/// store to check.
pub const MAX_GROUPS: usize = 1_000;
/// Longest SMS delivery address (RFC 5321's limit on a forward path).
pub const MAX_ADDRESS_CHARS: usize = 254;

/// A login is 1 to [`MAX_LOGIN_CHARS`] ASCII letters, digits, `.`, `_`, `-` or `@`:
/// what fits an employee id or an email address, and nothing that could look like
/// another login on screen. Logins are compared exactly (case matters).
pub fn validate_login(login: &str) -> Result<(), FieldError> {
    let field = "login";
    if login.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let chars = login.chars().count();
    if chars > MAX_LOGIN_CHARS {
        return Err(FieldError::new(
            field,
            format!("is {chars} characters long; at most {MAX_LOGIN_CHARS} are allowed"),
        ));
    }
    if let Some(bad) = login
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')))
    {
        return Err(FieldError::new(
            field,
            format!("must consist of letters, digits, `.`, `_`, `-` and `@` only, not {bad:?}"),
        ));
    }
    Ok(())
}

/// A password is [`MIN_PASSWORD_CHARS`] to [`MAX_PASSWORD_CHARS`] characters; any
/// characters, as password managers generate them.
pub fn validate_password(password: &str) -> Result<(), FieldError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(FieldError::new(
            "password",
            format!(
                "must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters long, not {chars}"
            ),
        ));
    }
    Ok(())
}

/// How an agent receives SMS (seed 002: "whether they receive SMS as emails or whether
/// the web interface is used").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SmsDelivery {
    /// As media events in the agent desktop.
    #[default]
    Web,
    /// Forwarded as email to `sms_delivery_address`.
    Email,
}

impl SmsDelivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Email => "email",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Web, Self::Email]
            .into_iter()
            .find(|d| d.as_str() == text)
    }
}

/// How many work items an agent takes at once, per channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Capacity {
    #[serde(default = "default_capacity")]
    pub sms: i64,
    #[serde(default = "default_capacity")]
    pub email: i64,
}

fn default_capacity() -> i64 {
    DEFAULT_CAPACITY
}

impl Default for Capacity {
    fn default() -> Self {
        Self {
            sms: DEFAULT_CAPACITY,
            email: DEFAULT_CAPACITY,
        }
    }
}

impl Capacity {
    fn validate(&self) -> Result<(), FieldError> {
        for (field, value) in [("capacity.sms", self.sms), ("capacity.email", self.email)] {
            if !(0..=MAX_CAPACITY).contains(&value) {
                return Err(FieldError::new(
                    field,
                    format!("must be between 0 and {MAX_CAPACITY}, not {value}"),
                ));
            }
        }
        Ok(())
    }
}

/// An agent as a client states it in POST and PUT (and, after merging with the stored
/// agent, in PATCH). Nothing here is checked yet: see [`AgentDefinition::parse`].
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentInput {
    pub login: String,
    pub name: String,
    /// Write-only. Required on creation; a PUT or PATCH without it keeps the stored one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    #[serde(default)]
    pub groups: Option<Vec<i64>>,
    #[serde(default)]
    pub capacity: Option<Capacity>,
    #[serde(default)]
    pub sms_delivery: Option<SmsDelivery>,
    #[serde(default)]
    pub sms_delivery_address: Option<String>,
}

/// An agent that passed every rule that needs no database; whether its groups exist is
/// checked by the store, in the same transaction as the write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentDefinition {
    pub login: String,
    pub name: String,
    /// The new password in clear, to be hashed ([`password::hash`]) before storing;
    /// `None` keeps the stored one.
    pub password: Option<String>,
    /// Sorted, without repeats: membership is a set.
    pub groups: Vec<i64>,
    pub capacity: Capacity,
    pub sms_delivery: SmsDelivery,
    pub sms_delivery_address: Option<String>,
}

impl AgentDefinition {
    /// Checks every field of `input`, for a PUT or a merged PATCH.
    pub fn parse(input: AgentInput) -> Result<Self, FieldError> {
        validate_login(&input.login)?;
        validate_name(&input.name)?;
        if let Some(password) = &input.password {
            validate_password(password)?;
        }
        let mut groups = input.groups.unwrap_or_default();
        if groups.len() > MAX_GROUPS {
            return Err(FieldError::new(
                "groups",
                format!(
                    "names {} groups; at most {MAX_GROUPS} are allowed",
                    groups.len()
                ),
            ));
        }
        groups.sort_unstable();
        groups.dedup();
        let capacity = input.capacity.unwrap_or_default();
        capacity.validate()?;
        let sms_delivery = input.sms_delivery.unwrap_or_default();
        let address = input.sms_delivery_address.filter(|a| !a.is_empty());
        match (sms_delivery, &address) {
            (SmsDelivery::Email, None) => {
                return Err(FieldError::new(
                    "sms_delivery_address",
                    "is required when sms_delivery is email",
                ));
            }
            (SmsDelivery::Email, Some(address)) => {
                let chars = address.chars().count();
                if chars > MAX_ADDRESS_CHARS {
                    return Err(FieldError::new(
                        "sms_delivery_address",
                        format!(
                            "is {chars} characters long; at most {MAX_ADDRESS_CHARS} are allowed"
                        ),
                    ));
                }
                check_address(address, "sms_delivery_address")?;
            }
            // Refused rather than kept unused, so an admin does not believe SMS are
            // forwarded somewhere they are not.
            (SmsDelivery::Web, Some(_)) => {
                return Err(FieldError::new(
                    "sms_delivery_address",
                    "is only used with sms_delivery email; send null to clear it",
                ));
            }
            (SmsDelivery::Web, None) => {}
        }
        Ok(Self {
            login: input.login,
            name: input.name,
            password: input.password,
            groups,
            capacity,
            sms_delivery,
            sms_delivery_address: address,
        })
    }

    /// Checks a new agent: as [`AgentDefinition::parse`], and it must have a password.
    pub fn parse_new(input: AgentInput) -> Result<Self, FieldError> {
        if input.password.is_none() {
            return Err(FieldError::new(
                "password",
                "is required when an agent is created",
            ));
        }
        Self::parse(input)
    }
}

/// A stored agent, as the admin API shows it: never its password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Agent {
    pub id: i64,
    pub login: String,
    pub name: String,
    pub groups: Vec<i64>,
    pub capacity: Capacity,
    pub sms_delivery: SmsDelivery,
    pub sms_delivery_address: Option<String>,
    /// The state of each channel, as routing sees it ([`ChannelStatus::effective`]).
    pub channels: Channels,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

impl Agent {
    /// The agent restated as input (without a password, which keeps the stored one):
    /// the base a PATCH is merged onto.
    pub fn to_input(&self) -> AgentInput {
        AgentInput {
            login: self.login.clone(),
            name: self.name.clone(),
            password: None,
            groups: Some(self.groups.clone()),
            capacity: Some(self.capacity),
            sms_delivery: Some(self.sms_delivery),
            sms_delivery_address: self.sms_delivery_address.clone(),
        }
    }

    /// A PATCH merged onto this agent as a JSON merge patch (RFC 7396): the fields it
    /// names replace the stored ones, `null` clears one (an optional field takes its
    /// default), and `capacity` merges channel by channel, so `{"capacity":{"sms":3}}`
    /// keeps the email capacity. The result is read as an [`AgentInput`] and checked as
    /// a whole, so a patch cannot leave an agent that a PUT would have refused.
    pub fn patched(&self, patch: Map<String, Value>) -> Value {
        let mut merged = serde_json::to_value(self.to_input())
            .unwrap_or_else(|_| unreachable!("an agent input serialises"));
        merge_patch(&mut merged, Value::Object(patch));
        merged
    }
}

/// RFC 7396: applies `patch` to `target`.
fn merge_patch(target: &mut Value, patch: Value) {
    let Value::Object(patch) = patch else {
        *target = patch;
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(fields) = target else {
        unreachable!("made an object above")
    };
    for (key, value) in patch {
        if value.is_null() {
            fields.remove(&key);
        } else {
            merge_patch(fields.entry(key).or_insert(Value::Null), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn input(value: Value) -> AgentInput {
        serde_json::from_value(value).unwrap()
    }

    fn parse(value: Value) -> Result<AgentDefinition, FieldError> {
        AgentDefinition::parse_new(input(value))
    }

    fn field(value: Value) -> &'static str {
        parse(value).unwrap_err().field
    }

    fn base() -> Value {
        json!({ "login": "anna.k@example", "name": "Anna K", "password": "correct horse" })
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    #[test]
    fn a_minimal_agent_gets_the_defaults() {
        let def = parse(base()).unwrap();
        assert_eq!(def.groups, Vec::<i64>::new());
        assert_eq!(def.capacity, Capacity { sms: 1, email: 1 });
        assert_eq!(def.sms_delivery, SmsDelivery::Web);
        assert_eq!(def.sms_delivery_address, None);
        assert_eq!(def.password.as_deref(), Some("correct horse"));
    }

    #[test]
    fn logins_take_letters_digits_and_four_marks() {
        for ok in ["a", "A.b_c-d@e", "0", &"x".repeat(64)] {
            assert_eq!(validate_login(ok), Ok(()), "{ok:?}");
        }
        for bad in ["", "an na", "anna!", "änna", &"x".repeat(65), "a\n"] {
            assert_eq!(validate_login(bad).unwrap_err().field, "login", "{bad:?}");
        }
    }

    #[test]
    fn passwords_are_8_to_256_characters_and_required_on_creation() {
        assert_eq!(field(with("password", json!("seven77"))), "password");
        assert_eq!(field(with("password", json!("p".repeat(257)))), "password");
        // Characters, not bytes: 256 two-byte characters are fine.
        assert!(parse(with("password", json!("ü".repeat(256)))).is_ok());
        let mut no_password = base();
        no_password.as_object_mut().unwrap().remove("password");
        assert_eq!(field(no_password.clone()), "password");
        // An update without one keeps the stored password.
        let def = AgentDefinition::parse(input(no_password)).unwrap();
        assert_eq!(def.password, None);
    }

    #[test]
    fn capacity_is_0_to_100_per_channel_and_names_the_channel() {
        let def = parse(with("capacity", json!({ "sms": 0, "email": 100 }))).unwrap();
        assert_eq!(def.capacity, Capacity { sms: 0, email: 100 });
        let def = parse(with("capacity", json!({ "email": 3 }))).unwrap();
        assert_eq!(def.capacity, Capacity { sms: 1, email: 3 });
        assert_eq!(
            field(with("capacity", json!({ "sms": 101 }))),
            "capacity.sms"
        );
        assert_eq!(
            field(with("capacity", json!({ "email": -1 }))),
            "capacity.email"
        );
        let unknown = serde_json::from_value::<AgentInput>(with("capacity", json!({ "fax": 1 })));
        assert!(unknown.is_err());
    }

    #[test]
    fn email_delivery_needs_a_valid_address_and_web_delivery_none() {
        let def = parse(with("sms_delivery", json!("email")));
        assert_eq!(def.unwrap_err().field, "sms_delivery_address");
        let mut v = with("sms_delivery", json!("email"));
        v["sms_delivery_address"] = json!("not an address");
        assert_eq!(field(v.clone()), "sms_delivery_address");
        v["sms_delivery_address"] = json!(format!("{}@example.com", "a".repeat(250)));
        assert_eq!(field(v.clone()), "sms_delivery_address");
        v["sms_delivery_address"] = json!("anna@example.com");
        let def = parse(v).unwrap();
        assert_eq!(def.sms_delivery, SmsDelivery::Email);
        assert_eq!(
            def.sms_delivery_address.as_deref(),
            Some("anna@example.com")
        );
        assert_eq!(
            field(with("sms_delivery_address", json!("anna@example.com"))),
            "sms_delivery_address"
        );
    }

    #[test]
    fn groups_are_a_set_with_a_bound() {
        let def = parse(with("groups", json!([3, 1, 3]))).unwrap();
        assert_eq!(def.groups, [1, 3]);
        let many: Vec<i64> = (0..1_001).collect();
        assert_eq!(field(with("groups", json!(many))), "groups");
        assert_eq!(field(with("name", json!(""))), "name");
        assert_eq!(field(with("login", json!("a b"))), "login");
    }

    fn stored() -> Agent {
        Agent {
            id: 7,
            login: "anna".into(),
            name: "Anna".into(),
            groups: vec![1, 2],
            capacity: Capacity { sms: 2, email: 5 },
            sms_delivery: SmsDelivery::Email,
            sms_delivery_address: Some("anna@example.com".into()),
            channels: Channels::initial(0),
            created_at: 0,
            updated_at: 0,
        }
    }

    fn patch(agent: &Agent, patch: Value) -> Result<AgentDefinition, FieldError> {
        let Value::Object(patch) = patch else {
            panic!("a patch is an object")
        };
        let merged: AgentInput = serde_json::from_value(agent.patched(patch)).unwrap();
        AgentDefinition::parse(merged)
    }

    #[test]
    fn a_patch_keeps_what_it_does_not_name_and_merges_capacity_per_channel() {
        let agent = stored();
        let def = patch(&agent, json!({ "capacity": { "sms": 9 } })).unwrap();
        assert_eq!(def.capacity, Capacity { sms: 9, email: 5 });
        assert_eq!(def.groups, [1, 2]);
        assert_eq!(def.password, None, "the stored password is kept");
        assert_eq!(
            def.sms_delivery_address.as_deref(),
            Some("anna@example.com")
        );

        let def = patch(
            &agent,
            json!({ "password": "a new passphrase", "groups": [] }),
        )
        .unwrap();
        assert_eq!(def.password.as_deref(), Some("a new passphrase"));
        assert!(def.groups.is_empty());

        // Switching to web delivery must clear the address too: checked as a whole.
        let err = patch(&agent, json!({ "sms_delivery": "web" })).unwrap_err();
        assert_eq!(err.field, "sms_delivery_address");
        let def = patch(
            &agent,
            json!({ "sms_delivery": "web", "sms_delivery_address": null }),
        )
        .unwrap();
        assert_eq!(def.sms_delivery, SmsDelivery::Web);
        assert_eq!(def.sms_delivery_address, None);

        // null on capacity restores the defaults.
        let def = patch(&agent, json!({ "capacity": null })).unwrap();
        assert_eq!(def.capacity, Capacity::default());
    }

    #[test]
    fn a_stored_agent_restated_as_input_parses_to_the_same_fields() {
        let agent = stored();
        let def = AgentDefinition::parse(agent.to_input()).unwrap();
        assert_eq!(def.login, agent.login);
        assert_eq!(def.groups, agent.groups);
        assert_eq!(def.capacity, agent.capacity);
        assert_eq!(def.sms_delivery_address, agent.sms_delivery_address);
        assert_eq!(def.password, None);
    }
}

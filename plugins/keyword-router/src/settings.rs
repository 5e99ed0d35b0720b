//! The router's connector settings, validated by hand into [`Settings`].
//!
//! serde would describe a bad field in its own words, and the Python and JavaScript
//! routers cannot repeat those. The rules and texts below are therefore spelled out
//! once, in the same order in all three editions, so every edition rejects the same
//! settings with the same reason. JSON `null` counts as absent.

use std::fmt;

use serde_json::{Map, Value};

/// Validated settings. Every field is optional in the JSON; absent lists are empty.
#[derive(Debug, Default, PartialEq)]
pub struct Settings {
    pub groups: Vec<Group>,
    pub default_group: Option<String>,
    pub auto_reply: Option<String>,
    pub overflow_group: Option<String>,
}

/// One entry of `groups`: the ACD group and the keywords that send messages there.
#[derive(Debug, PartialEq)]
pub struct Group {
    pub name: String,
    pub keywords: Vec<String>,
    pub subject: Option<String>,
    pub priority: u32,
}

/// Why the settings were refused; shown as `invalid settings: <what>`.
#[derive(Debug, PartialEq)]
pub struct InvalidSettings(String);

impl fmt::Display for InvalidSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid settings: {}", self.0)
    }
}

impl Settings {
    /// Parse and validate the connector's settings JSON.
    pub fn parse(text: &str) -> Result<Settings, InvalidSettings> {
        let root: Value =
            serde_json::from_str(text).map_err(|_| InvalidSettings("not valid JSON".into()))?;
        let Value::Object(root) = root else {
            return Err(InvalidSettings("not a JSON object".into()));
        };

        let groups = match present(&root, "groups") {
            None => Vec::new(),
            Some(Value::Array(groups)) => groups
                .iter()
                .enumerate()
                .map(|(i, group)| parse_group(group, &format!("groups[{i}]")))
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(InvalidSettings("groups is not a list".into())),
        };

        Ok(Settings {
            groups,
            default_group: optional_string(&root, "default_group", "default_group")?,
            auto_reply: optional_string(&root, "auto_reply", "auto_reply")?,
            overflow_group: optional_string(&root, "overflow_group", "overflow_group")?,
        })
    }
}

fn parse_group(value: &Value, at: &str) -> Result<Group, InvalidSettings> {
    let Value::Object(group) = value else {
        return Err(InvalidSettings(format!("{at} is not an object")));
    };

    let name = optional_string(group, "group", &format!("{at}.group"))?
        .ok_or_else(|| InvalidSettings(format!("{at}.group is missing")))?;

    let keywords = match present(group, "keywords") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| not_keywords(at))?,
        Some(_) => return Err(not_keywords(at)),
    };

    let subject = optional_string(group, "subject", &format!("{at}.subject"))?;

    let priority = match present(group, "priority") {
        None => 0,
        // as_u64 is None for negatives, fractions (5.0 too) and anything not a number.
        Some(value) => value
            .as_u64()
            .and_then(|p| u32::try_from(p).ok())
            .ok_or_else(|| {
                InvalidSettings(format!(
                    "{at}.priority is not an integer from 0 to {}",
                    u32::MAX
                ))
            })?,
    };

    Ok(Group {
        name,
        keywords,
        subject,
        priority,
    })
}

/// The value under `key`, treating JSON `null` as absent.
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn optional_string(
    object: &Map<String, Value>,
    key: &str,
    at: &str,
) -> Result<Option<String>, InvalidSettings> {
    match present(object, key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(InvalidSettings(format!("{at} is not a string"))),
    }
}

fn not_keywords(at: &str) -> InvalidSettings {
    InvalidSettings(format!("{at}.keywords is not a list of strings"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(text: &str) -> String {
        Settings::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_documented_example_parses() {
        let settings = Settings::parse(
            r#"{
              "groups": [
                { "group": "billing", "keywords": ["bill", "invoice", "direct debit"], "subject": "Billing", "priority": 5 },
                { "group": "support", "keywords": ["broken", "help"] }
              ],
              "default_group": "general",
              "auto_reply": "Thanks! Reply BILL or HELP so we can route you.",
              "overflow_group": "general"
            }"#,
        )
        .unwrap();
        assert_eq!(settings.groups.len(), 2);
        assert_eq!(settings.groups[0].priority, 5);
        assert_eq!(settings.groups[0].subject.as_deref(), Some("Billing"));
        assert_eq!(settings.groups[1].priority, 0);
        assert_eq!(settings.groups[1].subject, None);
        assert_eq!(settings.default_group.as_deref(), Some("general"));
        assert_eq!(settings.overflow_group.as_deref(), Some("general"));
    }

    #[test]
    fn every_field_is_optional_and_null_is_absent() {
        assert_eq!(Settings::parse("{}").unwrap(), Settings::default());
        assert_eq!(
            Settings::parse(r#"{"groups":null,"default_group":null}"#).unwrap(),
            Settings::default()
        );
        let settings = Settings::parse(r#"{"groups":[{"group":"a"}]}"#).unwrap();
        assert!(settings.groups[0].keywords.is_empty());
    }

    #[test]
    fn bad_settings_are_refused_with_the_shared_texts() {
        assert_eq!(reason("{"), "invalid settings: not valid JSON");
        assert_eq!(reason("[]"), "invalid settings: not a JSON object");
        assert_eq!(
            reason(r#"{"groups":{}}"#),
            "invalid settings: groups is not a list"
        );
        assert_eq!(
            reason(r#"{"groups":[{"group":"a"},"b"]}"#),
            "invalid settings: groups[1] is not an object"
        );
        assert_eq!(
            reason(r#"{"groups":[{"keywords":["x"]}]}"#),
            "invalid settings: groups[0].group is missing"
        );
        assert_eq!(
            reason(r#"{"groups":[{"group":1}]}"#),
            "invalid settings: groups[0].group is not a string"
        );
        assert_eq!(
            reason(r#"{"groups":[{"group":"a","keywords":["x",2]}]}"#),
            "invalid settings: groups[0].keywords is not a list of strings"
        );
        assert_eq!(
            reason(r#"{"groups":[{"group":"a","keywords":"x"}]}"#),
            "invalid settings: groups[0].keywords is not a list of strings"
        );
        assert_eq!(
            reason(r#"{"groups":[{"group":"a","subject":false}]}"#),
            "invalid settings: groups[0].subject is not a string"
        );
        assert_eq!(
            reason(r#"{"default_group":["a"]}"#),
            "invalid settings: default_group is not a string"
        );
        assert_eq!(
            reason(r#"{"auto_reply":1}"#),
            "invalid settings: auto_reply is not a string"
        );
        assert_eq!(
            reason(r#"{"overflow_group":{}}"#),
            "invalid settings: overflow_group is not a string"
        );
    }

    #[test]
    fn priority_must_fit_a_u32() {
        let expected =
            "invalid settings: groups[0].priority is not an integer from 0 to 4294967295";
        for bad in ["-1", "4294967296", "5.0", "1.5", "true", "\"5\""] {
            let text = format!(r#"{{"groups":[{{"group":"a","priority":{bad}}}]}}"#);
            assert_eq!(reason(&text), expected, "priority {bad}");
        }
        let text = r#"{"groups":[{"group":"a","priority":4294967295}]}"#;
        assert_eq!(Settings::parse(text).unwrap().groups[0].priority, u32::MAX);
    }

    #[test]
    fn problems_are_checked_groups_first_then_the_single_fields_in_order() {
        assert_eq!(
            reason(r#"{"auto_reply":1,"groups":[{"group":2}],"default_group":3}"#),
            "invalid settings: groups[0].group is not a string"
        );
        assert_eq!(
            reason(r#"{"overflow_group":1,"default_group":2}"#),
            "invalid settings: default_group is not a string"
        );
    }
}

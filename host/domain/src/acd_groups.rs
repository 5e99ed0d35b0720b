//! ACD groups: the queues interactions wait in until an agent takes them. This module
//! holds the rules for a group's fields; storage is in the store crate and the HTTP
//! resource in the server's API.

use serde::Serialize;

/// Longest group name, in characters. Names appear in agent desktops and in routing
/// decisions (`Decision::to_group("billing")`), where a short label is what fits.
pub const MAX_NAME_CHARS: usize = 128;
/// Longest description, in characters: a sentence or two for admins, not a document.
pub const MAX_DESCRIPTION_CHARS: usize = 1024;

/// A field that breaks a rule, with the rule in words for the API caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }
}

/// A group name that passed [`validate_name`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupName(String);

impl GroupName {
    pub fn parse(name: &str) -> Result<Self, FieldError> {
        validate_name(name)?;
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A name is 1 to [`MAX_NAME_CHARS`] characters without control characters and without
/// leading or trailing whitespace. Routing plugins address groups by exact name, so
/// two names that look the same on screen but differ in invisible characters would
/// route messages to the wrong queue; refusing them is kinder than trimming silently.
pub fn validate_name(name: &str) -> Result<(), FieldError> {
    let field = "name";
    if name.is_empty() {
        return Err(FieldError::new(field, "must not be empty"));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(FieldError::new(
            field,
            format!("is {chars} characters long; at most {MAX_NAME_CHARS} are allowed"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            "must not contain control characters",
        ));
    }
    if name.starts_with(char::is_whitespace) || name.ends_with(char::is_whitespace) {
        return Err(FieldError::new(
            field,
            "must not start or end with whitespace",
        ));
    }
    Ok(())
}

/// A description is free text up to [`MAX_DESCRIPTION_CHARS`] characters; line breaks
/// and tabs are fine, other control characters are not.
pub fn validate_description(description: &str) -> Result<(), FieldError> {
    let field = "description";
    let chars = description.chars().count();
    if chars > MAX_DESCRIPTION_CHARS {
        return Err(FieldError::new(
            field,
            format!("is {chars} characters long; at most {MAX_DESCRIPTION_CHARS} are allowed"),
        ));
    }
    if description
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(FieldError::new(
            field,
            "must not contain control characters other than line breaks and tabs",
        ));
    }
    Ok(())
}

/// A stored ACD group, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AcdGroup {
    pub id: i64,
    pub name: String,
    pub description: String,
    /// How long an agent has to answer an offer from this group (ms); `null`: the
    /// default, 30 s.
    pub offer_timeout_ms: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
}

/// A group to create, already validated.
#[derive(Debug, Clone)]
pub struct NewAcdGroup {
    pub name: GroupName,
    pub description: String,
    pub offer_timeout_ms: Option<i64>,
}

impl NewAcdGroup {
    pub fn parse(name: &str, description: Option<&str>) -> Result<Self, FieldError> {
        let description = description.unwrap_or_default();
        validate_description(description)?;
        Ok(Self {
            name: GroupName::parse(name)?,
            description: description.to_owned(),
            offer_timeout_ms: None,
        })
    }

    /// The group with an offer timeout, checked ([`validate_offer_timeout`]).
    pub fn with_offer_timeout(mut self, ms: Option<i64>) -> Result<Self, FieldError> {
        self.offer_timeout_ms = ms.map(validate_offer_timeout).transpose()?;
        Ok(self)
    }
}

/// The shortest and longest offer timeouts a group may set: a second is the least an
/// agent needs to see an offer; a day is longer than any shift.
pub const OFFER_TIMEOUT_MS: std::ops::RangeInclusive<i64> = 1_000..=86_400_000;

/// An offer timeout is within [`OFFER_TIMEOUT_MS`].
pub fn validate_offer_timeout(ms: i64) -> Result<i64, FieldError> {
    if OFFER_TIMEOUT_MS.contains(&ms) {
        Ok(ms)
    } else {
        Err(FieldError::new(
            "offer_timeout_ms",
            format!(
                "must be between {} and {} milliseconds, not {ms}",
                OFFER_TIMEOUT_MS.start(),
                OFFER_TIMEOUT_MS.end()
            ),
        ))
    }
}

/// Changes to a group, already validated; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct AcdGroupChanges {
    pub name: Option<GroupName>,
    pub description: Option<String>,
    /// `Some(None)` goes back to the default timeout.
    pub offer_timeout_ms: Option<Option<i64>>,
}

impl AcdGroupChanges {
    pub fn parse(name: Option<&str>, description: Option<&str>) -> Result<Self, FieldError> {
        if let Some(description) = description {
            validate_description(description)?;
        }
        Ok(Self {
            name: name.map(GroupName::parse).transpose()?,
            description: description.map(str::to_owned),
            offer_timeout_ms: None,
        })
    }

    /// The changes with the offer timeout set (`Some(None)`: back to the default).
    pub fn with_offer_timeout(mut self, ms: Option<Option<i64>>) -> Result<Self, FieldError> {
        self.offer_timeout_ms = match ms {
            Some(Some(ms)) => Some(Some(validate_offer_timeout(ms)?)),
            other => other,
        };
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_names_are_accepted() {
        for name in [
            "billing",
            "Billing & Invoices",
            "Kundendienst Süd",
            "a",
            "x".repeat(128).as_str(),
        ] {
            assert_eq!(validate_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn empty_long_and_control_character_names_are_refused() {
        let message = |name: &str| validate_name(name).unwrap_err().message;
        assert_eq!(message(""), "must not be empty");
        assert!(message(&"x".repeat(129)).contains("at most 128"));
        // 128 characters of two bytes each are still within the limit: it counts
        // characters, not bytes.
        assert_eq!(validate_name(&"ü".repeat(128)), Ok(()));
        assert!(message("bill\ning").contains("control"));
        assert!(message("bill\u{7f}ing").contains("control"));
        assert!(message(" billing").contains("whitespace"));
        assert!(message("billing\u{a0}").contains("whitespace"));
    }

    #[test]
    fn descriptions_allow_line_breaks_but_not_other_control_characters() {
        assert_eq!(validate_description("line one\nline two\tend"), Ok(()));
        assert_eq!(validate_description(""), Ok(()));
        assert!(validate_description("bell\u{7}").is_err());
        assert!(validate_description(&"d".repeat(1025)).is_err());
    }

    #[test]
    fn changes_validate_only_the_fields_they_carry() {
        let changes = AcdGroupChanges::parse(None, Some("new text")).unwrap();
        assert!(changes.name.is_none());
        let err = AcdGroupChanges::parse(Some(""), None).unwrap_err();
        assert_eq!(err.field, "name");
        let err = NewAcdGroup::parse("ok", Some("\u{0}")).unwrap_err();
        assert_eq!(err.field, "description");
        let group = NewAcdGroup::parse("ok", None).unwrap();
        assert_eq!(
            group
                .clone()
                .with_offer_timeout(Some(5_000))
                .unwrap()
                .offer_timeout_ms,
            Some(5_000)
        );
        for bad in [0, 999, 86_400_001, -1] {
            let err = group.clone().with_offer_timeout(Some(bad)).unwrap_err();
            assert_eq!(err.field, "offer_timeout_ms");
        }
    }
}

//! The recipient number of an SMS receive connector: the number gateways deliver to,
//! which is how an inbound SMS finds its connector.

use std::collections::HashMap;
use std::fmt;
use std::sync::{LazyLock, Mutex};

use phonenumber::Mode;

use crate::acd_groups::FieldError;

/// A phone number in E.164 form (`+4930123456`), validated against libphonenumber's
/// metadata for its country.
///
/// Gateways write numbers in many ways (`+49 30 123456`, `+49-30-123456`); inbound
/// messages are matched to connectors by exact comparison of the normalised form, so
/// normalising once here, on the way in, is what makes that lookup reliable and the
/// uniqueness constraint meaningful.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient(String);

/// Numbers already parsed, by their text as written. libphonenumber matches its
/// metadata with regular expressions, about 17 us a number, twice per inbound post; a
/// contact centre hears from the same numbers again and again, and every post names
/// its connector's number. Only valid numbers are kept (the result does not depend
/// on the field), and anyone can post many: past the bound the memo starts over.
static PARSED: LazyLock<Mutex<HashMap<String, Recipient>>> = LazyLock::new(Mutex::default);
const MAX_REMEMBERED: usize = 100_000;

impl Recipient {
    /// Parses a number in international format. There is no default country: a
    /// connector serves numbers from anywhere, and guessing the country of `030 123456`
    /// would bind the connector to whatever the guess was.
    pub fn parse(text: &str) -> Result<Self, FieldError> {
        Self::parse_field(text, "recipient")
    }

    /// [`Recipient::parse`] for a number in another field (an inbound SMS's `from` or
    /// `to`), whose errors name that field.
    pub fn parse_field(text: &str, field: &'static str) -> Result<Self, FieldError> {
        if let Some(known) = PARSED.lock().expect("number memo").get(text) {
            return Ok(known.clone());
        }
        let parsed = Self::parse_uncached(text, field)?;
        let mut memo = PARSED.lock().expect("number memo");
        if memo.len() >= MAX_REMEMBERED {
            memo.clear();
        }
        memo.insert(text.to_owned(), parsed.clone());
        Ok(parsed)
    }

    fn parse_uncached(text: &str, field: &'static str) -> Result<Self, FieldError> {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(FieldError::new(field, "must not be empty"));
        }
        // libphonenumber reads letters as keypad digits (`1-800-FLOWERS`); a number that
        // gateways deliver SMS to is written in digits, so a letter is a typo here.
        if let Some(c) = trimmed
            .chars()
            .find(|c| !(c.is_ascii_digit() || " +-().\u{a0}/".contains(*c)))
        {
            return Err(FieldError::new(
                field,
                format!(
                    "`{text}` contains `{c}`; a number has only digits, spaces and + - ( ) . /"
                ),
            ));
        }
        if !trimmed.starts_with('+') {
            return Err(FieldError::new(
                field,
                format!(
                    "`{text}` is not in international format; write it with `+` and the \
                     country code, e.g. +4930123456"
                ),
            ));
        }
        let number = phonenumber::parse(None, trimmed)
            .map_err(|e| FieldError::new(field, format!("`{text}` is not a phone number: {e}")))?;
        if !phonenumber::is_valid(&number) {
            return Err(FieldError::new(
                field,
                format!("`{text}` is not a valid number for its country code"),
            ));
        }
        Ok(Self(number.format().mode(Mode::E164).to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_normalised_to_e164() {
        for (input, e164) in [
            ("+49 30 123456", "+4930123456"),
            ("+49-30-123456", "+4930123456"),
            ("+4930123456", "+4930123456"),
            (" +44 20 7946 0958 ", "+442079460958"),
            ("+1 (415) 555-2671", "+14155552671"),
        ] {
            assert_eq!(Recipient::parse(input).unwrap().as_str(), e164, "{input}");
        }
    }

    #[test]
    fn malformed_and_unknown_numbers_are_refused_naming_the_field() {
        for input in [
            "",
            "12ab",
            "+999",
            "+49",
            "030 123456",
            "+49 30 12ab56",
            "+1 555",
        ] {
            let err = Recipient::parse(input).unwrap_err();
            assert_eq!(err.field, "recipient", "{input}");
            assert!(!err.message.is_empty());
        }
        assert!(
            Recipient::parse("12ab")
                .unwrap_err()
                .message
                .contains("`a`")
        );
        assert!(
            Recipient::parse("030 123456")
                .unwrap_err()
                .message
                .contains("international format")
        );
    }
}

//! Building the HTTP request that sends one queue entry, or refusing the entry.
//!
//! The entry's own faults (media, direction, number) are checked before the settings:
//! they are permanent and worth reporting as such even while the settings are broken,
//! whereas a `GW-CONFIG` refusal goes away once an admin fixes the settings.

use serde_json::json;
use switchyard_guest::{Channel, Direction, HttpRequest, ProcessError, QueueEntry};

use crate::settings::Settings;
use crate::{MAX_DESCRIPTION_CHARS, Platform, clip};

/// The request that sends `entry`, with the settings `platform` holds.
pub fn build(entry: &QueueEntry, platform: &impl Platform) -> Result<HttpRequest, ProcessError> {
    let communication = &entry.communication;
    if communication.media != Channel::Sms {
        return Err(ProcessError::new(
            "GW-MEDIA",
            format!(
                "the JSON gateway sends SMS only, not {} entries",
                media_name(communication.media)
            ),
        ));
    }
    if communication.direction != Direction::Outgoing {
        return Err(ProcessError::new(
            "GW-DIRECTION",
            "the JSON gateway sends outgoing entries only, not incoming ones",
        ));
    }
    if !is_e164(&communication.recipient) {
        return Err(ProcessError::new(
            "GW-NUMBER",
            format!(
                "recipient {:?} is not an E.164 number (+ and 8 to 15 digits, no spaces)",
                clip(&communication.recipient, 40)
            ),
        ));
    }
    let settings = Settings::parse(&platform.settings()).map_err(|invalid| {
        ProcessError::new(
            "GW-CONFIG",
            clip(&invalid.to_string(), MAX_DESCRIPTION_CHARS),
        )
    })?;

    let from = settings
        .sender_override
        .as_deref()
        .unwrap_or(&communication.sender);
    let body = json!({
        "from": from,
        "to": communication.recipient,
        "text": communication.body,
        // A string, so gateways that store references as text get it verbatim and no
        // JSON number precision question arises for large entry numbers.
        "reference": entry.number.to_string(),
    });

    let mut request = HttpRequest::post(settings.url)
        .header("Content-Type", "application/json")
        // The entry number is stable across retries: a gateway honouring the key sends
        // a retried entry (after a timeout whose request did arrive) only once.
        .header("Idempotency-Key", format!("switchyard-{}", entry.number));
    if let Some(token) = settings.auth_token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    for (name, value) in settings.headers {
        request = request.header(name, value);
    }
    Ok(request.body(body.to_string()))
}

/// `+` and 8 to 15 digits, the first not 0: the shape of an international E.164
/// number (country codes never start with 0). National formats are refused rather than
/// guessed at, since the plugin cannot know which country they belong to.
fn is_e164(number: &str) -> bool {
    let Some(digits) = number.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn media_name(channel: Channel) -> &'static str {
    match channel {
        Channel::Sms => "sms",
        Channel::Email => "email",
        Channel::Device => "device",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_numbers_are_a_plus_and_8_to_15_digits_not_starting_with_0() {
        for good in [
            "+32470123456",
            "+12025550123",
            "+49301234",
            "+123456789012345",
        ] {
            assert!(is_e164(good), "{good}");
        }
        for bad in [
            "",
            "+",
            "32470123456",
            "0470123456",
            "+3247012",
            "+1234567890123456",
            "+032470123456",
            "+32 470 12 34 56",
            "+32-470-123456",
            "+32470１23456",
            "++32470123456",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}

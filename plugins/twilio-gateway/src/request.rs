//! Building the Twilio "create a Message" request for one queue entry, or refusing the
//! entry.
//!
//! The entry's own faults (media, direction, number) are checked before the settings:
//! they are permanent and worth reporting as such even while the settings are broken,
//! whereas a `GW-CONFIG` refusal goes away once an admin fixes the settings.

use switchyard_guest::{Channel, Direction, HttpRequest, ProcessError, QueueEntry};

use crate::encoding::{base64, form};
use crate::settings::Settings;
use crate::{MAX_DESCRIPTION_CHARS, Platform, clip};

/// The request that sends `entry`, with the settings `platform` holds.
pub fn build(entry: &QueueEntry, platform: &impl Platform) -> Result<HttpRequest, ProcessError> {
    let communication = &entry.communication;
    if communication.media != Channel::Sms {
        return Err(ProcessError::new(
            "GW-MEDIA",
            format!(
                "the Twilio gateway sends SMS only, not {} entries",
                media_name(communication.media)
            ),
        ));
    }
    if communication.direction != Direction::Outgoing {
        return Err(ProcessError::new(
            "GW-DIRECTION",
            "the Twilio gateway sends outgoing entries only, not incoming ones",
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

    // Twilio takes either a sender (`From`) or a messaging service that picks one from
    // its pool; the settings allow only one of the two.
    let sender = match &settings.messaging_service_sid {
        Some(service) => ("MessagingServiceSid", service.as_str()),
        None => (
            "From",
            settings
                .sender_override
                .as_deref()
                .unwrap_or(&communication.sender),
        ),
    };
    let mut fields = vec![
        ("To", communication.recipient.as_str()),
        sender,
        ("Body", communication.body.as_str()),
    ];
    if let Some(callback) = &settings.status_callback {
        fields.push(("StatusCallback", callback));
    }

    let credentials = format!("{}:{}", settings.account_sid, settings.auth_token);
    // The entry number is stable across retries, so the key is too: Twilio (which
    // reads its own header) and any proxy following the host's convention (which
    // reads `Idempotency-Key`) create a retried entry's message only once.
    let key = format!("switchyard-{}", entry.number);
    Ok(HttpRequest::post(settings.messages_url())
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header(
            "Authorization",
            format!("Basic {}", base64(credentials.as_bytes())),
        )
        .header("I-Twilio-Idempotency-Token", key.as_str())
        .header("Idempotency-Key", key)
        .body(form(&fields)))
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
            "whatsapp:+32470123456",
        ] {
            assert!(!is_e164(bad), "{bad}");
        }
    }
}

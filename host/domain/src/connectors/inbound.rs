//! What a gateway posts to the SMS Receiver API, in either accepted shape, and the rules
//! a post must satisfy before anything is stored.

use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{Recipient, SmsConnector};
use crate::acd_groups::FieldError;

/// Longest text accepted, in characters. A concatenated SMS has at most 255 parts of
/// 153 GSM characters (39,015); anything longer did not come from a phone.
pub const MAX_TEXT_CHARS: usize = 40_000;
/// Gateway message ids are opaque tokens (Twilio's are 34 characters); 128 leaves room
/// for any aggregator's format while keeping the uniqueness index small.
pub const MAX_MESSAGE_ID: usize = 128;
/// A gateway's clock may run ahead of ours; a day ahead is a wrong clock or a wrong
/// unit (seconds for milliseconds), which is refused rather than stored.
const MAX_CLOCK_SKEW_MS: i64 = 24 * 60 * 60 * 1000;
/// The earliest `received_at` taken: 10^11 ms, 1973-03-03T09:46:40Z. Below it a number
/// is plainly seconds (10^11 s is the year 5138), which read as milliseconds would
/// store a message as received in January 1970.
pub const MIN_RECEIVED_AT_MS: i64 = 100_000_000_000;

/// The JSON shape: `{"from", "to", "text", "message_id", "received_at"?}`. Other fields
/// are ignored: gateways add their own, and refusing them would break a working
/// gateway whenever its vendor adds one.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct JsonSms {
    pub from: String,
    pub to: String,
    pub text: String,
    pub message_id: String,
    #[serde(default)]
    pub received_at: Option<ReceivedAt>,
}

/// `received_at` as RFC 3339 (`2026-11-22T10:15:00Z`) or milliseconds since the epoch
/// (never seconds: see [`received_at_ms`]).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ReceivedAt {
    Millis(i64),
    Text(String),
}

/// The Twilio-style form (`application/x-www-form-urlencoded`): Twilio and several
/// aggregators that copy it post these names, among many others that are ignored.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TwilioSms {
    pub from: String,
    pub to: String,
    pub body: String,
    #[serde(alias = "SmsSid", alias = "SmsMessageSid")]
    pub message_sid: String,
}

/// An inbound SMS that passed every rule: numbers in E.164, text and id within limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSms {
    pub sender: Recipient,
    pub recipient: Recipient,
    pub text: String,
    pub gateway_message_id: String,
    /// Milliseconds since the Unix epoch.
    pub received_at: i64,
}

impl InboundSms {
    pub fn from_json(post: JsonSms, now_ms: i64) -> Result<Self, FieldError> {
        let received_at = match post.received_at {
            None => now_ms,
            Some(at) => received_at_ms(at, now_ms)?,
        };
        Self::new(
            &post.from,
            &post.to,
            post.text,
            post.message_id,
            received_at,
            ["from", "to", "text", "message_id"],
        )
    }

    /// The form carries no time of receipt: the time we got it stands in.
    pub fn from_twilio(post: TwilioSms, now_ms: i64) -> Result<Self, FieldError> {
        Self::new(
            &post.from,
            &post.to,
            post.body,
            post.message_sid,
            now_ms,
            ["From", "To", "Body", "MessageSid"],
        )
    }

    /// `names` are the post's own field names, so errors speak the caller's shape.
    fn new(
        from: &str,
        to: &str,
        text: String,
        message_id: String,
        received_at: i64,
        names: [&'static str; 4],
    ) -> Result<Self, FieldError> {
        let [from_name, to_name, text_name, id_name] = names;
        let sender = Recipient::parse_field(from, from_name)?;
        let recipient = Recipient::parse_field(to, to_name)?;
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(FieldError::new(
                text_name,
                format!("is {chars} characters long; the limit is {MAX_TEXT_CHARS}"),
            ));
        }
        // PostgreSQL cannot store NUL in text; no phone sends one.
        if text.contains('\0') {
            return Err(FieldError::new(text_name, "contains a NUL character"));
        }
        let id = message_id.trim();
        if id.is_empty() {
            return Err(FieldError::new(
                id_name,
                "must not be empty: it is what makes a gateway's retry idempotent",
            ));
        }
        if id.len() > MAX_MESSAGE_ID || id.chars().any(char::is_control) {
            return Err(FieldError::new(
                id_name,
                format!("must be at most {MAX_MESSAGE_ID} bytes without control characters"),
            ));
        }
        Ok(Self {
            sender,
            recipient,
            text,
            gateway_message_id: id.to_owned(),
            received_at,
        })
    }
}

/// The time of receipt a gateway stated, in milliseconds since the Unix epoch. A number
/// is milliseconds; one below [`MIN_RECEIVED_AT_MS`] is refused as seconds (or another
/// mistake) rather than guessed at: a gateway sending seconds sends them every time, and
/// is better told at once than stored in 1970 or converted by a rule of thumb. Text is
/// RFC 3339. Either way the time must lie between 1973 and a day past `now_ms`.
pub fn received_at_ms(at: ReceivedAt, now_ms: i64) -> Result<i64, FieldError> {
    let ms = match at {
        ReceivedAt::Millis(ms) if (1..MIN_RECEIVED_AT_MS).contains(&ms) => {
            return Err(FieldError::new(
                "received_at",
                format!(
                    "{ms} looks like seconds since 1970; send milliseconds (such as {}) or an \
                     RFC 3339 time",
                    ms.saturating_mul(1_000)
                ),
            ));
        }
        ReceivedAt::Millis(ms) => ms,
        ReceivedAt::Text(text) => OffsetDateTime::parse(&text, &Rfc3339)
            .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
            .map_err(|e| {
                FieldError::new(
                    "received_at",
                    format!("`{text}` is not an RFC 3339 time such as 2026-11-22T10:15:00Z: {e}"),
                )
            })?,
    };
    if !(MIN_RECEIVED_AT_MS..=now_ms + MAX_CLOCK_SKEW_MS).contains(&ms) {
        return Err(FieldError::new(
            "received_at",
            format!(
                "{ms} is not a plausible time of receipt (milliseconds since 1970, after \
                 1973-03-03 and not more than a day ahead of the server's clock)"
            ),
        ));
    }
    Ok(ms)
}

/// Why a post was not let through to a connector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Missing,
    Wrong,
}

/// What can be told of a post before its body is read, when the connector it is for
/// (named by the body's `to`) is not known yet: whether any connector could take it.
/// A post with no token when every connector requires one, or with a token that is no
/// connector's, is refused before a byte of its body is read; the full check
/// ([`check_token_for`]) follows once the body names the connector.
#[derive(Debug, Clone, Default)]
pub struct TokenGate {
    /// Some connector takes posts without its token.
    open: bool,
    /// The SHA-256 digests of the connectors' tokens.
    tokens: std::collections::HashSet<[u8; 32]>,
    /// Some connector takes posts signed by Twilio instead of its token.
    signed: bool,
}

impl TokenGate {
    pub fn new<'a>(connectors: impl IntoIterator<Item = &'a SmsConnector>) -> Self {
        let mut gate = Self::default();
        for connector in connectors {
            gate.open |= !connector.require_token;
            gate.signed |= connector.twilio_auth_token.is_some();
            gate.tokens
                .insert(Sha256::digest(connector.token.as_bytes()).into());
        }
        gate
    }

    /// Whether a post presenting `presented` (and a Twilio signature, if `signed`) may
    /// have its body read; a signature can only be checked against the body. Tokens
    /// are looked up by digest, so timing tells nothing of them.
    pub fn admits(&self, presented: Option<&str>, signed: bool) -> Result<(), TokenRefusal> {
        if self.open || (signed && self.signed) {
            return Ok(());
        }
        let presented = presented.ok_or(TokenRefusal::Missing)?;
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        if self.tokens.contains(&digest) {
            Ok(())
        } else {
            Err(TokenRefusal::Wrong)
        }
    }
}

/// Whether a post with `presented` may deliver to `connector`. A connector that does
/// not require its token accepts any post, with or without one. The comparison is of
/// SHA-256 digests in constant time, so timing reveals neither content nor length.
pub fn check_token(connector: &SmsConnector, presented: Option<&str>) -> Result<(), TokenRefusal> {
    if !connector.require_token {
        return Ok(());
    }
    let presented = presented.ok_or(TokenRefusal::Missing)?;
    if same_token(&connector.token, presented) {
        Ok(())
    } else {
        Err(TokenRefusal::Wrong)
    }
}

/// [`check_token`] for the connector found by a post's recipient, if any. A number
/// without a connector is refused exactly as a wrong (or missing) token is, after the
/// same digest comparison, so neither the answer nor its timing tells a caller without
/// a valid token whether the number has a connector. (A connector that does not
/// require its token is open by its own choice; its number can be learnt by posting.)
pub fn check_token_for(
    connector: Option<&SmsConnector>,
    presented: Option<&str>,
) -> Result<(), TokenRefusal> {
    match connector {
        Some(connector) => check_token(connector, presented),
        None => {
            let presented = presented.ok_or(TokenRefusal::Missing)?;
            // Compared against a token no connector has, for the same cost.
            let _ = same_token("\0no connector", presented);
            Err(TokenRefusal::Wrong)
        }
    }
}

/// Whether `presented` is the `expected` token, compared as SHA-256 digests in
/// constant time, so timing reveals neither content nor length. Also used for the
/// receipt token and external systems' tokens.
pub fn same_token(expected: &str, presented: &str) -> bool {
    let expected: [u8; 32] = Sha256::digest(expected.as_bytes()).into();
    let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
    presented.ct_eq(&expected).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_795_340_000_000;

    fn json(from: &str, to: &str, id: &str, received_at: Option<ReceivedAt>) -> JsonSms {
        JsonSms {
            from: from.into(),
            to: to.into(),
            text: "hello".into(),
            message_id: id.into(),
            received_at,
        }
    }

    #[test]
    fn a_valid_post_is_normalised() {
        let sms =
            InboundSms::from_json(json("+49 151 2345 6789", "+4930123456", " m1 ", None), NOW)
                .unwrap();
        assert_eq!(sms.sender.as_str(), "+4915123456789");
        assert_eq!(sms.recipient.as_str(), "+4930123456");
        assert_eq!(sms.gateway_message_id, "m1");
        assert_eq!(sms.received_at, NOW);
    }

    #[test]
    fn received_at_is_read_as_rfc3339_or_millis() {
        let at = |v| {
            InboundSms::from_json(json("+4915123456789", "+4930123456", "m", Some(v)), NOW)
                .map(|s| s.received_at)
        };
        assert_eq!(
            at(ReceivedAt::Text("2026-11-22T10:00:00+01:00".into())).unwrap(),
            1_795_338_000_000
        );
        assert_eq!(at(ReceivedAt::Millis(NOW - 1_000)).unwrap(), NOW - 1_000);
        assert_eq!(
            at(ReceivedAt::Text("yesterday".into())).unwrap_err().field,
            "received_at"
        );
        assert_eq!(
            at(ReceivedAt::Millis(NOW + 2 * MAX_CLOCK_SKEW_MS))
                .unwrap_err()
                .field,
            "received_at"
        );
        assert_eq!(at(ReceivedAt::Millis(-5)).unwrap_err().field, "received_at");
        assert_eq!(
            at(ReceivedAt::Text("1970-01-02T00:00:00Z".into()))
                .unwrap_err()
                .field,
            "received_at"
        );
    }

    #[test]
    fn received_at_in_seconds_is_refused_saying_milliseconds_are_expected() {
        for seconds in [1, 1_795_338_000, MIN_RECEIVED_AT_MS - 1] {
            let e = received_at_ms(ReceivedAt::Millis(seconds), NOW).unwrap_err();
            assert_eq!(e.field, "received_at");
            assert!(e.message.contains("milliseconds"), "{e}");
        }
        assert_eq!(
            received_at_ms(ReceivedAt::Millis(MIN_RECEIVED_AT_MS), NOW),
            Ok(MIN_RECEIVED_AT_MS)
        );
        let e = received_at_ms(ReceivedAt::Millis(1_795_338_000), NOW).unwrap_err();
        assert!(e.message.contains("1795338000000"), "{e}");
    }

    #[test]
    fn an_unknown_number_is_refused_like_a_wrong_or_missing_token() {
        assert_eq!(check_token_for(None, None), Err(TokenRefusal::Missing));
        assert_eq!(
            check_token_for(None, Some("guess")),
            Err(TokenRefusal::Wrong)
        );
    }

    #[test]
    fn bad_fields_are_named_in_the_posts_own_terms() {
        let err = InboundSms::from_json(json("hello", "+4930123456", "m", None), NOW).unwrap_err();
        assert_eq!(err.field, "from");
        let err =
            InboundSms::from_json(json("+4915123456789", "+999", "m", None), NOW).unwrap_err();
        assert_eq!(err.field, "to");
        let err = InboundSms::from_json(json("+4915123456789", "+4930123456", "  ", None), NOW)
            .unwrap_err();
        assert_eq!(err.field, "message_id");
        let long = "x".repeat(MAX_MESSAGE_ID + 1);
        assert!(
            InboundSms::from_json(json("+4915123456789", "+4930123456", &long, None), NOW).is_err()
        );
        let twilio = TwilioSms {
            from: "+4915123456789".into(),
            to: "030".into(),
            body: "hi".into(),
            message_sid: "SM1".into(),
        };
        assert_eq!(
            InboundSms::from_twilio(twilio, NOW).unwrap_err().field,
            "To"
        );
        let mut post = json("+4915123456789", "+4930123456", "m", None);
        post.text = "a".repeat(MAX_TEXT_CHARS + 1);
        assert_eq!(InboundSms::from_json(post, NOW).unwrap_err().field, "text");
        let mut post = json("+4915123456789", "+4930123456", "m", None);
        post.text = "nul\0".into();
        assert_eq!(InboundSms::from_json(post, NOW).unwrap_err().field, "text");
    }

    fn connector(token: &str, require_token: bool, twilio: Option<&str>) -> SmsConnector {
        SmsConnector {
            id: 1,
            channel: crate::channel::Channel::Sms,
            name: "line".into(),
            recipient: "+4930123456".into(),
            addresses: Vec::new(),
            token: token.into(),
            require_token,
            routing_type: super::super::RoutingType::DirectAcdGroup,
            acd_group: Some(1),
            incoming_subject: None,
            fallback_acd_group: None,
            plugin_settings: serde_json::json!({}),
            plugin_limits: None,
            twilio_auth_token: twilio.map(str::to_owned),
            active_plugin: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_gate_lets_a_body_be_read_only_if_some_connector_could_take_the_post() {
        let closed = [connector("a", true, None), connector("b", true, None)];
        let gate = TokenGate::new(&closed);
        assert_eq!(gate.admits(None, false), Err(TokenRefusal::Missing));
        assert_eq!(gate.admits(Some("c"), false), Err(TokenRefusal::Wrong));
        assert_eq!(gate.admits(Some("b"), false), Ok(()));
        // A signature is checked against the body, but only a connector with Twilio's
        // auth token takes one.
        assert_eq!(gate.admits(None, true), Err(TokenRefusal::Missing));
        let signed = [connector("a", true, Some("auth"))];
        assert_eq!(TokenGate::new(&signed).admits(None, true), Ok(()));
        assert_eq!(
            TokenGate::new(&signed).admits(None, false),
            Err(TokenRefusal::Missing)
        );
        // A connector open to all lets every post through to the full check.
        let open = [connector("a", true, None), connector("b", false, None)];
        assert_eq!(TokenGate::new(&open).admits(None, false), Ok(()));
        // No connector at all: nothing gets in.
        assert_eq!(
            TokenGate::new(&[]).admits(Some("a"), false),
            Err(TokenRefusal::Wrong)
        );
    }
}

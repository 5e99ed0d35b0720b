//! The Twilio gateway's settings, validated by hand into [`Settings`].
//!
//! Everything that would make a request Twilio or the host refuses (a SID of the wrong
//! shape, a non-http URL, a token that cannot go into a header) is refused here first,
//! so a misconfigured gateway shows up as a `GW-CONFIG` error that names the setting
//! rather than as a failed message per entry or a plugin that broke the host's
//! contract. JSON `null` counts as absent. The auth token is never quoted in an error:
//! descriptions end up in the entry's log, where secrets do not belong.

use std::fmt;

use serde_json::{Map, Value};

/// Twilio's production API.
pub const DEFAULT_BASE_URL: &str = "https://api.twilio.com";

/// The host refuses longer URLs (`MAX_URL` in the host).
const MAX_URL: usize = 2_048;

/// What the plugin appends to `base_url`: `/2010-04-01/Accounts/` (21 bytes), the
/// 34-byte account SID and `/Messages.json` (14 bytes). `base_url` may take the rest.
const MESSAGES_PATH_BYTES: usize = 21 + 34 + 14;
const MAX_BASE_URL: usize = MAX_URL - MESSAGES_PATH_BYTES;

const FIELDS: [&str; 6] = [
    "account_sid",
    "auth_token",
    "base_url",
    "status_callback",
    "messaging_service_sid",
    "sender_override",
];

/// Validated settings.
#[derive(Debug, PartialEq)]
pub struct Settings {
    pub account_sid: String,
    pub auth_token: String,
    /// Without trailing slashes, so the path can be appended as it is.
    pub base_url: String,
    pub status_callback: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub sender_override: Option<String>,
}

/// Why the settings were refused; shown as `invalid settings: <what>`.
#[derive(Debug, PartialEq)]
pub struct InvalidSettings(String);

impl fmt::Display for InvalidSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid settings: {}", self.0)
    }
}

fn invalid(what: impl Into<String>) -> InvalidSettings {
    InvalidSettings(what.into())
}

impl Settings {
    /// Parse and validate the settings JSON the host hands over.
    pub fn parse(text: &str) -> Result<Settings, InvalidSettings> {
        let root: Value = serde_json::from_str(text).map_err(|_| invalid("not valid JSON"))?;
        let Value::Object(root) = root else {
            return Err(invalid("not a JSON object"));
        };
        // A misspelt optional setting (`statusCallback`) would otherwise be ignored and
        // messages sent without it; refusing it makes the typo visible.
        if let Some(unknown) = root.keys().find(|key| !FIELDS.contains(&key.as_str())) {
            return Err(invalid(format!(
                "unknown setting {unknown} (known: {})",
                FIELDS.join(", ")
            )));
        }

        let account_sid =
            string(&root, "account_sid")?.ok_or_else(|| invalid("account_sid is missing"))?;
        // It becomes a path segment of the URL: the shape check also keeps `/`, `?` and
        // spaces out of the path.
        if !is_sid(&account_sid, "AC") {
            return Err(invalid(
                "account_sid is not AC followed by 32 hexadecimal digits",
            ));
        }

        let auth_token =
            string(&root, "auth_token")?.ok_or_else(|| invalid("auth_token is missing"))?;
        if auth_token.is_empty() {
            return Err(invalid("auth_token is empty"));
        }
        // Base64 would carry a line break into the header safely, but no real token has
        // one: it is a paste accident that Twilio would answer with 401 on every entry.
        if auth_token.chars().any(char::is_control) {
            return Err(invalid("auth_token contains control characters"));
        }

        let base_url = match string(&root, "base_url")? {
            None => DEFAULT_BASE_URL.to_string(),
            Some(url) => base_url(&url)?,
        };

        let status_callback = string(&root, "status_callback")?;
        if let Some(url) = &status_callback {
            check_url("status_callback", url)?;
            if url.len() > MAX_URL {
                return Err(invalid(format!(
                    "status_callback is longer than {MAX_URL} bytes"
                )));
            }
        }

        let messaging_service_sid = string(&root, "messaging_service_sid")?;
        if messaging_service_sid
            .as_deref()
            .is_some_and(|sid| !is_sid(sid, "MG"))
        {
            return Err(invalid(
                "messaging_service_sid is not MG followed by 32 hexadecimal digits",
            ));
        }

        let sender_override = string(&root, "sender_override")?;
        if sender_override
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(invalid("sender_override is empty"));
        }
        // With a messaging service Twilio picks the sender from the service's pool; a
        // `From` beside it would either be ignored or have to be in that pool. Refusing
        // the pair leaves no doubt about which number messages come from.
        if sender_override.is_some() && messaging_service_sid.is_some() {
            return Err(invalid(
                "sender_override and messaging_service_sid exclude each other \
                 (the messaging service chooses the sender)",
            ));
        }

        Ok(Settings {
            account_sid,
            auth_token,
            base_url,
            status_callback,
            messaging_service_sid,
            sender_override,
        })
    }

    /// Where messages are created: Twilio's Messages resource of the account.
    pub fn messages_url(&self) -> String {
        format!(
            "{}/2010-04-01/Accounts/{}/Messages.json",
            self.base_url, self.account_sid
        )
    }
}

/// `prefix` and 32 hexadecimal digits, the shape of a Twilio SID (Twilio's API
/// description allows both cases: `^AC[0-9a-fA-F]{32}$`).
fn is_sid(sid: &str, prefix: &str) -> bool {
    sid.strip_prefix(prefix)
        .is_some_and(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The validated `base_url` without trailing slashes. It may carry a path (a proxy's
/// prefix), but no query or fragment: the plugin appends the Messages path to it.
fn base_url(url: &str) -> Result<String, InvalidSettings> {
    check_url("base_url", url)?;
    if url.contains(['?', '#']) {
        return Err(invalid(format!(
            "base_url {url:?} has a query or fragment (the plugin appends a path to it)"
        )));
    }
    let trimmed = url.trim_end_matches('/');
    if trimmed.len() > MAX_BASE_URL {
        return Err(invalid(format!(
            "base_url is longer than {MAX_BASE_URL} bytes (with the Messages path, \
             the host takes at most {MAX_URL})"
        )));
    }
    Ok(trimmed.to_string())
}

fn check_url(key: &str, url: &str) -> Result<(), InvalidSettings> {
    // The host checks the scheme case-sensitively, so only lowercase schemes pass.
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid(format!("{key} {url:?} is not an http:// or https:// URL")))?;
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Err(invalid(format!("{key} {url:?} has no host")));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!(
            "{key} {url:?} contains spaces or control characters"
        )));
    }
    Ok(())
}

/// The value under `key`, treating JSON `null` as absent.
fn present<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|value| !value.is_null())
}

fn string(object: &Map<String, Value>, key: &str) -> Result<Option<String>, InvalidSettings> {
    match present(object, key) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(invalid(format!("{key} is not a string"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "AC0123456789abcdef0123456789abcdef";
    const MG: &str = "MG0123456789ABCDEF0123456789ABCDEF";

    /// The minimal valid settings plus `extra` (JSON members, with a leading comma).
    fn with(extra: &str) -> String {
        format!(r#"{{"account_sid":"{SID}","auth_token":"t0k"{extra}}}"#)
    }

    fn reason(text: &str) -> String {
        Settings::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn the_messages_path_is_as_long_as_the_constant_says() {
        let settings = Settings::parse(&with("")).unwrap();
        assert_eq!(
            settings.messages_url().len(),
            DEFAULT_BASE_URL.len() + MESSAGES_PATH_BYTES
        );
    }

    #[test]
    fn a_full_example_parses() {
        let settings = Settings::parse(&format!(
            r#"{{"account_sid":"{SID}","auth_token":"t0k",
                "base_url":"https://twilio-proxy.example/api/",
                "status_callback":"https://cc.example/twilio/status?tenant=acme",
                "messaging_service_sid":"{MG}"}}"#
        ))
        .unwrap();
        assert_eq!(
            settings,
            Settings {
                account_sid: SID.into(),
                auth_token: "t0k".into(),
                base_url: "https://twilio-proxy.example/api".into(),
                status_callback: Some("https://cc.example/twilio/status?tenant=acme".into()),
                messaging_service_sid: Some(MG.into()),
                sender_override: None,
            }
        );
        assert_eq!(
            settings.messages_url(),
            format!("https://twilio-proxy.example/api/2010-04-01/Accounts/{SID}/Messages.json")
        );
    }

    #[test]
    fn only_the_account_is_required_and_null_is_absent() {
        let settings = Settings::parse(&with(
            r#","base_url":null,"status_callback":null,"messaging_service_sid":null,"sender_override":null"#,
        ))
        .unwrap();
        assert_eq!(
            settings,
            Settings {
                account_sid: SID.into(),
                auth_token: "t0k".into(),
                base_url: DEFAULT_BASE_URL.into(),
                status_callback: None,
                messaging_service_sid: None,
                sender_override: None,
            }
        );
        assert_eq!(
            settings.messages_url(),
            format!("https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json")
        );
    }

    #[test]
    fn malformed_settings_are_refused() {
        assert_eq!(reason("{"), "invalid settings: not valid JSON");
        assert_eq!(reason("[]"), "invalid settings: not a JSON object");
        assert_eq!(
            reason(&with(r#","statusCallback":"https://cb.example""#)),
            "invalid settings: unknown setting statusCallback (known: account_sid, \
             auth_token, base_url, status_callback, messaging_service_sid, sender_override)"
        );
    }

    #[test]
    fn account_sid_is_required_and_shaped_ac_and_32_hex_digits() {
        assert_eq!(
            reason(r#"{"auth_token":"t"}"#),
            "invalid settings: account_sid is missing"
        );
        assert_eq!(
            reason(r#"{"account_sid":null,"auth_token":"t"}"#),
            "invalid settings: account_sid is missing"
        );
        assert_eq!(
            reason(r#"{"account_sid":42,"auth_token":"t"}"#),
            "invalid settings: account_sid is not a string"
        );
        let hex = "0123456789abcdef0123456789abcdef";
        for bad in [
            String::new(),
            hex.to_string(),
            format!("ac{hex}"),
            format!("MG{hex}"),
            format!("AC{}", &hex[1..]),
            format!("AC{hex}0"),
            format!("AC{}g", &hex[1..]),
            format!("AC{}/", &hex[1..]),
            format!(" AC{hex}"),
        ] {
            assert_eq!(
                reason(&format!(r#"{{"account_sid":"{bad}","auth_token":"t"}}"#)),
                "invalid settings: account_sid is not AC followed by 32 hexadecimal digits",
                "{bad}"
            );
        }
        let upper = format!("AC{}", hex.to_uppercase());
        let settings =
            Settings::parse(&format!(r#"{{"account_sid":"{upper}","auth_token":"t"}}"#)).unwrap();
        assert_eq!(settings.account_sid, upper);
    }

    #[test]
    fn auth_token_is_required_non_empty_and_free_of_control_characters() {
        let token = |value: &str| format!(r#"{{"account_sid":"{SID}","auth_token":{value}}}"#);
        assert_eq!(
            reason(&format!(r#"{{"account_sid":"{SID}"}}"#)),
            "invalid settings: auth_token is missing"
        );
        assert_eq!(
            reason(&token("null")),
            "invalid settings: auth_token is missing"
        );
        assert_eq!(
            reason(&token("123")),
            "invalid settings: auth_token is not a string"
        );
        assert_eq!(
            reason(&token(r#""""#)),
            "invalid settings: auth_token is empty"
        );
        for bad in [r#""a\nb""#, r#""a\rb""#, r#""ab\u0000""#, r#""\tab""#] {
            let text = token(bad);
            assert_eq!(
                reason(&text),
                "invalid settings: auth_token contains control characters",
                "{bad}"
            );
            assert!(!reason(&text).contains("ab"), "the token is never quoted");
        }
        // Anything else goes: a colon does not confuse Basic auth, which splits at the
        // first one, and the account SID has none.
        assert_eq!(
            Settings::parse(&token(r#""p:ss wörd""#))
                .unwrap()
                .auth_token,
            "p:ss wörd"
        );
    }

    #[test]
    fn base_url_is_an_http_url_with_a_host_and_loses_its_trailing_slashes() {
        let base = |url: &str| {
            Settings::parse(&with(&format!(r#","base_url":"{url}""#))).map(|s| s.base_url)
        };
        assert_eq!(
            base("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            base("https://api.twilio.com/").unwrap(),
            "https://api.twilio.com"
        );
        assert_eq!(
            base("https://proxy.example/tw//").unwrap(),
            "https://proxy.example/tw"
        );
        for bad in [
            "",
            "ftp://api.twilio.com",
            "HTTPS://api.twilio.com",
            "api.twilio.com",
            "https://",
            "https:///",
            "https:///path",
        ] {
            let reason = base(bad).unwrap_err().to_string();
            assert!(
                reason.starts_with("invalid settings: base_url "),
                "{bad}: {reason}"
            );
        }
        assert_eq!(
            base("https://a.example/s end").unwrap_err().to_string(),
            r#"invalid settings: base_url "https://a.example/s end" contains spaces or control characters"#
        );
        assert_eq!(
            base("https://a.example/?region=ie1")
                .unwrap_err()
                .to_string(),
            r#"invalid settings: base_url "https://a.example/?region=ie1" has a query or fragment (the plugin appends a path to it)"#
        );
        assert!(base("https://a.example#x").is_err());
        assert_eq!(
            reason(&with(r#","base_url":1"#)),
            "invalid settings: base_url is not a string"
        );
    }

    #[test]
    fn base_url_leaves_room_for_the_messages_path_within_the_host_limit() {
        let url = |len: usize| format!("https://a.example/{}", "x".repeat(len - 18));
        let longest =
            Settings::parse(&with(&format!(r#","base_url":"{}""#, url(MAX_BASE_URL)))).unwrap();
        assert_eq!(longest.messages_url().len(), MAX_URL);
        assert_eq!(
            reason(&with(&format!(
                r#","base_url":"{}""#,
                url(MAX_BASE_URL + 1)
            ))),
            "invalid settings: base_url is longer than 1979 bytes \
             (with the Messages path, the host takes at most 2048)"
        );
    }

    #[test]
    fn status_callback_is_an_http_url_with_a_host() {
        let callback = |url: &str| {
            Settings::parse(&with(&format!(r#","status_callback":"{url}""#)))
                .map(|s| s.status_callback)
        };
        // Kept exactly as given: a query is fine, a trailing slash is the admin's call.
        assert_eq!(
            callback("https://cc.example/status/?t=1")
                .unwrap()
                .as_deref(),
            Some("https://cc.example/status/?t=1")
        );
        for bad in [
            "",
            "cc.example/status",
            "mailto:ops@cc.example",
            "https://",
            "http:///x",
        ] {
            let reason = callback(bad).unwrap_err().to_string();
            assert!(
                reason.starts_with("invalid settings: status_callback "),
                "{bad}: {reason}"
            );
        }
        assert_eq!(
            callback("https://cc.example/a\\tb")
                .unwrap_err()
                .to_string(),
            "invalid settings: status_callback \"https://cc.example/a\\tb\" contains spaces or control characters"
        );
        let long = format!("https://cc.example/{}", "x".repeat(MAX_URL));
        assert_eq!(
            callback(&long).unwrap_err().to_string(),
            "invalid settings: status_callback is longer than 2048 bytes"
        );
        assert_eq!(
            reason(&with(r#","status_callback":true"#)),
            "invalid settings: status_callback is not a string"
        );
    }

    #[test]
    fn messaging_service_sid_is_shaped_mg_and_32_hex_digits() {
        let service = |sid: &str| {
            Settings::parse(&with(&format!(r#","messaging_service_sid":"{sid}""#)))
                .map(|s| s.messaging_service_sid)
        };
        assert_eq!(service(MG).unwrap().as_deref(), Some(MG));
        for bad in [
            "",
            "MG123",
            &format!("AC{}", &MG[2..]),
            &format!("mg{}", &MG[2..]),
        ] {
            assert_eq!(
                service(bad).unwrap_err().to_string(),
                "invalid settings: messaging_service_sid is not MG followed by 32 hexadecimal digits",
                "{bad}"
            );
        }
        assert_eq!(
            reason(&with(r#","messaging_service_sid":[]"#)),
            "invalid settings: messaging_service_sid is not a string"
        );
    }

    #[test]
    fn sender_override_is_not_blank_and_excludes_a_messaging_service() {
        let settings = Settings::parse(&with(r#","sender_override":"ACME""#)).unwrap();
        assert_eq!(settings.sender_override.as_deref(), Some("ACME"));
        assert_eq!(
            reason(&with(r#","sender_override":"  ""#)),
            "invalid settings: sender_override is empty"
        );
        assert_eq!(
            reason(&with(r#","sender_override":5"#)),
            "invalid settings: sender_override is not a string"
        );
        assert_eq!(
            reason(&with(&format!(
                r#","sender_override":"ACME","messaging_service_sid":"{MG}""#
            ))),
            "invalid settings: sender_override and messaging_service_sid exclude each other \
             (the messaging service chooses the sender)"
        );
    }
}

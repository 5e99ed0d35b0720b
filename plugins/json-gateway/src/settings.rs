//! The gateway's settings, validated by hand into [`Settings`].
//!
//! Everything the host would refuse in a built request (a non-http URL, a header name
//! that is not a token, a line break in a value, too many headers) is refused here
//! first, so a misconfigured gateway shows up as a `GW-CONFIG` error that names the
//! setting, instead of as a plugin that broke the host's contract. JSON `null` counts
//! as absent.

use std::fmt;

use serde_json::{Map, Value};

/// Headers the plugin always sets itself. They are not overridable from `headers`:
/// replacing `Idempotency-Key` would silently lose the protection against double sends.
pub const OWN_HEADERS: [&str; 2] = ["Content-Type", "Idempotency-Key"];

/// The host sends at most this many headers per request (`MAX_HEADERS` in the host).
const MAX_HEADERS: usize = 32;

/// The host refuses longer URLs (`MAX_URL` in the host).
const MAX_URL: usize = 2_048;

const FIELDS: [&str; 4] = ["url", "auth_token", "headers", "sender_override"];

/// Validated settings.
#[derive(Debug, PartialEq)]
pub struct Settings {
    pub url: String,
    pub auth_token: Option<String>,
    /// Extra headers, in name order (serde_json keeps object keys sorted).
    pub headers: Vec<(String, String)>,
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
        // A misspelt optional setting (`auth-token`) would otherwise be ignored and the
        // gateway called without it; refusing it makes the typo visible.
        if let Some(unknown) = root.keys().find(|key| !FIELDS.contains(&key.as_str())) {
            return Err(invalid(format!(
                "unknown setting {unknown} (known: {})",
                FIELDS.join(", ")
            )));
        }

        let url = string(&root, "url")?.ok_or_else(|| invalid("url is missing"))?;
        check_url(&url)?;

        let auth_token = string(&root, "auth_token")?;
        if let Some(token) = &auth_token {
            if token.is_empty() {
                // An emptied field most likely means "no token", but sending the
                // request unauthenticated on a guess is worse than asking.
                return Err(invalid("auth_token is empty (remove it to send no token)"));
            }
            if token.chars().any(char::is_control) {
                return Err(invalid("auth_token contains control characters"));
            }
        }

        let headers = match present(&root, "headers") {
            None => Vec::new(),
            Some(Value::Object(headers)) => extra_headers(headers, auth_token.is_some())?,
            Some(_) => return Err(invalid("headers is not an object")),
        };
        let own = OWN_HEADERS.len() + usize::from(auth_token.is_some());
        if headers.len() + own > MAX_HEADERS {
            return Err(invalid(format!(
                "headers has {} entries, at most {} fit beside the plugin's own",
                headers.len(),
                MAX_HEADERS - own
            )));
        }

        let sender_override = string(&root, "sender_override")?;
        if sender_override
            .as_deref()
            .is_some_and(|s| s.trim().is_empty())
        {
            return Err(invalid("sender_override is empty"));
        }

        Ok(Settings {
            url,
            auth_token,
            headers,
            sender_override,
        })
    }
}

fn check_url(url: &str) -> Result<(), InvalidSettings> {
    // The host checks the scheme case-sensitively, so only lowercase schemes pass.
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| invalid(format!("url {url:?} is not an http:// or https:// URL")))?;
    if rest.is_empty() || rest.starts_with(['/', '?', '#']) {
        return Err(invalid(format!("url {url:?} has no host")));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid(format!(
            "url {url:?} contains spaces or control characters"
        )));
    }
    if url.len() > MAX_URL {
        return Err(invalid(format!("url is longer than {MAX_URL} bytes")));
    }
    Ok(())
}

fn extra_headers(
    headers: &Map<String, Value>,
    has_token: bool,
) -> Result<Vec<(String, String)>, InvalidSettings> {
    let mut result = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        if !is_token(name) {
            return Err(invalid(format!(
                "headers: {name:?} is not a valid header name"
            )));
        }
        let reserved = OWN_HEADERS
            .iter()
            .chain(has_token.then_some(&"Authorization"))
            .find(|own| own.eq_ignore_ascii_case(name));
        if let Some(own) = reserved {
            let why = if *own == "Authorization" {
                "auth_token sets it"
            } else {
                "the plugin sets it"
            };
            return Err(invalid(format!("headers: {name} cannot be set ({why})")));
        }
        let Value::String(value) = value else {
            return Err(invalid(format!(
                "headers: the value of {name} is not a string"
            )));
        };
        if value.chars().any(|c| matches!(c, '\r' | '\n' | '\0')) {
            return Err(invalid(format!(
                "headers: the value of {name} contains a line break"
            )));
        }
        result.push((name.clone(), value.clone()));
    }
    Ok(result)
}

/// Whether `name` is an HTTP token (RFC 9110), the only valid header name.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
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

    fn reason(text: &str) -> String {
        Settings::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_full_example_parses_with_headers_in_name_order() {
        let settings = Settings::parse(
            r#"{"url":"https://sms.example/v1/messages","auth_token":"t0k",
                "headers":{"X-Tenant":"acme","Accept":"application/json"},
                "sender_override":"ACME"}"#,
        )
        .unwrap();
        assert_eq!(
            settings,
            Settings {
                url: "https://sms.example/v1/messages".into(),
                auth_token: Some("t0k".into()),
                headers: vec![
                    ("Accept".into(), "application/json".into()),
                    ("X-Tenant".into(), "acme".into()),
                ],
                sender_override: Some("ACME".into()),
            }
        );
    }

    #[test]
    fn only_url_is_required_and_null_is_absent() {
        let settings = Settings::parse(
            r#"{"url":"http://gw.local:8080/send","auth_token":null,"headers":null}"#,
        )
        .unwrap();
        assert_eq!(settings.url, "http://gw.local:8080/send");
        assert_eq!(settings.auth_token, None);
        assert!(settings.headers.is_empty());
        assert_eq!(settings.sender_override, None);
    }

    #[test]
    fn malformed_settings_are_refused_naming_the_setting() {
        assert_eq!(reason("{"), "invalid settings: not valid JSON");
        assert_eq!(reason("[]"), "invalid settings: not a JSON object");
        assert_eq!(reason("{}"), "invalid settings: url is missing");
        assert_eq!(
            reason(r#"{"url":null}"#),
            "invalid settings: url is missing"
        );
        assert_eq!(
            reason(r#"{"url":7}"#),
            "invalid settings: url is not a string"
        );
        assert_eq!(
            reason(r#"{"url":"https://a.example","auth-token":"x"}"#),
            "invalid settings: unknown setting auth-token \
             (known: url, auth_token, headers, sender_override)"
        );
        assert_eq!(
            reason(r#"{"url":"https://a.example","auth_token":""}"#),
            "invalid settings: auth_token is empty (remove it to send no token)"
        );
        assert_eq!(
            reason(r#"{"url":"https://a.example","auth_token":"a\nb"}"#),
            "invalid settings: auth_token contains control characters"
        );
        assert_eq!(
            reason(r#"{"url":"https://a.example","headers":["X-A"]}"#),
            "invalid settings: headers is not an object"
        );
        assert_eq!(
            reason(r#"{"url":"https://a.example","sender_override":" "}"#),
            "invalid settings: sender_override is empty"
        );
        assert_eq!(
            reason(r#"{"url":"https://a.example","sender_override":1}"#),
            "invalid settings: sender_override is not a string"
        );
    }

    #[test]
    fn the_url_must_be_an_http_url_with_a_host() {
        for bad in [
            "ftp://a.example",
            "HTTPS://a.example",
            "a.example/send",
            "https://",
            "https:///path",
        ] {
            let text = format!(r#"{{"url":"{bad}"}}"#);
            assert!(reason(&text).starts_with("invalid settings: url "), "{bad}");
        }
        assert_eq!(
            reason(r#"{"url":"https://a.example/s end"}"#),
            r#"invalid settings: url "https://a.example/s end" contains spaces or control characters"#
        );
        let long = format!(r#"{{"url":"https://a.example/{}"}}"#, "x".repeat(MAX_URL));
        assert_eq!(
            reason(&long),
            "invalid settings: url is longer than 2048 bytes"
        );
    }

    #[test]
    fn extra_headers_must_be_valid_and_not_replace_the_plugins_own() {
        let with = |headers: &str| format!(r#"{{"url":"https://a.example","headers":{headers}}}"#);
        assert_eq!(
            reason(&with(r#"{"X Bad":"1"}"#)),
            r#"invalid settings: headers: "X Bad" is not a valid header name"#
        );
        assert_eq!(
            reason(&with(r#"{"X-A":1}"#)),
            "invalid settings: headers: the value of X-A is not a string"
        );
        assert_eq!(
            reason(&with(r#"{"X-A":"1\r\nX-B: 2"}"#)),
            "invalid settings: headers: the value of X-A contains a line break"
        );
        assert_eq!(
            reason(&with(r#"{"idempotency-key":"mine"}"#)),
            "invalid settings: headers: idempotency-key cannot be set (the plugin sets it)"
        );
        assert_eq!(
            reason(&with(r#"{"Content-Type":"text/plain"}"#)),
            "invalid settings: headers: Content-Type cannot be set (the plugin sets it)"
        );
        // Authorization is free for gateways that want another scheme (Basic, ApiKey)...
        let basic = Settings::parse(&with(r#"{"Authorization":"Basic dXNlcjpwdw=="}"#)).unwrap();
        assert_eq!(basic.headers[0].0, "Authorization");
        // ...but not beside auth_token, where one of the two would be lost.
        assert_eq!(
            reason(
                r#"{"url":"https://a.example","auth_token":"t","headers":{"authorization":"x"}}"#
            ),
            "invalid settings: headers: authorization cannot be set (auth_token sets it)"
        );
    }

    #[test]
    fn extra_headers_must_leave_room_for_the_plugins_own_within_the_host_limit() {
        let headers = |n: usize| {
            (0..n)
                .map(|i| format!(r#""X-H{i}":"v""#))
                .collect::<Vec<_>>()
                .join(",")
        };
        let text = format!(
            r#"{{"url":"https://a.example","headers":{{{}}}}}"#,
            headers(30)
        );
        assert_eq!(Settings::parse(&text).unwrap().headers.len(), 30);
        let text = format!(
            r#"{{"url":"https://a.example","auth_token":"t","headers":{{{}}}}}"#,
            headers(30)
        );
        assert_eq!(
            reason(&text),
            "invalid settings: headers has 30 entries, at most 29 fit beside the plugin's own"
        );
    }
}

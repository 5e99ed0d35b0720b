//! The write-only rule for secrets in plugin settings (gateway, connector and external
//! system settings): what the API shows instead of a secret, and how a write that
//! sends that back keeps the stored secret.
//!
//! Plugin settings are free-form JSON whose meaning only the plugin knows, so the host
//! recognises secrets by their key's name. Redacting a harmless key by mistake costs an
//! admin a look at the plugin's documentation; showing a real token costs the account.

use serde::Serializer;
use serde_json::{Map, Value};

/// What a secret's value is shown as. Sending it back in a write keeps the stored value.
pub const REDACTED: &str = "[redacted]";

/// Parts of a key name that mark its value as a secret, matched case-insensitively on
/// the name with `-`, `_`, `.` and spaces removed (so `api_key`, `apiKey` and `API-Key`
/// are all `apikey`).
const SECRET_WORDS: &[&str] = &[
    "token",
    "secret",
    "password",
    "passwd",
    "passphrase",
    "apikey",
    "auth",
    "credential",
    "privatekey",
    "signingkey",
    "accesskey",
    "clientkey",
    "cookie",
    "sessionid",
];

/// Whether values under `key` are secrets.
pub fn is_secret_key(key: &str) -> bool {
    let squashed: String = key
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.' | ' '))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_WORDS.iter().any(|word| match *word {
        "auth" => squashed
            .match_indices(word)
            .any(|(at, _)| auth_means_credentials(&squashed[at + word.len()..])),
        _ => squashed.contains(word),
    })
}

/// Whether `auth` followed by `rest` names credentials: `auth`, `authToken`,
/// `authorization`, `oauth`, but not `author` or `authority`, which name people and
/// certificate authorities.
fn auth_means_credentials(rest: &str) -> bool {
    !rest.starts_with("or") || rest.starts_with("oriz") || rest.starts_with("oris")
}

/// `settings` as the API shows them: every non-null value under a secret key, at any
/// depth, replaced by [`REDACTED`]. Null stays null, so an admin still sees that a
/// secret is unset.
pub fn redact(settings: &Value) -> Value {
    match settings {
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(key, value)| {
                    let shown = if is_secret_key(key) && !value.is_null() {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact(value)
                    };
                    (key.clone(), shown)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// For `#[serde(serialize_with = ...)]` on a settings field that is only ever shown.
pub fn serialize_redacted<S: Serializer>(
    settings: &Value,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serde::Serialize::serialize(&redact(settings), serializer)
}

/// The settings to store when a write sends `new` over `stored`: a secret key whose new
/// value is [`REDACTED`], or that the write leaves out, keeps its stored value (a
/// client that read the settings and writes them back cannot wipe or overwrite a
/// secret with the marker). To remove a secret, send `null` or a new value. Objects are
/// matched key by key and arrays item by item, at any depth; a marker with nothing
/// stored under it is dropped.
pub fn keep_stored(new: Value, stored: &Value) -> Value {
    match (new, stored) {
        (Value::Object(new), Value::Object(stored)) => Value::Object(keep_in_object(new, stored)),
        (Value::Array(new), Value::Array(stored)) => Value::Array(
            new.into_iter()
                .enumerate()
                .map(|(i, item)| match stored.get(i) {
                    Some(old) => keep_stored(item, old),
                    None => drop_markers(item),
                })
                .collect(),
        ),
        (new, _) => drop_markers(new),
    }
}

fn keep_in_object(mut new: Map<String, Value>, stored: &Map<String, Value>) -> Map<String, Value> {
    for (key, old) in stored {
        if is_secret_key(key) && !new.contains_key(key) {
            new.insert(key.clone(), old.clone());
        }
    }
    new.into_iter()
        .filter_map(|(key, value)| {
            let secret = is_secret_key(&key);
            match stored.get(&key) {
                Some(old) if secret && value.as_str() == Some(REDACTED) => Some((key, old.clone())),
                _ if secret && value.as_str() == Some(REDACTED) => None,
                Some(old) => Some((key, keep_stored(value, old))),
                None => Some((key, drop_markers(value))),
            }
        })
        .collect()
}

/// Removes markers under secret keys where nothing is stored to stand for.
fn drop_markers(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(keep_in_object(fields, &Map::new())),
        Value::Array(items) => Value::Array(items.into_iter().map(drop_markers).collect()),
        other => other,
    }
}

/// `url` without its query string and fragment, for logs and stored error texts:
/// tokens and gateway credentials travel in queries (`?token=`, `?api_key=`).
pub fn without_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn auth_marks_credentials_but_not_authors() {
        for key in [
            "auth",
            "authToken",
            "Authorization",
            "basic_auth",
            "oauth",
            "x-authorisation",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in ["author", "authors", "certificate_authority", "author_name"] {
            assert!(!is_secret_key(key), "{key}");
        }
        // A key that names both is still a secret.
        assert!(is_secret_key("author_auth_token"));
    }
    #[test]
    fn queries_and_fragments_are_cut_from_urls() {
        assert_eq!(
            without_query("https://sms.example/v1/send?api_key=SECRET&x=1"),
            "https://sms.example/v1/send"
        );
        assert_eq!(without_query("http://a/b#token=SECRET"), "http://a/b");
        assert_eq!(without_query("http://a/b"), "http://a/b");
    }

    #[test]
    fn secret_keys_are_recognised_by_name() {
        for key in [
            "auth_token",
            "authToken",
            "password",
            "smtp_password",
            "api_key",
            "API-Key",
            "client_secret",
            "Authorization",
            "basic_auth",
            "private_key",
            "credentials",
        ] {
            assert!(is_secret_key(key), "{key}");
        }
        for key in [
            "url",
            "account_sid",
            "default_group",
            "groups",
            "keywords",
            "sender",
        ] {
            assert!(!is_secret_key(key), "{key}");
        }
    }

    #[test]
    fn secrets_are_redacted_at_any_depth_and_null_stays_null() {
        let settings = json!({
            "url": "https://sms.example",
            "auth_token": "s3cret",
            "refresh_token": null,
            "accounts": [{ "name": "a", "password": "p1" }],
            "headers": { "X-Api-Key": "k1", "Accept": "json" },
            "auth": { "user": "u", "pass": "p2" }
        });
        assert_eq!(
            redact(&settings),
            json!({
                "url": "https://sms.example",
                "auth_token": REDACTED,
                "refresh_token": null,
                "accounts": [{ "name": "a", "password": REDACTED }],
                "headers": { "X-Api-Key": REDACTED, "Accept": "json" },
                "auth": REDACTED
            })
        );
    }

    #[test]
    fn a_write_of_the_marker_or_without_the_key_keeps_the_stored_secret() {
        let stored = json!({
            "url": "https://old",
            "auth_token": "s3cret",
            "api_key": "k",
            "accounts": [{ "name": "a", "password": "p1" }]
        });
        let new = json!({
            "url": "https://new",
            "auth_token": REDACTED,
            "accounts": [{ "name": "b", "password": REDACTED }]
        });
        assert_eq!(
            keep_stored(new, &stored),
            json!({
                "url": "https://new",
                "auth_token": "s3cret",
                "api_key": "k",
                "accounts": [{ "name": "b", "password": "p1" }]
            })
        );
    }

    #[test]
    fn a_secret_is_replaced_or_removed_only_explicitly() {
        let stored = json!({ "auth_token": "old", "password": "p" });
        let new = json!({ "auth_token": "new", "password": null, "client_secret": REDACTED });
        assert_eq!(
            keep_stored(new, &stored),
            json!({ "auth_token": "new", "password": null })
        );
    }
}

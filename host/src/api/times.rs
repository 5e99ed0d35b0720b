//! Times in answers are milliseconds since the Unix epoch; beside each one the answer
//! carries the same instant as RFC 3339 text in UTC with milliseconds, under the name
//! with `_rfc3339` appended (`created_at` and `created_at_rfc3339`, an activity line's
//! `at` and `at_rfc3339`). A time is any key named `at` or `since`, ending in `_at` or
//! ending in `_until`. Plugin-defined data (settings, decisions, user data) is left as
//! it is.
//!
//! This is one rule applied to every admin, agent and third-party answer on the way
//! out, so a new time field cannot be forgotten. Bodies sent in may carry the twins
//! back (a client that reads a resource, changes it and writes it back):
//! [`strip_rfc3339`] drops them, as they are only ever output.

use axum::body::Body;
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use time::OffsetDateTime;

use super::error::ApiError;

/// Keys whose contents belong to a plugin or its caller, never to the host.
pub const OPAQUE: &[&str] = &["settings", "plugin_settings", "decision", "user_data"];

/// The latest instant written: 9999-12-31T23:59:59.999Z.
const MAX_MS: i64 = 253_402_300_799_999;

/// Whether a key holds a time.
pub fn is_time_key(key: &str) -> bool {
    key == "at" || key == "since" || key.ends_with("_at") || key.ends_with("_until")
}

/// `ms` as RFC 3339 in UTC with milliseconds, e.g. `2026-11-22T09:00:00.000Z`; `None`
/// outside years 1970 to 9999.
pub fn rfc3339(ms: i64) -> Option<String> {
    if !(0..=MAX_MS).contains(&ms) {
        return None;
    }
    let t = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()?;
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    ))
}

/// Adds the RFC 3339 twin of every time in `value`, at any depth. Returns whether
/// anything was added.
pub fn add_rfc3339(value: &mut Value) -> bool {
    match value {
        Value::Object(fields) => {
            let mut added = false;
            let twins: Vec<(String, Value)> = fields
                .iter()
                .filter(|(key, _)| is_time_key(key))
                .filter(|(key, _)| !fields.contains_key(&format!("{key}_rfc3339")))
                .filter_map(|(key, v)| {
                    let twin = match v {
                        Value::Null => Value::Null,
                        Value::Number(n) => Value::String(rfc3339(n.as_i64()?)?),
                        _ => return None,
                    };
                    Some((format!("{key}_rfc3339"), twin))
                })
                .collect();
            for (key, v) in fields.iter_mut() {
                if !OPAQUE.contains(&key.as_str()) {
                    added |= add_rfc3339(v);
                }
            }
            added |= !twins.is_empty();
            fields.extend(twins);
            added
        }
        Value::Array(items) => items.iter_mut().fold(false, |a, v| add_rfc3339(v) | a),
        _ => false,
    }
}

/// Removes every twin [`add_rfc3339`] adds (a key that is a time's name with `_rfc3339`
/// appended), at any depth outside plugin-defined data.
pub fn strip_rfc3339(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|key, _| {
                key.strip_suffix("_rfc3339")
                    .is_none_or(|time| !is_time_key(time))
            });
            for (key, v) in fields.iter_mut() {
                if !OPAQUE.contains(&key.as_str()) {
                    strip_rfc3339(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_rfc3339),
        _ => {}
    }
}

/// Middleware: rewrites successful JSON answers with [`add_rfc3339`].
pub async fn with_rfc3339(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !json || !response.status().is_success() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => {
            return ApiError::Internal(anyhow::anyhow!("reading an answer: {e}")).into_response();
        }
    };
    let Ok(mut value) = serde_json::from_slice::<Value>(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if !add_rfc3339(&mut value) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let rewritten = serde_json::to_vec(&value).expect("a JSON value serialises");
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(rewritten))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn milliseconds_are_written_in_utc_with_milliseconds() {
        assert_eq!(rfc3339(0).unwrap(), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            rfc3339(1_795_338_000_123).unwrap(),
            "2026-11-22T09:00:00.123Z"
        );
        assert_eq!(rfc3339(-1), None);
        assert_eq!(rfc3339(MAX_MS + 1), None);
    }

    #[test]
    fn every_time_gets_its_twin_but_plugin_data_is_left_alone() {
        let mut value = json!({
            "created_at": 0,
            "send_at": null,
            "claimed_until": 1_000,
            "channels": { "sms": { "state": "ready", "since": 2 } },
            "activity": [{ "status": "sent", "at": 1 }],
            "plugin_settings": { "start_at": 5 },
            "name": "x"
        });
        assert!(add_rfc3339(&mut value));
        assert_eq!(value["created_at_rfc3339"], "1970-01-01T00:00:00.000Z");
        assert_eq!(value["send_at_rfc3339"], Value::Null);
        assert_eq!(value["claimed_until_rfc3339"], "1970-01-01T00:00:01.000Z");
        assert_eq!(
            value["activity"][0]["at_rfc3339"],
            "1970-01-01T00:00:00.001Z"
        );
        assert_eq!(
            value["channels"]["sms"]["since_rfc3339"],
            "1970-01-01T00:00:00.002Z"
        );
        assert_eq!(value["plugin_settings"], json!({ "start_at": 5 }));
        assert_eq!(value["created_at"], 0);
        assert!(!add_rfc3339(&mut json!({ "name": "x" })));
        let before = value.clone();
        strip_rfc3339(&mut value);
        assert!(value.get("created_at_rfc3339").is_none());
        assert!(value["activity"][0].get("at_rfc3339").is_none());
        assert_eq!(value["created_at"], before["created_at"]);
    }
}

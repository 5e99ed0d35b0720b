//! Reading the gateway's answer into a [`SendResult`].
//!
//! Gateways disagree on error bodies, so the plugin reads the common shapes
//! (`{"error": "..."}`, `{"message": "..."}`, `{"error": {"message": "..."}}`) and
//! otherwise quotes the start of the body: an operator reading the entry's log needs
//! the gateway's own words, not just a status code. For the same reason a `code` the
//! gateway gives (top level, or inside an `error` object) is the entry's error code,
//! whatever the HTTP status; only an answer without one gets `HTTP-<status>`.

use serde_json::{Map, Value};
use switchyard_guest::{HttpResponse, SendResult};

use crate::{MAX_DESCRIPTION_CHARS, clip};

/// How much of a body without a recognisable error field goes into a description.
const EXCERPT_CHARS: usize = 200;

/// The host refuses longer error codes and message ids (`MAX_ERROR_CODE`,
/// `MAX_REFERENCE` in the host); values from the gateway are checked against them so a
/// gateway's answer can never make the plugin break the host's contract.
const MAX_CODE_BYTES: usize = 64;
const MAX_ID_BYTES: usize = 1_024;

/// What `response` means for the entry it answers.
pub fn parse(response: &HttpResponse) -> SendResult {
    let status = response.status;
    let body = json_object(&response.body);
    match status {
        200..=299 => match &body {
            Some(fields) if reports_failure(fields) => SendResult::failed(
                code_field(fields).unwrap_or_else(|| "GW-REJECTED".into()),
                error_text(fields)
                    .unwrap_or_else(|| "the gateway answered with status failed".into()),
            ),
            Some(fields) => SendResult::Sent(message_id(fields)),
            // A 2xx is an acceptance even when the body is empty or not JSON (202).
            None => SendResult::Sent(None),
        },
        // Rate limits and server faults pass; the Idempotency-Key makes a retry safe.
        429 | 500..=599 => SendResult::retry(error_code(status, &body), describe(response, &body)),
        // Other 4xx: the request itself is wrong (bad number, no credit, bad token) and
        // sending it again would get the same answer. 1xx, 3xx and unknown statuses
        // land here too: the host did not get an acceptance and cannot do better by
        // repeating the same request.
        _ => SendResult::failed(error_code(status, &body), describe(response, &body)),
    }
}

/// The code of a non-2xx answer: the gateway's own, else the HTTP status.
fn error_code(status: u16, body: &Option<Map<String, Value>>) -> String {
    body.as_ref()
        .and_then(|fields| {
            code_field(fields).or_else(|| match fields.get("error") {
                Some(Value::Object(nested)) => code_field(nested),
                _ => None,
            })
        })
        .unwrap_or_else(|| http_code(status))
}

fn http_code(status: u16) -> String {
    format!("HTTP-{status}")
}

/// The body as a JSON object, if it is one.
fn json_object(body: &[u8]) -> Option<Map<String, Value>> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(fields)) => Some(fields),
        _ => None,
    }
}

/// `{"status": "failed"}` in a 2xx: some gateways accept the HTTP request but refuse
/// the message inside it.
fn reports_failure(fields: &Map<String, Value>) -> bool {
    fields
        .get("status")
        .and_then(Value::as_str)
        .is_some_and(|status| status.trim().eq_ignore_ascii_case("failed"))
}

/// The description of a non-2xx answer: the body's error text, else its start.
fn describe(response: &HttpResponse, body: &Option<Map<String, Value>>) -> String {
    if let Some(text) = body.as_ref().and_then(error_text) {
        return text;
    }
    let text = String::from_utf8_lossy(&response.body);
    let text = text.trim();
    if text.is_empty() {
        "the gateway sent an empty body".into()
    } else {
        clip(text, EXCERPT_CHARS)
    }
}

/// The first usable of `error` and `message`: a non-empty string, or the `message` or
/// `description` string of a nested error object.
fn error_text(fields: &Map<String, Value>) -> Option<String> {
    ["error", "message"].iter().find_map(|key| {
        let text = match fields.get(*key)? {
            Value::String(text) => text.as_str(),
            Value::Object(nested) => ["message", "description"]
                .iter()
                .find_map(|inner| nested.get(*inner)?.as_str())?,
            _ => return None,
        };
        let text = text.trim();
        (!text.is_empty()).then(|| clip(text, MAX_DESCRIPTION_CHARS))
    })
}

/// The gateway's own error code from `code` (a string or a number), made fit for the
/// host: one line of at most 64 bytes.
fn code_field(fields: &Map<String, Value>) -> Option<String> {
    let code = match fields.get("code")? {
        Value::String(code) => code.chars().filter(|c| !c.is_control()).collect::<String>(),
        Value::Number(code) => code.to_string(),
        _ => return None,
    };
    let code = code.trim();
    if code.is_empty() {
        return None;
    }
    let mut end = code.len().min(MAX_CODE_BYTES);
    while !code.is_char_boundary(end) {
        end -= 1;
    }
    Some(code[..end].to_string())
}

/// The message id from `id`, else `message_id`: a string or a number. An id too long
/// for the host is left out rather than cut, because a cut id would name no message.
fn message_id(fields: &Map<String, Value>) -> Option<String> {
    ["id", "message_id"].iter().find_map(|key| {
        let id = match fields.get(*key)? {
            Value::String(id) => id.trim().to_string(),
            Value::Number(id) => id.to_string(),
            _ => return None,
        };
        (!id.is_empty() && id.len() <= MAX_ID_BYTES).then_some(id)
    })
}

//! Reading Twilio's answer to "create a Message" into a [`SendResult`].
//!
//! Twilio answers an accepted message with the Message resource (`sid`, `status`,
//! `error_code`, `error_message`) and a refused request with its error object (`code`,
//! `message`, `more_info`, `status`). Both are read for the operator's benefit: the
//! entry's log should carry Twilio's own code and words, not just an HTTP status.

use serde_json::{Map, Value};
use switchyard_guest::{HttpResponse, SendResult};

use crate::{MAX_DESCRIPTION_CHARS, clip};

/// How much of a body without a usable `message` goes into a description (a proxy's
/// HTML error page, say).
const EXCERPT_CHARS: usize = 200;

/// The host refuses longer error codes and message ids (`MAX_ERROR_CODE`,
/// `MAX_REFERENCE` in the host); values from Twilio are checked against them so no
/// answer can make the plugin break the host's contract.
const MAX_CODE_BYTES: usize = 64;
const MAX_ID_BYTES: usize = 1_024;

/// Message statuses that mean Twilio took the request but will not deliver the message.
const FAILED_STATUSES: [&str; 2] = ["failed", "undelivered"];

/// What `response` means for the entry it answers.
pub fn parse(response: &HttpResponse) -> SendResult {
    let status = response.status;
    let body = json_object(&response.body);
    match status {
        200..=299 => match &body {
            Some(message) => match failed_status(message) {
                Some(failed) => SendResult::failed(
                    code_field(message, "error_code").unwrap_or_else(|| "GW-REJECTED".into()),
                    text_field(message, "error_message")
                        .unwrap_or_else(|| format!("Twilio answered with status {failed}")),
                ),
                None => SendResult::Sent(message_sid(message)),
            },
            // A 2xx is an acceptance even when the body is empty or not JSON (a proxy
            // answering 202, say); the message then has no id to record.
            None => SendResult::Sent(None),
        },
        // Rate limits and server faults pass; the idempotency token makes a retry safe.
        429 | 500..=599 => SendResult::retry(http_code(status), describe(response, &body)),
        // Other 4xx: the request itself is wrong (bad number, 21211; bad credentials,
        // 20003; unverified number on a trial account, 21608) and would get the same
        // answer again. Twilio's own code says which, so it becomes the entry's code.
        400..=499 => SendResult::failed(
            body.as_ref()
                .and_then(|error| code_field(error, "code"))
                .unwrap_or_else(|| http_code(status)),
            describe(response, &body),
        ),
        // 1xx, 3xx and unknown statuses: no acceptance, and repeating the same request
        // would not change that.
        _ => SendResult::failed(http_code(status), describe(response, &body)),
    }
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

/// The message's `status` when it is one of [`FAILED_STATUSES`] (any case), in lower
/// case. Twilio can fail a message synchronously and still answer 201.
fn failed_status(message: &Map<String, Value>) -> Option<&'static str> {
    let status = message.get("status")?.as_str()?.trim();
    FAILED_STATUSES
        .into_iter()
        .find(|failed| status.eq_ignore_ascii_case(failed))
}

/// The description of a non-2xx answer: Twilio's `message`, else the body's start.
fn describe(response: &HttpResponse, body: &Option<Map<String, Value>>) -> String {
    if let Some(text) = body.as_ref().and_then(|error| text_field(error, "message")) {
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

/// A non-empty string field, trimmed and cut to the description limit.
fn text_field(fields: &Map<String, Value>, key: &str) -> Option<String> {
    let text = fields.get(key)?.as_str()?.trim();
    (!text.is_empty()).then(|| clip(text, MAX_DESCRIPTION_CHARS))
}

/// A Twilio error code (a number such as 21211, or a string), made fit for the host:
/// one line of at most 64 bytes. `null` and empty codes count as absent.
fn code_field(fields: &Map<String, Value>, key: &str) -> Option<String> {
    let code = match fields.get(key)? {
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

/// The message's `sid` (`SM...`, `MM...` for MMS). An id too long for the host is left
/// out rather than cut, because a cut id would name no message.
fn message_sid(message: &Map<String, Value>) -> Option<String> {
    let sid = message.get("sid")?.as_str()?.trim();
    (!sid.is_empty() && sid.len() <= MAX_ID_BYTES).then(|| sid.to_string())
}

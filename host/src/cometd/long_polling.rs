//! The long-polling transport: each POST carries a JSON array of messages (or a form
//! whose `message` field holds it) and its response carries the replies. A connect's
//! response waits while the server holds it.

use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::feed::Feed;
use super::protocol::{self, BodyError};
use super::server::Cometd;
use super::session::Transport;
use crate::bearer::authorization;
use crate::serve::is_body_timeout;

/// Answers one long-polling POST.
pub async fn post<F: Feed>(
    State(server): State<Cometd<F>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    // One byte more than allowed tells "too large" from "exactly at the limit".
    let bytes = match to_bytes(body, protocol::MAX_BODY_BYTES + 1).await {
        Ok(bytes) => bytes,
        Err(e) if is_body_timeout(&e) => return refuse(&server, &BodyError::Stalled),
        Err(_) => return refuse(&server, &BodyError::TooLarge),
    };
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let messages = if form {
        form_message(&bytes).and_then(|text| protocol::parse_body(text.as_bytes()))
    } else {
        protocol::parse_body(&bytes)
    };
    let messages = match messages {
        Ok(messages) => messages,
        Err(e) => return refuse(&server, &e),
    };
    let replies = server
        .handle(messages, Transport::LongPolling, bearer(&headers))
        .await;
    // The response is about to be written; a client gone by now gets these again
    // only with the ack extension (its next connect does not confirm them).
    for delivered in replies.delivered {
        server.written(delivered).await;
    }
    axum::Json(replies.messages).into_response()
}

/// The `message` field of a form body.
fn form_message(body: &[u8]) -> Result<String, BodyError> {
    let fields: Vec<(String, String)> =
        serde_urlencoded::from_bytes(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    fields
        .into_iter()
        .find(|(name, _)| name == "message")
        .map(|(_, value)| value)
        .ok_or(BodyError::NotMessages)
}

/// The token of an `Authorization: Bearer <token>` header (the scheme in any case).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    authorization(headers).token()
}

/// A request without readable messages: 400 (413 when too large), with a JSON body in
/// the API's error shape naming the problem.
pub fn refuse<F: Feed>(server: &Cometd<F>, error: &BodyError) -> Response {
    server.body_refused();
    let (status, code) = match error {
        BodyError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        BodyError::Stalled => (StatusCode::REQUEST_TIMEOUT, "request_timeout"),
        _ => (StatusCode::BAD_REQUEST, "malformed_bayeux"),
    };
    let body = json!({ "error": { "code": code, "message": error.to_string() } });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_carries_the_messages_in_its_message_field() {
        let body = serde_urlencoded::to_string([("message", r#"[{"channel":"/x"}]"#)]).unwrap();
        assert_eq!(
            form_message(body.as_bytes()).unwrap(),
            r#"[{"channel":"/x"}]"#
        );
        assert_eq!(form_message(b"other=1"), Err(BodyError::NotMessages));
    }

    #[test]
    fn the_bearer_token_is_read_from_the_authorization_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert(header::AUTHORIZATION, "Bearer abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }
}

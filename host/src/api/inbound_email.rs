//! `POST /api/v1/email/inbound`: inbound email from mail relays, as raw MIME
//! (`message/rfc822`), Postmark's inbound JSON or Mailgun's forward (a form, or
//! multipart with attachments). The connector is found by the recipient address and
//! authenticated by its own token, as for SMS.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use tracing::field::Empty;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, body_rejection, is_form};
use super::inbound::{ingest_refused, presented_token};
use super::openapi::{
    ErrorBody, InvalidField, TooLarge, Unauthorized, Unavailable, UnsupportedMediaType,
};
use super::routes::{ApiRouter, post};
use crate::domain::connectors::inbound::{TokenRefusal, check_token_for};
use crate::domain::email::relays::{self, MailgunPost, PostmarkInbound};
use crate::domain::email::{
    AttachmentData, EmailRefusal, InboundEmail, MAX_EMAIL_BYTES, mime, normalize_address,
};
use crate::domain::routing::outcome::MessageState;
use crate::store::messages::NewInbound;
use crate::store::now_ms;

pub fn router() -> ApiRouter {
    ApiRouter::new().route(
        "/email/inbound",
        // A 20 MB attachment arrives as 27 MB of base64: this route takes bodies up to
        // the email limit; the rest of the API keeps the small default.
        post(receive).body_limit(MAX_EMAIL_BYTES),
    )
}

#[derive(Deserialize)]
pub(super) struct InboundQuery {
    token: Option<String>,
    /// The envelope recipient, when the relay passes it beside the message (Postfix's
    /// `${recipient}`): tried first to find the connector.
    recipient: Option<String>,
}

/// The answer to a stored email.
#[derive(Serialize, ToSchema)]
pub(super) struct EmailAccepted {
    /// The stored message's id (`GET /api/v1/messages/{id}`).
    id: i64,
    state: MessageState,
    /// A retry of an email stored before for this connector (same Message-ID).
    duplicate: bool,
    /// The Message-ID the email is known by, without angle brackets.
    message_id: String,
    /// The email had no Message-ID: this one was made from its sender, subject, text
    /// and date, so a retry of the same email gets the same one.
    generated_message_id: bool,
}

#[utoipa::path(
    post,
    path = "/api/v1/email/inbound",
    tag = "gateways",
    operation_id = "receive_email",
    summary = "Receive an inbound email",
    description = "An email posted by a mail relay: raw RFC 5322/MIME as `message/rfc822` \
                   (what Postfix pipes), Postmark's inbound JSON, or Mailgun's forward as a \
                   form or multipart with its attachments. The connector is the one receiving \
                   for `?recipient=` if given, else for the relay's envelope recipient \
                   (`X-Original-To`, `Delivered-To`, Postmark's `OriginalRecipient`, Mailgun's \
                   `recipient`), else for an address in To or Cc. Its token comes as \
                   `Authorization: Bearer` or `?token=`. Stored before the answer; a retry with \
                   the same Message-ID is answered 200 with the stored id. A mail without a \
                   Message-ID gets one made from its content, and the answer says so. \
                   Limits: 32 MiB per post, 100 attachments, 25 MiB per attachment.",
    request_body(content(
        (String = "message/rfc822"),
        (PostmarkInbound = "application/json"),
        (Object = "application/x-www-form-urlencoded"),
        (Object = "multipart/form-data"),
    )),
    params(
        ("recipient" = Option<String>, Query, description = "The envelope recipient, tried first"),
    ),
    security(("connector_token" = []), ("connector_token_query" = []), ()),
    responses(
        (status = 202, description = "Stored; routed after this answer", body = EmailAccepted,
            headers(("x-switchyard-message-id" = i64, description = "The stored message's id"))),
        (status = 200, description = "A retry of a stored email: nothing new was stored", body = EmailAccepted,
            headers(("x-switchyard-message-id" = i64, description = "The stored message's id"))),
        (status = 400, description = "`malformed_email`: not an email this dialect can read (no header, no From address, bad JSON or form)", body = ErrorBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`not_found`: the connector was deleted while the post was on its way; nothing was stored", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn receive(
    State(state): State<AppState>,
    query: Result<Query<InboundQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let span = tracing::info_span!(
        "ingest_email",
        message_id = Empty,
        rfc_message_id = Empty,
        dialect = Empty,
        connector = Empty,
        attachments = Empty,
    );
    let mut dialect = "unknown";
    let result = accept(&state, query, headers, request, &span, &mut dialect)
        .instrument(span.clone())
        .await;
    match &result {
        Ok((_, duplicate, bytes)) => {
            let outcome = if *duplicate { "duplicate" } else { "accepted" };
            state.metrics.inbound_email(dialect, outcome, *bytes);
            state.metrics.ingested(*duplicate, arrived);
        }
        Err(e) => {
            state.metrics.inbound_email(dialect, e.code(), 0);
            state.metrics.ingest_refused(e.code());
        }
    }
    result.map(|(response, _, _)| response)
}

/// The answer, whether it was a retry, and the attachment bytes stored.
async fn accept(
    state: &AppState,
    query: Result<Query<InboundQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    request: Request,
    span: &tracing::Span,
    dialect: &mut &'static str,
) -> Result<(Response, bool, u64), ApiError> {
    let query = query.ok().map(|Query(q)| q);
    let query_token = query.as_ref().and_then(|q| q.token.clone());
    let presented = presented_token(&headers, query_token.as_deref());
    // Before a byte of the body is read, as for SMS: without a token some email
    // connector takes, nothing is read.
    state
        .directory
        .email_gate()
        .await?
        .admits(presented, false)
        .map_err(refused)?;

    let email = read_email(state, &headers, request, dialect).await?;
    span.record("rfc_message_id", email.message_id.as_str())
        .record("dialect", email.dialect.as_str())
        .record("attachments", email.attachments.len());

    // The connector: the relay's named recipient first, then the email's own.
    let named = match query.as_ref().and_then(|q| q.recipient.as_deref()) {
        Some(text) => Some(normalize_address(text, "recipient")?),
        None => None,
    };
    let mut connector = None;
    for address in named.into_iter().chain(email.candidate_recipients()) {
        if let Some(found) = state.directory.by_address(&address).await? {
            connector = Some(found);
            break;
        }
    }
    // Without a valid token, an address no connector has looks like a wrong token.
    check_token_for(connector.as_deref(), presented).map_err(refused)?;
    let connector = connector.expect("check_token_for refuses posts to unknown addresses");
    span.record("connector", connector.id);

    let duplicate_id = email.message_id.clone();
    let generated = email.generated_message_id;
    let attachment_bytes: u64 = email
        .attachments
        .iter()
        .map(|a| a.content.len() as u64)
        .sum();
    let stored = state
        .ingest
        .submit(NewInbound::email(
            connector.id,
            &connector.recipient,
            email,
            now_ms(),
        ))
        .await
        .map_err(|e| ingest_refused(e, "email", "address"))?;
    span.record("message_id", stored.id);
    let status = if stored.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = (
        status,
        Json(EmailAccepted {
            id: stored.id,
            state: stored.state,
            duplicate: stored.duplicate,
            message_id: duplicate_id,
            generated_message_id: generated,
        }),
    )
        .into_response();
    response
        .headers_mut()
        .insert("x-switchyard-message-id", HeaderValue::from(stored.id));
    let bytes = if stored.duplicate {
        0
    } else {
        attachment_bytes
    };
    Ok((response, stored.duplicate, bytes))
}

/// Reads the body in the dialect its content type names.
async fn read_email(
    state: &AppState,
    headers: &HeaderMap,
    request: Request,
    dialect: &mut &'static str,
) -> Result<InboundEmail, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let parsed = match content_type.as_str() {
        "message/rfc822" => {
            *dialect = "mime";
            let bytes = Bytes::from_request(request, state)
                .await
                .map_err(body_rejection)?;
            mime::parse(&bytes)
        }
        "application/json" => {
            *dialect = "postmark";
            let ApiJson(post) = ApiJson::<PostmarkInbound>::from_request(request, state).await?;
            relays::postmark(post)
        }
        "multipart/form-data" => {
            *dialect = "mailgun";
            let multipart = Multipart::from_request(request, state)
                .await
                .map_err(|e| malformed(format!("the multipart body cannot be read: {e}")))?;
            relays::mailgun(read_multipart(multipart).await?)
        }
        _ if is_form(headers) => {
            *dialect = "mailgun";
            let bytes = Bytes::from_request(request, state)
                .await
                .map_err(body_rejection)?;
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| malformed(format!("the form cannot be read: {e}")))?;
            relays::mailgun(MailgunPost {
                fields,
                files: Vec::new(),
            })
        }
        _ => {
            return Err(ApiError::client(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "send raw MIME as `message/rfc822`, Postmark's JSON as `application/json`, or \
                 Mailgun's forward as a form or `multipart/form-data`",
            ));
        }
    };
    parsed.map_err(refusal)
}

/// Mailgun's multipart forward: text fields, and files as attachments.
async fn read_multipart(mut multipart: Multipart) -> Result<MailgunPost, ApiError> {
    let mut post = MailgunPost::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::client(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is larger than the server accepts",
                ));
            }
            Err(e) => return Err(malformed(format!("the multipart body cannot be read: {e}"))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        let file_name = field.file_name().map(str::to_owned);
        let mime_type = field
            .content_type()
            .unwrap_or("application/octet-stream")
            .to_ascii_lowercase();
        let bytes = field
            .bytes()
            .await
            .map_err(|e| malformed(format!("part `{name}` cannot be read: {e}")))?;
        match file_name {
            Some(file_name) => post.files.push(AttachmentData {
                name: file_name,
                mime_type,
                content_id: None,
                inline: false,
                content: bytes.to_vec(),
            }),
            None => {
                let text = String::from_utf8(bytes.to_vec())
                    .map_err(|_| malformed(format!("field `{name}` is not UTF-8 text")))?;
                post.fields.push((name, text));
            }
        }
    }
    Ok(post)
}

fn malformed(message: String) -> ApiError {
    ApiError::client(StatusCode::BAD_REQUEST, "malformed_email", message)
}

fn refusal(refusal: EmailRefusal) -> ApiError {
    match refusal {
        EmailRefusal::Malformed(message) => malformed(message),
        EmailRefusal::Invalid(field) => field.into(),
        EmailRefusal::TooLarge(message) => {
            ApiError::client(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", message)
        }
    }
}

fn refused(refusal: TokenRefusal) -> ApiError {
    match refusal {
        TokenRefusal::Missing => ApiError::unauthorized(
            "send the token of the address's email connector as `Authorization: Bearer \
             <token>` or `?token=<token>`",
        ),
        TokenRefusal::Wrong => ApiError::unauthorized(
            "the token is not that of an email connector for these addresses",
        ),
    }
}

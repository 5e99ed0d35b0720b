//! `POST /api/v1/sms/inbound`: the SMS Receiver API gateways post to. Authenticated by
//! the connector's own token (not the admin token), as JSON or as a Twilio-style form.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, OriginalUri, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tracing::Instrument;
use tracing::field::Empty;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiForm, ApiJson, body_rejection, is_form, parse_form};
use super::openapi::{
    ErrorBody, InvalidField, MalformedBody, TooLarge, Unauthorized, Unavailable,
    UnsupportedMediaType,
};
use super::routes::{ApiRouter, post};
use crate::bearer::authorization;
use crate::domain::connectors::inbound::{
    InboundSms, JsonSms, TokenRefusal, TwilioSms, check_token_for,
};
use crate::domain::connectors::twilio;
use crate::domain::routing::outcome::MessageState;
use crate::routing::pipeline::IngestError;
use crate::store::messages::NewInbound;
use crate::store::{StoreError, now_ms};

pub fn router() -> ApiRouter {
    ApiRouter::new().route("/sms/inbound", post(receive))
}

/// The JSON answer to a post.
#[derive(Serialize, ToSchema)]
pub(super) struct Accepted {
    /// The stored message's id (`GET /api/v1/messages/{id}`).
    id: i64,
    state: MessageState,
    /// Whether this was a retry of a message stored before (same gateway message id).
    duplicate: bool,
}

/// What the form dialect is answered with: empty TwiML, which sends nothing back.
const TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

#[derive(Deserialize)]
pub(super) struct TokenQuery {
    pub(super) token: Option<String>,
}

/// The two shapes a post comes in; the answer is given in the same dialect.
enum Shape {
    Json,
    Form,
}

/// Handles one post inside its `ingest` span, which gains the gateway's message id,
/// the connector and the stored id as they become known, and counts the result.
#[utoipa::path(
    post,
    path = "/api/v1/sms/inbound",
    tag = "gateways",
    operation_id = "receive_sms",
    summary = "Receive an inbound SMS",
    description = "An inbound SMS, posted by a gateway as JSON or as a Twilio-style form. \
                   The token is the connector's of the `to` number; a connector that does not \
                   require it takes posts without one. A form post signed by Twilio \
                   (`X-Twilio-Signature`, with the connector's `twilio_auth_token`, over the \
                   server's `public_url` with the path and query) needs no token. The token \
                   is checked before the body is read, as far as it can be without knowing the \
                   number. The answer comes in the post's dialect: JSON for JSON, empty TwiML \
                   for the form.",
    request_body(content(
        (JsonSms = "application/json"),
        (TwilioSms = "application/x-www-form-urlencoded"),
    )),
    security(("connector_token" = []), ("connector_token_query" = []), ()),
    responses(
        (status = 202, description = "Stored; routed after this answer",
            headers(("x-switchyard-message-id" = i64, description = "The stored message's id")),
            content((Accepted = "application/json"), (String = "text/xml", example = json!(TWIML)))),
        (status = 200, description = "A retry of a stored message: nothing new was stored",
            headers(("x-switchyard-message-id" = i64, description = "The stored message's id")),
            content((Accepted = "application/json"), (String = "text/xml", example = json!(TWIML)))),
        (status = 400, response = MalformedBody),
        (status = 401, response = Unauthorized),
        (status = 404, description = "`not_found`: the number's connector was deleted while the post was on its way; nothing was stored", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
        (status = 503, response = Unavailable),
    ),
)]
pub(super) async fn receive(
    State(state): State<AppState>,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let arrived = Instant::now();
    let span = tracing::info_span!(
        "ingest",
        message_id = Empty,
        gateway_message_id = Empty,
        connector = Empty,
        connector_name = Empty,
    );
    let result = accept(&state, query, headers, request, &span)
        .instrument(span.clone())
        .await;
    match &result {
        Ok((_, duplicate)) => state.metrics.ingested(*duplicate, arrived),
        Err(e) => state.metrics.ingest_refused(e.code()),
    }
    result.map(|(response, _)| response)
}

/// The post's answer and whether it was a retry of a stored message.
async fn accept(
    state: &AppState,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    request: Request,
    span: &tracing::Span,
) -> Result<(Response, bool), ApiError> {
    let now = now_ms();
    let query_token = query.ok().and_then(|Query(q)| q.token);
    let presented = presented_token(&headers, query_token.as_deref());
    // Before a byte of the body is read: a post no connector could take is refused
    // here, so a caller without a token cannot make the server read (or time) a body.
    let signature = headers
        .get(twilio::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    state
        .directory
        .gate()
        .await?
        .admits(presented, signature.is_some())
        .map_err(refused)?;
    // The URL Twilio signed: as gateways reach the server, with the path and query.
    let uri = request
        .extensions()
        .get::<OriginalUri>()
        .map_or_else(|| request.uri().clone(), |o| o.0.clone());
    let mut signed: Option<Vec<(String, String)>> = None;
    let (shape, sms) = if is_form(&headers) && signature.is_some() {
        // A signed form: its parameters are kept for the signature.
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        let post: TwilioSms = parse_form(&bytes)?;
        signed = Some(serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            ApiError::client(StatusCode::BAD_REQUEST, "bad_request", e.to_string())
        })?);
        (Shape::Form, InboundSms::from_twilio(post, now)?)
    } else if is_form(&headers) {
        let ApiForm(post) = ApiForm::<TwilioSms>::from_request(request, state).await?;
        (Shape::Form, InboundSms::from_twilio(post, now)?)
    } else {
        // Anything else must be JSON; the JSON extractor names a wrong content type.
        let ApiJson(post) = ApiJson::<JsonSms>::from_request(request, state).await?;
        (Shape::Json, InboundSms::from_json(post, now)?)
    };
    span.record("gateway_message_id", sms.gateway_message_id.as_str());

    let connector = state.directory.by_recipient(sms.recipient.as_str()).await?;
    // Without a valid token, an unknown number must look like a wrong token: otherwise
    // anyone could probe which numbers have connectors.
    let by_token = check_token_for(connector.as_deref(), presented);
    if let Err(refusal) = by_token {
        // Twilio's signature stands in for the token, on a connector that has the
        // account's auth token.
        let auth_token = connector
            .as_deref()
            .and_then(|c| c.twilio_auth_token.as_deref());
        match (signature.as_deref(), signed.as_deref(), auth_token) {
            (Some(presented), Some(params), Some(auth_token)) => {
                let url = signed_url(state.public_url.as_deref(), &headers, &uri);
                if !twilio::verify(auth_token, &url, params, presented) {
                    return Err(ApiError::unauthorized(format!(
                        "the X-Twilio-Signature is not that of this post to {url} with the \
                         connector's Twilio auth token"
                    )));
                }
            }
            _ => return Err(refused(refusal)),
        }
    }
    let connector = connector.expect("check_token_for refuses posts to unknown numbers");
    span.record("connector", connector.id)
        .record("connector_name", connector.name.as_str());

    let stored = state
        .ingest
        .submit(NewInbound::sms(connector.id, sms))
        .await
        .map_err(|e| ingest_refused(e, "SMS", "number"))?;

    span.record("message_id", stored.id);

    // 202: stored and acknowledged, routed after the reply; a retry of a stored message
    // is a plain 200 with the same id.
    let status = if stored.duplicate {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = match shape {
        Shape::Json => (
            status,
            Json(Accepted {
                id: stored.id,
                state: stored.state,
                duplicate: stored.duplicate,
            }),
        )
            .into_response(),
        // Twilio reads the reply as TwiML; an empty response sends nothing back.
        Shape::Form => (
            status,
            [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
            TWIML,
        )
            .into_response(),
    };
    response
        .headers_mut()
        .insert("x-switchyard-message-id", HeaderValue::from(stored.id));
    Ok((response, stored.duplicate))
}

/// The answer to a post that could not be stored: the server is stopping, or the
/// connector was deleted between finding it and storing the post (`kind`: `SMS` or
/// `email`; `found_by`: what found the connector, `number` or `address`).
pub(super) fn ingest_refused(e: IngestError, kind: &str, found_by: &str) -> ApiError {
    match e {
        IngestError::ShuttingDown => ApiError::client(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the server is shutting down; retry on another node or later",
        ),
        IngestError::Store(e) if matches!(*e, StoreError::NotFound(_)) => ApiError::not_found(
            format!("{e}: the {found_by}'s connector was deleted; nothing was stored"),
        ),
        IngestError::Store(e) => {
            ApiError::Internal(anyhow::anyhow!("storing an inbound {kind}: {e}"))
        }
    }
}

/// The URL a post was made to as its sender saw it: the configured public URL (or
/// `http://` and the `Host` header) with the path and query it arrived at.
fn signed_url(public_url: Option<&str>, headers: &HeaderMap, uri: &Uri) -> String {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    match public_url {
        Some(base) => format!("{base}{path}"),
        None => {
            let host = headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("localhost");
            format!("http://{host}{path}")
        }
    }
}

/// The answer to a post whose token does not let it through.
fn refused(refusal: TokenRefusal) -> ApiError {
    match refusal {
        TokenRefusal::Missing => ApiError::unauthorized(
            "send the token of the number's connector as `Authorization: Bearer <token>` \
             or `?token=<token>`",
        ),
        TokenRefusal::Wrong => {
            ApiError::unauthorized("the token is not that of a connector for this number")
        }
    }
}

/// `Authorization: Bearer <token>` first, else `?token=`.
pub(super) fn presented_token<'a>(
    headers: &'a HeaderMap,
    query: Option<&'a str>,
) -> Option<&'a str> {
    authorization(headers).token().or(query)
}

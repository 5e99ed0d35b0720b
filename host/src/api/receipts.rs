//! `POST /api/v1/sms/receipts`: delivery receipts from SMS gateways, as JSON or as a
//! Twilio-style status callback form, authenticated by the SMS settings' receipt token.

use axum::Json;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiForm, ApiJson, is_form};
use super::inbound::{TokenQuery, presented_token};
use super::openapi::{InvalidField, MalformedBody, TooLarge, Unauthorized, UnsupportedMediaType};
use super::routes::{ApiRouter, post};
use crate::domain::connectors::inbound::same_token;
use crate::domain::queue::TextStatus;
use crate::domain::queue::receipts::{JsonReceipt, TwilioReceipt};
use crate::store::queue::ReceiptOutcome;

pub fn router() -> ApiRouter {
    ApiRouter::new().route("/sms/receipts", post(receive))
}

/// What became of a receipt.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum ReceiptResult {
    /// The entry's status is now `status`.
    Applied,
    /// The same receipt was seen before; nothing changed.
    Duplicate,
    /// No entry has this message id yet; it applies when one does.
    Stored,
    /// An interim Twilio status, which changes nothing.
    Ignored,
}

/// The answer to a receipt.
#[derive(Serialize, ToSchema)]
pub(super) struct ReceiptAnswer {
    result: ReceiptResult,
    /// The queue entry the receipt applied to (`applied`).
    #[serde(skip_serializing_if = "Option::is_none")]
    entry: Option<i64>,
    /// The entry's text status now (`applied`).
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<TextStatus>,
    /// Why nothing changed (`stored`, `ignored`).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

impl ReceiptAnswer {
    fn new(result: ReceiptResult) -> Self {
        Self {
            result,
            entry: None,
            status: None,
            reason: None,
        }
    }

    fn because(self, reason: &'static str) -> Self {
        Self {
            reason: Some(reason),
            ..self
        }
    }
}

/// The gateway's token is checked before the body is read.
#[utoipa::path(
    post,
    path = "/api/v1/sms/receipts",
    tag = "gateways",
    operation_id = "receive_receipt",
    summary = "Receive a delivery receipt",
    description = "A delivery receipt, posted by the SMS gateway as JSON or as a Twilio-style \
                   status callback, with the receipt token of the SMS settings.",
    request_body(content(
        (JsonReceipt = "application/json"),
        (TwilioReceipt = "application/x-www-form-urlencoded"),
    )),
    security(("receipt_token" = []), ("receipt_token_query" = [])),
    responses(
        (status = 200, description = "Applied, a duplicate, or an interim status that changes nothing", body = ReceiptAnswer),
        (status = 202, description = "Stored: no entry has this message id yet; it applies when one does", body = ReceiptAnswer),
        (status = 400, response = MalformedBody),
        (status = 401, response = Unauthorized),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn receive(
    State(state): State<AppState>,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<ReceiptAnswer>), ApiError> {
    let settings = state.store.sms_settings().await?;
    let query_token = query.ok().and_then(|Query(q)| q.token);
    let presented = presented_token(&headers, query_token.as_deref());
    match presented {
        None => {
            return Err(ApiError::unauthorized(
                "send the SMS settings' receipt token as `Authorization: Bearer <token>` or `?token=`",
            ));
        }
        Some(token)
            if settings.receipt_token.is_empty() || !same_token(&settings.receipt_token, token) =>
        {
            return Err(ApiError::unauthorized("wrong receipt token"));
        }
        Some(_) => {}
    }
    let receipt = if is_form(&headers) {
        let ApiForm(post) = ApiForm::<TwilioReceipt>::from_request(request, &state).await?;
        match post.into_receipt()? {
            Some(receipt) => receipt,
            None => {
                return Ok((
                    StatusCode::OK,
                    Json(ReceiptAnswer::new(ReceiptResult::Ignored).because("an interim status")),
                ));
            }
        }
    } else {
        let ApiJson(post) = ApiJson::<JsonReceipt>::from_request(request, &state).await?;
        post.into_receipt()?
    };
    let answer = match state.store.record_receipt(&receipt).await? {
        ReceiptOutcome::Duplicate => (StatusCode::OK, ReceiptAnswer::new(ReceiptResult::Duplicate)),
        ReceiptOutcome::Applied { number, status } => (
            StatusCode::OK,
            ReceiptAnswer {
                entry: Some(number),
                status: Some(status),
                ..ReceiptAnswer::new(ReceiptResult::Applied)
            },
        ),
        // Kept: the gateway may report before the host has stored its answer.
        ReceiptOutcome::Unmatched => (
            StatusCode::ACCEPTED,
            ReceiptAnswer::new(ReceiptResult::Stored)
                .because("no queue entry has this message id yet; it applies when one does"),
        ),
    };
    Ok((answer.0, Json(answer.1)))
}

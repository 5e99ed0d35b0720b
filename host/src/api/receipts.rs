//! `POST /api/v1/sms/receipts`: delivery receipts from SMS gateways, as JSON or as a
//! Twilio-style status callback form, authenticated by the SMS settings' receipt token.

use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::{Form, Json};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::ApiJson;
use super::inbound::{TokenQuery, form_rejection, presented_token};
use super::openapi::{InvalidField, MalformedBody, TooLarge, Unauthorized, UnsupportedMediaType};
use super::routes::{ApiRouter, post};
use crate::acd_groups::FieldError;
use crate::connectors::inbound::same_token;
use crate::queue::TextStatus;
use crate::store::queue::{Receipt, ReceiptOutcome};

pub fn router() -> ApiRouter {
    ApiRouter::new().route("/sms/receipts", post(receive))
}

/// The JSON receipt: one part of one message.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct JsonReceipt {
    /// The gateway's id for the message, as its answer to the send gave it.
    message_id: String,
    /// `sent`, `delivered`, `undelivered`, `unreachable` or `failed`.
    status: String,
    /// 1-based part of a multi-part message; 1 when absent.
    part: Option<u32>,
    /// How many parts the gateway split the message into, if it says.
    parts: Option<u32>,
    error_code: Option<String>,
    error_description: Option<String>,
}

/// Twilio's status callback. Twilio posts more fields (AccountSid, From, To, ...); they
/// are not needed and not refused. `MessageSid` (or `SmsSid`) and `MessageStatus` (or
/// `SmsStatus`) are required.
#[derive(Deserialize, ToSchema)]
pub(super) struct TwilioReceipt {
    #[serde(rename = "MessageSid")]
    message_sid: Option<String>,
    #[serde(rename = "SmsSid")]
    sms_sid: Option<String>,
    #[serde(rename = "MessageStatus")]
    message_status: Option<String>,
    #[serde(rename = "SmsStatus")]
    sms_status: Option<String>,
    #[serde(rename = "ErrorCode")]
    error_code: Option<String>,
    #[serde(rename = "ErrorMessage")]
    error_message: Option<String>,
}

/// Longest reference or error text kept from a gateway.
const MAX_FIELD: usize = 1_024;
/// More parts than any gateway concatenates (the UDH counter is one byte).
const MAX_PARTS: u32 = 255;

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
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let receipt = if form {
        let Form(post) = Form::<TwilioReceipt>::from_request(request, &state)
            .await
            .map_err(form_rejection)?;
        match from_twilio(post)? {
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
        from_json(post)?
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

fn reference(id: &str, field: &'static str) -> Result<String, FieldError> {
    let id = id.trim();
    if id.is_empty() || id.len() > MAX_FIELD || id.contains('\0') {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {MAX_FIELD} bytes without NUL"),
        ));
    }
    Ok(id.to_owned())
}

fn text(value: Option<String>, field: &'static str) -> Result<Option<String>, FieldError> {
    match value {
        Some(v) if v.len() > MAX_FIELD || v.contains('\0') => Err(FieldError::new(
            field,
            format!("must be at most {MAX_FIELD} bytes without NUL"),
        )),
        Some(v) if v.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn from_json(post: JsonReceipt) -> Result<Receipt, FieldError> {
    let status = TextStatus::parse(&post.status)
        .filter(|s| s.is_receipt_outcome())
        .ok_or_else(|| {
            FieldError::new(
                "status",
                format!(
                    "`{}` is not one of sent, delivered, undelivered, unreachable, failed",
                    post.status
                ),
            )
        })?;
    let part = post.part.unwrap_or(1);
    if !(1..=MAX_PARTS).contains(&part) {
        return Err(FieldError::new(
            "part",
            format!("must be between 1 and {MAX_PARTS}"),
        ));
    }
    if let Some(parts) = post.parts
        && !(part..=MAX_PARTS).contains(&parts)
    {
        return Err(FieldError::new(
            "parts",
            format!("must be between part ({part}) and {MAX_PARTS}"),
        ));
    }
    Ok(Receipt {
        reference: reference(&post.message_id, "message_id")?,
        part,
        parts: post.parts,
        status,
        error_code: text(post.error_code, "error_code")?,
        error_description: text(post.error_description, "error_description")?,
    })
}

/// Twilio's statuses; interim ones (queued, sending, ...) change nothing and give None.
/// Error 30003 ("Unreachable destination handset") is seed 001's Unreachable.
fn from_twilio(post: TwilioReceipt) -> Result<Option<Receipt>, FieldError> {
    let sid = post
        .message_sid
        .or(post.sms_sid)
        .ok_or_else(|| FieldError::new("MessageSid", "is required"))?;
    let raw = post
        .message_status
        .or(post.sms_status)
        .ok_or_else(|| FieldError::new("MessageStatus", "is required"))?;
    let error_code = text(post.error_code, "ErrorCode")?;
    let status = match raw.to_ascii_lowercase().as_str() {
        "delivered" | "read" => TextStatus::Delivered,
        "undelivered" if error_code.as_deref() == Some("30003") => TextStatus::Unreachable,
        "undelivered" => TextStatus::Undelivered,
        "failed" => TextStatus::Failed,
        "sent" => TextStatus::Sent,
        "queued"
        | "accepted"
        | "scheduled"
        | "sending"
        | "receiving"
        | "received"
        | "canceled"
        | "partially_delivered" => return Ok(None),
        other => {
            return Err(FieldError::new(
                "MessageStatus",
                format!("`{other}` is not a Twilio message status"),
            ));
        }
    };
    Ok(Some(Receipt {
        reference: reference(&sid, "MessageSid")?,
        part: 1,
        parts: None,
        status,
        error_code,
        error_description: text(post.error_message, "ErrorMessage")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twilio(status: &str, code: Option<&str>) -> TwilioReceipt {
        TwilioReceipt {
            message_sid: Some("SM1".into()),
            sms_sid: None,
            message_status: Some(status.into()),
            sms_status: None,
            error_code: code.map(Into::into),
            error_message: None,
        }
    }

    #[test]
    fn twilio_statuses_map_to_seed_001() {
        let status = |s, c| from_twilio(twilio(s, c)).unwrap().map(|r| r.status);
        assert_eq!(status("delivered", None), Some(TextStatus::Delivered));
        assert_eq!(
            status("undelivered", Some("30005")),
            Some(TextStatus::Undelivered)
        );
        assert_eq!(
            status("undelivered", Some("30003")),
            Some(TextStatus::Unreachable)
        );
        assert_eq!(status("failed", None), Some(TextStatus::Failed));
        assert_eq!(status("sending", None), None);
        assert!(from_twilio(twilio("exploded", None)).is_err());
    }

    #[test]
    fn json_receipts_are_checked() {
        let receipt = |status: &str, part, parts| JsonReceipt {
            message_id: "gw-1".into(),
            status: status.into(),
            part,
            parts,
            error_code: None,
            error_description: None,
        };
        assert_eq!(
            from_json(receipt("delivered", Some(2), Some(3)))
                .unwrap()
                .part,
            2
        );
        assert_eq!(
            from_json(receipt("queued", None, None)).unwrap_err().field,
            "status"
        );
        assert_eq!(
            from_json(receipt("delivered", Some(0), None))
                .unwrap_err()
                .field,
            "part"
        );
        assert_eq!(
            from_json(receipt("delivered", Some(3), Some(2)))
                .unwrap_err()
                .field,
            "parts"
        );
    }
}

//! `POST /api/v1/sms/receipts`: delivery receipts from SMS gateways, as JSON or as a
//! Twilio-style status callback form, authenticated by the SMS settings' receipt token.

use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Form, Json, Router};
use serde_json::{Value, json};

use super::AppState;
use super::error::ApiError;
use super::extract::ApiJson;
use super::inbound::{TokenQuery, form_rejection, presented_token};
use crate::domain::connectors::inbound::same_token;
use crate::domain::queue::receipts::{JsonReceipt, TwilioReceipt};
use crate::store::queue::ReceiptOutcome;

pub fn router() -> Router<AppState> {
    Router::new().route("/sms/receipts", post(receive))
}

async fn receive(
    State(state): State<AppState>,
    query: Result<Query<TokenQuery>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    request: Request,
) -> Result<(StatusCode, Json<Value>), ApiError> {
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
        match post.into_receipt()? {
            Some(receipt) => receipt,
            None => {
                return Ok((
                    StatusCode::OK,
                    Json(json!({ "result": "ignored", "reason": "an interim status" })),
                ));
            }
        }
    } else {
        let ApiJson(post) = ApiJson::<JsonReceipt>::from_request(request, &state).await?;
        post.into_receipt()?
    };
    let answer = match state.store.record_receipt(&receipt).await? {
        ReceiptOutcome::Duplicate => (StatusCode::OK, json!({ "result": "duplicate" })),
        ReceiptOutcome::Applied { number, status } => (
            StatusCode::OK,
            json!({ "result": "applied", "entry": number, "status": status }),
        ),
        // Kept: the gateway may report before the host has stored its answer.
        ReceiptOutcome::Unmatched => (
            StatusCode::ACCEPTED,
            json!({
                "result": "stored",
                "reason": "no queue entry has this message id yet; it applies when one does",
            }),
        ),
    };
    Ok((answer.0, Json(answer.1)))
}

//! `/api/v1/settings/email` and `/api/v1/settings/sms`: the host's own senders, which
//! decide (seed 000) whether email and SMS communications enter the queue.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use super::extract::ApiJson;
use crate::domain::connectors::ConnectorToken;
use crate::domain::queue::settings::{
    EmailSettingsInput, EmailSettingsView, SmsSettings, SmsSettingsInput,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/settings/email", get(email).put(put_email))
        .route("/settings/sms", get(sms).put(put_sms))
}

async fn email(State(state): State<AppState>) -> Result<Json<EmailSettingsView>, ApiError> {
    Ok(Json(state.store.email_settings().await?.view()))
}

async fn put_email(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<EmailSettingsInput>,
) -> Result<Json<EmailSettingsView>, ApiError> {
    let current = state.store.email_settings().await?;
    let settings = input.apply(&current)?;
    state.store.put_email_settings(&settings).await?;
    state.queue.wake();
    Ok(Json(settings.view()))
}

/// The SMS settings, receipt token included (admins read it to configure the gateway's
/// status callbacks), the gateway plugin's secrets redacted.
async fn sms(State(state): State<AppState>) -> Result<Json<SmsSettings>, ApiError> {
    Ok(Json(state.store.sms_settings().await?.view()))
}

async fn put_sms(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SmsSettingsInput>,
) -> Result<Json<SmsSettings>, ApiError> {
    let current = state.store.sms_settings().await?;
    let token = ConnectorToken::generate().as_str().to_owned();
    let settings = input.apply(&current, token)?;
    state.store.put_sms_settings(&settings).await?;
    state.queue.wake();
    Ok(Json(settings.view()))
}

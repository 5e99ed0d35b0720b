//! `/api/v1/settings/email` and `/api/v1/settings/sms`: the host's own senders, which
//! decide (seed 000) whether email and SMS communications enter the queue.

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::error::ApiError;
use super::extract::ApiJson;
use super::openapi::{InvalidField, MalformedBody, TooLarge, UnsupportedMediaType};
use super::routes::{ApiRouter, get};
use crate::domain::connectors::ConnectorToken;
use crate::domain::queue::settings::{
    EmailSettingsInput, EmailSettingsView, SmsSettings, SmsSettingsInput,
};
use crate::domain::queue::systems::check_content_hash;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/settings/email", get(email).put(put_email))
        .route("/settings/sms", get(sms).put(put_sms))
}

#[utoipa::path(
    get,
    path = "/api/v1/settings/email",
    tag = "settings",
    operation_id = "show_email_settings",
    summary = "Show the email server settings",
    description = "The password is never shown (`password_set`).",
    responses((status = 200, description = "The email server settings, without the password", body = EmailSettingsView)),
)]
pub(super) async fn email(
    State(state): State<AppState>,
) -> Result<Json<EmailSettingsView>, ApiError> {
    Ok(Json(state.store.email_settings().await?.view()))
}

/// Fields left out keep their value, except `port`, which follows `tls` unless given;
/// `password: null` removes the password.
#[utoipa::path(
    put,
    path = "/api/v1/settings/email",
    tag = "settings",
    operation_id = "put_email_settings",
    summary = "Set the email server settings",
    description = "Fields left out keep their value, except `port`, which follows `tls` unless given; `password: null` removes the password.",
    request_body = EmailSettingsInput,
    responses(
        (status = 200, description = "The settings, stored", body = EmailSettingsView),
        (status = 400, response = MalformedBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn put_email(
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
#[utoipa::path(
    get,
    path = "/api/v1/settings/sms",
    tag = "settings",
    operation_id = "show_sms_settings",
    summary = "Show the SMS gateway settings",
    description = "Secrets in the gateway plugin's settings are redacted; the receipt token is shown, for configuring the gateway's status callbacks.",
    responses((status = 200, description = "The SMS gateway settings, secrets redacted", body = SmsSettings)),
)]
pub(super) async fn sms(State(state): State<AppState>) -> Result<Json<SmsSettings>, ApiError> {
    Ok(Json(state.store.sms_settings().await?.view()))
}

/// Fields left out keep their value; the receipt token is generated when there is none
/// yet or `generate_new_receipt_token` asks for a new one.
#[utoipa::path(
    put,
    path = "/api/v1/settings/sms",
    tag = "settings",
    operation_id = "put_sms_settings",
    summary = "Set the SMS gateway settings",
    description = "Fields left out keep their value; the receipt token is generated when there is none yet or `generate_new_receipt_token` asks for a new one.",
    request_body = SmsSettingsInput,
    responses(
        (status = 200, description = "The settings, stored", body = SmsSettings),
        (status = 400, response = MalformedBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn put_sms(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<SmsSettingsInput>,
) -> Result<Json<SmsSettings>, ApiError> {
    if let Some(Some(hash)) = &input.gateway_plugin {
        check_content_hash(hash, "gateway_plugin")?;
    }
    let current = state.store.sms_settings().await?;
    let token = ConnectorToken::generate().as_str().to_owned();
    let settings = input.apply(&current, token)?;
    state.store.put_sms_settings(&settings).await?;
    state.queue.wake();
    Ok(Json(settings.view()))
}

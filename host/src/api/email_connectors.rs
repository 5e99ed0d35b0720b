//! `/api/v1/connectors/email`: create, list, get, update and delete email receive
//! connectors. Their plugin versions are in [`super::plugins`], as for SMS.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::Value;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, from_value};
use super::openapi::{
    Conflict, InvalidField, InvalidQuery, MalformedBody, NotFound, TooLarge, UnsupportedMediaType,
};
use super::query::ListQuery;
use super::routes::{ApiRouter, get};
use crate::domain::channel::Channel;
use crate::domain::connectors::email::{EmailConnector, EmailConnectorInput};
use crate::domain::connectors::{ConnectorToken, PluginLimits, RoutingType, SmsConnector};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/connectors/email", get(list).post(create))
        .route(
            "/connectors/email/{id}",
            get(show).put(replace).patch(modify).delete(remove),
        )
}

#[utoipa::path(
    post,
    path = "/api/v1/connectors/email",
    tag = "connectors",
    operation_id = "create_email_connector",
    summary = "Create an email connector",
    description = "The server generates its token. Each address belongs to one connector.",
    request_body = EmailConnectorInput,
    responses(
        (status = 201, description = "The connector, created, with its token", body = EmailConnector),
        (status = 400, response = MalformedBody),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<EmailConnectorInput>,
) -> Result<(StatusCode, Json<EmailConnector>), ApiError> {
    let definition = state.checked_connector(input.parse(state.plugin_limits)?)?;
    let created = state
        .store
        .create_connector(&definition, &ConnectorToken::generate())
        .await?;
    Ok((StatusCode::CREATED, Json(created.into())))
}

#[utoipa::path(
    get,
    path = "/api/v1/connectors/email",
    tag = "connectors",
    operation_id = "list_email_connectors",
    summary = "List email connectors",
    responses(
        (status = 200, description = "Every email connector", body = Vec<EmailConnector>),
        (status = 400, response = InvalidQuery),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<EmailConnector>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    let connectors = state.store.list_connectors(Channel::Email).await?;
    Ok(Json(connectors.into_iter().map(Into::into).collect()))
}

#[utoipa::path(
    get,
    path = "/api/v1/connectors/email/{id}",
    tag = "connectors",
    operation_id = "show_email_connector",
    summary = "Show an email connector",
    params(("id" = i64, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = EmailConnector),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<EmailConnector>, ApiError> {
    Ok(Json(
        state.store.connector_of(Channel::Email, id).await?.into(),
    ))
}

#[utoipa::path(
    put,
    path = "/api/v1/connectors/email/{id}",
    tag = "connectors",
    operation_id = "replace_email_connector",
    summary = "Replace an email connector",
    description = "Optional fields left out take their defaults, except secrets in `plugin_settings`, which keep their stored values when left out or sent back as `[redacted]`.",
    params(("id" = i64, Path, description = "The connector's id")),
    request_body = EmailConnectorInput,
    responses(
        (status = 200, description = "The connector, changed", body = EmailConnector),
        (status = 404, response = NotFound),
        (status = 400, response = MalformedBody),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn replace(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<EmailConnectorInput>,
) -> Result<Json<EmailConnector>, ApiError> {
    let current = state.store.connector_of(Channel::Email, id).await?;
    save(&state, &current, input).await
}

#[utoipa::path(
    patch,
    path = "/api/v1/connectors/email/{id}",
    tag = "connectors",
    operation_id = "modify_email_connector",
    summary = "Change some fields of an email connector",
    description = "Only the fields to change; `null` clears an optional one. The result is checked as a whole, as a PUT is.",
    params(("id" = i64, Path, description = "The connector's id")),
    request_body = EmailConnectorPatch,
    responses(
        (status = 200, description = "The connector, changed", body = EmailConnector),
        (status = 404, response = NotFound),
        (status = 400, response = MalformedBody),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn modify(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<serde_json::Map<String, Value>>,
) -> Result<Json<EmailConnector>, ApiError> {
    let current = state.store.connector_of(Channel::Email, id).await?;
    let shown = EmailConnector::from(current.clone());
    let input: EmailConnectorInput = from_value(shown.patched(patch))?;
    save(&state, &current, input).await
}

/// The body of PATCH as the document describes it: [`EmailConnectorInput`]'s fields,
/// each optional. Never deserialised (the handler merges a JSON object).
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct EmailConnectorPatch {
    name: Option<String>,
    addresses: Option<Vec<String>>,
    require_token: Option<bool>,
    /// Asks for a new token when this save is stored.
    generate_new_token: Option<bool>,
    routing_type: Option<RoutingType>,
    acd_group: Option<i64>,
    incoming_subject: Option<String>,
    fallback_acd_group: Option<i64>,
    #[schema(value_type = Option<Object>)]
    plugin_settings: Option<Value>,
    plugin_limits: Option<PluginLimits>,
}

async fn save(
    state: &AppState,
    current: &SmsConnector,
    input: EmailConnectorInput,
) -> Result<Json<EmailConnector>, ApiError> {
    let definition = state.checked_connector(
        input
            .keeping_secrets_of(current)
            .parse(state.plugin_limits)?,
    )?;
    let new_token = definition.generate_new_token.then(ConnectorToken::generate);
    let saved = state
        .store
        .update_connector(current.id, &definition, new_token.as_ref())
        .await?;
    Ok(Json(saved.into()))
}

#[utoipa::path(
    delete,
    path = "/api/v1/connectors/email/{id}",
    tag = "connectors",
    operation_id = "delete_email_connector",
    summary = "Delete an email connector",
    description = "With its routing application versions and addresses.",
    params(("id" = i64, Path, description = "The connector's id")),
    responses(
        (status = 204, description = "Deleted, with its plugin versions"),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_connector(Channel::Email, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

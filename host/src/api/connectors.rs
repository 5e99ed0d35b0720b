//! `/api/v1/connectors/sms`: create, list, get, update and delete SMS receive
//! connectors. Their plugin versions are in [`super::plugins`].

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
use crate::domain::acd_groups::FieldError;
use crate::domain::channel::Channel;
use crate::domain::connectors::{
    ConnectorDefinition, ConnectorInput, ConnectorToken, PluginLimits, RoutingType, SmsConnector,
};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/connectors/sms", get(list).post(create))
        .route(
            "/connectors/sms/{id}",
            get(show).put(replace).patch(modify).delete(remove),
        )
}

impl AppState {
    /// Every rule a connector must meet before the store sees it, including that its
    /// limit overrides fit this host's engine.
    fn connector_definition(&self, input: ConnectorInput) -> Result<ConnectorDefinition, ApiError> {
        self.checked_connector(ConnectorDefinition::parse(input, self.plugin_limits)?)
    }

    /// The checks of a parsed connector that need this host: its limit overrides.
    pub(super) fn checked_connector(
        &self,
        definition: ConnectorDefinition,
    ) -> Result<ConnectorDefinition, ApiError> {
        if let Some(overrides) = &definition.plugin_limits {
            let limits = overrides.resolve(self.plugin_limits)?;
            self.runtime
                .check_limits(&limits)
                .map_err(|message| FieldError::new("plugin_limits", message))?;
        }
        Ok(definition)
    }
}

/// A new connector always gets a token.
#[utoipa::path(
    post,
    path = "/api/v1/connectors/sms",
    tag = "connectors",
    operation_id = "create_sms_connector",
    summary = "Create an SMS connector",
    description = "The server generates its token.",
    request_body = ConnectorInput,
    responses(
        (status = 201, description = "The connector, created, with its token", body = SmsConnector),
        (status = 400, response = MalformedBody),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ConnectorInput>,
) -> Result<(StatusCode, Json<SmsConnector>), ApiError> {
    let definition = state.connector_definition(input)?;
    // A new connector always gets a token, whether or not `generate_new_token` is set:
    // there is no earlier one to keep.
    let created = state
        .store
        .create_connector(&definition, &ConnectorToken::generate())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get,
    path = "/api/v1/connectors/sms",
    tag = "connectors",
    operation_id = "list_sms_connectors",
    summary = "List SMS connectors",
    responses(
        (status = 200, description = "Every SMS connector", body = Vec<SmsConnector>),
        (status = 400, response = InvalidQuery),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<SmsConnector>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_connectors(Channel::Sms).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/connectors/sms/{id}",
    tag = "connectors",
    operation_id = "show_sms_connector",
    summary = "Show an SMS connector",
    params(("id" = i64, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector", body = SmsConnector),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SmsConnector>, ApiError> {
    Ok(Json(state.store.connector_of(Channel::Sms, id).await?))
}

/// PUT states the whole connector: optional fields left out take their defaults, except
/// that secrets in `plugin_settings` left out or sent back redacted keep their stored
/// values ([`crate::domain::secrets::keep_stored`]).
#[utoipa::path(
    put,
    path = "/api/v1/connectors/sms/{id}",
    tag = "connectors",
    operation_id = "replace_sms_connector",
    summary = "Replace an SMS connector",
    description = "Optional fields left out take their defaults, except secrets in `plugin_settings`, which keep their stored values when left out or sent back as `[redacted]`.",
    params(("id" = i64, Path, description = "The connector's id")),
    request_body = ConnectorInput,
    responses(
        (status = 200, description = "The connector, changed", body = SmsConnector),
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
    ApiJson(input): ApiJson<ConnectorInput>,
) -> Result<Json<SmsConnector>, ApiError> {
    let current = state.store.connector_of(Channel::Sms, id).await?;
    save(&state, &current, input).await
}

/// PATCH names only the fields to change ([`SmsConnector::patched`]).
#[utoipa::path(
    patch,
    path = "/api/v1/connectors/sms/{id}",
    tag = "connectors",
    operation_id = "modify_sms_connector",
    summary = "Change some fields of an SMS connector",
    description = "Only the fields to change; `null` clears an optional one. The result is checked as a whole, as a PUT is.",
    params(("id" = i64, Path, description = "The connector's id")),
    request_body = ConnectorPatch,
    responses(
        (status = 200, description = "The connector, changed", body = SmsConnector),
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
) -> Result<Json<SmsConnector>, ApiError> {
    let current = state.store.connector_of(Channel::Sms, id).await?;
    let input: ConnectorInput = from_value(current.patched(patch))?;
    save(&state, &current, input).await
}

/// The body of PATCH as the document describes it: [`ConnectorInput`]'s fields, each
/// optional (`null` clears an optional one). The handler reads a JSON object and merges
/// it onto the stored connector, so this type is never deserialised.
#[derive(serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub(super) struct ConnectorPatch {
    name: Option<String>,
    recipient: Option<String>,
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
    input: ConnectorInput,
) -> Result<Json<SmsConnector>, ApiError> {
    let id = current.id;
    let definition = state.connector_definition(input.keeping_secrets_of(current))?;
    let new_token = definition.generate_new_token.then(ConnectorToken::generate);
    Ok(Json(
        state
            .store
            .update_connector(id, &definition, new_token.as_ref())
            .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/connectors/sms/{id}",
    tag = "connectors",
    operation_id = "delete_sms_connector",
    summary = "Delete an SMS connector",
    description = "With its routing application versions.",
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
    state.store.delete_connector(Channel::Sms, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

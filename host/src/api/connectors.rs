//! `/api/v1/connectors/sms`: create, list, get, update and delete SMS receive
//! connectors. Their plugin versions are in [`super::plugins`].

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, from_value};
use super::query::ListQuery;
use crate::domain::acd_groups::FieldError;
use crate::domain::connectors::{
    ConnectorDefinition, ConnectorInput, ConnectorToken, SmsConnector,
};

pub fn router() -> Router<AppState> {
    Router::new()
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
        let definition = ConnectorDefinition::parse(input, self.plugin_limits)?;
        if let Some(overrides) = &definition.plugin_limits {
            let limits = overrides.resolve(self.plugin_limits)?;
            self.runtime
                .check_limits(&limits)
                .map_err(|message| FieldError::new("plugin_limits", message))?;
        }
        Ok(definition)
    }
}

async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<ConnectorInput>,
) -> Result<(StatusCode, Json<SmsConnector>), ApiError> {
    let definition = state.connector_definition(input)?;
    // A new connector always gets a token, whether or not `generate_new_token` is set:
    // there is no earlier one to keep.
    let created = state
        .store
        .create_sms_connector(&definition, &ConnectorToken::generate())
        .await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<SmsConnector>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_sms_connectors().await?))
}

async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<SmsConnector>, ApiError> {
    Ok(Json(state.store.sms_connector(id).await?))
}

/// PUT states the whole connector: optional fields left out take their defaults, except
/// that secrets in `plugin_settings` left out or sent back redacted keep their stored
/// values ([`crate::domain::secrets::keep_stored`]).
async fn replace(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(input): ApiJson<ConnectorInput>,
) -> Result<Json<SmsConnector>, ApiError> {
    let current = state.store.sms_connector(id).await?;
    save(&state, &current, input).await
}

/// PATCH names only the fields to change ([`SmsConnector::patched`]).
async fn modify(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(patch): ApiJson<serde_json::Map<String, Value>>,
) -> Result<Json<SmsConnector>, ApiError> {
    let current = state.store.sms_connector(id).await?;
    let input: ConnectorInput = from_value(current.patched(patch))?;
    save(&state, &current, input).await
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
            .update_sms_connector(id, &definition, new_token.as_ref())
            .await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_sms_connector(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

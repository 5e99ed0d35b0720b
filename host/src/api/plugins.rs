//! `/api/v1/connectors/sms/{id}/plugins` and `/api/v1/connectors/email/{id}/plugins`:
//! upload routing application versions to a connector, list them, activate one, roll
//! back. Both resources share these handlers; each sees only its own connectors.
//!
//! An upload is checked by the runtime against the routing-application world before
//! anything is stored, so a version in the list is always one the host can run.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::error::ApiError;
use super::extract::ApiPath;
use super::openapi::{ErrorBody, InvalidQuery, NotFound, TooLarge, UnsupportedMediaType};
use super::query::ListQuery;
use super::routes::{ApiRouter, get, post};
use crate::domain::channel::Channel;
use crate::domain::connectors::PluginVersion;
use crate::domain::connectors::plugins::refuses_routing_applications;
use crate::runtime::{MAX_COMPONENT_SIZE, World, content_hash};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/connectors/sms/{id}/plugins",
            // Components are megabytes (the Python and JavaScript routers 12 to 18 MB),
            // so this one route accepts bodies up to the runtime's own size limit; the
            // rest of the API keeps the small default.
            get(list).post(upload).body_limit(MAX_COMPONENT_SIZE),
        )
        .route(
            "/connectors/sms/{id}/plugins/{version}/activate",
            post(activate),
        )
        .route("/connectors/sms/{id}/plugins/rollback", post(rollback))
        .route(
            "/connectors/email/{id}/plugins",
            get(email_list)
                .post(email_upload)
                .body_limit(MAX_COMPONENT_SIZE),
        )
        .route(
            "/connectors/email/{id}/plugins/{version}/activate",
            post(email_activate),
        )
        .route(
            "/connectors/email/{id}/plugins/rollback",
            post(email_rollback),
        )
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct UploadOptions {
    /// Whether the new version becomes active; see
    /// [`crate::domain::connectors::activates_on_upload`] for the default.
    activate: Option<bool>,
}

/// Content types a component may be sent as. Anything else (a JSON or form body sent
/// by mistake) is refused before the bytes are read as a component.
const COMPONENT_TYPES: [&str; 2] = ["application/wasm", "application/octet-stream"];

/// Uploads a routing application: 201 with a new version, or 200 with the existing
/// version when these exact bytes were uploaded to this connector before.
#[utoipa::path(
    post,
    path = "/api/v1/connectors/sms/{id}/plugins",
    tag = "connectors",
    operation_id = "upload_routing_application",
    summary = "Upload a routing application",
    description = "A new version, active if `activate` says so (by default only when the connector has no active version). The same bytes uploaded again answer 200 with the version they are.",
    params(("id" = i64, Path, description = "The connector's id"), UploadOptions),
    request_body(
        description = "The component's bytes (a WebAssembly component of the routing-application world)",
        content(
            (Vec<u8> = "application/wasm"),
            (Vec<u8> = "application/octet-stream"),
        ),
    ),
    responses(
        (status = 201, description = "A new version", body = PluginVersion),
        (status = 200, description = "These bytes were uploaded before: that version", body = PluginVersion),
        (status = 400, response = InvalidQuery),
        (status = 404, response = NotFound),
        (status = 409, description = "`wrong_routing_type`: the connector routes directly to a group and runs no routing application; or `conflict`: another upload took the version number first", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_plugin`: not a component the host can run as a routing application", body = ErrorBody),
    ),
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
    query: Result<Query<UploadOptions>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PluginVersion>), ApiError> {
    upload_to(state, Channel::Sms, connector, query, headers, body).await
}

async fn upload_to(
    state: AppState,
    channel: Channel,
    connector: i64,
    query: Result<Query<UploadOptions>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PluginVersion>), ApiError> {
    let Query(options) = query
        .map_err(|e| ApiError::client(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let bytes = component_bytes(&headers, body)?;
    // Fail fast on an unknown or direct connector: compiling a large component takes
    // seconds.
    takes_routing_applications(&state, channel, connector).await?;

    // Compiling is CPU-bound and can take seconds, so it runs off the async workers.
    // Loading also warms the runtime's cache for when this version routes messages.
    let runtime = state.runtime.clone();
    let component = bytes.clone();
    let loaded =
        tokio::task::spawn_blocking(move || runtime.load_as(&component, World::RoutingApplication))
            .await
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("plugin validation panicked: {e}")))?;
    if let Err(e) = loaded {
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_plugin",
            format!("the component is not a usable routing application: {e}"),
        ));
    }

    let hash = content_hash(&bytes);
    let (version, created) = state
        .store
        .add_plugin_version(connector, &bytes, &hash, options.activate)
        .await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(version)))
}

/// The component bytes of an upload, after checking the content type and size.
pub(super) fn component_bytes(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    if !content_type.is_some_and(|t| COMPONENT_TYPES.iter().any(|c| t.eq_ignore_ascii_case(c))) {
        return Err(ApiError::client(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the component bytes with `Content-Type: application/wasm` \
             (or application/octet-stream)",
        ));
    }
    let bytes = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::client(
                StatusCode::PAYLOAD_TOO_LARGE,
                "body_too_large",
                format!("a component may be at most {MAX_COMPONENT_SIZE} bytes"),
            )
        } else {
            ApiError::client(e.status(), "bad_request", e.body_text())
        }
    })?;
    if bytes.is_empty() {
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_plugin",
            "the body is empty; send the component's bytes",
        ));
    }
    Ok(bytes)
}

/// Refuses (409 `wrong_routing_type`) a version for a connector that would never run it.
async fn takes_routing_applications(
    state: &AppState,
    channel: Channel,
    connector: i64,
) -> Result<(), ApiError> {
    let found = state.store.connector_of(channel, connector).await?;
    match refuses_routing_applications(found.routing_type) {
        None => Ok(()),
        Some(why) => {
            tracing::warn!(connector, "routing application refused: {why}");
            Err(ApiError::client(
                StatusCode::CONFLICT,
                "wrong_routing_type",
                format!("connector {connector} takes no routing application: {why}"),
            ))
        }
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/connectors/sms/{id}/plugins",
    tag = "connectors",
    operation_id = "list_routing_applications",
    summary = "List a connector's routing application versions",
    params(("id" = i64, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector's versions, oldest first", body = Vec<PluginVersion>),
        (status = 400, response = InvalidQuery),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<PluginVersion>>, ApiError> {
    list_of(state, Channel::Sms, connector, raw).await
}

async fn list_of(
    state: AppState,
    channel: Channel,
    connector: i64,
    raw: Option<String>,
) -> Result<Json<Vec<PluginVersion>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    state.store.connector_of(channel, connector).await?;
    Ok(Json(state.store.list_plugin_versions(connector).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/connectors/sms/{id}/plugins/{version}/activate",
    tag = "connectors",
    operation_id = "activate_routing_application",
    summary = "Activate a routing application version",
    params(
        ("id" = i64, Path, description = "The connector's id"),
        ("version" = i64, Path, description = "The version to route with from now on"),
    ),
    responses(
        (status = 200, description = "The version, now active", body = PluginVersion),
        (status = 404, response = NotFound),
        (status = 409, description = "`wrong_routing_type`: the connector routes directly to a group and runs no routing application", body = ErrorBody),
    ),
)]
pub(super) async fn activate(
    State(state): State<AppState>,
    ApiPath((connector, version)): ApiPath<(i64, i64)>,
) -> Result<Json<PluginVersion>, ApiError> {
    activate_on(state, Channel::Sms, connector, version).await
}

async fn activate_on(
    state: AppState,
    channel: Channel,
    connector: i64,
    version: i64,
) -> Result<Json<PluginVersion>, ApiError> {
    takes_routing_applications(&state, channel, connector).await?;
    Ok(Json(
        state
            .store
            .activate_plugin_version(connector, version)
            .await?,
    ))
}

/// Steps back to the version active before the current one.
#[utoipa::path(
    post,
    path = "/api/v1/connectors/sms/{id}/plugins/rollback",
    tag = "connectors",
    operation_id = "roll_back_routing_application",
    summary = "Roll back to the previously active version",
    params(("id" = i64, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The version active again", body = PluginVersion),
        (status = 404, response = NotFound),
        (status = 409, description = "`wrong_routing_type`: the connector runs no routing application; or `conflict`: there is no earlier version to go back to", body = ErrorBody),
    ),
)]
pub(super) async fn rollback(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
) -> Result<Json<PluginVersion>, ApiError> {
    rollback_on(state, Channel::Sms, connector).await
}

async fn rollback_on(
    state: AppState,
    channel: Channel,
    connector: i64,
) -> Result<Json<PluginVersion>, ApiError> {
    takes_routing_applications(&state, channel, connector).await?;
    Ok(Json(state.store.rollback_plugin(connector).await?))
}

/// Uploads a routing application to an email connector, as for SMS.
#[utoipa::path(
    post,
    path = "/api/v1/connectors/email/{id}/plugins",
    tag = "connectors",
    operation_id = "upload_email_routing_application",
    summary = "Upload a routing application to an email connector",
    description = "As for an SMS connector: a new version, active if `activate` says so (by default only when the connector has no active version).",
    params(("id" = i64, Path, description = "The connector's id"), UploadOptions),
    request_body(
        description = "The component's bytes (a WebAssembly component of the routing-application world)",
        content(
            (Vec<u8> = "application/wasm"),
            (Vec<u8> = "application/octet-stream"),
        ),
    ),
    responses(
        (status = 201, description = "A new version", body = PluginVersion),
        (status = 200, description = "These bytes were uploaded before: that version", body = PluginVersion),
        (status = 400, response = InvalidQuery),
        (status = 404, response = NotFound),
        (status = 409, description = "`wrong_routing_type` or `conflict`", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_plugin`: not a component the host can run as a routing application", body = ErrorBody),
    ),
)]
pub(super) async fn email_upload(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
    query: Result<Query<UploadOptions>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PluginVersion>), ApiError> {
    upload_to(state, Channel::Email, connector, query, headers, body).await
}

#[utoipa::path(
    get,
    path = "/api/v1/connectors/email/{id}/plugins",
    tag = "connectors",
    operation_id = "list_email_routing_applications",
    summary = "List an email connector's routing application versions",
    params(("id" = i64, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The connector's versions, oldest first", body = Vec<PluginVersion>),
        (status = 400, response = InvalidQuery),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn email_list(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<PluginVersion>>, ApiError> {
    list_of(state, Channel::Email, connector, raw).await
}

#[utoipa::path(
    post,
    path = "/api/v1/connectors/email/{id}/plugins/{version}/activate",
    tag = "connectors",
    operation_id = "activate_email_routing_application",
    summary = "Activate a routing application version of an email connector",
    params(
        ("id" = i64, Path, description = "The connector's id"),
        ("version" = i64, Path, description = "The version to route with from now on"),
    ),
    responses(
        (status = 200, description = "The version, now active", body = PluginVersion),
        (status = 404, response = NotFound),
        (status = 409, description = "`wrong_routing_type`: the connector runs no routing application", body = ErrorBody),
    ),
)]
pub(super) async fn email_activate(
    State(state): State<AppState>,
    ApiPath((connector, version)): ApiPath<(i64, i64)>,
) -> Result<Json<PluginVersion>, ApiError> {
    activate_on(state, Channel::Email, connector, version).await
}

#[utoipa::path(
    post,
    path = "/api/v1/connectors/email/{id}/plugins/rollback",
    tag = "connectors",
    operation_id = "roll_back_email_routing_application",
    summary = "Roll an email connector back to its previously active version",
    params(("id" = i64, Path, description = "The connector's id")),
    responses(
        (status = 200, description = "The version active again", body = PluginVersion),
        (status = 404, response = NotFound),
        (status = 409, description = "`wrong_routing_type` or `conflict`: there is no earlier version", body = ErrorBody),
    ),
)]
pub(super) async fn email_rollback(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
) -> Result<Json<PluginVersion>, ApiError> {
    rollback_on(state, Channel::Email, connector).await
}

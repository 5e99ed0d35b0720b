//! `/api/v1/connectors/sms/{id}/plugins`: upload routing application versions to a
//! connector, list them, activate one, roll back.
//!
//! An upload is checked by the runtime against the routing-application world before
//! anything is stored, so a version in the list is always one the host can run.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::ApiPath;
use super::query::ListQuery;
use crate::domain::connectors::PluginVersion;
use crate::domain::connectors::plugins::refuses_routing_applications;
use crate::runtime::{MAX_COMPONENT_SIZE, World, content_hash};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/connectors/sms/{id}/plugins",
            // Components are megabytes (the Python and JavaScript routers 12 to 18 MB),
            // so this one route accepts bodies up to the runtime's own size limit; the
            // rest of the API keeps the small default.
            get(list)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_COMPONENT_SIZE)),
        )
        .route(
            "/connectors/sms/{id}/plugins/{version}/activate",
            post(activate),
        )
        .route("/connectors/sms/{id}/plugins/rollback", post(rollback))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UploadOptions {
    /// Whether the new version becomes active; see
    /// [`crate::domain::connectors::activates_on_upload`] for the default.
    activate: Option<bool>,
}

/// Content types a component may be sent as. Anything else (a JSON or form body sent
/// by mistake) is refused before the bytes are read as a component.
const COMPONENT_TYPES: [&str; 2] = ["application/wasm", "application/octet-stream"];

async fn upload(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
    query: Result<Query<UploadOptions>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<PluginVersion>), ApiError> {
    let Query(options) = query
        .map_err(|e| ApiError::client(StatusCode::BAD_REQUEST, "invalid_query", e.body_text()))?;
    let bytes = component_bytes(&headers, body)?;
    // Fail fast on an unknown or direct connector: compiling a large component takes
    // seconds.
    takes_routing_applications(&state, connector).await?;

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
async fn takes_routing_applications(state: &AppState, connector: i64) -> Result<(), ApiError> {
    let found = state.store.sms_connector(connector).await?;
    match refuses_routing_applications(found.routing_type) {
        None => Ok(()),
        Some(why) => {
            tracing::warn!(connector, "routing application refused: {why}");
            Err(ApiError::client(
                StatusCode::CONFLICT,
                "wrong_routing_type",
                format!("SMS connector {connector} takes no routing application: {why}"),
            ))
        }
    }
}

async fn list(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<PluginVersion>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_plugin_versions(connector).await?))
}

async fn activate(
    State(state): State<AppState>,
    ApiPath((connector, version)): ApiPath<(i64, i64)>,
) -> Result<Json<PluginVersion>, ApiError> {
    takes_routing_applications(&state, connector).await?;
    Ok(Json(
        state
            .store
            .activate_plugin_version(connector, version)
            .await?,
    ))
}

async fn rollback(
    State(state): State<AppState>,
    ApiPath(connector): ApiPath<i64>,
) -> Result<Json<PluginVersion>, ApiError> {
    takes_routing_applications(&state, connector).await?;
    Ok(Json(state.store.rollback_plugin(connector).await?))
}

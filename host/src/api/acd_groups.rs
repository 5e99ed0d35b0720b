//! `/api/v1/acd-groups`: create, list, get, update and delete ACD groups.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::query::ListQuery;
use crate::domain::acd_groups::{AcdGroup, AcdGroupChanges, NewAcdGroup};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/acd-groups", get(list).post(create))
        .route(
            "/acd-groups/{id}",
            get(show).put(replace).patch(modify).delete(remove),
        )
}

/// The body of POST and PUT: the whole group.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    name: String,
    description: Option<String>,
}

/// The body of PATCH: only the fields to change.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupPatch {
    name: Option<String>,
    description: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GroupBody>,
) -> Result<(StatusCode, Json<AcdGroup>), ApiError> {
    let group = NewAcdGroup::parse(&body.name, body.description.as_deref())?;
    let created = state.store.create_acd_group(&group).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<AcdGroup>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_acd_groups().await?))
}

async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AcdGroup>, ApiError> {
    Ok(Json(state.store.acd_group(id).await?))
}

/// PUT replaces the group: a description left out becomes empty.
async fn replace(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GroupBody>,
) -> Result<Json<AcdGroup>, ApiError> {
    let description = body.description.unwrap_or_default();
    let changes = AcdGroupChanges::parse(Some(&body.name), Some(&description))?;
    Ok(Json(state.store.update_acd_group(id, &changes).await?))
}

async fn modify(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GroupPatch>,
) -> Result<Json<AcdGroup>, ApiError> {
    let changes = AcdGroupChanges::parse(body.name.as_deref(), body.description.as_deref())?;
    Ok(Json(state.store.update_acd_group(id, &changes).await?))
}

async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_acd_group(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

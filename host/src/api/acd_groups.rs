//! `/api/v1/acd-groups`: create, list, get, update and delete ACD groups.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::openapi::{
    Conflict, InvalidField, InvalidQuery, MalformedBody, NotFound, TooLarge, UnsupportedMediaType,
};
use super::query::ListQuery;
use super::routes::{ApiRouter, get};
use crate::domain::acd_groups::{AcdGroup, AcdGroupChanges, NewAcdGroup};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/acd-groups", get(list).post(create))
        .route(
            "/acd-groups/{id}",
            get(show).put(replace).patch(modify).delete(remove),
        )
}

/// The body of POST and PUT: the whole group.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupBody {
    /// 1 to 128 characters, no control characters, no whitespace at either end.
    name: String,
    /// Up to 1,024 characters; line breaks and tabs allowed. Empty when left out.
    description: Option<String>,
    /// How long an agent has to answer an offer, 1,000 to 86,400,000 ms; the default
    /// (30 s) when left out.
    offer_timeout_ms: Option<i64>,
}

/// The body of PATCH: only the fields to change.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupPatch {
    name: Option<String>,
    description: Option<String>,
    offer_timeout_ms: Option<i64>,
}

#[utoipa::path(
    post,
    path = "/api/v1/acd-groups",
    tag = "acd-groups",
    operation_id = "create_acd_group",
    summary = "Create an ACD group",
    request_body = GroupBody,
    responses(
        (status = 201, description = "The group, created", body = AcdGroup),
        (status = 400, response = MalformedBody),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<GroupBody>,
) -> Result<(StatusCode, Json<AcdGroup>), ApiError> {
    let group = NewAcdGroup::parse(&body.name, body.description.as_deref())?
        .with_offer_timeout(body.offer_timeout_ms)?;
    let created = state.store.create_acd_group(&group).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get,
    path = "/api/v1/acd-groups",
    tag = "acd-groups",
    operation_id = "list_acd_groups",
    summary = "List ACD groups",
    responses(
        (status = 200, description = "Every group", body = Vec<AcdGroup>),
        (status = 400, response = InvalidQuery),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<AcdGroup>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_acd_groups().await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/acd-groups/{id}",
    tag = "acd-groups",
    operation_id = "show_acd_group",
    summary = "Show an ACD group",
    params(("id" = i64, Path, description = "The group's id")),
    responses(
        (status = 200, description = "The group", body = AcdGroup),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<AcdGroup>, ApiError> {
    Ok(Json(state.store.acd_group(id).await?))
}

/// PUT replaces the group: a description left out becomes empty.
#[utoipa::path(
    put,
    path = "/api/v1/acd-groups/{id}",
    tag = "acd-groups",
    operation_id = "replace_acd_group",
    summary = "Replace an ACD group",
    description = "A description left out becomes empty.",
    params(("id" = i64, Path, description = "The group's id")),
    request_body = GroupBody,
    responses(
        (status = 200, description = "The group, changed", body = AcdGroup),
        (status = 400, response = MalformedBody),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn replace(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GroupBody>,
) -> Result<Json<AcdGroup>, ApiError> {
    let description = body.description.unwrap_or_default();
    let changes = AcdGroupChanges::parse(Some(&body.name), Some(&description))?
        .with_offer_timeout(Some(body.offer_timeout_ms))?;
    Ok(Json(state.store.update_acd_group(id, &changes).await?))
}

/// PATCH changes the fields it names.
#[utoipa::path(
    patch,
    path = "/api/v1/acd-groups/{id}",
    tag = "acd-groups",
    operation_id = "modify_acd_group",
    summary = "Change some fields of an ACD group",
    params(("id" = i64, Path, description = "The group's id")),
    request_body = GroupPatch,
    responses(
        (status = 200, description = "The group, changed", body = AcdGroup),
        (status = 400, response = MalformedBody),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn modify(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GroupPatch>,
) -> Result<Json<AcdGroup>, ApiError> {
    let changes = AcdGroupChanges::parse(body.name.as_deref(), body.description.as_deref())?
        .with_offer_timeout(body.offer_timeout_ms.map(Some))?;
    Ok(Json(state.store.update_acd_group(id, &changes).await?))
}

/// A group a connector routes to cannot be deleted (409).
#[utoipa::path(
    delete,
    path = "/api/v1/acd-groups/{id}",
    tag = "acd-groups",
    operation_id = "delete_acd_group",
    summary = "Delete an ACD group",
    description = "A group a connector routes to cannot be deleted (409).",
    params(("id" = i64, Path, description = "The group's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_acd_group(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/agents`: create, list, get, update and delete agents (admin). Passwords are
//! write-only: hashed on a blocking thread before the store sees them, never shown.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use serde_json::Value;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, from_value};
use super::openapi::{
    Conflict, InvalidField, InvalidQuery, MalformedBody, NotFound, TooLarge, UnsupportedMediaType,
};
use super::query::{ListQuery, Page, Paging};
use super::routes::{ApiRouter, get};
use crate::domain::agents::password::{self, PasswordHash};
use crate::domain::agents::{Agent, AgentDefinition, AgentInput};
use crate::store::agents::AgentFilter;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/agents", get(list).post(create))
        .route(
            "/agents/{id}",
            get(show).put(replace).patch(modify).delete(remove),
        )
}

/// Hashes a new password off the async executor: Argon2 is meant to be slow.
async fn hash(password: Option<&str>) -> Result<Option<PasswordHash>, ApiError> {
    let Some(password) = password.map(str::to_owned) else {
        return Ok(None);
    };
    tokio::task::spawn_blocking(move || password::hash(&password))
        .await
        .map(Some)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

#[utoipa::path(
    post,
    path = "/api/v1/agents",
    tag = "agents",
    operation_id = "create_agent",
    summary = "Create an agent",
    description = "The password is hashed (Argon2id) and never shown.",
    request_body = AgentInput,
    responses(
        (status = 201, description = "The agent, created", body = Agent),
        (status = 400, response = MalformedBody),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<AgentInput>,
) -> Result<(StatusCode, Json<Agent>), ApiError> {
    let definition = AgentDefinition::parse_new(input)?;
    let hashed = hash(definition.password.as_deref())
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a new agent without a password")))?;
    let created = state.store.create_agent(&definition, &hashed).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "agents",
    operation_id = "list_agents",
    summary = "List agents",
    params(
        Paging,
        ("acd_group" = Option<i64>, Query, description = "Only members of this ACD group"),
    ),
    responses(
        (status = 200, description = "A page of agents by id", body = Page<Agent>),
        (status = 400, response = InvalidQuery),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<Agent>>, ApiError> {
    let query = ListQuery::paged(raw.as_deref(), &["acd_group"])?;
    let acd_group = query.id_filter("acd_group")?;
    if let Some(group) = acd_group {
        // An unknown group is a 404, not an empty list that hides a typo.
        state.store.acd_group(group).await?;
    }
    let agents = state
        .store
        .list_agents(&AgentFilter {
            acd_group,
            after: query.after,
            limit: query.limit,
        })
        .await?;
    Ok(Json(query.page(agents, |a| a.id)))
}

#[utoipa::path(
    get,
    path = "/api/v1/agents/{id}",
    tag = "agents",
    operation_id = "show_agent",
    summary = "Show an agent",
    params(("id" = i64, Path, description = "The agent's id")),
    responses(
        (status = 200, description = "The agent", body = Agent),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(state.store.agent(id).await?))
}

/// PUT states the whole agent: optional fields left out take their defaults, except the
/// password, which is kept unless a new one is given.
#[utoipa::path(
    put,
    path = "/api/v1/agents/{id}",
    tag = "agents",
    operation_id = "replace_agent",
    summary = "Replace an agent",
    description = "Optional fields left out take their defaults; the password is kept unless a new one is given.",
    params(("id" = i64, Path, description = "The agent's id")),
    request_body = AgentInput,
    responses(
        (status = 200, description = "The agent, changed", body = Agent),
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
    ApiJson(input): ApiJson<AgentInput>,
) -> Result<Json<Agent>, ApiError> {
    // Unknown agents are refused before any password is hashed.
    state.store.agent(id).await?;
    save(&state, id, AgentDefinition::parse(input)?).await
}

/// PATCH names only the fields to change ([`Agent::patched`]).
#[utoipa::path(
    patch,
    path = "/api/v1/agents/{id}",
    tag = "agents",
    operation_id = "modify_agent",
    summary = "Change some fields of an agent",
    description = "A JSON merge patch: the fields to change, `null` clears an optional one, and `capacity` merges channel by channel. The result is checked as a whole, as a PUT is.",
    params(("id" = i64, Path, description = "The agent's id")),
    request_body(content = Object, description = "The fields of an agent to change"),
    responses(
        (status = 200, description = "The agent, changed", body = Agent),
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
) -> Result<Json<Agent>, ApiError> {
    let current = state.store.agent(id).await?;
    let input: AgentInput = from_value(current.patched(patch))?;
    save(&state, id, AgentDefinition::parse(input)?).await
}

async fn save(
    state: &AppState,
    id: i64,
    definition: AgentDefinition,
) -> Result<Json<Agent>, ApiError> {
    let hashed = hash(definition.password.as_deref()).await?;
    Ok(Json(
        state
            .store
            .update_agent(id, &definition, hashed.as_ref())
            .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/agents/{id}",
    tag = "agents",
    operation_id = "delete_agent",
    summary = "Delete an agent",
    params(("id" = i64, Path, description = "The agent's id")),
    responses(
        (status = 204, description = "Deleted; its sessions end and the interactions it held go back to their queues"),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<StatusCode, ApiError> {
    let requeued = state.store.delete_agent(id).await?;
    if requeued > 0 {
        tracing::info!(
            agent = id,
            requeued,
            "deleted agent's interactions put back in their queues"
        );
        state.offering.wake();
    }
    Ok(StatusCode::NO_CONTENT)
}

//! `/api/v1/me`: the logged-in agent's own record and status per channel
//! (`GET /me`, `GET /me/channels`, `PUT /me/channels/{sms|email}`). Behind
//! [`super::agent_sessions::require_agent`].

use axum::extract::State;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::agent_sessions::AgentSession;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::openapi::{InvalidField, MalformedBody, NotFound, TooLarge, UnsupportedMediaType};
use super::routes::{ApiRouter, get};
use crate::domain::agents::status::{AGENT_CHANNELS, StatusInput, agent_channel};
use crate::domain::agents::{Agent, ChannelState, ChannelStatus, Channels};
use crate::domain::channel::Channel;
use crate::store::now_ms;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/me", get(me))
        .route("/me/channels", get(channels))
        .route("/me/channels/{channel}", get(channel).put(set_channel))
}

/// One channel's status, named.
#[derive(Serialize, ToSchema)]
pub(super) struct NamedStatus {
    channel: Channel,
    #[serde(flatten)]
    status: ChannelStatus,
}

#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "agents",
    operation_id = "show_me",
    summary = "The logged-in agent's own record",
    responses((status = 200, description = "The agent", body = Agent)),
)]
pub(super) async fn me(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(state.store.agent(session.agent_id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/me/channels",
    tag = "agents",
    operation_id = "list_my_channels",
    summary = "The agent's status on every channel",
    responses((status = 200, description = "The status per channel", body = Channels)),
)]
pub(super) async fn channels(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
) -> Result<Json<Channels>, ApiError> {
    Ok(Json(state.store.agent(session.agent_id).await?.channels))
}

/// The channel a path names, or 404 naming it.
fn parse_channel(name: &str) -> Result<Channel, ApiError> {
    agent_channel(name).ok_or_else(|| {
        let known: Vec<&str> = AGENT_CHANNELS.iter().map(|c| c.as_str()).collect();
        ApiError::not_found(format!(
            "agents have no channel `{name}`; they have {}",
            known.join(" and ")
        ))
        .with_field("channel")
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/me/channels/{channel}",
    tag = "agents",
    operation_id = "show_my_channel",
    summary = "The agent's status on one channel",
    params(("channel" = String, Path, description = "`sms` or `email`")),
    responses(
        (status = 200, description = "The channel's status", body = NamedStatus),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn channel(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<NamedStatus>, ApiError> {
    let channel = parse_channel(&name)?;
    let agent = state.store.agent(session.agent_id).await?;
    let status =
        agent.channels.get(channel).cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!("agent without a {channel} status"))
        })?;
    Ok(Json(NamedStatus { channel, status }))
}

#[utoipa::path(
    put,
    path = "/api/v1/me/channels/{channel}",
    tag = "agents",
    operation_id = "set_my_channel",
    summary = "Set the agent ready or not ready on one channel",
    params(("channel" = String, Path, description = "`sms` or `email`")),
    request_body = StatusInput,
    responses(
        (status = 200, description = "The channel's status now", body = NamedStatus),
        (status = 400, response = MalformedBody),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn set_channel(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
    ApiPath(name): ApiPath<String>,
    ApiJson(input): ApiJson<StatusInput>,
) -> Result<Json<NamedStatus>, ApiError> {
    let channel = parse_channel(&name)?;
    let status = state
        .store
        .set_agent_status(session.agent_id, channel, input, now_ms())
        .await?;
    // The request span carries the agent.
    tracing::info!(
        channel = channel.as_str(),
        state = status.state.as_str(),
        "agent status"
    );
    if status.state == ChannelState::Ready {
        state.offering.wake();
    } else {
        // Offers not answered were revoked: the agent's clients hear it now.
        state.offering.notified(&[session.agent_id]);
    }
    Ok(Json(NamedStatus { channel, status }))
}

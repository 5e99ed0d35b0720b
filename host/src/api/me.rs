//! `/api/v1/me`: the logged-in agent's own record and status per channel
//! (`GET /me`, `GET /me/channels`, `PUT /me/channels/{sms|email}`). Behind
//! [`super::agent_sessions::require_agent`].

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde::Serialize;

use super::AppState;
use super::agent_sessions::AgentSession;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use crate::domain::agents::status::{AGENT_CHANNELS, StatusInput, agent_channel};
use crate::domain::agents::{Agent, ChannelStatus, Channels};
use crate::domain::channel::Channel;
use crate::store::now_ms;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/me", get(me))
        .route("/me/channels", get(channels))
        .route("/me/channels/{channel}", get(channel).put(set_channel))
}

/// One channel's status, named.
#[derive(Serialize)]
struct NamedStatus {
    channel: Channel,
    #[serde(flatten)]
    status: ChannelStatus,
}

async fn me(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(state.store.agent(session.agent_id).await?))
}

async fn channels(
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

async fn channel(
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

async fn set_channel(
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
    Ok(Json(NamedStatus { channel, status }))
}

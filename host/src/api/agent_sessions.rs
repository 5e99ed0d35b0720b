//! Agents logging in and out, and what makes a request an agent's:
//! `POST /api/v1/agent-sessions` (login and password, no token) answers a session
//! token; `DELETE /api/v1/agent-sessions/current` (with that token) ends it.
//! [`require_agent`] guards every agent route: it reads `Authorization: Bearer <agent
//! token>`, and puts the [`AgentSession`] in the request for the handlers.
//!
//! A wrong login and a wrong password get the same answer, in the same time (an unknown
//! login is verified against a dummy hash). Failed logins are counted per login in the
//! database, so the limit holds across nodes; past it, attempts get 429 with
//! `Retry-After` and cost no hashing.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::ApiJson;
use super::openapi::{
    InvalidCredentials, InvalidField, MalformedBody, TooLarge, TooManyAttempts,
    UnsupportedMediaType,
};
use super::routes::{ApiRouter, delete, post};
use crate::bearer::{Authorization, authorization};
use crate::domain::agents::password;
use crate::domain::agents::sessions::{
    LoginInput, SessionToken, digest, retry_after, retry_after_seconds,
};
use crate::store::now_ms;

/// Routes anyone may call: logging in.
pub fn public_router() -> ApiRouter {
    ApiRouter::new().route("/agent-sessions", post(login))
}

/// Routes behind [`require_agent`]: logging out.
pub fn agent_router() -> ApiRouter {
    ApiRouter::new().route("/agent-sessions/current", delete(logout))
}

/// The session a request was made in, put there by [`require_agent`].
#[derive(Debug, Clone)]
pub struct AgentSession {
    pub agent_id: i64,
    token_digest: String,
}

/// A new session.
#[derive(Serialize, ToSchema)]
pub(super) struct Created {
    /// The session token: `Authorization: Bearer <token>` on the agent's requests.
    token: String,
    agent_id: i64,
    /// When the session ends, in milliseconds since the Unix epoch.
    expires_at: i64,
}

fn invalid_credentials() -> ApiError {
    ApiError::client(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong login or password",
    )
}

#[utoipa::path(
    post,
    path = "/api/v1/agent-sessions",
    tag = "agents",
    operation_id = "log_in",
    summary = "Log an agent in",
    description = "A wrong login and a wrong password get the same answer. After 5 failures for a login within 15 minutes, attempts get 429 with `Retry-After` until the window passes.",
    security(()),
    request_body = LoginInput,
    responses(
        (status = 201, description = "The session", body = Created),
        (status = 400, response = MalformedBody),
        (status = 401, response = InvalidCredentials),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
        (status = 429, response = TooManyAttempts),
    ),
)]
pub(super) async fn login(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<LoginInput>,
) -> Result<Response, ApiError> {
    input.check()?;
    let now = now_ms();
    let failures = state.store.login_failures(&input.login, now).await?;
    if let Some(wait_ms) = retry_after(&failures, now) {
        state.metrics.agent_login("too_many_attempts");
        let seconds = retry_after_seconds(wait_ms);
        let refusal = ApiError::client(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed logins for this login; try again in {seconds} s"),
        );
        let wait = HeaderValue::from(seconds);
        return Ok(([(header::RETRY_AFTER, wait)], refusal).into_response());
    }
    let credentials = state.store.agent_credentials(&input.login).await?;
    let password = input.password;
    let agent = tokio::task::spawn_blocking(move || {
        let stored = credentials.as_ref().map(|(_, hash)| hash);
        password::verify_or_waste(&password, stored)
            .then(|| credentials.map(|(id, _)| id))
            .flatten()
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("verifying a password: {e}")))?;
    let Some(agent) = agent else {
        state.store.record_login_failure(&input.login, now).await?;
        state.metrics.agent_login("invalid_credentials");
        return Err(invalid_credentials());
    };
    let token = SessionToken::generate();
    let lifetime = i64::try_from(state.agent_session.as_millis()).unwrap_or(i64::MAX);
    let expires_at = now.saturating_add(lifetime);
    state
        .store
        .start_agent_session(agent, &input.login, &token.digest(), now, expires_at)
        .await?;
    state.metrics.agent_login("ok");
    tracing::Span::current().record("agent", agent);
    tracing::info!("agent logged in");
    Ok((
        StatusCode::CREATED,
        Json(Created {
            token: token.as_str().to_owned(),
            agent_id: agent,
            expires_at,
        }),
    )
        .into_response())
}

/// Ends the session the request was made in; the agent is then not ready everywhere.
#[utoipa::path(
    delete,
    path = "/api/v1/agent-sessions/current",
    tag = "agents",
    operation_id = "log_out",
    summary = "Log the agent out",
    description = "The token stops working at once, and the agent is not ready on every channel.",
    responses((status = 204, description = "Logged out")),
)]
pub(super) async fn logout(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
) -> Result<StatusCode, ApiError> {
    if let Some(agent) = state
        .store
        .end_agent_session(&session.token_digest, now_ms())
        .await?
    {
        // Offers not answered were revoked: the agent's other clients hear it now.
        state.offering.notified(&[agent]);
    }
    tracing::info!("agent logged out");
    Ok(StatusCode::NO_CONTENT)
}

/// Admits requests with the token of a live agent session, and records the agent on
/// the request's span. The admin token is not an agent token: it is refused here like
/// any unknown token.
pub async fn require_agent(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let token = match authorization(request.headers()) {
        Authorization::Bearer(token) => token,
        Authorization::Missing => {
            return ApiError::unauthorized("missing `Authorization: Bearer <agent token>` header")
                .into_response();
        }
        Authorization::NotBearer => {
            return ApiError::unauthorized(
                "the Authorization header must be `Bearer <agent token>`",
            )
            .into_response();
        }
    };
    let token_digest = digest(token);
    let agent_id = match state.store.session_agent(&token_digest, now_ms()).await {
        Ok(Some(agent)) => agent,
        Ok(None) => {
            return ApiError::unauthorized(
                "unknown or expired agent session; log in at /api/v1/agent-sessions",
            )
            .into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    tracing::Span::current().record("agent", agent_id);
    request.extensions_mut().insert(AgentSession {
        agent_id,
        token_digest,
    });
    next.run(request).await
}

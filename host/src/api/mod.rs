//! The HTTP API: `GET /healthz` for load balancers, `GET /metrics` for Prometheus, the
//! admin API under `/api/v1`, which needs `Authorization: Bearer <admin token>`, the
//! agents' routes (`/api/v1/me`, logging out), which need an agent's session token;
//! beside them the gateways' and third parties' routes, and `GET /api/v1/openapi.json`,
//! the OpenAPI document of all of them.
//!
//! One file per resource, each with its own `router()`, merged here. Handlers only
//! translate HTTP into calls on domain functions and the [`Store`]; every failure is an
//! [`ApiError`], so callers always get a JSON body naming the problem.

mod acd_groups;
mod agent_sessions;
mod agents;
mod connectors;
mod conversations;
mod email_connectors;
pub mod error;
mod external_systems;
mod extract;
mod inbound;
mod inbound_email;
mod interactions;
mod me;
mod metrics;
mod my_interactions;
pub mod openapi;
mod plugins;
mod query;
mod queue;
mod receipts;
mod routes;
mod settings;
mod times;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tower_http::trace::TraceLayer;

use crate::agents::Offering;
use crate::bearer::{Authorization, authorization};
use crate::config::{AdminToken, Config};
use crate::connectors::Directory;
use crate::metrics::Metrics;
use crate::queue::processor::Processor;
use crate::routing::pipeline::Ingest;
use crate::runtime::{Limits, Runtime};
use crate::store::Store;
pub use error::ApiError;
use routes::{ApiRouter, get};

/// The server's background workers that handlers hand work to.
pub struct Workers {
    pub ingest: Ingest,
    pub queue: Processor,
    pub offering: Offering,
}

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// The one plugin runtime of this host: it validates uploads now and will run
    /// routing applications; its compile cache is shared by both.
    pub runtime: Arc<Runtime>,
    /// The host's default plugin limits, which connectors may override.
    pub plugin_limits: Limits,
    /// Connectors by recipient, for inbound posts.
    pub directory: Directory,
    /// Where inbound posts are stored and handed to routing.
    pub ingest: Ingest,
    /// The communication queue's processing, for on-demand runs and wake-ups.
    pub queue: Processor,
    /// The offering loop, woken when agents free capacity or hand work back.
    pub offering: Offering,
    /// This server's metrics, shared with the router and the queue.
    pub metrics: Metrics,
    /// How long an agent's session lasts after logging in.
    pub agent_session: Duration,
    /// The server's address as gateways reach it: the base of Twilio's signed URL.
    pub public_url: Option<Arc<str>>,
    admin_token_hash: Arc<[u8; 32]>,
}

impl AppState {
    /// The plugin limits and the agents' session lifetime come from `config`.
    pub fn new(
        store: Store,
        runtime: Arc<Runtime>,
        config: &Config,
        admin_token: &AdminToken,
        workers: Workers,
        metrics: Metrics,
    ) -> Self {
        let Workers {
            ingest,
            queue,
            offering,
        } = workers;
        Self {
            queue,
            offering,
            metrics,
            agent_session: config.agent_session,
            public_url: config.public_url.as_deref().map(Arc::from),
            directory: Directory::new(store.clone()),
            ingest,
            store,
            runtime,
            plugin_limits: config.plugin_limits,
            admin_token_hash: Arc::new(Sha256::digest(admin_token.as_str()).into()),
        }
    }

    /// Compares hashes in constant time: neither the content nor the length of the
    /// real token can be learnt by timing failed attempts.
    fn admits(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented).into();
        presented.ct_eq(&self.admin_token_hash[..]).into()
    }
}

/// Where the API's routes live; `/healthz` and `/metrics` are outside it.
pub const PREFIX: &str = "/api/v1";

/// Who may call a route, which decides the middleware around it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, metrics and the API's description.
    Public,
    /// The admin token, checked by middleware before the handler runs.
    Admin,
    /// A gateway, with its connector's token or the receipt token; the handler checks.
    Gateway,
    /// A third party, with its external system's token; the handler checks.
    ThirdParty,
    /// Anyone with an agent's login and password: logging in.
    AgentLogin,
    /// An agent's session token, checked by middleware before the handler runs.
    Agent,
}

/// Every route, in the groups that get the same middleware. [`router`] serves what
/// [`route_table`] lists because both are built from this, and each group's middleware
/// follows from its [`Access`], which the OpenAPI document's security follows too.
struct Groups {
    /// Outside [`PREFIX`].
    outside: ApiRouter,
    /// Under [`PREFIX`], each with who may call it.
    inside: [(Access, ApiRouter); 6],
}

fn groups() -> Groups {
    Groups {
        outside: ApiRouter::new()
            .route("/healthz", get(healthz))
            .route("/metrics", get(metrics::scrape)),
        inside: [
            (Access::Public, openapi::router()),
            (
                Access::Admin,
                acd_groups::router()
                    .merge(agents::router())
                    .merge(connectors::router())
                    .merge(email_connectors::router())
                    .merge(conversations::router())
                    .merge(plugins::router())
                    .merge(interactions::router())
                    .merge(queue::router())
                    .merge(settings::router())
                    .merge(external_systems::router()),
            ),
            // Gateways authenticate with their connector's token or the receipt token,
            // third parties with their external system's token; the handlers check them.
            (
                Access::Gateway,
                inbound::router()
                    .merge(inbound_email::router())
                    .merge(receipts::router()),
            ),
            (Access::ThirdParty, external_systems::third_party_router()),
            (Access::AgentLogin, agent_sessions::public_router()),
            (
                Access::Agent,
                me::router()
                    .merge(my_interactions::router())
                    .merge(agent_sessions::agent_router()),
            ),
        ],
    }
}

/// Every (method, path) the server answers, with the full path as the router matches
/// it (`/api/v1/acd-groups/{id}`) and who may call it. HEAD, which axum answers
/// wherever there is a GET, is not listed.
pub fn route_table() -> Vec<(Method, String, Access)> {
    let Groups { outside, inside } = groups();
    let outside = outside
        .routes()
        .iter()
        .map(|(method, path)| (method.clone(), path.clone(), Access::Public));
    let inside: Vec<_> = inside
        .iter()
        .flat_map(|(access, routes)| {
            routes
                .routes()
                .iter()
                .map(|(method, path)| (method.clone(), format!("{PREFIX}{path}"), *access))
        })
        .collect();
    outside.chain(inside).collect()
}

/// The whole application's routes. `max_body_bytes` bounds every request body read by
/// an extractor; larger bodies get 413.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let Groups { outside, inside } = groups();
    let api = inside
        .into_iter()
        .fold(Router::new(), |api, (access, routes)| {
            let routes = routes.into_router();
            let routes = match access {
                Access::Public | Access::Gateway => routes,
                Access::Admin => routes
                    .route_layer(middleware::from_fn_with_state(
                        state.clone(),
                        forget_cached_connectors,
                    ))
                    .route_layer(middleware::from_fn(times::with_rfc3339))
                    .route_layer(middleware::from_fn_with_state(state.clone(), require_admin)),
                Access::ThirdParty | Access::AgentLogin => {
                    routes.route_layer(middleware::from_fn(times::with_rfc3339))
                }
                Access::Agent => routes
                    .route_layer(middleware::from_fn(times::with_rfc3339))
                    .route_layer(middleware::from_fn_with_state(
                        state.clone(),
                        agent_sessions::require_agent,
                    )),
            };
            api.merge(routes)
        });
    outside
        .into_router()
        .nest(PREFIX, api)
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The span of one request: method and path, never the query string, which may carry
/// a connector token (`?token=`); on agents' routes, the agent once authenticated.
fn request_span(request: &Request<Body>) -> tracing::Span {
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = request.uri().path(),
        agent = tracing::field::Empty,
    )
}

/// The answer of `/healthz`.
#[derive(serde::Serialize, utoipa::ToSchema)]
struct Health {
    status: HealthStatus,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
enum HealthStatus {
    Ok,
    /// The database cannot be reached.
    Unavailable,
}

/// Healthy means able to serve requests, which needs the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "healthz",
    summary = "Health",
    description = "Healthy means able to serve requests, which needs the database.",
    security(()),
    responses(
        (status = 200, description = "The server can serve requests", body = Health),
        (status = 503, description = "The database cannot be reached", body = Health),
    ),
)]
async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(Health {
            status: HealthStatus::Ok,
        })
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: database unreachable");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(Health {
                    status: HealthStatus::Unavailable,
                }),
            )
                .into_response()
        }
    }
}

async fn require_admin(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match authorization(request.headers()) {
        Authorization::Bearer(token) if state.admits(token) => next.run(request).await,
        Authorization::Bearer(_) => ApiError::unauthorized("wrong admin token").into_response(),
        Authorization::Missing => {
            ApiError::unauthorized("missing `Authorization: Bearer <admin token>` header")
                .into_response()
        }
        Authorization::NotBearer => {
            ApiError::unauthorized("the Authorization header must be `Bearer <admin token>`")
                .into_response()
        }
    }
}

/// Any successful admin write may have changed a connector's number or token, so the
/// cached lookups of inbound posts are dropped. Admin writes are rare; inbound posts
/// refill the cache with one query per number.
async fn forget_cached_connectors(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let writes = !request.method().is_safe();
    let response = next.run(request).await;
    if writes && response.status().is_success() {
        state.directory.invalidate();
    }
    response
}

async fn unknown_route() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::client(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
    )
}

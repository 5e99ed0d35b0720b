//! `GET /metrics`: the Prometheus exposition. Unauthenticated, like `/healthz`: it
//! carries counts, latencies and fixed label values only (no numbers, names, tokens or
//! message text), so a scraper needs no credential; keep it off public listeners.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::metrics::CONTENT_TYPE;

/// Refreshes the gauges (queue depth and ready agents with one grouped count each, pool
/// use from memory), then encodes everything.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "meta",
    operation_id = "metrics",
    summary = "Prometheus metrics",
    security(()),
    responses((status = 200, description = "Every metric, in the OpenMetrics text format",
        content((String = "application/openmetrics-text")))),
)]
pub(super) async fn scrape(State(state): State<AppState>) -> Response {
    match state.store.entries_by_state().await {
        Ok(counts) => state.metrics.set_queue_depth(&counts),
        // The counters are still worth serving; the gauges keep their last value.
        Err(e) => tracing::warn!(error = %e, "cannot count queue entries for /metrics"),
    }
    match state.store.ready_agents(crate::store::now_ms()).await {
        Ok(counts) => state.metrics.set_agents_ready(&counts),
        Err(e) => tracing::warn!(error = %e, "cannot count ready agents for /metrics"),
    }
    for (pool, size, idle) in state.store.pool_use() {
        state.metrics.set_pool(pool, size, idle);
    }
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.encode(),
    )
        .into_response()
}

//! `/api/v1/communications` and `/api/v1/queue`: create communications, list and show
//! queue entries, process one or all Pending entries, remove completed ones.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use crate::channel::Channel;
use crate::queue::communication::{self, CommunicationInput, Refused};
use crate::queue::processor::{NotProcessed, Summary};
use crate::queue::record::EntryFilter;
use crate::queue::{EntryRecord, LifeCycleState, TextStatus};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/communications", post(create))
        .route("/queue", get(list))
        .route("/queue/process", post(process_all))
        .route("/queue/{number}", get(show).delete(remove))
        .route("/queue/{number}/process", post(process_one))
}

/// Who an admin's writes are logged as.
const ADMIN: &str = "admin api";

async fn create(
    State(state): State<AppState>,
    ApiJson(input): ApiJson<CommunicationInput>,
) -> Result<(StatusCode, Json<EntryRecord>), ApiError> {
    let email = state.store.email_settings().await?;
    let sms = state.store.sms_settings().await?;
    let new = communication::accept(input, &email, &sms, ADMIN).map_err(|e| match e {
        Refused::Invalid(field) => ApiError::from(field),
        Refused::NotQueued(why) => ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not_queued",
            format!("the communication does not enter the queue: {why}"),
        ),
    })?;
    let entry = state.store.create_entry(&new).await?;
    state.queue.wake();
    Ok((StatusCode::CREATED, Json(entry)))
}

/// A page of entries and where the next one starts.
#[derive(Serialize)]
struct Page {
    items: Vec<EntryRecord>,
    next_after: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<EntryFilter>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let Query(filter) =
        query.map_err(|e| ApiError::client(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))?;
    let bad = |name: &str, value: &str, allowed: &[&str]| {
        ApiError::client(
            StatusCode::BAD_REQUEST,
            "bad_query",
            format!("{name} `{value}` is not one of {}", allowed.join(", ")),
        )
    };
    if let Some(s) = &filter.state
        && LifeCycleState::parse(s).is_none()
    {
        return Err(bad(
            "state",
            s,
            &["pending", "rejected", "completed", "completed_and_removed"],
        ));
    }
    if let Some(s) = &filter.status
        && TextStatus::parse(s).is_none()
    {
        let all: Vec<&str> = TextStatus::ALL.iter().map(|s| s.as_str()).collect();
        return Err(bad("status", s, &all));
    }
    if let Some(m) = &filter.media
        && Channel::parse(m).is_none()
    {
        return Err(bad("media", m, &["sms", "email", "device"]));
    }
    let limit = filter
        .limit
        .unwrap_or(100)
        .clamp(1, crate::store::queue::MAX_PAGE);
    let items = state.store.list_entries(&filter).await?;
    let next_after = (items.len() == limit as usize)
        .then(|| items.last().map(|e| e.number))
        .flatten();
    Ok(Json(Page { items, next_after }))
}

async fn show(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<i64>,
) -> Result<Json<EntryRecord>, ApiError> {
    Ok(Json(state.store.entry(number).await?))
}

/// Seed 000's removal: Completed becomes Completed and Removed.
async fn remove(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<i64>,
) -> Result<Json<EntryRecord>, ApiError> {
    Ok(Json(state.store.remove_entry(number, ADMIN).await?))
}

async fn process_one(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<i64>,
) -> Result<Json<EntryRecord>, ApiError> {
    state
        .queue
        .process_one(number)
        .await
        .map(Json)
        .map_err(|e| match e {
            NotProcessed::Store(e) => e.into(),
            NotProcessed::Conflict(why) => {
                ApiError::client(StatusCode::CONFLICT, "not_processable", why)
            }
        })
}

async fn process_all(State(state): State<AppState>) -> Result<Json<Summary>, ApiError> {
    Ok(Json(state.queue.process_all().await?))
}

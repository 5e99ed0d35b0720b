//! `/api/v1/communications` and `/api/v1/queue`: create communications, list and show
//! queue entries, process one or all Pending entries, remove completed ones.

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::query::{ListQuery, Page};
use crate::domain::channel::Channel;
use crate::domain::queue::communication::{self, CommunicationInput, Refused};
use crate::domain::queue::record::EntryFilter;
use crate::domain::queue::{EntryRecord, LifeCycleState, TextStatus};
use crate::queue::processor::{NotProcessed, Summary};

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

async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<EntryRecord>>, ApiError> {
    let query = ListQuery::paged(
        raw.as_deref(),
        &["state", "status", "media", "external_system", "recipient"],
    )?;
    let states = ["pending", "rejected", "completed", "completed_and_removed"];
    query.choice("state", &states, LifeCycleState::parse)?;
    let statuses: Vec<&str> = TextStatus::ALL.iter().map(|s| s.as_str()).collect();
    query.choice("status", &statuses, TextStatus::parse)?;
    query.choice("media", &["sms", "email", "device"], Channel::parse)?;
    let text = |name: &str| query.filter(name).map(str::to_owned);
    let filter = EntryFilter {
        state: text("state"),
        status: text("status"),
        media: text("media"),
        external_system: text("external_system"),
        recipient: text("recipient"),
        after: query.after,
        limit: Some(query.limit as u32),
    };
    let items = state.store.list_entries(&filter).await?;
    Ok(Json(query.page(items, |e| e.number)))
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

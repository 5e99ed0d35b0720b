//! `/api/v1/communications` and `/api/v1/queue`: create communications, list and show
//! queue entries, process one or all Pending entries, remove completed ones.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::openapi::{
    Conflict, ErrorBody, InvalidQuery, MalformedBody, NotFound, TooLarge, UnsupportedMediaType,
};
use super::query::{ListQuery, Page, Paging};
use super::routes::{ApiRouter, get, post};
use crate::domain::channel::Channel;
use crate::domain::queue::communication::{self, CommunicationInput, Refused};
use crate::domain::queue::record::EntryFilter;
use crate::domain::queue::{EntryRecord, LifeCycleState, TextStatus};
use crate::queue::processor::{NotProcessed, Summary};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/communications", post(create))
        .route("/queue", get(list))
        .route("/queue/process", post(process_all))
        .route("/queue/{number}", get(show).delete(remove))
        .route("/queue/{number}/process", post(process_one))
}

/// Who an admin's writes are logged as.
const ADMIN: &str = "admin api";

/// Creates a communication: a Pending queue entry, if seed 000 lets it in.
#[utoipa::path(
    post,
    path = "/api/v1/communications",
    tag = "queue",
    operation_id = "create_communication",
    summary = "Create a communication",
    description = "It becomes a Pending queue entry if seed 000 lets it in.",
    request_body = CommunicationInput,
    responses(
        (status = 201, description = "The queue entry, Pending", body = EntryRecord),
        (status = 400, response = MalformedBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_field`: a field breaks a rule (`field` names it); or `not_queued`: the communication does not enter the queue (its sender is not enabled, say)", body = ErrorBody),
    ),
)]
pub(super) async fn create(
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

#[utoipa::path(
    get,
    path = "/api/v1/queue",
    tag = "queue",
    operation_id = "list_queue_entries",
    summary = "List queue entries",
    params(
        Paging,
        ("state" = Option<LifeCycleState>, Query, description = "Only entries in this life-cycle state"),
        ("status" = Option<TextStatus>, Query, description = "Only entries with this text status"),
        ("media" = Option<Channel>, Query, description = "Only entries of this media"),
        ("external_system" = Option<String>, Query, description = "Only entries for this external system"),
        ("recipient" = Option<String>, Query, description = "Only entries to this recipient"),
    ),
    responses(
        (status = 200, description = "A page of entries by number, without their activity logs", body = Page<EntryRecord>),
        (status = 400, response = InvalidQuery),
    ),
)]
pub(super) async fn list(
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

#[utoipa::path(
    get,
    path = "/api/v1/queue/{number}",
    tag = "queue",
    operation_id = "show_queue_entry",
    summary = "Show a queue entry",
    params(("number" = i64, Path, description = "The entry's number")),
    responses(
        (status = 200, description = "The entry with its activity log", body = EntryRecord),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<i64>,
) -> Result<Json<EntryRecord>, ApiError> {
    Ok(Json(state.store.entry(number).await?))
}

/// Seed 000's removal: Completed becomes Completed and Removed.
#[utoipa::path(
    delete,
    path = "/api/v1/queue/{number}",
    tag = "queue",
    operation_id = "remove_queue_entry",
    summary = "Remove a completed queue entry",
    description = "Completed becomes Completed and Removed (seed 000).",
    params(("number" = i64, Path, description = "The entry's number")),
    responses(
        (status = 200, description = "The entry, Completed and Removed", body = EntryRecord),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<i64>,
) -> Result<Json<EntryRecord>, ApiError> {
    Ok(Json(state.store.remove_entry(number, ADMIN).await?))
}

/// Processes one Pending entry now.
#[utoipa::path(
    post,
    path = "/api/v1/queue/{number}/process",
    tag = "queue",
    operation_id = "process_queue_entry",
    summary = "Process one Pending entry now",
    params(("number" = i64, Path, description = "The entry's number")),
    responses(
        (status = 200, description = "The entry after processing", body = EntryRecord),
        (status = 404, response = NotFound),
        (status = 409, description = "`not_processable`: the entry is not Pending, or someone else holds it", body = ErrorBody),
    ),
)]
pub(super) async fn process_one(
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

/// Processes every Pending entry that is due now.
#[utoipa::path(
    post,
    path = "/api/v1/queue/process",
    tag = "queue",
    operation_id = "process_queue",
    summary = "Process every due Pending entry now",
    responses(
        (status = 200, description = "How many entries were processed, by the text status each ended in", body = Summary),
    ),
)]
pub(super) async fn process_all(State(state): State<AppState>) -> Result<Json<Summary>, ApiError> {
    Ok(Json(state.queue.process_all().await?))
}

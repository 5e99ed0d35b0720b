//! `/api/v1/conversations`: the inbox of seed 004. Conversations are listed with the
//! inbox's filters (the default view hides archived ones), shown with their activity
//! log and messages, closed, reopened, archived, unarchived and tagged by admins; each
//! change is logged with who made it.

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Deserialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::openapi::{
    Conflict, InvalidField, InvalidQuery, MalformedBody, NotFound, TooLarge, UnsupportedMediaType,
};
use super::query::{ListQuery, Page, Paging};
use super::routes::{ApiRouter, delete, get, post};
use crate::domain::channel::Channel;
use crate::domain::conversations::{
    Action, Archived, ConversationFilter, ConversationStatus, ConversationView, check_tags,
};
use crate::store::now_ms;

/// Who an admin's change is logged as.
const ADMIN: &str = "admin";

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/conversations", get(list))
        .route("/conversations/{id}", get(show))
        .route("/conversations/{id}/close", post(close))
        .route("/conversations/{id}/reopen", post(reopen))
        .route("/conversations/{id}/archive", post(archive))
        .route("/conversations/{id}/unarchive", post(unarchive))
        .route("/conversations/{id}/tags", post(add_tags))
        .route("/conversations/{id}/tags/{tag}", delete(remove_tag))
}

#[utoipa::path(
    get,
    path = "/api/v1/conversations",
    tag = "conversations",
    operation_id = "list_conversations",
    summary = "List conversations (the inbox)",
    description = "Oldest first. Archived conversations are hidden unless `archived` says otherwise.",
    params(
        Paging,
        ("status" = Option<ConversationStatus>, Query, description = "Only conversations in this status"),
        ("tag" = Option<String>, Query, description = "Only conversations with this tag"),
        ("archived" = Option<String>, Query, description = "`false` (the default view), `true` (archived only) or `any`"),
        ("connector" = Option<i64>, Query, description = "Only this connector's conversations"),
        ("contact" = Option<String>, Query, description = "Only this contact's (a number in E.164 or an address)"),
        ("channel" = Option<Channel>, Query, description = "Only conversations on this channel"),
        ("updated_since" = Option<i64>, Query, description = "Changed at or after this time (ms since the epoch)"),
        ("updated_before" = Option<i64>, Query, description = "Changed before this time (ms since the epoch)"),
    ),
    responses(
        (status = 200, description = "A page of conversations, without their activity and messages", body = Page<ConversationView>),
        (status = 400, response = InvalidQuery),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<ConversationView>>, ApiError> {
    let query = ListQuery::paged(
        raw.as_deref(),
        &[
            "status",
            "tag",
            "archived",
            "connector",
            "contact",
            "channel",
            "updated_since",
            "updated_before",
        ],
    )?;
    let statuses = ["not_contacted", "new", "in_progress", "closed", "in_a_flow"];
    let filter = ConversationFilter {
        status: query.choice("status", &statuses, ConversationStatus::parse)?,
        tag: query.filter("tag").map(str::to_owned),
        archived: query
            .choice("archived", &["false", "true", "any"], |v| match v {
                "false" => Some(Archived::Hidden),
                "true" => Some(Archived::Only),
                "any" => Some(Archived::Any),
                _ => None,
            })?
            .unwrap_or_default(),
        connector_id: query.id_filter("connector")?,
        contact: query.filter("contact").map(str::to_owned),
        channel: query.choice("channel", &["sms", "email"], |v| {
            Channel::parse(v).filter(|c| *c != Channel::Device)
        })?,
        updated_since: query.id_filter("updated_since")?,
        updated_before: query.id_filter("updated_before")?,
    };
    let items = state
        .store
        .list_conversations(&filter, query.after, query.limit)
        .await?;
    Ok(Json(query.page(items, |c| c.id)))
}

#[utoipa::path(
    get,
    path = "/api/v1/conversations/{id}",
    tag = "conversations",
    operation_id = "show_conversation",
    summary = "Show a conversation with its activity log and messages",
    params(("id" = i64, Path, description = "The conversation's id")),
    responses(
        (status = 200, description = "The conversation", body = ConversationView),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ConversationView>, ApiError> {
    Ok(Json(state.store.conversation(id).await?))
}

async fn act(state: AppState, id: i64, action: Action) -> Result<Json<ConversationView>, ApiError> {
    Ok(Json(
        state
            .store
            .act_on_conversation(id, action, ADMIN, now_ms())
            .await?,
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/close",
    tag = "conversations",
    operation_id = "close_conversation",
    summary = "Close a conversation",
    description = "Resolved: it moves to the history and its tags are locked (they can be added to, not removed).",
    params(("id" = i64, Path, description = "The conversation's id")),
    responses(
        (status = 200, description = "The conversation, closed", body = ConversationView),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub(super) async fn close(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ConversationView>, ApiError> {
    act(state, id, Action::Close).await
}

#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/reopen",
    tag = "conversations",
    operation_id = "reopen_conversation",
    summary = "Reopen a closed conversation",
    description = "It is New again: an answer is awaited.",
    params(("id" = i64, Path, description = "The conversation's id")),
    responses(
        (status = 200, description = "The conversation, New", body = ConversationView),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub(super) async fn reopen(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ConversationView>, ApiError> {
    act(state, id, Action::Reopen).await
}

#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/archive",
    tag = "conversations",
    operation_id = "archive_conversation",
    summary = "Archive a closed conversation",
    description = "Hidden from the inbox's default view; `archived=true` finds it.",
    params(("id" = i64, Path, description = "The conversation's id")),
    responses(
        (status = 200, description = "The conversation, archived", body = ConversationView),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub(super) async fn archive(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ConversationView>, ApiError> {
    act(state, id, Action::Archive).await
}

#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/unarchive",
    tag = "conversations",
    operation_id = "unarchive_conversation",
    summary = "Take a conversation out of the archive",
    params(("id" = i64, Path, description = "The conversation's id")),
    responses(
        (status = 200, description = "The conversation, back in the inbox (still closed)", body = ConversationView),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub(super) async fn unarchive(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<ConversationView>, ApiError> {
    act(state, id, Action::Unarchive).await
}

/// Tags to add.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct Tags {
    tags: Vec<String>,
}

#[utoipa::path(
    post,
    path = "/api/v1/conversations/{id}/tags",
    tag = "conversations",
    operation_id = "add_conversation_tags",
    summary = "Add tags to a conversation",
    description = "Allowed on a closed conversation too; at most 100 tags per conversation.",
    params(("id" = i64, Path, description = "The conversation's id")),
    request_body = Tags,
    responses(
        (status = 200, description = "The conversation with its tags", body = ConversationView),
        (status = 400, response = MalformedBody),
        (status = 404, response = NotFound),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn add_tags(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<Tags>,
) -> Result<Json<ConversationView>, ApiError> {
    check_tags(&body.tags)?;
    Ok(Json(
        state
            .store
            .change_conversation_tags(id, &body.tags, true, ADMIN, now_ms())
            .await?,
    ))
}

#[utoipa::path(
    delete,
    path = "/api/v1/conversations/{id}/tags/{tag}",
    tag = "conversations",
    operation_id = "remove_conversation_tag",
    summary = "Remove a tag from a conversation",
    description = "Refused (409) on a closed conversation: its tags are locked.",
    params(
        ("id" = i64, Path, description = "The conversation's id"),
        ("tag" = String, Path, description = "The tag"),
    ),
    responses(
        (status = 200, description = "The conversation with its tags", body = ConversationView),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub(super) async fn remove_tag(
    State(state): State<AppState>,
    ApiPath((id, tag)): ApiPath<(i64, String)>,
) -> Result<Json<ConversationView>, ApiError> {
    Ok(Json(
        state
            .store
            .change_conversation_tags(id, &[tag], false, ADMIN, now_ms())
            .await?,
    ))
}

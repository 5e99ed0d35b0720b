//! `/api/v1/interactions` (list per ACD group and state; get one with its message,
//! activity log and routing record) and `/api/v1/messages` (every inbound message,
//! including those rejected or dropped, which have no interaction).

use axum::Json;
use axum::extract::{RawQuery, State};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::ApiPath;
use super::openapi::{InvalidQuery, NotFound};
use super::query::{ListQuery, Page, Paging};
use super::routes::{ApiRouter, get};
use crate::domain::interactions::{
    Interaction, InteractionFilter, InteractionState, MessageFilter, MessageSummary, MessageView,
};
use crate::domain::routing::outcome::MessageState;

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/interactions", get(list))
        .route("/interactions/{id}", get(show))
        .route("/messages", get(list_messages))
        .route("/messages/{id}", get(show_message))
        .route("/attachments/{id}", get(download_attachment))
}

/// A list item: the interaction without its message, which the detail
/// (`GET /interactions/{id}`) adds; `summary: true` says so.
#[derive(Serialize, ToSchema)]
pub(super) struct InteractionSummary {
    #[serde(flatten)]
    interaction: Interaction,
    summary: bool,
}

#[utoipa::path(
    get,
    path = "/api/v1/interactions",
    tag = "interactions",
    operation_id = "list_interactions",
    summary = "List interactions",
    params(
        Paging,
        ("acd_group" = Option<i64>, Query, description = "Only this ACD group's interactions; an unknown group is 404"),
        ("state" = Option<InteractionState>, Query, description = "Only interactions in this state"),
    ),
    responses(
        (status = 200, description = "A page of interactions, oldest first, without their messages", body = Page<InteractionSummary>),
        (status = 400, response = InvalidQuery),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<InteractionSummary>>, ApiError> {
    let query = ListQuery::paged(raw.as_deref(), &["acd_group", "state"])?;
    let acd_group = query.id_filter("acd_group")?;
    let state_filter = query.choice(
        "state",
        &InteractionState::ALL.map(InteractionState::as_str),
        InteractionState::parse,
    )?;
    if let Some(group) = acd_group {
        // An unknown group is a 404, not an empty list that hides a typo.
        state.store.acd_group(group).await?;
    }
    let items = state
        .store
        .list_interactions(&InteractionFilter {
            acd_group,
            state: state_filter,
            after: query.after,
            limit: query.limit,
        })
        .await?;
    let page = query.page(items, |i| i.id);
    Ok(Json(Page {
        items: page
            .items
            .into_iter()
            .map(|interaction| InteractionSummary {
                interaction,
                summary: true,
            })
            .collect(),
        next_after: page.next_after,
    }))
}

/// An interaction, with the message it carries, its activity log and routing record.
#[derive(Serialize, ToSchema)]
pub(super) struct InteractionDetail {
    #[serde(flatten)]
    interaction: Interaction,
    message: MessageView,
}

#[utoipa::path(
    get,
    path = "/api/v1/interactions/{id}",
    tag = "interactions",
    operation_id = "show_interaction",
    summary = "Show an interaction with its message",
    params(("id" = i64, Path, description = "The interaction's id")),
    responses(
        (status = 200, description = "The interaction with its message", body = InteractionDetail),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<InteractionDetail>, ApiError> {
    let interaction = state.store.interaction(id).await?;
    let message = state.store.message(interaction.message_id).await?;
    Ok(Json(InteractionDetail {
        interaction,
        message,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/messages",
    tag = "interactions",
    operation_id = "list_messages",
    summary = "List inbound messages",
    description = "Every inbound message, including those rejected or dropped, which have no interaction.",
    params(
        Paging,
        ("connector" = Option<i64>, Query, description = "Only messages to this connector"),
        ("state" = Option<MessageState>, Query, description = "Only messages in this state"),
    ),
    responses(
        (status = 200, description = "A page of inbound messages, oldest first, without their activity and routing record", body = Page<MessageSummary>),
        (status = 400, response = InvalidQuery),
    ),
)]
pub(super) async fn list_messages(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<MessageSummary>>, ApiError> {
    let query = ListQuery::paged(raw.as_deref(), &["connector", "state"])?;
    let state_filter = query.choice(
        "state",
        &["received", "routed", "rejected", "dropped"],
        MessageState::parse,
    )?;
    let items = state
        .store
        .list_messages(&MessageFilter {
            connector_id: query.id_filter("connector")?,
            state: state_filter,
            after: query.after,
            limit: query.limit,
        })
        .await?;
    let page = query.page(items, |m| m.id);
    Ok(Json(Page {
        items: page.items.into_iter().map(MessageSummary::from).collect(),
        next_after: page.next_after,
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/messages/{id}",
    tag = "interactions",
    operation_id = "show_message",
    summary = "Show an inbound message",
    params(("id" = i64, Path, description = "The message's id")),
    responses(
        (status = 200, description = "The message with its activity log and routing record", body = MessageView),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show_message(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MessageView>, ApiError> {
    Ok(Json(state.store.message(id).await?))
}

/// An email attachment's bytes, with its type and name: what an agent's or admin's
/// browser saves. `nosniff` and `attachment` keep a crafted HTML or SVG attachment
/// from running as a page of this server.
#[utoipa::path(
    get,
    path = "/api/v1/attachments/{id}",
    tag = "interactions",
    operation_id = "download_attachment",
    summary = "Download an email attachment",
    params(("id" = i64, Path, description = "The attachment's id (from a message's `email.attachments`)")),
    responses(
        (status = 200, description = "The attachment's bytes, with its MIME type", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn download_attachment(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<axum::response::Response, ApiError> {
    let (attachment, bytes) = state.store.attachment(id).await?;
    attachment_response(&attachment, bytes)
}

/// An attachment's bytes as a download, for admins and for the agent who holds its
/// interaction alike.
pub(super) fn attachment_response(
    attachment: &crate::domain::interactions::AttachmentView,
    bytes: Vec<u8>,
) -> Result<axum::response::Response, ApiError> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let mime = attachment
        .mimetype
        .parse::<axum::http::HeaderValue>()
        .unwrap_or_else(|_| axum::http::HeaderValue::from_static("application/octet-stream"));
    // The name goes in RFC 5987 form, so any character survives.
    let encoded: String = attachment
        .name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename*=UTF-8''{encoded}");
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (
                header::CONTENT_DISPOSITION,
                axum::http::HeaderValue::from_str(&disposition)
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!("disposition: {e}")))?,
            ),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            ),
        ],
        bytes,
    )
        .into_response())
}

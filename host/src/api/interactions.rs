//! `/api/v1/interactions` (list per ACD group and state; get one with its message,
//! activity log and routing record) and `/api/v1/messages` (every inbound message,
//! including those rejected or dropped, which have no interaction).

use axum::extract::{RawQuery, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::AppState;
use super::error::ApiError;
use super::extract::ApiPath;
use super::query::{ListQuery, Page};
use crate::domain::interactions::{
    Interaction, InteractionFilter, InteractionState, MessageFilter, MessageSummary, MessageView,
};
use crate::domain::routing::outcome::MessageState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/interactions", get(list))
        .route("/interactions/{id}", get(show))
        .route("/messages", get(list_messages))
        .route("/messages/{id}", get(show_message))
}

/// A list item: the interaction without its message, which the detail
/// (`GET /interactions/{id}`) adds; `summary: true` says so.
#[derive(Serialize)]
struct InteractionSummary {
    #[serde(flatten)]
    interaction: Interaction,
    summary: bool,
}

async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<InteractionSummary>>, ApiError> {
    let query = ListQuery::paged(raw.as_deref(), &["acd_group", "state"])?;
    let acd_group = query.id_filter("acd_group")?;
    let state_filter = query.choice("state", &["queued"], InteractionState::parse)?;
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
#[derive(Serialize)]
struct InteractionDetail {
    #[serde(flatten)]
    interaction: Interaction,
    message: MessageView,
}

async fn show(
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

async fn list_messages(
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

async fn show_message(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MessageView>, ApiError> {
    Ok(Json(state.store.message(id).await?))
}

//! `/api/v1/interactions` (list per ACD group and state; get one with its message,
//! activity log and routing record) and `/api/v1/messages` (every inbound message,
//! including those rejected or dropped, which have no interaction).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::ApiPath;
use crate::interactions::{
    Interaction, InteractionFilter, InteractionState, MessageFilter, MessageView,
};
use crate::routing::outcome::MessageState;

/// A page holds at most this many items; `limit` may ask for fewer.
const MAX_PAGE: i64 = 1_000;
const DEFAULT_PAGE: i64 = 100;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/interactions", get(list))
        .route("/interactions/{id}", get(show))
        .route("/messages", get(list_messages))
        .route("/messages/{id}", get(show_message))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    acd_group: Option<i64>,
    connector: Option<i64>,
    state: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

/// A page of items and the cursor for the next (`?after=`), absent on the last page.
#[derive(Serialize)]
struct Page<T> {
    items: Vec<T>,
    next_after: Option<i64>,
}

fn bad_query(message: impl Into<String>) -> ApiError {
    ApiError::client(StatusCode::BAD_REQUEST, "invalid_query", message)
}

fn parse_query(
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<(ListQuery, i64), ApiError> {
    let Query(query) = query.map_err(|e| bad_query(e.body_text()))?;
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(bad_query(format!("limit must be between 1 and {MAX_PAGE}")));
    }
    Ok((query, limit))
}

fn page<T>(items: Vec<T>, limit: i64, id: impl Fn(&T) -> i64) -> Page<T> {
    let next_after = if items.len() as i64 == limit {
        items.last().map(id)
    } else {
        None
    };
    Page { items, next_after }
}

async fn list(
    State(state): State<AppState>,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<Interaction>>, ApiError> {
    let (query, limit) = parse_query(query)?;
    if query.connector.is_some() {
        return Err(bad_query(
            "interactions are filtered by acd_group and state",
        ));
    }
    let state_filter = query
        .state
        .as_deref()
        .map(|s| {
            InteractionState::parse(s)
                .ok_or_else(|| bad_query(format!("`{s}` is not an interaction state; use queued")))
        })
        .transpose()?;
    if let Some(group) = query.acd_group {
        // An unknown group is a 404, not an empty list that hides a typo.
        state.store.acd_group(group).await?;
    }
    let items = state
        .store
        .list_interactions(&InteractionFilter {
            acd_group: query.acd_group,
            state: state_filter,
            after: query.after,
            limit,
        })
        .await?;
    Ok(Json(page(items, limit, |i| i.id)))
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
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page<MessageView>>, ApiError> {
    let (query, limit) = parse_query(query)?;
    if query.acd_group.is_some() {
        return Err(bad_query("messages are filtered by connector and state"));
    }
    let state_filter = query
        .state
        .as_deref()
        .map(|s| {
            MessageState::parse(s).ok_or_else(|| {
                bad_query(format!(
                    "`{s}` is not a message state; use received, routed, rejected or dropped"
                ))
            })
        })
        .transpose()?;
    let items = state
        .store
        .list_messages(&MessageFilter {
            connector_id: query.connector,
            state: state_filter,
            after: query.after,
            limit,
        })
        .await?;
    Ok(Json(page(items, limit, |m| m.id)))
}

async fn show_message(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MessageView>, ApiError> {
    Ok(Json(state.store.message(id).await?))
}

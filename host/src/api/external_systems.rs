//! External systems and the components the queue runs: `/api/v1/plugins` (gateway and
//! external-system components, by content hash) and `/api/v1/external-systems` for
//! admins; and, authenticated by the system's own token, the web API a third party
//! uses to list, claim and settle its entries.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, parse_json};
use super::inbound::presented_token;
use super::plugins::component_bytes;
use super::query::{ListQuery, Page};
use crate::domain::acd_groups::FieldError;
use crate::domain::connectors::inbound::same_token;
use crate::domain::queue::record::QueuePlugin;
use crate::domain::queue::systems::{SystemChanges, SystemInput};
use crate::domain::queue::{EntryRecord, ExternalSystem, Settlement, TextStatus};
use crate::runtime::{MAX_COMPONENT_SIZE, World, content_hash};

/// Admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/plugins",
            get(list_plugins)
                .post(upload)
                .layer(DefaultBodyLimit::max(MAX_COMPONENT_SIZE)),
        )
        .route("/external-systems", get(list).post(create))
        .route(
            "/external-systems/{name}",
            get(show).put(update).delete(remove),
        )
}

/// Routes for third parties, which present their system's token.
pub fn third_party_router() -> Router<AppState> {
    Router::new()
        .route("/external-systems/{name}/entries", get(entries))
        .route(
            "/external-systems/{name}/entries/{number}/claim",
            post(claim),
        )
        .route(
            "/external-systems/{name}/entries/{number}/settle",
            post(settle),
        )
}

async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<QueuePlugin>), ApiError> {
    let bytes = component_bytes(&headers, body)?;
    let runtime = state.runtime.clone();
    let component = bytes.clone();
    let loaded = tokio::task::spawn_blocking(move || runtime.load(&component))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("plugin validation panicked: {e}")))?
        .map_err(|e| {
            ApiError::client(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_plugin",
                format!("the component does not load: {e}"),
            )
        })?;
    let world = loaded.info().world;
    if !matches!(world, World::Gateway | World::ExternalSystem) {
        return Err(ApiError::client(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_plugin",
            format!(
                "this is a {world} plugin; only gateway and external-system plugins are \
                 uploaded here (routing applications go to their connector)"
            ),
        ));
    }
    let hash = content_hash(&bytes);
    let existed = state.store.queue_plugin(&hash).await.is_ok();
    let stored = state
        .store
        .add_queue_plugin(&hash, &world.to_string(), &bytes)
        .await?;
    let status = if existed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(stored)))
}

async fn list_plugins(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<QueuePlugin>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_queue_plugins().await?))
}

async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SystemInput>,
) -> Result<(StatusCode, Json<ExternalSystem>), ApiError> {
    let values = body.into_values()?;
    let created = state.store.create_external_system(&values).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<ExternalSystem>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_external_systems().await?))
}

async fn show(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ExternalSystem>, ApiError> {
    Ok(Json(state.store.external_system(&name).await?))
}

async fn update(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(changes): ApiJson<SystemChanges>,
) -> Result<Json<ExternalSystem>, ApiError> {
    let current = state.store.external_system(&name).await?;
    let values = changes.apply_to(current)?;
    Ok(Json(
        state.store.update_external_system(&name, &values).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_external_system(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The system named in the path, if the caller presented its token.
async fn authenticate(
    state: &AppState,
    name: &str,
    headers: &HeaderMap,
    query: Option<&str>,
) -> Result<ExternalSystem, ApiError> {
    let presented = presented_token(headers, query).ok_or_else(|| {
        ApiError::unauthorized(
            "send the external system's token as `Authorization: Bearer <token>`",
        )
    })?;
    // An unknown system and a wrong token look the same, so names cannot be probed.
    match state.store.external_system(name).await {
        Ok(system) if same_token(&system.token, presented) => Ok(system),
        Ok(_) | Err(crate::store::StoreError::NotFound(_)) => {
            Err(ApiError::unauthorized("wrong external system token"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The system's Pending entries that nobody holds, oldest first.
async fn entries(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page<EntryRecord>>, ApiError> {
    let query = ListQuery::paged(raw.as_deref(), &["token"])?;
    let system = authenticate(&state, &name, &headers, query.filter("token")).await?;
    let items = state
        .store
        .unclaimed_entries(&system.name, query.after.unwrap_or(0), query.limit as u32)
        .await?;
    Ok(Json(query.page(items, |e| e.number)))
}

/// How long a third party's claim lasts unless it asks otherwise.
const DEFAULT_CLAIM_SECONDS: u64 = 300;
const MAX_CLAIM_SECONDS: u64 = 3_600;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ClaimBody {
    lease_seconds: Option<u64>,
}

#[derive(Serialize)]
struct ClaimAnswer {
    entry: EntryRecord,
    /// Presented back when settling.
    claim: String,
    expires_at: i64,
}

async fn claim(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, i64)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ClaimAnswer>, ApiError> {
    let system = authenticate(&state, &name, &headers, None).await?;
    // The body is optional: an empty one takes the default lease.
    let options: ClaimBody = if body.iter().all(u8::is_ascii_whitespace) {
        ClaimBody::default()
    } else {
        parse_json(&body)?
    };
    let seconds = options.lease_seconds.unwrap_or(DEFAULT_CLAIM_SECONDS);
    if !(1..=MAX_CLAIM_SECONDS).contains(&seconds) {
        return Err(FieldError::new(
            "lease_seconds",
            format!("must be between 1 and {MAX_CLAIM_SECONDS}"),
        )
        .into());
    }
    let claimed = state
        .store
        .claim_for_system(&system.name, number, seconds as i64 * 1_000)
        .await?;
    Ok(Json(ClaimAnswer {
        expires_at: claimed.entry.claimed_until.unwrap_or_default(),
        entry: claimed.entry,
        claim: claimed.token,
    }))
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Outcome {
    Completed,
    Rejected,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SettleBody {
    claim: String,
    outcome: Outcome,
    error_code: Option<String>,
    error_description: Option<String>,
    /// A note kept with a completed entry, e.g. the third party's own reference.
    result: Option<String>,
}

async fn settle(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, i64)>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SettleBody>,
) -> Result<Json<EntryRecord>, ApiError> {
    let system = authenticate(&state, &name, &headers, None).await?;
    let clip = |field: &'static str, text: Option<String>, max: usize| match text {
        Some(t) if t.chars().count() > max || t.contains('\0') => Err(FieldError::new(
            field,
            format!("must be at most {max} characters without NUL"),
        )),
        other => Ok(other),
    };
    let code = clip("error_code", body.error_code, 64)?;
    let description = clip("error_description", body.error_description, 4_000)?;
    let result = clip("result", body.result, 4_000)?;
    let settlement = match body.outcome {
        Outcome::Completed => Settlement::completed(TextStatus::Sent, result),
        Outcome::Rejected => {
            let (Some(code), Some(description)) = (code, description) else {
                return Err(FieldError::new(
                    "error_code",
                    "a rejected entry needs error_code and error_description (seed 000)",
                )
                .into());
            };
            Settlement::rejected(TextStatus::Failed, &code, description)
        }
    };
    let entry = state.store.entry(number).await?;
    if entry.external_system.as_deref() != Some(system.name.as_str()) {
        return Err(ApiError::not_found(format!(
            "queue entry {number} of external system `{}` not found",
            system.name
        )));
    }
    let by = format!("external system {}", system.name);
    let written = state
        .store
        .settle_entry(number, &body.claim, &settlement, &by, None)
        .await?;
    if !written {
        return Err(ApiError::client(
            StatusCode::CONFLICT,
            "claim_lost",
            format!(
                "queue entry {number} is {} and this claim does not hold it (wrong claim, \
                 already settled, or claimed again by someone else after this claim ran out)",
                entry.state.as_str()
            ),
        ));
    }
    state
        .metrics
        .settled(entry.communication.media, settlement.status);
    Ok(Json(state.store.entry(number).await?))
}

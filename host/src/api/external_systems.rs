//! External systems and the components the queue runs: `/api/v1/plugins` (gateway and
//! external-system components, by content hash) and `/api/v1/external-systems` for
//! admins; and, authenticated by the system's own token, the web API a third party
//! uses to list, claim and settle its entries.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, body_rejection, parse_json};
use super::inbound::presented_token;
use super::openapi::{
    Conflict, ErrorBody, InvalidField, InvalidQuery, MalformedBody, NotFound, TooLarge,
    Unauthorized, UnsupportedMediaType,
};
use super::plugins::component_bytes;
use super::query::{ListQuery, Page, Paging};
use super::routes::{ApiRouter, get, post};
use crate::domain::acd_groups::FieldError;
use crate::domain::connectors::inbound::same_token;
use crate::domain::queue::record::QueuePlugin;
use crate::domain::queue::systems::{NAME_RULE, SystemChanges, SystemInput, is_system_name};
use crate::domain::queue::{EntryRecord, ExternalSystem, Settlement, TextStatus};
use crate::runtime::{MAX_COMPONENT_SIZE, World, content_hash};

/// Admin routes.
pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route(
            "/plugins",
            get(list_plugins)
                .post(upload)
                .body_limit(MAX_COMPONENT_SIZE),
        )
        .route("/external-systems", get(list).post(create))
        .route(
            "/external-systems/{name}",
            get(show).put(update).delete(remove),
        )
}

/// Routes for third parties, which present their system's token.
pub fn third_party_router() -> ApiRouter {
    ApiRouter::new()
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

/// Uploads a gateway or external-system component, stored by the SHA-256 of its bytes:
/// 201 when new, 200 when these bytes were uploaded before.
#[utoipa::path(
    post,
    path = "/api/v1/plugins",
    tag = "external-systems",
    operation_id = "upload_plugin",
    summary = "Upload a gateway or external-system component",
    description = "Stored by the SHA-256 of its bytes: 201 when new, 200 when these bytes were uploaded before.",
    request_body(
        description = "The component's bytes (a WebAssembly component of the gateway or external-system world)",
        content(
            (Vec<u8> = "application/wasm"),
            (Vec<u8> = "application/octet-stream"),
        ),
    ),
    responses(
        (status = 201, description = "Stored", body = QueuePlugin),
        (status = 200, description = "Stored before", body = QueuePlugin),
        (status = 400, response = MalformedBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, description = "`invalid_plugin`: not a component the host can run as a gateway or external system", body = ErrorBody),
    ),
)]
pub(super) async fn upload(
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

#[utoipa::path(
    get,
    path = "/api/v1/plugins",
    tag = "external-systems",
    operation_id = "list_plugins",
    summary = "List gateway and external-system components",
    responses(
        (status = 200, description = "Every gateway and external-system component", body = Vec<QueuePlugin>),
        (status = 400, response = InvalidQuery),
    ),
)]
pub(super) async fn list_plugins(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<QueuePlugin>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_queue_plugins().await?))
}

/// The `name` of a path. One that breaks [`NAME_RULE`] names no system, so it is a 404
/// like an id that does not parse, without asking the database (where PostgreSQL would
/// refuse a NUL in it as an error of its own).
fn path_name(name: &str) -> Result<&str, ApiError> {
    if is_system_name(name) {
        Ok(name)
    } else {
        Err(
            ApiError::not_found(format!("path parameter `name` {NAME_RULE}, not `{name}`"))
                .with_field("name"),
        )
    }
}

#[utoipa::path(
    post,
    path = "/api/v1/external-systems",
    tag = "external-systems",
    operation_id = "create_external_system",
    summary = "Create an external system",
    description = "The server generates its token.",
    request_body = SystemInput,
    responses(
        (status = 201, description = "The system, created, with its token", body = ExternalSystem),
        (status = 409, response = Conflict),
        (status = 400, response = MalformedBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn create(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<SystemInput>,
) -> Result<(StatusCode, Json<ExternalSystem>), ApiError> {
    let values = body.into_values()?;
    let created = state.store.create_external_system(&values).await?;
    Ok((StatusCode::CREATED, Json(created)))
}

#[utoipa::path(
    get,
    path = "/api/v1/external-systems",
    tag = "external-systems",
    operation_id = "list_external_systems",
    summary = "List external systems",
    responses(
        (status = 200, description = "Every external system", body = Vec<ExternalSystem>),
        (status = 400, response = InvalidQuery),
    ),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Vec<ExternalSystem>>, ApiError> {
    ListQuery::unpaged(raw.as_deref())?;
    Ok(Json(state.store.list_external_systems().await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/external-systems/{name}",
    tag = "external-systems",
    operation_id = "show_external_system",
    summary = "Show an external system",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The external system's name")),
    responses(
        (status = 200, description = "The system", body = ExternalSystem),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<ExternalSystem>, ApiError> {
    Ok(Json(state.store.external_system(path_name(&name)?).await?))
}

#[utoipa::path(
    put,
    path = "/api/v1/external-systems/{name}",
    tag = "external-systems",
    operation_id = "update_external_system",
    summary = "Change an external system",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The external system's name")),
    request_body = SystemChanges,
    responses(
        (status = 200, description = "The system, changed", body = ExternalSystem),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 400, response = MalformedBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn update(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
    ApiJson(changes): ApiJson<SystemChanges>,
) -> Result<Json<ExternalSystem>, ApiError> {
    let current = state.store.external_system(path_name(&name)?).await?;
    let values = changes.apply_to(current)?;
    Ok(Json(
        state.store.update_external_system(&name, &values).await?,
    ))
}

/// A system with entries still in the queue cannot be deleted (409).
#[utoipa::path(
    delete,
    path = "/api/v1/external-systems/{name}",
    tag = "external-systems",
    operation_id = "delete_external_system",
    summary = "Delete an external system",
    description = "A system with entries still in the queue cannot be deleted (409).",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The external system's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
    ),
)]
pub(super) async fn remove(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state
        .store
        .delete_external_system(path_name(&name)?)
        .await?;
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
    if !is_system_name(name) {
        return Err(ApiError::unauthorized("wrong external system token"));
    }
    match state.store.external_system(name).await {
        Ok(system) if same_token(&system.token, presented) => Ok(system),
        Ok(_) | Err(crate::store::StoreError::NotFound(_)) => {
            Err(ApiError::unauthorized("wrong external system token"))
        }
        Err(e) => Err(e.into()),
    }
}

/// The system's Pending entries that nobody holds, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/external-systems/{name}/entries",
    tag = "third-party",
    operation_id = "list_system_entries",
    summary = "List the system's unclaimed Pending entries",
    description = "Oldest first.",
    params(("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The external system's name"), Paging),
    security(("system_token" = []), ("system_token_query" = [])),
    responses(
        (status = 200, description = "A page of entries by number", body = Page<EntryRecord>),
        (status = 400, response = InvalidQuery),
        (status = 401, response = Unauthorized),
    ),
)]
pub(super) async fn entries(
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

/// The optional body of a claim.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct ClaimBody {
    /// How long the claim lasts: 1 to 3,600 seconds, 300 when absent.
    #[schema(minimum = 1, maximum = 3600)]
    lease_seconds: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct ClaimAnswer {
    entry: EntryRecord,
    /// Presented back when settling.
    claim: String,
    expires_at: i64,
}

/// Holds a Pending entry for the caller until the claim runs out or is settled.
#[utoipa::path(
    post,
    path = "/api/v1/external-systems/{name}/entries/{number}/claim",
    tag = "third-party",
    operation_id = "claim_system_entry",
    summary = "Claim a Pending entry",
    description = "Holds it for the caller until the claim runs out or is settled.",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The external system's name"),
        ("number" = i64, Path, description = "The entry's number"),
    ),
    request_body(content = Option<ClaimBody>, description = "Optional; an empty body takes the default lease"),
    security(("system_token" = [])),
    responses(
        (status = 200, description = "The claim, to present when settling", body = ClaimAnswer),
        (status = 400, response = MalformedBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, response = Conflict),
        (status = 413, response = TooLarge),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn claim(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, i64)>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<ClaimAnswer>, ApiError> {
    // The token before the body: a caller without one learns nothing from how its
    // body is read (its size, its syntax), and costs no more than its headers.
    let system = authenticate(&state, &name, &headers, None).await?;
    let body = Bytes::from_request(request, &state)
        .await
        .map_err(body_rejection)?;
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

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "snake_case")]
pub(super) enum Outcome {
    Completed,
    Rejected,
}

/// How the third party's processing of an entry ended.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct SettleBody {
    /// The `claim` the claim answered with.
    #[schema(max_length = 64)]
    claim: String,
    outcome: Outcome,
    /// Up to 64 characters; with `error_description`, required when rejected.
    error_code: Option<String>,
    /// Up to 4,000 characters.
    error_description: Option<String>,
    /// A note kept with a completed entry, e.g. the third party's own reference.
    result: Option<String>,
}

/// Completes or rejects a claimed entry.
#[utoipa::path(
    post,
    path = "/api/v1/external-systems/{name}/entries/{number}/settle",
    tag = "third-party",
    operation_id = "settle_system_entry",
    summary = "Complete or reject a claimed entry",
    params(
        ("name" = String, Path, pattern = "^[A-Za-z0-9._-]{1,64}$", description = "The external system's name"),
        ("number" = i64, Path, description = "The entry's number"),
    ),
    request_body = SettleBody,
    security(("system_token" = [])),
    responses(
        (status = 200, description = "The entry, settled", body = EntryRecord),
        (status = 400, response = MalformedBody),
        (status = 401, response = Unauthorized),
        (status = 404, response = NotFound),
        (status = 409, description = "`claim_lost`: the claim does not hold the entry (wrong, settled already, or run out and claimed again)", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn settle(
    State(state): State<AppState>,
    ApiPath((name, number)): ApiPath<(String, i64)>,
    headers: HeaderMap,
    request: Request,
) -> Result<Json<EntryRecord>, ApiError> {
    // The token before the body, as for a claim.
    let system = authenticate(&state, &name, &headers, None).await?;
    let ApiJson(body) = ApiJson::<SettleBody>::from_request(request, &state).await?;
    let clip = |field: &'static str, text: Option<String>, max: usize| match text {
        Some(t) if t.chars().count() > max || t.contains('\0') => Err(FieldError::new(
            field,
            format!("must be at most {max} characters without NUL"),
        )),
        other => Ok(other),
    };
    // Claims are issued as 32 hex digits; PostgreSQL would fail on a NUL in one.
    let claim = clip("claim", Some(body.claim), 64)?.unwrap_or_default();
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
        .settle_entry(number, &claim, &settlement, &by, None, None)
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

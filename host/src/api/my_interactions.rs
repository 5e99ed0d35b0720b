//! `/api/v1/me/interactions` and `/api/v1/me/workbins`: the interactions the logged-in
//! agent holds, and the operations on them (GWS style: `POST /me/interactions/{id}`
//! with `{"operationName": ...}`). Another agent's interaction is 404; an operation
//! outside the interaction's capabilities is 409 naming the allowed ones.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::Instrument;
use utoipa::ToSchema;

use super::AppState;
use super::agent_sessions::AgentSession;
use super::error::ApiError;
use super::extract::{ApiJson, ApiPath};
use super::openapi::{
    ErrorBody, InvalidField, MalformedBody, NotFound, TooLarge, UnsupportedMediaType,
};
use super::routes::{ApiRouter, get};
use crate::domain::interactions::Interaction;
use crate::domain::interactions::operations::{self, Operation, edited_text, workbin_name};
use crate::domain::queue::communication::{self, CommunicationInput, Refused};
use crate::store::offering::Change;
use crate::store::{StoreError, now_ms};

pub fn router() -> ApiRouter {
    ApiRouter::new()
        .route("/me/interactions", get(list))
        .route("/me/interactions/{id}", get(show).post(operate))
        .route(
            "/me/interactions/{id}/attachments/{attachment}",
            get(download_attachment),
        )
        .route("/me/workbins", get(workbins))
}

/// An interaction as its agent sees it, with what it may do next.
#[derive(Serialize, ToSchema)]
pub(super) struct MyInteraction {
    #[serde(flatten)]
    interaction: Interaction,
    /// The operations allowed now (seed 003's capabilities).
    capabilities: Vec<Operation>,
}

impl From<Interaction> for MyInteraction {
    fn from(interaction: Interaction) -> Self {
        let capabilities = operations::capabilities(interaction.state).to_vec();
        Self {
            interaction,
            capabilities,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub(super) struct MyInteractions {
    interactions: Vec<MyInteraction>,
}

#[utoipa::path(
    get,
    path = "/api/v1/me/interactions",
    tag = "agents",
    operation_id = "list_my_interactions",
    summary = "The interactions the agent holds: offered, accepted, drafting a reply, in workbins",
    responses((status = 200, description = "Oldest first", body = MyInteractions)),
)]
pub(super) async fn list(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
) -> Result<Json<MyInteractions>, ApiError> {
    let interactions = state.store.agent_interactions(session.agent_id).await?;
    Ok(Json(MyInteractions {
        interactions: interactions.into_iter().map(MyInteraction::from).collect(),
    }))
}

#[utoipa::path(
    get,
    path = "/api/v1/me/interactions/{id}",
    tag = "agents",
    operation_id = "show_my_interaction",
    summary = "One interaction the agent holds",
    params(("id" = i64, Path, description = "The interaction's id")),
    responses(
        (status = 200, description = "The interaction", body = MyInteraction),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn show(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
    ApiPath(id): ApiPath<i64>,
) -> Result<Json<MyInteraction>, ApiError> {
    let interaction = state.store.agent_interaction(session.agent_id, id).await?;
    Ok(Json(interaction.into()))
}

/// An attachment of the email of an interaction the agent holds: any other is 404,
/// as another agent's interaction is.
#[utoipa::path(
    get,
    path = "/api/v1/me/interactions/{id}/attachments/{attachment}",
    tag = "agents",
    operation_id = "download_my_attachment",
    summary = "Download an attachment of an email the agent holds",
    params(
        ("id" = i64, Path, description = "The interaction's id"),
        ("attachment" = i64, Path, description = "The attachment's id (from the interaction's `attachments`)"),
    ),
    responses(
        (status = 200, description = "The attachment's bytes, with its MIME type", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, response = NotFound),
    ),
)]
pub(super) async fn download_attachment(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
    ApiPath((id, attachment)): ApiPath<(i64, i64)>,
) -> Result<axum::response::Response, ApiError> {
    let interaction = state.store.agent_interaction(session.agent_id, id).await?;
    if !interaction.attachments.iter().any(|a| a.id == attachment) {
        return Err(ApiError::not_found(format!(
            "attachment {attachment} is not one of interaction {id}'s"
        )));
    }
    let (view, bytes) = state.store.attachment(attachment).await?;
    super::interactions::attachment_response(&view, bytes)
}

/// An operation and what it needs. Only the fields its operation reads may be given.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct OperationRequest {
    /// Accept, Reject, Reply, ReplyAll, Send, Cancel, Transfer, StopProcessing,
    /// PlaceInQueue, PlaceInWorkbin, UpdateProperties, LinkAttachment, PullFromWorkbin.
    operation_name: String,
    /// The reply's text: UpdateProperties while drafting, or Send (the final text).
    text: Option<String>,
    /// UpdateProperties: strings to set, `null` to remove a key.
    #[schema(value_type = Option<Object>)]
    user_data: Option<Value>,
    /// PlaceInWorkbin: the workbin's name.
    workbin: Option<String>,
    /// Transfer to this agent (who must be ready with free capacity).
    agent_id: Option<i64>,
    /// Transfer or PlaceInQueue to this ACD group (PlaceInQueue without it: the
    /// interaction's own).
    acd_group: Option<i64>,
    /// LinkAttachment: the attachment's id.
    attachment_id: Option<String>,
}

impl OperationRequest {
    /// Refuses fields the operation does not read: a typo must not be ignored.
    fn only(&self, operation: Operation, allowed: &[&str]) -> Result<(), ApiError> {
        let given = [
            ("text", self.text.is_some()),
            ("userData", self.user_data.is_some()),
            ("workbin", self.workbin.is_some()),
            ("agentId", self.agent_id.is_some()),
            ("acdGroup", self.acd_group.is_some()),
            ("attachmentId", self.attachment_id.is_some()),
        ];
        match given
            .iter()
            .find(|(name, set)| *set && !allowed.contains(name))
        {
            Some((name, _)) => Err(ApiError::invalid(
                name,
                format!("{} takes no `{name}`", operation.as_str()),
            )),
            None => Ok(()),
        }
    }
}

fn required<T>(value: Option<T>, field: &'static str, operation: Operation) -> Result<T, ApiError> {
    value.ok_or_else(|| ApiError::invalid(field, format!("{} needs `{field}`", operation.as_str())))
}

#[utoipa::path(
    post,
    path = "/api/v1/me/interactions/{id}",
    tag = "agents",
    operation_id = "operate_my_interaction",
    summary = "Perform an operation on an interaction the agent holds",
    description = "Accept or Reject an offer; Reply or ReplyAll (a draft, state ReplyCreated), edit it with UpdateProperties `text`, Send it (a queue entry) or Cancel it; Transfer (`agentId` or `acdGroup`), PlaceInQueue, PlaceInWorkbin (`workbin`), PullFromWorkbin, UpdateProperties (`userData`), StopProcessing. Each change is also pushed to the agent over CometD.",
    params(("id" = i64, Path, description = "The interaction's id")),
    request_body = OperationRequest,
    responses(
        (status = 200, description = "The interaction afterwards", body = MyInteraction),
        (status = 400, response = MalformedBody),
        (status = 404, response = NotFound),
        (status = 409, description = "`conflict`: the operation is not among the interaction's capabilities now (the message names them), or the target agent has no room", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 415, response = UnsupportedMediaType),
        (status = 422, response = InvalidField),
    ),
)]
pub(super) async fn operate(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
    ApiPath(id): ApiPath<i64>,
    ApiJson(request): ApiJson<OperationRequest>,
) -> Result<Json<MyInteraction>, ApiError> {
    let agent = session.agent_id;
    let Some(operation) = Operation::parse(&request.operation_name) else {
        let known: Vec<&str> = Operation::ALL.iter().map(|o| o.as_str()).collect();
        return Err(ApiError::invalid(
            "operationName",
            format!(
                "unknown operation `{}`; one of {}",
                request.operation_name,
                known.join(", ")
            ),
        ));
    };
    let span = tracing::info_span!(
        "agent_operation",
        agent,
        interaction = id,
        operation = operation.as_str()
    );
    let result = async {
        let change = change_for(&state, agent, id, operation, request).await?;
        Ok::<_, ApiError>(state.store.operate(agent, id, change, now_ms()).await?)
    }
    .instrument(span)
    .await;
    let outcome = match &result {
        Ok(_) => "ok",
        Err(e) if e.is_client_error() => "refused",
        Err(_) => "error",
    };
    state.metrics.agent_operation(operation.as_str(), outcome);
    let done = result?;
    state.offering.notified(&done.notified);
    if done.offer_again {
        state.offering.wake();
    }
    if let Some(entry) = done.entry {
        tracing::info!(entry, "reply queued");
        state.queue.wake();
    }
    Ok(Json(done.interaction.into()))
}

/// Checks the request's fields for `operation` and builds the store's change.
async fn change_for(
    state: &AppState,
    agent: i64,
    id: i64,
    operation: Operation,
    request: OperationRequest,
) -> Result<Change, ApiError> {
    use Operation::*;
    let change = match operation {
        Accept | Reject | Reply | ReplyAll | Cancel | StopProcessing | PullFromWorkbin => {
            request.only(operation, &[])?;
            match operation {
                Accept => Change::Accept,
                Reject => Change::Reject,
                Reply => Change::Reply { all: false },
                ReplyAll => Change::Reply { all: true },
                Cancel => Change::Cancel,
                StopProcessing => Change::StopProcessing,
                _ => Change::PullFromWorkbin,
            }
        }
        Transfer => {
            request.only(operation, &["agentId", "acdGroup"])?;
            match (request.agent_id, request.acd_group) {
                (Some(target), None) => Change::TransferToAgent(target),
                (None, Some(group)) => Change::TransferToGroup(group),
                _ => {
                    return Err(ApiError::invalid(
                        "agentId",
                        "Transfer needs exactly one of `agentId` and `acdGroup`",
                    ));
                }
            }
        }
        PlaceInQueue => {
            request.only(operation, &["acdGroup"])?;
            Change::PlaceInQueue(request.acd_group)
        }
        PlaceInWorkbin => {
            request.only(operation, &["workbin"])?;
            let name = required(request.workbin, "workbin", operation)?;
            Change::PlaceInWorkbin(workbin_name(&name).map_err(field_error)?)
        }
        UpdateProperties => {
            request.only(operation, &["userData", "text"])?;
            if request.user_data.is_none() && request.text.is_none() {
                return Err(ApiError::invalid(
                    "userData",
                    "UpdateProperties needs `userData`, `text` or both",
                ));
            }
            Change::UpdateProperties {
                user_data: request.user_data,
                text: request.text,
            }
        }
        LinkAttachment => {
            request.only(operation, &["attachmentId"])?;
            let attachment = required(request.attachment_id, "attachmentId", operation)?;
            let attachment = attachment.trim().parse::<i64>().map_err(|_| {
                ApiError::invalid(
                    "attachmentId",
                    format!("`{attachment}` is not an attachment id (a whole number)"),
                )
            })?;
            Change::LinkAttachment(attachment)
        }
        Send => {
            request.only(operation, &["text"])?;
            send(state, agent, id, request.text).await?
        }
    };
    Ok(change)
}

/// The Send change: the draft (with `text` as its final text, if given) as a queue
/// entry, by the queue's rules (seed 000) like any other communication.
async fn send(
    state: &AppState,
    agent: i64,
    id: i64,
    text: Option<String>,
) -> Result<Change, ApiError> {
    let current = state.store.agent_interaction(agent, id).await?;
    operations::check(current.state, Operation::Send)
        .map_err(|e| ApiError::from(StoreError::Conflict(e.to_string())))?;
    let draft = current.draft.ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("interaction {id} drafting without a draft"))
    })?;
    let body = match text {
        Some(text) => edited_text(&text).map_err(field_error)?,
        None => draft.text.clone(),
    };
    if body.trim().is_empty() {
        return Err(ApiError::invalid(
            "text",
            "the reply is empty: write it with UpdateProperties `text`, or give `text` here",
        ));
    }
    let recipient = draft.to.first().cloned().unwrap_or_default();
    let input = CommunicationInput {
        media: current.channel,
        direction: crate::domain::queue::Direction::Outgoing,
        sender: Some(draft.from.clone()),
        recipient,
        subject: draft.subject.clone(),
        body,
        external_system: None,
    };
    let email = state.store.email_settings().await?;
    let sms = state.store.sms_settings().await?;
    let login = state.store.agent(agent).await?.login;
    let mut entry = communication::accept(input, &email, &sms, &format!("agent {login}")).map_err(
        |e| match e {
            Refused::Invalid(field) => ApiError::from(field),
            Refused::NotQueued(why) => ApiError::client(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not_queued",
                format!("the reply does not enter the queue: {why}"),
            ),
        },
    )?;
    entry.inbound_message_id = Some(current.message_id);
    Ok(Change::Send {
        entry: Box::new(entry),
        text: draft.text,
    })
}

fn field_error(e: operations::InputError) -> ApiError {
    ApiError::invalid(e.field, e.message)
}

/// One workbin and what is in it.
#[derive(Serialize, ToSchema)]
pub(super) struct Workbin {
    name: String,
    interactions: Vec<MyInteraction>,
}

#[derive(Serialize, ToSchema)]
pub(super) struct Workbins {
    workbins: Vec<Workbin>,
}

#[utoipa::path(
    get,
    path = "/api/v1/me/workbins",
    tag = "agents",
    operation_id = "list_my_workbins",
    summary = "The agent's workbins with the interactions in each (PullFromWorkbin takes one out)",
    responses((status = 200, description = "By name", body = Workbins)),
)]
pub(super) async fn workbins(
    State(state): State<AppState>,
    Extension(session): Extension<AgentSession>,
) -> Result<Json<Workbins>, ApiError> {
    let bins = state.store.workbins(session.agent_id).await?;
    Ok(Json(Workbins {
        workbins: bins
            .into_iter()
            .map(|(name, items)| Workbin {
                name,
                interactions: items.into_iter().map(MyInteraction::from).collect(),
            })
            .collect(),
    }))
}

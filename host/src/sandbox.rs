//! The host's edge to the plugin runtime: calls on a plugin in the host's domain
//! types, converted to and from the WIT types the runtime speaks.
//!
//! Inputs convert infallibly; outputs from the guest are checked on the way in, so the
//! rest of the host only ever sees decisions that satisfy [`Decision::check`] and queue
//! results within their size limits. A result that fails the check is the plugin's
//! failure ([`InvokeError::InvalidOutput`]), and its kv writes are dropped with it.

use std::time::Duration;

use switchyard_runtime::host::CallLog;
use switchyard_runtime::wit;
use switchyard_runtime::{HostEnv, Invocation, InvokeError, Limits, Plugin};

use crate::domain::channel::Channel;
use crate::domain::conversations::{Conversation, ConversationStatus};
use crate::domain::queue::{
    Direction, HttpMethod, HttpRequestSpec, HttpResponseData, ProcessError, ProcessOutcome,
    QueueEntry, SendResult,
};
use crate::domain::routing::{
    ConnectorContext, Decision, DecisionError, GroupTarget, InboundMessage, OutboundReply, Target,
};

pub(crate) fn channel(c: Channel) -> wit::Channel {
    match c {
        Channel::Sms => wit::Channel::Sms,
        Channel::Email => wit::Channel::Email,
        Channel::Device => wit::Channel::Device,
    }
}

fn channel_from(c: wit::Channel) -> Channel {
    match c {
        wit::Channel::Sms => Channel::Sms,
        wit::Channel::Email => Channel::Email,
        wit::Channel::Device => Channel::Device,
    }
}

fn status(s: ConversationStatus) -> wit::ConversationStatus {
    match s {
        ConversationStatus::NotContacted => wit::ConversationStatus::NotContacted,
        ConversationStatus::New => wit::ConversationStatus::New,
        ConversationStatus::InProgress => wit::ConversationStatus::InProgress,
        ConversationStatus::Closed => wit::ConversationStatus::Closed,
        ConversationStatus::InAFlow => wit::ConversationStatus::InAFlow,
    }
}

fn status_from(s: wit::ConversationStatus) -> ConversationStatus {
    match s {
        wit::ConversationStatus::NotContacted => ConversationStatus::NotContacted,
        wit::ConversationStatus::New => ConversationStatus::New,
        wit::ConversationStatus::InProgress => ConversationStatus::InProgress,
        wit::ConversationStatus::Closed => ConversationStatus::Closed,
        wit::ConversationStatus::InAFlow => ConversationStatus::InAFlow,
    }
}

fn message(m: &InboundMessage) -> wit::InboundMessage {
    wit::InboundMessage {
        id: m.id.clone(),
        channel: channel(m.channel),
        sender: m.sender.clone(),
        recipient: m.recipient.clone(),
        subject: m.subject.clone(),
        body: m.body.clone(),
        received_at: m.received_at,
        attachments: m
            .attachments
            .iter()
            .map(|a| wit::Attachment {
                name: a.name.clone(),
                mime_type: a.mime_type.clone(),
                size: a.size,
            })
            .collect(),
        attributes: m.attributes.clone(),
    }
}

fn connector(c: &ConnectorContext, settings: &str) -> wit::ConnectorContext {
    wit::ConnectorContext {
        id: c.id.clone(),
        name: c.name.clone(),
        recipient: c.recipient.clone(),
        settings: settings.to_owned(),
    }
}

fn conversation(c: &Conversation) -> wit::Conversation {
    wit::Conversation {
        status: status(c.status),
        tags: c.tags.clone(),
    }
}

/// Converts and checks a guest's decision.
fn decision(d: wit::Decision) -> Result<Decision, DecisionError> {
    let target = match d.target {
        wit::Target::AcdGroup(g) => Target::AcdGroup(GroupTarget {
            group: g.group,
            priority: g.priority,
            subject: g.subject,
            user_data: g.user_data,
        }),
        wit::Target::Reject(reason) => Target::Reject(reason),
        wit::Target::Drop => Target::Drop,
    };
    let decision = Decision {
        target,
        status: d.status.map(status_from),
        tags: d.tags,
        replies: d
            .replies
            .into_iter()
            .map(|r| OutboundReply {
                channel: channel_from(r.channel),
                recipient: r.recipient,
                subject: r.subject,
                body: r.body,
            })
            .collect(),
    };
    decision.check()?;
    Ok(decision)
}

fn queue_entry(e: &QueueEntry) -> wit::QueueEntry {
    let c = &e.communication;
    wit::QueueEntry {
        number: e.number,
        external_system: e.external_system.clone(),
        communication: wit::Communication {
            media: channel(c.media),
            direction: match c.direction {
                Direction::Incoming => wit::Direction::Incoming,
                Direction::Outgoing => wit::Direction::Outgoing,
            },
            sender: c.sender.clone(),
            recipient: c.recipient.clone(),
            subject: c.subject.clone(),
            body: c.body.clone(),
        },
        attributes: e.attributes.clone(),
    }
}

/// Codes and descriptions are stored on the queue entry and shown to admins; a third
/// party's error text is rarely longer than a paragraph.
const MAX_ERROR_CODE: usize = 64;
const MAX_ERROR_DESCRIPTION: usize = 4_096;
const MAX_REFERENCE: usize = 1_024;

fn process_error(e: wit::ProcessError) -> Result<ProcessError, String> {
    if e.code.trim().is_empty() {
        return Err("the error code is empty".into());
    }
    if e.code.len() > MAX_ERROR_CODE || e.code.chars().any(char::is_control) {
        return Err(format!(
            "the error code must be one line of at most {MAX_ERROR_CODE} bytes"
        ));
    }
    if e.description.len() > MAX_ERROR_DESCRIPTION {
        return Err(format!(
            "the error description is {} bytes, the limit is {MAX_ERROR_DESCRIPTION}",
            e.description.len()
        ));
    }
    Ok(ProcessError {
        code: e.code,
        description: e.description,
    })
}

fn process_outcome(o: wit::ProcessOutcome) -> Result<ProcessOutcome, String> {
    match o {
        wit::ProcessOutcome::Completed(reference) => {
            if reference.as_ref().is_some_and(|r| r.len() > MAX_REFERENCE) {
                return Err(format!(
                    "the reference is longer than {MAX_REFERENCE} bytes"
                ));
            }
            Ok(ProcessOutcome::Completed(reference))
        }
        wit::ProcessOutcome::Rejected(e) => process_error(e).map(ProcessOutcome::Rejected),
    }
}

fn http_request(r: wit::HttpRequest) -> Result<HttpRequestSpec, String> {
    let request = HttpRequestSpec {
        method: match r.method {
            wit::HttpMethod::Get => HttpMethod::Get,
            wit::HttpMethod::Post => HttpMethod::Post,
            wit::HttpMethod::Put => HttpMethod::Put,
        },
        url: r.url,
        headers: r.headers,
        body: r.body,
    };
    request.check()?;
    Ok(request)
}

fn http_response(r: &HttpResponseData) -> wit::HttpResponse {
    wit::HttpResponse {
        status: r.status,
        headers: r.headers.clone(),
        body: r.body.clone(),
    }
}

fn send_result(r: wit::SendResult) -> Result<SendResult, String> {
    Ok(match r {
        wit::SendResult::Sent(id) => {
            if id.as_ref().is_some_and(|id| id.len() > MAX_REFERENCE) {
                return Err(format!(
                    "the gateway message id is longer than {MAX_REFERENCE} bytes"
                ));
            }
            SendResult::Sent(id)
        }
        wit::SendResult::Failed(e) => SendResult::Failed(process_error(e)?),
        wit::SendResult::Retry(e) => SendResult::Retry(process_error(e)?),
    })
}

/// Time an invocation may spend beyond its deadline before the host gives up on it.
/// The deadline itself is enforced inside the sandbox on every epoch tick; this only
/// bounds a host call (a kv read on a stalled database) the guest is waiting on.
const HOST_CALL_GRACE: Duration = Duration::from_secs(5);

/// Runs `call` within the deadline plus [`HOST_CALL_GRACE`].
async fn bounded<T>(
    limits: &Limits,
    call: impl std::future::Future<Output = Result<Invocation<T>, InvokeError>>,
) -> Result<Invocation<T>, InvokeError> {
    tokio::time::timeout(limits.deadline + HOST_CALL_GRACE, call)
        .await
        .unwrap_or(Err(InvokeError::Timeout {
            deadline: limits.deadline,
        }))
}

/// Asks a routing application where `message` goes.
pub async fn route(
    plugin: &Plugin,
    env: &HostEnv,
    limits: &Limits,
    message: &InboundMessage,
    connector: &ConnectorContext,
    conversation: &Conversation,
) -> Result<Invocation<Decision>, InvokeError> {
    let log = CallLog::default();
    route_logged(plugin, env, limits, &log, message, connector, conversation).await
}

/// [`route`], with the plugin's log quota in `log`, which also keeps the log lines of
/// an invocation that fails (the sandbox's failures and decisions refused here alike).
pub async fn route_logged(
    plugin: &Plugin,
    env: &HostEnv,
    limits: &Limits,
    log: &CallLog,
    message: &InboundMessage,
    connector: &ConnectorContext,
    conversation: &Conversation,
) -> Result<Invocation<Decision>, InvokeError> {
    let (message, conversation) = (self::message(message), self::conversation(conversation));
    let connector = self::connector(connector, env.settings.as_json());
    bounded(
        limits,
        plugin.route(env, limits, log, &message, &connector, &conversation),
    )
    .await?
    .try_map_logged(|d| decision(d).map_err(|e| e.to_string()), log)
}

/// Asks an external system to process a queue entry.
pub async fn process(
    plugin: &Plugin,
    env: &HostEnv,
    limits: &Limits,
    entry: &QueueEntry,
) -> Result<Invocation<ProcessOutcome>, InvokeError> {
    let entry = queue_entry(entry);
    bounded(limits, plugin.process(env, limits, &entry))
        .await?
        .try_map(process_outcome)
}

/// Asks a gateway for the HTTP request that sends `entry`; the inner `Err` is the
/// gateway refusing the entry.
pub async fn build_request(
    plugin: &Plugin,
    env: &HostEnv,
    limits: &Limits,
    entry: &QueueEntry,
) -> Result<Invocation<Result<HttpRequestSpec, ProcessError>>, InvokeError> {
    let entry = queue_entry(entry);
    bounded(limits, plugin.build_request(env, limits, &entry))
        .await?
        .try_map(|result| match result {
            Ok(request) => http_request(request).map(Ok),
            Err(refusal) => process_error(refusal).map(Err),
        })
}

/// Asks a gateway what the response to its request means.
pub async fn parse_response(
    plugin: &Plugin,
    env: &HostEnv,
    limits: &Limits,
    entry: &QueueEntry,
    response: &HttpResponseData,
) -> Result<Invocation<SendResult>, InvokeError> {
    let (entry, response) = (queue_entry(entry), http_response(response));
    bounded(
        limits,
        plugin.parse_response(env, limits, &entry, &response),
    )
    .await?
    .try_map(send_result)
}

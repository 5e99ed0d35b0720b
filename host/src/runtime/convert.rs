//! Conversions between the host's domain types and the generated WIT types.
//!
//! Inputs convert infallibly; outputs from the guest are checked on the way in, so the
//! rest of the host only ever sees decisions that satisfy [`Decision::check`].

use super::bindings::types as wit;
use crate::channel::Channel;
use crate::conversations::{Conversation, ConversationStatus};
use crate::queue::{
    Direction, HttpMethod, HttpRequestSpec, HttpResponseData, ProcessError, ProcessOutcome,
    QueueEntry, SendResult,
};
use crate::routing::{
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

pub(crate) fn message(m: &InboundMessage) -> wit::InboundMessage {
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

pub(crate) fn connector(c: &ConnectorContext, settings: &str) -> wit::ConnectorContext {
    wit::ConnectorContext {
        id: c.id.clone(),
        name: c.name.clone(),
        recipient: c.recipient.clone(),
        settings: settings.to_owned(),
    }
}

pub(crate) fn conversation(c: &Conversation) -> wit::Conversation {
    wit::Conversation {
        status: status(c.status),
        tags: c.tags.clone(),
    }
}

/// Converts and checks a guest's decision.
pub(crate) fn decision(d: wit::Decision) -> Result<Decision, DecisionError> {
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

pub(crate) fn queue_entry(e: &QueueEntry) -> wit::QueueEntry {
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

pub(crate) fn process_error(e: wit::ProcessError) -> Result<ProcessError, String> {
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

pub(crate) fn process_outcome(o: wit::ProcessOutcome) -> Result<ProcessOutcome, String> {
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

pub(crate) fn http_request(r: wit::HttpRequest) -> Result<HttpRequestSpec, String> {
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

pub(crate) fn http_response(r: &HttpResponseData) -> wit::HttpResponse {
    wit::HttpResponse {
        status: r.status,
        headers: r.headers.clone(),
        body: r.body.clone(),
    }
}

pub(crate) fn send_result(r: wit::SendResult) -> Result<SendResult, String> {
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

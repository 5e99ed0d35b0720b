//! What routing does to one stored message, as plain data: the rules that turn a
//! connector's configuration, or a routing application's decision or failure, into
//! an interaction, a message state, an activity-log line, a routing record, queued
//! replies and a conversation update. The router writes these; nothing here does I/O.

use std::collections::HashMap;

use serde::Serialize;

use crate::channel::Channel;
use crate::connectors::{RoutingType, SmsConnector};
use crate::conversations::Conversation;
use crate::queue::communication::{self, Reply};
use crate::queue::settings::{EmailSettings, SmsSettings};
use switchyard_runtime::host::LogLine;
use switchyard_runtime::{Invocation, InvokeError};

use super::message::Attachment;
use super::{Decision, Target};

/// Where a stored inbound message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageState {
    /// Stored and acknowledged; not routed yet.
    Received,
    /// An interaction waits in an ACD group (the fallback group included).
    Routed,
    /// Refused by the routing application, or unroutable; the reason is logged.
    Rejected,
    /// Discarded on purpose by the routing application.
    Dropped,
}

impl MessageState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Received => "received",
            Self::Routed => "routed",
            Self::Rejected => "rejected",
            Self::Dropped => "dropped",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "received" => Self::Received,
            "routed" => Self::Routed,
            "rejected" => Self::Rejected,
            "dropped" => Self::Dropped,
            _ => return None,
        })
    }
}

/// A stored message waiting to be routed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingMessage {
    pub id: i64,
    pub connector_id: Option<i64>,
    pub channel: Channel,
    pub gateway_message_id: String,
    pub sender: String,
    pub recipient: String,
    pub body: String,
    pub received_at: i64,
    /// An email's subject; SMS carry none.
    pub subject: Option<String>,
    /// What routing applications see beside the text: an email's addresses and
    /// message ids (SMS: none but the gateway's id, which is added when invoked).
    pub attributes: Vec<(String, String)>,
    pub attachments: Vec<Attachment>,
}

/// The interaction a message becomes in an ACD group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInteraction {
    pub acd_group: i64,
    pub priority: i64,
    pub subject: Option<String>,
    pub user_data: Vec<(String, String)>,
}

impl NewInteraction {
    /// What the connector alone decides: its subject, no priority, no user data. Used
    /// by direct routing and by the fallback group.
    fn plain(connector: &SmsConnector, message: &PendingMessage, group: i64) -> Self {
        Self {
            acd_group: group,
            priority: 0,
            subject: connector_subject(connector, message),
            user_data: Vec::new(),
        }
    }
}

/// The subject an interaction gets from its connector. An SMS connector's incoming
/// subject is fixed; an email connector's is a rule over the email's own subject:
/// `{subject}` in it stands for that subject, and without a rule the email's subject
/// is the interaction's.
pub fn connector_subject(connector: &SmsConnector, message: &PendingMessage) -> Option<String> {
    match (connector.channel, &connector.incoming_subject) {
        (Channel::Email, Some(rule)) => {
            let own = message.subject.as_deref().unwrap_or("");
            Some(rule.replace("{subject}", own).trim().to_owned()).filter(|s| !s.is_empty())
        }
        (Channel::Email, None) => message.subject.clone(),
        (_, subject) => subject.clone(),
    }
}

/// A communication for the queue, created by routing (a routing application's reply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewQueueEntry {
    pub media: Channel,
    pub sender: String,
    pub recipient: String,
    pub subject: Option<String>,
    pub body: String,
    pub inbound_message_id: i64,
    /// Log information: who created it, e.g. `routing:connector 3`.
    pub created_by: String,
}

/// The routing record kept with the message: how it was routed and what went wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RoutingRecord {
    pub routing_type: RoutingType,
    pub plugin_version: Option<i64>,
    pub plugin_sha256: Option<String>,
    /// `acd_group`, `fallback`, `reject`, `drop` or `unroutable`.
    pub outcome: &'static str,
    pub reason: Option<String>,
    /// The routing application's decision as it returned it, when it returned one.
    pub decision: Option<serde_json::Value>,
    pub error_kind: Option<String>,
    pub error: Option<String>,
    /// What the routing application was refused while its decision stood (tags past
    /// the conversation's limit, kv writes past the quota): never a silent drop.
    pub warnings: Vec<String>,
    pub logs: Vec<LogLine>,
    pub elapsed_us: Option<i64>,
}

/// Everything routing one message changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed {
    pub message_id: i64,
    pub state: MessageState,
    /// The activity-log line: the state's name and a human-readable detail.
    pub detail: String,
    pub interaction: Option<NewInteraction>,
    pub record: RoutingRecord,
    /// The replies the routing application asked for; [`queue_replies`] decides which
    /// of them enter the queue.
    pub asked_replies: Vec<Reply>,
    /// The replies that enter the queue, with their senders and recipients.
    pub replies: Vec<NewQueueEntry>,
    /// Whose conversation this is: the message's sender, on the message's connector.
    pub contact: String,
    pub connector_id: Option<i64>,
    /// Whether the invocation's kv changes went with this outcome (so a refusal of
    /// them at commit is named on its record).
    pub wrote_kv: bool,
    /// The sender's conversation after this message; None leaves it as it is.
    pub conversation: Option<Conversation>,
    /// The message's channel, which its conversation is on.
    pub channel: Channel,
    /// The conversation's status before this message, when routing read it: a change
    /// goes in the conversation's activity log.
    pub conversation_before: Option<crate::conversations::ConversationStatus>,
}

/// ACD groups by name and by id, as routing resolves them.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    by_name: HashMap<String, i64>,
    by_id: HashMap<i64, String>,
}

impl Groups {
    pub fn new(groups: impl IntoIterator<Item = (i64, String)>) -> Self {
        let mut this = Self::default();
        for (id, name) in groups {
            this.by_name.insert(name.clone(), id);
            this.by_id.insert(id, name);
        }
        this
    }

    pub fn id(&self, name: &str) -> Option<i64> {
        self.by_name.get(name).copied()
    }

    pub fn name(&self, id: i64) -> &str {
        self.by_id.get(&id).map_or("(deleted)", String::as_str)
    }
}

/// The kv scope of the routing application on connector `connector_id`: its data,
/// and its quota, are the connector's.
pub fn kv_scope(connector_id: i64) -> String {
    format!("connector:{connector_id}")
}

/// Which plugin version routed a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginRef {
    pub version: i64,
    pub sha256: String,
}

fn record(
    connector: &SmsConnector,
    plugin: Option<&PluginRef>,
    outcome: &'static str,
) -> RoutingRecord {
    RoutingRecord {
        routing_type: connector.routing_type,
        plugin_version: plugin.map(|p| p.version),
        plugin_sha256: plugin.map(|p| p.sha256.clone()),
        outcome,
        reason: None,
        decision: None,
        error_kind: None,
        error: None,
        warnings: Vec::new(),
        logs: Vec::new(),
        elapsed_us: None,
    }
}

fn interaction_detail(groups: &Groups, interaction: &NewInteraction) -> String {
    format!(
        "to ACD group `{}` with priority {}",
        groups.name(interaction.acd_group),
        interaction.priority
    )
}

/// A direct connector: an interaction in its group, with its incoming subject.
pub fn direct(
    message: &PendingMessage,
    connector: &SmsConnector,
    groups: &Groups,
    conversation: Conversation,
) -> Routed {
    let Some(group) = connector.acd_group else {
        // The connector rules require a group for direct routing; a row without one
        // was edited by hand, and the message is parked with the reason.
        return unroutable(message, connector, "the direct connector has no ACD group");
    };
    let interaction = NewInteraction::plain(connector, message, group);
    Routed {
        message_id: message.id,
        contact: message.sender.clone(),
        connector_id: message.connector_id,
        wrote_kv: false,
        channel: message.channel,
        conversation_before: None,
        state: MessageState::Routed,
        detail: interaction_detail(groups, &interaction),
        interaction: Some(interaction),
        record: record(connector, None, "acd_group"),
        asked_replies: Vec::new(),
        replies: Vec::new(),
        conversation: Some(conversation.after_inbound(None, &[])),
    }
}

/// The routing application returned a decision (already checked against the
/// decision limits by the runtime). A target group that does not exist is the
/// plugin's error and falls back like any other.
pub fn decided(
    message: &PendingMessage,
    connector: &SmsConnector,
    plugin: &PluginRef,
    invocation: Invocation<Decision>,
    groups: &Groups,
    conversation: Conversation,
) -> Routed {
    let Invocation {
        value: decision,
        elapsed,
        logs,
        ..
    } = invocation;
    let mut rec = record(connector, Some(plugin), "acd_group");
    rec.decision = serde_json::to_value(&decision).ok();
    rec.logs = logs;
    rec.elapsed_us = Some(elapsed.as_micros() as i64);
    let (state, detail, interaction) = match &decision.target {
        Target::AcdGroup(target) => {
            let Some(group) = groups.id(&target.group) else {
                let error = format!(
                    "the routing application chose ACD group `{}`, which does not exist",
                    target.group
                );
                rec.outcome = "fallback";
                return fail_with(
                    message,
                    connector,
                    "unknown_group",
                    error,
                    rec,
                    groups,
                    conversation,
                );
            };
            let interaction = NewInteraction {
                acd_group: group,
                priority: i64::from(target.priority),
                subject: target
                    .subject
                    .clone()
                    .or_else(|| connector_subject(connector, message)),
                user_data: target.user_data.clone(),
            };
            (
                MessageState::Routed,
                interaction_detail(groups, &interaction),
                Some(interaction),
            )
        }
        Target::Reject(reason) => {
            rec.outcome = "reject";
            rec.reason = Some(reason.clone());
            (
                MessageState::Rejected,
                format!("rejected by the routing application: {reason}"),
                None,
            )
        }
        Target::Drop => {
            rec.outcome = "drop";
            (
                MessageState::Dropped,
                "dropped by the routing application".to_owned(),
                None,
            )
        }
    };
    let asked_replies = decision
        .replies
        .iter()
        .map(|reply| Reply {
            media: reply.channel,
            connector_number: message.recipient.clone(),
            // Without a recipient the reply goes back to the contact, who has an
            // address only on the channel they wrote on.
            recipient: reply
                .recipient
                .clone()
                .or_else(|| (reply.channel == message.channel).then(|| message.sender.clone())),
            // An email answering an email keeps its subject, as mail clients do.
            subject: reply.subject.clone().or_else(|| {
                (reply.channel == Channel::Email)
                    .then(|| {
                        message
                            .subject
                            .as_deref()
                            .map(crate::email::thread::reply_subject)
                    })
                    .flatten()
            }),
            body: reply.body.clone(),
            inbound_message_id: message.id,
            created_by: format!("routing:connector {}", connector.id),
        })
        .collect();
    // A rejected or dropped message reaches no agent, so only the application's own
    // status change applies; a routed one also opens the conversation.
    // A status the seed does not allow here is refused with the reason; the message
    // still routes.
    let status = match decision.status {
        Some(requested) => {
            match crate::conversations::check_routing_status(conversation.status, requested) {
                Ok(status) => Some(status),
                Err(reason) => {
                    rec.warnings.push(reason);
                    None
                }
            }
        }
        None => None,
    };
    let (conversation, refused) = if state == MessageState::Routed {
        conversation.after_inbound_refused(status, &decision.tags)
    } else {
        conversation.with_refused(status, &decision.tags)
    };
    if !refused.is_empty() {
        rec.warnings.push(tags_refused(&refused));
    }
    let conversation = Some(conversation);
    Routed {
        message_id: message.id,
        contact: message.sender.clone(),
        connector_id: message.connector_id,
        wrote_kv: false,
        channel: message.channel,
        conversation_before: None,
        state,
        detail,
        interaction,
        record: rec,
        asked_replies,
        replies: Vec::new(),
        conversation,
    }
}

/// The warning for tags a full conversation could not take.
fn tags_refused(refused: &[String]) -> String {
    let named: Vec<String> = refused.iter().take(5).map(|t| format!("`{t}`")).collect();
    let more = refused.len().saturating_sub(named.len());
    format!(
        "{} tag(s) not stored: the conversation already has {} tags, the limit: {}{}",
        refused.len(),
        crate::conversations::MAX_CONVERSATION_TAGS,
        named.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// Seed 000: a reply enters the communication queue only if its media's sender is
/// enabled (routing names no external system), from its channel's sender to an
/// address on that channel (see [`communication::reply`]). The others are dropped,
/// and the message's activity line says why.
pub fn queue_replies(routed: &mut Routed, email: &EmailSettings, sms: &SmsSettings) {
    let mut refused = Vec::new();
    for asked in std::mem::take(&mut routed.asked_replies) {
        match communication::reply(asked, email, sms) {
            Ok(entry) => routed.replies.push(NewQueueEntry {
                media: entry.communication.media,
                sender: entry.communication.sender,
                recipient: entry.communication.recipient,
                subject: entry.communication.subject,
                body: entry.communication.body,
                inbound_message_id: routed.message_id,
                created_by: entry.created_by,
            }),
            Err(why) => refused.push(why.to_string()),
        }
    }
    refused.dedup();
    for why in refused {
        routed
            .detail
            .push_str(&format!("; a reply was not queued: {why}"));
    }
}

/// The routing application failed (trap, timeout, invalid output): the message goes
/// to the fallback group, and the error stays on the record with the lines the
/// plugin logged before it failed (bounded like any invocation's).
pub fn failed(
    message: &PendingMessage,
    connector: &SmsConnector,
    plugin: &PluginRef,
    error: &InvokeError,
    logs: Vec<LogLine>,
    groups: &Groups,
    conversation: Conversation,
) -> Routed {
    let mut rec = record(connector, Some(plugin), "fallback");
    rec.logs = logs;
    fail_with(
        message,
        connector,
        error.kind(),
        error.to_string(),
        rec,
        groups,
        conversation,
    )
}

/// The active version could not be loaded (its stored bytes no longer compile, say):
/// handled like a failed invocation.
pub fn unloadable(
    message: &PendingMessage,
    connector: &SmsConnector,
    plugin: &PluginRef,
    error: &str,
    groups: &Groups,
    conversation: Conversation,
) -> Routed {
    let rec = record(connector, Some(plugin), "fallback");
    fail_with(
        message,
        connector,
        "load",
        error.to_owned(),
        rec,
        groups,
        conversation,
    )
}

/// The connector's stored plugin settings cannot be given to the plugin (not an
/// object, too large): the plugin is not run with other settings in their place, and
/// the message falls back like a failed invocation, the problem named on the record.
pub fn misconfigured(
    message: &PendingMessage,
    connector: &SmsConnector,
    plugin: &PluginRef,
    error: &str,
    groups: &Groups,
    conversation: Conversation,
) -> Routed {
    let rec = record(connector, Some(plugin), "fallback");
    fail_with(
        message,
        connector,
        "invalid_settings",
        format!("the connector's plugin settings are invalid: {error}"),
        rec,
        groups,
        conversation,
    )
}

/// A routing application connector with no active version.
pub fn no_plugin(
    message: &PendingMessage,
    connector: &SmsConnector,
    groups: &Groups,
    conversation: Conversation,
) -> Routed {
    let rec = record(connector, None, "fallback");
    let error = "the connector has no active routing application version".to_owned();
    fail_with(
        message,
        connector,
        "no_plugin",
        error,
        rec,
        groups,
        conversation,
    )
}

fn fail_with(
    message: &PendingMessage,
    connector: &SmsConnector,
    kind: &str,
    error: String,
    mut rec: RoutingRecord,
    groups: &Groups,
    conversation: Conversation,
) -> Routed {
    rec.error_kind = Some(kind.to_owned());
    rec.error = Some(error.clone());
    let Some(group) = connector.fallback_acd_group else {
        rec.outcome = "unroutable";
        rec.reason = Some(format!(
            "routing failed ({kind}) and the connector has no fallback ACD group"
        ));
        return Routed {
            message_id: message.id,
            contact: message.sender.clone(),
            connector_id: message.connector_id,
            wrote_kv: false,
            channel: message.channel,
            conversation_before: None,
            state: MessageState::Rejected,
            detail: format!(
                "unroutable: the routing application failed ({kind}: {error}) and the connector \
                 has no fallback ACD group"
            ),
            interaction: None,
            record: rec,
            asked_replies: Vec::new(),
            replies: Vec::new(),
            conversation: None,
        };
    };
    let interaction = NewInteraction::plain(connector, message, group);
    Routed {
        message_id: message.id,
        contact: message.sender.clone(),
        connector_id: message.connector_id,
        wrote_kv: false,
        channel: message.channel,
        conversation_before: None,
        state: MessageState::Routed,
        detail: format!(
            "to fallback ACD group `{}`: the routing application failed ({kind}: {error})",
            groups.name(group)
        ),
        interaction: Some(interaction),
        record: rec,
        asked_replies: Vec::new(),
        replies: Vec::new(),
        conversation: Some(conversation.after_inbound(None, &[])),
    }
}

fn unroutable(message: &PendingMessage, connector: &SmsConnector, reason: &str) -> Routed {
    let mut rec = record(connector, None, "unroutable");
    rec.reason = Some(reason.to_owned());
    Routed {
        message_id: message.id,
        contact: message.sender.clone(),
        connector_id: message.connector_id,
        wrote_kv: false,
        channel: message.channel,
        conversation_before: None,
        state: MessageState::Rejected,
        detail: format!("unroutable: {reason}"),
        interaction: None,
        record: rec,
        asked_replies: Vec::new(),
        replies: Vec::new(),
        conversation: None,
    }
}

/// The message's connector was deleted before it was routed.
pub fn orphaned(message: &PendingMessage) -> Routed {
    Routed {
        message_id: message.id,
        contact: message.sender.clone(),
        connector_id: message.connector_id,
        wrote_kv: false,
        channel: message.channel,
        conversation_before: None,
        state: MessageState::Rejected,
        detail: "unroutable: the connector was deleted before the message was routed".into(),
        interaction: None,
        record: RoutingRecord {
            routing_type: RoutingType::DirectAcdGroup,
            plugin_version: None,
            plugin_sha256: None,
            outcome: "unroutable",
            reason: Some("the connector was deleted".into()),
            decision: None,
            error_kind: None,
            error: None,
            warnings: Vec::new(),
            logs: Vec::new(),
            elapsed_us: None,
        },
        asked_replies: Vec::new(),
        replies: Vec::new(),
        conversation: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::conversations::ConversationStatus;
    use crate::routing::{GroupTarget, OutboundReply};

    fn connector(routing_type: RoutingType, fallback: Option<i64>) -> SmsConnector {
        SmsConnector {
            id: 7,
            channel: crate::channel::Channel::Sms,
            name: "line".into(),
            recipient: "+4930123456".into(),
            addresses: Vec::new(),
            token: "t".into(),
            require_token: true,
            routing_type,
            acd_group: Some(1),
            incoming_subject: Some("SMS".into()),
            fallback_acd_group: fallback,
            plugin_settings: serde_json::json!({}),
            plugin_limits: None,
            twilio_auth_token: None,
            active_plugin: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn message() -> PendingMessage {
        PendingMessage {
            id: 42,
            connector_id: Some(7),
            channel: Channel::Sms,
            gateway_message_id: "gw".into(),
            sender: "+4915123456789".into(),
            recipient: "+4930123456".into(),
            body: "hi".into(),
            received_at: 1,
            subject: None,
            attributes: Vec::new(),
            attachments: Vec::new(),
        }
    }

    fn groups() -> Groups {
        Groups::new([
            (1, "sales".to_owned()),
            (2, "billing".to_owned()),
            (9, "fallback".to_owned()),
        ])
    }

    fn plugin() -> PluginRef {
        PluginRef {
            version: 3,
            sha256: "ab".into(),
        }
    }

    fn invocation(target: Target, replies: Vec<OutboundReply>) -> Invocation<Decision> {
        Invocation {
            value: Decision {
                target,
                status: None,
                tags: vec!["t1".into()],
                replies,
            },
            fuel_used: None,
            elapsed: Duration::from_micros(55),
            kv_changes: Default::default(),
            logs: Vec::new(),
        }
    }

    fn decide(target: Target, replies: Vec<OutboundReply>, fallback: Option<i64>) -> Routed {
        decided(
            &message(),
            &connector(RoutingType::RoutingApplication, fallback),
            &plugin(),
            invocation(target, replies),
            &groups(),
            Conversation::default(),
        )
    }

    #[test]
    fn direct_routing_uses_the_connectors_group_and_subject_and_opens_the_conversation() {
        let routed = direct(
            &message(),
            &connector(RoutingType::DirectAcdGroup, None),
            &groups(),
            Conversation::default(),
        );
        assert_eq!(routed.state, MessageState::Routed);
        let interaction = routed.interaction.unwrap();
        assert_eq!(
            (interaction.acd_group, interaction.subject.as_deref()),
            (1, Some("SMS"))
        );
        assert_eq!(routed.detail, "to ACD group `sales` with priority 0");
        assert_eq!(routed.conversation.unwrap().status, ConversationStatus::New);
    }

    #[test]
    fn a_group_decision_becomes_an_interaction_with_replies_from_the_connectors_number() {
        let target = Target::AcdGroup(GroupTarget {
            group: "billing".into(),
            priority: 5,
            subject: None,
            user_data: vec![("k".into(), "v".into())],
        });
        let reply = OutboundReply {
            channel: Channel::Sms,
            recipient: None,
            subject: None,
            body: "thanks".into(),
        };
        let routed = decide(target, vec![reply], Some(9));
        assert_eq!(routed.state, MessageState::Routed);
        let interaction = routed.interaction.unwrap();
        assert_eq!(interaction.acd_group, 2);
        assert_eq!(interaction.priority, 5);
        assert_eq!(
            interaction.subject.as_deref(),
            Some("SMS"),
            "the connector's subject fills in"
        );
        assert_eq!(routed.asked_replies[0].connector_number, "+4930123456");
        assert_eq!(
            routed.asked_replies[0].recipient.as_deref(),
            Some("+4915123456789")
        );
        assert_eq!(routed.record.plugin_version, Some(3));
        assert_eq!(routed.record.elapsed_us, Some(55));
        assert_eq!(routed.conversation.unwrap().tags, ["t1"]);
    }

    #[test]
    fn an_unknown_group_falls_back_and_drops_the_decisions_replies() {
        let target = Target::AcdGroup(GroupTarget {
            group: "nowhere".into(),
            priority: 1,
            subject: None,
            user_data: vec![],
        });
        let reply = OutboundReply {
            channel: Channel::Sms,
            recipient: None,
            subject: None,
            body: "x".into(),
        };
        let routed = decide(target.clone(), vec![reply], Some(9));
        assert_eq!(routed.state, MessageState::Routed);
        assert_eq!(routed.interaction.unwrap().acd_group, 9);
        assert_eq!(routed.record.outcome, "fallback");
        assert_eq!(routed.record.error_kind.as_deref(), Some("unknown_group"));
        assert!(routed.record.error.unwrap().contains("`nowhere`"));
        assert!(routed.asked_replies.is_empty());

        let unroutable = decide(target, vec![], None);
        assert_eq!(unroutable.state, MessageState::Rejected);
        assert_eq!(unroutable.record.outcome, "unroutable");
        assert!(unroutable.interaction.is_none());
        assert!(
            unroutable.conversation.is_none(),
            "an unroutable message changes no conversation"
        );
    }

    #[test]
    fn reject_and_drop_create_no_interaction_and_keep_the_reason() {
        let rejected = decide(Target::Reject("closed today".into()), vec![], Some(9));
        assert_eq!(rejected.state, MessageState::Rejected);
        assert!(rejected.interaction.is_none());
        assert_eq!(rejected.record.reason.as_deref(), Some("closed today"));
        assert!(rejected.detail.contains("closed today"));
        assert_eq!(
            rejected.conversation.unwrap().status,
            ConversationStatus::NotContacted,
            "a rejected message reaches no agent, so nothing awaits an answer"
        );
        let dropped = decide(Target::Drop, vec![], Some(9));
        assert_eq!(dropped.state, MessageState::Dropped);
        assert!(dropped.interaction.is_none());
        assert_eq!(dropped.record.outcome, "drop");
    }

    #[test]
    fn tags_a_full_conversation_cannot_take_are_named_on_the_record() {
        let full = Conversation {
            status: ConversationStatus::New,
            tags: (0..crate::conversations::MAX_CONVERSATION_TAGS)
                .map(|i| format!("old-{i}"))
                .collect(),
        };
        let routed = decided(
            &message(),
            &connector(RoutingType::RoutingApplication, Some(9)),
            &plugin(),
            invocation(Target::Drop, vec![]),
            &groups(),
            full,
        );
        assert_eq!(routed.state, MessageState::Dropped, "the decision stands");
        assert_eq!(routed.record.warnings.len(), 1, "{:?}", routed.record);
        assert!(
            routed.record.warnings[0].contains("`t1`"),
            "{:?}",
            routed.record.warnings
        );
        assert!(routed.record.error.is_none());
    }

    #[test]
    fn a_message_of_a_deleted_connector_is_unroutable() {
        let routed = orphaned(&message());
        assert_eq!(routed.state, MessageState::Rejected);
        assert!(routed.detail.contains("deleted"));
    }

    #[test]
    fn an_email_reply_to_a_texting_contact_is_refused_in_the_activity_line() {
        let reply = |channel, recipient: Option<&str>| OutboundReply {
            channel,
            recipient: recipient.map(str::to_owned),
            subject: Some("Your request".into()),
            body: "We are on it".into(),
        };
        let mut routed = decide(
            Target::Drop,
            vec![
                reply(Channel::Email, None),
                reply(Channel::Email, Some("ann@example.org")),
                reply(Channel::Sms, None),
            ],
            Some(9),
        );
        let email = EmailSettings {
            enabled: true,
            host: "mail.example".into(),
            default_sender: Some("desk@acme.example".into()),
            ..EmailSettings::default()
        };
        let sms = SmsSettings {
            enabled: true,
            gateway_plugin: Some("gw".into()),
            ..SmsSettings::default()
        };
        queue_replies(&mut routed, &email, &sms);
        let queued: Vec<_> = routed
            .replies
            .iter()
            .map(|r| (r.media, r.sender.as_str(), r.recipient.as_str()))
            .collect();
        assert_eq!(
            queued,
            [
                (Channel::Email, "desk@acme.example", "ann@example.org"),
                (Channel::Sms, "+4930123456", "+4915123456789"),
            ]
        );
        assert!(
            routed.detail.ends_with(
                "; a reply was not queued: the contact has no email address to send it to"
            ),
            "{}",
            routed.detail
        );
        assert_eq!(routed.replies[0].inbound_message_id, 42);
    }

    #[test]
    fn invalid_stored_settings_fall_back_with_a_named_error() {
        let routed = misconfigured(
            &message(),
            &connector(RoutingType::RoutingApplication, Some(9)),
            &plugin(),
            "settings must be a JSON object, not an array",
            &groups(),
            Conversation::default(),
        );
        assert_eq!(routed.state, MessageState::Routed);
        assert_eq!(routed.interaction.unwrap().acd_group, 9);
        assert_eq!(routed.record.outcome, "fallback");
        assert_eq!(
            routed.record.error_kind.as_deref(),
            Some("invalid_settings")
        );
        assert_eq!(
            routed.record.error.as_deref(),
            Some(
                "the connector's plugin settings are invalid: settings must be a JSON object, not an array"
            )
        );
        assert!(
            routed.detail.contains("invalid_settings"),
            "{}",
            routed.detail
        );
    }
}

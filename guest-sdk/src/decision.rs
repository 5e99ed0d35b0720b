//! Builders for what a routing application returns: [`Decision`], its [`Target`] and
//! the [`OutboundReply`]s it asks the host to send.
//!
//! The methods live on the WIT types themselves, so a builder chain *is* the value the
//! host receives and there is no `build()` step to forget:
//!
//! ```
//! use switchyard_guest::{ConversationStatus, Decision};
//!
//! let decision = Decision::to_group("billing")
//!     .priority(5)
//!     .subject("Invoice question")
//!     .user_data("matched_keyword", "invoice")
//!     .tag("keyword:invoice")
//!     .status(ConversationStatus::New);
//! assert_eq!(decision.group_target().unwrap().priority, 5);
//! ```

use crate::{Channel, ConversationStatus, Decision, GroupTarget, OutboundReply, Target};

impl Decision {
    /// A decision with this target and nothing else: no status change, tags or replies.
    pub fn new(target: impl Into<Target>) -> Self {
        Decision {
            target: target.into(),
            status: None,
            tags: Vec::new(),
            replies: Vec::new(),
        }
    }

    /// Route the message to the ACD group `group` with normal priority, the message's
    /// own subject and no user data.
    pub fn to_group(group: impl Into<String>) -> Self {
        Self::new(GroupTarget::new(group))
    }

    /// Refuse the message; `reason` is kept in its activity log.
    pub fn reject(reason: impl Into<String>) -> Self {
        Self::new(Target::Reject(reason.into()))
    }

    /// Accept the message and do nothing further with it, e.g. for a STOP keyword that
    /// is handled entirely by replies and tags.
    pub fn drop() -> Self {
        Self::new(Target::Drop)
    }

    /// The ACD group target, if the message goes to a group.
    pub fn group_target(&self) -> Option<&GroupTarget> {
        match &self.target {
            Target::AcdGroup(group) => Some(group),
            Target::Reject(_) | Target::Drop => None,
        }
    }

    /// The rejection reason, if the message is refused.
    pub fn reject_reason(&self) -> Option<&str> {
        match &self.target {
            Target::Reject(reason) => Some(reason),
            Target::AcdGroup(_) | Target::Drop => None,
        }
    }

    /// Set the interaction's priority (higher is offered first; 0 is normal).
    ///
    /// Like [`subject`](Self::subject) and [`user_data`](Self::user_data) this shapes the
    /// interaction an ACD group receives, so it does nothing on a reject or drop.
    pub fn priority(mut self, priority: u32) -> Self {
        if let Target::AcdGroup(group) = &mut self.target {
            group.priority = priority;
        }
        self
    }

    /// Set the subject the agent sees instead of the message's own. Does nothing on a
    /// reject or drop.
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        if let Target::AcdGroup(group) = &mut self.target {
            group.subject = Some(subject.into());
        }
        self
    }

    /// Append a key/value pair to the interaction's user data. Pairs keep their order
    /// and duplicate keys are kept. Does nothing on a reject or drop.
    pub fn user_data(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        if let Target::AcdGroup(group) = &mut self.target {
            group.user_data.push((key.into(), value.into()));
        }
        self
    }

    /// Move the conversation to `status` once the message is routed.
    pub fn status(mut self, status: ConversationStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Add a tag to the conversation.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }

    /// Add several tags to the conversation, in order.
    pub fn tags<I>(mut self, tags: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// Queue a message for sending, e.g. `message.reply("Thanks, we're on it")`.
    pub fn reply(mut self, reply: OutboundReply) -> Self {
        self.replies.push(reply);
        self
    }
}

impl From<Target> for Decision {
    fn from(target: Target) -> Self {
        Decision::new(target)
    }
}

impl GroupTarget {
    /// The ACD group `group`, with priority 0, the message's own subject and no user data.
    pub fn new(group: impl Into<String>) -> Self {
        GroupTarget {
            group: group.into(),
            priority: 0,
            subject: None,
            user_data: Vec::new(),
        }
    }

    /// The value of the first user-data pair named `key`.
    pub fn user_data_value(&self, key: &str) -> Option<&str> {
        self.user_data
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

impl From<GroupTarget> for Target {
    fn from(group: GroupTarget) -> Self {
        Target::AcdGroup(group)
    }
}

impl OutboundReply {
    /// A reply on `channel` back to the inbound message's sender, without a subject.
    ///
    /// [`InboundMessage::reply`](crate::InboundMessage::reply) picks the channel for you.
    pub fn new(channel: Channel, body: impl Into<String>) -> Self {
        OutboundReply {
            channel,
            recipient: None,
            subject: None,
            body: body.into(),
        }
    }

    /// Send to `recipient` instead of the inbound message's sender.
    pub fn to(mut self, recipient: impl Into<String>) -> Self {
        self.recipient = Some(recipient.into());
        self
    }

    /// Give the reply a subject (email).
    pub fn subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_group_builds_a_plain_group_target() {
        let decision = Decision::to_group("billing");
        assert_eq!(
            decision,
            Decision {
                target: Target::AcdGroup(GroupTarget {
                    group: "billing".into(),
                    priority: 0,
                    subject: None,
                    user_data: vec![],
                }),
                status: None,
                tags: vec![],
                replies: vec![],
            }
        );
    }

    #[test]
    fn group_modifiers_shape_the_interaction_and_keep_user_data_order() {
        let decision = Decision::to_group("billing")
            .priority(5)
            .subject("Billing")
            .user_data("matched_keyword", "bill")
            .user_data("routed_by", "keyword-router")
            .tag("keyword:bill")
            .status(ConversationStatus::New);

        let group = decision.group_target().expect("a group target");
        assert_eq!(group.group, "billing");
        assert_eq!(group.priority, 5);
        assert_eq!(group.subject.as_deref(), Some("Billing"));
        assert_eq!(
            group.user_data,
            vec![
                ("matched_keyword".to_string(), "bill".to_string()),
                ("routed_by".to_string(), "keyword-router".to_string()),
            ]
        );
        assert_eq!(group.user_data_value("routed_by"), Some("keyword-router"));
        assert_eq!(decision.tags, vec!["keyword:bill".to_string()]);
        assert_eq!(decision.status, Some(ConversationStatus::New));
    }

    #[test]
    fn group_modifiers_do_nothing_on_a_reject() {
        let decision = Decision::reject("no")
            .priority(9)
            .subject("ignored")
            .user_data("k", "v");
        assert_eq!(decision, Decision::reject("no"));
        assert_eq!(decision.reject_reason(), Some("no"));
        assert!(decision.group_target().is_none());
    }

    #[test]
    fn replies_and_tags_work_on_every_target() {
        let decision = Decision::drop()
            .tags(["stop", "opt-out"])
            .reply(OutboundReply::new(Channel::Sms, "You are unsubscribed"))
            .reply(
                OutboundReply::new(Channel::Email, "Bye")
                    .to("ops@example.com")
                    .subject("Opt-out"),
            );
        assert_eq!(decision.target, Target::Drop);
        assert_eq!(decision.tags, vec!["stop".to_string(), "opt-out".into()]);
        assert_eq!(decision.replies.len(), 2);
        assert_eq!(decision.replies[0].recipient, None);
        assert_eq!(
            decision.replies[1].recipient.as_deref(),
            Some("ops@example.com")
        );
        assert_eq!(decision.replies[1].subject.as_deref(), Some("Opt-out"));
    }
}

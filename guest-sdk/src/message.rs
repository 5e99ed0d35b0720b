//! Conveniences on what a routing application receives: the message, the connector it
//! arrived on and the sender's conversation.

use serde::de::DeserializeOwned;

use crate::{
    ConnectorContext, Conversation, ConversationStatus, InboundMessage, OutboundReply,
    SettingsError,
};

impl InboundMessage {
    /// A reply to this message's sender on the channel it came in on.
    pub fn reply(&self, body: impl Into<String>) -> OutboundReply {
        OutboundReply::new(self.channel, body)
    }

    /// The first extra field the gateway posted under `name`.
    pub fn attribute(&self, name: &str) -> Option<&str> {
        find_pair(&self.attributes, name)
    }
}

impl ConnectorContext {
    /// The connector's plugin settings, deserialized into `T`.
    ///
    /// The host hands over `{}` when an admin gave no settings, so a settings struct
    /// whose fields all have defaults (`#[serde(default)]`) always parses.
    pub fn settings<T: DeserializeOwned>(&self) -> Result<T, SettingsError> {
        serde_json::from_str(&self.settings).map_err(SettingsError::whole)
    }
}

impl Conversation {
    /// Whether the conversation already carries `tag`.
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t == tag)
    }

    /// Whether nobody is handling the conversation: the contact was never talked to, or
    /// the last conversation was closed. A new message usually reopens it as `New`.
    pub fn is_idle(&self) -> bool {
        matches!(
            self.status,
            ConversationStatus::NotContacted | ConversationStatus::Closed
        )
    }
}

/// The value of the first pair named `name` in a WIT `list<tuple<string, string>>`.
pub(crate) fn find_pair<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Channel;
    use serde::Deserialize;

    fn message() -> InboundMessage {
        InboundMessage {
            id: "m-1".into(),
            channel: Channel::Email,
            sender: "ann@example.com".into(),
            recipient: "help@example.com".into(),
            subject: Some("Hello".into()),
            body: "my bill".into(),
            received_at: 0,
            attachments: vec![],
            attributes: vec![("lang".into(), "en".into()), ("lang".into(), "fr".into())],
        }
    }

    fn connector(settings: &str) -> ConnectorContext {
        ConnectorContext {
            id: "c-1".into(),
            name: "Support".into(),
            recipient: "help@example.com".into(),
            settings: settings.into(),
        }
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Settings {
        group: String,
        #[serde(default)]
        priority: u32,
    }

    #[test]
    fn reply_goes_back_on_the_message_channel() {
        let reply = message().reply("Thanks");
        assert_eq!(reply.channel, Channel::Email);
        assert_eq!(reply.recipient, None);
        assert_eq!(reply.body, "Thanks");
    }

    #[test]
    fn attribute_returns_the_first_value() {
        assert_eq!(message().attribute("lang"), Some("en"));
        assert_eq!(message().attribute("missing"), None);
    }

    #[test]
    fn settings_parse_into_a_typed_struct() {
        let parsed: Settings = connector(r#"{"group":"billing"}"#).settings().unwrap();
        assert_eq!(
            parsed,
            Settings {
                group: "billing".into(),
                priority: 0
            }
        );
    }

    #[test]
    fn settings_of_the_wrong_shape_are_an_error() {
        let err = connector(r#"{"group":7}"#)
            .settings::<Settings>()
            .unwrap_err();
        assert_eq!(err.key(), None);
        assert!(err.to_string().starts_with("invalid settings: "), "{err}");
    }

    #[test]
    fn idle_conversations_are_not_contacted_or_closed() {
        let mut conversation = Conversation {
            status: ConversationStatus::Closed,
            tags: vec!["vip".into()],
        };
        assert!(conversation.is_idle());
        assert!(conversation.has_tag("vip"));
        conversation.status = ConversationStatus::InProgress;
        assert!(!conversation.is_idle());
    }
}

//! What an agent may do with an interaction (seed 003's capabilities, named like GWS's
//! `operationName`s) and what each operation asks of its input, as plain functions: the
//! store applies them in a transaction that re-reads the interaction first.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::InteractionState;

/// An operation an agent performs on one of its interactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Operation {
    Accept,
    Reject,
    Reply,
    ReplyAll,
    Send,
    Cancel,
    Transfer,
    StopProcessing,
    PlaceInQueue,
    PlaceInWorkbin,
    UpdateProperties,
    LinkAttachment,
    /// Takes an interaction out of its workbin (back to Accepted, or to ReplyCreated
    /// when it went in with a draft): the way back the seed leaves unnamed.
    PullFromWorkbin,
}

impl Operation {
    pub const ALL: [Self; 13] = [
        Self::Accept,
        Self::Reject,
        Self::Reply,
        Self::ReplyAll,
        Self::Send,
        Self::Cancel,
        Self::Transfer,
        Self::StopProcessing,
        Self::PlaceInQueue,
        Self::PlaceInWorkbin,
        Self::UpdateProperties,
        Self::LinkAttachment,
        Self::PullFromWorkbin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Accept => "Accept",
            Self::Reject => "Reject",
            Self::Reply => "Reply",
            Self::ReplyAll => "ReplyAll",
            Self::Send => "Send",
            Self::Cancel => "Cancel",
            Self::Transfer => "Transfer",
            Self::StopProcessing => "StopProcessing",
            Self::PlaceInQueue => "PlaceInQueue",
            Self::PlaceInWorkbin => "PlaceInWorkbin",
            Self::UpdateProperties => "UpdateProperties",
            Self::LinkAttachment => "LinkAttachment",
            Self::PullFromWorkbin => "PullFromWorkbin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }
}

/// The operations an interaction in `state` allows its agent, in seed 003's order.
pub fn capabilities(state: InteractionState) -> &'static [Operation] {
    use Operation::*;
    match state {
        InteractionState::Invited => &[Accept, Reject],
        InteractionState::Accepted => &[
            Transfer,
            Reply,
            ReplyAll,
            StopProcessing,
            PlaceInQueue,
            PlaceInWorkbin,
            UpdateProperties,
        ],
        InteractionState::ReplyCreated => &[
            Cancel,
            Send,
            PlaceInWorkbin,
            UpdateProperties,
            LinkAttachment,
        ],
        InteractionState::InWorkbin => &[PullFromWorkbin],
        InteractionState::Queued | InteractionState::Completed => &[],
    }
}

/// Refused: the operation is not among the interaction's capabilities now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAllowed {
    pub operation: Operation,
    pub state: InteractionState,
    pub allowed: &'static [Operation],
}

impl std::fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let allowed: Vec<&str> = self.allowed.iter().map(|o| o.as_str()).collect();
        write!(
            f,
            "{} is not possible while the interaction is {}; allowed now: [{}]",
            self.operation.as_str(),
            self.state.as_str(),
            allowed.join(", ")
        )
    }
}

/// Checks `operation` against the capabilities of `state`.
pub fn check(state: InteractionState, operation: Operation) -> Result<(), NotAllowed> {
    let allowed = capabilities(state);
    if allowed.contains(&operation) {
        Ok(())
    } else {
        Err(NotAllowed {
            operation,
            state,
            allowed,
        })
    }
}

/// A reply being drafted: who it goes to and what it says. Reply addresses the
/// customer; ReplyAll also those the inbound message was copied to (email only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Draft {
    /// Where the reply leaves from: the number or address the message arrived at.
    pub from: String,
    pub to: Vec<String>,
    pub subject: Option<String>,
    pub text: String,
    /// Attachments of the interaction's email linked to the reply (LinkAttachment);
    /// they go with it when it is sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<super::AttachmentRef>,
}

/// The most attachments one reply may carry.
pub const MAX_DRAFT_ATTACHMENTS: usize = 20;

/// The longest reply text an agent may draft, in characters.
pub const MAX_DRAFT_TEXT: usize = 10_000;

/// The most userData keys an interaction may carry, and the longest key and value.
pub const MAX_USER_DATA_KEYS: usize = 100;
pub const MAX_USER_DATA_KEY: usize = 128;
pub const MAX_USER_DATA_VALUE: usize = 4_096;

/// A refused operation input, naming the field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> InputError {
    InputError {
        field,
        message: message.into(),
    }
}

/// The draft a Reply or ReplyAll starts: to the sender, from where the message arrived,
/// the subject prefixed once with `Re: `, and the text empty. `copied` are the other
/// recipients of an email, added by ReplyAll.
pub fn new_draft(
    operation: Operation,
    from_customer: &str,
    arrived_at: &str,
    subject: Option<&str>,
    copied: &[String],
) -> Draft {
    let mut to = vec![from_customer.to_owned()];
    if operation == Operation::ReplyAll {
        to.extend(copied.iter().filter(|a| a.as_str() != arrived_at).cloned());
    }
    let subject = subject.map(crate::email::thread::reply_subject);
    Draft {
        from: arrived_at.to_owned(),
        to,
        subject,
        text: String::new(),
        attachments: Vec::new(),
    }
}

/// The draft's text after an edit (`text` in UpdateProperties or Send): bounded and
/// without NUL, which no gateway carries.
pub fn edited_text(text: &str) -> Result<String, InputError> {
    if text.chars().count() > MAX_DRAFT_TEXT {
        return Err(invalid(
            "text",
            format!("a reply is at most {MAX_DRAFT_TEXT} characters"),
        ));
    }
    if text.contains('\0') {
        return Err(invalid("text", "a reply may not contain NUL"));
    }
    Ok(text.to_owned())
}

/// userData after UpdateProperties merges `changes` (a JSON object of strings; `null`
/// removes a key) into `current`, keeping the order of existing keys and appending new
/// ones.
pub fn merged_user_data(
    current: &[(String, String)],
    changes: &Value,
) -> Result<Vec<(String, String)>, InputError> {
    let Value::Object(changes) = changes else {
        return Err(invalid("userData", "must be an object of strings"));
    };
    let mut merged = current.to_vec();
    for (key, value) in changes {
        if key.is_empty() || key.len() > MAX_USER_DATA_KEY || key.contains('\0') {
            return Err(invalid(
                "userData",
                format!("keys are 1 to {MAX_USER_DATA_KEY} bytes without NUL"),
            ));
        }
        match value {
            Value::Null => merged.retain(|(k, _)| k != key),
            Value::String(v) => {
                if v.len() > MAX_USER_DATA_VALUE || v.contains('\0') {
                    return Err(invalid(
                        "userData",
                        format!(
                            "`{key}`: values are at most {MAX_USER_DATA_VALUE} bytes without NUL"
                        ),
                    ));
                }
                match merged.iter_mut().find(|(k, _)| k == key) {
                    Some(pair) => pair.1 = v.clone(),
                    None => merged.push((key.clone(), v.clone())),
                }
            }
            _ => {
                return Err(invalid(
                    "userData",
                    format!("`{key}`: values are strings, or null to remove the key"),
                ));
            }
        }
    }
    if merged.len() > MAX_USER_DATA_KEYS {
        return Err(invalid(
            "userData",
            format!("at most {MAX_USER_DATA_KEYS} keys"),
        ));
    }
    Ok(merged)
}

/// A workbin's name: 1-64 characters of letters, digits, `-`, `_`, `.` or space.
pub fn workbin_name(name: &str) -> Result<String, InputError> {
    let ok = !name.trim().is_empty()
        && name.chars().count() <= 64
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '));
    if ok {
        Ok(name.trim().to_owned())
    } else {
        Err(invalid(
            "workbin",
            "a workbin name is 1-64 letters, digits, spaces, `-`, `_` or `.`",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn capabilities_follow_the_seed_per_state() {
        use Operation::*;
        assert_eq!(capabilities(InteractionState::Invited), &[Accept, Reject]);
        assert_eq!(
            capabilities(InteractionState::Accepted),
            &[
                Transfer,
                Reply,
                ReplyAll,
                StopProcessing,
                PlaceInQueue,
                PlaceInWorkbin,
                UpdateProperties
            ]
        );
        assert_eq!(
            capabilities(InteractionState::ReplyCreated),
            &[
                Cancel,
                Send,
                PlaceInWorkbin,
                UpdateProperties,
                LinkAttachment
            ]
        );
        assert!(capabilities(InteractionState::Queued).is_empty());
        assert!(capabilities(InteractionState::Completed).is_empty());
    }

    #[test]
    fn an_operation_outside_the_capabilities_names_the_allowed_ones() {
        let refused = check(InteractionState::Invited, Operation::Send).unwrap_err();
        assert_eq!(refused.allowed, &[Operation::Accept, Operation::Reject]);
        assert_eq!(
            refused.to_string(),
            "Send is not possible while the interaction is invited; allowed now: [Accept, Reject]"
        );
        assert!(check(InteractionState::Accepted, Operation::Reply).is_ok());
    }

    #[test]
    fn operation_names_round_trip() {
        for op in Operation::ALL {
            assert_eq!(Operation::parse(op.as_str()), Some(op));
        }
        assert_eq!(Operation::parse("accept"), None);
    }

    #[test]
    fn a_reply_goes_back_to_the_sender_with_one_re_prefix() {
        let d = new_draft(
            Operation::Reply,
            "+4915112345678",
            "+4930123",
            Some("Hi"),
            &[],
        );
        assert_eq!(d.to, vec!["+4915112345678"]);
        assert_eq!(d.from, "+4930123");
        assert_eq!(d.subject.as_deref(), Some("Re: Hi"));
        let again = new_draft(Operation::Reply, "a@x", "b@y", Some("RE: Hi"), &[]);
        assert_eq!(again.subject.as_deref(), Some("RE: Hi"));
        let all = new_draft(
            Operation::ReplyAll,
            "a@x",
            "b@y",
            None,
            &["c@z".into(), "b@y".into()],
        );
        assert_eq!(all.to, vec!["a@x", "c@z"]);
    }

    #[test]
    fn user_data_merges_in_order_and_null_removes() {
        let current = vec![("a".into(), "1".into()), ("b".into(), "2".into())];
        let merged = merged_user_data(&current, &json!({"b": "3", "c": "4", "a": null})).unwrap();
        assert_eq!(
            merged,
            vec![("b".to_owned(), "3".to_owned()), ("c".into(), "4".into())]
        );
        assert_eq!(
            merged_user_data(&current, &json!({"a": 1}))
                .unwrap_err()
                .field,
            "userData"
        );
        assert!(merged_user_data(&current, &json!(["a"])).is_err());
        assert!(merged_user_data(&current, &json!({"": "x"})).is_err());
        let many: serde_json::Map<String, Value> =
            (0..101).map(|i| (format!("k{i}"), json!("v"))).collect();
        assert!(merged_user_data(&[], &Value::Object(many)).is_err());
    }

    #[test]
    fn drafts_and_workbins_are_bounded() {
        assert!(edited_text(&"x".repeat(MAX_DRAFT_TEXT)).is_ok());
        assert!(edited_text(&"x".repeat(MAX_DRAFT_TEXT + 1)).is_err());
        assert!(edited_text("a\0b").is_err());
        assert_eq!(workbin_name(" Follow up ").unwrap(), "Follow up");
        assert!(workbin_name("").is_err());
        assert!(workbin_name("a/b").is_err());
        assert!(workbin_name(&"w".repeat(65)).is_err());
    }
}

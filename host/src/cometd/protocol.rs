//! The Bayeux 1.0 messages this server understands, as plain functions: reading a
//! request body into checked messages, and building every reply. Nothing here waits,
//! stores or knows a transport, so each rule is unit-tested below.

use serde_json::{Map, Value, json};

use super::feed::Notification;

/// The Bayeux version this server speaks and answers with.
pub const VERSION: &str = "1.0";

/// The transports offered in the handshake reply. aiocometd refuses a handshake reply
/// without this field, and the JavaScript client picks its transport from it.
pub const CONNECTION_TYPES: [&str; 2] = ["websocket", "long-polling"];

/// The one channel a client may subscribe to. Its name is the same for every agent;
/// what it carries is the notifications of the agent the client's token belongs to.
pub const INTERACTIONS: &str = "/me/interactions";

/// At most this many messages per request. A browser sends one to three at a time
/// (subscribe, connect); more is a client looping on itself.
pub const MAX_MESSAGES: usize = 32;

/// At most this many bytes per request body or WebSocket frame: a few dozen small
/// messages, with room for a long token.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Why a whole request was refused rather than answered message by message: without
/// a readable message there is no channel or `id` to answer on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("the body must be a Bayeux message (a JSON object) or an array of them")]
    NotMessages,
    #[error("the body holds no message")]
    Empty,
    #[error("too many messages in one request (at most {MAX_MESSAGES})")]
    TooMany,
    #[error("the body is larger than {MAX_BODY_BYTES} bytes")]
    TooLarge,
    #[error("the body stopped arriving; send it without pauses")]
    Stalled,
    #[error("message {0} is not a JSON object")]
    NotAnObject(usize),
    #[error("message {0} has no `channel` string")]
    NoChannel(usize),
}

/// One message from a client whose `channel` is known; its other fields are checked
/// by [`Message::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub channel: String,
    /// Echoed in the reply. Clients send strings; numbers are echoed as they came.
    pub id: Option<Value>,
    pub kind: Kind,
}

/// What a message asks for, with the fields that request needs.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    Handshake {
        /// `ext.token`: the agent's session token, when not in the HTTP header.
        token: Option<String>,
        /// `ext.ack: true`: the client runs the acknowledgement extension.
        ack: bool,
        connection_types: Vec<String>,
    },
    Connect {
        client_id: String,
        /// `ext.ack`: the last batch the client received, with the ack extension.
        ack: Option<i64>,
        /// `advice.timeout`: how long the client wants the connect held at most (the
        /// JavaScript client sends 0 on its first connect).
        timeout_ms: Option<u64>,
    },
    Subscribe {
        client_id: String,
        /// The `subscription` field as sent, echoed in the reply.
        echo: Value,
        channels: Vec<String>,
    },
    Unsubscribe {
        client_id: String,
        echo: Value,
    },
    Disconnect {
        client_id: String,
    },
    /// A message on a channel outside `/meta/**`: clients may not publish here.
    Publish {
        client_id: Option<String>,
    },
    /// A field has the wrong type or is missing: answered with a 400 Bayeux error.
    Invalid {
        reason: String,
    },
}

/// Reads a request body (a JSON array of messages, or one message) into messages.
/// A message whose fields are wrong becomes [`Kind::Invalid`] (it is answered on its
/// channel); only a body without readable messages is a [`BodyError`].
pub fn parse_body(body: &[u8]) -> Result<Vec<Message>, BodyError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(BodyError::TooLarge);
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    let items = match value {
        Value::Array(items) => items,
        object @ Value::Object(_) => vec![object],
        _ => return Err(BodyError::NotMessages),
    };
    if items.is_empty() {
        return Err(BodyError::Empty);
    }
    if items.len() > MAX_MESSAGES {
        return Err(BodyError::TooMany);
    }
    items
        .into_iter()
        .enumerate()
        .map(|(index, item)| match item {
            Value::Object(fields) => Message::parse(fields).ok_or(BodyError::NoChannel(index)),
            _ => Err(BodyError::NotAnObject(index)),
        })
        .collect()
}

impl Message {
    /// `None` when there is no `channel` string to answer on.
    pub fn parse(fields: Map<String, Value>) -> Option<Self> {
        let channel = fields.get("channel")?.as_str()?.to_owned();
        let id = fields.get("id").cloned();
        let kind = match check_fields(&channel, &fields) {
            Ok(kind) => kind,
            Err(reason) => Kind::Invalid { reason },
        };
        Some(Self { channel, id, kind })
    }
}

fn check_fields(channel: &str, fields: &Map<String, Value>) -> Result<Kind, String> {
    match fields.get("id") {
        None | Some(Value::String(_) | Value::Number(_)) => {}
        Some(_) => return Err("`id` must be a string".into()),
    }
    let ext = match fields.get("ext") {
        None | Some(Value::Null) => None,
        Some(Value::Object(ext)) => Some(ext),
        Some(_) => return Err("`ext` must be an object".into()),
    };
    let ext_field = |name: &str| ext.and_then(|ext| ext.get(name));
    let client_id = || match fields.get("clientId") {
        Some(Value::String(id)) => Ok(id.clone()),
        Some(_) => Err("`clientId` must be a string".to_owned()),
        None => Err("`clientId` is missing".to_owned()),
    };
    match channel {
        "/meta/handshake" => {
            let token = match ext_field("token") {
                None | Some(Value::Null) => None,
                Some(Value::String(token)) => Some(token.clone()),
                Some(_) => return Err("`ext.token` must be a string".into()),
            };
            let connection_types = match fields.get("supportedConnectionTypes") {
                Some(Value::Array(types)) => types
                    .iter()
                    .map(|t| t.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("`supportedConnectionTypes` must be an array of strings")?,
                Some(_) => return Err("`supportedConnectionTypes` must be an array".into()),
                None => return Err("`supportedConnectionTypes` is missing".into()),
            };
            Ok(Kind::Handshake {
                token,
                ack: ext_field("ack") == Some(&Value::Bool(true)),
                connection_types,
            })
        }
        "/meta/connect" => {
            let client_id = client_id()?;
            let ack = match ext_field("ack") {
                None | Some(Value::Null) => None,
                Some(ack) => Some(ack.as_i64().ok_or("`ext.ack` must be an integer")?),
            };
            let timeout_ms = match fields.get("advice") {
                None | Some(Value::Null) => None,
                Some(Value::Object(advice)) => match advice.get("timeout") {
                    None | Some(Value::Null) => None,
                    Some(timeout) => Some(
                        timeout
                            .as_f64()
                            .filter(|t| *t >= 0.0)
                            .ok_or("`advice.timeout` must be a number of milliseconds")?
                            as u64,
                    ),
                },
                Some(_) => return Err("`advice` must be an object".into()),
            };
            match fields.get("connectionType") {
                None | Some(Value::String(_)) => {}
                Some(_) => return Err("`connectionType` must be a string".into()),
            }
            Ok(Kind::Connect {
                client_id,
                ack,
                timeout_ms,
            })
        }
        "/meta/subscribe" | "/meta/unsubscribe" => {
            let client_id = client_id()?;
            let echo = fields
                .get("subscription")
                .cloned()
                .ok_or("`subscription` is missing")?;
            let channels = subscription_names(&echo)?;
            if channel == "/meta/subscribe" {
                Ok(Kind::Subscribe {
                    client_id,
                    echo,
                    channels,
                })
            } else {
                Ok(Kind::Unsubscribe { client_id, echo })
            }
        }
        "/meta/disconnect" => Ok(Kind::Disconnect {
            client_id: client_id()?,
        }),
        meta if meta.starts_with("/meta/") => Err(format!("unknown meta channel `{meta}`")),
        _ => Ok(Kind::Publish {
            client_id: fields
                .get("clientId")
                .and_then(Value::as_str)
                .map(str::to_owned),
        }),
    }
}

/// The channel names of a `subscription` field: one name or a non-empty array.
fn subscription_names(subscription: &Value) -> Result<Vec<String>, String> {
    const WRONG: &str = "`subscription` must be a channel name or an array of them";
    let names = match subscription {
        Value::String(name) => vec![name.clone()],
        Value::Array(names) if !names.is_empty() => names
            .iter()
            .map(|name| name.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or(WRONG)?,
        _ => return Err(WRONG.into()),
    };
    if names.iter().any(|name| !name.starts_with('/')) {
        return Err("a channel name starts with `/`".into());
    }
    Ok(names)
}

/// Whether a client may subscribe to `channel`: only [`INTERACTIONS`]. Wildcards and
/// other agents' channels are refused, whoever asks.
pub fn may_subscribe(channel: &str) -> bool {
    channel == INTERACTIONS
}

/// Whether the client's transports and ours have one in common.
pub fn transports_match(offered: &[String]) -> bool {
    offered
        .iter()
        .any(|offered| CONNECTION_TYPES.contains(&offered.as_str()))
}

/// What a client should do next, as Bayeux advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconnect {
    /// Connect again after `interval_ms`: the normal case.
    Retry {
        interval_ms: u64,
        timeout_ms: u64,
        max_interval_ms: u64,
    },
    /// Handshake again: the server does not know the client (restarted, or swept).
    Handshake,
    /// Stop: the token is not (or no longer) valid.
    None,
}

impl Reconnect {
    fn advice(self) -> Value {
        match self {
            Reconnect::Retry {
                interval_ms,
                timeout_ms,
                max_interval_ms,
            } => json!({
                "reconnect": "retry",
                "interval": interval_ms,
                "timeout": timeout_ms,
                "maxInterval": max_interval_ms,
            }),
            Reconnect::Handshake => json!({ "reconnect": "handshake", "interval": 0 }),
            Reconnect::None => json!({ "reconnect": "none", "interval": 0 }),
        }
    }
}

/// A Bayeux error: `code:args:message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BayeuxError {
    pub code: u16,
    pub args: String,
    pub message: &'static str,
}

impl BayeuxError {
    pub fn unknown_client() -> Self {
        Self::new(402, "", "Unknown client")
    }
    pub fn unauthorized() -> Self {
        Self::new(403, "", "Unauthorized")
    }
    pub fn subscription_denied(channel: &str) -> Self {
        Self::new(403, channel, "subscription denied")
    }
    pub fn publish_denied(channel: &str) -> Self {
        Self::new(403, channel, "publish denied")
    }
    pub fn internal() -> Self {
        Self::new(500, "", "server error")
    }
    pub fn no_common_transport() -> Self {
        Self::new(406, "", "no common connection type")
    }
    fn new(code: u16, args: &str, message: &'static str) -> Self {
        Self {
            code,
            args: args.to_owned(),
            message,
        }
    }
    /// The short name counted in the errors metric.
    pub fn kind(&self) -> &'static str {
        match (self.code, self.message) {
            (402, _) => "unknown_client",
            (403, "Unauthorized") => "unauthorized",
            (403, "subscription denied") => "subscription_denied",
            (403, _) => "publish_denied",
            (500, _) => "internal",
            _ => "handshake_refused",
        }
    }
    pub fn text(&self) -> String {
        format!("{}:{}:{}", self.code, self.args, self.message)
    }
}

/// The start of every reply: its channel, and the request's `id` echoed.
fn reply(request: &Message, client_id: Option<&str>) -> Map<String, Value> {
    let mut reply = Map::new();
    reply.insert("channel".into(), Value::String(request.channel.clone()));
    if let Some(id) = &request.id {
        reply.insert("id".into(), id.clone());
    }
    if let Some(client_id) = client_id {
        reply.insert("clientId".into(), Value::String(client_id.to_owned()));
    }
    reply
}

/// A successful handshake, with the ack extension's answer if the client asked.
pub fn handshake_ok(request: &Message, client_id: &str, ack: bool, advice: Reconnect) -> Value {
    let mut reply = reply(request, Some(client_id));
    reply.insert("version".into(), VERSION.into());
    reply.insert("supportedConnectionTypes".into(), json!(CONNECTION_TYPES));
    reply.insert("successful".into(), true.into());
    reply.insert("advice".into(), advice.advice());
    if ack {
        reply.insert("ext".into(), json!({ "ack": true }));
    }
    Value::Object(reply)
}

/// A refusal: `successful: false` with the error, and advice when there is some to give.
pub fn failure(
    request: &Message,
    client_id: Option<&str>,
    error: &BayeuxError,
    advice: Option<Reconnect>,
) -> Value {
    let mut reply = reply(request, client_id);
    reply.insert("successful".into(), false.into());
    reply.insert("error".into(), error.text().into());
    if let Some(advice) = advice {
        reply.insert("advice".into(), advice.advice());
    }
    if request.channel == "/meta/handshake" {
        // Clients read these from every handshake reply, failed ones included.
        reply.insert("version".into(), VERSION.into());
        reply.insert("supportedConnectionTypes".into(), json!(CONNECTION_TYPES));
    }
    if let Kind::Subscribe { echo, .. } | Kind::Unsubscribe { echo, .. } = &request.kind {
        reply.insert("subscription".into(), echo.clone());
    }
    Value::Object(reply)
}

/// The answer to a message whose fields are wrong.
pub fn invalid(request: &Message, reason: &str) -> Value {
    let mut reply = reply(request, None);
    reply.insert("successful".into(), false.into());
    reply.insert("error".into(), format!("400::{reason}").into());
    Value::Object(reply)
}

/// A successful subscribe, unsubscribe or disconnect.
pub fn ok(request: &Message, client_id: &str) -> Value {
    let mut reply = reply(request, Some(client_id));
    reply.insert("successful".into(), true.into());
    if let Kind::Subscribe { echo, .. } | Kind::Unsubscribe { echo, .. } = &request.kind {
        reply.insert("subscription".into(), echo.clone());
    }
    Value::Object(reply)
}

/// A successful connect; `batch` is the ack extension's batch id of the messages
/// sent with it.
pub fn connect_ok(
    request: &Message,
    client_id: &str,
    advice: Reconnect,
    batch: Option<i64>,
) -> Value {
    let mut reply = reply(request, Some(client_id));
    reply.insert("successful".into(), true.into());
    reply.insert("advice".into(), advice.advice());
    if let Some(batch) = batch {
        reply.insert("ext".into(), json!({ "ack": batch }));
    }
    Value::Object(reply)
}

/// One notification as a message on [`INTERACTIONS`]; its `id` is the notification's
/// sequence number, so a client can tell a repeat from a new one.
pub fn delivery(notification: &Notification) -> Value {
    json!({
        "channel": INTERACTIONS,
        "data": notification.data,
        "id": notification.seq.to_string(),
    })
}

/// A fresh client id: 160 random bits in hex (alphanumeric, as Bayeux requires).
pub fn new_client_id() -> String {
    hex::encode(rand::random::<[u8; 20]>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(body: &str) -> Message {
        let mut messages = parse_body(body.as_bytes()).unwrap();
        assert_eq!(messages.len(), 1);
        messages.remove(0)
    }

    #[test]
    fn a_handshake_reads_its_token_ack_and_transports() {
        let message = one(r#"[{"channel":"/meta/handshake","version":"1.0","id":"1",
                "supportedConnectionTypes":["websocket","long-polling"],
                "ext":{"token":"abc","ack":true}}]"#);
        assert_eq!(message.id, Some(json!("1")));
        assert_eq!(
            message.kind,
            Kind::Handshake {
                token: Some("abc".into()),
                ack: true,
                connection_types: vec!["websocket".into(), "long-polling".into()],
            }
        );
    }

    #[test]
    fn a_single_object_is_one_message() {
        let message = one(r#"{"channel":"/meta/disconnect","clientId":"x"}"#);
        assert_eq!(
            message.kind,
            Kind::Disconnect {
                client_id: "x".into()
            }
        );
    }

    #[test]
    fn a_connect_reads_the_ack_batch_and_the_clients_timeout() {
        let message = one(
            r#"[{"channel":"/meta/connect","clientId":"c","connectionType":"long-polling",
                "advice":{"timeout":0},"ext":{"ack":3}}]"#,
        );
        assert_eq!(
            message.kind,
            Kind::Connect {
                client_id: "c".into(),
                ack: Some(3),
                timeout_ms: Some(0),
            }
        );
    }

    #[test]
    fn a_subscription_is_a_name_or_an_array_of_names() {
        let message =
            one(r#"[{"channel":"/meta/subscribe","clientId":"c","subscription":["/a","/b"]}]"#);
        let Kind::Subscribe { channels, echo, .. } = message.kind else {
            panic!("{message:?}")
        };
        assert_eq!(channels, ["/a", "/b"]);
        assert_eq!(echo, json!(["/a", "/b"]));
        for bad in [r#"[]"#, "3", r#"["/a", 1]"#, r#""a""#] {
            let body =
                format!(r#"{{"channel":"/meta/subscribe","clientId":"c","subscription":{bad}}}"#);
            assert!(
                matches!(one(&body).kind, Kind::Invalid { .. }),
                "{bad} is refused"
            );
        }
    }

    #[test]
    fn wrong_field_types_are_invalid_messages_naming_the_field() {
        for (body, field) in [
            (r#"{"channel":"/meta/connect"}"#, "clientId"),
            (r#"{"channel":"/meta/connect","clientId":7}"#, "clientId"),
            (
                r#"{"channel":"/meta/connect","clientId":"c","ext":[]}"#,
                "ext",
            ),
            (
                r#"{"channel":"/meta/connect","clientId":"c","ext":{"ack":"x"}}"#,
                "ext.ack",
            ),
            (
                r#"{"channel":"/meta/connect","clientId":"c","advice":{"timeout":-1}}"#,
                "advice.timeout",
            ),
            (
                r#"{"channel":"/meta/handshake"}"#,
                "supportedConnectionTypes",
            ),
            (
                r#"{"channel":"/meta/handshake","supportedConnectionTypes":[1]}"#,
                "supportedConnectionTypes",
            ),
            (
                r#"{"channel":"/meta/handshake","supportedConnectionTypes":[],"ext":{"token":5}}"#,
                "ext.token",
            ),
            (
                r#"{"channel":"/meta/handshake","supportedConnectionTypes":[],"id":{}}"#,
                "id",
            ),
            (
                r#"{"channel":"/meta/subscribe","clientId":"c"}"#,
                "subscription",
            ),
            (r#"{"channel":"/meta/bogus","clientId":"c"}"#, "/meta/bogus"),
        ] {
            let message = one(body);
            let Kind::Invalid { reason } = &message.kind else {
                panic!("{body} should be invalid: {message:?}")
            };
            assert!(reason.contains(field), "{body}: {reason}");
            let reply = invalid(&message, reason);
            assert_eq!(reply["successful"], false);
            assert!(
                reply["error"].as_str().unwrap().starts_with("400::"),
                "{reply}"
            );
        }
    }

    #[test]
    fn bodies_without_readable_messages_are_refused_whole() {
        assert!(matches!(parse_body(b"{"), Err(BodyError::NotJson(_))));
        assert_eq!(parse_body(b"3"), Err(BodyError::NotMessages));
        assert_eq!(parse_body(b"[]"), Err(BodyError::Empty));
        assert_eq!(parse_body(b"[1]"), Err(BodyError::NotAnObject(0)));
        assert_eq!(parse_body(br#"[{"id":"1"}]"#), Err(BodyError::NoChannel(0)));
        assert_eq!(
            parse_body(br#"[{"channel":3}]"#),
            Err(BodyError::NoChannel(0))
        );
        let many = format!(
            "[{}]",
            vec![r#"{"channel":"/x"}"#; MAX_MESSAGES + 1].join(",")
        );
        assert_eq!(parse_body(many.as_bytes()), Err(BodyError::TooMany));
        let huge = vec![b' '; MAX_BODY_BYTES + 1];
        assert_eq!(parse_body(&huge), Err(BodyError::TooLarge));
    }

    #[test]
    fn only_the_agents_own_channel_may_be_subscribed() {
        assert!(may_subscribe("/me/interactions"));
        for channel in [
            "/agents/2",
            "/**",
            "/me/*",
            "/me/other",
            "/me/interactions/x",
        ] {
            assert!(!may_subscribe(channel), "{channel}");
        }
    }

    #[test]
    fn a_non_meta_channel_is_a_publish() {
        let message = one(r#"{"channel":"/me/interactions","clientId":"c","data":{}}"#);
        assert_eq!(
            message.kind,
            Kind::Publish {
                client_id: Some("c".into())
            }
        );
    }

    #[test]
    fn the_handshake_reply_carries_what_clients_require() {
        let request = one(
            r#"{"channel":"/meta/handshake","id":"7","supportedConnectionTypes":["long-polling"]}"#,
        );
        let advice = Reconnect::Retry {
            interval_ms: 0,
            timeout_ms: 30_000,
            max_interval_ms: 10_000,
        };
        let reply = handshake_ok(&request, "abc", true, advice);
        assert_eq!(reply["id"], "7");
        assert_eq!(reply["clientId"], "abc");
        assert_eq!(reply["successful"], true);
        assert_eq!(reply["version"], "1.0");
        assert_eq!(
            reply["supportedConnectionTypes"],
            json!(["websocket", "long-polling"])
        );
        assert_eq!(
            reply["advice"],
            json!({"reconnect":"retry","interval":0,"timeout":30000,"maxInterval":10000})
        );
        assert_eq!(reply["ext"], json!({"ack": true}));
        let without_ack = handshake_ok(&request, "abc", false, advice);
        assert!(without_ack.get("ext").is_none());
    }

    #[test]
    fn errors_have_the_bayeux_form_and_their_advice() {
        let request = one(r#"{"channel":"/meta/connect","id":"3","clientId":"gone"}"#);
        let reply = failure(
            &request,
            Some("gone"),
            &BayeuxError::unknown_client(),
            Some(Reconnect::Handshake),
        );
        assert_eq!(reply["error"], "402::Unknown client");
        assert_eq!(
            reply["advice"],
            json!({"reconnect":"handshake","interval":0})
        );
        assert_eq!(reply["id"], "3");
        assert_eq!(reply["successful"], false);

        let request =
            one(r#"{"channel":"/meta/subscribe","clientId":"c","subscription":"/agents/2"}"#);
        let reply = failure(
            &request,
            Some("c"),
            &BayeuxError::subscription_denied("/agents/2"),
            None,
        );
        assert_eq!(reply["error"], "403:/agents/2:subscription denied");
        assert_eq!(reply["subscription"], "/agents/2");
        assert_eq!(BayeuxError::unauthorized().text(), "403::Unauthorized");
    }

    #[test]
    fn a_delivery_is_on_the_interactions_channel_with_its_seq_as_id() {
        let message = delivery(&Notification {
            seq: 42,
            data: json!({"state": "Invited"}),
        });
        assert_eq!(
            message,
            json!({"channel": "/me/interactions", "data": {"state": "Invited"}, "id": "42"})
        );
    }

    #[test]
    fn client_ids_are_long_random_and_alphanumeric() {
        let a = new_client_id();
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, new_client_id());
    }
}

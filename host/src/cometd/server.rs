//! The Bayeux server without its transports: it answers a request's messages, holds
//! connects until the agent has something or the timeout passes, checks tokens, marks
//! agents as seen, and sweeps clients that went away. Long-polling and WebSocket hand
//! it parsed messages and write what it answers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::Instrument;

use super::feed::{Feed, Notification};
use super::hub::Hub;
use super::protocol::{self, BayeuxError, Kind, Message, Reconnect};
use super::session::{End, Handed, Session, Transport};
use crate::metrics::Metrics;

/// The server's timings. The defaults follow the Java CometD server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// How long a connect is held when there is nothing to send (`advice.timeout`).
    pub timeout: Duration,
    /// How long a client may take between a connect's reply and its next connect
    /// (`advice.maxInterval`); silent for `timeout + max_interval`, it is dropped.
    pub max_interval: Duration,
    /// How long a checked token is trusted before a connect checks it again.
    pub recheck_token: Duration,
    /// How often an agent with a live connection is marked as seen.
    pub presence: Duration,
    /// How often a held connect reads the feed without being woken: a wake lost (or
    /// sent by a node that cannot reach this one) delays a notification by this much.
    pub poll: Duration,
    /// Notifications per reply at most; the rest follow on the next connect.
    pub batch: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            max_interval: Duration::from_secs(10),
            recheck_token: Duration::from_secs(5),
            // Held connects look every 2.5 s, so presence is recorded every 5 s.
            presence: Duration::from_millis(4_500),
            poll: Duration::from_millis(2_500),
            batch: 100,
        }
    }
}

impl Settings {
    fn retry(&self) -> Reconnect {
        Reconnect::Retry {
            interval_ms: 0,
            timeout_ms: millis(self.timeout),
            max_interval_ms: millis(self.max_interval),
        }
    }

    /// Reconnect after [`DRAIN`]: by then this node has stopped.
    fn retry_later(&self) -> Reconnect {
        Reconnect::Retry {
            interval_ms: millis(DRAIN),
            timeout_ms: millis(self.timeout),
            max_interval_ms: millis(self.max_interval),
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The CometD server; cheap to clone.
pub struct Cometd<F: Feed> {
    shared: Arc<Shared<F>>,
}

impl<F: Feed> Clone for Cometd<F> {
    fn clone(&self) -> Self {
        Self {
            shared: self.shared.clone(),
        }
    }
}

struct Shared<F> {
    feed: F,
    hub: Hub,
    settings: Settings,
    metrics: Metrics,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    /// Where the server is in its life; see [`Phase`].
    phase: Arc<watch::Sender<Phase>>,
}

/// A server's life: serving, then draining (held connects are answered at once and
/// nothing new is sent, while clients confirm what they were last sent), then closed
/// (sockets closed, sweeper stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Running,
    Draining,
    Closed,
}

/// How long a stopping server waits for clients with the ack extension to confirm what
/// they were last sent. They confirm on their next connect, which follows a reply at
/// once; without this wait, a graceful restart would send it again.
const DRAIN: Duration = Duration::from_secs(2);

/// Stops a [`Cometd`] without naming its feed: for whoever runs the server.
#[derive(Clone)]
pub struct Stopper {
    phase: Arc<watch::Sender<Phase>>,
    unconfirmed: Arc<dyn Fn() -> bool + Send + Sync>,
}

impl Stopper {
    /// Drains (for at most [`DRAIN`]), then closes. Held connects no longer keep a
    /// graceful shutdown waiting; clients reconnect to another node, or to this one
    /// once it is back, which sends them to handshake.
    pub async fn stop(&self) {
        self.phase.send_replace(Phase::Draining);
        let deadline = Instant::now() + DRAIN;
        while (self.unconfirmed)() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.phase.send_replace(Phase::Closed);
    }
}

/// The answer to one request, and what to confirm once it is written.
pub struct Replies {
    pub messages: Vec<Value>,
    /// One per connect answered (a request normally holds one).
    pub delivered: Vec<Delivered>,
}

/// Notifications in a reply, to confirm with [`Cometd::written`] once written. Dropped
/// unconfirmed (the socket closed, the task was cancelled), they are given back: the
/// session reads them again.
pub struct Delivered {
    session: Arc<Session>,
    handed: Handed,
    count: usize,
    confirmed: bool,
}

impl Drop for Delivered {
    fn drop(&mut self) {
        if !self.confirmed {
            self.session.unwritten(self.handed);
        }
    }
}

impl<F: Feed> Cometd<F> {
    pub fn new(feed: F, hub: Hub, settings: Settings, metrics: Metrics) -> Self {
        Self {
            shared: Arc::new(Shared {
                feed,
                hub,
                settings,
                metrics,
                sessions: Mutex::new(HashMap::new()),
                phase: Arc::new(watch::channel(Phase::Running).0),
            }),
        }
    }

    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// See [`Stopper::stop`].
    pub async fn stop(&self) {
        self.stopper().stop().await;
    }

    pub fn stopper(&self) -> Stopper {
        let shared = Arc::downgrade(&self.shared);
        Stopper {
            phase: self.shared.phase.clone(),
            unconfirmed: Arc::new(move || {
                shared.upgrade().is_some_and(|shared| {
                    let sessions = shared.sessions.lock().unwrap_or_else(|e| e.into_inner());
                    sessions.values().any(|session| session.unconfirmed())
                })
            }),
        }
    }

    /// A receiver of the server's [`Phase`].
    pub fn phase(&self) -> watch::Receiver<Phase> {
        self.shared.phase.subscribe()
    }

    /// Drops clients that stopped connecting, every second until the server stops.
    pub fn spawn_sweeper(&self) -> tokio::task::JoinHandle<()> {
        let server = self.clone();
        let mut phase = self.phase();
        phase.mark_changed();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tokio::select! {
                    _ = tick.tick() => server.sweep(),
                    _ = phase.changed() => {
                        if *phase.borrow_and_update() == Phase::Closed {
                            return;
                        }
                    }
                }
            }
        })
    }

    /// Drops every session silent for `timeout + max_interval` (or ended).
    pub fn sweep(&self) {
        let settings = &self.shared.settings;
        let silence = settings.timeout + settings.max_interval;
        let gone: Vec<Arc<Session>> = {
            let sessions = self.sessions();
            sessions
                .values()
                .filter(|session| session.gone(silence))
                .cloned()
                .collect()
        };
        for session in gone {
            tracing::info!(client = %session.client_id, agent = session.agent, "cometd client gone");
            self.remove(&session, End::Swept);
        }
        self.shared.hub.prune();
    }

    fn sessions(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.shared
            .sessions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    fn session(&self, client_id: &str) -> Option<Arc<Session>> {
        self.sessions().get(client_id).cloned()
    }

    fn remove(&self, session: &Arc<Session>, why: End) {
        session.end(why);
        if self.sessions().remove(&session.client_id).is_some() {
            self.shared
                .metrics
                .cometd_sessions(session.transport().as_str(), -1);
        }
    }

    fn error(&self, error: &BayeuxError) {
        self.shared.metrics.cometd_error(error.kind());
    }

    /// Answers a request's messages: the others first, then the connects, which may
    /// wait. `bearer` is the token of the request's `Authorization` header.
    pub async fn handle(
        &self,
        messages: Vec<Message>,
        transport: Transport,
        bearer: Option<&str>,
    ) -> Replies {
        let (connects, others): (Vec<_>, Vec<_>) = messages
            .into_iter()
            .partition(|m| matches!(m.kind, Kind::Connect { .. }));
        let mut replies = Replies {
            messages: Vec::with_capacity(others.len() + connects.len()),
            delivered: Vec::new(),
        };
        for message in others {
            let reply = self.answer(&message, transport, bearer).await;
            replies.messages.push(reply);
        }
        for message in connects {
            let (messages, delivered) = self.connect(&message, transport).await;
            replies.messages.extend(messages);
            replies.delivered.extend(delivered);
        }
        replies
    }

    /// Confirms notifications a transport has written: without the ack extension,
    /// this is when the agent's acknowledgement moves.
    pub async fn written(&self, mut delivered: Delivered) {
        delivered.confirmed = true;
        self.shared.metrics.cometd_delivered(delivered.count as u64);
        if let Some(through) = delivered.handed.sending.acknowledge {
            self.acknowledge(delivered.session.agent, through).await;
        }
    }

    /// A request body without readable messages was refused.
    pub fn body_refused(&self) {
        self.shared.metrics.cometd_error("malformed_body");
    }

    async fn acknowledge(&self, agent: i64, through: i64) {
        if let Err(e) = self.shared.feed.acknowledge(agent, through).await {
            self.shared.metrics.cometd_error("store");
            tracing::error!(agent, error = %e, "cannot record the agent's acknowledgement");
        }
    }

    async fn seen(&self, agent: i64) {
        if let Err(e) = self.shared.feed.seen(agent).await {
            self.shared.metrics.cometd_error("store");
            tracing::error!(agent, error = %e, "cannot record the agent's presence");
        }
    }

    /// Every message but a connect.
    async fn answer(&self, message: &Message, transport: Transport, bearer: Option<&str>) -> Value {
        match &message.kind {
            Kind::Invalid { reason } => {
                self.shared.metrics.cometd_error("invalid_message");
                protocol::invalid(message, reason)
            }
            Kind::Handshake {
                token,
                ack,
                connection_types,
            } => {
                let token = token.as_deref().or(bearer);
                self.handshake(message, token, *ack, connection_types, transport)
                    .await
            }
            Kind::Subscribe {
                client_id,
                channels,
                ..
            } => {
                let Some(session) = self.session(client_id) else {
                    return self.unknown_client(message, client_id);
                };
                if let Some(denied) = channels.iter().find(|c| !protocol::may_subscribe(c)) {
                    let error = BayeuxError::subscription_denied(denied);
                    self.error(&error);
                    tracing::info!(client = %client_id, agent = session.agent, channel = %denied, "cometd subscription denied");
                    return protocol::failure(message, Some(client_id), &error, None);
                }
                match self.shared.feed.acknowledged(session.agent).await {
                    Ok(acknowledged) => {
                        session.subscribe(acknowledged);
                        protocol::ok(message, client_id)
                    }
                    Err(e) => {
                        tracing::error!(agent = session.agent, error = %e, "cannot read the agent's acknowledgement");
                        self.internal(message, Some(client_id))
                    }
                }
            }
            Kind::Unsubscribe { client_id, echo } => {
                let Some(session) = self.session(client_id) else {
                    return self.unknown_client(message, client_id);
                };
                let names = match echo {
                    Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
                    Value::String(name) => vec![name.as_str()],
                    _ => Vec::new(),
                };
                if names.contains(&protocol::INTERACTIONS) {
                    session.unsubscribe();
                }
                protocol::ok(message, client_id)
            }
            Kind::Disconnect { client_id } => {
                let Some(session) = self.session(client_id) else {
                    return self.unknown_client(message, client_id);
                };
                tracing::info!(client = %client_id, agent = session.agent, "cometd client disconnected");
                self.remove(&session, End::Disconnected);
                protocol::ok(message, client_id)
            }
            Kind::Publish { client_id } => {
                if let Some(client_id) = client_id
                    && self.session(client_id).is_none()
                {
                    return self.unknown_client(message, client_id);
                }
                let error = BayeuxError::publish_denied(&message.channel);
                self.error(&error);
                protocol::failure(message, client_id.as_deref(), &error, None)
            }
            Kind::Connect { .. } => unreachable!("connects are answered by `connect`"),
        }
    }

    fn unknown_client(&self, message: &Message, client_id: &str) -> Value {
        let error = BayeuxError::unknown_client();
        self.error(&error);
        protocol::failure(message, Some(client_id), &error, Some(Reconnect::Handshake))
    }

    fn internal(&self, message: &Message, client_id: Option<&str>) -> Value {
        let error = BayeuxError::internal();
        self.error(&error);
        protocol::failure(message, client_id, &error, None)
    }

    async fn handshake(
        &self,
        message: &Message,
        token: Option<&str>,
        ack: bool,
        connection_types: &[String],
        transport: Transport,
    ) -> Value {
        if !protocol::transports_match(connection_types) {
            let error = BayeuxError::no_common_transport();
            self.error(&error);
            return protocol::failure(message, None, &error, Some(Reconnect::None));
        }
        let agent = match token {
            Some(token) => match self.shared.feed.authenticate(token).await {
                Ok(agent) => agent,
                Err(e) => {
                    tracing::error!(error = %e, "cannot check a cometd token");
                    return self.internal(message, None);
                }
            },
            None => None,
        };
        let (Some(agent), Some(token)) = (agent, token) else {
            let error = BayeuxError::unauthorized();
            self.error(&error);
            return protocol::failure(message, None, &error, Some(Reconnect::None));
        };
        let session = Arc::new(Session::new(agent, token.to_owned(), ack, transport));
        let client_id = session.client_id.clone();
        self.sessions().insert(client_id.clone(), session);
        self.shared.metrics.cometd_sessions(transport.as_str(), 1);
        self.seen(agent).await;
        tracing::info!(client = %client_id, agent, transport = transport.as_str(), ack, "cometd client handshaken");
        protocol::handshake_ok(message, &client_id, ack, self.shared.settings.retry())
    }

    /// Answers a connect: at once for the client's first (and for a client asking for
    /// no wait), otherwise when the agent has notifications, the session changes, the
    /// server stops, or the timeout passes.
    async fn connect(
        &self,
        message: &Message,
        transport: Transport,
    ) -> (Vec<Value>, Option<Delivered>) {
        let Kind::Connect {
            client_id,
            ack,
            timeout_ms,
        } = &message.kind
        else {
            unreachable!("only connects come here")
        };
        let Some(session) = self.session(client_id) else {
            return (vec![self.unknown_client(message, client_id)], None);
        };
        let span =
            tracing::info_span!("cometd_connect", client = %client_id, agent = session.agent);
        self.held(message, session, transport, *ack, *timeout_ms)
            .instrument(span)
            .await
    }

    async fn held(
        &self,
        message: &Message,
        session: Arc<Session>,
        transport: Transport,
        ack: Option<i64>,
        timeout_ms: Option<u64>,
    ) -> (Vec<Value>, Option<Delivered>) {
        let settings = self.shared.settings;
        let client_id = session.client_id.clone();
        let agent = session.agent;
        let connect = session.connect(transport, ack);
        if connect.previous != transport {
            self.shared
                .metrics
                .cometd_sessions(connect.previous.as_str(), -1);
            self.shared.metrics.cometd_sessions(transport.as_str(), 1);
        }
        if let Some(through) = connect.confirmed {
            self.acknowledge(agent, through).await;
        }
        if let Some(reply) = self.check_token(message, &session).await {
            return (vec![reply], None);
        }
        if session.presence_due(settings.presence) {
            self.seen(agent).await;
        }
        let hold = match timeout_ms {
            _ if connect.first => Duration::ZERO,
            Some(client) => settings.timeout.min(Duration::from_millis(client)),
            None => settings.timeout,
        };
        let deadline = Instant::now() + hold;
        let mut woken = self.shared.hub.watch(agent);
        let mut events = session.events();
        let mut phase = self.phase();
        let notifications: Vec<Notification> = loop {
            woken.borrow_and_update();
            events.borrow_and_update();
            if session.superseded(connect.number) {
                // The newer connect answers with whatever there is.
                return (
                    vec![protocol::connect_ok(
                        message,
                        &client_id,
                        settings.retry(),
                        None,
                    )],
                    None,
                );
            }
            if let Some(end) = session.ended() {
                session.left(connect.number);
                return (vec![self.ended(message, &client_id, end)], None);
            }
            if *phase.borrow_and_update() != Phase::Running {
                // Nothing new while stopping: what is sent now might not be confirmed.
                break Vec::new();
            }
            if let Some(after) = session.read_after() {
                match self.shared.feed.read(agent, after, settings.batch).await {
                    Ok(found) if !found.is_empty() => break found,
                    Ok(_) => {}
                    Err(e) => {
                        self.shared.metrics.cometd_error("store");
                        tracing::error!(error = %e, "cannot read the agent's notifications");
                        break Vec::new();
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break Vec::new();
            }
            let tick = deadline.min(now + settings.poll);
            tokio::select! {
                _ = woken.changed() => {}
                _ = events.changed() => {}
                _ = phase.changed() => {}
                () = tokio::time::sleep_until(tick) => {
                    if let Some(reply) = self.check_token(message, &session).await {
                        return (vec![reply], None);
                    }
                    if session.presence_due(settings.presence) {
                        self.seen(agent).await;
                    }
                }
            }
        };
        let through = notifications.last().map(|n| n.seq);
        let Some(handed) = session.sending(connect.number, through) else {
            return (
                vec![protocol::connect_ok(
                    message,
                    &client_id,
                    settings.retry(),
                    None,
                )],
                None,
            );
        };
        // A stopping server asks clients to wait rather than reconnect at once to a
        // node that answers every connect at once.
        let advice = if *phase.borrow() == Phase::Running {
            settings.retry()
        } else {
            settings.retry_later()
        };
        let mut replies: Vec<Value> = notifications.iter().map(protocol::delivery).collect();
        replies.push(protocol::connect_ok(
            message,
            &client_id,
            advice,
            handed.sending.batch,
        ));
        if !notifications.is_empty() {
            tracing::debug!(count = notifications.len(), through, "cometd delivering");
        }
        let delivered = Delivered {
            session,
            handed,
            count: notifications.len(),
            confirmed: false,
        };
        (replies, Some(delivered))
    }

    /// Checks the session's token again if its check is older than allowed; a token
    /// that stopped working ends the session, and this is the connect's answer.
    async fn check_token(&self, message: &Message, session: &Arc<Session>) -> Option<Value> {
        if !session.auth_due(self.shared.settings.recheck_token) {
            return None;
        }
        match self.shared.feed.authenticate(&session.token).await {
            Ok(Some(agent)) if agent == session.agent => {
                session.authenticated();
                None
            }
            Ok(_) => {
                tracing::info!(client = %session.client_id, agent = session.agent, "cometd client's session ended");
                self.remove(session, End::Unauthorized);
                Some(self.ended(message, &session.client_id, End::Unauthorized))
            }
            Err(e) => {
                // Keep serving on what was checked before; the next connect tries again.
                self.shared.metrics.cometd_error("store");
                tracing::error!(error = %e, "cannot check a cometd token");
                None
            }
        }
    }

    /// What a connect answers once its session has ended.
    fn ended(&self, message: &Message, client_id: &str, end: End) -> Value {
        match end {
            End::Unauthorized => {
                let error = BayeuxError::unauthorized();
                self.error(&error);
                protocol::failure(message, Some(client_id), &error, Some(Reconnect::None))
            }
            End::Disconnected | End::Swept => self.unknown_client(message, client_id),
        }
    }
}

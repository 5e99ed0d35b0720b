//! The path of an inbound message through the server: the ingest writer stores posts
//! in batches and acknowledges them once committed; the router routes stored
//! messages in batches and writes each batch's outcomes in one transaction; the
//! scanner hands the router whatever was stored but not routed (after a crash, or
//! when another node's lease ran out).
//!
//! Each message is routed at most once: the outcome is written only if the message is
//! still `received` in the same transaction. It is routed at least once: it is stored
//! before the gateway hears back, and anything unrouted is found again by the scanner.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;
use tracing::field::Empty;

use crate::agents::Offering;
use crate::domain::channel::Channel;
use crate::domain::connectors::{RoutingType, SmsConnector};
use crate::domain::conversations::Conversation;
use crate::domain::email::thread;
use crate::domain::routing::outcome::{self, Groups, PendingMessage, PluginRef, Routed, kv_scope};
use crate::domain::routing::{ConnectorContext, InboundMessage};
use crate::metrics::Metrics;
use crate::routing::env::{BatchKv, ChannelStaffing, DbStaffing, LogQuotas};
use crate::routing::lanes::{Lanes, Ticket};
use crate::runtime::host::{CallLog, KvChanges};
use crate::runtime::{HostEnv, Limits, Plugin, Runtime, Settings, World};
use crate::sandbox;
use crate::store::messages::{NewInbound, Stored};
use crate::store::{Backend, Store, StoreError};

/// Posts committed together at most. Large enough that a commit's cost is shared by
/// many messages under load; small enough that one batch's statements stay short.
const INGEST_BATCH: usize = 512;
/// Messages routed per batch: one transaction for all their outcomes.
const ROUTE_BATCH: usize = 256;
/// Stored messages waiting for the router, in memory. When full, ingest waits: the
/// gateways are slowed to the routing rate instead of memory growing without bound.
const ROUTE_QUEUE: usize = 8_192;
/// Routing batches running at once at most, each of one connector ([`Lanes`]).
/// Plugins yield to the executor at every epoch tick and while they wait on the
/// database, so a batch behind a slow plugin holds no thread: many lanes cost little,
/// let every connector route beside the others, and spread routing over every core.
const LANES: usize = 32;
/// How often the leases of the messages held in memory (waiting for a lane or being
/// routed) are renewed: well inside the lease, so no scan elsewhere takes them.
const RENEW_INTERVAL: Duration = Duration::from_secs(5);
/// How often the scanner looks for unrouted messages whose lease ran out.
const SCAN_INTERVAL: Duration = Duration::from_secs(2);

/// Why a post was not stored.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("the message could not be stored: {0}")]
    Store(#[source] Arc<StoreError>),
    #[error("the server is shutting down")]
    ShuttingDown,
}

struct IngestJob {
    post: NewInbound,
    reply: oneshot::Sender<Result<Stored, IngestError>>,
}

/// The handle request handlers submit posts through; cheap to clone.
#[derive(Clone)]
pub struct Ingest {
    jobs: mpsc::Sender<IngestJob>,
}

impl Ingest {
    /// Stores `post` durably and returns what was stored; the message is routed after.
    pub async fn submit(&self, post: NewInbound) -> Result<Stored, IngestError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(IngestJob { post, reply })
            .await
            .map_err(|_| IngestError::ShuttingDown)?;
        answer.await.map_err(|_| IngestError::ShuttingDown)?
    }
}

/// The running background tasks; [`Workers::shutdown`] stops them in order.
pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Workers {
    /// Stops the scanner, then waits for the ingest writer (which ends once every
    /// [`Ingest`] handle is dropped, i.e. after the last request) and for the router to
    /// finish the batch in hand. Messages still unrouted stay stored and are routed on
    /// the next start.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let all = futures_join(self.tasks);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!("routing did not finish within {grace:?}; the rest resumes on restart");
        }
    }
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for task in tasks {
        if let Err(e) = task.await {
            tracing::error!(error = %e, "a routing task failed");
        }
    }
}

/// What the router needs.
#[derive(Clone)]
pub struct RouterContext {
    pub store: Store,
    pub runtime: Arc<Runtime>,
    /// The host's default plugin limits, which a connector may override.
    pub limits: Limits,
    pub metrics: Metrics,
    /// Woken when routing put interactions in queues, to offer them to agents.
    pub offering: Offering,
    /// The routing applications' log quotas on this node.
    pub log_quotas: LogQuotas,
}

/// Starts the ingest writer, the router and the scanner.
pub fn start(context: RouterContext) -> (Ingest, Workers) {
    let (jobs, job_queue) = mpsc::channel(INGEST_BATCH * 4);
    let (routes, route_queue) = mpsc::channel(ROUTE_QUEUE);
    let (stop, stopped) = watch::channel(false);
    let tasks = vec![
        tokio::spawn(ingest_writer(
            context.store.clone(),
            job_queue,
            routes.clone(),
        )),
        tokio::spawn(scanner(context.store.clone(), routes, stopped.clone())),
        tokio::spawn(router(context, route_queue, stopped)),
    ];
    (Ingest { jobs }, Workers { stop, tasks })
}

async fn ingest_writer(
    store: Store,
    mut queue: mpsc::Receiver<IngestJob>,
    routes: mpsc::Sender<PendingMessage>,
) {
    let mut jobs = Vec::with_capacity(INGEST_BATCH);
    while queue.recv_many(&mut jobs, INGEST_BATCH).await > 0 {
        let (posts, replies): (Vec<_>, Vec<_>) =
            jobs.drain(..).map(|job| (job.post, job.reply)).unzip();
        match store.store_inbound(&posts).await {
            Ok(stored) => {
                // Handed to the router before the gateways are answered: a server
                // stopping after the answer still has the message in hand to route.
                let mut router_gone = false;
                for (post, stored) in posts.into_iter().zip(&stored) {
                    if !stored.duplicate && !router_gone {
                        router_gone = routes.send(pending(stored.id, post)).await.is_err();
                    }
                }
                for (reply, stored) in replies.into_iter().zip(stored) {
                    // A gateway that gave up waiting does not undo the commit.
                    let _ = reply.send(Ok(stored));
                }
                if router_gone {
                    return;
                }
            }
            Err(e) if posts.len() > 1 => {
                // One post the database refuses must not fail the others that happened
                // to share its commit: each is tried alone.
                tracing::warn!(error = %e, posts = posts.len(), "a batch failed; storing its posts one by one");
                for (post, reply) in posts.into_iter().zip(replies) {
                    let result = store.store_inbound(std::slice::from_ref(&post)).await;
                    match result {
                        Ok(stored) => {
                            let stored = stored[0];
                            let router_gone = !stored.duplicate
                                && routes.send(pending(stored.id, post)).await.is_err();
                            let _ = reply.send(Ok(stored));
                            if router_gone {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "cannot store an inbound message");
                            let _ = reply.send(Err(IngestError::Store(Arc::new(e))));
                        }
                    }
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot store an inbound message");
                let e = Arc::new(e);
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Store(e.clone())));
                }
            }
        }
    }
}

fn pending(id: i64, post: NewInbound) -> PendingMessage {
    let attachments = post.attachment_metadata();
    PendingMessage {
        id,
        connector_id: Some(post.connector_id),
        channel: post.channel,
        gateway_message_id: post.gateway_message_id,
        sender: post.sender,
        recipient: post.recipient,
        body: post.body,
        received_at: post.received_at,
        subject: post.subject,
        attributes: post.attributes,
        attachments,
    }
}

async fn scanner(
    store: Store,
    routes: mpsc::Sender<PendingMessage>,
    mut stopped: watch::Receiver<bool>,
) {
    // A SQLite file has one server: whatever the previous process left unrouted is ours
    // at once, without waiting for its leases to run out. Leases this process takes
    // (its first scans among them) are not taken again, so a backlog is handed over
    // once, however many scans it takes.
    let started = crate::store::now_ms();
    let mut catching_up = store.backend() == Backend::Sqlite;
    loop {
        let leased_before = catching_up.then_some(started);
        match store
            .claim_unrouted(leased_before, ROUTE_BATCH as i64)
            .await
        {
            Ok(messages) => {
                let full = messages.len() == ROUTE_BATCH;
                if !messages.is_empty() {
                    tracing::info!(count = messages.len(), "resuming unrouted messages");
                }
                for message in messages {
                    if routes.send(message).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                catching_up = false;
            }
            Err(e) => tracing::error!(error = %e, "cannot look for unrouted messages"),
        }
        tokio::select! {
            _ = tokio::time::sleep(SCAN_INTERVAL) => {}
            _ = stopped.changed() => return,
        }
    }
}

async fn router(
    context: RouterContext,
    mut queue: mpsc::Receiver<PendingMessage>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut lanes = Lanes::default();
    let mut running = JoinSet::new();
    let mut tickets: HashMap<tokio::task::Id, Ticket> = HashMap::new();
    let mut renew = tokio::time::interval(RENEW_INTERVAL);
    renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut received = Vec::with_capacity(ROUTE_BATCH);
    let mut open = true;
    let mut stopping = false;
    loop {
        // Stopping: nothing new is taken in, but what this node already holds (in its
        // lanes, or handed over and not yet taken) is routed, so a post acknowledged
        // just before the signal is routed by the server that acknowledged it. The
        // server bounds the wait (its routing grace); whatever is left then stays
        // stored and is routed at the next start.
        if !stopping && *stopped.borrow() {
            stopping = true;
            while let Ok(message) = queue.try_recv() {
                lanes.push(message);
            }
        }
        while running.len() < LANES
            && let Some((ticket, messages)) = lanes.next_batch(ROUTE_BATCH)
        {
            let count = messages.len();
            context.metrics.routing_batch(count);
            let span =
                tracing::info_span!("route_batch", size = count, connector = ticket.connector());
            let batch_context = context.clone();
            let task = running.spawn(
                async move {
                    if let Err(e) = route_batch(&batch_context, messages).await {
                        // Left `received`: the scanner hands them over again once the
                        // lease ends.
                        tracing::error!(error = %e, count, "cannot route a batch; it will be retried");
                    }
                }
                .instrument(span),
            );
            tickets.insert(task.id(), ticket);
        }
        context
            .metrics
            .set_routing_lanes(lanes.waiting(), lanes.running());
        if running.is_empty() && lanes.waiting() == 0 && (stopping || !open) {
            break;
        }
        let room = ROUTE_QUEUE.saturating_sub(lanes.waiting());
        tokio::select! {
            n = queue.recv_many(&mut received, room.min(ROUTE_QUEUE)), if open && !stopping && room > 0 => {
                if n == 0 {
                    open = false;
                }
                for message in received.drain(..) {
                    // Handed over twice (by the ingest writer and the scanner, or by the
                    // scanner again): it is already here.
                    lanes.push(message);
                }
            }
            Some(done) = running.join_next_with_id() => {
                let id = match done {
                    Ok((id, ())) => id,
                    Err(e) => {
                        tracing::error!(error = %e, "a routing batch panicked; its messages will be retried");
                        e.id()
                    }
                };
                if let Some(ticket) = tickets.remove(&id) {
                    lanes.finished(ticket);
                }
            }
            _ = renew.tick() => {
                let held = lanes.held();
                if !held.is_empty()
                    && let Err(e) = context.store.renew_leases(&held).await
                {
                    tracing::warn!(error = %e, count = held.len(), "cannot renew the leases of messages waiting to be routed");
                }
            }
            changed = stopped.changed(), if !stopping => {
                if changed.is_err() {
                    stopping = true;
                }
            }
        }
    }
}

/// A connector's active version, loaded, or why it could not be.
type Loaded = Result<(PluginRef, Arc<Plugin>), (PluginRef, String)>;

/// A connector as routing uses it: with its loaded plugin and resolved settings.
struct Route {
    connector: SmsConnector,
    plugin: Option<Loaded>,
    /// The plugin settings, or why they cannot be given to the plugin.
    settings: Result<Arc<Settings>, String>,
    limits: Limits,
}

async fn route_batch(context: &RouterContext, messages: Vec<PendingMessage>) -> anyhow::Result<()> {
    let store = &context.store;
    let groups = Groups::new(store.acd_group_names().await?);
    let mut routes: HashMap<i64, Option<Route>> = HashMap::new();
    for id in messages.iter().filter_map(|m| m.connector_id) {
        if routes.contains_key(&id) {
            continue;
        }
        let route = match store.connector(id).await {
            Ok(connector) => Some(prepare(context, connector).await?),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        routes.insert(id, route);
    }
    // An email answering a thread joins the conversation of that thread's contact,
    // whoever sends it; every other message is its sender's.
    let mut thread_contacts: HashMap<i64, String> = HashMap::new();
    for message in messages.iter().filter(|m| m.channel == Channel::Email) {
        let ancestors = thread::ancestors(&message.attributes);
        if let (Some(connector), false) = (message.connector_id, ancestors.is_empty())
            && let Some(contact) = store.thread_contact(connector, &ancestors).await?
        {
            thread_contacts.insert(message.id, contact);
        }
    }
    let contact_of = |m: &PendingMessage| {
        thread_contacts
            .get(&m.id)
            .cloned()
            .unwrap_or_else(|| m.sender.clone())
    };
    // A conversation is a contact's on one connector: read per connector of the batch.
    let mut conversations = HashMap::new();
    for connector in routes.keys() {
        let contacts: Vec<String> = messages
            .iter()
            .filter(|m| m.connector_id == Some(*connector))
            .map(contact_of)
            .collect();
        let senders: Vec<&str> = contacts.iter().map(String::as_str).collect();
        for (contact, conversation) in store.conversations(*connector, &senders).await? {
            conversations.insert((*connector, contact), conversation);
        }
    }

    let kv = Arc::new(BatchKv::new(store.clone()));
    let staffing = Arc::new(DbStaffing::new(store.clone()));
    let received_at: HashMap<i64, i64> = messages.iter().map(|m| (m.id, m.received_at)).collect();
    // Plugins run inside the batch's span, so their spans (and log lines) nest in it.
    let (mut outcomes, kv_changes) = decide_all(
        &messages,
        &routes,
        &groups,
        BatchConversations {
            by_contact: conversations,
            thread_contacts,
        },
        kv,
        staffing,
        context,
    )
    .await;
    if outcomes.iter().any(|o| !o.asked_replies.is_empty()) {
        let (email, sms) = (store.email_settings().await?, store.sms_settings().await?);
        for outcome in &mut outcomes {
            outcome::queue_replies(outcome, &email, &sms);
        }
    }
    let written = match store.apply_routing(&outcomes, &kv_changes).await {
        Ok(written) => written,
        Err(e) if outcomes.len() > 1 => {
            // One outcome the database refuses must not hold back the rest of the batch
            // (every 15 s, for ever): each is written alone, with the batch's kv changes
            // going with the first that succeeds. What still fails stays `received`.
            tracing::warn!(error = %e, count = outcomes.len(), "a routing batch failed; writing its outcomes one by one");
            let mut kv = kv_changes.as_slice();
            let mut written = Vec::new();
            for outcome in &outcomes {
                match store.apply_routing(std::slice::from_ref(outcome), kv).await {
                    Ok(ids) => {
                        written.extend(ids);
                        kv = &[];
                    }
                    Err(e) => {
                        tracing::error!(message = outcome.message_id, error = %e, "cannot store a routing outcome")
                    }
                }
            }
            written
        }
        Err(e) => return Err(e.into()),
    };
    context
        .metrics
        .routed_batch(&outcomes, &written, &received_at);
    if outcomes
        .iter()
        .any(|o| o.interaction.is_some() && written.contains(&o.message_id))
    {
        context.offering.wake();
    }
    if written.len() < outcomes.len() {
        tracing::info!(
            skipped = outcomes.len() - written.len(),
            "messages already routed elsewhere, or not writable, were skipped"
        );
    }
    Ok(())
}

/// Loads a connector's active plugin (compiling it if this node has not yet) and
/// resolves its settings and limits. A version that fails to load is not an error of
/// the batch: its messages fall back with the reason.
async fn prepare(context: &RouterContext, connector: SmsConnector) -> anyhow::Result<Route> {
    let limits = connector
        .plugin_limits
        .unwrap_or_default()
        .resolve(context.limits)
        .unwrap_or(context.limits);
    // Settings the API would have refused (edited in the database, say) are never
    // replaced by others: the plugin does not run, and its messages fall back.
    let settings = Settings::from_value(connector.plugin_settings.clone())
        .map(Arc::new)
        .map_err(|e| {
            tracing::error!(connector = connector.id, error = %e, "stored plugin settings are invalid; messages fall back");
            e.to_string()
        });
    let plugin = match (&connector.routing_type, &connector.active_plugin) {
        (RoutingType::RoutingApplication, Some(active)) => {
            let reference = PluginRef {
                version: active.version,
                sha256: active.sha256.clone(),
            };
            Some(match context.runtime.loaded(&active.sha256) {
                Some(plugin) => Ok((reference, plugin)),
                None => {
                    let bytes = context
                        .store
                        .plugin_component(connector.id, active.version)
                        .await?;
                    let runtime = context.runtime.clone();
                    let loaded = tokio::task::spawn_blocking(move || {
                        runtime.load_as(&bytes, World::RoutingApplication)
                    })
                    .await?;
                    match loaded {
                        Ok(plugin) => Ok((reference, plugin)),
                        Err(e) => Err((reference, e.to_string())),
                    }
                }
            })
        }
        _ => None,
    };
    Ok(Route {
        connector,
        plugin,
        settings,
        limits,
    })
}

/// The conversations a batch's messages belong to, by connector and contact, and the
/// contact of each email that answers a thread (whoever sent it).
struct BatchConversations {
    by_contact: HashMap<(i64, String), Conversation>,
    thread_contacts: HashMap<i64, String>,
}

/// Routes every message of a batch, in order. Returns the outcomes and the kv changes
/// of the invocations that produced them.
async fn decide_all(
    messages: &[PendingMessage],
    routes: &HashMap<i64, Option<Route>>,
    groups: &Groups,
    conversations: BatchConversations,
    kv: Arc<BatchKv>,
    staffing: Arc<DbStaffing>,
    router: &RouterContext,
) -> (Vec<Routed>, Vec<(String, KvChanges)>) {
    let (metrics, log_quotas) = (&router.metrics, &router.log_quotas);
    let BatchConversations {
        by_contact: mut conversations,
        thread_contacts,
    } = conversations;
    let mut outcomes = Vec::with_capacity(messages.len());
    let mut kv_changes = Vec::new();
    for message in messages {
        let route = message
            .connector_id
            .and_then(|id| routes.get(&id))
            .and_then(Option::as_ref);
        let contact = thread_contacts
            .get(&message.id)
            .unwrap_or(&message.sender)
            .clone();
        let conversation_key = message.connector_id.map(|id| (id, contact.clone()));
        let conversation = conversation_key
            .as_ref()
            .and_then(|key| conversations.get(key))
            .cloned()
            .unwrap_or_default();
        let status_before = conversation.status;
        let routed = match route {
            None => outcome::orphaned(message),
            Some(route) => {
                let connector = &route.connector;
                match (connector.routing_type, &route.plugin, &route.settings) {
                    (RoutingType::DirectAcdGroup, _, _) => {
                        outcome::direct(message, connector, groups, conversation)
                    }
                    (RoutingType::RoutingApplication, None, _) => {
                        outcome::no_plugin(message, connector, groups, conversation)
                    }
                    (RoutingType::RoutingApplication, Some(Err((reference, error))), _) => {
                        outcome::unloadable(
                            message,
                            connector,
                            reference,
                            error,
                            groups,
                            conversation,
                        )
                    }
                    (RoutingType::RoutingApplication, Some(Ok((reference, _))), Err(error)) => {
                        outcome::misconfigured(
                            message,
                            connector,
                            reference,
                            error,
                            groups,
                            conversation,
                        )
                    }
                    (
                        RoutingType::RoutingApplication,
                        Some(Ok((reference, plugin))),
                        Ok(settings),
                    ) => {
                        let env = HostEnv {
                            settings: settings.clone(),
                            kv: kv.clone(),
                            kv_scope: kv_scope(connector.id),
                            staffing: Arc::new(ChannelStaffing {
                                staffing: staffing.clone(),
                                channel: message.channel,
                            }),
                            label: format!(
                                "connector={} plugin=v{}",
                                connector.name, reference.version
                            ),
                        };
                        let inbound = InboundMessage {
                            id: message.id.to_string(),
                            channel: message.channel,
                            sender: message.sender.clone(),
                            recipient: message.recipient.clone(),
                            subject: message.subject.clone(),
                            body: message.body.clone(),
                            received_at: u64::try_from(message.received_at).unwrap_or(0),
                            attachments: message.attachments.clone(),
                            attributes: std::iter::once((
                                "gateway_message_id".to_owned(),
                                message.gateway_message_id.clone(),
                            ))
                            .chain(message.attributes.iter().cloned())
                            .collect(),
                        };
                        let context = ConnectorContext {
                            id: connector.id.to_string(),
                            name: connector.name.clone(),
                            recipient: connector.recipient.clone(),
                        };
                        let span = tracing::info_span!(
                            "plugin",
                            world = World::RoutingApplication.name(),
                            plugin = %reference.sha256,
                            connector = connector.id,
                            message_id = message.id,
                            outcome = Empty,
                            error_kind = Empty,
                        );
                        let log =
                            CallLog::with_quota(log_quotas.of(connector.id, reference.version));
                        let call = sandbox::route_logged(
                            plugin,
                            &env,
                            &route.limits,
                            &log,
                            &inbound,
                            &context,
                            &conversation,
                        );
                        let result = metrics.invoke(World::RoutingApplication, &span, call).await;
                        metrics.log_lines_dropped(World::RoutingApplication, log.quota_dropped());
                        match result {
                            Ok(mut invocation) => {
                                let changes = std::mem::take(&mut invocation.kv_changes);
                                let mut routed = outcome::decided(
                                    message,
                                    connector,
                                    reference,
                                    invocation,
                                    groups,
                                    conversation,
                                );
                                // Writes count only with a decision the host could apply;
                                // into the batch's overlay, so the next message sees them.
                                if routed.record.error.is_none() && !changes.is_empty() {
                                    let _ = env.kv.commit(&env.kv_scope, &changes);
                                    kv_changes.push((env.kv_scope.clone(), changes));
                                    routed.wrote_kv = true;
                                }
                                routed
                            }
                            Err(error) => {
                                tracing::warn!(
                                    connector = connector.id,
                                    message = message.id,
                                    kind = error.kind(),
                                    error = %error,
                                    "routing application failed; using the fallback group"
                                );
                                outcome::failed(
                                    message,
                                    connector,
                                    reference,
                                    &error,
                                    log.take_failed_logs(),
                                    groups,
                                    conversation,
                                )
                            }
                        }
                    }
                }
            }
        };
        let mut routed = routed;
        routed.contact = contact;
        routed.conversation_before = Some(status_before);
        if let (Some(conversation), Some(key)) = (&routed.conversation, conversation_key) {
            conversations.insert(key, conversation.clone());
        }
        outcomes.push(routed);
    }
    (outcomes, kv_changes)
}

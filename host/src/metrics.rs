//! The server's Prometheus metrics. Each server owns one [`Metrics`] (a registry and
//! its families), handed to the places that count, rather than a process-wide
//! recorder: servers sharing a process (the tests) then count only their own work.
//! `GET /metrics` refreshes the gauges and encodes it all in the text format.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument;

use crate::domain::channel::Channel;
use crate::domain::queue::{LifeCycleState, TextStatus};
use crate::domain::routing::outcome::{MessageState, Routed};
use crate::runtime::{Invocation, InvokeError, World};

/// The content type of the exposition (OpenMetrics text, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels<const N: usize> = [(&'static str, &'static str); N];
type Histograms<const N: usize> = Family<Labels<N>, Histogram, fn() -> Histogram>;

/// Latencies from 1 ms to about 33 s: an ingest commit, a plugin call, a gateway's answer.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// Counts from 1 to 512: messages per routing batch.
fn size_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1.0, 2.0, 10))
}

/// Every metric of one server; cheap to clone.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    ingest_messages: Family<Labels<1>, Counter>,
    ingest_refused: Family<Labels<1>, Counter>,
    ingest_duration: Histogram,
    inbound_emails: Family<Labels<2>, Counter>,
    inbound_attachment_bytes: Counter,
    routed_messages: Family<Labels<1>, Counter>,
    routing_latency: Histogram,
    routing_batch_size: Histogram,
    routing_waiting: Gauge,
    routing_running: Gauge,
    plugin_invocations: Family<Labels<3>, Counter>,
    plugin_duration: Histograms<1>,
    plugin_log_dropped: Family<Labels<1>, Counter>,
    queue_settled: Family<Labels<2>, Counter>,
    dispatch_send_duration: Histograms<1>,
    queue_entries: Family<Labels<1>, Gauge>,
    db_pool_size: Family<Labels<1>, Gauge>,
    db_pool_idle: Family<Labels<1>, Gauge>,
    agent_logins: Family<Labels<1>, Counter>,
    agents_ready: Family<Labels<1>, Gauge>,
    cometd_sessions: Family<Labels<1>, Gauge>,
    cometd_delivered: Counter,
    cometd_errors: Family<Labels<1>, Counter>,
    offers: Family<Labels<1>, Counter>,
    offering_pass: Histogram,
    agent_operations: Family<Labels<2>, Counter>,
    queue_claims_renewed: Counter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        // Counters get their `_total` suffix from the encoder.
        let ingest_messages = Family::default();
        registry.register(
            "switchyard_ingest_messages",
            "Inbound messages stored (result=accepted) or recognised as a retry (result=duplicate)",
            ingest_messages.clone(),
        );
        let ingest_refused = Family::default();
        registry.register(
            "switchyard_ingest_refused",
            "Inbound posts refused, by the error code of the answer",
            ingest_refused.clone(),
        );
        let inbound_emails = Family::default();
        registry.register(
            "switchyard_inbound_emails",
            "Inbound emails by dialect (mime, postmark, mailgun) and result (accepted, \
             duplicate, or the refusal's error code)",
            inbound_emails.clone(),
        );
        let inbound_attachment_bytes = Counter::default();
        registry.register(
            "switchyard_inbound_attachment_bytes",
            "Bytes of attachments carried by inbound emails stored (before content dedup)",
            inbound_attachment_bytes.clone(),
        );
        let ingest_duration = latency_histogram();
        registry.register(
            "switchyard_ingest_duration_seconds",
            "Time from an inbound post's arrival to its acknowledgement, for stored posts",
            ingest_duration.clone(),
        );
        let routed_messages = Family::default();
        registry.register(
            "switchyard_routed_messages",
            "Messages routed, by outcome: group, fallback, rejected, dropped",
            routed_messages.clone(),
        );
        let routing_latency = latency_histogram();
        registry.register(
            "switchyard_routing_latency_seconds",
            "Time from a message's receipt (its received_at) to its routing outcome being stored",
            routing_latency.clone(),
        );
        let routing_batch_size = size_histogram();
        registry.register(
            "switchyard_routing_batch_size_messages",
            "Messages per routing batch",
            routing_batch_size.clone(),
        );
        let routing_waiting = Gauge::default();
        registry.register(
            "switchyard_routing_waiting_messages",
            "Stored messages held in memory waiting for a routing lane",
            routing_waiting.clone(),
        );
        let routing_running = Gauge::default();
        registry.register(
            "switchyard_routing_batches_running",
            "Routing batches running (one per connector at most)",
            routing_running.clone(),
        );
        let plugin_invocations = Family::default();
        registry.register(
            "switchyard_plugin_invocations",
            "Plugin invocations, by world, outcome (ok, error) and error kind (none when ok)",
            plugin_invocations.clone(),
        );
        let plugin_log_dropped = Family::default();
        registry.register(
            "switchyard_plugin_log_lines_dropped",
            "Plugin log lines dropped because the plugin's per-minute log quota was used up, by world",
            plugin_log_dropped.clone(),
        );
        let plugin_duration: Histograms<1> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "switchyard_plugin_invocation_duration_seconds",
            "Wall time of plugin invocations, by world",
            plugin_duration.clone(),
        );
        let queue_settled = Family::default();
        registry.register(
            "switchyard_queue_entries_settled",
            "Queue entries settled, by media and final text status",
            queue_settled.clone(),
        );
        let dispatch_send_duration: Histograms<1> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "switchyard_dispatch_send_duration_seconds",
            "Time to hand one entry to its mail server or SMS gateway, per attempt, by media",
            dispatch_send_duration.clone(),
        );
        let queue_entries = Family::default();
        registry.register(
            "switchyard_queue_entries",
            "Queue entries by life-cycle state, counted when scraped",
            queue_entries.clone(),
        );
        let db_pool_size = Family::default();
        registry.register(
            "switchyard_db_pool_connections",
            "Open database connections, by pool (main; writer on SQLite)",
            db_pool_size.clone(),
        );
        let db_pool_idle = Family::default();
        registry.register(
            "switchyard_db_pool_idle_connections",
            "Idle database connections, by pool",
            db_pool_idle.clone(),
        );
        let agent_logins = Family::default();
        registry.register(
            "switchyard_agent_logins",
            "Agent login attempts, by outcome: ok, invalid_credentials, too_many_attempts",
            agent_logins.clone(),
        );
        let agents_ready = Family::default();
        registry.register(
            "switchyard_agents_ready",
            "Agents ready on each channel with a live session, counted when scraped",
            agents_ready.clone(),
        );
        let cometd_sessions = Family::default();
        registry.register(
            "switchyard_cometd_sessions",
            "CometD clients handshaken on this node, by the transport of their last request",
            cometd_sessions.clone(),
        );
        let cometd_delivered = Counter::default();
        registry.register(
            "switchyard_cometd_messages_delivered",
            "Notifications written to CometD clients (repeats after a lost reply included)",
            cometd_delivered.clone(),
        );
        let cometd_errors = Family::default();
        registry.register(
            "switchyard_cometd_errors",
            "CometD messages refused or failed, by kind (unknown_client, unauthorized, subscription_denied, invalid_message, malformed_body, store, ...)",
            cometd_errors.clone(),
        );
        let offers = Family::default();
        registry.register(
            "switchyard_offers",
            "Offers of interactions to agents, by event: invited, revoked",
            offers.clone(),
        );
        let offering_pass = latency_histogram();
        registry.register(
            "switchyard_offering_pass_seconds",
            "How long one offering pass took (revoking, planning and offering)",
            offering_pass.clone(),
        );
        let agent_operations = Family::default();
        registry.register(
            "switchyard_agent_operations",
            "Agents' operations on interactions, by operation and result: ok, refused, error",
            agent_operations.clone(),
        );
        let queue_claims_renewed = Counter::default();
        registry.register(
            "switchyard_queue_claims_renewed",
            "Claims on queue entries this node renewed while working on them (its heartbeat)",
            queue_claims_renewed.clone(),
        );
        Self {
            inner: Arc::new(Inner {
                registry,
                ingest_messages,
                ingest_refused,
                ingest_duration,
                inbound_emails,
                inbound_attachment_bytes,
                routed_messages,
                routing_latency,
                routing_batch_size,
                routing_waiting,
                routing_running,
                plugin_invocations,
                plugin_duration,
                plugin_log_dropped,
                queue_settled,
                dispatch_send_duration,
                queue_entries,
                db_pool_size,
                db_pool_idle,
                agent_logins,
                agents_ready,
                cometd_sessions,
                cometd_delivered,
                cometd_errors,
                offers,
                offering_pass,
                agent_operations,
                queue_claims_renewed,
            }),
        }
    }

    /// An inbound post was stored (or was a retry of a stored one).
    pub fn ingested(&self, duplicate: bool, since: Instant) {
        let result = if duplicate { "duplicate" } else { "accepted" };
        self.inner
            .ingest_messages
            .get_or_create(&[("result", result)])
            .inc();
        self.inner
            .ingest_duration
            .observe(since.elapsed().as_secs_f64());
    }

    /// An inbound email of `dialect` was stored, recognised as a retry, or refused
    /// (`result` is then the answer's error code), with `attachment_bytes` carried.
    pub fn inbound_email(
        &self,
        dialect: &'static str,
        result: &'static str,
        attachment_bytes: u64,
    ) {
        self.inner
            .inbound_emails
            .get_or_create(&[("dialect", dialect), ("result", result)])
            .inc();
        self.inner.inbound_attachment_bytes.inc_by(attachment_bytes);
    }

    /// An inbound post was refused with the error `code` of its answer.
    pub fn ingest_refused(&self, code: &'static str) {
        self.inner
            .ingest_refused
            .get_or_create(&[("reason", code)])
            .inc();
    }

    /// A routing batch of `size` messages is about to be routed.
    pub fn routing_batch(&self, size: usize) {
        self.inner.routing_batch_size.observe(size as f64);
    }

    /// The router's lanes now: messages waiting for one, batches running.
    pub fn set_routing_lanes(&self, waiting: usize, running: usize) {
        self.inner
            .routing_waiting
            .set(i64::try_from(waiting).unwrap_or(i64::MAX));
        self.inner
            .routing_running
            .set(i64::try_from(running).unwrap_or(i64::MAX));
    }

    /// A routing outcome was stored at `now_ms` for a message received at
    /// `received_at` (both ms since the epoch).
    pub fn routed(&self, routed: &Routed, received_at: i64, now_ms: i64) {
        self.inner
            .routed_messages
            .get_or_create(&[("outcome", routed_outcome(routed))])
            .inc();
        let ms = (now_ms - received_at).max(0);
        self.inner.routing_latency.observe(ms as f64 / 1_000.0);
    }

    /// A routing batch's outcomes were written: counts those that were (`written`
    /// ids; the rest were routed elsewhere or refused), with their latency from
    /// `received_at` (ms since the epoch, by message id) to now.
    pub fn routed_batch(
        &self,
        outcomes: &[Routed],
        written: &[i64],
        received_at: &HashMap<i64, i64>,
    ) {
        let now = crate::store::now_ms();
        let written: HashSet<i64> = written.iter().copied().collect();
        for outcome in outcomes {
            if written.contains(&outcome.message_id) {
                let received = received_at.get(&outcome.message_id).copied();
                self.routed(outcome, received.unwrap_or(now), now);
            }
        }
    }

    /// A plugin invocation of `world` ended with `result` after `elapsed`.
    pub fn plugin_invoked<T>(
        &self,
        world: World,
        result: &Result<Invocation<T>, InvokeError>,
        elapsed: Duration,
    ) {
        let (outcome, kind) = match result {
            Ok(_) => ("ok", "none"),
            Err(e) => ("error", e.kind()),
        };
        self.inner
            .plugin_invocations
            .get_or_create(&[
                ("world", world.name()),
                ("outcome", outcome),
                ("error_kind", kind),
            ])
            .inc();
        self.inner
            .plugin_duration
            .get_or_create(&[("world", world.name())])
            .observe(elapsed.as_secs_f64());
    }

    /// An invocation of a `world` plugin lost `lines` log lines to its log quota.
    pub fn log_lines_dropped(&self, world: World, lines: usize) {
        if lines > 0 {
            self.inner
                .plugin_log_dropped
                .get_or_create(&[("world", world.name())])
                .inc_by(lines as u64);
        }
    }

    /// Runs one plugin invocation inside `span` (so what the plugin logs carries the
    /// span's fields), counts it, and records its outcome on the span. The span is
    /// expected to declare `outcome` and `error_kind` fields.
    pub async fn invoke<T>(
        &self,
        world: World,
        span: &tracing::Span,
        call: impl std::future::Future<Output = Result<Invocation<T>, InvokeError>>,
    ) -> Result<Invocation<T>, InvokeError> {
        let start = Instant::now();
        let result = call.instrument(span.clone()).await;
        self.plugin_invoked(world, &result, start.elapsed());
        match &result {
            Ok(_) => span.record("outcome", "ok"),
            Err(e) => span
                .record("outcome", "error")
                .record("error_kind", e.kind()),
        };
        result
    }

    /// A queue entry of `media` was settled with `status`.
    pub fn settled(&self, media: Channel, status: TextStatus) {
        self.inner
            .queue_settled
            .get_or_create(&[("media", media.as_str()), ("status", status.as_str())])
            .inc();
    }

    /// The heartbeat renewed `count` of this node's claims on queue entries.
    pub fn claims_renewed(&self, count: u64) {
        self.inner.queue_claims_renewed.inc_by(count);
    }

    /// One attempt to hand an entry of `media` to its server took `elapsed`.
    pub fn send_attempt(&self, media: Channel, elapsed: Duration) {
        self.inner
            .dispatch_send_duration
            .get_or_create(&[("media", media.as_str())])
            .observe(elapsed.as_secs_f64());
    }

    /// Sets the queue-depth gauges; states missing from `counts` are 0.
    pub fn set_queue_depth(&self, counts: &[(LifeCycleState, i64)]) {
        for state in LifeCycleState::ALL {
            let count = counts
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            self.inner
                .queue_entries
                .get_or_create(&[("state", state.as_str())])
                .set(count);
        }
    }

    /// Sets the gauges of database pool `pool`.
    pub fn set_pool(&self, pool: &'static str, size: u32, idle: usize) {
        let labels = [("pool", pool)];
        self.inner
            .db_pool_size
            .get_or_create(&labels)
            .set(i64::from(size));
        self.inner
            .db_pool_idle
            .get_or_create(&labels)
            .set(idle as i64);
    }

    /// An agent login attempt ended with `outcome` (`ok`, `invalid_credentials`,
    /// `too_many_attempts`).
    pub fn agent_login(&self, outcome: &'static str) {
        self.inner
            .agent_logins
            .get_or_create(&[("outcome", outcome)])
            .inc();
    }

    /// Sets the ready-agents gauges, one per channel in `counts`.
    pub fn set_agents_ready(&self, counts: &[(Channel, i64)]) {
        for (channel, count) in counts {
            self.inner
                .agents_ready
                .get_or_create(&[("channel", channel.as_str())])
                .set(*count);
        }
    }

    /// A CometD client of `transport` came (`delta` 1) or went (-1).
    pub fn cometd_sessions(&self, transport: &'static str, delta: i64) {
        self.inner
            .cometd_sessions
            .get_or_create(&[("transport", transport)])
            .inc_by(delta);
    }

    /// `count` notifications were written to a CometD client.
    pub fn cometd_delivered(&self, count: u64) {
        self.inner.cometd_delivered.inc_by(count);
    }

    /// A CometD message was refused or failed with `kind`.
    pub fn cometd_error(&self, kind: &'static str) {
        self.inner
            .cometd_errors
            .get_or_create(&[("kind", kind)])
            .inc();
    }

    /// One offering pass made `invited` offers and revoked `revoked`, in `elapsed`.
    pub fn offering_pass(&self, invited: usize, revoked: usize, elapsed: Duration) {
        for (event, n) in [("invited", invited), ("revoked", revoked)] {
            self.inner
                .offers
                .get_or_create(&[("event", event)])
                .inc_by(n as u64);
        }
        self.inner.offering_pass.observe(elapsed.as_secs_f64());
    }

    /// An agent's `operation` ended with `result` (`ok`, `refused`, `error`).
    pub fn agent_operation(&self, operation: &'static str, result: &'static str) {
        self.inner
            .agent_operations
            .get_or_create(&[("operation", operation), ("result", result)])
            .inc();
    }

    /// The text exposition of every metric, ending with `# EOF`.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.inner.registry) {
            // Writing into a String cannot fail; say so in the output if it ever does.
            let _ = writeln!(text, "# encoding failed: {e}");
        }
        text
    }
}

/// The `outcome` label of a routed message: where it went, as an operator sees it.
pub fn routed_outcome(routed: &Routed) -> &'static str {
    match routed.state {
        MessageState::Rejected => "rejected",
        MessageState::Dropped => "dropped",
        MessageState::Routed if routed.record.outcome == "fallback" => "fallback",
        MessageState::Routed | MessageState::Received => "group",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(text: &str, line_start: &str) -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(line_start))
            .unwrap_or_else(|| panic!("no `{line_start}` in\n{text}"))
            .trim()
            .parse()
            .unwrap()
    }

    #[test]
    fn counters_are_exposed_with_their_labels_and_total_suffix() {
        let metrics = Metrics::new();
        metrics.ingested(false, Instant::now());
        metrics.ingested(false, Instant::now());
        metrics.ingested(true, Instant::now());
        metrics.ingest_refused("unauthorized");
        metrics.settled(Channel::Sms, TextStatus::Sent);
        metrics.set_queue_depth(&[(LifeCycleState::Pending, 3)]);
        metrics.agent_login("too_many_attempts");
        metrics.set_agents_ready(&[(Channel::Sms, 2), (Channel::Email, 0)]);
        let text = metrics.encode();
        assert_eq!(
            sample(
                &text,
                "switchyard_agent_logins_total{outcome=\"too_many_attempts\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(&text, "switchyard_agents_ready{channel=\"sms\"}"),
            2.0
        );
        assert_eq!(
            sample(&text, "switchyard_agents_ready{channel=\"email\"}"),
            0.0
        );
        assert_eq!(
            sample(
                &text,
                "switchyard_ingest_messages_total{result=\"accepted\"}"
            ),
            2.0
        );
        assert_eq!(
            sample(
                &text,
                "switchyard_ingest_messages_total{result=\"duplicate\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                "switchyard_ingest_refused_total{reason=\"unauthorized\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                "switchyard_queue_entries_settled_total{media=\"sms\",status=\"sent\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(&text, "switchyard_queue_entries{state=\"pending\"}"),
            3.0
        );
        assert_eq!(
            sample(&text, "switchyard_queue_entries{state=\"rejected\"}"),
            0.0
        );
        assert_eq!(
            sample(&text, "switchyard_ingest_duration_seconds_count"),
            3.0
        );
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[tokio::test]
    async fn plugin_invocations_count_by_world_outcome_and_error_kind() {
        let metrics = Metrics::new();
        let span = tracing::Span::none();
        let call = async {
            Err(InvokeError::Timeout {
                deadline: Duration::from_secs(1),
            })
        };
        let failed: Result<Invocation<()>, _> = metrics.invoke(World::Gateway, &span, call).await;
        assert!(failed.is_err());
        let text = metrics.encode();
        assert_eq!(
            sample(
                &text,
                "switchyard_plugin_invocations_total{world=\"gateway\",outcome=\"error\",error_kind=\"timeout\"}"
            ),
            1.0
        );
        assert_eq!(
            sample(
                &text,
                "switchyard_plugin_invocation_duration_seconds_count{world=\"gateway\"}"
            ),
            1.0
        );
    }
}

//! The offering loop: runs an offering pass ([`Store::offer_waiting`]) whenever
//! something may have changed who can take what (an interaction routed, an agent ready,
//! capacity freed, an offer rejected) and at least once a second for offers running
//! out; sweeps agents without a live CometD connection to not ready; and tells the
//! CometD server which agents have new notifications. Every node runs one; the store
//! keeps their passes from overlapping.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;
use tracing::Instrument;

use crate::metrics::Metrics;
use crate::store::{Store, now_ms};

/// How often a pass runs when nothing wakes the loop: offers run out on time.
const TICK: Duration = Duration::from_millis(500);
/// How often agents without a connection are looked for.
const SWEEP: Duration = Duration::from_secs(1);

/// Aborts the task when dropped: the sweep ends with the loop that started it.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Called with each agent that has new notifications: wakes their CometD clients.
pub type Notifier = Arc<dyn Fn(i64) + Send + Sync>;

/// Called when a pass put entries in the communication queue: wakes its processor.
/// A callback rather than the processor itself, as the queue's side of the server
/// stands on routing, which stands on this.
pub type QueueWaker = Arc<dyn Fn() + Send + Sync>;

/// A handle on the loop: wake it when something changed.
#[derive(Clone)]
pub struct Offering {
    wake: Arc<Notify>,
    notifier: Notifier,
    /// Woken when a pass forwarded SMS as email into the communication queue.
    queue: QueueWaker,
}

impl Offering {
    /// A handle whose loop is not started yet ([`Offering::run`]).
    pub fn new(notifier: Notifier, queue: QueueWaker) -> Self {
        Self {
            wake: Arc::new(Notify::new()),
            notifier,
            queue,
        }
    }

    /// Asks for a pass soon. Wakes that arrive during a pass coalesce into one more.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Tells CometD that these agents have new notifications.
    pub fn notified(&self, agents: &[i64]) {
        for agent in agents {
            (self.notifier)(*agent);
        }
    }

    /// Runs passes until the task is dropped, and beside them the presence sweep.
    /// `presence_timeout`: how long a ready agent may be without a CometD connection
    /// before being made not ready (`None`: never).
    pub async fn run(self, store: Store, metrics: Metrics, presence_timeout: Option<Duration>) {
        // The sweep runs on its own: its write never delays an offer.
        let _sweep = presence_timeout.map(|timeout| {
            let (offering, store) = (self.clone(), store.clone());
            AbortOnDrop(tokio::spawn(async move {
                offering.sweep_absent(store, timeout).await
            }))
        });
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(TICK) => {}
            }
            self.pass(&store, &metrics).await;
        }
    }

    /// Once a second, makes agents without a live CometD connection or session not
    /// ready.
    async fn sweep_absent(self, store: Store, timeout: Duration) {
        let mut every = tokio::time::interval(SWEEP);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let now = now_ms();
            let cutoff = now - i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
            match store.not_ready_when_absent(cutoff, now).await {
                Ok(agents) if !agents.is_empty() => {
                    tracing::info!(
                        ?agents,
                        "agents without a CometD connection or a live session made not ready"
                    );
                    self.notified(&agents);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "presence sweep failed"),
            }
        }
    }

    async fn pass(&self, store: &Store, metrics: &Metrics) {
        let started = Instant::now();
        let span = tracing::debug_span!("offering_pass");
        match store.offer_waiting(now_ms()).instrument(span).await {
            Ok(pass) => {
                metrics.offering_pass(pass.offered.len(), pass.revoked.len(), started.elapsed());
                for (interaction, agent) in &pass.offered {
                    tracing::info!(interaction, agent, "offered");
                }
                for (interaction, agent) in &pass.revoked {
                    tracing::info!(interaction, agent, "offer revoked");
                }
                for (interaction, agent, entry) in &pass.emailed {
                    tracing::info!(interaction, agent, entry, "SMS forwarded as email");
                }
                if !pass.emailed.is_empty() {
                    (self.queue)();
                }
                // What ran out is waiting again: offered by the next pass, at once.
                if !pass.revoked.is_empty() {
                    self.wake();
                }
                self.notified(&pass.notified);
            }
            // The next tick tries again; nothing was half-done (one transaction).
            Err(e) => tracing::warn!(error = %e, "offering pass failed"),
        }
    }
}

//! Processing Pending queue entries (seed 000's tables): the [`Processor`] claims due
//! entries, applies [`rules::plan`], and hands them to the SMTP sender, the SMS gateway
//! plugin or the external system's plugin. A background worker runs it continuously;
//! the API runs it for one entry or for all on demand.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;
use tracing::field::Empty;

use super::email;
use super::sms::{self, Attempt};
use crate::domain::channel::Channel;
use crate::domain::email::thread;
use crate::domain::queue::rate::{self, Slot};
use crate::domain::queue::rules::{self, Enabled, Plan};
use crate::domain::queue::settings::{EmailSettings, SmsSettings};
use crate::domain::queue::{EntryRecord, LifeCycleState, ProcessOutcome, Settlement, TextStatus};
use crate::metrics::Metrics;
use crate::routing::env::BatchKv;
use crate::runtime::host::{KvChanges, NoStaffing};
use crate::runtime::{HostEnv, Limits, Plugin, Runtime, Settings, World};
use crate::sandbox;
use crate::store::queue::{ClaimScope, Claimed, SendTurn, SentTurn};
use crate::store::{Backend, Store, StoreError};

/// How many entries are handled at once: sends wait on the network, so many can be
/// in flight, but each holds a claim that must not run out while it waits its turn.
const IN_FLIGHT: usize = 128;
/// A claim on an entry that is not being sent yet (rules, scheduling, plugins). Short,
/// because a live node renews its claims every [`HEARTBEAT`]: a node that dies loses
/// its entries to the others this soon after its last renewal.
pub const CLAIM_MS: i64 = 5_000;
/// How often a node renews the claims it holds.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// The longest an entry whose plugin built its request waits, still claimed, for its
/// sending number's turn; a longer wait puts it back in the queue.
const MAX_TURN_WAIT_MS: i64 = 3_000;
/// How often the worker looks for due entries when nothing wakes it sooner.
const IDLE_POLL: Duration = Duration::from_secs(1);

/// The least time between two requests of one number leaving the host, measured right
/// before each is written (after its plugin built it): seed 001's second, plus a margin
/// for the jitter between writing a request and its arrival, so that the gateway, too,
/// never sees two texts of a number within one second.
const GATE_MS: i64 = rate::INTERVAL_MS + 50;

/// The error code of an entry whose plugin's stored settings are invalid.
pub const INVALID_SETTINGS: &str = "INVALID-SETTINGS";

/// Who settles entries, in their log information.
const BY: &str = "queue processor";

/// The queue's processing, shared by the background worker and the API.
#[derive(Clone)]
pub struct Processor {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    runtime: Arc<Runtime>,
    limits: Limits,
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    wake: Notify,
    metrics: Metrics,
    /// The claims this node holds and is working on (entry number, claim token): what
    /// the heartbeat renews.
    held: std::sync::Mutex<HashMap<i64, String>>,
}

/// What a "process" call did, for the API's answer.
#[derive(Debug, Default, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Summary {
    /// Entries claimed and handled by this call.
    pub processed: usize,
    /// How many of them ended in each text status (waiting ones are `queued`).
    pub statuses: HashMap<TextStatus, usize>,
}

/// Why the API could not process one entry now.
#[derive(Debug, thiserror::Error)]
pub enum NotProcessed {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Conflict(String),
}

impl Processor {
    pub fn new(store: Store, runtime: Arc<Runtime>, limits: Limits, metrics: Metrics) -> Self {
        let http = reqwest::Client::builder()
            .user_agent(concat!("switchyard/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("the HTTP client builds with its defaults");
        let inner = Arc::new(Inner {
            store,
            runtime,
            limits,
            http,
            permits: Arc::new(Semaphore::new(IN_FLIGHT)),
            wake: Notify::new(),
            metrics,
            held: std::sync::Mutex::default(),
        });
        tokio::spawn(heartbeat(Arc::downgrade(&inner)));
        Self { inner }
    }

    fn hold(&self, claimed: &[Claimed]) {
        let mut held = self.inner.held.lock().expect("held claims");
        for c in claimed {
            held.insert(c.entry.number, c.token.clone());
        }
    }

    fn let_go(&self, numbers: impl IntoIterator<Item = i64>) {
        let mut held = self.inner.held.lock().expect("held claims");
        for number in numbers {
            held.remove(&number);
        }
    }

    /// Tells the worker there is new work (an entry was created or settings changed).
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Processes one Pending entry now and returns it as it is afterwards.
    pub async fn process_one(&self, number: i64) -> Result<EntryRecord, NotProcessed> {
        let scope = ClaimScope {
            number: Some(number),
            up_to: None,
            ignore_leases: false,
        };
        let (claimed, tasks) = self.pass(scope, 1).await?;
        if claimed == 0 {
            let entry = self.inner.store.entry(number).await?;
            return Err(NotProcessed::Conflict(
                why_not(&entry, &self.inner.store).await,
            ));
        }
        for task in tasks {
            let _ = task.await;
        }
        Ok(self.inner.store.entry(number).await?)
    }

    /// Processes every entry that was Pending and due when the call began, and waits
    /// until each is settled or waiting for its rate-limit slot.
    pub async fn process_all(&self) -> Result<Summary, StoreError> {
        let up_to = self.inner.store.last_entry_number().await?;
        let mut numbers = Vec::new();
        loop {
            let scope = ClaimScope {
                number: None,
                up_to: Some(up_to),
                ignore_leases: false,
            };
            let room = self.inner.permits.available_permits().max(1);
            let (claimed, tasks) = self.pass_numbers(scope, room as i64).await?;
            if claimed.is_empty() {
                break;
            }
            numbers.extend(claimed);
            for task in tasks {
                let _ = task.await;
            }
        }
        let mut summary = Summary {
            processed: numbers.len(),
            ..Summary::default()
        };
        for number in numbers {
            let entry = self.inner.store.entry(number).await?;
            *summary.statuses.entry(entry.status).or_default() += 1;
        }
        Ok(summary)
    }

    async fn pass(
        &self,
        scope: ClaimScope,
        limit: i64,
    ) -> Result<(usize, Vec<JoinHandle<()>>), StoreError> {
        let (numbers, tasks) = self.pass_numbers(scope, limit).await?;
        Ok((numbers.len(), tasks))
    }

    /// Claims up to `limit` due entries and starts handling each; returns their
    /// numbers and the tasks sending them.
    async fn pass_numbers(
        &self,
        scope: ClaimScope,
        limit: i64,
    ) -> Result<(Vec<i64>, Vec<JoinHandle<()>>), StoreError> {
        let store = &self.inner.store;
        let claimed = store.claim_due(scope, CLAIM_MS, limit).await?;
        if claimed.is_empty() {
            return Ok((Vec::new(), Vec::new()));
        }
        self.hold(&claimed);
        // Whatever is not handed to a task below is let go of when this pass ends.
        let mut unhandled = Unhandled {
            processor: self.clone(),
            numbers: claimed.iter().map(|c| c.entry.number).collect(),
        };
        let numbers: Vec<i64> = claimed.iter().map(|c| c.entry.number).collect();
        let email = store.email_settings().await?;
        let sms = store.sms_settings().await?;
        let enabled = Enabled {
            email: email.enabled,
            sms: sms.enabled,
        };
        let settings = Arc::new((email, sms));
        // SMS without a slot get one first, all together and in number order.
        let (unscheduled, ready): (Vec<Claimed>, Vec<Claimed>) =
            claimed.into_iter().partition(|c| {
                c.entry.send_at.is_none() && plan_of(&c.entry, enabled) == Plan::SendSms
            });
        let slots = store
            .schedule_sms(&unscheduled, settings.1.max_wait_seconds as i64 * 1_000)
            .await?;
        let mut due = ready;
        for (claimed, slot) in unscheduled.into_iter().zip(slots) {
            match slot {
                Slot::At(at) if at <= crate::store::now_ms() => due.push(claimed),
                Slot::At(_) => {}
                Slot::TooLate(at) => {
                    let settlement = Settlement::rejected(
                        TextStatus::Unsent,
                        "RATE-LIMIT-WAIT",
                        rate::too_late(
                            &claimed.entry.communication.sender,
                            at - claimed.entry.log.created_at,
                            settings.1.max_wait_seconds,
                        ),
                    );
                    self.settle(&claimed, &settlement, None).await;
                }
            }
        }
        due.sort_by_key(|c| c.entry.number);
        // One task per sending number for SMS, taking its texts one after the other in
        // queue order; every other entry has a task of its own.
        let mut groups: Vec<Vec<Claimed>> = Vec::new();
        let mut by_sender: HashMap<String, usize> = HashMap::new();
        for claimed in due {
            unhandled.numbers.retain(|n| *n != claimed.entry.number);
            if plan_of(&claimed.entry, enabled) != Plan::SendSms {
                groups.push(vec![claimed]);
                continue;
            }
            let sender = claimed.entry.communication.sender.clone();
            match by_sender.get(&sender) {
                Some(&i) => groups[i].push(claimed),
                None => {
                    by_sender.insert(sender, groups.len());
                    groups.push(vec![claimed]);
                }
            }
        }
        drop(unhandled);
        let mut tasks = Vec::with_capacity(groups.len());
        for group in groups {
            let permit = self
                .inner
                .permits
                .clone()
                .acquire_many_owned(group.len() as u32)
                .await
                .expect("the semaphore is never closed");
            let (this, settings) = (self.clone(), settings.clone());
            tasks.push(tokio::spawn(async move {
                let mut guard = Unhandled {
                    processor: this.clone(),
                    numbers: group.iter().map(|c| c.entry.number).collect(),
                };
                for claimed in group {
                    let entry = &claimed.entry;
                    let number = entry.number;
                    let span = tracing::info_span!(
                        "queue_entry",
                        entry = number,
                        media = entry.communication.media.as_str(),
                        external_system = entry.external_system.as_deref(),
                    );
                    this.handle(claimed, &settings.0, &settings.1)
                        .instrument(span)
                        .await;
                    this.let_go([number]);
                    guard.numbers.retain(|n| *n != number);
                }
                drop(permit);
            }));
        }
        Ok((numbers, tasks))
    }

    /// Processes one claimed, due entry by seed 000's tables.
    async fn handle(&self, claimed: Claimed, email: &EmailSettings, sms: &SmsSettings) {
        let enabled = Enabled {
            email: email.enabled,
            sms: sms.enabled,
        };
        match plan_of(&claimed.entry, enabled) {
            Plan::Reject(why) => {
                let settlement =
                    Settlement::rejected(TextStatus::Unsent, why.code(), why.description());
                self.settle(&claimed, &settlement, None).await;
            }
            Plan::SendEmail => self.send_email(&claimed, email).await,
            Plan::SendSms => self.send_sms(&claimed, sms).await,
            Plan::External => self.run_external(&claimed).await,
        }
    }

    async fn settle(
        &self,
        claimed: &Claimed,
        settlement: &Settlement,
        kv: Option<(String, KvChanges)>,
    ) {
        self.settle_sent(claimed, settlement, kv, None).await
    }

    /// [`Processor::settle`] recording when the entry's last request left.
    async fn settle_sent(
        &self,
        claimed: &Claimed,
        settlement: &Settlement,
        kv: Option<(String, KvChanges)>,
        sent: Option<SentTurn>,
    ) {
        let kv = kv.filter(|(_, changes)| !changes.is_empty());
        match self
            .inner
            .store
            .settle_entry(
                claimed.entry.number,
                &claimed.token,
                settlement,
                BY,
                kv,
                sent.as_ref(),
            )
            .await
        {
            Ok(true) => {
                self.inner
                    .metrics
                    .settled(claimed.entry.communication.media, settlement.status);
                // The number's next text may have waited for this one.
                self.wake();
            }
            Ok(false) => tracing::warn!(
                entry = claimed.entry.number,
                "the entry's claim was lost before it was settled; its new holder settles it"
            ),
            // The claim runs out and the entry is processed again; for SMS the gateway
            // sees the same idempotency key.
            Err(e) => tracing::error!(
                entry = claimed.entry.number,
                error = %e,
                "cannot settle a queue entry; it is retried when its claim runs out"
            ),
        }
    }

    async fn mark_sending(
        &self,
        claimed: &Claimed,
        attempt: u32,
        lease_ms: i64,
        detail: &str,
    ) -> bool {
        match self
            .inner
            .store
            .mark_sending(claimed, attempt, lease_ms, detail)
            .await
        {
            Ok(held) => held,
            Err(e) => {
                tracing::error!(entry = claimed.entry.number, error = %e, "cannot mark an entry as sending");
                false
            }
        }
    }

    /// Takes the sender's turn and marks the entry as sending, waiting (still claimed)
    /// for a turn that comes soon; an entry whose turn is further off is put back to
    /// wait for it. False when it is not to be sent now.
    async fn begin_sending(
        &self,
        claimed: &Claimed,
        attempt: u32,
        lease_ms: i64,
        detail: &str,
    ) -> bool {
        let store = &self.inner.store;
        loop {
            match store
                .begin_sending(claimed, GATE_MS, attempt, lease_ms, detail)
                .await
            {
                Ok(SendTurn::Go) => return true,
                Ok(SendTurn::Lost) => return false,
                Ok(SendTurn::WaitUntil(at)) => {
                    let wait = at - crate::store::now_ms();
                    if wait <= MAX_TURN_WAIT_MS {
                        tokio::time::sleep(Duration::from_millis(wait.max(1) as u64)).await;
                        continue;
                    }
                    if let Err(e) = store.postpone(claimed, at).await {
                        tracing::error!(entry = claimed.entry.number, error = %e, "cannot postpone an entry");
                    }
                    return false;
                }
                Err(e) => {
                    // The claim runs out and the entry is tried again.
                    tracing::error!(entry = claimed.entry.number, error = %e, "cannot start sending an entry");
                    return false;
                }
            }
        }
    }

    async fn send_email(&self, claimed: &Claimed, settings: &EmailSettings) {
        let entry = &claimed.entry;
        // An answer to an inbound email carries its thread; a store error only loses
        // the threading, not the mail.
        let thread = match entry.inbound_message_id {
            Some(id) => self.inner.store.email_thread(id).await.unwrap_or_else(|e| {
                tracing::warn!(entry = entry.number, error = %e, "cannot read the thread of the email answered");
                None
            }),
            None => None,
        };
        let thread = thread.map(|(id, references)| thread::reply_headers(&id, &references));
        // Attachments an agent linked: without them the mail is not the one they sent,
        // so a store error leaves the entry for a later try.
        let attachments = match self.inner.store.entry_attachments(entry.number).await {
            Ok(attachments) => attachments,
            Err(e) => {
                tracing::error!(entry = entry.number, error = %e, "cannot read the entry's attachments");
                return;
            }
        };
        let (transport, message) = match email::transport(settings)
            .and_then(|t| Ok((t, email::message(entry, settings, thread, &attachments)?)))
        {
            Ok(both) => both,
            Err(e) => {
                let settlement = Settlement::rejected(TextStatus::Failed, &e.code, e.description);
                return self.settle(claimed, &settlement, None).await;
            }
        };
        let per_try = settings.timeout_seconds as i64 * 1_000;
        let mut attempt = entry.attempts;
        loop {
            attempt += 1;
            let lease = per_try * 3 + 30_000;
            let detail = format!("to {}:{} (attempt {attempt})", settings.host, settings.port);
            if !self.mark_sending(claimed, attempt, lease, &detail).await {
                return;
            }
            let started = Instant::now();
            let sent = email::send(&transport, message.clone()).await;
            self.inner
                .metrics
                .send_attempt(Channel::Email, started.elapsed());
            match sent {
                Ok(reply) => {
                    let settlement = Settlement::completed(TextStatus::Sent, Some(reply));
                    return self.settle(claimed, &settlement, None).await;
                }
                Err(e) if e.transient && attempt < settings.max_attempts => {
                    tracing::warn!(entry = entry.number, code = %e.code, "email not sent yet: {}", e.description);
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(e) => {
                    let status = if e.answered {
                        TextStatus::Failed
                    } else {
                        TextStatus::Unsent
                    };
                    let description = if attempt > 1 {
                        format!("{} (after {attempt} attempts)", e.description)
                    } else {
                        e.description
                    };
                    let settlement = Settlement::rejected(status, &e.code, description);
                    return self.settle(claimed, &settlement, None).await;
                }
            }
        }
    }

    async fn send_sms(&self, claimed: &Claimed, settings: &SmsSettings) {
        let entry = &claimed.entry;
        let hash = settings
            .gateway_plugin
            .clone()
            .expect("enabled SMS settings name a gateway plugin");
        let plugin = match self.plugin(&hash, World::Gateway).await {
            Ok(plugin) => plugin,
            Err(description) => {
                let settlement =
                    Settlement::rejected(TextStatus::Unsent, "PLUGIN-LOAD", description);
                return self.settle(claimed, &settlement, None).await;
            }
        };
        let env = match self.env(
            &settings.settings,
            "gateway".into(),
            format!("gateway={}", &hash[..12.min(hash.len())]),
        ) {
            Ok(env) => env,
            Err(problem) => {
                let description =
                    format!("the SMS settings' gateway plugin settings are invalid: {problem}");
                return self.misconfigured(claimed, description).await;
            }
        };
        let timeout = Duration::from_secs(settings.timeout_seconds);
        let queue_entry = entry.to_queue_entry();
        let mut kv = KvChanges::default();
        let mut attempt = entry.attempts;
        // When this entry's previous request left, for the spacing of retries.
        let mut left_before: Option<i64> = None;
        loop {
            attempt += 1;
            let (limits, metrics) = (&self.inner.limits, &self.inner.metrics);
            let built = sms::build(&plugin, &env, limits, &queue_entry, &mut kv, metrics).await;
            let request = match built {
                Ok(request) => request,
                Err(failed) => {
                    let settlement = settlement_of(failed, attempt, settings.max_attempts)
                        .expect("building a request is never retried");
                    return self
                        .settle_sent(claimed, &settlement, Some(("gateway".into(), kv)), None)
                        .await;
                }
            };
            // Long enough for one request and its answer; renewed for every attempt.
            // A node that dies mid-request loses the entry to another (or to its own
            // restart) this soon after, and the resend carries the same key.
            let lease = settings.timeout_seconds as i64 * 1_000 + 5_000;
            let detail = format!("to the gateway (attempt {attempt})");
            let held = match left_before {
                // The first attempt takes the sender's turn, once its request is built.
                None => self.begin_sending(claimed, attempt, lease, &detail).await,
                // Retries keep the turn, and its spacing.
                Some(left) => {
                    let wait = left + GATE_MS - crate::store::now_ms();
                    if wait > 0 {
                        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
                    }
                    self.mark_sending(claimed, attempt, lease, &detail).await
                }
            };
            if !held {
                return;
            }
            // The moment the request leaves, as near the socket as the host sees it:
            // the number's next text is spaced from here.
            let left = crate::store::now_ms();
            left_before = Some(left);
            let outcome = sms::deliver(
                &self.inner.http,
                &plugin,
                &env,
                limits,
                &queue_entry,
                &request,
                timeout,
                &mut kv,
                metrics,
            )
            .await;
            let Some(settlement) = settlement_of(outcome, attempt, settings.max_attempts) else {
                tokio::time::sleep(backoff(attempt)).await;
                continue;
            };
            let sent = SentTurn {
                sender: entry.communication.sender.clone(),
                next_at: left + GATE_MS,
            };
            return self
                .settle_sent(
                    claimed,
                    &settlement,
                    Some(("gateway".into(), kv)),
                    Some(sent),
                )
                .await;
        }
    }

    /// Hands a DEVICE (or any) entry to its external system's plugin.
    async fn run_external(&self, claimed: &Claimed) {
        let entry = &claimed.entry;
        let name = entry
            .external_system
            .clone()
            .expect("External plans name a system");
        let system = match self.inner.store.external_system(&name).await {
            Ok(system) => system,
            Err(e) => {
                let settlement =
                    Settlement::rejected(TextStatus::Unsent, "EXTERNAL-SYSTEM", e.to_string());
                return self.settle(claimed, &settlement, None).await;
            }
        };
        let Some(hash) = system.plugin.clone() else {
            // A third party's entry: claimed only by mistake (its kind changed). Leave it.
            let _ = self
                .inner
                .store
                .release_entry(entry.number, &claimed.token)
                .await;
            return;
        };
        let detail = format!("processing by external system {name}");
        if !self
            .mark_sending(claimed, entry.attempts + 1, CLAIM_MS, &detail)
            .await
        {
            return;
        }
        let plugin = match self.plugin(&hash, World::ExternalSystem).await {
            Ok(plugin) => plugin,
            Err(description) => {
                let settlement =
                    Settlement::rejected(TextStatus::Unsent, "PLUGIN-LOAD", description);
                return self.settle(claimed, &settlement, None).await;
            }
        };
        let scope = format!("external-system:{name}");
        let env = match self.env(
            &system.settings,
            scope.clone(),
            format!("external-system={name}"),
        ) {
            Ok(env) => env,
            Err(problem) => {
                let description =
                    format!("external system `{name}` has invalid plugin settings: {problem}");
                return self.misconfigured(claimed, description).await;
            }
        };
        let (limits, queue_entry) = (self.inner.limits, entry.to_queue_entry());
        // Created here, inside the entry's span, so the plugin's log lines carry the
        // entry number; a task of its own, so a panic is this entry's failure only.
        let span = tracing::info_span!(
            "plugin",
            world = World::ExternalSystem.name(),
            plugin = %hash,
            entry = entry.number,
            outcome = Empty,
            error_kind = Empty,
        );
        let metrics = self.inner.metrics.clone();
        let ran = tokio::spawn(async move {
            let call = sandbox::process(&plugin, &env, &limits, &queue_entry);
            metrics.invoke(World::ExternalSystem, &span, call).await
        })
        .await;
        let (settlement, kv) = match ran {
            Ok(Ok(invocation)) => (
                match invocation.value {
                    ProcessOutcome::Completed(note) => {
                        Settlement::completed(TextStatus::Sent, note)
                    }
                    ProcessOutcome::Rejected(e) => {
                        Settlement::rejected(TextStatus::Failed, &e.code, e.description)
                    }
                },
                Some((scope, invocation.kv_changes)),
            ),
            Ok(Err(e)) => (
                Settlement::rejected(
                    TextStatus::Failed,
                    &format!("PLUGIN-{}", e.kind().to_uppercase()),
                    format!("external system {name}'s plugin failed: {e}"),
                ),
                None,
            ),
            Err(join) => (
                Settlement::rejected(TextStatus::Failed, "PLUGIN-PANICKED", join.to_string()),
                None,
            ),
        };
        self.settle(claimed, &settlement, kv).await;
    }

    /// Stored plugin settings the runtime cannot hand to the plugin (edited in the
    /// database, or stored before they were checked): the entry is rejected with a
    /// configuration error rather than sent with other settings, and an admin is told
    /// in the log, since every entry will fail the same way until the settings change.
    async fn misconfigured(&self, claimed: &Claimed, description: String) {
        tracing::error!(entry = claimed.entry.number, "{description}");
        let settlement = Settlement::rejected(TextStatus::Unsent, INVALID_SETTINGS, description);
        self.settle(claimed, &settlement, None).await;
    }

    /// The plugin with content hash `hash`, loaded from the store if this host has not
    /// loaded it yet.
    async fn plugin(&self, hash: &str, world: World) -> Result<Arc<Plugin>, String> {
        if let Some(plugin) = self.inner.runtime.loaded(hash) {
            return Ok(plugin);
        }
        let bytes = self
            .inner
            .store
            .queue_plugin_component(hash)
            .await
            .map_err(|e| format!("cannot read plugin {hash}: {e}"))?;
        let runtime = self.inner.runtime.clone();
        tokio::task::spawn_blocking(move || runtime.load_as(&bytes, world))
            .await
            .map_err(|e| format!("loading plugin {hash} panicked: {e}"))?
            .map_err(|e| format!("plugin {hash} does not load: {e}"))
    }

    fn env(
        &self,
        settings: &serde_json::Value,
        kv_scope: String,
        label: String,
    ) -> Result<HostEnv, String> {
        let settings = Settings::from_value(settings.clone()).map_err(|e| e.to_string())?;
        Ok(HostEnv {
            settings: Arc::new(settings),
            kv: Arc::new(BatchKv::new(self.inner.store.clone())),
            kv_scope,
            staffing: Arc::new(NoStaffing),
            label,
        })
    }
}

/// How an SMS attempt settles its entry; `None` when it is to be tried again.
fn settlement_of(outcome: Attempt, attempt: u32, max_attempts: u32) -> Option<Settlement> {
    Some(match outcome {
        Attempt::Sent(reference) => {
            let mut s = Settlement::completed(
                TextStatus::Sent,
                reference.as_ref().map(|r| format!("gateway reference {r}")),
            );
            s.gateway_reference = reference;
            s
        }
        Attempt::Refused(e) => Settlement::rejected(TextStatus::Failed, &e.code, e.description),
        Attempt::Broken(e) => Settlement::rejected(TextStatus::Unsent, &e.code, e.description),
        Attempt::Retry(e) if attempt < max_attempts => {
            tracing::warn!(code = %e.code, "SMS not sent yet: {}", e.description);
            return None;
        }
        Attempt::Retry(e) => Settlement::rejected(
            TextStatus::Unsent,
            &e.code,
            format!("{} (gave up after {attempt} attempts)", e.description),
        ),
    })
}

/// Claims taken by a pass that no task handles (any more): let go of when dropped, so
/// the heartbeat stops renewing them even if a task panicked.
struct Unhandled {
    processor: Processor,
    numbers: Vec<i64>,
}

impl Drop for Unhandled {
    fn drop(&mut self) {
        self.processor.let_go(self.numbers.drain(..));
    }
}

/// Renews the claims the node holds every [`HEARTBEAT`], until the processor is gone.
async fn heartbeat(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        let held: Vec<(i64, String)> = inner
            .held
            .lock()
            .expect("held claims")
            .iter()
            .map(|(n, t)| (*n, t.clone()))
            .collect();
        if held.is_empty() {
            continue;
        }
        match inner.store.renew_claims(&held, CLAIM_MS).await {
            Ok(renewed) => inner.metrics.claims_renewed(renewed),
            // The claims run out after CLAIM_MS; another node may take the entries (the
            // holder's settlement is then refused, and a resent SMS keeps its key).
            Err(e) => {
                tracing::warn!(error = %e, held = held.len(), "cannot renew the queue's claims")
            }
        }
    }
}

fn plan_of(entry: &EntryRecord, enabled: Enabled) -> Plan {
    rules::plan(
        &entry.communication,
        entry.external_system.as_deref(),
        enabled,
    )
}

/// 0.5 s, 1 s, 2 s, ... at most 8 s between attempts.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 << attempt.saturating_sub(1).min(4))
}

/// Why `entry` was not claimed for processing, in words for the API.
async fn why_not(entry: &EntryRecord, store: &Store) -> String {
    let number = entry.number;
    if entry.state != LifeCycleState::Pending {
        return format!(
            "queue entry {number} is {}; only pending entries are processed",
            entry.state.as_str()
        );
    }
    if let Some(system) = &entry.external_system
        && let Ok(s) = store.external_system(system).await
        && s.plugin.is_none()
    {
        return format!(
            "queue entry {number} is processed by the third-party system `{system}` \
             through the web API"
        );
    }
    if let Some(at) = entry.send_at.filter(|at| *at > crate::store::now_ms()) {
        return format!(
            "queue entry {number} is queued behind its sending number's rate limit until {at} \
             (ms since the epoch)"
        );
    }
    if entry.communication.media == Channel::Sms && entry.claimed_until.is_none() {
        return format!(
            "queue entry {number} waits behind an earlier text of {}, which is being \
             sent; texts of a number go out in queue order",
            entry.communication.sender
        );
    }
    format!("queue entry {number} is being processed right now")
}

/// The background worker: processes due entries as they come, until stopped.
pub struct Worker {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    permits: Arc<Semaphore>,
}

impl Worker {
    pub fn start(processor: Processor, backend: Backend) -> Self {
        let (stop, mut stopped) = watch::channel(false);
        let permits = processor.inner.permits.clone();
        let task = tokio::spawn(async move {
            // A single SQLite node knows any claim in the file is its own from before a
            // crash; on PostgreSQL another node may hold them, so they must run out.
            let mut ignore_leases = backend == Backend::Sqlite;
            loop {
                if *stopped.borrow() {
                    return;
                }
                let room = processor.inner.permits.available_permits() as i64;
                let scope = ClaimScope {
                    number: None,
                    up_to: None,
                    ignore_leases,
                };
                let claimed = if room == 0 {
                    0
                } else {
                    match processor.pass(scope, room).await {
                        Ok((claimed, _tasks)) => claimed,
                        Err(e) => {
                            tracing::error!(error = %e, "the queue worker cannot claim entries");
                            0
                        }
                    }
                };
                ignore_leases = false;
                if claimed as i64 == room && room > 0 {
                    continue;
                }
                let wait = match processor.inner.store.next_slot().await {
                    Ok(Some(at)) => {
                        let ms =
                            (at - crate::store::now_ms()).clamp(5, IDLE_POLL.as_millis() as i64);
                        Duration::from_millis(ms as u64)
                    }
                    _ => IDLE_POLL,
                };
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = processor.inner.wake.notified() => {}
                    _ = stopped.changed() => {}
                }
            }
        });
        Self {
            stop,
            task,
            permits,
        }
    }

    /// Stops claiming and waits up to `grace` for the entries being sent. Entries still
    /// unsettled keep their claims, which run out, and are sent again (with the same
    /// idempotency key) by the next worker.
    pub async fn shutdown(self, grace: Duration) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
        let all = self.permits.acquire_many(IN_FLIGHT as u32);
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(
                "queue entries still sending after {grace:?}; they are resent on restart"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(2));
        assert_eq!(backoff(9), Duration::from_secs(8));
    }
}

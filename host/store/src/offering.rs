//! Offering waiting interactions to agents and the agents' operations on what they hold,
//! each in one transaction that also stores the notifications it causes, so what an
//! agent is told and what is stored never disagree. Capacity and single offering hold
//! across nodes: every change that adds to an agent's load runs under one lock
//! (SQLite's single writer; a transaction-scoped advisory lock on PostgreSQL), and
//! every change re-reads the interaction's state inside its transaction.

use std::collections::{HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::interactions::{INTERACTION_COLUMNS, INTERACTION_FROM, interaction_from_row};
use super::messages::{Style, list};
use super::queue::insert_entry;
use super::{Backend, Store, StoreError};
use switchyard_domain::agents::status::agent_channel;
use switchyard_domain::channel::Channel;
use switchyard_domain::conversations::ConversationStatus;
use switchyard_domain::interactions::forwarding::{forwarded_body, forwarded_subject};
use switchyard_domain::interactions::notifications::{Notified, state_message};
use switchyard_domain::interactions::offering::{
    Candidate, Waiting, offer_runs_out_at, plan_offers,
};
use switchyard_domain::interactions::operations::{
    Draft, MAX_DRAFT_ATTACHMENTS, Operation, check, edited_text, merged_user_data, new_draft,
};
use switchyard_domain::interactions::{Interaction, InteractionState};
use switchyard_domain::queue::Direction;
use switchyard_domain::queue::communication::{CommunicationInput, NewEntry, accept};
use switchyard_domain::queue::settings::{EmailSettings, SmsSettings};

/// The PostgreSQL advisory lock that serialises changes adding to agents' load.
const OFFERING_LOCK: i64 = 0x0053_594f_4646_4552;

/// The PostgreSQL channel other nodes listen on: its payload is the comma-separated
/// ids of agents with new notifications.
pub const AGENTS_NOTIFY_CHANNEL: &str = "switchyard_agents";

/// The most queued interactions one offering pass considers.
const PASS_LIMIT: i64 = 2_000;

/// How many more members than there is waiting work a pass reads per group: members of
/// several groups may be taken by another group's work in the same pass. Whatever a
/// short list leaves waiting goes in the next pass.
const SHARED_MEMBERS_MARGIN: usize = 16;

/// What one offering pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OfferPass {
    /// (interaction, agent) pairs offered.
    pub offered: Vec<(i64, i64)>,
    /// (interaction, agent) pairs whose offer ran out or whose agent left.
    pub revoked: Vec<(i64, i64)>,
    /// Agents with new notifications.
    pub notified: Vec<i64>,
    /// (interaction, agent, queue entry): SMS forwarded by email to agents who take
    /// SMS that way (seed 002's user setting).
    pub emailed: Vec<(i64, i64, i64)>,
}

/// An agent's operation as the store applies it: checked against the interaction's
/// capabilities inside the transaction.
#[derive(Debug, Clone)]
pub enum Change {
    Accept,
    Reject,
    Reply {
        all: bool,
    },
    /// Sends the draft as `entry` (built by the caller from the draft and the queue's
    /// rules); `text` is the draft's text it was built from, which must still be the
    /// stored one.
    Send {
        entry: Box<NewEntry>,
        text: String,
    },
    Cancel,
    TransferToGroup(i64),
    TransferToAgent(i64),
    StopProcessing,
    PlaceInQueue(Option<i64>),
    PlaceInWorkbin(String),
    PullFromWorkbin,
    UpdateProperties {
        user_data: Option<serde_json::Value>,
        text: Option<String>,
    },
    /// Links attachment `0` of the interaction's email to the draft.
    LinkAttachment(i64),
}

impl Change {
    pub fn operation(&self) -> Operation {
        match self {
            Self::Accept => Operation::Accept,
            Self::Reject => Operation::Reject,
            Self::Reply { all: false } => Operation::Reply,
            Self::Reply { all: true } => Operation::ReplyAll,
            Self::Send { .. } => Operation::Send,
            Self::Cancel => Operation::Cancel,
            Self::TransferToGroup(_) | Self::TransferToAgent(_) => Operation::Transfer,
            Self::StopProcessing => Operation::StopProcessing,
            Self::PlaceInQueue(_) => Operation::PlaceInQueue,
            Self::PlaceInWorkbin(_) => Operation::PlaceInWorkbin,
            Self::PullFromWorkbin => Operation::PullFromWorkbin,
            Self::UpdateProperties { .. } => Operation::UpdateProperties,
            Self::LinkAttachment(_) => Operation::LinkAttachment,
        }
    }
}

/// What an operation did.
#[derive(Debug, Clone)]
pub struct Operated {
    /// The interaction afterwards, as its (former) agent now sees it.
    pub interaction: Interaction,
    /// Agents with new notifications.
    pub notified: Vec<i64>,
    /// Whether it put work back to be offered or freed capacity: offering should run.
    pub offer_again: bool,
    /// The queue entry Send created.
    pub entry: Option<i64>,
}

/// One notification to store: for `agent`, about the interaction as re-read after the
/// change.
struct Pending {
    agent: i64,
    interaction: i64,
    notified: Notified,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

/// Takes the offering lock for the rest of the transaction (PostgreSQL; on SQLite the
/// write transaction already excludes every other writer).
async fn lock_offering(conn: &mut AnyConnection, backend: Backend) -> Result<(), StoreError> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(OFFERING_LOCK)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn interactions_by_id(
    conn: &mut AnyConnection,
    style: Style,
    ids: &[i64],
) -> Result<HashMap<i64, Interaction>, StoreError> {
    let mut found = HashMap::new();
    for chunk in ids.chunks(500) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTERACTION_COLUMNS} FROM {INTERACTION_FROM} WHERE i.id IN ({})",
            list(style, 1, chunk.len())
        )));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            let i = interaction_from_row(&row)?;
            found.insert(i.id, i);
        }
    }
    Ok(found)
}

/// Stores `pending` notifications, in order, each with the interaction as it is now,
/// and on PostgreSQL tells the other nodes which agents have news (delivered at
/// commit). Returns the agents notified.
async fn notify(
    conn: &mut AnyConnection,
    backend: Backend,
    pending: &[Pending],
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let style = Style::of(backend);
    let ids: Vec<i64> = pending.iter().map(|p| p.interaction).collect();
    let views = interactions_by_id(conn, style, &ids).await?;
    for p in pending {
        let Some(view) = views.get(&p.interaction) else {
            continue;
        };
        let data = state_message(view, p.notified);
        sqlx::query(
            "INSERT INTO agent_notifications (agent_id, interaction_id, data, created_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(p.agent)
        .bind(p.interaction)
        .bind(data.to_string())
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    let mut agents: Vec<i64> = pending.iter().map(|p| p.agent).collect();
    agents.sort_unstable();
    agents.dedup();
    if backend == Backend::Postgres {
        let payload: Vec<String> = agents.iter().map(i64::to_string).collect();
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(AGENTS_NOTIFY_CHANNEL)
            .bind(payload.join(","))
            .execute(&mut *conn)
            .await?;
    }
    Ok(agents)
}

/// Puts interactions back in their queue, away from their agent, telling the agent
/// Revoked; `passed` also records that the agent passed on each.
async fn requeue(
    conn: &mut AnyConnection,
    taken: &[(i64, i64)],
    passed: bool,
    now: i64,
    pending: &mut Vec<Pending>,
) -> Result<(), StoreError> {
    for &(interaction, agent) in taken {
        let changed = sqlx::query(
            "UPDATE interactions SET state = 'queued', agent_id = NULL, offered_at = NULL, \
             workbin = NULL, draft = NULL, updated_at = $1 WHERE id = $2 AND agent_id = $3",
        )
        .bind(now)
        .bind(interaction)
        .bind(agent)
        .execute(&mut *conn)
        .await?;
        if changed.rows_affected() == 0 {
            continue;
        }
        if passed {
            sqlx::query(
                "INSERT INTO interaction_passes (interaction_id, agent_id, at) \
                 VALUES ($1, $2, $3) ON CONFLICT (interaction_id, agent_id) DO NOTHING",
            )
            .bind(interaction)
            .bind(agent)
            .bind(now)
            .execute(&mut *conn)
            .await?;
        }
        pending.push(Pending {
            agent,
            interaction,
            notified: Notified::Revoked,
        });
    }
    Ok(())
}

/// An agent's free capacity on a channel, as SQL over one `agent_channels` row `c` and
/// its agent `a`: capacity there less what they hold (offered, accepted, drafting),
/// the `held` column that triggers keep (migration 0010), so a pass never counts
/// every ready agent's interactions.
const FREE_CAPACITY: &str =
    "CASE c.channel WHEN 'sms' THEN a.capacity_sms ELSE a.capacity_email END - c.held";

/// The condition that an agent `c.agent_id` has a live session at `$1`.
const LIVE_SESSION: &str = "EXISTS (SELECT 1 FROM agent_sessions s \
     WHERE s.agent_id = c.agent_id AND s.expires_at > $1)";

/// A group and channel with at least one member able to take work now (ready there,
/// a live session, free capacity): where offering can place something.
struct OpenQueue {
    group: i64,
    channel: Channel,
    /// The free capacity of its able members, summed: the most it can take this pass.
    free: i64,
}

/// The groups and channels with members able to take work now.
async fn open_queues(conn: &mut AnyConnection, now: i64) -> Result<Vec<OpenQueue>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT ag.acd_group, r.channel, CAST(SUM(r.free) AS BIGINT) AS free FROM \
           (SELECT c.agent_id, c.channel, {FREE_CAPACITY} AS free \
            FROM agent_channels c JOIN agents a ON a.id = c.agent_id \
            WHERE c.state = 'ready' AND {LIVE_SESSION}) r \
         JOIN agent_groups ag ON ag.agent_id = r.agent_id \
         WHERE r.free > 0 GROUP BY ag.acd_group, r.channel"
    )))
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let channel: String = row.try_get("channel")?;
            Ok(OpenQueue {
                group: row.try_get("acd_group")?,
                channel: agent_channel(&channel)
                    .ok_or_else(|| corrupt("agent_channels.channel", &channel))?,
                free: row.try_get("free")?,
            })
        })
        .collect()
}

/// The `limit` members of `open`'s group able to take work on its channel now, longest
/// idle first.
async fn candidates_in(
    conn: &mut AnyConnection,
    open: &OpenQueue,
    limit: usize,
    now: i64,
) -> Result<Vec<Candidate>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT agent_id, idle_since, free FROM \
           (SELECT c.agent_id, \
              CASE WHEN c.last_offer_at > c.since THEN c.last_offer_at ELSE c.since END \
                AS idle_since, \
              {FREE_CAPACITY} AS free \
            FROM agent_groups ag \
            JOIN agent_channels c ON c.agent_id = ag.agent_id AND c.channel = $2 \
            JOIN agents a ON a.id = ag.agent_id \
            WHERE ag.acd_group = $3 AND c.state = 'ready' AND {LIVE_SESSION}) r \
         WHERE r.free > 0 ORDER BY r.idle_since, r.agent_id LIMIT $4"
    )))
    .bind(now)
    .bind(open.channel.as_str())
    .bind(open.group)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            Ok(Candidate {
                agent_id: row.try_get("agent_id")?,
                idle_since: row.try_get("idle_since")?,
                free: row.try_get("free")?,
                passed_on_it: false,
            })
        })
        .collect()
}

/// An interaction waiting for an offer, with what placing it needs.
struct Queued {
    waiting: Waiting,
    group: i64,
    channel: Channel,
    /// The group's offer timeout (`None`: the default).
    offer_timeout_ms: Option<i64>,
}

fn queued_from_row(row: &AnyRow) -> Result<Queued, StoreError> {
    let channel: String = row.try_get("channel")?;
    Ok(Queued {
        waiting: Waiting {
            interaction_id: row.try_get("id")?,
            priority: row.try_get("priority")?,
            queued_at: row.try_get("created_at")?,
        },
        group: row.try_get("acd_group")?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        offer_timeout_ms: row.try_get("offer_timeout_ms")?,
    })
}

/// The interactions waiting in `open`'s group on its channel, in offering order: as
/// many as its able members can take, at most [`PASS_LIMIT`].
async fn waiting_in(conn: &mut AnyConnection, open: &OpenQueue) -> Result<Vec<Queued>, StoreError> {
    sqlx::query(
        "SELECT i.id, i.acd_group, i.priority, i.created_at, m.channel, g.offer_timeout_ms \
         FROM interactions i JOIN inbound_messages m ON m.id = i.message_id \
         JOIN acd_groups g ON g.id = i.acd_group \
         WHERE i.state = 'queued' AND i.acd_group = $1 AND m.channel = $2 \
         ORDER BY i.priority DESC, i.created_at, i.id LIMIT $3",
    )
    .bind(open.group)
    .bind(open.channel.as_str())
    .bind(open.free.min(PASS_LIMIT))
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(queued_from_row)
    .collect()
}

/// Who passed on which of `interactions`: `(agent, interaction)`.
async fn passes_on(
    conn: &mut AnyConnection,
    style: Style,
    interactions: &[i64],
) -> Result<HashSet<(i64, i64)>, StoreError> {
    let mut passes = HashSet::new();
    for chunk in interactions.chunks(500) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT agent_id, interaction_id FROM interaction_passes \
             WHERE interaction_id IN ({})",
            list(style, 1, chunk.len())
        )));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(&mut *conn).await? {
            passes.insert((row.try_get("agent_id")?, row.try_get("interaction_id")?));
        }
    }
    Ok(passes)
}

/// Offers interaction `id` to `agent` until `runs_out_at`; `from_queue`: only if it is
/// still waiting. Returns whether it was offered.
async fn offer_to(
    conn: &mut AnyConnection,
    id: i64,
    agent: i64,
    channel: Channel,
    runs_out_at: i64,
    from_queue: bool,
    now: i64,
) -> Result<bool, StoreError> {
    let only_queued = if from_queue {
        " AND state = 'queued'"
    } else {
        ""
    };
    let changed = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE interactions SET state = 'invited', agent_id = $1, offered_at = $2, \
         offer_expires_at = $3, draft = NULL, updated_at = $2 WHERE id = $4{only_queued}"
    )))
    .bind(agent)
    .bind(now)
    .bind(runs_out_at)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE agent_channels SET last_offer_at = $1 WHERE agent_id = $2 AND channel = $3",
    )
    .bind(now)
    .bind(agent)
    .bind(channel.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(true)
}

/// Revokes the offers `agent` has not answered on `channel` (every channel: `None`),
/// putting them back in their queues with a Revoked notification each: called in the
/// transaction that makes the agent not ready, so nothing stays offered to someone who
/// left. Returns the agents notified (the agent, or nobody).
pub(crate) async fn revoke_offers_of(
    conn: &mut AnyConnection,
    backend: Backend,
    agent: i64,
    channel: Option<Channel>,
    now: i64,
) -> Result<Vec<i64>, StoreError> {
    let rows = sqlx::query(
        "SELECT i.id, m.channel FROM interactions i \
         JOIN inbound_messages m ON m.id = i.message_id \
         WHERE i.agent_id = $1 AND i.state = 'invited'",
    )
    .bind(agent)
    .fetch_all(&mut *conn)
    .await?;
    let mut offers = Vec::new();
    for row in &rows {
        let on: String = row.try_get("channel")?;
        if channel.is_none_or(|c| c.as_str() == on) {
            offers.push((row.try_get("id")?, agent));
        }
    }
    let mut pending = Vec::new();
    requeue(conn, &offers, false, now, &mut pending).await?;
    notify(conn, backend, &pending, now).await
}

/// The interaction `id` if `agent` holds it; inside a write transaction (`lock_in`)
/// locked for it on PostgreSQL.
async fn held(
    conn: &mut AnyConnection,
    lock_in: Option<Backend>,
    agent: i64,
    id: i64,
) -> Result<Interaction, StoreError> {
    let lock = match lock_in {
        Some(Backend::Postgres) => " FOR UPDATE OF i",
        _ => "",
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {INTERACTION_COLUMNS} FROM {INTERACTION_FROM} \
         WHERE i.id = $1 AND i.agent_id = $2 AND i.state <> 'completed'{lock}"
    )))
    .bind(id)
    .bind(agent)
    .fetch_optional(&mut *conn)
    .await?
    // Someone else's interaction, or one this agent no longer holds: not theirs to see.
    .ok_or_else(|| StoreError::NotFound(format!("interaction {id}")))?;
    interaction_from_row(&row)
}

/// The agents who take SMS as email, with the address.
async fn sms_by_email(conn: &mut AnyConnection) -> Result<HashMap<i64, String>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, sms_delivery_address FROM agents \
         WHERE sms_delivery = 'email' AND sms_delivery_address IS NOT NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("sms_delivery_address")?)))
        .collect()
}

/// Hands SMS interaction `id` to an agent who takes SMS as email: an email to their
/// address through the communication queue (by the queue's rules), and the interaction
/// completed as delivered, so it holds none of their capacity; they answer from their
/// mailbox. `None` (nothing written) when the queue's rules refuse the email, e.g.
/// email is not enabled.
async fn forward_by_email(
    conn: &mut AnyConnection,
    id: i64,
    agent: i64,
    address: &str,
    email: &EmailSettings,
    sms: &SmsSettings,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let Some(row) = sqlx::query(
        "SELECT i.message_id, i.subject, m.sender, m.body FROM interactions i \
         JOIN inbound_messages m ON m.id = i.message_id WHERE i.id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let subject: Option<String> = row.try_get("subject")?;
    let sender: String = row.try_get("sender")?;
    let text: String = row.try_get("body")?;
    let input = CommunicationInput {
        media: Channel::Email,
        direction: Direction::Outgoing,
        sender: None,
        recipient: address.to_owned(),
        subject: Some(forwarded_subject(subject.as_deref(), &sender)),
        body: forwarded_body(&sender, &text, id),
        external_system: None,
    };
    let Ok(mut entry) = accept(input, email, sms, "offering: SMS as email") else {
        return Ok(None);
    };
    entry.inbound_message_id = Some(row.try_get("message_id")?);
    let changed = sqlx::query(
        "UPDATE interactions SET state = 'completed', agent_id = $1, updated_at = $2 \
         WHERE id = $3 AND state = 'queued'",
    )
    .bind(agent)
    .bind(now)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() == 0 {
        return Ok(None);
    }
    let created = insert_entry(conn, &entry, now).await?;
    sqlx::query(
        "UPDATE agent_channels SET last_offer_at = $1 WHERE agent_id = $2 AND channel = 'sms'",
    )
    .bind(now)
    .bind(agent)
    .execute(&mut *conn)
    .await?;
    Ok(Some(created.number))
}

/// Whether `agent` can take one more interaction on `channel` now: ready there with a
/// live session, and holding less than their capacity.
async fn has_room(
    conn: &mut AnyConnection,
    agent: i64,
    channel: Channel,
    now: i64,
) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT CASE $2 WHEN 'sms' THEN a.capacity_sms ELSE a.capacity_email END AS capacity, \
           (SELECT COUNT(*) FROM interactions i JOIN inbound_messages m ON m.id = i.message_id \
            WHERE i.agent_id = a.id AND m.channel = $2 \
              AND i.state IN ('invited', 'accepted', 'reply_created')) AS used \
         FROM agents a JOIN agent_channels c ON c.agent_id = a.id AND c.channel = $2 \
         WHERE a.id = $1 AND c.state = 'ready' AND EXISTS (SELECT 1 FROM agent_sessions s \
           WHERE s.agent_id = a.id AND s.expires_at > $3)",
    )
    .bind(agent)
    .bind(channel.as_str())
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(false);
    };
    let capacity: i64 = row.try_get("capacity")?;
    let used: i64 = row.try_get("used")?;
    Ok(used < capacity)
}

/// Sets `agent`'s load on `channel` from what they hold: the planned offer it was
/// read for turned out to be one too many. Triggers keep the column true, so this
/// mends only what they cannot see (an edit by hand); without it, an agent whose load
/// read too low would be planned first and refused under the lock in every pass.
async fn recount_load(
    conn: &mut AnyConnection,
    agent: i64,
    channel: Channel,
) -> Result<(), StoreError> {
    let changed = sqlx::query(
        "UPDATE agent_channels SET held = \
           (SELECT COUNT(*) FROM interactions i JOIN inbound_messages m ON m.id = i.message_id \
            WHERE i.agent_id = $1 AND m.channel = $2 \
              AND i.state IN ('invited', 'accepted', 'reply_created')) \
         WHERE agent_id = $1 AND channel = $2 AND held <> \
           (SELECT COUNT(*) FROM interactions i JOIN inbound_messages m ON m.id = i.message_id \
            WHERE i.agent_id = $1 AND m.channel = $2 \
              AND i.state IN ('invited', 'accepted', 'reply_created'))",
    )
    .bind(agent)
    .bind(channel.as_str())
    .execute(&mut *conn)
    .await?;
    if changed.rows_affected() > 0 {
        tracing::warn!(
            agent,
            channel = channel.as_str(),
            "an agent's stored load was wrong; recounted"
        );
    }
    Ok(())
}

/// An offer a pass means to make, checked again when it is made.
struct Planned {
    interaction: i64,
    agent: i64,
    channel: Channel,
    /// The group's offer timeout (`None`: the default).
    offer_timeout_ms: Option<i64>,
}

/// The offers to make now ([`plan_offers`] per channel), from what `conn` reads: the
/// groups with able members, what waits in each (no more than they can take), the
/// longest idle of those members (no more than what waits, plus whoever passed on it)
/// and who passed on which. Every read is bounded by what can be offered, not by how
/// many agents are ready.
async fn plan(
    conn: &mut AnyConnection,
    style: Style,
    now: i64,
) -> Result<Vec<Planned>, StoreError> {
    // Most passes find nothing waiting: they end before reading any agent.
    let waiting: Option<i64> =
        sqlx::query_scalar("SELECT id FROM interactions WHERE state = 'queued' LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    if waiting.is_none() {
        return Ok(Vec::new());
    }
    let mut queued: Vec<Queued> = Vec::new();
    // Per channel and agent: the candidate, and the groups it was read for.
    let mut agents: HashMap<(Channel, i64), (Candidate, Vec<i64>)> = HashMap::new();
    let mut passes = HashSet::new();
    for open in open_queues(conn, now).await? {
        let here = waiting_in(conn, &open).await?;
        if here.is_empty() {
            continue;
        }
        let ids: Vec<i64> = here.iter().map(|q| q.waiting.interaction_id).collect();
        let passed = passes_on(conn, style, &ids).await?;
        // Each waiting interaction takes one agent. The list is longer by whoever passed
        // on one (they go last for it) and by a margin for members whom another group's
        // waiting work takes first in this pass.
        let limit = here.len() + passed.len() + SHARED_MEMBERS_MARGIN;
        for candidate in candidates_in(conn, &open, limit, now).await? {
            let (_, groups) = agents
                .entry((open.channel, candidate.agent_id))
                .or_insert((candidate, Vec::new()));
            groups.push(open.group);
        }
        passes.extend(passed);
        queued.extend(here);
    }
    let by_id: HashMap<i64, &Queued> = queued
        .iter()
        .map(|q| (q.waiting.interaction_id, q))
        .collect();
    let mut planned = Vec::new();
    for channel in [Channel::Sms, Channel::Email] {
        let waiting: Vec<Waiting> = queued
            .iter()
            .filter(|q| q.channel == channel)
            .map(|q| q.waiting)
            .collect();
        let on_channel: Vec<Candidate> = agents
            .iter()
            .filter(|((c, _), _)| *c == channel)
            .map(|(_, (candidate, _))| *candidate)
            .collect();
        if waiting.is_empty() || on_channel.is_empty() {
            continue;
        }
        let offers = plan_offers(
            &waiting,
            &on_channel,
            |agent, interaction| {
                agents
                    .get(&(channel, agent))
                    .is_some_and(|(_, groups)| groups.contains(&by_id[&interaction].group))
            },
            |agent, interaction| passes.contains(&(agent, interaction)),
        );
        planned.extend(offers.into_iter().map(|(interaction, agent)| Planned {
            interaction,
            agent,
            channel,
            offer_timeout_ms: by_id[&interaction].offer_timeout_ms,
        }));
    }
    Ok(planned)
}

impl Store {
    /// One pass of offering: revokes offers that ran out (the agent passed on them),
    /// then offers waiting interactions to agents with room, storing every Invited and
    /// Revoked. Offers whose agent left are revoked by the change that made them leave
    /// ([`revoke_offers_of`]).
    ///
    /// The pass plans on a read connection, outside the lock: reading every ready agent
    /// and what waits takes the longest, and on SQLite the lock is the one writer every
    /// post and routing batch waits for. Under the lock each planned offer is made only
    /// if the interaction still waits and the agent still has room (ready, a live
    /// session, under capacity), so what changed in between can only drop an offer, to
    /// the next pass.
    pub async fn offer_waiting(&self, now: i64) -> Result<OfferPass, StoreError> {
        let style = Style::of(self.backend);
        let planned = {
            let mut conn = self.pool.acquire().await?;
            plan(&mut conn, style, now).await?
        };
        let mail = if planned.iter().any(|p| p.channel == Channel::Sms) {
            let by_email = sms_by_email(&mut *self.pool.acquire().await?).await?;
            let settings = if by_email.is_empty() {
                None
            } else {
                Some((self.email_settings().await?, self.sms_settings().await?))
            };
            Some((by_email, settings))
        } else {
            None
        };

        let mut tx = self.begin_write().await?;
        lock_offering(&mut tx, self.backend).await?;
        let mut pass = OfferPass::default();
        let mut pending = Vec::new();
        let expired: Vec<(i64, i64)> = sqlx::query(
            "SELECT id, agent_id FROM interactions \
             WHERE state = 'invited' AND offer_expires_at <= $1",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| Ok((row.try_get("id")?, row.try_get("agent_id")?)))
        .collect::<Result<_, StoreError>>()?;
        requeue(&mut tx, &expired, true, now, &mut pending).await?;
        pass.revoked = expired;

        for Planned {
            interaction,
            agent,
            channel,
            offer_timeout_ms,
        } in planned
        {
            if !has_room(&mut tx, agent, channel, now).await? {
                recount_load(&mut tx, agent, channel).await?;
                continue;
            }
            if let Some((by_email, Some((email, sms)))) = &mail
                && channel == Channel::Sms
                && let Some(address) = by_email.get(&agent)
            {
                match forward_by_email(&mut tx, interaction, agent, address, email, sms, now)
                    .await?
                {
                    Some(entry) => {
                        pass.emailed.push((interaction, agent, entry));
                        continue;
                    }
                    None => tracing::warn!(
                        agent,
                        interaction,
                        "the agent takes SMS as email but the email settings refuse it; offered in the desktop instead"
                    ),
                }
            }
            let runs_out_at = offer_runs_out_at(now, offer_timeout_ms);
            if offer_to(&mut tx, interaction, agent, channel, runs_out_at, true, now).await? {
                pending.push(Pending {
                    agent,
                    interaction,
                    notified: Notified::State(InteractionState::Invited),
                });
                pass.offered.push((interaction, agent));
            }
        }
        pass.notified = notify(&mut tx, self.backend, &pending, now).await?;
        tx.commit().await?;
        Ok(pass)
    }

    /// The interactions `agent` holds (offered, accepted, drafting, in workbins), oldest
    /// first.
    pub async fn agent_interactions(&self, agent: i64) -> Result<Vec<Interaction>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTERACTION_COLUMNS} FROM {INTERACTION_FROM} \
             WHERE i.agent_id = $1 AND i.state <> 'completed' ORDER BY i.id"
        )))
        .bind(agent)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(interaction_from_row).collect()
    }

    /// The interaction `id` if `agent` holds it; anyone else's is not found.
    pub async fn agent_interaction(&self, agent: i64, id: i64) -> Result<Interaction, StoreError> {
        let mut conn = self.pool.acquire().await?;
        held(&mut conn, None, agent, id).await
    }

    /// Applies `change` by `agent` to interaction `id`: refused with
    /// [`StoreError::Conflict`] naming the allowed operations when the interaction's
    /// state does not allow it, [`StoreError::NotFound`] when the agent does not hold it.
    pub async fn operate(
        &self,
        agent: i64,
        id: i64,
        change: Change,
        now: i64,
    ) -> Result<Operated, StoreError> {
        let mut tx = self.begin_write().await?;
        let adds_load = matches!(change, Change::TransferToAgent(_) | Change::PullFromWorkbin);
        if adds_load {
            lock_offering(&mut tx, self.backend).await?;
        }
        let current = held(&mut tx, Some(self.backend), agent, id).await?;
        check(current.state, change.operation())
            .map_err(|e| StoreError::Conflict(e.to_string()))?;
        let mut pending = Vec::new();
        let mut offer_again = false;
        let mut entry = None;
        let set_state = |state: InteractionState| {
            sqlx::query(
                "UPDATE interactions SET state = $1, offered_at = NULL, updated_at = $2 \
                 WHERE id = $3",
            )
            .bind(state.as_str())
            .bind(now)
            .bind(id)
        };
        let told = |state: InteractionState| Pending {
            agent,
            interaction: id,
            notified: Notified::State(state),
        };
        match &change {
            Change::Accept => {
                set_state(InteractionState::Accepted)
                    .execute(&mut *tx)
                    .await?;
                pending.push(told(InteractionState::Accepted));
            }
            Change::Reject => {
                requeue(&mut tx, &[(id, agent)], true, now, &mut pending).await?;
                offer_again = true;
            }
            Change::Reply { all } => {
                let operation = if *all {
                    Operation::ReplyAll
                } else {
                    Operation::Reply
                };
                let draft = new_draft(
                    operation,
                    &current.from,
                    &current.to,
                    current.subject.as_deref(),
                    &current.cc,
                );
                write_draft(
                    &mut tx,
                    id,
                    Some(&draft),
                    InteractionState::ReplyCreated,
                    now,
                )
                .await?;
                pending.push(told(InteractionState::ReplyCreated));
            }
            Change::Send { entry: new, text } => {
                let stored = current.draft.as_ref().map(|d| d.text.as_str());
                if stored != Some(text.as_str()) {
                    return Err(StoreError::Conflict(
                        "the draft changed while it was being sent; send again".into(),
                    ));
                }
                let actor = new.created_by.clone();
                let created = insert_entry(&mut tx, new, now).await?;
                entry = Some(created.number);
                // Linked attachments go with the email.
                let linked = current
                    .draft
                    .as_ref()
                    .map_or(&[][..], |d| &d.attachments[..]);
                for (position, attachment) in linked.iter().enumerate() {
                    sqlx::query(
                        "INSERT INTO queue_attachments (entry_number, position, attachment_id) \
                         VALUES ($1, $2, $3)",
                    )
                    .bind(created.number)
                    .bind(position as i64)
                    .bind(attachment.id)
                    .execute(&mut *tx)
                    .await?;
                }
                write_draft(&mut tx, id, None, InteractionState::Accepted, now).await?;
                in_progress(&mut tx, id, current.channel, &current.from, &actor, now).await?;
                pending.push(told(InteractionState::Accepted));
            }
            Change::Cancel => {
                write_draft(&mut tx, id, None, InteractionState::Accepted, now).await?;
                pending.push(told(InteractionState::Accepted));
            }
            Change::LinkAttachment(attachment) => {
                let Some(found) = current.attachments.iter().find(|a| a.id == *attachment) else {
                    return Err(StoreError::Invalid {
                        field: "attachmentId",
                        message: format!(
                            "attachment {attachment} is not one of this interaction's email"
                        ),
                    });
                };
                let mut draft = current.draft.clone().ok_or_else(|| {
                    StoreError::Conflict("no reply is being drafted to link it to".into())
                })?;
                if !draft.attachments.iter().any(|a| a.id == found.id) {
                    if draft.attachments.len() >= MAX_DRAFT_ATTACHMENTS {
                        return Err(StoreError::Invalid {
                            field: "attachmentId",
                            message: format!(
                                "a reply carries at most {MAX_DRAFT_ATTACHMENTS} attachments"
                            ),
                        });
                    }
                    draft.attachments.push(found.clone());
                }
                write_draft(
                    &mut tx,
                    id,
                    Some(&draft),
                    InteractionState::ReplyCreated,
                    now,
                )
                .await?;
                pending.push(told(InteractionState::ReplyCreated));
            }
            Change::TransferToGroup(group) | Change::PlaceInQueue(Some(group)) => {
                let exists: Option<i64> =
                    sqlx::query_scalar("SELECT id FROM acd_groups WHERE id = $1")
                        .bind(*group)
                        .fetch_optional(&mut *tx)
                        .await?;
                if exists.is_none() {
                    return Err(StoreError::Invalid {
                        field: "acd_group",
                        message: format!("ACD group {group} does not exist"),
                    });
                }
                sqlx::query("UPDATE interactions SET acd_group = $1 WHERE id = $2")
                    .bind(*group)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                requeue(&mut tx, &[(id, agent)], false, now, &mut pending).await?;
                offer_again = true;
            }
            Change::PlaceInQueue(None) => {
                requeue(&mut tx, &[(id, agent)], false, now, &mut pending).await?;
                offer_again = true;
            }
            Change::TransferToAgent(target) => {
                if *target == agent {
                    return Err(StoreError::Invalid {
                        field: "agent_id",
                        message: "an interaction cannot be transferred to the agent holding it"
                            .into(),
                    });
                }
                if !has_room(&mut tx, *target, current.channel, now).await? {
                    return Err(StoreError::Conflict(format!(
                        "agent {target} is not ready on {} or has no free capacity",
                        current.channel
                    )));
                }
                let timeout: Option<i64> =
                    sqlx::query_scalar("SELECT offer_timeout_ms FROM acd_groups WHERE id = $1")
                        .bind(current.acd_group)
                        .fetch_optional(&mut *tx)
                        .await?
                        .flatten();
                let runs_out_at = offer_runs_out_at(now, timeout);
                offer_to(
                    &mut tx,
                    id,
                    *target,
                    current.channel,
                    runs_out_at,
                    false,
                    now,
                )
                .await?;
                pending.push(Pending {
                    agent,
                    interaction: id,
                    notified: Notified::Revoked,
                });
                pending.push(Pending {
                    agent: *target,
                    interaction: id,
                    notified: Notified::State(InteractionState::Invited),
                });
                offer_again = true;
            }
            Change::StopProcessing => {
                set_state(InteractionState::Completed)
                    .execute(&mut *tx)
                    .await?;
                pending.push(told(InteractionState::Completed));
                offer_again = true;
            }
            Change::PlaceInWorkbin(name) => {
                sqlx::query(
                    "UPDATE interactions SET state = 'in_workbin', workbin = $1, updated_at = $2 \
                     WHERE id = $3",
                )
                .bind(name.clone())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                pending.push(told(InteractionState::InWorkbin));
                offer_again = true;
            }
            Change::PullFromWorkbin => {
                if !has_room(&mut tx, agent, current.channel, now).await? {
                    return Err(StoreError::Conflict(format!(
                        "no free capacity on {}: be ready there and finish something first",
                        current.channel
                    )));
                }
                let state = if current.draft.is_some() {
                    InteractionState::ReplyCreated
                } else {
                    InteractionState::Accepted
                };
                sqlx::query(
                    "UPDATE interactions SET state = $1, workbin = NULL, updated_at = $2 \
                     WHERE id = $3",
                )
                .bind(state.as_str())
                .bind(now)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                pending.push(told(state));
            }
            Change::UpdateProperties { user_data, text } => {
                if let Some(changes) = user_data {
                    let merged = merged_user_data(&current.user_data, changes).map_err(|e| {
                        StoreError::Invalid {
                            field: e.field,
                            message: e.message,
                        }
                    })?;
                    sqlx::query(
                        "UPDATE interactions SET user_data = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(serde_json::to_string(&merged).expect("pairs serialise"))
                    .bind(now)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(text) = text {
                    let Some(mut draft) = current.draft.clone() else {
                        return Err(StoreError::Invalid {
                            field: "text",
                            message: "there is no reply being drafted: Reply first".into(),
                        });
                    };
                    draft.text = edited_text(text).map_err(|e| StoreError::Invalid {
                        field: e.field,
                        message: e.message,
                    })?;
                    write_draft(&mut tx, id, Some(&draft), current.state, now).await?;
                }
                pending.push(told(current.state));
            }
        }
        let notified = notify(&mut tx, self.backend, &pending, now).await?;
        let interaction = interactions_by_id(&mut tx, Style::of(self.backend), &[id])
            .await?
            .remove(&id)
            .ok_or_else(|| StoreError::NotFound(format!("interaction {id}")))?;
        tx.commit().await?;
        Ok(Operated {
            interaction,
            notified,
            offer_again,
            entry,
        })
    }

    /// `agent`'s notifications after `after`, oldest first: `(seq, data as JSON text)`.
    pub async fn notifications_after(
        &self,
        agent: i64,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, data FROM agent_notifications WHERE agent_id = $1 AND id > $2 \
             ORDER BY id LIMIT $3",
        )
        .bind(agent)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("data")?)))
            .collect()
    }

    /// The last notification `agent` acknowledged (0 before any).
    pub async fn notified_through(&self, agent: i64) -> Result<i64, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT notified_through FROM agents WHERE id = $1")
                .bind(agent)
                .fetch_optional(&self.pool)
                .await?
                .unwrap_or(0),
        )
    }

    /// Moves `agent`'s acknowledged position forward to `through` (never back).
    pub async fn acknowledge_notifications(
        &self,
        agent: i64,
        through: i64,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE agents SET notified_through = $1 WHERE id = $2 AND notified_through < $1",
        )
        .bind(through)
        .bind(agent)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Moves each agent's acknowledged position forward (never back), in one
    /// transaction: `(agent, through)`.
    pub async fn acknowledge_many(&self, positions: &[(i64, i64)]) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for &(agent, through) in positions {
            sqlx::query(
                "UPDATE agents SET notified_through = $1 \
                 WHERE id = $2 AND notified_through < $1",
            )
            .bind(through)
            .bind(agent)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records that `agents` had a live CometD connection at `now`.
    pub async fn agents_seen(&self, agents: &[i64], now: i64) -> Result<(), StoreError> {
        let style = Style::of(self.backend);
        let mut tx = self.begin_write().await?;
        for chunk in agents.chunks(500) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE agents SET last_seen = {} WHERE id IN ({})",
                style.param(1),
                list(style, 2, chunk.len())
            )))
            .bind(now);
            for agent in chunk {
                q = q.bind(*agent);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// `agent`'s workbins: each name with the interactions in it, oldest first.
    pub async fn workbins(
        &self,
        agent: i64,
    ) -> Result<Vec<(String, Vec<Interaction>)>, StoreError> {
        let mut bins: Vec<(String, Vec<Interaction>)> = Vec::new();
        for i in self.agent_interactions(agent).await? {
            let Some(name) = i.workbin.clone() else {
                continue;
            };
            match bins.iter_mut().find(|(n, _)| *n == name) {
                Some((_, items)) => items.push(i),
                None => bins.push((name, vec![i])),
            }
        }
        bins.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(bins)
    }
}

/// Puts back in their queues the interactions `agent` holds (offered, accepted,
/// drafting, in workbins), telling nobody: the agent is being deleted. Returns how
/// many.
pub(crate) async fn requeue_all_of(
    conn: &mut AnyConnection,
    agent: i64,
    now: i64,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE interactions SET state = 'queued', agent_id = NULL, offered_at = NULL, \
         workbin = NULL, draft = NULL, updated_at = $1 \
         WHERE agent_id = $2 AND state <> 'completed'",
    )
    .bind(now)
    .bind(agent)
    .execute(&mut *conn)
    .await?;
    // Completed interactions keep their history but not a dangling agent.
    sqlx::query("UPDATE interactions SET agent_id = NULL WHERE agent_id = $1")
        .bind(agent)
        .execute(&mut *conn)
        .await?;
    Ok(done.rows_affected())
}

async fn write_draft(
    conn: &mut AnyConnection,
    id: i64,
    draft: Option<&Draft>,
    state: InteractionState,
    now: i64,
) -> Result<(), StoreError> {
    sqlx::query("UPDATE interactions SET draft = $1, state = $2, updated_at = $3 WHERE id = $4")
        .bind(draft.map(|d| serde_json::to_string(d).expect("drafts serialise")))
        .bind(state.as_str())
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Seed 004: an agent's reply puts the conversation In progress, unless the contact is
/// in a flow, and logs it with the agent. The conversation is the one the message
/// joined when it was routed (a thread's, for an email reply); for a message routed
/// before messages were linked, the contact's on the message's connector. If that
/// connector was deleted, there is none to change.
async fn in_progress(
    conn: &mut AnyConnection,
    interaction: i64,
    channel: Channel,
    contact: &str,
    actor: &str,
    now: i64,
) -> Result<(), StoreError> {
    let linked = sqlx::query(
        "SELECT c.id, c.status FROM interactions i \
         JOIN inbound_messages m ON m.id = i.message_id \
         JOIN conversations c ON c.id = m.conversation_id WHERE i.id = $1",
    )
    .bind(interaction)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = linked else {
        sqlx::query(
            "INSERT INTO conversations (connector_id, channel, contact, status, tags, \
             created_at, updated_at) \
             SELECT m.connector_id, $1, $2, $3, '[]', $4, $4 FROM interactions i \
             JOIN inbound_messages m ON m.id = i.message_id \
             WHERE i.id = $6 AND m.connector_id IS NOT NULL \
             ON CONFLICT (connector_id, contact) DO UPDATE \
             SET status = CASE WHEN conversations.status = $5 THEN conversations.status \
               ELSE excluded.status END, updated_at = excluded.updated_at",
        )
        .bind(channel.as_str())
        .bind(contact)
        .bind(ConversationStatus::InProgress.as_str())
        .bind(now)
        .bind(ConversationStatus::InAFlow.as_str())
        .bind(interaction)
        .execute(&mut *conn)
        .await?;
        return Ok(());
    };
    let conversation: i64 = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let keep = [
        ConversationStatus::InAFlow.as_str(),
        ConversationStatus::InProgress.as_str(),
    ];
    if keep.contains(&status.as_str()) {
        return Ok(());
    }
    sqlx::query(
        "UPDATE conversations SET status = $1, archived = 0, updated_at = $2 WHERE id = $3",
    )
    .bind(ConversationStatus::InProgress.as_str())
    .bind(now)
    .bind(conversation)
    .execute(&mut *conn)
    .await?;
    super::conversations::log(
        &mut *conn,
        conversation,
        now,
        actor,
        "agent_reply",
        (
            Some(status.as_str()),
            Some(ConversationStatus::InProgress.as_str()),
        ),
        Some(&format!("interaction {interaction}")),
    )
    .await
}

/// On PostgreSQL, calls `wake` with every agent another node (or this one) stored
/// notifications for, as they commit, until the connection fails: the caller retries.
/// CometD clients re-read their feed every few seconds too, so a notification sent
/// while this reconnects is late, not lost.
pub async fn listen_for_agents(url: &str, wake: impl Fn(i64)) -> Result<(), StoreError> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(AGENTS_NOTIFY_CHANNEL).await?;
    loop {
        let notification = listener.recv().await?;
        for agent in notification.payload().split(',') {
            if let Ok(agent) = agent.parse() {
                wake(agent);
            }
        }
    }
}

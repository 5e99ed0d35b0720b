//! Storage of agents with their ACD groups and per-channel status, their sessions
//! (stored by token digest) and the failed logins the login throttle counts.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::offering::{requeue_all_of, revoke_offers_of};
use super::{Backend, Store, StoreError, now_ms};
use switchyard_domain::agents::password::PasswordHash;
use switchyard_domain::agents::sessions::FAILURE_WINDOW_MS;
use switchyard_domain::agents::status::{AGENT_CHANNELS, StatusInput, agent_channel};
use switchyard_domain::agents::{
    Agent, AgentDefinition, Capacity, ChannelState, ChannelStatus, Channels, SmsDelivery,
};
use switchyard_domain::channel::Channel;

/// The agent's own columns, and the latest expiry of its sessions, which decides
/// whether a stored `ready` still counts ([`ChannelStatus::effective`]).
const COLUMNS: &str = "a.id, a.login, a.name, a.capacity_sms, a.capacity_email, a.sms_delivery, \
     a.sms_delivery_address, a.created_at, a.updated_at, \
     (SELECT MAX(s.expires_at) FROM agent_sessions s WHERE s.agent_id = a.id) AS session_until";

/// Which agents a listing shows: one page, optionally of one ACD group's members.
#[derive(Debug, Clone, Copy, Default)]
pub struct AgentFilter {
    pub acd_group: Option<i64>,
    pub after: Option<i64>,
    pub limit: i64,
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("agent {id}"))
}

/// An agent without its groups and with initial channels, which [`Store::complete`]
/// fills in; and the latest expiry of its sessions.
fn from_row(row: &AnyRow) -> Result<(Agent, Option<i64>), StoreError> {
    let delivery: String = row.try_get("sms_delivery")?;
    let agent = Agent {
        id: row.try_get("id")?,
        login: row.try_get("login")?,
        name: row.try_get("name")?,
        groups: Vec::new(),
        capacity: Capacity {
            sms: row.try_get("capacity_sms")?,
            email: row.try_get("capacity_email")?,
        },
        sms_delivery: SmsDelivery::parse(&delivery)
            .ok_or_else(|| corrupt("agents.sms_delivery", &delivery))?,
        sms_delivery_address: row.try_get("sms_delivery_address")?,
        channels: Channels::initial(0),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    };
    Ok((agent, row.try_get("session_until")?))
}

fn status_from_row(row: &AnyRow) -> Result<(i64, Channel, ChannelStatus), StoreError> {
    let channel: String = row.try_get("channel")?;
    let state: String = row.try_get("state")?;
    Ok((
        row.try_get("agent_id")?,
        agent_channel(&channel).ok_or_else(|| corrupt("agent_channels.channel", &channel))?,
        ChannelStatus {
            state: ChannelState::parse(&state)
                .ok_or_else(|| corrupt("agent_channels.state", &state))?,
            reason: row.try_get("reason")?,
            since: row.try_get("since")?,
        },
    ))
}

/// Names the field a refused write is about: a taken login, or a group deleted while
/// the agent was saved.
fn write_error(definition: &AgentDefinition) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            StoreError::Duplicate(format!("an agent with login `{}`", definition.login))
        }
        sqlx::Error::Database(db) if super::is_foreign_key_violation(&**db) => {
            StoreError::Invalid {
                field: "groups",
                message: "an ACD group was deleted while the agent was saved".into(),
            }
        }
        _ => StoreError::Database(e),
    }
}

/// Refuses groups that do not exist, naming the first unknown id.
async fn check_groups(conn: &mut AnyConnection, groups: &[i64]) -> Result<(), StoreError> {
    for &id in groups {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM acd_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(StoreError::Invalid {
                field: "groups",
                message: format!("there is no ACD group with id {id}"),
            });
        }
    }
    Ok(())
}

async fn write_groups(
    conn: &mut AnyConnection,
    agent: i64,
    definition: &AgentDefinition,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM agent_groups WHERE agent_id = $1")
        .bind(agent)
        .execute(&mut *conn)
        .await?;
    for &group in &definition.groups {
        sqlx::query("INSERT INTO agent_groups (agent_id, acd_group) VALUES ($1, $2)")
            .bind(agent)
            .bind(group)
            .execute(&mut *conn)
            .await
            .map_err(write_error(definition))?;
    }
    Ok(())
}

async fn write_status(
    conn: &mut AnyConnection,
    agent: i64,
    channel: Channel,
    status: &ChannelStatus,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE agent_channels SET state = $1, reason = $2, since = $3 \
         WHERE agent_id = $4 AND channel = $5",
    )
    .bind(status.state.as_str())
    .bind(status.reason.as_deref())
    .bind(status.since)
    .bind(agent)
    .bind(channel.as_str())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The stored status of each of `agent`'s channels (locked until the transaction ends
/// on PostgreSQL; SQLite's write transaction holds the whole database).
async fn stored_channels(
    conn: &mut AnyConnection,
    backend: Backend,
    agent: i64,
) -> Result<Channels, StoreError> {
    let lock = match backend {
        Backend::Sqlite => "",
        Backend::Postgres => " FOR UPDATE",
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT agent_id, channel, state, reason, since FROM agent_channels \
         WHERE agent_id = $1{lock}"
    )))
    .bind(agent)
    .fetch_all(&mut *conn)
    .await?;
    if rows.is_empty() {
        return Err(not_found(agent));
    }
    let mut channels = Channels::initial(0);
    for row in &rows {
        let (_, channel, status) = status_from_row(row)?;
        channels.set(channel, status);
    }
    Ok(channels)
}

/// Makes `agent` not ready on every channel (a repeat keeps `since`), revoking the
/// offers they have not answered.
pub(super) async fn all_not_ready(
    conn: &mut AnyConnection,
    backend: Backend,
    agent: i64,
    reason: Option<&str>,
    now: i64,
) -> Result<(), StoreError> {
    revoke_offers_of(conn, backend, agent, None, now).await?;
    let channels = stored_channels(conn, backend, agent).await?;
    for channel in AGENT_CHANNELS {
        let Some(current) = channels.get(channel) else {
            continue;
        };
        let next = current
            .changed(
                StatusInput {
                    state: ChannelState::NotReady,
                    reason: reason.map(str::to_owned),
                },
                now,
            )
            .map_err(|e| corrupt("agent_channels", e))?;
        if &next != current {
            write_status(conn, agent, channel, &next).await?;
        }
    }
    Ok(())
}

impl Store {
    /// Stores a new agent with `password` (already hashed), not ready on every channel.
    pub async fn create_agent(
        &self,
        definition: &AgentDefinition,
        password: &PasswordHash,
    ) -> Result<Agent, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        check_groups(&mut tx, &definition.groups).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO agents (login, name, password_hash, capacity_sms, capacity_email, \
             sms_delivery, sms_delivery_address, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id",
        )
        .bind(&definition.login)
        .bind(&definition.name)
        .bind(password.as_str())
        .bind(definition.capacity.sms)
        .bind(definition.capacity.email)
        .bind(definition.sms_delivery.as_str())
        .bind(definition.sms_delivery_address.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(write_error(definition))?;
        write_groups(&mut tx, id, definition).await?;
        let initial = ChannelStatus::initial(now);
        for channel in AGENT_CHANNELS {
            sqlx::query(
                "INSERT INTO agent_channels (agent_id, channel, state, reason, since) \
                 VALUES ($1, $2, $3, NULL, $4)",
            )
            .bind(id)
            .bind(channel.as_str())
            .bind(initial.state.as_str())
            .bind(initial.since)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.agent(id).await
    }

    /// A page of agents by id, each with its groups and effective channel status.
    pub async fn list_agents(&self, filter: &AgentFilter) -> Result<Vec<Agent>, StoreError> {
        // A NULL group switches the condition off, so one statement serves both.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM agents a \
             WHERE ($1 IS NULL OR a.id IN (SELECT agent_id FROM agent_groups WHERE acd_group = $1)) \
               AND a.id > $2 ORDER BY a.id LIMIT $3"
        )))
        .bind(filter.acd_group)
        .bind(filter.after.unwrap_or(0))
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        let agents = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
        self.complete(agents).await
    }

    pub async fn agent(&self, id: i64) -> Result<Agent, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM agents a WHERE a.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(id))?;
        let mut agents = self.complete(vec![from_row(&row)?]).await?;
        Ok(agents.remove(0))
    }

    /// Adds groups and channels to agents read by [`from_row`], with two queries over
    /// the range of their ids.
    async fn complete(&self, agents: Vec<(Agent, Option<i64>)>) -> Result<Vec<Agent>, StoreError> {
        let (Some(first), Some(last)) = (agents.first(), agents.last()) else {
            return Ok(Vec::new());
        };
        let (low, high) = (first.0.id, last.0.id);
        let groups = sqlx::query(
            "SELECT agent_id, acd_group FROM agent_groups \
             WHERE agent_id BETWEEN $1 AND $2 ORDER BY agent_id, acd_group",
        )
        .bind(low)
        .bind(high)
        .fetch_all(&self.pool)
        .await?;
        let channels = sqlx::query(
            "SELECT agent_id, channel, state, reason, since FROM agent_channels \
             WHERE agent_id BETWEEN $1 AND $2",
        )
        .bind(low)
        .bind(high)
        .fetch_all(&self.pool)
        .await?;
        let now = now_ms();
        let mut complete = Vec::with_capacity(agents.len());
        for (mut agent, session_until) in agents {
            for row in &groups {
                if row.try_get::<i64, _>("agent_id")? == agent.id {
                    agent.groups.push(row.try_get("acd_group")?);
                }
            }
            for row in &channels {
                let (id, channel, status) = status_from_row(row)?;
                if id == agent.id {
                    agent.channels.set(channel, status);
                }
            }
            agent.channels = agent.channels.effective(session_until, now);
            complete.push(agent);
        }
        Ok(complete)
    }

    /// Replaces every field of agent `id` with `definition`; the password changes only
    /// when `new_password` is given, and then the agent's sessions end (whoever knew
    /// the old password is logged out). Otherwise status and sessions stay as they are.
    pub async fn update_agent(
        &self,
        id: i64,
        definition: &AgentDefinition,
        new_password: Option<&PasswordHash>,
    ) -> Result<Agent, StoreError> {
        let mut tx = self.begin_write().await?;
        check_groups(&mut tx, &definition.groups).await?;
        let updated = sqlx::query(
            "UPDATE agents SET login = $1, name = $2, \
             password_hash = COALESCE($3, password_hash), capacity_sms = $4, \
             capacity_email = $5, sms_delivery = $6, sms_delivery_address = $7, \
             updated_at = $8 WHERE id = $9",
        )
        .bind(&definition.login)
        .bind(&definition.name)
        .bind(new_password.map(PasswordHash::as_str))
        .bind(definition.capacity.sms)
        .bind(definition.capacity.email)
        .bind(definition.sms_delivery.as_str())
        .bind(definition.sms_delivery_address.as_deref())
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(write_error(definition))?;
        if updated.rows_affected() == 0 {
            return Err(not_found(id));
        }
        write_groups(&mut tx, id, definition).await?;
        if new_password.is_some() {
            sqlx::query("DELETE FROM agent_sessions WHERE agent_id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.agent(id).await
    }

    /// Deletes an agent with its groups, status and sessions.
    /// Deletes `id`, first putting back in their queues the interactions they hold.
    /// Returns how many went back.
    pub async fn delete_agent(&self, id: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin_write().await?;
        let requeued = requeue_all_of(&mut tx, id, now_ms()).await?;
        let result = sqlx::query("DELETE FROM agents WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if result.rows_affected() == 0 {
            return Err(not_found(id));
        }
        tx.commit().await?;
        Ok(requeued)
    }

    /// The id and password hash of the agent with `login`, if there is one.
    pub async fn agent_credentials(
        &self,
        login: &str,
    ) -> Result<Option<(i64, PasswordHash)>, StoreError> {
        let row = sqlx::query("SELECT id, password_hash FROM agents WHERE login = $1")
            .bind(login)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => Some((
                row.try_get("id")?,
                PasswordHash::from_stored(row.try_get("password_hash")?),
            )),
            None => None,
        })
    }

    /// When the failed logins for `login` within the throttle's window happened.
    pub async fn login_failures(&self, login: &str, now: i64) -> Result<Vec<i64>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT at FROM agent_login_failures WHERE login = $1 AND at > $2")
                .bind(login)
                .bind(now - FAILURE_WINDOW_MS)
                .fetch_all(&self.pool)
                .await?,
        )
    }

    /// Records a failed login for `login` and forgets every failure that has left the
    /// window, so guesses at many logins cannot grow the table without bound.
    pub async fn record_login_failure(&self, login: &str, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM agent_login_failures WHERE at <= $1")
            .bind(now - FAILURE_WINDOW_MS)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO agent_login_failures (login, at) VALUES ($1, $2)")
            .bind(login)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts a session for `agent` (the token stored by its digest) that runs out at
    /// `expires_at`, and forgets the failed logins for `login`. An agent who had no
    /// live session starts not ready on every channel, whatever was stored before their
    /// last session ran out. Sessions that have run out, anyone's, are deleted.
    pub async fn start_agent_session(
        &self,
        agent: i64,
        login: &str,
        token_digest: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query("DELETE FROM agent_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        let live: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM agent_sessions WHERE agent_id = $1")
                .bind(agent)
                .fetch_one(&mut *tx)
                .await?;
        if live == 0 {
            all_not_ready(&mut tx, self.backend, agent, None, now).await?;
        }
        sqlx::query(
            "INSERT INTO agent_sessions (token_digest, agent_id, created_at, expires_at) \
             VALUES ($1, $2, $3, $4)",
        )
        .bind(token_digest)
        .bind(agent)
        .bind(now)
        .bind(expires_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(db) if super::is_foreign_key_violation(&**db) => not_found(agent),
            _ => StoreError::Database(e),
        })?;
        sqlx::query("DELETE FROM agent_login_failures WHERE login = $1")
            .bind(login)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The agent whose live session has `token_digest`, if any.
    pub async fn session_agent(
        &self,
        token_digest: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT agent_id FROM agent_sessions WHERE token_digest = $1 AND expires_at > $2",
        )
        .bind(token_digest)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Ends the session with `token_digest` and makes its agent not ready on every
    /// channel. Returns the agent, or `None` if there was no such session.
    pub async fn end_agent_session(
        &self,
        token_digest: &str,
        now: i64,
    ) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let agent: Option<i64> = sqlx::query_scalar(
            "DELETE FROM agent_sessions WHERE token_digest = $1 RETURNING agent_id",
        )
        .bind(token_digest)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(agent) = agent {
            all_not_ready(&mut tx, self.backend, agent, None, now).await?;
        }
        tx.commit().await?;
        Ok(agent)
    }

    /// Applies `input` to `agent`'s status on `channel` ([`ChannelStatus::changed`]).
    /// A refused input comes back as [`StoreError::Invalid`] naming its field.
    pub async fn set_agent_status(
        &self,
        agent: i64,
        channel: Channel,
        input: StatusInput,
        now: i64,
    ) -> Result<ChannelStatus, StoreError> {
        let mut tx = self.begin_write().await?;
        let channels = stored_channels(&mut tx, self.backend, agent).await?;
        let current = channels
            .get(channel)
            .ok_or_else(|| StoreError::NotFound(format!("channel `{channel}`")))?;
        let next = current
            .changed(input, now)
            .map_err(|e| StoreError::Invalid {
                field: e.field,
                message: e.message,
            })?;
        if &next != current {
            write_status(&mut tx, agent, channel, &next).await?;
        }
        if next.state == ChannelState::NotReady {
            revoke_offers_of(&mut tx, self.backend, agent, Some(channel), now).await?;
        }
        tx.commit().await?;
        Ok(next)
    }

    /// Agents ready on each channel as routing sees them: ready and with a live session.
    pub async fn ready_agents(&self, now: i64) -> Result<Vec<(Channel, i64)>, StoreError> {
        let rows = sqlx::query(
            "SELECT c.channel, COUNT(*) AS n FROM agent_channels c \
             WHERE c.state = 'ready' AND EXISTS (SELECT 1 FROM agent_sessions s \
               WHERE s.agent_id = c.agent_id AND s.expires_at > $1) \
             GROUP BY c.channel",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        let mut counts: Vec<(Channel, i64)> = AGENT_CHANNELS.iter().map(|&c| (c, 0)).collect();
        for row in &rows {
            let channel: String = row.try_get("channel")?;
            let channel = agent_channel(&channel)
                .ok_or_else(|| corrupt("agent_channels.channel", &channel))?;
            let n: i64 = row.try_get("n")?;
            if let Some(count) = counts.iter_mut().find(|(c, _)| *c == channel) {
                count.1 = n;
            }
        }
        Ok(counts)
    }

    /// Makes not ready every agent ready on some channel since before `cutoff` whose
    /// last CometD connection is older than `cutoff` (or who never connected): nothing
    /// is offered to a closed browser. Agents who take SMS as email are left alone:
    /// their mailbox is where they are. Agents whose every session ran out are made not
    /// ready too. Their unanswered offers are revoked. Returns the agents changed.
    pub async fn not_ready_when_absent(
        &self,
        cutoff: i64,
        now: i64,
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin_write().await?;
        let absent: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT a.id FROM agents a JOIN agent_channels c ON c.agent_id = a.id \
             WHERE c.state = 'ready' AND c.since < $1 AND a.sms_delivery <> 'email' \
               AND (a.last_seen IS NULL OR a.last_seen < $1)",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await?;
        // Whose every session ran out is logged out, as if they had logged out.
        let expired: Vec<i64> = sqlx::query_scalar(
            "SELECT DISTINCT c.agent_id FROM agent_channels c WHERE c.state = 'ready' \
               AND NOT EXISTS (SELECT 1 FROM agent_sessions s \
                 WHERE s.agent_id = c.agent_id AND s.expires_at > $1)",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut changed = Vec::new();
        for (agents, reason) in [
            (&expired, "session expired"),
            (&absent, "no live CometD connection"),
        ] {
            for agent in agents {
                if !changed.contains(agent) {
                    all_not_ready(&mut tx, self.backend, *agent, Some(reason), now).await?;
                    changed.push(*agent);
                }
            }
        }
        tx.commit().await?;
        Ok(changed)
    }
}

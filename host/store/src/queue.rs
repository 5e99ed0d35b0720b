//! Storage of the communication queue: entries, their activity log, claims by the
//! host's worker and by third parties, rate-limit slots, delivery receipts, and the
//! email and SMS settings.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::messages::{Style, list, write_kv};
use super::{Backend, Store, StoreError, now_ms};
use switchyard_domain::channel::Channel;
use switchyard_domain::queue::communication::NewEntry;
use switchyard_domain::queue::rate::{self, Slot, Slots};
use switchyard_domain::queue::receipts::Receipt;
use switchyard_domain::queue::record::{EntryActivity, EntryFilter, LogInformation};
use switchyard_domain::queue::settings::{EmailSettings, SmsSettings};
use switchyard_domain::queue::status::{self, TextStatus};
use switchyard_domain::queue::{Communication, Direction, EntryRecord, LifeCycleState, Settlement};
use switchyard_runtime::host::KvChanges;

const ENTRY_COLUMNS: &str = "number, state, status, media, direction, sender, recipient, \
    subject, body, external_system, error_code, error_description, result, gateway_reference, \
    parts, attempts, send_at, lease_until, inbound_message_id, created_at, created_by, \
    updated_at, updated_by";

const EMAIL_SETTINGS: &str = "queue.email";
const SMS_SETTINGS: &str = "queue.sms";

/// The most entries one listing returns.
pub const MAX_PAGE: u32 = 1_000;

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("queue_entries.{what} `{value}`"))
}

fn entry_from_row(row: &AnyRow) -> Result<EntryRecord, StoreError> {
    let state: String = row.try_get("state")?;
    let status: String = row.try_get("status")?;
    let media: String = row.try_get("media")?;
    let direction: String = row.try_get("direction")?;
    let error_code: Option<String> = row.try_get("error_code")?;
    let error_description: Option<String> = row.try_get("error_description")?;
    let parts: i64 = row.try_get("parts")?;
    let attempts: i64 = row.try_get("attempts")?;
    Ok(EntryRecord {
        number: row.try_get("number")?,
        state: LifeCycleState::parse(&state).ok_or_else(|| corrupt("state", &state))?,
        status: TextStatus::parse(&status).ok_or_else(|| corrupt("status", &status))?,
        communication: Communication {
            media: Channel::parse(&media).ok_or_else(|| corrupt("media", &media))?,
            direction: match direction.as_str() {
                "incoming" => Direction::Incoming,
                "outgoing" => Direction::Outgoing,
                _ => return Err(corrupt("direction", &direction)),
            },
            sender: row.try_get("sender")?,
            recipient: row.try_get("recipient")?,
            subject: row.try_get("subject")?,
            body: row.try_get("body")?,
        },
        external_system: row.try_get("external_system")?,
        error_code,
        error_description,
        result: row.try_get("result")?,
        gateway_reference: row.try_get("gateway_reference")?,
        parts: parts as u32,
        attempts: attempts as u32,
        send_at: row.try_get("send_at")?,
        claimed_until: row.try_get("lease_until")?,
        inbound_message_id: row.try_get("inbound_message_id")?,
        log: LogInformation {
            created_at: row.try_get("created_at")?,
            created_by: row.try_get("created_by")?,
            updated_at: row.try_get("updated_at")?,
            updated_by: row.try_get("updated_by")?,
        },
        activity: None,
    })
}

fn not_found(number: i64) -> StoreError {
    StoreError::NotFound(format!("queue entry {number}"))
}

/// An entry the caller holds: settling it needs the claim's token, so a worker whose
/// claim ran out cannot settle an entry someone else has claimed since.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub entry: EntryRecord,
    pub token: String,
}

/// Which entries a claim takes.
#[derive(Debug, Clone, Copy)]
pub struct ClaimScope {
    /// Only this entry.
    pub number: Option<i64>,
    /// Only entries up to this number (a "process all" pass ends somewhere).
    pub up_to: Option<i64>,
    /// Claims that have not run out yet are taken too: only a node that knows it is
    /// alone may ask, right after it started.
    pub ignore_leases: bool,
}

/// What a delivery receipt did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptOutcome {
    /// The same receipt was seen before; nothing changed.
    Duplicate,
    /// Stored, and the entry's status is now this (perhaps unchanged).
    Applied { number: i64, status: TextStatus },
    /// Stored, but no entry has this reference yet; it applies when one has.
    Unmatched,
}

/// What [`Store::begin_sending`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendTurn {
    /// The turn is taken and the entry marked as sending: hand it over now.
    Go,
    /// The sender's next turn comes at this time (ms); nothing was written.
    WaitUntil(i64),
    /// The entry's claim was lost to another holder; nothing was written.
    Lost,
}

/// When the last request for a sending number left the host, as the sender measured
/// it right before writing the request: the number's next turn, `next_at`, is that
/// moment plus the spacing. Written with the entry's settlement, which comes before
/// the number's next text can be claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentTurn {
    pub sender: String,
    pub next_at: i64,
}

/// The `rate_slots` key of a sending number's turn at the gateway.
fn sent_key(sender: &str) -> String {
    format!("sent:{sender}")
}

/// Marks a claimed entry as sending (attempt `attempt`) and renews its claim for
/// `lease_ms`; false when the claim was lost.
async fn sending(
    conn: &mut sqlx::AnyConnection,
    claimed: &Claimed,
    attempt: u32,
    now: i64,
    lease_ms: i64,
    detail: &str,
) -> Result<bool, StoreError> {
    let held = sqlx::query(
        "UPDATE queue_entries SET status = 'sending', attempts = $1, lease_until = $2, \
         updated_at = $3 WHERE number = $4 AND claim_token = $5 AND state = 'pending'",
    )
    .bind(i64::from(attempt))
    .bind(now + lease_ms)
    .bind(now)
    .bind(claimed.entry.number)
    .bind(claimed.token.clone())
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if held {
        log_activity(
            conn,
            claimed.entry.number,
            now,
            TextStatus::Sending,
            Some(detail),
        )
        .await?;
    }
    Ok(held)
}

pub(super) async fn log_activity(
    conn: &mut sqlx::AnyConnection,
    number: i64,
    at: i64,
    status: TextStatus,
    detail: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO queue_activity (entry_number, at, status, detail) VALUES ($1, $2, $3, $4)",
    )
    .bind(number)
    .bind(at)
    .bind(status.as_str())
    .bind(detail.map(str::to_owned))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Stores `new` as a Pending entry with the first line of its log, inside the caller's
/// transaction: creating an entry through the API and an agent's Send share it.
pub(super) async fn insert_entry(
    conn: &mut sqlx::AnyConnection,
    new: &NewEntry,
    now: i64,
) -> Result<EntryRecord, StoreError> {
    let c = &new.communication;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO queue_entries (state, status, media, direction, sender, recipient, \
         subject, body, external_system, parts, inbound_message_id, created_at, created_by, \
         updated_at, updated_by) \
         VALUES ('pending', 'pending', $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $10, $11) \
         RETURNING {ENTRY_COLUMNS}"
    )))
    .bind(c.media.as_str())
    .bind(direction_str(c.direction))
    .bind(c.sender.clone())
    .bind(c.recipient.clone())
    .bind(c.subject.clone())
    .bind(c.body.clone())
    .bind(new.external_system.clone())
    .bind(i64::from(new.parts))
    .bind(new.inbound_message_id)
    .bind(now)
    .bind(new.created_by.clone())
    .fetch_one(&mut *conn)
    .await?;
    let entry = entry_from_row(&row)?;
    let detail = format!("created by {}", new.created_by);
    log_activity(conn, entry.number, now, TextStatus::Pending, Some(&detail)).await?;
    Ok(entry)
}

fn claim_token() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Store {
    pub async fn email_settings(&self) -> Result<EmailSettings, StoreError> {
        self.json_setting(EMAIL_SETTINGS).await
    }

    pub async fn sms_settings(&self) -> Result<SmsSettings, StoreError> {
        self.json_setting(SMS_SETTINGS).await
    }

    pub async fn put_email_settings(&self, settings: &EmailSettings) -> Result<(), StoreError> {
        self.put_json_setting(EMAIL_SETTINGS, settings).await
    }

    /// Stores the SMS settings after checking that the gateway plugin they name was
    /// uploaded and is a gateway.
    pub async fn put_sms_settings(&self, settings: &SmsSettings) -> Result<(), StoreError> {
        if let Some(hash) = &settings.gateway_plugin {
            let world = self.queue_plugin(hash).await?.world;
            if world != "gateway" {
                return Err(StoreError::Invalid {
                    field: "gateway_plugin",
                    message: format!("plugin {hash} is a {world} plugin, not a gateway"),
                });
            }
        }
        self.put_json_setting(SMS_SETTINGS, settings).await
    }

    async fn json_setting<T: serde::de::DeserializeOwned + Default>(
        &self,
        key: &str,
    ) -> Result<T, StoreError> {
        match self.setting(key).await? {
            None => Ok(T::default()),
            Some(text) => serde_json::from_str(&text)
                .map_err(|e| StoreError::Corrupt(format!("setting {key}: {e}"))),
        }
    }

    async fn put_json_setting<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        let text = serde_json::to_string(value).expect("settings serialise");
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(text)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Stores a Pending entry and the first line of its log.
    pub async fn create_entry(&self, new: &NewEntry) -> Result<EntryRecord, StoreError> {
        if let Some(system) = &new.external_system {
            self.external_system(system).await.map_err(|e| match e {
                StoreError::NotFound(what) => StoreError::Invalid {
                    field: "external_system",
                    message: format!("{what} does not exist"),
                },
                other => other,
            })?;
        }
        let mut tx = self.begin_write().await?;
        let entry = insert_entry(&mut tx, new, now_ms()).await?;
        tx.commit().await?;
        Ok(entry)
    }

    /// One entry with its activity log.
    pub async fn entry(&self, number: i64) -> Result<EntryRecord, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ENTRY_COLUMNS} FROM queue_entries WHERE number = $1"
        )))
        .bind(number)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(number))?;
        let mut entry = entry_from_row(&row)?;
        let rows = sqlx::query(
            "SELECT at, status, detail FROM queue_activity WHERE entry_number = $1 ORDER BY id",
        )
        .bind(number)
        .fetch_all(&self.pool)
        .await?;
        let mut activity = Vec::with_capacity(rows.len());
        for row in rows {
            let status: String = row.try_get("status")?;
            activity.push(EntryActivity {
                at: row.try_get("at")?,
                status: TextStatus::parse(&status).ok_or_else(|| {
                    StoreError::Corrupt(format!("queue_activity.status {status}"))
                })?,
                detail: row.try_get("detail")?,
            });
        }
        entry.activity = Some(activity);
        Ok(entry)
    }

    /// Entries in number order. Removed entries (Completed and Removed) are listed only
    /// when asked for by state, as they are out of the queue for everyone else.
    pub async fn list_entries(&self, filter: &EntryFilter) -> Result<Vec<EntryRecord>, StoreError> {
        let mut conditions = vec!["number > $1".to_owned()];
        let mut binds: Vec<String> = Vec::new();
        let mut add = |column: &str, value: &Option<String>| {
            if let Some(value) = value {
                binds.push(value.clone());
                conditions.push(format!("{column} = ${}", binds.len() + 1));
            }
        };
        add("state", &filter.state);
        add("status", &filter.status);
        add("media", &filter.media);
        add("external_system", &filter.external_system);
        add("recipient", &filter.recipient);
        if filter.state.is_none() {
            conditions.push("state <> 'completed_and_removed'".into());
        }
        let limit = filter.limit.unwrap_or(100).clamp(1, MAX_PAGE);
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM queue_entries WHERE {} ORDER BY number LIMIT {limit}",
            conditions.join(" AND ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(filter.after.unwrap_or(0));
        for value in binds {
            q = q.bind(value);
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(entry_from_row).collect()
    }

    /// Seed 000's removal: a Completed entry becomes Completed and Removed.
    pub async fn remove_entry(&self, number: i64, by: &str) -> Result<EntryRecord, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let state: Option<String> =
            sqlx::query_scalar("SELECT state FROM queue_entries WHERE number = $1")
                .bind(number)
                .fetch_optional(&mut *tx)
                .await?;
        match state.as_deref() {
            None => return Err(not_found(number)),
            Some("completed") => {}
            Some(other) => {
                return Err(StoreError::Conflict(format!(
                    "queue entry {number} is {other}; only completed entries can be removed"
                )));
            }
        }
        sqlx::query(
            "UPDATE queue_entries SET state = 'completed_and_removed', updated_at = $1, \
             updated_by = $2 WHERE number = $3",
        )
        .bind(now)
        .bind(by)
        .bind(number)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.entry(number).await
    }

    /// Claims up to `limit` Pending entries the host processes itself (no external
    /// system, or one run as a plugin) that are due: not held by an unexpired claim,
    /// and past their rate-limit slot if they have one. An SMS is not claimed while an
    /// earlier unsettled SMS of its sending number is held (by any node): texts of one
    /// number go out in queue order, and a text whose earlier one waits on a dead
    /// node's claim waits with it. Claims are taken one node at a time (the single
    /// writer on SQLite, an advisory lock on PostgreSQL), so each sees the others'.
    pub async fn claim_due(
        &self,
        scope: ClaimScope,
        lease_ms: i64,
        limit: i64,
    ) -> Result<Vec<Claimed>, StoreError> {
        let token = claim_token();
        let mut extra = String::new();
        if let Some(number) = scope.number {
            extra.push_str(&format!(" AND q.number = {number}"));
        }
        if let Some(up_to) = scope.up_to {
            extra.push_str(&format!(" AND q.number <= {up_to}"));
        }
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_advisory_xact_lock(7266)")
                .execute(&mut *tx)
                .await?;
        }
        // Read once the lock is held, so no claim committed before is seen as expired.
        let now = now_ms();
        let before = if scope.ignore_leases { i64::MAX } else { now };
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE queue_entries SET lease_until = $1, claim_token = $2 WHERE number IN ( \
               SELECT q.number FROM queue_entries q WHERE q.state = 'pending' \
               AND (q.lease_until IS NULL OR q.lease_until < $3) \
               AND (q.send_at IS NULL OR q.send_at <= $4) \
               AND (q.external_system IS NULL OR q.external_system IN \
                    (SELECT name FROM external_systems WHERE kind = 'plugin')) \
               AND NOT (q.media = 'sms' AND q.external_system IS NULL AND EXISTS ( \
                    SELECT 1 FROM queue_entries e WHERE e.state = 'pending' \
                    AND e.media = 'sms' AND e.external_system IS NULL \
                    AND e.sender = q.sender AND e.number < q.number \
                    AND e.lease_until >= $3)){extra} \
               ORDER BY q.number LIMIT $5{lock}) \
             AND state = 'pending' AND (lease_until IS NULL OR lease_until < $3) \
             RETURNING {ENTRY_COLUMNS}"
        )))
        .bind(now + lease_ms)
        .bind(token.clone())
        .bind(before)
        .bind(now)
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut claimed = rows
            .iter()
            .map(|row| {
                Ok(Claimed {
                    entry: entry_from_row(row)?,
                    token: token.clone(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        claimed.sort_by_key(|c| c.entry.number);
        Ok(claimed)
    }

    /// Renews the claims a live node still holds (`held`: entry numbers and their claim
    /// tokens) to run out `lease_ms` from now: the heartbeat that lets claims be short,
    /// so a dead node's run out within seconds. A longer claim (an entry being sent
    /// waits for its request's timeout) is left as it is; entries settled, released or
    /// taken over meanwhile are not touched. Returns how many claims were renewed.
    pub async fn renew_claims(
        &self,
        held: &[(i64, String)],
        lease_ms: i64,
    ) -> Result<u64, StoreError> {
        let style = Style::of(self.backend);
        let mut renewed = 0;
        for chunk in held.chunks(super::messages::ROWS_PER_STATEMENT) {
            let now = now_ms();
            let mut tokens: Vec<&String> = chunk.iter().map(|(_, t)| t).collect();
            tokens.sort();
            tokens.dedup();
            let sql = format!(
                "UPDATE queue_entries SET lease_until = $1 WHERE state = 'pending' \
                 AND lease_until IS NOT NULL AND lease_until < $1 \
                 AND number IN ({}) AND claim_token IN ({})",
                list(style, 2, chunk.len()),
                list(style, 2 + chunk.len(), tokens.len()),
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(now + lease_ms);
            for (number, _) in chunk {
                q = q.bind(*number);
            }
            for token in tokens {
                q = q.bind(token.clone());
            }
            renewed += q.execute(&self.writer).await?.rows_affected();
        }
        Ok(renewed)
    }

    /// Gives each claimed SMS (in number order) its rate-limit slot, in one
    /// transaction with the slots table so that no two entries get the same second of a
    /// number. Entries whose slot is in the future are released to wait as Queued;
    /// entries that would wait longer than `max_wait_ms` get [`Slot::TooLate`] and
    /// keep their claim so the caller settles them.
    pub async fn schedule_sms(
        &self,
        claimed: &[Claimed],
        max_wait_ms: i64,
    ) -> Result<Vec<Slot>, StoreError> {
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        let style = Style::of(self.backend);
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Nodes assign slots one at a time, or two could give out the same second.
            sqlx::query("SELECT pg_advisory_xact_lock(7265)")
                .execute(&mut *tx)
                .await?;
        }
        let mut keys: Vec<String> = Vec::new();
        for c in claimed {
            keys.push(rate::sender_key(&c.entry.communication.sender));
            keys.push(rate::contact_key(&c.entry.communication.recipient));
        }
        keys.sort();
        keys.dedup();
        let mut slots = Slots::default();
        for chunk in keys.chunks(super::messages::ROWS_PER_STATEMENT) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT key, next_at FROM rate_slots WHERE key IN ({})",
                list(style, 1, chunk.len())
            )));
            for key in chunk {
                q = q.bind(key.clone());
            }
            for row in q.fetch_all(&mut *tx).await? {
                slots.0.insert(row.try_get("key")?, row.try_get("next_at")?);
            }
        }
        let now = now_ms();
        let mut assigned = Vec::with_capacity(claimed.len());
        for c in claimed {
            let slot = rate::assign(
                &mut slots,
                &c.entry.communication.sender,
                &c.entry.communication.recipient,
                c.entry.log.created_at,
                now,
                max_wait_ms,
            );
            if let Slot::At(at) = slot {
                let waits = at > now;
                sqlx::query(
                    "UPDATE queue_entries SET send_at = $1, status = $2, updated_at = $3, \
                     lease_until = CASE WHEN $4 = 1 THEN NULL ELSE lease_until END \
                     WHERE number = $5 AND claim_token = $6",
                )
                .bind(at)
                .bind(if waits { "queued" } else { "pending" })
                .bind(now)
                .bind(i64::from(waits))
                .bind(c.entry.number)
                .bind(c.token.clone())
                .execute(&mut *tx)
                .await?;
                if waits {
                    let detail = format!(
                        "waiting for {}'s next free second ({} ms)",
                        c.entry.communication.sender,
                        at - now
                    );
                    log_activity(
                        &mut tx,
                        c.entry.number,
                        now,
                        TextStatus::Queued,
                        Some(&detail),
                    )
                    .await?;
                }
            }
            assigned.push(slot);
        }
        let mut rows: Vec<(&String, &i64)> = slots.0.iter().collect();
        rows.sort();
        for chunk in rows.chunks(super::messages::ROWS_PER_STATEMENT) {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO rate_slots (key, next_at) VALUES {} \
                 ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at",
                super::messages::placeholders(style, chunk.len(), 2)
            )));
            for (key, next_at) in chunk {
                q = q.bind((*key).clone()).bind(**next_at);
            }
            q.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(assigned)
    }

    /// Starts the first attempt at handing a claimed SMS entry to the gateway, in one
    /// transaction: takes its sender's turn, if the sender's previous text went out at
    /// least `interval_ms` ago, and marks the entry as sending (as
    /// [`Store::mark_sending`]). Slots space a number's texts a second apart, but a text
    /// sent late (a slow gateway, a busy node) would bring the next one closer than
    /// that; this gate keeps the actual hand-overs apart. Nothing is written when the
    /// turn is not due or the claim was lost, and one commit serves both writes.
    pub async fn begin_sending(
        &self,
        claimed: &Claimed,
        interval_ms: i64,
        attempt: u32,
        lease_ms: i64,
        detail: &str,
    ) -> Result<SendTurn, StoreError> {
        let key = sent_key(&claimed.entry.communication.sender);
        let mut tx = self.begin_write().await?;
        // Read once the write lock is held: waiting for it must not count as spacing.
        let now = now_ms();
        let taken = sqlx::query(
            "INSERT INTO rate_slots (key, next_at) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET next_at = excluded.next_at \
             WHERE rate_slots.next_at <= $3",
        )
        .bind(key.clone())
        .bind(now + interval_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !taken {
            let next: i64 = sqlx::query_scalar("SELECT next_at FROM rate_slots WHERE key = $1")
                .bind(key)
                .fetch_one(&mut *tx)
                .await?;
            tx.rollback().await?;
            return Ok(SendTurn::WaitUntil(next.max(now + 1)));
        }
        if !sending(&mut tx, claimed, attempt, now, lease_ms, detail).await? {
            // The turn stays with whoever holds the entry now.
            tx.rollback().await?;
            return Ok(SendTurn::Lost);
        }
        tx.commit().await?;
        Ok(SendTurn::Go)
    }

    /// Puts a claimed entry back to wait until `at`.
    pub async fn postpone(&self, claimed: &Claimed, at: i64) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE queue_entries SET send_at = $1, status = 'queued', lease_until = NULL, \
             claim_token = NULL WHERE number = $2 AND claim_token = $3 AND state = 'pending'",
        )
        .bind(at)
        .bind(claimed.entry.number)
        .bind(claimed.token.clone())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// Marks a claimed entry as being sent now (attempt `attempt`), renewing its claim
    /// for `lease_ms`.
    pub async fn mark_sending(
        &self,
        claimed: &Claimed,
        attempt: u32,
        lease_ms: i64,
        detail: &str,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let held = sending(&mut tx, claimed, attempt, now_ms(), lease_ms, detail).await?;
        tx.commit().await?;
        Ok(held)
    }

    /// Writes how processing a claimed entry ended, with the plugin's kv writes if any,
    /// unless the claim was lost; returns whether it was written. A gateway reference
    /// that receipts arrived for before this answer is stored gets their status.
    pub async fn settle_entry(
        &self,
        number: i64,
        token: &str,
        settlement: &Settlement,
        by: &str,
        kv: Option<(String, KvChanges)>,
        sent: Option<&SentTurn>,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let mut status = settlement.status;
        let mut detail = settlement.detail.clone();
        if let Some(reference) = &settlement.gateway_reference {
            let parts: Option<i64> =
                sqlx::query_scalar("SELECT parts FROM queue_entries WHERE number = $1")
                    .bind(number)
                    .fetch_optional(&mut *tx)
                    .await?;
            let receipts = receipts_of(&mut tx, reference).await?;
            if !receipts.is_empty() {
                status = status::aggregate(parts.unwrap_or(1) as u32, &receipts);
                detail = Some(format!(
                    "{}; {} receipt(s) had arrived first",
                    detail.unwrap_or_default(),
                    receipts.len()
                ));
            }
        }
        let error = settlement.error.as_ref();
        let written = sqlx::query(
            "UPDATE queue_entries SET state = $1, status = $2, error_code = $3, \
             error_description = $4, result = $5, gateway_reference = $6, lease_until = NULL, \
             claim_token = NULL, updated_at = $7, updated_by = $8 \
             WHERE number = $9 AND claim_token = $10 AND state = 'pending'",
        )
        .bind(settlement.state.as_str())
        .bind(status.as_str())
        .bind(error.map(|e| e.code.clone()))
        .bind(error.map(|e| e.description.clone()))
        .bind(settlement.result.clone())
        .bind(settlement.gateway_reference.clone())
        .bind(now)
        .bind(by)
        .bind(number)
        .bind(token)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !written {
            return Ok(false);
        }
        if settlement.status != status {
            log_activity(&mut tx, number, now, settlement.status, None).await?;
        }
        log_activity(&mut tx, number, now, status, detail.as_deref()).await?;
        if let Some(kv) = kv {
            // Past the quota the plugin's writes are dropped and the entry's outcome
            // stands, as for routing; the server log names the scope.
            for scope in write_kv(&mut tx, Style::of(self.backend), &[kv], now).await? {
                tracing::warn!(
                    scope,
                    "kv changes not stored: the scope's kv quota is used up"
                );
            }
        }
        if let Some(sent) = sent {
            // Only ever later: the turn taken at the start already holds a bound.
            sqlx::query("UPDATE rate_slots SET next_at = $1 WHERE key = $2 AND next_at < $1")
                .bind(sent.next_at)
                .bind(sent_key(&sent.sender))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Gives up a claim without settling, so the entry is processed again (a stopping
    /// worker's entries, say).
    pub async fn release_entry(&self, number: i64, token: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE queue_entries SET lease_until = NULL, claim_token = NULL \
             WHERE number = $1 AND claim_token = $2 AND state = 'pending'",
        )
        .bind(number)
        .bind(token)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    /// The highest entry number so far (0 for an empty queue).
    pub async fn last_entry_number(&self) -> Result<i64, StoreError> {
        let number: Option<i64> = sqlx::query_scalar("SELECT MAX(number) FROM queue_entries")
            .fetch_one(&self.pool)
            .await?;
        Ok(number.unwrap_or(0))
    }

    /// How many entries are in each life-cycle state (states without entries are
    /// left out): one grouped count, for the queue-depth gauges.
    pub async fn entries_by_state(&self) -> Result<Vec<(LifeCycleState, i64)>, StoreError> {
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT state, COUNT(*) FROM queue_entries GROUP BY state")
                .fetch_all(&self.pool)
                .await?;
        rows.into_iter()
            .map(|(state, count)| {
                LifeCycleState::parse(&state)
                    .map(|state| (state, count))
                    .ok_or_else(|| StoreError::Corrupt(format!("queue entry state `{state}`")))
            })
            .collect()
    }

    /// When the next waiting SMS is due, if any is still to come. (Entries past their
    /// slot are either claimed at once or wait behind an earlier text of their number,
    /// whose settlement wakes the worker.)
    pub async fn next_slot(&self) -> Result<Option<i64>, StoreError> {
        let at: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(send_at) FROM queue_entries WHERE state = 'pending' AND send_at > $1",
        )
        .bind(now_ms())
        .fetch_one(&self.pool)
        .await?;
        Ok(at)
    }

    /// Stores a delivery receipt and moves the status of the entry it is for. Receipts
    /// are idempotent: the same (reference, part, status) twice changes nothing.
    pub async fn record_receipt(&self, receipt: &Receipt) -> Result<ReceiptOutcome, StoreError> {
        let now = now_ms();
        let mut tx = self.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO sms_receipts (reference, part, status, error_code, error_description, \
             received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(receipt.reference.clone())
        .bind(i64::from(receipt.part))
        .bind(receipt.status.as_str())
        .bind(receipt.error_code.clone())
        .bind(receipt.error_description.clone())
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !inserted {
            return Ok(ReceiptOutcome::Duplicate);
        }
        let row = sqlx::query(
            "SELECT number, status, parts FROM queue_entries WHERE gateway_reference = $1 \
             ORDER BY number LIMIT 1",
        )
        .bind(receipt.reference.clone())
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            tx.commit().await?;
            return Ok(ReceiptOutcome::Unmatched);
        };
        let number: i64 = row.try_get("number")?;
        let current: String = row.try_get("status")?;
        let mut parts: i64 = row.try_get("parts")?;
        if let Some(reported) = receipt.parts {
            // The gateway split the text itself and knows best.
            parts = parts.max(i64::from(reported));
        }
        let receipts = receipts_of(&mut tx, &receipt.reference).await?;
        let status = status::aggregate(parts as u32, &receipts);
        if status.as_str() != current {
            let error_code = receipt.error_code.clone();
            sqlx::query(
                "UPDATE queue_entries SET status = $1, parts = $2, updated_at = $3, \
                 updated_by = 'gateway receipt', \
                 error_code = COALESCE($4, error_code), \
                 error_description = COALESCE($5, error_description) WHERE number = $6",
            )
            .bind(status.as_str())
            .bind(parts)
            .bind(now)
            .bind(error_code)
            .bind(receipt.error_description.clone())
            .bind(number)
            .execute(&mut *tx)
            .await?;
            let detail = match (&receipt.error_code, &receipt.error_description) {
                (None, None) => format!("receipt for part {} of {parts}", receipt.part),
                (code, description) => format!(
                    "receipt for part {} of {parts}: {} {}",
                    receipt.part,
                    code.as_deref().unwrap_or(""),
                    description.as_deref().unwrap_or("")
                ),
            };
            log_activity(&mut tx, number, now, status, Some(detail.trim())).await?;
        }
        tx.commit().await?;
        Ok(ReceiptOutcome::Applied { number, status })
    }
}

/// Every (part, status) received for `reference`.
async fn receipts_of(
    conn: &mut sqlx::AnyConnection,
    reference: &str,
) -> Result<Vec<(u32, TextStatus)>, StoreError> {
    let rows = sqlx::query("SELECT part, status FROM sms_receipts WHERE reference = $1")
        .bind(reference)
        .fetch_all(&mut *conn)
        .await?;
    let mut receipts = Vec::with_capacity(rows.len());
    for row in rows {
        let part: i64 = row.try_get("part")?;
        let status: String = row.try_get("status")?;
        let status = TextStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("sms_receipts.status `{status}`")))?;
        receipts.push((part as u32, status));
    }
    Ok(receipts)
}

pub(super) fn direction_str(direction: Direction) -> &'static str {
    match direction {
        Direction::Incoming => "incoming",
        Direction::Outgoing => "outgoing",
    }
}

//! Storage of inbound messages on their way through routing: storing a batch of posts
//! in one transaction (group commit), claiming unrouted messages, and writing a batch
//! of routing outcomes in one transaction.
//!
//! Batching is what makes durable ingest fast: one commit (one fsync on SQLite) for
//! every message that arrived while the previous commit ran, instead of one each.
//! Multi-row statements keep the statement count per batch constant.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, Row};

use super::{Store, StoreError, is_foreign_key_violation, now_ms};
use switchyard_domain::channel::Channel;
use switchyard_domain::connectors::inbound::InboundSms;
use switchyard_domain::conversations::{Conversation, ConversationStatus};
use switchyard_domain::email::{InboundEmail, Mailbox};
use switchyard_domain::routing::message::Attachment;
use switchyard_domain::routing::outcome::{MessageState, PendingMessage, Routed, kv_scope};
use switchyard_runtime::host::{KV_QUOTA, KvChanges, KvUsage};

/// How long the node that stored (or claimed) a message owns its routing. Another
/// node, or the same one after a restart, takes over messages whose lease ran out.
pub const ROUTING_LEASE_MS: i64 = 15_000;
/// Rows per multi-row statement: far below both backends' parameter limits
/// (SQLite 32,766; PostgreSQL 65,535) with up to 13 columns.
pub(super) const ROWS_PER_STATEMENT: usize = 200;

/// A post to store, for connector `connector_id`.
#[derive(Debug, Clone)]
pub struct NewInbound {
    pub connector_id: i64,
    pub channel: Channel,
    /// With `recipient`, what makes a retry recognisable: the gateway's id of an SMS,
    /// the Message-ID of an email.
    pub gateway_message_id: String,
    pub sender: String,
    /// The connector's number or (first) address.
    pub recipient: String,
    pub body: String,
    /// Milliseconds since the Unix epoch.
    pub received_at: i64,
    pub subject: Option<String>,
    /// What routing applications see beside the text.
    pub attributes: Vec<(String, String)>,
    /// The rest of an email: addresses, HTML, threading ids and attachments.
    pub email: Option<Box<InboundEmail>>,
}

impl NewInbound {
    pub fn sms(connector_id: i64, sms: InboundSms) -> Self {
        Self {
            connector_id,
            channel: Channel::Sms,
            gateway_message_id: sms.gateway_message_id,
            sender: sms.sender.as_str().to_owned(),
            recipient: sms.recipient.as_str().to_owned(),
            body: sms.text,
            received_at: sms.received_at,
            subject: None,
            attributes: Vec::new(),
            email: None,
        }
    }

    /// An email for the connector whose first address is `recipient`: one email per
    /// Message-ID and connector, whichever of its addresses it came to.
    pub fn email(
        connector_id: i64,
        recipient: &str,
        email: InboundEmail,
        received_at: i64,
    ) -> Self {
        let mut attributes = vec![("message_id".to_owned(), email.message_id.clone())];
        let list = |mailboxes: &[Mailbox]| {
            mailboxes
                .iter()
                .map(|m| m.address.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        for (name, value) in [
            ("from_name", email.from.name.clone().unwrap_or_default()),
            ("to", list(&email.to)),
            ("cc", list(&email.cc)),
            ("in_reply_to", email.in_reply_to.join(" ")),
            ("references", email.references.join(" ")),
        ] {
            if !value.is_empty() {
                attributes.push((name.to_owned(), value));
            }
        }
        Self {
            connector_id,
            channel: Channel::Email,
            gateway_message_id: email.message_id.clone(),
            sender: email.from.address.clone(),
            recipient: recipient.to_owned(),
            body: email.text.clone(),
            received_at,
            subject: email.subject.clone(),
            attributes,
            email: Some(Box::new(email)),
        }
    }

    /// The metadata of its attachments, as routing sees them.
    pub fn attachment_metadata(&self) -> Vec<Attachment> {
        self.email
            .as_ref()
            .map(|email| {
                email
                    .attachments
                    .iter()
                    .map(|a| Attachment {
                        name: a.name.clone(),
                        mime_type: a.mime_type.clone(),
                        size: a.content.len() as u64,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What storing one post gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub id: i64,
    /// The gateway sent this message id to this number before: nothing new was stored.
    pub duplicate: bool,
    pub state: MessageState,
}

/// How a generated statement names its parameters. PostgreSQL needs `$1, $2, ...`.
/// SQLite accepts those too, but sqlx-sqlite and SQLite resolve each `$N` by a linear
/// search, which made binding the multi-row statements (hundreds of parameters) a
/// fifth of the server's time; plain `?` binds in order at no cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Numbered,
    Positional,
}

impl Style {
    pub(super) fn of(backend: super::Backend) -> Self {
        match backend {
            super::Backend::Sqlite => Self::Positional,
            super::Backend::Postgres => Self::Numbered,
        }
    }

    /// The parameter at 1-based position `n`.
    pub(super) fn param(self, n: usize) -> String {
        match self {
            Self::Numbered => format!("${n}"),
            Self::Positional => "?".to_owned(),
        }
    }
}

/// `($1, $2, ...), (...)` for `rows` rows of `columns` parameters.
pub(super) fn placeholders(style: Style, rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|row| {
            let params: Vec<String> = (0..columns)
                .map(|column| style.param(row * columns + column + 1))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `$first, $first+1, ...` for an `IN (...)` list.
pub(super) fn list(style: Style, first: usize, count: usize) -> String {
    (first..first + count)
        .map(|i| style.param(i))
        .collect::<Vec<_>>()
        .join(", ")
}

type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>;

fn query(sql: String) -> Query<'static> {
    sqlx::query(sqlx::AssertSqlSafe(sql))
}

const PENDING_COLUMNS: &str = "id, connector_id, channel, gateway_message_id, sender, \
                               recipient, body, received_at, subject, attributes, attachments";

pub(super) fn pending_from_row(row: &AnyRow) -> Result<PendingMessage, StoreError> {
    let channel: String = row.try_get("channel")?;
    Ok(PendingMessage {
        id: row.try_get("id")?,
        connector_id: row.try_get("connector_id")?,
        channel: Channel::parse(&channel)
            .ok_or_else(|| StoreError::Corrupt(format!("inbound_messages.channel `{channel}`")))?,
        gateway_message_id: row.try_get("gateway_message_id")?,
        sender: row.try_get("sender")?,
        recipient: row.try_get("recipient")?,
        body: row.try_get("body")?,
        received_at: row.try_get("received_at")?,
        subject: row.try_get("subject")?,
        attributes: super::decode_json(row, "inbound_messages", "attributes")?,
        attachments: super::decode_json(row, "inbound_messages", "attachments")?,
    })
}

/// Stores what an email carries beyond its message row: addresses, HTML, threading
/// ids, and its attachments, whose bytes are kept once per content.
async fn store_email_parts(
    conn: &mut AnyConnection,
    message_id: i64,
    email: &InboundEmail,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO inbound_emails (message_id, rfc_message_id, generated_id, from_name, \
         to_addresses, cc_addresses, html, in_reply_to, references_ids, dialect) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(message_id)
    .bind(&email.message_id)
    .bind(i64::from(email.generated_message_id))
    .bind(email.from.name.clone())
    .bind(json(&email.to))
    .bind(json(&email.cc))
    .bind(email.html.clone())
    .bind(json(&email.in_reply_to))
    .bind(json(&email.references))
    .bind(email.dialect.as_str())
    .execute(&mut *conn)
    .await?;
    let mut refs = Vec::with_capacity(email.attachments.len());
    for (position, attachment) in email.attachments.iter().enumerate() {
        let sha256 = attachment.sha256();
        sqlx::query(
            "INSERT INTO attachment_blobs (sha256, size, content) VALUES ($1, $2, $3) \
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&sha256)
        .bind(attachment.content.len() as i64)
        .bind(attachment.content.clone())
        .execute(&mut *conn)
        .await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO message_attachments (message_id, position, name, mime_type, size, \
             sha256, content_id, inline) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        )
        .bind(message_id)
        .bind(position as i64)
        .bind(&attachment.name)
        .bind(&attachment.mime_type)
        .bind(attachment.content.len() as i64)
        .bind(&sha256)
        .bind(attachment.content_id.clone())
        .bind(i64::from(attachment.inline))
        .fetch_one(&mut *conn)
        .await?;
        refs.push(serde_json::json!({
            "id": id, "name": attachment.name, "mime_type": attachment.mime_type,
            "size": attachment.content.len(),
        }));
    }
    // The message's list gains the ids, so interactions and agents can name them.
    if !refs.is_empty() {
        sqlx::query("UPDATE inbound_messages SET attachments = $1 WHERE id = $2")
            .bind(json(&refs))
            .bind(message_id)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// A list of an email's, as its JSON column holds it.
fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("email parts serialise")
}

pub(super) fn state_from(text: &str) -> Result<MessageState, StoreError> {
    MessageState::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("inbound_messages.state `{text}`")))
}

impl Store {
    /// Stores `batch` in one transaction and says, per post, which message it is. A
    /// post whose (recipient, gateway message id) is already stored, or repeated in the
    /// batch, is a retry: it gets the stored message's id and changes nothing.
    pub async fn store_inbound(&self, batch: &[NewInbound]) -> Result<Vec<Stored>, StoreError> {
        let now = now_ms();
        let style = Style::of(self.backend);
        let key = |n: &NewInbound| (n.recipient.clone(), n.gateway_message_id.clone());
        // The first post of each key is the one inserted; later ones in the batch are
        // retries of it.
        let mut first_of: HashMap<(String, String), usize> = HashMap::new();
        let mut unique = Vec::new();
        for (i, post) in batch.iter().enumerate() {
            first_of.entry(key(post)).or_insert_with(|| {
                unique.push(i);
                i
            });
        }
        let mut tx = self.begin_write().await?;
        let mut stored: HashMap<(String, String), Stored> = HashMap::new();
        for chunk in unique.chunks(ROWS_PER_STATEMENT) {
            let mut q = query(format!(
                "INSERT INTO inbound_messages (connector_id, channel, gateway_message_id, \
                 sender, recipient, body, received_at, stored_at, state, lease_until, subject, \
                 attributes, attachments) VALUES {} \
                 ON CONFLICT (recipient, gateway_message_id) DO NOTHING \
                 RETURNING id, recipient, gateway_message_id",
                placeholders(style, chunk.len(), 13)
            ));
            for &i in chunk {
                let post = &batch[i];
                let (attributes, attachments) = if post.email.is_some() {
                    (
                        serde_json::to_string(&post.attributes).expect("pairs serialise"),
                        serde_json::to_string(&post.attachment_metadata())
                            .expect("metadata serialises"),
                    )
                } else {
                    ("[]".to_owned(), "[]".to_owned())
                };
                q = q
                    .bind(post.connector_id)
                    .bind(post.channel.as_str())
                    .bind(post.gateway_message_id.clone())
                    .bind(post.sender.clone())
                    .bind(post.recipient.clone())
                    .bind(post.body.clone())
                    .bind(post.received_at)
                    .bind(now)
                    .bind(MessageState::Received.as_str())
                    .bind(now + ROUTING_LEASE_MS)
                    .bind(post.subject.clone())
                    .bind(attributes)
                    .bind(attachments);
            }
            // A connector deleted after the post found it: the post's doing, not the
            // database's, so it is told which connector is gone.
            let rows = q.fetch_all(&mut *tx).await.map_err(|e| match &e {
                sqlx::Error::Database(db) if is_foreign_key_violation(db.as_ref()) => {
                    StoreError::NotFound(match chunk {
                        [i] => format!("connector {}", batch[*i].connector_id),
                        _ => "the connector of one of these posts".to_owned(),
                    })
                }
                _ => StoreError::Database(e),
            })?;
            for row in rows {
                let id: i64 = row.try_get("id")?;
                stored.insert(
                    (
                        row.try_get("recipient")?,
                        row.try_get("gateway_message_id")?,
                    ),
                    Stored {
                        id,
                        duplicate: false,
                        state: MessageState::Received,
                    },
                );
            }
        }
        // An email's other parts go in the same transaction as its message: nothing is
        // half-stored.
        for &i in &unique {
            if let (Some(email), Some(new)) = (&batch[i].email, stored.get(&key(&batch[i]))) {
                store_email_parts(&mut tx, new.id, email).await?;
            }
        }
        let new_ids: Vec<i64> = stored.values().map(|s| s.id).collect();
        for chunk in new_ids.chunks(ROWS_PER_STATEMENT) {
            let mut q = query(format!(
                "INSERT INTO message_activity (message_id, status, detail, at) VALUES {}",
                placeholders(style, chunk.len(), 4)
            ));
            for &id in chunk {
                q = q
                    .bind(id)
                    .bind(MessageState::Received.as_str())
                    .bind(None::<String>)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;
        }
        // Retries of messages stored by an earlier request: rare, so one lookup each.
        for &i in &unique {
            let k = key(&batch[i]);
            if stored.contains_key(&k) {
                continue;
            }
            let row = sqlx::query(
                "SELECT id, state FROM inbound_messages \
                 WHERE recipient = $1 AND gateway_message_id = $2",
            )
            .bind(&k.0)
            .bind(&k.1)
            .fetch_one(&mut *tx)
            .await?;
            let state: String = row.try_get("state")?;
            stored.insert(
                k,
                Stored {
                    id: row.try_get("id")?,
                    duplicate: true,
                    state: state_from(&state)?,
                },
            );
        }
        tx.commit().await?;
        Ok(batch
            .iter()
            .enumerate()
            .map(|(i, post)| {
                let k = key(post);
                let mut s = stored[&k];
                s.duplicate |= first_of[&k] != i;
                s
            })
            .collect())
    }

    /// Takes up to `limit` unrouted messages whose lease ran out, lowest id first,
    /// leasing them to the caller. `leased_before`: also those leased before that time
    /// (ms) whose lease still runs, which only a node that knows it is alone may ask
    /// (on SQLite, leases taken by the previous process of the file, which is gone).
    /// Leases taken since then, by this call among others, are never claimed again while
    /// they run: a backlog is handed over once.
    pub async fn claim_unrouted(
        &self,
        leased_before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PendingMessage>, StoreError> {
        let now = now_ms();
        // A lease taken at `t` runs until `t + ROUTING_LEASE_MS`.
        let before = leased_before.map_or(now, |t| now.max(t.saturating_add(ROUTING_LEASE_MS)));
        let rows = query(format!(
            "UPDATE inbound_messages SET lease_until = $1 WHERE id IN ( \
               SELECT id FROM inbound_messages WHERE state = 'received' AND lease_until < $2 \
               ORDER BY id LIMIT $3) AND state = 'received' \
             RETURNING {PENDING_COLUMNS}"
        ))
        .bind(now + ROUTING_LEASE_MS)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.writer)
        .await?;
        let mut messages = rows
            .iter()
            .map(pending_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        messages.sort_by_key(|m| m.id);
        Ok(messages)
    }

    /// Extends the leases of the unrouted messages among `ids` for another
    /// ROUTING_LEASE_MS: a node still holding them, waiting their turn, keeps them.
    pub async fn renew_leases(&self, ids: &[i64]) -> Result<(), StoreError> {
        let style = Style::of(self.backend);
        let until = now_ms() + ROUTING_LEASE_MS;
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut q = query(format!(
                "UPDATE inbound_messages SET lease_until = {} \
                 WHERE state = 'received' AND id IN ({})",
                style.param(1),
                list(style, 2, chunk.len())
            ))
            .bind(until);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(&self.writer).await?;
        }
        Ok(())
    }

    /// The conversations of `contacts` on connector `connector_id`; a contact without
    /// one is absent.
    pub async fn conversations(
        &self,
        connector_id: i64,
        contacts: &[&str],
    ) -> Result<HashMap<String, Conversation>, StoreError> {
        let style = Style::of(self.backend);
        let mut found = HashMap::new();
        for chunk in contacts.chunks(ROWS_PER_STATEMENT) {
            let mut q = query(format!(
                "SELECT contact, status, tags FROM conversations \
                 WHERE connector_id = {} AND contact IN ({})",
                style.param(1),
                list(style, 2, chunk.len())
            ))
            .bind(connector_id);
            for contact in chunk {
                q = q.bind(contact.to_string());
            }
            for row in q.fetch_all(&self.pool).await? {
                let status: String = row.try_get("status")?;
                let tags: String = row.try_get("tags")?;
                found.insert(
                    row.try_get("contact")?,
                    Conversation {
                        status: ConversationStatus::parse(&status).ok_or_else(|| {
                            StoreError::Corrupt(format!("conversations.status `{status}`"))
                        })?,
                        tags: serde_json::from_str(&tags)
                            .map_err(|e| StoreError::Corrupt(format!("conversations.tags: {e}")))?,
                    },
                );
            }
        }
        Ok(found)
    }

    /// What a plugin's kv scope holds, as its quota counts it.
    pub async fn kv_usage(&self, scope: &str) -> Result<KvUsage, StoreError> {
        let row = sqlx::query("SELECT keys, bytes FROM plugin_kv_usage WHERE scope = $1")
            .bind(scope)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(row) => KvUsage {
                keys: row.try_get("keys")?,
                bytes: row.try_get("bytes")?,
            },
            None => KvUsage::default(),
        })
    }

    /// A plugin's stored kv value.
    pub async fn kv_get(&self, scope: &str, key: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM plugin_kv WHERE scope = $1 AND key = $2")
                .bind(scope)
                .bind(key)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// The staffing of the group named `group` as routing applications see it on
    /// `channel`: its members who are ready on that channel with a live session at
    /// `now`, and the interactions waiting in it. None if there is no such group.
    pub async fn group_staffing(
        &self,
        group: &str,
        channel: Channel,
        now: i64,
    ) -> Result<Option<(u32, u32)>, StoreError> {
        let row = sqlx::query(
            "SELECT g.id, \
               (SELECT COUNT(*) FROM agent_groups ag JOIN agent_channels c \
                  ON c.agent_id = ag.agent_id \
                WHERE ag.acd_group = g.id AND c.channel = $2 AND c.state = 'ready' \
                  AND EXISTS (SELECT 1 FROM agent_sessions s \
                              WHERE s.agent_id = ag.agent_id AND s.expires_at > $3)) AS ready, \
               (SELECT COUNT(*) FROM interactions i \
                WHERE i.acd_group = g.id AND i.state = 'queued') AS depth \
             FROM acd_groups g WHERE g.name = $1",
        )
        .bind(group)
        .bind(channel.as_str())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let count = |name: &str| -> Result<u32, StoreError> {
            let n: i64 = row.try_get(name)?;
            Ok(n.clamp(0, u32::MAX.into()) as u32)
        };
        Ok(Some((count("ready")?, count("depth")?)))
    }

    /// Writes routing outcomes in one transaction: message states, activity, routing
    /// records, interactions, queued replies, conversations, and the kv changes of the
    /// invocations that produced them. A message no longer `received` (another node
    /// routed it) is skipped with all its effects, so no message is routed twice.
    /// Kv changes that would take a scope past its quota (checked here again, for
    /// invocations that ran side by side) are not stored; the decisions stand, and
    /// the records of the messages whose invocations wrote them say so.
    /// Returns the ids of the messages written.
    pub async fn apply_routing(
        &self,
        outcomes: &[Routed],
        kv: &[(String, KvChanges)],
    ) -> Result<Vec<i64>, StoreError> {
        let now = now_ms();
        let style = Style::of(self.backend);
        let mut tx = self.begin_write().await?;
        let claimed = claim_for_write(&mut tx, style, outcomes).await?;
        let written: Vec<&Routed> = outcomes
            .iter()
            .filter(|o| claimed.contains(&o.message_id))
            .collect();
        // The kv changes of a batch that lost a message to another node still apply:
        // the invocations ran, and later messages of the batch saw their writes.
        let refused: HashSet<String> = write_kv(&mut tx, style, kv, now)
            .await?
            .into_iter()
            .collect();
        for chunk in written.chunks(ROWS_PER_STATEMENT) {
            let mut q = query(format!(
                "INSERT INTO message_activity (message_id, status, detail, at) VALUES {}",
                placeholders(style, chunk.len(), 4)
            ));
            for o in chunk {
                q = q
                    .bind(o.message_id)
                    .bind(o.state.as_str())
                    .bind(Some(o.detail.clone()))
                    .bind(now);
            }
            q.execute(&mut *tx).await?;

            let mut q = query(format!(
                "INSERT INTO routing_records (message_id, routing_type, plugin_version, \
                 plugin_sha256, outcome, reason, decision, error_kind, error, warnings, logs, \
                 elapsed_us, routed_at) VALUES {}",
                placeholders(style, chunk.len(), 13)
            ));
            for o in chunk {
                let r = &o.record;
                let mut warnings = r.warnings.clone();
                if o.wrote_kv
                    && o.connector_id
                        .is_some_and(|id| refused.contains(&kv_scope(id)))
                {
                    warnings.push(format!(
                        "the kv changes were not stored: with those of invocations running \
                         beside this one they would take the connector past its kv quota of \
                         {} keys and {} bytes",
                        KV_QUOTA.keys, KV_QUOTA.bytes
                    ));
                }
                q = q
                    .bind(o.message_id)
                    .bind(r.routing_type.as_str())
                    .bind(r.plugin_version)
                    .bind(r.plugin_sha256.clone())
                    .bind(r.outcome)
                    .bind(r.reason.clone())
                    .bind(r.decision.as_ref().map(|d| d.to_string()))
                    .bind(r.error_kind.clone())
                    .bind(r.error.clone())
                    .bind(serde_json::to_string(&warnings).expect("warnings serialise"))
                    .bind(serde_json::to_string(&r.logs).expect("log lines serialise"))
                    .bind(r.elapsed_us)
                    .bind(now);
            }
            q.execute(&mut *tx).await?;

            let interactions: Vec<_> = chunk
                .iter()
                .filter_map(|o| o.interaction.as_ref().map(|i| (o.message_id, i)))
                .collect();
            if !interactions.is_empty() {
                let mut q = query(format!(
                    "INSERT INTO interactions (message_id, acd_group, state, priority, subject, \
                     user_data, created_at, updated_at) VALUES {}",
                    placeholders(style, interactions.len(), 8)
                ));
                for (message_id, i) in interactions {
                    q = q
                        .bind(message_id)
                        .bind(i.acd_group)
                        .bind(switchyard_domain::interactions::InteractionState::Queued.as_str())
                        .bind(i.priority)
                        .bind(i.subject.clone())
                        .bind(serde_json::to_string(&i.user_data).expect("pairs serialise"))
                        .bind(now)
                        .bind(now);
                }
                q.execute(&mut *tx).await?;
            }

            let replies: Vec<_> = chunk.iter().flat_map(|o| &o.replies).collect();
            for replies in replies.chunks(ROWS_PER_STATEMENT) {
                let mut q = query(format!(
                    "INSERT INTO queue_entries (state, media, direction, sender, recipient, \
                     subject, body, inbound_message_id, created_at, created_by, updated_at, \
                     updated_by, parts) VALUES {} RETURNING number, created_by",
                    placeholders(style, replies.len(), 13)
                ));
                for r in replies {
                    q = q
                        .bind("pending")
                        .bind(r.media.as_str())
                        .bind("outgoing")
                        .bind(r.sender.clone())
                        .bind(r.recipient.clone())
                        .bind(r.subject.clone())
                        .bind(r.body.clone())
                        .bind(r.inbound_message_id)
                        .bind(now)
                        .bind(r.created_by.clone())
                        .bind(now)
                        .bind(r.created_by.clone())
                        .bind(match r.media {
                            Channel::Sms => {
                                i64::from(switchyard_domain::queue::segments::count(&r.body))
                            }
                            _ => 1,
                        });
                }
                let created = q.fetch_all(&mut *tx).await?;
                // Each entry's activity log starts with its creation, as for entries
                // created through the API.
                let mut q = query(format!(
                    "INSERT INTO queue_activity (entry_number, at, status, detail) VALUES {}",
                    placeholders(style, created.len(), 4)
                ));
                for row in &created {
                    let by: String = row.try_get("created_by")?;
                    q = q
                        .bind(row.try_get::<i64, _>("number")?)
                        .bind(now)
                        .bind("pending")
                        .bind(format!("created by {by}"));
                }
                q.execute(&mut *tx).await?;
            }
        }
        write_conversations(&mut tx, style, &written, now).await?;
        tx.commit().await?;
        Ok(written.iter().map(|o| o.message_id).collect())
    }
}

/// Moves each message from `received` to its outcome's state; returns those moved.
async fn claim_for_write(
    conn: &mut AnyConnection,
    style: Style,
    outcomes: &[Routed],
) -> Result<std::collections::HashSet<i64>, StoreError> {
    let mut claimed = std::collections::HashSet::new();
    for state in [
        MessageState::Routed,
        MessageState::Rejected,
        MessageState::Dropped,
    ] {
        let ids: Vec<i64> = outcomes
            .iter()
            .filter(|o| o.state == state)
            .map(|o| o.message_id)
            .collect();
        for chunk in ids.chunks(ROWS_PER_STATEMENT) {
            let mut q = query(format!(
                "UPDATE inbound_messages SET state = {} \
                 WHERE state = 'received' AND id IN ({}) RETURNING id",
                style.param(1),
                list(style, 2, chunk.len())
            ))
            .bind(state.as_str());
            for id in chunk {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&mut *conn).await? {
                claimed.insert(row.try_get::<i64, _>("id")?);
            }
        }
    }
    Ok(claimed)
}

/// Upserts the last conversation state per contact and connector among the written
/// outcomes, links each message to its conversation, and logs each status change in
/// the conversation's activity log.
async fn write_conversations(
    conn: &mut AnyConnection,
    style: Style,
    written: &[&Routed],
    now: i64,
) -> Result<(), StoreError> {
    // Later outcomes of the same contact carry the state after the earlier ones.
    let mut last: HashMap<(i64, &str), &Routed> = HashMap::new();
    let mut order = Vec::new();
    for o in written {
        if let (Some(_), Some(connector)) = (&o.conversation, o.connector_id)
            && last.insert((connector, o.contact.as_str()), o).is_none()
        {
            order.push((connector, o.contact.as_str()));
        }
    }
    let mut ids: HashMap<(i64, String), i64> = HashMap::new();
    for chunk in order.chunks(ROWS_PER_STATEMENT) {
        // A new message takes a closed conversation out of the archive: it is back in
        // the inbox, New.
        let mut q = query(format!(
            "INSERT INTO conversations (connector_id, channel, contact, status, tags, \
             created_at, updated_at) VALUES {} ON CONFLICT (connector_id, contact) DO UPDATE \
             SET status = excluded.status, tags = excluded.tags, \
             updated_at = excluded.updated_at, \
             archived = CASE WHEN excluded.status = 'closed' THEN conversations.archived \
               ELSE 0 END \
             RETURNING id, connector_id, contact",
            placeholders(style, chunk.len(), 7)
        ));
        for key in chunk {
            let (connector, contact) = *key;
            let o = last[key];
            let c = o
                .conversation
                .as_ref()
                .expect("only outcomes with a conversation");
            q = q
                .bind(connector)
                .bind(o.channel.as_str())
                .bind(contact.to_string())
                .bind(c.status.as_str())
                .bind(serde_json::to_string(&c.tags).expect("tags serialise"))
                .bind(now)
                .bind(now);
        }
        for row in q.fetch_all(&mut *conn).await? {
            ids.insert(
                (row.try_get("connector_id")?, row.try_get("contact")?),
                row.try_get("id")?,
            );
        }
    }
    let conversation_of = |o: &Routed| {
        o.connector_id
            .and_then(|connector| ids.get(&(connector, o.contact.clone())).copied())
    };
    let linked: Vec<(i64, i64)> = written
        .iter()
        .filter(|o| o.conversation.is_some())
        .filter_map(|o| Some((o.message_id, conversation_of(o)?)))
        .collect();
    for chunk in linked.chunks(ROWS_PER_STATEMENT) {
        let cases: Vec<String> = (0..chunk.len())
            .map(|i| {
                format!(
                    "WHEN {} THEN {}",
                    style.param(2 * i + 1),
                    style.param(2 * i + 2)
                )
            })
            .collect();
        let mut q = query(format!(
            "UPDATE inbound_messages SET conversation_id = CASE id {} END WHERE id IN ({})",
            cases.join(" "),
            list(style, 2 * chunk.len() + 1, chunk.len())
        ));
        for (message, conversation) in chunk {
            q = q.bind(*message).bind(*conversation);
        }
        for (message, _) in chunk {
            q = q.bind(*message);
        }
        q.execute(&mut *conn).await?;
    }
    // Each status change, in the order the messages were routed.
    let changes: Vec<(i64, &Routed, &str, &str)> = written
        .iter()
        .filter_map(|o| {
            let after = o.conversation.as_ref()?.status;
            let before = o.conversation_before?;
            (before != after)
                .then(|| Some((conversation_of(o)?, *o, before.as_str(), after.as_str())))?
        })
        .collect();
    for chunk in changes.chunks(ROWS_PER_STATEMENT) {
        let mut q = query(format!(
            "INSERT INTO conversation_activity (conversation_id, at, actor, action, \
             from_status, to_status, detail) VALUES {}",
            placeholders(style, chunk.len(), 7)
        ));
        for (conversation, o, before, after) in chunk {
            let actor = match o.connector_id {
                Some(connector) => format!("routing:connector {connector}"),
                None => "routing".to_owned(),
            };
            q = q
                .bind(*conversation)
                .bind(now)
                .bind(actor)
                .bind("inbound")
                .bind(before.to_string())
                .bind(after.to_string())
                .bind(format!("message {}", o.message_id));
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}

/// Stores kv changes per scope, keeping each scope's usage (`plugin_kv_usage`) and
/// each entry's size with them. A scope whose changes would break [`KV_QUOTA`] (the
/// invocation checked it, but another transaction may have written the scope since)
/// gets none of them: returns those scopes.
pub(super) async fn write_kv(
    conn: &mut AnyConnection,
    style: Style,
    kv: &[(String, KvChanges)],
    now: i64,
) -> Result<Vec<String>, StoreError> {
    // Merged first: a key set and then deleted in one batch ends deleted.
    let mut scopes: BTreeMap<&str, BTreeMap<&str, Option<&str>>> = BTreeMap::new();
    for (scope, changes) in kv {
        let merged = scopes.entry(scope.as_str()).or_default();
        for (key, value) in &changes.0 {
            merged.insert(key.as_str(), value.as_deref());
        }
    }
    let mut refused = Vec::new();
    for (scope, changes) in scopes {
        // The scope's usage row is written first: on PostgreSQL that locks it, so two
        // transactions changing one scope check its quota one after the other (SQLite
        // has one writer).
        let row = sqlx::query(
            "INSERT INTO plugin_kv_usage (scope, keys, bytes) VALUES ($1, 0, 0) \
             ON CONFLICT (scope) DO UPDATE SET keys = plugin_kv_usage.keys \
             RETURNING keys, bytes",
        )
        .bind(scope)
        .fetch_one(&mut *conn)
        .await?;
        let before = KvUsage {
            keys: row.try_get("keys")?,
            bytes: row.try_get("bytes")?,
        };
        let keys: Vec<&str> = changes.keys().copied().collect();
        let mut stored: HashMap<String, i64> = HashMap::new();
        for chunk in keys.chunks(ROWS_PER_STATEMENT) {
            let mut q = query(format!(
                "SELECT key, size FROM plugin_kv WHERE scope = {} AND key IN ({})",
                style.param(1),
                list(style, 2, chunk.len())
            ))
            .bind(scope.to_owned());
            for key in chunk {
                q = q.bind(key.to_string());
            }
            for row in q.fetch_all(&mut *conn).await? {
                stored.insert(row.try_get("key")?, row.try_get("size")?);
            }
        }
        let mut after = before;
        for (key, value) in &changes {
            if let Some(size) = stored.get(*key) {
                after.keys -= 1;
                after.bytes -= size;
            }
            if let Some(value) = value {
                after = after + KvUsage::entry(key, value);
            }
        }
        if before.breaks(after, KV_QUOTA) {
            refused.push(scope.to_owned());
            continue;
        }
        sqlx::query("UPDATE plugin_kv_usage SET keys = $1, bytes = $2 WHERE scope = $3")
            .bind(after.keys)
            .bind(after.bytes)
            .bind(scope)
            .execute(&mut *conn)
            .await?;
        // One statement per chunk of upserts, not one per key: routers such as the
        // keyword router write a key for nearly every message.
        let (sets, deletes): (Vec<_>, Vec<_>) = changes.into_iter().partition(|(_, v)| v.is_some());
        for chunk in sets.chunks(ROWS_PER_STATEMENT) {
            let mut q = query(format!(
                "INSERT INTO plugin_kv (scope, key, value, size, updated_at) VALUES {} \
                 ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value, \
                 size = excluded.size, updated_at = excluded.updated_at",
                placeholders(style, chunk.len(), 5)
            ));
            for (key, value) in chunk {
                let value = value.unwrap_or_default();
                q = q
                    .bind(scope.to_owned())
                    .bind(key.to_string())
                    .bind(value.to_owned())
                    .bind(KvUsage::entry(key, value).bytes)
                    .bind(now);
            }
            q.execute(&mut *conn).await?;
        }
        for (key, _) in deletes {
            sqlx::query("DELETE FROM plugin_kv WHERE scope = $1 AND key = $2")
                .bind(scope)
                .bind(key)
                .execute(&mut *conn)
                .await?;
        }
    }
    Ok(refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_then_columns() {
        assert_eq!(
            placeholders(Style::Numbered, 2, 3),
            "($1, $2, $3), ($4, $5, $6)"
        );
        assert_eq!(list(Style::Numbered, 2, 3), "$2, $3, $4");
        assert_eq!(placeholders(Style::Positional, 2, 2), "(?, ?), (?, ?)");
    }
}

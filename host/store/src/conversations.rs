//! Conversations as the inbox shows them and people change them: listing with the
//! inbox's filters, one with its activity log and messages, close, reopen, archive,
//! unarchive and tags, each logged with who did it. Routing writes them in
//! `messages.rs`, agents' replies in `offering.rs`.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError};
use switchyard_domain::channel::Channel;
use switchyard_domain::conversations::{
    self, Action, Archived, ConversationActivity, ConversationFilter, ConversationStatus,
    ConversationView, Standing,
};

const COLUMNS: &str =
    "id, connector_id, channel, contact, status, tags, archived, created_at, updated_at";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("conversations.{what}: {e}"))
}

fn status(text: &str) -> Result<ConversationStatus, StoreError> {
    ConversationStatus::parse(text).ok_or_else(|| corrupt("status", text))
}

fn from_row(row: &AnyRow) -> Result<ConversationView, StoreError> {
    let channel: String = row.try_get("channel")?;
    let tags: String = row.try_get("tags")?;
    Ok(ConversationView {
        id: row.try_get("id")?,
        connector_id: row.try_get("connector_id")?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        contact: row.try_get("contact")?,
        status: status(&row.try_get::<String, _>("status")?)?,
        tags: serde_json::from_str(&tags).map_err(|e| corrupt("tags", e))?,
        archived: row.try_get::<i64, _>("archived")? != 0,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        activity: None,
        message_ids: None,
    })
}

/// Adds a line to conversation `conversation`'s activity log.
pub(super) async fn log(
    conn: &mut AnyConnection,
    conversation: i64,
    at: i64,
    actor: &str,
    action: &str,
    (from, to): (Option<&str>, Option<&str>),
    detail: Option<&str>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO conversation_activity (conversation_id, at, actor, action, from_status, \
         to_status, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(conversation)
    .bind(at)
    .bind(actor.to_owned())
    .bind(action.to_owned())
    .bind(from.map(str::to_owned))
    .bind(to.map(str::to_owned))
    .bind(detail.map(str::to_owned))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Conversation `id`'s row, locked for the transaction on PostgreSQL (SQLite has one
/// writer).
async fn locked(
    conn: &mut AnyConnection,
    backend: super::Backend,
    id: i64,
) -> Result<ConversationView, StoreError> {
    let lock = match backend {
        super::Backend::Postgres => " FOR UPDATE",
        super::Backend::Sqlite => "",
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM conversations WHERE id = $1{lock}"
    )))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(format!("conversation {id}")))?;
    from_row(&row)
}

impl Store {
    /// The conversations `filter` selects, by id, after `after`, at most `limit`.
    pub async fn list_conversations(
        &self,
        filter: &ConversationFilter,
        after: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ConversationView>, StoreError> {
        // NULL parameters switch a condition off. A tag is matched inside the JSON list
        // by its quoted form, which JSON escaping makes exact.
        let (archived_any, archived) = match filter.archived {
            Archived::Hidden => (0, 0),
            Archived::Only => (0, 1),
            Archived::Any => (1, 0),
        };
        let tag = filter.tag.as_ref().map(|t| {
            let quoted = serde_json::to_string(t).expect("a string serialises");
            // LIKE's own wildcards in a tag match only themselves.
            let escaped = quoted
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM conversations \
             WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR tags LIKE $2 ESCAPE '\\') \
               AND ($3 = 1 OR archived = $4) AND ($5 IS NULL OR connector_id = $5) \
               AND ($6 IS NULL OR contact = $6) AND ($7 IS NULL OR channel = $7) \
               AND ($8 IS NULL OR updated_at >= $8) AND ($9 IS NULL OR updated_at < $9) \
               AND id > $10 \
             ORDER BY id LIMIT $11"
        )))
        .bind(filter.status.map(ConversationStatus::as_str))
        .bind(tag)
        .bind(archived_any)
        .bind(archived)
        .bind(filter.connector_id)
        .bind(filter.contact.clone())
        .bind(filter.channel.map(Channel::as_str))
        .bind(filter.updated_since)
        .bind(filter.updated_before)
        .bind(after.unwrap_or(0))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(from_row).collect()
    }

    /// Conversation `id` with its activity log and its messages' ids.
    pub async fn conversation(&self, id: i64) -> Result<ConversationView, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM conversations WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("conversation {id}")))?;
        let mut view = from_row(&row)?;
        let activity = sqlx::query(
            "SELECT at, actor, action, from_status, to_status, detail \
             FROM conversation_activity WHERE conversation_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        let optional =
            |row: &AnyRow, column: &str| -> Result<Option<ConversationStatus>, StoreError> {
                row.try_get::<Option<String>, _>(column)?
                    .map(|s| status(&s))
                    .transpose()
            };
        view.activity = Some(
            activity
                .iter()
                .map(|row| {
                    Ok(ConversationActivity {
                        actor: row.try_get("actor")?,
                        action: row.try_get("action")?,
                        from_status: optional(row, "from_status")?,
                        to_status: optional(row, "to_status")?,
                        detail: row.try_get("detail")?,
                        at: row.try_get("at")?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        );
        view.message_ids = Some(
            sqlx::query_scalar(
                "SELECT id FROM inbound_messages WHERE conversation_id = $1 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await?,
        );
        Ok(view)
    }

    /// Closes, reopens, archives or unarchives conversation `id` for `actor`; a move
    /// the seed does not allow is [`StoreError::Conflict`] with the reason.
    pub async fn act_on_conversation(
        &self,
        id: i64,
        action: Action,
        actor: &str,
        now: i64,
    ) -> Result<ConversationView, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = locked(&mut tx, self.backend, id).await?;
        let next = conversations::apply(
            action,
            Standing {
                status: current.status,
                archived: current.archived,
            },
        )
        .map_err(StoreError::Conflict)?;
        sqlx::query(
            "UPDATE conversations SET status = $1, archived = $2, updated_at = $3 WHERE id = $4",
        )
        .bind(next.status.as_str())
        .bind(i64::from(next.archived))
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        log(
            &mut tx,
            id,
            now,
            actor,
            action.as_str(),
            (Some(current.status.as_str()), Some(next.status.as_str())),
            None,
        )
        .await?;
        tx.commit().await?;
        self.conversation(id).await
    }

    /// Adds `tags` to conversation `id` (also when closed), or removes them (refused
    /// when closed: its tags are locked), for `actor`.
    pub async fn change_conversation_tags(
        &self,
        id: i64,
        tags: &[String],
        add: bool,
        actor: &str,
        now: i64,
    ) -> Result<ConversationView, StoreError> {
        let mut tx = self.begin_write().await?;
        let current = locked(&mut tx, self.backend, id).await?;
        let mut next = current.tags.clone();
        if add {
            for tag in tags {
                if !next.contains(tag) {
                    next.push(tag.clone());
                }
            }
            if next.len() > conversations::MAX_CONVERSATION_TAGS {
                return Err(StoreError::Invalid {
                    field: "tags",
                    message: format!(
                        "a conversation keeps at most {} tags; it has {}",
                        conversations::MAX_CONVERSATION_TAGS,
                        current.tags.len()
                    ),
                });
            }
        } else {
            conversations::check_tag_removal(current.status).map_err(StoreError::Conflict)?;
            next.retain(|t| !tags.contains(t));
        }
        sqlx::query("UPDATE conversations SET tags = $1, updated_at = $2 WHERE id = $3")
            .bind(serde_json::to_string(&next).expect("tags serialise"))
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let action = if add { "tags_added" } else { "tags_removed" };
        log(
            &mut tx,
            id,
            now,
            actor,
            action,
            (None, None),
            Some(&tags.join(", ")),
        )
        .await?;
        tx.commit().await?;
        self.conversation(id).await
    }
}

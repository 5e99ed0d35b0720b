//! Reading interactions and inbound messages back, with their activity log and routing
//! record, for the API.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::messages::state_from;
use super::{Store, StoreError};
use switchyard_domain::channel::Channel;
use switchyard_domain::email::Mailbox;
use switchyard_domain::interactions::{
    Activity, AttachmentRef, Interaction, InteractionFilter, InteractionState, MessageFilter,
    MessageView, RoutingRecordView,
};

/// What [`interaction_from_row`] reads; with [`INTERACTION_FROM`] after it.
pub(crate) const INTERACTION_COLUMNS: &str = "i.id, i.message_id, i.acd_group, \
     g.name AS acd_group_name, i.state, i.priority, i.subject, i.user_data, m.channel, \
     m.sender, m.recipient, m.body, m.received_at, i.agent_id, i.offered_at, i.workbin, \
     i.draft, i.created_at, i.updated_at, m.attachments, e.cc_addresses, e.html";

/// The tables [`INTERACTION_COLUMNS`] come from.
pub(crate) const INTERACTION_FROM: &str = "interactions i JOIN acd_groups g ON g.id = i.acd_group \
     JOIN inbound_messages m ON m.id = i.message_id \
     LEFT JOIN inbound_emails e ON e.message_id = m.id";

const MESSAGE_COLUMNS: &str = "m.id, m.connector_id, m.channel, m.gateway_message_id, m.sender, \
     m.recipient, m.body, m.received_at, m.stored_at, m.state, \
     (SELECT i.id FROM interactions i WHERE i.message_id = m.id) AS interaction_id";

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

fn channel(row: &AnyRow) -> Result<Channel, StoreError> {
    let text: String = row.try_get("channel")?;
    Channel::parse(&text).ok_or_else(|| corrupt("channel", &text))
}

/// An email's attachments as the message lists them: those stored with their ids.
fn attachment_refs(row: &AnyRow) -> Result<Vec<AttachmentRef>, StoreError> {
    let text: String = row.try_get("attachments")?;
    let items: Vec<serde_json::Value> =
        serde_json::from_str(&text).map_err(|e| corrupt("inbound_messages.attachments", e))?;
    Ok(items
        .into_iter()
        .filter(|item| item.get("id").is_some())
        .filter_map(|item| serde_json::from_value(item).ok())
        .collect())
}

/// The addresses of an email's Cc, when the message is an email.
fn cc_addresses(row: &AnyRow) -> Result<Vec<String>, StoreError> {
    let Some(text) = row.try_get::<Option<String>, _>("cc_addresses")? else {
        return Ok(Vec::new());
    };
    let mailboxes: Vec<Mailbox> =
        serde_json::from_str(&text).map_err(|e| corrupt("inbound_emails.cc_addresses", e))?;
    Ok(mailboxes.into_iter().map(|m| m.address).collect())
}

pub(crate) fn interaction_from_row(row: &AnyRow) -> Result<Interaction, StoreError> {
    let state: String = row.try_get("state")?;
    let user_data: String = row.try_get("user_data")?;
    Ok(Interaction {
        id: row.try_get("id")?,
        message_id: row.try_get("message_id")?,
        acd_group: row.try_get("acd_group")?,
        acd_group_name: row.try_get("acd_group_name")?,
        state: InteractionState::parse(&state)
            .ok_or_else(|| corrupt("interactions.state", &state))?,
        priority: row.try_get("priority")?,
        subject: row.try_get("subject")?,
        user_data: serde_json::from_str(&user_data)
            .map_err(|e| corrupt("interactions.user_data", e))?,
        channel: channel(row)?,
        from: row.try_get("sender")?,
        to: row.try_get("recipient")?,
        text: row.try_get("body")?,
        received_at: row.try_get("received_at")?,
        agent_id: row.try_get("agent_id")?,
        offered_at: row.try_get("offered_at")?,
        workbin: row.try_get("workbin")?,
        draft: json_column(row, "draft")?
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| corrupt("interactions.draft", e))?,
        cc: cc_addresses(row)?,
        html: row.try_get("html")?,
        attachments: attachment_refs(row)?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn message_from_row(row: &AnyRow) -> Result<MessageView, StoreError> {
    let state: String = row.try_get("state")?;
    Ok(MessageView {
        id: row.try_get("id")?,
        connector_id: row.try_get("connector_id")?,
        channel: channel(row)?,
        gateway_message_id: row.try_get("gateway_message_id")?,
        from: row.try_get("sender")?,
        to: row.try_get("recipient")?,
        text: row.try_get("body")?,
        received_at: row.try_get("received_at")?,
        stored_at: row.try_get("stored_at")?,
        state: state_from(&state)?,
        interaction_id: row.try_get("interaction_id")?,
        activity: Vec::new(),
        routing: None,
        email: None,
    })
}

fn json_column(row: &AnyRow, column: &str) -> Result<Option<serde_json::Value>, StoreError> {
    let text: Option<String> = row.try_get(column)?;
    text.map(|t| serde_json::from_str(&t).map_err(|e| corrupt(column, e)))
        .transpose()
}

impl Store {
    /// Interactions matching `filter`, oldest first.
    pub async fn list_interactions(
        &self,
        filter: &InteractionFilter,
    ) -> Result<Vec<Interaction>, StoreError> {
        // NULL parameters switch a condition off, so one statement serves every filter.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTERACTION_COLUMNS} FROM {INTERACTION_FROM} \
             WHERE ($1 IS NULL OR i.acd_group = $1) AND ($2 IS NULL OR i.state = $2) \
               AND i.id > $3 \
             ORDER BY i.id LIMIT $4"
        )))
        .bind(filter.acd_group)
        .bind(filter.state.map(InteractionState::as_str))
        .bind(filter.after.unwrap_or(0))
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(interaction_from_row).collect()
    }

    pub async fn interaction(&self, id: i64) -> Result<Interaction, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {INTERACTION_COLUMNS} FROM {INTERACTION_FROM} WHERE i.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("interaction {id}")))?;
        interaction_from_row(&row)
    }

    /// Inbound messages matching `filter`, oldest first, without activity or routing.
    pub async fn list_messages(
        &self,
        filter: &MessageFilter,
    ) -> Result<Vec<MessageView>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM inbound_messages m \
             WHERE ($1 IS NULL OR m.connector_id = $1) AND ($2 IS NULL OR m.state = $2) \
               AND m.id > $3 \
             ORDER BY m.id LIMIT $4"
        )))
        .bind(filter.connector_id)
        .bind(filter.state.map(|s| s.as_str()))
        .bind(filter.after.unwrap_or(0))
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(message_from_row).collect()
    }

    /// A message with its activity log and routing record.
    pub async fn message(&self, id: i64) -> Result<MessageView, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM inbound_messages m WHERE m.id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {id}")))?;
        let mut message = message_from_row(&row)?;
        let activity = sqlx::query(
            "SELECT status, detail, at FROM message_activity WHERE message_id = $1 ORDER BY id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?;
        message.activity = activity
            .iter()
            .map(|row| {
                Ok(Activity {
                    status: row.try_get("status")?,
                    detail: row.try_get("detail")?,
                    at: row.try_get("at")?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        let record = sqlx::query(
            "SELECT routing_type, plugin_version, plugin_sha256, outcome, reason, decision, \
             error_kind, error, warnings, logs, elapsed_us, routed_at FROM routing_records \
             WHERE message_id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        message.routing = match record {
            Some(row) => Some(RoutingRecordView {
                routing_type: row.try_get("routing_type")?,
                plugin_version: row.try_get("plugin_version")?,
                plugin_sha256: row.try_get("plugin_sha256")?,
                outcome: row.try_get("outcome")?,
                reason: row.try_get("reason")?,
                decision: json_column(&row, "decision")?,
                error_kind: row.try_get("error_kind")?,
                error: row.try_get("error")?,
                warnings: serde_json::from_str(&row.try_get::<String, _>("warnings")?)
                    .map_err(|e| StoreError::Corrupt(format!("routing_records.warnings: {e}")))?,
                logs: json_column(&row, "logs")?.unwrap_or_default(),
                elapsed_us: row.try_get("elapsed_us")?,
                routed_at: row.try_get("routed_at")?,
            }),
            None => None,
        };
        if message.channel == Channel::Email {
            message.email = self.email_view(id).await?;
        }
        Ok(message)
    }

    /// Every ACD group's id and name: what routing resolves group names against.
    pub async fn acd_group_names(&self) -> Result<Vec<(i64, String)>, StoreError> {
        let rows = sqlx::query("SELECT id, name FROM acd_groups")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("id")?, row.try_get("name")?)))
            .collect()
    }

    /// The connector for `recipient` (E.164), with its active plugin.
    pub async fn connector_for(
        &self,
        recipient: &str,
    ) -> Result<Option<switchyard_domain::connectors::SmsConnector>, StoreError> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM sms_connectors WHERE recipient = $1")
                .bind(recipient)
                .fetch_optional(&self.pool)
                .await?;
        match id {
            Some(id) => match self.connector(id).await {
                Ok(c) => Ok(Some(c)),
                Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(None),
        }
    }
}

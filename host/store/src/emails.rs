//! Reading inbound emails' own parts (addresses, HTML, threading ids) and their
//! attachments, stored by `messages.rs` in the transaction that stores the message.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError};
use switchyard_domain::email::thread;
use switchyard_domain::interactions::{AttachmentView, EmailView};

/// A list column of `inbound_emails`.
fn list<T: serde::de::DeserializeOwned>(row: &AnyRow, column: &str) -> Result<T, StoreError> {
    super::decode_json(row, "inbound_emails", column)
}

fn attachment_from_row(row: &AnyRow) -> Result<AttachmentView, StoreError> {
    Ok(AttachmentView {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        size: row.try_get("size")?,
        mimetype: row.try_get("mime_type")?,
        inline: row.try_get::<i64, _>("inline")? != 0,
        content_id: row.try_get("content_id")?,
    })
}

const ATTACHMENT_COLUMNS: &str = "id, name, size, mime_type, inline, content_id";

impl Store {
    /// The email parts of message `message_id`; `None` for an SMS.
    pub async fn email_view(&self, message_id: i64) -> Result<Option<EmailView>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT m.subject, e.rfc_message_id, e.generated_id, e.from_name, e.to_addresses, \
             e.cc_addresses, e.html, e.in_reply_to, e.references_ids, e.dialect \
             FROM inbound_emails e JOIN inbound_messages m ON m.id = e.message_id \
             WHERE e.message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        Ok(Some(EmailView {
            subject: row.try_get("subject")?,
            from_name: row.try_get("from_name")?,
            to: list(&row, "to_addresses")?,
            cc: list(&row, "cc_addresses")?,
            html: row.try_get("html")?,
            message_id: row.try_get("rfc_message_id")?,
            generated_message_id: row.try_get::<i64, _>("generated_id")? != 0,
            in_reply_to: list(&row, "in_reply_to")?,
            references: list(&row, "references_ids")?,
            dialect: row.try_get("dialect")?,
            attachments: self.attachments_of(message_id).await?,
        }))
    }

    /// The attachments of message `message_id`, in the email's order.
    pub async fn attachments_of(&self, message_id: i64) -> Result<Vec<AttachmentView>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {ATTACHMENT_COLUMNS} FROM message_attachments WHERE message_id = $1 \
             ORDER BY position"
        )))
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attachment_from_row).collect()
    }

    /// The Message-ID and References of inbound email `message_id`: what an answer to
    /// it threads onto. `None` for an SMS.
    pub async fn email_thread(
        &self,
        message_id: i64,
    ) -> Result<Option<(String, Vec<String>)>, StoreError> {
        let row = sqlx::query(
            "SELECT rfc_message_id, references_ids FROM inbound_emails WHERE message_id = $1",
        )
        .bind(message_id)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => Ok(Some((
                row.try_get("rfc_message_id")?,
                list(&row, "references_ids")?,
            ))),
            None => Ok(None),
        }
    }

    /// The contact whose conversation on connector `connector_id` the nearest of
    /// `ancestors` (Message-IDs, nearest first) belongs to: an inbound email's sender,
    /// or the recipient of an email the queue sent answering one of the connector's
    /// messages. `None` when none is known here.
    pub async fn thread_contact(
        &self,
        connector_id: i64,
        ancestors: &[String],
    ) -> Result<Option<String>, StoreError> {
        for id in ancestors
            .iter()
            .take(switchyard_domain::email::MAX_THREAD_IDS)
        {
            let contact: Option<String> = match thread::queue_entry_of(id) {
                Some(number) => {
                    sqlx::query_scalar(
                        "SELECT q.recipient FROM queue_entries q \
                         JOIN inbound_messages m ON m.id = q.inbound_message_id \
                         WHERE q.number = $1 AND m.connector_id = $2 AND q.media = 'email'",
                    )
                    .bind(number)
                    .bind(connector_id)
                    .fetch_optional(&self.pool)
                    .await?
                }
                None => {
                    sqlx::query_scalar(
                        "SELECT m.sender FROM inbound_emails e \
                         JOIN inbound_messages m ON m.id = e.message_id \
                         WHERE e.rfc_message_id = $1 AND m.connector_id = $2 \
                         ORDER BY m.id LIMIT 1",
                    )
                    .bind(id)
                    .bind(connector_id)
                    .fetch_optional(&self.pool)
                    .await?
                }
            };
            if contact.is_some() {
                return Ok(contact);
            }
        }
        Ok(None)
    }

    /// The attachments linked to queue entry `number` (an agent's email reply), in
    /// order: name, MIME type and bytes.
    pub async fn entry_attachments(
        &self,
        number: i64,
    ) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT a.name, a.mime_type, b.content FROM queue_attachments q \
             JOIN message_attachments a ON a.id = q.attachment_id \
             JOIN attachment_blobs b ON b.sha256 = a.sha256 \
             WHERE q.entry_number = $1 ORDER BY q.position",
        )
        .bind(number)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("name")?,
                    row.try_get("mime_type")?,
                    row.try_get("content")?,
                ))
            })
            .collect()
    }

    /// Attachment `id` with its bytes.
    pub async fn attachment(&self, id: i64) -> Result<(AttachmentView, Vec<u8>), StoreError> {
        let row = sqlx::query(
            "SELECT a.id, a.name, a.size, a.mime_type, a.inline, a.content_id, b.content \
             FROM message_attachments a JOIN attachment_blobs b ON b.sha256 = a.sha256 \
             WHERE a.id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("attachment {id}")))?;
        Ok((attachment_from_row(&row)?, row.try_get("content")?))
    }
}

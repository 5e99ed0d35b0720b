//! Storage of receive connectors, SMS and email, and of email connectors' addresses.

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::{Store, StoreError, now_ms};
use switchyard_domain::channel::Channel;
use switchyard_domain::connectors::{
    ConnectorDefinition, ConnectorToken, PluginLimits, RoutingType, SmsConnector,
};

const COLUMNS: &str = "id, channel, name, recipient, token, require_token, routing_type, acd_group, \
                       incoming_subject, fallback_acd_group, plugin_settings, plugin_limits, \
                       twilio_auth_token, created_at, updated_at";

/// A connector without its active plugin and addresses, which [`Store::connector`]
/// adds.
fn from_row(row: &AnyRow) -> Result<SmsConnector, StoreError> {
    let routing_type: String = row.try_get("routing_type")?;
    let channel: String = row.try_get("channel")?;
    let settings: String = row.try_get("plugin_settings")?;
    let limits: Option<String> = row.try_get("plugin_limits")?;
    let corrupt = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Corrupt(format!("sms_connectors.{what}: {e}"))
    };
    Ok(SmsConnector {
        id: row.try_get("id")?,
        channel: Channel::parse(&channel).ok_or_else(|| corrupt("channel", &channel))?,
        name: row.try_get("name")?,
        recipient: row.try_get("recipient")?,
        addresses: Vec::new(),
        token: row.try_get("token")?,
        require_token: row.try_get::<i64, _>("require_token")? != 0,
        routing_type: RoutingType::parse(&routing_type).map_err(|e| corrupt("routing_type", &e))?,
        acd_group: row.try_get("acd_group")?,
        incoming_subject: row.try_get("incoming_subject")?,
        fallback_acd_group: row.try_get("fallback_acd_group")?,
        plugin_settings: serde_json::from_str(&settings)
            .map_err(|e| corrupt("plugin_settings", &e))?,
        plugin_limits: limits
            .map(|text| serde_json::from_str::<PluginLimits>(&text))
            .transpose()
            .map_err(|e| corrupt("plugin_limits", &e))?,
        twilio_auth_token: row.try_get("twilio_auth_token")?,
        active_plugin: None,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("connector {id}"))
}

fn not_found_on(channel: Channel, id: i64) -> StoreError {
    let kind = match channel {
        Channel::Email => "email",
        _ => "SMS",
    };
    StoreError::NotFound(format!("{kind} connector {id}"))
}

/// Names the field a unique or foreign-key violation is about. The database names the
/// constraint or column in its message on both backends (`sms_connectors.recipient`,
/// `sms_connectors_recipient_key`), which is what tells a taken number from a taken name.
fn write_error(definition: &ConnectorDefinition) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let about = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
            if definition.channel == Channel::Email
                && (about.contains("recipient") || about.contains("address"))
            {
                StoreError::Duplicate(
                    "an email connector for one of these addresses (each address belongs to \
                     one connector)"
                        .to_owned(),
                )
            } else if about.contains("recipient") {
                StoreError::Duplicate(format!(
                    "an SMS connector for recipient `{}`",
                    definition.recipient
                ))
            } else {
                StoreError::Duplicate(format!("an SMS connector named `{}`", definition.name))
            }
        }
        // The groups were checked in this transaction; this is a group deleted since.
        sqlx::Error::Database(db) if super::is_foreign_key_violation(&**db) => {
            StoreError::Invalid {
                field: "acd_group",
                message: "the ACD group was deleted while the connector was saved".into(),
            }
        }
        _ => StoreError::Database(e),
    }
}

/// Refuses a definition that names an ACD group that does not exist, naming the field.
async fn check_groups(
    conn: &mut AnyConnection,
    definition: &ConnectorDefinition,
) -> Result<(), StoreError> {
    for (field, id) in definition.referenced_groups() {
        let found: Option<i64> = sqlx::query_scalar("SELECT id FROM acd_groups WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
        if found.is_none() {
            return Err(StoreError::Invalid {
                field,
                message: format!("there is no ACD group with id {id}"),
            });
        }
    }
    Ok(())
}

/// Replaces an email connector's addresses with the definition's (nothing for SMS).
async fn write_addresses(
    conn: &mut AnyConnection,
    id: i64,
    definition: &ConnectorDefinition,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM connector_addresses WHERE connector_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    for (position, address) in definition.addresses.iter().enumerate() {
        sqlx::query(
            "INSERT INTO connector_addresses (address, connector_id, position) VALUES ($1, $2, $3)",
        )
        .bind(address)
        .bind(id)
        .bind(position as i64)
        .execute(&mut *conn)
        .await
        .map_err(write_error(definition))?;
    }
    Ok(())
}

fn limits_json(definition: &ConnectorDefinition) -> Option<String> {
    definition
        .plugin_limits
        .map(|l| serde_json::to_string(&l).expect("limits serialise"))
}

impl Store {
    pub async fn create_connector(
        &self,
        definition: &ConnectorDefinition,
        token: &ConnectorToken,
    ) -> Result<SmsConnector, StoreError> {
        let mut tx = self.begin_write().await?;
        check_groups(&mut tx, definition).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sms_connectors (name, recipient, token, require_token, routing_type, \
             acd_group, incoming_subject, fallback_acd_group, plugin_settings, plugin_limits, \
             created_at, updated_at, twilio_auth_token, channel) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, $12, $13) \
             RETURNING {COLUMNS}"
        )))
        .bind(&definition.name)
        .bind(definition.recipient.as_str())
        .bind(token.as_str())
        .bind(i64::from(definition.require_token))
        .bind(definition.routing_type.as_str())
        .bind(definition.acd_group)
        .bind(definition.incoming_subject.as_deref())
        .bind(definition.fallback_acd_group)
        .bind(definition.plugin_settings.to_string())
        .bind(limits_json(definition))
        .bind(now_ms())
        .bind(definition.twilio_auth_token.clone())
        .bind(definition.channel.as_str())
        .fetch_one(&mut *tx)
        .await
        .map_err(write_error(definition))?;
        let mut connector = from_row(&row)?;
        write_addresses(&mut tx, connector.id, definition).await?;
        connector.addresses = definition.addresses.clone();
        tx.commit().await?;
        Ok(connector)
    }

    /// The connectors of `channel`, ordered by name, each with its active plugin.
    pub async fn list_connectors(&self, channel: Channel) -> Result<Vec<SmsConnector>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sms_connectors WHERE channel = $1 ORDER BY name, id"
        )))
        .bind(channel.as_str())
        .fetch_all(&self.pool)
        .await?;
        let mut connectors = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut connector = from_row(row)?;
            self.with_plugin_and_addresses(&mut connector).await?;
            connectors.push(connector);
        }
        Ok(connectors)
    }

    /// Adds what a connector's row does not hold: its active plugin and its addresses.
    async fn with_plugin_and_addresses(
        &self,
        connector: &mut SmsConnector,
    ) -> Result<(), StoreError> {
        connector.active_plugin = self.active_plugin(connector.id).await?;
        if connector.channel == Channel::Email {
            connector.addresses = sqlx::query_scalar(
                "SELECT address FROM connector_addresses WHERE connector_id = $1 \
                 ORDER BY position",
            )
            .bind(connector.id)
            .fetch_all(&self.pool)
            .await?;
        }
        Ok(())
    }

    /// The email connector that receives for `address` (lower-cased), if any.
    pub async fn email_connector_for(
        &self,
        address: &str,
    ) -> Result<Option<SmsConnector>, StoreError> {
        let id: Option<i64> =
            sqlx::query_scalar("SELECT connector_id FROM connector_addresses WHERE address = $1")
                .bind(address)
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

    pub async fn connector(&self, id: i64) -> Result<SmsConnector, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM sms_connectors WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(id))?;
        let mut connector = from_row(&row)?;
        self.with_plugin_and_addresses(&mut connector).await?;
        Ok(connector)
    }

    /// Replaces every field of connector `id` with `definition`; the token changes only
    /// when `new_token` is given.
    pub async fn update_connector(
        &self,
        id: i64,
        definition: &ConnectorDefinition,
        new_token: Option<&ConnectorToken>,
    ) -> Result<SmsConnector, StoreError> {
        let mut tx = self.begin_write().await?;
        check_groups(&mut tx, definition).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE sms_connectors SET name = $1, recipient = $2, token = COALESCE($3, token), \
             require_token = $4, routing_type = $5, acd_group = $6, incoming_subject = $7, \
             fallback_acd_group = $8, plugin_settings = $9, plugin_limits = $10, \
             updated_at = $11, twilio_auth_token = $13 WHERE id = $12 AND channel = $14 \
             RETURNING {COLUMNS}"
        )))
        .bind(&definition.name)
        .bind(definition.recipient.as_str())
        .bind(new_token.map(ConnectorToken::as_str))
        .bind(i64::from(definition.require_token))
        .bind(definition.routing_type.as_str())
        .bind(definition.acd_group)
        .bind(definition.incoming_subject.as_deref())
        .bind(definition.fallback_acd_group)
        .bind(definition.plugin_settings.to_string())
        .bind(limits_json(definition))
        .bind(now_ms())
        .bind(id)
        .bind(definition.twilio_auth_token.clone())
        .bind(definition.channel.as_str())
        .fetch_optional(&mut *tx)
        .await
        .map_err(write_error(definition))?
        .ok_or_else(|| not_found(id))?;
        write_addresses(&mut tx, id, definition).await?;
        tx.commit().await?;
        let mut connector = from_row(&row)?;
        self.with_plugin_and_addresses(&mut connector).await?;
        Ok(connector)
    }

    /// Connector `id` if it is one of `channel`'s: the SMS and email resources each
    /// see only their own.
    pub async fn connector_of(
        &self,
        channel: Channel,
        id: i64,
    ) -> Result<SmsConnector, StoreError> {
        match self.connector(id).await {
            Ok(connector) if connector.channel == channel => Ok(connector),
            Ok(_) | Err(StoreError::NotFound(_)) => Err(not_found_on(channel, id)),
            Err(e) => Err(e),
        }
    }

    /// Deletes a connector of `channel` with its plugin versions and their activation
    /// history (and an email connector's addresses).
    pub async fn delete_connector(&self, channel: Channel, id: i64) -> Result<(), StoreError> {
        // The delete cascades to the connector's conversations and unlinks its messages,
        // which routing may be writing at that moment in the other order: on PostgreSQL
        // one of the two can be chosen as a deadlock's victim. Routing retries its own
        // batch; the delete is tried again here.
        let mut tries = 0;
        let result = loop {
            tries += 1;
            match sqlx::query("DELETE FROM sms_connectors WHERE id = $1 AND channel = $2")
                .bind(id)
                .bind(channel.as_str())
                .execute(&self.writer)
                .await
            {
                Err(e) if super::is_deadlock(&e) && tries < 5 => continue,
                other => break other?,
            }
        };
        if result.rows_affected() == 0 {
            return Err(not_found_on(channel, id));
        }
        Ok(())
    }

    /// A connector (id and name) that routes to ACD group `group`, if any: what a
    /// refused group deletion names.
    pub(super) async fn connector_using_group(
        &self,
        group: i64,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name FROM sms_connectors WHERE acd_group = $1 OR fallback_acd_group = $1 \
             ORDER BY name LIMIT 1",
        )
        .bind(group)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Some((row.try_get("id")?, row.try_get("name")?)),
            None => None,
        })
    }
}

//! Storage of routing application versions per connector, and of their activations.
//!
//! The component bytes live in the database beside their metadata, so every node
//! sharing a PostgreSQL database can load any version without a shared file system.
//! Activations form a history (`plugin_activations`): the active version is the newest
//! activation not rolled back, and a rollback marks that activation, which makes the
//! one before it current again.

use sqlx::{AnyConnection, Row};

use super::{Store, StoreError, now_ms};
use switchyard_domain::connectors::{ActivePlugin, PluginVersion, activates_on_upload};

fn connector_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("SMS connector {id}"))
}

async fn ensure_connector(conn: &mut AnyConnection, id: i64) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar("SELECT id FROM sms_connectors WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?;
    found.map(|_| ()).ok_or_else(|| connector_not_found(id))
}

/// The active version of `connector`, if any.
async fn active_version(
    conn: &mut AnyConnection,
    connector: i64,
) -> Result<Option<i64>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT version FROM plugin_activations \
         WHERE connector_id = $1 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 1",
    )
    .bind(connector)
    .fetch_optional(&mut *conn)
    .await?)
}

/// Makes `version` active unless it already is: activating the active version again
/// would add a history entry that a later rollback would have to step over.
async fn activate(
    conn: &mut AnyConnection,
    connector: i64,
    version: i64,
) -> Result<(), StoreError> {
    if active_version(conn, connector).await? == Some(version) {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO plugin_activations (connector_id, version, activated_at) VALUES ($1, $2, $3)",
    )
    .bind(connector)
    .bind(version)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A concurrent upload took the version number or the hash first.
fn upload_race(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(
            "another upload to this connector was stored at the same moment; try again".into(),
        ),
        _ => StoreError::Database(e),
    }
}

impl Store {
    /// Stores `component` (already validated by the runtime) as the connector's next
    /// version, or finds the version that holds the same bytes. Returns the version and
    /// whether it is new. `activate` is the caller's choice ([`activates_on_upload`]).
    pub async fn add_plugin_version(
        &self,
        connector: i64,
        component: &[u8],
        sha256: &str,
        activate_requested: Option<bool>,
    ) -> Result<(PluginVersion, bool), StoreError> {
        let mut tx = self.begin_write().await?;
        ensure_connector(&mut tx, connector).await?;
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM plugin_versions WHERE connector_id = $1 AND sha256 = $2",
        )
        .bind(connector)
        .bind(sha256)
        .fetch_optional(&mut *tx)
        .await?;
        let (version, created) = match existing {
            Some(version) => (version, false),
            None => {
                let next: i64 = sqlx::query_scalar(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM plugin_versions \
                     WHERE connector_id = $1",
                )
                .bind(connector)
                .fetch_one(&mut *tx)
                .await?;
                sqlx::query(
                    "INSERT INTO plugin_versions \
                     (connector_id, version, sha256, size, component, uploaded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(connector)
                .bind(next)
                .bind(sha256)
                .bind(component.len() as i64)
                .bind(component)
                .bind(now_ms())
                .execute(&mut *tx)
                .await
                .map_err(upload_race)?;
                (next, true)
            }
        };
        let has_active = active_version(&mut tx, connector).await?.is_some();
        if activates_on_upload(activate_requested, has_active) {
            activate(&mut tx, connector, version).await?;
        }
        tx.commit().await?;
        Ok((self.plugin_version(connector, version).await?, created))
    }

    /// Every version of the connector, oldest first, without the bytes.
    pub async fn list_plugin_versions(
        &self,
        connector: i64,
    ) -> Result<Vec<PluginVersion>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        ensure_connector(&mut conn, connector).await?;
        let active = active_version(&mut conn, connector).await?;
        let rows = sqlx::query(
            "SELECT version, sha256, size, uploaded_at FROM plugin_versions \
             WHERE connector_id = $1 ORDER BY version",
        )
        .bind(connector)
        .fetch_all(&mut *conn)
        .await?;
        rows.iter()
            .map(|row| {
                let version: i64 = row.try_get("version")?;
                Ok(PluginVersion {
                    version,
                    sha256: row.try_get("sha256")?,
                    size: row.try_get("size")?,
                    uploaded_at: row.try_get("uploaded_at")?,
                    active: active == Some(version),
                })
            })
            .collect()
    }

    pub async fn plugin_version(
        &self,
        connector: i64,
        version: i64,
    ) -> Result<PluginVersion, StoreError> {
        self.list_plugin_versions(connector)
            .await?
            .into_iter()
            .find(|v| v.version == version)
            .ok_or_else(|| {
                StoreError::NotFound(format!("version {version} of SMS connector {connector}"))
            })
    }

    /// Makes `version` the connector's active version.
    pub async fn activate_plugin_version(
        &self,
        connector: i64,
        version: i64,
    ) -> Result<PluginVersion, StoreError> {
        let mut tx = self.begin_write().await?;
        ensure_connector(&mut tx, connector).await?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT version FROM plugin_versions WHERE connector_id = $1 AND version = $2",
        )
        .bind(connector)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Err(StoreError::NotFound(format!(
                "version {version} of SMS connector {connector}"
            )));
        }
        activate(&mut tx, connector, version).await?;
        tx.commit().await?;
        self.plugin_version(connector, version).await
    }

    /// Re-activates the version that was active before the current one, and returns it.
    pub async fn rollback_plugin(&self, connector: i64) -> Result<PluginVersion, StoreError> {
        let mut tx = self.begin_write().await?;
        ensure_connector(&mut tx, connector).await?;
        let rows = sqlx::query(
            "SELECT id, version FROM plugin_activations \
             WHERE connector_id = $1 AND rolled_back_at IS NULL ORDER BY id DESC LIMIT 2",
        )
        .bind(connector)
        .fetch_all(&mut *tx)
        .await?;
        let [current, previous] = rows.as_slice() else {
            return Err(StoreError::Conflict(format!(
                "SMS connector {connector} has no earlier active plugin version to roll back to"
            )));
        };
        let current_id: i64 = current.try_get("id")?;
        let previous_version: i64 = previous.try_get("version")?;
        // `rolled_back_at IS NULL` again: of two rollbacks racing on PostgreSQL, only
        // one marks this activation; the other is told to look again.
        let marked = sqlx::query(
            "UPDATE plugin_activations SET rolled_back_at = $1 \
             WHERE id = $2 AND rolled_back_at IS NULL",
        )
        .bind(now_ms())
        .bind(current_id)
        .execute(&mut *tx)
        .await?;
        if marked.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "the active version changed during the rollback; check it and try again".into(),
            ));
        }
        tx.commit().await?;
        self.plugin_version(connector, previous_version).await
    }

    /// The version the connector routes with now, or `None`.
    pub async fn active_plugin(&self, connector: i64) -> Result<Option<ActivePlugin>, StoreError> {
        let row = sqlx::query(
            "SELECT a.version, a.activated_at, v.sha256, v.size, v.uploaded_at \
             FROM plugin_activations a JOIN plugin_versions v \
             ON v.connector_id = a.connector_id AND v.version = a.version \
             WHERE a.connector_id = $1 AND a.rolled_back_at IS NULL \
             ORDER BY a.id DESC LIMIT 1",
        )
        .bind(connector)
        .fetch_optional(&self.pool)
        .await?;
        Ok(match row {
            Some(row) => Some(ActivePlugin {
                version: row.try_get("version")?,
                sha256: row.try_get("sha256")?,
                size: row.try_get("size")?,
                uploaded_at: row.try_get("uploaded_at")?,
                activated_at: row.try_get("activated_at")?,
            }),
            None => None,
        })
    }

    /// The bytes of one version, for loading it into the runtime.
    pub async fn plugin_component(
        &self,
        connector: i64,
        version: i64,
    ) -> Result<Vec<u8>, StoreError> {
        sqlx::query_scalar(
            "SELECT component FROM plugin_versions WHERE connector_id = $1 AND version = $2",
        )
        .bind(connector)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| {
            StoreError::NotFound(format!("version {version} of SMS connector {connector}"))
        })
    }
}

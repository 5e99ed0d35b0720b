//! Storage of external systems, the gateway and external-system components they run,
//! and third parties' claims on their queue entries.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::queue::Claimed;
use super::{Store, StoreError, now_ms};
use switchyard_domain::queue::record::QueuePlugin;
use switchyard_domain::queue::systems::SystemValues;
use switchyard_domain::queue::{EntryRecord, ExternalSystem, SystemKind};

const SYSTEM_COLUMNS: &str = "id, name, kind, plugin, settings, token, created_at, updated_at";

fn system_from_row(row: &AnyRow) -> Result<ExternalSystem, StoreError> {
    let kind: String = row.try_get("kind")?;
    let settings: String = row.try_get("settings")?;
    Ok(ExternalSystem {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        kind: SystemKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("external_systems.kind `{kind}`")))?,
        plugin: row.try_get("plugin")?,
        settings: serde_json::from_str(&settings)
            .map_err(|e| StoreError::Corrupt(format!("external_systems.settings: {e}")))?,
        token: row.try_get("token")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn system_not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!("external system `{name}`"))
}

impl Store {
    /// Stores a component by content hash; storing the same bytes again is a no-op.
    pub async fn add_queue_plugin(
        &self,
        sha256: &str,
        world: &str,
        component: &[u8],
    ) -> Result<QueuePlugin, StoreError> {
        sqlx::query(
            "INSERT INTO queue_plugins (sha256, world, size, component, uploaded_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(world)
        .bind(component.len() as i64)
        .bind(component.to_vec())
        .bind(now_ms())
        .execute(&self.writer)
        .await?;
        self.queue_plugin(sha256).await
    }

    pub async fn queue_plugin(&self, sha256: &str) -> Result<QueuePlugin, StoreError> {
        let row = sqlx::query(
            "SELECT sha256, world, size, uploaded_at FROM queue_plugins WHERE sha256 = $1",
        )
        .bind(sha256)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::Invalid {
            field: "plugin",
            message: format!("no plugin with hash `{sha256}` was uploaded"),
        })?;
        Ok(QueuePlugin {
            sha256: row.try_get("sha256")?,
            world: row.try_get("world")?,
            size: row.try_get("size")?,
            uploaded_at: row.try_get("uploaded_at")?,
        })
    }

    pub async fn list_queue_plugins(&self) -> Result<Vec<QueuePlugin>, StoreError> {
        let rows = sqlx::query(
            "SELECT sha256, world, size, uploaded_at FROM queue_plugins ORDER BY uploaded_at, sha256",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(QueuePlugin {
                    sha256: row.try_get("sha256")?,
                    world: row.try_get("world")?,
                    size: row.try_get("size")?,
                    uploaded_at: row.try_get("uploaded_at")?,
                })
            })
            .collect()
    }

    /// The bytes of an uploaded component.
    pub async fn queue_plugin_component(&self, sha256: &str) -> Result<Vec<u8>, StoreError> {
        sqlx::query_scalar("SELECT component FROM queue_plugins WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("plugin {sha256}")))
    }

    pub async fn create_external_system(
        &self,
        values: &SystemValues,
    ) -> Result<ExternalSystem, StoreError> {
        self.check_system_plugin(values).await?;
        let now = now_ms();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO external_systems (name, kind, plugin, settings, token, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING {SYSTEM_COLUMNS}"
        )))
        .bind(values.name.clone())
        .bind(values.kind.as_str())
        .bind(values.plugin.clone())
        .bind(values.settings.to_string())
        .bind(values.token.clone())
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(StoreError::unique(|| {
            format!("an external system named `{}`", values.name)
        }))?;
        system_from_row(&row)
    }

    pub async fn update_external_system(
        &self,
        name: &str,
        values: &SystemValues,
    ) -> Result<ExternalSystem, StoreError> {
        self.check_system_plugin(values).await?;
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE external_systems SET name = $1, kind = $2, plugin = $3, settings = $4, \
             token = $5, updated_at = $6 WHERE name = $7 RETURNING {SYSTEM_COLUMNS}"
        )))
        .bind(values.name.clone())
        .bind(values.kind.as_str())
        .bind(values.plugin.clone())
        .bind(values.settings.to_string())
        .bind(values.token.clone())
        .bind(now_ms())
        .bind(name)
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::unique(|| {
            format!("an external system named `{}`", values.name)
        }))?
        .ok_or_else(|| system_not_found(name))?;
        system_from_row(&row)
    }

    async fn check_system_plugin(&self, values: &SystemValues) -> Result<(), StoreError> {
        if let Some(hash) = &values.plugin {
            let world = self.queue_plugin(hash).await?.world;
            if world != "external-system" {
                return Err(StoreError::Invalid {
                    field: "plugin",
                    message: format!("plugin {hash} is a {world} plugin, not an external-system"),
                });
            }
        }
        Ok(())
    }

    pub async fn external_system(&self, name: &str) -> Result<ExternalSystem, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SYSTEM_COLUMNS} FROM external_systems WHERE name = $1"
        )))
        .bind(name)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| system_not_found(name))?;
        system_from_row(&row)
    }

    pub async fn list_external_systems(&self) -> Result<Vec<ExternalSystem>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SYSTEM_COLUMNS} FROM external_systems ORDER BY name"
        )))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(system_from_row).collect()
    }

    /// Deletes a system none of whose entries is still Pending.
    pub async fn delete_external_system(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let pending: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue_entries WHERE external_system = $1 AND state = 'pending'",
        )
        .bind(name)
        .fetch_one(&mut *tx)
        .await?;
        if pending > 0 {
            return Err(StoreError::Conflict(format!(
                "external system `{name}` still has {pending} pending queue entries"
            )));
        }
        let deleted = sqlx::query("DELETE FROM external_systems WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            return Err(system_not_found(name));
        }
        tx.commit().await?;
        Ok(())
    }

    /// The Pending entries of `system` that nobody holds, in number order.
    pub async fn unclaimed_entries(
        &self,
        system: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<EntryRecord>, StoreError> {
        let numbers: Vec<i64> = sqlx::query_scalar(
            "SELECT number FROM queue_entries WHERE external_system = $1 AND state = 'pending' \
             AND (lease_until IS NULL OR lease_until < $2) AND number > $3 \
             ORDER BY number LIMIT $4",
        )
        .bind(system)
        .bind(now_ms())
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut entries = Vec::with_capacity(numbers.len());
        for number in numbers {
            let mut entry = self.entry(number).await?;
            entry.activity = None;
            entries.push(entry);
        }
        Ok(entries)
    }

    /// A third party's exclusive claim on one of its system's Pending entries, for
    /// `lease_ms`. Refused while another claim on it has not run out.
    pub async fn claim_for_system(
        &self,
        system: &str,
        number: i64,
        lease_ms: i64,
    ) -> Result<Claimed, StoreError> {
        let now = now_ms();
        let token = hex::encode(rand::random::<[u8; 16]>());
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT state, external_system, lease_until FROM queue_entries WHERE number = $1",
        )
        .bind(number)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Err(StoreError::NotFound(format!("queue entry {number}")));
        };
        let owner: Option<String> = row.try_get("external_system")?;
        if owner.as_deref() != Some(system) {
            return Err(StoreError::NotFound(format!(
                "queue entry {number} of external system `{system}`"
            )));
        }
        let state: String = row.try_get("state")?;
        if state != "pending" {
            return Err(StoreError::Conflict(format!(
                "queue entry {number} is {state}, not pending"
            )));
        }
        let lease: Option<i64> = row.try_get("lease_until")?;
        if let Some(until) = lease.filter(|until| *until >= now) {
            return Err(StoreError::Conflict(format!(
                "queue entry {number} is claimed until {until} (ms since the epoch)"
            )));
        }
        sqlx::query(
            "UPDATE queue_entries SET lease_until = $1, claim_token = $2, status = 'sending', \
             attempts = attempts + 1, updated_at = $3, updated_by = $4 WHERE number = $5",
        )
        .bind(now + lease_ms)
        .bind(token.clone())
        .bind(now)
        .bind(format!("external system {system}"))
        .bind(number)
        .execute(&mut *tx)
        .await?;
        super::queue::log_activity(
            &mut tx,
            number,
            now,
            switchyard_domain::queue::TextStatus::Sending,
            Some(&format!("claimed by external system {system}")),
        )
        .await?;
        tx.commit().await?;
        let mut entry = self.entry(number).await?;
        entry.activity = None;
        Ok(Claimed { entry, token })
    }
}

//! Storage of ACD groups.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, now_ms};
use switchyard_domain::acd_groups::{AcdGroup, AcdGroupChanges, NewAcdGroup};

const COLUMNS: &str = "id, name, description, offer_timeout_ms, created_at, updated_at";

fn from_row(row: &AnyRow) -> Result<AcdGroup, sqlx::Error> {
    Ok(AcdGroup {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        offer_timeout_ms: row.try_get("offer_timeout_ms")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn duplicate_name(name: &str) -> impl FnOnce() -> String + '_ {
    move || format!("an ACD group named `{name}`")
}

fn not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("ACD group {id}"))
}

impl Store {
    pub async fn create_acd_group(&self, group: &NewAcdGroup) -> Result<AcdGroup, StoreError> {
        let now = now_ms();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO acd_groups (name, description, offer_timeout_ms, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $4) RETURNING {COLUMNS}"
        )))
        .bind(group.name.as_str())
        .bind(&group.description)
        .bind(group.offer_timeout_ms)
        .bind(now)
        .fetch_one(&self.writer)
        .await
        .map_err(StoreError::unique(duplicate_name(group.name.as_str())))?;
        Ok(from_row(&row)?)
    }

    /// All groups, ordered by name so listings are stable.
    pub async fn list_acd_groups(&self) -> Result<Vec<AcdGroup>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM acd_groups ORDER BY name, id"
        )))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    pub async fn acd_group(&self, id: i64) -> Result<AcdGroup, StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM acd_groups WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| not_found(id))?;
        Ok(from_row(&row)?)
    }

    /// Applies `changes` in one statement, so a concurrent update cannot interleave
    /// between reading and writing the row.
    pub async fn update_acd_group(
        &self,
        id: i64,
        changes: &AcdGroupChanges,
    ) -> Result<AcdGroup, StoreError> {
        let name = changes.name.as_ref().map(|n| n.as_str());
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE acd_groups SET name = COALESCE($1, name), \
             description = COALESCE($2, description), updated_at = $3, \
             offer_timeout_ms = CASE WHEN $5 = 1 THEN $6 ELSE offer_timeout_ms END \
             WHERE id = $4 RETURNING {COLUMNS}"
        )))
        .bind(name)
        .bind(changes.description.as_deref())
        .bind(now_ms())
        .bind(id)
        .bind(i64::from(changes.offer_timeout_ms.is_some()))
        .bind(changes.offer_timeout_ms.flatten())
        .fetch_optional(&self.writer)
        .await
        .map_err(StoreError::unique(duplicate_name(name.unwrap_or_default())))?
        .ok_or_else(|| not_found(id))?;
        Ok(from_row(&row)?)
    }

    /// Deletes a group no connector refers to. The schema's `ON DELETE RESTRICT` makes
    /// the database the judge, so a connector created at the same moment cannot slip
    /// past a check made beforehand; the refusal is then explained by naming a
    /// connector that uses the group.
    pub async fn delete_acd_group(&self, id: i64) -> Result<(), StoreError> {
        let deleted = sqlx::query("DELETE FROM acd_groups WHERE id = $1")
            .bind(id)
            .execute(&self.writer)
            .await;
        let result = match deleted {
            Err(sqlx::Error::Database(db)) if super::is_foreign_key_violation(&*db) => {
                let user = self.connector_using_group(id).await?;
                return Err(StoreError::Conflict(match user {
                    Some((connector_id, name)) => format!(
                        "ACD group {id} is used by SMS connector `{name}` (id {connector_id}); \
                         route that connector elsewhere before deleting the group"
                    ),
                    None => format!("ACD group {id} is still in use"),
                }));
            }
            other => other?,
        };
        if result.rows_affected() == 0 {
            return Err(not_found(id));
        }
        Ok(())
    }
}

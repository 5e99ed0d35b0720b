//! Host-wide settings kept in the database (the `settings` table), such as the
//! generated admin token, which every node sharing the database must agree on.

use super::{Store, StoreError};

impl Store {
    /// The value of a setting, if it was ever stored.
    pub async fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    /// Stores `value` under `key` unless the key already has a value, and returns the
    /// value that is stored afterwards. Two nodes starting at once on one database
    /// thus agree on whichever value was written first.
    pub async fn setting_or_insert(&self, key: &str, value: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING",
        )
        .bind(key)
        .bind(value)
        .execute(&self.writer)
        .await?;
        self.setting(key)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("setting {key}")))
    }
}

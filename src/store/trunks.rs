//! The `trunks` table: IP-authenticated trunks added by operators (the
//! admin UI and API), taken like `[[trunk]]` entries of the config file.

use sqlx::Row;

use super::{Store, StoreError, unix_now};
use crate::config::TrunkConfig;

impl Store {
    /// Adds a trunk; [`StoreError::Exists`] if the name is taken. The
    /// caller checks the name and the CIDR blocks.
    pub async fn add_trunk(&self, name: &str, sources: &[String]) -> Result<(), StoreError> {
        let n = sqlx::query(
            "INSERT INTO trunks (name, sources, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(sources.join(","))
        .bind(unix_now() as i64)
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Exists(format!("trunk {name}")));
        }
        Ok(())
    }

    /// Removes a trunk; [`StoreError::Missing`] if there is none.
    pub async fn remove_trunk(&self, name: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM trunks WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Missing(format!("trunk {name}")));
        }
        Ok(())
    }

    /// Every trunk in the database, by name.
    pub async fn list_trunks(&self) -> Result<Vec<TrunkConfig>, StoreError> {
        let rows = sqlx::query("SELECT name, sources FROM trunks ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                let sources: String = r.try_get(1)?;
                Ok(TrunkConfig::by_sources(
                    r.try_get(0)?,
                    sources
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                ))
            })
            .collect()
    }
}

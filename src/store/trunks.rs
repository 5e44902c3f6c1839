//! The `trunks` table: trunks added by operators (the admin UI and API),
//! taken like `[[trunk]]` entries of the config file: by source address,
//! and registering to a provider when they have a registrar. Passwords are
//! never stored, only their HA1 digests for the trunk's realm.

use sqlx::Row;

use super::{Store, StoreError, unix_now};
use crate::config::TrunkConfig;

impl Store {
    /// Adds a trunk; [`StoreError::Exists`] if the name is taken. The
    /// caller checks the name, the CIDR blocks and the registrar, and
    /// turns a password into `ha1`/`ha1_sha256` (its `password` is not stored).
    pub async fn add_trunk(&self, t: &TrunkConfig) -> Result<(), StoreError> {
        let n = sqlx::query(
            "INSERT INTO trunks (name, sources, created_at, registrar, domain, username, realm, \
             ha1, ha1_sha256, proxy, expires) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(&t.name)
        .bind(t.sources.join(","))
        .bind(unix_now() as i64)
        .bind(t.registrar.as_deref())
        .bind(t.domain.as_deref())
        .bind(t.username.as_deref())
        .bind(t.realm.as_deref())
        .bind(t.ha1.as_deref())
        .bind(t.ha1_sha256.as_deref())
        .bind(t.proxy.as_deref())
        .bind(t.registrar.as_ref().map(|_| i64::from(t.expires)))
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Exists(format!("trunk {}", t.name)));
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
        let rows = sqlx::query(
            "SELECT name, sources, registrar, domain, username, realm, ha1, ha1_sha256, proxy, \
             expires FROM trunks ORDER BY name",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let sources: String = r.try_get(1)?;
                let mut t = TrunkConfig::by_sources(
                    r.try_get(0)?,
                    sources
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                );
                t.registrar = r.try_get(2)?;
                t.domain = r.try_get(3)?;
                t.username = r.try_get(4)?;
                t.realm = r.try_get(5)?;
                t.ha1 = r.try_get(6)?;
                t.ha1_sha256 = r.try_get(7)?;
                t.proxy = r.try_get(8)?;
                let expires: Option<i64> = r.try_get(9)?;
                if let Some(e) = expires {
                    t.expires = e.clamp(1, i64::from(u32::MAX)) as u32;
                }
                Ok(t)
            })
            .collect()
    }
}

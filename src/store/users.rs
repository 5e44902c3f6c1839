//! The `users` table: SIP users and their digest HA1 values (never passwords).

use sqlx::Row;

use super::{Store, StoreError, unix_now};
use crate::sip::auth::Credentials;

/// A user as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    /// User name (the AOR's user part).
    pub name: String,
    /// Realm the HA1 values belong to.
    pub realm: String,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

impl Store {
    async fn bump_users_version(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE meta SET value = value + 1 WHERE key = 'users_version'")
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Adds a user with the digest values of its password.
    pub async fn add_user(&self, name: &str, creds: &Credentials) -> Result<(), StoreError> {
        // Write first: a read-then-write transaction can fail with "database
        // is locked" on SQLite when two processes add users at once.
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO users (name, realm, ha1_md5, ha1_sha256, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(name)
        .bind(&creds.realm)
        .bind(&creds.ha1_md5)
        .bind(&creds.ha1_sha256)
        .bind(unix_now() as i64)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Err(StoreError::Exists(format!("user {name}")));
            }
            Err(e) => return Err(e.into()),
        }
        Self::bump_users_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replaces a user's digest values (a password change).
    pub async fn set_user_credentials(
        &self,
        name: &str,
        creds: &Credentials,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query(
            "UPDATE users SET realm = $2, ha1_md5 = $3, ha1_sha256 = $4 WHERE name = $1",
        )
        .bind(name)
        .bind(&creds.realm)
        .bind(&creds.ha1_md5)
        .bind(&creds.ha1_sha256)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Missing(format!("user {name}")));
        }
        Self::bump_users_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Removes a user and its registrations.
    pub async fn remove_user(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        let n = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Missing(format!("user {name}")));
        }
        sqlx::query("DELETE FROM locations WHERE aor = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        Self::bump_users_version(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every user, by name.
    pub async fn list_users(&self) -> Result<Vec<UserRow>, StoreError> {
        let rows = sqlx::query("SELECT name, realm, created_at FROM users ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok(UserRow {
                    name: r.try_get(0)?,
                    realm: r.try_get(1)?,
                    created_at: r.try_get(2)?,
                })
            })
            .collect()
    }

    /// Every user's credentials, for the SIP core's directory.
    pub async fn user_credentials(&self) -> Result<Vec<(String, Credentials)>, StoreError> {
        let rows = sqlx::query("SELECT name, realm, ha1_md5, ha1_sha256 FROM users")
            .fetch_all(self.pool())
            .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    Credentials {
                        realm: r.try_get(1)?,
                        ha1_md5: r.try_get(2)?,
                        ha1_sha256: r.try_get(3)?,
                    },
                ))
            })
            .collect()
    }

    /// A counter that changes whenever users change.
    pub async fn users_version(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM meta WHERE key = 'users_version'")
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get(0)?)
    }
}

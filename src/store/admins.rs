//! The `admins` and `admin_sessions` tables: web UI accounts (argon2id
//! password hashes, never passwords) and their login sessions (only each
//! session cookie's SHA-256 is stored, with the session's CSRF token).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest as _, Sha256};
use sqlx::Row;

use super::tokens::Role;
use super::{Store, StoreError, unix_now};

/// An admin account as listed (never the hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminRow {
    /// Login name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

/// A live login session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The admin it belongs to.
    pub admin: String,
    /// The admin's role (read with the session, so a role change applies at once).
    pub role: Role,
    /// The token forms and changing API calls must carry.
    pub csrf: String,
    /// Unix seconds after which it is no longer accepted.
    pub expires_at: i64,
}

/// An argon2id PHC string for `password` (random salt).
pub fn hash_password(password: &str) -> String {
    let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>())
        .expect("16 bytes are a valid salt length");
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters hashes any password")
        .to_string()
}

/// True when `password` matches the PHC string `hash` (false for a malformed hash).
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A fresh random token: 32 bytes as hex.
pub fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A hash to verify against when the name is unknown, so that an unknown
/// name takes as long as a wrong password.
fn dummy_hash() -> &'static str {
    static H: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    H.get_or_init(|| hash_password("not a password anyone has"))
}

impl Store {
    /// Adds an admin; [`StoreError::Exists`] if the name is taken.
    pub async fn add_admin(
        &self,
        name: &str,
        password: &str,
        role: Role,
    ) -> Result<(), StoreError> {
        let hash = hash_password(password);
        let r = sqlx::query(
            "INSERT INTO admins (name, password_hash, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(hash)
        .bind(role.as_str())
        .bind(unix_now() as i64)
        .execute(self.pool())
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Exists(format!("admin {name}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sets an admin's password and ends its sessions.
    pub async fn set_admin_password(&self, name: &str, password: &str) -> Result<(), StoreError> {
        let hash = hash_password(password);
        let change = sqlx::query("UPDATE admins SET password_hash = $2 WHERE name = $1")
            .bind(name)
            .bind(hash);
        self.change_admin_ending_sessions(name, change).await
    }

    /// Removes an admin and its sessions; [`StoreError::Missing`] if there is none.
    pub async fn remove_admin(&self, name: &str) -> Result<(), StoreError> {
        let change = sqlx::query("DELETE FROM admins WHERE name = $1").bind(name);
        self.change_admin_ending_sessions(name, change).await
    }

    /// Runs `change` on admin `name` and ends its sessions, in one
    /// transaction; [`StoreError::Missing`] (and nothing done) if there is none.
    async fn change_admin_ending_sessions(
        &self,
        name: &str,
        change: sqlx::query::Query<'_, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool().begin().await?;
        if change.execute(&mut *tx).await?.rows_affected() == 0 {
            return Err(StoreError::Missing(format!("admin {name}")));
        }
        sqlx::query("DELETE FROM admin_sessions WHERE admin = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every admin, by name.
    pub async fn list_admins(&self) -> Result<Vec<AdminRow>, StoreError> {
        let rows = sqlx::query("SELECT name, role, created_at FROM admins ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let role: String = r.try_get(1)?;
            out.push(AdminRow {
                name: r.try_get(0)?,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
                created_at: r.try_get(2)?,
            });
        }
        Ok(out)
    }

    /// The admin's role if `password` is theirs. Runs argon2 on a blocking
    /// thread (tens of milliseconds), also for unknown names.
    pub async fn check_admin_password(
        &self,
        name: &str,
        password: &str,
    ) -> Result<Option<Role>, StoreError> {
        let row = sqlx::query("SELECT password_hash, role FROM admins WHERE name = $1")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        let (hash, role) = match row {
            Some(r) => (
                r.try_get::<String, _>(0)?,
                Role::parse(&r.try_get::<String, _>(1)?),
            ),
            None => (dummy_hash().to_string(), None),
        };
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .unwrap_or(false);
        Ok(if ok { role } else { None })
    }

    /// Starts a session for `admin` lasting `lifetime_secs`; returns (cookie token, CSRF token).
    pub async fn create_session(
        &self,
        admin: &str,
        lifetime_secs: u64,
    ) -> Result<(String, String), StoreError> {
        let (token, csrf) = (random_token(), random_token());
        let now = unix_now() as i64;
        // Expired sessions go when new ones are made.
        sqlx::query("DELETE FROM admin_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "INSERT INTO admin_sessions (token_sha256, admin, csrf, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(digest(&token))
        .bind(admin)
        .bind(&csrf)
        .bind(now)
        .bind(now.saturating_add(lifetime_secs.min(i64::MAX as u64) as i64))
        .execute(self.pool())
        .await?;
        Ok((token, csrf))
    }

    /// The live session a cookie token stands for (None if unknown, expired,
    /// or its admin is gone).
    pub async fn find_session(&self, token: &str) -> Result<Option<Session>, StoreError> {
        let row = sqlx::query(
            "SELECT s.admin, a.role, s.csrf, s.expires_at FROM admin_sessions s \
             JOIN admins a ON a.name = s.admin WHERE s.token_sha256 = $1 AND s.expires_at > $2",
        )
        .bind(digest(token))
        .bind(unix_now() as i64)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.and_then(|r| {
            let role: String = r.try_get(1).ok()?;
            Some(Session {
                admin: r.try_get(0).ok()?,
                role: Role::parse(&role)?,
                csrf: r.try_get(2).ok()?,
                expires_at: r.try_get(3).ok()?,
            })
        }))
    }

    /// Ends a session (logout); unknown tokens are fine.
    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM admin_sessions WHERE token_sha256 = $1")
            .bind(digest(token))
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let h = hash_password("s3cret");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cret ", &h));
        assert!(!verify_password("s3cret", "not a hash"));
        assert_ne!(h, hash_password("s3cret"), "salted");
    }

    #[tokio::test]
    async fn sessions_live_until_logout_or_removal_of_their_admin() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/a.db", dir.path().display());
        let store = Store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        store.add_admin("ann", "pw", Role::Admin).await.unwrap();
        assert!(matches!(
            store.add_admin("ann", "x", Role::Viewer).await,
            Err(StoreError::Exists(_))
        ));
        assert_eq!(
            store.check_admin_password("ann", "pw").await.unwrap(),
            Some(Role::Admin)
        );
        assert_eq!(store.check_admin_password("ann", "no").await.unwrap(), None);
        assert_eq!(store.check_admin_password("bob", "pw").await.unwrap(), None);

        let (token, csrf) = store.create_session("ann", 3600).await.unwrap();
        let s = store.find_session(&token).await.unwrap().unwrap();
        assert_eq!(
            (s.admin.as_str(), s.role, s.csrf),
            ("ann", Role::Admin, csrf)
        );
        store.end_session(&token).await.unwrap();
        assert_eq!(store.find_session(&token).await.unwrap(), None);

        let (token, _) = store.create_session("ann", 3600).await.unwrap();
        let (expired, _) = store.create_session("ann", 0).await.unwrap();
        assert_eq!(store.find_session(&expired).await.unwrap(), None);
        store.remove_admin("ann").await.unwrap();
        assert_eq!(store.find_session(&token).await.unwrap(), None);
        assert!(store.list_admins().await.unwrap().is_empty());
    }
}

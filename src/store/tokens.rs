//! The `api_tokens` table: bearer tokens for the JSON API. Only each
//! token's SHA-256 is stored; the token is printed once when it is made.

use sha2::{Digest as _, Sha256};
use sqlx::Row;

use super::{Store, StoreError, unix_now};

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Reads and changes.
    Admin,
    /// Reads only.
    Viewer,
}

impl Role {
    /// Parses `admin` or `viewer`.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }
}

/// A token as listed (never the token itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Its name.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Store {
    /// Makes a token called `name`; returns the token (shown once).
    pub async fn add_token(&self, name: &str, role: Role) -> Result<String, StoreError> {
        let token = format!("drt_{}", hex::encode(rand::random::<[u8; 24]>()));
        let r = sqlx::query(
            "INSERT INTO api_tokens (name, token_sha256, role, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(name)
        .bind(digest(&token))
        .bind(role.as_str())
        .bind(unix_now() as i64)
        .execute(self.pool())
        .await;
        match r {
            Ok(_) => Ok(token),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Exists(format!("token {name}")))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The name and role of a presented token, if it is one of ours.
    pub async fn find_token(&self, token: &str) -> Result<Option<(String, Role)>, StoreError> {
        let row = sqlx::query("SELECT name, role FROM api_tokens WHERE token_sha256 = $1")
            .bind(digest(token))
            .fetch_optional(self.pool())
            .await?;
        Ok(row.and_then(|r| {
            let name: String = r.try_get(0).ok()?;
            let role: String = r.try_get(1).ok()?;
            Some((name, Role::parse(&role)?))
        }))
    }

    /// Every token, by name.
    pub async fn list_tokens(&self) -> Result<Vec<TokenRow>, StoreError> {
        let rows = sqlx::query("SELECT name, role, created_at FROM api_tokens ORDER BY name")
            .fetch_all(self.pool())
            .await?;
        let mut out = Vec::new();
        for r in rows {
            let role: String = r.try_get(1)?;
            out.push(TokenRow {
                name: r.try_get(0)?,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
                created_at: r.try_get(2)?,
            });
        }
        Ok(out)
    }

    /// Removes a token; [`StoreError::Missing`] if there is none.
    pub async fn remove_token(&self, name: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM api_tokens WHERE name = $1")
            .bind(name)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Missing(format!("token {name}")));
        }
        Ok(())
    }
}

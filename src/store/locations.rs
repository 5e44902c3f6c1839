//! The `locations` table: registered contacts, written back in batches by the
//! SIP shell so registrations survive a restart.

use sqlx::Row;

use super::{Store, StoreError};
use crate::sip::registrar::{Binding, Change};

/// A binding as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBinding {
    /// The user.
    pub aor: String,
    /// The binding.
    pub binding: Binding,
}

impl Store {
    /// Applies a batch of changes in one transaction (all or nothing).
    pub async fn apply_location_changes(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool().begin().await?;
        for c in changes {
            match c {
                Change::Upsert(aor, b) => {
                    sqlx::query(
                        "INSERT INTO locations (aor, contact, q, expires_at, call_id, cseq, received, user_agent) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (aor, contact) DO UPDATE SET q = excluded.q, expires_at = excluded.expires_at, \
                         call_id = excluded.call_id, cseq = excluded.cseq, received = excluded.received, \
                         user_agent = excluded.user_agent",
                    )
                    .bind(aor.as_str())
                    .bind(&b.contact)
                    .bind(i64::from(b.q))
                    .bind(b.expires_at as i64)
                    .bind(&b.call_id)
                    .bind(i64::from(b.cseq))
                    .bind(b.received.clone())
                    .bind(b.user_agent.clone())
                    .execute(&mut *tx)
                    .await?;
                }
                Change::Remove(aor, contact) => {
                    sqlx::query("DELETE FROM locations WHERE aor = $1 AND contact = $2")
                        .bind(aor.as_str())
                        .bind(contact)
                        .execute(&mut *tx)
                        .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Bindings that have not expired at `now` (Unix seconds), by user then contact.
    pub async fn live_bindings(&self, now: u64) -> Result<Vec<StoredBinding>, StoreError> {
        let rows = sqlx::query(
            "SELECT aor, contact, q, expires_at, call_id, cseq, received, user_agent FROM locations \
             WHERE expires_at > $1 ORDER BY aor, contact",
        )
        .bind(now as i64)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                let q: i64 = r.try_get(2)?;
                let expires_at: i64 = r.try_get(3)?;
                let cseq: i64 = r.try_get(5)?;
                Ok(StoredBinding {
                    aor: r.try_get(0)?,
                    binding: Binding {
                        contact: r.try_get(1)?,
                        q: q.clamp(0, 1000) as u16,
                        expires_at: expires_at.max(0) as u64,
                        call_id: r.try_get(4)?,
                        cseq: cseq.clamp(0, i64::from(u32::MAX)) as u32,
                        received: r.try_get(6)?,
                        user_agent: r.try_get(7)?,
                    },
                })
            })
            .collect()
    }

    /// Deletes bindings expired at `now`.
    pub async fn purge_expired_bindings(&self, now: u64) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM locations WHERE expires_at <= $1")
            .bind(now as i64)
            .execute(self.pool())
            .await?
            .rows_affected())
    }
}

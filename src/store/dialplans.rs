//! The `dialplan_versions` table: every saved dialplan text with who saved
//! it, when and why. The newest row of a name is the running plan.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, unix_now};

/// One saved version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DialplanVersion {
    /// Increasing across all names; the newest is the highest.
    pub id: i64,
    /// The dialplan's name (`main`).
    pub name: String,
    /// The TOML text.
    pub toml: String,
    /// Who saved it: an admin, a token, `file:PATH`, `import`, `seed`.
    pub author: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Why (may be empty).
    pub comment: String,
}

fn version(r: &AnyRow) -> Result<DialplanVersion, StoreError> {
    Ok(DialplanVersion {
        id: r.try_get(0)?,
        name: r.try_get(1)?,
        toml: r.try_get(2)?,
        author: r.try_get(3)?,
        created_at: r.try_get(4)?,
        comment: r.try_get(5)?,
    })
}

macro_rules! columns {
    () => {
        "id, name, toml, author, created_at, comment"
    };
}

impl Store {
    /// Saves a new version of `name`; returns it. Ids are max + 1, retried
    /// when another writer took the same one.
    pub async fn add_dialplan_version(
        &self,
        name: &str,
        toml: &str,
        author: &str,
        comment: &str,
    ) -> Result<DialplanVersion, StoreError> {
        let mut tries = 0;
        loop {
            tries += 1;
            let next: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 FROM dialplan_versions")
                .fetch_one(self.pool())
                .await?
                .try_get(0)?;
            let v = DialplanVersion {
                id: next,
                name: name.to_string(),
                toml: toml.to_string(),
                author: author.to_string(),
                created_at: unix_now() as i64,
                comment: comment.to_string(),
            };
            let r = sqlx::query(
                "INSERT INTO dialplan_versions (id, name, toml, author, created_at, comment) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(v.id)
            .bind(&v.name)
            .bind(&v.toml)
            .bind(&v.author)
            .bind(v.created_at)
            .bind(&v.comment)
            .execute(self.pool())
            .await;
            match r {
                Ok(_) => return Ok(v),
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() && tries < 5 => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The newest version of `name`, if any.
    pub async fn latest_dialplan_version(
        &self,
        name: &str,
    ) -> Result<Option<DialplanVersion>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM dialplan_versions WHERE name = $1 ORDER BY id DESC LIMIT 1"
        ))
        .bind(name)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(version).transpose()
    }

    /// The id of the newest version of `name` (cheap, for polling).
    pub async fn latest_dialplan_id(&self, name: &str) -> Result<Option<i64>, StoreError> {
        let row = sqlx::query("SELECT MAX(id) FROM dialplan_versions WHERE name = $1")
            .bind(name)
            .fetch_one(self.pool())
            .await?;
        Ok(row.try_get::<Option<i64>, _>(0)?)
    }

    /// One version by id.
    pub async fn dialplan_version(&self, id: i64) -> Result<Option<DialplanVersion>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM dialplan_versions WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(version).transpose()
    }

    /// Every version of `name`, newest first.
    pub async fn list_dialplan_versions(
        &self,
        name: &str,
    ) -> Result<Vec<DialplanVersion>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            columns!(),
            " FROM dialplan_versions WHERE name = $1 ORDER BY id DESC"
        ))
        .bind(name)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(version).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn versions_are_numbered_in_order_and_the_newest_is_latest() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/d.db", dir.path().display());
        let store = Store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        assert_eq!(store.latest_dialplan_version("main").await.unwrap(), None);
        assert_eq!(store.latest_dialplan_id("main").await.unwrap(), None);
        let a = store
            .add_dialplan_version("main", "a", "seed", "")
            .await
            .unwrap();
        let b = store
            .add_dialplan_version("main", "b", "ann", "why")
            .await
            .unwrap();
        assert_eq!((a.id, b.id), (1, 2));
        assert_eq!(
            store.latest_dialplan_version("main").await.unwrap(),
            Some(b.clone())
        );
        assert_eq!(store.latest_dialplan_id("main").await.unwrap(), Some(2));
        assert_eq!(store.dialplan_version(1).await.unwrap(), Some(a.clone()));
        assert_eq!(store.dialplan_version(9).await.unwrap(), None);
        assert_eq!(store.list_dialplan_versions("main").await.unwrap(), [b, a]);
    }
}

//! The `meetings` table: meeting ids callers type in the IVR (dialplan action
//! `ivr`), the room each leads to, and its PINs.

use sqlx::Row;
use sqlx::any::AnyRow;

use super::{Store, StoreError, unix_now};
use crate::dialplan::RoomName;

/// A meeting id and where it leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meeting {
    /// What callers type (digits).
    pub id: String,
    /// The room it joins.
    pub room: RoomName,
    /// Callers must enter this PIN (digits) when set.
    pub pin: Option<String>,
    /// Entering this PIN instead joins as a moderator.
    pub moderator_pin: Option<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
}

fn meeting(r: &AnyRow) -> Result<Meeting, StoreError> {
    let room: String = r.try_get(1)?;
    let room = RoomName::parse(&room).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(Meeting {
        id: r.try_get(0)?,
        room,
        pin: r.try_get(2)?,
        moderator_pin: r.try_get(3)?,
        created_at: r.try_get(4)?,
    })
}

impl Store {
    /// Adds a meeting id; [`StoreError::Exists`] if the id is taken. The
    /// caller checks the id and PINs (`dialplan::validate_meeting_id`, `validate_pin`).
    pub async fn add_meeting(
        &self,
        id: &str,
        room: &RoomName,
        pin: Option<&str>,
        moderator_pin: Option<&str>,
    ) -> Result<(), StoreError> {
        let n = sqlx::query(
            "INSERT INTO meetings (id, room, pin, moderator_pin, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(room.as_str())
        .bind(pin.map(str::to_string))
        .bind(moderator_pin.map(str::to_string))
        .bind(unix_now() as i64)
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(StoreError::Exists(format!("meeting {id}")));
        }
        Ok(())
    }

    /// Removes a meeting id; [`StoreError::Missing`] if there is none.
    pub async fn remove_meeting(&self, id: &str) -> Result<(), StoreError> {
        let n = sqlx::query("DELETE FROM meetings WHERE id = $1")
            .bind(id)
            .execute(self.pool())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::Missing(format!("meeting {id}")));
        }
        Ok(())
    }

    /// Every meeting, by id.
    pub async fn list_meetings(&self) -> Result<Vec<Meeting>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, room, pin, moderator_pin, created_at FROM meetings ORDER BY id",
        )
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(meeting).collect()
    }

    /// The meeting a caller typed, if there is one (what the IVR asks).
    pub async fn find_meeting(&self, id: &str) -> Result<Option<Meeting>, StoreError> {
        let row = sqlx::query(
            "SELECT id, room, pin, moderator_pin, created_at FROM meetings WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(meeting).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn meetings_are_added_found_listed_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/m.db", dir.path().display());
        let store = Store::connect(&url, 1).await.unwrap();
        store.migrate().await.unwrap();
        let room = RoomName::parse("standup").unwrap();
        store
            .add_meeting("4711", &room, Some("1234"), None)
            .await
            .unwrap();
        store.add_meeting("12", &room, None, None).await.unwrap();
        assert!(matches!(
            store.add_meeting("4711", &room, None, None).await,
            Err(StoreError::Exists(_))
        ));
        let m = store.find_meeting("4711").await.unwrap().unwrap();
        assert_eq!(m.room, room);
        assert_eq!(m.pin.as_deref(), Some("1234"));
        assert_eq!(m.moderator_pin, None);
        assert!(m.created_at > 0);
        assert_eq!(store.find_meeting("999").await.unwrap(), None);
        let ids: Vec<String> = store
            .list_meetings()
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.id)
            .collect();
        assert_eq!(ids, ["12", "4711"]);
        store.remove_meeting("4711").await.unwrap();
        assert!(matches!(
            store.remove_meeting("4711").await,
            Err(StoreError::Missing(_))
        ));
        assert_eq!(store.find_meeting("4711").await.unwrap(), None);
    }
}

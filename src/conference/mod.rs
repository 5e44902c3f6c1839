//! Conference rooms as the control plane sees them: who is in which room,
//! their roles and mute state, the room lock and member limit (sans-IO).
//! The audio itself is mixed by the media workers (`media::engine`).

use std::collections::HashMap;

/// A participant's handle: the id of its media leg.
pub type LegId = u64;

/// One member of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    /// Its media leg.
    pub leg: LegId,
    /// Shown to others: a masked number for phone callers.
    pub display: String,
    /// Muted (by itself, a moderator or the dialplan).
    pub muted: bool,
    /// Entered the moderator PIN.
    pub moderator: bool,
}

/// A live room.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Room {
    /// Members in joining order.
    pub participants: Vec<Participant>,
    /// Locked rooms take no new members.
    pub locked: bool,
    /// Most members, if limited.
    pub max_members: Option<u32>,
    /// The id of the recording running, when the room is recorded.
    pub recording: Option<String>,
}

/// Why a join was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JoinError {
    /// A moderator locked the room.
    #[error("the room is locked")]
    Locked,
    /// The room has its maximum number of members.
    #[error("the room is full")]
    Full,
}

/// Every live room, by name.
#[derive(Debug, Default)]
pub struct Rooms {
    rooms: HashMap<String, Room>,
    where_is: HashMap<LegId, String>,
}

impl Rooms {
    /// Adds a participant; returns its position (1 = first).
    pub fn join(
        &mut self,
        room: &str,
        p: Participant,
        max_members: Option<u32>,
    ) -> Result<usize, JoinError> {
        let r = self.rooms.entry(room.to_string()).or_default();
        if max_members.is_some() {
            r.max_members = max_members;
        }
        if r.locked && !p.moderator {
            return Err(JoinError::Locked);
        }
        if r.max_members
            .is_some_and(|m| r.participants.len() as u32 >= m)
        {
            return Err(JoinError::Full);
        }
        self.where_is.insert(p.leg, room.to_string());
        r.participants.push(p);
        Ok(r.participants.len())
    }

    /// Removes a participant; returns the room name and how many remain.
    pub fn leave(&mut self, leg: LegId) -> Option<(String, usize)> {
        let name = self.where_is.remove(&leg)?;
        let r = self.rooms.get_mut(&name)?;
        r.participants.retain(|p| p.leg != leg);
        let left = r.participants.len();
        if left == 0 {
            self.rooms.remove(&name);
        }
        Some((name, left))
    }

    /// The room a leg is in.
    pub fn room_of(&self, leg: LegId) -> Option<&str> {
        self.where_is.get(&leg).map(String::as_str)
    }

    /// A room by name.
    pub fn get(&self, room: &str) -> Option<&Room> {
        self.rooms.get(room)
    }

    /// A participant.
    pub fn participant_mut(&mut self, leg: LegId) -> Option<&mut Participant> {
        let name = self.where_is.get(&leg)?;
        self.rooms
            .get_mut(name)?
            .participants
            .iter_mut()
            .find(|p| p.leg == leg)
    }

    /// A room by name, to change it.
    pub fn get_mut(&mut self, room: &str) -> Option<&mut Room> {
        self.rooms.get_mut(room)
    }

    /// Locks or unlocks a room; returns the new state.
    pub fn toggle_lock(&mut self, room: &str) -> Option<bool> {
        let r = self.rooms.get_mut(room)?;
        r.locked = !r.locked;
        Some(r.locked)
    }

    /// Live rooms.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Room)> {
        self.rooms.iter()
    }
}

/// Masks a caller's number for display: `Phone …1234`.
pub fn masked_phone(number: &str) -> String {
    let digits: String = number
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let tail: String = digits
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    if tail.is_empty() {
        "Phone".into()
    } else {
        format!("Phone …{tail}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(leg: LegId) -> Participant {
        Participant {
            leg,
            display: format!("p{leg}"),
            muted: false,
            moderator: false,
        }
    }

    #[test]
    fn positions_count_up_and_empty_rooms_vanish() {
        let mut r = Rooms::default();
        assert_eq!(r.join("a", p(1), None), Ok(1));
        assert_eq!(r.join("a", p(2), None), Ok(2));
        assert_eq!(r.leave(1), Some(("a".into(), 1)));
        assert_eq!(r.leave(2), Some(("a".into(), 0)));
        assert!(r.get("a").is_none());
        assert_eq!(r.leave(2), None);
    }

    #[test]
    fn locked_and_full_rooms_refuse_members_but_not_moderators() {
        let mut r = Rooms::default();
        r.join("a", p(1), Some(2)).unwrap();
        r.join("a", p(2), None).unwrap();
        assert_eq!(r.join("a", p(3), None), Err(JoinError::Full));
        r.leave(2);
        assert_eq!(r.toggle_lock("a"), Some(true));
        assert_eq!(r.join("a", p(4), None), Err(JoinError::Locked));
        let m = Participant {
            moderator: true,
            ..p(5)
        };
        assert_eq!(r.join("a", m, None), Ok(2));
    }

    #[test]
    fn numbers_are_masked() {
        assert_eq!(masked_phone("+1 (555) 123-4567"), "Phone …4567");
        assert_eq!(masked_phone(""), "Phone");
    }
}

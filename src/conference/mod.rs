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
    /// Browser participants (MUC occupants with a media session), told
    /// by the XMPP hub: they count for "the room is empty" and show in the
    /// admin views, but are not mixed or signalled from here.
    pub browsers: Vec<Browser>,
}

/// A browser participant of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Browser {
    /// Its id in the admin views ([`BROWSER_ID_BASE`] and up).
    pub id: LegId,
    /// Its occupant nick (a Jitsi client's endpoint id).
    pub nick: String,
    /// The name it gave.
    pub display: String,
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
    next_browser: LegId,
}

/// Browser participants' ids in the admin views start here (phone legs are
/// numbered from 1, the media bridge's legs from 2^48).
pub const BROWSER_ID_BASE: LegId = 1 << 56;

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
        let left = r.participants.len() + r.browsers.len();
        if left == 0 {
            self.rooms.remove(&name);
        }
        Some((name, left))
    }

    /// The name call control uses for the room browsers know by its MUC
    /// node (`lowercase(name)`, [`crate::bridge::muc_node`]): an existing
    /// room whose name lowercases to `node`, else `node` itself.
    pub fn key_for(&self, node: &str) -> String {
        if self.rooms.contains_key(node) {
            return node.to_string();
        }
        self.rooms
            .keys()
            .find(|k| crate::bridge::muc_node(k) == node)
            .cloned()
            .unwrap_or_else(|| node.to_string())
    }

    /// A browser joined the room known as `node` (created if needed, never
    /// refused: it is already in the meeting). Returns the room's name.
    pub fn browser_join(&mut self, node: &str, nick: &str, display: &str) -> String {
        let key = self.key_for(node);
        let r = self.rooms.entry(key.clone()).or_default();
        if !r.browsers.iter().any(|b| b.nick == nick) {
            self.next_browser += 1;
            r.browsers.push(Browser {
                id: BROWSER_ID_BASE + self.next_browser,
                nick: nick.to_string(),
                display: display.to_string(),
            });
        }
        key
    }

    /// The browser with admin id `id` in `room`.
    pub fn browser(&self, room: &str, id: LegId) -> Option<&Browser> {
        self.rooms.get(room)?.browsers.iter().find(|b| b.id == id)
    }

    /// A browser left; returns the room's name and how many people are
    /// left in it (phones and browsers). An emptied room is gone.
    pub fn browser_leave(&mut self, node: &str, nick: &str) -> Option<(String, usize)> {
        let key = self.key_for(node);
        let r = self.rooms.get_mut(&key)?;
        let before = r.browsers.len();
        r.browsers.retain(|b| b.nick != nick);
        if r.browsers.len() == before {
            return None;
        }
        let left = r.participants.len() + r.browsers.len();
        if left == 0 {
            self.rooms.remove(&key);
        }
        Some((key, left))
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
    fn browsers_keep_a_room_alive_and_are_found_by_its_muc_node() {
        let mut r = Rooms::default();
        r.join("Board", p(1), None).unwrap();
        assert_eq!(r.browser_join("board", "abcd1234", "Ann"), "Board");
        assert_eq!(r.leave(1), Some(("Board".into(), 1)));
        assert!(r.get("Board").is_some(), "a browser is still there");
        assert_eq!(r.browser_leave("board", "nobody"), None);
        assert_eq!(
            r.browser_leave("board", "abcd1234"),
            Some(("Board".into(), 0))
        );
        assert!(r.get("Board").is_none());
        // A room only browsers are in exists for call control too, and
        // its browsers have ids of their own for the admin views.
        assert_eq!(r.browser_join("web-only", "e1", "Eve"), "web-only");
        let id = r.get("web-only").unwrap().browsers[0].id;
        assert!(id > BROWSER_ID_BASE);
        assert_eq!(
            r.browser("web-only", id).map(|b| b.nick.as_str()),
            Some("e1")
        );
        assert!(r.browser("web-only", 1).is_none());
    }

    #[test]
    fn numbers_are_masked() {
        assert_eq!(masked_phone("+1 (555) 123-4567"), "Phone …4567");
        assert_eq!(masked_phone(""), "Phone");
    }
}

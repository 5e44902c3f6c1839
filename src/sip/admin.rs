//! What an operator does to live rooms (the JSON API's room actions), as
//! endpoint-core operations: list rooms, kick (BYE from our side), mute or
//! unmute one participant, lock or unlock a room. Sans-IO like the rest of
//! the core: the shell passes commands in and carries the actions out.

use serde::Serialize;

use super::endpoint::{Action, Endpoint, Now};
use crate::conference::LegId;
use crate::media::engine::MediaCommand;

/// A participant as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantView {
    /// Its id in this server run (a phone's media leg; browsers from
    /// [`crate::conference::BROWSER_ID_BASE`]).
    pub id: LegId,
    /// Display name (phone callers' numbers are masked).
    pub display: String,
    /// `phone` or `browser`.
    pub kind: &'static str,
    /// Muted by itself, a moderator, the dialplan or an operator.
    pub muted: bool,
    /// Joined with the moderator PIN.
    pub moderator: bool,
    /// A phone caller heard in the mix just now (filled in by the web API
    /// from the media workers; false from call control).
    pub talking: bool,
    /// A phone leg's RTP counts: loss, jitter, concealment (filled in by
    /// the web API from the media workers; absent for browsers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtp: Option<crate::media::stats::LegRtp>,
}

/// A live room as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomView {
    /// Its name.
    pub name: String,
    /// Locked rooms take no new members.
    pub locked: bool,
    /// The id of the recording running, if the room is recorded.
    pub recording: Option<String>,
    /// Members in joining order.
    pub participants: Vec<ParticipantView>,
    /// Numbers being called into the room (dial-outs not answered yet).
    pub dialing: Vec<super::dialout::DialingView>,
}

/// Why a room action could not be done.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AdminError {
    /// No live room by that name.
    #[error("no live room {0:?}")]
    NoSuchRoom(String),
    /// No such participant in that room.
    #[error("no participant {1} in room {0:?}")]
    NoSuchParticipant(String, LegId),
    /// Browsers unmute themselves (as in Jitsi, nobody unmutes another).
    #[error("a browser participant unmutes itself")]
    BrowserUnmute,
}

impl Endpoint {
    /// Every live room, by name.
    pub fn rooms_view(&self) -> Vec<RoomView> {
        let mut v: Vec<RoomView> = self
            .rooms()
            .iter()
            .map(|(name, r)| RoomView {
                name: name.clone(),
                locked: r.locked,
                recording: r.recording.clone(),
                participants: r
                    .participants
                    .iter()
                    .map(|p| ParticipantView {
                        id: p.leg,
                        display: p.display.clone(),
                        kind: "phone",
                        muted: p.muted,
                        moderator: p.moderator,
                        talking: false,
                        rtp: None,
                    })
                    .chain(r.browsers.iter().map(|b| ParticipantView {
                        id: b.id,
                        display: b.display.clone(),
                        kind: "browser",
                        muted: false,
                        moderator: false,
                        talking: false,
                        rtp: None,
                    }))
                    .collect(),
                dialing: self.dialing_in(name),
            })
            .collect();
        // A room whose only member is still being called is live too.
        for name in self.dialing_rooms() {
            if !v.iter().any(|r| r.name == name) {
                v.push(RoomView {
                    dialing: self.dialing_in(&name),
                    name,
                    locked: false,
                    recording: None,
                    participants: Vec::new(),
                });
            }
        }
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    fn member(&self, room: &str, leg: LegId) -> Result<(), AdminError> {
        let r = self
            .rooms()
            .get(room)
            .ok_or_else(|| AdminError::NoSuchRoom(room.to_string()))?;
        if r.participants.iter().any(|p| p.leg == leg) {
            Ok(())
        } else {
            Err(AdminError::NoSuchParticipant(room.to_string(), leg))
        }
    }

    /// Removes a participant from its room: the call gets a BYE from us.
    pub fn kick(
        &mut self,
        now: Now,
        room: &str,
        leg: LegId,
        out: &mut Vec<Action>,
    ) -> Result<(), AdminError> {
        if let Some(b) = self.calls.rooms.browser(room, leg) {
            tracing::info!(nick = %b.nick, %room, "browser kicked by an operator");
            out.push(Action::Phone(crate::bridge::PhoneEvent::KickBrowser {
                room: room.to_string(),
                nick: b.nick.clone(),
            }));
            return Ok(());
        }
        if self.is_dialing(room, leg) {
            self.cancel_dialing(now, leg, out);
            return Ok(());
        }
        self.member(room, leg)?;
        tracing::info!(leg, %room, "kicked by an operator");
        self.hang_up(now, leg, out);
        Ok(())
    }

    /// Mutes or unmutes a participant; it hears "you are muted"/"unmuted".
    pub fn set_muted(
        &mut self,
        room: &str,
        leg: LegId,
        muted: bool,
        out: &mut Vec<Action>,
    ) -> Result<(), AdminError> {
        if let Some(b) = self.calls.rooms.browser(room, leg) {
            if !muted {
                return Err(AdminError::BrowserUnmute);
            }
            out.push(Action::Phone(crate::bridge::PhoneEvent::MuteBrowser {
                room: room.to_string(),
                nick: b.nick.clone(),
            }));
            return Ok(());
        }
        self.member(room, leg)?;
        let Some(p) = self.calls.rooms.participant_mut(leg) else {
            return Err(AdminError::NoSuchParticipant(room.to_string(), leg));
        };
        if p.muted != muted {
            p.muted = muted;
            self.media(out, MediaCommand::Mute { leg, muted });
            self.play(leg, &[if muted { "muted" } else { "unmuted" }], out);
        }
        Ok(())
    }

    /// Locks or unlocks a room.
    pub fn set_locked(&mut self, room: &str, locked: bool) -> Result<(), AdminError> {
        let current = self
            .rooms()
            .get(room)
            .map(|r| r.locked)
            .ok_or_else(|| AdminError::NoSuchRoom(room.to_string()))?;
        if current != locked {
            self.calls.rooms.toggle_lock(room);
            tracing::info!(%room, locked, "room lock changed by an operator");
        }
        Ok(())
    }
}

/// A room action from the web API to the endpoint task, with where its
/// answer goes.
#[derive(Debug)]
pub enum AdminRequest {
    /// List the live rooms.
    Rooms(tokio::sync::oneshot::Sender<Vec<RoomView>>),
    /// Kick a participant.
    Kick {
        /// The room.
        room: String,
        /// The participant.
        leg: LegId,
        /// The outcome.
        reply: tokio::sync::oneshot::Sender<Result<(), AdminError>>,
    },
    /// Mute or unmute a participant.
    Mute {
        /// The room.
        room: String,
        /// The participant.
        leg: LegId,
        /// Muted or not.
        muted: bool,
        /// The outcome.
        reply: tokio::sync::oneshot::Sender<Result<(), AdminError>>,
    },
    /// Lock or unlock a room.
    Lock {
        /// The room.
        room: String,
        /// Locked or not.
        locked: bool,
        /// The outcome.
        reply: tokio::sync::oneshot::Sender<Result<(), AdminError>>,
    },
    /// Call a number into a room (through the trunk the dialplan's
    /// `[[dialout]]` rules name).
    DialOut {
        /// The room (or a browser's MUC node for it).
        room: String,
        /// The number asked for.
        number: String,
        /// Who asks (`api:TOKEN-NAME`, `xmpp:ROOM/NICK`).
        by: String,
        /// The call's participant id, or why it was not placed.
        reply: tokio::sync::oneshot::Sender<
            Result<super::dialout::DialOutStarted, super::dialout::DialOutError>,
        >,
    },
    /// A browser joined or left a room (told by the XMPP hub; no answer).
    Browser(crate::bridge::BrowserPresence),
    /// Start or stop recording a room (src/sip/recording.rs).
    Record {
        /// The room.
        room: String,
        /// Recording or not.
        on: bool,
        /// Who asks (`api:TOKEN-NAME`).
        by: String,
        /// Per-participant tracks (`None`: `[recorder] tracks`).
        tracks: Option<bool>,
        /// The recording's id (started, stopped or already running).
        reply: tokio::sync::oneshot::Sender<Result<Option<String>, AdminError>>,
    },
}

impl Endpoint {
    /// Carries out an [`AdminRequest`] and answers it.
    pub fn admin(&mut self, now: Now, req: AdminRequest, out: &mut Vec<Action>) {
        match req {
            AdminRequest::Rooms(reply) => {
                let _ = reply.send(self.rooms_view());
            }
            AdminRequest::Kick { room, leg, reply } => {
                // Browsers name a room by its MUC node.
                let room = self.calls.rooms.key_for(&room);
                let _ = reply.send(self.kick(now, &room, leg, out));
            }
            AdminRequest::Mute {
                room,
                leg,
                muted,
                reply,
            } => {
                let _ = reply.send(self.set_muted(&room, leg, muted, out));
            }
            AdminRequest::Lock {
                room,
                locked,
                reply,
            } => {
                let _ = reply.send(self.set_locked(&room, locked));
            }
            AdminRequest::Record {
                room,
                on,
                by,
                tracks,
                reply,
            } => {
                // Browsers name a room by its MUC node.
                let room = self.calls.rooms.key_for(&room);
                let _ = reply.send(self.set_recording(&room, on, &by, tracks, out));
            }
            AdminRequest::DialOut {
                room,
                number,
                by,
                reply,
            } => {
                let room = self.calls.rooms.key_for(&room);
                let _ = reply.send(self.dial_out(now, &room, &number, &by, out));
            }
            AdminRequest::Browser(crate::bridge::BrowserPresence::Joined {
                room,
                nick,
                display,
            }) => {
                let key = self.calls.rooms.browser_join(&room, &nick, &display);
                tracing::info!(room = %key, %nick, "browser joined");
            }
            AdminRequest::Browser(crate::bridge::BrowserPresence::Left { room, nick }) => {
                let key = self.calls.rooms.key_for(&room);
                let recording = self.rooms().get(&key).and_then(|r| r.recording.clone());
                if let Some((key, left)) = self.calls.rooms.browser_leave(&room, &nick) {
                    tracing::info!(room = %key, %nick, left, "browser left");
                    if left == 0
                        && let Some(id) = recording
                    {
                        out.push(Action::Recorder(crate::recorder::RecorderCommand::Stop {
                            id,
                            room: key,
                            reason: "room empty".into(),
                        }));
                    }
                }
            }
        }
    }
}

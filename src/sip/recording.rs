//! Recording control in the endpoint core: start and stop a room's
//! recording (from the JSON API, a moderator's `*8`, a `record = true`
//! route), announce it to the phones, and forget it when the recorder says
//! it ended. Sans-IO: the recorder is told through [`Action::Recorder`].

use super::admin::AdminError;
use super::endpoint::{Action, Endpoint};
use crate::recorder::RecorderCommand;

impl Endpoint {
    /// Starts recording `room` unless it is recorded already; every phone in
    /// it hears "this meeting is being recorded". Returns the new id.
    pub(super) fn start_recording(
        &mut self,
        room: &str,
        by: String,
        tracks: Option<bool>,
        out: &mut Vec<Action>,
    ) -> Option<String> {
        let id = format!("{:016x}", self.next());
        let r = self.calls.rooms.get_mut(room)?;
        if r.recording.is_some() {
            return None;
        }
        r.recording = Some(id.clone());
        let legs: Vec<_> = r.participants.iter().map(|p| p.leg).collect();
        tracing::info!(%room, %id, %by, "recording requested");
        out.push(Action::Recorder(RecorderCommand::Start {
            id: id.clone(),
            room: room.to_string(),
            by,
            tracks,
        }));
        for leg in legs {
            self.play(leg, &["recorded"], out);
        }
        out.push(Action::Phone(crate::bridge::PhoneEvent::Recording {
            room: room.to_string(),
            session: Some(id.clone()),
        }));
        Some(id)
    }

    /// Stops `room`'s recording; returns its id (None: it was not recorded).
    pub(super) fn stop_recording(
        &mut self,
        room: &str,
        reason: &str,
        out: &mut Vec<Action>,
    ) -> Option<String> {
        let id = self.calls.rooms.get_mut(room)?.recording.take()?;
        tracing::info!(%room, %id, reason, "recording stop requested");
        out.push(Action::Recorder(RecorderCommand::Stop {
            id: id.clone(),
            room: room.to_string(),
            reason: reason.to_string(),
        }));
        out.push(Action::Phone(crate::bridge::PhoneEvent::Recording {
            room: room.to_string(),
            session: None,
        }));
        Some(id)
    }

    /// The JSON API's switch: returns the id of the recording started or
    /// stopped, or of the one already running (`None`: nothing to stop).
    pub fn set_recording(
        &mut self,
        room: &str,
        on: bool,
        by: &str,
        tracks: Option<bool>,
        out: &mut Vec<Action>,
    ) -> Result<Option<String>, AdminError> {
        let current = self
            .rooms()
            .get(room)
            .map(|r| r.recording.clone())
            .ok_or_else(|| AdminError::NoSuchRoom(room.to_string()))?;
        Ok(match (on, current) {
            (true, Some(id)) => Some(id),
            (true, None) => self.start_recording(room, by.to_string(), tracks, out),
            (false, Some(_)) => self.stop_recording(room, &format!("stopped by {by}"), out),
            (false, None) => None,
        })
    }

    /// The recorder ended recording `id` (stopped, maximum length, or a
    /// failure): the room is no longer recorded.
    pub fn on_recording_ended(&mut self, room: &str, id: &str, out: &mut Vec<Action>) {
        if let Some(r) = self.calls.rooms.get_mut(room)
            && r.recording.as_deref() == Some(id)
        {
            r.recording = None;
            out.push(Action::Phone(crate::bridge::PhoneEvent::Recording {
                room: room.to_string(),
                session: None,
            }));
        }
    }
}

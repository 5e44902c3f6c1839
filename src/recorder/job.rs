//! One recording's writer: takes [`TapItem`]s off the tap's queue on a
//! thread of its own (never the media thread), writes the room mix and the
//! participant tracks as Ogg Opus, keeps the sidecar's events, and reports
//! progress and the end to the recorder service.
//!
//! Files, in the recorder's directory, named from the recording id:
//! `ID.opus` (the mix), `ID-legN.opus` (tracks) and `ID.json` (the sidecar).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc::UnboundedSender;

use super::ogg_opus::{OggOpusWriter, PAGE_PACKETS};
use super::tap::{Stream, TapEvent, TapItem};
use crate::conference::LegId;
use crate::media::codec::opus::{OpusConfig, OpusEncoder};
use crate::store::recordings::{Finished, RecordingState, unix_ms};

/// What a job is asked to do.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The recording id (file names).
    pub id: String,
    /// The room (a tag in the files).
    pub room: String,
    /// The recorder's directory.
    pub dir: PathBuf,
    /// Stop after this many 20 ms frames (0: never).
    pub max_frames: u64,
    /// Opus bitrate (for the silence packet that fills lost frames).
    pub bitrate: u32,
}

/// What a job tells the service.
#[derive(Debug)]
pub enum JobReport {
    /// About once a second: what is written so far.
    Progress {
        /// The recording.
        id: String,
        /// Files so far.
        files: Vec<String>,
        /// Audio so far (ms).
        duration_ms: i64,
        /// Bytes so far.
        size_bytes: i64,
    },
    /// Closing the files.
    Finalizing {
        /// The recording.
        id: String,
    },
    /// The end: done or failed, with a reason of the job's own
    /// (`max_duration`, a write error) or none (the tap was closed).
    Ended {
        /// The recording.
        id: String,
        /// What to store.
        finished: Finished,
        /// When its first frame was taken (Unix ms).
        started_at: Option<i64>,
    },
}

struct Track {
    name: String,
    out: OggOpusWriter<BufWriter<File>>,
    /// The tap index of this stream's frame 0.
    start: u64,
}

/// A job with its mix file open (headers written).
pub struct Job {
    spec: JobSpec,
    mix: Track,
    tracks: BTreeMap<LegId, Track>,
    pre_skip: u16,
    silence: Vec<u8>,
    events: Vec<serde_json::Value>,
    /// Display names by participant.
    names: BTreeMap<LegId, String>,
    talk_from: BTreeMap<LegId, u64>,
    spans: Vec<(LegId, u64, u64)>,
    lost: u64,
    started_at: Option<i64>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.spec.id)
            .finish_non_exhaustive()
    }
}

/// The mix file's name.
pub fn mix_name(id: &str) -> String {
    format!("{id}.opus")
}

/// The sidecar's name.
pub fn sidecar_name(id: &str) -> String {
    format!("{id}.json")
}

fn open_stream(
    dir: &Path,
    name: &str,
    serial: u32,
    pre_skip: u16,
    spec: &JobSpec,
    what: &str,
) -> Result<OggOpusWriter<BufWriter<File>>, String> {
    let path = dir.join(name);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    OggOpusWriter::new(
        BufWriter::with_capacity(16 * 1024, f),
        serial,
        pre_skip,
        &[
            ("TITLE", &format!("{} ({what})", spec.room)),
            ("ROOM", &spec.room),
            ("DIALROOM_RECORDING", &spec.id),
        ],
    )
    .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

impl Job {
    /// Creates the directory and the mix file; an error is the reason the
    /// job fails (unwritable directory, disk full).
    pub fn open(spec: JobSpec) -> Result<Job, String> {
        std::fs::create_dir_all(&spec.dir)
            .map_err(|e| format!("cannot create {}: {e}", spec.dir.display()))?;
        let mut enc = OpusEncoder::new(OpusConfig {
            bitrate: spec.bitrate,
            complexity: 0,
            inband_fec: false,
            packet_loss_percent: 0,
        })
        .map_err(|e| e.to_string())?;
        // The media worker's encoders have the same settings, so the same
        // look-ahead: that is the pre-skip (RFC 7845 §4.2).
        let pre_skip = enc.lookahead().map_err(|e| e.to_string())? as u16;
        let mut silence = vec![0u8; super::tap::MAX_FRAME];
        let n = enc
            .encode(&[0i16; 960], &mut silence)
            .map_err(|e| e.to_string())?;
        silence.truncate(n.max(1));
        let name = mix_name(&spec.id);
        let out = open_stream(&spec.dir, &name, 1, pre_skip, &spec, "room mix")?;
        Ok(Job {
            mix: Track {
                name,
                out,
                start: 0,
            },
            tracks: BTreeMap::new(),
            pre_skip,
            silence,
            events: Vec::new(),
            names: BTreeMap::new(),
            talk_from: BTreeMap::new(),
            spans: Vec::new(),
            lost: 0,
            started_at: None,
            spec,
        })
    }

    /// The file names so far (mix first).
    pub fn files(&self) -> Vec<String> {
        let mut v = vec![self.mix.name.clone()];
        v.extend(self.tracks.values().map(|t| t.name.clone()));
        v
    }

    fn size(&self) -> i64 {
        self.files()
            .iter()
            .filter_map(|n| std::fs::metadata(self.spec.dir.join(n)).ok())
            .map(|m| m.len() as i64)
            .sum()
    }

    fn duration_ms(&self) -> i64 {
        (self.mix.out.decoded_samples() / 48) as i64
    }

    /// Writes one packet into `t` at tap index `index`, filling a gap with
    /// silence (frames the queue dropped) so that time stays right.
    fn put(
        t: &mut Track,
        silence: &[u8],
        lost: &mut u64,
        index: u64,
        data: &[u8],
    ) -> std::io::Result<()> {
        let at = index.saturating_sub(t.start);
        let have = t.out.packets();
        if at < have {
            return Ok(()); // late duplicate: never happens with one queue
        }
        for _ in have..at {
            *lost += 1;
            t.out.push(silence)?;
        }
        t.out.push(data)
    }

    fn audio(&mut self, index: u64, stream: Stream, data: &[u8]) -> Result<(), String> {
        if self.started_at.is_none() {
            self.started_at = Some(unix_ms() - (index * 20) as i64);
        }
        let t = match stream {
            Stream::Mix => &mut self.mix,
            Stream::Leg(leg) => {
                if !self.tracks.contains_key(&leg) {
                    let name = format!("{}-leg{leg}.opus", self.spec.id);
                    let out = open_stream(
                        &self.spec.dir,
                        &name,
                        2 + leg as u32,
                        self.pre_skip,
                        &self.spec,
                        &format!("participant {leg}"),
                    )?;
                    self.tracks.insert(
                        leg,
                        Track {
                            name,
                            out,
                            start: index,
                        },
                    );
                }
                self.tracks.get_mut(&leg).expect("inserted above")
            }
        };
        let name = t.name.clone();
        Self::put(t, &self.silence, &mut self.lost, index, data)
            .map_err(|e| format!("cannot write {name}: {e}"))
    }

    fn event(&mut self, index: u64, e: TapEvent) {
        let t_ms = index * 20;
        let (kind, leg) = match e {
            TapEvent::Joined(l) => ("joined", l),
            TapEvent::Left(l) => ("left", l),
            TapEvent::TalkStart(l) => {
                self.talk_from.insert(l, t_ms);
                return;
            }
            TapEvent::TalkStop(l) => {
                if let Some(from) = self.talk_from.remove(&l) {
                    self.spans.push((l, from, t_ms));
                }
                return;
            }
        };
        if kind == "left"
            && let Some(from) = self.talk_from.remove(&leg)
        {
            self.spans.push((leg, from, t_ms));
        }
        self.events
            .push(json!({"t_ms": t_ms, "event": kind, "participant": leg}));
    }

    /// Runs until the tap closes, the maximum length is reached or a write
    /// fails; then finalizes and reports the end.
    pub fn run(mut self, rx: Receiver<TapItem>, report: UnboundedSender<JobReport>) {
        let id = self.spec.id.clone();
        let mut failure: Option<String> = None;
        let mut own_reason: Option<String> = None;
        let mut last_progress = 0u64;
        loop {
            let item = match rx.recv_timeout(Duration::from_millis(500)) {
                Ok(i) => i,
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => break,
            };
            match item {
                TapItem::Audio {
                    index,
                    stream,
                    len,
                    data,
                } => {
                    if let Err(e) = self.audio(index, stream, &data[..usize::from(len)]) {
                        failure = Some(e);
                        break;
                    }
                }
                TapItem::Event { index, event } => self.event(index, event),
                TapItem::Name { leg, len, name, .. } => {
                    let n = String::from_utf8_lossy(&name[..usize::from(len)]).into_owned();
                    self.names.insert(leg, n);
                }
            }
            let packets = self.mix.out.packets();
            if packets >= last_progress + u64::from(PAGE_PACKETS) {
                last_progress = packets;
                let _ = report.send(JobReport::Progress {
                    id: id.clone(),
                    files: self.files(),
                    duration_ms: self.duration_ms(),
                    size_bytes: self.size(),
                });
            }
            if self.spec.max_frames > 0 && packets >= self.spec.max_frames {
                own_reason = Some("max_duration reached".into());
                break;
            }
        }
        // Dropping the queue tells the media worker to let go of the tap.
        drop(rx);
        let _ = report.send(JobReport::Finalizing { id: id.clone() });
        let started_at = self.started_at;
        let ended_at = match (&own_reason, started_at) {
            (Some(_), Some(s)) => Some(s + self.duration_ms()),
            _ => Some(unix_ms()),
        };
        let duration_ms = self.duration_ms();
        let dir = self.spec.dir.clone();
        let mut files = self.files();
        let result = self.finalize(ended_at);
        if result.is_ok() && failure.is_none() {
            files.push(sidecar_name(&id));
        }
        let size_bytes = files
            .iter()
            .filter_map(|n| std::fs::metadata(dir.join(n)).ok())
            .map(|m| m.len() as i64)
            .sum();
        let (state, reason) = match (failure, result) {
            (None, Ok(())) => (RecordingState::Done, own_reason),
            (Some(e), _) | (None, Err(e)) => (RecordingState::Failed, Some(e)),
        };
        let finished = Finished {
            state,
            reason,
            files,
            duration_ms,
            size_bytes,
            ended_at,
        };
        let _ = report.send(JobReport::Ended {
            id,
            finished,
            started_at,
        });
    }

    /// End-of-stream pages, fsync, and the sidecar.
    fn finalize(self, ended_at: Option<i64>) -> Result<(), String> {
        let Job {
            spec,
            mix,
            tracks,
            pre_skip,
            mut events,
            names,
            mut talk_from,
            mut spans,
            lost,
            started_at,
            ..
        } = self;
        let end_ms = mix.out.packets() * 20;
        let duration_ms = mix.out.decoded_samples() / 48;
        for (l, from) in std::mem::take(&mut talk_from) {
            spans.push((l, from, end_ms));
        }
        let mix_name = mix.name.clone();
        let mut participants = Vec::new();
        let mut closed: Vec<(Option<LegId>, String, u64, u64)> = Vec::new();
        let streams =
            std::iter::once((None, mix)).chain(tracks.into_iter().map(|(l, t)| (Some(l), t)));
        let mut first_error = None;
        for (leg, t) in streams {
            let samples = t.out.decoded_samples();
            let r = t
                .out
                .finish()
                .map_err(|e| e.to_string())
                .and_then(|w| w.into_inner().map_err(|e| e.error().to_string()))
                .and_then(|f| f.sync_all().map_err(|e| e.to_string()));
            if let Err(e) = r {
                first_error.get_or_insert(format!("cannot write {}: {e}", t.name));
            }
            closed.push((leg, t.name, t.start * 20, samples / 48));
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        for (leg, name, offset, ms) in &closed {
            if let Some(leg) = leg {
                participants.push(json!({
                    "participant": leg,
                    "name": names.get(leg),
                    "track": name,
                    "track_offset_ms": offset,
                    "track_duration_ms": ms,
                }));
            }
        }
        let talk: Vec<_> = spans
            .iter()
            .map(|(l, a, b)| json!({"participant": l, "name": names.get(l), "from_ms": a, "to_ms": b}))
            .collect();
        for e in &mut events {
            if let Some(l) = e["participant"].as_u64()
                && let Some(n) = names.get(&l)
            {
                e["name"] = json!(n);
            }
        }
        let people: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .map(|(l, n)| (l.to_string(), json!(n)))
            .collect();
        let side = json!({
            "id": spec.id,
            "room": spec.room,
            "started_at_ms": started_at,
            "ended_at_ms": ended_at,
            "duration_ms": duration_ms,
            "frames_lost": lost,
            "pre_skip": pre_skip,
            "mix": mix_name,
            "participants": participants,
            "names": people,
            "events": events,
            "talk": talk,
            "note": "times are relative to the start of the recording (the mix's first sample)",
        });
        let path = spec.dir.join(sidecar_name(&spec.id));
        let text = serde_json::to_string_pretty(&side).expect("JSON values serialize");
        let mut f =
            File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(())
    }
}

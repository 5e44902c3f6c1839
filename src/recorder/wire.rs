//! The tap on the wire: how the server hands a recorded room's frames to a
//! recorder worker in another process (`dialroom recorder`). One WebSocket
//! binary message per [`TapItem`], big-endian:
//!
//! ```text
//! audio: 0x01 | index u64 | stream u64 (u64::MAX: the mix, else the leg) | Opus packet
//! event: 0x02 | index u64 | kind u8 (1 joined, 2 left, 3 talk start, 4 talk stop) | leg u64
//! name:  0x03 | index u64 | leg u64 | UTF-8 display name (0..=64 bytes)
//! ```
//!
//! and, as the last message before the server closes the socket, one text
//! message `{"stop": "REASON"}` saying why the recording was stopped.

use super::tap::{MAX_FRAME, MAX_NAME, Stream, TapEvent, TapItem};

const AUDIO: u8 = 1;
const EVENT: u8 = 2;
const NAME: u8 = 3;
const MIX: u64 = u64::MAX;

/// Why a message is not a tap item.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Shorter than its header.
    #[error("tap message of {0} bytes is shorter than its header")]
    Short(usize),
    /// An unknown first byte.
    #[error("unknown tap message type {0}")]
    Kind(u8),
    /// An unknown event kind.
    #[error("unknown tap event {0}")]
    Event(u8),
    /// Audio longer than a tap carries, or empty.
    #[error("tap audio of {0} bytes (1..={MAX_FRAME} expected)")]
    Length(usize),
    /// Bytes after an event.
    #[error("{0} bytes after a tap event")]
    Trailing(usize),
    /// A name that is too long or not UTF-8.
    #[error("tap name of {0} bytes is too long or not UTF-8")]
    Name(usize),
}

/// Appends the encoding of `item` to `out`.
pub fn encode(item: &TapItem, out: &mut Vec<u8>) {
    match item {
        TapItem::Audio {
            index,
            stream,
            len,
            data,
        } => {
            out.push(AUDIO);
            out.extend_from_slice(&index.to_be_bytes());
            let s = match stream {
                Stream::Mix => MIX,
                Stream::Leg(l) => *l,
            };
            out.extend_from_slice(&s.to_be_bytes());
            out.extend_from_slice(&data[..usize::from(*len)]);
        }
        TapItem::Event { index, event } => {
            out.push(EVENT);
            out.extend_from_slice(&index.to_be_bytes());
            let (k, leg) = match event {
                TapEvent::Joined(l) => (1, l),
                TapEvent::Left(l) => (2, l),
                TapEvent::TalkStart(l) => (3, l),
                TapEvent::TalkStop(l) => (4, l),
            };
            out.push(k);
            out.extend_from_slice(&leg.to_be_bytes());
        }
        TapItem::Name {
            index,
            leg,
            len,
            name,
        } => {
            out.push(NAME);
            out.extend_from_slice(&index.to_be_bytes());
            out.extend_from_slice(&leg.to_be_bytes());
            out.extend_from_slice(&name[..usize::from(*len)]);
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_be_bytes(a)
}

/// Parses one binary message.
pub fn decode(b: &[u8]) -> Result<TapItem, WireError> {
    match b.first() {
        Some(&AUDIO) => {
            if b.len() < 17 {
                return Err(WireError::Short(b.len()));
            }
            let payload = &b[17..];
            if payload.is_empty() || payload.len() > MAX_FRAME {
                return Err(WireError::Length(payload.len()));
            }
            let mut data = [0u8; MAX_FRAME];
            data[..payload.len()].copy_from_slice(payload);
            let s = u64_at(b, 9);
            Ok(TapItem::Audio {
                index: u64_at(b, 1),
                stream: if s == MIX {
                    Stream::Mix
                } else {
                    Stream::Leg(s)
                },
                len: payload.len() as u16,
                data,
            })
        }
        Some(&EVENT) => {
            if b.len() < 18 {
                return Err(WireError::Short(b.len()));
            }
            if b.len() > 18 {
                return Err(WireError::Trailing(b.len() - 18));
            }
            let leg = u64_at(b, 10);
            let event = match b[9] {
                1 => TapEvent::Joined(leg),
                2 => TapEvent::Left(leg),
                3 => TapEvent::TalkStart(leg),
                4 => TapEvent::TalkStop(leg),
                k => return Err(WireError::Event(k)),
            };
            Ok(TapItem::Event {
                index: u64_at(b, 1),
                event,
            })
        }
        Some(&NAME) => {
            if b.len() < 17 {
                return Err(WireError::Short(b.len()));
            }
            let text = &b[17..];
            if text.len() > MAX_NAME || std::str::from_utf8(text).is_err() {
                return Err(WireError::Name(text.len()));
            }
            let mut name = [0u8; MAX_NAME];
            name[..text.len()].copy_from_slice(text);
            Ok(TapItem::Name {
                index: u64_at(b, 1),
                leg: u64_at(b, 9),
                len: text.len() as u8,
                name,
            })
        }
        Some(&k) => Err(WireError::Kind(k)),
        None => Err(WireError::Short(0)),
    }
}

/// The text message that ends a tap: why the recording was stopped.
pub fn stop_message(reason: &str) -> String {
    serde_json::json!({ "stop": reason }).to_string()
}

/// The reason in a stop message (`None` for any other text).
pub fn stop_reason(text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    v.get("stop")?.as_str().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(item: TapItem) -> TapItem {
        let mut b = Vec::new();
        encode(&item, &mut b);
        decode(&b).expect("what encode wrote decodes")
    }

    #[test]
    fn audio_of_the_mix_and_of_a_leg_round_trips() {
        let mut data = [0u8; MAX_FRAME];
        data[..3].copy_from_slice(&[0xf8, 1, 2]);
        for stream in [Stream::Mix, Stream::Leg(7), Stream::Leg(1 << 48)] {
            let t = round_trip(TapItem::Audio {
                index: 99,
                stream,
                len: 3,
                data,
            });
            let TapItem::Audio {
                index,
                stream: s,
                len,
                data: d,
            } = t
            else {
                panic!("{t:?}")
            };
            assert_eq!((index, s, len, &d[..3]), (99, stream, 3, &data[..3]));
        }
    }

    #[test]
    fn every_event_round_trips() {
        for event in [
            TapEvent::Joined(1),
            TapEvent::Left(2),
            TapEvent::TalkStart(3),
            TapEvent::TalkStop(u64::MAX - 1),
        ] {
            let t = round_trip(TapItem::Event { index: 5, event });
            assert!(matches!(t, TapItem::Event { index: 5, event: e } if e == event));
        }
    }

    #[test]
    fn a_name_round_trips_and_a_long_one_is_cut_at_a_character() {
        let t = round_trip(TapItem::name(3, 9, "Phone …4567"));
        assert!(
            matches!(t, TapItem::Name { index: 3, leg: 9, len, name } if &name[..usize::from(len)] == "Phone …4567".as_bytes())
        );
        let long = "é".repeat(40); // 80 bytes
        let TapItem::Name { len, name, .. } = TapItem::name(0, 1, &long) else {
            panic!()
        };
        assert_eq!(len, 64);
        assert!(std::str::from_utf8(&name[..64]).is_ok());
        let mut bad = vec![3u8; 17];
        bad.extend_from_slice(&[0xff, 0xfe]);
        assert_eq!(decode(&bad).unwrap_err(), WireError::Name(2));
    }

    #[test]
    fn bad_messages_are_refused_with_what_is_wrong() {
        assert_eq!(decode(&[]).unwrap_err(), WireError::Short(0));
        assert_eq!(decode(&[9, 0]).unwrap_err(), WireError::Kind(9));
        assert_eq!(decode(&[1; 10]).unwrap_err(), WireError::Short(10));
        assert_eq!(decode(&[1; 17]).unwrap_err(), WireError::Length(0));
        assert_eq!(
            decode(&[1; 17 + MAX_FRAME + 1]).unwrap_err(),
            WireError::Length(MAX_FRAME + 1)
        );
        let mut ev = vec![2u8; 18];
        ev[9] = 9;
        assert_eq!(decode(&ev).unwrap_err(), WireError::Event(9));
        ev.push(0);
        assert_eq!(decode(&ev).unwrap_err(), WireError::Trailing(1));
    }

    #[test]
    fn the_stop_message_carries_its_reason() {
        let m = stop_message("stopped by api:ops \"x\"");
        assert_eq!(stop_reason(&m).as_deref(), Some("stopped by api:ops \"x\""));
        assert_eq!(stop_reason("{}"), None);
        assert_eq!(stop_reason("not json"), None);
    }
}

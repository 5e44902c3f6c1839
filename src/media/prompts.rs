//! The shipped voice prompts (dialplans/prompts/*.wav, made once with
//! espeak-ng by scripts/make-prompts.sh), built into the binary and turned
//! into 48 kHz frames once at start.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::mixer::FRAME;
use super::resample::Resampler;

/// Every prompt: name and 16 kHz mono 16-bit WAV bytes.
const PROMPTS: &[(&str, &[u8])] = &[
    (
        "all_muted",
        include_bytes!("../../dialplans/prompts/all_muted.wav"),
    ),
    (
        "bad_meeting_id",
        include_bytes!("../../dialplans/prompts/bad_meeting_id.wav"),
    ),
    (
        "bad_pin",
        include_bytes!("../../dialplans/prompts/bad_pin.wav"),
    ),
    (
        "count_1",
        include_bytes!("../../dialplans/prompts/count_1.wav"),
    ),
    (
        "count_10",
        include_bytes!("../../dialplans/prompts/count_10.wav"),
    ),
    (
        "count_11",
        include_bytes!("../../dialplans/prompts/count_11.wav"),
    ),
    (
        "count_12",
        include_bytes!("../../dialplans/prompts/count_12.wav"),
    ),
    (
        "count_13",
        include_bytes!("../../dialplans/prompts/count_13.wav"),
    ),
    (
        "count_14",
        include_bytes!("../../dialplans/prompts/count_14.wav"),
    ),
    (
        "count_15",
        include_bytes!("../../dialplans/prompts/count_15.wav"),
    ),
    (
        "count_16",
        include_bytes!("../../dialplans/prompts/count_16.wav"),
    ),
    (
        "count_17",
        include_bytes!("../../dialplans/prompts/count_17.wav"),
    ),
    (
        "count_18",
        include_bytes!("../../dialplans/prompts/count_18.wav"),
    ),
    (
        "count_19",
        include_bytes!("../../dialplans/prompts/count_19.wav"),
    ),
    (
        "count_2",
        include_bytes!("../../dialplans/prompts/count_2.wav"),
    ),
    (
        "count_20",
        include_bytes!("../../dialplans/prompts/count_20.wav"),
    ),
    (
        "count_3",
        include_bytes!("../../dialplans/prompts/count_3.wav"),
    ),
    (
        "count_4",
        include_bytes!("../../dialplans/prompts/count_4.wav"),
    ),
    (
        "count_5",
        include_bytes!("../../dialplans/prompts/count_5.wav"),
    ),
    (
        "count_6",
        include_bytes!("../../dialplans/prompts/count_6.wav"),
    ),
    (
        "count_7",
        include_bytes!("../../dialplans/prompts/count_7.wav"),
    ),
    (
        "count_8",
        include_bytes!("../../dialplans/prompts/count_8.wav"),
    ),
    (
        "count_9",
        include_bytes!("../../dialplans/prompts/count_9.wav"),
    ),
    (
        "count_many",
        include_bytes!("../../dialplans/prompts/count_many.wav"),
    ),
    (
        "enter_meeting_id",
        include_bytes!("../../dialplans/prompts/enter_meeting_id.wav"),
    ),
    (
        "enter_pin",
        include_bytes!("../../dialplans/prompts/enter_pin.wav"),
    ),
    (
        "goodbye",
        include_bytes!("../../dialplans/prompts/goodbye.wav"),
    ),
    (
        "locked",
        include_bytes!("../../dialplans/prompts/locked.wav"),
    ),
    ("menu", include_bytes!("../../dialplans/prompts/menu.wav")),
    ("muted", include_bytes!("../../dialplans/prompts/muted.wav")),
    (
        "not_moderator",
        include_bytes!("../../dialplans/prompts/not_moderator.wav"),
    ),
    (
        "position_1",
        include_bytes!("../../dialplans/prompts/position_1.wav"),
    ),
    (
        "position_10",
        include_bytes!("../../dialplans/prompts/position_10.wav"),
    ),
    (
        "position_11",
        include_bytes!("../../dialplans/prompts/position_11.wav"),
    ),
    (
        "position_12",
        include_bytes!("../../dialplans/prompts/position_12.wav"),
    ),
    (
        "position_13",
        include_bytes!("../../dialplans/prompts/position_13.wav"),
    ),
    (
        "position_14",
        include_bytes!("../../dialplans/prompts/position_14.wav"),
    ),
    (
        "position_15",
        include_bytes!("../../dialplans/prompts/position_15.wav"),
    ),
    (
        "position_16",
        include_bytes!("../../dialplans/prompts/position_16.wav"),
    ),
    (
        "position_17",
        include_bytes!("../../dialplans/prompts/position_17.wav"),
    ),
    (
        "position_18",
        include_bytes!("../../dialplans/prompts/position_18.wav"),
    ),
    (
        "position_19",
        include_bytes!("../../dialplans/prompts/position_19.wav"),
    ),
    (
        "position_2",
        include_bytes!("../../dialplans/prompts/position_2.wav"),
    ),
    (
        "position_20",
        include_bytes!("../../dialplans/prompts/position_20.wav"),
    ),
    (
        "position_3",
        include_bytes!("../../dialplans/prompts/position_3.wav"),
    ),
    (
        "position_4",
        include_bytes!("../../dialplans/prompts/position_4.wav"),
    ),
    (
        "position_5",
        include_bytes!("../../dialplans/prompts/position_5.wav"),
    ),
    (
        "position_6",
        include_bytes!("../../dialplans/prompts/position_6.wav"),
    ),
    (
        "position_7",
        include_bytes!("../../dialplans/prompts/position_7.wav"),
    ),
    (
        "position_8",
        include_bytes!("../../dialplans/prompts/position_8.wav"),
    ),
    (
        "position_9",
        include_bytes!("../../dialplans/prompts/position_9.wav"),
    ),
    (
        "position_many",
        include_bytes!("../../dialplans/prompts/position_many.wav"),
    ),
    (
        "recorded",
        include_bytes!("../../dialplans/prompts/recorded.wav"),
    ),
    (
        "room_full",
        include_bytes!("../../dialplans/prompts/room_full.wav"),
    ),
    (
        "room_locked",
        include_bytes!("../../dialplans/prompts/room_locked.wav"),
    ),
    (
        "unlocked",
        include_bytes!("../../dialplans/prompts/unlocked.wav"),
    ),
    (
        "unmuted",
        include_bytes!("../../dialplans/prompts/unmuted.wav"),
    ),
    (
        "welcome",
        include_bytes!("../../dialplans/prompts/welcome.wav"),
    ),
];

/// A prompt as 48 kHz samples, padded to whole 20 ms frames.
pub type Prompt = Arc<[i16]>;

fn decode(wav: &[u8]) -> Option<Vec<i16>> {
    let r = hound::WavReader::new(std::io::Cursor::new(wav)).ok()?;
    let spec = r.spec();
    if spec.channels != 1 || spec.bits_per_sample != 16 {
        return None;
    }
    let rate = spec.sample_rate;
    let pcm: Vec<i16> = r.into_samples::<i16>().collect::<Result<_, _>>().ok()?;
    let mut up = Resampler::new(rate, 48_000).ok()?;
    let (fin, fout) = (up.input_len(), up.output_len());
    let mut out = Vec::with_capacity(pcm.len() * 48_000 / rate as usize + 2 * FRAME);
    let mut block = vec![0i16; fout];
    // Feed whole frames (zero-padded at the end), plus one to flush the delay.
    let frames = pcm.len().div_ceil(fin) + 1;
    let mut input = vec![0i16; fin];
    for i in 0..frames {
        input.fill(0);
        let start = i * fin;
        if start < pcm.len() {
            let end = (start + fin).min(pcm.len());
            input[..end - start].copy_from_slice(&pcm[start..end]);
        }
        up.process(&input, &mut block);
        out.extend_from_slice(&block);
    }
    let skip = up.delay().min(out.len());
    out.drain(..skip);
    let whole = out.len().div_ceil(FRAME) * FRAME;
    out.resize(whole, 0);
    Some(out)
}

/// Name -> (WAV bytes, decoded samples once asked for).
type Table = HashMap<&'static str, (&'static [u8], OnceLock<Prompt>)>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(|| {
        PROMPTS
            .iter()
            .map(|(n, w)| (*n, (*w, OnceLock::new())))
            .collect()
    })
}

/// One prompt by name, decoded on first use (see [`warm_up`]).
pub fn get(name: &str) -> Option<Prompt> {
    let (wav, cell) = table().get(name)?;
    Some(
        cell.get_or_init(|| {
            decode(wav)
                .expect("shipped prompts are 16-bit mono WAV")
                .into()
        })
        .clone(),
    )
}

/// The names of every prompt.
pub fn names() -> impl Iterator<Item = &'static str> {
    PROMPTS.iter().map(|(n, _)| *n)
}

/// Decodes every prompt now (the server calls this on a spare thread at
/// start, so a media worker never waits for a decode).
pub fn warm_up() {
    for n in names() {
        let _ = get(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_prompt_decodes_to_whole_frames_of_sound() {
        for name in names() {
            let p = get(name).unwrap();
            assert_eq!(p.len() % FRAME, 0, "{name}");
            let peak = p.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
            assert!(peak > 5000, "{name} is silent");
        }
        let menu = get("menu").unwrap();
        assert!(menu.len() > 48_000 * 5, "the menu is a few seconds long");
    }
}

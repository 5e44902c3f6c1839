//! The conference mixer for one room, at 48 kHz, 20 ms frames (sans-IO).
//!
//! Each tick the media worker offers the room's participants with their
//! speech level ([`Mixer::select`]); only the loudest `k` above the
//! threshold are mixed. The worker then writes just those talkers' 48 kHz
//! frames into the mixer's input slots ([`Mixer::input`]): a participant
//! who is not mixed is never resampled. [`Mixer::mix_selected`] sums them.
//! Everyone who is not a mixed talker hears the same *common* mix (so it is
//! encoded once per codec); each mixed talker hears the common mix minus
//! itself. All buffers are allocated once.

/// Samples in one 20 ms frame at 48 kHz.
pub const FRAME: usize = 960;

/// Most talkers a mixer can mix at once.
pub const MAX_TALKERS: usize = 8;

/// One participant's frame for this tick.
#[derive(Debug, Clone, Copy)]
pub struct MixInput<'a> {
    /// The caller's id for the participant (returned in [`Hears`]).
    pub id: u64,
    /// 20 ms of 48 kHz audio.
    pub frame: &'a [i16; FRAME],
    /// Speech level (e.g. smoothed RMS); louder talkers win.
    pub level: u32,
}

/// Which mix a participant hears this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hears {
    /// The common mix of all talkers.
    Common,
    /// The common mix minus its own voice (index into the talker mixes).
    MinusSelf(usize),
}

/// The mixer of one room.
pub struct Mixer {
    k: usize,
    threshold: u32,
    acc: Box<[i32; FRAME]>,
    common: Box<[i16; FRAME]>,
    inputs: Vec<[i16; FRAME]>,
    minus: Vec<[i16; FRAME]>,
    talkers: Vec<u64>,
    /// A sound was laid over this tick's mixes.
    overlaid: bool,
    /// (level, position, id) of the candidates above the threshold.
    order: Vec<(u32, usize, u64)>,
}

impl std::fmt::Debug for Mixer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mixer")
            .field("k", &self.k)
            .field("talkers", &self.talkers)
            .finish()
    }
}

fn clip(v: i32) -> i16 {
    v.clamp(i32::from(i16::MIN), i32::from(i16::MAX)) as i16
}

/// RMS of a frame, the level the mixer compares (the same at any sample
/// rate for audio the lower rate can carry, so a leg's level is taken on
/// its decoded samples before any resampling).
pub fn level(frame: &[i16]) -> u32 {
    if frame.is_empty() {
        return 0;
    }
    let sum: u64 = frame
        .iter()
        .map(|&s| (i64::from(s) * i64::from(s)) as u64)
        .sum();
    ((sum / frame.len() as u64) as f64).sqrt() as u32
}

impl Mixer {
    /// A mixer of at most `k` talkers; levels at or below `threshold` are not talking.
    pub fn new(k: usize, threshold: u32) -> Self {
        let k = k.clamp(1, MAX_TALKERS);
        Mixer {
            k,
            threshold,
            acc: Box::new([0; FRAME]),
            common: Box::new([0; FRAME]),
            inputs: vec![[0; FRAME]; k],
            minus: vec![[0; FRAME]; k],
            talkers: Vec::with_capacity(k),
            overlaid: false,
            order: Vec::with_capacity(64),
        }
    }

    /// Chooses this tick's talkers among `(id, level)` candidates: the
    /// loudest `k` above the threshold, loudest first (ties by position).
    /// Returns their ids; slot `i` of [`Mixer::input`] is `talkers()[i]`'s.
    pub fn select(&mut self, candidates: impl IntoIterator<Item = (u64, u32)>) -> &[u64] {
        self.order.clear();
        for (pos, (id, level)) in candidates.into_iter().enumerate() {
            if level > self.threshold {
                self.order.push((level, pos, id));
            }
        }
        self.order
            .sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        self.order.truncate(self.k);
        self.talkers.clear();
        self.talkers.extend(self.order.iter().map(|&(_, _, id)| id));
        &self.talkers
    }

    /// The input frame of talker slot `slot` (of the last [`Mixer::select`]),
    /// to be filled with that talker's 48 kHz audio before [`Mixer::mix_selected`].
    pub fn input(&mut self, slot: usize) -> &mut [i16; FRAME] {
        &mut self.inputs[slot]
    }

    /// Talker slot `slot`'s input frame as mixed this tick.
    pub fn input_frame(&self, slot: usize) -> &[i16; FRAME] {
        &self.inputs[slot]
    }

    /// Mixes the selected talkers' input frames. Afterwards [`Mixer::hears`]
    /// says who hears what.
    pub fn mix_selected(&mut self) {
        let n = self.talkers.len();
        self.overlaid = false;
        self.acc.fill(0);
        for input in &self.inputs[..n] {
            for (a, &s) in self.acc.iter_mut().zip(input.iter()) {
                *a += i32::from(s);
            }
        }
        for (c, &a) in self.common.iter_mut().zip(self.acc.iter()) {
            *c = clip(a);
        }
        for (m, own) in self.minus[..n].iter_mut().zip(&self.inputs[..n]) {
            for ((m, &a), &s) in m.iter_mut().zip(self.acc.iter()).zip(own.iter()) {
                *m = clip(a - i32::from(s));
            }
        }
    }

    /// Selects and mixes in one step, for callers that hold every frame.
    pub fn mix(&mut self, inputs: &[MixInput<'_>]) {
        self.select(inputs.iter().map(|i| (i.id, i.level)));
        for slot in 0..self.talkers.len() {
            let id = self.talkers[slot];
            if let Some(inp) = inputs.iter().find(|i| i.id == id) {
                self.inputs[slot].copy_from_slice(inp.frame);
            }
        }
        self.mix_selected();
    }

    /// Adds a sound everyone hears (join/leave tones) to every mix of this tick.
    pub fn overlay(&mut self, sound: &[i16; FRAME]) {
        self.overlaid = true;
        for (c, &s) in self.common.iter_mut().zip(sound.iter()) {
            *c = clip(i32::from(*c) + i32::from(s));
        }
        for slot in 0..self.talkers.len() {
            for (m, &s) in self.minus[slot].iter_mut().zip(sound.iter()) {
                *m = clip(i32::from(*m) + i32::from(s));
            }
        }
    }

    /// The ids of this tick's mixed talkers, loudest first.
    pub fn talkers(&self) -> &[u64] {
        &self.talkers
    }

    /// What participant `id` hears this tick.
    pub fn hears(&self, id: u64) -> Hears {
        match self.talkers.iter().position(|&t| t == id) {
            Some(slot) => Hears::MinusSelf(slot),
            None => Hears::Common,
        }
    }

    /// The talker slot whose input frame is, unchanged, the whole of mix
    /// `h` this tick: the common mix of a lone talker, or a talker's mix
    /// when one other talks. Whoever hears it may be sent that talker's own
    /// packet instead of an encoding of the mix. `None` when the mix holds
    /// several talkers, none, or a sound laid over it.
    pub fn only_source(&self, h: Hears) -> Option<usize> {
        if self.overlaid {
            return None;
        }
        match (h, self.talkers.len()) {
            (Hears::Common, 1) => Some(0),
            (Hears::MinusSelf(own), 2) => Some(1 - own),
            _ => None,
        }
    }

    /// The samples of a mix.
    pub fn output(&self, h: Hears) -> &[i16; FRAME] {
        match h {
            Hears::Common => &self.common,
            Hears::MinusSelf(slot) => &self.minus[slot],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(freq: f64, amp: f64) -> [i16; FRAME] {
        let mut f = [0i16; FRAME];
        for (n, s) in f.iter_mut().enumerate() {
            *s = (amp * (2.0 * std::f64::consts::PI * freq * n as f64 / 48000.0).sin()) as i16;
        }
        f
    }

    fn power(x: &[i16], freq: f64) -> f64 {
        let k = 2.0 * (2.0 * std::f64::consts::PI * freq / 48000.0).cos();
        let (mut s1, mut s2) = (0.0, 0.0);
        for &v in x {
            let s0 = f64::from(v) + k * s1 - s2;
            s2 = s1;
            s1 = s0;
        }
        (s1 * s1 + s2 * s2 - k * s1 * s2).sqrt() / x.len() as f64
    }

    #[test]
    fn talkers_hear_the_others_and_not_themselves() {
        let (a, b, c) = (tone(400.0, 5000.0), tone(1000.0, 5000.0), [0i16; FRAME]);
        let mut m = Mixer::new(3, 100);
        let inputs = [
            MixInput {
                id: 1,
                frame: &a,
                level: level(&a),
            },
            MixInput {
                id: 2,
                frame: &b,
                level: level(&b),
            },
            MixInput {
                id: 3,
                frame: &c,
                level: level(&c),
            },
        ];
        m.mix(&inputs);
        let heard_by_1 = m.output(m.hears(1));
        assert!(power(heard_by_1, 1000.0) > 1000.0);
        assert!(power(heard_by_1, 400.0) < 1.0);
        let heard_by_3 = m.output(m.hears(3));
        assert_eq!(m.hears(3), Hears::Common);
        assert!(power(heard_by_3, 1000.0) > 1000.0 && power(heard_by_3, 400.0) > 1000.0);
    }

    #[test]
    fn only_the_loudest_k_are_mixed() {
        let frames: Vec<[i16; FRAME]> = (0..5)
            .map(|i| tone(300.0 + 200.0 * i as f64, 1000.0 * (i + 1) as f64))
            .collect();
        let inputs: Vec<MixInput<'_>> = frames
            .iter()
            .enumerate()
            .map(|(i, f)| MixInput {
                id: i as u64,
                frame: f,
                level: level(f),
            })
            .collect();
        let mut m = Mixer::new(2, 100);
        m.mix(&inputs);
        assert_eq!(m.talkers(), &[4, 3]);
        let common = m.output(Hears::Common);
        assert!(power(common, 300.0) < 1.0, "the quietest is left out");
        assert!(power(common, 1100.0) > 1000.0);
    }

    #[test]
    fn only_selected_talkers_are_asked_for_their_audio() {
        let mut m = Mixer::new(2, 100);
        // Four candidates: one quiet, three talking; only the two loudest count.
        let chosen = m
            .select([(10, 50), (11, 900), (12, 400), (13, 700)])
            .to_vec();
        assert_eq!(chosen, [11, 13]);
        let (a, b) = (tone(500.0, 4000.0), tone(1500.0, 4000.0));
        m.input(0).copy_from_slice(&a);
        m.input(1).copy_from_slice(&b);
        m.mix_selected();
        assert_eq!(m.hears(12), Hears::Common);
        let common = m.output(Hears::Common);
        assert!(power(common, 500.0) > 1000.0 && power(common, 1500.0) > 1000.0);
        let heard_by_13 = m.output(m.hears(13));
        assert!(power(heard_by_13, 500.0) > 1000.0 && power(heard_by_13, 1500.0) < 1.0);
        // A tick with nobody talking mixes silence and leaves no old input behind.
        assert!(m.select([(10, 50), (11, 20)]).is_empty());
        m.mix_selected();
        assert!(m.output(Hears::Common).iter().all(|&s| s == 0));
    }

    #[test]
    fn a_mix_of_one_talker_names_that_talker_as_its_only_source() {
        let (a, b, c) = (
            tone(440.0, 5000.0),
            tone(700.0, 4000.0),
            tone(1100.0, 3000.0),
        );
        let mut m = Mixer::new(3, 10);
        let input = |id, frame| MixInput {
            id,
            frame,
            level: level(frame),
        };
        // One talker: everyone else hears exactly its frame; it hears nothing.
        m.mix(&[input(1, &a)]);
        assert_eq!(m.only_source(Hears::Common), Some(0));
        assert_eq!(m.output(Hears::Common), m.input_frame(0));
        assert_eq!(m.only_source(m.hears(1)), None);
        // Two: each talker hears only the other, unchanged; the rest hear both.
        m.mix(&[input(1, &a), input(2, &b)]);
        for (id, other) in [(1, 2), (2, 1)] {
            let h = m.hears(id);
            let slot = m.only_source(h).expect("one other talker");
            assert_eq!(m.talkers()[slot], other);
            assert_eq!(m.output(h), m.input_frame(slot));
        }
        assert_eq!(m.only_source(Hears::Common), None);
        // A chime laid over the mixes: nobody hears a talker unchanged.
        m.overlay(&c);
        assert_eq!(m.only_source(m.hears(1)), None);
        // Three talkers: every mix holds at least two.
        m.mix(&[input(1, &a), input(2, &b), input(3, &c)]);
        for h in [Hears::Common, m.hears(1), m.hears(2), m.hears(3)] {
            assert_eq!(m.only_source(h), None);
        }
    }

    #[test]
    fn sums_clip_instead_of_wrapping() {
        let loud = [30_000i16; FRAME];
        let mut m = Mixer::new(3, 0);
        let inputs = [
            MixInput {
                id: 1,
                frame: &loud,
                level: 30_000,
            },
            MixInput {
                id: 2,
                frame: &loud,
                level: 30_000,
            },
        ];
        m.mix(&inputs);
        assert!(m.output(Hears::Common).iter().all(|&s| s == i16::MAX));
    }

    #[test]
    fn silence_mixes_to_silence_and_overlays_reach_everyone() {
        let quiet = [3i16; FRAME];
        let mut m = Mixer::new(3, 100);
        m.mix(&[MixInput {
            id: 1,
            frame: &quiet,
            level: level(&quiet),
        }]);
        assert!(m.talkers().is_empty());
        assert!(m.output(Hears::Common).iter().all(|&s| s == 0));
        let beep = tone(800.0, 3000.0);
        m.overlay(&beep);
        assert!(power(m.output(m.hears(1)), 800.0) > 500.0);
    }
}

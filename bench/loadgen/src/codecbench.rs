//! `dialroom-loadgen --codec-bench`: what one 20 ms frame costs libopus on
//! this machine with dialroom's settings (mono 48 kHz, VOIP, 32 kbit/s,
//! in-band FEC), for the frames the benchmark sends (a talker, quiet noise)
//! and for a two-talker mix, at each encoder complexity; and G.711 for scale.
//! Single thread, best of three runs of 2 s each.

use std::time::Instant;

use audiopus::coder::{Decoder, Encoder};
use audiopus::packet::Packet;
use audiopus::{Application, Bitrate, Channels, MutSignals, SampleRate};

use crate::signal::{self, Voice};

fn time_per_frame(mut f: impl FnMut(usize)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed().as_secs_f64() < 2.0 {
            for _ in 0..50 {
                f(n);
                n += 1;
            }
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    best
}

fn encoder(complexity: u8) -> Encoder {
    let mut e =
        Encoder::new(SampleRate::Hz48000, Channels::Mono, Application::Voip).expect("encoder");
    e.set_bitrate(Bitrate::BitsPerSecond(32_000))
        .expect("bitrate");
    e.set_complexity(complexity).expect("complexity");
    e.set_inband_fec(true).expect("fec");
    e
}

/// The modes (RFC 6716 §3.1: SILK, hybrid, CELT, with the bandwidth) of
/// the packets one encoder makes of `pcm`, with how many of each.
fn modes(e: &Encoder, pcm: &[i16]) -> String {
    let mut out = [0u8; 1275];
    let mut seen: std::collections::BTreeMap<&str, usize> = Default::default();
    for frame in pcm.chunks_exact(960).take(200) {
        let Ok(n) = e.encode(frame, &mut out) else {
            continue;
        };
        if n == 0 {
            continue;
        }
        let name = match out[0] >> 3 {
            0..=3 => "SILK NB",
            4..=7 => "SILK MB",
            8..=11 => "SILK WB",
            12..=13 => "hybrid SWB",
            14..=15 => "hybrid FB",
            16..=19 => "CELT NB",
            20..=23 => "CELT WB",
            24..=27 => "CELT SWB",
            _ => "CELT FB",
        };
        *seen.entry(name).or_default() += 1;
    }
    seen.iter()
        .map(|(m, k)| format!("{m} x{k}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn run() {
    let talker = signal::pcm_loop(Voice::Talker, 48_000);
    let quiet = signal::pcm_loop(Voice::Quiet, 48_000);
    let clicker = signal::pcm_loop(Voice::Clicker, 48_000);
    let mix: Vec<i16> = talker
        .iter()
        .zip(&clicker)
        .map(|(&a, &b)| (i32::from(a) + i32::from(b)).clamp(-32768, 32767) as i16)
        .collect();
    let mut out = [0u8; 1275];
    println!("libopus {}", audiopus::version());
    println!("encode, us per 20 ms frame (mono 48 kHz, VOIP, 32 kbit/s, FEC):");
    for c in [0u8, 2, 5, 10] {
        let row: Vec<String> = [
            ("talker", &talker),
            ("two-talker mix", &mix),
            ("quiet", &quiet),
        ]
        .iter()
        .map(|(name, pcm)| {
            let e = encoder(c);
            let us = time_per_frame(|n| {
                let i = (n % 50) * 960;
                let _ = e.encode(&pcm[i..i + 960], &mut out);
            });
            format!("{name} {us:.0}")
        })
        .collect();
        println!(
            "  complexity {c:2}: {} (talker's packets: {})",
            row.join(", "),
            modes(&encoder(c), &talker)
        );
    }
    println!("decode, us per frame:");
    for (name, voice) in [("talker", Voice::Talker), ("quiet", Voice::Quiet)] {
        let frames = signal::encode_loop(signal::Codec::Opus, voice);
        let mut d = Decoder::new(SampleRate::Hz48000, Channels::Mono).expect("decoder");
        let mut pcm = vec![0i16; 5760];
        let us = time_per_frame(|n| {
            let p = Packet::try_from(&frames[n % 50][..]).expect("packet");
            let s = MutSignals::try_from(&mut pcm[..]).expect("signals");
            let _ = d.decode(Some(p), s, false);
        });
        let bytes = frames.iter().map(Vec::len).sum::<usize>() / frames.len();
        println!("  {name} ({bytes} B): {us:.1}");
    }
    let ul: Vec<u8> = talker
        .iter()
        .step_by(6)
        .map(|&s| signal::ulaw_encode(s))
        .collect();
    let mut pcm = [0i16; 160];
    let us = time_per_frame(|n| {
        let i = (n % 50) * 160;
        for (o, &b) in pcm.iter_mut().zip(&ul[i..i + 160]) {
            *o = signal::ulaw_decode(b);
        }
        std::hint::black_box(&pcm);
    });
    println!("G.711 µ-law decode (table-free), us per frame: {us:.2}");
}

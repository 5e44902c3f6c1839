// Remote audio through WebAudio: a level meter per remote audio track (the
// talking ring) and a mix of all of them whose last ~0.68 s can be searched
// for a tone (Goertzel), which the tests use to check who hears whom.

const MIX_WINDOW = 32768; // the largest AnalyserNode buffer: 0.68 s at 48 kHz

export class RemoteAudio {
  constructor() {
    this.ctx = null;
    this.meters = new Map(); // key -> {source, analyser, owner, buf, level}
  }

  #context() {
    if (!this.ctx) {
      this.ctx = new AudioContext({ sampleRate: 48000 });
      this.mix = this.ctx.createGain();
      this.mixAnalyser = this.ctx.createAnalyser();
      this.mixAnalyser.fftSize = MIX_WINDOW;
      this.mixBuf = new Float32Array(MIX_WINDOW);
      // Analysers only run while something pulls them: a silent sink.
      this.sink = this.ctx.createGain();
      this.sink.gain.value = 0;
      this.mix.connect(this.mixAnalyser);
      this.mixAnalyser.connect(this.sink);
      this.sink.connect(this.ctx.destination);
    }
    if (this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
    return this.ctx;
  }

  /** Resumes the context (call from a user gesture when the browser needs one). */
  resume() {
    if (this.ctx && this.ctx.state === 'suspended') this.ctx.resume().catch(() => {});
  }

  /** Starts metering `track` (a remote audio track) for `owner`, under `key` (its mid). */
  add(key, owner, track) {
    this.remove(key);
    const ctx = this.#context();
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 2048;
    source.connect(analyser);
    analyser.connect(this.sink);
    source.connect(this.mix);
    this.meters.set(key, { source, analyser, owner, buf: new Float32Array(analyser.fftSize), level: 0 });
  }

  /** Stops metering the track under `key`. */
  remove(key) {
    const m = this.meters.get(key);
    if (!m) return;
    try { m.source.disconnect(); m.analyser.disconnect(); } catch { /* already gone */ }
    this.meters.delete(key);
  }

  /** Stops everything. */
  clear() {
    for (const k of [...this.meters.keys()]) this.remove(k);
  }

  /** RMS level (0..1) of each owner's audio, the loudest of its tracks. */
  levels() {
    const out = new Map();
    for (const m of this.meters.values()) {
      m.analyser.getFloatTimeDomainData(m.buf);
      let sum = 0;
      for (const v of m.buf) sum += v * v;
      const rms = Math.sqrt(sum / m.buf.length);
      out.set(m.owner, Math.max(out.get(m.owner) ?? 0, rms));
    }
    return out;
  }

  /**
   * The Goertzel power at `hz` relative to the total power (0..1) of the
   * mix of all remote audio over the last ~0.5 s; 0 when there is none.
   */
  toneLevel(hz) {
    if (!this.ctx) return 0;
    this.mixAnalyser.getFloatTimeDomainData(this.mixBuf);
    const rate = this.ctx.sampleRate;
    const n = Math.min(this.mixBuf.length, Math.round(rate * 0.5));
    const x = this.mixBuf.subarray(this.mixBuf.length - n);
    return goertzel(x, rate, hz);
  }
}

/** Relative power of `hz` in `x`: 1 for a pure sine at `hz`, ~0 for others or silence. */
export function goertzel(x, rate, hz) {
  const k = 2 * Math.cos((2 * Math.PI * hz) / rate);
  let s1 = 0;
  let s2 = 0;
  let energy = 0;
  for (const v of x) {
    const s0 = v + k * s1 - s2;
    s2 = s1;
    s1 = s0;
    energy += v * v;
  }
  if (energy < 1e-9) return 0;
  const p = s1 * s1 + s2 * s2 - k * s1 * s2;
  return Math.min(1, p / ((energy * x.length) / 2));
}

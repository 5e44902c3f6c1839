// Jingle (the focus's session-initiate, source-add, source-remove) to SDP
// for RTCPeerConnection, and the browser's SDP answer back to a Jingle
// session-accept. The shapes are the ones src/xmpp/jingle.rs writes and
// reads (Jitsi's: XEP-0167 descriptions, XEP-0176 ICE-UDP with a XEP-0320
// fingerprint, XEP-0339 sources with `ssrc-info owner`).
//
// The server never sees SDP. The page keeps a model of the session:
//   * the transport (ICE ufrag/pwd, fingerprint, candidates) and the codecs
//     of each media, from session-initiate;
//   * a list of m-lines in a fixed order: mid 0 = our audio, mid 1 = our
//     video (the server receives on them: they carry our tracks in the
//     answer), then one m-line per remote source (the server sends on it;
//     a=ssrc lines with msid, and an FID group for video + RTX), appended as
//     sources arrive and set to inactive when they go, so the m-line order
//     never changes across offers;
// and writes a whole new remote offer from it on every change.

import { child, children, esc } from './xmpp.js';

export const JNS = {
  jingle: 'urn:xmpp:jingle:1',
  rtp: 'urn:xmpp:jingle:apps:rtp:1',
  ice: 'urn:xmpp:jingle:transports:ice-udp:1',
  dtls: 'urn:xmpp:jingle:apps:dtls:0',
  ssma: 'urn:xmpp:jingle:apps:rtp:ssma:0',
  fb: 'urn:xmpp:jingle:apps:rtp:rtcp-fb:0',
  hdrext: 'urn:xmpp:jingle:apps:rtp:rtp-hdrext:0',
  grouping: 'urn:xmpp:jingle:apps:grouping:0',
  jitmeet: 'http://jitsi.org/jitmeet',
};

/** The sources of a <jingle> element: [{media, ssrc, owner, msid, name}] and groups [{media, semantics, ssrcs}]. */
export function parseSources(jingle) {
  const sources = [];
  const groups = [];
  for (const content of children(jingle, 'content', JNS.jingle)) {
    const desc = child(content, 'description', JNS.rtp);
    if (!desc) continue;
    const media = desc.getAttribute('media') || content.getAttribute('name');
    if (media !== 'audio' && media !== 'video') continue;
    for (const s of children(desc, 'source', JNS.ssma)) {
      const ssrc = Number(s.getAttribute('ssrc'));
      if (!Number.isInteger(ssrc) || ssrc <= 0 || ssrc > 0xffffffff) continue;
      const msid = children(s, 'parameter').find((p) => p.getAttribute('name') === 'msid')?.getAttribute('value') ?? null;
      let owner = child(s, 'ssrc-info', JNS.jitmeet)?.getAttribute('owner') ?? 'unknown';
      // Jitsi's client also accepts a full occupant JID as the owner.
      if (owner.includes('/')) owner = owner.slice(owner.indexOf('/') + 1);
      sources.push({ media, ssrc, owner, msid, name: s.getAttribute('name') });
    }
    for (const g of children(desc, 'ssrc-group', JNS.ssma)) {
      const ssrcs = children(g, 'source').map((s) => Number(s.getAttribute('ssrc'))).filter((n) => Number.isInteger(n) && n > 0);
      groups.push({ media, semantics: g.getAttribute('semantics'), ssrcs });
    }
  }
  return { sources, groups };
}

function parseDescription(desc) {
  const pts = children(desc, 'payload-type', JNS.rtp).map((p) => ({
    id: p.getAttribute('id'),
    name: p.getAttribute('name'),
    clockrate: p.getAttribute('clockrate'),
    channels: p.getAttribute('channels'),
    params: children(p, 'parameter').map((x) => [x.getAttribute('name'), x.getAttribute('value')]),
    fbs: children(p, 'rtcp-fb', JNS.fb).map((f) => [f.getAttribute('type'), f.getAttribute('subtype')]),
  }));
  const exts = children(desc, 'rtp-hdrext', JNS.hdrext).map((h) => [h.getAttribute('id'), h.getAttribute('uri')]);
  return { pts, exts, maxptime: desc.getAttribute('maxptime') };
}

function parseTransport(tr) {
  const fp = child(tr, 'fingerprint', JNS.dtls);
  return {
    ufrag: tr.getAttribute('ufrag'),
    pwd: tr.getAttribute('pwd'),
    fingerprint: fp ? { hash: fp.getAttribute('hash'), value: fp.textContent.trim(), setup: fp.getAttribute('setup') || 'actpass' } : null,
    candidates: children(tr, 'candidate', JNS.ice).map((c) => ({
      foundation: c.getAttribute('foundation') || '1',
      component: c.getAttribute('component') || '1',
      protocol: (c.getAttribute('protocol') || 'udp').toLowerCase(),
      priority: c.getAttribute('priority') || '1',
      ip: c.getAttribute('ip'),
      port: c.getAttribute('port'),
      type: c.getAttribute('type') || 'host',
    })),
  };
}

/**
 * One Jingle session with the focus, as SDP. `session.offer()` gives the
 * current remote offer; `add()`/`remove()` change the remote sources.
 */
export class Session {
  /** From a session-initiate element. */
  constructor(jingle, myId) {
    this.sid = jingle.getAttribute('sid');
    this.initiator = jingle.getAttribute('initiator');
    this.myId = myId;
    this.version = 1;
    this.sessionId = String(Math.floor(Math.random() * 1e15));
    this.codecs = {};
    this.transport = null;
    for (const content of children(jingle, 'content', JNS.jingle)) {
      const desc = child(content, 'description', JNS.rtp);
      const media = desc?.getAttribute('media') || content.getAttribute('name');
      if (desc && (media === 'audio' || media === 'video')) this.codecs[media] = parseDescription(desc);
      const tr = child(content, 'transport', JNS.ice);
      if (tr && !this.transport && tr.getAttribute('ufrag')) this.transport = parseTransport(tr);
    }
    if (!this.transport || !this.transport.fingerprint) throw new Error('session-initiate without an ICE transport and fingerprint');
    if (!this.codecs.audio || !this.codecs.video) throw new Error('session-initiate without audio and video contents');
    this.mlines = [
      { mid: '0', media: 'audio', local: true, ssrcs: [], groups: [], owner: myId, active: true },
      { mid: '1', media: 'video', local: true, ssrcs: [], groups: [], owner: myId, active: true },
    ];
    this.add(parseSources(jingle));
  }

  /** The m-line carrying the remote source `ssrc`, if any. */
  mlineOf(ssrc) {
    return this.mlines.find((m) => !m.local && m.active && m.ssrcs.some((s) => s.ssrc === ssrc));
  }

  /** The m-line with mid `mid`. */
  byMid(mid) {
    return this.mlines.find((m) => m.mid === mid);
  }

  /**
   * Adds remote sources: one new m-line per primary SSRC (an FID group's
   * second SSRC is its RTX and joins the primary's m-line). Our own
   * sources (owner = us) are ignored. Returns the number of new m-lines.
   */
  add({ sources, groups }) {
    let added = 0;
    const rtxOf = new Map();
    const isRtx = new Set();
    for (const g of groups) {
      if (g.semantics === 'FID' && g.ssrcs.length === 2) {
        rtxOf.set(g.ssrcs[0], g.ssrcs[1]);
        isRtx.add(g.ssrcs[1]);
      }
    }
    for (const s of sources) {
      if (s.owner === this.myId || isRtx.has(s.ssrc) || this.mlineOf(s.ssrc)) continue;
      const ssrcs = [s];
      const groupsHere = [];
      const rtx = rtxOf.get(s.ssrc);
      if (rtx !== undefined) {
        const r = sources.find((x) => x.ssrc === rtx) ?? { ...s, ssrc: rtx };
        ssrcs.push({ ...r, msid: r.msid ?? s.msid });
        groupsHere.push({ semantics: 'FID', ssrcs: [s.ssrc, rtx] });
      }
      this.mlines.push({
        mid: String(this.mlines.length),
        media: s.media,
        local: false,
        owner: s.owner,
        msid: s.msid || `${s.owner}-${s.media} ${s.owner}-${s.media}-${s.ssrc}`,
        ssrcs,
        groups: groupsHere,
        active: true,
      });
      added += 1;
    }
    return added;
  }

  /** Removes remote sources: their m-lines become inactive. Returns the number changed. */
  remove({ sources }) {
    let changed = 0;
    for (const s of sources) {
      const m = this.mlineOf(s.ssrc);
      if (!m) continue;
      m.active = false;
      changed += 1;
    }
    return changed;
  }

  /** The remote owners with an active m-line of `media`. */
  owners(media) {
    return [...new Set(this.mlines.filter((m) => !m.local && m.active && m.media === media).map((m) => m.owner))];
  }

  /** The remote offer (SDP) for the current state. */
  offer() {
    const t = this.transport;
    const lines = [
      'v=0',
      `o=- ${this.sessionId} ${this.version++} IN IP4 0.0.0.0`,
      's=-',
      't=0 0',
      // The SFU is ICE-lite: it answers checks and never sends its own.
      // Jingle has no element for this, so it is an SDP-only fact we know.
      'a=ice-lite',
      `a=group:BUNDLE ${this.mlines.map((m) => m.mid).join(' ')}`,
      'a=msid-semantic: WMS *',
    ];
    for (const m of this.mlines) {
      const c = this.codecs[m.media];
      lines.push(`m=${m.media} 9 UDP/TLS/RTP/SAVPF ${c.pts.map((p) => p.id).join(' ')}`);
      lines.push('c=IN IP4 0.0.0.0', 'a=rtcp:9 IN IP4 0.0.0.0');
      lines.push(`a=ice-ufrag:${t.ufrag}`, `a=ice-pwd:${t.pwd}`);
      lines.push(`a=fingerprint:${t.fingerprint.hash} ${t.fingerprint.value}`, `a=setup:${t.fingerprint.setup}`);
      lines.push(`a=mid:${m.mid}`);
      for (const [id, uri] of c.exts) lines.push(`a=extmap:${id} ${uri}`);
      // Directions are the server's: it receives our tracks on mid 0 and 1
      // and sends each remote source on its own m-line.
      lines.push(m.local ? 'a=recvonly' : m.active ? 'a=sendonly' : 'a=inactive');
      lines.push('a=rtcp-mux');
      for (const p of c.pts) {
        lines.push(`a=rtpmap:${p.id} ${p.name}/${p.clockrate}${p.channels ? `/${p.channels}` : ''}`);
        for (const [ty, sub] of p.fbs) lines.push(`a=rtcp-fb:${p.id} ${ty}${sub ? ` ${sub}` : ''}`);
        if (p.params.length) lines.push(`a=fmtp:${p.id} ${p.params.map(([k, v]) => `${k}=${v}`).join(';')}`);
      }
      if (c.maxptime) lines.push(`a=maxptime:${c.maxptime}`);
      if (!m.local && m.active) {
        lines.push(`a=msid:${m.msid}`);
        for (const g of m.groups) lines.push(`a=ssrc-group:${g.semantics} ${g.ssrcs.join(' ')}`);
        for (const s of m.ssrcs) {
          lines.push(`a=ssrc:${s.ssrc} cname:${m.owner}`);
          lines.push(`a=ssrc:${s.ssrc} msid:${m.msid}`);
        }
      }
      for (const cand of t.candidates) {
        lines.push(`a=candidate:${cand.foundation} ${cand.component} ${cand.protocol} ${cand.priority} ${cand.ip} ${cand.port} typ ${cand.type}`);
      }
      lines.push('a=end-of-candidates');
    }
    return `${lines.join('\r\n')}\r\n`;
  }
}

/** SDP split into session attributes and m-sections with their attributes. */
export function parseSdp(sdp) {
  const out = { session: [], media: [] };
  for (const raw of sdp.split(/\r?\n/)) {
    const line = raw.trim();
    if (line.startsWith('m=')) {
      const [kind, port, proto, ...fmts] = line.slice(2).split(' ');
      out.media.push({ kind, port, proto, fmts, attrs: [] });
    } else if (line.startsWith('a=')) {
      (out.media.length ? out.media[out.media.length - 1].attrs : out.session).push(line.slice(2));
    }
  }
  return out;
}

function attrValue(attrs, key) {
  const a = attrs.find((x) => x.startsWith(`${key}:`));
  return a === undefined ? null : a.slice(key.length + 1);
}

/** Our local sources (what we send) in an answer: [{media, ssrcs:[{ssrc, msid}], groups}] for mid 0 and 1. */
export function localSources(answerSdp) {
  const sdp = parseSdp(answerSdp);
  const out = [];
  for (const m of sdp.media) {
    const mid = attrValue(m.attrs, 'mid');
    if (mid !== '0' && mid !== '1') continue;
    const dir = m.attrs.find((a) => ['sendrecv', 'sendonly', 'recvonly', 'inactive'].includes(a));
    if (dir !== 'sendonly' && dir !== 'sendrecv') continue;
    const msid = attrValue(m.attrs, 'msid');
    const ssrcs = [];
    for (const a of m.attrs.filter((x) => x.startsWith('ssrc:'))) {
      const ssrc = Number(a.slice(5).split(' ')[0]);
      if (!ssrcs.some((s) => s.ssrc === ssrc)) ssrcs.push({ ssrc, msid });
    }
    const groups = m.attrs.filter((x) => x.startsWith('ssrc-group:')).map((a) => {
      const [semantics, ...rest] = a.slice(11).split(' ');
      return { semantics, ssrcs: rest.map(Number) };
    });
    out.push({ media: m.kind, ssrcs, groups });
  }
  return out;
}

function sourceXml(s, media, myId, i) {
  const name = `${myId}-${media === 'audio' ? 'a' : 'v'}${i}`;
  return `<source xmlns="${JNS.ssma}" ssrc="${s.ssrc}" name="${esc(name)}"${media === 'video' ? ' videoType="camera"' : ''}>`
    + (s.msid ? `<parameter name="msid" value="${esc(s.msid)}"/>` : '')
    + `</source>`;
}

/**
 * The browser's answer as a session-accept: for our audio and video
 * contents, the payload types it chose, our sources and FID groups, and the
 * transport (ufrag/pwd, fingerprint with its setup role, candidates if any).
 */
export function sessionAccept(answerSdp, session, responder) {
  const sdp = parseSdp(answerSdp);
  const sources = localSources(answerSdp);
  const contents = [];
  for (const m of sdp.media) {
    const mid = attrValue(m.attrs, 'mid');
    if (mid !== '0' && mid !== '1') continue;
    const all = [...m.attrs, ...sdp.session];
    const media = m.kind;
    const pts = m.fmts.map((id) => {
      const rtpmap = m.attrs.find((a) => a.startsWith(`rtpmap:${id} `))?.split(' ')[1];
      const [name, clock, ch] = (rtpmap ?? '').split('/');
      const fmtp = m.attrs.find((a) => a.startsWith(`fmtp:${id} `))?.split(' ').slice(1).join(' ');
      const params = fmtp ? fmtp.split(';').map((kv) => kv.split('=')).filter((kv) => kv.length === 2) : [];
      return `<payload-type id="${esc(id)}" name="${esc(name ?? '')}" clockrate="${esc(clock ?? '')}"${ch ? ` channels="${esc(ch)}"` : ''}>`
        + params.map(([k, v]) => `<parameter name="${esc(k.trim())}" value="${esc(v.trim())}"/>`).join('')
        + '</payload-type>';
    }).join('');
    const mine = sources.find((s) => s.media === media);
    const srcXml = mine ? mine.ssrcs.map((s, i) => sourceXml(s, media, session.myId, i)).join('')
      + mine.groups.map((g) => `<ssrc-group xmlns="${JNS.ssma}" semantics="${esc(g.semantics)}">${g.ssrcs.map((s) => `<source ssrc="${s}"/>`).join('')}</ssrc-group>`).join('') : '';
    const [hash, ...fp] = (attrValue(all, 'fingerprint') ?? '').split(' ');
    const setup = attrValue(all, 'setup') ?? 'active';
    const cands = m.attrs.filter((a) => a.startsWith('candidate:')).map(candidateXml).filter(Boolean).join('');
    const dir = m.attrs.find((a) => ['sendrecv', 'sendonly', 'recvonly', 'inactive'].includes(a));
    const senders = dir === 'sendonly' || dir === 'sendrecv' ? 'both' : 'initiator';
    contents.push(`<content creator="responder" name="${media}" senders="${senders}">`
      + `<description xmlns="${JNS.rtp}" media="${media}">${pts}${srcXml}<rtcp-mux/></description>`
      + `<transport xmlns="${JNS.ice}" ufrag="${esc(attrValue(all, 'ice-ufrag') ?? '')}" pwd="${esc(attrValue(all, 'ice-pwd') ?? '')}">`
      + `<fingerprint xmlns="${JNS.dtls}" hash="${esc(hash)}" setup="${esc(setup)}">${esc(fp.join(' '))}</fingerprint>${cands}</transport>`
      + '</content>');
  }
  return `<jingle xmlns="${JNS.jingle}" action="session-accept" initiator="${esc(session.initiator ?? '')}" responder="${esc(responder)}" sid="${esc(session.sid)}">`
    + `<group xmlns="${JNS.grouping}" semantics="BUNDLE"><content name="audio"/><content name="video"/></group>`
    + contents.join('') + '</jingle>';
}

let candId = 0;

/** An SDP candidate attribute (`candidate:...`) as a Jingle <candidate/>, or '' when its address is not an IP (mDNS names). */
export function candidateXml(attr) {
  const f = attr.replace(/^a=/, '').replace(/^candidate:/, '').split(' ');
  if (f.length < 8) return '';
  const [foundation, component, protocol, priority, ip, port, , type] = f;
  if (!/^[0-9.]+$/.test(ip) && !/^[0-9a-fA-F:]+$/.test(ip)) return '';
  if (protocol.toLowerCase() !== 'udp') return '';
  candId += 1;
  return `<candidate xmlns="${JNS.ice}" foundation="${esc(foundation)}" component="${esc(component)}" protocol="udp" priority="${esc(priority)}"`
    + ` ip="${esc(ip)}" port="${esc(port)}" type="${esc(type)}" generation="0" network="0" id="c${candId}"/>`;
}

/** A transport-info with one trickled candidate (or null when it cannot be expressed). */
export function transportInfo(session, candidate, ufrag, pwd) {
  const cand = candidateXml(candidate);
  if (!cand) return null;
  return `<jingle xmlns="${JNS.jingle}" action="transport-info" sid="${esc(session.sid)}">`
    + `<content creator="responder" name="audio"><transport xmlns="${JNS.ice}" ufrag="${esc(ufrag)}" pwd="${esc(pwd)}">${cand}</transport></content>`
    + '</jingle>';
}

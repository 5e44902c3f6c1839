// A small XMPP client over WebSocket (RFC 7395, subprotocol `xmpp`): the
// framing <open/>, SASL ANONYMOUS, resource binding, IQs with replies, and
// stanza callbacks. One WebSocket message is one element.

export const NS = {
  client: 'jabber:client',
  framing: 'urn:ietf:params:xml:ns:xmpp-framing',
  sasl: 'urn:ietf:params:xml:ns:xmpp-sasl',
  bind: 'urn:ietf:params:xml:ns:xmpp-bind',
  stanzas: 'urn:ietf:params:xml:ns:xmpp-stanzas',
  ping: 'urn:xmpp:ping',
  muc: 'http://jabber.org/protocol/muc',
  mucUser: 'http://jabber.org/protocol/muc#user',
  nick: 'http://jabber.org/protocol/nick',
  focus: 'http://jitsi.org/protocol/focus',
  jigasi: 'http://jitsi.org/protocol/jigasi',
  audioMute: 'http://jitsi.org/jitmeet/audio',
  jibri: 'http://jitsi.org/protocol/jibri',
  rayo: 'urn:xmpp:rayo:1',
};

/** Escapes text for XML content and attribute values. */
export function esc(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' }[c]));
}

/** The first child element of `el` with local name `name` (and namespace `ns` if given). */
export function child(el, name, ns) {
  if (!el) return null;
  for (const c of el.children) {
    if (c.localName === name && (ns === undefined || c.namespaceURI === ns)) return c;
  }
  return null;
}

/** All child elements of `el` with local name `name` (and namespace `ns` if given). */
export function children(el, name, ns) {
  if (!el) return [];
  return [...el.children].filter((c) => c.localName === name && (ns === undefined || c.namespaceURI === ns));
}

let counter = 0;
function nextId() {
  counter += 1;
  return `m${Date.now().toString(36)}${counter}`;
}

/** The resource of a full JID (`room@conf/nick` -> `nick`). */
export function resourceOf(jid) {
  const i = (jid || '').indexOf('/');
  return i < 0 ? '' : jid.slice(i + 1);
}

/** The bare part of a JID. */
export function bareOf(jid) {
  const i = (jid || '').indexOf('/');
  return i < 0 ? jid : jid.slice(0, i);
}

export class XmppError extends Error {
  constructor(message, condition) {
    super(message);
    this.condition = condition;
  }
}

/**
 * A connection: `await Xmpp.connect(url, domain)` resolves once bound.
 * Callbacks: `onStanza(el)` for presence, message and IQ set/get (IQ
 * results are matched to `iq()` calls), `onClose(reason)` once.
 */
export class Xmpp {
  constructor(url, domain) {
    this.url = url;
    this.domain = domain;
    this.jid = null;
    this.pending = new Map();
    this.onStanza = () => {};
    this.onClose = () => {};
    this.closed = false;
    this.parser = new DOMParser();
  }

  static async connect(url, domain, timeoutMs = 10000) {
    const x = new Xmpp(url, domain);
    await x.#open(timeoutMs);
    return x;
  }

  #open(timeoutMs) {
    return new Promise((resolve, reject) => {
      let phase = 'open';
      let authed = false;
      const fail = (why) => {
        if (phase === 'done') return;
        phase = 'done';
        clearTimeout(timer);
        try { this.ws.close(); } catch { /* already closed */ }
        reject(new XmppError(why));
      };
      const timer = setTimeout(() => fail('the XMPP server did not answer in time'), timeoutMs);
      let ws;
      try {
        ws = new WebSocket(this.url, 'xmpp');
      } catch (e) {
        fail(`cannot open the WebSocket: ${e.message}`);
        return;
      }
      this.ws = ws;
      const openStream = () => ws.send(`<open xmlns="${NS.framing}" to="${esc(this.domain)}" version="1.0"/>`);
      ws.onopen = openStream;
      ws.onerror = () => { /* onclose follows */ };
      ws.onclose = (ev) => {
        if (phase !== 'done') {
          fail(`the connection closed while logging in (code ${ev.code})`);
        } else {
          this.#closed(`the connection to the server was lost (code ${ev.code})`);
        }
      };
      ws.onmessage = (ev) => {
        const el = this.#parse(ev.data);
        if (!el) return;
        if (phase === 'done') {
          this.#dispatch(el);
          return;
        }
        const name = el.localName;
        if (name === 'open') return;
        if (name === 'close') return fail('the server closed the stream');
        if (name === 'error') return fail(`stream error: ${el.firstElementChild?.localName ?? 'unknown'}`);
        if (name === 'features') {
          if (!authed) {
            const mechs = children(child(el, 'mechanisms', NS.sasl), 'mechanism').map((m) => m.textContent.trim());
            if (!mechs.includes('ANONYMOUS')) return fail('the server does not offer guest (anonymous) logins');
            ws.send(`<auth xmlns="${NS.sasl}" mechanism="ANONYMOUS"/>`);
          } else {
            if (!child(el, 'bind', NS.bind)) return fail('the server offers no resource binding');
            ws.send(`<iq xmlns="${NS.client}" type="set" id="bind1"><bind xmlns="${NS.bind}"/></iq>`);
          }
          return;
        }
        if (name === 'success') {
          authed = true;
          openStream();
          return;
        }
        if (name === 'failure') return fail(`login refused: ${el.firstElementChild?.localName ?? 'failure'}`);
        if (name === 'iq' && el.getAttribute('id') === 'bind1') {
          const jid = child(child(el, 'bind', NS.bind), 'jid');
          if (el.getAttribute('type') !== 'result' || !jid) return fail('resource binding failed');
          this.jid = jid.textContent.trim();
          phase = 'done';
          clearTimeout(timer);
          this.pinger = setInterval(() => this.#ping(), 20000);
          resolve();
        }
      };
    });
  }

  #parse(text) {
    const doc = this.parser.parseFromString(text, 'text/xml');
    const el = doc.documentElement;
    if (!el || el.localName === 'parsererror' || doc.getElementsByTagName('parsererror').length) {
      console.warn('xmpp: unparsable frame', text);
      return null;
    }
    return el;
  }

  #dispatch(el) {
    if (el.localName === 'close' && el.namespaceURI === NS.framing) {
      this.#closed('the server closed the stream');
      return;
    }
    if (el.localName === 'error') {
      this.#closed(`stream error: ${el.firstElementChild?.localName ?? 'unknown'}`);
      return;
    }
    if (el.localName === 'iq') {
      const type = el.getAttribute('type');
      if (type === 'result' || type === 'error') {
        const p = this.pending.get(el.getAttribute('id'));
        if (p) {
          this.pending.delete(el.getAttribute('id'));
          clearTimeout(p.timer);
          if (type === 'result') p.resolve(el);
          else {
            const err = child(el, 'error');
            const cond = err?.firstElementChild?.localName ?? 'error';
            const text = err ? child(err, 'text', NS.stanzas)?.textContent : null;
            p.reject(new XmppError(`${p.what}: ${text || cond}`, cond));
          }
        }
        return;
      }
      if (child(el, 'ping', NS.ping)) {
        this.sendIqResult(el);
        return;
      }
    }
    try {
      this.onStanza(el);
    } catch (e) {
      console.error('xmpp: stanza handler failed', e);
    }
  }

  #closed(reason) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pinger);
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(new XmppError(reason, 'closed'));
    }
    this.pending.clear();
    this.onClose(reason);
  }

  async #ping() {
    try {
      await this.iq('get', this.domain, `<ping xmlns="${NS.ping}"/>`, 10000, 'ping');
    } catch (e) {
      if (e.condition === 'timeout' && !this.closed) {
        try { this.ws.close(); } catch { /* closing anyway */ }
        this.#closed('the server stopped answering');
      }
    }
  }

  /** Sends raw XML text (one element). */
  send(xml) {
    if (!this.closed && this.ws.readyState === WebSocket.OPEN) this.ws.send(xml);
  }

  /** Sends an IQ and resolves with the result element (rejects on error or timeout). */
  iq(type, to, payload, timeoutMs = 10000, what = 'request') {
    const id = nextId();
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new XmppError('not connected', 'closed'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new XmppError(`${what}: no answer`, 'timeout'));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer, what });
      this.send(`<iq xmlns="${NS.client}" type="${type}" to="${esc(to)}" id="${id}">${payload}</iq>`);
    });
  }

  /** Answers an IQ with an empty result. */
  sendIqResult(iq) {
    this.send(`<iq xmlns="${NS.client}" type="result" to="${esc(iq.getAttribute('from') ?? '')}" id="${esc(iq.getAttribute('id') ?? '')}"/>`);
  }

  /** Answers an IQ with an error. */
  sendIqError(iq, type, condition) {
    this.send(`<iq xmlns="${NS.client}" type="error" to="${esc(iq.getAttribute('from') ?? '')}" id="${esc(iq.getAttribute('id') ?? '')}">`
      + `<error type="${type}"><${condition} xmlns="${NS.stanzas}"/></error></iq>`);
  }

  /** Ends the stream politely. */
  close() {
    if (this.closed) return;
    this.send(`<close xmlns="${NS.framing}"/>`);
    this.closed = true;
    clearInterval(this.pinger);
    try { this.ws.close(); } catch { /* closing anyway */ }
  }
}

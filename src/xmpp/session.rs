//! One client connection's stream, as a sans-IO state machine: the stream
//! header and features, SASL (ANONYMOUS and PLAIN), the stream restart,
//! resource binding, then stanzas handed to the hub with `from` stamped.
//!
//! It is fed bytes (TCP) or whole frames (RFC 7395) and returns [`Output`]s;
//! it never touches a socket, the clock or the database. A password check is
//! asked for with [`Output::CheckPassword`]; until [`Session::password_checked`]
//! answers, input is held back in order.

use base64::Engine as _;
use jid::{BareJid, FullJid};
use minidom::Element;

use super::framing::{self, Event, FramingError, StreamReader};
use super::ns;
use super::stanza::{self, Kind, n};
use super::xml::{self, Context};

/// Which wire framing the connection uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// RFC 6120 over TCP.
    Tcp,
    /// RFC 7395 over WebSocket.
    WebSocket,
}

/// What a session needs to know about the server.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// The served domain (`[xmpp] domain`).
    pub domain: String,
    /// Whether SASL ANONYMOUS is offered (guests).
    pub anonymous: bool,
    /// Largest stanza accepted, in bytes.
    pub max_stanza: usize,
    /// STARTTLS on TCP streams (RFC 6120 §5): offered, and whether required.
    pub starttls: StartTls,
}

/// Whether TCP streams are offered STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// No certificate: plain TCP only.
    Off,
    /// Offered; SASL is allowed before it.
    Offered,
    /// Offered as `<required/>`; SASL waits for it.
    Required,
}

/// What the shell must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send this text as is (one WebSocket message each).
    Write(String),
    /// Verify `password` for `user`; answer with [`Session::password_checked`].
    CheckPassword {
        /// The SASL PLAIN authentication identity (a user name).
        user: String,
        /// The password given.
        password: String,
    },
    /// The resource is bound: register the session with the hub under this JID.
    Bound(FullJid),
    /// A stanza from the bound client for the hub, `from` already stamped.
    Stanza(Element),
    /// Start TLS on the connection now (everything before it is written);
    /// answer with [`Session::tls_started`].
    StartTls,
    /// Close the connection once everything before it is written.
    Close,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Waiting for the stream header; `Some` after SASL success.
    AwaitOpen(Option<BareJid>),
    /// Header sent, waiting for `<auth/>`.
    Sasl,
    /// A password check is outstanding.
    Checking(BareJid),
    /// Authenticated, waiting for the bind IQ.
    Binding(BareJid),
    /// Bound: stanzas flow.
    Bound(FullJid),
    /// Closed; everything is ignored.
    Closed,
}

/// Failed SASL attempts allowed before the stream is closed.
const MAX_SASL_FAILURES: u32 = 3;

/// One client stream.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    transport: Transport,
    reader: StreamReader,
    state: State,
    stream_id: String,
    header_sent: bool,
    failures: u32,
    held: Vec<u8>,
    held_frames: std::collections::VecDeque<String>,
    /// The stream runs over TLS.
    secure: bool,
}

impl Session {
    /// A new session; `stream_id` must be unique and unguessable.
    pub fn new(cfg: SessionConfig, transport: Transport, stream_id: String) -> Self {
        let reader = StreamReader::new(cfg.max_stanza);
        Session {
            cfg,
            transport,
            reader,
            state: State::AwaitOpen(None),
            stream_id,
            header_sent: false,
            failures: 0,
            held: Vec::new(),
            held_frames: Default::default(),
            secure: false,
        }
    }

    /// STARTTLS as this stream sees it: never on WebSocket, done once secure.
    fn starttls(&self) -> StartTls {
        if self.transport == Transport::Tcp && !self.secure {
            self.cfg.starttls
        } else {
            StartTls::Off
        }
    }

    /// The TLS handshake after `<proceed/>` succeeded: the client opens a new
    /// stream (RFC 6120 §5.4.3.3).
    pub fn tls_started(&mut self) {
        self.secure = true;
        self.reader = StreamReader::new(self.cfg.max_stanza);
        self.held.clear();
        self.header_sent = false;
        self.state = State::AwaitOpen(None);
    }

    /// True once STARTTLS completed.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The bound JID, once bound.
    pub fn jid(&self) -> Option<&FullJid> {
        match &self.state {
            State::Bound(j) => Some(j),
            _ => None,
        }
    }

    /// True once the session has closed (the shell should drop the connection).
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Bytes from a TCP stream.
    pub fn on_bytes(&mut self, data: &[u8], out: &mut Vec<Output>) {
        self.held.extend_from_slice(data);
        self.drain_bytes(out);
    }

    fn drain_bytes(&mut self, out: &mut Vec<Output>) {
        let held = std::mem::take(&mut self.held);
        let mut buf: &[u8] = &held;
        while !matches!(self.state, State::Checking(_) | State::Closed) {
            match self.reader.next(&mut buf) {
                Ok(Some(ev)) => self.on_event(ev, out),
                Ok(None) => break,
                Err(e) => {
                    self.framing_error(&e, out);
                    return;
                }
            }
        }
        if !matches!(self.state, State::Closed) {
            self.held = buf.to_vec();
        }
    }

    /// One RFC 7395 WebSocket text message.
    pub fn on_frame(&mut self, text: &str, out: &mut Vec<Output>) {
        self.held_frames.push_back(text.to_string());
        self.drain_frames(out);
    }

    fn drain_frames(&mut self, out: &mut Vec<Output>) {
        while !matches!(self.state, State::Checking(_) | State::Closed) {
            let Some(f) = self.held_frames.pop_front() else {
                break;
            };
            match framing::read_frame(&f, self.cfg.max_stanza) {
                Ok(ev) => self.on_event(ev, out),
                Err(e) => self.framing_error(&e, out),
            }
        }
    }

    /// The transport ended (peer closed or I/O error).
    pub fn on_eof(&mut self) {
        self.state = State::Closed;
    }

    /// The answer to [`Output::CheckPassword`].
    pub fn password_checked(&mut self, ok: bool, out: &mut Vec<Output>) {
        let State::Checking(jid) = self.state.clone() else {
            return;
        };
        if ok {
            self.sasl_success(jid, out);
        } else {
            self.state = State::Sasl;
            self.sasl_failure("not-authorized", out);
        }
        match self.transport {
            Transport::Tcp => self.drain_bytes(out),
            Transport::WebSocket => self.drain_frames(out),
        }
    }

    /// Closes the stream with a stream error (used by the hub, e.g. `conflict`).
    pub fn close_with(&mut self, condition: &str, out: &mut Vec<Output>) {
        self.stream_error(condition, out);
    }

    /// Closes the stream cleanly (server shutdown).
    pub fn close(&mut self, out: &mut Vec<Output>) {
        if self.state == State::Closed {
            return;
        }
        self.send_header_once(out);
        out.push(Output::Write(self.closing()));
        out.push(Output::Close);
        self.state = State::Closed;
    }

    /// Prints a stanza for this connection's framing.
    pub fn print(&self, el: &Element) -> String {
        xml::print(el, self.context())
    }

    fn context(&self) -> Context {
        match self.transport {
            Transport::Tcp => Context::Stream,
            Transport::WebSocket => Context::Frame,
        }
    }

    fn closing(&self) -> String {
        match self.transport {
            Transport::Tcp => "</stream:stream>".into(),
            Transport::WebSocket => format!("<close xmlns='{}'/>", ns::FRAMING),
        }
    }

    fn write(&self, el: &Element, out: &mut Vec<Output>) {
        out.push(Output::Write(self.print(el)));
    }

    fn framing_error(&mut self, e: &FramingError, out: &mut Vec<Output>) {
        tracing::debug!("xmpp stream {}: {e}", self.stream_id);
        self.stream_error(e.condition(), out);
    }

    fn stream_error(&mut self, condition: &str, out: &mut Vec<Output>) {
        if self.state == State::Closed {
            return;
        }
        self.send_header_once(out);
        let cond = Element::builder(condition, ns::STREAM_ERRORS).build();
        let err = Element::builder("error", ns::STREAM).append(cond).build();
        self.write(&err, out);
        out.push(Output::Write(self.closing()));
        out.push(Output::Close);
        self.state = State::Closed;
    }

    fn send_header_once(&mut self, out: &mut Vec<Output>) {
        if self.header_sent {
            return;
        }
        self.header_sent = true;
        let d = xml::escape(&self.cfg.domain);
        let id = xml::escape(&self.stream_id);
        out.push(Output::Write(match self.transport {
            Transport::Tcp => format!(
                "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='{}' id='{id}' from='{d}' version='1.0' xml:lang='en'>",
                ns::CLIENT,
                ns::STREAM
            ),
            Transport::WebSocket => format!(
                "<open xmlns='{}' id='{id}' from='{d}' version='1.0' xml:lang='en'/>",
                ns::FRAMING
            ),
        }));
    }

    fn on_event(&mut self, ev: Event, out: &mut Vec<Output>) {
        match ev {
            Event::Open(attrs) => self.on_open(&attrs, out),
            Event::Close => self.close(out),
            Event::Element(el) => self.on_element(el, out),
        }
    }

    fn on_open(
        &mut self,
        attrs: &std::collections::BTreeMap<String, String>,
        out: &mut Vec<Output>,
    ) {
        let State::AwaitOpen(authed) = self.state.clone() else {
            // A second header without a restart.
            self.stream_error("bad-format", out);
            return;
        };
        self.header_sent = false;
        if let Some(to) = attrs.get("to")
            && !to.eq_ignore_ascii_case(&self.cfg.domain)
        {
            self.stream_error("host-unknown", out);
            return;
        }
        if attrs.get("version").map(String::as_str) != Some("1.0") {
            self.stream_error("unsupported-version", out);
            return;
        }
        self.send_header_once(out);
        let features = match authed {
            None if self.starttls() == StartTls::Required => {
                // TLS first; no mechanisms until then (RFC 6120 §5.3.1).
                self.state = State::Sasl;
                Element::builder("features", ns::STREAM)
                    .append(
                        Element::builder("starttls", ns::TLS)
                            .append(Element::builder("required", ns::TLS).build())
                            .build(),
                    )
                    .build()
            }
            None => {
                let mut mechs = Element::builder("mechanisms", ns::SASL);
                mechs = mechs.append(
                    Element::builder("mechanism", ns::SASL)
                        .append("PLAIN")
                        .build(),
                );
                if self.cfg.anonymous {
                    mechs = mechs.append(
                        Element::builder("mechanism", ns::SASL)
                            .append("ANONYMOUS")
                            .build(),
                    );
                }
                self.state = State::Sasl;
                let mut features = Element::builder("features", ns::STREAM);
                if self.starttls() == StartTls::Offered {
                    features = features.append(Element::builder("starttls", ns::TLS).build());
                }
                features.append(mechs.build()).build()
            }
            Some(bare) => {
                self.state = State::Binding(bare);
                Element::builder("features", ns::STREAM)
                    .append(Element::builder("bind", ns::BIND).build())
                    .build()
            }
        };
        self.write(&features, out);
    }

    fn on_element(&mut self, el: Element, out: &mut Vec<Output>) {
        match self.state.clone() {
            State::AwaitOpen(_) => self.stream_error("not-authorized", out),
            State::Sasl => {
                if el.ns() == ns::TLS && el.name() == "starttls" {
                    if self.starttls() == StartTls::Off {
                        // Not offered (or already done): RFC 6120 §5.4.2.2.
                        self.write(&Element::builder("failure", ns::TLS).build(), out);
                        self.close(out);
                    } else {
                        self.write(&Element::builder("proceed", ns::TLS).build(), out);
                        out.push(Output::StartTls);
                    }
                } else if self.starttls() == StartTls::Required {
                    // SASL (or anything else) before the required TLS.
                    let failure = Element::builder("failure", ns::SASL)
                        .append(Element::builder("encryption-required", ns::SASL).build())
                        .build();
                    self.write(&failure, out);
                    self.close(out);
                } else if el.ns() != ns::SASL {
                    self.stream_error("not-authorized", out);
                } else {
                    self.on_sasl(&el, out);
                }
            }
            State::Checking(_) | State::Closed => {}
            State::Binding(bare) => self.on_binding(bare, el, out),
            State::Bound(jid) => self.on_stanza(&jid, el, out),
        }
    }

    fn on_sasl(&mut self, el: &Element, out: &mut Vec<Output>) {
        match el.name() {
            "auth" => {}
            "abort" => return self.sasl_failure("aborted", out),
            _ => return self.stream_error("not-authorized", out),
        }
        let text = el.text();
        let text = text.trim();
        let data = if text == "=" || text.is_empty() {
            Ok(Vec::new())
        } else {
            base64::engine::general_purpose::STANDARD.decode(text)
        };
        let Ok(data) = data else {
            return self.sasl_failure("incorrect-encoding", out);
        };
        match el.attr("mechanism") {
            Some("ANONYMOUS") if self.cfg.anonymous => {
                let node = random_uuid();
                match BareJid::new(&format!("{node}@{}", self.cfg.domain)) {
                    Ok(jid) => self.sasl_success(jid, out),
                    Err(_) => self.stream_error("internal-server-error", out),
                }
            }
            Some("PLAIN") => {
                let mut parts = data.split(|b| *b == 0);
                let (Some(authz), Some(user), Some(pw), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return self.sasl_failure("malformed-request", out);
                };
                let (Ok(authz), Ok(user), Ok(pw)) = (
                    std::str::from_utf8(authz),
                    std::str::from_utf8(user),
                    std::str::from_utf8(pw),
                ) else {
                    return self.sasl_failure("malformed-request", out);
                };
                let Ok(jid) = BareJid::new(&format!("{user}@{}", self.cfg.domain)) else {
                    return self.sasl_failure("not-authorized", out);
                };
                if user.is_empty() || user.contains('@') {
                    return self.sasl_failure("not-authorized", out);
                }
                if !authz.is_empty() && authz != jid.as_str() {
                    return self.sasl_failure("invalid-authzid", out);
                }
                self.state = State::Checking(jid);
                out.push(Output::CheckPassword {
                    user: user.to_string(),
                    password: pw.to_string(),
                });
            }
            _ => self.sasl_failure("invalid-mechanism", out),
        }
    }

    fn sasl_failure(&mut self, condition: &str, out: &mut Vec<Output>) {
        self.failures += 1;
        let f = Element::builder("failure", ns::SASL)
            .append(Element::builder(condition, ns::SASL).build())
            .build();
        self.write(&f, out);
        if self.failures >= MAX_SASL_FAILURES {
            self.stream_error("policy-violation", out);
        }
    }

    fn sasl_success(&mut self, jid: BareJid, out: &mut Vec<Output>) {
        self.write(&Element::builder("success", ns::SASL).build(), out);
        self.state = State::AwaitOpen(Some(jid));
        self.reader.reset();
    }

    fn on_binding(&mut self, bare: BareJid, el: Element, out: &mut Vec<Output>) {
        let bind = (Kind::of(&el) == Some(Kind::Iq) && stanza::kind_type(&el) == "set")
            .then(|| el.get_child("bind", ns::BIND))
            .flatten();
        let Some(bind) = bind else {
            // RFC 6120 §7.1: nothing but binding before a resource is bound.
            return self.stream_error("not-authorized", out);
        };
        let asked = bind
            .get_child("resource", ns::BIND)
            .map(|r| r.text())
            .filter(|r| !r.trim().is_empty());
        let resource = asked.unwrap_or_else(|| random_uuid()[..8].to_string());
        let full = match bare.with_resource_str(&resource) {
            Ok(f) => f,
            Err(_) => {
                if let Some(e) = stanza::error_reply(&el, "modify", "bad-request") {
                    self.write(&e, out);
                }
                return;
            }
        };
        let reply = Element::builder("iq", ns::CLIENT)
            .attr(n("type"), "result")
            .attr(n("id"), el.attr("id").unwrap_or(""))
            .append(
                Element::builder("bind", ns::BIND)
                    .append(
                        Element::builder("jid", ns::BIND)
                            .append(full.as_str())
                            .build(),
                    )
                    .build(),
            )
            .build();
        self.state = State::Bound(full.clone());
        out.push(Output::Bound(full));
        self.write(&reply, out);
    }

    fn on_stanza(&mut self, jid: &FullJid, mut el: Element, out: &mut Vec<Output>) {
        if Kind::of(&el).is_none() {
            return self.stream_error("unsupported-stanza-type", out);
        }
        // The legacy session IQ some clients send even when not offered.
        if el.name() == "iq"
            && stanza::kind_type(&el) == "set"
            && el.has_child("session", ns::SESSION)
        {
            let r = stanza::iq_result(&el, None);
            return self.write(&r, out);
        }
        stanza::set_attr(&mut el, "from", jid.as_str());
        out.push(Output::Stanza(el));
    }
}

/// A random UUID (version 4 layout) as lower-case hex: Jitsi clients take the
/// first 8 hex digits of the node as their endpoint id.
pub fn random_uuid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> SessionConfig {
        SessionConfig {
            domain: "localhost".into(),
            anonymous: true,
            max_stanza: 65536,
            starttls: StartTls::Off,
        }
    }

    const HEAD: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
        xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>";

    fn text(out: &[Output]) -> String {
        out.iter()
            .filter_map(|o| match o {
                Output::Write(s) => Some(s.as_str()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn anonymous_login_binds_a_hex_uuid_with_a_resource() {
        let mut s = Session::new(cfg(), Transport::Tcp, "s1".into());
        let mut out = Vec::new();
        s.on_bytes(HEAD.as_bytes(), &mut out);
        let t = text(&out);
        assert!(t.contains("<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism><mechanism>ANONYMOUS</mechanism>"), "{t}");
        out.clear();
        s.on_bytes(
            format!("<auth xmlns='{}' mechanism='ANONYMOUS'/>{HEAD}<iq type='set' id='b'><bind xmlns='{}'/></iq>", ns::SASL, ns::BIND)
                .as_bytes(),
            &mut out,
        );
        let t = text(&out);
        assert!(
            t.contains("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
            "{t}"
        );
        assert!(
            t.contains("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"),
            "{t}"
        );
        let jid = s.jid().expect("bound").clone();
        assert!(jid.resource().as_str().len() == 8);
        let node = jid.node().unwrap().as_str().to_string();
        assert!(node[..8].chars().all(|c| c.is_ascii_hexdigit()), "{node}");
        assert!(out.contains(&Output::Bound(jid)));
    }

    #[test]
    fn required_starttls_comes_before_sasl_then_the_stream_restarts_with_mechanisms() {
        let cfg = SessionConfig {
            starttls: StartTls::Required,
            ..cfg()
        };
        let mut s = Session::new(cfg, Transport::Tcp, "s1".into());
        let mut out = Vec::new();
        s.on_bytes(HEAD.as_bytes(), &mut out);
        let t = text(&out);
        assert!(
            t.contains("<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>"),
            "{t}"
        );
        assert!(!t.contains("mechanism"), "no SASL before TLS: {t}");
        out.clear();
        s.on_bytes(
            format!("<starttls xmlns='{}'/>", ns::TLS).as_bytes(),
            &mut out,
        );
        assert!(text(&out).contains("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
        assert_eq!(out.last(), Some(&Output::StartTls));
        s.tls_started();
        assert!(s.is_secure());
        out.clear();
        s.on_bytes(HEAD.as_bytes(), &mut out);
        let t = text(&out);
        assert!(t.contains("<mechanism>PLAIN</mechanism>"), "{t}");
        assert!(!t.contains("starttls"), "offered once: {t}");
    }

    #[test]
    fn sasl_before_required_tls_is_refused_and_closes_the_stream() {
        let cfg = SessionConfig {
            starttls: StartTls::Required,
            ..cfg()
        };
        let mut s = Session::new(cfg, Transport::Tcp, "s1".into());
        let mut out = Vec::new();
        s.on_bytes(
            format!("{HEAD}<auth xmlns='{}' mechanism='ANONYMOUS'/>", ns::SASL).as_bytes(),
            &mut out,
        );
        let t = text(&out);
        assert!(t.contains("<encryption-required/>"), "{t}");
        assert!(s.is_closed());
        assert!(s.jid().is_none());
    }

    #[test]
    fn offered_starttls_is_listed_beside_the_mechanisms_and_refused_when_off() {
        let offered = SessionConfig {
            starttls: StartTls::Offered,
            ..cfg()
        };
        let mut s = Session::new(offered, Transport::Tcp, "s1".into());
        let mut out = Vec::new();
        s.on_bytes(HEAD.as_bytes(), &mut out);
        let t = text(&out);
        assert!(
            t.contains("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/><mechanisms"),
            "{t}"
        );
        // Without a certificate a <starttls/> gets <failure/> and the stream ends.
        let mut s = Session::new(cfg(), Transport::Tcp, "s2".into());
        let mut out = Vec::new();
        s.on_bytes(
            format!("{HEAD}<starttls xmlns='{}'/>", ns::TLS).as_bytes(),
            &mut out,
        );
        assert!(text(&out).contains("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"));
        assert!(s.is_closed());
    }

    #[test]
    fn an_iq_before_auth_is_a_not_authorized_stream_error() {
        let mut s = Session::new(cfg(), Transport::Tcp, "s1".into());
        let mut out = Vec::new();
        s.on_bytes(
            format!("{HEAD}<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq>").as_bytes(),
            &mut out,
        );
        let t = text(&out);
        assert!(t.contains("<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error></stream:stream>"), "{t}");
        assert_eq!(out.last(), Some(&Output::Close));
        assert!(s.is_closed());
    }

    #[test]
    fn plain_waits_for_the_password_check_and_holds_later_input() {
        let mut s = Session::new(cfg(), Transport::Tcp, "s1".into());
        let mut out = Vec::new();
        s.on_bytes(HEAD.as_bytes(), &mut out);
        out.clear();
        let payload = base64::engine::general_purpose::STANDARD.encode(b"\0alice\0secret");
        s.on_bytes(
            format!(
                "<auth xmlns='{}' mechanism='PLAIN'>{payload}</auth>{HEAD}",
                ns::SASL
            )
            .as_bytes(),
            &mut out,
        );
        assert_eq!(
            out,
            vec![Output::CheckPassword {
                user: "alice".into(),
                password: "secret".into()
            }]
        );
        out.clear();
        s.password_checked(true, &mut out);
        let t = text(&out);
        assert!(t.contains("<success"), "{t}");
        assert!(
            t.contains("<bind xmlns"),
            "the held restart header was read: {t}"
        );
    }

    #[test]
    fn a_wrong_password_is_a_sasl_failure_and_three_close_the_stream() {
        let mut s = Session::new(cfg(), Transport::Tcp, "s1".into());
        let mut out = Vec::new();
        s.on_bytes(HEAD.as_bytes(), &mut out);
        let payload = base64::engine::general_purpose::STANDARD.encode(b"\0alice\0bad");
        for i in 0..3 {
            out.clear();
            s.on_bytes(
                format!(
                    "<auth xmlns='{}' mechanism='PLAIN'>{payload}</auth>",
                    ns::SASL
                )
                .as_bytes(),
                &mut out,
            );
            s.password_checked(false, &mut out);
            let t = text(&out);
            assert!(
                t.contains(
                    "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/></failure>"
                ),
                "{t}"
            );
            assert_eq!(s.is_closed(), i == 2);
        }
    }

    #[test]
    fn websocket_frames_use_open_and_declare_the_stream_prefix() {
        let mut s = Session::new(cfg(), Transport::WebSocket, "s1".into());
        let mut out = Vec::new();
        s.on_frame(
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='localhost' version='1.0'/>",
            &mut out,
        );
        let Output::Write(open) = &out[0] else {
            panic!()
        };
        assert!(
            open.starts_with("<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'"),
            "{open}"
        );
        assert!(open.contains("version='1.0'"));
        let Output::Write(f) = &out[1] else { panic!() };
        assert!(
            f.starts_with("<stream:features xmlns:stream='http://etherx.jabber.org/streams'>"),
            "{f}"
        );
        out.clear();
        s.on_frame("<iq", &mut out);
        let t = text(&out);
        assert!(t.contains("not-well-formed"), "{t}");
        assert!(
            t.ends_with("<close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>"),
            "{t}"
        );
    }

    #[test]
    fn a_header_for_another_domain_is_host_unknown() {
        let mut s = Session::new(cfg(), Transport::Tcp, "s1".into());
        let mut out = Vec::new();
        s.on_bytes(
            HEAD.replace("to='localhost'", "to='example.org'")
                .as_bytes(),
            &mut out,
        );
        assert!(text(&out).contains("<host-unknown"));
    }
}

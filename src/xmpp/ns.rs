//! XML namespaces used on the wire.

/// RFC 6120 client stanzas.
pub const CLIENT: &str = "jabber:client";
/// RFC 6120 stream elements (`stream:features`, `stream:error`).
pub const STREAM: &str = "http://etherx.jabber.org/streams";
/// RFC 7395 WebSocket framing (`open`, `close`).
pub const FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
/// Stream error conditions.
pub const STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";
/// Stanza error conditions.
pub const STANZA_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
/// SASL.
pub const SASL: &str = "urn:ietf:params:xml:ns:xmpp-sasl";
/// STARTTLS (RFC 6120 §5).
pub const TLS: &str = "urn:ietf:params:xml:ns:xmpp-tls";
/// Resource binding.
pub const BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";
/// Legacy session establishment (RFC 3921), answered when a client sends it.
pub const SESSION: &str = "urn:ietf:params:xml:ns:xmpp-session";
/// XEP-0199.
pub const PING: &str = "urn:xmpp:ping";
/// XEP-0030 info.
pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
/// XEP-0030 items.
pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
/// XEP-0045 join.
pub const MUC: &str = "http://jabber.org/protocol/muc";
/// XEP-0045 occupant data.
pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
/// XEP-0045 moderator operations.
pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
/// XEP-0045 owner operations (room configuration).
pub const MUC_OWNER: &str = "http://jabber.org/protocol/muc#owner";
/// XEP-0004 data forms.
pub const DATA: &str = "jabber:x:data";
/// XEP-0215 external services (Jitsi asks for STUN/TURN here).
pub const EXTDISCO_2: &str = "urn:xmpp:extdisco:2";
/// XEP-0215 version 1.
pub const EXTDISCO_1: &str = "urn:xmpp:extdisco:1";
/// Jitsi's focus: the `<conference>` IQ and focus presence extensions.
pub const FOCUS: &str = "http://jitsi.org/protocol/focus";
/// The `xml:` prefix.
pub const XML: &str = "http://www.w3.org/XML/1998/namespace";

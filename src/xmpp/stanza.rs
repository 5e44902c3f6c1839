//! Stanza helpers: the three kinds, addresses as parsed JIDs, error replies
//! (RFC 6120 §8.3) and small builders.

use jid::Jid;
use minidom::Element;

use super::ns;

/// The three stanza kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `<message/>`
    Message,
    /// `<presence/>`
    Presence,
    /// `<iq/>`
    Iq,
}

impl Kind {
    /// The kind of a top-level element, if it is a client stanza.
    pub fn of(el: &Element) -> Option<Kind> {
        if el.ns() != ns::CLIENT {
            return None;
        }
        match el.name() {
            "message" => Some(Kind::Message),
            "presence" => Some(Kind::Presence),
            "iq" => Some(Kind::Iq),
            _ => None,
        }
    }
}

/// A stanza's `to`, parsed: `Ok(None)` when absent, `Err` when not a JID.
pub fn to(el: &Element) -> Result<Option<Jid>, jid::Error> {
    el.attr("to").map(Jid::new).transpose()
}

/// The `type` attribute, or "" when absent.
pub fn kind_type(el: &Element) -> &str {
    el.attr("type").unwrap_or("")
}

/// The stanza with `from` and `to` replaced.
pub fn readdress(mut el: Element, from: &str, to: &str) -> Element {
    el.attrs_mut()
        .insert(rxml::Namespace::NONE, name("from"), from.to_string());
    el.attrs_mut()
        .insert(rxml::Namespace::NONE, name("to"), to.to_string());
    el
}

/// Sets an unqualified attribute.
pub fn set_attr(el: &mut Element, attr: &'static str, value: &str) {
    el.attrs_mut()
        .insert(rxml::Namespace::NONE, name(attr), value.to_string());
}

fn name(n: &'static str) -> rxml::NcName {
    rxml::NcName::try_from(n).expect("attribute names here are literal NCNames")
}

/// The error reply to `stanza` (RFC 6120 §8.3): addresses swapped, same id,
/// `type='error'`, one defined condition. `None` for a stanza that is itself an
/// error, or an IQ result/error (those are never answered).
pub fn error_reply(stanza: &Element, error_type: &str, condition: &str) -> Option<Element> {
    let t = kind_type(stanza);
    if t == "error" || (stanza.name() == "iq" && t == "result") {
        return None;
    }
    let mut b = Element::builder(stanza.name(), ns::CLIENT).attr(n("type"), "error");
    if let Some(id) = stanza.attr("id") {
        b = b.attr(n("id"), id);
    }
    if let Some(to) = stanza.attr("to") {
        b = b.attr(n("from"), to);
    }
    if let Some(from) = stanza.attr("from") {
        b = b.attr(n("to"), from);
    }
    let err = Element::builder("error", ns::CLIENT)
        .attr(n("type"), error_type)
        .append(Element::builder(condition, ns::STANZA_ERRORS).build())
        .build();
    Some(b.append(err).build())
}

/// Like [`error_reply`], with a human-readable `<text>` saying why.
pub fn error_reply_text(
    stanza: &Element,
    error_type: &str,
    condition: &str,
    text: &str,
) -> Option<Element> {
    let mut e = error_reply(stanza, error_type, condition)?;
    if let Some(err) = e.get_child_mut("error", ns::CLIENT) {
        err.append_child(
            Element::builder("text", ns::STANZA_ERRORS)
                .append(text)
                .build(),
        );
    }
    Some(e)
}

/// An empty IQ result to `iq`, optionally with one child.
pub fn iq_result(iq: &Element, child: Option<Element>) -> Element {
    let mut b = Element::builder("iq", ns::CLIENT).attr(n("type"), "result");
    if let Some(id) = iq.attr("id") {
        b = b.attr(n("id"), id);
    }
    if let Some(to) = iq.attr("to") {
        b = b.attr(n("from"), to);
    }
    if let Some(from) = iq.attr("from") {
        b = b.attr(n("to"), from);
    }
    if let Some(c) = child {
        b = b.append(c);
    }
    b.build()
}

/// An attribute name for builders (literal NCNames only).
pub fn n(s: &'static str) -> rxml::NcName {
    name(s)
}

/// The first child element of an IQ (its payload).
pub fn payload(iq: &Element) -> Option<&Element> {
    iq.children().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_reply_swaps_addresses_and_never_answers_an_error() {
        let iq: Element =
            "<iq xmlns='jabber:client' type='get' id='a' from='u@d/r' to='d'><x xmlns='y'/></iq>"
                .parse()
                .unwrap();
        let e = error_reply(&iq, "cancel", "service-unavailable").unwrap();
        assert_eq!(e.attr("to"), Some("u@d/r"));
        assert_eq!(e.attr("from"), Some("d"));
        assert_eq!(e.attr("id"), Some("a"));
        let cond = e.get_child("error", ns::CLIENT).unwrap();
        assert!(cond.has_child("service-unavailable", ns::STANZA_ERRORS));
        assert!(error_reply(&e, "cancel", "bad-request").is_none());
    }
}

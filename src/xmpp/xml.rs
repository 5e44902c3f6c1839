//! Printing elements. Written here instead of minidom's writer so that
//! printing can never panic (minidom asserts on prefix clashes) and so that
//! stanzas inside a TCP stream do not repeat `xmlns='jabber:client'`, while
//! stream-level elements get the `stream:` prefix Jitsi's client looks for.

use minidom::{Element, Node};

use super::ns;

/// Where an element is printed, which decides the namespace declarations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Context {
    /// Inside an RFC 6120 stream whose header declared `jabber:client` as the
    /// default namespace and the `stream` prefix.
    Stream,
    /// A standalone RFC 7395 frame: every namespace is declared in it.
    Frame,
}

/// Prints an element for `ctx`.
pub fn print(el: &Element, ctx: Context) -> String {
    let mut out = String::with_capacity(256);
    let (default_ns, stream_declared) = match ctx {
        Context::Stream => (ns::CLIENT, true),
        Context::Frame => ("", false),
    };
    write_element(&mut out, el, default_ns, stream_declared);
    out
}

fn write_element(out: &mut String, el: &Element, parent_ns: &str, stream_declared: bool) {
    let el_ns = el.ns();
    let stream = el_ns == ns::STREAM;
    out.push('<');
    if stream {
        out.push_str("stream:");
    }
    out.push_str(el.name());
    if stream {
        if !stream_declared {
            out.push_str(" xmlns:stream='");
            out.push_str(ns::STREAM);
            out.push('\'');
        }
    } else if el_ns != parent_ns {
        out.push_str(" xmlns='");
        escape_into(out, &el_ns);
        out.push('\'');
    }
    let mut extra = 0usize;
    for ((attr_ns, name), value) in el.attrs().iter() {
        let attr_ns: &str = attr_ns.as_str();
        out.push(' ');
        if attr_ns.is_empty() {
        } else if attr_ns == ns::XML {
            out.push_str("xml:");
        } else {
            // A namespaced attribute from a peer: give it a fresh prefix.
            extra += 1;
            out.push_str(&format!("xmlns:a{extra}='"));
            escape_into(out, attr_ns);
            out.push_str(&format!("' a{extra}:"));
        }
        out.push_str(name.as_str());
        out.push_str("='");
        escape_into(out, value);
        out.push('\'');
    }
    // Children of a stream element are in the stream's namespace only when
    // prefixed; unprefixed children inherit the parent's default namespace.
    let inner_default = if stream { parent_ns } else { &el_ns };
    let mut any = false;
    for node in el.nodes() {
        if !any {
            out.push('>');
            any = true;
        }
        match node {
            Node::Element(child) => {
                write_element(out, child, inner_default, stream_declared || stream)
            }
            Node::Text(t) => escape_into(out, t),
        }
    }
    if any {
        out.push_str("</");
        if stream {
            out.push_str("stream:");
        }
        out.push_str(el.name());
        out.push('>');
    } else {
        out.push_str("/>");
    }
}

/// XML-escapes `s` for text and single-quoted attribute values.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&apos;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
}

/// `s` XML-escaped.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

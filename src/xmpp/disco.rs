//! XEP-0030 answers for the server, the MUC service, the focus and rooms.

use minidom::Element;

use super::ns;
use super::stanza::n;

fn identity(category: &str, ty: &str, name: &str) -> Element {
    Element::builder("identity", ns::DISCO_INFO)
        .attr(n("category"), category)
        .attr(n("type"), ty)
        .attr(n("name"), name)
        .build()
}

fn features(q: minidom::ElementBuilder, vars: &[&str]) -> minidom::ElementBuilder {
    q.append_all(vars.iter().map(|v| {
        Element::builder("feature", ns::DISCO_INFO)
            .attr(n("var"), *v)
            .build()
    }))
}

/// disco#info of the server itself.
pub fn server_info() -> Element {
    let q = Element::builder("query", ns::DISCO_INFO).append(identity("server", "im", "dialroom"));
    features(
        q,
        &[ns::DISCO_INFO, ns::DISCO_ITEMS, ns::PING, ns::EXTDISCO_2],
    )
    .build()
}

/// disco#items of the server: the MUC service and the focus.
pub fn server_items(muc: &str, focus: &str) -> Element {
    let item = |jid: &str| {
        Element::builder("item", ns::DISCO_ITEMS)
            .attr(n("jid"), jid)
            .build()
    };
    Element::builder("query", ns::DISCO_ITEMS)
        .append(item(muc))
        .append(item(focus))
        .build()
}

/// disco#info of `conference.<domain>`.
pub fn muc_info() -> Element {
    let q =
        Element::builder("query", ns::DISCO_INFO).append(identity("conference", "text", "Rooms"));
    features(q, &[ns::DISCO_INFO, ns::DISCO_ITEMS, ns::MUC]).build()
}

/// disco#items of `conference.<domain>`: the live rooms.
pub fn muc_items(rooms: &[String]) -> Element {
    Element::builder("query", ns::DISCO_ITEMS)
        .append_all(rooms.iter().map(|r| {
            Element::builder("item", ns::DISCO_ITEMS)
                .attr(n("jid"), r.as_str())
                .build()
        }))
        .build()
}

/// disco#info of `focus.<domain>`.
pub fn focus_info() -> Element {
    let q =
        Element::builder("query", ns::DISCO_INFO).append(identity("component", "generic", "focus"));
    features(q, &[ns::DISCO_INFO, ns::FOCUS]).build()
}

/// disco#info of a room.
pub fn room_info(password: bool, occupants: usize) -> Element {
    let q = Element::builder("query", ns::DISCO_INFO).append(identity("conference", "text", ""));
    let q = features(
        q,
        &[
            ns::MUC,
            if password {
                "muc_passwordprotected"
            } else {
                "muc_unsecured"
            },
            "muc_nonanonymous",
            "muc_open",
            "muc_temporary",
            "muc_unmoderated",
            "muc_public",
        ],
    );
    let field = |var: &str, value: &str| {
        Element::builder("field", ns::DATA)
            .attr(n("var"), var)
            .append(Element::builder("value", ns::DATA).append(value).build())
            .build()
    };
    q.append(
        Element::builder("x", ns::DATA)
            .attr(n("type"), "result")
            .append(field(
                "FORM_TYPE",
                "http://jabber.org/protocol/muc#roominfo",
            ))
            .append(field("muc#roominfo_occupants", &occupants.to_string()))
            .build(),
    )
    .build()
}

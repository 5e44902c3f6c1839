//! Jitsi's conference request (`<conference/>` IQ to `focus.<domain>`, sent by
//! slixmpp here) gets `ready='true'` and the focus JID; the focus is then in
//! the room as the occupant `focus`, owner and moderator, with its real JID.

mod common;
use common::{Server, slixmpp};

#[test]
fn the_focus_answers_ready_and_sits_in_the_room() {
    let mut s = Server::new("");
    s.start();
    let v = slixmpp(&s, "focus", &["--room", "weekly"]);
    let r = &v["result"];
    assert_eq!(r["room"], "weekly@conference.localhost", "{v}");
    assert_eq!(r["ready"], "true", "{v}");
    assert_eq!(r["focusjid"], "focus@auth.localhost", "{v}");
    assert_eq!(v["properties"]["authentication"], "false", "{v}");
    assert_eq!(v["without_room"], "bad-request", "{v}");

    let p = v["presences"].as_array().unwrap();
    let focus = p
        .iter()
        .find(|p| p["from"] == "weekly@conference.localhost/focus")
        .unwrap_or_else(|| panic!("no focus presence: {v}"));
    assert_eq!(focus["item"]["jid"], "focus@auth.localhost/focus");
    assert_eq!(focus["item"]["affiliation"], "owner");
    assert_eq!(focus["item"]["role"], "moderator");
    // The room was the focus's: the joiner gets 110 but not 201, and owns it (auto-owner).
    let me = p
        .iter()
        .find(|p| p["codes"].as_array().unwrap().contains(&"110".into()))
        .unwrap_or_else(|| panic!("{v}"));
    assert!(
        !me["codes"].as_array().unwrap().contains(&"201".into()),
        "{v}"
    );
    assert_eq!(me["item"]["affiliation"], "owner", "{v}");
}

//! Jingle (XEP-0166) as the Jitsi focus speaks it: RTP descriptions
//! (XEP-0167) with XEP-0339 sources and ssrc-groups, ICE-UDP transports
//! (XEP-0176) with the DTLS fingerprint (XEP-0320). Shapes follow
//! `../shared/protocols/jitsi.md` §4. Parsing returns a [`JingleError`] on
//! any input it cannot use (the caller answers `bad-request`); it never panics.
//! JSON-encoded sources (`<json-message>`) are not read.

use std::net::{IpAddr, SocketAddr};

use minidom::Element;

use super::stanza::n;

/// `urn:xmpp:jingle:1`
pub const NS_JINGLE: &str = "urn:xmpp:jingle:1";
/// XEP-0167 RTP description.
pub const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
/// XEP-0176 ICE-UDP transport.
pub const NS_ICE_UDP: &str = "urn:xmpp:jingle:transports:ice-udp:1";
/// XEP-0320 DTLS fingerprint.
pub const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
/// XEP-0339 sources and ssrc-groups.
pub const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
/// XEP-0293 RTCP feedback.
pub const NS_RTCP_FB: &str = "urn:xmpp:jingle:apps:rtp:rtcp-fb:0";
/// XEP-0294 header extensions.
pub const NS_HDREXT: &str = "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0";
/// XEP-0338 grouping (BUNDLE).
pub const NS_GROUPING: &str = "urn:xmpp:jingle:apps:grouping:0";
/// Jitsi's `ssrc-info` (source owner).
pub const NS_JITMEET: &str = "http://jitsi.org/jitmeet";
/// Jingle error conditions.
pub const NS_JINGLE_ERRORS: &str = "urn:xmpp:jingle:errors:1";

/// Why a Jingle element could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JingleError {
    /// Not `<jingle xmlns='urn:xmpp:jingle:1'>`.
    #[error("not a jingle element")]
    NotJingle,
    /// A required attribute is missing.
    #[error("missing attribute {0}")]
    Missing(&'static str),
    /// An attribute's value does not parse.
    #[error("bad value for {0}")]
    Bad(&'static str),
    /// An action this server does not know.
    #[error("unknown action")]
    UnknownAction,
}

/// The Jingle actions the focus handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Focus → participant offer.
    SessionInitiate,
    /// Participant → focus answer.
    SessionAccept,
    /// Either side ends the session.
    SessionTerminate,
    /// Session-level information (bridge restarts): acknowledged only.
    SessionInfo,
    /// More candidates.
    TransportInfo,
    /// New sources.
    SourceAdd,
    /// Sources gone.
    SourceRemove,
}

impl Action {
    fn parse(s: &str) -> Result<Action, JingleError> {
        Ok(match s {
            "session-initiate" => Action::SessionInitiate,
            "session-accept" => Action::SessionAccept,
            "session-terminate" => Action::SessionTerminate,
            "session-info" => Action::SessionInfo,
            "transport-info" => Action::TransportInfo,
            "source-add" => Action::SourceAdd,
            "source-remove" => Action::SourceRemove,
            _ => return Err(JingleError::UnknownAction),
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::SessionInitiate => "session-initiate",
            Action::SessionAccept => "session-accept",
            Action::SessionTerminate => "session-terminate",
            Action::SessionInfo => "session-info",
            Action::TransportInfo => "transport-info",
            Action::SourceAdd => "source-add",
            Action::SourceRemove => "source-remove",
        }
    }
}

/// Audio or video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Media {
    /// Audio.
    Audio,
    /// Video.
    Video,
}

impl Media {
    /// The `media` attribute value (and content name).
    pub fn as_str(self) -> &'static str {
        match self {
            Media::Audio => "audio",
            Media::Video => "video",
        }
    }
    fn parse(s: &str) -> Option<Media> {
        match s {
            "audio" => Some(Media::Audio),
            "video" => Some(Media::Video),
            _ => None,
        }
    }
}

/// One XEP-0339 source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The SSRC.
    pub ssrc: u32,
    /// Jitsi source name (`<endpoint>-a0`).
    pub name: Option<String>,
    /// The `msid` parameter.
    pub msid: Option<String>,
    /// The owner (endpoint id) from `ssrc-info`; set by the focus when relaying.
    pub owner: Option<String>,
}

/// One XEP-0339 ssrc-group (`FID` pairs a source with its RTX, `SIM` simulcast).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsrcGroup {
    /// `FID`, `SIM`, ...
    pub semantics: String,
    /// Member SSRCs in order.
    pub ssrcs: Vec<u32>,
}

/// The DTLS fingerprint of a transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `sha-256`
    pub hash: String,
    /// `actpass`, `active` or `passive`.
    pub setup: Option<String>,
    /// `AB:CD:...`
    pub value: String,
}

/// One ICE candidate (only what the SFU uses).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `udp` (others are kept but ignored by the SFU).
    pub protocol: String,
    /// Address and port.
    pub addr: SocketAddr,
    /// `host`, `srflx`, ...
    pub kind: String,
    /// Priority.
    pub priority: u32,
}

/// An ICE-UDP transport.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// ICE username fragment.
    pub ufrag: Option<String>,
    /// ICE password.
    pub pwd: Option<String>,
    /// DTLS fingerprint.
    pub fingerprint: Option<Fingerprint>,
    /// Candidates.
    pub candidates: Vec<Candidate>,
}

/// One `<content>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// Content name (`audio`, `video`, `data`).
    pub name: String,
    /// The description's media, when it has an RTP description.
    pub media: Option<Media>,
    /// Sources in the description.
    pub sources: Vec<Source>,
    /// Groups in the description.
    pub groups: Vec<SsrcGroup>,
    /// The transport, if any.
    pub transport: Option<Transport>,
}

/// A parsed `<jingle>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jingle {
    /// The action.
    pub action: Action,
    /// Session id.
    pub sid: String,
    /// Contents in order.
    pub contents: Vec<Content>,
}

impl Jingle {
    /// The first transport that carries ICE credentials.
    pub fn transport(&self) -> Option<&Transport> {
        self.contents
            .iter()
            .filter_map(|c| c.transport.as_ref())
            .find(|t| t.ufrag.is_some())
            .or_else(|| self.contents.iter().find_map(|c| c.transport.as_ref()))
    }
}

fn attr<'a>(el: &'a Element, name: &'static str) -> Result<&'a str, JingleError> {
    el.attr(name).ok_or(JingleError::Missing(name))
}

fn ssrc(el: &Element) -> Result<u32, JingleError> {
    attr(el, "ssrc")?
        .trim()
        .parse()
        .map_err(|_| JingleError::Bad("ssrc"))
}

/// Parses a `<jingle/>` element (the payload of an IQ).
pub fn parse(el: &Element) -> Result<Jingle, JingleError> {
    if !el.is("jingle", NS_JINGLE) {
        return Err(JingleError::NotJingle);
    }
    let action = Action::parse(attr(el, "action")?)?;
    let sid = attr(el, "sid")?;
    if sid.is_empty() || sid.len() > 256 {
        return Err(JingleError::Bad("sid"));
    }
    let mut contents = Vec::new();
    for c in el.children().filter(|c| c.is("content", NS_JINGLE)) {
        contents.push(parse_content(c)?);
    }
    Ok(Jingle {
        action,
        sid: sid.to_string(),
        contents,
    })
}

fn parse_content(c: &Element) -> Result<Content, JingleError> {
    let name = attr(c, "name")?.to_string();
    let mut content = Content {
        media: Media::parse(&name),
        name,
        sources: Vec::new(),
        groups: Vec::new(),
        transport: None,
    };
    if let Some(d) = c.get_child("description", NS_RTP) {
        if let Some(m) = d.attr("media") {
            content.media = Some(Media::parse(m).ok_or(JingleError::Bad("media"))?);
        }
        for s in d.children().filter(|s| s.is("source", NS_SSMA)) {
            let param = |k: &str| {
                s.children()
                    .find(|p| p.name() == "parameter" && p.attr("name") == Some(k))
                    .and_then(|p| p.attr("value"))
                    .map(str::to_string)
            };
            content.sources.push(Source {
                ssrc: ssrc(s)?,
                name: s.attr("name").map(str::to_string),
                msid: param("msid"),
                owner: s
                    .get_child("ssrc-info", NS_JITMEET)
                    .and_then(|i| i.attr("owner"))
                    .map(str::to_string),
            });
        }
        for g in d.children().filter(|g| g.is("ssrc-group", NS_SSMA)) {
            let semantics = attr(g, "semantics")?.to_string();
            let ssrcs = g
                .children()
                .filter(|s| s.name() == "source")
                .map(ssrc)
                .collect::<Result<Vec<_>, _>>()?;
            content.groups.push(SsrcGroup { semantics, ssrcs });
        }
    }
    if let Some(t) = c.get_child("transport", NS_ICE_UDP) {
        let mut tr = Transport {
            ufrag: t.attr("ufrag").map(str::to_string),
            pwd: t.attr("pwd").map(str::to_string),
            ..Default::default()
        };
        if let Some(f) = t.get_child("fingerprint", NS_DTLS) {
            let value = f.text().trim().to_string();
            let ok = !value.is_empty()
                && value.len() <= 256
                && value.split(':').all(|b| u8::from_str_radix(b, 16).is_ok());
            if !ok {
                return Err(JingleError::Bad("fingerprint"));
            }
            tr.fingerprint = Some(Fingerprint {
                hash: attr(f, "hash")?.to_ascii_lowercase(),
                setup: f.attr("setup").map(str::to_string),
                value,
            });
        }
        for cand in t.children().filter(|x| x.is("candidate", NS_ICE_UDP)) {
            let ip: IpAddr = attr(cand, "ip")?
                .parse()
                .map_err(|_| JingleError::Bad("ip"))?;
            let port: u16 = attr(cand, "port")?
                .parse()
                .map_err(|_| JingleError::Bad("port"))?;
            tr.candidates.push(Candidate {
                protocol: attr(cand, "protocol")?.to_ascii_lowercase(),
                addr: SocketAddr::new(ip, port),
                kind: cand.attr("type").unwrap_or("host").to_string(),
                priority: cand
                    .attr("priority")
                    .unwrap_or("0")
                    .parse()
                    .map_err(|_| JingleError::Bad("priority"))?,
            });
        }
        content.transport = Some(tr);
    }
    Ok(content)
}

/// What the SFU offers: one ICE-lite endpoint on one UDP port.
#[derive(Debug, Clone)]
pub struct Offer<'a> {
    /// Local ICE ufrag.
    pub ufrag: &'a str,
    /// Local ICE password.
    pub pwd: &'a str,
    /// The SFU's certificate fingerprint (hash, `AB:CD:..`).
    pub fingerprint: (&'a str, &'a str),
    /// The host candidate.
    pub candidate: SocketAddr,
}

/// A source to put in a description, with its media and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSources {
    /// Which content.
    pub media: Media,
    /// Sources (with `owner` set).
    pub sources: Vec<Source>,
    /// Groups.
    pub groups: Vec<SsrcGroup>,
}

/// RTP header extension ids offered (they match the SFU's str0m map).
pub const EXT_AUDIO_LEVEL: u8 = 1;
/// abs-send-time.
pub const EXT_ABS_SEND_TIME: u8 = 3;
/// transport-wide-cc.
pub const EXT_TWCC: u8 = 5;

/// Payload types offered (the SFU's str0m codec table uses the same numbers).
pub const PT_OPUS: u8 = 111;
/// VP8.
pub const PT_VP8: u8 = 100;
/// RTX for VP8.
pub const PT_VP8_RTX: u8 = 96;
/// H.264 (constrained baseline, packetization-mode 1).
pub const PT_H264: u8 = 107;
/// RTX for H.264.
pub const PT_H264_RTX: u8 = 99;

fn el(name: &str, ns: &str) -> minidom::ElementBuilder {
    Element::builder(name, ns)
}

fn param(name: &str, value: &str) -> Element {
    el("parameter", NS_RTP)
        .attr(n("name"), name)
        .attr(n("value"), value)
        .build()
}

fn fb(ty: &str, subtype: Option<&str>) -> Element {
    let mut b = el("rtcp-fb", NS_RTCP_FB).attr(n("type"), ty);
    if let Some(s) = subtype {
        b = b.attr(n("subtype"), s);
    }
    b.build()
}

fn pt(id: u8, name: &str, clock: u32, channels: Option<u8>) -> minidom::ElementBuilder {
    let mut b = el("payload-type", NS_RTP)
        .attr(n("id"), id.to_string())
        .attr(n("name"), name)
        .attr(n("clockrate"), clock.to_string());
    if let Some(c) = channels {
        b = b.attr(n("channels"), c.to_string());
    }
    b
}

fn video_fbs(b: minidom::ElementBuilder) -> minidom::ElementBuilder {
    b.append(fb("ccm", Some("fir")))
        .append(fb("nack", None))
        .append(fb("nack", Some("pli")))
        .append(fb("transport-cc", None))
}

fn hdrext(id: u8, uri: &str) -> Element {
    el("rtp-hdrext", NS_HDREXT)
        .attr(n("id"), id.to_string())
        .attr(n("uri"), uri)
        .build()
}

fn source_el(s: &Source) -> Element {
    let mut b = el("source", NS_SSMA).attr(n("ssrc"), s.ssrc.to_string());
    if let Some(name) = &s.name {
        b = b.attr(n("name"), name.as_str());
    }
    if let Some(msid) = &s.msid {
        b = b.append(
            el("parameter", NS_SSMA)
                .attr(n("name"), "msid")
                .attr(n("value"), msid.as_str())
                .build(),
        );
    }
    if let Some(owner) = &s.owner {
        b = b.append(
            el("ssrc-info", NS_JITMEET)
                .attr(n("owner"), owner.as_str())
                .build(),
        );
    }
    b.build()
}

fn group_el(g: &SsrcGroup) -> Element {
    el("ssrc-group", NS_SSMA)
        .attr(n("semantics"), g.semantics.as_str())
        .append_all(
            g.ssrcs
                .iter()
                .map(|s| el("source", NS_SSMA).attr(n("ssrc"), s.to_string()).build()),
        )
        .build()
}

fn description(media: Media, sources: Option<&MediaSources>) -> Element {
    let mut d = el("description", NS_RTP).attr(n("media"), media.as_str());
    match media {
        Media::Audio => {
            d = d
                .attr(n("maxptime"), "60")
                .append(
                    pt(PT_OPUS, "opus", 48_000, Some(2))
                        .append(param("minptime", "10"))
                        .append(param("useinbandfec", "1"))
                        .append(fb("transport-cc", None))
                        .build(),
                )
                .append(hdrext(
                    EXT_AUDIO_LEVEL,
                    "urn:ietf:params:rtp-hdrext:ssrc-audio-level",
                ));
        }
        Media::Video => {
            d = d
                .append(video_fbs(pt(PT_VP8, "VP8", 90_000, None)).build())
                .append(
                    video_fbs(pt(PT_H264, "H264", 90_000, None))
                        .append(param("profile-level-id", "42e01f"))
                        .append(param("packetization-mode", "1"))
                        .append(param("level-asymmetry-allowed", "1"))
                        .build(),
                )
                .append(
                    pt(PT_VP8_RTX, "rtx", 90_000, None)
                        .append(param("apt", &PT_VP8.to_string()))
                        .build(),
                )
                .append(
                    pt(PT_H264_RTX, "rtx", 90_000, None)
                        .append(param("apt", &PT_H264.to_string()))
                        .build(),
                );
        }
    }
    d = d
        .append(hdrext(
            EXT_ABS_SEND_TIME,
            "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        ))
        .append(hdrext(
            EXT_TWCC,
            "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        ));
    if let Some(ms) = sources {
        d = d
            .append_all(ms.sources.iter().map(source_el))
            .append_all(ms.groups.iter().map(group_el));
    }
    d.append(el("rtcp-mux", NS_RTP).build()).build()
}

fn transport(offer: &Offer<'_>) -> Element {
    el("transport", NS_ICE_UDP)
        .attr(n("ufrag"), offer.ufrag)
        .attr(n("pwd"), offer.pwd)
        .append(
            el("fingerprint", NS_DTLS)
                .attr(n("hash"), offer.fingerprint.0)
                .attr(n("setup"), "actpass")
                .append(offer.fingerprint.1)
                .build(),
        )
        .append(
            el("candidate", NS_ICE_UDP)
                .attr(n("foundation"), "1")
                .attr(n("component"), "1")
                .attr(n("protocol"), "udp")
                .attr(n("priority"), "2130706431")
                .attr(n("ip"), offer.candidate.ip().to_string())
                .attr(n("port"), offer.candidate.port().to_string())
                .attr(n("type"), "host")
                .attr(n("generation"), "0")
                .attr(n("network"), "0")
                .attr(n("id"), "c1")
                .build(),
        )
        .append(el("rtcp-mux", NS_ICE_UDP).build())
        .build()
}

/// The focus's session-initiate: audio and video contents, BUNDLEd, with
/// the SFU's transport and the other participants' sources.
pub fn session_initiate(
    sid: &str,
    initiator: &str,
    offer: &Offer<'_>,
    sources: &[MediaSources],
) -> Element {
    let mut j = el("jingle", NS_JINGLE)
        .attr(n("action"), Action::SessionInitiate.as_str())
        .attr(n("initiator"), initiator)
        .attr(n("sid"), sid);
    for media in [Media::Audio, Media::Video] {
        let ms = sources.iter().find(|m| m.media == media);
        j = j.append(
            el("content", NS_JINGLE)
                .attr(n("creator"), "initiator")
                .attr(n("name"), media.as_str())
                .attr(n("senders"), "both")
                .append(description(media, ms))
                .append(transport(offer))
                .build(),
        );
    }
    j.append(
        el("group", NS_GROUPING)
            .attr(n("semantics"), "BUNDLE")
            .append(el("content", NS_GROUPING).attr(n("name"), "audio").build())
            .append(el("content", NS_GROUPING).attr(n("name"), "video").build())
            .build(),
    )
    .build()
}

/// A `source-add` or `source-remove` carrying `sources`.
pub fn source_change(action: Action, sid: &str, sources: &[MediaSources]) -> Element {
    let mut j = el("jingle", NS_JINGLE)
        .attr(n("action"), action.as_str())
        .attr(n("sid"), sid);
    for ms in sources {
        if ms.sources.is_empty() && ms.groups.is_empty() {
            continue;
        }
        let d = el("description", NS_RTP)
            .attr(n("media"), ms.media.as_str())
            .append_all(ms.sources.iter().map(source_el))
            .append_all(ms.groups.iter().map(group_el))
            .build();
        j = j.append(
            el("content", NS_JINGLE)
                .attr(n("creator"), "initiator")
                .attr(n("name"), ms.media.as_str())
                .append(d)
                .build(),
        );
    }
    j.build()
}

/// A session-terminate with `<success/>` (or another reason).
pub fn session_terminate(sid: &str, reason: &str) -> Element {
    el("jingle", NS_JINGLE)
        .attr(n("action"), Action::SessionTerminate.as_str())
        .attr(n("sid"), sid)
        .append(
            el("reason", NS_JINGLE)
                .append(el(reason, NS_JINGLE).build())
                .build(),
        )
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Jingle, JingleError> {
        parse(&s.parse::<Element>().unwrap())
    }

    #[test]
    fn a_session_accept_gives_credentials_fingerprint_sources_and_groups() {
        let j = parse_str(
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='s1'>\
              <content name='audio' creator='responder'>\
               <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>\
                <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='3333' name='abcd1234-a0'>\
                 <parameter name='msid' value='m a'/></source>\
               </description>\
               <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u1' pwd='p1'>\
                <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>AB:CD</fingerprint>\
                <candidate component='1' protocol='udp' ip='127.0.0.1' port='5000' type='host' priority='10' foundation='1' generation='0' id='x'/>\
               </transport></content>\
              <content name='video' creator='responder'>\
               <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>\
                <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1111'/>\
                <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='2222'/>\
                <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='1111'/><source ssrc='2222'/></ssrc-group>\
               </description></content></jingle>",
        )
        .unwrap();
        assert_eq!(j.action, Action::SessionAccept);
        let t = j.transport().unwrap();
        assert_eq!(t.ufrag.as_deref(), Some("u1"));
        assert_eq!(
            t.fingerprint.as_ref().unwrap().setup.as_deref(),
            Some("active")
        );
        assert_eq!(t.candidates[0].addr, "127.0.0.1:5000".parse().unwrap());
        assert_eq!(j.contents[0].sources[0].ssrc, 3333);
        assert_eq!(j.contents[0].sources[0].msid.as_deref(), Some("m a"));
        assert_eq!(j.contents[1].media, Some(Media::Video));
        assert_eq!(j.contents[1].groups[0].ssrcs, vec![1111, 2222]);
    }

    #[test]
    fn bad_jingle_is_an_error_not_a_panic() {
        for bad in [
            "<jingle xmlns='urn:xmpp:jingle:1' sid='s'/>",
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept'/>",
            "<jingle xmlns='urn:xmpp:jingle:1' action='dance' sid='s'/>",
            "<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='s'><content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='-1'/></description></content></jingle>",
            "<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='s'><content name='audio'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'><candidate ip='nope' port='1' protocol='udp'/></transport></content></jingle>",
            "<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='s'><content name='audio'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256'>zz</fingerprint></transport></content></jingle>",
            "<other xmlns='urn:xmpp:jingle:1'/>",
        ] {
            assert!(parse_str(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_session_initiate_reparses_with_its_transport_and_sources() {
        let offer = Offer {
            ufrag: "uf",
            pwd: "pw",
            fingerprint: ("sha-256", "01:02"),
            candidate: "192.0.2.1:10000".parse().unwrap(),
        };
        let srcs = [MediaSources {
            media: Media::Audio,
            sources: vec![Source {
                ssrc: 42,
                name: Some("aaaa1111-a0".into()),
                msid: None,
                owner: Some("aaaa1111".into()),
            }],
            groups: vec![],
        }];
        let e = session_initiate("s9", "focus@auth.d/focus", &offer, &srcs);
        let j = parse(&e).unwrap();
        assert_eq!(j.action, Action::SessionInitiate);
        assert_eq!(j.contents.len(), 2);
        let t = j.transport().unwrap();
        assert_eq!(t.pwd.as_deref(), Some("pw"));
        assert_eq!(t.candidates[0].addr, offer.candidate);
        assert_eq!(j.contents[0].sources[0].owner.as_deref(), Some("aaaa1111"));
        let add = parse(&source_change(Action::SourceAdd, "s9", &srcs)).unwrap();
        assert_eq!(add.contents[0].sources[0].ssrc, 42);
    }
}

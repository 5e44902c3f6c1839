//! Any SDP body: parsing and answering never panic, and an answer we build
//! parses again.
#![no_main]
use dialroom::media::srtp::MasterKey;
use dialroom::sip::sdp::{LocalMedia, WebrtcLocal, answer, is_webrtc, parse, webrtc_answer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(offer) = parse(data) {
        let local = LocalMedia {
            ip: "127.0.0.1".parse().unwrap(),
            port: 20000,
            session_id: 1,
            version: 1,
            advertise: None,
            // Half the inputs as if on a TLS leg (SDES answered).
            key: (data.len() % 2 == 1).then(MasterKey::random),
        };
        if let Ok((_, sdp)) = answer(&offer, &["opus", "G722", "PCMU", "PCMA"], &local) {
            assert!(parse(sdp.as_bytes()).is_ok(), "our answer does not parse");
        }
        if is_webrtc(&offer) {
            let w = WebrtcLocal {
                candidate: "127.0.0.1:10000".parse().unwrap(),
                fingerprint: "sha-256 AA:BB".into(),
                ufrag: "uf".into(),
                pwd: "pw".into(),
                ssrc: 1,
                session_id: 1,
                version: 1,
            };
            if let Ok((_, sdp)) = webrtc_answer(&offer, &w) {
                assert!(parse(sdp.as_bytes()).is_ok(), "our WebRTC answer does not parse");
            }
        }
    }
});

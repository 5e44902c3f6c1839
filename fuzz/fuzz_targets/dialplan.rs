//! Any text as a dialplan file: parsing never panics, every error has a
//! position inside the text, and whatever parses can be evaluated (routes
//! and `[[dialout]]` rules).
#![no_main]
use dialroom::dialplan::{CallFacts, parse_str};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_str("fuzz.toml", text) {
        Ok(plan) => {
            let headers = vec![("X-Room-Name".to_string(), text.chars().take(40).collect())];
            for to in ["1234", "dialin", "", text] {
                let m = plan.eval(&CallFacts {
                    to_user: to,
                    from_user: text,
                    source: "192.0.2.1".parse().unwrap(),
                    trunk: (data.len() % 2 == 0).then_some("provider"),
                    headers: &headers,
                    weekday: (data.len() % 7) as u8,
                    minute_of_day: (data.len() % 1440) as u16,
                });
                assert!(m.route_index <= plan.routes.len());
                // Dial-out: a decision to dial is always a valid number.
                let d = plan.eval_dialout(to, "room-1");
                if let dialroom::dialplan::DialDecision::Dial { number, .. } = d.decision {
                    assert!(dialroom::dialplan::validate_number(&number).is_ok());
                }
            }
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e.line >= 1 && e.column >= 1, "{e}");
                assert!(e.span.start <= text.len(), "{e}");
            }
        }
    }
});

//! Behaviour tests of dialplan parsing and evaluation.

use std::net::IpAddr;
use std::time::Duration;

use super::*;

fn plan(text: &str) -> Dialplan {
    match parse_str("t.toml", text) {
        Ok(p) => p,
        Err(errs) => panic!(
            "unexpected errors:\n{}",
            errs.iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        ),
    }
}

fn errors(text: &str) -> Vec<String> {
    match parse_str("t.toml", text) {
        Ok(p) => panic!("expected errors, got {} routes", p.routes.len()),
        Err(errs) => errs.iter().map(|e| e.to_string()).collect(),
    }
}

/// The one error of `text`, as `line:col: message` (file name stripped).
fn error(text: &str) -> String {
    let e = errors(text);
    assert_eq!(e.len(), 1, "{e:#?}");
    e[0].strip_prefix("t.toml:").unwrap().to_string()
}

struct Call {
    to: String,
    from: String,
    source: IpAddr,
    headers: Vec<(String, String)>,
    weekday: u8,
    minute: u16,
    trunk: Option<String>,
}

fn call(to: &str) -> Call {
    Call {
        to: to.into(),
        from: "alice".into(),
        source: "192.0.2.1".parse().unwrap(),
        headers: Vec::new(),
        weekday: 0,
        minute: 12 * 60,
        trunk: None,
    }
}

impl Call {
    fn trunk(mut self, t: &str) -> Self {
        self.trunk = Some(t.into());
        self
    }
    fn from(mut self, from: &str) -> Self {
        self.from = from.into();
        self
    }
    fn source(mut self, ip: &str) -> Self {
        self.source = ip.parse().unwrap();
        self
    }
    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    fn at(mut self, weekday: u8, hh: u16, mm: u16) -> Self {
        self.weekday = weekday;
        self.minute = hh * 60 + mm;
        self
    }
    fn eval<'p>(&self, p: &'p Dialplan) -> Match<'p> {
        p.eval(&CallFacts {
            to_user: &self.to,
            from_user: &self.from,
            source: self.source,
            trunk: self.trunk.as_deref(),
            headers: &self.headers,
            weekday: self.weekday,
            minute_of_day: self.minute,
        })
    }
}

fn room(name: &str) -> Decision {
    Decision::Conference {
        room: RoomName::parse(name).unwrap(),
        pin: None,
        moderator_pin: None,
        muted: false,
        max_members: None,
        record: false,
    }
}

fn reject(code: u16, reason: &str) -> Decision {
    Decision::Reject {
        code,
        reason: reason.into(),
    }
}

/// The example from the issue, verbatim.
const ISSUE_EXAMPLE: &str = r#"
[[route]]
name = "rooms by extension"
to = '^(\d{4})$'        # regex over the Request-URI user part; $1.. in values below
action = "conference"
room = "room-$1"

[[route]]
name = "board"
to = '^board$'
action = "conference"
room = "board"
pin = "4321"            # optional; also moderator_pin, muted = true, max_members, record

[[route]]
name = "meeting id"
to = '^dialin$'
action = "ivr"          # prompts for a meeting id, looks it up, then its PIN if it has one

[[route]]
name = "everyone else"
action = "reject"
code = 404
"#;

// ---- evaluation -------------------------------------------------------

#[test]
fn the_issue_example_routes_as_described() {
    let p = plan(ISSUE_EXAMPLE);
    assert_eq!(p.routes.len(), 4);
    let m = call("1234").eval(&p);
    assert_eq!(m.route_index, 0);
    assert_eq!(m.route_name, "rooms by extension");
    assert_eq!(m.captures, ["1234", "1234"]);
    assert_eq!(m.decision, room("room-1234"));
    let m = call("board").eval(&p);
    assert_eq!(
        m.decision,
        Decision::Conference {
            room: RoomName::parse("board").unwrap(),
            pin: Some("4321".into()),
            moderator_pin: None,
            muted: false,
            max_members: None,
            record: false,
        }
    );
    assert_eq!(call("dialin").eval(&p).decision, Decision::Ivr);
    let m = call("12345").eval(&p);
    assert_eq!(m.route_name, "everyone else");
    assert_eq!(m.decision, reject(404, "Not Found"));
}

#[test]
fn first_match_wins() {
    let p = plan(
        r#"
[[route]]
name = "specific"
to = '^1000$'
action = "conference"
room = "first"
[[route]]
name = "general"
to = '^\d+$'
action = "conference"
room = "second"
"#,
    );
    let m = call("1000").eval(&p);
    assert_eq!((m.route_index, m.route_name), (0, "specific"));
    assert_eq!(m.decision, room("first"));
    assert_eq!(call("1001").eval(&p).decision, room("second"));
}

#[test]
fn no_match_rejects_404() {
    let p = plan("[[route]]\nto = '^x$'\naction = \"ivr\"\n");
    let m = call("y").eval(&p);
    assert_eq!(m.route_index, 1);
    assert_eq!(m.route_name, NO_MATCH);
    assert!(!m.matched());
    assert_eq!(m.decision, reject(404, "Not Found"));
    assert!(call("x").eval(&p).matched());
    let empty = plan("# nothing yet\n");
    assert_eq!(empty.routes.len(), 0);
    assert_eq!(call("x").eval(&empty).decision, reject(404, "Not Found"));
}

#[test]
fn all_conditions_must_hold() {
    let p = plan(
        r#"
[[route]]
to = '^1$'
from = '^bob$'
action = "ivr"
"#,
    );
    assert!(!call("1").from("alice").eval(&p).matched());
    assert!(!call("2").from("bob").eval(&p).matched());
    assert!(call("1").from("bob").eval(&p).matched());
}

#[test]
fn routes_without_a_name_are_named_after_their_file_and_place() {
    let p = plan("[[route]]\naction = \"ivr\"\n");
    assert_eq!(p.routes[0].name, "t.toml#1");
    assert_eq!(p.routes[0].line, 1);
    assert_eq!(p.routes[0].file, "t.toml");
}

#[test]
fn interpolation_fills_captures_from_to_from_and_headers() {
    let p = plan(
        r#"
[[route]]
to = '^(\d)(\d)?-(x)$'
from = '^(\w+)$'
header."X-Room-Name" = '^room (.+)$'
action = "conference"
room = "$3.${from.1}.${header.x-room-name.1}.$1$2.${to.3}"
"#,
    );
    let m = call("7-x")
        .from("bob")
        .header("X-ROOM-NAME", "room blue")
        .eval(&p);
    assert_eq!(m.captures, ["7-x", "7", "", "x"], "$2 did not take part");
    assert_eq!(m.decision, room("x.bob.blue.7.x"));
}

#[test]
fn a_dollar_sign_is_written_twice() {
    let p = plan("[[route]]\naction = \"reject\"\ncode = 403\nreason = \"Costs $$5\"\n");
    assert_eq!(call("x").eval(&p).decision, reject(403, "Costs $5"));
}

#[test]
fn invalid_room_from_capture_rejects_404_without_panicking() {
    let p = plan("[[route]]\nto = '^(.*)$'\naction = \"conference\"\nroom = \"r-$1\"\n");
    assert_eq!(call("ok").eval(&p).decision, room("r-ok"));
    for bad in ["has space", "sl/ash", "ü", &"x".repeat(70)] {
        let m = call(bad).eval(&p);
        assert_eq!(m.route_index, 0, "the route matched");
        assert_eq!(m.decision, reject(404, "Invalid Room Name"), "{bad:?}");
    }
    let p = plan("[[route]]\nto = '^(.*)$'\naction = \"conference\"\nroom = \"$1\"\n");
    assert_eq!(
        call("").eval(&p).decision,
        reject(404, "Invalid Room Name"),
        "an empty room"
    );
}

#[test]
fn interpolated_pins_users_and_targets_are_checked_at_eval() {
    let p = plan(
        r#"
[[route]]
to = '^pin(.*)$'
action = "conference"
room = "r"
pin = "$1"
[[route]]
to = '^user(.*)$'
action = "user"
user = "$1"
[[route]]
to = '^go(.*)$'
action = "redirect"
target = "sip:$1@example.com"
[[route]]
to = '(?s)^why(.*)$'
action = "reject"
code = 486
reason = "$1"
"#,
    );
    assert!(
        matches!(call("pin12").eval(&p).decision, Decision::Conference { pin: Some(p), .. } if p == "12")
    );
    assert_eq!(call("pinx").eval(&p).decision, reject(404, "Invalid PIN"));
    assert_eq!(call("pin").eval(&p).decision, reject(404, "Invalid PIN"));
    assert_eq!(
        call("useralice").eval(&p).decision,
        Decision::User {
            user: "alice".into(),
            timeout: Duration::from_secs(30)
        }
    );
    assert_eq!(call("user").eval(&p).decision, reject(404, "Invalid User"));
    assert_eq!(
        call("gobob").eval(&p).decision,
        Decision::Redirect {
            target: "sip:bob@example.com".into()
        }
    );
    assert_eq!(
        call("go<x>").eval(&p).decision,
        reject(404, "Invalid Redirect Target")
    );
    assert_eq!(
        call("whyBusy\r\nX").eval(&p).decision,
        reject(486, "Busy  X")
    );
    assert_eq!(call("why").eval(&p).decision, reject(486, "Busy Here"));
}

#[test]
fn every_action_and_option_reaches_the_decision() {
    let p = plan(
        r#"
[[route]]
to = '^c$'
action = "conference"
room = "all"
pin = "1"
moderator_pin = "2"
muted = true
max_members = 5
record = true
[[route]]
to = '^u$'
action = "user"
user = "alice"
timeout = 12
[[route]]
to = '^r$'
action = "redirect"
target = "sips:x@example.com"
[[route]]
to = '^i$'
action = "ivr"
[[route]]
action = "reject"
code = 603
"#,
    );
    assert_eq!(
        call("c").eval(&p).decision,
        Decision::Conference {
            room: RoomName::parse("all").unwrap(),
            pin: Some("1".into()),
            moderator_pin: Some("2".into()),
            muted: true,
            max_members: Some(5),
            record: true,
        }
    );
    assert_eq!(
        call("u").eval(&p).decision,
        Decision::User {
            user: "alice".into(),
            timeout: Duration::from_secs(12)
        }
    );
    assert_eq!(
        call("r").eval(&p).decision,
        Decision::Redirect {
            target: "sips:x@example.com".into()
        }
    );
    assert_eq!(call("i").eval(&p).decision, Decision::Ivr);
    assert_eq!(call("z").eval(&p).decision, reject(603, "Decline"));
}

#[test]
fn cidr_source_matches_v4_and_v6() {
    let p = plan(
        r#"
[[route]]
source = ["10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1"]
action = "ivr"
"#,
    );
    for ok in [
        "10.1.2.3",
        "10.255.255.255",
        "192.0.2.7",
        "2001:db8:1::5",
        "::1",
        "::ffff:10.9.9.9",
    ] {
        assert!(call("x").source(ok).eval(&p).matched(), "{ok}");
    }
    for no in ["11.0.0.1", "192.0.2.8", "2001:db9::1", "::2", "127.0.0.1"] {
        assert!(!call("x").source(no).eval(&p).matched(), "{no}");
    }
    let any = plan("[[route]]\nsource = \"0.0.0.0/0\"\naction = \"ivr\"\n");
    assert!(call("x").source("203.0.113.9").eval(&any).matched());
    assert!(!call("x").source("2001:db8::1").eval(&any).matched());
}

#[test]
fn header_names_compare_case_insensitively_and_any_value_may_match() {
    let dotted = plan(
        "[[route]]\nheader.X-Room-Name = '^(.+)$'\naction = \"conference\"\nroom = \"${header.X-Room-Name.1}\"\n",
    );
    let table = plan(
        "[[route]]\naction = \"conference\"\nroom = \"${header.x-room-name.1}\"\n[route.header]\n\"x-room-name\" = '^(.+)$'\n",
    );
    let inline = plan(
        "[[route]]\naction = \"conference\"\nroom = \"${header.X-Room-Name.1}\"\nheader = { X-Room-Name = '^(.+)$' }\n",
    );
    for p in [&dotted, &table, &inline] {
        assert!(!call("x").eval(p).matched(), "no header, no match");
        let m = call("x")
            .header("Via", "SIP/2.0/UDP x")
            .header("x-room-name", "")
            .header("X-ROOM-NAME", "blue")
            .eval(p);
        assert_eq!(m.decision, room("blue"));
    }
}

#[test]
fn time_windows_cross_midnight() {
    // Friday 22:00 to Saturday 02:00, and all of Sunday.
    let p = plan("[[route]]\ntime = [\"fri 22:00-02:00\", \"sun\"]\naction = \"ivr\"\n");
    let at = |d, h, m| call("x").at(d, h, m).eval(&p).matched();
    assert!(!at(4, 21, 59));
    assert!(at(4, 22, 0));
    assert!(at(4, 23, 59));
    assert!(at(5, 0, 0));
    assert!(at(5, 1, 59));
    assert!(!at(5, 2, 0));
    assert!(!at(3, 23, 0), "thursday night is not friday night");
    assert!(!at(6, 1, 0) || at(6, 1, 0), "sunday is all day");
    assert!(at(6, 0, 0) && at(6, 23, 59));
    assert!(!at(0, 1, 0), "sunday's window does not run into monday");
}

#[test]
fn time_windows_cover_day_ranges_lists_and_hours() {
    let p = plan(
        "[[route]]\ntime = [\"mon-fri 09:00-17:00\", \"sat,sun 10:00-12:00\"]\naction = \"ivr\"\n",
    );
    let at = |d, h, m| call("x").at(d, h, m).eval(&p).matched();
    assert!(at(0, 9, 0) && at(4, 16, 59));
    assert!(!at(0, 8, 59) && !at(2, 17, 0));
    assert!(at(5, 10, 0) && at(6, 11, 59) && !at(6, 12, 0));
    let wrap = plan("[[route]]\ntime = \"fri-mon\"\naction = \"ivr\"\n");
    let at = |d| call("x").at(d, 12, 0).eval(&wrap).matched();
    assert_eq!(
        (0..7).map(at).collect::<Vec<_>>(),
        [true, false, false, false, true, true, true]
    );
    let hours_only = plan("[[route]]\ntime = \"08:30-24:00\"\naction = \"ivr\"\n");
    assert!(call("x").at(3, 23, 59).eval(&hours_only).matched());
    assert!(!call("x").at(3, 8, 29).eval(&hours_only).matched());
}

#[test]
fn local_clock_gives_weekday_and_minute_in_the_configured_offset() {
    // 2024-01-01 00:00:00 UTC was a Monday.
    let t = 1_704_067_200;
    assert_eq!(local_clock(t, 0), (0, 0));
    assert_eq!(local_clock(t + 9 * 3600 + 30 * 60, 0), (0, 570));
    assert_eq!(
        local_clock(t, -60),
        (6, 23 * 60),
        "an hour west: Sunday 23:00"
    );
    assert_eq!(local_clock(t, 330), (0, 330), "India");
    assert_eq!(local_clock(0, 0), (3, 0), "the epoch was a Thursday");
    assert_eq!(local_clock(-60, 0), (2, 1439));
}

#[test]
fn shipped_default_plan_routes_as_documented() {
    let p = parse_str(
        "dialplans/default.toml",
        include_str!("../../dialplans/default.toml"),
    )
    .unwrap_or_else(|e| panic!("{e:#?}"));
    assert_eq!(call("1234").eval(&p).decision, room("room-1234"));
    assert_eq!(call("dialin").eval(&p).decision, Decision::Ivr);
    assert_eq!(call("0").eval(&p).decision, Decision::Ivr);
    assert_eq!(call("test").eval(&p).decision, room("test"));
    assert_eq!(
        call("123").eval(&p).decision,
        reject(404, "Not Found"),
        "three digits are not an extension"
    );
    assert_eq!(call("alice").eval(&p).route_name, "everyone else");
}

// ---- errors ----------------------------------------------------------

#[test]
fn syntax_error_reports_line_and_column() {
    // An unterminated string: reported where the line ends without the quote.
    let e = error("[[route]]\nname = \"x\"\nto = '^1$\naction = \"ivr\"\n");
    assert_eq!(e, "3:10: TOML syntax: invalid literal string, expected `'`");
    let e = errors("[[route]]\naction = = \"ivr\"\n");
    assert!(e[0].starts_with("t.toml:2:"), "{e:?}");
}

#[test]
fn error_display_is_file_line_column_message() {
    let errs = parse_str("dialplans/default.toml", "[[route]]\naction = 5\n").unwrap_err();
    assert_eq!(
        errs[0].to_string(),
        "dialplans/default.toml:2:10: \"action\" must be a string, found integer"
    );
    assert_eq!((errs[0].line, errs[0].column), (2, 10));
    assert_eq!(errs[0].span, 19..20);
}

#[test]
fn bad_regex_reports_its_position() {
    // Column of the unclosed "(" inside the regex, not of the key.
    assert_eq!(
        error("[[route]]\nto   =   '^(\\d{4}$'\naction = \"ivr\"\n"),
        "2:12: invalid regex in \"to\": unclosed group"
    );
    let e = error("[[route]]\nfrom = '[z-a]'\naction = \"ivr\"\n");
    assert!(
        e.starts_with("2:10: invalid regex in \"from\": invalid character class range"),
        "{e}"
    );
    assert_eq!(
        error("[[route]]\nheader.X-Y = '(?P<n>a)(?P<n>b)'\naction = \"ivr\"\n"),
        "2:27: invalid regex in \"header.X-Y\": duplicate capture group name"
    );
    // With escapes in a basic string, the position is the value's start.
    let e = error("[[route]]\nto = \"\\u0041(\"\naction = \"ivr\"\n");
    assert!(
        e.starts_with("2:6: invalid regex in \"to\": unclosed group"),
        "{e}"
    );
}

#[test]
fn huge_regexes_are_refused() {
    let e = error("[[route]]\nto = '(\\w{200}){200}'\naction = \"ivr\"\n");
    assert!(e.contains("too big"), "{e}");
}

#[test]
fn every_error_is_collected_not_just_the_first() {
    let e = errors(
        r#"[[route]]
to = '('
action = "conference"
room = "bad room"

[[route]]
action = "dance"

[[route]]
action = "reject"
code = 200
"#,
    );
    assert_eq!(e.len(), 4, "{e:#?}");
    assert!(e[0].starts_with("t.toml:2:7: invalid regex"), "{e:?}");
    assert!(
        e[1].starts_with("t.toml:4:8: \"room\": room name \"bad room\" has ' '"),
        "{e:?}"
    );
    assert!(
        e[2].starts_with("t.toml:7:10: unknown action \"dance\""),
        "{e:?}"
    );
    assert_eq!(e[3], "t.toml:11:8: \"code\" must be between 400 and 699");
}

#[test]
fn unknown_key_is_denied_with_a_suggestion() {
    assert_eq!(
        error("[[route]]\naction = \"conference\"\nroom = \"a\"\nromm = \"b\"\n"),
        "4:1: unknown key \"romm\" in route; did you mean \"room\"?"
    );
    assert_eq!(
        error("[[route]]\naction = \"ivr\"\nwhatever = 1\n"),
        "3:1: unknown key \"whatever\" in route"
    );
    assert_eq!(
        error("[[route]]\naction = \"ivr\"\nheaders.X = 'a'\n"),
        "3:1: unknown key \"headers\" in route; did you mean \"header\"?"
    );
    assert_eq!(
        error("[[routes]]\naction = \"ivr\"\n"),
        "1:3: unknown top-level key \"routes\": a dialplan file holds [[route]] and [[dialout]] tables; did you mean \"route\"?"
    );
}

#[test]
fn a_single_bracket_route_is_explained() {
    assert_eq!(
        error("[route]\naction = \"ivr\"\n"),
        "1:2: write [[route]] (double brackets): a dialplan is a list of routes"
    );
}

#[test]
fn wrong_types_are_reported_at_the_value() {
    assert_eq!(
        error("[[route]]\naction = \"conference\"\nroom = \"r\"\nmuted = \"yes\"\n"),
        "4:9: \"muted\" must be true or false, found string"
    );
    assert_eq!(
        error("[[route]]\naction = \"reject\"\ncode = \"404\"\n"),
        "3:8: \"code\" must be an integer, found string"
    );
    assert_eq!(
        error("[[route]]\nto = 5\naction = \"ivr\"\n"),
        "2:6: \"to\" must be a string, found integer"
    );
    assert_eq!(
        error("[[route]]\nsource = [\"10.0.0.0/8\", 7]\naction = \"ivr\"\n"),
        "2:25: \"source\" must hold strings, found integer"
    );
    assert_eq!(
        error("[[route]]\nheader = 'x'\naction = \"ivr\"\n"),
        "2:10: \"header\" must be a table of header name = regex, e.g. header.X-Room-Name = '^(.+)$'; found string"
    );
    assert_eq!(
        error("route = 3\n"),
        "1:9: \"route\" must be a list of tables written [[route]], found integer"
    );
}

#[test]
fn unknown_action_is_reported_with_a_suggestion() {
    assert_eq!(
        error("[[route]]\naction = \"confrence\"\n"),
        "2:10: unknown action \"confrence\": use conference, ivr, user, redirect or reject; did you mean \"conference\"?"
    );
}

#[test]
fn missing_action_and_required_fields_are_reported_at_the_route() {
    assert_eq!(
        error("\n[[route]]\nto = '^1$'\n"),
        "2:1: route has no \"action\": add action = \"conference\", \"ivr\", \"user\", \"redirect\" or \"reject\""
    );
    assert_eq!(
        error("[[route]]\naction = \"conference\"\n"),
        "1:1: action \"conference\" needs \"room\", e.g. room = \"room-$1\""
    );
    assert!(
        error("[[route]]\naction = \"user\"\n").starts_with("1:1: action \"user\" needs \"user\"")
    );
    assert!(
        error("[[route]]\naction = \"redirect\"\n")
            .starts_with("1:1: action \"redirect\" needs \"target\"")
    );
    assert!(
        error("[[route]]\naction = \"reject\"\n")
            .starts_with("1:1: action \"reject\" needs \"code\"")
    );
}

#[test]
fn keys_of_another_action_are_reported() {
    assert_eq!(
        error("[[route]]\naction = \"reject\"\ncode = 404\npin = \"1\"\n"),
        "4:1: \"pin\" does not apply to action \"reject\" (it belongs to \"conference\")"
    );
}

#[test]
fn codes_out_of_range_and_challenges_are_refused() {
    assert_eq!(
        error("[[route]]\naction = \"reject\"\ncode = 700\n"),
        "3:8: \"code\" must be between 400 and 699"
    );
    assert!(
        error("[[route]]\naction = \"reject\"\ncode = 401\n").starts_with("3:8: 401 and 407 need")
    );
    assert_eq!(
        error("[[route]]\naction = \"user\"\nuser = \"a\"\ntimeout = 0\n"),
        "4:11: \"timeout\" must be between 1 and 600"
    );
    assert_eq!(
        error("[[route]]\naction = \"conference\"\nroom = \"r\"\nmax_members = 0\n"),
        "4:15: \"max_members\" must be between 1 and 100000"
    );
}

#[test]
fn bad_cidr_is_reported() {
    assert_eq!(
        error("[[route]]\nsource = [\"10.0.0.0/8\", \"10.0.0.300/8\"]\naction = \"ivr\"\n"),
        "2:25: \"10.0.0.300/8\" is not an IP address or CIDR block (e.g. \"10.0.0.0/8\", \"2001:db8::/32\")"
    );
    assert_eq!(
        error("[[route]]\nsource = \"10.0.0.0/33\"\naction = \"ivr\"\n"),
        "2:10: \"10.0.0.0/33\": the prefix length must be 0 to 32"
    );
    assert_eq!(
        error("[[route]]\nsource = \"10.1.2.3/8\"\naction = \"ivr\"\n"),
        "2:10: \"10.1.2.3/8\" has host bits set; did you mean \"10.0.0.0/8\"?"
    );
    assert!(
        error("[[route]]\nsource = \"2001:db8::1/32\"\naction = \"ivr\"\n")
            .contains("did you mean \"2001:db8::/32\"?")
    );
}

#[test]
fn bad_time_window_is_reported() {
    for (w, msg) in [
        ("mon-fri 9-17", "\"9\" is not a time HH:MM"),
        ("mon-fri 0900", "hours must be HH:MM-HH:MM"),
        ("funday", "unknown day \"funday\""),
        ("mon 09:00-09:00", "is empty"),
        ("mon 25:00-26:00", "is not a time"),
        ("mon 09:60-10:00", "is not a time"),
        ("mon 24:00-01:00", "cannot start at 24:00"),
        ("mon tue 09:00-10:00", "write \"DAYS HH:MM-HH:MM\""),
        ("", "write \"DAYS HH:MM-HH:MM\""),
    ] {
        let e = error(&format!("[[route]]\ntime = [\"{w}\"]\naction = \"ivr\"\n"));
        assert!(e.starts_with("2:9: time window"), "{w}: {e}");
        assert!(e.contains(msg), "{w}: {e}");
    }
}

#[test]
fn capture_beyond_the_regex_groups_is_reported_at_the_reference() {
    assert_eq!(
        error("[[route]]\nto = '^(\\d)(\\d)$'\naction = \"conference\"\nroom = \"r-$1-$3\"\n"),
        "4:14: in \"room\": \"$3\" refers to group 3, but the \"to\" regex has only 2 groups"
    );
    assert_eq!(
        error("[[route]]\naction = \"user\"\nuser = \"$1\"\n"),
        "3:9: in \"user\": \"$1\" refers to the \"to\" regex, but this route has no such condition"
    );
    assert_eq!(
        error("[[route]]\nfrom = '^x$'\naction = \"user\"\nuser = \"${from.1}\"\n"),
        "4:9: in \"user\": \"${from.1}\" refers to group 1, but the \"from\" regex has no groups"
    );
    assert_eq!(
        error("[[route]]\naction = \"user\"\nuser = \"${header.X-A.1}\"\n"),
        "3:9: in \"user\": \"${header.X-A.1}\" refers to \"header.X-A\", but this route has no such condition"
    );
    assert_eq!(
        error("[[route]]\naction = \"user\"\nuser = \"a$b\"\n"),
        "3:10: in \"user\": \"$\" must be followed by a digit or \"{\" (write \"$$\" for a dollar sign)"
    );
    assert_eq!(
        error("[[route]]\nto = '(x)'\naction = \"user\"\nuser = \"${too.1}\"\n"),
        "4:9: in \"user\": unknown capture \"${too.1}\": use $1..$9, ${to.N}, ${from.N} or ${header.Name.N}"
    );
    assert!(
        error("[[route]]\nto = '(x)'\naction = \"user\"\nuser = \"${1\"\n")
            .starts_with("4:9: in \"user\": \"${\" is not closed")
    );
}

#[test]
fn literal_values_are_checked_at_load_time() {
    assert!(
        error("[[route]]\naction = \"conference\"\nroom = \"a/b\"\n")
            .starts_with("3:8: \"room\": room name \"a/b\" has '/'")
    );
    assert!(
        error("[[route]]\nto = '(x)'\naction = \"conference\"\nroom = \"a b $1\"\n")
            .starts_with("4:8: \"room\" has ' '")
    );
    assert_eq!(
        error("[[route]]\naction = \"conference\"\nroom = \"a\"\npin = \"12ab\"\n"),
        "4:7: \"pin\": PIN \"12ab\" must be 1 to 12 digits"
    );
    assert!(
        error("[[route]]\naction = \"conference\"\nroom = \"a\"\nmoderator_pin = \"1\"\n")
            .starts_with("4:1: \"moderator_pin\" needs \"pin\"")
    );
    assert_eq!(
        error(
            "[[route]]\naction = \"conference\"\nroom = \"a\"\npin = \"1\"\nmoderator_pin = \"1\"\n"
        ),
        "5:17: \"moderator_pin\" must differ from \"pin\""
    );
    assert!(error("[[route]]\naction = \"user\"\nuser = \"a b\"\n").starts_with("3:8: \"user\":"));
    assert!(
        error("[[route]]\naction = \"redirect\"\ntarget = \"http://x\"\n")
            .starts_with("3:10: \"target\": redirect target")
    );
    assert!(
        error("[[route]]\naction = \"reject\"\ncode = 404\nreason = \"\"\n")
            .starts_with("4:10: \"reason\": \"reason\" must not be empty")
    );
    assert!(
        error("[[route]]\nname = \"\"\naction = \"ivr\"\n")
            .starts_with("2:8: \"name\" must not be empty")
    );
}

#[test]
fn columns_count_characters_not_bytes() {
    assert_eq!(
        error("# héllo wörld\n[[route]]\nname = \"größe\"\naction = 1\n"),
        "4:10: \"action\" must be a string, found integer"
    );
    assert_eq!(
        error("[[route]]\nname = \"ü\" ; action = 1\n")
            .split(':')
            .take(2)
            .collect::<Vec<_>>(),
        ["2", "12"]
    );
}

#[test]
fn nasty_inputs_never_panic() {
    let deep = "[[route]]\nto = ".to_string() + &"[".repeat(5000);
    for text in [
        "",
        "\u{0}",
        "[[route]]",
        "[[route]]\n[route.header]\n",
        "[[route]]\nheader.\"\" = 'x'\naction = \"ivr\"\n",
        "[[route]]\naction = \"reject\"\ncode = 99999999999999999999999\n",
        "[[route]]\naction = \"reject\"\ncode = -404\n",
        "[[route]]\naction = \"user\"\nuser = \"$\"\n",
        "[[route]]\naction = \"user\"\nuser = \"${\"\n",
        "[[route]]\naction = \"user\"\nuser = \"${}\"\n",
        "[[route]]\naction = \"user\"\nuser = \"${header..1}\"\n",
        "[[route]]\ntime = \"mon-\"\naction = \"ivr\"\n",
        "[[route]]\ntime = \"-\"\naction = \"ivr\"\n",
        "[[route]]\nsource = \"/\"\naction = \"ivr\"\n",
        "[[route]]\nsource = \"::/\"\naction = \"ivr\"\n",
        "route = [1, {action = \"ivr\"}, [2]]",
        "[[route]]\nto = '''\n(\n'''\naction = \"ivr\"\n",
        deep.as_str(),
    ] {
        if let Ok(p) = parse_str("t.toml", text) {
            let _ = call("x").eval(&p);
        }
    }
}

// ---- loading a directory ----------------------------------------------

#[test]
fn a_directory_loads_its_toml_files_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    w("20-b.toml", "[[route]]\nname = \"b\"\naction = \"ivr\"\n");
    w(
        "10-a.toml",
        "[[route]]\nname = \"a\"\naction = \"ivr\"\n[[route]]\nname = \"a2\"\naction = \"ivr\"\n",
    );
    w("notes.txt", "not a dialplan");
    w(".#20-b.toml", "editor lock file");
    std::fs::create_dir(dir.path().join("sub.toml")).unwrap();
    let p = load(dir.path()).unwrap();
    let names: Vec<&str> = p.routes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["a", "a2", "b"]);
    assert_eq!(p.files.len(), 2);
    assert!(p.files[0].ends_with("10-a.toml"));
    assert_eq!(p.routes[2].line, 1);
    assert!(p.routes[2].file.ends_with("20-b.toml"));
    // One file works as a path too.
    let one = load(&dir.path().join("20-b.toml")).unwrap();
    assert_eq!(one.routes.len(), 1);
}

#[test]
fn errors_in_several_files_are_all_reported_with_their_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.toml"), "[[route]]\naction = \"x\"\n").unwrap();
    std::fs::write(dir.path().join("b.toml"), "[[route]\n").unwrap();
    std::fs::write(dir.path().join("c.toml"), b"[[route]]\nname = \"\xff\"\n").unwrap();
    let errs = load(dir.path()).unwrap_err();
    let lines: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let d = dir.path().display();
    assert!(
        lines[0].starts_with(&format!("{d}/a.toml:2:10: unknown action")),
        "{lines:?}"
    );
    assert!(lines[1].starts_with(&format!("{d}/b.toml:1:")), "{lines:?}");
    assert_eq!(
        lines[2],
        format!("{d}/c.toml:2:9: the file is not UTF-8 text")
    );
}

#[test]
fn a_missing_path_is_one_error_without_a_position() {
    let errs = load(std::path::Path::new("/nonexistent/dialplans")).unwrap_err();
    assert_eq!(errs.len(), 1);
    assert_eq!(errs[0].line, 0);
    assert!(
        errs[0]
            .to_string()
            .starts_with("/nonexistent/dialplans: cannot read the dialplan: "),
        "{}",
        errs[0]
    );
}

#[test]
fn a_trunk_condition_takes_only_calls_from_the_named_trunks() {
    let p = plan(
        "[[route]]\nname = \"from the provider\"\ntrunk = [\"prov\", \"backup\"]\naction = \"conference\"\nroom = \"dids\"\n\n\
         [[route]]\nname = \"rest\"\naction = \"reject\"\ncode = 403\n",
    );
    assert_eq!(
        call("x").trunk("prov").eval(&p).route_name,
        "from the provider"
    );
    assert_eq!(
        call("x").trunk("backup").eval(&p).route_name,
        "from the provider"
    );
    assert_eq!(call("x").trunk("other").eval(&p).route_name, "rest");
    assert_eq!(call("x").eval(&p).route_name, "rest");
}

#[test]
fn an_empty_or_mistyped_trunk_condition_is_reported_at_its_position() {
    let e = error("[[route]]\ntrunk = \"\"\naction = \"ivr\"\n");
    assert!(e.starts_with("2:9:") && e.contains("trunk"), "{e}");
    let e = error("[[route]]\ntrunk = 5\naction = \"ivr\"\n");
    assert!(e.starts_with("2:9:"), "{e}");
}

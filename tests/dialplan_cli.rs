//! The dialplan and meeting commands of the real binary: `dialplan check`
//! points at each mistake with file:line:column, `dialplan test` says what a
//! call would do, `meeting add/list/remove` manage the ids the IVR looks up.

mod common;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A config in a temp dir with `[dialplan] path` at `dialplans/` there and
/// SQLite in the same dir.
struct Setup {
    dir: tempfile::TempDir,
    config: PathBuf,
}

impl Setup {
    fn new() -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("dialplans")).unwrap();
        let config = dir.path().join("dialroom.toml");
        std::fs::write(
            &config,
            "[dialplan]\npath = \"dialplans\"\n[database]\nurl = \"sqlite://data/dialroom.db\"\n",
        )
        .unwrap();
        Setup { dir, config }
    }

    fn plans(&self) -> PathBuf {
        self.dir.path().join("dialplans")
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.plans().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(common::bin())
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .output()
            .unwrap()
    }
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn shipped_plan() -> String {
    std::fs::read_to_string(common::root().join("dialplans/default.toml")).unwrap()
}

#[test]
fn check_accepts_the_shipped_plan() {
    let s = Setup::new();
    s.write("default.toml", &shipped_plan());
    let o = s.run(&["dialplan", "check"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ok: 4 routes, 0 dialout rules in 1 file\n");
    // An explicit path, file or directory, overrides the configured one.
    let o = Command::new(common::bin())
        .args(["dialplan", "check"])
        .arg(common::root().join("dialplans"))
        .current_dir(s.dir.path())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "ok: 4 routes, 0 dialout rules in 1 file\n");
}

#[test]
fn check_reports_every_mistake_with_file_line_and_column() {
    let s = Setup::new();
    let a = s.write(
        "10-rooms.toml",
        "[[route]]\nname = \"rooms\"\nto = '^(\\d{4}$'\naction = \"conference\"\nroom = \"room-$1\"\n\n\
         [[route]]\nname = \"users\"\nto = '^(\\w+)$'\naction = \"user\"\nuser = \"$2\"\n",
    );
    let b = s.write(
        "20-rest.toml",
        "[[route]]\nacton = \"reject\"\ncode = 404\n",
    );
    let o = s.run(&["dialplan", "check"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let err = stderr(&o);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{}:3:8: invalid regex in \"to\": unclosed group",
                a.display()
            )
            .as_str(),
            &format!(
                "{}:11:9: in \"user\": \"$2\" refers to group 2, but the \"to\" regex has only 1 group",
                a.display()
            ),
            &format!(
                "{}:1:1: route has no \"action\": add action = \"conference\", \"ivr\", \"user\", \"redirect\" or \"reject\"",
                b.display()
            ),
            &format!(
                "{}:2:1: unknown key \"acton\" in route; did you mean \"action\"?",
                b.display()
            ),
            &format!("dialroom: 4 errors in dialplan {}", s.plans().display()),
        ],
        "{err}"
    );
    assert_eq!(stdout(&o), "");
}

#[test]
fn check_reports_toml_syntax_errors_at_their_place() {
    let s = Setup::new();
    let f = s.write("default.toml", "[[route]]\nname = \"x\nto = '1'\n");
    let o = s.run(&["dialplan", "check"]);
    assert_eq!(o.status.code(), Some(1));
    // The string that is never closed: reported where its line ends.
    assert_eq!(
        stderr(&o),
        format!(
            "{}:2:10: TOML syntax: invalid basic string, expected `\"`\n\
             dialroom: 1 error in dialplan {}\n",
            f.display(),
            s.plans().display()
        )
    );
}

#[test]
fn check_of_a_missing_directory_fails_clearly() {
    let s = Setup::new();
    let o = s.run(&["dialplan", "check", "/nonexistent/plans"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with("/nonexistent/plans: cannot read the dialplan: "),
        "{}",
        stderr(&o)
    );
}

#[test]
fn test_says_which_route_takes_a_call_and_what_happens() {
    let s = Setup::new();
    s.write("default.toml", &shipped_plan());
    let plan = s.plans().join("default.toml");
    let o = s.run(&["dialplan", "test", "--to", "1234"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        format!(
            "route: 1 \"rooms by extension\" ({}:30)\ncaptures: $0=\"1234\" $1=\"1234\"\n\
             decision: conference room \"room-1234\"\n",
            plan.display()
        )
    );
    let o = s.run(&["dialplan", "test", "--to", "dialin"]);
    assert!(
        stdout(&o).ends_with("decision: IVR: ask for a meeting id, then its PIN if it has one\n"),
        "{}",
        stdout(&o)
    );
    // A reject is still a successful answer to "what would happen".
    let o = s.run(&["dialplan", "test", "--to", "nobody"]);
    assert!(o.status.success());
    assert!(
        stdout(&o).starts_with("route: 3 \"everyone else\""),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).ends_with("decision: reject 404 Not Found\n"));
}

#[test]
fn test_uses_from_source_headers_and_time() {
    let s = Setup::new();
    s.write(
        "default.toml",
        r#"
[[route]]
name = "board"
to = '^board$'
from = '^(ceo|cfo)$'
source = ["10.0.0.0/8", "2001:db8::/32"]
header.X-Room-Name = '^(.+)$'
time = "mon-fri 09:00-17:00"
action = "conference"
room = "board-${header.X-Room-Name.1}-${from.1}"
pin = "4321"
"#,
    );
    let args = |extra: &[&str]| {
        let mut a = vec![
            "dialplan",
            "test",
            "--to",
            "board",
            "--from",
            "ceo",
            "--source",
            "2001:db8::7",
            "--header",
            "x-room-name: blue",
        ];
        a.extend_from_slice(extra);
        s.run(&a.iter().map(|s| &**s).collect::<Vec<_>>())
    };
    let o = args(&["--at", "wed 10:00"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).ends_with("decision: conference room \"board-blue-ceo\" (pin required)\n"),
        "{}",
        stdout(&o)
    );
    let o = args(&["--at", "sat 10:00"]);
    assert!(
        stdout(&o).starts_with("route: none matched"),
        "{}",
        stdout(&o)
    );
    assert!(stdout(&o).ends_with("decision: reject 404 Not Found\n"));
    let o = args(&["--at", "wed 10:00", "--header", "nonsense"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("write it as 'Name: Value'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn dial_says_whether_a_number_may_be_dialled_out_and_through_which_trunk() {
    let s = Setup::new();
    s.write(
        "out.toml",
        "[[dialout]]\nname = \"premium\"\nto = '^0900'\naction = \"reject\"\nreason = \"No premium numbers\"\n\n\
         [[dialout]]\nname = \"national\"\nto = '^0(\\d+)$'\nroom = '^sales-'\naction = \"dial\"\ntrunk = \"prov\"\nnumber = \"+49$1\"\n",
    );
    let o = s.run(&["dialplan", "check"]);
    assert_eq!(
        stdout(&o),
        "ok: 0 routes, 2 dialout rules in 1 file\n",
        "{}",
        stderr(&o)
    );
    let o = s.run(&["dialplan", "dial", "0301234", "--room", "sales-1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("dialout rule: \"national\""), "{out}");
    assert!(out.contains("out.toml:7"), "{out}");
    assert!(
        out.contains("decision: dial +49301234 through trunk \"prov\""),
        "{out}"
    );
    let o = s.run(&["dialplan", "dial", "0900555", "--room", "sales-1"]);
    assert!(
        stdout(&o).contains("decision: refuse 403 No premium numbers"),
        "{}",
        stdout(&o)
    );
    // The right number from another room: no rule allows it.
    let o = s.run(&["dialplan", "dial", "0301234", "--room", "board"]);
    let out = stdout(&o);
    assert!(out.contains("dialout rule: none matched"), "{out}");
    assert!(out.contains("decision: refuse 403"), "{out}");
}

#[test]
fn test_refuses_a_plan_with_errors() {
    let s = Setup::new();
    let f = s.write("default.toml", "[[route]]\naction = \"ivr\"\ncode = 404\n");
    let o = s.run(&["dialplan", "test", "--to", "1"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).starts_with(&format!(
            "{}:3:1: \"code\" does not apply to action \"ivr\"",
            f.display()
        )),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "");
}

#[test]
fn meetings_are_added_listed_and_removed() {
    let s = Setup::new();
    let o = s.run(&["meeting", "list"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("no meetings"), "{}", stdout(&o));

    let o = s.run(&[
        "meeting", "add", "4711", "--room", "standup", "--pin", "1234",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "added meeting 4711: room \"standup\" (PIN required)\n"
    );
    let o = s.run(&[
        "meeting",
        "add",
        "100",
        "--room",
        "board",
        "--pin",
        "1",
        "--moderator-pin",
        "99",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = s.run(&["meeting", "add", "4711", "--room", "other"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "dialroom: meeting 4711 already exists\n");

    let o = s.run(&["meeting", "list"]);
    assert_eq!(
        stdout(&o),
        "100\troom board\tpin 1\tmoderator pin 99\n4711\troom standup\tpin 1234\tmoderator pin -\n"
    );

    let o = s.run(&["meeting", "remove", "4711"]);
    assert!(o.status.success());
    assert_eq!(stdout(&o), "removed meeting 4711\n");
    let o = s.run(&["meeting", "remove", "4711"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o), "dialroom: meeting 4711 does not exist\n");
    let o = s.run(&["meeting", "list"]);
    assert_eq!(stdout(&o), "100\troom board\tpin 1\tmoderator pin 99\n");
    assert!(
        Path::new(&s.dir.path().join("data/dialroom.db")).exists(),
        "the database is where the config says"
    );
}

#[test]
fn meeting_add_refuses_bad_ids_rooms_and_pins() {
    let s = Setup::new();
    for (args, msg) in [
        (
            &["meeting", "add", "12a", "--room", "r"][..],
            "meeting id \"12a\" must be 1 to 20 digits",
        ),
        (
            &["meeting", "add", "1", "--room", "a room"],
            "room name \"a room\" has ' '",
        ),
        (
            &[
                "meeting",
                "add",
                "1",
                "--room",
                "r",
                "--pin",
                "12345678901234",
            ],
            "PIN \"12345678901234\" must be 1 to 12 digits",
        ),
        (
            &["meeting", "add", "1", "--room", "r", "--moderator-pin", "1"],
            "--moderator-pin needs --pin",
        ),
        (
            &[
                "meeting",
                "add",
                "1",
                "--room",
                "r",
                "--pin",
                "1",
                "--moderator-pin",
                "1",
            ],
            "--moderator-pin must differ from --pin",
        ),
    ] {
        let o = s.run(args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(stderr(&o).contains(msg), "{args:?}: {}", stderr(&o));
    }
    let o = s.run(&["meeting", "list"]);
    assert!(stdout(&o).starts_with("no meetings"), "nothing was added");
}

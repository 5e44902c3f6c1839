//! A changed dialplan file is picked up without a restart and without
//! dropping calls; a broken one (TOML syntax error, bad regex) is reported
//! with file, line and column, and calls keep following the last good plan.

mod common;
use common::{LOOPBACK_TRUNK, Server, sipp_args};
use std::time::Duration;

fn plan(extra: &str) -> String {
    format!(
        "[[route]]\nname = \"five\"\nto = '^5555$'\naction = \"conference\"\nroom = \"r5\"\n{extra}\n\
         [[route]]\nname = \"rest\"\naction = \"reject\"\ncode = 404\n"
    )
}

fn call(s: &Server, number: &str, scenario: &str) -> bool {
    let mut args = vec!["-s", number];
    if scenario == "dialplan_route_answered.xml" {
        args.extend(["-set", "hold", "300"]);
    }
    sipp_args(scenario, "udp", s.sip_port, &args).ok
}

fn write_plan(s: &Server, text: &str) {
    std::fs::write(s.dir.path().join("dialplans/main.toml"), text).unwrap();
    // The watcher polls every second.
    std::thread::sleep(Duration::from_millis(2500));
}

#[test]
fn edits_apply_to_new_calls_and_broken_edits_keep_the_last_good_plan() {
    let mut s = Server::with("", LOOPBACK_TRUNK);
    std::fs::create_dir_all(s.dir.path().join("dialplans")).unwrap();
    std::fs::write(s.dir.path().join("dialplans/main.toml"), plan("")).unwrap();
    s.start();
    assert!(call(&s, "5555", "dialplan_route_answered.xml"));
    assert!(call(&s, "6666", "dialplan_route_rejected.xml"));

    // A call in progress while the plan changes under it.
    let port = s.sip_port;
    let long = std::thread::spawn(move || {
        let t0 = std::time::Instant::now();
        let run = sipp_args(
            "dialplan_route_answered.xml",
            "udp",
            port,
            &["-s", "5555", "-set", "hold", "9000"],
        );
        (run, t0.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));

    // A good edit: 6666 now goes to a room.
    write_plan(
        &s,
        &plan("[[route]]\nname = \"six\"\nto = '^6666$'\naction = \"conference\"\nroom = \"r6\"\n"),
    );
    assert!(
        call(&s, "6666", "dialplan_route_answered.xml"),
        "{}",
        s.log()
    );

    // A TOML syntax error: reported with its place, the last good plan stays.
    write_plan(&s, "[[route]]\nname = \"broken\nto = '^6666$'\n");
    assert!(s.log().contains("main.toml:2:"), "{}", s.log());
    assert!(
        call(&s, "6666", "dialplan_route_answered.xml"),
        "{}",
        s.log()
    );

    // A bad regex: reported at its line and column, the last good plan stays.
    write_plan(
        &s,
        &plan("[[route]]\nname = \"bad\"\nto = '^(66$'\naction = \"conference\"\nroom = \"x\"\n"),
    );
    let log = s.log();
    assert!(log.contains("main.toml:8:"), "{log}");
    assert!(log.to_lowercase().contains("regex"), "{log}");
    assert!(
        call(&s, "6666", "dialplan_route_answered.xml"),
        "{}",
        s.log()
    );

    // The call that was up through all of this ends normally (BYE gets 200, not 481).
    let (run, took) = long.join().unwrap();
    assert!(
        took >= Duration::from_secs(9),
        "the long call did not stay up through the reloads (it took {took:?})\n{}",
        run.output
    );
    assert!(
        run.ok,
        "the call in progress was dropped by a reload:\n{}\n{}",
        run.output,
        s.log()
    );
}

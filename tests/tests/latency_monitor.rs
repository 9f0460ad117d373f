//! The latency monitor against redis-server 7.0.15: with `latency-monitor-threshold` set, a
//! command slower than it is sampled as the `command` event on both servers, and LATENCY
//! LATEST / HISTORY / DOCTOR / GRAPH / RESET report it in the same shape. (The replies'
//! exact figures depend on timing; `tests/diff/latency.txt` compares the rest byte for
//! byte.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tandem_tests::probe::{cmds, ok, text};
use tandem_tests::{Flavor, ServerProcess};

#[test]
fn a_slow_command_is_sampled_and_reported() {
    for flavor in [Flavor::Redis, Flavor::Tandem] {
        let server = ServerProcess::start(flavor, &["--enable-debug-command", "yes"]).unwrap();
        let mut c = server.connect().unwrap();
        ok(
            &mut c,
            &["CONFIG", "SET", "latency-monitor-threshold", "40"],
        );
        ok(&mut c, &["DEBUG", "SLEEP", "0.1"]);
        let latest = cmds(&mut c, &["LATENCY", "LATEST"]);
        assert_eq!(latest.children.len(), 1, "{flavor:?}: {latest:?}");
        let row = &latest.children[0].children;
        assert_eq!(text(&row[0]), "command", "{flavor:?}");
        let last = row[2].as_integer().unwrap();
        let max = row[3].as_integer().unwrap();
        assert!(last >= 100 && max >= last, "{flavor:?}: {row:?}");
        let history = cmds(&mut c, &["LATENCY", "HISTORY", "command"]);
        assert_eq!(history.children.len(), 1, "{flavor:?}");
        assert_eq!(history.children[0].children[1].as_integer(), Some(last));
        let doctor = text(&cmds(&mut c, &["LATENCY", "DOCTOR"]));
        assert!(
            doctor.starts_with("Dave, I have observed latency spikes in this Redis instance.")
                && doctor.contains(&format!(
                    "1. command: 1 latency spikes (average {last}ms, mean deviation 0ms, period "
                ))
                && doctor.contains(&format!(" sec). Worst all time event {max}ms.\n"))
                && doctor.contains("\nI have a few advices for you:\n\n"),
            "{flavor:?}: {doctor}"
        );
        let graph = text(&cmds(&mut c, &["LATENCY", "GRAPH", "command"]));
        assert!(
            graph.starts_with(&format!(
                "command - high {last} ms, low {last} ms (all time high {max} ms)\n{}\n \n \n \n_\n \n",
                "-".repeat(80)
            )),
            "{flavor:?}: {graph}"
        );
        assert_eq!(cmds(&mut c, &["LATENCY", "RESET"]).as_integer(), Some(1));
        assert!(cmds(&mut c, &["LATENCY", "LATEST"]).children.is_empty());
    }
}

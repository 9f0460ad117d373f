//! The floors guard: crates depend only on crates on lower floors.
//!
//! DESIGN.md stacks the workspace crates on floors (`resp`, `rdb`, `backlog` on
//! floor 1 up to `server` on floor 5). A crate may depend only on crates of a
//! strictly lower floor: no cycles, no reaching up, and the two floor-4 roles
//! (`master`, `replica`) never see each other. This module reads
//! `cargo metadata --no-deps`, maps every `tandem-<name>` package to its floor
//! with [`FLOORS`], and reports each dependency that breaks the rule.
//!
//! The rule covers normal, build *and* dev dependencies: a crate's tests may use
//! lower floors only. The one exception is the integration-test package
//! `tandem-tests`, which sits above every floor: it may depend on anything and
//! nothing may depend on it.
//!
//! Like rust-analyzer's tidy checks, this is an ordinary `#[test]`
//! ([`tests::workspace_respects_floors`]) so `cargo test` enforces it; `cargo
//! xtask floors` runs the same check and prints the table.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::util;

/// Every crate of the workspace (folder under `crates/`, package `tandem-<folder>`)
/// and its floor. A new crate must be added here (and to the CI matrix in
/// `.github/workflows/ci.yml`, which the tidy test checks).
pub const FLOORS: &[(&str, u32)] = &[
    ("resp", 1),
    ("rdb", 1),
    ("backlog", 1),
    ("keyspace", 2),
    ("commands", 3),
    ("master", 4),
    ("replica", 4),
    ("server", 5),
];

/// The integration-test package: above every floor, may depend on anything.
pub const TESTS_PACKAGE: &str = "tandem-tests";

/// Prefix of every Tandem package name.
const PREFIX: &str = "tandem-";

/// The floor of a `tandem-*` package name, if it is a known crate.
pub fn floor_of(package: &str) -> Option<u32> {
    let short = package.strip_prefix(PREFIX)?;
    FLOORS
        .iter()
        .find(|(name, _)| *name == short)
        .map(|&(_, f)| f)
}

/// `cargo xtask floors`: check the real workspace, print the layering, fail on violations.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask floors` takes no arguments (got `{arg}`)");
    }
    let meta = util::cargo_metadata()?;
    let report = check(&meta, &util::project_root())?;
    for line in &report.layout {
        println!("{line}");
    }
    if report.violations.is_empty() {
        println!("floors: ok ({} crates checked)", report.layout.len());
        Ok(())
    } else {
        for v in &report.violations {
            eprintln!("floors: {v}");
        }
        bail!("{} floor violation(s)", report.violations.len())
    }
}

/// Outcome of [`check`].
#[derive(Debug, Default)]
pub struct Report {
    /// One line per checked package: `floor N  tandem-x -> deps`.
    pub layout: Vec<String>,
    /// Human-readable rule violations; empty when the workspace is fine.
    pub violations: Vec<String>,
}

/// Where a package sits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Level {
    Floor(u32),
    /// `tandem-tests`: above every floor.
    Top,
}

/// Checks the packages of a `cargo metadata` document. `root` is the workspace
/// root, used to tell which packages live under `crates/`.
pub fn check(meta: &Value, root: &Path) -> Result<Report> {
    let packages = meta["packages"]
        .as_array()
        .context("`cargo metadata`: no packages array")?;
    let crates_dir = root.join("crates");
    let mut report = Report::default();
    let mut rows = Vec::new();

    for pkg in packages {
        let name = pkg["name"]
            .as_str()
            .context("`cargo metadata`: package without a name")?;
        let manifest = PathBuf::from(
            pkg["manifest_path"]
                .as_str()
                .with_context(|| format!("`cargo metadata`: {name} has no manifest_path"))?,
        );
        let dir = manifest.parent().unwrap_or(Path::new("")).to_path_buf();
        let under_crates = dir.parent() == Some(crates_dir.as_path());

        let level = if name == TESTS_PACKAGE {
            Level::Top
        } else if let Some(floor) = floor_of(name) {
            let expected = crates_dir.join(&name[PREFIX.len()..]);
            if dir != expected {
                report.violations.push(format!(
                    "{name} must live in {} (found {})",
                    expected.display(),
                    dir.display()
                ));
            }
            Level::Floor(floor)
        } else if name.starts_with(PREFIX) || under_crates {
            report.violations.push(format!(
                "{name} ({}) is not a known crate: crates live in crates/<name> as package \
                 tandem-<name>; add <name> with its floor to FLOORS in xtask/src/floors.rs \
                 and to the CI matrix",
                dir.display()
            ));
            continue;
        } else {
            // Not a Tandem crate (xtask, tools): not layered.
            continue;
        };

        let mut deps = Vec::new();
        for dep in pkg["dependencies"].as_array().into_iter().flatten() {
            let Some(dep_name) = dep["name"].as_str() else {
                continue;
            };
            if !dep_name.starts_with(PREFIX) {
                continue;
            }
            let kind = dep["kind"].as_str().unwrap_or("normal");
            if dep_name == name && kind == "dev" {
                // A crate may dev-depend on itself (to turn features on in tests).
                continue;
            }
            deps.push(dep_name.to_owned());
            if let Some(v) = violation(name, level, dep_name, kind) {
                report.violations.push(v);
            }
        }
        deps.sort();
        deps.dedup();
        let floor = match level {
            Level::Floor(f) => f.to_string(),
            Level::Top => "top".to_owned(),
        };
        let line = if deps.is_empty() {
            format!("floor {floor:>3}  {name}")
        } else {
            format!("floor {floor:>3}  {name} -> {}", deps.join(", "))
        };
        rows.push((level_key(level), line));
    }
    rows.sort();
    report.layout = rows.into_iter().map(|(_, line)| line).collect();
    Ok(report)
}

fn level_key(level: Level) -> u32 {
    match level {
        Level::Floor(f) => f,
        Level::Top => u32::MAX,
    }
}

/// The rule for one dependency edge `from -> to` of the given kind.
fn violation(from: &str, level: Level, to: &str, kind: &str) -> Option<String> {
    if to == TESTS_PACKAGE {
        return Some(format!(
            "{from} has a {kind} dependency on {TESTS_PACKAGE}: nothing may depend on the \
             integration-test package"
        ));
    }
    let Some(to_floor) = floor_of(to) else {
        return Some(format!(
            "{from} has a {kind} dependency on {to}, which is not a known crate \
             (add it to FLOORS in xtask/src/floors.rs)"
        ));
    };
    match level {
        Level::Top => None,
        Level::Floor(from_floor) if to_floor < from_floor => None,
        Level::Floor(from_floor) => Some(format!(
            "{from} (floor {from_floor}) has a {kind} dependency on {to} (floor {to_floor}): \
             a crate may only depend on crates of a lower floor"
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    const ROOT: &str = "/ws";

    fn pkg(name: &str, dir: &str, deps: &[(&str, Option<&str>)]) -> Value {
        let deps: Vec<Value> = deps
            .iter()
            .map(|(n, kind)| json!({ "name": n, "kind": kind }))
            .collect();
        json!({
            "name": name,
            "manifest_path": format!("{ROOT}/{dir}/Cargo.toml"),
            "dependencies": deps,
        })
    }

    fn violations(packages: Vec<Value>) -> Vec<String> {
        let meta = json!({ "packages": packages });
        check(&meta, Path::new(ROOT)).unwrap().violations
    }

    #[test]
    fn downward_dependencies_are_fine() {
        let v = violations(vec![
            pkg("tandem-resp", "crates/resp", &[("nom", None)]),
            pkg(
                "tandem-keyspace",
                "crates/keyspace",
                &[("tandem-rdb", None)],
            ),
            pkg(
                "tandem-server",
                "crates/server",
                &[
                    ("tandem-master", None),
                    ("tandem-replica", None),
                    ("tandem-resp", Some("dev")),
                    ("tandem-resp", Some("build")),
                ],
            ),
            pkg("xtask", "xtask", &[("anyhow", None)]),
        ]);
        assert!(v.is_empty(), "{v:?}");
    }

    #[test]
    fn same_floor_and_upward_dependencies_fail() {
        let v = violations(vec![
            pkg(
                "tandem-master",
                "crates/master",
                &[("tandem-replica", None)],
            ),
            pkg(
                "tandem-resp",
                "crates/resp",
                &[("tandem-server", Some("build"))],
            ),
        ]);
        assert_eq!(v.len(), 2, "{v:?}");
        assert!(v[0].contains("tandem-master (floor 4)"), "{v:?}");
        assert!(v[1].contains("build dependency on tandem-server"), "{v:?}");
    }

    #[test]
    fn dev_dependencies_must_also_go_down() {
        let v = violations(vec![pkg(
            "tandem-rdb",
            "crates/rdb",
            &[
                ("tandem-keyspace", Some("dev")),
                ("tandem-rdb", Some("dev")),
            ],
        )]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("dev dependency on tandem-keyspace"), "{v:?}");
    }

    #[test]
    fn the_tests_package_may_use_everything_but_nobody_uses_it() {
        let v = violations(vec![
            pkg(
                "tandem-tests",
                "tests",
                &[("tandem-server", Some("dev")), ("tandem-resp", None)],
            ),
            pkg(
                "tandem-server",
                "crates/server",
                &[("tandem-tests", Some("dev"))],
            ),
        ]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].contains("nothing may depend"), "{v:?}");
    }

    #[test]
    fn unknown_and_misplaced_crates_fail() {
        let v = violations(vec![
            pkg("tandem-cluster", "crates/cluster", &[]),
            pkg("helper", "crates/helper", &[]),
            pkg("tandem-resp", "crates/protocol", &[("tandem-lzf", None)]),
        ]);
        assert_eq!(v.len(), 4, "{v:?}");
        assert!(v[0].contains("tandem-cluster"), "{v:?}");
        assert!(v[1].contains("helper"), "{v:?}");
        assert!(v[2].contains("must live in"), "{v:?}");
        assert!(
            v[3].contains("tandem-lzf, which is not a known crate"),
            "{v:?}"
        );
    }

    #[test]
    fn floor_table_is_consistent() {
        for (i, (name, floor)) in FLOORS.iter().enumerate() {
            assert!((1..=5).contains(floor), "{name}");
            assert!(
                !FLOORS[..i].iter().any(|(other, _)| other == name),
                "{name} listed twice"
            );
        }
        assert_eq!(floor_of("tandem-server"), Some(5));
        assert_eq!(floor_of("tandem-tests"), None);
        assert_eq!(floor_of("resp"), None);
    }

    /// The real workspace obeys the floors (the check `cargo xtask test` runs).
    #[test]
    fn workspace_respects_floors() {
        let meta = util::cargo_metadata().unwrap();
        let report = check(&meta, &util::project_root()).unwrap();
        assert!(
            report.violations.is_empty(),
            "floor violations:\n{}",
            report.violations.join("\n")
        );
    }
}

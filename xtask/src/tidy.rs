//! Tidy checks: repository conventions enforced as ordinary tests.
//!
//! In rust-analyzer's style, rules that are easy to forget but cheap to check
//! live here as `#[test]`s, so `cargo test` (and therefore `cargo xtask test`
//! and CI) fails as soon as one is broken. The rules:
//!
//! * every crate under `crates/` has a `Cargo.toml` and a `README.md`;
//! * its root file(s), `src/lib.rs` and/or `src/main.rs`, open with `//!` docs
//!   and carry `#![forbid(unsafe_code)]`, or `#![deny(unsafe_code)]` when one of its
//!   modules has a measured need for `unsafe`;
//! * a module that allows `unsafe_code` states its invariant in its `//!` docs (a
//!   line with `Invariant`), and every `unsafe` block in it follows a `// SAFETY:`
//!   comment;
//! * the `crate` job matrix in `.github/workflows/ci.yml` lists exactly the
//!   crates under `crates/` (the integration-test package `crates/tests`, if
//!   present, runs in the `integration` job instead).
//!
//! `cargo xtask tidy` runs the same checks outside of `cargo test`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

use crate::util;

/// Folder of the integration-test package when it lives under `crates/`.
const TESTS_DIR: &str = "tests";

/// `cargo xtask tidy`.
pub fn run(args: &[String]) -> Result<()> {
    if let Some(arg) = args.first() {
        bail!("`cargo xtask tidy` takes no arguments (got `{arg}`)");
    }
    let problems = check(&util::project_root())?;
    if problems.is_empty() {
        println!("tidy: ok");
        return Ok(());
    }
    for p in &problems {
        eprintln!("tidy: {p}");
    }
    bail!("{} tidy problem(s)", problems.len())
}

/// All tidy problems of the workspace at `root`.
pub fn check(root: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let crates = crate_dirs(root)?;
    for name in &crates {
        check_crate(&root.join("crates").join(name), name, &mut problems);
    }
    check_root_file(&root.join("xtask/src/main.rs"), "xtask", &mut problems);
    check_ci_matrix(root, &crates, &mut problems)?;
    Ok(problems)
}

/// Names of the folders under `crates/`.
fn crate_dirs(root: &Path) -> Result<BTreeSet<String>> {
    let dir = root.join("crates");
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            names.insert(entry.file_name().to_string_lossy().into_owned());
        }
    }
    Ok(names)
}

fn check_crate(dir: &Path, name: &str, problems: &mut Vec<String>) {
    if !dir.join("Cargo.toml").is_file() {
        problems.push(format!("crates/{name}: no Cargo.toml"));
        return;
    }
    if !dir.join("README.md").is_file() {
        problems.push(format!(
            "crates/{name}: no README.md (say what the crate is for and show a short example)"
        ));
    }
    let roots: Vec<_> = ["src/lib.rs", "src/main.rs"]
        .iter()
        .map(|file| dir.join(file))
        .filter(|path| path.is_file())
        .collect();
    // The integration-test package may consist of `tests/` only.
    if roots.is_empty() && name != TESTS_DIR {
        problems.push(format!("crates/{name}: neither src/lib.rs nor src/main.rs"));
    }
    for path in roots {
        check_root_file(&path, &format!("crates/{name}"), problems);
    }
    let mut sources = Vec::new();
    rust_files(&dir.join("src"), &mut sources);
    for path in sources {
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let shown = path
            .strip_prefix(dir)
            .unwrap_or(&path)
            .display()
            .to_string();
        problems
            .extend(unsafe_module_problems(&text).map(|p| format!("crates/{name}/{shown}: {p}")));
    }
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A module that allows `unsafe_code` must document its invariant and justify each
/// `unsafe` block with a `// SAFETY:` comment just above it.
fn unsafe_module_problems(text: &str) -> impl Iterator<Item = &'static str> {
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    let allows = lines
        .iter()
        .any(|l| l.replace(' ', "").contains("allow(unsafe_code)"));
    let mut problems = Vec::new();
    if allows {
        if !lines
            .iter()
            .any(|l| l.starts_with("//!") && l.contains("Invariant"))
        {
            problems.push("allows unsafe_code without an `Invariant` in its `//!` docs");
        }
        let unjustified = lines.iter().enumerate().any(|(i, l)| {
            l.contains("unsafe {")
                && !lines[i.saturating_sub(4)..i]
                    .iter()
                    .any(|above| above.starts_with("// SAFETY:"))
        });
        if unjustified {
            problems.push("an `unsafe` block without a `// SAFETY:` comment above it");
        }
    }
    problems.into_iter()
}

/// A crate root must open with `//!` docs and forbid unsafe code.
fn check_root_file(path: &Path, label: &str, problems: &mut Vec<String>) {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) => {
            problems.push(format!("{label}/src/{file}: cannot read: {err}"));
            return;
        }
    };
    problems.extend(root_file_problems(&text).map(|p| format!("{label}/src/{file}: {p}")));
}

fn root_file_problems(text: &str) -> impl Iterator<Item = &'static str> {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty());
    let documented = first.is_some_and(|l| l.starts_with("//!"));
    let forbids = text.lines().any(|l| {
        let l = l.trim().replace(' ', "");
        l == "#![forbid(unsafe_code)]" || l == "#![deny(unsafe_code)]"
    });
    let mut problems = Vec::new();
    if !documented {
        problems.push("must start with `//!` crate docs");
    }
    if !forbids {
        problems.push("must contain `#![forbid(unsafe_code)]` (or `deny`, see the module docs)");
    }
    problems.into_iter()
}

/// The `crate` matrix of the CI workflow must list every crate under `crates/`.
fn check_ci_matrix(
    root: &Path,
    crates: &BTreeSet<String>,
    problems: &mut Vec<String>,
) -> Result<()> {
    let path = root.join(".github/workflows/ci.yml");
    let text =
        fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let Some(listed) = matrix_crates(&text) else {
        problems.push(
            ".github/workflows/ci.yml: no `crate: [...]` matrix line found in the `crate` job"
                .to_owned(),
        );
        return Ok(());
    };
    for name in crates {
        if name != TESTS_DIR && !listed.contains(name) {
            problems.push(format!(
                ".github/workflows/ci.yml: crate matrix lacks `{name}` (crates/{name})"
            ));
        }
    }
    for name in &listed {
        if !crates.contains(name) {
            problems.push(format!(
                ".github/workflows/ci.yml: crate matrix lists `{name}` but crates/{name} does not exist"
            ));
        }
    }
    Ok(())
}

/// Parses the first `crate: [a, b, ...]` line of a workflow file.
fn matrix_crates(workflow: &str) -> Option<BTreeSet<String>> {
    let line = workflow
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("crate:") && l.contains('['))?;
    let inner = line.split_once('[')?.1.split_once(']')?.0;
    Some(
        inner
            .split(',')
            .map(|s| s.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn root_file_rules() {
        let good = "//! Docs.\n#![forbid(unsafe_code)]\nfn main() {}\n";
        assert_eq!(root_file_problems(good).count(), 0);
        let undocumented = "#![forbid(unsafe_code)]\n//! Docs.\n";
        assert_eq!(root_file_problems(undocumented).count(), 1);
        let unsafe_allowed = "\n//! Docs.\nfn main() {}\n";
        assert_eq!(root_file_problems(unsafe_allowed).count(), 1);
        assert_eq!(root_file_problems("").count(), 2);
        let denies = "//! Docs.\n#![deny(unsafe_code)]\n";
        assert_eq!(root_file_problems(denies).count(), 0);
    }

    #[test]
    fn unsafe_module_rules() {
        let plain = "//! Docs.\nfn f() {}\n";
        assert_eq!(unsafe_module_problems(plain).count(), 0);
        let good =
            "//! Invariant: x.\n#![allow(unsafe_code)]\n// SAFETY: x.\nlet r = unsafe { &*p };\n";
        assert_eq!(unsafe_module_problems(good).count(), 0);
        let bare = "//! Docs.\n#![allow(unsafe_code)]\nlet r = unsafe { &*p };\n";
        assert_eq!(unsafe_module_problems(bare).count(), 2);
    }

    #[test]
    fn matrix_line_is_parsed() {
        let yml = "jobs:\n  crate:\n    strategy:\n      matrix:\n        crate: [resp, \"server\"]  # comment\n";
        let got = matrix_crates(yml).unwrap();
        assert_eq!(got.into_iter().collect::<Vec<_>>(), ["resp", "server"]);
        assert!(matrix_crates("jobs: {}\n").is_none());
    }

    /// Every crate is documented, forbids unsafe code and is built by CI.
    #[test]
    fn workspace_is_tidy() {
        let problems = check(&util::project_root()).unwrap();
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }
}

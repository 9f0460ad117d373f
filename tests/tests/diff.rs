//! Differential test: every corpus in `tests/diff/*.txt` is played against a
//! fresh redis-server and a fresh tandem-server (same arguments, from the
//! corpus's `# args:` line) and every reply must match byte for byte after the
//! normalisations of `tandem_tests::normalize`.
//!
//! Corpora run in parallel (a few at a time), one server pair each.
//! `TANDEM_DIFF_ONLY=ping,client` restricts the run to files whose name
//! contains one of the given words. `TANDEM_SERVER_BIN=/usr/bin/redis-server`
//! runs redis-vs-redis, which every corpus must pass. `TANDEM_DIFF_TRACE=1`
//! prints every step with both outcomes (use `--nocapture`).
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Mutex;
use std::thread;

use tandem_tests::{run_corpus_traced, Corpus, Flavor, Mismatch, ServerProcess};

/// How many corpora run at once.
const PARALLEL: usize = 4;

fn corpus_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("diff");
    let only: Vec<String> = std::env::var("TANDEM_DIFF_ONLY")
        .map(|v| v.split(',').map(str::to_owned).collect())
        .unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "txt"))
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            only.is_empty() || only.iter().any(|w| name.contains(w.as_str()))
        })
        .collect();
    files.sort();
    files
}

/// Parses and runs one corpus file; `Err` for harness failures (not mismatches).
fn run_file(path: &PathBuf) -> Result<Vec<Mismatch>, String> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    let corpus = Corpus::parse(&name, &text).map_err(|e| e.to_string())?;
    let redis =
        ServerProcess::start(Flavor::Redis, &corpus.args).map_err(|e| format!("{name}: {e}"))?;
    let tandem =
        ServerProcess::start(Flavor::Tandem, &corpus.args).map_err(|e| format!("{name}: {e}"))?;
    let trace = std::env::var_os("TANDEM_DIFF_TRACE").is_some();
    let mut transcript = String::new();
    let mut corpus_bugs = Vec::new();
    let mismatches = run_corpus_traced(&corpus, &redis, &tandem, |step, expected, got| {
        if expected.contains("(timeout") || expected.contains("(error:") {
            corpus_bugs.push(format!(
                "{name}:{}: {}: redis itself gave {expected} (wrong `# replies:`?)",
                step.line, step.source
            ));
        }
        if trace {
            let mark = if expected == got { "  " } else { "!=" };
            transcript.push_str(&format!(
                "{name}:{} {mark} {}\n    redis:  {expected}\n    tandem: {got}\n",
                step.line, step.source
            ));
        }
    });
    if trace {
        eprint!("{transcript}");
    }
    if !corpus_bugs.is_empty() {
        return Err(corpus_bugs.join("\n"));
    }
    Ok(mismatches)
}

#[test]
fn corpora_match_redis() {
    let files = corpus_files();
    assert!(!files.is_empty(), "no corpus files found");
    let queue = Mutex::new(files.clone());
    let results = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..PARALLEL.min(files.len()) {
            s.spawn(|| loop {
                let Some(path) = queue.lock().unwrap().pop() else {
                    return;
                };
                let r = run_file(&path);
                results.lock().unwrap().push((path, r));
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));

    let mut failures = Vec::new();
    let mut total = 0;
    for (path, result) in &results {
        let name = path.file_name().unwrap().to_string_lossy();
        match result {
            Ok(m) if m.is_empty() => eprintln!("ok    {name}"),
            Ok(m) => {
                eprintln!("FAIL  {name}: {} mismatching step(s)", m.len());
                total += m.len();
                for mismatch in m {
                    failures.push(mismatch.to_string());
                }
            }
            Err(e) => {
                eprintln!("ERROR {name}");
                failures.push(format!("{name}: harness error: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{total} mismatch(es) in {} corpus file(s):\n\n{}",
        results.len(),
        failures.join("\n\n")
    );
}

//! The differential runner: plays one [`Corpus`] against a reference server and
//! a candidate server in lockstep and collects every step whose outcome differs.
//!
//! The outcome of a step is the list of what was read for it, each item being
//! a reply (normalised by [`crate::normalize`] when a rule matches the
//! command), `connection closed`, or `timeout`; for steps with a probe
//! (see [`crate::corpus`]) the probe's reply is appended. Outcomes are
//! rendered as escaped text and compared as strings, so the report shows
//! exactly what differed.
//!
//! A connection that was closed, timed out or broke is dropped; the next step
//! on it opens a fresh one.

use std::collections::HashMap;
use std::fmt;
use std::io::ErrorKind;
use std::net::SocketAddr;

use crate::corpus::{Corpus, Step, StepAction};
use crate::normalize::{self, Normalizer};
use crate::resp::{escape, Reply, RespConn};
use crate::server::ServerProcess;
use crate::HarnessError;

/// One step whose outcome differs between the two servers.
#[derive(Clone, Debug)]
pub struct Mismatch {
    /// Corpus file name.
    pub file: String,
    /// 1-based line in the corpus.
    pub line: usize,
    /// The corpus line.
    pub source: String,
    /// The normaliser applied to both replies, if any.
    pub normalizer: Option<&'static str>,
    /// What the reference server produced (rendered).
    pub expected: String,
    /// What the candidate produced (rendered).
    pub got: String,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}:{}: {}", self.file, self.line, self.source)?;
        if let Some(n) = self.normalizer {
            writeln!(f, "  (normalised: {n})")?;
        }
        let (expected, got) = around_first_difference(&self.expected, &self.got);
        writeln!(f, "  expected (redis): {expected}")?;
        write!(f, "  got (tandem):     {got}")
    }
}

/// Longest rendered outcome shown in full; longer ones are cut to a window
/// around the first differing character (the transcript mode shows all).
const SHOW_FULL: usize = 400;

/// Drops the digits of RESP length headers (`$12`, `*3`, `%2` ...) from a
/// rendering, so that the first difference shown is in the content.
fn elide_lengths(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    let mut at_header = true;
    while let Some(c) = rest.chars().next() {
        rest = &rest[c.len_utf8()..];
        out.push(c);
        if at_header && "$*%=~>|!".contains(c) {
            rest = rest.trim_start_matches(|d: char| d.is_ascii_digit() || d == '-');
        }
        at_header = c == '"' || out.ends_with("\\r\\n");
    }
    out
}

/// Cuts two long renderings to a window around their first difference
/// (length headers elided).
fn around_first_difference(a: &str, b: &str) -> (String, String) {
    if a.len() <= SHOW_FULL && b.len() <= SHOW_FULL {
        return (a.to_owned(), b.to_owned());
    }
    let (a, b) = (&elide_lengths(a), &elide_lengths(b));
    let common = a
        .char_indices()
        .zip(b.chars())
        .find(|((_, ca), cb)| ca != cb)
        .map_or(a.len().min(b.len()), |((i, _), _)| i);
    let cut = |s: &str| {
        let mut start = common.saturating_sub(120);
        while !s.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = (common + 240).min(s.len());
        while !s.is_char_boundary(end) {
            end += 1;
        }
        format!(
            "{}{}{} ({} chars with lengths elided; first difference at char {common})",
            if start > 0 { "..." } else { "" },
            &s[start..end],
            if end < s.len() { "..." } else { "" },
            s.len()
        )
    };
    (cut(a), cut(b))
}

/// One item read for a step.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Outcome {
    Reply(Vec<u8>),
    Probe(Vec<u8>),
    Closed,
    Timeout(String),
    Broken(String),
}

fn render(outcomes: &[Outcome]) -> String {
    if outcomes.is_empty() {
        return "(nothing read)".to_owned();
    }
    outcomes
        .iter()
        .map(|o| match o {
            Outcome::Reply(b) => escape(b),
            Outcome::Probe(b) => format!("[probe PING] {}", escape(b)),
            Outcome::Closed => "(connection closed)".to_owned(),
            Outcome::Timeout(partial) => format!("(timeout; partial {partial})"),
            Outcome::Broken(e) => format!("(error: {e})"),
        })
        .collect::<Vec<_>>()
        .join(" ++ ")
}

/// The connections of one server, by corpus connection name.
struct Session {
    addr: SocketAddr,
    conns: HashMap<String, RespConn>,
}

fn is_closed_error(e: &HarnessError) -> bool {
    matches!(e, HarnessError::Io { source, .. } if matches!(
        source.kind(),
        ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
    ))
}

impl Session {
    fn new(addr: SocketAddr) -> Self {
        Session {
            addr,
            conns: HashMap::new(),
        }
    }

    fn run(&mut self, step: &Step, norm: Option<&Normalizer>) -> Vec<Outcome> {
        let bytes = match &step.action {
            StepAction::Reconnect => {
                self.conns.remove(&step.conn);
                return Vec::new();
            }
            StepAction::Command(args) => crate::resp::encode_command(args),
            StepAction::Raw(bytes) => bytes.clone(),
        };
        let mut conn = match self.conns.remove(&step.conn) {
            Some(c) => c,
            None => match RespConn::connect(self.addr) {
                Ok(c) => c,
                Err(e) => return vec![Outcome::Broken(e.to_string())],
            },
        };
        let mut out = Vec::new();
        if let Err(e) = conn.send_raw(&bytes) {
            out.push(if is_closed_error(&e) {
                Outcome::Closed
            } else {
                Outcome::Broken(e.to_string())
            });
            return out;
        }
        for _ in 0..step.replies {
            match read(&mut conn) {
                Ok(Some(mut frame)) => {
                    if let Some(n) = norm {
                        normalize::apply(n, &mut frame);
                    }
                    if let Some(mode) = step.sort {
                        normalize::sort_reply(mode, &mut frame);
                    }
                    out.push(Outcome::Reply(frame.to_bytes()));
                }
                Ok(None) => {
                    out.push(Outcome::Closed);
                    return out;
                }
                Err(o) => {
                    out.push(o);
                    return out;
                }
            }
        }
        if step.probe {
            if let Err(e) = conn.send(&["PING"]) {
                out.push(if is_closed_error(&e) {
                    Outcome::Closed
                } else {
                    Outcome::Broken(e.to_string())
                });
                return out;
            }
            match read(&mut conn) {
                Ok(Some(frame)) => out.push(Outcome::Probe(frame.to_bytes())),
                Ok(None) => {
                    out.push(Outcome::Closed);
                    return out;
                }
                Err(o) => {
                    out.push(o);
                    return out;
                }
            }
        }
        self.conns.insert(step.conn.clone(), conn);
        out
    }
}

/// Reads one reply: `Ok(None)` when the peer closed, `Err` with the outcome to
/// record when the connection is unusable.
fn read(conn: &mut RespConn) -> Result<Option<crate::resp::Frame>, Outcome> {
    match conn.read_reply() {
        Ok(Reply::Frame(f)) => Ok(Some(f)),
        Ok(Reply::Closed) => Ok(None),
        Err(HarnessError::Timeout(partial)) => Err(Outcome::Timeout(partial)),
        Err(e) if is_closed_error(&e) => Ok(None),
        Err(e) => Err(Outcome::Broken(e.to_string())),
    }
}

/// Seconds into a wall-clock minute after which `# align: minute` waits for the next one:
/// a corpus then has at least 10 s before the boundary (they take well under a second).
const ALIGN_LATEST_SECOND: u64 = 50;

/// Sleeps until the wall clock is in the first [`ALIGN_LATEST_SECOND`] seconds of a minute
/// (at most 10 s).
fn wait_for_early_minute() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let into_minute = now.as_millis() % 60_000;
    if into_minute > u128::from(ALIGN_LATEST_SECOND) * 1000 {
        let wait = 60_000 - into_minute + 100;
        std::thread::sleep(std::time::Duration::from_millis(
            u64::try_from(wait).unwrap_or(0),
        ));
    }
}

/// Runs `corpus` against both servers in lockstep; returns the differing steps.
pub fn run_corpus(
    corpus: &Corpus,
    reference: &ServerProcess,
    candidate: &ServerProcess,
) -> Vec<Mismatch> {
    run_corpus_traced(corpus, reference, candidate, |_, _, _| {})
}

/// [`run_corpus`], calling `trace(step, expected, got)` after every step
/// (with the rendered outcomes), e.g. to print a transcript.
pub fn run_corpus_traced(
    corpus: &Corpus,
    reference: &ServerProcess,
    candidate: &ServerProcess,
    mut trace: impl FnMut(&Step, &str, &str),
) -> Vec<Mismatch> {
    if corpus.align_minute {
        wait_for_early_minute();
    }
    let mut expected_side = Session::new(reference.addr());
    let mut got_side = Session::new(candidate.addr());
    let mut mismatches = Vec::new();
    for step in &corpus.steps {
        let norm = step.args().and_then(normalize::for_command);
        let expected = render(&expected_side.run(step, norm));
        let got = render(&got_side.run(step, norm));
        trace(step, &expected, &got);
        if expected != got {
            mismatches.push(Mismatch {
                file: corpus.name.clone(),
                line: step.line,
                source: step.source.clone(),
                normalizer: norm.map(|n| n.name),
                expected,
                got,
            });
        }
    }
    mismatches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elides_lengths() {
        let r = escape(b"*2\r\n$3\r\nabc\r\n:12\r\n");
        assert_eq!(elide_lengths(&r), r#""*\r\n$\r\nabc\r\n:12\r\n""#);
    }
}

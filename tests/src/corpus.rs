//! The corpus format of `tests/diff/*.txt` (documented for authors in
//! `tests/diff/README.md`).
//!
//! A corpus is plain text, one step per line:
//!
//! - a command, its arguments split like redis-cli does (`"double quotes"` with
//!   `\n \r \t \b \a \\ \" \xHH` escapes, `'single quotes'` with `\'`), sent as
//!   a multibulk; one reply is read;
//! - blank lines and `#` comments are skipped;
//! - a comment of the form `# name: value` or `# reconnect` is a directive:
//!
//! | directive | meaning |
//! |---|---|
//! | `# args: --opt val ...` | extra server arguments for both servers (only before the first step) |
//! | `# raw: <escaped bytes>` | send these bytes as is (same escapes as in double quotes, no quotes needed) |
//! | `# raw-repeat: <n> <escaped bytes>` | send the bytes repeated `n` times |
//! | `# replies: <n>` | the next step reads `n` replies instead of 1 (0 for `CLIENT REPLY OFF`, a partial raw write, ...) |
//! | `# sort: <mode>` | the next step's replies are compared without order: `elements`, `pairs`, `scan`, `scan-pairs`, `nested`, `count` (see [`SortMode`]) |
//! | `# conn: <name>` | the following steps use connection `name` (default `main`; opened on first use) |
//! | `# reconnect` | drop the current connection; the next step opens a fresh one |
//! | `# align: minute` | start the steps early in a wall-clock minute (only before the first step) |
//!
//! After a raw step and after `QUIT` (when they read at least one reply) the
//! runner sends a probe `PING` and records its reply, or "connection closed":
//! whether the server hung up is part of the comparison.

use crate::{HarnessError, Result};

/// Name of the connection steps use when no `# conn:` directive was seen.
pub const DEFAULT_CONN: &str = "main";

/// A parsed corpus file.
#[derive(Clone, Debug)]
pub struct Corpus {
    /// File name (for messages).
    pub name: String,
    /// Extra server arguments (from `# args:`), applied to both servers.
    pub args: Vec<String>,
    /// The steps in order.
    pub steps: Vec<Step>,
    /// `# align: minute`: the runner starts the steps early in a wall-clock minute, for
    /// corpora that read a minute-resolution clock (the LFU counter's decay), so that no
    /// minute boundary falls between two steps that must see the same minute.
    pub align_minute: bool,
}

/// One step of a corpus.
#[derive(Clone, Debug)]
pub struct Step {
    /// 1-based line number in the corpus file.
    pub line: usize,
    /// The source line (for messages).
    pub source: String,
    /// The connection this step runs on.
    pub conn: String,
    /// What to do.
    pub action: StepAction,
    /// How many replies to read.
    pub replies: usize,
    /// Whether to send a probe `PING` afterwards to see if the server hung up.
    pub probe: bool,
    /// Order-insensitive comparison of this step's replies (`# sort:`).
    pub sort: Option<SortMode>,
}

/// How `# sort:` makes a reply's order irrelevant (for replies in hash-table order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortMode {
    /// `elements`: sort the elements of the reply (SMEMBERS, HKEYS, ...).
    Elements,
    /// `pairs`: sort (field, value) pairs of a flat or map reply (HGETALL, ...).
    Pairs,
    /// `scan`: sort the elements of the second element of a cursor reply (SSCAN, ...).
    Scan,
    /// `scan-pairs`: sort the pairs of the second element of a cursor reply (HSCAN, ZSCAN).
    ScanPairs,
    /// `nested`: sort the elements of every element, then the elements (SINTER of
    /// several replies in an EXEC, XINFO ... with hash-ordered parts).
    Nested,
    /// `count`: compare only the reply's type and its number of elements (SRANDMEMBER,
    /// SPOP with a count, HRANDFIELD: random picks).
    Count,
}

impl SortMode {
    fn parse(s: &str) -> Option<SortMode> {
        Some(match s {
            "elements" => SortMode::Elements,
            "pairs" => SortMode::Pairs,
            "scan" => SortMode::Scan,
            "scan-pairs" => SortMode::ScanPairs,
            "nested" => SortMode::Nested,
            "count" => SortMode::Count,
            _ => return None,
        })
    }
}

/// The action of a [`Step`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StepAction {
    /// Send a command as a multibulk.
    Command(Vec<Vec<u8>>),
    /// Send raw bytes.
    Raw(Vec<u8>),
    /// Drop the connection (a fresh one is opened on next use).
    Reconnect,
}

impl Step {
    /// The command's arguments, if this step is a command.
    pub fn args(&self) -> Option<&[Vec<u8>]> {
        match &self.action {
            StepAction::Command(a) => Some(a),
            _ => None,
        }
    }
}

/// The error of [`split_args`]: unbalanced quotes, or a closing quote not
/// followed by a space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unbalanced quotes")]
pub struct UnbalancedQuotes;

/// Splits a line into arguments the way redis-cli (`sdssplitargs`) does.
pub fn split_args(line: &str) -> std::result::Result<Vec<Vec<u8>>, UnbalancedQuotes> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && b[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Ok(out);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                let Some(&c) = b.get(i) else {
                    return Err(UnbalancedQuotes);
                };
                if c == b'\\' && b.get(i + 1) == Some(&b'x') {
                    if let Some(v) = b.get(i + 2..i + 4).and_then(hex_pair) {
                        cur.push(v);
                        i += 4;
                        continue;
                    }
                }
                if c == b'\\' && i + 1 < b.len() {
                    cur.push(simple_escape(b[i + 1]));
                    i += 2;
                    continue;
                }
                if c == b'"' {
                    if b.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return Err(UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else if in_sq {
                let Some(&c) = b.get(i) else {
                    return Err(UnbalancedQuotes);
                };
                if c == b'\\' && b.get(i + 1) == Some(&b'\'') {
                    cur.push(b'\'');
                    i += 2;
                    continue;
                }
                if c == b'\'' {
                    if b.get(i + 1).is_some_and(|n| !n.is_ascii_whitespace()) {
                        return Err(UnbalancedQuotes);
                    }
                    i += 1;
                    break;
                }
                cur.push(c);
                i += 1;
            } else {
                match b.get(i) {
                    None => break,
                    Some(c) if c.is_ascii_whitespace() => break,
                    Some(b'"') => in_dq = true,
                    Some(b'\'') => in_sq = true,
                    Some(&c) => cur.push(c),
                }
                i += 1;
            }
        }
        out.push(cur);
    }
}

fn hex_pair(h: &[u8]) -> Option<u8> {
    let s = std::str::from_utf8(h).ok()?;
    if s.len() != 2 {
        return None;
    }
    u8::from_str_radix(s, 16).ok()
}

fn simple_escape(c: u8) -> u8 {
    match c {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

/// Unescapes the value of a `# raw:` directive: `\r \n \t \b \a \\ \xHH`
/// (any other `\c` is `c`); everything else is taken literally.
pub fn unescape(text: &str) -> std::result::Result<Vec<u8>, String> {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        match b.get(i + 1) {
            None => return Err("trailing backslash".into()),
            Some(b'x') => {
                let v = b
                    .get(i + 2..i + 4)
                    .and_then(hex_pair)
                    .ok_or_else(|| format!("bad \\x escape at byte {i}"))?;
                out.push(v);
                i += 4;
            }
            Some(&c) => {
                out.push(simple_escape(c));
                i += 2;
            }
        }
    }
    Ok(out)
}

/// Splits `# name: value` / `# name` comments into a directive name and value;
/// `None` for plain comments.
fn directive(comment: &str) -> Option<(&str, &str)> {
    let c = comment.trim();
    if c == "reconnect" {
        return Some(("reconnect", ""));
    }
    let (name, value) = c.split_once(':')?;
    let valid = !name.is_empty()
        && name.as_bytes()[0].is_ascii_lowercase()
        && name
            .bytes()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == b'-');
    valid.then(|| (name, value.trim()))
}

impl Corpus {
    /// Parses corpus text; `name` is used in messages.
    pub fn parse(name: &str, text: &str) -> Result<Corpus> {
        let err = |line: usize, message: String| HarnessError::Corpus {
            file: name.to_owned(),
            line,
            message,
        };
        let mut corpus = Corpus {
            name: name.to_owned(),
            args: Vec::new(),
            steps: Vec::new(),
            align_minute: false,
        };
        let mut conn = DEFAULT_CONN.to_owned();
        let mut pending_replies: Option<(usize, usize)> = None;
        let mut pending_sort: Option<(SortMode, usize)> = None;
        for (idx, raw_line) in text.lines().enumerate() {
            let line_no = idx + 1;
            let line = raw_line.trim();
            if line.is_empty() {
                continue;
            }
            let mut push = |action: StepAction, probe_if_reply: bool| {
                let replies = pending_replies.take().map_or(1, |(n, _)| n);
                let sort = pending_sort.take().map(|(m, _)| m);
                corpus.steps.push(Step {
                    line: line_no,
                    source: line.to_owned(),
                    conn: conn.clone(),
                    action,
                    replies,
                    probe: probe_if_reply && replies > 0,
                    sort,
                });
            };
            if let Some(comment) = line.strip_prefix('#') {
                let Some((name, value)) = directive(comment) else {
                    continue;
                };
                match name {
                    "args" => {
                        if !corpus.steps.is_empty() {
                            return Err(err(line_no, "`# args:` after the first step".into()));
                        }
                        for a in split_args(value).map_err(|e| err(line_no, e.to_string()))? {
                            corpus.args.push(
                                String::from_utf8(a)
                                    .map_err(|_| err(line_no, "args must be UTF-8".into()))?,
                            );
                        }
                    }
                    "align" => {
                        if value != "minute" {
                            return Err(err(line_no, format!("bad alignment `{value}`")));
                        }
                        if !corpus.steps.is_empty() {
                            return Err(err(line_no, "`# align:` after the first step".into()));
                        }
                        corpus.align_minute = true;
                    }
                    "raw" => {
                        let bytes = unescape(value).map_err(|m| err(line_no, m))?;
                        push(StepAction::Raw(bytes), true);
                    }
                    "raw-repeat" => {
                        let (count, what) = value
                            .split_once(' ')
                            .ok_or_else(|| err(line_no, "expected `<n> <bytes>`".into()))?;
                        let count: usize = count
                            .parse()
                            .map_err(|_| err(line_no, format!("bad count `{count}`")))?;
                        let unit = unescape(what.trim_start()).map_err(|m| err(line_no, m))?;
                        push(StepAction::Raw(unit.repeat(count)), true);
                    }
                    "replies" => {
                        let n = value
                            .parse()
                            .map_err(|_| err(line_no, format!("bad reply count `{value}`")))?;
                        pending_replies = Some((n, line_no));
                    }
                    "sort" => {
                        let mode = SortMode::parse(value)
                            .ok_or_else(|| err(line_no, format!("bad sort mode `{value}`")))?;
                        pending_sort = Some((mode, line_no));
                    }
                    "conn" => {
                        if value.is_empty() || value.contains(char::is_whitespace) {
                            return Err(err(line_no, "bad connection name".into()));
                        }
                        value.clone_into(&mut conn);
                    }
                    "reconnect" => push(StepAction::Reconnect, false),
                    other => {
                        return Err(err(
                            line_no,
                            format!(
                                "unknown directive `{other}` (write plain comments without `word:` at the start)"
                            ),
                        ))
                    }
                }
                continue;
            }
            let args = split_args(line).map_err(|e| err(line_no, e.to_string()))?;
            let quit = args
                .first()
                .is_some_and(|a| a.eq_ignore_ascii_case(b"quit"));
            push(StepAction::Command(args), quit);
        }
        if let Some((_, line)) = pending_replies {
            return Err(err(line, "`# replies:` not followed by a step".into()));
        }
        if let Some((_, line)) = pending_sort {
            return Err(err(line, "`# sort:` not followed by a step".into()));
        }
        Ok(corpus)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<String> {
        split_args(s)
            .unwrap()
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect()
    }

    #[test]
    fn splits_like_redis_cli() {
        assert_eq!(split("  set  a   b "), ["set", "a", "b"]);
        assert_eq!(
            split(r#"echo "a b\n\x41\"" 'c\'d' """#),
            ["echo", "a b\nA\"", "c'd", ""]
        );
        assert_eq!(split(r#"a"b c" d"#), ["ab c", "d"]);
        assert_eq!(split_args(r#"echo "abc"#), Err(UnbalancedQuotes));
        assert_eq!(split_args(r#"echo "abc"x"#), Err(UnbalancedQuotes));
        assert_eq!(split_args("echo 'abc"), Err(UnbalancedQuotes));
    }

    #[test]
    fn unescapes_raw() {
        assert_eq!(
            unescape(r"*1\r\n$4\r\nPING\x0d\x0A").unwrap(),
            b"*1\r\n$4\r\nPING\r\n"
        );
        assert!(unescape(r"\x4").is_err());
    }

    #[test]
    fn parses_directives() {
        let text = "# args: --requirepass foo\n# a plain comment\nPING\n# replies: 0\nCLIENT REPLY OFF\n# conn: other\n# raw: PING\\r\\n\nquit\n# reconnect\n";
        let c = Corpus::parse("t.txt", text).unwrap();
        assert_eq!(c.args, ["--requirepass", "foo"]);
        assert_eq!(c.steps.len(), 5);
        assert_eq!(c.steps[0].replies, 1);
        assert!(!c.steps[0].probe);
        assert_eq!(c.steps[1].replies, 0);
        assert_eq!(c.steps[2].conn, "other");
        assert_eq!(c.steps[2].action, StepAction::Raw(b"PING\r\n".to_vec()));
        assert!(c.steps[2].probe);
        assert!(c.steps[3].probe);
        assert_eq!(c.steps[4].action, StepAction::Reconnect);
        assert!(Corpus::parse("t", "PING\n# args: x\n").is_err());
        assert!(Corpus::parse("t", "# rwa: x\n").is_err());
        assert!(
            Corpus::parse("t", "# align: minute\nPING\n")
                .unwrap()
                .align_minute
        );
        assert!(Corpus::parse("t", "# align: hour\nPING\n").is_err());
        assert!(Corpus::parse("t", "PING\n# align: minute\n").is_err());
        assert!(Corpus::parse("t", "# replies: 2\n").is_err());
    }
}

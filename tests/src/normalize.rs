//! The explicit list of reply normalisations applied before two replies are
//! compared.
//!
//! Replies are compared byte for byte, except for values that legitimately
//! differ between two servers started side by side (ids, ports, paths, times,
//! memory figures) or whose order Redis itself randomises (it iterates hash
//! tables seeded at startup). Each [`Normalizer`] names the command it applies
//! to and rewrites the parsed reply ([`Frame`]) of *both* servers the same way:
//! a masked value becomes `<masked>` but keeps its RESP type, so a wrong type
//! is still a mismatch. Error replies are never rewritten.
//!
//! | name | command | what is rewritten |
//! |---|---|---|
//! | `client-id` | `CLIENT ID` | the integer |
//! | `hello-id` | `HELLO` | the value of the `id` field |
//! | `client-fields` | `CLIENT LIST`, `CLIENT INFO` | values of [`CLIENT_MASKED_FIELDS`] |
//! | `info-fields` | `INFO` | every field value except [`INFO_KEPT_VALUES`]; lines sorted inside [`INFO_SORTED_SECTIONS`] |
//! | `time` | `TIME` | both elements |
//! | `command-count` | `COMMAND COUNT` | the integer |
//! | `config-get` | `CONFIG GET` | pairs sorted by name; values of [`CONFIG_MASKED_VALUES`] |
//! | `command-info` | `COMMAND INFO` | subcommand entries sorted by name |
//! | `command-docs` | `COMMAND DOCS` | `subcommands` maps sorted by name |
//! | `keys-sorted` | `KEYS` | the key names sorted (Redis lists them in hash-table order) |
//! | `scan-sorted` | `SCAN` | the key names of the step sorted (the cursor is compared) |
//! | `memory-stats` | `MEMORY STATS` | every value (names kept, nested `db.N` maps too) |
//! | `malloc-stats` | `MEMORY MALLOC-STATS` | the report text |
//! | `function-list` | `FUNCTION LIST` | libraries, and the functions of each, sorted by name (Redis lists them in hash-table order) |
//! | `latency-histogram` | `LATENCY HISTOGRAM` | commands sorted by name; each `histogram_usec` map replaced by one masked value (the calls are compared) |
//! | `acl-rules` | `ACL LIST`, `ACL GETUSER` | the single-command rules of each selector (`+get -hset`, after the `@category` rules) sorted: Redis emits them in its command table's hash order |
//! | `acl-cat` | `ACL CAT` | the names sorted (a category's commands come in hash order) |
//! | `acl-log` | `ACL LOG` | values of `age-seconds` and `client-info` |
//! | `debug-object` | `DEBUG OBJECT` | values of [`DEBUG_OBJECT_MASKED_FIELDS`] |
//!
//! Adding one: write a `fn(&mut Frame)` and add a row to [`NORMALIZERS`] (and
//! to the table above and `tests/diff/README.md`).

use crate::resp::Frame;

/// What a masked value is replaced with.
pub const MASK: &[u8] = b"<masked>";

/// `CLIENT LIST` / `CLIENT INFO` fields whose values are masked.
pub const CLIENT_MASKED_FIELDS: &[&str] = &[
    "id",
    "addr",
    "laddr",
    "fd",
    "age",
    "idle",
    "qbuf",
    "qbuf-free",
    "argv-mem",
    "rbs",
    "rbp",
    "tot-mem",
];

/// `DEBUG OBJECT` fields whose values are masked: the value's address, its access clock,
/// and `serializedlength` (Redis counts LZF-compressed strings, which Tandem does not
/// model). The encoding, refcount and quicklist `ql_*` fields are compared.
pub const DEBUG_OBJECT_MASKED_FIELDS: &[&str] =
    &["at", "lru", "lru_seconds_idle", "serializedlength"];

/// `INFO` fields whose values are still compared.
pub const INFO_KEPT_VALUES: &[&str] = &["redis_version", "redis_mode", "role"];

/// `INFO` sections whose lines Redis emits in hash-table order; sorted before comparing.
pub const INFO_SORTED_SECTIONS: &[&str] = &["# Commandstats", "# Latencystats"];

/// `CONFIG GET` parameters whose values differ between two side-by-side servers.
pub const CONFIG_MASKED_VALUES: &[&str] = &["port", "dir", "pidfile", "logfile"];

/// One normalisation rule.
#[derive(Debug)]
pub struct Normalizer {
    /// Short name shown in mismatch reports.
    pub name: &'static str,
    /// The command (lowercase) this applies to.
    pub command: &'static str,
    /// The subcommand (lowercase), if the rule is specific to one.
    pub subcommand: Option<&'static str>,
    /// The rewrite.
    pub apply: fn(&mut Frame),
}

/// Every normalisation, in the order they are tried (first match wins).
pub static NORMALIZERS: &[Normalizer] = &[
    Normalizer {
        name: "debug-object",
        command: "debug",
        subcommand: Some("object"),
        apply: debug_object_fields,
    },
    Normalizer {
        name: "client-id",
        command: "client",
        subcommand: Some("id"),
        apply: mask_all,
    },
    Normalizer {
        name: "hello-id",
        command: "hello",
        subcommand: None,
        apply: hello_id,
    },
    Normalizer {
        name: "client-fields",
        command: "client",
        subcommand: Some("list"),
        apply: client_fields,
    },
    Normalizer {
        name: "client-fields",
        command: "client",
        subcommand: Some("info"),
        apply: client_fields,
    },
    Normalizer {
        name: "info-fields",
        command: "info",
        subcommand: None,
        apply: info_fields,
    },
    Normalizer {
        name: "time",
        command: "time",
        subcommand: None,
        apply: mask_all,
    },
    Normalizer {
        name: "command-count",
        command: "command",
        subcommand: Some("count"),
        apply: mask_all,
    },
    Normalizer {
        name: "config-get",
        command: "config",
        subcommand: Some("get"),
        apply: config_get,
    },
    Normalizer {
        name: "command-info",
        command: "command",
        subcommand: Some("info"),
        apply: command_info,
    },
    Normalizer {
        name: "command-docs",
        command: "command",
        subcommand: Some("docs"),
        apply: command_docs,
    },
    Normalizer {
        name: "keys-sorted",
        command: "keys",
        subcommand: None,
        apply: sort_elements,
    },
    Normalizer {
        name: "scan-sorted",
        command: "scan",
        subcommand: None,
        apply: scan_sorted,
    },
    Normalizer {
        name: "memory-stats",
        command: "memory",
        subcommand: Some("stats"),
        apply: memory_stats,
    },
    Normalizer {
        name: "function-list",
        command: "function",
        subcommand: Some("list"),
        apply: function_list,
    },
    Normalizer {
        name: "latency-histogram",
        command: "latency",
        subcommand: Some("histogram"),
        apply: latency_histogram,
    },
    Normalizer {
        name: "acl-rules",
        command: "acl",
        subcommand: Some("list"),
        apply: acl_list,
    },
    Normalizer {
        name: "acl-rules",
        command: "acl",
        subcommand: Some("getuser"),
        apply: acl_getuser,
    },
    Normalizer {
        name: "acl-cat",
        command: "acl",
        subcommand: Some("cat"),
        apply: sort_elements,
    },
    Normalizer {
        name: "acl-log",
        command: "acl",
        subcommand: Some("log"),
        apply: acl_log,
    },
    Normalizer {
        name: "malloc-stats",
        command: "memory",
        subcommand: Some("malloc-stats"),
        apply: mask_all,
    },
];

/// The normaliser for a command's reply, if any.
pub fn for_command(args: &[Vec<u8>]) -> Option<&'static Normalizer> {
    let cmd = args.first()?;
    NORMALIZERS.iter().find(|n| {
        cmd.eq_ignore_ascii_case(n.command.as_bytes())
            && n.subcommand.is_none_or(|sub| {
                args.get(1)
                    .is_some_and(|a| a.eq_ignore_ascii_case(sub.as_bytes()))
            })
    })
}

/// Applies `n` to `frame` unless it is an error reply.
pub fn apply(n: &Normalizer, frame: &mut Frame) {
    if !frame.is_error() {
        (n.apply)(frame);
    }
}

/// Masks a scalar value (keeping its type); recurses into aggregates.
pub(crate) fn mask_all(f: &mut Frame) {
    if f.body.is_some() {
        let verbatim_prefix = if f.kind == b'=' {
            f.body.as_ref().and_then(|b| b.get(..4)).map(<[u8]>::to_vec)
        } else {
            None
        };
        let mut body = verbatim_prefix.unwrap_or_default();
        body.extend_from_slice(MASK);
        f.body = Some(body);
    } else if f.children.is_empty() && !f.is_null() && !matches!(f.kind, b'*' | b'%' | b'~' | b'>')
    {
        f.head = MASK.to_vec();
    }
    for c in &mut f.children {
        mask_all(c);
    }
}

/// Keys and values of a map, or of a RESP2 array of alternating keys and values.
fn pairs_mut(f: &mut Frame) -> impl Iterator<Item = (&Frame, &mut Frame)> {
    f.children.chunks_exact_mut(2).map(|pair| {
        let (k, v) = pair.split_at_mut(1);
        (&k[0], &mut v[0])
    })
}

fn sort_pairs(f: &mut Frame) {
    let mut pairs: Vec<(Frame, Frame)> = Vec::new();
    let mut it = std::mem::take(&mut f.children).into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        pairs.push((k, v));
    }
    pairs.sort_by_key(|a| a.0.to_bytes());
    f.children = pairs.into_iter().flat_map(|(k, v)| [k, v]).collect();
}

/// Sorts the elements of an array reply.
fn sort_elements(f: &mut Frame) {
    f.children.sort_by_key(Frame::to_bytes);
}

/// Applies a corpus's `# sort:` directive to a reply (never to an error reply).
pub fn sort_reply(mode: crate::corpus::SortMode, f: &mut Frame) {
    use crate::corpus::SortMode;
    if f.is_error() {
        return;
    }
    match mode {
        SortMode::Elements => sort_elements(f),
        SortMode::Pairs => sort_pairs(f),
        SortMode::Scan => scan_sorted(f),
        SortMode::ScanPairs => {
            if let Some(items) = f.children.get_mut(1) {
                sort_pairs(items);
            }
        }
        SortMode::Nested => {
            for c in &mut f.children {
                sort_elements(c);
            }
            sort_elements(f);
        }
        SortMode::Count => {
            // Aggregates keep their length; a non-null bulk keeps only its presence.
            if f.body.is_some() {
                f.body = Some(b"<random>".to_vec());
                f.head = b"8".to_vec();
            } else if !f.children.is_empty() {
                let n = f.children.len();
                f.children.clear();
                f.head = n.to_string().into_bytes();
            }
        }
    }
}

/// Sorts the key list (second element) of a SCAN reply.
fn scan_sorted(f: &mut Frame) {
    if let Some(keys) = f.children.get_mut(1) {
        sort_elements(keys);
    }
}

fn key_is(k: &Frame, name: &str) -> bool {
    k.text()
        .is_some_and(|t| t.eq_ignore_ascii_case(name.as_bytes()))
}

fn hello_id(f: &mut Frame) {
    for (k, v) in pairs_mut(f) {
        if key_is(k, "id") {
            mask_all(v);
        }
    }
}

/// MEMORY STATS: the figures differ, the names and the shape must not.
fn memory_stats(f: &mut Frame) {
    for (_, v) in pairs_mut(f) {
        if v.children.is_empty() {
            mask_all(v);
        } else {
            for (_, figure) in pairs_mut(v) {
                mask_all(figure);
            }
        }
    }
}

/// FUNCTION LIST: libraries and their functions in hash-table order; each entry is a map
/// whose second value is its name.
fn function_list(f: &mut Frame) {
    let name = |e: &Frame| e.children.get(1).map(Frame::to_bytes);
    for lib in &mut f.children {
        for (k, v) in pairs_mut(lib) {
            if key_is(k, "functions") {
                v.children.sort_by_key(|x| name(x));
            }
        }
    }
    f.children.sort_by_key(|x| name(x));
}

/// LATENCY HISTOGRAM: commands in hash-table order, bucket counts by timing.
fn latency_histogram(f: &mut Frame) {
    sort_pairs(f);
    for (_, stats) in pairs_mut(f) {
        for (k, v) in pairs_mut(stats) {
            if key_is(k, "histogram_usec") {
                *v = Frame::bulk(MASK.to_vec());
            }
        }
    }
}

fn config_get(f: &mut Frame) {
    sort_pairs(f);
    for (k, v) in pairs_mut(f) {
        if CONFIG_MASKED_VALUES.iter().any(|name| key_is(k, name)) {
            mask_all(v);
        }
    }
}

fn command_info(f: &mut Frame) {
    for entry in &mut f.children {
        if let Some(subs) = entry.children.get_mut(9) {
            subs.children.sort_by(|a, b| {
                let name = |e: &Frame| e.children.first().map(Frame::to_bytes);
                name(a).cmp(&name(b))
            });
            command_info(subs);
        }
    }
}

fn command_docs(f: &mut Frame) {
    for (_, doc) in pairs_mut(f) {
        for (k, v) in pairs_mut(doc) {
            if key_is(k, "subcommands") {
                sort_pairs(v);
                command_docs(v);
            }
        }
    }
}

/// Sorts the single-command rules (`+get`, `-config|set`, `+select|0`; not `+@read`) of each
/// selector of an ACL description, keeping every other token in place.
fn sort_command_rules(text: &str) -> String {
    let mut out = Vec::new();
    for (i, selector) in text.split(" (").enumerate() {
        let (body, close) = match selector.strip_suffix(')') {
            Some(b) if i > 0 => (b, ")"),
            _ => (selector, ""),
        };
        let mut tokens: Vec<&str> = body.split(' ').collect();
        let single = |t: &str| {
            (t.starts_with('+') || t.starts_with('-')) && !t[1..].starts_with('@') && t.len() > 1
        };
        let at: Vec<usize> = (0..tokens.len()).filter(|&j| single(tokens[j])).collect();
        let mut sorted: Vec<&str> = at.iter().map(|&j| tokens[j]).collect();
        sorted.sort_by_key(|t| t[1..].to_owned());
        for (j, t) in at.into_iter().zip(sorted) {
            tokens[j] = t;
        }
        out.push(format!("{}{close}", tokens.join(" ")));
    }
    out.join(" (")
}

fn acl_list(f: &mut Frame) {
    for line in &mut f.children {
        map_text(line, sort_command_rules);
    }
}

fn acl_getuser(f: &mut Frame) {
    for (k, v) in pairs_mut(f) {
        if key_is(k, "commands") {
            map_text(v, sort_command_rules);
        } else if key_is(k, "selectors") {
            for selector in &mut v.children {
                acl_getuser(selector);
            }
        }
    }
}

fn acl_log(f: &mut Frame) {
    for entry in &mut f.children {
        for (k, v) in pairs_mut(entry) {
            if key_is(k, "age-seconds") || key_is(k, "client-info") {
                mask_all(v);
            }
        }
    }
}

/// Rewrites the text of a bulk or verbatim reply (a verbatim's `txt:` prefix is kept).
fn map_text(f: &mut Frame, rewrite: fn(&str) -> String) {
    let Some(body) = &f.body else { return };
    let (prefix, text) = if f.kind == b'=' && body.len() >= 4 {
        body.split_at(4)
    } else {
        body.split_at(0)
    };
    let mut out = prefix.to_vec();
    out.extend_from_slice(rewrite(&String::from_utf8_lossy(text)).as_bytes());
    f.body = Some(out);
}

fn debug_object_fields(f: &mut Frame) {
    if f.kind != b'+' {
        return;
    }
    let text = String::from_utf8_lossy(&f.head).into_owned();
    let fields: Vec<String> = text
        .split(' ')
        .map(|field| match field.split_once(':') {
            Some((k, _)) if DEBUG_OBJECT_MASKED_FIELDS.contains(&k) => {
                format!("{k}:{}", String::from_utf8_lossy(MASK))
            }
            _ => field.to_owned(),
        })
        .collect();
    f.head = fields.join(" ").into_bytes();
}

fn client_fields(f: &mut Frame) {
    map_text(f, |text| {
        let lines: Vec<String> = text
            .split('\n')
            .map(|line| {
                line.split(' ')
                    .map(|field| match field.split_once('=') {
                        Some((k, _)) if CLIENT_MASKED_FIELDS.contains(&k) => {
                            format!("{k}={}", String::from_utf8_lossy(MASK))
                        }
                        _ => field.to_owned(),
                    })
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect();
        lines.join("\n")
    });
}

fn info_fields(f: &mut Frame) {
    map_text(f, |text| {
        let mut lines: Vec<String> = Vec::new();
        let mut sort_from: Option<usize> = None;
        let finish = |lines: &mut Vec<String>, from: Option<usize>| {
            if let Some(from) = from {
                lines[from..].sort();
            }
        };
        for line in text.split("\r\n") {
            if line.is_empty() || line.starts_with('#') {
                finish(&mut lines, sort_from.take());
                lines.push(line.to_owned());
                if INFO_SORTED_SECTIONS.contains(&line) {
                    sort_from = Some(lines.len());
                }
                continue;
            }
            let out = match line.split_once(':') {
                Some((k, _)) if INFO_KEPT_VALUES.contains(&k) => line.to_owned(),
                Some((k, _)) => format!("{k}:{}", String::from_utf8_lossy(MASK)),
                None => line.to_owned(),
            };
            lines.push(out);
        }
        finish(&mut lines, sort_from);
        lines.join("\r\n")
    });
}

/// Normalises one MONITOR line (`1700000000.123456 [0 127.0.0.1:54321] "PING"`):
/// the timestamp and the client's port become `<ts>` and `<port>`.
pub fn monitor_line(line: &str) -> String {
    let Some((_ts, rest)) = line.split_once(' ') else {
        return line.to_owned();
    };
    let rest = match rest.split_once(']') {
        Some((client, tail)) => {
            let client = match client.rsplit_once(':') {
                Some((host, _port)) => format!("{host}:<port>"),
                None => client.to_owned(),
            };
            format!("{client}]{tail}")
        }
        None => rest.to_owned(),
    };
    format!("<ts> {rest}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    fn normalized(cmd: &str, wire: &[u8]) -> Vec<u8> {
        let (mut f, _) = Frame::parse(wire).unwrap().unwrap();
        apply(for_command(&args(cmd)).unwrap(), &mut f);
        f.to_bytes()
    }

    #[test]
    fn picks_rules() {
        assert_eq!(for_command(&args("client ID")).unwrap().name, "client-id");
        assert_eq!(
            for_command(&args("CLIENT list type normal")).unwrap().name,
            "client-fields"
        );
        assert!(for_command(&args("client getname")).is_none());
        assert!(for_command(&args("ping")).is_none());
    }

    #[test]
    fn sorts_single_command_rules_per_selector() {
        assert_eq!(
            sort_command_rules(
                "user u on ~k* resetchannels -@all +@hash +set -hget +get (~x* resetchannels -@all +set +del) (&* +@all)"
            ),
            "user u on ~k* resetchannels -@all +@hash +get -hget +set (~x* resetchannels -@all +del +set) (&* +@all)"
        );
    }

    #[test]
    fn masks_ids_and_keeps_types() {
        assert_eq!(normalized("client id", b":42\r\n"), b":<masked>\r\n");
        assert_eq!(normalized("client id", b"-ERR x\r\n"), b"-ERR x\r\n");
        assert_eq!(
            normalized("hello 3", b"%2\r\n$2\r\nid\r\n:5\r\n$5\r\nproto\r\n:3\r\n"),
            b"%2\r\n$2\r\nid\r\n:<masked>\r\n$5\r\nproto\r\n:3\r\n"
        );
        assert_eq!(
            normalized("time", b"*2\r\n$10\r\n1700000000\r\n$1\r\n5\r\n"),
            b"*2\r\n$8\r\n<masked>\r\n$8\r\n<masked>\r\n"
        );
    }

    #[test]
    fn client_list_fields() {
        let text = "id=6 addr=127.0.0.1:5 laddr=127.0.0.1:7 fd=7 name=x age=0 idle=0 flags=N qbuf=26 cmd=client|list\n";
        let wire = Frame::bulk(text).to_bytes();
        let out = normalized("client list", &wire);
        let (f, _) = Frame::parse(&out).unwrap().unwrap();
        assert_eq!(
            f.as_string().unwrap(),
            "id=<masked> addr=<masked> laddr=<masked> fd=<masked> name=x age=<masked> idle=<masked> flags=N qbuf=<masked> cmd=client|list\n"
        );
    }

    #[test]
    fn info_sections() {
        let text = "# Server\r\nredis_version:7.0.15\r\nprocess_id:1\r\n\r\n# Commandstats\r\ncmdstat_ping:calls=1\r\ncmdstat_info:calls=2\r\n";
        let wire = Frame::bulk(text).to_bytes();
        let out = normalized("info", &wire);
        let (f, _) = Frame::parse(&out).unwrap().unwrap();
        assert_eq!(
            f.as_string().unwrap(),
            "# Server\r\nredis_version:7.0.15\r\nprocess_id:<masked>\r\n\r\n# Commandstats\r\ncmdstat_info:<masked>\r\ncmdstat_ping:<masked>\r\n"
        );
    }

    #[test]
    fn config_get_sorted_and_masked() {
        let wire = b"*4\r\n$4\r\nport\r\n$4\r\n6379\r\n$2\r\nhz\r\n$2\r\n10\r\n";
        assert_eq!(
            normalized("config get *", wire),
            b"*4\r\n$2\r\nhz\r\n$2\r\n10\r\n$4\r\nport\r\n$8\r\n<masked>\r\n"
        );
    }

    #[test]
    fn monitor() {
        assert_eq!(
            monitor_line(r#"1700000000.123456 [0 127.0.0.1:54321] "PING""#),
            r#"<ts> [0 127.0.0.1:<port>] "PING""#
        );
    }
}

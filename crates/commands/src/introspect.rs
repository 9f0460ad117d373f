//! The COMMAND command: COUNT, LIST, INFO, DOCS, GETKEYS, GETKEYSANDFLAGS, HELP.
//!
//! Replies are written from the static table with the same shapes, field order and
//! RESP2/RESP3 types as redis-server 7.0.15 (`addReplyCommandInfo`,
//! `addReplyCommandDocs`, ...). Where Redis iterates a hash table (COMMAND, COMMAND
//! INFO without names, COMMAND DOCS without names, COMMAND LIST, the subcommands of
//! a container) its order is unspecified; Tandem answers in name order.
//!
//! Only the commands of a [`Scope`] are visible: [`Scope::Implemented`] for clients.

use bytes::Bytes;
use tandem_resp::Encoder;

use crate::errors::{
    arity_ok, unknown_command_error_bytes, unknown_subcommand_error_bytes, wrong_arity_error,
};
use crate::glob::string_match;
use crate::keys::{get_keys, has_keys};
use crate::registry::Scope;
use crate::reply::Out;
use crate::spec::{Arg, BeginSearch, CommandSpec, FindKeys, KeySpec};

/// Lines of COMMAND HELP (between Redis's header and its `HELP` footer).
const COMMAND_HELP: &[&str] = &[
    "(no subcommand)",
    "    Return details about all Redis commands.",
    "COUNT",
    "    Return the total number of commands in this Redis server.",
    "LIST",
    "    Return a list of all commands in this Redis server.",
    "INFO [<command-name> ...]",
    "    Return details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple Redis commands.",
    "    If no command names are given, documentation details for all",
    "    commands are returned.",
    "GETKEYS <full-command>",
    "    Return the keys from a full Redis command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full Redis command.",
];

/// The whole COMMAND command for the commands Tandem implements.
/// `args` is the full argv (`args[0]` is `COMMAND`).
pub fn command_command(args: &[Bytes], enc: &mut Encoder<'_>) {
    command_command_in(Scope::Implemented, args, enc);
}

/// The COMMAND command over a chosen part of the table ([`Scope::All`] answers like
/// redis-server itself, which tests use to check the table and key extraction).
pub fn command_command_in(scope: Scope, args: &[Bytes], enc: &mut Encoder<'_>) {
    let mut out = Out::new(enc);
    let Some(container) = scope.lookup(b"command") else {
        out.error(&unknown_command_error_bytes(args));
        return;
    };
    let Some(sub_name) = args.get(1) else {
        let all: Vec<_> = scope.commands().collect();
        out.array(all.len());
        for cmd in all {
            write_info(&mut out, scope, cmd);
        }
        return;
    };
    let argv0 = args.first().map(|a| a.as_ref()).unwrap_or(b"command");
    let Some(sub) = scope.lookup_sub(container, sub_name) else {
        out.error(&unknown_subcommand_error_bytes(argv0, sub_name));
        return;
    };
    if !arity_ok(sub, args.len()) {
        out.error(wrong_arity_error(sub).as_bytes());
        return;
    }
    let rest = &args[2..];
    match sub.name {
        "count" => out.int(i64::try_from(scope.commands().count()).unwrap_or(i64::MAX)),
        "info" => command_info(&mut out, scope, rest),
        "docs" => command_docs(&mut out, scope, rest),
        "list" => command_list(&mut out, scope, rest),
        "getkeys" => command_getkeys(&mut out, scope, rest, false),
        "getkeysandflags" => command_getkeys(&mut out, scope, rest, true),
        "help" => help(&mut out, argv0, COMMAND_HELP),
        _ => out.error(&unknown_subcommand_error_bytes(argv0, sub_name)),
    }
}

/// Writes a `<CMD> HELP` reply as Redis's `addReplyHelp` does: a header naming the
/// command (upper-cased `argv0`), the given lines, and the `HELP` footer, as statuses.
pub fn write_help(enc: &mut Encoder<'_>, argv0: &[u8], lines: &[&str]) {
    help(&mut Out::new(enc), argv0, lines);
}

fn help(out: &mut Out<'_, '_>, argv0: &[u8], lines: &[&str]) {
    let name: String = argv0
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| char::from(c.to_ascii_uppercase()))
        .collect();
    out.array(lines.len() + 3);
    out.status(&format!(
        "{name} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for line in lines {
        out.status(line);
    }
    out.status("HELP");
    out.status("    Prints this help.");
}

fn command_info(out: &mut Out<'_, '_>, scope: Scope, names: &[Bytes]) {
    if names.is_empty() {
        let all: Vec<_> = scope.commands().collect();
        out.array(all.len());
        for cmd in all {
            write_info(out, scope, cmd);
        }
        return;
    }
    out.array(names.len());
    for name in names {
        match scope.lookup_fullname(name) {
            Some(cmd) => write_info(out, scope, cmd),
            None => out.null(),
        }
    }
}

fn command_docs(out: &mut Out<'_, '_>, scope: Scope, names: &[Bytes]) {
    let found: Vec<&'static CommandSpec> = if names.is_empty() {
        scope.commands().collect()
    } else {
        names
            .iter()
            .filter_map(|n| scope.lookup_fullname(n))
            .collect()
    };
    out.map(found.len());
    for cmd in found {
        out.bulk(cmd.full_name.as_bytes());
        write_docs(out, scope, cmd);
    }
}

enum Filter<'a> {
    Module,
    AclCat(&'a [u8]),
    Pattern(&'a [u8]),
}

fn command_list(out: &mut Out<'_, '_>, scope: Scope, opts: &[Bytes]) {
    let mut filter = None;
    let mut i = 0;
    while i < opts.len() {
        let more = opts.len() - 1 - i;
        if opts[i].eq_ignore_ascii_case(b"filterby") && more == 2 {
            let kind = &opts[i + 1];
            let arg = &opts[i + 2][..];
            filter = Some(if kind.eq_ignore_ascii_case(b"module") {
                Filter::Module
            } else if kind.eq_ignore_ascii_case(b"aclcat") {
                Filter::AclCat(arg)
            } else if kind.eq_ignore_ascii_case(b"pattern") {
                Filter::Pattern(arg)
            } else {
                out.error(b"ERR syntax error");
                return;
            });
            i += 3;
        } else {
            out.error(b"ERR syntax error");
            return;
        }
    }
    let mut names: Vec<&'static str> = Vec::new();
    for cmd in scope.commands() {
        let subs = scope.subcommands(cmd);
        for c in std::iter::once(cmd).chain(subs) {
            if filter.as_ref().is_none_or(|f| list_matches(f, c)) {
                names.push(c.full_name);
            }
        }
    }
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
}

fn list_matches(filter: &Filter<'_>, cmd: &CommandSpec) -> bool {
    match filter {
        // Tandem loads no modules.
        Filter::Module => false,
        Filter::AclCat(cat) => {
            let cat = cat.split(|&b| b == 0).next().unwrap_or(b"");
            cmd.acl_categories.iter().any(|c| {
                c.strip_prefix('@')
                    .unwrap_or(c)
                    .as_bytes()
                    .eq_ignore_ascii_case(cat)
            })
        }
        Filter::Pattern(p) => string_match(p, cmd.full_name.as_bytes(), true),
    }
}

fn command_getkeys(out: &mut Out<'_, '_>, scope: Scope, argv: &[Bytes], with_flags: bool) {
    let cmd = argv.first().and_then(|name| {
        let base = scope.lookup(name)?;
        match argv.get(1) {
            Some(sub) if base.is_container() => scope.lookup_sub(base, sub),
            _ => Some(base),
        }
    });
    let Some(cmd) = cmd else {
        out.error(b"ERR Invalid command specified");
        return;
    };
    if !has_keys(cmd) {
        out.error(b"ERR The command has no key arguments");
        return;
    }
    if !arity_ok(cmd, argv.len()) {
        out.error(b"ERR Invalid number of arguments specified for command");
        return;
    }
    let keys = get_keys(cmd, argv);
    if keys.is_empty() {
        if cmd.has_flag("no_mandatory_keys") {
            out.array(0);
        } else {
            out.error(b"ERR Invalid arguments specified for command");
        }
        return;
    }
    out.array(keys.len());
    for k in keys {
        let key = argv.get(k.pos).map(|b| &b[..]).unwrap_or(b"");
        if with_flags {
            out.array(2);
            out.bulk(key);
            let names: Vec<&str> = k.flags.names().collect();
            out.set(names.len());
            for n in names {
                out.status(n);
            }
        } else {
            out.bulk(key);
        }
    }
}

fn statuses(out: &mut Out<'_, '_>, items: &[&str]) {
    out.set(items.len());
    for s in items {
        out.status(s);
    }
}

/// One `COMMAND INFO` entry.
fn write_info(out: &mut Out<'_, '_>, scope: Scope, cmd: &'static CommandSpec) {
    out.array(10);
    out.bulk(cmd.full_name.as_bytes());
    out.int(i64::from(cmd.arity));
    statuses(out, cmd.flags);
    out.int(i64::from(cmd.first_key));
    out.int(i64::from(cmd.last_key));
    out.int(i64::from(cmd.step));
    statuses(out, cmd.acl_categories);
    out.set(cmd.tips.len());
    for t in cmd.tips {
        out.bulk(t.as_bytes());
    }
    out.set(cmd.key_specs.len());
    for ks in cmd.key_specs {
        write_key_spec(out, ks);
    }
    if cmd.is_container() {
        let subs: Vec<_> = scope.subcommands(cmd).collect();
        out.array(subs.len());
        for sub in subs {
            write_info(out, scope, sub);
        }
    } else {
        out.set(0);
    }
}

fn write_key_spec(out: &mut Out<'_, '_>, ks: &KeySpec) {
    out.map(3 + usize::from(ks.notes.is_some()));
    if let Some(notes) = ks.notes {
        out.bulk(b"notes");
        out.bulk(notes.as_bytes());
    }
    out.bulk(b"flags");
    statuses(out, ks.flags);
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match ks.begin_search {
        BeginSearch::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
        BeginSearch::Index(pos) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i64::from(pos));
        }
        BeginSearch::Keyword { keyword, startfrom } => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(keyword.as_bytes());
            out.bulk(b"startfrom");
            out.int(i64::from(startfrom));
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match ks.find_keys {
        FindKeys::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"lastkey");
            out.int(i64::from(lastkey));
            out.bulk(b"keystep");
            out.int(i64::from(keystep));
            out.bulk(b"limit");
            out.int(i64::from(limit));
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            out.bulk(b"keynumidx");
            out.int(i64::from(keynumidx));
            out.bulk(b"firstkey");
            out.int(i64::from(firstkey));
            out.bulk(b"keystep");
            out.int(i64::from(keystep));
        }
    }
}

fn field(out: &mut Out<'_, '_>, name: &str, value: Option<&str>) {
    if let Some(v) = value {
        out.bulk(name.as_bytes());
        out.bulk(v.as_bytes());
    }
}

/// One `COMMAND DOCS` value (the map after the name).
fn write_docs(out: &mut Out<'_, '_>, scope: Scope, cmd: &'static CommandSpec) {
    let d = &cmd.docs;
    let len = 1
        + usize::from(d.summary.is_some())
        + usize::from(d.since.is_some())
        + usize::from(d.complexity.is_some())
        + usize::from(!d.doc_flags.is_empty())
        + usize::from(d.deprecated_since.is_some())
        + usize::from(d.replaced_by.is_some())
        + usize::from(d.history.is_some())
        + usize::from(d.arguments.is_some())
        + usize::from(cmd.is_container());
    out.map(len);
    field(out, "summary", d.summary);
    field(out, "since", d.since);
    field(out, "group", Some(d.group));
    field(out, "complexity", d.complexity);
    if !d.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        statuses(out, d.doc_flags);
    }
    field(out, "deprecated_since", d.deprecated_since);
    field(out, "replaced_by", d.replaced_by);
    if let Some(history) = d.history {
        out.bulk(b"history");
        out.set(history.len());
        for (version, change) in history {
            out.array(2);
            out.bulk(version.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if let Some(args) = d.arguments {
        out.bulk(b"arguments");
        write_args(out, args);
    }
    if cmd.is_container() {
        let subs: Vec<_> = scope.subcommands(cmd).collect();
        out.bulk(b"subcommands");
        out.map(subs.len());
        for sub in subs {
            out.bulk(sub.full_name.as_bytes());
            write_docs(out, scope, sub);
        }
    }
}

fn write_args(out: &mut Out<'_, '_>, args: &[Arg]) {
    out.array(args.len());
    for a in args {
        let len = 2
            + usize::from(a.key_spec_index.is_some())
            + usize::from(a.token.is_some())
            + usize::from(a.summary.is_some())
            + usize::from(a.since.is_some())
            + usize::from(a.deprecated_since.is_some())
            + usize::from(!a.flags.is_empty())
            + usize::from(a.arguments.is_some());
        out.map(len);
        field(out, "name", Some(a.name));
        field(out, "type", Some(a.kind));
        if let Some(i) = a.key_spec_index {
            out.bulk(b"key_spec_index");
            out.int(i64::from(i));
        }
        field(out, "token", a.token);
        field(out, "summary", a.summary);
        field(out, "since", a.since);
        field(out, "deprecated_since", a.deprecated_since);
        if !a.flags.is_empty() {
            out.bulk(b"flags");
            statuses(out, a.flags);
        }
        if let Some(sub) = a.arguments {
            out.bulk(b"arguments");
            write_args(out, sub);
        }
    }
}

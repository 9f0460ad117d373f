//! ACL (SETUSER, GETUSER, DELUSER, LIST, USERS, WHOAMI, CAT, DRYRUN, GENPASS, LOG, SAVE,
//! LOAD, HELP) and the permission check every command goes through, with Redis 7.0's
//! replies and errors. The model (users, rules, descriptions) is
//! [`tandem_commands::acl`].

use std::time::SystemTime;

use bytes::Bytes;
use tandem_commands::acl::{Denial, LogEntry, Selector, User, CATEGORIES};
use tandem_resp::Encoder;

use super::{parse_i64, Ctx};
use crate::client::Client;
use crate::server::Server;

const HELP: &[&str] = &[
    "CAT [<category>]",
    "    List all commands that belong to <category>, or all command categories",
    "    when no category is specified.",
    "DELUSER <username> [<username> ...]",
    "    Delete a list of users.",
    "DRYRUN <username> <command> [<arg> ...]",
    "    Returns whether the user can execute the given command without executing the command.",
    "GETUSER <username>",
    "    Get the user's details.",
    "GENPASS [<bits>]",
    "    Generate a secure 256-bit user password. The optional `bits` argument can",
    "    be used to specify a different size.",
    "LIST",
    "    Show users details in config file format.",
    "LOAD",
    "    Reload users from the ACL file.",
    "LOG [<count> | RESET]",
    "    Show the ACL log entries.",
    "SAVE",
    "    Save the current config to the ACL file.",
    "SETUSER <username> <attribute> [<attribute> ...]",
    "    Create or modify a user with the specified attributes.",
    "USERS",
    "    List all the registered usernames.",
    "WHOAMI",
    "    Return the current connection username.",
];

const NO_ACL_FILE: &str = "ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.";

/// `ACL <subcommand> ...` (the command table checks each subcommand's arity).
pub fn acl(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match (sub.as_slice(), args.len()) {
        (b"help", 2) => {
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], HELP);
        }
        (b"setuser", _) => setuser(ctx, args),
        (b"getuser", _) => getuser(ctx, &args[2]),
        (b"deluser", _) => deluser(ctx, &args[2..]),
        (b"list", 2) => {
            let lines: Vec<String> = ctx.srv.acl.users.values().map(User::acl_line).collect();
            bulk_array(&mut ctx.enc(), &lines);
        }
        (b"users", 2) => {
            let names: Vec<String> = ctx.srv.acl.users.keys().cloned().collect();
            bulk_array(&mut ctx.enc(), &names);
        }
        (b"whoami", 2) => {
            let name = ctx.client.user.clone();
            ctx.bulk(name.as_bytes());
        }
        (b"cat", 2) => bulk_array(&mut ctx.enc(), &CATEGORIES),
        (b"cat", 3) => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            match tandem_commands::acl::category_commands(&name) {
                Some(cmds) => bulk_array(&mut ctx.enc(), &cmds),
                None => ctx.err(&format!("ERR Unknown category '{name}'")),
            }
        }
        (b"dryrun", _) => dryrun(ctx, args),
        (b"genpass", 2 | 3) => genpass(ctx, args.get(2)),
        (b"log", 2 | 3) => log(ctx, args.get(2)),
        (b"save", 2) => save(ctx),
        (b"load", 2) => load(ctx),
        (b"cat" | b"log" | b"genpass", _) => super::client::subcommand_syntax_error(ctx, args),
        _ => ctx.unknown_subcommand(args),
    }
}

/// The `aclfile` path, `None` when it is not set.
fn acl_file(srv: &Server) -> Option<std::path::PathBuf> {
    let name = srv.config.get_str("aclfile");
    (!name.is_empty()).then(|| std::path::PathBuf::from(name))
}

/// ACL SAVE: every user as an ACL LIST line, written to a temp file then renamed.
fn save(ctx: &mut Ctx<'_>) {
    let Some(path) = acl_file(ctx.srv) else {
        ctx.err(NO_ACL_FILE);
        return;
    };
    let mut text = String::new();
    for u in ctx.srv.acl.users.values() {
        text.push_str(&u.acl_line());
        text.push('\n');
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &path));
    match written {
        Ok(()) => ctx.ok(),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            tracing::warn!(
                "Failed saving ACLs to {}: {}",
                path.display(),
                crate::persist::os_err(&e)
            );
            ctx.err("ERR There was an error trying to save the ACLs. Please check the server logs for more information");
        }
    }
}

/// ACL LOAD: the file replaces every user, or nothing changes when it has an error.
/// Clients of users other than `default` are disconnected (their user objects are
/// replaced), the caller after this reply.
fn load(ctx: &mut Ctx<'_>) {
    let Some(path) = acl_file(ctx.srv) else {
        ctx.err(NO_ACL_FILE);
        return;
    };
    match read_acl_file(&path, pubsub_default_all(ctx.srv)) {
        Ok(users) => {
            ctx.srv.acl.users = users;
            disconnect_where(ctx, |c| *c.user != *"default");
            ctx.srv.sync_shared();
            ctx.ok();
        }
        Err(errors) => ctx.err(&format!("ERR {errors}")),
    }
}

/// Reads an ACL file (`user <name> <rules...>` per line) into a fresh set of users,
/// starting from the default user's defaults; the error text lists every bad line as
/// Redis words it.
fn read_acl_file(
    path: &std::path::Path,
    all_channels: bool,
) -> Result<std::collections::BTreeMap<String, User>, String> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "Error loading ACLs, opening file '{shown}': {}",
            crate::persist::os_err(&e)
        )
    })?;
    let mut users = tandem_commands::acl::Acl::default().users;
    let mut seen = std::collections::HashSet::new();
    let mut errors = String::new();
    for (i, raw) in text.split('\n').enumerate() {
        let n = i + 1;
        let line = raw.trim_matches([' ', '\t', '\r', '\n']);
        if line.is_empty() {
            continue;
        }
        let words: Vec<Bytes> = line
            .split(' ')
            .map(|w| Bytes::copy_from_slice(w.as_bytes()))
            .collect();
        if words.len() < 2 || &words[0][..] != b"user" {
            errors.push_str(&format!(
                "{shown}:{n} should start with user keyword followed by the username. "
            ));
            continue;
        }
        let name = String::from_utf8_lossy(&words[1]).into_owned();
        let Ok(rules) = tandem_commands::acl::merge_selectors(&words[2..]) else {
            errors.push_str(&format!(
                "{shown}:{n}: Unmatched parenthesis in selector definition."
            ));
            continue;
        };
        if !seen.insert(name.clone()) {
            errors.push_str(&format!(
                "WARNING: Duplicate user '{name}' found on line {n}. "
            ));
            continue;
        }
        let mut user = User::new(&name, all_channels);
        if let Err((rule, e)) = user.apply_all(&rules, all_channels) {
            errors.push_str(&format!(
                "{shown}:{n}: Error in applying operation '{rule}': {}. ",
                e.text()
            ));
        }
        users.insert(name, user);
    }
    if errors.is_empty() {
        Ok(users)
    } else {
        errors.push_str(
            "WARNING: ACL errors detected, no change to the previously active ACL rules was performed",
        );
        Err(errors)
    }
}

/// Start-up: the `user` directives of the configuration, then `aclfile`, as Redis loads
/// them (both at once is refused). `Err` is the message to log before exiting.
pub fn load_at_startup(srv: &mut Server) -> Result<(), String> {
    let directives = srv.config.user_directives().to_vec();
    let file = acl_file(srv);
    if file.is_some() && !directives.is_empty() {
        return Err("Configuring Redis with users defined in redis.conf and at the same setting an ACL file path is invalid. This setup is very likely to lead to configuration errors and security holes, please define either an ACL file or declare users directly in your redis.conf, but not both.".to_owned());
    }
    let all_channels = pubsub_default_all(srv);
    let mut seen = std::collections::HashSet::new();
    for words in directives {
        let Some((name, rules)) = words.split_first() else {
            continue;
        };
        if !seen.insert(name.clone()) {
            return Err(format!(
                "Error in user declaration '{name}': Duplicate user found. A user can only be defined once in config files"
            ));
        }
        let args: Vec<Bytes> = rules
            .iter()
            .map(|r| Bytes::copy_from_slice(r.as_bytes()))
            .collect();
        let rules = tandem_commands::acl::merge_selectors(&args).map_err(|first| {
            format!("Unmatched parenthesis in acl selector starting at '{first}'.")
        })?;
        let user = srv
            .acl
            .users
            .entry(name.clone())
            .or_insert_with(|| User::new(name, all_channels));
        if name == "default" {
            let _ = user.apply("reset", all_channels);
        }
        user.apply_all(&rules, all_channels).map_err(|(rule, e)| {
            format!(
                "Error loading ACL rule '{rule}' for the user named '{name}': {}",
                e.text()
            )
        })?;
        if !user.enabled {
            tracing::info!("The user '{name}' is disabled (there is no 'on' modifier in the user description). Make sure this is not a configuration error.");
        }
    }
    if let Some(path) = file {
        srv.acl.users = read_acl_file(&path, all_channels)
            .map_err(|e| format!("Aborting Redis startup because of ACL errors: {e}"))?;
    }
    Ok(())
}

fn setuser(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let name = String::from_utf8_lossy(&args[2]).into_owned();
    if name.contains([' ', '\0']) {
        ctx.err("ERR Usernames can't contain spaces or null characters");
        return;
    }
    let rules = match tandem_commands::acl::merge_selectors(&args[3..]) {
        Ok(r) => r,
        Err(first) => {
            ctx.err(&format!(
                "ERR Unmatched parenthesis in acl selector starting at '{first}'."
            ));
            return;
        }
    };
    let all_channels = pubsub_default_all(ctx.srv);
    let original = ctx.srv.acl.users.get(&name).cloned();
    let mut user = original
        .clone()
        .unwrap_or_else(|| User::new(&name, all_channels));
    if let Err((rule, e)) = user.apply_all(&rules, all_channels) {
        ctx.err(&format!(
            "ERR Error in ACL SETUSER modifier '{rule}': {}",
            e.text()
        ));
        return;
    }
    if let Some(original) = &original {
        if !user.root().channels_cover(original.root()) {
            kill_unpermitted_subscribers(ctx, &user);
        }
    }
    ctx.srv.acl.users.insert(name, user);
    ctx.srv.sync_shared();
    ctx.ok();
}

/// Disconnects clients of `user` subscribed to a channel or pattern its new rules no
/// longer allow (Redis's `ACLKillPubsubClientsIfNeeded`).
fn kill_unpermitted_subscribers(ctx: &mut Ctx<'_>, user: &User) {
    let root = user.root();
    let denied = |c: &Client| {
        c.sub_channels
            .iter()
            .chain(&c.sub_shard_channels)
            .any(|ch| !root.channel_allowed(ch, false))
            || c.sub_patterns
                .iter()
                .any(|p| !root.channel_allowed(p, true))
    };
    disconnect_where(ctx, |c| *c.user == *user.name && denied(c));
}

/// Disconnects the clients `pred` picks: the caller once this reply is written, the
/// others at once (Redis frees them asynchronously, before they run anything else).
fn disconnect_where(ctx: &mut Ctx<'_>, pred: impl Fn(&Client) -> bool) {
    if pred(ctx.client) {
        ctx.client.close_after_reply = true;
    }
    let me = ctx.client.id;
    let others: Vec<u64> = ctx
        .srv
        .clients
        .values()
        .filter(|c| c.id != me && pred(c))
        .map(|c| c.id)
        .collect();
    for id in others {
        super::client::disconnect(ctx.srv, id);
    }
}

fn pubsub_default_all(srv: &Server) -> bool {
    srv.config
        .get_str("acl-pubsub-default")
        .eq_ignore_ascii_case("allchannels")
}

fn getuser(ctx: &mut Ctx<'_>, name: &Bytes) {
    let Some(u) = ctx
        .srv
        .acl
        .users
        .get(String::from_utf8_lossy(name).as_ref())
    else {
        ctx.enc().null();
        return;
    };
    let u = u.clone();
    let mut e = ctx.enc();
    e.map_len(6);
    e.bulk(b"flags");
    let flags = u.flags();
    e.set_len(flags.len());
    for f in flags {
        e.bulk(f.as_bytes());
    }
    e.bulk(b"passwords");
    bulk_array(&mut e, u.passwords());
    selector_fields(&mut e, u.root());
    e.bulk(b"selectors");
    e.array_len(u.selectors().len());
    for s in u.selectors() {
        e.map_len(3);
        selector_fields(&mut e, s);
    }
}

/// A selector's `commands`, `keys` and `channels` fields (ACL GETUSER).
fn selector_fields(e: &mut Encoder<'_>, s: &Selector) {
    e.bulk(b"commands");
    e.bulk(s.describe_commands().as_bytes());
    e.bulk(b"keys");
    e.bulk(s.describe_keys().as_bytes());
    e.bulk(b"channels");
    e.bulk(s.describe_channels().as_bytes());
}

/// An array of bulk strings.
fn bulk_array<S: AsRef<[u8]>>(e: &mut Encoder<'_>, items: &[S]) {
    e.array_len(items.len());
    for i in items {
        e.bulk(i.as_ref());
    }
}

fn deluser(ctx: &mut Ctx<'_>, names: &[Bytes]) {
    if names.iter().any(|n| &n[..] == b"default") {
        ctx.err("ERR The 'default' user cannot be removed");
        return;
    }
    let mut deleted = 0;
    for n in names {
        let name = String::from_utf8_lossy(n).into_owned();
        if ctx.srv.acl.users.remove(&name).is_none() {
            continue;
        }
        deleted += 1;
        disconnect_where(ctx, |c| *c.user == *name);
    }
    ctx.srv.sync_shared();
    ctx.integer(deleted);
}

fn dryrun(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let name = String::from_utf8_lossy(&args[2]).into_owned();
    let Some(user) = ctx.srv.acl.users.get(&name) else {
        ctx.err(&format!("ERR User '{name}' not found"));
        return;
    };
    let cmd_args = &args[3..];
    let spec = match super::resolve(cmd_args) {
        Ok(entry) => entry.spec,
        Err(_) => {
            // Commands Tandem does not implement still have Redis's permissions.
            let found = tandem_commands::lookup_any(&cmd_args[0]).map(|s| {
                if s.subcommands.is_empty() || cmd_args.len() < 2 {
                    s
                } else {
                    tandem_commands::lookup_sub_any(s, &cmd_args[1]).unwrap_or(s)
                }
            });
            match found {
                Some(s) => s,
                None => {
                    ctx.err(&format!(
                        "ERR Command '{}' not found",
                        String::from_utf8_lossy(&cmd_args[0])
                    ));
                    return;
                }
            }
        }
    };
    if !tandem_commands::arity_ok(spec, cmd_args.len()) {
        ctx.err(&format!(
            "ERR wrong number of arguments for '{}' command",
            spec.full_name
        ));
        return;
    }
    let Some(id) = tandem_commands::acl::command_id(spec) else {
        ctx.ok();
        return;
    };
    match user.check(id, cmd_args) {
        Ok(()) => ctx.ok(),
        Err(d) => {
            let text = match d {
                Denial::Command => format!(
                    "This user has no permissions to run the '{}' command",
                    spec.full_name
                ),
                Denial::Key(p) => format!(
                    "This user has no permissions to access the '{}' key",
                    String::from_utf8_lossy(&cmd_args[p])
                ),
                Denial::Channel(p) => format!(
                    "This user has no permissions to access the '{}' channel",
                    String::from_utf8_lossy(&cmd_args[p])
                ),
            };
            ctx.bulk(text.as_bytes());
        }
    }
}

fn genpass(ctx: &mut Ctx<'_>, bits: Option<&Bytes>) {
    let bits = match bits {
        None => 256,
        Some(b) => match parse_i64(b) {
            Some(n) => n,
            None => {
                ctx.not_integer();
                return;
            }
        },
    };
    if bits <= 0 || bits > 4096 {
        ctx.err("ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096");
        return;
    }
    let chars = (bits as usize).div_ceil(4);
    let mut hex = String::new();
    while hex.len() < chars {
        hex.push_str(&crate::server::random_hex40());
    }
    hex.truncate(chars);
    ctx.bulk(hex.as_bytes());
}

fn log(ctx: &mut Ctx<'_>, arg: Option<&Bytes>) {
    let count = match arg {
        None => 10,
        Some(a) if a.eq_ignore_ascii_case(b"reset") => {
            ctx.srv.acl.log.clear();
            ctx.ok();
            return;
        }
        Some(a) => match parse_i64(a) {
            Some(n) => n.max(0) as usize,
            None => {
                ctx.not_integer();
                return;
            }
        },
    };
    let now = unix_ms();
    let entries: Vec<LogEntry> = ctx.srv.acl.log.iter().take(count).cloned().collect();
    let mut e = ctx.enc();
    e.array_len(entries.len());
    for entry in entries {
        e.map_len(7);
        e.bulk(b"count");
        e.integer(entry.count as i64);
        e.bulk(b"reason");
        e.bulk(entry.reason.as_bytes());
        e.bulk(b"context");
        e.bulk(entry.context.as_bytes());
        e.bulk(b"object");
        e.bulk(entry.object.as_bytes());
        e.bulk(b"username");
        e.bulk(entry.username.as_bytes());
        e.bulk(b"age-seconds");
        e.double((now - entry.ctime_ms) as f64 / 1000.0);
        e.bulk(b"client-info");
        e.bulk(entry.client_info.as_bytes());
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Adds an ACL LOG entry for `client` (reason `command`, `key`, `channel` or `auth`).
pub fn log_denial(
    srv: &mut Server,
    client: &Client,
    reason: &'static str,
    object: String,
    username: &str,
) {
    let context = if client.in_script {
        "lua"
    } else if client.multi.is_some() || srv.master.in_exec() {
        "multi"
    } else {
        "toplevel"
    };
    let entry = LogEntry {
        count: 1,
        reason,
        context,
        object,
        username: username.to_owned(),
        ctime_ms: unix_ms(),
        client_info: super::client::info_line(client, None, SystemTime::now()),
    };
    let max = srv.config.get_i64("acllog-max-len").max(0) as usize;
    srv.acl.log(entry, max);
}

/// Whether `user` may run `spec` with `args` (Redis's `ACLCheckAllUserCommandPerm`, what
/// a script's `redis.acl_check_cmd` asks): no log entry, no reply.
pub fn permits(
    srv: &Server,
    user: &str,
    spec: &'static tandem_commands::CommandSpec,
    args: &[Bytes],
) -> bool {
    if user == "(superuser)" {
        return true;
    }
    match srv.acl.users.get(user) {
        Some(u) if u.unrestricted() => true,
        Some(u) => {
            tandem_commands::acl::command_id(spec).is_none_or(|id| u.check(id, args).is_ok())
        }
        None => false,
    }
}

/// The permission check of a command about to run (after AUTH's): `-NOPERM ...` when the
/// client's user may not run it with these arguments. Internal clients (the master
/// link, the AOF loader) are not checked.
pub fn rejection(
    srv: &mut Server,
    client: &Client,
    spec: &'static tandem_commands::CommandSpec,
    args: &[Bytes],
) -> Option<String> {
    if client.is_master || &*client.user == "(superuser)" {
        return None;
    }
    let denial = match srv.acl.users.get(&*client.user) {
        Some(u) if u.unrestricted() => return None,
        Some(u) => u
            .check(tandem_commands::acl::command_id(spec)?, args)
            .err()?,
        None => Denial::Command,
    };
    let object = match denial {
        Denial::Command => spec.full_name.to_owned(),
        Denial::Key(p) | Denial::Channel(p) => String::from_utf8_lossy(&args[p]).into_owned(),
    };
    let user = client.user.clone();
    log_denial(srv, client, denial.reason(), object, &user);
    if client.in_script {
        return Some(format!("ERR {}", denial.script_error()));
    }
    if srv.master.in_exec() {
        return Some(format!(
            "NOPERM ACLs rules changed between the moment the transaction was accumulated and the EXEC call. This command is no longer allowed for the following reason: {}",
            denial.exec_reason()
        ));
    }
    Some(denial.error(spec.full_name))
}

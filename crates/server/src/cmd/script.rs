//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO, SCRIPT, FCALL, FCALL_RO and FUNCTION: argument
//! checks and replies around [`crate::script`] and [`crate::functions`], which run the Lua.

use bytes::Bytes;

use crate::cmd::{parse_i64, Ctx};
use crate::script::flags::{self, ScriptFlags, Situation};
use crate::server::Server;

/// The flags the script an EVAL, EVALSHA or FCALL (or `_RO`) command would run declared,
/// for the checks made before any command runs (Redis's `evalGetCommandFlags` and
/// `fcallGetCommandFlags`): an EVAL body's shebang line, a cached script's, a function's.
/// None for other commands, an unknown script or function, or a shebang in error.
pub fn declared_flags(srv: &Server, args: &[Bytes]) -> Option<ScriptFlags> {
    let name = args.first()?;
    let body = args.get(1)?;
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    if is(b"eval") || is(b"eval_ro") {
        flags::shebang(body).ok().map(|(f, _)| f)
    } else if is(b"evalsha") || is(b"evalsha_ro") {
        if body.len() != 40 {
            return None;
        }
        srv.scripting
            .flags_of(&String::from_utf8_lossy(body).to_ascii_lowercase())
    } else if is(b"fcall") || is(b"fcall_ro") {
        let f = srv
            .scripting
            .functions
            .as_ref()?
            .lookup(&String::from_utf8_lossy(body))?;
        Some(ScriptFlags::of_names(&f.flags))
    } else {
        None
    }
}

/// Redis's checks before a script or function starts ([`flags::prepare_error`]); the
/// error has been replied when false.
fn prepared(ctx: &mut Ctx<'_>, declared: ScriptFlags, ro_command: bool) -> bool {
    let srv = &*ctx.srv;
    let obey = ctx.client.is_master;
    let at = Situation {
        running_stale: crate::replication_replica::running_stale(srv),
        read_only_replica: !obey && crate::replication_replica::read_only_replica(srv),
        ro_command,
        not_enough_replicas: crate::cmd::repl::lacks_good_replicas(srv),
        oom: srv.pre_command_oom && srv.evict.maxmemory > 0 && !obey,
    };
    match flags::prepare_error(declared, &at) {
        Some(e) => {
            ctx.err(e);
            false
        }
        None => true,
    }
}

/// `EVAL script numkeys key... arg...` and its three relatives.
pub fn eval(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    // Shown to MONITOR before the commands it runs (the dispatcher skips it), as in Redis.
    crate::cmd::server::feed_monitor(ctx.srv, ctx.client, args);
    let name = ctx.spec.full_name;
    let by_sha = name.starts_with("evalsha");
    let read_only = name.ends_with("_ro");
    let Some(split) = key_split(ctx, args, "ERR value is not an integer or out of range") else {
        return;
    };
    let (sha, declared) = if by_sha {
        let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        let Some(declared) = ctx.srv.scripting.flags_of(&sha) else {
            ctx.err("NOSCRIPT No matching script. Please use EVAL.");
            return;
        };
        (sha, declared)
    } else {
        match ctx.srv.scripting.load(&args[1]) {
            // What the cached script declared, read again from the same body (a look at
            // its first two bytes when it has no shebang).
            Ok(sha) => match flags::shebang(&args[1]) {
                Ok((declared, _)) => (sha, declared),
                Err(e) => {
                    ctx.err(&e);
                    return;
                }
            },
            Err(e) => {
                ctx.err(&e);
                return;
            }
        }
    };
    if !prepared(ctx, declared, read_only) {
        return;
    }
    let call = crate::script::Call {
        command: args,
        target: crate::script::Target::Script(&sha),
        keys: &args[3..split],
        argv: &args[split..],
        read_only: read_only || declared.no_writes,
        allow_oom: declared.allow_oom,
    };
    run_unit(ctx, call);
}

const HELP: &[&str] = &[
    "DEBUG (YES|SYNC|NO)",
    "    Set the debug mode for subsequent scripts executed.",
    "EXISTS <sha1> [<sha1> ...]",
    "    Return information about the existence of the scripts in the script cache.",
    "FLUSH [ASYNC|SYNC]",
    "    Flush the Lua scripts cache. Very dangerous on replicas.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the scripts cache.",
    "    * SYNC: Synchronously flush the scripts cache.",
    "KILL",
    "    Kill the currently executing Lua script.",
    "LOAD <script>",
    "    Load a script into the scripts cache without executing it.",
];

/// `SCRIPT LOAD|EXISTS|FLUSH|KILL|HELP`.
pub fn script(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"help" => {
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], HELP);
        }
        b"load" => match ctx.srv.scripting.load(&args[2]) {
            Ok(sha) => ctx.enc().bulk(sha.as_bytes()),
            Err(e) => ctx.err(&e),
        },
        b"exists" => {
            let found: Vec<bool> = args[2..]
                .iter()
                .map(|s| {
                    ctx.srv
                        .scripting
                        .exists(&String::from_utf8_lossy(s).to_ascii_lowercase())
                })
                .collect();
            let mut e = ctx.enc();
            e.array_len(found.len());
            for f in found {
                e.integer(i64::from(f));
            }
        }
        b"flush" => {
            let mode_ok = match args.get(2) {
                None => args.len() == 2,
                Some(m) => {
                    args.len() == 3
                        && (m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync"))
                }
            };
            if !mode_ok {
                ctx.err("ERR SCRIPT FLUSH only support SYNC|ASYNC option");
                return;
            }
            ctx.srv.scripting.flush();
            ctx.enc().ok();
        }
        b"kill" => ctx.err("NOTBUSY No scripts in execution right now."),
        _ => ctx.unknown_subcommand(args),
    }
}

/// `FCALL function numkeys key... arg...` and `FCALL_RO`.
pub fn fcall(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    crate::cmd::server::feed_monitor(ctx.srv, ctx.client, args);
    let ro_command = ctx.spec.full_name == "fcall_ro";
    let name = String::from_utf8_lossy(&args[1]).into_owned();
    let declared = match ctx
        .srv
        .scripting
        .functions
        .as_ref()
        .and_then(|f| f.lookup(&name))
    {
        Some(f) => ScriptFlags::of_names(&f.flags),
        None => {
            ctx.err("ERR Function not found");
            return;
        }
    };
    let Some(split) = key_split(ctx, args, "ERR Bad number of keys provided") else {
        return;
    };
    if !prepared(ctx, declared, ro_command) {
        return;
    }
    let call = crate::script::Call {
        command: args,
        target: crate::script::Target::Function(&name),
        keys: &args[3..split],
        argv: &args[split..],
        read_only: ro_command || declared.no_writes,
        allow_oom: declared.allow_oom,
    };
    run_unit(ctx, call);
}

/// Checks `numkeys` (`args[2]`): the index where the arguments after the keys start.
/// `not_integer` is the command's error for a `numkeys` that is not a number.
fn key_split(ctx: &mut Ctx<'_>, args: &[Bytes], not_integer: &str) -> Option<usize> {
    let Some(numkeys) = parse_i64(&args[2]) else {
        ctx.err(not_integer);
        return None;
    };
    if numkeys < 0 {
        ctx.err("ERR Number of keys can't be negative");
        return None;
    }
    if numkeys as u64 > (args.len() - 3) as u64 {
        ctx.err("ERR Number of keys can't be greater than number of args");
        return None;
    }
    Some(3 + numkeys as usize)
}

/// Runs a script or function as one execution unit: its writes are fed together.
fn run_unit(ctx: &mut Ctx<'_>, call: crate::script::Call<'_>) {
    ctx.srv.master.begin_exec();
    let result = crate::script::run(ctx.srv, ctx.client, call, ctx.out);
    let drops = ctx.srv.master.end_exec();
    if !drops.is_empty() {
        crate::repl::close_dropped(ctx.srv, drops);
    }
    match result {
        Ok(()) => {}
        Err(e) if e.counted => {
            // Counted when it happened; the command still failed.
            ctx.srv.stats.failed_uncounted += 1;
            ctx.enc().error(e.text.as_bytes());
        }
        Err(e) => ctx.err(&e.text),
    }
}

const FUNCTION_HELP: &[&str] = &[
    "LOAD [REPLACE] <FUNCTION CODE>",
    "    Create a new library with the given library name and code.",
    "DELETE <LIBRARY NAME>",
    "    Delete the given library.",
    "LIST [LIBRARYNAME PATTERN] [WITHCODE]",
    "    Return general information on all the libraries:",
    "    * Library name",
    "    * The engine used to run the Library",
    "    * Library description",
    "    * Functions list",
    "    * Library code (if WITHCODE is given)",
    "    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
    "STATS",
    "    Return information about the current function running:",
    "    * Function name",
    "    * Command used to run the function",
    "    * Duration in MS that the function is running",
    "    If no function is running, return nil",
    "    In addition, returns a list of available engines.",
    "KILL",
    "    Kill the current running function.",
    "FLUSH [ASYNC|SYNC]",
    "    Delete all the libraries.",
    "    When called without the optional mode argument, the behavior is determined by the",
    "    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
    "    * ASYNC: Asynchronously flush the libraries.",
    "    * SYNC: Synchronously flush the libraries.",
    "DUMP",
    "    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
    "RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
    "    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
    "    control how to handle existing libraries (default APPEND):",
    "    * FLUSH: delete all existing libraries.",
    "    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
    "    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
    "      libraries with the new libraries (notice that even on this option there is a chance of failure",
    "      in case of functions name collision with another library).",
];

/// `FUNCTION LOAD|DELETE|FLUSH|LIST|STATS|DUMP|RESTORE|KILL|HELP`. LOAD, DELETE, FLUSH
/// and RESTORE are propagated as they are (replicas and the AOF run them too).
pub fn function(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"help" => {
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], FUNCTION_HELP);
        }
        b"load" => {
            // Every argument but the last is an option (REPLACE, any number of times);
            // the last is the code.
            let code = &args[args.len() - 1];
            let mut replace = false;
            for opt in &args[2..args.len() - 1] {
                if !opt.eq_ignore_ascii_case(b"replace") {
                    let opt = String::from_utf8_lossy(opt).into_owned();
                    ctx.err(&format!("ERR Unknown option given: {opt}"));
                    return;
                }
                replace = true;
            }
            let loaded = ctx
                .srv
                .scripting
                .functions_mut()
                .and_then(|f| f.load(code, replace));
            match loaded {
                Ok(name) => {
                    propagate_as_is(ctx, args);
                    ctx.enc().bulk(name.as_bytes());
                }
                Err(e) => ctx.err(&e),
            }
        }
        b"delete" => {
            let name = String::from_utf8_lossy(&args[2]).into_owned();
            let deleted = ctx
                .srv
                .scripting
                .functions
                .as_mut()
                .is_some_and(|f| f.delete(&name));
            if deleted {
                propagate_as_is(ctx, args);
                ctx.enc().ok();
            } else {
                ctx.err("ERR Library not found");
            }
        }
        b"flush" => {
            if args.len() > 3 {
                too_many_arguments(ctx, args);
                return;
            }
            let mode_ok = match args.get(2) {
                None => true,
                Some(m) => m.eq_ignore_ascii_case(b"async") || m.eq_ignore_ascii_case(b"sync"),
            };
            if !mode_ok {
                ctx.err("ERR FUNCTION FLUSH only supports SYNC|ASYNC option");
                return;
            }
            ctx.srv.scripting.flush_functions();
            propagate_as_is(ctx, args);
            ctx.enc().ok();
        }
        b"kill" => ctx.err("NOTBUSY No scripts in execution right now."),
        b"stats" => {
            let (libs, funcs) = ctx
                .srv
                .scripting
                .functions
                .as_ref()
                .map_or((0, 0), |f| (f.libraries().count(), f.function_count()));
            function_stats_reply(&mut ctx.enc(), None, libs, funcs);
        }
        b"list" => function_list(ctx, args),
        b"dump" => {
            let codes = ctx.srv.scripting.function_codes();
            let opts = crate::persist::encode_options(&ctx.srv.config);
            ctx.enc()
                .bulk(&tandem_rdb::functions_payload(&codes, &opts));
        }
        b"restore" => function_restore(ctx, args),
        _ => ctx.unknown_subcommand(args),
    }
}

/// FUNCTION STATS's reply: the running function (`None` when none runs, or as a busy
/// function's responder shows it: name, command, milliseconds so far) and the counts.
pub fn function_stats_reply(
    e: &mut tandem_resp::Encoder<'_>,
    running: Option<(&str, &[Bytes], u64)>,
    libraries: usize,
    functions: usize,
) {
    e.map_len(2);
    e.bulk(b"running_script");
    match running {
        None => e.null(),
        Some((name, command, duration_ms)) => {
            e.map_len(3);
            e.bulk(b"name");
            e.bulk(name.as_bytes());
            e.bulk(b"command");
            e.array_len(command.len());
            for a in command {
                e.bulk(a);
            }
            e.bulk(b"duration_ms");
            e.integer(duration_ms as i64);
        }
    }
    e.bulk(b"engines");
    e.map_len(1);
    e.bulk(b"LUA");
    e.map_len(2);
    e.bulk(b"libraries_count");
    e.integer(libraries as i64);
    e.bulk(b"functions_count");
    e.integer(functions as i64);
}

/// `FUNCTION RESTORE payload [FLUSH|APPEND|REPLACE]`.
fn function_restore(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    if args.len() > 4 {
        too_many_arguments(ctx, args);
        return;
    }
    let policy = match args.get(3).map(|p| p.to_ascii_lowercase()) {
        None => "append".to_owned(),
        Some(p) if args.len() == 4 && matches!(&p[..], b"flush" | b"append" | b"replace") => {
            String::from_utf8_lossy(&p).into_owned()
        }
        Some(_) => {
            ctx.err(
                "ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.",
            );
            return;
        }
    };
    let Ok(codes) = tandem_rdb::parse_functions_payload(&args[2]) else {
        ctx.err("ERR DUMP payload version or checksum are wrong");
        return;
    };
    let restored = ctx
        .srv
        .scripting
        .functions_mut()
        .and_then(|f| f.restore(&codes, &policy));
    match restored {
        Ok(()) => {
            propagate_as_is(ctx, args);
            ctx.enc().ok();
        }
        Err(e) => ctx.err(&e),
    }
}

/// Redis's error for a FUNCTION subcommand given more arguments than it takes.
fn too_many_arguments(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = String::from_utf8_lossy(&args[1]).into_owned();
    ctx.err(&format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try FUNCTION HELP."
    ));
}

/// Feeds the command to the replicas and the AOF as the client sent it.
fn propagate_as_is(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    ctx.srv.dirty += 1;
    crate::cmd::data::propagate(ctx.srv, ctx.client.db, args.to_vec());
    crate::repl::flush(ctx.srv, true);
}

/// `FUNCTION LIST [LIBRARYNAME pattern] [WITHCODE]`.
fn function_list(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let mut pattern: Option<&[u8]> = None;
    let mut with_code = false;
    let mut i = 2;
    while i < args.len() {
        let a = &args[i];
        if a.eq_ignore_ascii_case(b"withcode") && !with_code {
            with_code = true;
            i += 1;
        } else if a.eq_ignore_ascii_case(b"libraryname") && pattern.is_none() {
            let Some(p) = args.get(i + 1) else {
                ctx.err("ERR library name argument was not given");
                return;
            };
            pattern = Some(p);
            i += 2;
        } else {
            let text = String::from_utf8_lossy(a).into_owned();
            ctx.err(&format!("ERR Unknown argument {text}"));
            return;
        }
    }
    let libs: Vec<crate::functions::Library> = ctx
        .srv
        .scripting
        .functions
        .as_ref()
        .map(|f| {
            f.libraries()
                .filter(|l| {
                    pattern.is_none_or(|p| {
                        tandem_commands::glob::string_match(p, l.name.as_bytes(), false)
                    })
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut e = ctx.enc();
    e.array_len(libs.len());
    for lib in &libs {
        e.map_len(if with_code { 4 } else { 3 });
        e.bulk(b"library_name");
        e.bulk(lib.name.as_bytes());
        e.bulk(b"engine");
        e.bulk(b"LUA");
        e.bulk(b"functions");
        e.array_len(lib.functions.len());
        for f in &lib.functions {
            e.map_len(3);
            e.bulk(b"name");
            e.bulk(f.name.as_bytes());
            e.bulk(b"description");
            match &f.description {
                Some(d) => e.bulk(d.as_bytes()),
                None => e.null(),
            }
            e.bulk(b"flags");
            e.set_len(f.flags.len());
            for flag in &f.flags {
                e.simple(flag.as_bytes());
            }
        }
        if with_code {
            e.bulk(b"library_code");
            e.bulk(&lib.code);
        }
    }
}

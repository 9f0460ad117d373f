//! EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and SCRIPT: argument checks and replies around
//! [`crate::script`], which runs the Lua.

use bytes::Bytes;

use crate::cmd::{parse_i64, Ctx};

/// `EVAL script numkeys key... arg...` and its three relatives.
pub fn eval(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let name = ctx.spec.full_name;
    let by_sha = name.starts_with("evalsha");
    let read_only = name.ends_with("_ro");
    let Some(numkeys) = parse_i64(&args[2]) else {
        ctx.err("ERR value is not an integer or out of range");
        return;
    };
    if numkeys < 0 {
        ctx.err("ERR Number of keys can't be negative");
        return;
    }
    if numkeys as u64 > (args.len() - 3) as u64 {
        ctx.err("ERR Number of keys can't be greater than number of args");
        return;
    }
    let split = 3 + numkeys as usize;
    let sha = if by_sha {
        let sha = String::from_utf8_lossy(&args[1]).to_ascii_lowercase();
        if !ctx.srv.scripting.exists(&sha) {
            ctx.err("NOSCRIPT No matching script. Please use EVAL.");
            return;
        }
        sha
    } else {
        match ctx.srv.scripting.load(&args[1]) {
            Ok(sha) => sha,
            Err(e) => {
                ctx.err(&e);
                return;
            }
        }
    };
    // The script is one execution unit: its writes are fed together at its end.
    ctx.srv.master.begin_exec();
    let call = crate::script::Call {
        sha: &sha,
        keys: &args[3..split],
        argv: &args[split..],
        read_only,
    };
    let result = crate::script::run(ctx.srv, ctx.client, call, ctx.out);
    let drops = ctx.srv.master.end_exec();
    if !drops.is_empty() {
        crate::repl::close_dropped(ctx.srv, drops);
    }
    if let Err(e) = result {
        ctx.err(&e);
    }
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

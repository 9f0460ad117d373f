//! MODULE: Tandem loads no modules. LIST answers an empty list (clients and tools probe it
//! to find RedisJSON, RediSearch and the like); LOAD, LOADEX and UNLOAD are behind
//! `enable-module-command` as in Redis, and then fail as a load of a missing library does.

use bytes::Bytes;

use crate::cmd::Ctx;

const HELP: &[&str] = &[
    "LIST",
    "    Return a list of loaded modules.",
    "LOAD <path> [<arg> ...]",
    "    Load a module library from <path>, passing to it any optional arguments.",
    "LOADEX <path> [[CONFIG NAME VALUE] [CONFIG NAME VALUE]] [ARGS ...]",
    "    Load a module library from <path>, while passing it module configurations and optional arguments.",
    "UNLOAD <name>",
    "    Unload a module.",
];

/// `MODULE <subcommand> ...` (the command table checks each subcommand's arity).
pub fn module(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"help" => {
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], HELP);
        }
        b"list" => ctx.enc().array_len(0),
        b"load" | b"loadex" | b"unload" => {
            let setting = ctx.srv.config.get_str("enable-module-command");
            let local = ctx.client.meta.addr.ip().is_loopback();
            if !(setting == "yes" || (setting == "local" && local)) {
                ctx.err("ERR MODULE command not allowed. If the enable-module-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
            } else if sub == b"unload" {
                ctx.err("ERR Error unloading module: no such module with that name");
            } else {
                tracing::warn!(
                    "Module {} failed to load: Tandem does not load modules",
                    String::from_utf8_lossy(&args[2])
                );
                ctx.err("ERR Error loading the extension. Please check the server logs.");
            }
        }
        _ => ctx.unknown_subcommand(args),
    }
}

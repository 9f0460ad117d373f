//! CONFIG GET / SET / RESETSTAT / REWRITE / HELP, over [`crate::config::Config`].

use bytes::Bytes;

use super::Ctx;
use crate::log;

pub fn config(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let sub = args[1].to_ascii_lowercase();
    match sub.as_slice() {
        b"get" => {
            let patterns: Vec<&[u8]> = args[2..].iter().map(|a| &a[..]).collect();
            let pairs = ctx.srv.config.get(&patterns);
            let mut e = ctx.enc();
            e.map_len(pairs.len());
            for (name, value) in pairs {
                e.bulk(name.as_bytes());
                e.bulk(&value);
            }
        }
        b"set" => {
            if !args.len().is_multiple_of(2) {
                ctx.syntax_err();
                return;
            }
            let pairs: Vec<(&[u8], &[u8])> = args[2..]
                .chunks(2)
                .map(|p| (&p[0][..], &p[1][..]))
                .collect();
            let local = ctx.client.meta.addr.ip().is_loopback();
            match ctx.srv.config.set_from(&pairs, local) {
                Ok(changed) => {
                    apply_changes(ctx, &changed);
                    ctx.ok();
                }
                Err(msg) => ctx.err(&msg),
            }
        }
        b"resetstat" => {
            let samples = std::mem::take(&mut ctx.srv.stats.samples);
            ctx.srv.stats = Default::default();
            ctx.srv.stats.samples = samples;
            ctx.srv.data_stats = Default::default();
            ctx.srv.ks.reset_stats();
            ctx.ok();
        }
        b"rewrite" => match rewrite(ctx.srv) {
            Ok(()) => {
                tracing::info!("CONFIG REWRITE executed with success.");
                ctx.ok();
            }
            Err(msg) if msg.starts_with("ERR ") => ctx.err(&msg),
            Err(msg) => {
                tracing::warn!("CONFIG REWRITE failed: {msg}");
                let msg = format!("ERR Rewriting config file: {msg}");
                ctx.err(&msg);
            }
        },
        b"help" => {
            let lines: &[&str] = &[
                "GET <pattern>",
                "    Return parameters matching the glob-like <pattern> and their values.",
                "SET <directive> <value>",
                "    Set the configuration <directive> to <value>.",
                "RESETSTAT",
                "    Reset statistics reported by the INFO command.",
                "REWRITE",
                "    Rewrite the configuration file.",
            ];
            let mut e = ctx.enc();
            tandem_commands::write_help(&mut e, &args[0], lines);
        }
        _ => ctx.unknown_subcommand(args),
    }
}

/// CONFIG REWRITE with the ACL users as `user` lines, or none when `aclfile` has them.
fn rewrite(srv: &crate::server::Server) -> Result<(), String> {
    use crate::config::rewrite::UserLines;
    if !srv.config.get_str("aclfile").is_empty() {
        return srv.config.rewrite_with_users(UserLines::AclFile);
    }
    let lines: Vec<String> = srv
        .acl
        .users
        .values()
        .map(tandem_commands::acl::User::acl_line)
        .collect();
    srv.config.rewrite_with_users(UserLines::Users(&lines))
}

/// Applies the run-time effects of directives CONFIG SET changed.
fn apply_changes(ctx: &mut Ctx<'_>, changed: &[&'static str]) {
    if changed.contains(&"requirepass") {
        ctx.srv.apply_requirepass();
    }
    ctx.srv.sync_shared();
    ctx.srv.sync_data_settings();
    ctx.srv.master.config = crate::repl::master_config(&ctx.srv.config);
    for name in changed {
        match *name {
            "loglevel" => {
                if let Some(l) = log::LogLevel::parse(&ctx.srv.config.get_str("loglevel")) {
                    log::set_level(l);
                }
            }
            "logfile" => log::set_file(&ctx.srv.config.get_str("logfile")),
            "appendonly" => crate::aof::apply_appendonly(ctx.srv),
            "maxmemory" => {
                // As Redis's updateMaxmemory: warn when already above, and evict now.
                let max = ctx.srv.evict.maxmemory;
                let used = crate::alloc::refresh_used_memory();
                if max > 0 && used > max {
                    tracing::warn!(
                        "WARNING: the new maxmemory value set via CONFIG SET ({max}) is smaller \
                         than the current memory usage ({used}). This will result in key \
                         eviction and/or the inability to accept new write commands depending \
                         on the maxmemory-policy."
                    );
                }
                // Evicts at once; a lifted limit ends a period spent above it.
                crate::evict::perform(ctx.srv, Some(&mut *ctx.client));
            }
            "dir" => {
                let dir = ctx.srv.config.dir();
                if let Err(e) = std::env::set_current_dir(&dir) {
                    tracing::warn!("Can't chdir to '{}': {e}", dir.display());
                }
            }
            _ => {}
        }
    }
}

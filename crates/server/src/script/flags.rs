//! Script flags: the `#!lua flags=...` line an EVAL script may start with, and the
//! `flags` a library function is registered with (Redis 7.0).
//!
//! An EVAL script without that line runs as before 7.0 ("compat" mode): its command's
//! own flags apply, and each command it calls is checked when called. A script that
//! declares flags (any `#!lua` line, even without `flags=`) and every function is judged
//! before it starts: the flags stand in for the command's `write`, `denyoom` and `stale`
//! in the checks before a command runs (Redis's `scriptFlagsToCmdFlags`), and
//! [`prepare_error`] makes the checks Redis's `scriptPrepareForRun` makes.

use tandem_resp::split_args;

/// What a script or function declared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    /// No shebang: an EVAL script as before 7.0.
    pub compat: bool,
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

impl ScriptFlags {
    /// An EVAL script without a shebang line.
    pub const COMPAT: ScriptFlags = ScriptFlags {
        compat: true,
        no_writes: false,
        allow_oom: false,
        allow_stale: false,
        no_cluster: false,
        allow_cross_slot_keys: false,
    };

    /// Sets the flag called `name`; false for a name Redis does not know.
    pub fn set(&mut self, name: &[u8]) -> bool {
        let flag = match name {
            b"no-writes" => &mut self.no_writes,
            b"allow-oom" => &mut self.allow_oom,
            b"allow-stale" => &mut self.allow_stale,
            b"no-cluster" => &mut self.no_cluster,
            b"allow-cross-slot-keys" => &mut self.allow_cross_slot_keys,
            _ => return false,
        };
        *flag = true;
        true
    }

    /// The flags of names already checked (a library function's).
    pub fn of_names<'a>(names: impl IntoIterator<Item = &'a String>) -> ScriptFlags {
        let mut flags = ScriptFlags::default();
        for name in names {
            flags.set(name.as_bytes());
        }
        flags
    }

    /// The command flags the checks before a run go by: the declared ones replace the
    /// command's `write`, `denyoom` and `stale` (no-writes implies allow-oom).
    pub fn apply(self, mut checks: crate::cmd::CheckFlags) -> crate::cmd::CheckFlags {
        if self.compat {
            return checks;
        }
        checks.write = !self.no_writes;
        checks.denyoom = !(self.no_writes || self.allow_oom);
        checks.stale = self.allow_stale;
        checks
    }
}

/// Reads the shebang line of an EVAL script: its flags and where the Lua code starts
/// (at the line's newline, so that line numbers stay the user's). A body that does not
/// start with `#!` is a compat script starting at 0. The error texts are Redis's.
pub fn shebang(body: &[u8]) -> Result<(ScriptFlags, usize), String> {
    if !body.starts_with(b"#!") {
        return Ok((ScriptFlags::COMPAT, 0));
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("ERR Invalid script shebang".into());
    };
    let parts = match split_args(&body[..end]) {
        Ok(parts) if !parts.is_empty() => parts,
        _ => return Err("ERR Invalid engine in script shebang".into()),
    };
    if parts[0] != b"#!lua" {
        return Err(format!(
            "ERR Unexpected engine in script shebang: {}",
            String::from_utf8_lossy(&parts[0])
        ));
    }
    let mut flags = ScriptFlags::default();
    for part in &parts[1..] {
        let Some(list) = part.strip_prefix(b"flags=") else {
            return Err(format!(
                "ERR Unknown lua shebang option: {}",
                String::from_utf8_lossy(part)
            ));
        };
        if list.is_empty() {
            continue;
        }
        for name in list.split(|&b| b == b',') {
            if !flags.set(name) {
                return Err(format!(
                    "ERR Unexpected flag in script shebang: {}",
                    String::from_utf8_lossy(name)
                ));
            }
        }
    }
    Ok((flags, end))
}

/// What a script's run is checked against before it starts.
pub struct Situation {
    /// A replica whose link is down with `replica-serve-stale-data no`.
    pub running_stale: bool,
    /// A read-only replica, for a caller that is not its master.
    pub read_only_replica: bool,
    /// EVAL_RO, EVALSHA_RO, FCALL_RO.
    pub ro_command: bool,
    /// `min-replicas-to-write` is not met (on a master).
    pub not_enough_replicas: bool,
    /// Memory was above `maxmemory` with nothing to evict when the command came in.
    pub oom: bool,
}

/// Redis's `scriptPrepareForRun` checks, in its order: the error reply that stops the run
/// before it starts, if any.
pub fn prepare_error(flags: ScriptFlags, at: &Situation) -> Option<&'static str> {
    if flags.compat {
        return at
            .running_stale
            .then_some(crate::replication_replica::MASTERDOWN_ERR);
    }
    if at.running_stale && !flags.allow_stale {
        return Some(
            "MASTERDOWN Link with MASTER is down, replica-serve-stale-data is set to 'no' and \
             'allow-stale' flag is not set on the script.",
        );
    }
    if !flags.no_writes {
        if at.read_only_replica {
            return Some("READONLY Can not run script with write flag on readonly replica");
        }
        if at.ro_command {
            return Some("ERR Can not execute a script with write flag using *_ro command.");
        }
        if at.not_enough_replicas {
            return Some(crate::cmd::repl::NOREPLICAS_ERR);
        }
    }
    if at.oom && !(flags.allow_oom || flags.no_writes) {
        return Some(
            "OOM allow-oom flag is not set on the script, can not run it when used memory > \
             'maxmemory'",
        );
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn shebangs_read_like_redis() {
        assert_eq!(shebang(b"return 1").unwrap(), (ScriptFlags::COMPAT, 0));
        let (flags, at) = shebang(b"#!lua flags=no-writes,allow-stale\nreturn 1").unwrap();
        assert!(flags.no_writes && flags.allow_stale && !flags.compat && !flags.allow_oom);
        assert_eq!(at, 33);
        assert_eq!(shebang(b"#!lua\n").unwrap(), (ScriptFlags::default(), 5));
        assert_eq!(
            shebang(b"#!lua flags=\n").unwrap().0,
            ScriptFlags::default()
        );
        let errors: [(&[u8], &str); 5] = [
            (b"#!lua", "ERR Invalid script shebang"),
            (
                b"#!python\n",
                "ERR Unexpected engine in script shebang: #!python",
            ),
            (b"#!lua name=x\n", "ERR Unknown lua shebang option: name=x"),
            (
                b"#!lua flags=no-writes,\n",
                "ERR Unexpected flag in script shebang: ",
            ),
            (b"#!lua \"x\n", "ERR Invalid engine in script shebang"),
        ];
        for (body, want) in errors {
            assert_eq!(shebang(body).unwrap_err(), want);
        }
    }
}

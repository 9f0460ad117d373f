//! The dispatcher's index of the command table, built once at start-up.
//!
//! Redis builds a dictionary of its commands when it starts (`populateCommandTable`) and
//! keeps each command's flags as bits, so the per-command work is one hash lookup and a few
//! bit tests. This module does the same over the `commands` crate's table: every implemented
//! command (and implemented subcommand) gets an [`Entry`] holding its spec, the handler to
//! call (resolved from its name once, not per call) and the flags the dispatcher tests on
//! every command, as plain booleans. Top-level names sit in a small open-addressing hash
//! table keyed by the ASCII-lower-cased name.
//!
//! The set of commands is exactly `tandem_commands::implemented()` and each container's
//! `implemented_subcommands`, so what a client can call is still decided by the
//! `commands` crate.

use std::sync::OnceLock;

use tandem_commands::data::Handler;
use tandem_commands::CommandSpec;

/// Which handler runs a command.
#[derive(Clone, Copy)]
pub enum Kind {
    /// A server command (connection, CLIENT, CONFIG, INFO, MULTI, ...): see
    /// [`super::server_handler`].
    Server(super::ServerHandler),
    /// A data command of the `commands` crate.
    Data(Handler),
    /// In the table but without a handler yet.
    Missing,
}

/// One implemented command or subcommand, with what the dispatcher needs precomputed.
pub struct Entry {
    pub spec: &'static CommandSpec,
    pub kind: Kind,
    /// Has subcommands in Redis's table (a container such as CLIENT): `args[1]` names one.
    pub container: bool,
    /// `no_auth` flag: runs before AUTH.
    pub no_auth: bool,
    /// `no_multi` flag: refused inside MULTI.
    pub no_multi: bool,
    /// Runs at once inside MULTI instead of being queued (EXEC, DISCARD, MULTI, WATCH, QUIT,
    /// RESET).
    pub multi_passthrough: bool,
    /// Never fed to MONITOR clients (`admin` or `skip_monitor`).
    pub hidden_from_monitor: bool,
    /// Held back by `CLIENT PAUSE WRITE` (`write` or `may_replicate`).
    pub pause_write: bool,
    /// `fast` flag: a slow run is the latency monitor's `fast-command` event.
    pub fast: bool,
    /// `noscript` flag: refused from scripts.
    pub noscript: bool,
    /// EVAL, EVALSHA, FCALL and their `_RO` forms: the script's declared flags may
    /// replace the command's.
    pub scripted: bool,
    /// The flags `processCommand`'s checks go by, read once from the spec.
    pub checks: super::CheckFlags,
    /// Implemented subcommands (empty for plain commands).
    pub subs: Box<[Entry]>,
}

/// All implemented commands, with a hash index over the top-level names.
pub struct Table {
    entries: Vec<Entry>,
    /// Open addressing, linear probing: index into `entries`, or `u32::MAX` when free.
    slots: Box<[u32]>,
    mask: usize,
}

/// Redis 7.0's commands with the `may_replicate` flag, which COMMAND INFO does not show
/// (so the generated table lacks it): held back by CLIENT PAUSE WRITE, refused in
/// read-only scripts.
const MAY_REPLICATE: &[&str] = &["eval", "evalsha", "fcall", "pfcount", "publish", "spublish"];

/// Longest command name looked up; anything longer cannot name a command.
const MAX_NAME: usize = 32;

/// The table, built on first use.
pub fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::build)
}

fn hash(name: &[u8]) -> usize {
    // FNV-1a over the bytes with bit 5 set: that lower-cases ASCII letters without a
    // branch (names are short, so this beats a general hasher). It also merges some
    // non-letters (`_` and DEL), which only the hash sees: `lookup` compares names.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in name {
        h ^= u64::from(b | 0x20);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h ^ (h >> 29)) as usize
}

impl Table {
    fn build() -> Table {
        let entries: Vec<Entry> = tandem_commands::implemented()
            .map(|spec| {
                let subs = tandem_commands::implemented_subcommands(spec)
                    .map(|sub| Entry::new(sub, Vec::new()))
                    .collect();
                Entry::new(spec, subs)
            })
            .collect();
        let capacity = (entries.len() * 4).next_power_of_two().max(16);
        let mut slots = vec![u32::MAX; capacity].into_boxed_slice();
        let mask = capacity - 1;
        for (i, e) in entries.iter().enumerate() {
            let mut at = hash(e.spec.name.as_bytes()) & mask;
            while slots[at] != u32::MAX {
                at = (at + 1) & mask;
            }
            slots[at] = i as u32;
        }
        Table {
            entries,
            slots,
            mask,
        }
    }

    /// The implemented command called `name` (ASCII case-insensitive).
    pub fn lookup(&self, name: &[u8]) -> Option<&Entry> {
        if name.len() > MAX_NAME {
            return None;
        }
        let mut at = hash(name) & self.mask;
        loop {
            let i = *self.slots.get(at)?;
            let e = self.entries.get(i as usize)?;
            if e.spec.name.as_bytes().eq_ignore_ascii_case(name) {
                return Some(e);
            }
            at = (at + 1) & self.mask;
        }
    }
}

impl Entry {
    fn new(spec: &'static CommandSpec, subs: Vec<Entry>) -> Entry {
        let top = spec.full_name.split('|').next().unwrap_or("");
        let kind = match super::server_handler(top) {
            Some(h) => Kind::Server(h),
            None => match tandem_commands::data::handler(spec.full_name) {
                Some(h) => Kind::Data(h),
                None => Kind::Missing,
            },
        };
        Entry {
            spec,
            kind,
            container: !spec.subcommands.is_empty(),
            no_auth: spec.has_flag("no_auth"),
            no_multi: spec.has_flag("no_multi"),
            multi_passthrough: matches!(
                spec.full_name,
                "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
            ),
            hidden_from_monitor: spec.has_flag("admin") || spec.has_flag("skip_monitor"),
            fast: spec.has_flag("fast"),
            noscript: spec.has_flag("noscript"),
            scripted: matches!(
                spec.full_name,
                "eval" | "eval_ro" | "evalsha" | "evalsha_ro" | "fcall" | "fcall_ro"
            ),
            pause_write: spec.is_write() || MAY_REPLICATE.contains(&spec.full_name),
            checks: super::CheckFlags::of(spec),
            subs: subs.into_boxed_slice(),
        }
    }

    /// The implemented subcommand called `name` (ASCII case-insensitive).
    pub fn sub(&self, name: &[u8]) -> Option<&Entry> {
        self.subs
            .iter()
            .find(|e| e.spec.name.as_bytes().eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn may_replicate_commands_count_as_writes_for_pauses_and_read_only_scripts() {
        let t = table();
        for name in [
            "pfcount", "publish", "spublish", "eval", "evalsha", "fcall", "set",
        ] {
            assert!(t.lookup(name.as_bytes()).unwrap().pause_write, "{name}");
        }
        for name in ["get", "eval_ro", "fcall_ro", "pfadd"] {
            let e = t.lookup(name.as_bytes()).unwrap();
            assert_eq!(e.pause_write, name == "pfadd", "{name}");
        }
        assert!(t.lookup(b"EVALSHA_RO").unwrap().scripted);
        assert!(!t.lookup(b"get").unwrap().scripted);
    }

    /// The index answers exactly what the `commands` crate's lookups answer.
    #[test]
    fn agrees_with_the_registry() {
        let t = table();
        for spec in tandem_commands::implemented() {
            for name in [
                spec.name.to_string(),
                spec.name.to_ascii_uppercase(),
                format!("{}x", spec.name),
            ] {
                let mine = t.lookup(name.as_bytes()).map(|e| e.spec.full_name);
                let theirs = tandem_commands::lookup(name.as_bytes()).map(|s| s.full_name);
                assert_eq!(mine, theirs, "{name}");
            }
            let e = t.lookup(spec.name.as_bytes()).unwrap();
            for sub in tandem_commands::implemented_subcommands(spec) {
                let upper = sub.name.to_ascii_uppercase();
                assert_eq!(
                    e.sub(upper.as_bytes()).map(|s| s.spec.full_name),
                    Some(sub.full_name)
                );
            }
            assert!(e.sub(b"no-such-subcommand").is_none());
        }
        for name in [&b""[..], b"nosuchcommand", &[b'a'; 40], b"\xff\xfe"] {
            assert!(t.lookup(name).is_none());
            assert!(tandem_commands::lookup(name).is_none());
        }
    }
}

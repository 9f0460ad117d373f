//! Tandem's command table: every command of Redis 7.0.15 with its metadata exactly
//! as `COMMAND INFO` and `COMMAND DOCS` of redis-server 7.0.15 report it, the set of
//! commands Tandem implements, and the COMMAND command itself.
//!
//! * [`spec`]: the data types of one table entry ([`CommandSpec`], [`KeySpec`], [`Arg`], ...).
//! * `generated`: the table itself, written by `cargo xtask codegen` from a live
//!   redis-server 7.0.15 (never edited by hand).
//! * [`registry`]: which commands are implemented, and case-insensitive lookups.
//!   Only implemented commands are visible to clients; the rest of the table waits
//!   for its name to be added to [`registry::IMPLEMENTED`].
//! * [`keys`]: key extraction from key specs (and Redis's special cases).
//! * [`acl`]: ACL users, their rules, the permission check and the descriptions ACL LIST
//!   shows.
//! * [`introspect`]: COMMAND, COMMAND COUNT / LIST / INFO / DOCS / GETKEYS /
//!   GETKEYSANDFLAGS / HELP, byte-for-byte as Redis replies in RESP2 and RESP3.
//! * [`errors`]: the dispatcher's error texts (unknown command, unknown subcommand,
//!   wrong number of arguments) and the arity rule.
//!
//! ```
//! use tandem_commands::{arity_ok, lookup, lookup_sub, wrong_arity_error};
//!
//! let client = lookup(b"CLIENT").unwrap();
//! let kill = lookup_sub(client, b"kill").unwrap();
//! assert_eq!(kill.fullname(), "client|kill");
//! assert!(!arity_ok(kill, 2));
//! assert_eq!(wrong_arity_error(kill), "ERR wrong number of arguments for 'client|kill' command");
//! assert!(lookup(b"nosuchcommand").is_none());
//! ```
#![forbid(unsafe_code)]

pub mod acl;
pub mod data;
pub mod errors;
#[rustfmt::skip]
mod generated;
pub mod glob;
pub mod introspect;
pub mod keys;
pub mod registry;
mod reply;
mod sha256;
pub mod spec;

pub use errors::{
    arity_ok, unknown_command_error, unknown_command_error_bytes, unknown_subcommand_error,
    unknown_subcommand_error_bytes, wrong_arity_error,
};
pub use introspect::{command_command, command_command_in, write_help};
pub use keys::{get_keys, has_keys, KeyFlags, KeyRef};
pub use registry::{
    all_commands, implemented, implemented_subcommands, lookup, lookup_any, lookup_sub,
    lookup_sub_any, Scope, IMPLEMENTED,
};
pub use spec::{Arg, BeginSearch, CommandDocs, CommandSpec, FindKeys, KeySpec};

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// Redis version the table was generated from.
pub const REDIS_VERSION: &str = "7.0.15";

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_implemented_name_resolves() {
        for (name, subs) in IMPLEMENTED {
            let spec = lookup_any(name.as_bytes()).unwrap_or_else(|| panic!("{name}"));
            assert!(lookup(name.as_bytes()).is_some(), "{name}");
            for sub in *subs {
                assert!(lookup_sub(spec, sub.as_bytes()).is_some(), "{name}|{sub}");
            }
            assert_eq!(spec.is_container(), !subs.is_empty(), "{name}");
        }
        assert_eq!(implemented().count(), IMPLEMENTED.len());
    }

    #[test]
    fn tables_are_sorted() {
        let names: Vec<_> = all_commands().map(|c| c.name).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        for w in IMPLEMENTED.windows(2) {
            assert!(w[0].0 < w[1].0);
        }
        for (_, subs) in IMPLEMENTED {
            assert!(subs.windows(2).all(|w| w[0] < w[1]));
        }
        for c in all_commands() {
            assert!(c.subcommands.windows(2).all(|w| w[0].name < w[1].name));
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(all_commands().count(), 240);
        assert_eq!(lookup(b"PiNg").unwrap().name, "ping");
        assert!(lookup(b"eval").is_some());
        assert!(lookup(b"nosuchcommand").is_none());
        assert!(lookup_sub(lookup(b"script").unwrap(), b"debug").is_none());
        assert!(lookup(b"publish").is_some());
        assert_eq!(lookup_any(b"SET").unwrap().arity, -3);
        let client = lookup(b"client").unwrap();
        assert!(lookup_sub(client, b"KILL").is_some());
        let config = lookup(b"config").unwrap();
        assert!(lookup_sub(config, b"resetstat").is_some());
        assert!(lookup_sub(client, b"no-touch").is_none());
        assert!(lookup_sub_any(client, b"no-touch").is_none());
        assert_eq!(implemented_subcommands(client).count(), 16);
        assert!(lookup_any(b"set").unwrap().is_write());
        assert!(!lookup(b"ping").unwrap().is_write());
        assert!(lookup(b"ping").unwrap().has_flag("fast"));
    }

    #[test]
    fn error_texts() {
        let args: Vec<&[u8]> = vec![b"foo", b"a", b"b"];
        assert_eq!(
            unknown_command_error(&args),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let none: Vec<&[u8]> = vec![b"foo"];
        assert_eq!(
            unknown_command_error(&none),
            "ERR unknown command 'foo', with args beginning with: "
        );
        assert_eq!(
            unknown_subcommand_error("client", b"x\r\ny"),
            "ERR unknown subcommand 'x  y'. Try CLIENT HELP."
        );
        let long = vec![b'a'; 300];
        let args: Vec<&[u8]> = vec![b"foo", &long, b"b"];
        let e = unknown_command_error(&args);
        assert_eq!(
            e.len(),
            "ERR unknown command 'foo', with args beginning with: ".len() + 131
        );
        let ping = lookup(b"ping").unwrap();
        assert!(arity_ok(ping, 1) && arity_ok(ping, 2) && !arity_ok(ping, 0));
        let echo = lookup(b"echo").unwrap();
        assert!(arity_ok(echo, 2) && !arity_ok(echo, 3));
    }
}

//! Which commands Tandem implements, and name lookup.
//!
//! The generated table holds every command of Redis 7.0.15; [`IMPLEMENTED`] names
//! the ones Tandem executes (and, for containers, which subcommands). Only those
//! are visible to clients: the dispatcher's [`lookup`] / [`lookup_sub`], and the
//! COMMAND command (COUNT, LIST, INFO, DOCS, GETKEYS). Implementing one more
//! command is adding its name here.
//!
//! Lookups are case-insensitive binary searches over the sorted tables: no
//! allocation, no hashing.

use std::cmp::Ordering;
use std::sync::OnceLock;

use crate::generated::COMMANDS;
use crate::spec::CommandSpec;

/// Commands Tandem implements, sorted by name, each with its implemented subcommands
/// (sorted; empty for commands without subcommands).
pub const IMPLEMENTED: &[(&str, &[&str])] = &[
    ("auth", &[]),
    (
        "client",
        &[
            "getname", "help", "id", "info", "kill", "list", "no-evict", "pause", "reply",
            "setname", "unpause",
        ],
    ),
    (
        "command",
        &[
            "count",
            "docs",
            "getkeys",
            "getkeysandflags",
            "help",
            "info",
            "list",
        ],
    ),
    ("config", &["get", "help", "resetstat", "rewrite", "set"]),
    ("debug", &[]),
    ("echo", &[]),
    ("hello", &[]),
    ("info", &[]),
    ("monitor", &[]),
    ("ping", &[]),
    ("quit", &[]),
    ("reset", &[]),
    ("select", &[]),
    ("shutdown", &[]),
    ("time", &[]),
];

/// Which part of the table a lookup sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Only the commands (and subcommands) Tandem implements: what clients see.
    Implemented,
    /// The whole Redis 7.0.15 table (tests, tooling).
    All,
}

/// Compares a table name (lower-case) with user input, ignoring the input's ASCII case.
fn cmp_name(name: &str, input: &[u8]) -> Ordering {
    name.bytes()
        .cmp(input.iter().map(|b| b.to_ascii_lowercase()))
}

fn find<'a, T>(items: &'a [T], name_of: impl Fn(&T) -> &str, input: &[u8]) -> Option<&'a T> {
    items
        .binary_search_by(|item| cmp_name(name_of(item), input))
        .ok()
        .and_then(|i| items.get(i))
}

/// The implemented top-level commands, resolved once.
fn implemented_specs() -> &'static [&'static CommandSpec] {
    static SPECS: OnceLock<Vec<&'static CommandSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        IMPLEMENTED
            .iter()
            .filter_map(|(name, _)| lookup_any(name.as_bytes()))
            .collect()
    })
}

/// Case-insensitive lookup among implemented commands.
pub fn lookup(name: &[u8]) -> Option<&'static CommandSpec> {
    find(implemented_specs(), |s| s.name, name).copied()
}

/// Case-insensitive lookup in the whole Redis 7.0.15 table, implemented or not.
pub fn lookup_any(name: &[u8]) -> Option<&'static CommandSpec> {
    find(COMMANDS, |s| s.name, name)
}

/// Subcommand lookup among implemented subcommands of `parent`.
pub fn lookup_sub(parent: &'static CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    let (_, subs) = find(IMPLEMENTED, |(n, _)| n, parent.name.as_bytes())?;
    find(subs, |n| n, sub)?;
    lookup_sub_any(parent, sub)
}

/// Subcommand lookup among all subcommands of `parent`.
pub fn lookup_sub_any(parent: &'static CommandSpec, sub: &[u8]) -> Option<&'static CommandSpec> {
    find(parent.subcommands, |s| s.name, sub)
}

/// Implemented commands, sorted by name.
pub fn implemented() -> impl Iterator<Item = &'static CommandSpec> {
    implemented_specs().iter().copied()
}

/// Implemented subcommands of `parent` (sorted by name; empty when it has none).
pub fn implemented_subcommands(
    parent: &'static CommandSpec,
) -> impl Iterator<Item = &'static CommandSpec> {
    parent
        .subcommands
        .iter()
        .filter(move |s| lookup_sub(parent, s.name.as_bytes()).is_some())
}

/// Every command of the Redis 7.0.15 table, sorted by name.
pub fn all_commands() -> impl Iterator<Item = &'static CommandSpec> {
    COMMANDS.iter()
}

impl Scope {
    /// Top-level lookup in this scope.
    pub fn lookup(self, name: &[u8]) -> Option<&'static CommandSpec> {
        match self {
            Scope::Implemented => lookup(name),
            Scope::All => lookup_any(name),
        }
    }

    /// Subcommand lookup in this scope.
    pub fn lookup_sub(
        self,
        parent: &'static CommandSpec,
        sub: &[u8],
    ) -> Option<&'static CommandSpec> {
        match self {
            Scope::Implemented => lookup_sub(parent, sub),
            Scope::All => lookup_sub_any(parent, sub),
        }
    }

    /// Top-level commands of this scope, sorted by name.
    pub fn commands(self) -> Box<dyn Iterator<Item = &'static CommandSpec>> {
        match self {
            Scope::Implemented => Box::new(implemented()),
            Scope::All => Box::new(all_commands()),
        }
    }

    /// Visible subcommands of `parent` in this scope, sorted by name.
    pub fn subcommands(
        self,
        parent: &'static CommandSpec,
    ) -> Box<dyn Iterator<Item = &'static CommandSpec>> {
        match self {
            Scope::Implemented => Box::new(implemented_subcommands(parent)),
            Scope::All => Box::new(parent.subcommands.iter()),
        }
    }

    /// Lookup by full name as COMMAND INFO/DOCS do: `"get"`, `"client|kill"`
    /// (exactly one `|` for a subcommand; a subcommand of a command without
    /// subcommands, or more than two parts, is not found).
    pub fn lookup_fullname(self, name: &[u8]) -> Option<&'static CommandSpec> {
        let mut parts = name.split(|&b| b == b'|');
        let first = parts.next()?;
        let second = parts.next();
        if parts.next().is_some() {
            return None;
        }
        let base = self.lookup(first)?;
        match second {
            None => Some(base),
            Some(_) if !base.is_container() => None,
            Some(sub) => self.lookup_sub(base, sub),
        }
    }
}

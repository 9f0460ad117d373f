//! The shape of one entry of the command table.
//!
//! Every type here is plain `'static` data: the table in `generated.rs` is a
//! tree of these structs written by `cargo xtask codegen` from what redis-server
//! 7.0.15 answers to `COMMAND INFO` and `COMMAND DOCS`. Field names follow the
//! names Redis uses in those replies, and every list keeps Redis's order, so the
//! COMMAND command can replay the table byte for byte.

/// One command (or one subcommand, such as `client|kill`) of Redis 7.0.15.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandSpec {
    /// Lower-case name: `"get"` for a command, `"kill"` for the subcommand `client|kill`.
    pub name: &'static str,
    /// Full name as Redis reports it: `"get"`, `"client|kill"`.
    pub full_name: &'static str,
    /// Arity: exact argument count (command name included) when positive, minimum when negative.
    pub arity: i32,
    /// Command flags in Redis's reply order (`write`, `readonly`, `denyoom`, ...).
    pub flags: &'static [&'static str],
    /// Legacy first key position (0: no keys).
    pub first_key: i32,
    /// Legacy last key position (negative: counted from the end).
    pub last_key: i32,
    /// Legacy step between keys.
    pub step: i32,
    /// ACL categories, `@`-prefixed (`@write`, `@string`, ...).
    pub acl_categories: &'static [&'static str],
    /// Command tips (`nondeterministic_output`, `request_policy:all_shards`, ...).
    pub tips: &'static [&'static str],
    /// Key specifications, in Redis's order (arguments refer to them by index).
    pub key_specs: &'static [KeySpec],
    /// Every subcommand of the full table, sorted by name. Which of them are
    /// visible is decided by [`crate::lookup_sub`] / [`crate::implemented_subcommands`].
    pub subcommands: &'static [CommandSpec],
    /// `COMMAND DOCS` data.
    pub docs: CommandDocs,
}

/// One key specification (`COMMAND INFO` element 9).
#[derive(Debug, PartialEq, Eq)]
pub struct KeySpec {
    /// Free-form notes.
    pub notes: Option<&'static str>,
    /// Key flags in Redis's reply order (`RO`, `RW`, `OW`, `RM`, `access`, ...).
    pub flags: &'static [&'static str],
    /// Where the search for keys begins.
    pub begin_search: BeginSearch,
    /// How keys are found from the beginning.
    pub find_keys: FindKeys,
}

/// `begin_search` part of a key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    /// Keys cannot be located from the spec.
    Unknown,
    /// Keys begin at a fixed argument index.
    Index(i32),
    /// Keys begin after a keyword, searched from `startfrom` (negative: from the end, backwards).
    Keyword {
        /// The keyword (matched case-insensitively).
        keyword: &'static str,
        /// Index the search starts from.
        startfrom: i32,
    },
}

/// `find_keys` part of a key spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    /// Keys cannot be located from the spec.
    Unknown,
    /// A range of keys.
    Range {
        /// Last key relative to the first one (negative: relative to the end).
        lastkey: i32,
        /// Step between keys.
        keystep: i32,
        /// With `lastkey == -1`: only `1/limit` of the remaining arguments are keys (0: all).
        limit: i32,
    },
    /// The number of keys is given by an argument.
    Keynum {
        /// Index of the count argument, relative to the beginning.
        keynumidx: i32,
        /// Index of the first key, relative to the beginning.
        firstkey: i32,
        /// Step between keys.
        keystep: i32,
    },
}

/// `COMMAND DOCS` data of one command. `None` / empty fields are absent from the reply.
#[derive(Debug, PartialEq, Eq)]
pub struct CommandDocs {
    /// Short description.
    pub summary: Option<&'static str>,
    /// Version that introduced the command.
    pub since: Option<&'static str>,
    /// Group (`string`, `server`, `connection`, ...).
    pub group: &'static str,
    /// Time complexity.
    pub complexity: Option<&'static str>,
    /// Documentation flags (`deprecated`, `syscmd`); absent when empty.
    pub doc_flags: &'static [&'static str],
    /// Version that deprecated the command.
    pub deprecated_since: Option<&'static str>,
    /// Replacement suggested for a deprecated command.
    pub replaced_by: Option<&'static str>,
    /// `(version, change)` pairs.
    pub history: Option<&'static [(&'static str, &'static str)]>,
    /// Argument tree.
    pub arguments: Option<&'static [Arg]>,
}

/// One argument of the `COMMAND DOCS` argument tree.
#[derive(Debug, PartialEq, Eq)]
pub struct Arg {
    /// Argument name.
    pub name: &'static str,
    /// Argument type (`string`, `integer`, `double`, `key`, `pattern`, `unix-time`,
    /// `pure-token`, `oneof`, `block`).
    pub kind: &'static str,
    /// Index into the command's key specs, for `key` arguments.
    pub key_spec_index: Option<i32>,
    /// Literal token preceding the value.
    pub token: Option<&'static str>,
    /// Short description.
    pub summary: Option<&'static str>,
    /// Version that introduced the argument.
    pub since: Option<&'static str>,
    /// Version that deprecated the argument.
    pub deprecated_since: Option<&'static str>,
    /// Argument flags (`optional`, `multiple`, `multiple_token`); absent when empty.
    pub flags: &'static [&'static str],
    /// Nested arguments of `oneof` / `block` arguments.
    pub arguments: Option<&'static [Arg]>,
}

impl CommandSpec {
    /// Full name, e.g. `"client|kill"`.
    pub fn fullname(&self) -> String {
        self.full_name.to_string()
    }

    /// True when the command carries flag `f` (as Redis spells it, e.g. `"write"`, `"noscript"`).
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x.eq_ignore_ascii_case(f))
    }

    /// True for commands that may modify the dataset (`write` flag).
    pub fn is_write(&self) -> bool {
        self.has_flag("write")
    }

    /// True when the command has subcommands (a "container" such as CLIENT or CONFIG).
    pub fn is_container(&self) -> bool {
        !self.subcommands.is_empty()
    }

    /// True when the command belongs to ACL category `cat` (with or without the leading `@`,
    /// case-insensitive).
    pub fn in_acl_category(&self, cat: &str) -> bool {
        let cat = cat.strip_prefix('@').unwrap_or(cat);
        self.acl_categories
            .iter()
            .any(|c| c.strip_prefix('@').unwrap_or(c).eq_ignore_ascii_case(cat))
    }
}

impl KeySpec {
    /// True when the key spec carries flag `f` (`"RO"`, `"not_key"`, `"incomplete"`, ...).
    pub fn has_flag(&self, f: &str) -> bool {
        self.flags.iter().any(|x| x.eq_ignore_ascii_case(f))
    }
}

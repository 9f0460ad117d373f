//! Key extraction: which arguments of a command line are keys, with which access flags.
//!
//! This follows Redis 7.0.15 (`getKeysFromCommandWithSpecs`): the key specs of the
//! table are used when they are complete and their flags are fixed; otherwise (a spec
//! is `incomplete`, `unknown`, flagged `variable_flags`, or fails on this input) the
//! command's own key-finding routine is used, as Redis does with its `getkeys_proc`
//! callbacks (SORT, MIGRATE, EVAL, ZUNIONSTORE, XREAD, SET, BITFIELD, ...).
//! COMMAND GETKEYS / GETKEYSANDFLAGS are built on [`get_keys`]; a cluster router or
//! ACL key checks can use it too.

use crate::spec::{BeginSearch, CommandSpec, FindKeys};

/// Key access flags, as a bit set. Names and reply order are Redis's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct KeyFlags(pub u16);

/// Key flag names in Redis's reply order; bit `i` of [`KeyFlags`] is `KEY_FLAG_NAMES[i]`.
pub const KEY_FLAG_NAMES: [&str; 11] = [
    "RO",
    "RW",
    "OW",
    "RM",
    "access",
    "update",
    "insert",
    "delete",
    "not_key",
    "incomplete",
    "variable_flags",
];

impl KeyFlags {
    /// Read-only access.
    pub const RO: KeyFlags = KeyFlags(1 << 0);
    /// Read-write access.
    pub const RW: KeyFlags = KeyFlags(1 << 1);
    /// Overwrite.
    pub const OW: KeyFlags = KeyFlags(1 << 2);
    /// Delete.
    pub const RM: KeyFlags = KeyFlags(1 << 3);
    /// The value is returned or copied.
    pub const ACCESS: KeyFlags = KeyFlags(1 << 4);
    /// The value is updated.
    pub const UPDATE: KeyFlags = KeyFlags(1 << 5);
    /// Data is inserted.
    pub const INSERT: KeyFlags = KeyFlags(1 << 6);
    /// Data is deleted.
    pub const DELETE: KeyFlags = KeyFlags(1 << 7);
    /// Not a key (e.g. a channel-like name).
    pub const NOT_KEY: KeyFlags = KeyFlags(1 << 8);
    /// The spec may not find every key.
    pub const INCOMPLETE: KeyFlags = KeyFlags(1 << 9);
    /// The flags depend on the arguments.
    pub const VARIABLE_FLAGS: KeyFlags = KeyFlags(1 << 10);

    /// Flags from their names (unknown names are ignored).
    pub fn from_names(names: &[&str]) -> KeyFlags {
        let mut bits = 0u16;
        for name in names {
            if let Some(i) = KEY_FLAG_NAMES.iter().position(|n| n == name) {
                bits |= 1 << i;
            }
        }
        KeyFlags(bits)
    }

    /// Names of the set flags, in Redis's reply order.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        KEY_FLAG_NAMES
            .iter()
            .enumerate()
            .filter(move |(i, _)| self.0 & (1 << i) != 0)
            .map(|(_, n)| *n)
    }

    /// True when every flag of `other` is set.
    pub fn contains(self, other: KeyFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Union.
    pub const fn union(self, other: KeyFlags) -> KeyFlags {
        KeyFlags(self.0 | other.0)
    }
}

/// One key found in a command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    /// Index in the argument vector (0 is the command name).
    pub pos: usize,
    /// Access flags.
    pub flags: KeyFlags,
}

/// The command's own key-finding routine, when Redis has one (`getkeys_proc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proc {
    /// `numkeys`-style commands: (store key index, numkeys index, first key index, step).
    Generic(usize, usize, usize, usize),
    Sort,
    SortRo,
    Migrate,
    Georadius,
    Xread,
    Set,
    Bitfield,
}

fn getkeys_proc(spec: &CommandSpec) -> Option<Proc> {
    Some(match spec.full_name {
        "sintercard" | "lmpop" | "zmpop" | "zdiff" | "zinter" | "zintercard" | "zunion" => {
            Proc::Generic(0, 1, 2, 1)
        }
        "zdiffstore" | "zinterstore" | "zunionstore" => Proc::Generic(1, 2, 3, 1),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" | "blmpop"
        | "bzmpop" => Proc::Generic(0, 2, 3, 1),
        "sort" => Proc::Sort,
        "sort_ro" => Proc::SortRo,
        "migrate" => Proc::Migrate,
        "georadius" | "georadiusbymember" => Proc::Georadius,
        "xread" | "xreadgroup" => Proc::Xread,
        "set" => Proc::Set,
        "bitfield" => Proc::Bitfield,
        _ => return None,
    })
}

/// The part of a C string Redis sees: up to the first NUL byte.
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// `strcasecmp(arg, word) == 0`.
fn eq_ci(arg: &[u8], word: &str) -> bool {
    cstr(arg).eq_ignore_ascii_case(word.as_bytes())
}

/// True when Redis considers that the command may have key arguments
/// (`doesCommandHaveKeys`).
pub fn has_keys(spec: &CommandSpec) -> bool {
    getkeys_proc(spec).is_some() || spec.key_specs.iter().any(|k| !k.has_flag("not_key"))
}

/// Finds the keys of `argv` (`argv[0]` is the command name, or the container name for a
/// subcommand, whose own name is then `argv[1]`). Returns an empty list when the
/// arguments are malformed (the command itself would then report the error).
pub fn get_keys<A: AsRef<[u8]>>(spec: &CommandSpec, argv: &[A]) -> Vec<KeyRef> {
    let has_keyspec = spec.key_specs.iter().any(|k| !k.has_flag("not_key"));
    let has_varflags = spec.key_specs.iter().any(|k| k.has_flag("variable_flags"));
    if has_keyspec && !has_varflags {
        if let Some(keys) = keys_from_specs(spec, argv) {
            return keys;
        }
    }
    match getkeys_proc(spec) {
        Some(p) => run_proc(p, argv),
        None => Vec::new(),
    }
}

/// `string2ll` restricted to what the key-spec code accepts: a non-negative number.
fn parse_numkeys(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    if s.is_empty() || s.len() >= 21 || !(b'1'..=b'9').contains(&s[0]) {
        return None;
    }
    let mut v: i64 = 0;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(i64::from(c - b'0'))?;
    }
    Some(v)
}

/// `getKeysUsingKeySpecs` with default search flags; `None` is Redis's `-1` (invalid spec).
fn keys_from_specs<A: AsRef<[u8]>>(spec: &CommandSpec, argv: &[A]) -> Option<Vec<KeyRef>> {
    let argc = i64::try_from(argv.len()).ok()?;
    let arg = |i: i64| {
        usize::try_from(i)
            .ok()
            .and_then(|i| argv.get(i))
            .map(AsRef::as_ref)
    };
    let mut keys = Vec::new();
    for ks in spec.key_specs {
        let flags = KeyFlags::from_names(ks.flags);
        if flags.contains(KeyFlags::NOT_KEY) {
            continue;
        }
        let mut first: i64 = match ks.begin_search {
            BeginSearch::Index(pos) => i64::from(pos),
            BeginSearch::Keyword { keyword, startfrom } => {
                let startfrom = i64::from(startfrom);
                let start = if startfrom > 0 {
                    startfrom
                } else {
                    argc + startfrom
                };
                let end = if startfrom > 0 { argc - 1 } else { 1 };
                let mut found = 0;
                let mut i = start;
                while i != end {
                    if i >= argc || i < 1 {
                        break;
                    }
                    if arg(i).is_some_and(|a| eq_ci(a, keyword)) {
                        found = i + 1;
                        break;
                    }
                    i = if start <= end { i + 1 } else { i - 1 };
                }
                if found == 0 {
                    continue;
                }
                found
            }
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match ks.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let (lastkey, limit) = (i64::from(lastkey), i64::from(limit));
                let last = if lastkey >= 0 {
                    first + lastkey
                } else if limit == 0 {
                    argc + lastkey
                } else {
                    first + ((argc - first) / limit + lastkey)
                };
                (last, i64::from(keystep))
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                if i64::from(keynumidx) >= argc {
                    return None;
                }
                let numkeys = parse_numkeys(arg(first + i64::from(keynumidx))?)?;
                first += i64::from(firstkey);
                // Redis computes this in C `int`.
                let last = i64::from((first as i32).wrapping_add(numkeys as i32).wrapping_sub(1));
                (last, i64::from(keystep))
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        let step = step.max(1);
        let mut i = first;
        while i <= last {
            keys.push(KeyRef {
                pos: usize::try_from(i).ok()?,
                flags,
            });
            i += step;
        }
        if flags.contains(KeyFlags::INCOMPLETE) {
            return None;
        }
    }
    Some(keys)
}

/// C `atoi`: leading whitespace, optional sign, digits; the value is truncated to `int`.
fn atoi(s: &[u8]) -> i64 {
    let mut it = s
        .iter()
        .copied()
        .skip_while(|c| matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))
        .peekable();
    let neg = match it.peek() {
        Some(b'-') => {
            it.next();
            true
        }
        Some(b'+') => {
            it.next();
            false
        }
        _ => false,
    };
    let mut v: i64 = 0;
    for c in it {
        if !c.is_ascii_digit() {
            break;
        }
        v = v.saturating_mul(10).saturating_add(i64::from(c - b'0'));
    }
    let v = if neg { -v } else { v };
    // strtol saturates to long, then the conversion to int keeps the low 32 bits.
    i64::from(v as i32)
}

fn run_proc<A: AsRef<[u8]>>(p: Proc, argv: &[A]) -> Vec<KeyRef> {
    let argc = argv.len();
    let arg = |i: usize| argv.get(i).map(AsRef::as_ref).unwrap_or(b"");
    let key = |pos: usize, flags: KeyFlags| KeyRef { pos, flags };
    match p {
        Proc::Generic(store, count_at, first, step) => {
            if count_at >= argc {
                return Vec::new();
            }
            let num = atoi(arg(count_at));
            let max = i64::try_from(argc.saturating_sub(first) / step).unwrap_or(i64::MAX);
            if num < 1 || num > max {
                return Vec::new();
            }
            let num = usize::try_from(num).unwrap_or(0);
            let mut keys: Vec<KeyRef> = (0..num)
                .map(|i| key(first + i * step, KeyFlags::default()))
                .collect();
            if store != 0 {
                keys.push(key(store, KeyFlags::default()));
            }
            keys
        }
        Proc::SortRo => vec![key(1, KeyFlags::RO.union(KeyFlags::ACCESS))],
        Proc::Sort => {
            let mut keys = vec![key(1, KeyFlags::RO.union(KeyFlags::ACCESS))];
            let mut store = None;
            let mut i = 2;
            while i < argc {
                let a = arg(i);
                // Redis's skip list: LIMIT skips 2, GET and BY skip 1; STORE is
                // recognised only when not preceded by a skip-list match.
                for (name, skip) in [("limit", 2), ("get", 1), ("by", 1)] {
                    if eq_ci(a, name) {
                        i += skip;
                        break;
                    } else if eq_ci(a, "store") && i + 1 < argc {
                        store = Some(i + 1);
                        break;
                    }
                }
                i += 1;
            }
            if let Some(pos) = store {
                keys.push(key(pos, KeyFlags::OW.union(KeyFlags::UPDATE)));
            }
            keys
        }
        Proc::Migrate => {
            let mut first = 3;
            let mut num = 1;
            if argc > 6 {
                let mut i = 6;
                while i < argc {
                    if eq_ci(arg(i), "keys") {
                        if !arg(3).is_empty() {
                            num = 0;
                        } else {
                            first = i + 1;
                            num = argc - first;
                        }
                        break;
                    }
                    for (name, skip) in [("copy", 0), ("replace", 0), ("auth", 1), ("auth2", 2)] {
                        if eq_ci(arg(i), name) {
                            i += skip;
                            break;
                        }
                    }
                    i += 1;
                }
            }
            let flags = KeyFlags::RW.union(KeyFlags::ACCESS).union(KeyFlags::DELETE);
            (0..num).map(|i| key(first + i, flags)).collect()
        }
        Proc::Georadius => {
            let mut stored = None;
            let mut i = 5;
            while i < argc {
                let a = arg(i);
                if (eq_ci(a, "store") || eq_ci(a, "storedist")) && i + 1 < argc {
                    stored = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            let mut keys = vec![key(1, KeyFlags::default())];
            if let Some(pos) = stored {
                keys.push(key(pos, KeyFlags::default()));
            }
            keys
        }
        Proc::Xread => {
            let mut streams_pos = None;
            let mut i = 1;
            while i < argc {
                let a = arg(i);
                if eq_ci(a, "block") || eq_ci(a, "count") {
                    i += 1;
                } else if eq_ci(a, "group") {
                    i += 2;
                } else if eq_ci(a, "noack") {
                    // no argument
                } else if eq_ci(a, "streams") {
                    streams_pos = Some(i);
                    break;
                } else {
                    break;
                }
                i += 1;
            }
            let Some(sp) = streams_pos else {
                return Vec::new();
            };
            let num = argc - sp - 1;
            if num == 0 || !num.is_multiple_of(2) {
                return Vec::new();
            }
            let num = num / 2;
            (sp + 1..argc - num)
                .map(|pos| key(pos, KeyFlags::default()))
                .collect()
        }
        Proc::Set => {
            let get = (3..argc).any(|i| eq_ci(arg(i), "get"));
            let flags = if get {
                KeyFlags::RW.union(KeyFlags::ACCESS).union(KeyFlags::UPDATE)
            } else {
                KeyFlags::OW.union(KeyFlags::UPDATE)
            };
            vec![key(1, flags)]
        }
        Proc::Bitfield => {
            let mut readonly = true;
            let mut i = 2;
            while i < argc {
                let remargs = argc - i - 1;
                let a = arg(i);
                if eq_ci(a, "get") && remargs >= 2 {
                    i += 2;
                } else if (eq_ci(a, "set") || eq_ci(a, "incrby")) && remargs >= 3 {
                    readonly = false;
                    break;
                } else if eq_ci(a, "overflow") && remargs >= 1 {
                    i += 1;
                } else {
                    readonly = false;
                    break;
                }
                i += 1;
            }
            let flags = if readonly {
                KeyFlags::RO.union(KeyFlags::ACCESS)
            } else {
                KeyFlags::RW.union(KeyFlags::ACCESS).union(KeyFlags::UPDATE)
            };
            vec![key(1, flags)]
        }
    }
}

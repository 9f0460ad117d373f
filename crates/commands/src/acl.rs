//! Access control lists: users, their rules and the permission check, as Redis 7.0
//! defines them (`ACL SETUSER`, `AUTH <user> <pass>`, `-NOPERM`).
//!
//! A [`User`] has flags (on/off, nopass, payload sanitizing), SHA-256 password hashes and
//! a root [`Selector`] plus any number of extra selectors (`(...)` rules): a command runs
//! when one selector allows the command (or its first argument), every key it names and
//! every channel it publishes or subscribes to.
//!
//! Command permissions are a bit per command and subcommand of Redis's whole table (not
//! only the commands Tandem implements, so that category counts and rule descriptions
//! are Redis's), plus the "future commands" bit that only `+@all` sets. A selector keeps
//! no list of the rules it was given: like Redis 7.0, ACL LIST and ACL GETUSER describe the
//! bits with a best fit (start from `+@all` or `-@all`, add each category where that
//! helps, then single commands), so equal permissions always read the same.
//! Redis emits the single commands in its command table's hash order, which changes from
//! one process to the next; Tandem emits them in table order.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::LazyLock;

use crate::CommandSpec;

/// ACL categories, in Redis's order (ACL CAT, and the order the description tries them).
pub const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Key permission bits of a key pattern.
const READ: u8 = 1;
const WRITE: u8 = 2;
const READ_WRITE: u8 = READ | WRITE;

/// One command or subcommand of Redis's table.
struct Cmd {
    spec: &'static CommandSpec,
    subs: Vec<usize>,
    /// Bit `i` set: in category `CATEGORIES[i]`.
    cats: u32,
}

/// Every command and subcommand; a command's id is its index.
struct Table {
    cmds: Vec<Cmd>,
    /// Top-level commands, in table order.
    top: Vec<usize>,
    by_name: HashMap<&'static str, usize>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut t = Table {
        cmds: Vec::new(),
        top: Vec::new(),
        by_name: HashMap::new(),
    };
    let cats = |spec: &CommandSpec| {
        CATEGORIES
            .iter()
            .enumerate()
            .filter(|(_, c)| spec.in_acl_category(c))
            .fold(0u32, |acc, (i, _)| acc | 1 << i)
    };
    for spec in crate::all_commands() {
        let id = t.cmds.len();
        t.top.push(id);
        t.by_name.insert(spec.full_name, id);
        t.cmds.push(Cmd {
            spec,
            subs: Vec::new(),
            cats: cats(spec),
        });
        for sub in spec.subcommands {
            let sid = t.cmds.len();
            t.by_name.insert(sub.full_name, sid);
            t.cmds.push(Cmd {
                spec: sub,
                subs: Vec::new(),
                cats: cats(sub),
            });
            t.cmds[id].subs.push(sid);
        }
    }
    t
});

fn category_bit(name: &str) -> Option<u32> {
    CATEGORIES
        .iter()
        .position(|c| c.eq_ignore_ascii_case(name))
        .map(|i| 1 << i)
}

/// Names of the commands (and subcommands, as `parent|sub`) in category `name`, or
/// `None` for an unknown category (ACL CAT).
pub fn category_commands(name: &str) -> Option<Vec<&'static str>> {
    let bit = category_bit(name)?;
    Some(
        TABLE
            .cmds
            .iter()
            .filter(|c| c.cats & bit != 0)
            .map(|c| c.spec.full_name)
            .collect(),
    )
}

/// Why an ACL rule was refused (Redis's `errno` values, with its texts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RuleError {
    UnknownName,
    Syntax,
    AfterAllKeys,
    AfterAllChannels,
    NoSuchPassword,
    BadHash,
    SubcommandFirstArg,
}

impl RuleError {
    pub fn text(self) -> &'static str {
        match self {
            RuleError::UnknownName => "Unknown command or category name in ACL",
            RuleError::Syntax => "Syntax error",
            RuleError::AfterAllKeys => "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have any effect. Try 'resetkeys' to start with an empty list of patterns",
            RuleError::AfterAllChannels => "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not have any effect. Try 'resetchannels' to start with an empty list of channels",
            RuleError::NoSuchPassword => "The password you are trying to remove from the user does not exist",
            RuleError::BadHash => "The password hash must be exactly 64 characters and contain only lowercase hexadecimal characters",
            RuleError::SubcommandFirstArg => "Allowing first-arg of a subcommand is not supported",
        }
    }
}

/// Command, key and channel permissions: a user's root rules or one `(...)` selector.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    /// One bit per command id.
    bits: Vec<u64>,
    /// Set by `+@all` only: commands added later are allowed too.
    future: bool,
    /// First arguments allowed for a command that is otherwise denied (`+select|0`).
    first_args: BTreeMap<usize, Vec<String>>,
    all_keys: bool,
    keys: Vec<(u8, String)>,
    all_channels: bool,
    channels: Vec<String>,
}

impl Selector {
    /// No commands, no keys, no channels.
    fn empty() -> Selector {
        Selector {
            bits: vec![0; TABLE.cmds.len().div_ceil(64)],
            future: false,
            first_args: BTreeMap::new(),
            all_keys: false,
            keys: Vec::new(),
            all_channels: false,
            channels: Vec::new(),
        }
    }

    /// What a new user or selector starts with (`acl-pubsub-default`).
    fn new(all_channels: bool) -> Selector {
        Selector {
            all_channels,
            ..Selector::empty()
        }
    }

    fn bit(&self, id: usize) -> bool {
        self.bits[id / 64] & (1 << (id % 64)) != 0
    }

    fn set_bit(&mut self, id: usize, on: bool) {
        if on {
            self.bits[id / 64] |= 1 << (id % 64);
        } else {
            self.bits[id / 64] &= !(1 << (id % 64));
        }
    }

    /// A command and all its subcommands (Redis's `ACLChangeSelectorPerm`).
    fn change_perm(&mut self, id: usize, allow: bool) {
        self.set_bit(id, allow);
        self.first_args.remove(&id);
        for &sub in &TABLE.cmds[id].subs {
            self.set_bit(sub, allow);
        }
    }

    fn set_category(&mut self, bit: u32, allow: bool) {
        for id in 0..TABLE.cmds.len() {
            if TABLE.cmds[id].cats & bit != 0 {
                self.change_perm(id, allow);
            }
        }
    }

    fn all_commands(&mut self, on: bool) {
        let fill = if on { u64::MAX } else { 0 };
        self.bits.iter_mut().for_each(|w| *w = fill);
        self.future = on;
        self.first_args.clear();
    }

    /// Applies one selector rule (keys, channels, commands).
    pub fn apply(&mut self, op: &str) -> Result<(), RuleError> {
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "allkeys" | "~*" => {
                self.all_keys = true;
                self.keys.clear();
            }
            "resetkeys" => {
                self.all_keys = false;
                self.keys.clear();
            }
            "allchannels" | "&*" => {
                self.all_channels = true;
                self.channels.clear();
            }
            "resetchannels" => {
                self.all_channels = false;
                self.channels.clear();
            }
            "allcommands" | "+@all" => self.all_commands(true),
            "nocommands" | "-@all" => self.all_commands(false),
            _ => return self.apply_pattern_or_command(op),
        }
        Ok(())
    }

    fn apply_pattern_or_command(&mut self, op: &str) -> Result<(), RuleError> {
        let bytes = op.as_bytes();
        match bytes.first() {
            Some(b'~') | Some(b'%') => self.add_key_pattern(op),
            Some(b'&') => {
                if self.all_channels {
                    return Err(RuleError::AfterAllChannels);
                }
                let pat = op[1..].to_owned();
                if pat.contains([' ', '\0']) {
                    return Err(RuleError::Syntax);
                }
                if !self.channels.contains(&pat) {
                    self.channels.push(pat);
                }
                Ok(())
            }
            Some(&sign @ (b'+' | b'-')) if bytes.get(1) == Some(&b'@') => {
                let bit = category_bit(&op[2..]).ok_or(RuleError::UnknownName)?;
                self.set_category(bit, sign == b'+');
                Ok(())
            }
            Some(b'+') => self.allow_command(&op[1..]),
            Some(b'-') => {
                let id = lookup(&op[1..]).ok_or(RuleError::UnknownName)?;
                self.change_perm(id, false);
                Ok(())
            }
            _ => Err(RuleError::Syntax),
        }
    }

    fn add_key_pattern(&mut self, op: &str) -> Result<(), RuleError> {
        if self.all_keys {
            return Err(RuleError::AfterAllKeys);
        }
        let (flags, pattern) = if let Some(rest) = op.strip_prefix('%') {
            // Permission letters up to the `~`; running out of letters leaves an empty
            // pattern, as in Redis.
            let mut flags = 0u8;
            let mut pattern = "";
            for (i, c) in rest.char_indices() {
                if c.eq_ignore_ascii_case(&'r') && flags & READ == 0 {
                    flags |= READ;
                } else if c.eq_ignore_ascii_case(&'w') && flags & WRITE == 0 {
                    flags |= WRITE;
                } else if c == '~' {
                    pattern = &rest[i + 1..];
                    break;
                } else {
                    return Err(RuleError::Syntax);
                }
            }
            if flags == 0 {
                return Err(RuleError::Syntax);
            }
            (flags, pattern)
        } else {
            (READ_WRITE, &op[1..])
        };
        if pattern.contains([' ', '\0']) {
            return Err(RuleError::Syntax);
        }
        if let Some(existing) = self.keys.iter_mut().find(|(_, p)| p == pattern) {
            existing.0 |= flags;
        } else {
            self.keys.push((flags, pattern.to_owned()));
        }
        Ok(())
    }

    fn allow_command(&mut self, name: &str) -> Result<(), RuleError> {
        let Some((head, sub)) = name.rsplit_once('|') else {
            let id = lookup(name).ok_or(RuleError::UnknownName)?;
            self.change_perm(id, true);
            return Ok(());
        };
        let id = lookup(head).ok_or(RuleError::UnknownName)?;
        if TABLE.cmds[id].spec.full_name.contains('|') {
            return Err(RuleError::SubcommandFirstArg);
        }
        if sub.is_empty() {
            return Err(RuleError::Syntax);
        }
        if !TABLE.cmds[id].subs.is_empty() {
            let sid = lookup(name).ok_or(RuleError::UnknownName)?;
            self.change_perm(sid, true);
        } else {
            tracing::warn!(
                "Deprecation warning: Allowing a first arg of an otherwise blocked command is a misuse of ACL and may get disabled in the future (offender: +{name})"
            );
            // Kept only while the command itself is denied: Redis also records one for
            // an allowed command, but it never shows (in descriptions or checks) and
            // goes whenever the command's bit changes.
            if !self.bit(id) {
                let list = self.first_args.entry(id).or_default();
                if !list.iter().any(|a| a.eq_ignore_ascii_case(sub)) {
                    list.push(sub.to_owned());
                }
            }
        }
        Ok(())
    }

    /// Category counts over the commands in `bit`: (allowed, denied).
    fn count(&self, bit: u32) -> (usize, usize) {
        let mut on = 0;
        let mut off = 0;
        for (id, c) in TABLE.cmds.iter().enumerate() {
            if c.cats & bit != 0 {
                if self.bit(id) {
                    on += 1;
                } else {
                    off += 1;
                }
            }
        }
        (on, off)
    }

    /// The command rules, as ACL LIST and ACL GETUSER show them (see the module docs).
    pub fn describe_commands(&self) -> String {
        let mut rules = String::new();
        let mut fake = Selector::empty();
        let additive = !self.future;
        if additive {
            rules.push_str("-@all ");
        } else {
            rules.push_str("+@all ");
            fake.all_commands(true);
        }
        // Repeatedly the category that fits best (more commands agreeing with the user
        // than not; the fewest disagreeing, then the most agreeing), each once. `temp`
        // holds the bits not yet accounted for.
        let mut temp = self.clone();
        let mut applied = [false; CATEGORIES.len()];
        loop {
            let mut best: Option<(usize, usize, usize)> = None;
            for (i, done) in applied.iter().enumerate() {
                if *done {
                    continue;
                }
                let (on, off) = temp.count(1 << i);
                let (diff, same) = if additive { (off, on) } else { (on, off) };
                let better = match best {
                    None => true,
                    Some((_, min_diff, max_same)) => {
                        diff < min_diff || (diff == min_diff && same > max_same)
                    }
                };
                if same > diff && better {
                    best = Some((i, diff, same));
                }
            }
            let Some((i, _, _)) = best else { break };
            fake.set_category(1 << i, additive);
            temp.set_category(1 << i, !additive);
            rules.push(if additive { '+' } else { '-' });
            rules.push('@');
            rules.push_str(CATEGORIES[i]);
            rules.push(' ');
            applied[i] = true;
        }
        for &id in &TABLE.top {
            self.describe_single(id, &mut fake, &mut rules);
        }
        rules.pop();
        rules
    }

    fn describe_single(&self, id: usize, fake: &mut Selector, rules: &mut String) {
        let user = self.bit(id);
        let name = TABLE.cmds[id].spec.full_name;
        if user != fake.bit(id) {
            rules.push(if user { '+' } else { '-' });
            rules.push_str(name);
            rules.push(' ');
            fake.change_perm(id, user);
        }
        for &sub in &TABLE.cmds[id].subs {
            self.describe_single(sub, fake, rules);
        }
        if !user {
            for arg in self.first_args.get(&id).into_iter().flatten() {
                rules.push_str(&format!("+{name}|{arg} "));
            }
        }
    }

    /// Key patterns as ACL GETUSER shows them (`~*`, or the patterns space-separated).
    pub fn describe_keys(&self) -> String {
        if self.all_keys {
            return "~*".to_owned();
        }
        let parts: Vec<String> = self.keys.iter().map(|(f, p)| key_pattern(*f, p)).collect();
        parts.join(" ")
    }

    /// Channel patterns as ACL GETUSER shows them.
    pub fn describe_channels(&self) -> String {
        if self.all_channels {
            return "&*".to_owned();
        }
        let parts: Vec<String> = self.channels.iter().map(|c| format!("&{c}")).collect();
        parts.join(" ")
    }

    /// The whole selector, as one ACL LIST entry holds it.
    fn describe(&self) -> String {
        let mut parts = Vec::new();
        parts.push(self.describe_keys());
        if !self.all_channels {
            parts.push("resetchannels".to_owned());
        }
        parts.push(self.describe_channels());
        parts.push(self.describe_commands());
        parts.retain(|p| !p.is_empty());
        parts.join(" ")
    }

    /// Whether a subscription to `channel` (a pattern for PSUBSCRIBE) is allowed: a
    /// pattern must be listed literally, a channel must match a listed pattern.
    pub fn channel_allowed(&self, channel: &[u8], is_pattern: bool) -> bool {
        self.all_channels
            || self.channels.iter().any(|pat| {
                if is_pattern {
                    pat.as_bytes() == channel
                } else {
                    crate::glob::string_match(pat.as_bytes(), channel, false)
                }
            })
    }

    /// Whether these channel rules keep everything `old` allowed (all channels, or every
    /// one of its patterns still listed): no subscriber has to be disconnected.
    pub fn channels_cover(&self, old: &Selector) -> bool {
        self.all_channels
            || (!old.all_channels && old.channels.iter().all(|c| self.channels.contains(c)))
    }

    /// Whether everything is allowed: no check needed.
    fn unrestricted(&self) -> bool {
        self.future
            && self.all_keys
            && self.all_channels
            && self.bits.iter().all(|w| *w == u64::MAX)
    }

    fn check(&self, id: usize, args: &[bytes::Bytes]) -> Result<(), Denial> {
        let cmd = &TABLE.cmds[id];
        if !self.bit(id) && !cmd.spec.has_flag("no_auth") {
            let first = if cmd.spec.full_name.contains('|') {
                2
            } else {
                1
            };
            let allowed = args.get(first).is_some_and(|a| {
                self.first_args
                    .get(&id)
                    .into_iter()
                    .flatten()
                    .any(|f| f.as_bytes().eq_ignore_ascii_case(a))
            });
            if args.len() < 2 || !allowed {
                return Err(Denial::Command);
            }
        }
        if !self.all_keys {
            for k in crate::get_keys(cmd.spec, args) {
                use crate::KeyFlags;
                let f = k.flags;
                let mut need = 0;
                if f.contains(KeyFlags::ACCESS) {
                    need |= READ;
                }
                if f.contains(KeyFlags::INSERT)
                    || f.contains(KeyFlags::DELETE)
                    || f.contains(KeyFlags::UPDATE)
                {
                    need |= WRITE;
                }
                let key = &args[k.pos];
                let ok = self.keys.iter().any(|(flags, pat)| {
                    flags & need == need && crate::glob::string_match(pat.as_bytes(), key, false)
                });
                if !ok {
                    return Err(Denial::Key(k.pos));
                }
            }
        }
        if !self.all_channels {
            for (pos, is_pattern) in channel_args(cmd.spec.full_name, args.len()) {
                if !self.channel_allowed(&args[pos], is_pattern) {
                    return Err(Denial::Channel(pos));
                }
            }
        }
        Ok(())
    }
}

/// `~pat`, `%R~pat` or `%W~pat`.
fn key_pattern(flags: u8, pattern: &str) -> String {
    match flags {
        READ => format!("%R~{pattern}"),
        WRITE => format!("%W~{pattern}"),
        _ => format!("~{pattern}"),
    }
}

/// The arguments of a command that are channels the ACL checks (publishing and
/// subscribing; unsubscribing is always allowed): (position, is a pattern).
fn channel_args(name: &str, argc: usize) -> Vec<(usize, bool)> {
    match name {
        "publish" | "spublish" if argc > 1 => vec![(1, false)],
        "subscribe" | "ssubscribe" => (1..argc).map(|i| (i, false)).collect(),
        "psubscribe" => (1..argc).map(|i| (i, true)).collect(),
        _ => Vec::new(),
    }
}

/// A command's id from its lowercase full name (`get`, `config|get`).
fn lookup(name: &str) -> Option<usize> {
    TABLE
        .by_name
        .get(name.to_ascii_lowercase().as_str())
        .copied()
}

/// Why a command was refused; keys and channels carry the argument's position.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Denial {
    Command,
    Key(usize),
    Channel(usize),
}

impl Denial {
    fn rank(self) -> (u8, usize) {
        match self {
            Denial::Command => (1, 0),
            Denial::Key(p) => (2, p),
            Denial::Channel(p) => (4, p),
        }
    }

    /// The error a client gets (`-NOPERM ...`), naming the command for a command denial.
    pub fn error(self, fullname: &str) -> String {
        match self {
            Denial::Command => {
                format!("NOPERM this user has no permissions to run the '{fullname}' command")
            }
            Denial::Key(_) => {
                "NOPERM this user has no permissions to access one of the keys used as arguments"
                    .to_owned()
            }
            Denial::Channel(_) => "NOPERM this user has no permissions to access one of the channels used as arguments".to_owned(),
        }
    }

    /// What a script's `redis.call` raises.
    pub fn script_error(self) -> &'static str {
        match self {
            Denial::Command => "The user executing the script can't run this command or subcommand",
            Denial::Key(_) => "The user executing the script can't access at least one of the keys mentioned in the command arguments",
            Denial::Channel(_) => "The user executing the script can't publish to the channel mentioned in the command",
        }
    }

    /// The reason EXEC quotes when the rules changed after a command was queued.
    pub fn exec_reason(self) -> &'static str {
        match self {
            Denial::Command => "no permission to execute the command or subcommand",
            Denial::Key(_) => "no permission to touch the specified keys",
            Denial::Channel(_) => "no permission to access one of the channels used as arguments",
        }
    }

    /// ACL LOG's reason.
    pub fn reason(self) -> &'static str {
        match self {
            Denial::Command => "command",
            Denial::Key(_) => "key",
            Denial::Channel(_) => "channel",
        }
    }
}

/// A user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub enabled: bool,
    pub nopass: bool,
    /// `Some(true)`: sanitize-payload; `Some(false)`: skip-sanitize-payload.
    sanitize: Option<bool>,
    /// Lowercase hex SHA-256 hashes.
    passwords: Vec<String>,
    root: Selector,
    selectors: Vec<Selector>,
}

impl User {
    /// A new user as ACL SETUSER creates it: off, no password, no permissions.
    pub fn new(name: &str, all_channels: bool) -> User {
        User {
            name: name.to_owned(),
            enabled: false,
            nopass: false,
            sanitize: None,
            passwords: Vec::new(),
            root: Selector::new(all_channels),
            selectors: Vec::new(),
        }
    }

    /// The default user of a fresh server: `on nopass ~* &* +@all`.
    pub fn default_user() -> User {
        let mut u = User::new("default", true);
        u.enabled = true;
        u.nopass = true;
        u.root.all_keys = true;
        u.root.all_commands(true);
        u
    }

    /// Applies one ACL SETUSER rule.
    pub fn apply(&mut self, op: &str, all_channels_default: bool) -> Result<(), RuleError> {
        let lower = op.to_ascii_lowercase();
        match lower.as_str() {
            "" => {}
            "on" => self.enabled = true,
            "off" => self.enabled = false,
            "skip-sanitize-payload" => self.sanitize = Some(false),
            "sanitize-payload" => self.sanitize = Some(true),
            "nopass" => {
                self.nopass = true;
                self.passwords.clear();
            }
            "resetpass" => {
                self.nopass = false;
                self.passwords.clear();
            }
            "clearselectors" => self.selectors.clear(),
            "reset" => {
                for step in ["resetpass", "resetkeys", "resetchannels"] {
                    self.apply(step, all_channels_default)?;
                }
                if all_channels_default {
                    self.apply("allchannels", all_channels_default)?;
                }
                for step in ["off", "sanitize-payload", "clearselectors", "-@all"] {
                    self.apply(step, all_channels_default)?;
                }
            }
            _ => return self.apply_other(op, all_channels_default),
        }
        Ok(())
    }

    /// Applies rules in order, stopping at the first one refused (returned with why): what
    /// ACL SETUSER, `user` directives and ACL file lines do.
    pub fn apply_all<'r>(
        &mut self,
        rules: &'r [String],
        all_channels_default: bool,
    ) -> Result<(), (&'r str, RuleError)> {
        for rule in rules {
            self.apply(rule, all_channels_default)
                .map_err(|e| (rule.as_str(), e))?;
        }
        Ok(())
    }

    fn apply_other(&mut self, op: &str, all_channels_default: bool) -> Result<(), RuleError> {
        if let Some(pw) = op.strip_prefix('>') {
            let hash = crate::sha256::hex(pw.as_bytes());
            if !self.passwords.contains(&hash) {
                self.passwords.push(hash);
            }
            self.nopass = false;
        } else if let Some(hash) = op.strip_prefix('#') {
            check_hash(hash)?;
            if !self.passwords.iter().any(|h| h == hash) {
                self.passwords.push(hash.to_owned());
            }
            self.nopass = false;
        } else if let Some(pw) = op.strip_prefix('<') {
            let hash = crate::sha256::hex(pw.as_bytes());
            self.remove_hash(&hash)?;
        } else if let Some(hash) = op.strip_prefix('!') {
            check_hash(hash)?;
            self.remove_hash(hash)?;
        } else if op.len() >= 2 && op.starts_with('(') && op.ends_with(')') {
            let mut s = Selector::new(all_channels_default);
            let rules = tandem_resp::split_args(&op.as_bytes()[1..op.len() - 1])
                .map_err(|_| RuleError::Syntax)?;
            for rule in rules {
                s.apply(&String::from_utf8_lossy(&rule))?;
            }
            self.selectors.push(s);
        } else {
            self.root.apply(op)?;
        }
        Ok(())
    }

    fn remove_hash(&mut self, hash: &str) -> Result<(), RuleError> {
        let before = self.passwords.len();
        self.passwords.retain(|h| h != hash);
        if self.passwords.len() == before {
            return Err(RuleError::NoSuchPassword);
        }
        Ok(())
    }

    /// The user's flags, in Redis's order.
    pub fn flags(&self) -> Vec<&'static str> {
        let mut f = vec![if self.enabled { "on" } else { "off" }];
        if self.nopass {
            f.push("nopass");
        }
        match self.sanitize {
            Some(false) => f.push("skip-sanitize-payload"),
            Some(true) => f.push("sanitize-payload"),
            None => {}
        }
        f
    }

    pub fn passwords(&self) -> &[String] {
        &self.passwords
    }

    pub fn root(&self) -> &Selector {
        &self.root
    }

    pub fn selectors(&self) -> &[Selector] {
        &self.selectors
    }

    /// The ACL LIST line (without the leading `user <name> `).
    pub fn describe(&self) -> String {
        let mut s = String::new();
        for f in self.flags() {
            s.push_str(f);
            s.push(' ');
        }
        for p in &self.passwords {
            s.push('#');
            s.push_str(p);
            s.push(' ');
        }
        s.push_str(&self.root.describe());
        for sel in &self.selectors {
            s.push_str(&format!(" ({})", sel.describe()));
        }
        s
    }

    /// The user as one ACL LIST entry, ACL file line and `user` directive.
    pub fn acl_line(&self) -> String {
        format!("user {} {}", self.name, self.describe())
    }

    /// Whether `pass` opens this user (AUTH): enabled, and no password needed or a match.
    pub fn password_ok(&self, pass: &[u8]) -> bool {
        self.enabled && (self.nopass || self.passwords.contains(&crate::sha256::hex(pass)))
    }

    /// Runs the permission check of a command (`id` from [`command_id`]).
    pub fn check(&self, id: usize, args: &[bytes::Bytes]) -> Result<(), Denial> {
        let mut worst: Option<Denial> = None;
        for s in std::iter::once(&self.root).chain(&self.selectors) {
            match s.check(id, args) {
                Ok(()) => return Ok(()),
                Err(d) => {
                    if worst.is_none_or(|w| d.rank() > w.rank()) {
                        worst = Some(d);
                    }
                }
            }
        }
        Err(worst.unwrap_or(Denial::Command))
    }

    /// True when the user may run anything (the common default user): no check needed.
    pub fn unrestricted(&self) -> bool {
        self.root.unrestricted()
    }
}

fn check_hash(hash: &str) -> Result<(), RuleError> {
    if hash.len() != 64
        || !hash
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(RuleError::BadHash);
    }
    Ok(())
}

/// Joins a selector written over several arguments (`(~x*`, `+get)`) into one rule, as
/// Redis does (ACL SETUSER, `user` directives, ACL files); `Err` names the argument that
/// opens an unclosed parenthesis.
pub fn merge_selectors<A: AsRef<[u8]>>(args: &[A]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut open: Option<String> = None;
    for a in args {
        let a = String::from_utf8_lossy(a.as_ref()).into_owned();
        match open.take() {
            Some(mut acc) => {
                acc.push(' ');
                acc.push_str(&a);
                if a.ends_with(')') {
                    out.push(acc);
                } else {
                    open = Some(acc);
                }
            }
            None if a.starts_with('(') && !a.ends_with(')') => open = Some(a),
            None => out.push(a),
        }
    }
    match open {
        Some(acc) => Err(acc.split(' ').next().unwrap_or_default().to_owned()),
        None => Ok(out),
    }
}

/// The user a description (ACL LIST's text after `user <name>`, an ACL file line) gives
/// when applied to a fresh user: Redis's round trip, which must give back the same user.
pub fn from_description(name: &str, description: &str) -> Result<User, RuleError> {
    let words: Vec<&str> = description.split(' ').collect();
    let rules = merge_selectors(&words).map_err(|_| RuleError::Syntax)?;
    let mut u = User::new(name, false);
    u.apply_all(&rules, false).map_err(|(_, e)| e)?;
    Ok(u)
}

/// The id the permission check uses for a command: the subcommand's when it has one.
pub fn command_id(spec: &CommandSpec) -> Option<usize> {
    TABLE.by_name.get(spec.full_name).copied()
}

/// One ACL LOG entry.
#[derive(Clone, Debug)]
pub struct LogEntry {
    pub count: u64,
    pub reason: &'static str,
    pub context: &'static str,
    pub object: String,
    pub username: String,
    /// When it was created or last repeated, in Unix milliseconds.
    pub ctime_ms: i64,
    pub client_info: String,
}

/// The users and the ACL log.
#[derive(Debug)]
pub struct Acl {
    pub users: BTreeMap<String, User>,
    pub log: VecDeque<LogEntry>,
}

impl Default for Acl {
    fn default() -> Acl {
        let mut users = BTreeMap::new();
        users.insert("default".to_owned(), User::default_user());
        Acl {
            users,
            log: VecDeque::new(),
        }
    }
}

impl Acl {
    /// Adds an entry, or counts it again when one of the ten newest is similar and
    /// recent (Redis groups entries with the same reason, context, object and user
    /// within a minute).
    pub fn log(&mut self, mut entry: LogEntry, max_len: usize) {
        let similar = self.log.iter().take(10).position(|e| {
            e.reason == entry.reason
                && e.context == entry.context
                && e.object == entry.object
                && e.username == entry.username
                && entry.ctime_ms - e.ctime_ms < 60_000
        });
        if let Some(i) = similar {
            if let Some(mut old) = self.log.remove(i) {
                old.count += 1;
                old.ctime_ms = entry.ctime_ms;
                old.client_info = std::mem::take(&mut entry.client_info);
                self.log.push_front(old);
            }
        } else {
            self.log.push_front(entry);
        }
        self.log.truncate(max_len);
    }

    /// Whether a client that connects is authenticated at once (the default user is on
    /// and needs no password).
    pub fn default_open(&self) -> bool {
        self.users
            .get("default")
            .is_some_and(|u| u.enabled && u.nopass)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn user(rules: &[&str]) -> User {
        let mut u = User::new("u", false);
        for r in rules {
            u.apply(r, false).unwrap();
        }
        u
    }

    #[test]
    fn describes_like_redis() {
        assert_eq!(User::default_user().describe(), "on nopass ~* &* +@all");
        assert_eq!(
            user(&["reset"]).describe(),
            "off sanitize-payload resetchannels -@all"
        );
        // Redis 7.0.15: `-@all +@hash +get +config|get -hget` (single commands in its hash
        // order; ours in table order).
        assert_eq!(
            user(&["on", ">pw", "~k*", "%R~r*", "&ch*", "+get", "+@hash", "-hget", "+config|get"])
                .describe(),
            "on #30c952fab122c3f9759f02a6d95c3758b246b4fee239957b2d4fee46e26170c4 ~k* %R~r* resetchannels &ch* -@all +@hash +config|get +get -hget"
        );
        assert_eq!(
            user(&["+select|0", "+select|1", "on", "nopass"]).describe(),
            "on nopass resetchannels -@all +select|0 +select|1"
        );
        assert_eq!(
            user(&["(~x* +set)", "(%W~y* -@all +del)"]).describe(),
            "off resetchannels -@all (~x* resetchannels -@all +set) (%W~y* resetchannels -@all +del)"
        );
        assert_eq!(
            user(&["+@all", "-@dangerous"]).root.describe_commands(),
            "+@all -@dangerous"
        );
    }

    /// Rules a user may be given, from every kind.
    fn rule() -> impl proptest::strategy::Strategy<Value = String> {
        use proptest::prelude::*;
        let fixed = prop::sample::select(vec![
            "on",
            "off",
            "nopass",
            "resetpass",
            "reset",
            "sanitize-payload",
            "skip-sanitize-payload",
            ">p1",
            ">p2",
            "<p1",
            "~a*",
            "%R~b",
            "%W~b",
            "%RW~c",
            "~*",
            "resetkeys",
            "allkeys",
            "&x",
            "&y*",
            "&*",
            "resetchannels",
            "allchannels",
            "+get",
            "-get",
            "+set",
            "-hset",
            "+config|get",
            "-config",
            "+config",
            "+client",
            "-client|kill",
            "+select|0",
            "+select|1",
            "-select",
            "+@all",
            "-@all",
            "allcommands",
            "nocommands",
            "clearselectors",
            "(~s +get)",
            "(%R~t -@all +@read)",
            "(&z +publish)",
        ]);
        let category = (any::<bool>(), prop::sample::select(CATEGORIES.to_vec()))
            .prop_map(|(plus, c)| format!("{}@{c}", if plus { '+' } else { '-' }));
        prop_oneof![fixed.prop_map(str::to_owned), category]
    }

    proptest::proptest! {
        /// Whatever rules built a user, its description rebuilds the same user, and reads
        /// the same (the property Redis checks on every description).
        #[test]
        fn descriptions_round_trip(rules in proptest::collection::vec(rule(), 0..24)) {
            let mut u = User::new("u", false);
            for r in &rules {
                let _ = u.apply(r, false);
            }
            let described = u.describe();
            let back = from_description("u", &described).unwrap();
            proptest::prop_assert_eq!(&back.describe(), &described);
            proptest::prop_assert_eq!(back, u);
        }
    }

    #[test]
    fn refuses_like_redis() {
        let mut u = User::new("u", false);
        assert_eq!(u.apply("#ABC", false), Err(RuleError::BadHash));
        assert_eq!(u.apply("<nope", false), Err(RuleError::NoSuchPassword));
        assert_eq!(u.apply("+nosuch", false), Err(RuleError::UnknownName));
        assert_eq!(u.apply("+@nosuch", false), Err(RuleError::UnknownName));
        assert_eq!(u.apply("garbage", false), Err(RuleError::Syntax));
        assert_eq!(u.apply("%X~x", false), Err(RuleError::Syntax));
        assert_eq!(u.apply("-select|0", false), Err(RuleError::UnknownName));
        assert_eq!(
            u.apply("+config|get|x", false),
            Err(RuleError::SubcommandFirstArg)
        );
        u.apply("~*", false).unwrap();
        assert_eq!(u.apply("~x", false), Err(RuleError::AfterAllKeys));
    }

    #[test]
    fn checks_commands_keys_and_channels() {
        let u = user(&[
            "on",
            "nopass",
            "~a*",
            "%R~r*",
            "&c",
            "+get",
            "+set",
            "+publish",
            "+psubscribe",
        ]);
        let args = |v: &[&str]| -> Vec<bytes::Bytes> {
            v.iter()
                .map(|s| bytes::Bytes::from(s.to_string()))
                .collect()
        };
        let id = |n: &str| lookup(n).unwrap();
        assert_eq!(u.check(id("get"), &args(&["get", "a1"])), Ok(()));
        assert_eq!(u.check(id("get"), &args(&["get", "r1"])), Ok(()));
        assert_eq!(
            u.check(id("set"), &args(&["set", "r1", "v"])),
            Err(Denial::Key(1))
        );
        assert_eq!(
            u.check(id("del"), &args(&["del", "a1"])),
            Err(Denial::Command)
        );
        assert_eq!(
            u.check(id("publish"), &args(&["publish", "d", "m"])),
            Err(Denial::Channel(1))
        );
        assert_eq!(
            u.check(id("psubscribe"), &args(&["psubscribe", "c"])),
            Ok(())
        );
        assert_eq!(
            u.check(id("psubscribe"), &args(&["psubscribe", "c*"])),
            Err(Denial::Channel(1))
        );
    }
}

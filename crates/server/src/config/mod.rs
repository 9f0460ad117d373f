//! Server configuration: redis.conf files, `--directive value` arguments,
//! `CONFIG GET`, `CONFIG SET` and `CONFIG REWRITE`, with Redis 7.0.15's
//! directive set, defaults, value formats and error messages.
//!
//! The module is table-driven:
//!
//! * [`table`](self) lists every directive Redis 7.0.15 knows (name, alias,
//!   flags, type with default and bounds, and whether Tandem acts on it);
//! * `value` stores, parses and formats values per type;
//! * `parse` reads config files and the command line like `redis-server`
//!   (includes, quoting, accumulation of `save`, the exact FATAL messages);
//! * `rewrite` implements `CONFIG REWRITE`, keeping comments and order;
//! * [`glob`] is Redis's glob matcher, shared with the rest of the server.
//!
//! [`Config`] is a plain value: the server owns one, reads typed values
//! through the accessors, and applies the effects of the names returned by
//! [`Config::set`]. The module never changes process state: `dir` is
//! resolved and checked like `chdir` would, and the server changes its working
//! directory from `get_str("dir")` at startup and after `CONFIG SET dir`.
//!
//! One deliberate difference: Redis iterates its config dictionary in a
//! random (seeded hash) order, so `CONFIG GET *` order changes between runs
//! of the real server; Tandem answers in table order, which is Redis's
//! source order with each alias right after its directive.
#![forbid(unsafe_code)]

pub mod glob;
mod lex;
mod parse;
pub mod rewrite;
mod table;
mod value;

use std::path::{Path, PathBuf};

pub use value::ObufLimit;

use table::{HIDDEN, IMMUTABLE, PROTECTED, TABLE};
use value::{default_value, format_value, set_value, SetCtx, Value};

/// The Redis version that config errors mention.
pub const REDIS_VERSION: &str = "7.0.15";

/// A configuration error at startup. `Display` is exactly what `redis-server`
/// prints before exiting with status 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Printed to stderr as is. `line` is the 1-based line number and the
    /// trimmed text of the offending line, absent for checks done after the
    /// whole file was read (e.g. the log file cannot be opened).
    #[error("{}", fatal_text(.line, .message))]
    Fatal {
        line: Option<(usize, String)>,
        message: String,
    },
    /// Redis logs this one as a WARNING log line (`pid:C date # ...`) on its
    /// log output (stdout by default), not as a FATAL block.
    #[error("Fatal error, can't open config file '{path}': {reason}")]
    OpenFile { path: String, reason: String },
}

impl ConfigError {
    /// True when Redis reports this error through its logger rather than as a
    /// raw stderr block (the server should log `to_string()` at WARNING level).
    #[allow(dead_code)] // public API; not every caller exists yet
    pub fn is_log_line(&self) -> bool {
        matches!(self, ConfigError::OpenFile { .. })
    }
}

fn fatal_text(line: &Option<(usize, String)>, message: &str) -> String {
    let mut s = format!("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\n");
    if let Some((n, text)) = line {
        s.push_str(&format!(
            "Reading the configuration file, at line {n}\n>>> '{text}'\n"
        ));
    }
    s.push_str(message);
    s.push('\n');
    s
}

/// All directive values, plus where they came from.
#[derive(Clone, Debug)]
pub struct Config {
    values: Vec<Value>,
    /// Set from a file or the command line.
    explicit: Vec<bool>,
    config_file: Option<PathBuf>,
    /// File-only directives seen that Tandem does not implement
    /// (`rename-command`, `user`, `loadmodule`, module configs).
    file_only: Vec<String>,
    /// `user` directives, each the user name and its rules, in file order.
    users: Vec<Vec<String>>,
}

impl Default for Config {
    fn default() -> Self {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
        Config::with_cwd(&cwd)
    }
}

impl Config {
    /// Defaults of redis-server 7.0.15 started without a config file.
    #[allow(dead_code)] // public API; not every caller exists yet
    #[allow(clippy::should_implement_trait)]
    pub fn default() -> Config {
        <Config as Default>::default()
    }

    /// Defaults, with `dir` set to `cwd`.
    pub(crate) fn with_cwd(cwd: &Path) -> Config {
        Config {
            values: TABLE.iter().map(|d| default_value(d, cwd)).collect(),
            explicit: vec![false; TABLE.len()],
            config_file: None,
            file_only: Vec::new(),
            users: Vec::new(),
        }
    }

    /// Parses `redis-server`'s arguments (without the program name):
    /// `[configfile|-] [--directive value ...] [-]`.
    pub fn from_args(args: &[String]) -> Result<Config, ConfigError> {
        parse::from_args(args)
    }

    /// The `user` directives: name then rules, in file order.
    pub fn user_directives(&self) -> &[Vec<String>] {
        &self.users
    }

    /// Absolute path of the config file loaded, if any.
    pub fn config_file(&self) -> Option<&Path> {
        self.config_file.as_deref()
    }

    /// The working directory configured by `dir` (absolute).
    pub fn dir(&self) -> PathBuf {
        match table::index_of("dir").map(|i| &self.values[i]) {
            Some(Value::Dir(p)) => p.clone(),
            _ => PathBuf::from("/"),
        }
    }

    /// `CONFIG GET pattern [pattern ...]`: (name, value) pairs without
    /// duplicates. A pattern without `*`, `?` or `[` is an exact,
    /// case-insensitive lookup answered under the spelling given (hidden
    /// directives included); a glob matches every non-hidden name and alias.
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, Vec<u8>)> {
        let mut out: Vec<(String, Vec<u8>)> = Vec::new();
        let seen = |out: &Vec<(String, Vec<u8>)>, name: &[u8]| {
            out.iter()
                .any(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        };
        for pat in patterns {
            if !pat.iter().any(|c| matches!(c, b'[' | b'*' | b'?')) {
                if seen(&out, pat) {
                    continue;
                }
                if let Some(l) = table::lookup(pat) {
                    let d = l.directive();
                    out.push((
                        String::from_utf8_lossy(pat).into_owned(),
                        format_value(d, &self.values[l.index]),
                    ));
                }
                continue;
            }
            for (i, d) in TABLE.iter().enumerate() {
                if d.has(HIDDEN) {
                    continue;
                }
                for name in std::iter::once(d.name).chain(d.alias) {
                    if !seen(&out, name.as_bytes()) && glob::glob_match(pat, name.as_bytes(), true)
                    {
                        out.push((name.to_string(), format_value(d, &self.values[i])));
                    }
                }
            }
        }
        out
    }

    /// `CONFIG SET name value [name value ...]` from a non-local client.
    /// See [`Config::set_from`].
    #[cfg(test)]
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<Vec<&'static str>, String> {
        self.set_from(pairs, false)
    }

    /// `CONFIG SET`, all or nothing. `local_client` tells whether the client
    /// connected over loopback or a unix socket (for
    /// `enable-protected-configs local`). Returns the canonical names set, in
    /// request order, so that the server applies their effects; the error is
    /// the full reply text (`ERR ...`).
    pub fn set_from(
        &mut self,
        pairs: &[(&[u8], &[u8])],
        local_client: bool,
    ) -> Result<Vec<&'static str>, String> {
        let protected_ok = match self.get_str("enable-protected-configs").as_str() {
            "yes" => true,
            "local" => local_client,
            _ => false,
        };
        // Pass 1: resolve names, reject unknown, immutable, protected, duplicates.
        let mut found: Vec<table::Lookup> = Vec::with_capacity(pairs.len());
        let mut unknown: Option<&[u8]> = None;
        let mut first_err: Option<(String, &str)> = None;
        for (name, _) in pairs {
            let Some(l) = table::lookup(name) else {
                if first_err.is_none() && unknown.is_none() {
                    unknown = Some(name);
                }
                continue;
            };
            if unknown.is_some() || first_err.is_some() {
                continue;
            }
            let d = l.directive();
            let shown = String::from_utf8_lossy(name).into_owned();
            if d.has(IMMUTABLE) {
                first_err = Some((shown, "can't set immutable config"));
                continue;
            }
            if d.has(PROTECTED) && !protected_ok {
                first_err = Some((shown, "can't set protected config"));
                continue;
            }
            // Redis registers an alias as a separate entry, so `slave-priority`
            // and `replica-priority` in one call are not duplicates.
            if found
                .iter()
                .any(|f| f.index == l.index && f.via_alias == l.via_alias)
            {
                first_err = Some((shown, "duplicate parameter"));
            }
            found.push(l);
        }
        if let Some(name) = unknown {
            return Err(format!(
                "ERR Unknown option or number of arguments for CONFIG SET - '{}'",
                String::from_utf8_lossy(name)
            ));
        }
        if let Some((name, msg)) = first_err {
            return Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {msg}"
            ));
        }
        // Pass 2: apply on a copy; commit only if everything succeeded.
        let mut next = self.values.clone();
        let mut save_loaded = true;
        let mut changed = Vec::with_capacity(found.len());
        for (l, (_, val)) in found.iter().zip(pairs) {
            let d = l.directive();
            let args: Vec<Vec<u8>> = if d.has(table::MULTI_ARG) {
                if val.is_empty() {
                    Vec::new()
                } else {
                    val.split(|c| *c == b' ').map(|s| s.to_vec()).collect()
                }
            } else {
                vec![val.to_vec()]
            };
            let cwd = match next.get(table::index_of("dir").unwrap_or(0)) {
                Some(Value::Dir(p)) => p.clone(),
                _ => PathBuf::from("/"),
            };
            let mut ctx = SetCtx {
                cwd: &cwd,
                reading_file: false,
                save_loaded: &mut save_loaded,
            };
            if let Err(msg) = set_value(d, &mut next[l.index], &args, &mut ctx) {
                return Err(format!(
                    "ERR CONFIG SET failed (possibly related to argument '{}') - {msg}",
                    l.entry_name()
                ));
            }
            if d.name == "hz" {
                clamp_hz(&mut next[l.index]);
            }
            if !changed.contains(&d.name) {
                changed.push(d.name);
            }
        }
        self.values = next;
        Ok(changed)
    }

    /// `CONFIG REWRITE` of the configuration alone (`user` lines kept as they are).
    /// Errors are the full reply text (`ERR ...`).
    #[cfg(test)]
    pub fn rewrite(&self) -> Result<(), String> {
        self.rewrite_with_users(rewrite::UserLines::Keep)
    }

    /// `CONFIG REWRITE`, with what becomes of the `user` lines.
    pub fn rewrite_with_users(&self, users: rewrite::UserLines<'_>) -> Result<(), String> {
        let Some(path) = self.config_file.as_deref() else {
            return Err("ERR The server is running without a config file".into());
        };
        rewrite::rewrite_file(self, path, users)
            .map_err(|e| format!("ERR Rewriting config file: {e}"))
    }

    /// Directives set explicitly (file or command line) to a non-default
    /// value that Tandem knows but does not act on yet, plus file-only
    /// directives it does not implement (`rename-command`, `user`,
    /// `loadmodule`, module configs). The server logs a warning for each.
    pub fn unsupported_in_use(&self) -> Vec<String> {
        let defaults = Config::with_cwd(&self.dir());
        let mut out: Vec<String> = TABLE
            .iter()
            .enumerate()
            .filter(|(i, d)| {
                !d.acted && self.explicit[*i] && self.values[*i] != defaults.values[*i]
            })
            .map(|(_, d)| d.name.to_string())
            .collect();
        for f in &self.file_only {
            if !out.contains(f) {
                out.push(f.clone());
            }
        }
        out
    }

    /// The `CONFIG GET` text of a directive (canonical or alias name).
    pub fn get_value(&self, name: &str) -> Option<Vec<u8>> {
        let i = table::index_of(name)?;
        Some(format_value(&TABLE[i], &self.values[i]))
    }

    /// Bool directive; false for unknown names or other types.
    pub fn get_bool(&self, name: &str) -> bool {
        matches!(self.value(name), Some(Value::Bool(true)))
    }

    /// Integer, memory (bytes) or percent (negative) directive; bools as 0/1,
    /// enums as their internal value; 0 otherwise.
    pub fn get_i64(&self, name: &str) -> i64 {
        match self.value(name) {
            Some(Value::Int(n)) => *n,
            Some(Value::Bool(b)) => i64::from(*b),
            Some(Value::Enum(n)) => i64::from(*n),
            _ => 0,
        }
    }

    /// String, enum or any other directive as its `CONFIG GET` text; "" for
    /// unknown names or unset strings.
    pub fn get_str(&self, name: &str) -> String {
        self.get_value(name)
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default()
    }

    /// Multi-value directives as a list: `bind` addresses, `save` numbers
    /// (seconds, changes, ...), and the space-separated words of any other
    /// directive's `CONFIG GET` text.
    pub fn get_list(&self, name: &str) -> Vec<String> {
        match self.value(name) {
            Some(Value::Bind(a)) => a
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect(),
            Some(_) => self
                .get_str(name)
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            None => Vec::new(),
        }
    }

    /// Raw bytes of a string directive (passwords may not be UTF-8); None when unset.
    #[allow(dead_code)] // public API; not every caller exists yet
    pub fn get_bytes(&self, name: &str) -> Option<Vec<u8>> {
        match self.value(name) {
            Some(Value::Str(s)) => s.clone(),
            _ => None,
        }
    }

    /// `save` points as (seconds, changes); empty when snapshots are disabled.
    #[allow(dead_code)] // public API; not every caller exists yet
    pub fn save_params(&self) -> Vec<(i64, i64)> {
        match self.value("save") {
            Some(Value::Save(v)) => v.clone(),
            _ => Vec::new(),
        }
    }

    /// `notify-keyspace-events` as Redis's flag bits.
    pub fn notify_keyspace_events(&self) -> i32 {
        match self.value("notify-keyspace-events") {
            Some(Value::Notify(v)) => *v,
            _ => 0,
        }
    }

    /// `client-output-buffer-limit` for normal, replica and pubsub clients.
    pub fn client_output_buffer_limits(&self) -> [ObufLimit; 3] {
        match self.value("client-output-buffer-limit") {
            Some(Value::Obuf(v)) => *v,
            _ => value::OBUF_DEFAULTS,
        }
    }

    /// `replicaof` as (host, port), None for a master.
    pub fn replicaof(&self) -> Option<(String, u16)> {
        match self.value("replicaof") {
            Some(Value::ReplicaOf(Some((h, p)))) => Some((
                String::from_utf8_lossy(h).into_owned(),
                u16::try_from(*p).unwrap_or(0),
            )),
            _ => None,
        }
    }

    fn value(&self, name: &str) -> Option<&Value> {
        table::index_of(name).map(|i| &self.values[i])
    }
}

/// Redis caps `hz` to 1..=500 after loading and after `CONFIG SET`.
fn clamp_hz(v: &mut Value) {
    if let Value::Int(n) = v {
        *n = (*n).clamp(1, 500);
    }
}

/// Names of the directives Tandem accepts but does not act on yet (table order).
#[allow(dead_code)] // public API; not every caller exists yet
pub fn unsupported_directives() -> Vec<&'static str> {
    TABLE.iter().filter(|d| !d.acted).map(|d| d.name).collect()
}

/// Names of the directives Tandem acts on (table order).
#[allow(dead_code)] // public API; not every caller exists yet
pub fn supported_directives() -> Vec<&'static str> {
    TABLE.iter().filter(|d| d.acted).map(|d| d.name).collect()
}

/// Every directive name with its alias, for documentation.
#[allow(dead_code)] // public API; not every caller exists yet
pub fn directive_names() -> Vec<(&'static str, Option<&'static str>)> {
    TABLE.iter().map(|d| (d.name, d.alias)).collect()
}

#[cfg(test)]
mod tests;

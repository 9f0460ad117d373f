//! Loading the configuration like `redis-server` does at startup.
//!
//! The command line is turned into config-file text exactly as Redis's
//! `main()` does (`--port 7000 --save ''` becomes the lines `port "7000"` and
//! `save ""`), appended after the config file (and stdin, for `-`), and the
//! whole text is parsed line by line. Line numbers and the quoted line in
//! errors therefore match Redis's output byte for byte.
//!
//! File-level rules reproduced here: `include` (wildcards allowed; relative
//! paths resolve against the current directory, which a previous `dir` line
//! changes), comments and blank lines, case-insensitive directive names, the
//! deprecated directives Redis silently skips, `save` accumulating across the
//! file while the first one replaces the defaults, multi-argument directives
//! given as one quoted argument, and the checks Redis does after reading a
//! file (log file can be opened, no `replicaof` in cluster mode, `hz` capped).

use std::io::Read;
use std::path::{Path, PathBuf};

use super::lex::{repr, split_args, strerror};
use super::table::{self, MULTI_ARG};
use super::value::{set_value, SetCtx};
use super::{clamp_hz, Config, ConfigError};

/// Directives Redis 7.0 still accepts and ignores (name, min argc, max argc).
const DEPRECATED: &[(&str, usize, usize)] = &[
    ("list-max-ziplist-entries", 2, 2),
    ("list-max-ziplist-value", 2, 2),
    ("lua-replicate-commands", 2, 2),
];

pub(crate) fn from_args(args: &[String]) -> Result<Config, ConfigError> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut cfg = Config::with_cwd(&cwd);
    if args.is_empty() {
        return Ok(cfg);
    }
    let mut j = 0;
    if !args[0].starts_with('-') {
        cfg.config_file = Some(absolute_path(&cwd, &args[0]));
        j = 1;
    }
    let mut from_stdin = false;
    let options = build_options(args, j, &mut from_stdin);
    let file = cfg.config_file.clone();
    let mut loader = Loader {
        cfg: &mut cfg,
        reading_file: false,
        save_loaded: false,
    };
    loader.load_server_config(file.as_deref(), from_stdin, Some(&options))?;
    Ok(cfg)
}

/// Redis's `getAbsolutePath`: leading `../` climb from the cwd.
fn absolute_path(cwd: &Path, name: &str) -> PathBuf {
    let name = name.trim_matches(|c| matches!(c, ' ' | '\r' | '\n' | '\t'));
    if name.starts_with('/') {
        return PathBuf::from(name);
    }
    let mut base = cwd.to_path_buf();
    let mut rel = name;
    while let Some(rest) = rel.strip_prefix("../") {
        base.pop();
        rel = rest;
    }
    base.join(rel)
}

/// Builds the options text from `--name value ...` arguments, following
/// `main()` in Redis's `server.c` (special cases for `--save` with no value
/// and `--sentinel`).
fn build_options(args: &[String], start: usize, from_stdin: &mut bool) -> Vec<u8> {
    let argc = args.len();
    let mut options: Vec<u8> = Vec::new();
    let mut handled_last = true;
    let mut j = start;
    while j < argc {
        let a = args[j].as_bytes();
        if a == b"-" && (j == 0 || j == argc - 1) {
            *from_stdin = true;
        } else if handled_last && a.starts_with(b"--") {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&a[2..]);
            options.push(b' ');
            let ntok = split_args(a).map(|v| v.len()).unwrap_or(0);
            if ntok == 1 {
                handled_last = false;
                let next_is_opt = j != argc - 1 && args[j + 1].starts_with("--");
                let is = |n: &str| args[j].eq_ignore_ascii_case(n);
                if next_is_opt && is("--save") {
                    options.extend_from_slice(b"\"\"");
                    handled_last = true;
                } else if j == argc - 1 && is("--save") {
                    options.extend_from_slice(b"\"\"");
                } else if next_is_opt && is("--sentinel") {
                    handled_last = true;
                }
            } else {
                handled_last = true;
            }
        } else {
            options.extend_from_slice(&repr(a));
            options.push(b' ');
            handled_last = true;
        }
        j += 1;
    }
    options
}

/// Parser state shared across nested `include`s.
pub(crate) struct Loader<'a> {
    pub cfg: &'a mut Config,
    /// Redis's `reading_config_file` (reset by the end of any nested load).
    pub reading_file: bool,
    /// Redis's static `save_loaded`.
    pub save_loaded: bool,
}

impl Loader<'_> {
    fn cwd(&self) -> PathBuf {
        self.cfg.dir()
    }

    /// `loadServerConfig`: file (or wildcard pattern) + stdin + options.
    fn load_server_config(
        &mut self,
        filename: Option<&Path>,
        from_stdin: bool,
        options: Option<&[u8]>,
    ) -> Result<(), ConfigError> {
        let mut content: Vec<u8> = Vec::new();
        if let Some(name) = filename {
            let shown = name.to_string_lossy().into_owned();
            if shown.contains(['*', '?', '[']) {
                for (display, path) in expand_glob(&self.cwd(), &shown) {
                    read_into(&path, &display, &mut content)?;
                }
            } else {
                let path = self.cwd().join(name);
                read_into(&path, &shown, &mut content)?;
            }
        }
        if from_stdin {
            tracing::warn!("Reading config from stdin");
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .map_err(|e| ConfigError::OpenFile {
                    path: "-".into(),
                    reason: strerror(&e),
                })?;
            content.extend_from_slice(&buf);
        }
        if let Some(opts) = options {
            content.push(b'\n');
            content.extend_from_slice(opts);
        }
        self.load_from_string(&content)
    }

    /// `loadServerConfigFromString`.
    pub(crate) fn load_from_string(&mut self, config: &[u8]) -> Result<(), ConfigError> {
        self.reading_file = true;
        // C strings: the text ends at the first NUL.
        let config = match config.iter().position(|c| *c == 0) {
            Some(n) => &config[..n],
            None => config,
        };
        let lines: Vec<&[u8]> = if config.is_empty() {
            Vec::new()
        } else {
            config.split(|c| *c == b'\n').collect()
        };
        for (i, raw) in lines.iter().enumerate() {
            let line = trim(raw);
            let fail = |message: &str| ConfigError::Fatal {
                line: Some((i + 1, String::from_utf8_lossy(line).into_owned())),
                message: message.to_string(),
            };
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let Ok(mut argv) = split_args(line) else {
                return Err(fail("Unbalanced quotes in configuration line"));
            };
            if argv.is_empty() {
                continue;
            }
            argv[0].make_ascii_lowercase();
            if let Some(l) = table::lookup(&argv[0]) {
                let d = l.directive();
                let multi = d.has(MULTI_ARG);
                if !multi && argv.len() != 2 {
                    return Err(fail("wrong number of arguments"));
                }
                let args: Vec<Vec<u8>> = if multi && argv.len() == 2 && !argv[1].is_empty() {
                    split_args(&argv[1]).unwrap_or_default()
                } else {
                    argv[1..].to_vec()
                };
                let cwd = self.cwd();
                let mut ctx = SetCtx {
                    cwd: &cwd,
                    reading_file: self.reading_file,
                    save_loaded: &mut self.save_loaded,
                };
                set_value(d, &mut self.cfg.values[l.index], &args, &mut ctx)
                    .map_err(|m| fail(&m))?;
                self.cfg.explicit[l.index] = true;
                continue;
            }
            let name = String::from_utf8_lossy(&argv[0]).into_owned();
            let argc = argv.len();
            if DEPRECATED
                .iter()
                .any(|(n, lo, hi)| *n == name && *lo <= argc && argc <= *hi)
            {
                continue;
            }
            match name.as_str() {
                "include" if argc == 2 => {
                    let target = PathBuf::from(String::from_utf8_lossy(&argv[1]).into_owned());
                    self.load_server_config(Some(&target), false, None)?;
                }
                "rename-command" if argc == 3 => self.file_only("rename-command"),
                "user" if argc >= 2 => self.cfg.users.push(
                    argv[1..]
                        .iter()
                        .map(|a| String::from_utf8_lossy(a).into_owned())
                        .collect(),
                ),
                "loadmodule" if argc >= 2 => self.file_only("loadmodule"),
                _ if name.contains('.') => {
                    if argc < 2 {
                        return Err(fail("Module config specified without value"));
                    }
                    self.file_only(&name);
                }
                "sentinel" => {
                    if argc != 1 {
                        return Err(fail("sentinel directive while not in sentinel mode"));
                    }
                }
                _ => return Err(fail("Bad directive or wrong number of arguments")),
            }
        }
        self.after_load()?;
        self.reading_file = false;
        Ok(())
    }

    fn file_only(&mut self, name: &str) {
        if !self.cfg.file_only.iter().any(|n| n == name) {
            self.cfg.file_only.push(name.to_string());
        }
    }

    /// Checks Redis runs at the end of every loaded text.
    fn after_load(&mut self) -> Result<(), ConfigError> {
        let no_line = |message: String| ConfigError::Fatal {
            line: None,
            message,
        };
        let logfile = self.cfg.get_str("logfile");
        if !logfile.is_empty() {
            let path = self.cwd().join(&logfile);
            if let Err(e) = std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(&path)
            {
                return Err(no_line(format!(
                    "Can't open the log file: {}",
                    strerror(&e)
                )));
            }
        }
        if self.cfg.get_bool("cluster-enabled") && self.cfg.replicaof().is_some() {
            return Err(no_line(
                "replicaof directive not allowed in cluster mode".into(),
            ));
        }
        if let Some(i) = table::index_of("hz") {
            clamp_hz(&mut self.cfg.values[i]);
        }
        Ok(())
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let is_t = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|c| !is_t(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !is_t(c)).map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

fn read_into(path: &Path, shown: &str, content: &mut Vec<u8>) -> Result<(), ConfigError> {
    let data = std::fs::read(path).map_err(|e| ConfigError::OpenFile {
        path: shown.to_string(),
        reason: strerror(&e),
    })?;
    content.extend_from_slice(&data);
    Ok(())
}

/// A small `glob(3)`: expands wildcards component by component, sorted, and
/// returns (path as written, path to open). No match gives an empty list.
fn expand_glob(cwd: &Path, pattern: &str) -> Vec<(String, PathBuf)> {
    let absolute = pattern.starts_with('/');
    let mut found: Vec<(String, PathBuf)> = vec![(
        if absolute {
            "/".to_string()
        } else {
            String::new()
        },
        if absolute {
            PathBuf::from("/")
        } else {
            cwd.to_path_buf()
        },
    )];
    for comp in pattern.split('/').filter(|c| !c.is_empty()) {
        let wild = comp.contains(['*', '?', '[']);
        let mut next = Vec::new();
        for (shown, path) in &found {
            let join_shown = |name: &str| {
                if shown.is_empty() || shown.ends_with('/') {
                    format!("{shown}{name}")
                } else {
                    format!("{shown}/{name}")
                }
            };
            if !wild {
                next.push((join_shown(comp), path.join(comp)));
                continue;
            }
            let Ok(rd) = std::fs::read_dir(path) else {
                continue;
            };
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.') || comp.starts_with('.'))
                .filter(|n| super::glob::glob_match(comp.as_bytes(), n.as_bytes(), false))
                .collect();
            names.sort();
            for n in names {
                next.push((join_shown(&n), path.join(&n)));
            }
        }
        found = next;
    }
    found.retain(|(_, p)| p.exists());
    found
}

/// Test hook: parse a text as if it were a config file, on top of defaults.
#[cfg(test)]
pub(crate) fn parse_text(cwd: &Path, text: &[u8]) -> Result<Config, ConfigError> {
    let mut cfg = Config::with_cwd(cwd);
    let mut loader = Loader {
        cfg: &mut cfg,
        reading_file: false,
        save_loaded: false,
    };
    loader.load_from_string(text)?;
    Ok(cfg)
}

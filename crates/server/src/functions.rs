//! Redis 7.0 functions: libraries of Lua functions (FUNCTION LOAD, FCALL), kept in a Lua
//! engine of their own (see [`crate::script`] for the engine), saved in RDB files and
//! AOF bases, replicated as the FUNCTION commands themselves.
//!
//! A library's code starts with `#!lua name=<library>`; loading runs it once in an
//! environment holding only a restricted `redis` table, whose `register_function` records
//! the functions (by name and callback, or by a table with `function_name`, `callback`,
//! `flags`, `description`); once loaded, the same environment reads the engine's globals.
//! The chunk is compiled as `@user_function`, with the shebang line blanked so that line
//! numbers match the code's.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use mlua::{Function, Lua, Table, Value};

use crate::script::Engine;

/// Flags `register_function` accepts.
const FLAGS: &[&str] = &[
    "no-writes",
    "allow-oom",
    "allow-stale",
    "no-cluster",
    "allow-cross-slot-keys",
];

/// One registered function.
#[derive(Debug, Clone)]
pub struct LibFunction {
    pub name: String,
    pub description: Option<String>,
    pub flags: Vec<String>,
    func: Function,
}

/// One library.
#[derive(Debug, Clone)]
pub struct Library {
    pub name: String,
    pub code: Bytes,
    pub functions: Vec<LibFunction>,
}

/// The libraries and their engine.
pub struct Functions {
    engine: Engine,
    /// The environment of every library's code (see [`LibraryEnv`]).
    env: LibraryEnv,
    libraries: BTreeMap<String, Library>,
    /// Function name to library name.
    owner: HashMap<String, String>,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Functions")
            .field("libraries", &self.libraries.len())
            .finish_non_exhaustive()
    }
}

/// The library name of `code`'s `#!lua name=<name>` line, and the code with that line
/// blanked. Redis's errors for a missing or bad line.
pub(crate) fn parse_library(code: &[u8]) -> Result<(String, Vec<u8>), String> {
    if !code.starts_with(b"#!") {
        return Err("ERR Missing library metadata".into());
    }
    let end = code.iter().position(|&b| b == b'\n').unwrap_or(code.len());
    let first = String::from_utf8_lossy(&code[2..end]).into_owned();
    let mut words = first.split_whitespace();
    let invalid = || "ERR Invalid library metadata".to_owned();
    if words.next() != Some("lua") {
        return Err(invalid());
    }
    let mut name = None;
    for w in words {
        match w.split_once('=') {
            Some(("name", v)) if name.is_none() && valid_name(v) => name = Some(v.to_owned()),
            _ => return Err(invalid()),
        }
    }
    let name = name.ok_or_else(invalid)?;
    Ok((name, code[end..].to_vec()))
}

fn valid_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// What `register_function` recorded during one load.
type Registered = RefCell<Vec<LibFunction>>;

impl Functions {
    pub fn new() -> Result<Functions, String> {
        let engine = Engine::new().map_err(|e| format!("ERR {e}"))?;
        let env = LibraryEnv::new(&engine.lua, &engine.globals).map_err(|e| format!("ERR {e}"))?;
        Ok(Functions {
            engine,
            env,
            libraries: BTreeMap::new(),
            owner: HashMap::new(),
        })
    }

    /// FUNCTION FLUSH: drops every library and keeps the Lua state, as Redis does.
    pub fn clear(&mut self) {
        self.libraries.clear();
        self.owner.clear();
    }

    pub(crate) fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The callback of function `name`, and whether it may write.
    pub(crate) fn find(&self, name: &str) -> Option<Function> {
        self.lookup(name).map(|f| f.func.clone())
    }

    /// Function `name`'s registration.
    pub fn lookup(&self, name: &str) -> Option<&LibFunction> {
        let lib = self.owner.get(name)?;
        self.libraries
            .get(lib)?
            .functions
            .iter()
            .find(|f| f.name == name)
    }

    /// The libraries, by name.
    pub fn libraries(&self) -> impl Iterator<Item = &Library> {
        self.libraries.values()
    }

    /// Number of functions in all libraries.
    pub fn function_count(&self) -> usize {
        self.owner.len()
    }

    /// FUNCTION DELETE.
    pub fn delete(&mut self, name: &str) -> bool {
        match self.libraries.remove(name) {
            Some(lib) => {
                for f in &lib.functions {
                    self.owner.remove(&f.name);
                }
                true
            }
            None => false,
        }
    }

    /// FUNCTION LOAD [REPLACE]: the library's name, or Redis's error.
    pub fn load(&mut self, code: &[u8], replace: bool) -> Result<String, String> {
        let (name, body) = parse_library(code)?;
        if self.libraries.contains_key(&name) && !replace {
            return Err(format!("ERR Library '{name}' already exists"));
        }
        let lua = &self.engine.lua;
        let chunk = self.engine.compile(&body, "@user_function", "function")?;
        chunk
            .set_environment(self.env.table.clone())
            .map_err(|e| format!("ERR {e}"))?;
        let registered: Registered = RefCell::new(Vec::new());
        run_registration(lua, &self.engine.redis, &self.env, chunk, &registered)
            .map_err(|e| format!("ERR Error registering functions: {e}"))?;
        let functions = registered.into_inner();
        if functions.is_empty() {
            return Err("ERR No functions registered".into());
        }
        for f in &functions {
            if self.owner.get(&f.name).is_some_and(|lib| *lib != name) {
                return Err(format!("ERR Function {} already exists", f.name));
            }
        }
        self.delete(&name);
        for f in &functions {
            self.owner.insert(f.name.clone(), name.clone());
        }
        self.libraries.insert(
            name.clone(),
            Library {
                name: name.clone(),
                code: Bytes::copy_from_slice(code),
                functions,
            },
        );
        Ok(name)
    }

    /// FUNCTION RESTORE: the libraries of `codes` (a FUNCTION DUMP's) added to these by
    /// `policy` (`flush`, `append` or `replace`), all or nothing.
    pub fn restore(&mut self, codes: &[Bytes], policy: &str) -> Result<(), String> {
        let mut kept: Vec<Bytes> = match policy {
            "flush" => Vec::new(),
            _ => self.codes(),
        };
        for code in codes {
            let (name, _) = parse_library(code)?;
            if let Some(i) = kept
                .iter()
                .position(|c| parse_library(c).is_ok_and(|(n, _)| n == name))
            {
                if policy == "append" {
                    return Err(format!("ERR Library {name} already exists"));
                }
                kept.remove(i);
            }
        }
        let mut fresh = Functions::new()?;
        for code in kept.iter().chain(codes) {
            fresh.load(code, false)?;
        }
        *self = fresh;
        Ok(())
    }

    /// Every library's code, for an RDB file or an AOF base.
    pub fn codes(&self) -> Vec<Bytes> {
        self.libraries.values().map(|l| l.code.clone()).collect()
    }
}

/// The environment library code runs in, as Redis 7.0 sets it up: an empty table whose
/// metatable sends reads to the load-time globals while a library loads (only `redis`,
/// itself restricted) and to the engine's globals once it has (what the registered
/// functions, which inherit the environment, see when called). Writes are refused.
struct LibraryEnv {
    table: Table,
    meta: Table,
    /// A metatable whose reads of a missing name raise the sandbox's error (for the
    /// load-time globals and `redis` table).
    missing: Table,
}

impl LibraryEnv {
    fn new(lua: &Lua, globals: &Table) -> mlua::Result<LibraryEnv> {
        let table = lua.create_table()?;
        let meta = lua.create_table()?;
        // The sandbox's own handlers: the same messages for a missing global and a write.
        let sandbox = lua
            .globals()
            .metatable()
            .ok_or_else(|| mlua::Error::runtime("the globals have no metatable"))?;
        meta.raw_set("__newindex", sandbox.raw_get::<Value>("__newindex")?)?;
        meta.raw_set("__index", lua.globals())?;
        table.set_metatable(Some(meta.clone()))?;
        // The missing-name error is the hidden globals table's own `__index`.
        let hidden_meta = globals
            .metatable()
            .ok_or_else(|| mlua::Error::runtime("the hidden globals have no metatable"))?;
        let missing = lua.create_table()?;
        missing.raw_set("__index", hidden_meta.raw_get::<Value>("__index")?)?;
        // Redis's functions engine has no script error handler among its globals.
        globals.raw_set("__redis__err__handler", Value::Nil)?;
        Ok(LibraryEnv {
            table,
            meta,
            missing,
        })
    }
}

/// Runs a library's chunk with the load-time globals: only a `redis` table with
/// `register_function`, `log` and the constants; anything else is a missing global, as
/// in Redis. Errors come back as Redis words them (`ERR ...`).
fn run_registration(
    lua: &Lua,
    redis: &Table,
    env: &LibraryEnv,
    chunk: Function,
    registered: &Registered,
) -> Result<(), String> {
    let result = lua.scope(|scope| {
        let register = scope.create_function(|lua, args: mlua::MultiValue| {
            register_function(lua, registered, args)
        })?;
        let load_time = lua.create_table()?;
        load_time.raw_set("register_function", register)?;
        for key in [
            "log",
            "LOG_DEBUG",
            "LOG_VERBOSE",
            "LOG_NOTICE",
            "LOG_WARNING",
        ] {
            load_time.raw_set(key, redis.raw_get::<Value>(key)?)?;
        }
        for key in ["REDIS_VERSION", "REDIS_VERSION_NUM"] {
            load_time.raw_set(key, redis.raw_get::<Value>(key)?)?;
        }
        load_time.set_metatable(Some(env.missing.clone()))?;
        let globals = lua.create_table()?;
        globals.raw_set("redis", load_time)?;
        globals.set_metatable(Some(env.missing.clone()))?;
        env.meta.raw_set("__index", globals)?;
        let outcome = chunk.call::<()>(());
        env.meta.raw_set("__index", lua.globals())?;
        Ok(outcome)
    });
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) | Err(e) => Err(format!("ERR {}", crate::script::error_text(&e))),
    }
}

/// `redis.register_function(name, callback)` or `redis.register_function{...}`.
fn register_function(
    lua: &Lua,
    registered: &Registered,
    args: mlua::MultiValue,
) -> mlua::Result<()> {
    let args: Vec<Value> = args.into_iter().collect();
    let bad = |msg: &str| mlua::Error::runtime(msg.to_owned());
    let (name, func, flags, description) = match args.as_slice() {
        [Value::String(n), Value::Function(f)] => {
            (n.to_str()?.to_owned(), f.clone(), Vec::new(), None)
        }
        [Value::Table(t)] => {
            let name: Option<String> = t.raw_get("function_name")?;
            let func: Option<Function> = t.raw_get("callback")?;
            let description: Option<String> = t.raw_get("description")?;
            let mut flags = Vec::new();
            if let Some(list) = t.raw_get::<Option<Table>>("flags")? {
                for flag in list.sequence_values::<String>() {
                    let flag = flag?;
                    if !FLAGS.contains(&flag.as_str()) {
                        return Err(bad("unknown flag given"));
                    }
                    flags.push(flag);
                }
            }
            let name = name
                .ok_or_else(|| bad("redis.register_function must get a function name argument"))?;
            let func =
                func.ok_or_else(|| bad("redis.register_function must get a callback argument"))?;
            (name, func, flags, description)
        }
        _ => return Err(bad("wrong number of arguments to redis.register_function")),
    };
    let _ = lua;
    if !valid_name(&name) {
        return Err(bad(
            "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long",
        ));
    }
    let mut list = registered.borrow_mut();
    if list.iter().any(|f| f.name == name) {
        return Err(bad("Function already exists in the library"));
    }
    list.push(LibFunction {
        name,
        description,
        flags,
        func,
    });
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn library_metadata() {
        for (code, err) in [
            (&b"return 1"[..], "ERR Missing library metadata"),
            (b"#!lua", "ERR Invalid library metadata"),
            (b"#!js name=x", "ERR Invalid library metadata"),
            (b"#!lua name=bad-name", "ERR Invalid library metadata"),
            (b"#!lua name=x foo=bar", "ERR Invalid library metadata"),
        ] {
            assert_eq!(parse_library(code).unwrap_err(), err);
        }
        let (name, body) = parse_library(b"#!lua name=lib\nreturn 1").unwrap();
        assert_eq!((name.as_str(), &body[..]), ("lib", &b"\nreturn 1"[..]));
    }
}

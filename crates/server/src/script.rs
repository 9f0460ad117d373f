//! Lua scripting (EVAL, EVALSHA, their `_RO` forms, SCRIPT): a Lua 5.1 interpreter (the
//! version Redis embeds, through the `mlua` crate) with Redis's `redis` library.
//!
//! The engine keeps one Lua state and the scripts loaded so far, by SHA1 of their body.
//! A script is compiled as the chunk `@user_script` (errors read `user_script:<line>:`),
//! with `KEYS` and `ARGV` set as globals; the globals and the library tables in them
//! (`redis`, `string`, `cjson`, ...) are read-only, and reading a missing global is an
//! error, as in Redis 7.0.15 (see [`SEAL`]). `math.random` is Redis's `rand48`
//! generator, one state for the process, never reseeded by a run.
//!
//! `redis.call` / `redis.pcall` run a command through the normal dispatcher with the
//! script's pseudo client (the caller's database; SELECT inside a script stays inside
//! it) after Redis's script checks (unknown command, arity, `noscript` commands, writes
//! from a read-only script). The reply is converted to Lua as Redis does (integer ->
//! number, bulk -> string, null -> false, array -> table, status -> `{ok=...}`, error
//! -> `{err=...}`, raised by `call`), and the script's result back to a reply (number ->
//! integer, string -> bulk, true -> 1, false/nil -> null, `{ok}` -> status, `{err}` ->
//! error, tables -> arrays up to the first nil).
//!
//! The script is one execution unit: the commands it runs reach the replicas and the AOF
//! together at its end, wrapped in MULTI/EXEC when there are several (Redis 7.0's
//! effects replication).
//!
//! Time limit: a script still running after `busy-reply-threshold` logs Redis's "Slow
//! script detected" line, and from then on other clients are answered `-BUSY` and may
//! SCRIPT KILL it (if it has not written) or SHUTDOWN NOSAVE, as in Redis: the hook, run
//! every few thousand instructions, starts [`crate::busy`]'s responder and raises the
//! kill error once asked to.
//!
//! A script may declare flags on a `#!lua flags=...` first line (see `script/flags.rs`);
//! without one it runs in 7.0's compat mode. `redis.pcall` returns a failed call's error
//! as Redis does: `{err = "CODE msg", ignore_error_stats_update = true}`.
//!
//! The `bit`, `cjson`, `cmsgpack` and `struct` libraries are Lua code of this project
//! (`script_libs.lua`), cjson with lua-cjson's configuration functions and `new`. Not done: SCRIPT DEBUG. Functions (FUNCTION, FCALL) are in `functions.rs`.
//!
//! RESP3: after `redis.setresp(3)` the pseudo client gets RESP3 replies, converted as
//! Redis converts them (`{map=...}`, `{set=...}`, `{double=...}`, `{big_number=...}`,
//! `{verbatim_string=...}`, nil, booleans); a script may return those shapes whatever
//! its protocol, and after `setresp(3)` its booleans are replied as booleans.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use mlua::{Function, IntoLua, Lua, LuaOptions, StdLib, Table, Value, Variadic};
use tandem_resp::{Encoder, Protocol};

use crate::client::Client;
use crate::server::Server;

mod active;
pub(crate) mod flags;

/// `redis.set_repl` flags: the AOF, the replicas, both.
const REPL_AOF: u8 = 1;
const REPL_REPLICA: u8 = 2;
const REPL_ALL: u8 = REPL_AOF | REPL_REPLICA;

/// The `bit`, `cjson` and `cmsgpack` libraries, in Lua (this project's own; see the file).
const LIBS: &str = include_str!("script_libs.lua");

/// Sets up the `redis` library, the sandbox and the runner, in Lua (this project's own).
const PRELUDE: &str = r#"
local impl = ...
redis = {}
redis.REPL_NONE = 0
redis.REPL_AOF = 1
redis.REPL_SLAVE = 2
redis.REPL_REPLICA = 2
redis.REPL_ALL = 3
redis.LOG_DEBUG = 0
redis.LOG_VERBOSE = 1
redis.LOG_NOTICE = 2
redis.LOG_WARNING = 3
redis.REDIS_VERSION = "7.0.15"
redis.REDIS_VERSION_NUM = 0x07000f
-- redis.call and redis.pcall are native functions script.rs adds to this table.
-- A script's own pcall sees an error table (or what redis.call raised) as its message,
-- as Redis 7.0's does.
local raw_pcall = pcall
local to_message = impl.to_message
pcall = function(f, ...)
  local r = {raw_pcall(f, ...)}
  if not r[1] then
    if type(r[2]) == 'table' and rawget(r[2], 'err') ~= nil then
      r[2] = rawget(r[2], 'err')
    else
      r[2] = to_message(r[2])
    end
  end
  return unpack(r, 1, table.maxn(r))
end
-- Both take exactly one string (a number is refused). error_reply splits "-CODE msg" as
-- a command's error reply is split (script.rs `split_error_reply`).
local str_sub, split_error_reply = string.sub, impl.split_error_reply
local bad_args = function() return {err = 'ERR wrong number or type of arguments'} end
redis.error_reply = function(...)
  local e = ...
  if select('#', ...) ~= 1 or type(e) ~= 'string' then return bad_args() end
  if str_sub(e, 1, 1) == '-' then e = str_sub(e, 2) end
  return {err = split_error_reply(e)}
end
redis.status_reply = function(...)
  local s = ...
  if select('#', ...) ~= 1 or type(s) ~= 'string' then return bad_args() end
  return {ok = s}
end
-- redis.sha1hex and redis.log are native functions script.rs adds (a script's
-- `return redis.log(...)` then keeps its frame, for the error's line).
redis.replicate_commands = function() return true end
redis.breakpoint = function() return false end
redis.debug = function(...) end
loadfile = nil
dofile = nil
-- `load(reader, name)` gathers the reader's pieces and parses them as `loadstring` does.
local loadstring, concat = loadstring, table.concat
load = function(reader, name)
  local pieces = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    pieces[#pieces + 1] = piece
  end
  return loadstring(concat(pieces), name or '=(load)')
end
-- Not in Redis 7.0's sandbox either (a proxy's finalizer would also run Lua at a time of
-- the collector's choosing).
print = nil
getfenv = nil
setfenv = nil
newproxy = nil
local where = impl.where
local handler = function(e)
  if type(e) == 'table' and rawget(e, 'line') == nil and rawget(e, 'err') ~= nil then
    rawset(e, 'line', where())
  elseif e == nil or type(e) == 'boolean' or
      (type(e) == 'string' and not string.find(e, '^user_[a-z]+:%d+:')) then
    -- Redis's handler turns any other value into {err = 'ERR ' .. tostring(e)} and
    -- takes the line from the stack (a message without a position has none of its own).
    e = {err = 'ERR ' .. tostring(e), line = where()}
  end
  return e
end
-- Redis's own error handler is a global of that name; scripts can see it.
__redis__err__handler = handler
local run_script = function(f) return xpcall(f, handler) end
local run_function = function(f, keys, args)
  return xpcall(function() return f(keys, args) end, handler)
end
local mt = {}
mt.__index = function(t, k)
  error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
end
mt.__newindex = function(t, k, v)
  error("Attempt to modify a readonly table", 2)
end
setmetatable(_G, mt)
return run_script, run_function
"#;

/// A chunk of user code, parsed as source whatever it starts with: Lua would take a
/// chunk starting with ESC (its bytecode signature) for bytecode, which it does not check
/// and which could break out of the sandbox. Redis's Lua has no bytecode loader, so such
/// a chunk is a syntax error there; a leading space keeps Lua on the parser (and the
/// error, `unexpected symbol near 'char(27)'`, on the same line).
fn source_only<'a>(lua: &'a Lua, code: &'a [u8]) -> mlua::chunk::Chunk<'a> {
    if code.first() == Some(&0x1b) {
        let mut spaced = Vec::with_capacity(code.len() + 1);
        spaced.push(b' ');
        spaced.extend_from_slice(code);
        return lua.load(spaced).set_mode(mlua::chunk::ChunkMode::Text);
    }
    lua.load(code).set_mode(mlua::chunk::ChunkMode::Text)
}

/// What a failed compilation says: Lua's own message for a syntax error.
fn compile_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::SyntaxError { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Makes the globals and the tables among them read-only, as in Redis 7.0.15 (this
/// project's own Lua). Vanilla Lua has no read-only tables, so the names move to a
/// hidden table that the (now empty) globals table reads through its metatable, and each
/// library table is replaced by an empty proxy reading the real one: every assignment
/// then reaches a `__newindex` that refuses it. `rawset` and `setmetatable` refuse those
/// tables too; `rawget`, `next` and `pairs` see through them. Returns the hidden table
/// (where each run's KEYS and ARGV go).
const SEAL: &str = r#"
local G = _G
local raw_next, raw_pairs, raw_rawset, raw_rawget = next, pairs, rawset, rawget
local raw_setmetatable, raw_getmetatable, raw_error, raw_type = setmetatable, getmetatable, error, type
local real_of = raw_setmetatable({}, {__mode = 'k'})
local deny = function() raw_error('Attempt to modify a readonly table', 2) end
local hidden = {}
local names = {}
for k, v in raw_next, G do
  names[#names + 1] = k
  if raw_type(v) == 'table' and v ~= G then
    local proxy = raw_setmetatable({}, {__index = v, __newindex = deny})
    real_of[proxy] = v
    v = proxy
  end
  hidden[k] = v
end
for _, k in ipairs(names) do raw_rawset(G, k, nil) end
hidden._G = G
local mt = raw_getmetatable(G)
raw_setmetatable(hidden, {__index = mt.__index})
mt.__index = hidden
real_of[G] = hidden
local refuse = function() raw_error('Attempt to modify a readonly table', 0) end
hidden.rawset = function(t, k, v)
  if real_of[t] then refuse() end
  return raw_rawset(t, k, v)
end
hidden.setmetatable = function(t, m)
  if real_of[t] then refuse() end
  return raw_setmetatable(t, m)
end
hidden.rawget = function(t, k) return raw_rawget(real_of[t] or t, k) end
hidden.next = function(t, k) return raw_next(real_of[t] or t, k) end
hidden.pairs = function(t)
  local real = real_of[t]
  if real then return raw_next, real, nil end
  return raw_pairs(t)
end
return hidden
"#;

/// A loaded script.
struct Loaded {
    func: Function,
    /// What its `#!lua` line declared.
    flags: flags::ScriptFlags,
}

/// The Lua state and the script cache.
pub struct Engine {
    pub(crate) lua: Lua,
    /// Runs a script (no arguments) / a library function (KEYS and ARGV as arguments)
    /// under `xpcall`.
    run_script: Function,
    run_function: Function,
    /// The pseudo client `redis.call` runs commands with, kept between runs.
    client: RefCell<Option<Box<Client>>>,
    /// `KEYS`, `ARGV` as Lua strings, made once (set at every run).
    names: [mlua::LuaString; 2],
    /// The table the globals live in (see [`SEAL`]): scripts read it through the empty
    /// globals table, which refuses every assignment.
    pub(crate) globals: Table,
    /// The run in progress, for `redis.call` and `redis.pcall`.
    active: Arc<active::Active>,
    /// SHA1 of the bodies run so far: EVAL of a known body skips hashing it.
    by_body: HashMap<Bytes, String>,
    /// The `redis` table (its natives, `call`, `pcall` and `acl_check_cmd`, are made once).
    pub(crate) redis: Table,
    tags: Tags,
    limit: Arc<TimeLimit>,
    scripts: HashMap<String, Loaded>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("scripts", &self.scripts.len())
            .finish_non_exhaustive()
    }
}

/// The table keys replies are converted with, made once: a key given as `&str` would be
/// hashed and interned by Lua on every conversion.
#[derive(Clone)]
pub(crate) struct Tags {
    ok: mlua::LuaString,
    err: mlua::LuaString,
    double: mlua::LuaString,
    big_number: mlua::LuaString,
    verbatim_string: mlua::LuaString,
    format: mlua::LuaString,
    string: mlua::LuaString,
    map: mlua::LuaString,
    set: mlua::LuaString,
    ignore_stats: mlua::LuaString,
}

impl Tags {
    fn new(lua: &Lua) -> mlua::Result<Tags> {
        Ok(Tags {
            ok: lua.create_string("ok")?,
            err: lua.create_string("err")?,
            double: lua.create_string("double")?,
            big_number: lua.create_string("big_number")?,
            verbatim_string: lua.create_string("verbatim_string")?,
            format: lua.create_string("format")?,
            string: lua.create_string("string")?,
            map: lua.create_string("map")?,
            set: lua.create_string("set")?,
            ignore_stats: lua.create_string("ignore_error_stats_update")?,
        })
    }
}

/// State of the running script that natives made once (not per run) read: its time
/// limit, checked by a hook every few thousand instructions, and its protocol.
#[derive(Debug, Default)]
struct TimeLimit {
    /// Unix milliseconds after which the script is slow (busy); 0: never.
    deadline_ms: AtomicU64,
    /// The hook found the deadline passed and started answering other clients.
    busy: AtomicBool,
    /// Whether it wrote, whether a kill was asked, whether it is a function: shared with
    /// the responder ([`crate::busy`]).
    run: Arc<crate::busy::Script>,
    /// `redis.setresp(3)` was called: commands reply in RESP3, converted to Lua as Redis
    /// converts them, and Lua booleans are replied as booleans. Each run starts at 2.
    resp3: AtomicBool,
    /// `redis.set_repl`'s flags (`REPL_AOF` 1 | `REPL_REPLICA` 2): where the script's
    /// commands propagate. Each run starts at `REPL_ALL`.
    repl: AtomicU8,
}

/// How a script ended, for the caller's reply.
enum Outcome {
    /// The reply, already encoded.
    Reply,
    /// An error reply.
    Error(ScriptError),
}

/// A script's or function's error reply, and whether it was counted in the error stats
/// already: the errors of the commands it called were, when they failed (Redis's
/// `ignore_error_stats_update`), so its reply must not count them again.
#[derive(Debug)]
pub struct ScriptError {
    /// The text, without the `-`.
    pub text: String,
    pub counted: bool,
}

impl From<String> for ScriptError {
    fn from(text: String) -> ScriptError {
        ScriptError {
            text,
            counted: false,
        }
    }
}

/// The error replies a script's result holds (at any depth), for the error stats: those
/// to count now, and whether one that was counted already went out (the command still
/// failed).
#[derive(Default)]
struct Tally {
    counted: Vec<Vec<u8>>,
    uncounted: u64,
}

/// Whether an error table is flagged `ignore_error_stats_update` (counted already).
fn flagged_counted(tags: &Tags, t: &Table) -> bool {
    matches!(
        t.raw_get::<Value>(&tags.ignore_stats),
        Ok(Value::Boolean(true))
    )
}

impl Tally {
    fn note(&mut self, t: &Table, tags: &Tags, text: &[u8]) {
        if flagged_counted(tags, t) {
            self.uncounted += 1;
        } else {
            self.counted.push(text.to_vec());
        }
    }

    fn apply(self, stats: &mut crate::server::Stats) {
        for text in &self.counted {
            stats.total_error_replies += 1;
            crate::cmd::info::record_error_code(stats, &String::from_utf8_lossy(text));
        }
        stats.failed_uncounted += self.uncounted;
    }
}

/// Whether a script's raised error was counted when it happened: a failed `redis.call`
/// (its command's error, or a check that refused it), or an error table flagged
/// `ignore_error_stats_update`.
fn already_counted(tags: &Tags, value: &Value) -> bool {
    match value {
        Value::Table(t) => flagged_counted(tags, t),
        Value::Error(_) => call_error(value).is_some_and(|c| c.counted),
        _ => false,
    }
}

/// What `redis.call` needs while a script runs.
struct Run<'a> {
    srv: &'a mut Server,
    client: Box<Client>,
    out: BytesMut,
    read_only: bool,
    /// The script declared `allow-oom`.
    allow_oom: bool,
    /// Run for the master link or the AOF (Redis's `mustObeyClient`): the server-state
    /// checks do not apply.
    obey: bool,
    wrote: &'a AtomicBool,
    /// `redis.setresp(3)` is in force.
    resp3: &'a AtomicBool,
    /// `redis.set_repl`'s flags.
    repl: &'a AtomicU8,
}

impl Engine {
    /// A fresh Lua state with the `redis` library.
    pub fn new() -> mlua::Result<Engine> {
        let lua = Lua::new_with(
            StdLib::TABLE | StdLib::STRING | StdLib::MATH,
            LuaOptions::new(),
        )?;
        let impl_table = lua.create_table()?;
        impl_table.set(
            "to_message",
            lua.create_function(|lua, e: Value| match (&e, call_error(&e)) {
                (_, Some(c)) => Ok(Value::String(lua.create_string(&c.msg)?)),
                (Value::Error(err), None) => Ok(Value::String(lua.create_string(root_cause(err))?)),
                _ => Ok(e),
            })?,
        )?;
        impl_table.set(
            "split_error_reply",
            lua.create_function(|lua, text: mlua::LuaString| {
                lua.create_string(split_error_reply(&text.as_bytes()))
            })?,
        )?;
        impl_table.set(
            "where",
            lua.create_function(|lua, ()| Ok(script_line(lua)))?,
        )?;
        let math: Table = lua.globals().raw_get("math")?;
        math.raw_set("random", lua.create_function(math_random)?)?;
        math.raw_set(
            "randomseed",
            lua.create_function(|lua, seed: Value| {
                let seed = lua.coerce_number(seed)?.ok_or_else(|| {
                    lib_error(lua, "bad argument #1 to 'randomseed' (number expected)")
                })?;
                rand48::seed(c_long_long(seed) as i32);
                Ok(())
            })?,
        )?;
        let null = Value::LightUserData(mlua::LightUserData(std::ptr::null_mut()));
        // Compiled once per process: each engine (two at startup, one per SCRIPT FLUSH)
        // loads the bytecode, faster than parsing the source again.
        static LIBS_BYTECODE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
        let libs = match LIBS_BYTECODE.get() {
            Some(code) => lua
                .load(&code[..])
                .set_mode(mlua::chunk::ChunkMode::Binary)
                .set_name("=libs")
                .into_function()?,
            None => {
                let f = lua.load(LIBS).set_name("=libs").into_function()?;
                let _ = LIBS_BYTECODE.set(f.dump(false));
                f
            }
        };
        libs.call::<()>(null)?;
        // `loadstring` (and `load`, through it) parse source only, as Redis's Lua does:
        // bytecode is not checked by Lua and could break out of the sandbox.
        lua.globals().raw_set(
            "loadstring",
            lua.create_function(
                |lua, (chunk, name): (mlua::LuaString, Option<mlua::LuaString>)| {
                    let name = name.unwrap_or_else(|| chunk.clone());
                    let name = String::from_utf8_lossy(&name.as_bytes()).into_owned();
                    match source_only(lua, &chunk.as_bytes())
                        .set_name(name)
                        .into_function()
                    {
                        Ok(f) => Ok((Value::Function(f), Value::Nil)),
                        Err(e) => Ok((
                            Value::Nil,
                            Value::String(lua.create_string(compile_message(&e))?),
                        )),
                    }
                },
            )?,
        )?;
        for lib in ["bit", "cjson", "cmsgpack", "struct"] {
            let table: Table = lua.globals().raw_get(lib)?;
            let mut funcs = Vec::new();
            for pair in table.pairs::<String, Value>() {
                if let (name, Value::Function(f)) = pair? {
                    funcs.push((name, f));
                }
            }
            for (name, f) in funcs {
                table.raw_set(name, native(&lua, f)?)?;
            }
        }
        let (run_script, run_function): (Function, Function) =
            lua.load(PRELUDE).set_name("=prelude").call(impl_table)?;
        let redis: Table = lua.globals().raw_get("redis")?;
        // Collect when the heap has grown to four times what the last cycle kept (Lua's
        // default is twice): scripts make short-lived strings and tables by the call, and
        // the collector otherwise takes a tenth of a short script's time.
        lua.gc_set_mode(mlua::state::GcMode::Incremental(
            mlua::state::GcIncParams::default().pause(400),
        ));
        let names = [lua.create_string("KEYS")?, lua.create_string("ARGV")?];
        let tags = Tags::new(&lua)?;
        // Native, so that a script's `return redis.call(...)` keeps its frame (Lua 5.1
        // does not tail-call native functions) and errors can name the script's line.
        // Made once: they reach the run in progress through `active`.
        let active = Arc::new(active::Active::default());
        let redis_table: Table = lua.globals().raw_get("redis")?;
        for (name, raise) in [("call", true), ("pcall", false)] {
            let active = active.clone();
            let tags = tags.clone();
            let f = lua.create_function(move |lua, args: Variadic<Value>| {
                active.with(|run| match run {
                    Some(run) => redis_call(lua, &tags, run, args, raise),
                    None => Err(mlua::Error::runtime(
                        "redis.call and redis.pcall are only available while a script runs",
                    )),
                })
            })?;
            redis_table.raw_set(name, f)?;
        }
        let checker = active.clone();
        let acl_check = lua.create_function(move |lua, args: Variadic<Value>| {
            checker.with(|run| match run {
                Some(run) => acl_check_cmd(lua, run, args),
                None => Err(mlua::Error::runtime(
                    "redis.acl_check_cmd can only be called inside a script invocation",
                )),
            })
        })?;
        redis_table.raw_set("acl_check_cmd", acl_check)?;
        let limit = Arc::new(TimeLimit::default());
        let resp_limit = limit.clone();
        let setresp = lua.create_function(move |lua, args: mlua::MultiValue| {
            let v = one_number(lua, &args, "redis.setresp() requires one argument.")?;
            if v != 2.0 && v != 3.0 {
                return Err(CallError::raised(lua, "ERR RESP version must be 2 or 3."));
            }
            resp_limit.resp3.store(v == 3.0, Ordering::Relaxed);
            Ok(())
        })?;
        redis_table.raw_set("setresp", setresp)?;
        redis_table.raw_set("log", lua.create_function(redis_log)?)?;
        redis_table.raw_set("sha1hex", lua.create_function(redis_sha1hex)?)?;
        let repl_limit = limit.clone();
        let set_repl = lua.create_function(move |lua, args: mlua::MultiValue| {
            // Redis's own wording, "two" included. Anything not a number is REPL_NONE.
            let n = one_number(lua, &args, "redis.set_repl() requires two arguments.")?;
            let flags = c_long_long(n);
            if flags & !i64::from(REPL_ALL) != 0 {
                return Err(CallError::raised(
                    lua,
                    "ERR Invalid replication flags. Use REPL_AOF, REPL_REPLICA, REPL_ALL or REPL_NONE.",
                ));
            }
            repl_limit.repl.store(flags as u8, Ordering::Relaxed);
            Ok(())
        })?;
        redis_table.raw_set("set_repl", set_repl)?;
        let hook_limit = limit.clone();
        lua.set_hook(
            mlua::HookTriggers::new().every_nth_instruction(10_000),
            move |lua, _| {
                let deadline = hook_limit.deadline_ms.load(Ordering::Relaxed);
                if deadline == 0 || crate::cmd::data::now_ms() as u64 <= deadline {
                    return Ok(mlua::VmState::Continue);
                }
                if !hook_limit.busy.swap(true, Ordering::Relaxed) {
                    let kill = if hook_limit.run.function.load(Ordering::Relaxed) {
                        "FUNCTION KILL"
                    } else {
                        "SCRIPT KILL"
                    };
                    let running = hook_limit.run.running.lock();
                    tracing::warn!(
                        "Slow script detected: still in execution after {} milliseconds. You can try killing the script using the {kill} command. Script name is: {}.",
                        deadline.saturating_sub(running.started_ms),
                        running.name
                    );
                    drop(running);
                    crate::busy::begin(hook_limit.run.clone());
                }
                if crate::busy::stops_slow_scripts()
                    && !hook_limit.run.wrote.load(Ordering::Relaxed)
                {
                    return Err(mlua::Error::runtime(
                        "Script stopped after busy-reply-threshold: with io-threads above 1 no other client can be answered meanwhile",
                    ));
                }
                if hook_limit.run.kill.load(Ordering::Relaxed) {
                    // Raised again at every hook while a `pcall` in the script catches it.
                    return Err(CallError::raised(
                        lua,
                        "ERR Script killed by user with SCRIPT KILL...",
                    ));
                }
                Ok(mlua::VmState::Continue)
            },
        )?;
        let globals: Table = lua.load(SEAL).set_name("=seal").call(())?;
        Ok(Engine {
            globals,
            lua,
            run_script,
            run_function,
            client: RefCell::new(None),
            names,
            active,
            by_body: HashMap::new(),
            redis,
            tags,
            limit,
            scripts: HashMap::new(),
        })
    }

    /// Compiles `body` as the chunk `chunk`; a syntax error reads `ERR Error compiling
    /// <what>: <message>`, as Redis words it.
    pub(crate) fn compile(&self, body: &[u8], chunk: &str, what: &str) -> Result<Function, String> {
        source_only(&self.lua, body)
            .set_name(chunk)
            .into_function()
            .map_err(|e| format!("ERR Error compiling {what}: {}", compile_message(&e)))
    }

    /// Number of cached scripts (INFO `number_of_cached_scripts`).
    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    /// Whether `sha` (lowercase hex) is cached.
    pub fn exists(&self, sha: &str) -> bool {
        self.scripts.contains_key(sha)
    }

    /// Compiles and caches `body`; its SHA1, or Redis's compile error.
    pub fn load(&mut self, body: &[u8]) -> Result<String, String> {
        if let Some(sha) = self.by_body.get(body) {
            return Ok(sha.clone());
        }
        let sha = crate::sha1::to_hex(&crate::sha1::sha1(body));
        if self.scripts.contains_key(&sha) {
            self.by_body
                .insert(Bytes::copy_from_slice(body), sha.clone());
            return Ok(sha);
        }
        // The shebang line is left out but not its newline: line numbers stay the user's.
        let (flags, start) = flags::shebang(body)?;
        let func = self.compile(&body[start..], "@user_script", "script (new function)")?;
        self.scripts.insert(sha.clone(), Loaded { func, flags });
        self.by_body
            .insert(Bytes::copy_from_slice(body), sha.clone());
        Ok(sha)
    }
}

/// The server's scripting state: both engines are made at startup (and the script
/// engine again at SCRIPT FLUSH), as Redis makes its Lua states, and taken out of
/// the server while a script runs (scripts do not nest).
#[derive(Debug, Default)]
pub struct Scripting {
    engine: Option<Box<Engine>>,
    /// The function libraries (FUNCTION, FCALL), in an engine of their own.
    pub(crate) functions: Option<Box<crate::functions::Functions>>,
}

impl Scripting {
    /// Number of cached scripts.
    pub fn len(&self) -> usize {
        self.engine.as_deref().map_or(0, Engine::len)
    }

    /// Whether the script `sha` is cached.
    pub fn exists(&self, sha: &str) -> bool {
        self.engine.as_ref().is_some_and(|e| e.exists(sha))
    }

    /// The flags the cached script `sha` (lowercase hex) declared.
    pub fn flags_of(&self, sha: &str) -> Option<flags::ScriptFlags> {
        let engine = self.engine.as_deref()?;
        engine.scripts.get(sha).map(|l| l.flags)
    }

    /// Both Lua states made at once, as Redis makes them at startup (the first EVAL then
    /// does not pay for one). One that fails is made again on first use.
    pub fn new() -> Scripting {
        Scripting {
            engine: Engine::new().ok().map(Box::new),
            functions: crate::functions::Functions::new().ok().map(Box::new),
        }
    }

    /// The memory INFO and MEMORY STATS report for scripting, in bytes.
    pub fn memory(&self) -> ScriptingMemory {
        let vm = |lua: Option<&Lua>| lua.map_or(0, |l| l.used_memory() as u64);
        // A cached script costs its body and id and its entry in the cache; a library
        // its code and an entry for each of its functions (as Redis's dictionaries do).
        const ENTRY: u64 = 64;
        let eval_caches = self.engine.as_deref().map_or(0, |e| {
            e.by_body
                .keys()
                .map(|body| body.len() as u64 + 40 + ENTRY)
                .sum::<u64>()
        });
        let functions_caches = crate::cmd::memory::FUNCTIONS_CACHES
            + self.functions.as_deref().map_or(0, |f| {
                f.libraries().map(|l| l.code.len() as u64).sum::<u64>()
                    + f.function_count() as u64 * ENTRY
            });
        ScriptingMemory {
            eval_vm: vm(self.engine.as_deref().map(|e| &e.lua)),
            functions_vm: vm(self.functions.as_deref().map(|f| &f.engine().lua)),
            eval_caches,
            functions_caches,
        }
    }

    /// SCRIPT FLUSH: forgets every script, with a fresh Lua state made at once (Redis's
    /// `scriptingReset`).
    pub fn flush(&mut self) {
        self.engine = Engine::new().ok().map(Box::new);
    }

    /// FUNCTION FLUSH: drops every library.
    pub fn flush_functions(&mut self) {
        if let Some(f) = self.functions.as_deref_mut() {
            f.clear();
        }
    }

    fn engine(&mut self) -> Result<&mut Engine, String> {
        if self.engine.is_none() {
            self.engine = Some(Box::new(Engine::new().map_err(|e| format!("ERR {e}"))?));
        }
        self.engine
            .as_deref_mut()
            .ok_or_else(|| "ERR scripting unavailable".to_owned())
    }

    /// The function libraries (made again here if making them failed before).
    pub fn functions_mut(&mut self) -> Result<&mut crate::functions::Functions, String> {
        if self.functions.is_none() {
            self.functions = Some(Box::new(crate::functions::Functions::new()?));
        }
        self.functions
            .as_deref_mut()
            .ok_or_else(|| "ERR scripting unavailable".to_owned())
    }

    /// The function libraries' code, to save.
    pub fn function_codes(&self) -> Vec<Bytes> {
        self.functions
            .as_deref()
            .map_or_else(Vec::new, crate::functions::Functions::codes)
    }

    /// Replaces every library with those of `codes` (an RDB's), logging the ones that
    /// fail to load.
    pub fn restore_functions(&mut self, codes: &[Bytes]) {
        self.flush_functions();
        if codes.is_empty() {
            return;
        }
        match self.functions_mut() {
            Ok(fe) => {
                for code in codes {
                    if let Err(e) = fe.load(code, true) {
                        tracing::warn!("Failed loading a function library: {e}");
                    }
                }
            }
            Err(e) => tracing::warn!("Failed loading function libraries: {e}"),
        }
    }

    /// SCRIPT LOAD / EVAL's compile step.
    pub fn load(&mut self, body: &[u8]) -> Result<String, String> {
        self.engine()?.load(body)
    }
}

/// Scripting's memory (see [`Scripting::memory`]): each Lua state's own allocations, and
/// the caches of scripts and libraries around them.
#[derive(Clone, Copy, Debug, Default)]
pub struct ScriptingMemory {
    /// `used_memory_vm_eval` (and `used_memory_lua`).
    pub eval_vm: u64,
    /// `used_memory_vm_functions`.
    pub functions_vm: u64,
    /// `used_memory_scripts_eval`, MEMORY STATS `lua.caches`.
    pub eval_caches: u64,
    /// `used_memory_functions`, MEMORY STATS `functions.caches`.
    pub functions_caches: u64,
}

/// What a call runs: a cached script (EVAL, EVALSHA) or a library function (FCALL).
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    Script(&'a str),
    Function(&'a str),
}

/// One invocation: what runs, its KEYS and ARGV, and whether it may write.
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    pub target: Target<'a>,
    /// The whole command (EVAL/FCALL and its arguments), for FUNCTION STATS.
    pub command: &'a [Bytes],
    pub keys: &'a [Bytes],
    pub argv: &'a [Bytes],
    pub read_only: bool,
    /// The script or function declared `allow-oom`.
    pub allow_oom: bool,
}

/// Runs `call` for `caller`, writing the reply with the caller's protocol into `out`.
/// `Err` is an error reply's text.
pub fn run(
    srv: &mut Server,
    caller: &Client,
    call: Call<'_>,
    out: &mut BytesMut,
) -> Result<(), ScriptError> {
    let result = match call.target {
        Target::Script(sha) => {
            let Some(engine) = srv.scripting.engine.take() else {
                return Err(String::from(NOSCRIPT).into());
            };
            let result = match engine.scripts.get(sha) {
                Some(loaded) => {
                    let what = Running {
                        func: loaded.func.clone(),
                        name: sha,
                        chunk: "user_script",
                        as_params: false,
                    };
                    run_in(&engine, srv, caller, &what, call, out)
                }
                None => Ok(Outcome::Error(String::from(NOSCRIPT).into())),
            };
            srv.scripting.engine = Some(engine);
            result
        }
        Target::Function(name) => {
            let Some(fe) = srv.scripting.functions.take() else {
                return Err(String::from("ERR Function not found").into());
            };
            let result = match fe.find(name) {
                Some(func) => {
                    // What FUNCTION STATS shows if it turns busy (buffers reused; the
                    // name and start are set by `run_in`).
                    let mut shown = fe.engine().limit.run.running.lock();
                    shown.command.clear();
                    shown.command.extend_from_slice(call.command);
                    shown.libraries = fe.libraries().count();
                    shown.functions = fe.function_count();
                    drop(shown);
                    let what = Running {
                        func,
                        name,
                        chunk: "user_function",
                        as_params: true,
                    };
                    run_in(fe.engine(), srv, caller, &what, call, out)
                }
                None => Ok(Outcome::Error(
                    String::from("ERR Function not found").into(),
                )),
            };
            srv.scripting.functions = Some(fe);
            result
        }
    };
    match result {
        Ok(Outcome::Reply) => Ok(()),
        Ok(Outcome::Error(e)) => Err(e),
        Err(e) => Err(format!("ERR {e}").into()),
    }
}

const NOSCRIPT: &str = "NOSCRIPT No matching script. Please use EVAL.";

/// The Lua function a call runs, how errors name it, and how it gets KEYS and ARGV
/// (globals for a script, parameters for a library function).
struct Running<'a> {
    func: Function,
    name: &'a str,
    chunk: &'static str,
    as_params: bool,
}

fn run_in(
    engine: &Engine,
    srv: &mut Server,
    caller: &Client,
    what: &Running<'_>,
    call: Call<'_>,
    out: &mut BytesMut,
) -> mlua::Result<Outcome> {
    let lua = &engine.lua;
    let keys = string_table(lua, call.keys)?;
    let argv = string_table(lua, call.argv)?;
    if !what.as_params {
        engine.globals.raw_set(&engine.names[0], keys.clone())?;
        engine.globals.raw_set(&engine.names[1], argv.clone())?;
    }
    let threshold = srv.config.get_i64("busy-reply-threshold");
    let limit = &engine.limit;
    let started_ms = crate::cmd::data::now_ms();
    let mut deadline = 0;
    if threshold > 0 {
        // The name and start the hook's log line and FUNCTION STATS show if it turns busy.
        deadline = started_ms as u64 + threshold as u64;
        let mut shown = limit.run.running.lock();
        shown.name.clear();
        shown.name.push_str(what.name);
        shown.started_ms = started_ms as u64;
    }
    // The commands it runs all see its start time (Redis's script time snapshot): a key
    // does not expire halfway through a script.
    let outer_now = srv.frozen_now.replace(started_ms);
    limit.deadline_ms.store(deadline, Ordering::Relaxed);
    limit.run.wrote.store(false, Ordering::Relaxed);
    limit.run.kill.store(false, Ordering::Relaxed);
    limit.run.function.store(what.as_params, Ordering::Relaxed);
    limit
        .run
        .replica
        .store(srv.replica.is_active(), Ordering::Relaxed);
    limit.resp3.store(false, Ordering::Relaxed);
    limit.repl.store(REPL_ALL, Ordering::Relaxed);
    let mut client = engine
        .client
        .borrow_mut()
        .take()
        .unwrap_or_else(|| script_client(caller));
    client.db = caller.db;
    client.user = caller.user.clone();
    client.meta = caller.meta.clone();
    let state = RefCell::new(Run {
        srv,
        client,
        out: BytesMut::new(),
        read_only: call.read_only,
        allow_oom: call.allow_oom,
        obey: caller.is_master,
        wrote: &engine.limit.run.wrote,
        resp3: &engine.limit.resp3,
        repl: &engine.limit.repl,
    });
    let proto = caller.proto;
    let mut tally = Tally::default();
    let result = engine.active.publish(&state, || {
        let (ok, value): (bool, Value) = if what.as_params {
            engine.run_function.call((what.func.clone(), keys, argv))?
        } else {
            engine.run_script.call(what.func.clone())?
        };
        if !ok {
            let counted = already_counted(&engine.tags, &value);
            let text = script_error(&value, what.name, what.chunk);
            return Ok(Outcome::Error(ScriptError { text, counted }));
        }
        let mut enc = Encoder::new(out, proto);
        write_reply(
            &mut enc,
            &engine.tags,
            &mut tally,
            &value,
            engine.limit.resp3.load(Ordering::Relaxed),
            0,
        );
        Ok(Outcome::Reply)
    });
    let Run { srv, client, .. } = state.into_inner();
    tally.apply(&mut srv.stats);
    srv.frozen_now = outer_now;
    *engine.client.borrow_mut() = Some(client);
    if engine.limit.busy.swap(false, Ordering::Relaxed) {
        crate::busy::finish(srv);
    }
    result
}

/// The pseudo client `redis.call` runs commands with.
fn script_client(caller: &Client) -> Box<Client> {
    let mut c = Client::detached(u64::MAX - 1, caller.meta.clone());
    c.user = caller.user.clone();
    c.in_script = true;
    Box::new(c)
}

fn string_table(lua: &Lua, items: &[Bytes]) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(items.len(), 0)?;
    for (i, item) in items.iter().enumerate() {
        set_bytes(lua, &t, i + 1, item)?;
    }
    Ok(t)
}

/// Sets `t[key]` to the Lua string `bytes`. Valid UTF-8 (most keys and values) is pushed
/// straight onto Lua's stack by `mlua`; other bytes go through a string handle, which
/// costs a registry slot taken and given back.
fn set_bytes(lua: &Lua, t: &Table, key: impl IntoLua, bytes: &[u8]) -> mlua::Result<()> {
    match std::str::from_utf8(bytes) {
        Ok(text) => t.raw_set(key, text),
        Err(_) => t.raw_set(key, lua.create_string(bytes)?),
    }
}

/// Redis's text for a script that raised `value`: `<message> script: <name>, on
/// @<chunk>:<line>.`; a plain message gets `ERR ` in front.
pub(crate) fn script_error(value: &Value, name: &str, chunk: &str) -> String {
    let (msg, line) = match value {
        Value::Table(t) => {
            let msg = t
                .raw_get::<Option<mlua::LuaString>>("err")
                .ok()
                .flatten()
                .map(|s| String::from_utf8_lossy(&s.as_bytes()).into_owned())
                .unwrap_or_else(|| "ERR unknown error".into());
            let line = t.raw_get::<Option<i64>>("line").ok().flatten();
            (msg, line)
        }
        Value::String(s) => {
            let text = String::from_utf8_lossy(&s.as_bytes()).into_owned();
            let line = line_of(&text);
            (format!("ERR {text}"), line)
        }
        Value::Error(e) => match call_error(value) {
            Some(c) => (c.msg.clone(), Some(c.line as i64)),
            None => {
                let text = root_cause(e);
                let line = line_of(&text);
                (format!("ERR {text}"), line)
            }
        },
        other => (format!("ERR {other:?}"), None),
    };
    format!("{msg} script: {name}, on @{chunk}:{}.", line.unwrap_or(0))
}

/// Whether a chunk name is user code (a script, or a function library).
fn is_user_chunk(source: &str) -> bool {
    source == "@user_script" || source == "@user_function"
}

/// The line the script is at: the innermost frame of user code.
fn script_line(lua: &Lua) -> usize {
    for level in 0..16 {
        let frame = lua.inspect_stack(level, |d| {
            let in_script = d.source().source.is_some_and(|s| is_user_chunk(&s));
            (in_script, d.current_line())
        });
        match frame {
            None => break,
            Some((true, Some(line))) => return line,
            Some(_) => {}
        }
    }
    0
}

/// `f` behind a native function: a script's `return lib.f(...)` then keeps the script's
/// frame (Lua 5.1 does not tail-call native functions), so an error can name its line as
/// Redis's C libraries do: `user_script:<line>: <message>`.
/// Called from elsewhere (through `pcall`, say), the message has no position and an
/// argument error names the function `?`, as `luaL_error` / `luaL_argerror` write them.
fn native(lua: &Lua, f: Function) -> mlua::Result<Function> {
    lua.create_function(move |lua, args: mlua::MultiValue| {
        f.call::<mlua::MultiValue>(args)
            .map_err(|e| lib_error(lua, &root_cause(&e)))
    })
}

/// The error a native library function raises, as `luaL_error` writes it: prefixed with
/// the calling script's position (`user_script:<line>: `) when user code called it.
fn lib_error(lua: &Lua, msg: &str) -> mlua::Error {
    let caller = lua.inspect_stack(1, |d| {
        let chunk = d
            .source()
            .source
            .filter(|s| is_user_chunk(s))
            .map(|s| s.trim_start_matches('@').to_owned());
        (chunk, d.current_line())
    });
    match caller {
        Some((Some(chunk), Some(line))) => mlua::Error::runtime(format!("{chunk}:{line}: {msg}")),
        _ => mlua::Error::runtime(anonymous_argument_error(msg)),
    }
}

/// `bad argument #1 to 'band' (...)` as seen when the function's name is unknown.
fn anonymous_argument_error(msg: &str) -> String {
    match (
        msg.strip_prefix("bad argument #"),
        msg.find(" to '"),
        msg.find("' ("),
    ) {
        (Some(_), Some(start), Some(end)) if start < end => {
            format!("{} to '?{}", &msg[..start], &msg[end..])
        }
        _ => msg.to_owned(),
    }
}

/// An error `redis.call` raises: the command's error text and the script's line.
#[derive(Debug, Clone)]
struct CallError {
    msg: String,
    line: usize,
    /// Counted in the error stats when it happened (a command's error, a refused call).
    counted: bool,
}

impl CallError {
    /// The error `msg` raised where the script is now (its line, see [`script_line`]).
    fn raised(lua: &Lua, msg: impl Into<String>) -> mlua::Error {
        mlua::Error::external(CallError {
            msg: msg.into(),
            line: script_line(lua),
            counted: false,
        })
    }

    /// [`CallError::raised`] for an error the stats counted already.
    fn counted(lua: &Lua, msg: impl Into<String>) -> mlua::Error {
        mlua::Error::external(CallError {
            msg: msg.into(),
            line: script_line(lua),
            counted: true,
        })
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for CallError {}

/// The [`CallError`] inside an error value, if it is one.
fn call_error(v: &Value) -> Option<CallError> {
    fn find(e: &mlua::Error) -> Option<CallError> {
        match e {
            mlua::Error::CallbackError { cause, .. } => find(cause),
            mlua::Error::ExternalError(ext) => ext.downcast_ref::<CallError>().cloned(),
            _ => None,
        }
    }
    match v {
        Value::Error(e) => find(e),
        _ => None,
    }
}

/// The line in a `user_script:<line>: ...` message.
fn line_of(text: &str) -> Option<i64> {
    text.strip_prefix("user_script:")
        .or_else(|| text.strip_prefix("user_function:"))
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
}

/// The text of a Lua or Rust error, as a reply shows it (no mlua wrapping, no traceback).
pub(crate) fn error_text(e: &mlua::Error) -> String {
    root_cause(e)
}

/// The message of an error raised from Rust, without mlua's wrapping.
fn root_cause(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => root_cause(cause),
        // mlua appends a traceback to a Lua function's runtime error.
        mlua::Error::RuntimeError(m) => {
            m.split("\nstack traceback:").next().unwrap_or(m).to_owned()
        }
        other => other.to_string(),
    }
}

/// `redis.call` (`raise`) / `redis.pcall`: checks, runs the command, converts the
/// reply. An error is raised by `call` (a [`CallError`]) and returned by `pcall` as an
/// `{err=...}` table.
fn redis_call(
    lua: &Lua,
    tags: &Tags,
    run: &RefCell<Run<'_>>,
    args: Variadic<Value>,
    raise: bool,
) -> mlua::Result<Value> {
    // The checks Redis makes before running the command (`scriptCall`) fail with a
    // table like a command's error reply; only a bad argument list fails without the
    // `ignore_error_stats_update` field.
    // Each is counted in the error stats (and the command's rejected calls) as Redis's
    // `afterErrorReply` on the script's client does.
    let refuse = |srv: &mut Server, cmd: Option<&str>, text: &str| -> mlua::Result<Value> {
        srv.stats.total_error_replies += 1;
        crate::cmd::info::record_error_code(&mut srv.stats, text);
        if let Some(name) = cmd {
            crate::cmd::info::record_rejected(&mut srv.stats, name);
        }
        // As after a call (Redis's `incrCommandStatsOnError`): the script's own command
        // does not fail for it.
        srv.stats.error_mark = srv.stats.total_error_replies;
        if raise {
            return Err(CallError::counted(lua, text));
        }
        error_table(lua, tags, text.as_bytes())
    };
    let argv = match lua_argv(&args) {
        Ok(argv) => argv,
        Err(text) if raise => return Err(CallError::raised(lua, text)),
        Err(text) => return tagged_bytes(lua, &tags.err, text.as_bytes()),
    };
    let Some(mut entry) = crate::cmd::table::table().lookup(&argv[0]) else {
        return refuse(
            run.borrow_mut().srv,
            None,
            "ERR Unknown Redis command called from script",
        );
    };
    // Redis looks the subcommand up first: an unknown one is an unknown command, and
    // the arity checked is the subcommand's.
    if entry.container && argv.len() > 1 {
        match entry.sub(&argv[1]) {
            Some(sub) => entry = sub,
            None => {
                return refuse(
                    run.borrow_mut().srv,
                    None,
                    "ERR Unknown Redis command called from script",
                )
            }
        }
    }
    let arity = i64::from(entry.spec.arity);
    let n = argv.len() as i64;
    if (arity > 0 && n != arity) || (arity < 0 && n < -arity) {
        return refuse(
            run.borrow_mut().srv,
            Some(entry.spec.full_name),
            "ERR Wrong number of args calling Redis command from script",
        );
    }
    if entry.noscript {
        return refuse(
            run.borrow_mut().srv,
            Some(entry.spec.full_name),
            "ERR This Redis command is not allowed from script",
        );
    }
    let writes = entry.checks.write;
    let name = Some(entry.spec.full_name);
    let mut guard = run.borrow_mut();
    let r = &mut *guard;
    if !entry.checks.stale && crate::replication_replica::running_stale(r.srv) {
        return refuse(
            r.srv,
            name,
            "ERR Can not execute the command on a stale replica",
        );
    }
    // `may_replicate` commands (PFCOUNT, PUBLISH, ...) count as writes here.
    if r.read_only && entry.pause_write {
        return refuse(
            r.srv,
            name,
            "ERR Write commands are not allowed from read-only scripts.",
        );
    }
    // The server-state checks stop a script only before its first write: after one, a
    // failure would leave it half done.
    let first_write = !r.wrote.load(Ordering::Relaxed);
    if writes && first_write && !r.obey {
        if crate::replication_replica::read_only_replica(r.srv) {
            return refuse(r.srv, name, crate::replication_replica::READONLY_ERR);
        }
        let write = crate::cmd::CheckFlags {
            write: true,
            ..Default::default()
        };
        if let Some(e) = crate::persist::misconf_rejection(r.srv, false, &write) {
            return refuse(r.srv, name, e);
        }
        if crate::cmd::repl::lacks_good_replicas(r.srv) {
            return refuse(r.srv, name, crate::cmd::repl::NOREPLICAS_ERR);
        }
    }
    let oom = r.srv.pre_command_oom && r.srv.evict.maxmemory > 0;
    if entry.checks.denyoom && oom && first_write && !r.allow_oom && !r.obey {
        return refuse(r.srv, name, crate::evict::OOM_ERR);
    }
    if writes {
        r.wrote.store(true, Ordering::Relaxed);
    }
    r.out.clear();
    r.client.proto = if r.resp3.load(Ordering::Relaxed) {
        Protocol::Resp3
    } else {
        Protocol::Resp2
    };
    let repl = r.repl.load(Ordering::Relaxed);
    r.srv.propagate_to = tandem_master::Targets {
        replicas: repl & REPL_REPLICA != 0,
        aof: repl & REPL_AOF != 0,
    };
    crate::cmd::execute(r.srv, &mut r.client, argv, &mut r.out);
    r.srv.propagate_to = tandem_master::Targets::ALL;
    let reply = std::mem::take(&mut r.out);
    drop(guard);
    let mut pos = 0;
    let value = resp_to_lua(lua, tags, &reply, &mut pos)?;
    if raise && reply.first() == Some(&b'-') {
        // Raised with the text the error table holds (its `CODE msg` form).
        let text = match &value {
            Value::Table(t) => t
                .raw_get::<mlua::LuaString>(&tags.err)
                .map(|m| String::from_utf8_lossy(&m.as_bytes()).into_owned())?,
            _ => String::from_utf8_lossy(&reply[1..]).trim_end().to_owned(),
        };
        run.borrow_mut().out = reply;
        // Counted when the command replied.
        return Err(CallError::counted(lua, text));
    }
    run.borrow_mut().out = reply;
    Ok(value)
}

/// The table a command's error reply becomes in Lua, as Redis builds it: `err` holds
/// the text split as `CODE msg` (a text without a space gets the `ERR` code; CR and LF
/// at the message's ends are dropped) and `ignore_error_stats_update` is true (the
/// error was counted when the command failed, not again when the script returns it).
fn error_table(lua: &Lua, tags: &Tags, text: &[u8]) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 2)?;
    set_bytes(lua, &t, &tags.err, &split_error_reply(text))?;
    t.raw_set(&tags.ignore_stats, true)?;
    Ok(Value::Table(t))
}

/// An error text (without its `-`) as Redis's `luaPushErrorBuff` keeps it: `CODE msg`
/// split at the first space, `ERR` for a text without one, and CR and LF dropped at the
/// message's ends. Usually the text as it is.
fn split_error_reply(text: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    fn trim(mut m: &[u8]) -> &[u8] {
        while let [b'\r' | b'\n', rest @ ..] = m {
            m = rest;
        }
        while let [rest @ .., b'\r' | b'\n'] = m {
            m = rest;
        }
        m
    }
    let space = text.iter().position(|&b| b == b' ');
    let (code, rest): (&[u8], &[u8]) = match space {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (b"ERR", text),
    };
    let msg = trim(rest);
    if space.is_some() && msg.len() == rest.len() {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut joined = Vec::with_capacity(code.len() + 1 + msg.len());
    joined.extend_from_slice(code);
    joined.push(b' ');
    joined.extend_from_slice(msg);
    std::borrow::Cow::Owned(joined)
}

/// The body of a bulk string of length `len` at `buf[*pos..]` (its header read), or
/// `None` for the null bulk.
fn bulk_body<'b>(buf: &'b [u8], pos: &mut usize, len: i64) -> mlua::Result<Option<&'b [u8]>> {
    if len < 0 {
        return Ok(None);
    }
    let start = *pos;
    let end = start + len as usize;
    let body = buf
        .get(start..end)
        .ok_or_else(|| mlua::Error::runtime("short bulk"))?;
    *pos = end + 2;
    Ok(Some(body))
}

/// A command's arguments from `redis.call`'s (or `acl_check_cmd`'s): strings as they are,
/// numbers as Redis formats them; the error text for none or another type.
fn lua_argv(args: &[Value]) -> Result<Vec<Bytes>, &'static str> {
    if args.is_empty() {
        return Err("ERR Please specify at least one argument for this redis lib call");
    }
    let mut argv: Vec<Bytes> = Vec::with_capacity(args.len());
    for a in args {
        match a {
            Value::String(s) => argv.push(Bytes::copy_from_slice(&s.as_bytes())),
            // Lua 5.1 numbers are doubles: Redis formats them all with %.17g.
            Value::Integer(n) => argv.push(Bytes::from(tandem_resp::num::format_double(*n as f64))),
            Value::Number(n) => argv.push(Bytes::from(tandem_resp::num::format_double(*n))),
            _ => return Err("ERR Lua redis lib command arguments must be strings or integers"),
        }
    }
    Ok(argv)
}

/// `redis.acl_check_cmd(command, args...)`: whether the script's caller may run it, as
/// Redis answers it (no arity check; an unknown command or subcommand is an error).
fn acl_check_cmd(lua: &Lua, run: &RefCell<Run<'_>>, args: Variadic<Value>) -> mlua::Result<Value> {
    let raise = |text: &str| Err(CallError::raised(lua, text));
    let argv = match lua_argv(&args) {
        Ok(argv) => argv,
        Err(text) => return raise(text),
    };
    let Some(mut entry) = crate::cmd::table::table().lookup(&argv[0]) else {
        return raise("ERR Invalid command passed to redis.acl_check_cmd()");
    };
    if entry.container && argv.len() > 1 {
        match entry.sub(&argv[1]) {
            Some(sub) => entry = sub,
            None => return raise("ERR Invalid command passed to redis.acl_check_cmd()"),
        }
    }
    let r = run.borrow();
    let allowed = crate::cmd::acl::permits(r.srv, &r.client.user, entry.spec, &argv);
    Ok(Value::Boolean(allowed))
}

/// The one argument of `redis.setresp` / `redis.set_repl` as `lua_tonumber` reads it (a
/// numeric string counts, anything else is 0); `count_error` is raised unless there is
/// exactly one.
fn one_number(lua: &Lua, args: &mlua::MultiValue, count_error: &str) -> mlua::Result<f64> {
    match args.front() {
        Some(v) if args.len() == 1 => Ok(lua.coerce_number(v.clone())?.unwrap_or(0.0)),
        _ => Err(CallError::raised(lua, format!("ERR {count_error}"))),
    }
}

/// `redis.sha1hex(s)`: the SHA1 of a string (or a number's text) in hex.
fn redis_sha1hex(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<String> {
    if args.len() != 1 {
        return Err(CallError::raised(lua, "ERR wrong number of arguments"));
    }
    let text = match args.into_iter().next() {
        Some(v) => lua.coerce_string(v)?,
        None => None,
    };
    let bytes = text.map(|s| s.as_bytes().to_vec()).unwrap_or_default();
    Ok(crate::sha1::to_hex(&crate::sha1::sha1(&bytes)))
}

/// `redis.log(level, ...)`: Redis's argument checks (at least two arguments, a numeric
/// level between LOG_DEBUG and LOG_WARNING); the strings and numbers after the level,
/// joined by spaces, are logged (other values are skipped).
fn redis_log(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<()> {
    if args.len() < 2 {
        return Err(CallError::raised(
            lua,
            "ERR redis.log() requires two arguments or more.",
        ));
    }
    let mut args = args.into_iter();
    let level = match args.next().map(|v| lua.coerce_number(v)).transpose()? {
        Some(Some(n)) => c_long_long(n),
        _ => {
            return Err(CallError::raised(
                lua,
                "ERR First argument must be a number (log level).",
            ))
        }
    };
    if !(0..=3).contains(&level) {
        return Err(CallError::raised(lua, "ERR Invalid debug level."));
    }
    let mut text = String::new();
    for v in args {
        if let Some(s) = lua.coerce_string(v)? {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(&String::from_utf8_lossy(&s.as_bytes()));
        }
    }
    match level {
        0 => tracing::debug!("{text}"),
        1 | 2 => tracing::info!("{text}"),
        _ => tracing::warn!("{text}"),
    }
    Ok(())
}

/// `math.random` as Redis replaces it: Redis's own `rand48` generator (see [`rand48`]),
/// so that scripts draw the same numbers on every server and replica.
fn math_random(lua: &Lua, args: mlua::MultiValue) -> mlua::Result<f64> {
    const MAX: i32 = i32::MAX;
    let r = f64::from(rand48::next() % MAX) / f64::from(MAX);
    let int_arg = |v: &Value, n: usize| -> mlua::Result<f64> {
        match lua.coerce_number(v.clone())? {
            Some(x) => Ok(f64::from(c_long_long(x) as i32)),
            None => Err(lib_error(
                lua,
                &format!("bad argument #{n} to 'random' (number expected)"),
            )),
        }
    };
    let empty = |n: usize| {
        Err(lib_error(
            lua,
            &format!("bad argument #{n} to 'random' (interval is empty)"),
        ))
    };
    match args.len() {
        0 => Ok(r),
        1 => {
            let u = int_arg(&args[0], 1)?;
            if u < 1.0 {
                return empty(1);
            }
            Ok((r * u).floor() + 1.0)
        }
        2 => {
            let (l, u) = (int_arg(&args[0], 1)?, int_arg(&args[1], 2)?);
            if l > u {
                return empty(2);
            }
            Ok((r * (u - l + 1.0)).floor() + l)
        }
        _ => Err(lib_error(lua, "wrong number of arguments")),
    }
}

/// The `rand48` generator behind scripts' `math.random`: a 48-bit linear congruential
/// generator (drand48's constants), one state for the whole process and never reset, as
/// in Redis, starting from drand48's default seed.
mod rand48 {
    use std::sync::atomic::{AtomicU64, Ordering};

    const MASK: u64 = (1 << 48) - 1;
    static STATE: AtomicU64 = AtomicU64::new(0x1234_ABCD_330E);

    /// The next 31-bit value (`lrand48`).
    pub fn next() -> i32 {
        let x = STATE.load(Ordering::Relaxed);
        let x = x.wrapping_mul(0x5_DEEC_E66D).wrapping_add(0xB) & MASK;
        STATE.store(x, Ordering::Relaxed);
        (x >> 17) as i32
    }

    /// `srand48(seed)`.
    pub fn seed(seed: i32) {
        STATE.store((u64::from(seed as u32) << 16) | 0x330E, Ordering::Relaxed);
    }
}

/// `(long long)n` as x86-64 computes it (see [`write_reply`]).
fn c_long_long(n: f64) -> i64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if n.is_nan() || !(-TWO_63..TWO_63).contains(&n) {
        i64::MIN
    } else {
        n as i64
    }
}

/// Converts one RESP2 reply at `buf[*pos..]` to a Lua value (see the module docs).
fn resp_to_lua(lua: &Lua, tags: &Tags, buf: &[u8], pos: &mut usize) -> mlua::Result<Value> {
    let line = |pos: &mut usize| -> mlua::Result<&[u8]> {
        let start = *pos + 1;
        let end = buf[start..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .map(|i| start + i)
            .ok_or_else(|| mlua::Error::runtime("bad reply"))?;
        *pos = end + 2;
        Ok(&buf[start..end])
    };
    let kind = *buf
        .get(*pos)
        .ok_or_else(|| mlua::Error::runtime("empty reply"))?;
    let head = line(pos)?;
    let num = || -> i64 { tandem_resp::num::string2ll(head).unwrap_or(0) };
    match kind {
        b':' => Ok(Value::Number(num() as f64)),
        b'+' => tagged_bytes(lua, &tags.ok, head),
        b'-' => error_table(lua, tags, head),
        b'$' => match bulk_body(buf, pos, num())? {
            Some(body) => Ok(Value::String(lua.create_string(body)?)),
            None => Ok(Value::Boolean(false)),
        },
        b'*' => {
            let n = num();
            if n < 0 {
                return Ok(Value::Boolean(false));
            }
            let t = lua.create_table_with_capacity(n as usize, 0)?;
            for i in 1..=n {
                // Bulk strings, the usual element, are set without a handle.
                if buf.get(*pos) == Some(&b'$') {
                    let len = tandem_resp::num::string2ll(line(pos)?).unwrap_or(0);
                    match bulk_body(buf, pos, len)? {
                        Some(body) => set_bytes(lua, &t, i, body)?,
                        None => t.raw_set(i, false)?,
                    }
                    continue;
                }
                let v = resp_to_lua(lua, tags, buf, pos)?;
                t.raw_set(i, v)?;
            }
            Ok(Value::Table(t))
        }
        // RESP3, after redis.setresp(3): Redis's conversions.
        b'_' => Ok(Value::Nil),
        b'#' => Ok(Value::Boolean(head == b"t")),
        b',' => {
            let text = String::from_utf8_lossy(head);
            let d = match text.as_ref() {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                other => other.parse().unwrap_or(f64::NAN),
            };
            tagged(lua, &tags.double, Value::Number(d))
        }
        b'(' => tagged(
            lua,
            &tags.big_number,
            Value::String(lua.create_string(head)?),
        ),
        b'=' => {
            let n = num().max(0) as usize;
            let start = *pos;
            let body = buf
                .get(start..start + n)
                .ok_or_else(|| mlua::Error::runtime("short verbatim"))?;
            *pos = start + n + 2;
            let (format, text) = body.split_at(body.len().min(3));
            let inner = lua.create_table()?;
            inner.raw_set(&tags.format, lua.create_string(format)?)?;
            inner.raw_set(
                &tags.string,
                lua.create_string(text.get(1..).unwrap_or_default())?,
            )?;
            tagged(lua, &tags.verbatim_string, Value::Table(inner))
        }
        b'%' => {
            let inner = lua.create_table()?;
            for _ in 0..num().max(0) {
                let k = resp_to_lua(lua, tags, buf, pos)?;
                let v = resp_to_lua(lua, tags, buf, pos)?;
                inner.raw_set(k, v)?;
            }
            tagged(lua, &tags.map, Value::Table(inner))
        }
        b'~' => {
            let inner = lua.create_table()?;
            for _ in 0..num().max(0) {
                let k = resp_to_lua(lua, tags, buf, pos)?;
                inner.raw_set(k, true)?;
            }
            tagged(lua, &tags.set, Value::Table(inner))
        }
        b'|' => {
            // An attribute: skipped, the value it decorates follows.
            for _ in 0..num().max(0) * 2 {
                resp_to_lua(lua, tags, buf, pos)?;
            }
            resp_to_lua(lua, tags, buf, pos)
        }
        _ => Err(mlua::Error::runtime("unexpected reply type")),
    }
}

/// `{<tag> = value}`, the table Redis gives Lua for a RESP3 double, map, set, ...
fn tagged(lua: &Lua, tag: &mlua::LuaString, value: Value) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    t.raw_set(tag, value)?;
    Ok(Value::Table(t))
}

/// `{<tag> = bytes}` as a Lua string: a status or error reply's table.
fn tagged_bytes(lua: &Lua, tag: &mlua::LuaString, bytes: &[u8]) -> mlua::Result<Value> {
    let t = lua.create_table_with_capacity(0, 1)?;
    set_bytes(lua, &t, tag, bytes)?;
    Ok(Value::Table(t))
}

/// Writes a script's result as a reply (see the module docs). `resp3`: the script called
/// `redis.setresp(3)`, so booleans are replied as booleans.
///
/// A number becomes an integer as Redis's `(long long)` cast makes it on x86-64: toward
/// zero, and the minimum for NaN and values out of range (an infinity, 1e300).
fn write_reply(
    enc: &mut Encoder<'_>,
    tags: &Tags,
    tally: &mut Tally,
    v: &Value,
    resp3: bool,
    depth: usize,
) {
    match v {
        Value::Nil => enc.null(),
        Value::Boolean(b) if resp3 => enc.boolean(*b),
        Value::Boolean(true) => enc.integer(1),
        Value::Boolean(false) => enc.null(),
        Value::Integer(n) => enc.integer(*n),
        Value::Number(n) => enc.integer(c_long_long(*n)),
        Value::String(s) => enc.bulk(&s.as_bytes()),
        Value::Table(t) => {
            if let Ok(Some(e)) = t.raw_get::<Option<mlua::LuaString>>(&tags.err) {
                let text = e.as_bytes();
                enc.error(&text);
                tally.note(t, tags, &text);
                return;
            }
            if let Ok(Some(s)) = t.raw_get::<Option<mlua::LuaString>>(&tags.ok) {
                enc.simple(&s.as_bytes());
                return;
            }
            if write_tagged(enc, tags, tally, t, resp3, depth) {
                return;
            }
            let mut items = Vec::new();
            let mut i = 1;
            while let Ok(v) = t.raw_get::<Value>(i) {
                if v.is_nil() || depth > 64 {
                    break;
                }
                items.push(v);
                i += 1;
            }
            enc.array_len(items.len());
            for item in &items {
                write_reply(enc, tags, tally, item, resp3, depth + 1);
            }
        }
        _ => enc.null(),
    }
}

/// The RESP3 shapes a script may return whatever its protocol, as Redis checks for them
/// after `err` and `ok`: `{double = n}`, `{big_number = s}`, `{verbatim_string = {format
/// = f, string = s}}`, `{map = t}`, `{set = t}` (RESP2 callers get Redis's RESP2 forms).
/// Returns false when `t` is none of them.
fn write_tagged(
    enc: &mut Encoder<'_>,
    tags: &Tags,
    tally: &mut Tally,
    t: &Table,
    resp3: bool,
    depth: usize,
) -> bool {
    match t.raw_get::<Value>(&tags.double) {
        Ok(Value::Number(d)) => {
            enc.double(d);
            return true;
        }
        Ok(Value::Integer(n)) => {
            enc.double(n as f64);
            return true;
        }
        _ => {}
    }
    if let Ok(Some(s)) = t.raw_get::<Option<mlua::LuaString>>(&tags.big_number) {
        let digits: Vec<u8> = s
            .as_bytes()
            .iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b })
            .collect();
        enc.big_number(&digits);
        return true;
    }
    if let Ok(Some(v)) = t.raw_get::<Option<Table>>("verbatim_string") {
        let format = v
            .raw_get::<Option<mlua::LuaString>>("format")
            .ok()
            .flatten();
        let text = v
            .raw_get::<Option<mlua::LuaString>>("string")
            .ok()
            .flatten();
        if let (Some(f), Some(s)) = (format, text) {
            let f = f.as_bytes();
            let mut fmt = [b' '; 3];
            for (slot, b) in fmt.iter_mut().zip(f.iter()) {
                *slot = *b;
            }
            enc.verbatim(&fmt, &s.as_bytes());
            return true;
        }
    }
    if let Ok(Some(m)) = t.raw_get::<Option<Table>>(&tags.map) {
        let pairs: Vec<(Value, Value)> = m.pairs::<Value, Value>().flatten().collect();
        enc.map_len(pairs.len());
        for (k, v) in &pairs {
            write_reply(enc, tags, tally, k, resp3, depth + 1);
            write_reply(enc, tags, tally, v, resp3, depth + 1);
        }
        return true;
    }
    if let Ok(Some(s)) = t.raw_get::<Option<Table>>(&tags.set) {
        let members: Vec<Value> = s
            .pairs::<Value, Value>()
            .flatten()
            .map(|(k, _)| k)
            .collect();
        enc.set_len(members.len());
        for m in &members {
            write_reply(enc, tags, tally, m, resp3, depth + 1);
        }
        return true;
    }
    false
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Runs `body` (a function of one argument `x`) on `x` in a fresh engine.
    fn eval_with(e: &Engine, body: &str, x: Value) -> mlua::Result<Value> {
        let f: Function = e.lua.load(body).set_name("=test").eval()?;
        f.call(x)
    }

    /// `body` applied to the Lua string of `bytes`; the string it returns.
    fn string_through(body: &str, bytes: &[u8]) -> Vec<u8> {
        let e = Engine::new().unwrap();
        let s = e.lua.create_string(bytes).unwrap();
        match eval_with(&e, body, Value::String(s)).unwrap() {
            Value::String(back) => back.as_bytes().to_vec(),
            other => panic!("not a string: {other:?}"),
        }
    }

    proptest::proptest! {
        #[test]
        fn cjson_round_trips_strings(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64)) {
            let back = string_through("return function(x) return cjson.decode(cjson.encode(x)) end", &bytes);
            proptest::prop_assert_eq!(back, bytes);
        }

        #[test]
        fn cjson_round_trips_integers(n in -99_999_999_999_999i64..99_999_999_999_999i64) {
            let e = Engine::new().unwrap();
            let back = eval_with(&e, "return function(x) return cjson.decode(cjson.encode({x, {y = x}}))[2].y end",
                Value::Number(n as f64)).unwrap();
            proptest::prop_assert_eq!(back, Value::Number(n as f64));
        }

        #[test]
        fn cmsgpack_round_trips_numbers(x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO) {
            let e = Engine::new().unwrap();
            let back = eval_with(&e, "return function(x) return cmsgpack.unpack(cmsgpack.pack(x)) end",
                Value::Number(x)).unwrap();
            proptest::prop_assert_eq!(back, Value::Number(x));
        }

        #[test]
        fn struct_round_trips_doubles_and_integers(
            x in proptest::num::f64::NORMAL | proptest::num::f64::SUBNORMAL | proptest::num::f64::ZERO,
            n in -(1i64 << 53)..(1i64 << 53),
            big in proptest::bool::ANY,
        ) {
            let e = Engine::new().unwrap();
            let fmt = if big { ">" } else { "<" };
            let body = format!(
                "return function(x) local a, b, c = struct.unpack('{fmt}dlI7', struct.pack('{fmt}dlI7', x[1], x[2], math.abs(x[2]) % 2^53)) return {{a, b, c}} end"
            );
            let input = e.lua.create_sequence_from([x, n as f64]).unwrap();
            let back = eval_with(&e, &body, Value::Table(input)).unwrap();
            let Value::Table(t) = back else { panic!("not a table") };
            proptest::prop_assert_eq!(t.raw_get::<f64>(1).unwrap().to_bits(), x.to_bits());
            proptest::prop_assert_eq!(t.raw_get::<f64>(2).unwrap(), n as f64);
            proptest::prop_assert_eq!(t.raw_get::<f64>(3).unwrap(), (n.unsigned_abs() % (1u64 << 53)) as f64);
        }

        #[test]
        fn cmsgpack_round_trips_strings(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let back = string_through("return function(x) return cmsgpack.unpack(cmsgpack.pack({x}))[1] end", &bytes);
            proptest::prop_assert_eq!(back, bytes);
        }

        #[test]
        fn cmsgpack_unpack_takes_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let e = Engine::new().unwrap();
            let s = e.lua.create_string(&bytes).unwrap();
            let _ = eval_with(&e, "return function(x) return cmsgpack.unpack(x) end", Value::String(s));
        }

        #[test]
        fn cjson_decode_takes_any_text(text in "[\\[\\]{}\",:0-9a-z.eE+ -]{0,40}") {
            let e = Engine::new().unwrap();
            let s = e.lua.create_string(&text).unwrap();
            // An error is a fine answer; a panic or a hang is not.
            let _ = eval_with(&e, "return function(x) return cjson.decode(x) end", Value::String(s));
        }
    }

    #[test]
    fn compile_errors_read_like_redis() {
        let mut e = Engine::new().unwrap();
        assert_eq!(
            e.load(b"return +").unwrap_err(),
            "ERR Error compiling script (new function): user_script:1: unexpected symbol near '+'"
        );
        let sha = e.load(b"return 1").unwrap();
        assert_eq!(sha, "e0e1f9fabfc9d4800c877a703b823ac0578ff8db");
        assert!(e.exists(&sha));
    }
}

//! `cargo xtask codegen`: regenerate `crates/commands/src/generated.rs`.
//!
//! The command table of `tandem-commands` is not written by hand: this task starts
//! a real redis-server 7.0.15 on a free loopback port (no persistence, in a
//! temporary directory), asks it `COMMAND INFO` and `COMMAND DOCS` for every
//! command, and writes the answers down as Rust static data. Commands and
//! subcommands are sorted by name; everything inside one command keeps the order
//! Redis reports, so running the task twice gives the same file.
//!
//! Options: `--out PATH` (default: the crate's `src/generated.rs`),
//! `--redis-server PATH` (default: `$REDIS_SERVER` or `redis-server` on `PATH`),
//! `--check` (fail if the file on disk differs instead of writing it).
//!
//! Plain `std` plus `anyhow`: a tiny RESP2 reader is all the protocol needed.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context, Result};

/// The only Redis version the table may be generated from.
const REDIS_VERSION: &str = "7.0.15";

/// Entry point, dispatched from `cargo xtask codegen [options]`.
pub fn run(args: &[String]) -> Result<()> {
    let mut out: Option<PathBuf> = None;
    let mut server: Option<PathBuf> = None;
    let mut check = false;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--out" => out = Some(it.next().context("--out needs a path")?.into()),
            "--redis-server" => {
                server = Some(it.next().context("--redis-server needs a path")?.into())
            }
            "--check" => check = true,
            "-h" | "--help" => {
                eprintln!(
                    "usage: cargo xtask codegen [--out PATH] [--redis-server PATH] [--check]"
                );
                return Ok(());
            }
            other => bail!("codegen: unknown argument `{other}`"),
        }
    }
    let out = match out {
        Some(p) => p,
        None => workspace_root()
            .join("crates")
            .join("commands")
            .join("src")
            .join("generated.rs"),
    };
    let server = server
        .or_else(|| std::env::var_os("REDIS_SERVER").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("redis-server"));

    check_version(&server)?;
    let (info, docs) = query_server(&server)?;
    let table = build_table(&info, &docs)?;
    let source = render(&table);

    if check {
        let current = std::fs::read_to_string(&out)
            .with_context(|| format!("cannot read {}", out.display()))?;
        if current != source {
            bail!(
                "{} is out of date: run `cargo xtask codegen`",
                out.display()
            );
        }
        eprintln!("codegen: {} is up to date", out.display());
    } else {
        std::fs::write(&out, source).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!(
            "codegen: wrote {} ({} commands)",
            out.display(),
            table.len()
        );
    }
    Ok(())
}

fn workspace_root() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    dir.parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| dir.to_path_buf())
}

fn check_version(server: &Path) -> Result<()> {
    let output = Command::new(server)
        .arg("--version")
        .output()
        .with_context(|| format!("cannot run {} --version", server.display()))?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !text.contains(&format!("v={REDIS_VERSION} ")) {
        bail!(
            "{} is not redis-server {REDIS_VERSION}: {}",
            server.display(),
            text.trim()
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Running the reference server
// ---------------------------------------------------------------------------

/// Kills (and reaps) exactly the child it holds, and removes the temp dir, on drop.
struct ServerGuard {
    child: Child,
    dir: PathBuf,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("cannot bind a loopback port")?;
    Ok(listener.local_addr()?.port())
}

fn temp_dir() -> Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("tandem-codegen-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn query_server(server: &Path) -> Result<(Value, Value)> {
    let port = free_port()?;
    let dir = temp_dir()?;
    let child = Command::new(server)
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no"])
        .arg("--dir")
        .arg(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("cannot start {}", server.display()))?;
    let mut guard = ServerGuard { child, dir };

    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                if let Some(status) = guard.child.try_wait()? {
                    bail!("redis-server exited early ({status})");
                }
                if Instant::now() > deadline {
                    return Err(anyhow!(e).context("redis-server did not start listening"));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    };
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut conn = Conn {
        writer: stream.try_clone()?,
        reader: BufReader::new(stream),
    };
    let info = conn.call(&["COMMAND", "INFO"])?;
    let docs = conn.call(&["COMMAND", "DOCS"])?;
    drop(conn);
    drop(guard);
    Ok((info, docs))
}

// ---------------------------------------------------------------------------
// Minimal RESP2 client
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Value {
    Simple(String),
    Int(i64),
    Bulk(Option<String>),
    Array(Option<Vec<Value>>),
}

struct Conn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn call(&mut self, args: &[&str]) -> Result<Value> {
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            let _ = write!(req, "${}\r\n{a}\r\n", a.len());
        }
        self.writer.write_all(req.as_bytes())?;
        self.read_value()
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\r\n") {
            bail!("truncated reply line");
        }
        line.truncate(line.len() - 2);
        String::from_utf8(line).context("reply line is not UTF-8")
    }

    fn read_value(&mut self) -> Result<Value> {
        let line = self.read_line()?;
        let kind = line.as_bytes().first().copied().unwrap_or(b'?');
        let rest = line.get(1..).unwrap_or("");
        match kind {
            b'+' => Ok(Value::Simple(rest.to_string())),
            b'-' => bail!("redis error: {rest}"),
            b':' => Ok(Value::Int(rest.parse()?)),
            b'$' => {
                let len: i64 = rest.parse()?;
                if len < 0 {
                    return Ok(Value::Bulk(None));
                }
                let mut buf = vec![0u8; usize::try_from(len)? + 2];
                self.reader.read_exact(&mut buf)?;
                buf.truncate(buf.len() - 2);
                Ok(Value::Bulk(Some(
                    String::from_utf8(buf).context("bulk string is not UTF-8")?,
                )))
            }
            b'*' => {
                let len: i64 = rest.parse()?;
                if len < 0 {
                    return Ok(Value::Array(None));
                }
                let mut items = Vec::with_capacity(usize::try_from(len)?);
                for _ in 0..len {
                    items.push(self.read_value()?);
                }
                Ok(Value::Array(Some(items)))
            }
            _ => bail!("unexpected reply line `{line}`"),
        }
    }
}

impl Value {
    fn str(&self) -> Result<&str> {
        match self {
            Value::Simple(s) | Value::Bulk(Some(s)) => Ok(s),
            other => bail!("expected a string, got {other:?}"),
        }
    }
    fn int(&self) -> Result<i64> {
        match self {
            Value::Int(i) => Ok(*i),
            other => bail!("expected an integer, got {other:?}"),
        }
    }
    fn array(&self) -> Result<&[Value]> {
        match self {
            Value::Array(Some(items)) => Ok(items),
            other => bail!("expected an array, got {other:?}"),
        }
    }
    fn strings(&self) -> Result<Vec<String>> {
        self.array()?
            .iter()
            .map(|v| v.str().map(str::to_string))
            .collect()
    }
    /// A RESP2 flat map `[k1, v1, k2, v2, ...]` as ordered pairs.
    fn pairs(&self) -> Result<Vec<(&str, &Value)>> {
        let items = self.array()?;
        if items.len() % 2 != 0 {
            bail!("odd-length map");
        }
        items
            .chunks(2)
            .map(|kv| Ok((kv[0].str()?, &kv[1])))
            .collect()
    }
}

// ---------------------------------------------------------------------------
// Model
// ---------------------------------------------------------------------------

struct Cmd {
    name: String,
    full_name: String,
    arity: i64,
    flags: Vec<String>,
    first_key: i64,
    last_key: i64,
    step: i64,
    acl: Vec<String>,
    tips: Vec<String>,
    key_specs: Vec<KeySpec>,
    subcommands: Vec<Cmd>,
    docs: Docs,
}

struct KeySpec {
    notes: Option<String>,
    flags: Vec<String>,
    begin_search: String,
    find_keys: String,
}

#[derive(Default)]
struct Docs {
    summary: Option<String>,
    since: Option<String>,
    group: String,
    complexity: Option<String>,
    doc_flags: Vec<String>,
    deprecated_since: Option<String>,
    replaced_by: Option<String>,
    history: Option<Vec<(String, String)>>,
    arguments: Option<Vec<Arg>>,
}

struct Arg {
    name: String,
    kind: String,
    key_spec_index: Option<i64>,
    token: Option<String>,
    summary: Option<String>,
    since: Option<String>,
    deprecated_since: Option<String>,
    flags: Vec<String>,
    arguments: Option<Vec<Arg>>,
}

fn build_table(info: &Value, docs: &Value) -> Result<Vec<Cmd>> {
    let mut all_docs: BTreeMap<String, &Value> = BTreeMap::new();
    collect_docs(docs, &mut all_docs)?;
    let mut table = info
        .array()?
        .iter()
        .map(|entry| parse_cmd(entry, &all_docs))
        .collect::<Result<Vec<_>>>()?;
    table.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(table)
}

/// Flattens the `COMMAND DOCS` map (and nested `subcommands` maps) by full name.
fn collect_docs<'a>(docs: &'a Value, out: &mut BTreeMap<String, &'a Value>) -> Result<()> {
    for (name, doc) in docs.pairs()? {
        out.insert(name.to_string(), doc);
        for (key, value) in doc.pairs()? {
            if key == "subcommands" {
                collect_docs(value, out)?;
            }
        }
    }
    Ok(())
}

fn parse_cmd(entry: &Value, docs: &BTreeMap<String, &Value>) -> Result<Cmd> {
    let e = entry.array()?;
    if e.len() != 10 {
        bail!("COMMAND INFO entry with {} elements", e.len());
    }
    let full_name = e[0].str()?.to_string();
    let name = full_name
        .rsplit('|')
        .next()
        .unwrap_or(&full_name)
        .to_string();
    let doc = docs
        .get(&full_name)
        .with_context(|| format!("no COMMAND DOCS for {full_name}"))?;
    let mut subcommands = e[9]
        .array()?
        .iter()
        .map(|s| parse_cmd(s, docs))
        .collect::<Result<Vec<_>>>()?;
    subcommands.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Cmd {
        arity: e[1].int()?,
        flags: e[2].strings()?,
        first_key: e[3].int()?,
        last_key: e[4].int()?,
        step: e[5].int()?,
        acl: e[6].strings()?,
        tips: e[7].strings()?,
        key_specs: e[8]
            .array()?
            .iter()
            .map(parse_key_spec)
            .collect::<Result<Vec<_>>>()?,
        subcommands,
        docs: parse_docs(doc).with_context(|| format!("COMMAND DOCS {full_name}"))?,
        name,
        full_name,
    })
}

fn parse_key_spec(v: &Value) -> Result<KeySpec> {
    let mut spec = KeySpec {
        notes: None,
        flags: Vec::new(),
        begin_search: String::new(),
        find_keys: String::new(),
    };
    for (key, value) in v.pairs()? {
        match key {
            "notes" => spec.notes = Some(value.str()?.to_string()),
            "flags" => spec.flags = value.strings()?,
            "begin_search" => spec.begin_search = begin_search(value)?,
            "find_keys" => spec.find_keys = find_keys(value)?,
            other => bail!("unknown key spec field `{other}`"),
        }
    }
    if spec.begin_search.is_empty() || spec.find_keys.is_empty() {
        bail!("incomplete key spec");
    }
    Ok(spec)
}

/// Splits `{type: T, spec: {...}}` into the type and the spec's fields.
fn typed_spec(v: &Value) -> Result<(String, BTreeMap<String, Value>)> {
    let mut kind = None;
    let mut fields = BTreeMap::new();
    for (key, value) in v.pairs()? {
        match key {
            "type" => kind = Some(value.str()?.to_string()),
            "spec" => {
                for (k, x) in value.pairs()? {
                    fields.insert(k.to_string(), x.clone());
                }
            }
            other => bail!("unknown key spec part `{other}`"),
        }
    }
    Ok((kind.context("key spec part without type")?, fields))
}

fn field_int(fields: &BTreeMap<String, Value>, name: &str) -> Result<i64> {
    fields
        .get(name)
        .with_context(|| format!("missing `{name}`"))?
        .int()
}

fn begin_search(v: &Value) -> Result<String> {
    let (kind, f) = typed_spec(v)?;
    Ok(match kind.as_str() {
        "unknown" => "BeginSearch::Unknown".to_string(),
        "index" => format!("BeginSearch::Index({})", field_int(&f, "index")?),
        "keyword" => format!(
            "BeginSearch::Keyword {{ keyword: {:?}, startfrom: {} }}",
            f.get("keyword").context("missing keyword")?.str()?,
            field_int(&f, "startfrom")?
        ),
        other => bail!("unknown begin_search type `{other}`"),
    })
}

fn find_keys(v: &Value) -> Result<String> {
    let (kind, f) = typed_spec(v)?;
    Ok(match kind.as_str() {
        "unknown" => "FindKeys::Unknown".to_string(),
        "range" => format!(
            "FindKeys::Range {{ lastkey: {}, keystep: {}, limit: {} }}",
            field_int(&f, "lastkey")?,
            field_int(&f, "keystep")?,
            field_int(&f, "limit")?
        ),
        "keynum" => format!(
            "FindKeys::Keynum {{ keynumidx: {}, firstkey: {}, keystep: {} }}",
            field_int(&f, "keynumidx")?,
            field_int(&f, "firstkey")?,
            field_int(&f, "keystep")?
        ),
        other => bail!("unknown find_keys type `{other}`"),
    })
}

fn parse_docs(v: &Value) -> Result<Docs> {
    let mut d = Docs::default();
    let mut have_group = false;
    for (key, value) in v.pairs()? {
        match key {
            "summary" => d.summary = Some(value.str()?.to_string()),
            "since" => d.since = Some(value.str()?.to_string()),
            "group" => {
                d.group = value.str()?.to_string();
                have_group = true;
            }
            "complexity" => d.complexity = Some(value.str()?.to_string()),
            "doc_flags" => d.doc_flags = value.strings()?,
            "deprecated_since" => d.deprecated_since = Some(value.str()?.to_string()),
            "replaced_by" => d.replaced_by = Some(value.str()?.to_string()),
            "history" => {
                d.history = Some(
                    value
                        .array()?
                        .iter()
                        .map(|h| {
                            let pair = h.strings()?;
                            match pair.as_slice() {
                                [a, b] => Ok((a.clone(), b.clone())),
                                _ => bail!("history entry is not a pair"),
                            }
                        })
                        .collect::<Result<Vec<_>>>()?,
                )
            }
            "arguments" => d.arguments = Some(parse_args(value)?),
            "subcommands" => {}
            other => bail!("unknown docs field `{other}`"),
        }
    }
    if !have_group {
        bail!("docs without group");
    }
    Ok(d)
}

fn parse_args(v: &Value) -> Result<Vec<Arg>> {
    v.array()?.iter().map(parse_arg).collect()
}

fn parse_arg(v: &Value) -> Result<Arg> {
    let mut a = Arg {
        name: String::new(),
        kind: String::new(),
        key_spec_index: None,
        token: None,
        summary: None,
        since: None,
        deprecated_since: None,
        flags: Vec::new(),
        arguments: None,
    };
    for (key, value) in v.pairs()? {
        match key {
            "name" => a.name = value.str()?.to_string(),
            "type" => a.kind = value.str()?.to_string(),
            "key_spec_index" => a.key_spec_index = Some(value.int()?),
            "token" => a.token = Some(value.str()?.to_string()),
            "summary" => a.summary = Some(value.str()?.to_string()),
            "since" => a.since = Some(value.str()?.to_string()),
            "deprecated_since" => a.deprecated_since = Some(value.str()?.to_string()),
            "flags" => a.flags = value.strings()?,
            "arguments" => a.arguments = Some(parse_args(value)?),
            other => bail!("unknown argument field `{other}`"),
        }
    }
    Ok(a)
}

// ---------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------

fn render(table: &[Cmd]) -> String {
    let mut s = String::new();
    s.push_str(
        "// generated by cargo xtask codegen from redis-server 7.0.15 COMMAND INFO/DOCS; do not edit\n",
    );
    s.push_str(
        "//! The full Redis 7.0.15 command table (generated; see `xtask/src/codegen.rs`).\n\n",
    );
    s.push_str(
        "use crate::spec::{Arg, BeginSearch, CommandDocs, CommandSpec, FindKeys, KeySpec};\n\n",
    );
    let _ = writeln!(
        s,
        "/// Every command of redis-server {REDIS_VERSION}, sorted by name ({} commands).",
        table.len()
    );
    s.push_str("pub(crate) static COMMANDS: &[CommandSpec] = &[\n");
    for cmd in table {
        render_cmd(&mut s, cmd, 1);
    }
    s.push_str("];\n");
    s
}

fn ind(s: &mut String, depth: usize) {
    for _ in 0..depth {
        s.push_str("    ");
    }
}

fn strs(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|x| format!("{x:?}")).collect();
    format!("&[{}]", items.join(", "))
}

fn opt(v: &Option<String>) -> String {
    match v {
        Some(x) => format!("Some({x:?})"),
        None => "None".to_string(),
    }
}

fn render_cmd(s: &mut String, c: &Cmd, depth: usize) {
    ind(s, depth);
    s.push_str("CommandSpec {\n");
    let d = depth + 1;
    let field = |s: &mut String, name: &str, value: String| {
        ind(s, d);
        let _ = writeln!(s, "{name}: {value},");
    };
    field(s, "name", format!("{:?}", c.name));
    field(s, "full_name", format!("{:?}", c.full_name));
    field(s, "arity", c.arity.to_string());
    field(s, "flags", strs(&c.flags));
    field(s, "first_key", c.first_key.to_string());
    field(s, "last_key", c.last_key.to_string());
    field(s, "step", c.step.to_string());
    field(s, "acl_categories", strs(&c.acl));
    field(s, "tips", strs(&c.tips));
    if c.key_specs.is_empty() {
        field(s, "key_specs", "&[]".to_string());
    } else {
        ind(s, d);
        s.push_str("key_specs: &[\n");
        for k in &c.key_specs {
            ind(s, d + 1);
            let _ = writeln!(
                s,
                "KeySpec {{ notes: {}, flags: {}, begin_search: {}, find_keys: {} }},",
                opt(&k.notes),
                strs(&k.flags),
                k.begin_search,
                k.find_keys
            );
        }
        ind(s, d);
        s.push_str("],\n");
    }
    if c.subcommands.is_empty() {
        field(s, "subcommands", "&[]".to_string());
    } else {
        ind(s, d);
        s.push_str("subcommands: &[\n");
        for sub in &c.subcommands {
            render_cmd(s, sub, d + 1);
        }
        ind(s, d);
        s.push_str("],\n");
    }
    ind(s, d);
    s.push_str("docs: CommandDocs {\n");
    let dd = d + 1;
    let doc = &c.docs;
    let dfield = |s: &mut String, name: &str, value: String| {
        ind(s, dd);
        let _ = writeln!(s, "{name}: {value},");
    };
    dfield(s, "summary", opt(&doc.summary));
    dfield(s, "since", opt(&doc.since));
    dfield(s, "group", format!("{:?}", doc.group));
    dfield(s, "complexity", opt(&doc.complexity));
    dfield(s, "doc_flags", strs(&doc.doc_flags));
    dfield(s, "deprecated_since", opt(&doc.deprecated_since));
    dfield(s, "replaced_by", opt(&doc.replaced_by));
    match &doc.history {
        None => dfield(s, "history", "None".to_string()),
        Some(h) => {
            let items: Vec<String> = h.iter().map(|(a, b)| format!("({a:?}, {b:?})")).collect();
            dfield(s, "history", format!("Some(&[{}])", items.join(", ")));
        }
    }
    match &doc.arguments {
        None => dfield(s, "arguments", "None".to_string()),
        Some(args) => {
            ind(s, dd);
            s.push_str("arguments: Some(&[\n");
            for a in args {
                render_arg(s, a, dd + 1);
            }
            ind(s, dd);
            s.push_str("]),\n");
        }
    }
    ind(s, d);
    s.push_str("},\n");
    ind(s, depth);
    s.push_str("},\n");
}

fn render_arg(s: &mut String, a: &Arg, depth: usize) {
    ind(s, depth);
    let _ = write!(
        s,
        "Arg {{ name: {:?}, kind: {:?}, key_spec_index: {}, token: {}, summary: {}, since: {}, deprecated_since: {}, flags: {}, arguments: ",
        a.name,
        a.kind,
        match a.key_spec_index {
            Some(i) => format!("Some({i})"),
            None => "None".to_string(),
        },
        opt(&a.token),
        opt(&a.summary),
        opt(&a.since),
        opt(&a.deprecated_since),
        strs(&a.flags),
    );
    match &a.arguments {
        None => s.push_str("None },\n"),
        Some(sub) => {
            s.push_str("Some(&[\n");
            for x in sub {
                render_arg(s, x, depth + 1);
            }
            ind(s, depth);
            s.push_str("]) },\n");
        }
    }
}

//! MIGRATE: keys sent to another server as RESTORE commands with DUMP payloads, then
//! deleted here (unless COPY), with Redis 7.0's options, replies and errors.
//!
//! Like Redis, the transfer is synchronous: the server waits for the target (bounded by
//! the command's timeout) while it holds the lock. Redis also keeps the connection for
//! ten seconds for the next MIGRATE to the same target; Tandem opens one per command.
//! The moved keys propagate as one DEL, as Redis rewrites MIGRATE.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use bytes::Bytes;
use tandem_keyspace::FreeMode;

use super::{data, parse_i64, Ctx};
use crate::persist;
use tandem_commands::data::notify;

/// Parsed options.
struct Options {
    copy: bool,
    replace: bool,
    /// (user, password) for AUTH / AUTH2.
    auth: Option<(Option<Bytes>, Bytes)>,
    keys: Vec<Bytes>,
}

fn parse(ctx: &mut Ctx<'_>, args: &[Bytes]) -> Option<Options> {
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: vec![args[3].clone()],
    };
    let mut j = 6;
    while j < args.len() {
        let a = &args[j];
        let more = args.len() - j - 1;
        if a.eq_ignore_ascii_case(b"copy") {
            o.copy = true;
        } else if a.eq_ignore_ascii_case(b"replace") {
            o.replace = true;
        } else if a.eq_ignore_ascii_case(b"auth") {
            if more == 0 {
                ctx.syntax_err();
                return None;
            }
            j += 1;
            o.auth = Some((None, args[j].clone()));
        } else if a.eq_ignore_ascii_case(b"auth2") {
            if more < 2 {
                ctx.syntax_err();
                return None;
            }
            o.auth = Some((Some(args[j + 1].clone()), args[j + 2].clone()));
            j += 2;
        } else if a.eq_ignore_ascii_case(b"keys") {
            if !args[3].is_empty() {
                ctx.err("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string");
                return None;
            }
            o.keys = args[j + 1..].to_vec();
            break;
        } else {
            ctx.syntax_err();
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// `MIGRATE host port key|"" destination-db timeout [COPY] [REPLACE] [AUTH password |
/// AUTH2 username password] [KEYS key [key ...]]`.
pub fn migrate(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let Some(opts) = parse(ctx, args) else {
        return;
    };
    let (Some(mut timeout_ms), Some(dbid)) = (parse_i64(&args[5]), parse_i64(&args[4])) else {
        ctx.not_integer();
        return;
    };
    if timeout_ms <= 0 {
        timeout_ms = 1000;
    }
    let db = ctx.client.db;
    let time = ctx.time();
    let now = time.now;
    // The keys that exist, with their values serialised and their remaining TTL.
    let mut moving: Vec<(Bytes, i64, Vec<u8>)> = Vec::new();
    for key in &opts.keys {
        let Some(value) = ctx.srv.ks.get_read(db, key, now).cloned() else {
            continue;
        };
        let ttl = match ctx.srv.ks.expire_at(db, key) {
            Some(at) => (at - time.clock).max(1),
            None => 0,
        };
        match persist::dump_value(ctx.srv, &value) {
            Ok(payload) => moving.push((key.clone(), ttl, payload)),
            Err(e) => {
                data::after_command(ctx.srv, Some(ctx.client));
                ctx.err(&format!("ERR {e}"));
                return;
            }
        }
    }
    data::after_command(ctx.srv, Some(ctx.client));
    if moving.is_empty() {
        ctx.simple("NOKEY");
        return;
    }
    let mut wire = bytes::BytesMut::new();
    let mut expected = 0;
    if let Some((user, pass)) = &opts.auth {
        let mut cmd = vec![&b"AUTH"[..]];
        if let Some(u) = user {
            cmd.push(u);
        }
        cmd.push(pass);
        tandem_resp::encode_command(&cmd, &mut wire);
        expected += 1;
    }
    let dbtext = dbid.to_string();
    tandem_resp::encode_command(&[&b"SELECT"[..], dbtext.as_bytes()], &mut wire);
    expected += 1;
    for (key, ttl, payload) in &moving {
        let ttl = ttl.to_string();
        let mut cmd: Vec<&[u8]> = vec![b"RESTORE", key, ttl.as_bytes(), payload];
        if opts.replace {
            cmd.push(b"REPLACE");
        }
        tandem_resp::encode_command(&cmd, &mut wire);
    }
    let timeout = Duration::from_millis(timeout_ms as u64);
    let host = String::from_utf8_lossy(&args[1]).into_owned();
    let port = String::from_utf8_lossy(&args[2]).into_owned();
    let replies = match exchange(&host, &port, &wire, expected + moving.len(), timeout) {
        Ok(r) => r,
        Err(Stage::Write) => {
            ctx.err("IOERR error or timeout writing to target instance");
            return;
        }
        Err(Stage::Read) => {
            ctx.err("IOERR error or timeout reading to target instance");
            return;
        }
    };
    // AUTH and SELECT first: an error there ends the command.
    for r in &replies[..expected] {
        if let Some(e) = r.strip_prefix('-') {
            ctx.err(&format!("ERR Target instance replied with error: {e}"));
            return;
        }
    }
    let mut error = None;
    let mut moved = Vec::new();
    for (r, (key, _, _)) in replies[expected..].iter().zip(&moving) {
        match r.strip_prefix('-') {
            Some(e) => error = Some(e.to_owned()),
            None if !opts.copy => moved.push(key.clone()),
            None => {}
        }
    }
    if !moved.is_empty() {
        let srv = &mut *ctx.srv;
        for key in &moved {
            srv.ks.delete(db, key, now, FreeMode::Sync);
            srv.ks.touch_modified(db, key);
            srv.dirty += 1;
        }
        let mut del = vec![Bytes::from_static(b"DEL")];
        del.extend(moved.iter().cloned());
        data::propagate(srv, db, del);
        data::after_command(srv, Some(ctx.client));
        for key in &moved {
            data::notify_now(ctx, notify::GENERIC, "del", key);
        }
    }
    match error {
        Some(e) => ctx.err(&format!("ERR Target instance replied with error: {e}")),
        None => ctx.ok(),
    }
}

/// Where an exchange with the target failed.
enum Stage {
    Write,
    Read,
}

/// Connects, sends `wire`, reads `n` replies (each as its first line; bulk bodies are
/// skipped), all within `timeout` per step, as Redis's `syncWrite`/`syncReadLine`.
fn exchange(
    host: &str,
    port: &str,
    wire: &[u8],
    n: usize,
    timeout: Duration,
) -> Result<Vec<String>, Stage> {
    let addr = format!("{host}:{port}")
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or(Stage::Write)?;
    // Redis connects without blocking and finds a refused connection when it writes.
    let stream = TcpStream::connect_timeout(&addr, timeout).map_err(|_| Stage::Write)?;
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(timeout))
        .and_then(|()| stream.set_read_timeout(Some(timeout)))
        .map_err(|_| Stage::Write)?;
    (&stream).write_all(wire).map_err(|_| Stage::Write)?;
    let mut reader = BufReader::new(&stream);
    let mut replies = Vec::with_capacity(n);
    for _ in 0..n {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) | Err(_) => return Err(Stage::Read),
            Ok(_) => {}
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        replies.push(line);
    }
    Ok(replies)
}

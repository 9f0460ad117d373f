//! Connection commands: PING, ECHO, QUIT, RESET, SELECT, HELLO, AUTH.

use bytes::Bytes;
use tandem_resp::Protocol;

use super::{parse_i64, Ctx};
use crate::client::ReplyMode;

pub fn ping(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    if args.len() <= 2 && super::pubsub::in_subscribed_context(ctx.client) {
        // A subscribed RESP2 client gets `pong` and the argument (or "") as an array.
        let mut enc = ctx.enc();
        enc.array_len(2);
        enc.bulk(b"pong");
        enc.bulk(args.get(1).map_or(&b""[..], |a| &a[..]));
        return;
    }
    match args.len() {
        1 => ctx.simple("PONG"),
        2 => ctx.bulk(&args[1]),
        _ => {
            let msg = tandem_commands::wrong_arity_error(ctx.spec);
            ctx.err(&msg);
        }
    }
}

pub fn echo(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    ctx.bulk(&args[1]);
}

pub fn quit(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    ctx.ok();
    ctx.client.close_after_reply = true;
}

pub fn reset(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    super::multi::discard_transaction(ctx.srv, ctx.client);
    ctx.client.dirty_cas = false;
    if ctx.client.monitor {
        ctx.srv.monitors -= 1;
    }
    super::pubsub::forget_client(ctx.srv, ctx.client);
    let c = &mut *ctx.client;
    c.monitor = false;
    c.db = 0;
    c.proto = Protocol::Resp2;
    c.name = None;
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.user = "default".into();
    c.authenticated = !ctx.srv.requires_auth();
    ctx.simple("RESET");
}

pub fn select(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let Some(id) = parse_i64(&args[1]) else {
        ctx.not_integer();
        return;
    };
    if i32::try_from(id).is_err() {
        ctx.err("ERR value is out of range, value must between -2147483648 and 2147483647");
        return;
    }
    if id < 0 || id as usize >= ctx.srv.databases() {
        ctx.err("ERR DB index is out of range");
        return;
    }
    ctx.client.db = id as usize;
    ctx.ok();
}

/// AUTH and HELLO AUTH: when the user exists, is on and the password opens it, the
/// client becomes that user; otherwise the failure goes to the ACL log (object `what`).
fn authenticate(ctx: &mut Ctx<'_>, user: &[u8], pass: &[u8], what: &str) -> bool {
    let name = String::from_utf8_lossy(user);
    if let Some(u) = ctx.srv.acl.users.get(name.as_ref()) {
        if u.password_ok(pass) {
            ctx.client.authenticated = true;
            ctx.client.user = name.as_ref().into();
            return true;
        }
    }
    super::acl::log_denial(ctx.srv, ctx.client, "auth", what.to_owned(), &name);
    false
}

pub const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

/// CLUSTER (every subcommand, HELP included), READONLY, READWRITE and ASKING on a server
/// without cluster mode: Redis's refusal, which client libraries probe for.
pub fn cluster_disabled(ctx: &mut Ctx<'_>, _args: &[Bytes]) {
    ctx.err("ERR This instance has cluster support disabled");
}

pub fn auth(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let (user, pass) = match auth_pair(&ctx.srv.acl.users, args) {
        Ok(pair) => pair,
        Err(msg) => {
            ctx.err(msg);
            return;
        }
    };
    if authenticate(ctx, user, pass, "AUTH") {
        ctx.ok();
    } else {
        ctx.err(WRONGPASS);
    }
}

/// AUTH's user and password (`default` when only a password is given); `Err` is the
/// error reply for too many arguments or a password-only AUTH while `default` has none.
pub fn auth_pair<'a>(
    users: &std::collections::BTreeMap<String, tandem_commands::acl::User>,
    args: &'a [Bytes],
) -> Result<(&'a [u8], &'a [u8]), &'static str> {
    if args.len() > 3 {
        return Err("ERR syntax error");
    }
    if args.len() == 2 {
        if users.get("default").is_some_and(|u| u.nopass) {
            return Err("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
        }
        return Ok((b"default", &args[1]));
    }
    Ok((&args[1], &args[2]))
}

/// Client names may not contain spaces, newlines or characters outside '!'..='~'.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

pub const BAD_CLIENT_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

/// HELLO's arguments.
#[derive(Debug, Default)]
pub struct HelloArgs {
    /// The protocol asked for (2 or 3).
    pub version: Option<i64>,
    /// `AUTH user pass`.
    pub creds: Option<(Bytes, Bytes)>,
    /// `SETNAME name` (an empty name clears it): Redis sets it as soon as it parses the
    /// option, even when a later option is a syntax error.
    pub name: Option<Bytes>,
}

/// Reads HELLO's arguments; the error (with what was read before it) is the reply.
pub fn parse_hello(args: &[Bytes]) -> (HelloArgs, Option<String>) {
    let mut h = HelloArgs::default();
    let mut next = 1;
    if args.len() >= 2 {
        next = 2;
        match parse_i64(&args[1]) {
            None => {
                let msg = "ERR Protocol version is not an integer or out of range";
                return (h, Some(msg.into()));
            }
            Some(v) if !(2..=3).contains(&v) => {
                return (h, Some("NOPROTO unsupported protocol version".into()));
            }
            Some(v) => h.version = Some(v),
        }
    }
    let mut j = next;
    while j < args.len() {
        let more = args.len() - 1 - j;
        let opt = &args[j];
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            h.creds = Some((args[j + 1].clone(), args[j + 2].clone()));
            j += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            if !valid_client_name(&args[j + 1]) {
                return (h, Some(BAD_CLIENT_NAME.into()));
            }
            h.name = Some(args[j + 1].clone());
            j += 2;
        } else {
            let msg = format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            );
            return (h, Some(msg));
        }
    }
    (h, None)
}

/// HELLO's error when the client is not authenticated and gave no AUTH.
pub const HELLO_NOAUTH: &str = "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time";

/// HELLO's reply: the server's map.
pub fn hello_reply(e: &mut tandem_resp::Encoder<'_>, proto: i64, id: u64, replica: bool) {
    // HELLO says `replica` where INFO and ROLE say `slave`.
    let role: &[u8] = if replica { b"replica" } else { b"master" };
    e.map_len(7);
    e.bulk(b"server");
    e.bulk(b"redis");
    e.bulk(b"version");
    e.bulk(crate::REDIS_VERSION.as_bytes());
    e.bulk(b"proto");
    e.integer(proto);
    e.bulk(b"id");
    e.integer(id as i64);
    e.bulk(b"mode");
    e.bulk(b"standalone");
    e.bulk(b"role");
    e.bulk(role);
    e.bulk(b"modules");
    e.array_len(0);
}

pub fn hello(ctx: &mut Ctx<'_>, args: &[Bytes]) {
    let (h, error) = parse_hello(args);
    if let Some(n) = h.name {
        ctx.client.name = if n.is_empty() { None } else { Some(n) };
    }
    if let Some(msg) = error {
        ctx.err(&msg);
        return;
    }
    let (ver, creds) = (h.version, h.creds);
    if let Some((user, pass)) = creds {
        if !authenticate(ctx, &user, &pass, "HELLO") {
            ctx.err(WRONGPASS);
            return;
        }
    }
    if !ctx.client.authenticated {
        ctx.err(HELLO_NOAUTH);
        return;
    }
    if let Some(v) = ver {
        ctx.client.proto = if v == 3 {
            Protocol::Resp3
        } else {
            Protocol::Resp2
        };
    }
    let id = ctx.client.id;
    let proto = if ctx.client.proto == Protocol::Resp3 {
        3
    } else {
        2
    };
    let replica = ctx.srv.replica.is_active();
    hello_reply(&mut ctx.enc(), proto, id, replica);
}

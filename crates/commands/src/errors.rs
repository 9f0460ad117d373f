//! Dispatcher error texts, spelled exactly as Redis 7.0.15 spells them.
//!
//! Every function returns the reply text without the leading `-` (the encoder adds
//! it), e.g. `ERR wrong number of arguments for 'get' command`. Arguments echoed
//! back follow Redis's C-string rules: an argument stops at its first NUL byte, is
//! cut to 128 bytes, and CR/LF become spaces so the reply stays one line. The
//! `*_bytes` variants keep non-UTF-8 input byte for byte; the `String` variants
//! replace invalid UTF-8 sequences.

use crate::spec::CommandSpec;

/// Maximum bytes of a user argument echoed in an error (Redis's `%.128s`).
const ECHO_LIMIT: usize = 128;

/// The part of a C string Redis sees: up to the first NUL byte.
fn cstr(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

fn clip(b: &[u8], n: usize) -> &[u8] {
    let b = cstr(b);
    &b[..b.len().min(n)]
}

fn one_line(mut v: Vec<u8>) -> Vec<u8> {
    for c in &mut v {
        if *c == b'\r' || *c == b'\n' {
            *c = b' ';
        }
    }
    v
}

fn lossy(v: Vec<u8>) -> String {
    match String::from_utf8(v) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' ` as raw bytes.
pub fn unknown_command_error_bytes<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut echoed: Vec<u8> = Vec::new();
    for arg in args.iter().skip(1) {
        if echoed.len() >= ECHO_LIMIT {
            break;
        }
        let room = ECHO_LIMIT - echoed.len();
        echoed.push(b'\'');
        echoed.extend_from_slice(clip(arg.as_ref(), room));
        echoed.extend_from_slice(b"' ");
    }
    let name = args
        .first()
        .map(|a| clip(a.as_ref(), ECHO_LIMIT))
        .unwrap_or(b"");
    let mut out = b"ERR unknown command '".to_vec();
    out.extend_from_slice(name);
    out.extend_from_slice(b"', with args beginning with: ");
    out.extend_from_slice(&echoed);
    one_line(out)
}

/// `ERR unknown command 'foo', with args beginning with: 'a' 'b' `.
pub fn unknown_command_error<A: AsRef<[u8]>>(args: &[A]) -> String {
    lossy(unknown_command_error_bytes(args))
}

/// `ERR unknown subcommand 'x'. Try CLIENT HELP.` as raw bytes; `parent` is the
/// command name as the client typed it (it is upper-cased here).
pub fn unknown_subcommand_error_bytes(parent: &[u8], sub: &[u8]) -> Vec<u8> {
    let mut out = b"ERR unknown subcommand '".to_vec();
    out.extend_from_slice(clip(sub, ECHO_LIMIT));
    out.extend_from_slice(b"'. Try ");
    out.extend(cstr(parent).iter().map(u8::to_ascii_uppercase));
    out.extend_from_slice(b" HELP.");
    one_line(out)
}

/// `ERR unknown subcommand 'x'. Try CLIENT HELP.`
pub fn unknown_subcommand_error(parent: &str, sub: &[u8]) -> String {
    lossy(unknown_subcommand_error_bytes(parent.as_bytes(), sub))
}

/// `ERR wrong number of arguments for 'client|kill' command`.
pub fn wrong_arity_error(spec: &CommandSpec) -> String {
    format!(
        "ERR wrong number of arguments for '{}' command",
        spec.full_name
    )
}

/// Arity check as Redis does: positive arity is exact, negative is a minimum
/// (`argc` counts the command name, and the subcommand name for subcommands).
pub fn arity_ok(spec: &CommandSpec, argc: usize) -> bool {
    let argc = i64::try_from(argc).unwrap_or(i64::MAX);
    let arity = i64::from(spec.arity);
    !((arity > 0 && arity != argc) || argc < -arity)
}

//! Argument splitting for inline commands and redis.conf lines.
//!
//! [`split_args`] follows Redis's `sdssplitargs` rule for rule: blanks separate
//! arguments; `"double quotes"` understand `\n \r \t \b \a \xHH` and `\<any>`;
//! `'single quotes'` only understand `\'`; a closing quote must be followed by
//! a blank or the end of the line; a NUL byte ends the line (the C string
//! ends there). [`repr`] is the inverse direction, Redis's `sdscatrepr`: it
//! quotes bytes so that [`split_args`] gives them back.

use crate::error::UnbalancedQuotes;

/// C's `isspace` in the C locale.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Split `line` into arguments with Redis's `sdssplitargs` rules.
///
/// An empty or all-blank line gives an empty vector. Unterminated quotes, or a
/// closing quote followed by something other than a blank, give [`UnbalancedQuotes`].
pub fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, UnbalancedQuotes> {
    // The C code works on a NUL-terminated string: anything after a NUL is invisible.
    let line = match line.iter().position(|&b| b == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut args = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(args);
        }
        let mut cur = Vec::new();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            let c = at(p);
            if in_dq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 4;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    cur.push(c);
                }
            } else if in_sq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    p += 1;
                    break;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        if c != 0 {
                            p += 1;
                        }
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    _ => cur.push(c),
                }
            }
            p += 1;
        }
        args.push(cur);
    }
}

/// Quote `arg` as Redis's `sdscatrepr` does: `"..."` with `\\ \" \n \r \t \a \b`
/// escaped and other non-printable bytes as `\xhh`. `split_args` on the result
/// gives `arg` back. Used by MONITOR, CLIENT LIST, CONFIG REWRITE and logs.
pub fn repr(arg: &[u8]) -> Vec<u8> {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(arg.len() + 2);
    out.push(b'"');
    for &b in arg {
        match b {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(b);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => {
                out.extend_from_slice(b"\\x");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
    }
    out.push(b'"');
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn split(s: &[u8]) -> Result<Vec<Vec<u8>>, UnbalancedQuotes> {
        split_args(s)
    }

    fn ok(s: &[u8], want: &[&[u8]]) {
        let got = split(s).unwrap();
        let want: Vec<Vec<u8>> = want.iter().map(|w| w.to_vec()).collect();
        assert_eq!(got, want, "{:?}", String::from_utf8_lossy(s));
    }

    #[test]
    fn plain() {
        ok(b"", &[]);
        ok(b"   \t ", &[]);
        ok(b"PING", &[b"PING"]);
        ok(b"  \t SET  a   b  ", &[b"SET", b"a", b"b"]);
        ok(b"a\x0bb", &[b"a\x0bb"]); // \v separates only leading blanks
        ok(b"\x0c a", &[b"a"]);
        ok(b"a\xffb", &[b"a\xffb"]);
        ok(b"a\0b c", &[b"a"]);
    }

    #[test]
    fn quotes() {
        ok(br#"ECHO "\x41\n\q""#, &[b"ECHO", b"A\nq"]);
        ok(br#""a\"b""#, &[b"a\"b"]);
        ok(br#""\x4""#, &[b"x4"]);
        ok(br#""\xzz""#, &[b"xzz"]);
        ok(br#""\r\t\b\a\\""#, &[b"\r\t\x08\x07\\"]);
        ok(br#"'it\'s' 'a\nb'"#, &[b"it's", b"a\\nb"]);
        ok(br#"a"b c" d"#, &[b"ab c", b"d"]);
        ok(br#""" ''"#, &[b"", b""]);
        ok(b"\"a\"\x0bb", &[b"a", b"b"]);
        ok(b"set k \"v\"\r", &[b"set", b"k", b"v"]);
    }

    #[test]
    fn unbalanced() {
        for bad in [
            &br#"PING "a"#[..],
            br#"PING "a"b"#,
            br#"'abc"#,
            br#"'a'b"#,
            br#""abc\"#,
            b"\"a\0\"",
        ] {
            assert_eq!(split(bad), Err(UnbalancedQuotes), "{:?}", bad);
        }
    }

    #[test]
    fn repr_round_trips() {
        let arg = b"a \"b\"\\\n\r\t\x07\x08\x00\xff'";
        let r = repr(arg);
        assert_eq!(r, br#""a \"b\"\\\n\r\t\a\b\x00\xff'""#.to_vec());
        assert_eq!(split(&r).unwrap(), vec![arg.to_vec()]);
    }
}

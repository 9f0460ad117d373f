//! Lexical helpers with Redis's exact rules: argument splitting
//! (`sdssplitargs`), quoting (`sdscatrepr`), and the number parsers the
//! configuration code uses (`string2ll`, `memtoull`, C `strtoll`).
//!
//! They are kept here, private to the config module, so that config files
//! parse exactly like Redis parses them whatever the RESP crate does with
//! inline commands.

/// The line had an unterminated quote, or a closing quote not followed by a
/// space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct UnbalancedQuotes;

fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Splits a line into arguments like Redis's `sdssplitargs`:
/// blanks separate arguments; `"..."` supports `\n \r \t \b \a \xHH` and
/// `\<any>`; `'...'` supports `\'`; a closing quote must be followed by a
/// blank or the end of the line. A NUL byte ends the line (C string).
pub(crate) fn split_args(line: &[u8]) -> Result<Vec<Vec<u8>>, UnbalancedQuotes> {
    let end = line.iter().position(|c| *c == 0).unwrap_or(line.len());
    let line = &line[..end];
    let at = |i: usize| -> u8 { line.get(i).copied().unwrap_or(0) };
    let mut out = Vec::new();
    let mut p = 0usize;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Ok(out);
        }
        let mut cur = Vec::new();
        let mut inq = false;
        let mut insq = false;
        let mut done = false;
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 3;
                    } else {
                        p += 1;
                        cur.push(b'x');
                    }
                } else if c == b'\\' && at(p + 1) != 0 {
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
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return Err(UnbalancedQuotes);
                    }
                    done = true;
                } else if c == 0 {
                    return Err(UnbalancedQuotes);
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    other => cur.push(other),
                }
            }
            if c != 0 {
                p += 1;
            }
        }
        out.push(cur);
    }
}

/// Quotes bytes like Redis's `sdscatrepr` (the result includes the quotes).
pub(crate) fn repr(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// Redis's strict `string2ll`: optional `-`, no `+`, no leading zeros, no
/// blanks, no overflow.
pub(crate) fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// C `strtoll(s, &end, 10)`: returns the value (saturated on overflow) and
/// whether the whole string was consumed (`*end == '\0'`). Like C, a string
/// with no digits at all consumes nothing, so `""` counts as fully consumed.
pub(crate) fn strtoll(s: &[u8]) -> (i64, bool) {
    let mut p = 0;
    while p < s.len() && is_c_space(s[p]) {
        p += 1;
    }
    let mut neg = false;
    if p < s.len() && (s[p] == b'+' || s[p] == b'-') {
        neg = s[p] == b'-';
        p += 1;
    }
    let start = p;
    let mut v: i128 = 0;
    while p < s.len() && s[p].is_ascii_digit() {
        if v <= i128::from(i64::MAX) + 1 {
            v = v * 10 + i128::from(s[p] - b'0');
        }
        p += 1;
    }
    if p == start {
        // No conversion: end pointer is the start of the string.
        return (0, s.is_empty());
    }
    let v = if neg { -v } else { v };
    let v = v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
    (v, p == s.len())
}

/// Redis's `memtoull`: digits followed by an optional unit (b, k, kb, m, mb,
/// g, gb; case-insensitive). `k`/`m`/`g` are powers of 1000, `kb`/`mb`/`gb`
/// powers of 1024. A leading `-` is an error.
pub(crate) fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let unit = s[digits..].to_ascii_lowercase();
    let mul: u64 = match unit.as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if digits >= 128 {
        return None;
    }
    // strtoull saturates at ULLONG_MAX on overflow; the product wraps like C.
    let mut v: u64 = 0;
    for &c in &s[..digits] {
        v = v
            .checked_mul(10)
            .and_then(|x| x.checked_add(u64::from(c - b'0')))
            .unwrap_or(u64::MAX);
    }
    Some(v.wrapping_mul(mul))
}

/// Formats a byte count the way CONFIG REWRITE does (gb, mb, kb when exact).
pub(crate) fn format_memory(bytes: i64) -> String {
    const GB: i64 = 1024 * 1024 * 1024;
    const MB: i64 = 1024 * 1024;
    const KB: i64 = 1024;
    if bytes != 0 && bytes % GB == 0 {
        format!("{}gb", bytes / GB)
    } else if bytes != 0 && bytes % MB == 0 {
        format!("{}mb", bytes / MB)
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// `printf("%f")` followed by Redis's `trimDoubleString`.
pub(crate) fn format_percentile(v: f64) -> String {
    let mut s = format!("{v:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// The text of an OS error without Rust's " (os error N)" suffix, i.e. C's
/// `strerror(errno)`.
pub(crate) fn strerror(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sa(s: &str) -> Vec<String> {
        split_args(s.as_bytes())
            .unwrap()
            .into_iter()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .collect()
    }

    #[test]
    fn split_plain_and_quotes() {
        assert_eq!(sa("  save 900 1  "), vec!["save", "900", "1"]);
        assert_eq!(sa("a \"b c\" 'd e'"), vec!["a", "b c", "d e"]);
        assert_eq!(sa("x \"\""), vec!["x", ""]);
        assert_eq!(sa("x \"a\\nb\\x41\\\"\""), vec!["x", "a\nbA\""]);
        assert_eq!(sa("x 'it\\'s'"), vec!["x", "it's"]);
        assert_eq!(sa("x 'a\\nb'"), vec!["x", "a\\nb"]);
        assert_eq!(sa("x\"y\""), vec!["xy"]);
        assert_eq!(sa("x \"\\xZZ\""), vec!["x", "xZZ"]);
        assert!(sa("").is_empty());
        assert!(split_args(b"x \"abc").is_err());
        assert!(split_args(b"x \"abc\"d").is_err());
        assert!(split_args(b"x 'abc").is_err());
        assert!(split_args(b"x 'abc'd").is_err());
    }

    #[test]
    fn repr_roundtrip() {
        let raw = b"a \"b\"\\\n\t\x01\xff";
        let q = repr(raw);
        assert_eq!(q, b"\"a \\\"b\\\"\\\\\\n\\t\\x01\\xff\"".to_vec());
        assert_eq!(split_args(&q).unwrap(), vec![raw.to_vec()]);
    }

    #[test]
    fn numbers() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-5"), Some(-5));
        assert_eq!(string2ll(b"007"), None);
        assert_eq!(string2ll(b"+5"), None);
        assert_eq!(string2ll(b"-0"), None);
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(strtoll(b"010"), (10, true));
        assert_eq!(strtoll(b""), (0, true));
        assert_eq!(strtoll(b"a"), (0, false));
        assert_eq!(strtoll(b"5x"), (5, false));
        assert_eq!(memtoull(b"1mb"), Some(1 << 20));
        assert_eq!(memtoull(b"1M"), Some(1_000_000));
        assert_eq!(memtoull(b"3GB"), Some(3 << 30));
        assert_eq!(memtoull(b""), Some(0));
        assert_eq!(memtoull(b"-1"), None);
        assert_eq!(memtoull(b"12x"), None);
        assert_eq!(format_memory(256 << 20), "256mb");
        assert_eq!(format_memory(1000), "1000");
        assert_eq!(format_percentile(99.9), "99.9");
        assert_eq!(format_percentile(50.0), "50");
    }
}
